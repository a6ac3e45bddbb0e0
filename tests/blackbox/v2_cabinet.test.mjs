// The company cabinet (/api/v2/cabinet/…, docs/cabinet.md) against the real
// binary: sign-in with INN and password (the same answer for an unknown INN
// and a wrong password, limits per INN and per address with Retry-After),
// sign-out, the session on the existing server routes, API token rotation,
// employees (search, paging, rename, mailing switch, delete), messages with
// their status derived from real push deliveries (an FCM stand-in accepts or
// declares a token dead; the employee's app confirms and reads), filters,
// sorting, paging, CSV export equal to the JSON rows, sending, statistics,
// isolation between tenants, and a stable error for every bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { login, v1, makeTempDir } from './lib/harness.mjs';
import { api, okv2, errv2, world, makeTenant, sleep } from './lib/v2.mjs';

const PASSWORD = 'secret-password-1'; // what createTenant gives every tenant

async function signIn(srv, inn, password = PASSWORD) {
	const r = okv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn, password } }), `login ${inn}`, 200);
	assert.match(r.token, /^\S{40,}$/);
	return r;
}

/** REST with a cabinet session. */
const cab = (srv, token) => (method, p, opts = {}) => api(srv, method, p, { token, ...opts });

async function until(cond, ms = 20000) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (await cond()) return true;
		await sleep(100);
	}
	return false;
}

/** RFC 4180 parser: records of cells (quoted cells may hold , " CR LF). */
function parseCsv(text) {
	const rows = [];
	let row = [];
	let cell = '';
	let i = 0;
	let quoted = false;
	while (i < text.length) {
		const ch = text[i];
		if (quoted) {
			if (ch === '"' && text[i + 1] === '"') {
				cell += '"';
				i += 2;
				continue;
			}
			if (ch === '"') {
				quoted = false;
				i++;
				continue;
			}
			cell += ch;
			i++;
			continue;
		}
		if (ch === '"') {
			assert.equal(cell, '', 'a quote only opens a cell');
			quoted = true;
		} else if (ch === ',') {
			row.push(cell);
			cell = '';
		} else if (ch === '\r' && text[i + 1] === '\n') {
			row.push(cell);
			rows.push(row);
			row = [];
			cell = '';
			i++;
		} else {
			assert.notEqual(ch, '\n', 'records end with CRLF');
			cell += ch;
		}
		i++;
	}
	assert.equal(cell, '', 'the file ends with a complete record');
	assert.equal(row.length, 0);
	return rows;
}

const CSV_HEADER = 'id,created_at,employee_id,employee_name,phone,title,text,status,sent_at,delivered_at,read_at,failed_reason';

/** A JSON row as the CSV writes it (formula cells get a leading '). */
function csvOf(m) {
	const guard = (s) => (s && /^[=+\-@\t\r]/.test(s) ? `'${s}` : s ?? '');
	return [String(m.id), m.created_at, m.employee.staff_id, guard(m.employee.name), m.employee.phone ?? '', guard(m.title), guard(m.text), m.status, m.sent_at ?? '', m.delivered_at ?? '', m.read_at ?? '', guard(m.failed_reason)];
}

