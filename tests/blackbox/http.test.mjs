// The HTTP layer: keep-alive, pipelining, chunked bodies, limits, errors,
// slow clients, probes and metrics.

import test from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, setupTenant, v1, ok, fails, get, RawClient, rawExchange, rawJson, sleep, runCli } from './lib/harness.mjs';

const ENV = { HERALD_SMS_RESEND_COOLDOWN: '0s' };
// /healthz tells the version and build that `herald version` prints.
const [, VERSION, BUILD] = /^herald (\S+) \(build (\S+)\)/.exec(runCli(['version']).stdout);
const HEALTHY = { status: 'ok', version: VERSION, build: BUILD };

function createRequest(a, staffid, title, message = 'text', extraHeaders = '') {
	const body = Buffer.from(JSON.stringify({ inn: a.inn, staffid, title, message }));
	return Buffer.concat([
		Buffer.from(
			`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: ${a.token}\r\n` +
				`Content-Type: application/json\r\nContent-Length: ${body.length}\r\n${extraHeaders}\r\n`,
		),
		body,
	]);
}

/** Asserts a raw response carries the v1 failure envelope with code. */
function rawFails(r, status, code) {
	assert.equal(r.status, status, `status of ${r.raw.slice(0, 300)}`);
	assert.equal(r.headers['x-herald-error'], code);
	const j = rawJson(r);
	assert.ok(j, `JSON body: ${r.body}`);
	assert.deepEqual(Object.keys(j), ['success', 'data', 'error']);
	assert.equal(j.success, false);
	assert.equal(j.data, null);
	assert.ok(j.error.length > 3);
}

/** Asserts a raw response carries the native error body with code. */
function rawNativeError(r, status, code) {
	assert.equal(r.status, status, `status of ${r.raw.slice(0, 300)}`);
	assert.equal(r.headers['x-herald-error'], code);
	const j = rawJson(r);
	assert.ok(j && j.error, `JSON error body: ${r.body}`);
	assert.equal(j.error.code, code);
	assert.ok(typeof j.error.message === 'string' && j.error.message.length > 3);
}

test('probes: /healthz, /readyz, /metrics', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const h = await get(srv.url, '/healthz');
	assert.equal(h.status, 200);
	assert.deepEqual(h.json, HEALTHY);
	const r = await get(srv.url, '/readyz');
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json && r.json.status, 'ready');

	const a = await setupTenant(srv);
	ok(await v1(srv.url, 'createmessage', { inn: a.inn, staffid: a.employees[0].staffid, title: 't', message: 'm' }, { token: a.token }));
	const c = new RawClient(srv.port); // one more open connection while /metrics is read
	await c.connected;
	t.after(() => c.destroy());
	const m = await get(srv.url, '/metrics');
	assert.equal(m.status, 200);
	assert.match(m.headers.get('content-type'), /^text\/plain/);
	for (const name of ['herald_http_requests_total', 'herald_db_commit_batch_size', 'herald_http_open_connections']) {
		assert.ok(m.text.includes(name), `/metrics has ${name}`);
	}
	const hz = /herald_http_requests_total\{route="\/healthz",method="GET",status="200"\} (\d+)/.exec(m.text);
	assert.ok(hz && Number(hz[1]) >= 1, 'the /healthz request was counted');
	const cm = /herald_http_requests_total\{route="\/api\/v1\/createmessage",method="POST",status="200"\} (\d+)/.exec(m.text);
	assert.ok(cm && Number(cm[1]) === 1, `one createmessage counted: ${cm && cm[0]}`);
	const open = /^herald_http_open_connections (\S+)$/m.exec(m.text);
	assert.ok(open && Number(open[1]) >= 2, `open connections counted (raw client + this one): ${open && open[0]}`);
	const commits = /^herald_db_commit_batch_size_count (\d+)$/m.exec(m.text);
	assert.ok(commits && Number(commits[1]) >= 1, 'commits counted');
});

