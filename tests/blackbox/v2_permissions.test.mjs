// The permission table at the top of src/svc/chat.c, walked for every kind of
// caller: the server (API token), a tenant admin, a dispatcher, and users
// with the chat roles owner, admin, member and reader, and a non-member.
// Over REST, then a subset over /ws (the same codes in error frames).
//
// A caller who may not even read a chat gets 404 (the chat is invisible, its
// existence is not leaked); one who may read but not act gets 403.

import test from 'node:test';
import assert from 'node:assert/strict';
import { world, okv2, api, wsConnect } from './lib/v2.mjs';

const ACTORS = ['server', 'tadmin', 'disp', 'owner', 'cadmin', 'member', 'reader', 'outsider'];
const CODE = { 403: 'forbidden', 404: 'not_found', 409: 'conflict', 422: 'field_invalid' };

/**
 * A tenant with every kind of caller and a group chat P in which owner,
 * cadmin, member, reader and victim have those roles; tadmin (tenant admin),
 * disp (dispatcher) and outsider are not members.
 */
async function setup(t) {
	const { srv, a } = await world(t);
	const tok = await a.users({
		tadmin: ['admin'],
		disp: ['dispatcher'],
		owner: ['staff'],
		cadmin: ['staff'],
		member: ['staff'],
		reader: ['staff'],
		outsider: ['staff'],
		victim: ['staff'],
		x: ['staff'],
	});
	tok.server = a.token;
	const chat = await a.group('P', [
		{ user: 'owner', role: 'owner' },
		{ user: 'cadmin', role: 'admin' },
		{ user: 'member', role: 'member' },
		{ user: 'reader', role: 'reader' },
		{ user: 'victim', role: 'member' },
	]);
	const call = (actor, method, p, body) => api(srv, method, p, { token: tok[actor], body });
	return { srv, a, tok, chat, call };
}

/** Asserts the outcome of one cell of the table. */
function expect(res, status, what) {
	assert.equal(res.status, status, `${what}: expected ${status}, got ${res.status}: ${res.text.slice(0, 300)}`);
	if (status >= 400) {
		assert.equal(res.json && res.json.error && res.json.error.code, CODE[status], `${what}: error code: ${res.text}`);
	}
}

/** Runs f(actor) for each actor and checks the status against the row. */
async function row(name, expected, f) {
	for (const actor of Object.keys(expected)) {
		const res = await f(actor);
		expect(res, expected[actor], `${name} by ${actor}`);
	}
}

test('permissions: create group chats (server, tenant admin, dispatcher) and direct chats (any active user)', async (t) => {
	const { call } = await setup(t);
	await row(
		'create group',
		{ server: 201, tadmin: 201, disp: 201, owner: 403, cadmin: 403, member: 403, reader: 403, outsider: 403 },
		(actor) => call(actor, 'POST', '/api/v2/chats', { type: 'group', title: `by ${actor}`, members: ['x'] }),
	);
	// a user who creates a group owns it
	const own = okv2(await call('disp', 'POST', '/api/v2/chats', { type: 'group', title: 'mine' }), 'disp group', 201);
	const members = okv2(await call('disp', 'GET', `/api/v2/chats/${own.id}/members`)).items;
	assert.deepEqual(members.map((m) => `${m.id}:${m.role}`), ['disp:owner']);
	// the server's group has no implicit owner
	const srvGroup = okv2(await call('server', 'POST', '/api/v2/chats', { type: 'group', title: 'srv', members: ['x'] }), 'server group', 201);
	assert.deepEqual(okv2(await call('server', 'GET', `/api/v2/chats/${srvGroup.id}/members`)).items.map((m) => `${m.id}:${m.role}`), ['x:member']);

	for (const actor of ACTORS.filter((x) => x !== 'server')) {
		const r = await call(actor, 'POST', '/api/v2/chats', { type: 'direct', members: ['x'] });
		assert.ok(r.status === 201, `direct chat by ${actor}: ${r.status} ${r.text}`);
	}
	expect(await call('server', 'POST', '/api/v2/chats', { type: 'direct', members: ['owner', 'outsider'] }), 201, 'direct by server');
	expect(await call('server', 'POST', '/api/v2/chats', { type: 'direct', members: ['owner'] }), 422, 'direct by server naming one');
	// a deactivated user cannot be the other person
	okv2(await call('server', 'DELETE', '/api/v2/users/victim'), 'deactivate victim');
	expect(await call('member', 'POST', '/api/v2/chats', { type: 'direct', members: ['victim'] }), 409, 'direct with a deactivated user');
});

