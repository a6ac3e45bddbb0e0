// The command line: version, help, tenants, backup, configuration
// precedence and schema migrations.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
	REPO_DIR,
	runCli,
	serverFor,
	startServer,
	setupTenant,
	createTenant,
	makeTempDir,
	v1,
	ok,
	fails,
	get,
	sendMessage,
	sqlite,
	dbPath,
} from './lib/harness.mjs';

const ENV = { HERALD_SMS_RESEND_COOLDOWN: '0s' };

/** `herald config …` → {key: value} of its `key = value` lines. */
function configValues(args, env = {}) {
	const r = runCli(['config', ...args], { env });
	assert.equal(r.status, 0, `herald config ${args.join(' ')}: ${r.stderr}`);
	const out = {};
	for (const line of r.stdout.split('\n')) {
		const m = /^(\S+)\s+=\s+(\S+)/.exec(line);
		if (m) out[m[1]] = m[2];
	}
	return out;
}

test('version: prints "herald X.Y.Z" matching the VERSION file', () => {
	const r = runCli(['version']);
	assert.equal(r.status, 0);
	assert.match(r.stdout, /^herald \d+\.\d+\.\d+\b/, `version output: ${JSON.stringify(r.stdout)}`);
	const versionFile = path.join(REPO_DIR, 'VERSION');
	if (fs.existsSync(versionFile)) {
		const v = fs.readFileSync(versionFile, 'utf8').trim();
		assert.ok(r.stdout.startsWith(`herald ${v}`), `prints the version of the VERSION file (${v}): ${JSON.stringify(r.stdout)}`);
	}
	const again = runCli(['--version']);
	assert.equal(again.stdout, r.stdout);
});

test('help: herald help, herald serve --help, herald help tenant exit 0 with usage; unknown command fails', () => {
	const h = runCli(['help']);
	assert.equal(h.status, 0);
	assert.match(h.stdout, /usage: herald COMMAND/);
	for (const c of ['serve', 'tenant', 'backup', 'config', 'version', 'migrate']) assert.ok(h.stdout.includes(c), `help mentions ${c}`);
	const s = runCli(['serve', '--help']);
	assert.equal(s.status, 0);
	assert.match(s.stdout, /usage: herald serve/);
	assert.match(s.stdout, /--listen/);
	const t = runCli(['help', 'tenant']);
	assert.equal(t.status, 0);
	assert.match(t.stdout, /herald tenant create/);
	const b = runCli(['backup', '--help']);
	assert.equal(b.status, 0);
	assert.match(b.stdout, /--out/);
	const u = runCli(['frobnicate']);
	assert.notEqual(u.status, 0);
	assert.match(u.stderr, /frobnicate/);
	const none = runCli([]);
	assert.notEqual(none.status, 0);
	const badFlag = runCli(['serve', '--no-such-flag']);
	assert.notEqual(badFlag.status, 0);
});

test('tenant: create, duplicate INN refused, list, bad input refused', () => {
	const dir = makeTempDir();
	const token = createTenant(dir, { inn: '7701234567', name: 'ООО Весна' });
	assert.match(token, /^\S{20,}$/);
	const dup = runCli(['tenant', 'create', '--inn', '7701234567', '--name', 'Другая', '--full-name', 'Другая', '--password', 'password-2', '--data', dir]);
	assert.notEqual(dup.status, 0, 'a second tenant with the same INN is refused');
	assert.match(dup.stderr, /7701234567/);
	assert.match(dup.stderr, /exist/i, `clear message: ${dup.stderr}`);
	createTenant(dir, { inn: '770123456789', name: 'ИП Петров' });
	const list = runCli(['tenant', 'list', '--data', dir]);
	assert.equal(list.status, 0);
	assert.match(list.stdout, /^7701234567\s.*ООО Весна$/m);
	assert.match(list.stdout, /^770123456789\s.*ИП Петров$/m);
	assert.ok(!list.stdout.includes(token), 'list never shows tokens');

	const badInn = runCli(['tenant', 'create', '--inn', '123', '--name', 'X', '--full-name', 'X', '--password', 'password-3', '--data', dir]);
	assert.notEqual(badInn.status, 0);
	assert.match(badInn.stderr, /INN/);
	const shortPw = runCli(['tenant', 'create', '--inn', '7701234500', '--name', 'X', '--full-name', 'X', '--password', 'short', '--data', dir]);
	assert.notEqual(shortPw.status, 0);
	const missing = runCli(['tenant', 'create', '--inn', '7701234501', '--data', dir]);
	assert.notEqual(missing.status, 0);
	assert.match(missing.stderr, /--name/);
	const after = runCli(['tenant', 'list', '--data', dir]);
	assert.equal(after.stdout.trim().split('\n').length, 3, `header + two tenants:\n${after.stdout}`);
});

