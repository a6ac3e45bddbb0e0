// The realtime stream's delivery guarantees: resume from a position with no
// loss and no duplicates (also across a restart and while messages keep
// arriving), resync when the position is not in the log, slow consumers
// closed without hurting others, and the limits on bad and oversized frames.

import test from 'node:test';
import assert from 'node:assert/strict';
import { serverFor } from './lib/harness.mjs';
import { world, okv2, api, wsConnect, WsClient, sleep } from './lib/v2.mjs';

/** Posts n messages "prefix i" (i from start) with at most `par` requests in flight. */
async function flood(srv, chat, token, n, { prefix = 'm', start = 0, par = 32, text } = {}) {
	let next = start;
	const end = start + n;
	const worker = async () => {
		while (next < end) {
			const i = next++;
			const r = await api(srv, 'POST', `/api/v2/chats/${chat}/messages`, { token, body: { text: text ? text(i) : `${prefix} ${i}` } });
			assert.equal(r.status, 201, `post ${i}: ${r.text}`);
		}
	};
	await Promise.all(Array.from({ length: par }, worker));
}

/** alice and bob with a direct chat (no system messages in it). */
async function pair(t, env = {}) {
	const { srv, a } = await world(t, { env });
	const tok = await a.users({ alice: ['staff'], bob: ['staff'] });
	const d = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.alice, body: { type: 'direct', members: ['bob'] } }), 'direct', 201);
	return { srv, a, tok, d };
}

/** Asserts the message events are exactly seqs from..to, once each, in order, with rising pos. */
function assertExactly(frames, chat, from, to, what) {
	const msgs = frames.filter((f) => f.type === 'message' && f.message.chat === chat);
	const seqs = msgs.map((f) => f.message.seq);
	const want = Array.from({ length: to - from + 1 }, (_, i) => from + i);
	if (seqs.length !== want.length || seqs.some((s, i) => s !== want[i])) {
		const dup = seqs.filter((s, i) => seqs.indexOf(s) !== i);
		const missing = want.filter((s) => !seqs.includes(s));
		assert.fail(`${what}: expected seqs ${from}..${to} once in order; got ${seqs.length} events, ${dup.length} duplicates (${dup.slice(0, 5)}), ${missing.length} missing (${missing.slice(0, 5)})`);
	}
	const pos = msgs.map((f) => f.pos);
	for (let i = 1; i < pos.length; i++) assert.ok(pos[i] > pos[i - 1], `${what}: pos rises`);
	return msgs;
}

test('resume: 1,000 messages sent while away arrive exactly once, in order, then live ones', async (t) => {
	const { srv, tok, d } = await pair(t);
	const bob = await wsConnect(t, srv, { token: tok.bob });
	await api(srv, 'POST', `/api/v2/chats/${d.id}/messages`, { token: tok.alice, body: { text: 'before' } });
	const first = await bob.next('message');
	const last = first.pos;
	bob.close();
	await bob.waitClosed();

	await flood(srv, d.id, tok.alice, 1000);
	const back = await wsConnect(t, srv, { token: tok.bob, pos: last });
	assert.equal(back.helloFrame.pos, last, 'hello confirms the position');
	await back.collect((f) => f.type === 'message', 1000, 15000);
	// live ones follow the replay
	await flood(srv, d.id, tok.alice, 5, { prefix: 'live', par: 1 });
	await back.collect((f) => f.type === 'message', 1005, 10000);
	await sleep(200);
	const msgs = assertExactly(back.frames, d.id, 2, 1006, 'replay + live');
	assert.deepEqual(msgs.slice(-5).map((f) => f.message.text), ['live 0', 'live 1', 'live 2', 'live 3', 'live 4']);
	assert.ok(!back.frames.some((f) => f.type === 'resync_required'), 'no resync needed');
});

test('resume while messages keep arriving: no loss and no duplicates at the replay/live seam', async (t) => {
	const { srv, tok, d } = await pair(t);
	const bob = await wsConnect(t, srv, { token: tok.bob });
	const start = bob.helloFrame.pos;
	bob.close();
	await flood(srv, d.id, tok.alice, 300, { prefix: 'early' });
	// reconnect in the middle of a stream of sends, several times
	const sending = flood(srv, d.id, tok.alice, 600, { prefix: 'during', par: 8 });
	const clients = [];
	for (let i = 0; i < 3; i++) {
		await sleep(60);
		clients.push(await wsConnect(t, srv, { token: tok.bob, pos: start }));
	}
	await sending;
	for (const [i, c] of clients.entries()) {
		await c.collect((f) => f.type === 'message', 900, 15000);
		await sleep(100);
		assertExactly(c.frames, d.id, 1, 900, `client ${i}`);
	}
	// a resume frame on a live connection replays from the given position again
	const c = clients[0];
	const mark = c.frames.length;
	const at = c.frames.filter((f) => f.type === 'message').find((f) => f.message.seq === 890).pos;
	c.send({ type: 'resume', pos: at });
	await c.collect((f) => f.type === 'message' && c.frames.indexOf(f) >= mark, 10, 10000);
	await sleep(100);
	assertExactly(c.frames.slice(mark), d.id, 891, 900, 'after resume');
});

