// The company cabinet inside the console, against the real server's cabinet API
// (/api/v2/cabinet/*): sign in with INN and password, the employee table, the message list
// whose filters, sorting and CSV export must show exactly what the API returns, the detail
// of one message, sending, statistics, settings — and screenshots of each screen.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { heraldFor, browserFor, newPage, assertNoProblems, screenshot, api, okv2, v1, DESKTOP } from './lib/harness.mjs';

/** The cabinet API exists in this build? (It is built on another branch; until it is merged the routes answer 404.) */
async function cabinetAvailable(srv) {
	const r = await api(srv, 'GET', '/api/v2/cabinet/tenant', { token: srv.demo.token });
	return r.status !== 404 || (r.json && r.json.error && r.json.error.code !== 'route_not_found');
}

async function signInCabinet(page, srv) {
	await page.goto(`${srv.url}/#/login?mode=cabinet`);
	await page.locator('[data-test=inn]').fill(srv.demo.inn);
	await page.locator('[data-test=password]').fill('wrong-password');
	await page.locator('[data-test=signin-submit]').click();
	await page.locator('[data-test=signin-error]').waitFor();
	await page.locator('[data-test=password]').fill(srv.demo.password);
	await page.locator('[data-test=signin-submit]').click();
	await page.locator('[data-test=employees-table]').waitFor();
}

/** Ids of the message rows on screen, top to bottom. */
const rowIds = (page) => page.locator('[data-test=message-row]').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));

async function waitRows(page, ids) {
	await page.waitForFunction(
		(want) => JSON.stringify([...document.querySelectorAll('[data-test=message-row]')].map((e) => Number(e.dataset.id))) === JSON.stringify(want),
		ids,
	);
}