test('sign-in: success, one answer for unknown INN and wrong password, bad input; the session acts as the API token; logout', async (t) => {
	const { srv, a } = await world(t);
	const s = await signIn(srv, a.inn);
	const left = Date.parse(s.expires_at) - Date.now();
	assert.ok(left > 11 * 3600e3 && left <= 12 * 3600e3 + 60e3, `a 12 h session: ${s.expires_at}`);
	assert.deepEqual(s.tenant, { inn: a.inn, name: 'ООО Весна' });

	const wrong = errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: a.inn, password: 'not-the-password' } }), 401, 'bad_credentials', 'wrong password');
	const unknown = errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: '7799999999', password: PASSWORD } }), 401, 'bad_credentials', 'unknown INN');
	assert.equal(wrong.message, unknown.message, 'the same sentence: nothing tells which INNs exist');
	const en = await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: a.inn, password: 'x' }, headers: { 'Accept-Language': 'en' } });
	assert.equal(errv2(en, 401, 'bad_credentials').message, 'Wrong INN or password');
	assert.equal(en.headers.get('x-herald-error'), 'bad_credentials');
	errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: '{"inn":' }), 400, 'bad_json');
	errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: a.inn } }), 422, 'field_missing', 'no password');
	errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { password: PASSWORD } }), 422, 'field_missing', 'no inn');
	errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: 7700000000, password: PASSWORD } }), 400, 'field_type', 'inn as a number');
	errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: '12ab', password: PASSWORD } }), 422, 'inn_invalid');
	errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: a.inn, password: 'x'.repeat(2000) } }), 401, 'bad_credentials', 'an overlong password');

	const c = cab(srv, s.token);
	const ten = okv2(await c('GET', '/api/v2/cabinet/tenant'));
	assert.equal(ten.inn, a.inn);
	assert.equal(ten.name, 'ООО Весна');
	assert.equal(ten.language, 'ru');
	assert.equal(ten.api_token_hint, a.token.slice(-4), 'the last 4 characters of the API token');
	assert.ok(!JSON.stringify(ten).includes(a.token), 'never the token itself');

	// the existing server-caller routes the cabinet needs
	okv2(await c('GET', '/api/v2/users'), 'users with a cabinet session');
	const sec = okv2(await c('POST', '/api/v2/tenant/jwt-secret'), 'jwt secret');
	assert.equal(sec.iss, a.inn);
	okv2(await c('PUT', '/api/v2/webhook', { body: { url: 'http://127.0.0.1:9/hook' } }), 'webhook put');
	assert.equal(okv2(await c('GET', '/api/v2/webhook')).url, 'http://127.0.0.1:9/hook');
	okv2(await c('DELETE', '/api/v2/webhook'), 'webhook delete');

	// a user's own session is no cabinet session
	await a.user('disp', 'Dispatcher', ['dispatcher']);
	const userTok = await a.session('disp');
	errv2(await api(srv, 'GET', '/api/v2/cabinet/tenant', { token: userTok }), 403, 'forbidden');
	errv2(await api(srv, 'GET', '/api/v2/cabinet/tenant'), 401, 'unauthorized', 'no token');
	errv2(await api(srv, 'GET', '/api/v2/cabinet/tenant', { token: 'x'.repeat(43) }), 401, 'unauthorized');
	// the API token works on the cabinet routes too
	assert.equal(okv2(await a.call('GET', '/api/v2/cabinet/tenant')).inn, a.inn);
	const apiLogout = await a.call('POST', '/api/v2/cabinet/logout');
	assert.equal(apiLogout.status, 204, 'logout with the API token ends nothing');
	okv2(await a.call('GET', '/api/v2/cabinet/tenant'));

	// two sessions are independent; logout ends only its own
	const s2 = await signIn(srv, a.inn);
	const out = await c('POST', '/api/v2/cabinet/logout');
	assert.equal(out.status, 204);
	assert.equal(out.text, '');
	errv2(await c('GET', '/api/v2/cabinet/tenant'), 401, 'unauthorized', 'after logout');
	errv2(await c('GET', '/api/v2/users'), 401, 'unauthorized', 'after logout, other routes too');
	errv2(await c('POST', '/api/v2/cabinet/logout'), 401, 'unauthorized', 'logout twice');
	okv2(await cab(srv, s2.token)('GET', '/api/v2/cabinet/tenant'), 'the other session lives on');

	// a new password (the command line) ends every cabinet session
	const { runCli } = await import('./lib/harness.mjs');
	const r = runCli(['tenant', 'set-password', '--inn', a.inn, '--password', 'another-password-2', '--data', srv.dataDir]);
	assert.equal(r.status, 0, r.stderr);
	errv2(await cab(srv, s2.token)('GET', '/api/v2/cabinet/tenant'), 401, 'unauthorized', 'after a password change');
	errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: a.inn, password: PASSWORD } }), 401, 'bad_credentials', 'the old password');
	await signIn(srv, a.inn, 'another-password-2');
});

test('sign-in limits: per INN and per address, failures only, with Retry-After', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_CABINET_LOGIN_PER_INN: '3', HERALD_CABINET_LOGIN_PER_IP: '5' } });
	const b = makeTenant(srv);
	// successes do not use up the limit
	for (let i = 0; i < 8; i++) await signIn(srv, b.inn);
	for (let i = 0; i < 3; i++) errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: a.inn, password: 'wrong' } }), 401, 'bad_credentials', `try ${i + 1}`);
	let r = await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: a.inn, password: PASSWORD } });
	errv2(r, 429, 'rate_limited', 'the INN is locked, even with the right password');
	const wait = Number(r.headers.get('retry-after'));
	assert.ok(wait >= 1 && wait <= 900, `Retry-After within the 15-minute window: ${wait}`);
	// the address has 4 hits; another INN still signs in (5th), a success gives its hit back
	await signIn(srv, b.inn);
	errv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: b.inn, password: 'wrong' } }), 401, 'bad_credentials');
	r = await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: b.inn, password: PASSWORD } });
	errv2(r, 429, 'rate_limited', 'the address is locked');
	const ipWait = Number(r.headers.get('retry-after'));
	assert.ok(ipWait >= 1 && ipWait <= 3600, `Retry-After within the hour: ${ipWait}`);
	// an API token is not affected
	okv2(await b.call('GET', '/api/v2/cabinet/tenant'));
});

test('API token rotation from the cabinet: the new token is shown once, the old one stops at once', async (t) => {
	const { srv, a } = await world(t);
	const s = await signIn(srv, a.inn);
	const c = cab(srv, s.token);
	const rot = okv2(await c('POST', '/api/v2/cabinet/api-token'), 'rotate');
	assert.match(rot.token, /^[A-Za-z0-9_-]{43}$/);
	assert.notEqual(rot.token, a.token);
	errv2(await api(srv, 'GET', '/api/v2/users', { token: a.token }), 401, 'unauthorized', 'old token on v2');
	const old = await v1(srv.url, 'getstaff', undefined, { token: a.token, httpMethod: 'GET' });
	assert.equal(old.status, 401, 'old token on v1');
	okv2(await api(srv, 'GET', '/api/v2/users', { token: rot.token }), 'new token');
	const ten = okv2(await c('GET', '/api/v2/cabinet/tenant'), 'the cabinet session survives the rotation');
	assert.equal(ten.api_token_hint, rot.token.slice(-4));
	assert.ok(!JSON.stringify(ten).includes(rot.token));
	// the API token may rotate itself through the same route
	const again = okv2(await api(srv, 'POST', '/api/v2/cabinet/api-token', { token: rot.token }));
	errv2(await api(srv, 'GET', '/api/v2/users', { token: rot.token }), 401, 'unauthorized');
	okv2(await api(srv, 'GET', '/api/v2/users', { token: again.token }));
});

