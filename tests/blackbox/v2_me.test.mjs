// GET /api/v2/me tells clients the server's limits, so that a composer counts
// against the real one (limits.text_max may differ from the default 4000).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { api, okv2, errv2, world } from './lib/v2.mjs';

test('me: limits for user and server tokens follow limits.text_max and limits.title_max', async (t) => {
	const { srv, a } = await world(t, { env: { HERALD_LIMITS_TEXT_MAX: '500', HERALD_LIMITS_TITLE_MAX: '80' } });
	await a.user('ann', 'Ann');
	const tok = await a.session('ann');
	const me = okv2(await api(srv, 'GET', '/api/v2/me', { token: tok }), 'me');
	assert.deepEqual(me.limits, { text_max: 500, title_max: 80 });
	assert.deepEqual(okv2(await a.call('GET', '/api/v2/me'), 'server me').limits, { text_max: 500, title_max: 80 });
	// and the server holds to them
	const chat = okv2(await a.call('POST', '/api/v2/chats', { body: { type: 'group', title: 'x', members: ['ann'] } }), 'chat', 201);
	okv2(await api(srv, 'POST', `/api/v2/chats/${chat.id}/messages`, { token: tok, body: { text: 'é'.repeat(500) } }), '500 characters', 201);
	const r = await api(srv, 'POST', `/api/v2/chats/${chat.id}/messages`, { token: tok, body: { text: 'é'.repeat(501) } });
	assert.ok(r.status === 413 || r.status === 422, `501 characters refused: ${r.status}`);

	const d = await world(t);
	assert.deepEqual(okv2(await d.a.call('GET', '/api/v2/me'), 'defaults').limits, { text_max: 4000, title_max: 256 });
	errv2(await api(d.srv, 'GET', '/api/v2/me'), 401, 'unauthorized');
});
