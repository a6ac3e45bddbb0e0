// push.test.mjs — end to end: the ERP calls createmessage, herald pushes to the
// employee's Web Push subscription, and the employee app's service worker in Chromium
// shows it and confirms the delivery: the message's delivery goes queued → sent →
// delivered, and the company cabinet (another browser page) shows sent, then delivered,
// then read once the employee opens the inbox.
//
// What is real: herald, its push queue, RFC 8291 encryption and VAPID, the service worker
// of web/dist in Chromium, its IndexedDB token and its POST /api/v2/deliveries/…/delivered.
// What stands in: the push service. Chromium can only subscribe through its vendor's
// service, which a test cannot reach; so the subscription carries keys this test holds,
// a local stand-in receives herald's encrypted request, decrypts it, and hands the
// payload to the browser's worker with the DevTools protocol (ServiceWorker.deliverPushMessage)
// — the hop a push service makes.

import test from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { decrypt } from '../blackbox/lib/push.mjs';
import { b64url } from '../blackbox/lib/v2.mjs';
import {
	heraldFor,
	browserFor,
	newPage,
	createTenant,
	freshInn,
	readSmsCode,
	sendMessage,
	api,
	okv2,
	screenshot,
	DESKTOP,
	PHONE,
} from './lib/harness.mjs';

async function pushService(t) {
	const got = [];
	const waiters = [];
	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			got.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks) });
			res.writeHead(201, { Location: '/msg/' + got.length });
			res.end();
			for (const w of waiters.splice(0)) w();
		});
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	t.after(() => new Promise((r) => server.close(r)));
	return {
		url: `http://127.0.0.1:${server.address().port}`,
		got,
		async next(n) {
			while (got.length < n) await new Promise((r) => waiters.push(r));
			return got[n - 1];
		},
	};
}