test('company settings: rename and language, bad values refused', async (t) => {
	const { srv, a } = await world(t);
	const c = cab(srv, (await signIn(srv, a.inn)).token);
	const p = okv2(await c('PATCH', '/api/v2/cabinet/tenant', { body: { name: 'ООО Лето', language: 'de' } }));
	assert.equal(p.name, 'ООО Лето');
	assert.equal(p.language, 'de');
	assert.equal(p.full_name, 'Общество с ограниченной ответственностью «Весна»');
	assert.deepEqual(okv2(await c('GET', '/api/v2/cabinet/tenant')), p);
	assert.equal(okv2(await c('PATCH', '/api/v2/cabinet/tenant', { body: {} })).name, 'ООО Лето', 'an empty patch changes nothing');
	errv2(await c('PATCH', '/api/v2/cabinet/tenant', { body: { language: 'fr' } }), 422, 'field_invalid');
	errv2(await c('PATCH', '/api/v2/cabinet/tenant', { body: { name: '   ' } }), 422, 'name_invalid');
	errv2(await c('PATCH', '/api/v2/cabinet/tenant', { body: { name: 'x'.repeat(257) } }), 422, 'name_invalid');
	errv2(await c('PATCH', '/api/v2/cabinet/tenant', { body: { name: 5 } }), 400, 'field_type');
	errv2(await c('PATCH', '/api/v2/cabinet/tenant', { body: '[1]' }), 400, 'bad_json');
	assert.equal((await signIn(srv, a.inn)).tenant.name, 'ООО Лето', 'the sign-in shows the new name');
});

test('employees: who is listed, newest activity first, search, paging, devices, rename, mailing, delete', async (t) => {
	const { srv, a } = await world(t);
	const c = cab(srv, (await signIn(srv, a.inn)).token);
	const alex = await login(srv.url, srv.dataDir, a.inn, '+79230001001', 'Алексей Иванов', 'android');
	const maria = await login(srv.url, srv.dataDir, a.inn, '+79230001002', 'Мария Петрова', 'apple');
	await a.user('erp-7', 'Łukasz Żółć', ['staff'], { phone: '+48500000777' });
	await a.user('disp-1', 'Dispatcher Dora', ['dispatcher']);
	await sleep(5); // distinct activity times
	const jan = await login(srv.url, srv.dataDir, a.inn, '+79230001003', 'Jan Kowalski', 'android');
	const r = await v1(srv.url, 'updatepushtoken', { inn: a.inn, staffId: alex.staffid, pushtoken: 'tok-alex', device: 'android' }, { token: alex.apitoken });
	assert.equal(r.json.success, true);

	const all = okv2(await c('GET', '/api/v2/cabinet/employees'));
	assert.equal(all.next_cursor, null);
	const names = all.items.map((e) => e.name);
	assert.deepEqual(new Set(names), new Set(['Алексей Иванов', 'Мария Петрова', 'Jan Kowalski', 'Łukasz Żółć']), 'staff only, no dispatcher');
	assert.equal(names[0], 'Алексей Иванов', 'the newest activity (a push token just now) first');
	assert.equal(names[1], 'Jan Kowalski');
	const ea = all.items[0];
	assert.equal(ea.id, `staff-${alex.staffid}`);
	assert.equal(ea.staff_id, alex.staffid);
	assert.equal(ea.phone, '+79230001001');
	assert.equal(ea.mailing, true);
	assert.equal(ea.active, true);
	assert.ok(Date.parse(ea.last_seen) > 0, 'signed in: last seen');
	assert.ok(Date.parse(ea.created_at) > 0);
	assert.equal(ea.devices.length, 1);
	assert.equal(ea.devices[0].kind, 'android');
	assert.equal(ea.devices[0].dead, false);
	assert.ok(Date.parse(ea.devices[0].created_at) > 0 && Date.parse(ea.devices[0].last_used_at) > 0);
	const erp = all.items.find((e) => e.name === 'Łukasz Żółć');
	assert.equal(erp.last_seen, null, 'never signed in');
	assert.deepEqual(erp.devices, []);

	// search: name (any case, Cyrillic and Polish letters too) or phone
	const q = async (s) => okv2(await c('GET', `/api/v2/cabinet/employees?q=${encodeURIComponent(s)}`)).items.map((e) => e.name);
	assert.deepEqual(await q('АЛЕКС'), ['Алексей Иванов']);
	assert.deepEqual(await q('łukasz żÓŁĆ'), ['Łukasz Żółć']);
	assert.deepEqual(await q('kowal'), ['Jan Kowalski']);
	assert.deepEqual(await q('0001002'), ['Мария Петрова']);
	assert.deepEqual(await q('nobody'), []);

	// paging with the cursor: every employee once, in the same order
	const seen = [];
	let cursor = null;
	for (let i = 0; i < 5; i++) {
		const page = okv2(await c('GET', `/api/v2/cabinet/employees?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`));
		assert.ok(page.items.length <= 3);
		seen.push(...page.items.map((e) => e.staff_id));
		cursor = page.next_cursor;
		if (!cursor) break;
	}
	assert.deepEqual(seen, all.items.map((e) => e.staff_id));

	// rename, switch off mailings
	const p = okv2(await c('PATCH', `/api/v2/cabinet/employees/${maria.staffid}`, { body: { name: 'Мария Сидорова', mailing: false } }));
	assert.equal(p.name, 'Мария Сидорова');
	assert.equal(p.mailing, false);
	const staff = await v1(srv.url, 'getstaff', undefined, { token: a.token, httpMethod: 'GET' });
	const vm = staff.json.data.find((s) => s.staffId === maria.staffid);
	assert.equal(vm.staffname, 'Мария Сидорова', 'v1 sees the new name');
	assert.equal(vm.statusnotification, false, 'v1 sees the mailing switched off');
	const v1send = await v1(srv.url, 'createmessage', { inn: a.inn, staffid: maria.staffid, title: 'T', message: 'x' }, { token: a.token });
	assert.equal(v1send.json.success, false, 'no mailings to her over v1 either');
	assert.equal(okv2(await c('PATCH', `/api/v2/cabinet/employees/${maria.staffid}`, { body: { mailing: true } })).mailing, true);
	errv2(await c('PATCH', `/api/v2/cabinet/employees/${maria.staffid}`, { body: { name: '' } }), 422, 'name_invalid');
	errv2(await c('PATCH', `/api/v2/cabinet/employees/${maria.staffid}`, { body: { mailing: 'no' } }), 400, 'field_type');
	errv2(await c('PATCH', `/api/v2/cabinet/employees/${maria.staffid}`, { body: '{' }), 400, 'bad_json');
	errv2(await c('PATCH', '/api/v2/cabinet/employees/0000000001', { body: { name: 'X' } }), 404, 'unknown_staff');
	errv2(await c('PATCH', '/api/v2/cabinet/employees/abc', { body: { name: 'X' } }), 404, 'unknown_staff');

	// delete: as /api/v1/deletestaff — gone with their sessions and messages
	await v1(srv.url, 'createmessage', { inn: a.inn, staffid: jan.staffid, title: 'T', message: 'for Jan' }, { token: a.token });
	assert.equal(okv2(await c('GET', `/api/v2/cabinet/messages?employee=${jan.staffid}`)).total, 1);
	const del = await c('DELETE', `/api/v2/cabinet/employees/${jan.staffid}`);
	assert.equal(del.status, 204);
	assert.ok(!okv2(await c('GET', '/api/v2/cabinet/employees')).items.some((e) => e.staff_id === jan.staffid));
	assert.equal(okv2(await c('GET', '/api/v2/cabinet/messages')).total, 0, 'their messages went with them');
	const gone = await v1(srv.url, 'getmessage', { inn: a.inn, staffid: jan.staffid }, { token: jan.apitoken });
	assert.equal(gone.status, 401, 'their app token ended');
	errv2(await c('DELETE', `/api/v2/cabinet/employees/${jan.staffid}`), 404, 'unknown_staff', 'delete twice');

	// bad query parameters
	errv2(await c('GET', '/api/v2/cabinet/employees?limit=0'), 422, 'field_invalid');
	errv2(await c('GET', '/api/v2/cabinet/employees?limit=201'), 422, 'field_invalid');
	errv2(await c('GET', '/api/v2/cabinet/employees?cursor=garbage'), 422, 'field_invalid');
	errv2(await c('GET', `/api/v2/cabinet/employees?q=${'x'.repeat(300)}`), 422, 'field_invalid');
	errv2(await c('GET', '/api/v2/cabinet/employees?q=%FF'), 422, 'field_invalid', 'not UTF-8');
});