test('keep-alive: two requests on one connection get two responses', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const c = new RawClient(srv.port);
	await c.connected;
	t.after(() => c.destroy());
	await c.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
	const [r1] = await c.waitResponses(1);
	assert.equal(r1.status, 200);
	assert.equal(r1.headers.connection, 'keep-alive');
	assert.deepEqual(rawJson(r1), HEALTHY);
	await sleep(50);
	assert.equal(c.closed, false, 'connection stays open');
	await c.write('GET /no/such/page HTTP/1.1\r\nHost: test\r\n\r\n');
	const rs = await c.waitResponses(2);
	assert.equal(rs.length, 2);
	rawNativeError(rs[1], 404, 'route_not_found');
	// Connection: close is honoured
	await c.write('GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
	const rs3 = await c.waitResponses(3);
	assert.equal(rs3[2].status, 200);
	assert.equal(rs3[2].headers.connection, 'close');
	assert.ok(await c.waitClosed(3000), 'closed after Connection: close');
});

test('pipelining: requests written at once are answered in order', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;
	const all = Buffer.concat([
		createRequest(a, id, 'pipe-1'),
		Buffer.from('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n'),
		createRequest(a, id, 'pipe-2', 'второй'),
		Buffer.from('GET /api/v1/nothing-here HTTP/1.1\r\nHost: test\r\n\r\n'),
		createRequest(a, id, 'pipe-3'),
	]);
	const rs = await rawExchange(srv.port, all, 5);
	assert.equal(rs.length, 5, `five responses: ${rs.map((r) => r.status)}`);
	const d1 = rawJson(rs[0]).data;
	assert.equal(rs[0].status, 200);
	assert.equal(d1.title, 'pipe-1');
	assert.equal(rs[1].status, 200);
	assert.deepEqual(rawJson(rs[1]), HEALTHY);
	const d2 = rawJson(rs[2]).data;
	assert.equal(d2.title, 'pipe-2');
	assert.equal(d2.message, 'второй');
	rawFails(rs[3], 404, 'route_not_found');
	assert.equal(rawJson(rs[4]).data.title, 'pipe-3');
	assert.ok(BigInt(d1.messageid) < BigInt(d2.messageid), 'stored in order');
	const list = ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: id }, { token: a.token }));
	assert.deepEqual(list.map((m) => m.title), ['pipe-3', 'pipe-2', 'pipe-1']);
});

