// Web Push subscriptions and the VAPID key (the first part of push delivery):
// the key is made once and kept across restarts, subscriptions are validated,
// belong to one user and move with a shared device, tokens are never shown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { serverFor } from './lib/harness.mjs';
import { api, okv2, errv2, world, b64url } from './lib/v2.mjs';

function subscription(endpoint = `https://push.example.net/push/${crypto.randomBytes(8).toString('hex')}`) {
	const ecdh = crypto.createECDH('prime256v1');
	ecdh.generateKeys();
	return { endpoint, keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(crypto.randomBytes(16)) } };
}

test('VAPID key: a P-256 public key, created once, the same after a restart, file mode 0600', async (t) => {
	const { srv } = await world(t);
	const k1 = okv2(await api(srv, 'GET', '/api/v2/push/vapid-key')).public_key;
	const raw = Buffer.from(k1.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
	assert.equal(raw.length, 65);
	assert.equal(raw[0], 4, 'uncompressed point');
	const st = fs.statSync(path.join(srv.dataDir, 'vapid.pem'));
	assert.equal(st.mode & 0o777, 0o600);
	await srv.stop();
	const srv2 = await serverFor(t, { dataDir: srv.dataDir });
	assert.equal(okv2(await api(srv2, 'GET', '/api/v2/push/vapid-key')).public_key, k1);
});

test('subscriptions: register, list without tokens, move to another user, remove; bad input refused', async (t) => {
	const { srv, a } = await world(t);
	const toks = await a.users({ ann: ['staff'], bob: ['staff'] });
	const sub = subscription();
	const r = okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.ann, body: sub }), 'subscribe', 201);
	assert.equal(r.kind, 'webpush');
	assert.equal(r.endpoint, sub.endpoint);
	// again: refreshed, still one
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.ann, body: sub }), 'again', 201);
	let list = okv2(await api(srv, 'GET', '/api/v2/push/devices', { token: toks.ann })).items;
	assert.equal(list.length, 1);
	assert.equal(list[0].service, 'https://push.example.net');
	assert.ok(!JSON.stringify(list).includes(sub.endpoint), 'the endpoint (a credential) is not shown');
	// a shared device: bob subscribes the same endpoint, it moves to him
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.bob, body: sub }), 'bob', 201);
	assert.equal(okv2(await api(srv, 'GET', '/api/v2/push/devices', { token: toks.ann })).items.length, 0);
	errv2(await api(srv, 'DELETE', '/api/v2/push/subscriptions', { token: toks.ann, body: { endpoint: sub.endpoint } }), 404, 'not_found', 'not hers any more');
	okv2(await api(srv, 'DELETE', '/api/v2/push/subscriptions', { token: toks.bob, body: { endpoint: sub.endpoint } }), 'remove');
	assert.equal(okv2(await api(srv, 'GET', '/api/v2/push/devices', { token: toks.bob })).items.length, 0);

	const bad = [
		[{ ...sub, endpoint: 'ftp://x/y' }, 422, 'pushtoken_invalid'],
		[{ ...sub, endpoint: 'https://x/a b' }, 422, 'pushtoken_invalid'],
		[{ ...sub, endpoint: 'https://x/' + 'a'.repeat(2100) }, 422, 'field_invalid'],
		[{ endpoint: sub.endpoint }, 422, 'field_missing'],
		[{ ...sub, keys: { p256dh: sub.keys.p256dh.slice(0, 40), auth: sub.keys.auth } }, 422, 'pushtoken_invalid'],
		[{ ...sub, keys: { p256dh: sub.keys.p256dh, auth: b64url(crypto.randomBytes(15)) } }, 422, 'pushtoken_invalid'],
		[{ ...sub, keys: { p256dh: b64url(Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)])), auth: sub.keys.auth } }, 422, 'pushtoken_invalid'],
	];
	for (const [body, status, code] of bad)
		errv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: toks.ann, body }), status, code, JSON.stringify(body).slice(0, 80));
	errv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { body: sub }), 401, 'unauthorized', 'no token');
	errv2(await a.call('POST', '/api/v2/push/subscriptions', { body: sub }), 403, 'forbidden', 'the server is not a user');
});