/** An FCM stand-in: accepts every token but "dead-token", which it declares unregistered. */
async function fcmStandIn(t) {
	const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (ch) => chunks.push(ch));
		req.on('end', () => {
			if (req.url === '/token') {
				res.writeHead(200, { 'Content-Type': 'application/json' });
				res.end(JSON.stringify({ access_token: 'ya29.test', expires_in: 3600, token_type: 'Bearer' }));
				return;
			}
			const m = JSON.parse(Buffer.concat(chunks).toString()).message;
			if (m.token === 'dead-token') {
				res.writeHead(404, { 'Content-Type': 'application/json' });
				res.end(JSON.stringify({ error: { code: 404, status: 'NOT_FOUND', details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }] } }));
				return;
			}
			res.writeHead(200, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ name: 'projects/test-project/messages/1' }));
		});
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	t.after(() => server.close());
	const url = `http://127.0.0.1:${server.address().port}`;
	const dir = makeTempDir('herald-cab-keys-');
	const sa = path.join(dir, 'sa.json');
	fs.writeFileSync(sa, JSON.stringify({ type: 'service_account', project_id: 'test-project', private_key_id: 'k1', private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: 'herald@test-project.iam.gserviceaccount.com', token_uri: `${url}/token` }));
	return { HERALD_PUSH_FCM_SERVICE_ACCOUNT: sa, HERALD_PUSH_FCM_ENDPOINT: url };
}