test('chunked request body: createmessage works, chunks may split UTF-8 characters', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;
	const body = Buffer.from(JSON.stringify({ inn: a.inn, staffid: id, title: 'Чанки', message: 'Привет, мир! Ёжик 😀' }));
	const c = new RawClient(srv.port);
	await c.connected;
	t.after(() => c.destroy());
	await c.write(`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: ${a.token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
	// chunks of 7 bytes split the two-byte Cyrillic letters
	for (let off = 0; off < body.length; off += 7) {
		const part = body.subarray(off, off + 7);
		await c.write(Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]));
		if (off < 30) await sleep(5);
	}
	await c.write('0\r\n\r\n');
	const [r] = await c.waitResponses(1);
	assert.ok(r, 'a response');
	assert.equal(r.status, 200, r.raw);
	const d = rawJson(r).data;
	assert.equal(d.title, 'Чанки');
	assert.equal(d.message, 'Привет, мир! Ёжик 😀');
	const list = ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: id }, { token: a.token }));
	assert.equal(list[0].message, 'Привет, мир! Ёжик 😀');
	// the connection is still usable afterwards
	await c.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
	const rs = await c.waitResponses(2);
	assert.equal(rs[1] && rs[1].status, 200);
});

test('Expect: 100-continue gets an interim response, then the real one', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	const body = JSON.stringify({ inn: a.inn, staffid: a.employees[0].staffid, title: 'continue', message: 'x' });
	const c = new RawClient(srv.port);
	await c.connected;
	t.after(() => c.destroy());
	await c.write(`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: ${a.token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`);
	const [cont] = await c.waitResponses(1, 3000);
	assert.equal(cont && cont.status, 100, 'HTTP/1.1 100 Continue');
	await c.write(body);
	const rs = await c.waitResponses(2);
	assert.equal(rs[1] && rs[1].status, 200);
	assert.equal(rawJson(rs[1]).data.title, 'continue');
});

test('limits: Content-Length over 1 MiB → 413 in the v1 envelope; exactly 1 MiB is accepted', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;
	const c = new RawClient(srv.port);
	await c.connected;
	t.after(() => c.destroy());
	await c.write(`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: ${a.token}\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024 + 1}\r\n\r\n{"inn":`);
	const [r] = await c.waitResponses(1, 5000);
	assert.ok(r, 'answered without waiting for the body');
	rawFails(r, 413, 'body_too_large');
	assert.ok(await c.waitClosed(5000), 'connection closed after 413');

	// a body of exactly 1 MiB (JSON padded with blanks) is fine
	const json = JSON.stringify({ inn: a.inn, staffid: id, title: 'big', message: 'fits' });
	const padded = json + ' '.repeat(1024 * 1024 - Buffer.byteLength(json));
	assert.equal(Buffer.byteLength(padded), 1024 * 1024);
	const big = await v1(srv.url, 'createmessage', padded, { token: a.token });
	assert.equal(ok(big, '1 MiB body').title, 'big');

	// a chunked body that grows over the limit is refused too
	const d = new RawClient(srv.port);
	await d.connected;
	t.after(() => d.destroy());
	await d.write(`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: ${a.token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
	const chunk = Buffer.alloc(64 * 1024, 0x20);
	for (let i = 0; i < 20 && !d.closed && d.responses.length === 0; i++) {
		try {
			await d.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
		} catch {
			break; // the server may stop reading
		}
	}
	const [r2] = await d.waitResponses(1, 5000);
	assert.ok(r2, 'chunked body over the limit is answered');
	rawFails(r2, 413, 'body_too_large');
});

test('limits: headers over 16 KiB → 431; 15 KiB are fine', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const [okRes] = await rawExchange(srv.port, `GET /healthz HTTP/1.1\r\nHost: test\r\nX-Pad: ${'a'.repeat(15 * 1024)}\r\n\r\n`);
	assert.equal(okRes && okRes.status, 200, '15 KiB of headers');
	const c = new RawClient(srv.port);
	await c.connected;
	t.after(() => c.destroy());
	await c.write(`GET /healthz HTTP/1.1\r\nHost: test\r\nX-Pad: ${'a'.repeat(17 * 1024)}\r\n\r\n`);
	const [r] = await c.waitResponses(1);
	assert.ok(r, 'a response');
	rawNativeError(r, 431, 'headers_too_large');
	assert.ok(await c.waitClosed(3000), 'connection closed after 431');
	// many small headers count too
	const many = Array.from({ length: 800 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}\r\n`).join('');
	const [r2] = await rawExchange(srv.port, `GET /api/v1/getstaff HTTP/1.1\r\nHost: test\r\n${many}\r\n`);
	assert.equal(r2 && r2.status, 431);
	// the server is still fine
	assert.equal((await get(srv.url, '/healthz')).status, 200);
});

test('errors: garbage request line 400, unknown path 404 JSON, wrong method 405 with Allow', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const c = new RawClient(srv.port);
	await c.connected;
	t.after(() => c.destroy());
	await c.write('HELLO WORLD\r\n\r\n');
	const [g] = await c.waitResponses(1);
	assert.ok(g, 'garbage gets a response');
	rawNativeError(g, 400, 'bad_request');
	assert.ok(await c.waitClosed(3000), 'closed after a bad request');

	const [bin] = await rawExchange(srv.port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]));
	assert.equal(bin && bin.status, 400, 'a TLS hello is a bad request');

	const nf = await get(srv.url, '/no/such/thing');
	assert.equal(nf.status, 404);
	assert.match(nf.headers.get('content-type'), /^application\/json/);
	assert.equal(nf.headers.get('x-herald-error'), 'route_not_found');
	assert.equal(nf.json.error.code, 'route_not_found');
	assert.ok(nf.json.error.message.length > 3, nf.text);

	const v1nf = await v1(srv.url, 'nosuchmethod', {});
	fails(v1nf, 404, 'route_not_found', 'unknown v1 method in the envelope');

	const na = await get(srv.url, '/api/v1/createmessage');
	fails(na, 405, 'method_not_allowed');
	assert.match(na.headers.get('allow') || '', /\bPOST\b/);
	assert.doesNotMatch(na.headers.get('allow') || '', /\bGET\b/);
	const del = await fetch(`${srv.url}/api/v1/getstaff`, { method: 'DELETE' });
	assert.equal(del.status, 405);
	const allow = del.headers.get('allow') || '';
	assert.ok(/\bGET\b/.test(allow) && /\bPOST\b/.test(allow), `Allow: ${allow}`);
	await del.text();
	const post = await fetch(`${srv.url}/healthz`, { method: 'POST', body: '{}' });
	assert.equal(post.status, 405);
	assert.equal(post.headers.get('x-herald-error'), 'method_not_allowed');
	assert.equal((await post.json()).error.code, 'method_not_allowed');
});

test('slow loris: a client sending headers one byte per second is cut off, others are served', async (t) => {
	const srv = await serverFor(t, { env: { ...ENV, HERALD_HTTP_HEADER_TIMEOUT: '1s' } });
	const slow = new RawClient(srv.port);
	await slow.connected;
	t.after(() => slow.destroy());
	const request = 'GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ' + 'z'.repeat(40) + '\r\n\r\n';
	const start = Date.now();
	const dripping = (async () => {
		for (const ch of request) {
			if (slow.closed || slow.responses.length) return;
			try {
				await slow.write(ch);
			} catch {
				return;
			}
			await sleep(1000);
		}
	})();
	// meanwhile, other clients are served promptly
	const latencies = [];
	for (let i = 0; i < 5; i++) {
		const t0 = Date.now();
		const r = await get(srv.url, '/healthz');
		assert.equal(r.status, 200);
		latencies.push(Date.now() - t0);
		await sleep(300);
	}
	assert.ok(Math.max(...latencies) < 1000, `others served quickly: ${latencies}`);
	const cut = await slow.waitClosed(6000);
	const elapsed = (slow.closedAt || Date.now()) - start;
	assert.ok(cut || slow.responses.length > 0, 'the slow client was cut off');
	assert.ok(elapsed < 4000, `cut off within about the header timeout (1 s), took ${elapsed} ms`);
	if (slow.responses.length) {
		assert.equal(slow.responses[0].status, 408);
		assert.equal(slow.responses[0].headers['x-herald-error'], 'timeout');
	}
	await dripping;
});

test('timeouts: a stalled body → 408 (body timeout); an idle keep-alive connection is closed silently', async (t) => {
	const srv = await serverFor(t, { env: { ...ENV, HERALD_HTTP_BODY_TIMEOUT: '1s', HERALD_HTTP_IDLE_TIMEOUT: '1s' } });
	const a = await setupTenant(srv);
	const c = new RawClient(srv.port);
	await c.connected;
	t.after(() => c.destroy());
	const t0 = Date.now();
	await c.write(`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: ${a.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"inn":"`);
	const [r] = await c.waitResponses(1, 5000);
	const took = Date.now() - t0;
	assert.ok(r, 'the stalled body is answered');
	rawFails(r, 408, 'timeout');
	assert.ok(took >= 800 && took < 4000, `after about the body timeout (1 s): ${took} ms`);
	assert.ok(await c.waitClosed(3000), 'closed after 408');

	const idle = new RawClient(srv.port);
	await idle.connected;
	t.after(() => idle.destroy());
	await idle.write('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
	const [h] = await idle.waitResponses(1);
	assert.equal(h.status, 200);
	const t1 = Date.now();
	assert.ok(await idle.waitClosed(5000), 'idle keep-alive connection closed');
	const idleFor = Date.now() - t1;
	assert.ok(idleFor >= 700 && idleFor < 4000, `after about the idle timeout (1 s): ${idleFor} ms`);
	assert.equal(idle.responses.length, 1, 'silently: no second response');
});
