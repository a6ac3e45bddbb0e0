// Clients that misbehave: requests split anywhere, clients that vanish mid
// request, garbage. The server must keep serving and stay sanitizer-clean
// (serverFor's stop() checks the exit code and stderr).

import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { serverFor, setupTenant, v1, ok, get, RawClient, rawJson, sleep } from './lib/harness.mjs';

const ENV = { HERALD_SMS_RESEND_COOLDOWN: '0s' };

function createRequest(a, staffid, title) {
	const body = Buffer.from(JSON.stringify({ inn: a.inn, staffid, title, message: `сообщение ${title}` }));
	return Buffer.concat([
		Buffer.from(`POST /api/v1/createmessage HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`),
		body,
	]);
}

// a deterministic pseudo-random sequence, so a failure can be replayed
function rng(seed) {
	let s = seed >>> 0;
	return () => {
		s = (s * 1664525 + 1013904223) >>> 0;
		return s / 2 ** 32;
	};
}

test('requests split at arbitrary byte boundaries are parsed the same', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;
	const rand = rng(12345);
	const c = new RawClient(srv.port);
	await c.connected;
	c.sock.setNoDelay(true);
	t.after(() => c.destroy());
	const N = 12;
	for (let i = 0; i < N; i++) {
		const req = createRequest(a, id, `split-${i}`);
		let off = 0;
		while (off < req.length) {
			const n = 1 + Math.floor(rand() * (i % 3 === 0 ? 3 : 40));
			await c.write(req.subarray(off, off + n));
			off += n;
			if (rand() < 0.3) await sleep(1);
		}
		const rs = await c.waitResponses(i + 1, 5000);
		assert.equal(rs.length, i + 1, `response to split request ${i}`);
		assert.equal(rs[i].status, 200, rs[i].raw);
		assert.equal(rawJson(rs[i]).data.title, `split-${i}`);
	}
	const list = ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: id }, { token: a.token }));
	assert.equal(list.length, N);
	assert.ok(list.every((m) => m.message === `сообщение ${m.title}`));
});

test('clients vanishing mid-request or before reading the answer do not disturb the server', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;
	const full = createRequest(a, id, 'gone');
	const socks = [];
	const open = () =>
		new Promise((resolve) => {
			const s = net.connect(srv.port, '127.0.0.1', () => resolve(s));
			s.on('error', () => {});
			socks.push(s);
		});
	// 1) full request, then gone at once (the answer has nowhere to go)
	for (let i = 0; i < 40; i++) {
		const s = await open();
		s.write(full);
		s.destroy();
	}
	// 2) half of the headers, then gone
	for (let i = 0; i < 20; i++) {
		const s = await open();
		s.write(full.subarray(0, 30 + i));
		s.destroy();
	}
	// 3) headers and half the body, then gone
	for (let i = 0; i < 20; i++) {
		const s = await open();
		s.write(full.subarray(0, full.length - 5));
		s.destroy();
	}
	// 4) three pipelined requests, then a reset
	for (let i = 0; i < 10; i++) {
		const s = await open();
		s.write(Buffer.concat([full, full, full]));
		s.resetAndDestroy ? s.resetAndDestroy() : s.destroy();
	}
	await sleep(300);

	const h = await get(srv.url, '/healthz');
	assert.equal(h.status, 200);
	const list = ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: id, count: 1000 }, { token: a.token }));
	assert.ok(list.every((m) => m.title === 'gone' && m.message === 'сообщение gone'), 'only whole requests were stored');
	assert.ok(list.length <= 40 + 30, `at most the complete requests were stored: ${list.length}`);
	// the open-connections gauge goes back down
	let open_ = Infinity;
	for (let i = 0; i < 20 && open_ > 2; i++) {
		const m = await get(srv.url, '/metrics');
		open_ = Number(/^herald_http_open_connections (\S+)$/m.exec(m.text)[1]);
		if (open_ > 2) await sleep(100);
	}
	assert.ok(open_ <= 2, `open connections back to the active ones: ${open_}`);
});

test('random garbage on many connections gets 400s or closes, never a crash', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const rand = rng(777);
	const statuses = {};
	for (let i = 0; i < 40; i++) {
		const len = 1 + Math.floor(rand() * 300);
		const bytes = Buffer.alloc(len);
		for (let j = 0; j < len; j++) bytes[j] = Math.floor(rand() * 256);
		// some start like a request to get past the method
		const data = i % 2 ? Buffer.concat([Buffer.from('POST /api/v1/auth HTTP/1.1\r\n'), bytes, Buffer.from('\r\n\r\n')]) : bytes;
		const c = new RawClient(srv.port);
		await c.connected;
		try {
			await c.write(data);
		} catch {
			/* reset by the server */
		}
		const [r] = await c.waitResponses(1, 1500);
		const k = r ? r.status : 'none';
		statuses[k] = (statuses[k] || 0) + 1;
		if (r) assert.ok(r.status === 400 || r.status === 431 || r.status === 408 || r.status === 413, `garbage → ${r.status}: ${r.raw.slice(0, 200)}`);
		c.destroy();
	}
	t.diagnostic(`answers to garbage: ${JSON.stringify(statuses)}`);
	assert.ok((statuses[400] || 0) >= 20, 'most garbage is answered 400');
	assert.equal((await get(srv.url, '/healthz')).status, 200);
});

test('a client that half-closes after its request (shutdown(SHUT_WR), `nc -N`) still gets the answer', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;
	const exchange = (data) =>
		new Promise((resolve) => {
			const s = net.connect(srv.port, '127.0.0.1');
			let got = '';
			s.on('data', (d) => (got += d));
			s.on('error', () => {});
			const timer = setTimeout(() => s.destroy(), 3000);
			s.on('close', () => {
				clearTimeout(timer);
				resolve(got);
			});
			s.end(data); // write, then FIN: the client will send nothing more but still reads
		});
	const h = await exchange('GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n');
	assert.match(h, /^HTTP\/1\.1 200 /, `GET /healthz from a half-closed client: ${JSON.stringify(h.slice(0, 80))}`);
	const r = await exchange('GET /readyz HTTP/1.1\r\nHost: test\r\n\r\n');
	assert.match(r, /^HTTP\/1\.1 200 /, `GET /readyz from a half-closed client: ${JSON.stringify(r.slice(0, 80))}`);
	const c = await exchange(createRequest(a, id, 'half-closed'));
	assert.match(c, /^HTTP\/1\.1 200 /, `createmessage from a half-closed client: ${JSON.stringify(c.slice(0, 80))}`);
	assert.ok(c.includes('"title":"half-closed"'), c);
});
