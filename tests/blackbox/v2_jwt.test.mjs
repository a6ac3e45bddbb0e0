// Host-signed JWTs (HS256 with the tenant's secret from
// POST /api/v2/tenant/jwt-secret): a valid token authenticates REST and /ws
// and creates the user on first use; every malformed, expired, early,
// mis-addressed or forged token is 401 unauthorized; deactivated users can
// use neither sessions nor JWTs. (The RFC 7515 A.1 vector is in the C unit
// tests.)

import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { login } from './lib/harness.mjs';
import { world, okv2, errv2, api, wsConnect, WsClient, signJwt, jwtSecret, nowS, b64url, isMsg } from './lib/v2.mjs';

test('a valid JWT authenticates REST and /ws and creates the user on first use (name and roles from the claims)', async (t) => {
	const { srv, a } = await world(t);
	const { secret, iss } = await jwtSecret(a);
	const jwt = signJwt(secret, { iss, sub: 'u-1001', name: 'Ольга Диспетчер', roles: ['dispatcher'], exp: nowS() + 300, iat: nowS() });
	errv2(await a.call('GET', '/api/v2/users/u-1001'), 404, 'not_found', 'not there before');
	const me = okv2(await api(srv, 'GET', '/api/v2/me', { token: jwt }), 'me');
	assert.equal(me.kind, 'user');
	assert.equal(me.tenant.inn, a.inn);
	assert.equal(me.user.id, 'u-1001');
	assert.equal(me.user.name, 'Ольга Диспетчер');
	assert.deepEqual(me.user.roles, ['dispatcher']);
	const u = okv2(await a.call('GET', '/api/v2/users/u-1001'), 'created');
	assert.equal(u.active, true);
	assert.deepEqual(u.roles, ['dispatcher']);
	// the role counts: a dispatcher creates groups
	await a.user('bob', 'Bob');
	const g = okv2(await api(srv, 'POST', '/api/v2/chats', { token: jwt, body: { type: 'group', title: 'JWT group', members: ['bob'] } }), 'group', 201);
	// over /ws, in the URL and in the auth frame
	const ws = await wsConnect(t, srv, { token: jwt });
	assert.deepEqual(ws.helloFrame.user, { id: 'u-1001', name: 'Ольга Диспетчер' });
	const ack = await ws.request({ type: 'send', chat: g.id, text: 'signed' });
	assert.equal(ack.type, 'ack', JSON.stringify(ack));
	assert.equal(ack.result.sender, 'u-1001');
	await ws.next(isMsg(g.id, 'signed'));
	const viaFrame = new WsClient(srv, {});
	t.after(() => viaFrame.terminate());
	await viaFrame.opened;
	viaFrame.send({ type: 'auth', token: jwt });
	assert.equal((await viaFrame.hello()).user.id, 'u-1001');

	// later tokens keep name and roles in step; no roles claim keeps the roles
	const renamed = signJwt(secret, { iss, sub: 'u-1001', name: 'Ольга Петровна', roles: ['admin', 'dispatcher'], exp: nowS() + 300 });
	const me2 = okv2(await api(srv, 'GET', '/api/v2/me', { token: renamed }));
	assert.equal(me2.user.name, 'Ольга Петровна');
	assert.deepEqual(me2.user.roles, ['admin', 'dispatcher']);
	const bare = signJwt(secret, { iss, sub: 'u-1001', exp: nowS() + 300 });
	const me3 = okv2(await api(srv, 'GET', '/api/v2/me', { token: bare }));
	assert.equal(me3.user.name, 'Ольга Петровна');
	assert.deepEqual(me3.user.roles, ['admin', 'dispatcher']);
	// a new user without name and roles: the sub is the name, the role is staff
	const plain = okv2(await api(srv, 'GET', '/api/v2/me', { token: signJwt(secret, { iss, sub: 'u-2', exp: nowS() + 300 }) }));
	assert.equal(plain.user.name, 'u-2');
	assert.deepEqual(plain.user.roles, ['staff']);
	errv2(await api(srv, 'POST', '/api/v2/chats', { token: signJwt(secret, { iss, sub: 'u-2', exp: nowS() + 300 }), body: { type: 'group', title: 'x' } }), 403, 'forbidden', 'staff cannot create groups');
	// a user created by the host (PUT) is the same user for the JWT
	const bobJwt = signJwt(secret, { iss, sub: 'bob', exp: nowS() + 300 });
	const list = okv2(await api(srv, 'GET', '/api/v2/chats', { token: bobJwt })).items;
	assert.deepEqual(list.map((c) => c.id), [g.id]);
	assert.equal(okv2(await a.call('GET', '/api/v2/users?limit=200')).items.length, 3, 'bob, u-1001, u-2');
});