test('messages: statuses from real deliveries, filters, sorting, paging, CSV equal to JSON, detail, stats', async (t) => {
	const { srv, a } = await world(t, { env: await fcmStandIn(t) });
	const c = cab(srv, (await signIn(srv, a.inn)).token);
	const e1 = await login(srv.url, srv.dataDir, a.inn, '+79230002001', 'Алексей', 'android');
	const e2 = await login(srv.url, srv.dataDir, a.inn, '+79230002002', 'Борис', 'android');
	const e3 = await login(srv.url, srv.dataDir, a.inn, '+79230002003', 'Вера', 'android');
	const e4 = await login(srv.url, srv.dataDir, a.inn, '+79230002004', 'Галина', 'android');
	for (const [e, tok] of [[e1, 'good-token'], [e2, 'dead-token']]) {
		const r = await v1(srv.url, 'updatepushtoken', { inn: a.inn, staffId: e.staffid, pushtoken: tok, device: 'android' }, { token: e.apitoken });
		assert.equal(r.json.success, true);
	}
	okv2(await c('PATCH', `/api/v2/cabinet/employees/${e4.staffid}`, { body: { mailing: false } }));

	// one, several, all (not Галина: out of the mailings), and one over v1
	const one = okv2(await c('POST', '/api/v2/cabinet/messages', { body: { to: [e1.staffid], title: 'Alpha', text: 'first' } }), 'send one', 201);
	assert.equal(one.count, 1);
	const several = okv2(await c('POST', '/api/v2/cabinet/messages', { body: { to: [e1.staffid, e2.staffid, e1.staffid], title: 'Beta', text: 'second', urgent: true } }), 'send several', 201);
	assert.equal(several.count, 2, 'a repeated id is one recipient');
	const all = okv2(await c('POST', '/api/v2/cabinet/messages', { body: { to: 'all', title: 'Gamma', text: 'third' } }), 'send all', 201);
	assert.equal(all.count, 3);
	const viaV1 = await v1(srv.url, 'createmessage', { inn: a.inn, staffid: e3.staffid, title: 'Delta', message: 'fourth' }, { token: a.token });
	assert.equal(viaV1.json.success, true);

	// the employee's app gets them as usual
	const inbox = await v1(srv.url, 'getmessage', { inn: a.inn, staffid: e1.staffid }, { token: e1.apitoken });
	assert.deepEqual(inbox.json.data.map((m) => m.title).sort(), ['Alpha', 'Beta', 'Gamma']);

	// the push service answers: nothing stays queued
	assert.ok(await until(async () => okv2(await c('GET', '/api/v2/cabinet/messages?status=queued')).total === 0), 'deliveries done');
	const list = async (qs = '') => okv2(await c('GET', `/api/v2/cabinet/messages?limit=500${qs}`));
	const find = (rows, title, e) => rows.find((m) => m.title === title && m.employee.staff_id === e.staffid);
	let rows = (await list()).items;
	assert.equal(rows.length, 7);

	// e1 confirms Beta on the device and reads Alpha in the app
	const beta1 = okv2(await c('GET', `/api/v2/cabinet/messages/${find(rows, 'Beta', e1).id}`));
	assert.equal(beta1.deliveries.length, 1);
	okv2(await api(srv, 'POST', `/api/v2/deliveries/${beta1.deliveries[0].id}/delivered`, { token: e1.apitoken }), 'delivered');
	const chats = okv2(await api(srv, 'GET', '/api/v2/chats', { token: e1.apitoken }));
	const inboxChat = chats.items.find((ch) => ch.type === 'inbox');
	const hist = okv2(await api(srv, 'GET', `/api/v2/chats/${inboxChat.id}/messages?after=0`, { token: e1.apitoken }));
	const alphaSeq = hist.items.find((m) => m.title === 'Alpha').seq;
	okv2(await api(srv, 'POST', `/api/v2/chats/${inboxChat.id}/read`, { token: e1.apitoken, body: { seq: alphaSeq } }), 'read');

	rows = (await list()).items;
	const want = [
		['Alpha', e1, 'read'],
		['Beta', e1, 'delivered'],
		['Gamma', e1, 'sent'],
		['Beta', e2, 'failed'],
		['Gamma', e2, 'failed'],
		['Gamma', e3, 'failed'],
		['Delta', e3, 'failed'],
	];
	for (const [title, e, status] of want) {
		const m = find(rows, title, e);
		assert.ok(m, `${title} to ${e.staffname}`);
		assert.equal(m.status, status, `${title} to ${e.staffname}`);
		assert.equal(m.employee.name, e.staffname);
		assert.equal(m.employee.phone, e.phone);
		assert.equal(m.urgent, title === 'Beta');
		assert.equal(m.failed_reason === null, status !== 'failed', `failed_reason only when failed: ${JSON.stringify(m)}`);
		assert.equal(m.sent_at !== null, ['sent', 'delivered', 'read'].includes(status), `sent_at: ${JSON.stringify(m)}`);
	}
	assert.equal(find(rows, 'Delta', e3).failed_reason, 'no_device');
	assert.ok(find(rows, 'Beta', e1).delivered_at !== null);
	assert.ok(find(rows, 'Alpha', e1).read_at !== null);

	// detail with each device's delivery
	const b1 = okv2(await c('GET', `/api/v2/cabinet/messages/${find(rows, 'Beta', e1).id}`));
	assert.equal(b1.status, 'delivered');
	const d = b1.deliveries[0];
	assert.equal(d.device.kind, 'android');
	assert.equal(d.device.dead, false);
	assert.equal(d.status, 'delivered');
	assert.ok(d.queued_at && d.sent_at && d.delivered_at, JSON.stringify(d));
	assert.equal(d.read_at, null);
	assert.ok(d.attempts >= 1);
	const b2 = okv2(await c('GET', `/api/v2/cabinet/messages/${find(rows, 'Beta', e2).id}`));
	assert.equal(b2.deliveries[0].status, 'failed');
	assert.ok(b2.deliveries[0].failed_at && b2.deliveries[0].reason, JSON.stringify(b2.deliveries[0]));
	assert.equal(b2.deliveries[0].device.dead, true);
	assert.deepEqual(okv2(await c('GET', `/api/v2/cabinet/messages/${find(rows, 'Delta', e3).id}`)).deliveries, []);

	// filters
	const count = async (qs) => (await list(qs)).total;
	assert.equal(await count('&status=failed'), 4);
	assert.equal(await count('&status=sent'), 1);
	assert.equal(await count('&status=delivered'), 1);
	assert.equal(await count('&status=read'), 1);
	assert.equal(await count('&status=queued'), 0);
	assert.equal(await count(`&employee=${e1.staffid}`), 3);
	assert.equal(await count(`&employee=${e3.staffid}&status=failed`), 2);
	assert.equal(await count(`&employee=${e4.staffid}`), 0, 'never received anything');
	const newest = rows.map((m) => m.created_at).sort().at(-1);
	// the UTC day of the messages (not of the clock now: a run across midnight stays right)
	const today = rows.map((m) => m.created_at).sort()[0].slice(0, 10);
	assert.equal(newest.slice(0, 10), today, 'all sent on one day');
	const yesterday = new Date(Date.parse(`${today}T00:00:00Z`) - 86400e3).toISOString().slice(0, 10);
	assert.equal(await count(`&from=${today}&to=${today}`), 7);
	assert.equal(await count(`&to=${yesterday}`), 0);
	assert.equal(await count(`&from=${encodeURIComponent(newest)}`), rows.filter((m) => m.created_at === newest).length, 'a datetime is inclusive');
	assert.equal(await count(`&to=${encodeURIComponent(newest)}`), 7);
	const future = new Date(Date.parse(newest) + 1).toISOString();
	assert.equal(await count(`&from=${encodeURIComponent(future)}`), 0);

	// sorting (ties by id in the same direction)
	const by = async (qs) => (await list(qs)).items;
	const titles = (await by('&sort=title&order=asc')).map((m) => m.title);
	assert.deepEqual(titles, [...titles].sort());
	assert.deepEqual(titles, ['Alpha', 'Beta', 'Beta', 'Delta', 'Gamma', 'Gamma', 'Gamma']);
	const rank = { failed: 0, queued: 1, sent: 2, delivered: 3, read: 4 };
	const st = (await by('&sort=status&order=desc')).map((m) => rank[m.status]);
	assert.deepEqual(st, [...st].sort((x, y) => y - x));
	assert.equal(st[0], 4);
	const emp = (await by('&sort=employee&order=asc')).map((m) => m.employee.name);
	assert.deepEqual(emp, ['Алексей', 'Алексей', 'Алексей', 'Борис', 'Борис', 'Вера', 'Вера']);
	const created = await by('');
	for (let i = 1; i < created.length; i++) {
		const p = created[i - 1];
		const q = created[i];
		assert.ok(p.created_at > q.created_at || (p.created_at === q.created_at && p.id > q.id), 'newest first by default');
	}
	const asc = await by('&sort=created_at&order=asc');
	assert.deepEqual(asc.map((m) => m.id), created.map((m) => m.id).reverse());

	// paging: the pages put together are the whole list; total on each
	const pages = [];
	for (const off of [0, 3, 6]) {
		const p = okv2(await c('GET', `/api/v2/cabinet/messages?sort=title&order=asc&limit=3&offset=${off}`));
		assert.equal(p.total, 7);
		pages.push(...p.items);
	}
	assert.deepEqual(pages, await by('&sort=title&order=asc'));
	assert.deepEqual(okv2(await c('GET', '/api/v2/cabinet/messages?offset=7')).items, []);
	assert.equal(okv2(await c('GET', '/api/v2/cabinet/messages')).items.length, 7, 'default limit 50');

	// CSV: every matching row, the same as JSON
	for (const [qs, headers] of [['&format=csv', {}], ['', { Accept: 'text/csv' }], ['&format=csv&status=failed&sort=employee&order=asc', {}]]) {
		const res = await c('GET', `/api/v2/cabinet/messages?limit=2${qs}`, { headers });
		assert.equal(res.status, 200, res.text);
		assert.equal(res.headers.get('content-type'), 'text/csv; charset=utf-8');
		assert.equal(res.headers.get('content-disposition'), 'attachment; filename="messages.csv"');
		assert.ok(res.text.startsWith(`${CSV_HEADER}\r\n`));
		const recs = parseCsv(res.text);
		const json = (await list(qs.replace('&format=csv', ''))).items;
		assert.equal(recs.length - 1, json.length, 'all rows, no paging');
		assert.deepEqual(recs.slice(1), json.map(csvOf));
	}
	// a format=json query beats the Accept header
	assert.equal((await c('GET', '/api/v2/cabinet/messages?format=json', { headers: { Accept: 'text/csv' } })).json.total, 7);

	// statistics: the last 30 days by default, every day present
	const s = okv2(await c('GET', '/api/v2/cabinet/stats'));
	assert.equal(s.days.length, 30);
	assert.ok(s.days.at(-1).date >= today, 'up to the server\'s today');
	for (let i = 1; i < s.days.length; i++) assert.equal(Date.parse(s.days[i].date) - Date.parse(s.days[i - 1].date), 86400e3, 'consecutive days');
	for (const day of s.days) {
		if (day.date === today) assert.deepEqual(day, { date: today, messages: 7, sent: 3, delivered: 2, read: 1, failed: 4 });
		else assert.deepEqual({ ...day, date: 0 }, { date: 0, messages: 0, sent: 0, delivered: 0, read: 0, failed: 0 });
	}
	assert.deepEqual(s.totals, { messages: 7, sent: 3, delivered: 2, read: 1, failed: 4, delivery_rate: 2 / 7, read_rate: 1 / 7 });
	const one_day = okv2(await c('GET', `/api/v2/cabinet/stats?from=${yesterday}&to=${today}`));
	assert.deepEqual(one_day.days.map((x) => x.date), [yesterday, today]);
	assert.equal(one_day.totals.messages, 7);
	const east = okv2(await c('GET', '/api/v2/cabinet/stats?tz_offset=840'));
	assert.equal(east.days.length, 30);
	assert.equal(east.totals.messages, 7, 'another offset moves days, not messages');
	const empty = okv2(await c('GET', `/api/v2/cabinet/stats?to=${yesterday}`));
	assert.equal(empty.totals.messages, 0);
	assert.equal(empty.totals.delivery_rate, 0);
});

