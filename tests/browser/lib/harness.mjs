// harness.mjs — helpers for the browser tests of herald's web apps.
//
// Real parts only: the sanitizer build of herald (HERALD_BIN, as in
// tests/blackbox) on a temporary data directory and a free port, serving the
// built web apps (web/dist, built by `make`), and Debian's Chromium driven by
// playwright-core. Playwright never downloads a browser here: every launch
// names the executable (CHROMIUM_PATH, default /usr/bin/chromium).
//
// The server side reuses tests/blackbox/lib (startServer, tenants, v1 login,
// the SMS outbox of the `log` provider, the /api/v2 client), so both suites
// start herald the same way.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BROWSER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(BROWSER_DIR, '..', '..');
export const WEB_DIST = path.resolve(REPO_DIR, process.env.HERALD_WEB_ROOT || 'web/dist');
// Every run takes the screenshots (so the screens are rendered at both sizes),
// into build/screenshots; `make screenshots` points this at docs/screenshots
// to refresh the checked-in ones.
export const SCREENSHOT_DIR = process.env.HERALD_SCREENSHOT_DIR ? path.resolve(process.env.HERALD_SCREENSHOT_DIR) : path.join(REPO_DIR, 'build', 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// HERALD_BIN is relative to this suite's directory (../../build/asan/herald,
// as for tests/blackbox); made absolute before the black-box library, which
// resolves it against its own directory, reads it.
process.env.HERALD_BIN = path.resolve(BROWSER_DIR, process.env.HERALD_BIN || '../../build/asan/herald');

const bb = await import('../../blackbox/lib/harness.mjs');
const v2lib = await import('../../blackbox/lib/v2.mjs');
const { chromium } = await import('playwright-core');

export const {
	startServer,
	serverFor,
	createTenant,
	freshInn,
	readSmsCode,
	readSmsRecords,
	login,
	setupTenant,
	sendMessage,
	v1,
	get,
	runCli,
	sleep,
	makeTempDir,
} = bb;
export const { api, okv2, errv2, makeTenant, signJwt, jwtSecret } = v2lib;
export { chromium };

/** Screen sizes of the checked-in screenshots: desktop and phone. */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// ---------------------------------------------------------------------------
// the server

/**
 * herald for one test, serving web/dist, stopped (gracefully, sanitizer-
 * checked) after the test. opts.env adds HERALD_* settings; opts.demo adds
 * --demo (the demo tenant; its INN and password are in srv.demo).
 */
export async function heraldFor(t, { env = {}, demo = false, args = [] } = {}) {
	assert.ok(
		fs.existsSync(path.join(WEB_DIST, 'index.html')),
		`${WEB_DIST}/index.html is missing: build the web apps first (make, or npm run build in web/)`,
	);
	const srv = await serverFor(t, {
		env: {
			HERALD_HTTP_WEB_ROOT: WEB_DIST,
			HERALD_SMS_RESEND_COOLDOWN: '0s',
			HERALD_SMS_PER_IP_HOUR: '1000',
			HERALD_SMS_PER_PHONE_HOUR: '1000',
			...env,
		},
		args: demo ? ['--demo', ...args] : args,
	});
	if (demo) srv.demo = parseDemo(srv.stdout());
	return srv;
}

/** The demo tenant's summary printed by `serve --demo`: {inn, password, token}. */
export function parseDemo(text) {
	const pick = (re) => (re.exec(text) || [])[1];
	return {
		inn: pick(/INN[^0-9]*(\d{10,12})/i),
		password: pick(/password[:\s]+(\S+)/i),
		token: pick(/token[:\s]+(\S+)/i),
		text,
	};
}

/**
 * A tenant with an employee signed in through /api/v1 (auth + SMS code +
 * confirmsmscode), as the original app does it. Returns {inn, token (the
 * tenant's API token), phone, name, app (the confirm data: apitoken, staffid…)}.
 */
export async function tenantWithEmployee(srv, { inn = freshInn(), phone, name = 'Мария Петрова' } = {}) {
	const token = createTenant(srv.dataDir, { inn });
	phone = phone || `+7923${inn.slice(-4)}555`;
	const app = await login(srv.url, srv.dataDir, inn, phone, name);
	return { inn, token, phone, name, app };
}

// ---------------------------------------------------------------------------
// the browser

/**
 * Chromium for one test, closed after it. Headless; --no-sandbox because
 * CI runs as root, where Chromium's sandbox cannot start.
 */
export async function browserFor(t, { args = [] } = {}) {
	assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: scripts/setup.sh test installs Debian's chromium`);
	const browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-dev-shm-usage', ...args],
	});
	t.after(() => browser.close());
	return browser;
}

