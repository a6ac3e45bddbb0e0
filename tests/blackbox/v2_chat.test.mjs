// /api/v2 team chat: live chatting over /ws, receipts, the chat list,
// soft deletes, edits, idempotent sends, history, mentions, search, chats by
// reference, direct chats, the development login and /api/v1 messages
// reaching the realtime stream.

import test from 'node:test';
import assert from 'node:assert/strict';
import { login, sendMessage } from './lib/harness.mjs';
import { world, okv2, errv2, api, wsConnect, isMsg, sleep } from './lib/v2.mjs';

const ids = (items) => items.map((c) => c.id);
const seqs = (items) => items.map((m) => m.seq);

/** Users alice (dispatcher), bob, carol (staff) with sessions. */
async function trio(a, extra = {}) {
	return a.users({ alice: ['dispatcher'], bob: ['staff'], carol: ['staff'], ...extra });
}

async function chatList(a, token) {
	return okv2(await api(a.srv, 'GET', '/api/v2/chats', { token }), 'chat list').items;
}

test('live chat over /ws: two and three users see every message once, in the same order, with sender fields', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'Team', members: ['bob', 'carol'] } }), 'group', 201);
	const d = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['bob'] } }), 'direct', 201);
	const ws = {};
	for (const u of ['alice', 'bob', 'carol']) {
		ws[u] = await wsConnect(t, srv, { token: tok[u] });
		assert.deepEqual(ws[u].helloFrame.user, { id: u, name: `Name ${u}` });
		assert.equal(typeof ws[u].helloFrame.pos, 'number');
	}

	// two users in the direct chat: carol sees nothing of it
	const ack = await ws.alice.request({ type: 'send', chat: d.id, text: 'hi bob' });
	assert.equal(ack.type, 'ack', JSON.stringify(ack));
	assert.equal(ack.result.chat, d.id);
	assert.equal(ack.result.text, 'hi bob');
	assert.equal(ack.result.sender, 'alice');
	const got = await ws.bob.next(isMsg(d.id, 'hi bob'));
	assert.equal(got.message.sender, 'alice');
	assert.equal(got.message.sender_name, 'Name alice');
	assert.equal(got.message.seq, ack.result.seq);
	assert.equal(got.message.kind, 'text');
	assert.ok(got.pos > ws.bob.helloFrame.pos);
	const back = await ws.bob.request({ type: 'send', chat: d.id, text: 'hi alice' });
	assert.equal(back.result.seq, ack.result.seq + 1);
	const m2 = await ws.alice.next(isMsg(d.id, 'hi alice'));
	assert.equal(m2.message.sender, 'bob');
	assert.equal(m2.message.sender_name, 'Name bob');

	// three users in the group: sequential turns, then everyone at once
	const texts = [];
	for (let round = 0; round < 2; round++)
		for (const u of ['alice', 'bob', 'carol']) {
			const r = await ws[u].request({ type: 'send', chat: g.id, text: `${u} turn ${round}` });
			assert.equal(r.type, 'ack', JSON.stringify(r));
			texts.push(`${u} turn ${round}`);
		}
	const burst = [];
	for (let i = 0; i < 10; i++) for (const u of ['alice', 'bob', 'carol']) burst.push(ws[u].request({ type: 'send', chat: g.id, text: `${u} burst ${i}` }));
	const acks = await Promise.all(burst);
	assert.ok(acks.every((x) => x.type === 'ack'), 'every burst send acked');
	assert.equal(new Set(acks.map((x) => x.result.seq)).size, 30, 'distinct seqs');
	const total = 36;
	const orders = {};
	for (const u of ['alice', 'bob', 'carol']) {
		const evs = await ws[u].collect((f) => f.type === 'message' && f.message.chat === g.id && f.message.kind === 'text', total);
		assert.equal(evs.length, total, `${u} receives all ${total} group messages`);
		// the turns arrive in the order they were sent
		assert.deepEqual(evs.slice(0, 6).map((f) => f.message.text), texts, `${u}: turn order`);
		const s = seqs(evs.map((f) => f.message));
		for (let i = 1; i < s.length; i++) assert.equal(s[i], s[i - 1] + 1, `${u}: seqs contiguous and ascending`);
		const pos = evs.map((f) => f.pos);
		for (let i = 1; i < pos.length; i++) assert.ok(pos[i] > pos[i - 1], `${u}: pos ascending`);
		for (const f of evs) {
			const sender = f.message.text.split(' ')[0];
			assert.equal(f.message.sender, sender);
			assert.equal(f.message.sender_name, `Name ${sender}`);
		}
		orders[u] = evs.map((f) => `${f.pos}:${f.message.seq}:${f.message.text}`);
	}
	assert.deepEqual(orders.bob, orders.alice, 'bob sees the same order as alice');
	assert.deepEqual(orders.carol, orders.alice, 'carol sees the same order as alice');
	assert.ok(!ws.carol.frames.some((f) => f.message && f.message.chat === d.id), 'carol saw nothing of the direct chat');
	// history agrees with what was streamed
	const hist = okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages?limit=200`, { token: tok.carol }));
	const texts2 = hist.items.filter((m) => m.kind === 'text').sort((x, y) => x.seq - y.seq).map((m) => `${m.seq}:${m.text}`);
	assert.deepEqual(texts2, orders.alice.map((s) => s.split(':').slice(1).join(':')));
});

test('read receipts: read events to the others, unread counts in the chat list, read_by per message', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'R', members: ['bob', 'carol'] } }), 'group', 201);
	const wsA = await wsConnect(t, srv, { token: tok.alice });
	const wsC = await wsConnect(t, srv, { token: tok.carol });
	const posted = [];
	for (let i = 1; i <= 3; i++) posted.push(await a.post(g.id, `m${i}`, { as: tok.alice }));
	const last = posted[2].seq;
	const unreadOf = async (u) => (await chatList(a, tok[u])).find((c) => c.id === g.id);
	assert.equal((await unreadOf('alice')).unread, 0, 'posting marks own messages read');
	const b0 = await unreadOf('bob');
	assert.equal(b0.unread, last, 'bob has read nothing');
	assert.equal(b0.last_read_seq, 0);
	assert.equal(b0.last_message.text, 'm3');
	assert.equal(b0.last_message.sender, 'alice');

	// bob reads up to m2 over REST
	const r = okv2(await api(srv, 'POST', `/api/v2/chats/${g.id}/read`, { token: tok.bob, body: { seq: posted[1].seq } }), 'read');
	assert.deepEqual(r, { chat: g.id, last_read_seq: posted[1].seq, unread: last - posted[1].seq });
	const ev = await wsA.next((f) => f.type === 'read' && f.user === 'bob');
	assert.equal(ev.chat, g.id);
	assert.equal(ev.seq, posted[1].seq);
	assert.equal(typeof ev.pos, 'number');
	await wsC.next((f) => f.type === 'read' && f.user === 'bob');
	assert.equal((await unreadOf('bob')).unread, last - posted[1].seq);
	assert.equal((await unreadOf('carol')).unread, last);

	// read_by for m2: bob only; the author is not counted
	let rb = okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages/${posted[1].seq}/reads`, { token: tok.alice }));
	assert.equal(rb.read_count, 1);
	assert.equal(rb.member_count, 2);
	assert.deepEqual(rb.read_by, [{ id: 'bob', name: 'Name bob' }]);
	rb = okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages/${posted[2].seq}/reads`, { token: tok.alice }));
	assert.equal(rb.read_count, 0);
	assert.deepEqual(rb.read_by, []);

	// carol reads everything over WS (a seq past the end is clamped)
	const ack = await wsC.request({ type: 'read', chat: g.id, seq: last + 100 });
	assert.equal(ack.type, 'ack', JSON.stringify(ack));
	assert.deepEqual(ack.result, { chat: g.id, last_read_seq: last, unread: 0 });
	const evC = await wsA.next((f) => f.type === 'read' && f.user === 'carol');
	assert.equal(evC.seq, last);
	rb = okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages/${posted[1].seq}/reads`, { token: tok.bob }));
	assert.equal(rb.read_count, 2);
	assert.deepEqual(rb.read_by.map((x) => x.id).sort(), ['bob', 'carol']);
	assert.equal((await unreadOf('carol')).unread, 0);

	// reading backwards changes nothing and tells nobody
	const n = wsA.frames.length;
	const back = okv2(await api(srv, 'POST', `/api/v2/chats/${g.id}/read`, { token: tok.bob, body: { seq: 1 } }));
	assert.equal(back.last_read_seq, posted[1].seq);
	assert.ok(await wsA.none((f) => f.type === 'read' && wsA.frames.indexOf(f) >= n, 300), 'no read event for a backwards read');
	errv2(await api(srv, 'POST', `/api/v2/chats/${g.id}/read`, { token: tok.bob, body: {} }), 422, 'field_missing', 'read without seq');
	errv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages/999/reads`, { token: tok.bob }), 404, 'not_found', 'reads of a missing message');
	// a new message makes it unread again
	await a.post(g.id, 'm4', { as: tok.alice });
	assert.equal((await unreadOf('carol')).unread, 1);
});

test('chat list: pinned first, then by activity; pin and mute reach the user\'s other connection as chat_settings', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const mk = async (title) => okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title, members: ['bob'] } }), title, 201);
	const c1 = await mk('one');
	const c2 = await mk('two');
	const c3 = await mk('three');
	for (const c of [c1, c2, c3]) {
		await sleep(5);
		await a.post(c.id, `in ${c.title}`, { as: tok.bob });
	}
	assert.deepEqual(ids(await chatList(a, tok.alice)), [c3.id, c2.id, c1.id], 'newest activity first');
	const other = await wsConnect(t, srv, { token: tok.alice });
	const bobWs = await wsConnect(t, srv, { token: tok.bob });

	const pin = okv2(await api(srv, 'PATCH', `/api/v2/chats/${c1.id}/settings`, { token: tok.alice, body: { pinned: true } }), 'pin');
	assert.deepEqual([pin.chat, pin.pinned, pin.muted], [c1.id, true, false]);
	const ev = await other.next('chat_settings');
	assert.equal(ev.chat, c1.id);
	assert.equal(ev.pinned, true);
	assert.equal(ev.muted, false);
	let list = await chatList(a, tok.alice);
	assert.deepEqual(ids(list), [c1.id, c3.id, c2.id], 'the pinned chat leads');
	assert.deepEqual(list.map((c) => c.pinned), [true, false, false]);

	await sleep(5);
	await a.post(c2.id, 'bump', { as: tok.bob });
	assert.deepEqual(ids(await chatList(a, tok.alice)), [c1.id, c2.id, c3.id], 'activity reorders the unpinned chats only');

	okv2(await api(srv, 'PATCH', `/api/v2/chats/${c3.id}/settings`, { token: tok.alice, body: { muted: true } }), 'mute');
	const ev2 = await other.next('chat_settings');
	assert.deepEqual([ev2.chat, ev2.pinned, ev2.muted], [c3.id, false, true]);
	list = await chatList(a, tok.alice);
	assert.equal(list.find((c) => c.id === c3.id).muted, true);
	assert.equal(list.find((c) => c.id === c1.id).pinned, true, 'muting another chat keeps the pin');

	// pages with a cursor walk the same order
	const walked = [];
	let cursor = null;
	for (let i = 0; i < 5; i++) {
		const r = okv2(await api(srv, 'GET', `/api/v2/chats?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token: tok.alice }));
		walked.push(...ids(r.items));
		cursor = r.next_cursor;
		if (!cursor) break;
	}
	assert.deepEqual(walked, [c1.id, c2.id, c3.id], 'the pages in order, no chat twice');

	// settings are per user: bob's list and stream are untouched
	assert.deepEqual(ids(await chatList(a, tok.bob)), [c2.id, c3.id, c1.id]);
	assert.ok((await chatList(a, tok.bob)).every((c) => !c.pinned && !c.muted));
	assert.ok(await bobWs.none((f) => f.type === 'chat_settings'), 'bob gets no chat_settings of alice');
	// the server list for a user agrees
	assert.deepEqual(ids(okv2(await a.call('GET', '/api/v2/chats?user=alice')).items), [c1.id, c2.id, c3.id]);
	errv2(await a.call('PATCH', `/api/v2/chats/${c1.id}/settings`, { body: { pinned: true } }), 403, 'forbidden', 'server has no settings');
});

