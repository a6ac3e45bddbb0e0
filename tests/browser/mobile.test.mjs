// mobile.test.mjs — the employee app at /m/ in Chromium at phone size: sign-in like
// the original app (INN, phone, name → the SMS code from the `log` provider's outbox),
// the inbox with the ERP's createmessage notifications (loaded and live), chats, profile,
// about; the manifest and the service worker; the offline shell.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
	heraldFor,
	browserFor,
	newPage,
	assertNoProblems,
	screenshot,
	createTenant,
	freshInn,
	readSmsCode,
	sendMessage,
	api,
	okv2,
	PHONE,
} from './lib/harness.mjs';

/** Signs in through the two screens; returns the confirm data the app stored. */
async function signIn(page, srv, { inn, phone, name, shots = false }) {
	await page.goto(`${srv.url}/m/`);
	await page.getByRole('heading', { name: 'Sign in' }).waitFor();
	if (shots) await screenshot(page, 'mobile-sign-in');
	await page.getByLabel('Company INN').fill(inn);
	await page.getByLabel('Phone number').fill(phone);
	await page.getByLabel('Your name').fill(name);
	await page.getByRole('button', { name: 'Get code by SMS' }).click();
	await page.getByRole('heading', { name: 'Enter the code' }).waitFor();
	await page.getByText(phone).waitFor();
	const code = readSmsCode(srv.dataDir, phone);
	assert.match(code, /^\d{6}$/);
	if (shots) {
		await page.getByLabel('Code from the SMS').fill(code.slice(0, 3));
		await screenshot(page, 'mobile-sms-code');
	}
	// typing the sixth digit signs in (as on phones, where the code is pasted)
	await page.getByLabel('Code from the SMS').fill('');
	await page.getByLabel('Code from the SMS').pressSequentially(code);
	await page.getByRole('heading', { name: 'Inbox' }).waitFor();
	return page.evaluate(() => JSON.parse(localStorage.getItem('herald.m.session')));
}

