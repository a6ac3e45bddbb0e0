// The http SMS provider: herald posts the rendered template to a gateway.

import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { serverFor, createTenant, v1, ok, fails, readSmsRecords, runCli, makeTempDir } from './lib/harness.mjs';

/** A local gateway that records requests and answers with gw.status. */
async function startGateway(t) {
	const gw = { requests: [], status: 200 };
	const server = http.createServer((req, res) => {
		let body = '';
		req.setEncoding('utf8');
		req.on('data', (d) => (body += d));
		req.on('end', () => {
			gw.requests.push({ method: req.method, url: req.url, headers: req.headers, body });
			res.writeHead(gw.status, { 'Content-Type': 'application/json' });
			res.end(gw.status < 300 ? '{"ok":true}' : '{"error":"boom"}');
		});
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	gw.url = `http://127.0.0.1:${server.address().port}/send?channel=sms`;
	t.after(() => new Promise((r) => server.close(r)));
	return gw;
}

const INN = '2441234324';

test('sms http provider: one POST per auth with the auth header and the rendered JSON body; 500 → 502 sms_failed', async (t) => {
	const gw = await startGateway(t);
	const srv = await serverFor(t, {
		env: {
			HERALD_SMS_RESEND_COOLDOWN: '0s',
			HERALD_SMS_PROVIDER: 'http',
			HERALD_SMS_HTTP_URL: gw.url,
			HERALD_SMS_HTTP_AUTH_HEADER: 'Authorization: Bearer test-key',
			HERALD_SMS_HTTP_BODY: '{"phone":"{to}","msg":"{text}"}',
		},
	});
	assert.equal(srv.listening.sms, 'http', 'the listening line names the provider');
	createTenant(srv.dataDir, { inn: INN });

	const r = await v1(srv.url, 'auth', { inn: INN, staffname: 'Алексей', phone: '8 (923) 338-16-38', device: 'android' });
	ok(r, 'auth through the gateway');
	assert.equal(gw.requests.length, 1, 'exactly one gateway request');
	const g = gw.requests[0];
	assert.equal(g.method, 'POST');
	assert.equal(g.url, '/send?channel=sms');
	assert.equal(g.headers.authorization, 'Bearer test-key');
	assert.match(g.headers['content-type'], /^application\/json/);
	const body = JSON.parse(g.body);
	assert.deepEqual(Object.keys(body), ['phone', 'msg']);
	assert.equal(body.phone, '+79233381638');
	const m = /\b(\d{6})\b/.exec(body.msg);
	assert.ok(m, `msg contains a 6-digit code: ${body.msg}`);
	assert.deepEqual(readSmsRecords(srv.dataDir), [], 'nothing in the log outbox');
	// the code from the gateway logs the employee in
	const c = ok(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: m[1] }));
	assert.equal(c.phone, '+79233381638');

	// the SMS text follows the caller's language and stays valid JSON inside the template
	const en = await v1(srv.url, 'auth', { inn: INN, staffname: 'Bob', phone: '+79233381600', device: 'apple' }, { lang: 'en' });
	ok(en);
	assert.equal(gw.requests.length, 2);
	const body2 = JSON.parse(gw.requests[1].body);
	assert.equal(body2.phone, '+79233381600');
	assert.match(body2.msg, /^[\x20-\x7e]+$/, 'the English SMS text');

	gw.status = 500;
	const f = await v1(srv.url, 'auth', { inn: INN, staffname: 'Мария', phone: '+79233381639', device: 'apple' });
	fails(f, 502, 'sms_failed', 'gateway answers 500');
	assert.equal(gw.requests.length, 3, 'the gateway was asked');
});

test('sms http provider: an unreachable gateway → 502 sms_failed, the server stays healthy', async (t) => {
	const gw = await startGateway(t);
	const dead = gw.url.replace(/:\d+\//, ':1/'); // nothing listens on port 1
	const srv = await serverFor(t, {
		env: { HERALD_SMS_PROVIDER: 'http', HERALD_SMS_HTTP_URL: dead, HERALD_SMS_HTTP_TIMEOUT: '2s' },
	});
	createTenant(srv.dataDir, { inn: INN });
	const f = await v1(srv.url, 'auth', { inn: INN, staffname: 'Мария', phone: '+79233381639', device: 'apple' });
	fails(f, 502, 'sms_failed');
	const h = await fetch(`${srv.url}/healthz`);
	assert.equal(h.status, 200);
	await h.text();
});

test('sms http provider without a URL refuses to start', async () => {
	const r = runCli(['serve', '--data', makeTempDir(), '--listen', '127.0.0.1:0'], { env: { HERALD_SMS_PROVIDER: 'http' } });
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, /sms\.http\.url/);
});