test('soft delete of a chat: gone from lists, posts refused 409, restore brings it back', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'Doomed', members: ['bob'] } }), 'group', 201);
	await a.post(g.id, 'before delete pineapple', { as: tok.bob });
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	const del = okv2(await api(srv, 'DELETE', `/api/v2/chats/${g.id}`, { token: tok.alice }), 'delete');
	assert.equal(del.deleted, true);
	const ev = await wsB.next('chat_deleted');
	assert.equal(ev.chat, g.id);
	assert.ok(!ids(await chatList(a, tok.alice)).includes(g.id), 'gone from the owner\'s list');
	assert.ok(!ids(await chatList(a, tok.bob)).includes(g.id), 'gone from the member\'s list');
	errv2(await api(srv, 'POST', `/api/v2/chats/${g.id}/messages`, { token: tok.bob, body: { text: 'x' } }), 409, 'conflict', 'post to a deleted chat');
	errv2(await a.call('POST', `/api/v2/chats/${g.id}/messages`, { body: { text: 'x' } }), 409, 'conflict', 'server post to a deleted chat');
	const wsErr = await wsB.request({ type: 'send', chat: g.id, text: 'x' });
	assert.equal(wsErr.type, 'error');
	assert.equal(wsErr.code, 'conflict');
	errv2(await api(srv, 'PATCH', `/api/v2/chats/${g.id}`, { token: tok.alice, body: { title: 'New' } }), 409, 'conflict', 'rename a deleted chat');
	assert.deepEqual(okv2(await api(srv, 'GET', `/api/v2/search?q=pineapple`, { token: tok.bob })).items, [], 'search skips deleted chats');
	// deleting again is idempotent
	assert.equal(okv2(await api(srv, 'DELETE', `/api/v2/chats/${g.id}`, { token: tok.alice })).deleted, true);

	const res = okv2(await api(srv, 'POST', `/api/v2/chats/${g.id}/restore`, { token: tok.alice }), 'restore');
	assert.equal(res.deleted, false);
	const rev = await wsB.next('chat_restored');
	assert.equal(rev.chat.id, g.id);
	assert.equal(rev.chat.deleted, false);
	assert.ok(ids(await chatList(a, tok.bob)).includes(g.id), 'back in the list');
	await a.post(g.id, 'after restore', { as: tok.bob });
	assert.equal(okv2(await api(srv, 'GET', `/api/v2/search?q=pineapple`, { token: tok.bob })).items.length, 1);
	assert.equal(wsB.frames.filter((f) => f.type === 'chat_deleted').length, 1, 'one chat_deleted for two deletes');
});

