// A stand-in Web Push service (RFC 8030) and what a browser does with a push:
// decrypt (RFC 8291) and verify VAPID (RFC 8292). Shared by the push tests.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';

import { b64url, b64urlDecode, sleep } from './v2.mjs';

const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

export function decrypt(body, ecdh, auth) {
	const salt = body.subarray(0, 16);
	const idlen = body[20];
	const asPublic = body.subarray(21, 21 + idlen);
	const ct = body.subarray(21 + idlen);
	const uaPublic = ecdh.getPublicKey();
	const secret = ecdh.computeSecret(asPublic);
	const prkKey = hmac(auth, secret);
	const ikm = hmac(prkKey, Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic, Buffer.from([1])]));
	const prk = hmac(salt, ikm);
	const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01')).subarray(0, 16);
	const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01')).subarray(0, 12);
	const d = crypto.createDecipheriv('aes-128-gcm', cek, nonce);
	d.setAuthTag(ct.subarray(ct.length - 16));
	const plain = Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()]);
	const end = plain.lastIndexOf(2);
	return JSON.parse(plain.subarray(0, end).toString());
}

export function verifyVapid(header, origin) {
	const m = /^vapid t=([^,]+), k=(\S+)$/.exec(header || '');
	assert.ok(m, `VAPID header: ${header}`);
	const [h, p, s] = m[1].split('.');
	const raw = b64urlDecode(m[2]);
	const key = crypto.createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64url(raw.subarray(1, 33)), y: b64url(raw.subarray(33)) }, format: 'jwk' });
	assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, b64urlDecode(s)), 'ES256 signature');
	const claims = JSON.parse(b64urlDecode(p));
	assert.equal(claims.aud, origin);
	const now = Date.now() / 1000;
	assert.ok(claims.exp > now && claims.exp <= now + 86400 + 5, 'exp within 24 h');
	assert.equal(JSON.parse(b64urlDecode(h)).alg, 'ES256');
	return m[2];
}

// The stand-in push service: answers per endpoint path from a script.
export async function pushService(t, { delayMs = 0 } = {}) {
	const got = [];
	const script = {}; // path → array of [status, headers] answered in turn, then fallback
	const state = { got, script, fallback: [201, { Location: '/msg/1' }], open: 0, maxOpen: 0 };
	const server = http.createServer((req, res) => {
		const chunks = [];
		state.open++;
		state.maxOpen = Math.max(state.maxOpen, state.open);
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
			const next = (script[req.url] || []).shift();
			const [status, headers] = next || state.fallback;
			// answers after a delay, like a real service far away (and so
			// that concurrent requests overlap)
			setTimeout(() => {
				state.open--;
				res.writeHead(status, headers);
				res.end();
			}, delayMs);
		});
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	t.after(() => server.close());
	state.url = `http://127.0.0.1:${server.address().port}`;
	return state;
}

export function subscriber(service, name) {
	const ecdh = crypto.createECDH('prime256v1');
	ecdh.generateKeys();
	const auth = crypto.randomBytes(16);
	return { ecdh, auth, sub: { endpoint: `${service.url}/push/${name}`, keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) } } };
}

export async function until(cond, ms = 15000) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (await cond()) return true;
		await sleep(100);
	}
	return false;
}