test('CSV: quoting and formula guard', async (t) => {
	const { srv, a } = await world(t);
	const c = cab(srv, (await signIn(srv, a.inn)).token);
	const e = await login(srv.url, srv.dataDir, a.inn, '+79230003001', '=cmd|calc', 'android');
	const text = 'He said "hi", then\r\nleft;\nok';
	okv2(await c('POST', '/api/v2/cabinet/messages', { body: { to: [e.staffid], title: '@SUM(A1)', text } }), 'send', 201);
	okv2(await c('POST', '/api/v2/cabinet/messages', { body: { to: [e.staffid], title: '-2+3', text: '+1' } }), 'send', 201);
	const res = await c('GET', '/api/v2/cabinet/messages?format=csv&sort=created_at&order=asc');
	const recs = parseCsv(res.text);
	assert.equal(recs[0].join(','), CSV_HEADER);
	assert.equal(recs[1][3], "'=cmd|calc");
	assert.equal(recs[1][5], "'@SUM(A1)");
	assert.equal(recs[1][6], text, 'quotes, commas and line breaks survive');
	assert.equal(recs[2][5], "'-2+3");
	assert.equal(recs[2][6], "'+1");
	assert.equal(recs[1][4], '+79230003001', 'a phone number is no formula');
	assert.ok(res.text.includes('"He said ""hi"", then\r\nleft;\nok"'), 'RFC 4180 quoting');
	const json = okv2(await c('GET', '/api/v2/cabinet/messages?sort=created_at&order=asc')).items;
	assert.deepEqual(recs.slice(1), json.map(csvOf));
	assert.equal(json[0].title, '@SUM(A1)', 'JSON is never altered');
});