test('401 unauthorized for expired, early, forged, tampered, alg none and malformed tokens (REST and /ws)', async (t) => {
	const { srv, a } = await world(t);
	const { secret, iss } = await jwtSecret(a);
	await a.user('alice', 'Alice');
	const now = nowS();
	const good = { iss, sub: 'alice', exp: now + 300 };
	const sign = (claims, opts) => signJwt(secret, claims, opts);
	const [h, p, s] = sign(good).split('.');
	const forgedPayload = b64url(JSON.stringify({ ...good, sub: 'mallory', roles: ['admin'] }));
	const otherKey = crypto.randomBytes(32);
	const bad = {
		expired: sign({ ...good, exp: now - 60 }),
		'expired long ago': sign({ ...good, exp: 1000000000 }),
		'not yet valid': sign({ ...good, nbf: now + 120 }),
		'no exp': sign({ iss, sub: 'alice' }),
		'exp as a string': sign({ ...good, exp: String(now + 300) }),
		'no sub': sign({ iss, exp: now + 300 }),
		'empty sub': sign({ ...good, sub: '' }),
		'unknown iss': sign({ ...good, iss: '5000000001' }),
		'iss not an INN': sign({ ...good, iss: 'herald' }),
		'wrong key': signJwt(otherKey, good),
		'tampered payload': `${h}.${forgedPayload}.${s}`,
		'tampered signature': `${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`,
		'alg none': `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`,
		'alg none with a signature': `${b64url(JSON.stringify({ alg: 'none' }))}.${p}.${s}`,
		'alg HS512': sign(good, { header: { alg: 'HS512', typ: 'JWT' } }),
		'alg RS256': sign(good, { header: { alg: 'RS256', typ: 'JWT' } }),
		'no alg': sign(good, { header: { typ: 'JWT' } }),
		'crit header': sign(good, { header: { alg: 'HS256', crit: ['exp'] } }),
		'duplicate sub': signJwt(secret, `{"iss":"${iss}","sub":"nobody","sub":"alice","exp":${now + 300}}`),
		'payload not JSON': signJwt(secret, 'not json'),
		'two parts': `${h}.${p}`,
		'four parts': `${h}.${p}.${s}.x`,
		'padding in base64url': `${h}.${p}=.${s}`,
		garbage: 'a.b.c',
		'bad roles': sign({ ...good, roles: ['Admin!'] }),
	};
	for (const [what, token] of Object.entries(bad)) {
		const r = await api(srv, 'GET', '/api/v2/me', { token });
		errv2(r, 401, 'unauthorized', what);
		assert.ok(!r.text.includes('alice') && !r.text.includes('Alice'), `${what}: nothing about the user leaks`);
	}
	// the same on a write route
	errv2(await api(srv, 'POST', '/api/v2/chats', { token: bad['tampered payload'], body: { type: 'direct', members: ['alice'] } }), 401, 'unauthorized', 'tampered on POST');
	// nobody was created by any of them
	const users = okv2(await a.call('GET', '/api/v2/users?limit=200')).items.map((u) => u.id);
	assert.deepEqual(users, ['alice'], 'no user was created from a refused token');
	// within the 5 s leeway it is still fine
	okv2(await api(srv, 'GET', '/api/v2/me', { token: sign({ ...good, exp: now - 2 }) }), 'expired 2 s ago (leeway)');
	okv2(await api(srv, 'GET', '/api/v2/me', { token: sign({ ...good, nbf: now + 2 }) }), 'valid in 2 s (leeway)');
	okv2(await api(srv, 'GET', '/api/v2/me', { token: sign({ ...good, aud: 'anyone' }) }), 'aud is not checked when not configured');
	// over /ws: an error frame and close 4401
	for (const what of ['expired', 'wrong key', 'alg none', 'tampered payload']) {
		const c = new WsClient(srv, { token: bad[what] });
		t.after(() => c.terminate());
		await c.opened;
		const err = await c.next('error');
		assert.equal(err.code, 'unauthorized', what);
		const closed = await c.waitClosed(5000);
		assert.equal(closed && closed.code, 4401, `${what}: closed with 4401`);
	}
	// rotating the secret retires tokens signed with the old one
	const fresh = await jwtSecret(a);
	assert.notEqual(fresh.secret, secret);
	errv2(await api(srv, 'GET', '/api/v2/me', { token: sign(good) }), 401, 'unauthorized', 'old secret after rotation');
	okv2(await api(srv, 'GET', '/api/v2/me', { token: signJwt(fresh.secret, good) }), 'new secret');
});