test('permissions: read, post and rename', async (t) => {
	const { chat, call } = await setup(t);
	const c = `/api/v2/chats/${chat.id}`;
	const READ = { server: 200, tadmin: 200, disp: 404, owner: 200, cadmin: 200, member: 200, reader: 200, outsider: 404 };
	await row('GET chat', READ, (actor) => call(actor, 'GET', c));
	await row('GET history', READ, (actor) => call(actor, 'GET', `${c}/messages`));
	await row('GET members', READ, (actor) => call(actor, 'GET', `${c}/members`));
	// invisible is the same as missing
	const missing = await call('outsider', 'GET', '/api/v2/chats/987654');
	const hidden = await call('outsider', 'GET', c);
	assert.deepEqual([hidden.status, hidden.json.error.code], [missing.status, missing.json.error.code]);

	await row(
		'post',
		{ server: 201, tadmin: 403, disp: 404, owner: 201, cadmin: 201, member: 201, reader: 403, outsider: 404 },
		(actor) => call(actor, 'POST', `${c}/messages`, { text: `from ${actor}` }),
	);
	const hist = okv2(await call('server', 'GET', `${c}/messages`)).items.filter((m) => m.kind === 'text');
	assert.deepEqual(hist.map((m) => m.text).sort(), ['from cadmin', 'from member', 'from owner', 'from server'].sort(), 'only the allowed posts exist');
	assert.equal(hist.find((m) => m.text === 'from server').sender, null, 'the server posts as the system');
	// ¹ a tenant admin who is also a member may post
	expect(await call('server', 'POST', `${c}/members`, { user: 'tadmin' }), 201, 'add tadmin');
	expect(await call('tadmin', 'POST', `${c}/messages`, { text: 'admin as member' }), 201, 'post by tadmin as member');
	// the server posts on behalf of a member, not of a stranger
	const onBehalf = okv2(await call('server', 'POST', `${c}/messages`, { text: 'for member', sender: 'member' }), 'on behalf', 201);
	assert.equal(onBehalf.sender, 'member');
	expect(await call('server', 'POST', `${c}/messages`, { text: 'for outsider', sender: 'outsider' }), 403, 'on behalf of a non-member');

	await row(
		'rename',
		{ server: 200, tadmin: 200, disp: 404, owner: 200, cadmin: 200, member: 403, reader: 403, outsider: 404 },
		(actor) => call(actor, 'PATCH', c, { title: `renamed by ${actor}` }),
	);
	assert.equal(okv2(await call('server', 'GET', c)).title, 'renamed by cadmin', 'the last allowed rename won');
});

test('permissions: delete and restore a chat (server, tenant admin, owner)', async (t) => {
	const { chat, call } = await setup(t);
	const c = `/api/v2/chats/${chat.id}`;
	const row_ = { server: 200, tadmin: 200, disp: 404, owner: 200, cadmin: 403, member: 403, reader: 403, outsider: 404 };
	for (const actor of Object.keys(row_)) {
		expect(await call(actor, 'DELETE', c), row_[actor], `delete by ${actor}`);
		if (row_[actor] === 200) {
			assert.equal(okv2(await call('server', 'GET', c)).deleted, true, `deleted by ${actor}`);
			expect(await call(actor, 'POST', `${c}/restore`), 200, `restore by ${actor}`);
		} else {
			assert.equal(okv2(await call('server', 'GET', c)).deleted, false, `${actor} did not delete`);
			expect(await call('server', 'DELETE', c), 200, 'server deletes');
			expect(await call(actor, 'POST', `${c}/restore`), row_[actor], `restore by ${actor}`);
			expect(await call('server', 'POST', `${c}/restore`), 200, 'server restores');
		}
		assert.equal(okv2(await call('server', 'GET', c)).deleted, false);
	}
});

