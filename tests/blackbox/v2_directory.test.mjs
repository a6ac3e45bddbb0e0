// The people directory (GET /api/v2/directory): any user of a tenant looks up
// active colleagues by name or id for new chats and member pickers; contact
// data stays with the host's GET /api/v2/users.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { api, okv2, errv2, world, makeTenant } from './lib/v2.mjs';

test('directory: search by name or id, name order, paging, only active users, no contact data', async (t) => {
	const { srv, a } = await world(t);
	const names = { 'emp-1': 'Zoe Adams', 'emp-2': 'anna Berg', 'emp-3': 'Anna Schmidt', 'emp-4': 'Boris Petrov', 'emp-5': 'Carla Diaz' };
	for (const [id, name] of Object.entries(names)) await a.user(id, name, ['staff'], { phone: `+4915100000${id.slice(-1)}` });
	const tok = await a.session('emp-1');
	okv2(await api(srv, 'DELETE', '/api/v2/users/emp-5', { token: a.token }), 'deactivate');

	const all = okv2(await api(srv, 'GET', '/api/v2/directory?limit=200', { token: tok }));
	// SQLite orders by bytes: upper case before lower case
	assert.deepEqual(all.items.map((p) => p.name), ['Anna Schmidt', 'Boris Petrov', 'Zoe Adams', 'anna Berg']);
	assert.equal(all.next_cursor, null);
	for (const p of all.items) assert.deepEqual(Object.keys(p).sort(), ['avatar_url', 'id', 'name'], 'no phone, roles or staff id');
	assert.ok(!all.items.some((p) => p.id === 'emp-5'), 'deactivated users are not listed');

	const anna = okv2(await api(srv, 'GET', '/api/v2/directory?q=ANNA', { token: tok }));
	assert.deepEqual(anna.items.map((p) => p.id), ['emp-3', 'emp-2'], 'any case');
	const byId = okv2(await api(srv, 'GET', '/api/v2/directory?q=emp-4', { token: tok }));
	assert.deepEqual(byId.items.map((p) => p.name), ['Boris Petrov']);
	const pct = okv2(await api(srv, 'GET', `/api/v2/directory?q=${encodeURIComponent('%')}`, { token: tok }));
	assert.equal(pct.items.length, 0, 'no wildcards');

	// two per page
	const seen = [];
	let cursor = '';
	for (let i = 0; i < 5; i++) {
		const page = okv2(await api(srv, 'GET', `/api/v2/directory?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { token: tok }));
		seen.push(...page.items.map((p) => p.name));
		if (!page.next_cursor) break;
		cursor = page.next_cursor;
	}
	assert.deepEqual(seen, ['Anna Schmidt', 'Boris Petrov', 'Zoe Adams', 'anna Berg']);

	errv2(await api(srv, 'GET', '/api/v2/directory?cursor=abc', { token: tok }), 422, 'field_invalid');
	// a search longer than 511 bytes is refused, not read as "everyone"
	const long = await api(srv, 'GET', `/api/v2/directory?q=${'a'.repeat(600)}`, { token: tok });
	errv2(long, 422, 'field_invalid');
	assert.match(long.json.error.message, /q \(at most 511 bytes\)/);
	assert.equal(okv2(await api(srv, 'GET', `/api/v2/directory?q=${'a'.repeat(511)}`, { token: tok })).items.length, 0);
	errv2(await api(srv, 'GET', '/api/v2/directory'), 401, 'unauthorized');
	// the server token works too; another tenant sees only its own people
	assert.equal(okv2(await api(srv, 'GET', '/api/v2/directory', { token: a.token })).items.length, 4);
	const b = makeTenant(srv);
	await b.user('other', 'Anna Other');
	const bt = await b.session('other');
	assert.deepEqual(okv2(await api(srv, 'GET', '/api/v2/directory?q=anna', { token: bt })).items.map((p) => p.id), ['other']);
});