test('a tenant without a JWT secret accepts no JWT; only the server may rotate it', async (t) => {
	const { srv, a } = await world(t);
	await a.user('alice', 'Alice');
	const session = await a.session('alice');
	const someKey = b64url(crypto.randomBytes(32));
	errv2(await api(srv, 'GET', '/api/v2/me', { token: signJwt(someKey, { iss: a.inn, sub: 'alice', exp: nowS() + 60 }) }), 401, 'unauthorized', 'no secret yet');
	errv2(await api(srv, 'POST', '/api/v2/tenant/jwt-secret', { token: session }), 403, 'forbidden', 'a user rotates');
	errv2(await api(srv, 'POST', '/api/v2/tenant/jwt-secret'), 401, 'unauthorized', 'nobody rotates');
});

test('audience: with auth.jwt_audience set, a token must name it', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_AUTH_JWT_AUDIENCE: 'herald-test' } });
	const { secret, iss } = await jwtSecret(a);
	const base = { iss, sub: 'aud-user', exp: nowS() + 300 };
	okv2(await api(srv, 'GET', '/api/v2/me', { token: signJwt(secret, { ...base, aud: 'herald-test' }) }), 'aud string');
	okv2(await api(srv, 'GET', '/api/v2/me', { token: signJwt(secret, { ...base, aud: ['other', 'herald-test'] }) }), 'aud array');
	for (const [what, aud] of Object.entries({ 'wrong audience': 'herald-prod', 'no audience': undefined, 'array without it': ['a', 'b'], 'case differs': 'Herald-Test', 'number': 7 })) {
		const token = signJwt(secret, aud === undefined ? base : { ...base, aud });
		errv2(await api(srv, 'GET', '/api/v2/me', { token }), 401, 'unauthorized', what);
	}
	const c = new WsClient(srv, { token: signJwt(secret, { ...base, aud: 'herald-prod' }) });
	t.after(() => c.terminate());
	await c.opened;
	assert.equal((await c.next('error')).code, 'unauthorized');
	assert.equal((await c.waitClosed(5000)).code, 4401);
});