test('cabinet: filters, sorting and CSV export show exactly what the API returns; screenshots', async (t) => {
	const srv = await heraldFor(t, { demo: true });
	if (!(await cabinetAvailable(srv))) {
		t.skip('the cabinet API (/api/v2/cabinet/*) is not in this build yet');
		return;
	}
	const token = srv.demo.token;
	const cab = (method, p, opts = {}) => api(srv, method, p, { token, ...opts });
	const emps = okv2(await cab('GET', '/api/v2/cabinet/employees?limit=50'), 'employees').items;
	assert.ok(emps.length >= 3, 'the demo tenant has employees');
	// A few more messages per employee, so that filters and pages have something to do.
	for (const [i, e] of emps.entries())
		for (let k = 0; k < 4 + i * 3; k++)
			okv2(await v1(srv.url, 'createmessage', { inn: srv.demo.inn, staffid: e.staff_id, title: `Shift ${4700 + k}`, message: `Start moved to ${6 + (k % 4)}:00 (${e.name})` }, { token }), 'createmessage');

	const browser = await browserFor(t);
	const page = await newPage(browser, { viewport: DESKTOP });
	await signInCabinet(page, srv);

	// Employees: the table shows the API's list.
	const rows = await page.locator('[data-test=employee-row]').evaluateAll((els) => els.map((e) => e.dataset.staff));
	assert.deepEqual(rows, emps.map((e) => e.staff_id));
	await screenshot(page, 'cabinet-employees');

	// Messages: the first page and the total are the API's.
	await page.locator('[data-test=nav-messages]').click();
	await page.locator('[data-test=message-row]').first().waitFor();
	const all = okv2(await cab('GET', '/api/v2/cabinet/messages?limit=25&offset=0&sort=created_at&order=desc'), 'messages');
	await waitRows(page, all.items.map((m) => m.id));
	assert.match(await page.locator('[data-test=messages-total]').innerText(), new RegExp(`\\b${all.total}\\b`));
	await screenshot(page, 'cabinet-messages');

	// Filter by employee.
	const who = emps[emps.length - 1];
	await page.locator('[data-test=filter-employee]').selectOption(who.staff_id);
	const byEmp = okv2(await cab('GET', `/api/v2/cabinet/messages?employee=${who.staff_id}&limit=25&offset=0&sort=created_at&order=desc`), 'by employee');
	assert.ok(byEmp.total > 0 && byEmp.total < all.total);
	await waitRows(page, byEmp.items.map((m) => m.id));

	// Sort by title, ascending.
	await page.locator('[data-test=sort-title]').click();
	const byTitle = okv2(await cab('GET', `/api/v2/cabinet/messages?employee=${who.staff_id}&limit=25&offset=0&sort=title&order=asc`), 'sorted');
	await waitRows(page, byTitle.items.map((m) => m.id));

	// Date range: today only (every message is from today) and a range in the past (none).
	const today = new Date();
	const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
	await page.locator('[data-test=filter-from]').fill('2020-01-01');
	await page.locator('[data-test=filter-to]').fill('2020-01-31');
	const past = okv2(await cab('GET', `/api/v2/cabinet/messages?employee=${who.staff_id}&from=2020-01-01&to=2020-01-31&limit=25&offset=0&sort=title&order=asc`), 'past');
	assert.equal(past.total, 0);
	await page.locator('[data-test=messages-empty]').waitFor();
	// from after to while typing: the form says so and asks the server nothing
	await page.locator('[data-test=filter-from]').fill(iso(today));
	await page.locator('[data-test=range-invalid]').waitFor();
	await page.locator('[data-test=filter-to]').fill(iso(today));
	await page.locator('[data-test=range-invalid]').waitFor({ state: 'detached' });
	const now = okv2(await cab('GET', `/api/v2/cabinet/messages?employee=${who.staff_id}&from=${iso(today)}&to=${iso(today)}&limit=25&offset=0&sort=title&order=asc`), 'today');
	await waitRows(page, now.items.map((m) => m.id));

	// Status filter: whatever the API answers for "queued".
	await page.locator('[data-test=filter-status]').selectOption('queued');
	const queued = okv2(await cab('GET', `/api/v2/cabinet/messages?employee=${who.staff_id}&from=${iso(today)}&to=${iso(today)}&status=queued&limit=25&offset=0&sort=title&order=asc`), 'queued');
	await waitRows(page, queued.items.map((m) => m.id));
	await page.locator('[data-test=filter-status]').selectOption('');

	// CSV export: the downloaded file is byte for byte what the API gives for this selection.
	const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test=export-csv]').click()]);
	assert.equal(download.suggestedFilename(), 'messages.csv');
	const file = fs.readFileSync(await download.path(), 'utf8');
	const csv = await cab('GET', `/api/v2/cabinet/messages?employee=${who.staff_id}&from=${iso(today)}&to=${iso(today)}&sort=title&order=asc&format=csv`);
	assert.equal(csv.status, 200);
	assert.equal(file, csv.text);
	const lines = file.trim().split('\n');
	assert.equal(lines[0].replace(/\r$/, ''), 'id,created_at,employee_id,employee_name,phone,title,text,status,sent_at,delivered_at,read_at,failed_reason');
	assert.equal(lines.length - 1, now.total, 'one CSV row per message of the selection');

	// The detail view of one message, with its deliveries.
	await page.locator('[data-test=message-row]').first().click();
	await page.locator('[data-test=message-detail]').waitFor();
	const detail = okv2(await cab('GET', `/api/v2/cabinet/messages/${now.items[0].id}`), 'detail');
	assert.equal(await page.locator('[data-test=delivery-row]').count(), detail.deliveries.length);
	await screenshot(page, 'cabinet-message-detail');
	await page.keyboard.press('Escape');

	// Send to one employee, with the confirmation step; the API then lists it.
	await page.locator('[data-test=nav-send]').click();
	await page.locator(`[data-test=pick-${emps[0].staff_id}]`).check();
	await page.locator('[data-test=send-title]').fill('Shift change');
	await page.locator('[data-test=send-text]').fill('Tomorrow the early shift starts at 06:30.');
	await screenshot(page, 'cabinet-send');
	await page.locator('[data-test=send-review]').click();
	await page.locator('[data-test=send-confirm]').click();
	await page.locator('[data-test=send-done]').waitFor();
	const sent = okv2(await cab('GET', `/api/v2/cabinet/messages?employee=${emps[0].staff_id}&limit=1&sort=created_at&order=desc`), 'after send');
	assert.equal(sent.items[0].title, 'Shift change');

	await page.locator('[data-test=nav-stats]').click();
	await page.locator('[data-test=stats-chart]').waitFor();
	const stats = okv2(await cab('GET', '/api/v2/cabinet/stats'), 'stats');
	assert.match(await page.locator('[data-test=stat-messages]').innerText(), new RegExp(String(stats.totals.messages)));
	await screenshot(page, 'cabinet-stats');

	await page.locator('[data-test=nav-settings]').click();
	await page.locator('[data-test=tenant-inn]', { hasText: srv.demo.inn }).waitFor();
	await screenshot(page, 'cabinet-settings');

	assertNoProblems(page, [/Failed to load resource.*40[14]/]);
});

test('cabinet: on a server without the cabinet API the sign-in says so instead of failing silently', async (t) => {
	const srv = await heraldFor(t, { demo: true });
	if (await cabinetAvailable(srv)) {
		t.skip('this build has the cabinet API');
		return;
	}
	const browser = await browserFor(t);
	const page = await newPage(browser);
	await page.goto(`${srv.url}/#/login?mode=cabinet`);
	await page.locator('[data-test=inn]').fill('12345');
	await page.locator('[data-test=signin-submit]').click();
	assert.match(await page.locator('[data-test=signin-error]').innerText(), /10 or 12 digits/);
	await page.locator('[data-test=inn]').fill(srv.demo.inn);
	await page.locator('[data-test=password]').fill(srv.demo.password);
	await page.locator('[data-test=signin-submit]').click();
	assert.match(await page.locator('[data-test=signin-error]').innerText(), /does not offer the company cabinet/);
	assertNoProblems(page, [/Failed to load resource.*404/]);
});
