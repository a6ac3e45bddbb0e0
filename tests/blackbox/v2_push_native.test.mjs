// FCM and APNs delivery of /api/v1 messages to the phones registered with
// updatepushtoken, through local stand-ins that check what Google and Apple
// check: the OAuth2 RS256 assertion and bearer token (FCM), the ES256
// provider token and apns-* headers (APNs), the JSON shapes; and a token
// the provider declares dead (UNREGISTERED) is never used again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { login, v1 } from './lib/harness.mjs';
import { okv2, api, world, b64urlDecode, sleep } from './lib/v2.mjs';

function verifyJwt(jwt, key, alg) {
	const [h, p, s] = jwt.split('.');
	const header = JSON.parse(b64urlDecode(h));
	assert.equal(header.alg, alg);
	const ok = crypto.verify('sha256', Buffer.from(`${h}.${p}`), alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key, b64urlDecode(s));
	assert.ok(ok, `${alg} signature`);
	return { header, claims: JSON.parse(b64urlDecode(p)) };
}

async function listen(t, handler) {
	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => handler(req, Buffer.concat(chunks).toString(), res));
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	t.after(() => server.close());
	return `http://127.0.0.1:${server.address().port}`;
}

async function until(cond, ms = 15000) {
	const end = Date.now() + ms;
	while (Date.now() < end) {
		if (await cond()) return true;
		await sleep(100);
	}
	return false;
}

test('FCM and APNs: pushes to android and apple devices, checked like the real services; dead tokens dropped', async (t) => {
	const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
	const fcmGot = [];
	const apnsGot = [];
	let accessTokens = 0;
	const fcm = await listen(t, (req, body, res) => {
		if (req.url === '/token') {
			const form = new URLSearchParams(body);
			assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
			const { claims } = verifyJwt(form.get('assertion'), rsa.publicKey, 'RS256');
			assert.equal(claims.iss, 'herald@test-project.iam.gserviceaccount.com');
			assert.equal(claims.scope, 'https://www.googleapis.com/auth/firebase.messaging');
			accessTokens++;
			res.writeHead(200, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ access_token: `ya29.test-${accessTokens}`, expires_in: 3600, token_type: 'Bearer' }));
			return;
		}
		assert.equal(req.url, '/v1/projects/test-project/messages:send');
		assert.match(req.headers.authorization, /^Bearer ya29\.test-\d+$/);
		const m = JSON.parse(body).message;
		fcmGot.push(m);
		for (const v of Object.values(m.data || {})) assert.equal(typeof v, 'string', 'FCM data values are strings');
		if (m.token === 'dead-token') {
			res.writeHead(404, { 'Content-Type': 'application/json' });
			res.end(JSON.stringify({ error: { code: 404, status: 'NOT_FOUND', details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }] } }));
			return;
		}
		res.writeHead(200, { 'Content-Type': 'application/json' });
		res.end(JSON.stringify({ name: `projects/test-project/messages/${fcmGot.length}` }));
	});
	const apns = await listen(t, (req, body, res) => {
		const m = /^\/3\/device\/([0-9a-f]+)$/.exec(req.url);
		assert.ok(m, req.url);
		const { header, claims } = verifyJwt(req.headers.authorization.replace(/^bearer /, ''), ec.publicKey, 'ES256');
		assert.equal(header.kid, 'KEY1234567');
		assert.equal(claims.iss, 'TEAM123456');
		assert.equal(req.headers['apns-topic'], 'com.example.herald');
		assert.equal(req.headers['apns-push-type'], 'alert');
		apnsGot.push({ token: m[1], payload: JSON.parse(body) });
		res.writeHead(200, { 'apns-id': crypto.randomUUID() });
		res.end();
	});

	const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'herald-keys-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const sa = path.join(dir, 'sa.json');
	fs.writeFileSync(sa, JSON.stringify({ type: 'service_account', project_id: 'test-project', private_key_id: 'k1', private_key: rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: 'herald@test-project.iam.gserviceaccount.com', token_uri: `${fcm}/token` }));
	const p8 = path.join(dir, 'AuthKey.p8');
	fs.writeFileSync(p8, ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
	const { srv, a } = await world(t, {
		env: {
			HERALD_PUSH_FCM_SERVICE_ACCOUNT: sa,
			HERALD_PUSH_FCM_ENDPOINT: fcm,
			HERALD_PUSH_APNS_KEY: p8,
			HERALD_PUSH_APNS_KEY_ID: 'KEY1234567',
			HERALD_PUSH_APNS_TEAM_ID: 'TEAM123456',
			HERALD_PUSH_APNS_TOPIC: 'com.example.herald',
			HERALD_PUSH_APNS_ENDPOINT: apns,
		},
	});
	const droid = await login(srv.url, srv.dataDir, a.inn, '+79230002001', 'Андрей', 'android');
	const phone = await login(srv.url, srv.dataDir, a.inn, '+79230002002', 'Мария', 'apple');
	const apnsToken = crypto.randomBytes(32).toString('hex');
	for (const [emp, token, device] of [[droid, 'fcm-token-1', 'android'], [phone, apnsToken, 'apple']]) {
		const r = await v1(srv.url, 'updatepushtoken', { inn: a.inn, staffId: emp.staffid, pushtoken: token, device }, { token: emp.apitoken });
		assert.equal(r.json.success, true);
	}
	for (const emp of [droid, phone]) {
		const r = await v1(srv.url, 'createmessage', { inn: a.inn, staffid: emp.staffid, title: 'Смена', message: `для ${emp.staffname}` }, { token: a.token });
		assert.equal(r.json.success, true);
	}
	assert.ok(await until(() => fcmGot.length >= 1 && apnsGot.length >= 1), `fcm ${fcmGot.length}, apns ${apnsGot.length}`);
	assert.equal(fcmGot[0].token, 'fcm-token-1');
	assert.equal(fcmGot[0].notification.title, 'Смена');
	assert.equal(fcmGot[0].notification.body, 'для Андрей');
	assert.equal(apnsGot[0].token, apnsToken);
	assert.equal(apnsGot[0].payload.aps.alert.body, 'для Мария');
	assert.ok(await until(async () => {
		const g = await v1(srv.url, 'getmessage', { inn: a.inn, staffid: phone.staffid }, { token: a.token });
		return g.json.data[0].senddate !== null;
	}), 'senddate after APNs accepted');

	// a token FCM declares dead is recorded and never used again
	await v1(srv.url, 'updatepushtoken', { inn: a.inn, staffId: droid.staffid, pushtoken: 'dead-token', device: 'android' }, { token: droid.apitoken });
	await v1(srv.url, 'createmessage', { inn: a.inn, staffid: droid.staffid, title: 'T', message: 'one' }, { token: a.token });
	assert.ok(await until(async () => (okv2(await api(srv, 'GET', '/api/v2/push/devices', { token: droid.apitoken })).items.some((d) => d.kind === 'fcm' && d.dead))));
	const n = fcmGot.length;
	await v1(srv.url, 'createmessage', { inn: a.inn, staffid: droid.staffid, title: 'T', message: 'two' }, { token: a.token });
	await sleep(1200);
	assert.equal(fcmGot.length, n, 'nothing more to the dead token');
	assert.equal(accessTokens, 1, 'one OAuth2 exchange for all sends');
});
