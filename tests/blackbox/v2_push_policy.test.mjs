// The push queue's policies, against the stand-in Web Push service: who is
// pushed while online (push.while_online), quiet hours, urgent messages and
// their SMS fallback (read from the log provider's outbox), per-provider
// concurrency, and the dead-token guard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { decrypt, pushService, subscriber, until } from './lib/push.mjs';
import { api, okv2, errv2, world, wsConnect, sleep } from './lib/v2.mjs';

const ENV = { HERALD_PUSH_ALLOW_PRIVATE: 'true', HERALD_PUSH_VAPID_SUBJECT: 'mailto:ops@example.com' };

async function deliveries(srv, token, chat, seq) {
	return okv2(await api(srv, 'GET', `/api/v2/chats/${chat}/messages/${seq}/deliveries`, { token }));
}

function outbox(srv) {
	const f = path.join(srv.dataDir, 'sms-outbox.jsonl');
	return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

/** n users u0…u(n-1), each with a Web Push subscription at the stand-in; their ids. */
async function subscribers(srv, a, ps, n) {
	const ids = [];
	for (let i = 0; i < n; i++) {
		const id = `u${i}`;
		await a.user(id, id, ['staff']);
		const tok = await a.session(id);
		okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: tok, body: subscriber(ps, id).sub }), id, 201);
		ids.push(id);
	}
	return ids;
}

const hhmm = (min) => {
	const m = ((min % 1440) + 1440) % 1440;
	return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
};

test('push.while_online=all: a live user is pushed too, and acks the push over the realtime connection', async (t) => {
	const ps = await pushService(t);
	const { srv, a } = await world(t, { env: { ...ENV, HERALD_PUSH_WHILE_ONLINE: 'all' } });
	const toks = await a.users({ ann: ['dispatcher'], bob: ['staff'] });
	const bob = subscriber(ps, 'bob');
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.bob, body: bob.sub }), 'bob', 201);
	const chat = await a.group('Site', [{ user: 'ann', role: 'owner' }, 'bob']);
	const bobWs = await wsConnect(t, srv, { token: toks.bob });
	const m = await a.post(chat.id, 'while online', { as: toks.ann });
	assert.ok(await until(() => ps.got.some((g) => g.path === '/push/bob')), 'pushed although online');
	const p = decrypt(ps.got.find((g) => g.path === '/push/bob').body, bob.ecdh, bob.auth);
	assert.equal(p.seq, m.seq);
	const ack = await bobWs.request({ type: 'delivered', delivery: p.delivery });
	assert.equal(ack.type, 'ack');
	assert.equal(ack.result.status, 'delivered');
	const d = (await deliveries(srv, toks.ann, chat.id, m.seq)).items[0];
	assert.equal(d.status, 'delivered');
	assert.ok(d.sent_at && d.delivered_at);
});

test('push settings: a bad value stops the server with a message naming it', async (t) => {
	const { serverFor } = await import('./lib/harness.mjs');
	await assert.rejects(serverFor(t, { env: { HERALD_PUSH_WHILE_ONLINE: 'sometimes' } }), /push\.while_online: sometimes is not none, phones or all/);
	await assert.rejects(serverFor(t, { env: { HERALD_PUSH_SMS_FALLBACK_AFTER: 'soon' } }), /push\.sms_fallback_after: 'soon' is not a duration/);
	await assert.rejects(serverFor(t, { env: { HERALD_PUSH_SMS_FALLBACK_AFTER: '200h' } }), /push\.sms_fallback_after: at most 7 days/);
	await assert.rejects(serverFor(t, { env: { HERALD_PUSH_WEBPUSH_CONCURRENCY: '0' } }), /push\.webpush\.concurrency: between 1 and 10000/);
	await assert.rejects(serverFor(t, { env: { HERALD_PUSH_APNS_CONCURRENCY: 'many' } }), /push\.apns\.concurrency: 'many' is not an integer/);
});

