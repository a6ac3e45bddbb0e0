// embed.test.mjs — <herald-chat> in examples/host-page, served from another origin
// (a tiny node static server): the host mints a user session server-side, the page
// shows the chat of its reference, the user sends a message, and a message posted by
// the host system arrives live.

import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {
	heraldFor,
	browserFor,
	newPage,
	assertNoProblems,
	screenshot,
	staticServerFor,
	makeTenant,
	api,
	okv2,
	REPO_DIR,
	DESKTOP,
} from './lib/harness.mjs';

test('embed: the host page on another origin shows the chat of its reference and sends', async (t) => {
	const srv = await heraldFor(t);
	const host = makeTenant(srv);
	await host.user('emp-1001', 'Anna Schmidt', ['staff', 'dispatcher']);
	await host.user('emp-1002', 'Jonas Weber');
	// the planning system ties a chat to its shift (and another one, which must not show)
	const shift = okv2(
		await host.call('PUT', '/api/v2/chats/by-ref/shift/4711', {
			body: { title: 'Shift 4711 — Berlin Nord', members: ['emp-1001', 'emp-1002'] },
		}),
		'by-ref chat',
	);
	const other = okv2(await host.call('PUT', '/api/v2/chats/by-ref/shift/4712', { body: { title: 'Shift 4712', members: ['emp-1001'] } }), 'other');
	await host.post(shift.id, 'Gate 3 is open from 21:45.', { sender: 'emp-1002' });
	await host.post(other.id, 'not for this page', { sender: 'emp-1001' });
	// server-side minting: a session for the signed-in dispatcher
	const token = await host.session('emp-1001');

	const site = await staticServerFor(t, path.join(REPO_DIR, 'examples', 'host-page'));
	assert.notEqual(new URL(site.url).origin, new URL(srv.url).origin, 'the host page is another origin');
	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: DESKTOP });
	const q = new URLSearchParams({ server: srv.url, token, ref: 'shift:4711', lang: 'en' });
	await page.goto(`${site.url}/index.html?${q}`);
	await page.getByRole('heading', { name: 'Shift 4711 — Berlin Nord' }).waitFor();

	// the element renders inside its shadow root (playwright's locators pierce it)
	const chat = page.locator('herald-chat');
	await chat.getByText('Gate 3 is open from 21:45.').waitFor();
	assert.equal(await chat.getByText('not for this page').count(), 0);
	assert.equal(await page.evaluate(() => document.querySelector('herald-chat').chat.id), shift.id);
	assert.ok(await page.evaluate(() => !!document.querySelector('herald-chat').shadowRoot), 'Shadow DOM');
	// the host's theme reaches the chat through the CSS variables
	const accent = await page.evaluate(() => getComputedStyle(document.querySelector('herald-chat')).getPropertyValue('--herald-accent').trim());
	assert.equal(accent, '#2f4a3a');

	const box = chat.getByRole('textbox').last();
	await box.fill('On my way, 10 minutes.');
	await box.press('Enter');
	await page.waitForFunction(
		async ([server, tok, id]) => {
			const r = await fetch(`${server}/api/v2/chats/${id}/messages`, { headers: { Authorization: 'Bearer ' + tok } });
			return (await r.json()).items.some((m) => m.text === 'On my way, 10 minutes.' && m.sender === 'emp-1001');
		},
		[srv.url, token, shift.id],
	);
	// live: a message from the host system shows without a reload
	okv2(await host.call('POST', `/api/v2/chats/${shift.id}/messages`, { body: { text: 'Truck 2 arrives at 23:10.' } }), 'server post', 201);
	await chat.getByText('Truck 2 arrives at 23:10.').waitFor();
	await screenshot(page, 'embed-host-page');
	assertNoProblems(page);
});

test('embed: a bad token or an unknown reference says so inside the element', async (t) => {
	const srv = await heraldFor(t);
	const host = makeTenant(srv);
	await host.user('emp-1', 'Anna');
	const token = await host.session('emp-1');
	const site = await staticServerFor(t, path.join(REPO_DIR, 'examples', 'host-page'));
	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: DESKTOP });

	await page.goto(`${site.url}/index.html?${new URLSearchParams({ server: srv.url, token: 'not-a-token', ref: 'shift:1', lang: 'en' })}`);
	const alert = page.locator('herald-chat').getByRole('alert');
	await alert.waitFor();
	assert.ok((await alert.innerText()).length > 5);

	await page.goto(`${site.url}/index.html?${new URLSearchParams({ server: srv.url, token, ref: 'shift:999', lang: 'en' })}`);
	await page.locator('herald-chat').getByRole('alert').waitFor();
	const r = await api(srv, 'GET', '/api/v2/chats/by-ref/shift/999', { token, headers: { 'Accept-Language': 'en' } });
	assert.equal(r.status, 404, 'the element reports what the API says');
	assert.equal(await page.locator('herald-chat').getByRole('alert').innerText(), r.json.error.message, 'the element shows the server sentence');
	assertNoProblems(page, [/the server responded with a status of 40[14]/]);
});
