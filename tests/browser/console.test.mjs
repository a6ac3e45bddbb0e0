// The console at / in a real browser against the real server: two people chat live
// (message, read receipt, unread badge, pin order, typing), the server restarts
// mid-conversation and both screens catch up without a reload and without duplicates, and
// the main screens are captured for the README.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
	heraldFor,
	serverFor,
	browserFor,
	newPage,
	assertNoProblems,
	screenshot,
	makeTenant,
	okv2,
	WEB_DIST,
	DESKTOP,
	PHONE,
} from './lib/harness.mjs';

/** A tenant with Anna (dispatcher) and Piotr, two group chats; "Yard" is the most recent. */
async function setup(srv) {
	const a = makeTenant(srv);
	await a.user('anna', 'Anna Schmidt', ['staff', 'dispatcher']);
	await a.user('piotr', 'Piotr Nowak', ['staff']);
	const tokens = { anna: await a.session('anna'), piotr: await a.session('piotr') };
	const shift = await a.group('Shift 4711', ['anna', 'piotr']);
	const yard = await a.group('Yard', ['anna', 'piotr']);
	await a.post(shift.id, 'Gate 3 closes at 22:00.', { sender: 'piotr' });
	await a.post(yard.id, 'Truck 17 at the ramp.', { sender: 'piotr' });
	return { a, tokens, shift, yard };
}

async function signIn(page, srv, token) {
	await page.goto(`${srv.url}/#/login?token=${encodeURIComponent(token)}`);
	await page.locator('[data-test=chat-search]').waitFor();
	// the token left the address bar
	assert.ok(!page.url().includes(token), 'the sign-in token is removed from the URL');
}

/** Titles of the chat list, top to bottom. */
const listOrder = (page) => page.locator('[data-chat-item]').evaluateAll((els) => els.map((e) => e.dataset.chatTitle));

/** How many message bubbles on the page carry exactly this text. */
const countText = (page, text) =>
	page.locator('[data-test=message] [data-test=text]').evaluateAll((els, t) => els.filter((e) => e.textContent.trim() === t).length, text);