test('quiet hours hold pushes until they end; urgent messages go through; bad input is refused', async (t) => {
	const ps = await pushService(t);
	const { srv, a } = await world(t, { env: ENV });
	const toks = await a.users({ ann: ['dispatcher'], bob: ['staff'] });
	const bob = subscriber(ps, 'bob');
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.bob, body: bob.sub }), 'bob', 201);
	// quiet from an hour ago to an hour from now, in bob's time zone (UTC+3)
	const offset = 180;
	const nowLocal = Math.floor(Date.now() / 60000) + offset;
	const q = { from: hhmm(nowLocal - 60), to: hhmm(nowLocal + 60), utc_offset: offset };
	const set = okv2(await api(srv, 'PUT', '/api/v2/me/quiet-hours', { token: toks.bob, body: q }), 'quiet');
	assert.deepEqual(set.quiet_hours, q);
	const me = okv2(await api(srv, 'GET', '/api/v2/me', { token: toks.bob }));
	assert.deepEqual(me.user.quiet_hours, q);
	const chat = await a.group('Site', [{ user: 'ann', role: 'owner' }, 'bob']);
	const m = await a.post(chat.id, 'not now', { as: toks.ann });
	const held = await until(async () => {
		const d = (await deliveries(srv, toks.ann, chat.id, m.seq)).items[0];
		return d && d.status === 'queued' && d.reason === 'quiet hours';
	});
	assert.ok(held, 'held for quiet hours');
	assert.equal(ps.got.length, 0, 'nothing pushed during quiet hours');
	// urgent: the host (API token) marks it; it is pushed at once, with Urgency high
	const u = await a.post(chat.id, 'Fire drill at 10:00', { urgent: true });
	assert.ok(await until(() => ps.got.length === 1), 'an urgent message is pushed in quiet hours');
	assert.equal(ps.got[0].headers.urgency, 'high');
	assert.equal(decrypt(ps.got[0].body, bob.ecdh, bob.auth).seq, u.seq);
	await sleep(600);
	assert.equal(ps.got.length, 1, 'the held one stays held');
	// a member may not mark messages urgent (it may cost an SMS)
	errv2(await api(srv, 'POST', `/api/v2/chats/${chat.id}/messages`, { token: toks.bob, body: { text: 'x', urgent: true } }), 403, 'forbidden');
	errv2(await a.call('POST', `/api/v2/chats/${chat.id}/messages`, { body: { text: 'x', urgent: 'yes' } }), 400, 'field_type');
	// bad quiet hours
	for (const [body, why] of [
		[{ from: '25:00', to: '07:00' }, 'from'],
		[{ from: '22:00', to: '7:00' }, 'to'],
		[{ from: '22:00', to: '22:00' }, 'same'],
		[{ from: '22:00', to: '07:00', utc_offset: 900 }, 'utc_offset'],
		[{ to: '07:00' }, 'missing from'],
		[{ from: 2200, to: '07:00' }, 'type'],
	]) {
		const r = await api(srv, 'PUT', '/api/v2/me/quiet-hours', { token: toks.bob, body });
		assert.match(r.json.error.code, /^field_(invalid|missing|type)$/, why);
		assert.equal(r.status, r.json.error.code === 'field_type' ? 400 : 422, `${why}: ${r.text}`);
		assert.ok(r.json.error.message.length > 5, `${why}: a sentence`);
	}
	errv2(await a.call('PUT', '/api/v2/me/quiet-hours', { body: q }), 403, 'forbidden');
	// off again: the next message goes out at once
	const off = okv2(await api(srv, 'DELETE', '/api/v2/me/quiet-hours', { token: toks.bob }));
	assert.equal(off.quiet_hours, null);
	await a.post(chat.id, 'now', { as: toks.ann });
	assert.ok(await until(() => ps.got.length === 2), 'pushed after quiet hours were turned off');
});

test('urgent messages: SMS to recipients no device reached in time, not to those who read it', async (t) => {
	const { srv, a } = await world(t, { env: { ...ENV, HERALD_PUSH_SMS_FALLBACK_AFTER: '1s' } });
	await a.user('ann', 'Ann', ['dispatcher']);
	await a.user('bob', 'Bob', ['staff'], { phone: '+79990000001' });
	await a.user('cid', 'Cid', ['staff'], { phone: '+79990000002' });
	await a.user('dan', 'Dan', ['staff']); // no phone: no SMS possible
	const cid = await a.session('cid');
	const chat = await a.group('Site', [{ user: 'ann', role: 'owner' }, 'bob', 'cid', 'dan']);
	const plain = await a.post(chat.id, 'ordinary', { sender: 'ann' });
	const m = await a.post(chat.id, 'Storm: site closed today', { sender: 'ann', urgent: true, title: 'Alert' });
	okv2(await api(srv, 'POST', `/api/v2/chats/${chat.id}/read`, { token: cid, body: { seq: m.seq } }), 'cid reads');
	const done = await until(async () => {
		const d = await deliveries(srv, a.token, chat.id, m.seq);
		return d.sms.length === 2 && d.sms.every((x) => x.status !== 'pending') && d;
	});
	assert.ok(done, 'both fallbacks decided');
	const d = await deliveries(srv, a.token, chat.id, m.seq);
	const byUser = Object.fromEntries(d.sms.map((x) => [x.user, x]));
	assert.equal(byUser.bob.status, 'sent');
	assert.ok(byUser.bob.done_at && byUser.bob.due_at);
	assert.equal(byUser.cid.status, 'skipped');
	assert.match(byUser.cid.reason, /delivered/);
	const sms = outbox(srv);
	assert.equal(sms.length, 1, 'one SMS');
	assert.equal(sms[0].to, '+79990000001');
	assert.equal(sms[0].text, 'Alert: Storm: site closed today');
	assert.equal((await deliveries(srv, a.token, chat.id, plain.seq)).sms.length, 0, 'ordinary messages have no fallback');
	await sleep(1500);
	assert.equal(outbox(srv).length, 1, 'sent once');
});