test('employee: SMS sign-in, ERP notifications in the inbox (loaded and live), chats, profile, about', async (t) => {
	const srv = await heraldFor(t);
	const inn = freshInn();
	const token = createTenant(srv.dataDir, { inn, name: 'ООО Весна' });
	const phone = `+7923${inn.slice(-4)}101`;
	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: PHONE, mobile: true });

	const wrong = await page.goto(`${srv.url}/m/inbox`);
	assert.equal(wrong.status(), 200, 'a client route of the app is served the app');
	await page.getByRole('heading', { name: 'Sign in' }).waitFor();
	// the form says what is wrong before anything is sent
	await page.getByRole('button', { name: 'Get code by SMS' }).click();
	await page.getByText('The INN has 10 or 12 digits.').waitFor();

	const stored = await signIn(page, srv, { inn, phone, name: 'Мария Петрова', shots: true });
	assert.equal(stored.inn, inn);
	assert.ok(stored.staffid, 'confirmsmscode gave the staff id');
	await page.getByText('No notifications yet').waitFor();
	// the app token of confirmsmscode is a /api/v2 session
	const me = okv2(await api(srv, 'GET', '/api/v2/me', { token: stored.token }), 'me with the app token');
	assert.equal(me.kind, 'user');
	assert.equal(me.user.phone, phone);

	// the ERP sends two notifications; the open inbox shows them live, newest first
	await sendMessage(srv, { inn, token }, stored.staffid, 'Смена 4711', 'Начало перенесено на 7:00, ворота 3.');
	await sendMessage(srv, { inn, token }, stored.staffid, 'Новый график', 'График на декабрь опубликован. Проверьте свои смены до пятницы.');
	const cards = page.locator('ol[aria-label="Inbox"] > li');
	await cards.nth(1).waitFor();
	assert.equal(await cards.count(), 2);
	assert.match(await cards.nth(0).innerText(), /Новый график[\s\S]*График на декабрь/);
	assert.match(await cards.nth(1).innerText(), /Смена 4711[\s\S]*ворота 3/);
	// date and time are shown; both are marked new while the screen is open
	assert.match(await cards.nth(0).locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT/);
	assert.equal(await page.locator('ol[aria-label="Inbox"] .sr-only', { hasText: 'New' }).count(), 2);
	await screenshot(page, 'mobile-inbox');
	// the inbox is read once shown: the server agrees
	const inboxChat = await page.waitForFunction(async (tok) => {
		const r = await fetch('/api/v2/chats', { headers: { Authorization: 'Bearer ' + tok } });
		const j = await r.json();
		const c = j.items.find((x) => x.type === 'inbox');
		return c && c.unread === 0 && c.last_seq === 2 ? c.id : null;
	}, stored.token);
	assert.ok(await inboxChat.jsonValue());

	// away from the inbox a new one arrives; after a reload (everything from the API) the
	// inbox tab shows it, and only it is marked new
	await page.getByRole('link', { name: 'About' }).click();
	await sendMessage(srv, { inn, token }, stored.staffid, 'Напоминание', 'Завтра инструктаж по технике безопасности в 8:00.');
	await page.reload();
	await page.getByRole('link', { name: /Inbox/ }).click();
	await cards.nth(2).waitFor();
	assert.match(await cards.nth(0).innerText(), /Напоминание/);
	assert.equal(await page.locator('ol[aria-label="Inbox"] .sr-only', { hasText: 'New' }).count(), 1, 'only the one since the last visit is new');

	// chats: a group the employee is in, from the host's side
	const user = me.user.id;
	const group = okv2(
		await api(srv, 'POST', '/api/v2/chats', { token, body: { type: 'group', title: 'Смена 4711 — склад Север', members: [user] } }),
		'create group',
		201,
	);
	okv2(await api(srv, 'POST', `/api/v2/chats/${group.id}/messages`, { token, body: { text: 'Кто сможет выйти в субботу?' } }), 'post', 201);
	await page.getByRole('link', { name: /Chats/ }).click();
	await page.getByText('Смена 4711 — склад Север').waitFor();
	await screenshot(page, 'mobile-chats');
	await page.getByText('Смена 4711 — склад Север').click();
	await page.getByText('Кто сможет выйти в субботу?').waitFor();
	const composer = page.getByRole('textbox').last();
	await composer.fill('Я смогу, с 8 до 16.');
	await composer.press('Enter');
	await page.waitForFunction(
		async ([tok, id]) => {
			const r = await fetch(`/api/v2/chats/${id}/messages`, { headers: { Authorization: 'Bearer ' + tok } });
			return (await r.json()).items.some((m) => m.text === 'Я смогу, с 8 до 16.');
		},
		[stored.token, group.id],
	);
	await screenshot(page, 'mobile-chat');

	// profile and about
	await page.goto(`${srv.url}/m/profile`);
	await page.getByText('Мария Петрова').first().waitFor();
	await page.getByText(inn).waitFor();
	await screenshot(page, 'mobile-profile');
	await page.getByRole('link', { name: 'About' }).click();
	const health = okv2(await api(srv, 'GET', '/healthz'), 'healthz');
	await page.getByTestId('server-version').getByText(health.version).waitFor();
	assert.equal(await page.getByTestId('server-build').innerText(), health.build);
	await page.getByText('Offline mode').locator('..').getByText('ready').waitFor();
	await screenshot(page, 'mobile-about');

	// sign out ends the session here
	await page.getByRole('link', { name: 'Profile' }).click();
	// …after the app's own confirmation (not the browser's confirm()): Escape cancels it
	page.on('dialog', (d) => page.problems.push(`a native ${d.type()} dialog opened: ${d.message()}`));
	await page.getByRole('button', { name: 'Sign out' }).click();
	const ask = page.getByRole('alertdialog', { name: 'Sign out' });
	await ask.getByText('Sign out on this device?').waitFor();
	await page.keyboard.press('Escape');
	await ask.waitFor({ state: 'detached' });
	assert.ok(await page.evaluate(() => localStorage.getItem('herald.m.session')), 'still signed in after cancelling');
	await page.getByRole('button', { name: 'Sign out' }).click();
	await ask.getByRole('button', { name: 'Sign out' }).click();
	await page.getByRole('heading', { name: 'Sign in' }).waitFor();
	assert.equal(await page.evaluate(() => localStorage.getItem('herald.m.session')), null);
	assertNoProblems(page);
});

test('employee: a wrong SMS code is refused with the server sentence', async (t) => {
	const srv = await heraldFor(t);
	const inn = freshInn();
	createTenant(srv.dataDir, { inn });
	const phone = `+7923${inn.slice(-4)}202`;
	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: PHONE, mobile: true, locale: 'ru-RU' });
	await page.goto(`${srv.url}/m/`);
	await page.getByRole('heading', { name: 'Вход' }).waitFor();
	await page.getByLabel('ИНН компании').fill(inn);
	await page.getByLabel('Номер телефона').fill(phone);
	await page.getByLabel('Ваше имя').fill('Иван');
	await page.getByRole('button', { name: 'Получить код по SMS' }).click();
	await page.getByRole('heading', { name: 'Введите код' }).waitFor();
	const code = readSmsCode(srv.dataDir, phone);
	const wrong = String((Number(code) + 1) % 1000000).padStart(6, '0');
	await page.getByLabel('Код из SMS').pressSequentially(wrong);
	const alert = page.getByRole('alert');
	await alert.waitFor();
	assert.match(await alert.innerText(), /код/i);
	assert.equal(await page.evaluate(() => localStorage.getItem('herald.m.session')), null);
	// unknown company: the server's sentence, still on the first screen
	await page.getByRole('button', { name: 'Изменить номер' }).click();
	await page.getByLabel('ИНН компании').fill('7712345678');
	await page.getByRole('button', { name: 'Получить код по SMS' }).click();
	await page.getByRole('alert').waitFor();
	assert.equal(await page.getByRole('heading', { name: 'Вход' }).count(), 1);
	assertNoProblems(page, [/the server responded with a status of 4\d\d/]);
});

