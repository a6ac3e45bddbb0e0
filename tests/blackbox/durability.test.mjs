// Graceful shutdown under load, and kill -9 in the middle of writes: every
// acknowledged message must survive a restart on the same data directory.

import test from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, startServer, setupTenant, v1, ok, RawClient, sleep, sqlite, dbPath } from './lib/harness.mjs';

const ENV = { HERALD_SMS_RESEND_COOLDOWN: '0s' };

async function allMessages(srv, tenant, staffid) {
	return ok(await v1(srv.url, 'getmessage', { inn: tenant.inn, staffid, count: 1000 }, { token: tenant.token }), 'getmessage after restart');
}

test('graceful shutdown: SIGTERM during a burst of 50 concurrent createmessage → exit 0 within 10 s, acknowledged writes kept', async (t) => {
	const srv = await startServer({ env: ENV });
	let srv2;
	t.after(async () => {
		if (t.passed === false) {
			srv.dumpLogs('first run');
			if (srv2) srv2.dumpLogs('after restart');
		}
		if (!srv.exitInfo) await srv.kill9();
	});
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;

	// an idle keep-alive connection must not hold the shutdown up
	const idle = new RawClient(srv.port);
	await idle.connected;
	await idle.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
	await idle.waitResponses(1);
	t.after(() => idle.destroy());

	const results = new Array(50);
	const reqs = Array.from({ length: 50 }, (_, i) =>
		v1(srv.url, 'createmessage', { inn: a.inn, staffid: id, title: `inflight-${i}`, message: `message number ${i}` }, { token: a.token }).then(
			(r) => (results[i] = r),
			(e) => (results[i] = { error: e }),
		),
	);
	await Promise.race(reqs); // at least one has been answered; the rest are in flight
	const t0 = Date.now();
	const code = await srv.stop('SIGTERM', { waitMs: 12000 }); // asserts exit 0 and no sanitizer report
	const took = Date.now() - t0;
	assert.equal(code, 0);
	assert.ok(took <= 10000, `exited within 10 s (took ${took} ms)`);
	await Promise.all(reqs);

	const acked = [];
	for (const [i, r] of results.entries()) {
		if (r.error) continue; // refused or cut before an answer: fine
		if (r.json && r.json.success === true) {
			assert.equal(r.json.data.title, `inflight-${i}`);
			acked.push(r.json.data);
		} else {
			// a refused request is answered in the envelope, as unavailable
			assert.ok(r.json && r.json.success === false && r.json.data === null, `envelope: ${r.text}`);
			assert.equal(r.status, 503, `a request refused during shutdown: ${r.status} ${r.text}`);
		}
	}
	assert.ok(acked.length >= 1, 'at least one request was acknowledged');
	t.diagnostic(`acknowledged ${acked.length} of 50 before/while shutting down`);

	srv2 = await startServer({ env: ENV, dataDir: srv.dataDir });
	try {
		const list = await allMessages(srv2, a, id);
		const byId = new Map(list.map((m) => [m.messageId, m]));
		for (const d of acked) {
			const m = byId.get(d.messageid);
			assert.ok(m, `acknowledged message ${d.messageid} (${d.title}) survived the restart`);
			assert.equal(m.title, d.title);
			assert.equal(m.message, d.message);
		}
		for (const m of list) assert.match(m.title, /^inflight-\d+$/);
	} finally {
		await srv2.stop();
	}
	assert.equal(sqlite(dbPath(srv.dataDir), 'PRAGMA integrity_check'), 'ok');
});

test('graceful shutdown: 50 createmessage mid-body at SIGTERM all finish, exit 0 within 10 s, all kept', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;
	const clients = [];
	for (let i = 0; i < 50; i++) {
		const body = Buffer.from(JSON.stringify({ inn: a.inn, staffid: id, title: `mid-${i}`, message: `тело ${i}` }));
		const c = new RawClient(srv.port);
		await c.connected;
		t.after(() => c.destroy());
		await c.write(
			Buffer.concat([
				Buffer.from(`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: ${a.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`),
				body.subarray(0, 10),
			]),
		);
		clients.push({ c, rest: body.subarray(10) });
	}
	await sleep(100); // the server has read the heads: 50 requests are in flight
	const t0 = Date.now();
	srv.proc.kill('SIGTERM');
	await sleep(50);
	await Promise.all(clients.map(({ c, rest }) => c.write(rest).catch(() => {})));
	const answers = await Promise.all(clients.map(({ c }) => c.waitResponses(1, 12000)));
	await srv.stop('SIGTERM', { waitMs: 12000 }); // already signalled: waits, asserts exit 0, no sanitizer report
	const took = Date.now() - t0;
	assert.ok(took <= 10000, `exited within 10 s (took ${took} ms)`);
	const acked = [];
	for (const [i, [r]] of answers.entries()) {
		assert.ok(r, `request ${i} in flight at SIGTERM got an answer`);
		assert.equal(r.status, 200, `request ${i} finished: ${r.raw.slice(0, 300)}`);
		const d = JSON.parse(r.body).data;
		assert.equal(d.title, `mid-${i}`);
		acked.push(d);
	}
	const srv2 = await serverFor(t, { env: ENV, dataDir: srv.dataDir });
	const list = await allMessages(srv2, a, id);
	const byId = new Map(list.map((m) => [m.messageId, m]));
	for (const d of acked) {
		assert.ok(byId.has(d.messageid), `message ${d.messageid} (${d.title}) kept`);
		assert.equal(byId.get(d.messageid).message, d.message);
	}
	assert.equal(list.length, 50);
});