/**
 * A page in a fresh context (own storage) with console errors, page
 * errors and CSP violations collected in page.problems (assert it is empty
 * with assertNoProblems). opts: viewport, locale, mobile, and anything
 * browser.newContext takes.
 */
export async function newPage(browser, { viewport = DESKTOP, locale = 'en-US', mobile = false, ...ctx } = {}) {
	const context = await browser.newContext({
		viewport,
		locale,
		deviceScaleFactor: 1,
		isMobile: mobile,
		hasTouch: mobile,
		...ctx,
	});
	const page = await context.newPage();
	page.problems = [];
	page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error') page.problems.push(`console: ${m.text()}${m.location().url ? ` (${m.location().url})` : ''}`);
	});
	return page;
}

/** Fails with the collected problems, ignoring those matching allow (RegExps). */
export function assertNoProblems(page, allow = []) {
	const left = page.problems.filter((p) => !allow.some((re) => re.test(p)));
	assert.deepEqual(left, [], `the page reported errors:\n${left.join('\n')}`);
}

/**
 * Writes <SCREENSHOT_DIR>/<name>-1280x800.png and <name>-390x844.png of the
 * page as it is now (the viewport is switched for each and restored). Pass
 * sizes to take only some. Returns the files written.
 */
export async function screenshot(page, name, { sizes = [DESKTOP, PHONE], fullPage = false } = {}) {
	assert.match(name, /^[a-z0-9][a-z0-9-]*$/, 'screenshot names are lower-case words joined by -');
	fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
	const before = page.viewportSize();
	const files = [];
	for (const size of sizes) {
		const now = page.viewportSize();
		if (!now || now.width !== size.width || now.height !== size.height) {
			await page.setViewportSize(size);
			// let responsive layout and transitions settle before the capture
			await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
			await page.waitForTimeout(150);
		}
		const file = path.join(SCREENSHOT_DIR, `${name}-${size.width}x${size.height}.png`);
		await page.screenshot({ path: file, fullPage, animations: 'disabled' });
		files.push(file);
	}
	const now = page.viewportSize();
	if (before && (now.width !== before.width || now.height !== before.height)) {
		await page.setViewportSize(before);
		await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
	}
	return files;
}

// ---------------------------------------------------------------------------
// another origin (host pages, the embed example)

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.css': 'text/css; charset=utf-8',
	'.json': 'application/json',
	'.svg': 'image/svg+xml',
	'.png': 'image/png',
};

/**
 * A tiny static server for dir on 127.0.0.1 and a free port: a second
 * origin for pages that embed herald from elsewhere. Stopped after the test.
 * Returns {url, port}. Use "localhost" vs "127.0.0.1" to make two origins
 * of the same machine when needed.
 */
export async function staticServerFor(t, dir) {
	const root = path.resolve(dir);
	const server = http.createServer((req, res) => {
		const u = new URL(req.url, 'http://x');
		let p = path.normalize(decodeURIComponent(u.pathname));
		if (p.endsWith('/')) p += 'index.html';
		const file = path.join(root, p);
		if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
			res.writeHead(404, { 'Content-Type': 'text/plain' });
			res.end('not found');
			return;
		}
		res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
		fs.createReadStream(file).pipe(res);
	});
	await new Promise((r) => server.listen(0, '127.0.0.1', r));
	t.after(() => new Promise((r) => server.close(r)));
	const port = server.address().port;
	return { url: `http://127.0.0.1:${port}`, port, server };
}