test('urgent messages: a user online when the fallback is due gets no SMS; the fallback can be turned off', async (t) => {
	const { srv, a } = await world(t, { env: { ...ENV, HERALD_PUSH_SMS_FALLBACK_AFTER: '1s' } });
	await a.user('bob', 'Bob', ['staff'], { phone: '+79990000001' });
	const bob = await a.session('bob');
	const chat = await a.group('Site', ['bob']);
	await wsConnect(t, srv, { token: bob });
	const m = await a.post(chat.id, 'urgent while online', { urgent: true });
	assert.ok(await until(async () => (await deliveries(srv, a.token, chat.id, m.seq)).sms[0]?.status === 'skipped'));
	assert.equal((await deliveries(srv, a.token, chat.id, m.seq)).sms[0].reason, 'live connection');
	assert.equal(outbox(srv).length, 0);

	const w2 = await world(t, { env: { ...ENV, HERALD_PUSH_SMS_FALLBACK_AFTER: '0' } });
	await w2.a.user('bob', 'Bob', ['staff'], { phone: '+79990000001' });
	const chat2 = await w2.a.group('Site', ['bob']);
	const m2 = await w2.a.post(chat2.id, 'urgent, no fallback', { urgent: true });
	await sleep(1500);
	assert.equal((await deliveries(w2.srv, w2.a.token, chat2.id, m2.seq)).sms.length, 0);
	assert.equal(outbox(w2.srv).length, 0);
});

test('per-provider concurrency: at most push.webpush.concurrency requests at once, all delivered', async (t) => {
	const ps = await pushService(t, { delayMs: 200 });
	const { srv, a } = await world(t, { env: { ...ENV, HERALD_PUSH_WEBPUSH_CONCURRENCY: '3' } });
	const members = await subscribers(srv, a, ps, 12);
	const chat = await a.group('All', members);
	await a.post(chat.id, 'to twelve');
	assert.ok(await until(() => ps.got.length === 12), 'all twelve pushed');
	assert.ok(ps.maxOpen <= 3, `at most 3 at once (saw ${ps.maxOpen})`);
	assert.ok(ps.maxOpen >= 2, `requests overlap (saw ${ps.maxOpen})`);
});

test('dead-token guard: a provider declaring every token dead stops marking devices after 20', async (t) => {
	const ps = await pushService(t);
	ps.fallback = [410, {}];
	const { srv, a } = await world(t, { env: ENV });
	const members = await subscribers(srv, a, ps, 30);
	const chat = await a.group('All', members);
	const m = await a.post(chat.id, 'to thirty');
	const settled = await until(async () => {
		const d = (await deliveries(srv, a.token, chat.id, m.seq)).items;
		return d.filter((x) => x.status === 'failed').length + d.filter((x) => /dead-token guard/.test(x.reason || '')).length === 30;
	});
	assert.ok(settled, 'every delivery answered');
	const d = (await deliveries(srv, a.token, chat.id, m.seq)).items;
	const dead = d.filter((x) => x.status === 'failed').length;
	assert.equal(dead, 20, 'devices marked dead until the guard tripped');
	assert.equal(d.filter((x) => x.status === 'queued' && /dead-token guard/.test(x.reason)).length, 10, 'the rest kept for later');
	const metrics = await (await fetch(`${srv.url}/metrics`)).text();
	assert.match(metrics, /herald_push_dead_guard\{channel="webpush"\} 1/);
	assert.match(metrics, /herald_push_total\{channel="webpush",outcome="dead"\} 20/);
	assert.match(metrics, /herald_push_total\{channel="webpush",outcome="dead_guarded"\} 10/);
});

test('cabinet: an urgent message to employees falls back to SMS for the one whose app did not confirm it', async (t) => {
	const { serverFor, setupTenant } = await import('./lib/harness.mjs');
	const srv = await serverFor(t, { env: { ...ENV, HERALD_PUSH_SMS_FALLBACK_AFTER: '1s' } });
	const tn = await setupTenant(srv, { staff: 2 });
	const [e1, e2] = tn.employees;
	const cab = okv2(await api(srv, 'POST', '/api/v2/cabinet/login', { body: { inn: tn.inn, password: 'secret-password-1' } }), 'cabinet login');
	const codes = outbox(srv).length; // the sign-in codes
	const sent = okv2(await api(srv, 'POST', '/api/v2/cabinet/messages', { token: cab.token, body: { to: [e1.staffid, e2.staffid], title: 'Storm', text: 'Site closed today', urgent: true } }), 'send', 201);
	assert.equal(sent.count, 2);
	// e1 opens the app and reads the inbox before the fallback is due
	const me = okv2(await api(srv, 'GET', '/api/v2/chats', { token: e1.apitoken }));
	const inbox = me.items.find((c) => c.type === 'inbox');
	okv2(await api(srv, 'POST', `/api/v2/chats/${inbox.id}/read`, { token: e1.apitoken, body: { seq: inbox.last_seq } }), 'read');
	assert.ok(await until(() => outbox(srv).length === codes + 1), 'one fallback SMS');
	await sleep(1200);
	const sms = outbox(srv).slice(codes);
	assert.equal(sms.length, 1);
	assert.equal(sms[0].to, e2.phone);
	assert.equal(sms[0].text, 'Storm: Site closed today');
	const detail = okv2(await api(srv, 'GET', `/api/v2/cabinet/messages/${sent.ids[1]}`, { token: cab.token }));
	assert.equal(detail.urgent, true);
});
