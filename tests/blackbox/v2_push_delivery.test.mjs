// Push delivery through a local stand-in of a Web Push service that checks each
// request the way RFC 8030/8291/8292 describe it: VAPID (ES256, aud = origin,
// exp ≤ 24 h), TTL, Content-Encoding aes128gcm, and a body it can decrypt with
// the subscription's private key. Covers sent, dead subscriptions (410),
// 429 with Retry-After, the message's senddate in /api/v1, and that a
// restart loses nothing queued.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { serverFor, login, v1 } from './lib/harness.mjs';
import { decrypt, pushService, subscriber, until, verifyVapid } from './lib/push.mjs';
import { api, okv2, errv2, world, wsConnect, sleep } from './lib/v2.mjs';

const ENV = { HERALD_PUSH_ALLOW_PRIVATE: 'true', HERALD_PUSH_VAPID_SUBJECT: 'mailto:ops@example.com' };

test('a chat message is pushed to the other members\' browsers, encrypted and signed; status sent', async (t) => {
	const ps = await pushService(t);
	const { srv, a } = await world(t, { env: ENV });
	const toks = await a.users({ ann: ['dispatcher'], bob: ['staff'] });
	const bob = subscriber(ps, 'bob');
	const ann = subscriber(ps, 'ann');
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.bob, body: bob.sub }), 'bob', 201);
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.ann, body: ann.sub }), 'ann', 201);
	const vapid = okv2(await api(srv, 'GET', '/api/v2/push/vapid-key')).public_key;
	const chat = await a.group('Site', [{ user: 'ann', role: 'owner' }, 'bob']);
	const m = await a.post(chat.id, 'Gate 3 closes at 22:00', { as: toks.ann });
	assert.ok(await until(() => ps.got.some((g) => g.path === '/push/bob')), 'pushed to bob');
	await sleep(500);
	assert.ok(!ps.got.some((g) => g.path === '/push/ann'), 'not to the sender');
	const req = ps.got.find((g) => g.path === '/push/bob');
	assert.equal(verifyVapid(req.headers.authorization, ps.url), vapid);
	assert.equal(req.headers['content-encoding'], 'aes128gcm');
	assert.equal(req.headers.ttl, '86400');
	assert.match(req.headers.topic, /^[A-Za-z0-9_-]{1,32}$/);
	assert.ok(req.body.length <= 4096);
	const payload = decrypt(req.body, bob.ecdh, bob.auth);
	assert.equal(payload.body, 'Gate 3 closes at 22:00');
	assert.equal(payload.chat, chat.id);
	assert.equal(payload.seq, m.seq);
	assert.ok(payload.badge >= 1, 'the badge carries the unread total');
	const st = await until(async () => {
		const d = okv2(await api(srv, 'GET', `/api/v2/chats/${chat.id}/messages/${m.seq}/deliveries`, { token: toks.ann }));
		return d.items.length === 1 && d.items[0].status === 'sent' && d.items[0].sent_at;
	});
	assert.ok(st, 'delivery recorded as sent');
	// the device confirms (REST, as a service worker would), then bob reads the chat
	errv2(await api(srv, 'POST', `/api/v2/deliveries/${payload.delivery}/delivered`, { token: toks.ann }), 404, 'not_found', 'not ann\'s delivery');
	okv2(await api(srv, 'POST', `/api/v2/deliveries/${payload.delivery}/delivered`, { token: toks.bob }), 'delivered');
	let d = okv2(await api(srv, 'GET', `/api/v2/chats/${chat.id}/messages/${m.seq}/deliveries`, { token: toks.ann })).items[0];
	assert.equal(d.status, 'delivered');
	assert.ok(d.delivered_at);
	okv2(await api(srv, 'POST', `/api/v2/chats/${chat.id}/read`, { token: toks.bob, body: { seq: m.seq } }), 'read');
	d = okv2(await api(srv, 'GET', `/api/v2/chats/${chat.id}/messages/${m.seq}/deliveries`, { token: toks.ann })).items[0];
	assert.equal(d.status, 'read');
	assert.ok(d.read_at);
	// online first: while bob has a live connection the message reaches him
	// there, and his browser gets no push (push.while_online = none)
	const bobWs = await wsConnect(t, srv, { token: toks.bob });
	const m2 = await a.post(chat.id, 'second', { as: toks.ann });
	const live = await until(async () => {
		const x = okv2(await api(srv, 'GET', `/api/v2/chats/${chat.id}/messages/${m2.seq}/deliveries`, { token: toks.ann })).items[0];
		return x && x.status === 'delivered' && x.reason === 'live connection' && x.sent_at === null && x;
	});
	assert.ok(live, 'recorded as delivered over the live connection');
	assert.equal(ps.got.filter((g) => g.path === '/push/bob').length, 1, 'no push while online');
	await bobWs.close();
	// muted chats are not pushed
	okv2(await api(srv, 'PATCH', `/api/v2/chats/${chat.id}/settings`, { token: toks.bob, body: { muted: true } }), 'mute');
	const n = ps.got.length;
	await a.post(chat.id, 'quiet please', { as: toks.ann });
	await sleep(1200);
	assert.equal(ps.got.length, n, 'nothing pushed to a muted chat');
});