test('a connection opened while a chat is deleted follows the chat once it is restored', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'Phoenix', members: ['bob'] } }), 'group', 201);
	okv2(await api(srv, 'DELETE', `/api/v2/chats/${g.id}`, { token: tok.alice }), 'delete');
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	okv2(await api(srv, 'POST', `/api/v2/chats/${g.id}/restore`, { token: tok.alice }), 'restore');
	await a.post(g.id, 'risen', { as: tok.alice });
	// bob is a member of a live chat again: REST shows it, so must his open stream
	assert.ok(ids(await chatList(a, tok.bob)).includes(g.id));
	const restored = await wsB.next('chat_restored', 1500).catch(() => null);
	const msg = await wsB.next(isMsg(g.id, 'risen'), 1000).catch(() => null);
	assert.ok(restored, `chat_restored reaches the member's open stream; got ${JSON.stringify(wsB.frames.map((f) => f.type))}`);
	assert.ok(msg, 'messages of the restored chat reach the open stream');
});

test('typing: ephemeral, to the other members only, at most one per 800 ms', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'T', members: ['bob'] } }), 'group', 201);
	const wsA = await wsConnect(t, srv, { token: tok.alice });
	const wsA2 = await wsConnect(t, srv, { token: tok.alice });
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	const wsC = await wsConnect(t, srv, { token: tok.carol });
	wsA.send({ type: 'typing', chat: g.id });
	const ty = await wsB.next('typing');
	assert.deepEqual([ty.chat, ty.user, ty.pos], [g.id, 'alice', undefined], 'typing names chat and user, has no pos');
	wsA.send({ type: 'typing', chat: g.id });
	await sleep(300);
	assert.equal(wsB.frames.filter((f) => f.type === 'typing').length, 1, 'the second within 800 ms is dropped');
	await sleep(600);
	wsA.send({ type: 'typing', chat: g.id });
	await wsB.next('typing');
	assert.ok(!wsA2.frames.some((f) => f.type === 'typing'), "not echoed to the typist's other connection");
	assert.ok(!wsC.frames.some((f) => f.type === 'typing'), 'not sent to non-members');
	// never replayed
	const replay = await wsConnect(t, srv, { token: tok.bob, pos: wsB.helloFrame.pos });
	await sleep(300);
	assert.ok(!replay.frames.some((f) => f.type === 'typing'));
	wsC.send({ type: 'typing', chat: g.id, id: 'x' });
	assert.equal((await wsC.next((f) => f.type === 'error' && f.id === 'x')).code, 'not_found', 'typing in a chat one is not in');
});

