// Topics (live business events), attachments and signed webhooks, against the
// real binary: a topic's access rule and resume by seq; uploads typed from their
// bytes and visible only to the right people; webhooks received and verified by a
// local server, in order, retried after failures, never reaching private
// addresses unless allowed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

import { serverFor } from './lib/harness.mjs';
import { api, okv2, errv2, world, wsConnect, sleep } from './lib/v2.mjs';

// A 3×2 PNG: signature, IHDR (width 3, height 2) and the rest of a tiny image.
const PNG = Buffer.from(
	'89504e470d0a1a0a0000000d49484452000000030000000208060000009e8e4d27' +
		'0000000d4944415408d763f8ffff3f0300080000fe0fb1f4a30000000049454e44ae426082',
	'hex',
);

async function upload(srv, token, bytes, name) {
	const res = await fetch(`${srv.url}/api/v2/files?name=${encodeURIComponent(name)}`, {
		method: 'POST',
		headers: { Authorization: `Bearer ${token}` },
		body: bytes,
	});
	const text = await res.text();
	return { status: res.status, json: text ? JSON.parse(text) : undefined, text, headers: res.headers };
}

test('topics: access by role, publish, REST catch-up, WS subscribe with after and live, in order and once', async (t) => {
	const { srv, a } = await world(t);
	const toks = await a.users({ disp: ['dispatcher'], worker: ['staff'] });
	errv2(await a.call('POST', '/api/v2/topics/orders/events', { body: { data: { n: 0 } } }), 404, 'not_found', 'undefined topic');
	okv2(await a.call('PUT', '/api/v2/topics/orders', { body: { access: 'roles', roles: ['dispatcher'], keep: 3 } }), 'define', 201);
	errv2(await a.call('PUT', '/api/v2/topics/bad%20name', { body: {} }), 422, 'field_invalid', 'bad topic name');
	errv2(await a.call('PUT', '/api/v2/topics/x', { token: toks.disp, body: {} }), 403, 'forbidden', 'users cannot define');
	for (let i = 1; i <= 5; i++)
		assert.equal(okv2(await a.call('POST', '/api/v2/topics/orders/events', { body: { data: { order: i } } }), 'publish', 201).seq, i);
	// keep 3: seq 3..5 remain
	const page = okv2(await a.call('GET', '/api/v2/topics/orders/events?after=0', { token: toks.disp }));
	assert.deepEqual(page.items.map((e) => e.data.order), [3, 4, 5]);
	errv2(await a.call('GET', '/api/v2/topics/orders/events', { token: toks.worker }), 403, 'forbidden', 'staff may not read');

	const d = await wsConnect(t, srv, { token: toks.disp });
	const ack = await d.request({ type: 'subscribe', topic: 'orders', after: 3 });
	assert.equal(ack.type, 'ack');
	assert.equal(ack.result.seq, 5);
	for (let i = 6; i <= 8; i++) okv2(await a.call('POST', '/api/v2/topics/orders/events', { body: { data: { order: i } } }), 'publish');
	const got = await d.collect((f) => f.type === 'topic_event', 5);
	assert.deepEqual(got.map((f) => f.seq), [4, 5, 6, 7, 8]);
	assert.deepEqual(got.map((f) => f.data.order), [4, 5, 6, 7, 8]);
	assert.ok(got.every((f) => f.topic === 'orders' && f.pos === undefined), 'topic events carry no pos');

	const w = await wsConnect(t, srv, { token: toks.worker });
	const denied = await w.request({ type: 'subscribe', topic: 'orders' });
	assert.equal(denied.type, 'error');
	assert.equal(denied.code, 'forbidden');

	// unsubscribe stops the flow
	assert.equal((await d.request({ type: 'unsubscribe', topic: 'orders' })).type, 'ack');
	okv2(await a.call('POST', '/api/v2/topics/orders/events', { body: { data: { order: 9 } } }), 'publish');
	await d.none((f) => f.type === 'topic_event' && f.seq === 9, 400);
});