test('console: two people chat live — message, receipt ✓✓, unread badge, typing, pin order', async (t) => {
	const srv = await heraldFor(t);
	const { a, tokens, shift, yard } = await setup(srv);
	const browser = await browserFor(t);
	const anna = await newPage(browser);
	const piotr = await newPage(browser);
	await signIn(anna, srv, tokens.anna);
	await signIn(piotr, srv, tokens.piotr);

	// Both lists: the most recent chat first.
	assert.deepEqual(await listOrder(anna), ['Yard', 'Shift 4711']);

	// Anna opens Shift 4711 and writes; the message shows pending, then sent (✓).
	await anna.locator(`[data-test=chat-${shift.id}]`).click();
	await anna.locator('[data-test=chat-header-title]', { hasText: 'Shift 4711' }).waitFor();
	await anna.locator('[data-test=composer]').fill('Hello Piotr, please open gate 3');
	await anna.keyboard.press('Enter');
	const mine = anna.locator('[data-test=message][data-status=sent]', { hasText: 'Hello Piotr, please open gate 3' });
	await mine.waitFor();
	await mine.locator('[data-test=receipt][data-receipt=sent]').waitFor();
	assert.equal(await anna.locator('[data-test=composer]').inputValue(), '', 'the composer is empty after sending');

	// The server has it, once.
	const hist = okv2(await a.call('GET', `/api/v2/chats/${shift.id}/messages?limit=10`), 'history');
	assert.equal(hist.items.filter((m) => m.text === 'Hello Piotr, please open gate 3' && m.sender === 'anna').length, 1);

	// Piotr: Shift 4711 jumps to the top with an unread badge (1 new since his own post).
	await piotr.waitForFunction((id) => {
		const b = document.querySelector(`[data-test=chat-${id}] [data-test=unread]`);
		return b && b.textContent.trim() === '1';
	}, shift.id);
	assert.deepEqual(await listOrder(piotr), ['Shift 4711', 'Yard']);
	// …and in the tab title and the navigation.
	await piotr.waitForFunction(() => document.title.startsWith('(1)'));

	// Piotr opens it and reads: the badge goes, Anna's message turns ✓✓ (read by everyone).
	await piotr.locator(`[data-test=chat-${shift.id}]`).click();
	await piotr.locator('[data-test=message]', { hasText: 'Hello Piotr, please open gate 3' }).waitFor();
	await piotr.locator(`[data-test=chat-${shift.id}] [data-test=unread]`).waitFor({ state: 'detached' });
	await mine.locator('[data-test=receipt][data-receipt=read]').waitFor();
	assert.match(await mine.locator('[data-test=receipt]').getAttribute('aria-label'), /read by everyone/i);
	const reads = okv2(await a.call('GET', `/api/v2/chats/${shift.id}/messages/${hist.items[0].seq}/reads`), 'reads');
	assert.equal(reads.read_count, 1);

	// Piotr types: Anna sees it in the header; Piotr answers; Anna gets it live.
	await piotr.locator('[data-test=composer]').pressSequentially('On my');
	await anna.locator('[data-test=typing]', { hasText: 'Piotr Nowak' }).waitFor();
	await piotr.locator('[data-test=composer]').pressSequentially(' way');
	await piotr.keyboard.press('Enter');
	await anna.locator('[data-test=message]', { hasText: 'On my way' }).waitFor();

	// Shift+Enter makes a new line, an empty message is refused with a reason.
	await piotr.locator('[data-test=composer]').fill('');
	await piotr.keyboard.press('Enter');
	await piotr.locator('[data-test=composer-error]').waitFor();

	// Pin order: Anna pins Yard; it goes on top although Shift 4711 is more recent.
	assert.deepEqual(await listOrder(anna), ['Shift 4711', 'Yard']);
	await anna.locator(`[data-test=chat-${yard.id}]`).click();
	await anna.locator('[data-test=chat-header-title]', { hasText: 'Yard' }).waitFor();
	await anna.locator('[data-test=pin]').click();
	await anna.locator(`[data-test=chat-${yard.id}] [data-test=pinned]`).waitFor({ state: 'attached' });
	assert.deepEqual(await listOrder(anna), ['Yard', 'Shift 4711']);
	// The server agrees: Anna's list has Yard pinned and first; Piotr's does not.
	const annaList = okv2(await a.call('GET', '/api/v2/chats', { token: tokens.anna }), 'anna chats');
	assert.deepEqual(annaList.items.map((c) => [c.title, c.pinned]), [['Yard', true], ['Shift 4711', false]]);
	assert.deepEqual(await listOrder(piotr), ['Shift 4711', 'Yard']);

	// A new message in the unpinned chat does not move it above the pinned one.
	await a.post(shift.id, 'Another one', { sender: 'piotr' });
	await anna.waitForFunction((id) => document.querySelector(`[data-test=chat-${id}] [data-test=unread]`), shift.id);
	assert.deepEqual(await listOrder(anna), ['Yard', 'Shift 4711']);

	assertNoProblems(anna);
	assertNoProblems(piotr);
});