test('tenant rotate-token: new token as the last line; the old one gets 401 on a running server', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	ok(await get(srv.url, '/api/v1/getstaff', { token: a.token }), 'old token works before');
	const r = runCli(['tenant', 'rotate-token', '--inn', a.inn, '--data', srv.dataDir]);
	assert.equal(r.status, 0, r.stderr);
	const newToken = r.stdout.trim().split('\n').pop().trim();
	assert.match(newToken, /^\S{20,}$/);
	assert.notEqual(newToken, a.token);
	fails(await get(srv.url, '/api/v1/getstaff', { token: a.token }), 401, 'unauthorized', 'old token');
	fails(await v1(srv.url, 'createmessage', { inn: a.inn, staffid: a.employees[0].staffid, title: 't', message: 'm' }, { token: a.token }), 401, 'unauthorized');
	const staff = ok(await get(srv.url, '/api/v1/getstaff', { token: newToken }), 'new token');
	assert.equal(staff.length, 1);
	// the employees' app tokens are not affected
	ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: a.employees[0].staffid }, { token: a.employees[0].apitoken }));
	const unknown = runCli(['tenant', 'rotate-token', '--inn', '7000000009', '--data', srv.dataDir]);
	assert.notEqual(unknown.status, 0);
	assert.match(unknown.stderr, /7000000009/);
});

test('backup: a consistent copy while the server runs; sqlite3 agrees; it can be served', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv, { staff: 2 });
	for (let i = 0; i < 7; i++) await sendMessage(srv, a, a.employees[i % 2].staffid, `b${i}`, `backup text ${i}`);
	const out = path.join(makeTempDir(), 'herald-backup.db');
	const r = runCli(['backup', '--out', out, '--data', srv.dataDir]);
	assert.equal(r.status, 0, r.stderr);
	assert.ok(fs.existsSync(out), 'backup file written');
	assert.equal(sqlite(out, 'SELECT count(*) FROM messages'), '7');
	assert.equal(sqlite(out, 'SELECT count(*) FROM users'), '2');
	assert.equal(sqlite(out, 'PRAGMA integrity_check'), 'ok');
	// the server keeps working, and a second backup to the same file is refused
	await sendMessage(srv, a, a.employees[0].staffid, 'after backup', 'x');
	const again = runCli(['backup', '--out', out, '--data', srv.dataDir]);
	assert.notEqual(again.status, 0, 'the output file must not exist');
	assert.equal(sqlite(out, 'SELECT count(*) FROM messages'), '7', 'the first backup is untouched');
	const noOut = runCli(['backup', '--data', srv.dataDir]);
	assert.notEqual(noOut.status, 0);
	assert.match(noOut.stderr, /--out/);

	// restore: the backup plus the secret key make a working data directory
	const restored = makeTempDir();
	fs.copyFileSync(out, dbPath(restored));
	fs.copyFileSync(path.join(srv.dataDir, 'secret.key'), path.join(restored, 'secret.key'));
	const srv2 = await serverFor(t, { env: ENV, dataDir: restored });
	let n = 0;
	for (const e of a.employees) n += ok(await v1(srv2.url, 'getmessage', { inn: a.inn, staffid: e.staffid }, { token: a.token })).length;
	assert.equal(n, 7, 'the restored server has the 7 messages of the backup');
});