test('attachments: type and size from the bytes, only for the uploader and the chat members', async (t) => {
	const { srv, a } = await world(t);
	const toks = await a.users({ ann: ['dispatcher'], bob: ['staff'], eve: ['staff'] });
	const f = okv2(await upload(srv, toks.ann, PNG, 'shot.jpg'), 'upload', 201);
	assert.equal(f.mime, 'image/png', 'the bytes decide, not the name');
	assert.equal(f.width, 3);
	assert.equal(f.height, 2);
	assert.equal(f.size, PNG.length);
	const html = okv2(await upload(srv, toks.ann, Buffer.from('<html><script>alert(1)</script>'), 'x.html'), 'html', 201);
	assert.equal(html.mime, 'text/plain; charset=utf-8');
	const bin = okv2(await upload(srv, toks.ann, Buffer.from([0, 1, 2, 3]), 'x.bin'), 'bin', 201);
	assert.equal(bin.mime, 'application/octet-stream');
	errv2(await upload(srv, toks.ann, Buffer.alloc(0), 'empty'), 422, 'field_missing', 'empty upload');
	errv2(await upload(srv, 'nope', PNG, 'x.png'), 401, 'unauthorized', 'no token');

	const chat = await a.group('Site 7', [{ user: 'ann', role: 'owner' }, 'bob']);
	// bob may not attach ann's file
	errv2(await api(srv, 'POST', `/api/v2/chats/${chat.id}/messages`, { token: toks.bob, body: { text: 'x', attachments: [f.id] } }), 404, 'not_found', 'foreign file');
	// before it is attached, only ann can download it
	errv2(await api(srv, 'GET', `/api/v2/files/${f.id}`, { token: toks.bob }), 404, 'not_found', 'not yet shared');
	const m = okv2(await api(srv, 'POST', `/api/v2/chats/${chat.id}/messages`, { token: toks.ann, body: { text: 'photo', attachments: [f.id] } }), 'post', 201);
	assert.equal(m.attachments.length, 1);
	assert.equal(m.attachments[0].id, f.id);
	assert.equal(m.attachments[0].url, `/api/v2/files/${f.id}`);
	// the answer (written by hand on the writer) is the message as the history builds it
	const hist = okv2(await api(srv, 'GET', `/api/v2/chats/${chat.id}/messages`, { token: toks.bob }), 'history').items;
	assert.deepEqual(hist.find((x) => x.seq === m.seq), m);
	const dl = await fetch(`${srv.url}/api/v2/files/${f.id}`, { headers: { Authorization: `Bearer ${toks.bob}` } });
	assert.equal(dl.status, 200);
	assert.equal(dl.headers.get('content-type'), 'image/png');
	assert.equal(dl.headers.get('x-content-type-options'), 'nosniff');
	assert.deepEqual(Buffer.from(await dl.arrayBuffer()), PNG);
	errv2(await api(srv, 'GET', `/api/v2/files/${f.id}`, { token: toks.eve }), 404, 'not_found', 'not a member');
	errv2(await api(srv, 'GET', '/api/v2/files/does-not-exist', { token: toks.ann }), 404, 'not_found', 'unknown file');
	// the text download is an attachment, sandboxed
	const td = await fetch(`${srv.url}/api/v2/files/${html.id}`, { headers: { Authorization: `Bearer ${toks.ann}` } });
	assert.match(td.headers.get('content-disposition'), /^attachment/);
	assert.match(td.headers.get('content-security-policy'), /sandbox/);
});

test('attachments: uploads have their own size limit (files.max_size), other bodies keep http.max_body', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_FILES_MAX_SIZE: '64k', HERALD_HTTP_MAX_BODY: '16k' } });
	const toks = await a.users({ ann: ['dispatcher'] });
	okv2(await upload(srv, toks.ann, Buffer.alloc(40 * 1024, 0x41), 'a.txt'), '40k upload', 201);
	errv2(await upload(srv, toks.ann, Buffer.alloc(70 * 1024, 0x41), 'b.txt'), 413, 'body_too_large', '70k upload');
	const chat = await a.group('x', ['ann']);
	errv2(await api(srv, 'POST', `/api/v2/chats/${chat.id}/messages`, { token: toks.ann, body: { text: 'y'.repeat(20 * 1024) } }), 413, 'body_too_large', '20k JSON body');
});

// A local webhook receiver that verifies every request as the docs tell hosts to.
function receiver(t, secretRef, { failFirst = 0 } = {}) {
	const got = [];
	let failures = 0;
	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const body = Buffer.concat(chunks).toString();
			const sig = req.headers['x-herald-signature'] || '';
			const { t: ts, v1 } = Object.fromEntries(sig.split(',').map((kv) => kv.split('=')));
			const mac = crypto.createHmac('sha256', secretRef.secret || '').update(`${ts}.${body}`).digest('hex');
			const valid = !!v1 && v1.length === mac.length && crypto.timingSafeEqual(Buffer.from(mac), Buffer.from(v1));
			if (failures < failFirst) {
				failures++;
				res.writeHead(503, { 'Retry-After': '1' });
				res.end('busy');
				return;
			}
			got.push({ body: JSON.parse(body), valid, ts: Number(ts), event: req.headers['x-herald-event'], delivery: req.headers['x-herald-delivery'], ctype: req.headers['content-type'] });
			res.writeHead(200);
			res.end('ok');
		});
	});
	return new Promise((resolve) => {
		server.listen(0, '127.0.0.1', () => {
			t.after(() => server.close());
			resolve({ url: `http://127.0.0.1:${server.address().port}/hook`, got, failures: () => failures });
		});
	});
}

async function until(cond, ms = 15000) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (cond()) return true;
		await sleep(100);
	}
	return false;
}

