// Tenant isolation in /api/v2 and /ws: whatever token of tenant A is used (the
// API token, a user session, a JWT signed with A's secret), tenant B's users,
// chats and messages are neither readable nor changeable, B's chat ids answer
// 404, and A's realtime connections never carry B's events. Both tenants use
// the same user ids, so a lookup by id that forgets the tenant would show.

import test from 'node:test';
import assert from 'node:assert/strict';
import { makeTenant, okv2, errv2, api, wsConnect, WsClient, signJwt, jwtSecret, nowS, sleep } from './lib/v2.mjs';
import { serverFor } from './lib/harness.mjs';

const SECRET_WORD = 'kumquat';

async function twoTenants(t) {
	const srv = await serverFor(t);
	const A = makeTenant(srv, { inn: '7701000001', name: 'Альфа' });
	const B = makeTenant(srv, { inn: '7702000002', name: 'Бета' });
	const tokA = await A.users({ alice: ['admin'], bob: ['staff'] });
	const tokB = await B.users({ alice: ['admin'], bob: ['staff'], carol: ['dispatcher'] });
	const chatA = await A.group('A team', [{ user: 'alice', role: 'owner' }, 'bob']);
	const chatB = await B.group('B team', [{ user: 'alice', role: 'owner' }, 'bob', 'carol'], { ref: { type: 'deal', id: 'D-1' } });
	const msgB = await B.post(chatB.id, `B ${SECRET_WORD} plans`, { as: tokB.alice });
	await A.post(chatA.id, 'A hello', { as: tokA.alice });
	const dmB = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tokB.bob, body: { type: 'direct', members: ['carol'] } }), 'B direct', 201);
	await B.post(dmB.id, `direct ${SECRET_WORD}`, { as: tokB.carol });
	const secretA = await jwtSecret(A);
	const jwtA = signJwt(secretA.secret, { iss: A.inn, sub: 'alice', exp: nowS() + 600 });
	return { srv, A, B, tokA, tokB, chatA, chatB, dmB, msgB, jwtA, secretA };
}

/** Everything of B, as B's API token sees it. */
async function snapshotB(B, chats) {
	const users = okv2(await B.call('GET', '/api/v2/users?limit=200')).items;
	const out = { users, chats: {}, lists: {} };
	for (const c of chats) {
		out.chats[c] = {
			chat: okv2(await B.call('GET', `/api/v2/chats/${c}`)),
			members: okv2(await B.call('GET', `/api/v2/chats/${c}/members`)).items,
			messages: okv2(await B.call('GET', `/api/v2/chats/${c}/messages?limit=200`)).items,
		};
	}
	for (const u of users) out.lists[u.id] = okv2(await B.call('GET', `/api/v2/chats?user=${u.id}`)).items;
	return out;
}

/** Every chat-scoped route of /api/v2 against chat id c. */
function chatCalls(c, seq) {
	return [
		['GET', `/api/v2/chats/${c}`],
		['PATCH', `/api/v2/chats/${c}`, { title: 'pwned' }],
		['DELETE', `/api/v2/chats/${c}`],
		['POST', `/api/v2/chats/${c}/restore`],
		['GET', `/api/v2/chats/${c}/members`],
		['POST', `/api/v2/chats/${c}/members`, { user: 'alice' }],
		['PATCH', `/api/v2/chats/${c}/members/bob`, { role: 'owner' }],
		['DELETE', `/api/v2/chats/${c}/members/bob`],
		['PATCH', `/api/v2/chats/${c}/settings`, { pinned: true }],
		['POST', `/api/v2/chats/${c}/messages`, { text: 'intrusion' }],
		['GET', `/api/v2/chats/${c}/messages`],
		['GET', `/api/v2/chats/${c}/messages?after=0`],
		['PATCH', `/api/v2/chats/${c}/messages/${seq}`, { text: 'pwned' }],
		['DELETE', `/api/v2/chats/${c}/messages/${seq}`],
		['GET', `/api/v2/chats/${c}/messages/${seq}/reads`],
		['POST', `/api/v2/chats/${c}/read`, { seq }],
	];
}