test('permissions: add and remove members; a chat admin cannot touch owners; members and readers may leave', async (t) => {
	const { chat, call } = await setup(t);
	const c = `/api/v2/chats/${chat.id}`;
	const row_ = { server: 201, tadmin: 201, disp: 404, owner: 201, cadmin: 201, member: 403, reader: 403, outsider: 404 };
	for (const actor of Object.keys(row_)) {
		expect(await call(actor, 'POST', `${c}/members`, { user: 'x' }), row_[actor], `add by ${actor}`);
		if (row_[actor] === 201) {
			expect(await call(actor, 'DELETE', `${c}/members/x`), 200, `remove by ${actor}`);
		} else {
			expect(await call('server', 'POST', `${c}/members`, { user: 'x' }), 201, 'server adds x');
			expect(await call(actor, 'DELETE', `${c}/members/x`), row_[actor] === 201 ? 200 : row_[actor], `remove by ${actor}`);
			expect(await call(actor, 'PATCH', `${c}/members/x`, { role: 'admin' }), row_[actor], `re-role by ${actor}`);
			expect(await call('server', 'DELETE', `${c}/members/x`), 200, 'server removes x');
		}
	}
	const roles = async () => Object.fromEntries(okv2(await call('server', 'GET', `${c}/members`)).items.map((m) => [m.id, m.role]));
	// ² a chat admin manages members and readers, not owners, and makes no owners
	expect(await call('cadmin', 'DELETE', `${c}/members/owner`), 403, 'chat admin removes the owner');
	expect(await call('cadmin', 'PATCH', `${c}/members/owner`, { role: 'member' }), 403, 'chat admin demotes the owner');
	expect(await call('cadmin', 'PATCH', `${c}/members/reader`, { role: 'owner' }), 403, 'chat admin makes an owner');
	expect(await call('cadmin', 'POST', `${c}/members`, { user: 'x', role: 'owner' }), 403, 'chat admin adds an owner');
	expect(await call('cadmin', 'PATCH', `${c}/members/reader`, { role: 'member' }), 200, 'chat admin promotes a reader');
	expect(await call('cadmin', 'PATCH', `${c}/members/reader`, { role: 'reader' }), 200, 'and back');
	expect(await call('cadmin', 'POST', `${c}/members`, { user: 'x', role: 'admin' }), 201, 'chat admin adds an admin');
	assert.deepEqual(await roles(), { owner: 'owner', cadmin: 'admin', member: 'member', reader: 'reader', victim: 'member', x: 'admin' });
	// the owner and the tenant admin can make owners
	expect(await call('owner', 'PATCH', `${c}/members/x`, { role: 'owner' }), 200, 'owner makes an owner');
	expect(await call('cadmin', 'DELETE', `${c}/members/x`), 403, 'chat admin removes the new owner');
	expect(await call('tadmin', 'PATCH', `${c}/members/x`, { role: 'member' }), 200, 'tenant admin demotes an owner');
	// ³ members and readers may leave, not remove others
	expect(await call('member', 'DELETE', `${c}/members/victim`), 403, 'member removes another');
	expect(await call('reader', 'DELETE', `${c}/members/reader`), 200, 'reader leaves');
	expect(await call('member', 'DELETE', `${c}/members/member`), 200, 'member leaves');
	expect(await call('member', 'GET', c), 404, 'gone after leaving');
	expect(await call('reader', 'POST', `${c}/members`, { user: 'reader' }), 404, 'cannot rejoin');
	assert.deepEqual(await roles(), { owner: 'owner', cadmin: 'admin', victim: 'member', x: 'member' });
	expect(await call('owner', 'DELETE', `${c}/members/nobody`), 404, 'remove an unknown user');
	expect(await call('owner', 'DELETE', `${c}/members/outsider`), 404, 'remove a non-member');
	expect(await call('owner', 'PATCH', `${c}/members/victim`, { role: 'boss' }), 422, 'unknown chat role');
});