test('employee app: manifest, icons, service worker, offline shell and data', async (t) => {
	const srv = await heraldFor(t);
	const inn = freshInn();
	const token = createTenant(srv.dataDir, { inn });
	const phone = `+7923${inn.slice(-4)}303`;
	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: PHONE, mobile: true });
	const stored = await signIn(page, srv, { inn, phone, name: 'Олег' });
	await sendMessage(srv, { inn, token }, stored.staffid, 'Смена 12', 'Пропуск на проходной.');
	await page.getByText('Пропуск на проходной.').waitFor();

	const manifestHref = await page.locator('link[rel="manifest"]').getAttribute('href');
	assert.equal(manifestHref, '/m/manifest.webmanifest');
	const res = await page.request.get(`${srv.url}${manifestHref}`);
	assert.equal(res.headers()['content-type'], 'application/manifest+json; charset=utf-8');
	const manifest = await res.json();
	assert.equal(manifest.scope, '/m/');
	assert.equal(manifest.display, 'standalone');
	assert.ok(manifest.start_url.startsWith('/m/'));
	for (const icon of manifest.icons) {
		const r = await page.request.get(`${srv.url}${icon.src}`);
		assert.equal(r.status(), 200, icon.src);
		assert.equal(r.headers()['content-type'].split(';')[0], icon.type, icon.src);
	}
	assert.ok(manifest.icons.some((i) => i.sizes === '512x512' && i.purpose === 'maskable'));

	// The notification badge the worker names is what Android expects: white on transparent
	// (Android uses only its alpha), the bubble opaque, the "H" and the corners see-through.
	const swText = await (await page.request.get(`${srv.url}/m/sw.js`)).text();
	const badgeSrc = /badge:\s*'([^']+)'/.exec(swText)[1];
	const badgeRes = await page.request.get(`${srv.url}${badgeSrc}`);
	assert.equal(badgeRes.status(), 200, badgeSrc);
	assert.equal(badgeRes.headers()['content-type'], 'image/png');
	const badge = await page.evaluate(async (src) => {
		const img = new Image();
		img.src = src;
		await img.decode();
		const c = document.createElement('canvas');
		c.width = img.naturalWidth;
		c.height = img.naturalHeight;
		const g = c.getContext('2d');
		g.drawImage(img, 0, 0);
		const d = g.getImageData(0, 0, c.width, c.height).data;
		let opaque = 0;
		let clear = 0;
		let coloured = 0;
		for (let i = 0; i < d.length; i += 4) {
			if (d[i + 3] === 0) clear++;
			else if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) coloured++;
			if (d[i + 3] === 255) opaque++;
		}
		const alpha = (x, y) => d[(y * c.width + x) * 4 + 3];
		return { w: c.width, h: c.height, opaque, clear, coloured, corner: alpha(0, 0), bubble: alpha(48, 15), hole: alpha(48, 44) };
	}, badgeSrc);
	assert.equal(badge.w, 96);
	assert.equal(badge.h, 96);
	assert.equal(badge.coloured, 0, 'every visible pixel of the badge is white');
	assert.ok(badge.opaque > 96 * 96 * 0.3 && badge.clear > 96 * 96 * 0.2, `a shape on transparency: ${JSON.stringify(badge)}`);
	assert.deepEqual([badge.corner, badge.bubble, badge.hole], [0, 255, 0], 'corner clear, bubble opaque, the H cut out');

	// the worker controls the app and keeps the user's token for push acks
	const sw = await page.evaluate(async () => {
		const reg = await navigator.serviceWorker.ready;
		return { scope: reg.scope, script: reg.active && reg.active.scriptURL };
	});
	assert.equal(sw.scope, `${srv.url}/m/`);
	assert.equal(sw.script, `${srv.url}/m/sw.js`);
	await page.reload();
	await page.getByText('Пропуск на проходной.').waitFor();
	assert.ok(await page.evaluate(() => !!navigator.serviceWorker.controller), 'the page is controlled after a reload');
	const idbToken = await page.evaluate(
		() =>
			new Promise((resolve) => {
				const r = indexedDB.open('herald-m', 1);
				r.onsuccess = () => {
					const g = r.result.transaction('kv').objectStore('kv').get('session');
					g.onsuccess = () => resolve(g.result && g.result.token);
				};
			}),
	);
	assert.equal(idbToken, stored.token);

	// offline: the shell and the loaded inbox still show
	await page.context().setOffline(true);
	await page.reload();
	await page.getByText('Пропуск на проходной.').waitFor();
	await page.getByText('You are offline').waitFor();
	await screenshot(page, 'mobile-offline', { sizes: [PHONE] });
	await page.context().setOffline(false);
	assertNoProblems(page, [/net::ERR_INTERNET_DISCONNECTED/, /Failed to fetch/, /WebSocket/]);
});