test('edit and delete of messages: edited_at and message_updated; deleted stays as deleted:true without text', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'E', members: ['bob'] } }), 'group', 201);
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	const wsA = await wsConnect(t, srv, { token: tok.alice });
	const m = await a.post(g.id, 'orginal text @bob', { as: tok.alice });
	assert.equal(m.edited_at, null);
	assert.deepEqual(m.mentions, ['bob']);
	const ed = okv2(await api(srv, 'PATCH', `/api/v2/chats/${g.id}/messages/${m.seq}`, { token: tok.alice, body: { text: 'original text' } }), 'edit');
	assert.equal(ed.text, 'original text');
	assert.equal(ed.seq, m.seq);
	assert.equal(ed.id, m.id);
	assert.match(ed.edited_at, /^\d{4}-\d\d-\d\dT/);
	assert.ok(Date.parse(ed.edited_at) >= Date.parse(m.created_at));
	const up = await wsB.next('message_updated');
	assert.equal(up.message.seq, m.seq);
	assert.equal(up.message.text, 'original text');
	assert.equal(up.message.edited_at, ed.edited_at);

	// edit over WS
	const ack = await wsA.request({ type: 'edit', chat: g.id, seq: m.seq, text: 'third version' });
	assert.equal(ack.type, 'ack', JSON.stringify(ack));
	assert.equal(ack.result.text, 'third version');
	assert.equal((await wsB.next('message_updated')).message.text, 'third version');
	let hist = okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages`, { token: tok.bob })).items;
	let h = hist.find((x) => x.seq === m.seq);
	assert.equal(h.text, 'third version');
	assert.ok(h.edited_at);

	// delete over WS
	const m2 = await a.post(g.id, 'keep me', { as: tok.alice });
	const dack = await wsA.request({ type: 'delete', chat: g.id, seq: m.seq });
	assert.equal(dack.type, 'ack', JSON.stringify(dack));
	assert.deepEqual([dack.result.chat, dack.result.seq], [g.id, m.seq]);
	const dev = await wsB.next('message_deleted');
	assert.deepEqual([dev.chat, dev.seq], [g.id, m.seq]);
	hist = okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages`, { token: tok.bob })).items;
	h = hist.find((x) => x.seq === m.seq);
	assert.ok(h, 'the deleted message stays in the history');
	assert.equal(h.deleted, true);
	assert.equal(h.text, '');
	assert.deepEqual(h.mentions, []);
	assert.equal(hist.find((x) => x.seq === m2.seq).text, 'keep me');
	assert.ok(!JSON.stringify(hist).includes('third version'), 'the old text is gone from the history');
	errv2(await api(srv, 'PATCH', `/api/v2/chats/${g.id}/messages/${m.seq}`, { token: tok.alice, body: { text: 'zombie' } }), 404, 'not_found', 'edit a deleted message');
	errv2(await api(srv, 'DELETE', `/api/v2/chats/${g.id}/messages/${m.seq}`, { token: tok.alice }), 404, 'not_found', 'delete twice');
	// REST delete of the last message: the chat list shows it deleted
	okv2(await api(srv, 'DELETE', `/api/v2/chats/${g.id}/messages/${m2.seq}`, { token: tok.alice }), 'delete m2');
	const row = (await chatList(a, tok.bob)).find((c) => c.id === g.id);
	assert.equal(row.last_message.seq, m2.seq);
	assert.equal(row.last_message.deleted, true);
	assert.equal(row.last_message.text, '');
	errv2(await api(srv, 'PATCH', `/api/v2/chats/${g.id}/messages/9999`, { token: tok.alice, body: { text: 'x' } }), 404, 'not_found');
});