test('two tenants: a cabinet sees only its own company', async (t) => {
	const { srv, a } = await world(t);
	const b = makeTenant(srv);
	const ca = cab(srv, (await signIn(srv, a.inn)).token);
	const cb = cab(srv, (await signIn(srv, b.inn)).token);
	const ea = await login(srv.url, srv.dataDir, a.inn, '+79230004001', 'Сотрудник А', 'android');
	const eb = await login(srv.url, srv.dataDir, b.inn, '+79230004002', 'Сотрудник Б', 'android');
	const sentB = okv2(await cb('POST', '/api/v2/cabinet/messages', { body: { to: 'all', title: 'B only', text: 'x' } }), 'B sends', 201);
	okv2(await ca('POST', '/api/v2/cabinet/messages', { body: { to: 'all', title: 'A only', text: 'y' } }), 'A sends', 201);

	assert.deepEqual(okv2(await ca('GET', '/api/v2/cabinet/employees')).items.map((e) => e.staff_id), [ea.staffid]);
	assert.deepEqual(okv2(await ca('GET', '/api/v2/cabinet/messages')).items.map((m) => m.title), ['A only']);
	assert.equal(okv2(await ca('GET', '/api/v2/cabinet/stats')).totals.messages, 1);
	assert.equal(okv2(await cb('GET', '/api/v2/cabinet/stats')).totals.messages, 1);
	errv2(await ca('GET', `/api/v2/cabinet/messages/${sentB.ids[0]}`), 404, 'not_found', "B's message");
	errv2(await ca('GET', `/api/v2/cabinet/messages?employee=${eb.staffid}`), 422, 'unknown_employee', "B's employee as a filter");
	errv2(await ca('PATCH', `/api/v2/cabinet/employees/${eb.staffid}`, { body: { name: 'X' } }), 404, 'unknown_staff');
	errv2(await ca('DELETE', `/api/v2/cabinet/employees/${eb.staffid}`), 404, 'unknown_staff');
	errv2(await ca('POST', '/api/v2/cabinet/messages', { body: { to: [eb.staffid], title: 'T', text: 'x' } }), 422, 'unknown_employee');
	assert.equal(okv2(await cb('GET', '/api/v2/cabinet/employees')).items[0].name, 'Сотрудник Б', 'untouched');
	// B's API token opens B's cabinet, never A's
	assert.equal(okv2(await b.call('GET', '/api/v2/cabinet/tenant')).inn, b.inn);
});