test('console: the server restarts mid-conversation; both screens resync without reload or duplicates', async (t) => {
	const first = await heraldFor(t);
	const { tokens, shift } = await setup(first);
	const browser = await browserFor(t);
	const anna = await newPage(browser);
	const piotr = await newPage(browser);
	await signIn(anna, first, tokens.anna);
	await signIn(piotr, first, tokens.piotr);
	for (const p of [anna, piotr]) {
		await p.locator(`[data-test=chat-${shift.id}]`).click();
		await p.locator('[data-test=message]', { hasText: 'Gate 3 closes' }).waitFor();
		// survives only if the page is never reloaded
		await p.evaluate(() => (window.__noReload = 'still here'));
	}
	await anna.locator('[data-test=composer]').fill('Before the restart');
	await anna.keyboard.press('Enter');
	await piotr.locator('[data-test=message]', { hasText: 'Before the restart' }).waitFor();

	// Stop the server: both screens say they are offline.
	await first.stop('SIGTERM');
	await anna.locator('[data-test=offline-banner]').waitFor();
	await piotr.locator('[data-test=offline-banner]').waitFor();

	// Anna writes while offline: the message waits as pending.
	await anna.locator('[data-test=composer]').fill('Written while offline');
	await anna.keyboard.press('Enter');
	await anna.locator('[data-test=message][data-status=pending]', { hasText: 'Written while offline' }).waitFor();

	// The same data directory on the same port: the pages reconnect by themselves.
	const srv = await serverFor(t, {
		dataDir: first.dataDir,
		args: ['--listen', `127.0.0.1:${first.port}`],
		env: { HERALD_HTTP_WEB_ROOT: WEB_DIST },
	});
	await anna.locator('[data-test=offline-banner]').waitFor({ state: 'detached', timeout: 60000 });
	await piotr.locator('[data-test=offline-banner]').waitFor({ state: 'detached', timeout: 60000 });

	// The offline message went out once, and Piotr got it live.
	await anna.locator('[data-test=message][data-status=sent]', { hasText: 'Written while offline' }).waitFor();
	await piotr.locator('[data-test=message]', { hasText: 'Written while offline' }).waitFor();
	// Piotr answers after the restart.
	await piotr.locator('[data-test=composer]').fill('Got both');
	await piotr.keyboard.press('Enter');
	await anna.locator('[data-test=message]', { hasText: 'Got both' }).waitFor();

	for (const [who, p] of [['anna', anna], ['piotr', piotr]]) {
		for (const text of ['Gate 3 closes at 22:00.', 'Before the restart', 'Written while offline', 'Got both'])
			assert.equal(await countText(p, text), 1, `${who} sees "${text}" exactly once`);
		assert.equal(await p.evaluate(() => window.__noReload), 'still here', `${who}'s page was not reloaded`);
	}
	// The server stored the offline message once.
	const res = await fetch(`${srv.url}/api/v2/chats/${shift.id}/messages?limit=50`, { headers: { Authorization: `Bearer ${tokens.anna}` } });
	const hist = await res.json();
	assert.equal(hist.items.filter((m) => m.text === 'Written while offline').length, 1);
	// …and both screens show the chat's text messages in the server's order.
	const serverOrder = hist.items.filter((m) => m.kind === 'text').map((m) => m.text).reverse();
	for (const p of [anna, piotr])
		assert.deepEqual(await p.locator('[data-test=message] [data-test=text]').evaluateAll((els) => els.map((e) => e.textContent.trim())), serverOrder);

	// Browsers log the failed reconnect attempts while the server was down.
	const allow = [/WebSocket/i, /ERR_CONNECTION_REFUSED/, /Failed to load resource/];
	assertNoProblems(anna, allow);
	assertNoProblems(piotr, allow);
});