test('idempotent send: the same client_id twice makes one message with one seq (REST and WS)', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const d = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['bob'] } }), 'direct', 201);
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	const body = { text: 'pay the invoice', client_id: 'c-7f3a' };
	const r1 = await api(srv, 'POST', `/api/v2/chats/${d.id}/messages`, { token: tok.alice, body });
	const m1 = okv2(r1, 'first', 201);
	assert.equal(m1.client_id, 'c-7f3a');
	const r2 = await api(srv, 'POST', `/api/v2/chats/${d.id}/messages`, { token: tok.alice, body: { ...body, text: 'retried body differs' } });
	const m2 = okv2(r2, 'retry', 200);
	assert.equal(m2.id, m1.id);
	assert.equal(m2.seq, m1.seq);
	assert.equal(m2.text, 'pay the invoice', 'the retry answers with the first attempt');
	// over WS, the same key again, and a new one
	const w1 = await wsB.request({ type: 'send', chat: d.id, text: 'ok', client_id: 'b-1' });
	const w2 = await wsB.request({ type: 'send', chat: d.id, text: 'ok', client_id: 'b-1' });
	assert.equal(w1.type, 'ack');
	assert.equal(w2.result.seq, w1.result.seq);
	assert.equal(w2.result.id, w1.result.id);
	// the same client_id from another sender is another message
	const other = await wsB.request({ type: 'send', chat: d.id, text: 'mine', client_id: 'c-7f3a' });
	assert.notEqual(other.result.seq, m1.seq);
	const w3 = await wsB.request({ type: 'send', chat: d.id, text: 'ok2', client_id: 'b-2' });
	assert.equal(w3.result.seq, other.result.seq + 1);
	const hist = okv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/messages`, { token: tok.alice })).items;
	assert.deepEqual(hist.map((m) => m.seq).sort((x, y) => x - y), [1, 2, 3, 4], 'four messages, no duplicates');
	assert.equal(hist.filter((m) => m.client_id === 'c-7f3a').length, 2);
	await wsB.collect((f) => f.type === 'message', 4, 3000);
	await sleep(200);
	const evSeqs = wsB.frames.filter((f) => f.type === 'message').map((f) => f.message.seq);
	assert.deepEqual(evSeqs, [1, 2, 3, 4], 'one event per message, none for retries');
});

test('history pagination both ways (before newest first, after oldest first, limit, more)', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const d = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['bob'] } }), 'direct', 201);
	for (let i = 1; i <= 25; i++) await a.post(d.id, `m${i}`, { as: i % 2 ? tok.alice : tok.bob });
	const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
	/** One page; asserts the documented order (after: oldest first, else newest first). */
	const page = async (q) => {
		const r = okv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/messages?${q}`, { token: tok.bob }), q);
		assert.equal(r.last_seq, 25);
		for (const m of r.items) assert.equal(m.text, `m${m.seq}`);
		const s = seqs(r.items);
		const sorted = [...s].sort((x, y) => x - y);
		assert.deepEqual(s, /after=/.test(q) ? sorted : [...sorted].reverse(), `${q}: order`);
		return { s: sorted, more: r.more };
	};
	let p = await page('limit=10');
	assert.deepEqual(p.s, range(16, 25), 'default: the newest page');
	assert.equal(p.more, true);
	p = await page('limit=10&before=16');
	assert.deepEqual(p.s, range(6, 15));
	assert.equal(p.more, true);
	p = await page('limit=10&before=6');
	assert.deepEqual(p.s, range(1, 5));
	assert.equal(p.more, false, 'the first message reached');
	p = await page('limit=10&before=3');
	assert.deepEqual(p.s, [1, 2]);
	p = await page('limit=10&after=3');
	assert.deepEqual(p.s, range(4, 13));
	assert.equal(p.more, true);
	p = await page('limit=10&after=13');
	assert.deepEqual(p.s, range(14, 23));
	p = await page('limit=10&after=20');
	assert.deepEqual(p.s, range(21, 25));
	assert.equal(p.more, false, 'the newest message reached');
	p = await page('after=25');
	assert.deepEqual(p.s, []);
	assert.equal(p.more, false);
	p = await page('limit=1000');
	assert.deepEqual(p.s, range(1, 25), 'limits above the maximum are capped, not refused');
	// walking back with the smallest seq seen collects everything exactly once
	const seen = [];
	let before = null;
	for (let i = 0; i < 10; i++) {
		const r = okv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/messages?limit=7${before ? `&before=${before}` : ''}`, { token: tok.alice }));
		seen.push(...seqs(r.items));
		if (!r.more) break;
		before = Math.min(...seqs(r.items));
	}
	assert.deepEqual([...seen].sort((x, y) => x - y), range(1, 25));
	assert.equal(new Set(seen).size, 25);
	const items = okv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/messages?limit=3&before=10`, { token: tok.alice })).items;
	const bySeq = Object.fromEntries(items.map((m) => [m.seq, m]));
	assert.equal(bySeq[9].sender, 'alice');
	assert.equal(bySeq[8].sender, 'bob');
	errv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/messages?limit=abc`, { token: tok.bob }), 422, 'field_invalid', 'limit=abc');
	errv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/messages?before=-1`, { token: tok.bob }), 422, 'field_invalid', 'before=-1');
	errv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/messages?after=x`, { token: tok.bob }), 422, 'field_invalid', 'after=x');
});

test('mentions: @id of members are listed, e-mail addresses and strangers are not', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a, { dave: ['staff'] });
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'M', members: ['bob', 'carol'] } }), 'group', 201);
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	const m = await a.post(g.id, 'hi @bob and @carol. write to x@bob.com, ask @dave or @nobody; @bob again', { as: tok.alice });
	assert.deepEqual(m.mentions, ['bob', 'carol']);
	const ev = await wsB.next(isMsg(g.id));
	assert.deepEqual(ev.message.mentions, ['bob', 'carol']);
	const none = await a.post(g.id, 'no mentions here, mail alice@example.com', { as: tok.bob });
	assert.deepEqual(none.mentions, []);
	const hist = okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages`, { token: tok.carol })).items;
	assert.deepEqual(hist.find((x) => x.seq === m.seq).mentions, ['bob', 'carol']);
});

test('search finds only chats the user is in; deleted messages are not found', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a, { boss: ['admin'] });
	const ab = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'AB', members: ['bob'] } }), 'ab', 201);
	const ac = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'AC', members: ['carol'] } }), 'ac', 201);
	const m1 = await a.post(ab.id, 'quarterly zebra report', { as: tok.bob });
	const m2 = await a.post(ac.id, 'zebra crossing secret', { as: tok.carol });
	const m3 = await a.post(ab.id, 'zebra to be deleted', { as: tok.alice });
	const search = async (token, q) => okv2(await api(srv, 'GET', `/api/v2/search?q=${encodeURIComponent(q)}`, { token }), `search ${q}`).items;
	const found = (items) => items.map((m) => `${m.chat}:${m.seq}`).sort();
	assert.deepEqual(found(await search(tok.bob, 'zebra')), [`${ab.id}:${m1.seq}`, `${ab.id}:${m3.seq}`].sort(), 'bob: only chat AB');
	assert.deepEqual(found(await search(tok.carol, 'zebra')), [`${ac.id}:${m2.seq}`], 'carol: only chat AC');
	assert.equal((await search(tok.alice, 'zebra')).length, 3, 'alice is in both');
	assert.equal((await search(tok.boss, 'zebra')).length, 3, 'a tenant admin searches the whole tenant');
	assert.equal(okv2(await a.call('GET', '/api/v2/search?q=zebra')).items.length, 3, 'the server too');
	assert.deepEqual(found(await search(tok.bob, 'zeb quarter')), [`${ab.id}:${m1.seq}`], 'prefixes, every word must match');
	assert.deepEqual(await search(tok.bob, 'crossing'), [], "bob never sees carol's chat");
	const hit = (await search(tok.bob, 'quarterly'))[0];
	assert.equal(hit.text, 'quarterly zebra report');
	assert.equal(hit.sender, 'bob');

	okv2(await api(srv, 'DELETE', `/api/v2/chats/${ab.id}/messages/${m3.seq}`, { token: tok.alice }), 'delete m3');
	assert.deepEqual(found(await search(tok.bob, 'zebra')), [`${ab.id}:${m1.seq}`], 'the deleted message is not found');
	assert.deepEqual(await search(tok.alice, 'deleted'), []);
	// an edit is searchable by its new text only
	okv2(await api(srv, 'PATCH', `/api/v2/chats/${ab.id}/messages/${m1.seq}`, { token: tok.bob, body: { text: 'annual giraffe report' } }), 'edit m1');
	assert.deepEqual(await search(tok.bob, 'quarterly'), []);
	assert.equal((await search(tok.bob, 'giraffe')).length, 1);
	// leaving a chat ends finding it
	okv2(await api(srv, 'DELETE', `/api/v2/chats/${ab.id}/members/bob`, { token: tok.bob }), 'bob leaves');
	assert.deepEqual(await search(tok.bob, 'giraffe'), []);
	errv2(await api(srv, 'GET', '/api/v2/search', { token: tok.bob }), 422, 'field_missing', 'no q');
	errv2(await api(srv, 'GET', '/api/v2/search?q=%20%2B%2B', { token: tok.bob }), 422, 'field_missing', 'q without words');
});