test('resume across a restart (SIGTERM, same data directory)', async (t) => {
	const { srv, tok, d } = await pair(t);
	const bob = await wsConnect(t, srv, { token: tok.bob });
	await api(srv, 'POST', `/api/v2/chats/${d.id}/messages`, { token: tok.alice, body: { text: 'before' } });
	const last = (await bob.next('message')).pos;
	bob.close();
	await flood(srv, d.id, tok.alice, 500, { prefix: 'first life' });
	await srv.stop('SIGTERM');

	const srv2 = await serverFor(t, { dataDir: srv.dataDir });
	await flood(srv2, d.id, tok.alice, 500, { prefix: 'second life' });
	const back = await wsConnect(t, srv2, { token: tok.bob, pos: last });
	await back.collect((f) => f.type === 'message', 1000, 15000);
	await api(srv2, 'POST', `/api/v2/chats/${d.id}/messages`, { token: tok.alice, body: { text: 'live after restart' } });
	await back.collect((f) => f.type === 'message', 1001, 10000);
	await sleep(200);
	const msgs = assertExactly(back.frames, d.id, 2, 1002, 'across the restart');
	assert.ok(msgs.slice(0, 500).every((f) => f.message.text.startsWith('first life')));
	assert.ok(msgs.slice(500, 1000).every((f) => f.message.text.startsWith('second life')));
	assert.equal(msgs[1000].message.text, 'live after restart');
	// positions keep rising across the restart: a fresh connection starts at the head
	const fresh = await wsConnect(t, srv2, { token: tok.bob });
	assert.ok(fresh.helloFrame.pos >= msgs[1000].pos);
});

test('resume from a position the log does not hold: resync_required, then live', async (t) => {
	const { srv, tok, d } = await pair(t);
	await api(srv, 'POST', `/api/v2/chats/${d.id}/messages`, { token: tok.alice, body: { text: 'one' } });
	const probe = await wsConnect(t, srv, { token: tok.bob });
	const head = probe.helloFrame.pos;
	const c = await wsConnect(t, srv, { token: tok.bob, pos: 999999999 });
	const rs = await c.next('resync_required');
	assert.equal(rs.pos, head, 'resync names the current head');
	assert.ok(!c.frames.some((f) => f.type === 'message'), 'nothing replayed');
	await api(srv, 'POST', `/api/v2/chats/${d.id}/messages`, { token: tok.alice, body: { text: 'after resync' } });
	const live = await c.next('message');
	assert.equal(live.message.text, 'after resync');
	assert.ok(live.pos > head);
	// the same through a resume frame and through the auth frame
	c.send({ type: 'resume', pos: 123456789 });
	const rs2 = await c.next('resync_required');
	assert.equal(rs2.pos, live.pos);
	const viaAuth = new WsClient(srv, {});
	t.after(() => viaAuth.terminate());
	await viaAuth.opened;
	viaAuth.send({ type: 'auth', token: tok.bob, pos: 888888888 });
	await viaAuth.hello();
	assert.equal((await viaAuth.next('resync_required')).pos, live.pos);
	// a pos that is not a number is refused before the upgrade
	const bad = new WsClient(srv, { token: tok.bob, query: 'pos=abc' });
	t.after(() => bad.terminate());
	await assert.rejects(bad.opened, /unexpected response 422/);
	const neg = new WsClient(srv, { token: tok.bob, pos: -5 });
	t.after(() => neg.terminate());
	await assert.rejects(neg.opened, /unexpected response 422/);
	// a bad resume frame is an error frame
	c.send({ type: 'resume', pos: 'x', id: 'rz' });
	assert.equal((await c.next((f) => f.type === 'error' && f.id === 'rz')).code, 'field_invalid');
});

test('a slow consumer is closed with 1008 while another client receives everything', async (t) => {
	const { srv, tok, d } = await pair(t, { HERALD_WS_MAX_QUEUE: '16k', HERALD_LIMITS_TEXT_MAX: '50000' });
	const good = await wsConnect(t, srv, { token: tok.bob });
	const slow = await wsConnect(t, srv, { token: tok.bob });
	slow.ws._socket.pause();
	const n = 120;
	const big = (i) => `${i} `.padEnd(40000, 'x');
	await flood(srv, d.id, tok.alice, n, { text: big, par: 16 });
	slow.ws._socket.resume();
	const closed = await slow.waitClosed(10000);
	assert.ok(closed, 'the slow consumer was closed');
	assert.equal(closed.code, 1008, `closed with 1008 (policy), got ${JSON.stringify(closed)}`);
	const got = slow.frames.filter((f) => f.type === 'message').length;
	assert.ok(got < n, `the slow consumer did not get everything (${got} of ${n})`);
	await good.collect((f) => f.type === 'message', n, 15000);
	assertExactly(good.frames, d.id, 1, n, 'the good client');
	assert.equal(good.closeCode, null, 'the good client stays connected');
	// the slow one can come back and resume where it got to
	const lastPos = slow.frames.filter((f) => typeof f.pos === 'number').map((f) => f.pos).pop();
	const again = await wsConnect(t, srv, { token: tok.bob, pos: lastPos });
	await again.collect((f) => f.type === 'message', n - got, 15000);
	await sleep(100);
	assertExactly(again.frames, d.id, got + 1, n, 'the slow consumer after resuming');
});