test('push: createmessage → Web Push → the service worker shows it and confirms; delivery sent → delivered', async (t) => {
	const srv = await heraldFor(t, { env: { HERALD_PUSH_ALLOW_PRIVATE: 'true', HERALD_PUSH_VAPID_SUBJECT: 'mailto:ops@example.com' } });
	const ps = await pushService(t);
	const inn = freshInn();
	const token = createTenant(srv.dataDir, { inn });
	const phone = `+7923${inn.slice(-4)}404`;
	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: PHONE, mobile: true });
	await page.context().grantPermissions(['notifications'], { origin: srv.url });

	// sign in through the app, as an employee does
	await page.goto(`${srv.url}/m/`);
	await page.getByLabel('Company INN').fill(inn);
	await page.getByLabel('Phone number').fill(phone);
	await page.getByLabel('Your name').fill('Пётр');
	await page.getByRole('button', { name: 'Get code by SMS' }).click();
	await page.getByRole('heading', { name: 'Enter the code' }).waitFor();
	await page.getByLabel('Code from the SMS').pressSequentially(readSmsCode(srv.dataDir, phone));
	await page.getByRole('heading', { name: 'Inbox' }).waitFor();
	const session = await page.evaluate(() => JSON.parse(localStorage.getItem('herald.m.session')));
	await page.evaluate(() => navigator.serviceWorker.ready);

	// the subscription the browser would make, with keys this test can read
	const ecdh = crypto.createECDH('prime256v1');
	ecdh.generateKeys();
	const auth = crypto.randomBytes(16);
	const sub = { endpoint: `${ps.url}/push/emp`, keys: { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(auth) } };
	okv2(await api(srv, 'POST', '/api/v2/push/subscriptions', { token: session.token, body: sub }), 'subscribe', 201);

	// the app is closed (no live connection), the worker stays
	const cdp = await page.context().newCDPSession(page);
	await cdp.send('ServiceWorker.enable');
	const registrations = [];
	cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
	await page.goto('about:blank');

	const m = await sendMessage(srv, { inn, token }, session.staffid, 'Смена 4711', 'Начало перенесено на 7:00');
	const req = await ps.next(1);
	assert.equal(req.headers['content-encoding'], 'aes128gcm');
	const payload = decrypt(req.body, ecdh, auth);
	assert.equal(payload.title, 'Смена 4711');
	assert.equal(payload.body, 'Начало перенесено на 7:00');
	assert.ok(payload.delivery > 0 && payload.chat > 0 && payload.seq > 0, JSON.stringify(payload));
	assert.equal(payload.badge, 1);
	const deliveries = async () =>
		okv2(await api(srv, 'GET', `/api/v2/chats/${payload.chat}/messages/${payload.seq}/deliveries`, { token }), 'deliveries').items;
	/** The delivery once it reached status (polled: the queue records it after the answer). */
	const delivery = async (status) => {
		let d;
		for (let i = 0; i < 200; i++) {
			d = (await deliveries()).find((x) => x.id === payload.delivery);
			if (d && d.status === status) break;
			await new Promise((r) => setTimeout(r, 50));
		}
		return d;
	};
	assert.equal((await delivery('sent')).status, 'sent');
	assert.ok(m, 'createmessage answered');

	// the company cabinet, in another page, shows the message as sent
	const cab = await newPage(browser, { viewport: DESKTOP });
	await cab.goto(`${srv.url}/#/login?mode=cabinet`);
	await cab.locator('[data-test=inn]').fill(inn);
	await cab.locator('[data-test=password]').fill('secret-password-1');
	await cab.locator('[data-test=signin-submit]').click();
	await cab.locator('[data-test=employees-table]').waitFor();
	await cab.locator('[data-test=nav-messages]').click();
	const cabStatus = async (label) => {
		for (let i = 0; i < 50; i++) {
			const text = await cab.locator('[data-test=message-row] [data-test=status]').first().innerText().catch(() => '');
			if (text === label) return text;
			await cab.reload();
			await cab.locator('[data-test=message-row]').first().waitFor();
		}
		return cab.locator('[data-test=message-row] [data-test=status]').first().innerText();
	};
	assert.equal(await cabStatus('Sent'), 'Sent');

	// the push service's hop: the payload reaches the worker of this origin
	const reg = registrations.find((r) => r.scopeURL === `${srv.url}/m/` && !r.isDeleted);
	assert.ok(reg, `the worker's registration is known: ${JSON.stringify(registrations)}`);
	await cdp.send('ServiceWorker.deliverPushMessage', { origin: srv.url, registrationId: reg.registrationId, data: JSON.stringify(payload) });

	// the worker confirmed with the user's token: delivered
	const d = await delivery('delivered');
	assert.equal(d.status, 'delivered', JSON.stringify(d));
	assert.ok(d.delivered_at && d.sent_at, JSON.stringify(d));
	assert.equal(await cabStatus('Delivered'), 'Delivered', 'the cabinet shows the device confirmed it');

	// and it shows the notification, tagged with the chat
	await page.goto(`${srv.url}/m/about`);
	const shown = await page.evaluate(async () => {
		const r = await navigator.serviceWorker.ready;
		return (await r.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag }));
	});
	assert.deepEqual(shown, [{ title: 'Смена 4711', body: 'Начало перенесено на 7:00', tag: `chat-${payload.chat}` }]);

	// the employee opens the inbox: read, in the cabinet too, with each step's time in the detail
	await page.goto(`${srv.url}/m/`);
	await page.getByText('Начало перенесено на 7:00').waitFor();
	assert.equal(await cabStatus('Read'), 'Read', 'the cabinet shows it was read');
	await cab.locator('[data-test=message-row]').first().click();
	await cab.locator('[data-test=message-detail]').waitFor();
	assert.equal(await cab.locator('[data-test=delivery-row]').count(), 1);
	await screenshot(cab, 'cabinet-delivery-read', { sizes: [DESKTOP] });
});