test('chats by reference: PUT is idempotent, the roster follows the host with events and system messages', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const path = '/api/v2/chats/by-ref/order/A-1042';
	const wsA = await wsConnect(t, srv, { token: tok.alice });
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	const wsC = await wsConnect(t, srv, { token: tok.carol });
	const body = { title: 'Order A-1042', members: [{ user: 'alice', role: 'owner' }, 'bob'] };
	const r1 = await a.call('PUT', path, { body });
	const c1 = okv2(r1, 'first PUT', 201);
	assert.deepEqual(c1.ref, { type: 'order', id: 'A-1042' });
	assert.equal(c1.type, 'group');
	assert.equal((await wsB.next('chat_created')).chat.id, c1.id);
	const sysB = await wsA.collect((f) => f.type === 'message' && f.message.chat === c1.id && f.message.kind === 'system', 2, 5000);
	assert.deepEqual(sysB.map((f) => [f.message.title, f.message.text]), [['member_added', 'Name alice'], ['member_added', 'Name bob']]);
	const before = wsA.frames.length;

	const r2 = await a.call('PUT', path, { body });
	const c2 = okv2(r2, 'second PUT', 200);
	assert.equal(c2.id, c1.id);
	assert.equal(c2.last_seq, c1.last_seq, 'nothing changed');
	assert.ok(await wsA.none((f) => wsA.frames.indexOf(f) >= before, 300), 'an unchanged PUT emits nothing');

	// the roster changes: bob out, carol in
	const c3 = okv2(await a.call('PUT', path, { body: { title: 'Order A-1042', members: [{ user: 'alice', role: 'owner' }, 'carol'] } }), 'third PUT', 200);
	assert.equal(c3.id, c1.id);
	const added = await wsA.next((f) => f.type === 'member_added' && f.member.id === 'carol');
	assert.equal(added.chat, c1.id);
	assert.equal(added.member.role, 'member');
	const removed = await wsA.next((f) => f.type === 'member_removed' && f.user === 'bob');
	assert.equal(removed.chat, c1.id);
	const gone = await wsB.next('member_removed');
	assert.deepEqual([gone.chat, gone.user], [c1.id, 'bob']);
	assert.equal((await wsC.next('chat_created')).chat.id, c1.id);
	const sys = (await wsA.collect((f) => f.type === 'message' && f.message.kind === 'system', 4, 5000)).slice(2);
	assert.deepEqual(sys.map((f) => [f.message.title, f.message.text]), [['member_added', 'Name carol'], ['member_removed', 'Name bob']]);
	const members = okv2(await a.call('GET', `/api/v2/chats/${c1.id}/members`)).items;
	assert.deepEqual(members.map((m) => `${m.id}:${m.role}`).sort(), ['alice:owner', 'carol:member']);
	assert.ok(!ids(await chatList(a, tok.bob)).includes(c1.id));
	errv2(await api(srv, 'GET', `/api/v2/chats/${c1.id}`, { token: tok.bob }), 404, 'not_found', 'bob no longer sees it');
	// bob is no longer subscribed: new messages do not reach him
	await a.post(c1.id, 'after bob left', { as: tok.carol });
	await wsA.next(isMsg(c1.id, 'after bob left'));
	assert.ok(!wsB.frames.some((f) => f.type === 'message' && f.message.text === 'after bob left'), 'bob gets nothing after removal');

	// a title change is a chat_updated; GET by ref finds the same chat
	okv2(await a.call('PUT', path, { body: { title: 'Order A-1042 (paid)' } }), 'retitle');
	assert.equal((await wsC.next('chat_updated')).chat.title, 'Order A-1042 (paid)');
	const got = okv2(await a.call('GET', path));
	assert.equal(got.id, c1.id);
	assert.equal(got.title, 'Order A-1042 (paid)');
	errv2(await a.call('GET', '/api/v2/chats/by-ref/order/none'), 404, 'not_found');
	// a member finds it by ref too (the embedded <herald-chat ref=…>), with their own view;
	// bob, removed, cannot tell it exists
	const mine = okv2(await api(srv, 'GET', path, { token: tok.carol }), 'by ref as a member');
	assert.equal(mine.id, c1.id);
	assert.equal(typeof mine.role, 'string');
	assert.equal(typeof mine.last_read_seq, 'number');
	errv2(await api(srv, 'GET', path, { token: tok.bob }), 404, 'not_found', 'by ref as a removed member');
	errv2(await api(srv, 'GET', '/api/v2/chats/by-ref/order/none', { token: tok.carol }), 404, 'not_found');
	errv2(await api(srv, 'PUT', path, { token: tok.alice, body }), 403, 'forbidden', 'by-ref is for the server');
	errv2(await a.call('PUT', '/api/v2/chats/by-ref/order/bad%20id', { body }), 422, 'field_invalid', 'bad ref');
});