test('webhooks: signed, in order, every chat event once, retried after failures (Retry-After)', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_WEBHOOKS_ALLOW_PRIVATE: 'true' } });
	const toks = await a.users({ ann: ['dispatcher'], bob: ['staff'] });
	const secretRef = {};
	const rx = await receiver(t, secretRef, { failFirst: 2 });
	const conf = okv2(await a.call('PUT', '/api/v2/webhook', { body: { url: rx.url } }), 'configure');
	assert.match(conf.secret, /^whsec_/);
	secretRef.secret = conf.secret;
	assert.equal(okv2(await a.call('GET', '/api/v2/webhook')).secret, undefined, 'the secret is shown once');
	errv2(await a.call('PUT', '/api/v2/webhook', { body: { url: 'ftp://x' } }), 422, 'field_invalid', 'bad scheme');
	errv2(await a.call('GET', '/api/v2/webhook', { token: toks.ann }), 403, 'forbidden', 'users cannot see it');

	const chat = await a.group('Gate', [{ user: 'ann', role: 'owner' }, 'bob']);
	for (let i = 1; i <= 5; i++) await a.post(chat.id, `m${i}`, { as: toks.ann });
	okv2(await api(srv, 'POST', `/api/v2/chats/${chat.id}/read`, { token: toks.bob, body: { seq: 100 } }), 'read');
	assert.ok(await until(() => rx.got.filter((g) => g.event === 'read').length === 1, 20000), `deliveries: ${JSON.stringify(rx.got.map((g) => g.event))}`);
	assert.ok(rx.failures() >= 2, 'the first attempts failed and were retried');
	assert.ok(rx.got.every((g) => g.valid), 'every signature verifies');
	assert.ok(rx.got.every((g) => Math.abs(Date.now() / 1000 - g.ts) < 300));
	assert.ok(rx.got.every((g) => g.ctype === 'application/json'));
	const pos = rx.got.map((g) => g.body.pos);
	assert.deepEqual(pos, [...pos].sort((x, y) => x - y), 'in order');
	assert.equal(new Set(pos).size, pos.length, 'once each');
	assert.ok(rx.got.every((g) => String(g.body.pos) === g.delivery && g.body.type === g.event));
	const texts = rx.got.filter((g) => g.event === 'message' && g.body.message.kind === 'text').map((g) => g.body.message.text);
	assert.deepEqual(texts, ['m1', 'm2', 'm3', 'm4', 'm5']);
	// private chat settings are not the host's business
	okv2(await api(srv, 'PATCH', `/api/v2/chats/${chat.id}/settings`, { token: toks.ann, body: { pinned: true } }), 'pin');
	await a.post(chat.id, 'after pin', { as: toks.ann });
	assert.ok(await until(() => rx.got.some((g) => g.body.message && g.body.message.text === 'after pin')));
	assert.ok(!rx.got.some((g) => g.event === 'chat_settings'));

	const test1 = okv2(await a.call('POST', '/api/v2/webhook/test'), 'test delivery');
	assert.equal(test1.ok, true);
	assert.equal(test1.status, 200);
	assert.ok(rx.got.some((g) => g.event === 'test' && g.valid));
	okv2(await a.call('DELETE', '/api/v2/webhook'), 'delete');
	errv2(await a.call('GET', '/api/v2/webhook'), 404, 'not_found', 'deleted');
});

test('webhooks: a restart resumes delivery where it stopped; private addresses refused by default', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_WEBHOOKS_ALLOW_PRIVATE: 'true' } });
	const toks = await a.users({ ann: ['dispatcher'] });
	const secretRef = {};
	const rx = await receiver(t, secretRef);
	secretRef.secret = okv2(await a.call('PUT', '/api/v2/webhook', { body: { url: rx.url } })).secret;
	const chat = await a.group('R', [{ user: 'ann', role: 'owner' }]);
	await a.post(chat.id, 'before', { as: toks.ann });
	assert.ok(await until(() => rx.got.some((g) => g.body.message && g.body.message.text === 'before')));
	assert.equal(await srv.stop(), 0);
	const n = rx.got.length;
	const srv2 = await serverFor(t, { dataDir: srv.dataDir, env: { HERALD_WEBHOOKS_ALLOW_PRIVATE: 'true' } });
	const b = { call: (m, p, o = {}) => api(srv2, m, p, { token: a.token, ...o }) };
	okv2(await b.call('POST', `/api/v2/chats/${chat.id}/messages`, { body: { text: 'after restart' } }), 'post', 201);
	assert.ok(await until(() => rx.got.some((g) => g.body.message && g.body.message.text === 'after restart')));
	assert.ok(rx.got.slice(n).every((g) => g.body.message?.text !== 'before'), 'nothing delivered twice');

	// default: loopback is refused (the tenant cannot probe the internal network)
	const { a: c } = await world(t);
	okv2(await c.call('PUT', '/api/v2/webhook', { body: { url: rx.url } }), 'configure');
	const res = okv2(await c.call('POST', '/api/v2/webhook/test'), 'test delivery');
	assert.equal(res.ok, false);
	assert.equal(res.status, 0);
	assert.ok(!rx.got.some((g) => g.event === 'test'), 'never reached the private receiver');
});