test('crash: kill -9 while 8 ERP loops create messages → every acknowledged message is there after restart', async (t) => {
	const srv = await startServer({ env: ENV });
	let srv2;
	t.after(async () => {
		if (t.passed === false) {
			srv.dumpLogs('before the crash');
			if (srv2) srv2.dumpLogs('after restart');
		}
		if (!srv.exitInfo) await srv.kill9();
	});
	const LOOPS = 8;
	const PER_LOOP_MAX = 900; // getmessage returns at most 1000 per employee
	const a = await setupTenant(srv, { staff: LOOPS });
	let stop = false;
	const acked = Array.from({ length: LOOPS }, () => []);
	const attempted = Array.from({ length: LOOPS }, () => new Map());
	const loops = a.employees.map(async (e, l) => {
		for (let i = 0; !stop && i < PER_LOOP_MAX; i++) {
			const title = `L${l}-${i}`;
			const message = `Событие ${i} цикла ${l}: ` + 'данные '.repeat(1 + (i % 40));
			attempted[l].set(title, message);
			let r;
			try {
				r = await v1(srv.url, 'createmessage', { inn: a.inn, staffid: e.staffid, title, message }, { token: a.token });
			} catch {
				return; // the server is gone
			}
			if (r.json && r.json.success) {
				assert.equal(r.json.data.title, title);
				acked[l].push({ id: r.json.data.messageid, title, message });
			} else {
				return;
			}
		}
	});
	await sleep(1000);
	await srv.kill9();
	stop = true;
	await Promise.all(loops);
	assert.equal(srv.exitInfo.signal, 'SIGKILL');
	const total = acked.reduce((n, x) => n + x.length, 0);
	assert.ok(total >= LOOPS, `messages were acknowledged before the crash (${total})`);
	t.diagnostic(`acknowledged ${total} messages before kill -9`);

	srv2 = await startServer({ env: ENV, dataDir: srv.dataDir });
	try {
		for (const [l, e] of a.employees.entries()) {
			const list = await allMessages(srv2, a, e.staffid);
			const byId = new Map(list.map((m) => [m.messageId, m]));
			for (const d of acked[l]) {
				const m = byId.get(d.id);
				assert.ok(m, `acknowledged message ${d.id} (${d.title}) survived kill -9`);
				assert.equal(m.title, d.title);
				assert.equal(m.message, d.message);
			}
			for (const m of list) {
				assert.ok(m.title.length > 0 && m.message.length > 0, `no half-written message: ${JSON.stringify(m)}`);
				assert.ok(attempted[l].has(m.title), `a message that was sent: ${m.title}`);
				assert.equal(m.message, attempted[l].get(m.title), `text intact for ${m.title}`);
			}
			assert.ok(list.length >= acked[l].length);
			assert.ok(list.length <= attempted[l].size);
		}
		// the restarted server keeps working
		ok(await v1(srv2.url, 'createmessage', { inn: a.inn, staffid: a.employees[0].staffid, title: 'after', message: 'crash' }, { token: a.token }));
	} finally {
		await srv2.stop();
	}
	assert.equal(sqlite(dbPath(srv.dataDir), 'PRAGMA integrity_check'), 'ok');
});

test('graceful shutdown: a client that sent half a request at SIGTERM → still exit 0 within 10 s', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	ok(await v1(srv.url, 'createmessage', { inn: a.inn, staffid: a.employees[0].staffid, title: 'before', message: 'x' }, { token: a.token }));
	const half = new RawClient(srv.port);
	await half.connected;
	t.after(() => half.destroy());
	await half.write('POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nContent-Le');
	const body = new RawClient(srv.port);
	await body.connected;
	t.after(() => body.destroy());
	await body.write(`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: ${a.token}\r\nContent-Length: 200\r\n\r\n{"inn":"`);
	await sleep(100);
	const t0 = Date.now();
	await srv.stop('SIGTERM', { waitMs: 12000 }); // asserts exit code 0 and no sanitizer report
	const took = Date.now() - t0;
	assert.ok(took <= 10000, `exited within 10 s (took ${took} ms)`);
	const srv2 = await serverFor(t, { env: ENV, dataDir: srv.dataDir });
	const list = ok(await v1(srv2.url, 'getmessage', { inn: a.inn, staffid: a.employees[0].staffid }, { token: a.token }));
	assert.deepEqual(list.map((m) => m.title), ['before']);
});