test('bad frames get error frames; more than 20 in a minute close the connection with 1008', async (t) => {
	const { srv, tok, d } = await pair(t);
	const c = await wsConnect(t, srv, { token: tok.bob });
	c.send('{not json');
	assert.equal((await c.next('error')).code, 'bad_json');
	c.send('[1,2,3]');
	assert.equal((await c.next('error')).code, 'bad_json');
	c.send({ type: 'frobnicate', id: 'u1' });
	const unk = await c.next('error');
	assert.deepEqual([unk.id, unk.code], ['u1', 'field_invalid']);
	c.send({ id: 'nt' });
	assert.equal((await c.next('error')).code, 'field_missing');
	c.send({ type: 'send', id: 'nc', text: 'no chat' });
	const nc = await c.next('error');
	assert.deepEqual([nc.id, nc.code], ['nc', 'field_missing']);
	// still usable
	const ok = await c.request({ type: 'send', chat: d.id, text: 'still fine' });
	assert.equal(ok.type, 'ack');
	c.send({ type: 'ping', id: 'p' });
	assert.equal((await c.next('pong')).id, 'p');
	// 5 so far; 15 more are tolerated, the 21st closes
	for (let i = 0; i < 15; i++) c.send(`garbage ${i}`);
	await c.collect((f) => f.type === 'error', 20, 5000);
	await sleep(200);
	assert.equal(c.closeCode, null, 'twenty bad frames are tolerated');
	c.send('the last straw');
	const closed = await c.waitClosed(5000);
	assert.ok(closed, 'closed after the 21st bad frame');
	assert.equal(closed.code, 1008);
	assert.equal(c.frames.filter((f) => f.type === 'error').length, 21, 'every bad frame was answered');
	// server errors on good frames (e.g. forbidden) do not count: a fresh connection sends 25 of them
	const other = await wsConnect(t, srv, { token: tok.bob });
	for (let i = 0; i < 25; i++) {
		const r = await other.request({ type: 'send', chat: 99999, text: 'x' });
		assert.equal(r.code, 'not_found');
	}
	assert.equal(other.closeCode, null);
});

test('a frame bigger than ws.max_message closes with 1009; smaller ones work', async (t) => {
	const { srv, tok, d } = await pair(t, { HERALD_WS_MAX_MESSAGE: '2k' });
	const c = await wsConnect(t, srv, { token: tok.bob });
	const fits = await c.request({ type: 'send', chat: d.id, text: 'y'.repeat(1800) });
	assert.equal(fits.type, 'ack', 'a frame under 2k is fine');
	c.send({ type: 'send', id: 'big', chat: d.id, text: 'z'.repeat(3000) });
	const closed = await c.waitClosed(5000);
	assert.ok(closed, 'closed');
	assert.equal(closed.code, 1009);
	const hist = okv2(await api(srv, 'GET', `/api/v2/chats/${d.id}/messages`, { token: tok.bob })).items;
	assert.equal(hist.length, 1, 'the oversized send did nothing');
});

test('authentication on /ws: token in the URL, in the first frame, or refused with 4401', async (t) => {
	const { srv, a, tok } = await pair(t);
	const viaFrame = new WsClient(srv, {});
	t.after(() => viaFrame.terminate());
	await viaFrame.opened;
	viaFrame.send({ type: 'auth', token: tok.alice });
	assert.equal((await viaFrame.hello()).user.id, 'alice');
	const viaHeader = new WsClient(srv, { wsOptions: { headers: { Authorization: `Bearer ${tok.bob}` } } });
	t.after(() => viaHeader.terminate());
	await viaHeader.opened;
	assert.equal((await viaHeader.hello()).user.id, 'bob');

	const cases = {
		'a wrong token': new WsClient(srv, { token: 'not-a-token-at-all-xxxxxxxx' }),
		'a non-auth first frame': new WsClient(srv, {}),
		'the API token without user': new WsClient(srv, { token: a.token }),
	};
	cases['a non-auth first frame'].opened.then(() => cases['a non-auth first frame'].send({ type: 'ping' }));
	for (const [what, c] of Object.entries(cases)) {
		t.after(() => c.terminate());
		await c.opened;
		const err = await c.next('error');
		const closed = await c.waitClosed(5000);
		assert.ok(closed, `${what}: closed`);
		if (what === 'the API token without user') {
			assert.equal(err.code, 'field_missing', what);
			assert.equal(closed.code, 4403, what);
		} else {
			assert.equal(err.code, 'unauthorized', what);
			assert.equal(closed.code, 4401, what);
		}
		assert.ok(!c.frames.some((f) => f.type === 'hello'), `${what}: no hello`);
	}
	// a plain GET is not an upgrade
	const plain = await api(srv, 'GET', '/ws');
	assert.ok(plain.status === 400 || plain.status === 426, `plain GET /ws: ${plain.status}`);
});