test('a gone subscription (410) is marked dead and never used again; 429 Retry-After is honoured', async (t) => {
	const ps = await pushService(t);
	const { srv, a } = await world(t, { env: ENV });
	const toks = await a.users({ ann: ['dispatcher'], bob: ['staff'], cid: ['staff'] });
	const bob = subscriber(ps, 'bob');
	const cid = subscriber(ps, 'cid');
	ps.script['/push/bob'] = [[410, {}]];
	ps.script['/push/cid'] = [[429, { 'Retry-After': '1' }]];
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.bob, body: bob.sub }), 'bob', 201);
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.cid, body: cid.sub }), 'cid', 201);
	const chat = await a.group('Site', [{ user: 'ann', role: 'owner' }, 'bob', 'cid']);
	const m = await a.post(chat.id, 'one', { as: toks.ann });
	const ok = await until(async () => {
		const d = okv2(await api(srv, 'GET', `/api/v2/chats/${chat.id}/messages/${m.seq}/deliveries`, { token: toks.ann })).items;
		const b = d.find((x) => x.user === 'bob');
		const c = d.find((x) => x.user === 'cid');
		return b && b.status === 'failed' && c && c.status === 'sent' && c.attempts === 2;
	});
	assert.ok(ok, 'bob failed (gone), cid sent on the second attempt');
	const cidTimes = ps.got.filter((g) => g.path === '/push/cid').map((g) => g.headers.date);
	assert.equal(cidTimes.length, 2);
	const dev = okv2(await api(srv, 'GET', '/api/v2/push/devices', { token: toks.bob })).items;
	assert.equal(dev[0].dead, true);
	const before = ps.got.filter((g) => g.path === '/push/bob').length;
	await a.post(chat.id, 'two', { as: toks.ann });
	await sleep(1200);
	assert.equal(ps.got.filter((g) => g.path === '/push/bob').length, before, 'a dead subscription gets nothing');
});

test('/api/v1: createmessage is pushed to the employee and getmessage shows the senddate; queued pushes survive a restart', async (t) => {
	const ps = await pushService(t);
	const { srv, a } = await world(t, { env: ENV });
	const emp = await login(srv.url, srv.dataDir, a.inn, '+79230001122', 'Иван', 'android');
	const sub = subscriber(ps, 'emp');
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: emp.apitoken, body: sub.sub }), 'subscribe', 201);
	const r = await v1(srv.url, 'createmessage', { inn: a.inn, staffid: emp.staffid, title: 'Смена', message: 'Начало в 7:00' }, { token: a.token });
	assert.equal(r.json.success, true);
	assert.ok(await until(() => ps.got.some((g) => g.path === '/push/emp')));
	const p = decrypt(ps.got.find((g) => g.path === '/push/emp').body, sub.ecdh, sub.auth);
	assert.equal(p.title, 'Смена');
	assert.equal(p.body, 'Начало в 7:00');
	const withDate = await until(async () => {
		const g = await v1(srv.url, 'getmessage', { inn: a.inn, staffid: emp.staffid }, { token: a.token });
		return g.json.data[0].senddate !== null;
	});
	assert.ok(withDate, 'senddate set once the push service accepted it');

	// the push service is down (500s) while messages are created; a restart keeps them queued
	ps.script['/push/emp'] = Array(50).fill([503, {}]);
	for (let i = 0; i < 3; i++)
		assert.equal((await v1(srv.url, 'createmessage', { inn: a.inn, staffid: emp.staffid, title: 'T', message: `q${i}` }, { token: a.token })).json.success, true);
	await sleep(800);
	await srv.stop();
	ps.script['/push/emp'] = [];
	const srv2 = await serverFor(t, { dataDir: srv.dataDir, env: ENV });
	assert.ok(srv2);
	const texts = async () => ps.got.filter((g) => g.path === '/push/emp').map((g) => { try { return decrypt(g.body, sub.ecdh, sub.auth).body; } catch { return null; } });
	assert.ok(await until(async () => ['q0', 'q1', 'q2'].every(async (q) => (await texts()).includes(q)) && (await texts()).filter((x) => /^q\d$/.test(x)).length >= 3, 40000), 'all three pushed after the restart');
});