test('console: screenshots of the main screens (1280×800 and 390×844)', async (t) => {
	const srv = await heraldFor(t, { env: { HERALD_AUTH_DEV_LOGIN: 'true' } });
	const a = makeTenant(srv, { name: 'Nordwind Logistik GmbH' });
	await a.user('anna', 'Anna Schmidt', ['staff', 'dispatcher', 'admin']);
	await a.user('piotr', 'Piotr Nowak', ['staff']);
	await a.user('maria', 'Maria Rossi', ['staff']);
	await a.user('lukas', 'Lukas Weber', ['staff', 'dispatcher']);
	const piotr = await a.session('piotr');
	const shift = await a.group('Shift 4711 — Berlin Nord', ['anna', 'piotr', 'maria', { user: 'lukas', role: 'admin' }], { description: 'Night shift, gate 3' });
	const north = await a.group('Dispatch North', ['anna', 'lukas', 'maria']);
	const direct = okv2(await a.call('POST', '/api/v2/chats', { body: { type: 'direct', members: ['anna', 'piotr'] } }), 'direct');
	await a.post(north.id, 'Route plan for tomorrow: https://erp.example.com/routes/2026-11-26', { sender: 'lukas' });
	await a.post(north.id, 'Got it, thanks.', { sender: 'maria' });
	await a.post(shift.id, 'Gate 3 closes at 22:00 tonight.', { title: 'Notice' });
	await a.post(shift.id, 'Truck 17 is at the ramp, unloading now.', { sender: 'piotr' });
	const q = await a.post(shift.id, 'Thanks! @maria can you check the pallets?', { sender: 'anna' });
	await a.post(shift.id, 'On it, 10 minutes.', { sender: 'maria', reply_to: q.seq });
	await a.post(direct.id, 'Hi Anna, can I swap my Friday shift?', { sender: 'piotr' });
	okv2(await a.call('PUT', '/api/v2/topics/orders', { body: { access: 'tenant', keep: 100 } }), 'topic');
	for (const [order, status, customer] of [
		[4711, 'new', 'ACME GmbH'],
		[4712, 'picking', 'Baltic Foods'],
		[4713, 'ready', 'Kraków Trans'],
		[4714, 'new', 'Nordwind'],
		[4715, 'shipped', 'Lyon Frais'],
	])
		okv2(await a.call('POST', '/api/v2/topics/orders/events', { body: { data: { order, status, customer } } }), 'topic event');

	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: DESKTOP });

	await page.goto(`${srv.url}/#/login`);
	await page.locator('[data-test=inn]').waitFor();
	await screenshot(page, 'console-sign-in');
	// the development drop-down, offered because the server enables it
	await page.locator('[data-test=tab-user]').click();
	await page.locator('[data-test=dev-inn]').fill(a.inn);
	await page.locator('[data-test=dev-load]').click();
	await page.locator('[data-test=dev-user]').selectOption('anna');
	await page.locator('[data-test=dev-submit]').click();
	await page.locator('[data-test=chat-search]').waitFor();
	// the polite question about browser notifications; "Not now" is remembered
	await page.getByRole('button', { name: 'Not now' }).click();

	await page.locator(`[data-test=chat-${shift.id}]`).click();
	await page.locator('[data-test=message]', { hasText: 'On it, 10 minutes.' }).waitFor();
	// Piotr reads, so the receipts show ✓ and "read by 1 of 3"
	okv2(await a.call('POST', `/api/v2/chats/${shift.id}/read`, { token: piotr, body: { seq: q.seq } }), 'piotr reads');
	await page.locator('[data-test=receipt][data-receipt=partial]').waitFor();
	await page.locator('[data-test=composer]').fill('Pallets are fine, loading starts at 21:30.');
	await screenshot(page, 'console-chat');

	await page.locator('[data-test=chat-info]').click();
	await page.locator('[data-test=chat-info-panel] [data-test=members]').waitFor();
	await screenshot(page, 'console-chat-details', { sizes: [DESKTOP] });
	await page.locator('[data-test=chat-info]').click();

	await page.goto(`${srv.url}/#/chats`);
	await page.locator('[data-test=new-chat]').click();
	await page.locator('[data-test=newchat-title]').fill('Yard team');
	await page.locator('[data-test=person-maria]').click();
	await page.locator('[data-test=person-lukas]').click();
	await screenshot(page, 'console-new-chat');
	await page.keyboard.press('Escape');

	await page.setViewportSize(PHONE);
	await page.goto(`${srv.url}/#/chats`);
	await page.locator(`[data-test=chat-${direct.id}]`).waitFor();
	await screenshot(page, 'console-chat-list', { sizes: [PHONE] });
	await page.setViewportSize(DESKTOP);

	await page.goto(`${srv.url}/#/orders`);
	await page.locator('[data-test=order-card]').nth(4).waitFor();
	await screenshot(page, 'console-orders');
	// a live event moves a card without a reload
	okv2(await a.call('POST', '/api/v2/topics/orders/events', { body: { data: { order: 4714, status: 'ready', customer: 'Nordwind' } } }), 'event');
	await page.waitForFunction(() => {
		const col = [...document.querySelectorAll('[data-test=orders-board] section')].find((s) => s.getAttribute('aria-label') === 'Ready');
		return col && col.querySelector('[data-order="4714"]');
	});
	assert.equal(await page.locator('[data-order="4714"]').count(), 1, 'the order is shown once, in its new column');

	await page.goto(`${srv.url}/#/docs`);
	await page.locator('[data-test=docs-guide]').waitFor();
	await screenshot(page, 'console-docs-guide');
	await page.goto(`${srv.url}/#/docs/api`);
	await page.locator('[data-test=api-op]').first().waitFor();
	// every operation of docs/openapi.yaml is listed
	const ops = await page.locator('[data-test=api-op]').count();
	assert.ok(ops >= 40, `the API reference lists ${ops} operations`);
	await page.locator('[data-op=postMessage] > summary').click();
	await page.locator('[data-op=postMessage] > summary').scrollIntoViewIfNeeded();
	await screenshot(page, 'console-docs-api');

	// dark theme and another language
	await page.goto(`${srv.url}/#/chats/${north.id}`);
	await page.locator('[data-test=message]', { hasText: 'Got it, thanks.' }).waitFor();
	await page.locator('[data-test=user-menu]').click();
	await page.locator('[data-test=language]').selectOption('de');
	await page.locator('[data-test=theme-toggle]').click();
	await page.locator('[data-test=user-menu]').click();
	await page.locator('[data-test=nav-chats]', { hasText: 'Chats' }).waitFor();
	assert.equal(await page.evaluate(() => document.documentElement.lang), 'de');
	assert.equal(await page.evaluate(() => document.documentElement.classList.contains('dark')), true);
	await page.locator('[data-test=composer]').fill('');
	await screenshot(page, 'console-chat-dark-de', { sizes: [DESKTOP] });

	assertNoProblems(page, [/Failed to load resource.*40[34]/]);
});