test('a deactivated user can no longer use sessions or JWTs; reactivation lets JWTs in again', async (t) => {
	const { srv, a } = await world(t);
	const { secret, iss } = await jwtSecret(a);
	await a.user('carl', 'Carl', ['staff']);
	const session = await a.session('carl');
	const jwt = signJwt(secret, { iss, sub: 'carl', exp: nowS() + 300 });
	okv2(await api(srv, 'GET', '/api/v2/me', { token: session }), 'session before');
	okv2(await api(srv, 'GET', '/api/v2/me', { token: jwt }), 'JWT before');
	const d = okv2(await a.call('DELETE', '/api/v2/users/carl'), 'deactivate');
	assert.equal(d.active, false);
	for (const [what, token] of Object.entries({ session, jwt })) {
		errv2(await api(srv, 'GET', '/api/v2/me', { token }), 401, 'unauthorized', `${what} after deactivation`);
		errv2(await api(srv, 'GET', '/api/v2/chats', { token }), 401, 'unauthorized', `${what} list after deactivation`);
		const c = new WsClient(srv, { token });
		t.after(() => c.terminate());
		await c.opened;
		assert.equal((await c.next('error')).code, 'unauthorized', `${what} on /ws`);
		assert.equal((await c.waitClosed(5000)).code, 4401);
	}
	// a JWT cannot bring the user back, nor change them
	errv2(await api(srv, 'GET', '/api/v2/me', { token: signJwt(secret, { iss, sub: 'carl', name: 'Carl II', roles: ['admin'], exp: nowS() + 300 }) }), 401, 'unauthorized', 'JWT with new claims');
	const still = okv2(await a.call('GET', '/api/v2/users/carl'));
	assert.equal(still.active, false);
	assert.equal(still.name, 'Carl');
	errv2(await a.call('POST', '/api/v2/sessions', { body: { user: 'carl' } }), 409, 'conflict', 'no new session for a deactivated user');
	// the host reactivates: JWTs work again, the old session stays revoked
	okv2(await a.call('PUT', '/api/v2/users/carl', { body: { active: true } }), 'reactivate');
	okv2(await api(srv, 'GET', '/api/v2/me', { token: jwt }), 'JWT after reactivation');
	errv2(await api(srv, 'GET', '/api/v2/me', { token: session }), 401, 'unauthorized', 'the old session stays revoked');
});

test("deactivation ends the user's open /ws connections", async (t) => {
	const { srv, a } = await world(t);
	const { secret, iss } = await jwtSecret(a);
	const tok = await a.users({ dana: ['staff'], eve: ['staff'] });
	const dm = okv2(await api(srv, 'POST', '/api/v2/chats', { token: tok.eve, body: { type: 'direct', members: ['dana'] } }), 'direct', 201);
	const control = await wsConnect(t, srv, { token: tok.eve });
	const viaSession = await wsConnect(t, srv, { token: tok.dana });
	const viaJwt = await wsConnect(t, srv, { token: signJwt(secret, { iss, sub: 'dana', exp: nowS() + 300 }) });
	okv2(await a.call('DELETE', '/api/v2/users/dana'), 'deactivate dana');
	await api(srv, 'POST', `/api/v2/chats/${dm.id}/messages`, { token: tok.eve, body: { text: 'for dana after deactivation' } });
	// delivery works: the active member's stream has it
	await control.next((f) => f.type === 'message' && f.message.text === 'for dana after deactivation');
	await new Promise((r) => setTimeout(r, 300));
	for (const [what, c] of Object.entries({ viaSession, viaJwt })) {
		const got = c.frames.filter((f) => f.type === 'message' && f.message.text === 'for dana after deactivation');
		assert.deepEqual(got, [], `${what}: a deactivated user's open stream receives no new messages`);
	}
});

test('a JWT cannot create a second user with the public id of an existing employee (sub "staff-N")', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_SMS_RESEND_COOLDOWN: '0s' } });
	const e = await login(srv.url, srv.dataDir, a.inn, '+79231112299', 'Настоящий сотрудник');
	const { secret, iss } = await jwtSecret(a);
	const r = await api(srv, 'GET', '/api/v2/me', { token: signJwt(secret, { iss, sub: `staff-${e.staffid}`, name: 'Impostor', exp: nowS() + 300 }) });
	// PUT /api/v2/users refuses ids starting with "staff-"; a JWT must either be refused or mean that very employee
	assert.ok(r.status === 401 || (r.status === 200 && r.json.user.staff_id === e.staffid), `JWT sub staff-${e.staffid}: ${r.status} ${r.text}`);
	const ids = okv2(await a.call('GET', '/api/v2/users?limit=200')).items.map((u) => u.id);
	assert.equal(new Set(ids).size, ids.length, `public user ids are unique: ${ids}`);
	errv2(await a.call('PUT', `/api/v2/users/staff-${e.staffid}`, { body: { name: 'x' } }), 422, 'field_invalid', 'PUT refuses the staff- prefix');
});