test('permissions: edit own and others\' messages (only the server edits others\')', async (t) => {
	const { chat, call } = await setup(t);
	const c = `/api/v2/chats/${chat.id}`;
	const post = async (actor, text) => okv2(await call(actor, 'POST', `${c}/messages`, { text }), `post by ${actor}`, 201).seq;
	// own messages
	for (const actor of ['server', 'owner', 'cadmin', 'member']) {
		const seq = await post(actor, `own ${actor}`);
		const r = await call(actor, 'PATCH', `${c}/messages/${seq}`, { text: `own ${actor} (edited)` });
		expect(r, 200, `edit own by ${actor}`);
		assert.equal(r.json.text, `own ${actor} (edited)`);
	}
	// a reader's own message (written while a member) stays as it is
	const rseq = await post('victim', 'victim wrote this');
	expect(await call('server', 'PATCH', `${c}/members/victim`, { role: 'reader' }), 200, 'victim demoted to reader');
	expect(await call('victim', 'PATCH', `${c}/messages/${rseq}`, { text: 'changed' }), 403, 'edit own by a reader');
	// others' messages
	const other = await post('member', 'written by member');
	await row(
		'edit others',
		{ tadmin: 403, disp: 404, owner: 403, cadmin: 403, reader: 403, outsider: 404, server: 200 },
		(actor) => call(actor, 'PATCH', `${c}/messages/${other}`, { text: `changed by ${actor}` }),
	);
	const ownerMsg = await post('owner', 'written by owner');
	expect(await call('member', 'PATCH', `${c}/messages/${ownerMsg}`, { text: 'x' }), 403, 'edit others by member');
	const hist = Object.fromEntries(okv2(await call('server', 'GET', `${c}/messages`)).items.map((m) => [m.seq, m.text]));
	assert.equal(hist[other], 'changed by server');
	assert.equal(hist[ownerMsg], 'written by owner');
	assert.equal(hist[rseq], 'victim wrote this');
	// system messages are nobody's to edit
	const sys = okv2(await call('server', 'GET', `${c}/messages`)).items.find((m) => m.kind === 'system');
	expect(await call('server', 'PATCH', `${c}/messages/${sys.seq}`, { text: 'x' }), 403, 'edit a system message');
});

test('permissions: delete own and others\' messages', async (t) => {
	const { chat, call } = await setup(t);
	const c = `/api/v2/chats/${chat.id}`;
	const post = async (actor, text) => okv2(await call(actor, 'POST', `${c}/messages`, { text }), `post by ${actor}`, 201).seq;
	for (const actor of ['server', 'owner', 'cadmin', 'member']) {
		const seq = await post(actor, `own ${actor}`);
		expect(await call(actor, 'DELETE', `${c}/messages/${seq}`), 200, `delete own by ${actor}`);
	}
	const rseq = await post('victim', 'victim wrote this');
	expect(await call('server', 'PATCH', `${c}/members/victim`, { role: 'reader' }), 200, 'victim demoted');
	expect(await call('victim', 'DELETE', `${c}/messages/${rseq}`), 403, 'delete own by a reader');
	const expected = { server: 200, tadmin: 200, disp: 404, owner: 200, cadmin: 200, member: 403, reader: 403, outsider: 404 };
	for (const actor of Object.keys(expected)) {
		const author = actor === 'cadmin' ? 'owner' : 'cadmin';
		const seq = await post(author, `by ${author} for ${actor}`);
		expect(await call(actor, 'DELETE', `${c}/messages/${seq}`), expected[actor], `delete others by ${actor}`);
	}
	// ² a chat admin deletes even an owner's message (the table's "delete others'")
	const items = okv2(await call('server', 'GET', `${c}/messages?limit=200`)).items;
	const byText = Object.fromEntries(items.filter((m) => m.kind === 'text' || m.deleted).map((m) => [m.seq, m]));
	assert.equal(byText[rseq].deleted, false, "the reader's message survived");
	const left = items.filter((m) => !m.deleted && m.kind === 'text').map((m) => m.text).sort();
	assert.deepEqual(left, ['by cadmin for disp', 'by cadmin for member', 'by cadmin for outsider', 'by cadmin for reader', 'victim wrote this'].sort());
});