test('config: --listen beats HERALD_LISTEN beats the config file; the same for data', () => {
	const dir = makeTempDir();
	const file = path.join(dir, 'herald.conf');
	fs.writeFileSync(file, '# herald test config\nlisten = 127.0.0.1:7001\ndata = "from-file"\n\n[http]\nmax_body = 2M\n');
	let v = configValues(['--config', file]);
	assert.equal(v.listen, '127.0.0.1:7001', 'file');
	assert.equal(v.data, 'from-file');
	assert.equal(v['http.max_body'], '2M', '[http] section');
	v = configValues([], { HERALD_CONFIG: file });
	assert.equal(v.listen, '127.0.0.1:7001', 'file named by HERALD_CONFIG');
	v = configValues(['--config', file], { HERALD_LISTEN: '127.0.0.1:7002', HERALD_DATA: 'from-env' });
	assert.equal(v.listen, '127.0.0.1:7002', 'env beats file');
	assert.equal(v.data, 'from-env');
	v = configValues(['--config', file, '--listen', '127.0.0.1:7003', '--data', 'from-flag'], { HERALD_LISTEN: '127.0.0.1:7002', HERALD_DATA: 'from-env' });
	assert.equal(v.listen, '127.0.0.1:7003', 'flag beats env');
	assert.equal(v.data, 'from-flag');
	v = configValues([]);
	assert.equal(v.listen, '127.0.0.1:8080', 'default');
	assert.equal(v.data, './data');

	fs.writeFileSync(path.join(dir, 'bad.conf'), 'no_such_key = 1\n');
	const bad = runCli(['config', '--config', path.join(dir, 'bad.conf')]);
	assert.notEqual(bad.status, 0, 'an unknown key is an error');
	assert.match(bad.stderr, /no_such_key/);
	const missing = runCli(['config', '--config', path.join(dir, 'absent.conf')]);
	assert.notEqual(missing.status, 0, 'a missing config file is an error');
});

test('config: a config file setting takes effect in serve (http.max_body = 1k → 413)', async (t) => {
	const dir = makeTempDir();
	const file = path.join(dir, 'herald.conf');
	fs.writeFileSync(file, '[http]\nmax_body = 1k\n');
	const srv = await serverFor(t, { env: ENV, args: ['--config', file] });
	const a = await setupTenant(srv);
	const small = { inn: a.inn, staffid: a.employees[0].staffid, title: 't', message: 'x'.repeat(100) };
	ok(await v1(srv.url, 'createmessage', small, { token: a.token }));
	fails(await v1(srv.url, 'createmessage', { ...small, message: 'x'.repeat(2000) }, { token: a.token }), 413, 'body_too_large');
});

test('serve: bad settings are refused at start with a message naming them', () => {
	const dir = makeTempDir();
	const r1 = runCli(['serve', '--data', dir, '--listen', 'nonsense']);
	assert.notEqual(r1.status, 0);
	assert.match(r1.stderr, /listen/);
	const r2 = runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0'], { env: { HERALD_SMS_PROVIDER: 'pigeon' } });
	assert.notEqual(r2.status, 0);
	assert.match(r2.stderr, /pigeon/);
	const r3 = runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0'], { env: { HERALD_LIMITS_TEXT_MAX: 'lots' } });
	assert.notEqual(r3.status, 0);
	assert.match(r3.stderr, /limits\.text_max/);
});

test('migrations: a database from a newer herald makes serve and migrate exit non-zero mentioning "newer"', () => {
	const dir = makeTempDir();
	const m = runCli(['migrate', '--data', dir]);
	assert.equal(m.status, 0, m.stderr);
	assert.match(m.stdout, /schema version \d+/);
	const m2 = runCli(['migrate', '--data', dir]);
	assert.equal(m2.status, 0);
	assert.match(m2.stdout, /already current/);
	const current = Number(sqlite(dbPath(dir), 'SELECT max(version) FROM schema_version'));
	assert.ok(current >= 1);
	sqlite(dbPath(dir), 'INSERT INTO schema_version VALUES (999)');
	const s = runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0'], { timeoutMs: 15000 });
	assert.equal(s.signal, null, 'exits by itself instead of serving');
	assert.notEqual(s.status, 0);
	assert.match(s.stderr, /newer/);
	const mig = runCli(['migrate', '--data', dir]);
	assert.notEqual(mig.status, 0);
	assert.match(mig.stderr, /newer/);
	// the database was not touched
	assert.equal(sqlite(dbPath(dir), 'SELECT max(version) FROM schema_version'), '999');
});