test('bad input: every parameter of messages, sending and stats has a stable error', async (t) => {
	const { srv, a } = await world(t);
	const c = cab(srv, (await signIn(srv, a.inn)).token);
	const e = await login(srv.url, srv.dataDir, a.inn, '+79230005001', 'Сотрудник', 'android');
	const off = await login(srv.url, srv.dataDir, a.inn, '+79230005002', 'Без рассылок', 'android');
	okv2(await c('PATCH', `/api/v2/cabinet/employees/${off.staffid}`, { body: { mailing: false } }));

	const bad = [
		['status=bogus', 422, 'field_invalid'],
		['sort=bogus', 422, 'field_invalid'],
		['order=up', 422, 'field_invalid'],
		['limit=0', 422, 'field_invalid'],
		['limit=501', 422, 'field_invalid'],
		['limit=abc', 422, 'field_invalid'],
		['offset=-1', 422, 'field_invalid'],
		['offset=x', 422, 'field_invalid'],
		['format=xml', 422, 'field_invalid'],
		['tz_offset=9999', 422, 'field_invalid'],
		['from=2026-13-01', 422, 'date_invalid'],
		['to=yesterday', 422, 'date_invalid'],
		['from=2026-05-02&to=2026-05-01', 422, 'range_invalid'],
		['employee=999', 422, 'unknown_employee'],
		['employee=abc', 422, 'unknown_employee'],
	];
	for (const [qs, status, code] of bad) errv2(await c('GET', `/api/v2/cabinet/messages?${qs}`), status, code, qs);
	const en = await c('GET', '/api/v2/cabinet/messages?status=bogus', { headers: { 'Accept-Language': 'en' } });
	assert.match(en.json.error.message, /status/, 'the sentence names the parameter');
	errv2(await c('GET', '/api/v2/cabinet/messages/abc'), 404, 'not_found');
	errv2(await c('GET', '/api/v2/cabinet/messages/99999999'), 404, 'not_found');

	const send = (body) => c('POST', '/api/v2/cabinet/messages', { body });
	const ok = { to: [e.staffid], title: 'T', text: 'x' };
	errv2(await send('{"to":'), 400, 'bad_json');
	errv2(await send({ title: 'T', text: 'x' }), 422, 'field_missing', 'no to');
	errv2(await send({ ...ok, to: [] }), 422, 'no_recipients', 'empty to');
	errv2(await send({ ...ok, to: 'everyone' }), 422, 'field_invalid');
	errv2(await send({ ...ok, to: 5 }), 400, 'field_type');
	errv2(await send({ ...ok, to: [5] }), 400, 'field_type');
	const unknown = errv2(await send({ ...ok, to: [e.staffid, '1234567'] }), 422, 'unknown_employee');
	assert.match(unknown.message, /1234567/, 'names the unknown id');
	errv2(await send({ ...ok, to: [off.staffid] }), 422, 'employee_no_mailing');
	errv2(await send({ ...ok, to: Array.from({ length: 1001 }, () => e.staffid) }), 422, 'field_invalid', 'over 1000');
	errv2(await send({ to: [e.staffid], text: 'x' }), 422, 'field_missing', 'no title');
	errv2(await send({ ...ok, title: '   ' }), 422, 'title_empty');
	errv2(await send({ ...ok, text: '' }), 422, 'text_empty');
	const long = errv2(await send({ ...ok, title: 'я'.repeat(257) }), 422, 'title_too_long');
	assert.match(long.message, /256/);
	errv2(await send({ ...ok, text: 'x'.repeat(4001) }), 422, 'text_too_long');
	errv2(await send({ ...ok, title: 7 }), 400, 'field_type');
	errv2(await send({ ...ok, urgent: 'yes' }), 400, 'field_type');
	assert.equal(okv2(await c('GET', '/api/v2/cabinet/messages')).total, 0, 'nothing was sent by a refused request');
	okv2(await send({ ...ok, title: 'я'.repeat(256), text: 'x'.repeat(4000) }), 'the limits themselves are fine', 201);

	for (const [qs, code] of [
		['from=2026-05-02&to=2026-05-01', 'range_invalid'],
		['from=2025-01-01&to=2026-05-01', 'range_invalid'],
		['from=nope', 'date_invalid'],
		['tz_offset=x', 'field_invalid'],
	])
		errv2(await c('GET', `/api/v2/cabinet/stats?${qs}`), 422, code, qs);
	assert.equal(okv2(await c('GET', '/api/v2/cabinet/stats?from=2025-05-01&to=2026-05-01')).days.length, 366, '366 days are allowed');

	// with no messages at all (a new tenant) everything is empty, not an error
	const b = makeTenant(srv);
	const cb = cab(srv, (await signIn(srv, b.inn)).token);
	assert.deepEqual(okv2(await cb('GET', '/api/v2/cabinet/messages')), { items: [], total: 0 });
	assert.equal(parseCsv((await cb('GET', '/api/v2/cabinet/messages?format=csv')).text).length, 1, 'only the header');
	assert.deepEqual(okv2(await cb('GET', '/api/v2/cabinet/employees')), { items: [], next_cursor: null });
	errv2(await cb('POST', '/api/v2/cabinet/messages', { body: { to: 'all', title: 'T', text: 'x' } }), 422, 'no_recipients', 'all of nobody');
});

test('cabinet: a message read in the app counts as read even when the employee has no push device', async (t) => {
	const { serverFor, setupTenant, sendMessage } = await import('./lib/harness.mjs');
	const srv = await serverFor(t);
	const tn = await setupTenant(srv, { staff: 1 });
	const e = tn.employees[0];
	const sess = await signIn(srv, tn.inn);
	const c = cab(srv, sess.token);
	await sendMessage(srv, tn, e.staffid, 'Shift', 'Moved to 7:00');
	let list = okv2(await c('GET', '/api/v2/cabinet/messages'), 'list');
	assert.equal(list.items[0].status, 'failed');
	assert.equal(list.items[0].failed_reason, 'no_device');
	// the employee opens the inbox in the app (no notifications allowed: no device)
	const inbox = okv2(await api(srv, 'GET', '/api/v2/chats', { token: e.apitoken }), 'chats').items.find((x) => x.type === 'inbox');
	okv2(await api(srv, 'POST', `/api/v2/chats/${inbox.id}/read`, { token: e.apitoken, body: { seq: inbox.last_seq } }), 'read');
	list = okv2(await c('GET', '/api/v2/cabinet/messages'), 'list after reading');
	assert.equal(list.items[0].status, 'read');
	assert.equal(list.items[0].failed_reason, null);
	assert.equal(okv2(await c('GET', '/api/v2/cabinet/messages?status=read'), 'filter').total, 1);
	assert.equal(okv2(await c('GET', `/api/v2/cabinet/messages/${list.items[0].id}`), 'detail').status, 'read');
	const stats = okv2(await c('GET', '/api/v2/cabinet/stats'), 'stats');
	assert.equal(stats.totals.read, 1);
	assert.equal(stats.totals.failed, 0);
});