test('direct chats: one per pair, whoever asks; fixed members', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	const r1 = await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['bob'] } });
	const d = okv2(r1, 'first', 201);
	assert.equal(d.type, 'direct');
	assert.equal((await wsB.next('chat_created')).chat.id, d.id);
	const again = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['bob'] } }), 'again', 200);
	assert.equal(again.id, d.id);
	const reverse = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.bob, body: { type: 'direct', members: ['alice'] } }), 'reverse', 200);
	assert.equal(reverse.id, d.id);
	const both = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.bob, body: { type: 'direct', members: ['bob', 'alice'] } }), 'both named', 200);
	assert.equal(both.id, d.id);
	const server = okv2(await a.call('POST', '/api/v2/chats', { body: { type: 'direct', members: ['bob', 'alice'] } }), 'server', 200);
	assert.equal(server.id, d.id);
	const other = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['carol'] } }), 'carol', 201);
	assert.notEqual(other.id, d.id);
	assert.equal(wsB.frames.filter((f) => f.type === 'chat_created').length, 1, 'bob learned of one chat');
	const members = okv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/members`, { token: tok.alice })).items;
	assert.deepEqual(members.map((m) => m.id).sort(), ['alice', 'bob']);
	errv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['alice'] } }), 422, 'field_invalid', 'with oneself');
	errv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['ghost'] } }), 404, 'not_found', 'with nobody');
	errv2(await api(srv, 'POST', `/api/v2/chats/${d.id}/members`, { token: tok.alice, body: { user: 'carol' } }), 403, 'forbidden', 'a third member');
	errv2(await a.call('POST', `/api/v2/chats/${d.id}/members`, { body: { user: 'carol' } }), 403, 'forbidden', 'a third member by the server');
	errv2(await api(srv, 'GET', `/api/v2/chats/${d.id}`, { token: tok.carol }), 404, 'not_found', 'carol does not see it');
	assert.equal(okv2(await api(srv, 'GET', `/api/v2/chats`, { token: tok.bob })).items.filter((c) => c.type === 'direct').length, 1);
});

test('development login: off by default (403); when on, lists active users and issues a working token', async (t) => {
	{
		const { srv, a } = await world(t);
		await a.user('alice', 'Alice');
		errv2(await api(srv, 'GET', `/api/v2/dev/users?inn=${a.inn}`), 403, 'forbidden', 'dev users off');
		errv2(await api(srv, 'POST', '/api/v2/dev/login', { body: { inn: a.inn, user: 'alice' } }), 403, 'forbidden', 'dev login off');
		await srv.stop();
	}
	const { srv, a } = await world(t, { env: { HERALD_AUTH_DEV_LOGIN: 'true' } });
	await a.user('alice', 'Alice', ['admin']);
	await a.user('bob', 'Bob');
	await a.user('gone', 'Gone');
	okv2(await a.call('DELETE', '/api/v2/users/gone'), 'deactivate');
	const list = okv2(await api(srv, 'GET', `/api/v2/dev/users?inn=${a.inn}`), 'dev users');
	assert.deepEqual(list.items.map((u) => u.id).sort(), ['alice', 'bob'], 'active users only');
	assert.deepEqual(list.items.find((u) => u.id === 'alice').roles, ['admin']);
	const s = okv2(await api(srv, 'POST', '/api/v2/dev/login', { body: { inn: a.inn, user: 'bob' } }), 'dev login', 201);
	assert.match(s.token, /^\S{16,}$/);
	assert.equal(s.user.id, 'bob');
	const me = okv2(await api(srv, 'GET', '/api/v2/me', { token: s.token }), 'me');
	assert.equal(me.kind, 'user');
	assert.equal(me.user.id, 'bob');
	assert.equal(me.tenant.inn, a.inn);
	const ws = await wsConnect(t, srv, { token: s.token });
	assert.equal(ws.helloFrame.user.id, 'bob');
	errv2(await api(srv, 'POST', '/api/v2/dev/login', { body: { inn: a.inn, user: 'gone' } }), 409, 'conflict', 'deactivated');
	errv2(await api(srv, 'POST', '/api/v2/dev/login', { body: { inn: a.inn, user: 'nobody' } }), 404, 'not_found', 'unknown user');
	errv2(await api(srv, 'POST', '/api/v2/dev/login', { body: { inn: '1234', user: 'bob' } }), 422, 'inn_invalid', 'bad inn');
	errv2(await api(srv, 'GET', '/api/v2/dev/users?inn=5000000001'), 404, 'unknown_inn', 'unknown tenant');
});

test('/api/v1 createmessage reaches the employee on /ws (inbox already there)', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_SMS_RESEND_COOLDOWN: '0s' } });
	const e = await login(srv.url, srv.dataDir, a.inn, '+79231112233', 'Пётр');
	await sendMessage(srv, a, e.staffid, 'Welcome', 'the first one');
	const ws = await wsConnect(t, srv, { token: e.apitoken });
	assert.deepEqual(ws.helloFrame.user, { id: `staff-${e.staffid}`, name: 'Пётр' });
	await sendMessage(srv, a, e.staffid, 'Смена', 'Завтра в 9:00');
	const ev = await ws.next('message');
	assert.equal(ev.message.kind, 'notification');
	assert.equal(ev.message.title, 'Смена');
	assert.equal(ev.message.text, 'Завтра в 9:00');
	assert.equal(ev.message.sender, null);
	assert.equal(ev.message.seq, 2);
	const inbox = (await chatList(a, e.apitoken)).find((c) => c.id === ev.message.chat);
	assert.ok(inbox, 'the inbox is in the employee\'s chat list');
	assert.equal(inbox.type, 'inbox');
	assert.equal(inbox.role, 'reader');
	assert.equal(inbox.unread, 2);
	// the employee reads but cannot post
	const ack = await ws.request({ type: 'read', chat: inbox.id, seq: 2 });
	assert.equal(ack.type, 'ack');
	const no = await ws.request({ type: 'send', chat: inbox.id, text: 'reply' });
	assert.equal(no.type, 'error');
	assert.equal(no.code, 'forbidden');
});

test('/api/v1 createmessage reaches an employee connected before their first message', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_SMS_RESEND_COOLDOWN: '0s' } });
	const e = await login(srv.url, srv.dataDir, a.inn, '+79231112244', 'Анна');
	const ws = await wsConnect(t, srv, { token: e.apitoken });
	await sendMessage(srv, a, e.staffid, 'Привет', 'первое сообщение');
	await sendMessage(srv, a, e.staffid, 'Ещё', 'второе сообщение');
	const got = await ws.collect((f) => f.type === 'message', 2, 1500);
	// a client reconnecting from its hello pos does get them: they are in the log
	const again = await wsConnect(t, srv, { token: e.apitoken, pos: ws.helloFrame.pos });
	const replayed = await again.collect((f) => f.type === 'message', 2, 3000);
	assert.deepEqual(replayed.map((f) => f.message.text), ['первое сообщение', 'второе сообщение'], 'the messages are in the event log');
	assert.deepEqual(got.map((f) => f.message.text), ['первое сообщение', 'второе сообщение'], 'the live connection receives the messages to the inbox created after it connected');
});

test('REST and ack results are the resource, without the event\'s "type"', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const d = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['bob'] } }), 'direct', 201);
	const m = await a.post(d.id, 'x', { as: tok.alice });
	const pin = okv2(await api(srv, 'PATCH', `/api/v2/chats/${d.id}/settings`, { token: tok.alice, body: { pinned: true } }), 'pin');
	assert.deepEqual(pin, { chat: d.id, pinned: true, muted: false }, 'PATCH settings answers {chat, pinned, muted}');
	const del = okv2(await api(srv, 'DELETE', `/api/v2/chats/${d.id}/messages/${m.seq}`, { token: tok.alice }), 'delete');
	assert.deepEqual(del, { chat: d.id, seq: m.seq }, 'DELETE message answers {chat, seq}');
});

test('reads stay fresh after GET …/reads (no stale snapshot on the reader threads)', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const d = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['bob'] } }), 'direct', 201);
	const m1 = await a.post(d.id, 'first', { as: tok.alice });
	// enough concurrent receipt lookups to pass through every reader thread
	const rs = await Promise.all(Array.from({ length: 24 }, () => api(srv, 'GET', `/api/v2/chats/${d.id}/messages/${m1.seq}/reads`, { token: tok.alice })));
	for (const r of rs) okv2(r, 'reads');
	const m2 = await a.post(d.id, 'second', { as: tok.alice });
	const pages = await Promise.all(Array.from({ length: 24 }, () => api(srv, 'GET', `/api/v2/chats/${d.id}/messages`, { token: tok.bob })));
	const stale = pages.map((p) => okv2(p, 'history')).filter((p) => p.last_seq !== m2.seq || !p.items.some((x) => x.seq === m2.seq));
	assert.equal(stale.length, 0, `${stale.length} of 24 history reads after a committed post did not show it (last_seq ${stale[0] && stale[0].last_seq}, expected ${m2.seq})`);
	const lists = await Promise.all(Array.from({ length: 24 }, () => api(srv, 'GET', '/api/v2/chats', { token: tok.bob })));
	const staleLists = lists.map((p) => okv2(p, 'list').items[0]).filter((c) => c.last_seq !== m2.seq);
	assert.equal(staleLists.length, 0, `${staleLists.length} of 24 chat lists are stale`);
});

test('a posted message is one object: the REST answer, the /ws ack, the event and the history agree, whatever the text', async (t) => {
	const { srv, a } = await world(t);
	const tok = await trio(a);
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'group', title: 'J', members: ['bob', 'carol'] } }), 'group', 201);
	const wsA = await wsConnect(t, srv, { token: tok.alice });
	const wsB = await wsConnect(t, srv, { token: tok.bob });
	const texts = ['plain', 'quotes " and \\ backslash\nnew line\ttab \u0001 control', 'кириллица, emoji 🚚, \u2028 line separator, </script>', '@bob and @carol. mail x@bob.ru'];
	for (const [i, text] of texts.entries()) {
		// REST, with title (ignored for a user), client_id and reply_to
		const m = okv2(await api(srv, 'POST', `/api/v2/chats/${g.id}/messages`, { token: tok.alice, body: { text, client_id: `c-${i}`, reply_to: i } }), 'post', 201);
		assert.equal(m.text, text);
		assert.equal(m.client_id, `c-${i}`);
		assert.equal(m.reply_to, i === 0 ? null : i);
		const ev = await wsB.next((f) => f.type === 'message' && f.message.seq === m.seq);
		assert.deepEqual(ev.message, m, 'the event carries the same message');
		const items = (await okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages?limit=50`, { token: tok.carol }), 'history')).items;
		assert.deepEqual(items.find((x) => x.seq === m.seq), m, 'the history builds the same message');
		// /ws send: the ack's result is the same object again
		wsA.send({ type: 'send', id: { n: i, s: 'x"y' }, chat: g.id, text });
		const ack = await wsA.next((f) => (f.type === 'ack' || f.type === 'error') && f.id && f.id.n === i);
		assert.equal(ack.type, 'ack', JSON.stringify(ack));
		assert.deepEqual(ack.id, { n: i, s: 'x"y' }, 'the request id comes back as it was');
		const ev2 = await wsB.next((f) => f.type === 'message' && f.message.seq === ack.result.seq);
		assert.deepEqual(ev2.message, ack.result);
		assert.equal(ack.result.client_id, null);
		assert.equal(ack.result.sender, 'alice');
		assert.equal(ack.result.deleted, false);
		assert.equal(ack.result.edited_at, null);
	}
	const last = (await okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages?limit=50`, { token: tok.carol }), 'history')).items;
	assert.deepEqual(last.find((x) => x.text === texts[3] && x.client_id === 'c-3').mentions, ['bob', 'carol']);
	// the host posts as the system (no sender) and for a member
	const sys = await a.post(g.id, 'from the system');
	assert.equal(sys.sender, null);
	assert.equal(sys.sender_name, null);
	const forBob = await a.post(g.id, 'for bob', { sender: 'bob', title: 'T' });
	assert.equal(forBob.sender, 'bob');
	assert.equal(forBob.sender_name, 'Name bob');
	assert.equal(forBob.title, 'T');
	const after = (await okv2(await api(srv, 'GET', `/api/v2/chats/${g.id}/messages?limit=50`, { token: tok.carol }), 'history')).items;
	assert.deepEqual(after.find((x) => x.seq === sys.seq), sys);
	assert.deepEqual(after.find((x) => x.seq === forBob.seq), forBob);
	// a retried send with the same client_id answers with the first message (built from the database)
	const again = okv2(await api(srv, 'POST', `/api/v2/chats/${g.id}/messages`, { token: tok.alice, body: { text: texts[1], client_id: 'c-1', reply_to: 1 } }), 'retry');
	assert.deepEqual(again, last.find((x) => x.client_id === 'c-1'));
});
