// Quiet hours from the employee app's profile: the switch and the two times are saved
// on the server (PUT/DELETE /api/v2/me/quiet-hours) with the browser's offset from UTC.
import test from 'node:test';
import assert from 'node:assert/strict';
import { heraldFor, browserFor, newPage, createTenant, freshInn, readSmsCode, api, okv2, assertNoProblems, PHONE } from './lib/harness.mjs';

test('employee app: quiet hours set and cleared from the profile reach the server', async (t) => {
	const srv = await heraldFor(t);
	const inn = freshInn();
	createTenant(srv.dataDir, { inn });
	const phone = `+7923${inn.slice(-4)}777`;
	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: PHONE, mobile: true, timezoneId: 'Europe/Moscow' });
	await page.goto(`${srv.url}/m/`);
	await page.getByLabel('Company INN').fill(inn);
	await page.getByLabel('Phone number').fill(phone);
	await page.getByLabel('Your name').fill('Ольга');
	await page.getByRole('button', { name: 'Get code by SMS' }).click();
	await page.getByRole('heading', { name: 'Enter the code' }).waitFor(); // the SMS is written by then
	await page.getByLabel('Code from the SMS').pressSequentially(readSmsCode(srv.dataDir, phone));
	await page.getByRole('heading', { name: 'Inbox' }).waitFor();
	const session = await page.evaluate(() => JSON.parse(localStorage.getItem('herald.m.session')));
	const quiet = async () => okv2(await api(srv, 'GET', '/api/v2/me', { token: session.token }), 'me').user.quiet_hours;
	assert.equal(await quiet(), null);

	await page.goto(`${srv.url}/m/profile`);
	await page.locator('[data-test=quiet-on]').check();
	await page.locator('[data-test=quiet-saved]').waitFor();
	assert.deepEqual(await quiet(), { from: '22:00', to: '07:00', utc_offset: 180 }, 'the defaults, at Moscow time');
	await page.locator('[data-test=quiet-from]').fill('21:30');
	await page.locator('[data-test=quiet-from]').dispatchEvent('change');
	for (let i = 0; i < 50 && (await quiet()).from !== '21:30'; i++) await new Promise((r) => setTimeout(r, 100));
	assert.deepEqual(await quiet(), { from: '21:30', to: '07:00', utc_offset: 180 });

	// a reload shows what the server keeps
	await page.reload();
	await page.locator('[data-test=quiet-from]').waitFor();
	assert.equal(await page.locator('[data-test=quiet-from]').inputValue(), '21:30');

	await page.locator('[data-test=quiet-on]').uncheck();
	for (let i = 0; i < 50 && (await quiet()) !== null; i++) await new Promise((r) => setTimeout(r, 100));
	assert.equal(await quiet(), null, 'cleared');
	assertNoProblems(page, [/Failed to load resource.*40[14]/]);
});