function noLeak(res, what) {
	assert.ok(!res.text.includes(SECRET_WORD) && !res.text.includes('Бета') && !res.text.includes('B team'), `${what} leaks B's data: ${res.text.slice(0, 300)}`);
}

test("isolation v2: A's API token, session and JWT get 404 for every route on B's chats; B unchanged", async (t) => {
	const w = await twoTenants(t);
	const { srv, A, B, tokA, chatB, dmB, msgB } = w;
	const before = await snapshotB(B, [chatB.id, dmB.id]);
	const tokens = { 'A API token': A.token, 'A session': tokA.alice, 'A JWT': w.jwtA };
	for (const [name, token] of Object.entries(tokens)) {
		for (const c of [chatB.id, dmB.id]) {
			for (const [method, p, body] of chatCalls(c, msgB.seq)) {
				const r = await api(srv, method, p, { token, body });
				// the server has no settings and no receipts: 403 before looking; all else 404
				if (name === 'A API token' && (p.endsWith('/settings') || p.endsWith('/read'))) {
					assert.equal(r.status, 403, `${name} ${method} ${p}: ${r.text}`);
				} else {
					errv2(r, 404, 'not_found', `${name} ${method} ${p}`);
				}
				noLeak(r, `${name} ${method} ${p}`);
			}
		}
		// search, lists and "me" show only A
		const s = await api(srv, 'GET', `/api/v2/search?q=${SECRET_WORD}`, { token });
		assert.deepEqual(okv2(s, `${name} search`).items, [], `${name}: search finds nothing of B`);
		const me = okv2(await api(srv, 'GET', '/api/v2/me', { token }), `${name} me`);
		assert.equal(me.tenant.inn, A.inn);
		if (name !== 'A API token') {
			const list = okv2(await api(srv, 'GET', '/api/v2/chats', { token }), `${name} list`);
			assert.ok(list.items.every((c) => c.id !== chatB.id && c.id !== dmB.id), `${name}: list has no chat of B`);
			assert.equal(me.user.id, 'alice');
			// a direct chat with a user who exists only in B
			errv2(await api(srv, 'POST', '/api/v2/chats', { token, body: { type: 'direct', members: ['carol'] } }), 404, 'not_found', `${name} direct with B's carol`);
		}
	}
	// the server-only routes with A's API token
	errv2(await A.call('GET', '/api/v2/users/carol'), 404, 'not_found', "A reads B's user");
	errv2(await A.call('DELETE', '/api/v2/users/carol'), 404, 'not_found', "A deactivates B's user");
	errv2(await A.call('POST', '/api/v2/sessions', { body: { user: 'carol' } }), 404, 'not_found', "A opens a session for B's user");
	errv2(await A.call('GET', '/api/v2/chats?user=carol'), 404, 'not_found', "A lists B's user's chats");
	errv2(await A.call('GET', '/api/v2/chats/by-ref/deal/D-1'), 404, 'not_found', "A reads B's chat by ref");
	errv2(await A.call('POST', '/api/v2/chats', { body: { type: 'group', title: 'x', members: ['carol'] } }), 404, 'not_found', "A adds B's user to a group");
	const aUsers = okv2(await A.call('GET', '/api/v2/users?limit=200')).items;
	assert.deepEqual(aUsers.map((u) => u.id).sort(), ['alice', 'bob'], "A's user list is A's");
	// the same user id in A is A's own user: changing it does not touch B's
	okv2(await A.call('PUT', '/api/v2/users/alice', { body: { name: 'A-alice renamed', roles: ['staff'] } }), 'A renames its alice');
	okv2(await A.call('DELETE', '/api/v2/users/bob'), "A deactivates its bob");
	// A's chat with B's ref is A's own, B's chat is untouched
	const mine = okv2(await A.call('PUT', '/api/v2/chats/by-ref/deal/D-1', { body: { title: 'A deal', members: ['alice'] } }), 'A by-ref', 201);
	assert.notEqual(mine.id, chatB.id);
	// JWT claims name A's user, never B's (even with B's roles in mind)
	const jwtCarol = signJwt(w.secretA.secret, { iss: A.inn, sub: 'carol', name: 'Mallory', roles: ['admin'], exp: nowS() + 600 });
	const meCarol = okv2(await api(srv, 'GET', '/api/v2/me', { token: jwtCarol }), 'JWT carol in A');
	assert.equal(meCarol.tenant.inn, A.inn);
	errv2(await api(srv, 'GET', `/api/v2/chats/${dmB.id}`, { token: jwtCarol }), 404, 'not_found', "A's carol (admin) reads B's chat");
	// a JWT signed with A's secret but claiming B's INN
	errv2(await api(srv, 'GET', '/api/v2/me', { token: signJwt(w.secretA.secret, { iss: B.inn, sub: 'alice', exp: nowS() + 600 }) }), 401, 'unauthorized', "A's key, B's iss");

	const after = await snapshotB(B, [chatB.id, dmB.id]);
	assert.deepEqual(after, before, "B's users, chats, members, messages and lists are unchanged");
	assert.equal(after.users.find((u) => u.id === 'alice').name, 'Name alice');
	assert.equal(after.users.find((u) => u.id === 'bob').active, true);
	assert.ok(!after.users.some((u) => u.name === 'Mallory'));
});