test('permissions over /ws: send, edit and delete frames answer with the same error codes', async (t) => {
	const { srv, tok, chat, call } = await setup(t);
	const ws = {};
	for (const actor of ['owner', 'cadmin', 'member', 'reader', 'outsider', 'tadmin']) ws[actor] = await wsConnect(t, srv, { token: tok[actor] });
	const send = async (actor, frame) => ws[actor].request({ chat: chat.id, ...frame });
	const outcome = (f) => (f.type === 'ack' ? 'ack' : f.code);

	const sendRow = { owner: 'ack', cadmin: 'ack', member: 'ack', reader: 'forbidden', outsider: 'not_found', tadmin: 'forbidden' };
	const seqs = {};
	for (const [actor, want] of Object.entries(sendRow)) {
		const f = await send(actor, { type: 'send', text: `ws ${actor}` });
		assert.equal(outcome(f), want, `send by ${actor}: ${JSON.stringify(f)}`);
		if (f.type === 'error') assert.ok(f.message.length > 3, 'an error frame has a message');
		if (f.type === 'ack') seqs[actor] = f.result.seq;
	}
	// the server's stream for a user (API token + user) posts on their behalf
	const asMember = await wsConnect(t, srv, { token: tok.server, user: 'member' });
	assert.equal(asMember.helloFrame.user.id, 'member');
	const bySrv = await asMember.request({ type: 'send', chat: chat.id, text: 'server for member' });
	assert.equal(bySrv.type, 'ack', JSON.stringify(bySrv));
	assert.equal(bySrv.result.sender, 'member');
	const asOutsider = await wsConnect(t, srv, { token: tok.server, user: 'outsider' });
	assert.equal(outcome(await asOutsider.request({ type: 'send', chat: chat.id, text: 'x' })), 'forbidden', 'server for a non-member');

	const editRow = { owner: 'forbidden', cadmin: 'forbidden', reader: 'forbidden', outsider: 'not_found', tadmin: 'forbidden' };
	for (const [actor, want] of Object.entries(editRow)) {
		const f = await send(actor, { type: 'edit', seq: seqs.member, text: `edited by ${actor}` });
		assert.equal(outcome(f), want, `edit member's message by ${actor}: ${JSON.stringify(f)}`);
	}
	const own = await send('member', { type: 'edit', seq: seqs.member, text: 'edited by member' });
	assert.equal(outcome(own), 'ack');
	assert.equal(own.result.text, 'edited by member');

	const delRow = { member: 'forbidden', reader: 'forbidden', outsider: 'not_found' };
	for (const [actor, want] of Object.entries(delRow)) {
		const f = await send(actor, { type: 'delete', seq: seqs.owner });
		assert.equal(outcome(f), want, `delete owner's message by ${actor}: ${JSON.stringify(f)}`);
	}
	assert.equal(outcome(await send('cadmin', { type: 'delete', seq: seqs.owner })), 'ack', 'chat admin deletes others');
	assert.equal(outcome(await send('tadmin', { type: 'delete', seq: seqs.cadmin })), 'ack', 'tenant admin deletes others');
	assert.equal(outcome(await send('member', { type: 'delete', seq: seqs.member })), 'ack', 'member deletes own');
	assert.equal(outcome(await send('member', { type: 'delete', seq: seqs.member })), 'not_found', 'twice');
	// REST agrees with what the frames did
	const hist = Object.fromEntries(okv2(await call('server', 'GET', `/api/v2/chats/${chat.id}/messages`)).items.map((m) => [m.seq, m]));
	assert.equal(hist[seqs.owner].deleted, true);
	assert.equal(hist[seqs.cadmin].deleted, true);
	assert.equal(hist[seqs.member].deleted, true);
	assert.ok(!Object.values(hist).some((m) => /ws reader|ws outsider|ws tadmin/.test(m.text)), 'refused sends left nothing');
	// permission errors are answers, not abuse: the connection stays open
	assert.equal(ws.outsider.closeCode, null);
	ws.outsider.send({ type: 'ping', id: 'p1' });
	assert.equal((await ws.outsider.next((f) => f.type === 'pong')).id, 'p1');
});