test("isolation over /ws: A's streams never carry B's events; B's chat ids are not found", async (t) => {
	const w = await twoTenants(t);
	const { srv, A, B, tokA, tokB, chatA, chatB, dmB, msgB } = w;
	const wsA = {
		session: await wsConnect(t, srv, { token: tokA.alice }),
		api: await wsConnect(t, srv, { token: A.token, user: 'alice' }),
		jwt: await wsConnect(t, srv, { token: w.jwtA }),
		replay: await wsConnect(t, srv, { token: tokA.bob, pos: 0 }),
	};
	for (const c of Object.values(wsA)) assert.equal(c.helloFrame.user.id, c === wsA.replay ? 'bob' : 'alice');
	const wsB = await wsConnect(t, srv, { token: tokB.alice });

	// B is busy: messages, a new chat with B's alice, settings, receipts, members, edits, deletes, typing
	const m = await B.post(chatB.id, `live ${SECRET_WORD}`, { as: tokB.bob });
	const g2 = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tokB.carol, body: { type: 'group', title: 'B second', members: ['alice', 'bob'] } }), 'B g2', 201);
	okv2(await api(srv, 'PATCH', `/api/v2/chats/${chatB.id}/settings`, { token: tokB.alice, body: { pinned: true } }), 'B pin');
	okv2(await api(srv, 'POST', `/api/v2/chats/${chatB.id}/read`, { token: tokB.alice, body: { seq: m.seq } }), 'B read');
	okv2(await api(srv, 'PATCH', `/api/v2/chats/${chatB.id}/messages/${m.seq}`, { token: tokB.bob, body: { text: `edited ${SECRET_WORD}` } }), 'B edit');
	okv2(await api(srv, 'DELETE', `/api/v2/chats/${chatB.id}/messages/${msgB.seq}`, { token: tokB.alice }), 'B delete');
	okv2(await api(srv, 'DELETE', `/api/v2/chats/${chatB.id}/members/bob`, { token: tokB.alice }), 'B remove bob');
	okv2(await B.call('PUT', '/api/v2/chats/by-ref/deal/D-1', { body: { title: 'B team renamed' } }), 'B retitle');
	const wsBob = await wsConnect(t, srv, { token: tokB.bob });
	wsBob.send({ type: 'typing', chat: dmB.id });
	// then A says something, so A's streams have a known last frame
	await A.post(chatA.id, 'A marker', { as: tokA.bob });
	for (const [name, c] of Object.entries(wsA)) {
		await c.next((f) => f.type === 'message' && f.message.text === 'A marker', 10000, `A marker on ${name}`);
	}
	await wsB.next((f) => f.type === 'chat_updated');
	await sleep(200);
	const bChats = new Set([chatB.id, dmB.id, g2.id]);
	for (const [name, c] of Object.entries(wsA)) {
		const leaked = c.frames.filter((f) => bChats.has(f.chat) || bChats.has(f.chat && f.chat.id) || (f.message && bChats.has(f.message.chat)) || JSON.stringify(f).includes(SECRET_WORD));
		assert.deepEqual(leaked, [], `A's ${name} stream carries none of B's events`);
		const types = new Set(c.frames.map((f) => f.type));
		assert.ok(!types.has('chat_settings') && !types.has('typing'), `${name}: no settings or typing of B's users: ${[...types]}`);
		assert.ok(c.frames.filter((f) => f.type === 'chat_created').every((f) => f.chat.id === chatA.id), `${name}: chat_created only for A's chat`);
	}
	// B's own stream did get them (the test would see a leak)
	assert.ok(wsB.frames.some((f) => f.type === 'chat_settings'));
	assert.ok(wsB.frames.some((f) => f.type === 'chat_created' && f.chat.id === g2.id));

	// frames naming B's chats
	for (const [name, c] of Object.entries(wsA)) {
		for (const frame of [
			{ type: 'send', chat: chatB.id, text: 'intrusion' },
			{ type: 'read', chat: chatB.id, seq: 1 },
			{ type: 'edit', chat: chatB.id, seq: m.seq, text: 'pwned' },
			{ type: 'delete', chat: chatB.id, seq: m.seq },
			{ type: 'send', chat: dmB.id, text: 'intrusion' },
		]) {
			const f = await c.request(frame);
			assert.equal(f.type, 'error', `${name} ${frame.type} on B's chat: ${JSON.stringify(f)}`);
			assert.ok(f.code === 'not_found' || (name === 'api' && frame.type === 'read' && f.code === 'forbidden'), `${name} ${frame.type}: ${JSON.stringify(f)}`);
		}
		c.send({ type: 'typing', chat: chatB.id, id: 'ty' });
		const te = await c.next((f) => f.type === 'error' && f.id === 'ty');
		assert.equal(te.code, 'not_found');
	}
	assert.ok(!wsB.frames.some((f) => f.type === 'typing'), "A's typing never reaches B");
	// A's API token cannot follow B's user
	const bad = new WsClient(srv, { token: A.token, user: 'carol' });
	t.after(() => bad.terminate());
	const err = await bad.next('error');
	assert.equal(err.code, 'not_found');
	const closed = await bad.waitClosed();
	assert.ok(closed && closed.code >= 4000, `closed with an application code: ${JSON.stringify(closed)}`);
	// B unchanged by A's frames
	const hist = okv2(await B.call('GET', `/api/v2/chats/${chatB.id}/messages?limit=200`)).items;
	assert.ok(!hist.some((x) => x.text === 'intrusion' || x.text === 'pwned'));
	assert.equal(hist.find((x) => x.seq === m.seq).text, `edited ${SECRET_WORD}`);
	// a replay from pos 0 for A's users holds nothing of B
	const again = await wsConnect(t, srv, { token: tokA.alice, pos: 0 });
	await again.next((f) => f.type === 'message' && f.message.text === 'A marker');
	assert.ok(!again.frames.some((f) => JSON.stringify(f).includes(SECRET_WORD) || bChats.has(f.chat) || (f.message && bChats.has(f.message.chat))), 'replay is tenant-scoped');
});
