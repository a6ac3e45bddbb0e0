// static.test.mjs — herald serve as the web apps' file server (http.web_root):
// content types, cache policy, ETag/304, precompressed variants, the strict
// CSP, SPA fallbacks, traversal attempts, the landing page without a web
// root, and CORS for /api/v2 and /ws.
//
// The web root is made here (not web/dist), so the suite needs no Node build.

import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { serverFor, makeTempDir, RawClient, httpRequest, runCli } from './lib/harness.mjs';
import { makeTenant } from './lib/v2.mjs';
import WebSocket from 'ws';

const CSP =
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
	"worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const BIG_JS = 'export const greet = (n) => `hello ${n}`;\n'.repeat(200);

function webRoot() {
	const root = makeTempDir('herald-web-');
	const put = (rel, data) => {
		const f = path.join(root, rel);
		fs.mkdirSync(path.dirname(f), { recursive: true });
		fs.writeFileSync(f, data);
	};
	put('index.html', '<!doctype html><title>console</title><script type="module" src="/assets/index-Ab12Cd34.js"></script>');
	put('m/index.html', '<!doctype html><title>employee app</title>');
	put('m/sw.js', 'self.addEventListener("push", () => {});');
	put('m/manifest.webmanifest', '{"name":"herald"}');
	put('m/icon-192.png', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
	put('m/icon.svg', '<svg xmlns="http://www.w3.org/2000/svg"/>');
	put('assets/index-Ab12Cd34.js', BIG_JS);
	put('assets/index-Ab12Cd34.js.br', zlib.brotliCompressSync(Buffer.from(BIG_JS)));
	put('assets/index-Ab12Cd34.js.gz', zlib.gzipSync(Buffer.from(BIG_JS)));
	put('assets/style-Zz99Yy88.css', 'body{color:red}');
	put('assets/font-Qq11Ww22.woff2', Buffer.alloc(64, 1));
	put('embed/herald-chat.js', 'customElements.define("herald-chat", class extends HTMLElement {});');
	put('.env', 'SECRET=1');
	fs.symlinkSync('/etc/passwd', path.join(root, 'passwd'));
	fs.symlinkSync('/etc', path.join(root, 'etc'));
	return root;
}

async function webServer(t, env = {}) {
	return serverFor(t, { env: { HERALD_HTTP_WEB_ROOT: webRoot(), ...env } });
}

const req = (srv, p, headers = {}, method = 'GET') => httpRequest(srv.url, { path: p, headers, method });

/** GET with node:http (no automatic decoding): {status, headers, body: Buffer}. */
function binGet(srv, p, headers) {
	return new Promise((resolve, reject) => {
		http.get(`${srv.url}${p}`, { headers, agent: false }, (res) => {
			const parts = [];
			res.on('data', (d) => parts.push(d));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
		}).on('error', reject);
	});
}

/** One request written byte for byte (paths fetch would normalise); its response. */
async function raw(srv, text) {
	const c = new RawClient(srv.port);
	await c.connected;
	await c.write(text);
	const [r] = await c.waitResponses(1);
	c.destroy();
	assert.ok(r, `a response to ${JSON.stringify(text.slice(0, 80))}`);
	return r;
}

test('static: pages, types, cache policy and security headers', async (t) => {
	const srv = await webServer(t);
	const ev = srv.events().find((e) => e.event === 'web_root');
	assert.ok(ev && ev.files === 10, `web_root log line counts the loaded files: ${JSON.stringify(ev)}`);

	const root = await req(srv, '/');
	assert.equal(root.status, 200);
	assert.match(root.text, /<title>console<\/title>/);
	assert.equal(root.headers.get('content-type'), 'text/html; charset=utf-8');
	assert.equal(root.headers.get('cache-control'), 'no-cache');
	assert.equal(root.headers.get('content-security-policy'), CSP);
	assert.equal(root.headers.get('x-content-type-options'), 'nosniff');
	assert.equal(root.headers.get('referrer-policy'), 'strict-origin-when-cross-origin');
	assert.match(root.headers.get('etag'), /^"[0-9a-f]{16}"$/);

	const m = await req(srv, '/m/');
	assert.equal(m.status, 200);
	assert.match(m.text, /employee app/);
	const redirect = await req(srv, '/m');
	assert.equal(redirect.status, 301);
	assert.equal(redirect.headers.get('location'), '/m/');

	const want = {
		'/assets/index-Ab12Cd34.js': ['text/javascript; charset=utf-8', 'public, max-age=31536000, immutable'],
		'/assets/style-Zz99Yy88.css': ['text/css; charset=utf-8', 'public, max-age=31536000, immutable'],
		'/assets/font-Qq11Ww22.woff2': ['font/woff2', 'public, max-age=31536000, immutable'],
		'/m/sw.js': ['text/javascript; charset=utf-8', 'no-cache'],
		'/m/manifest.webmanifest': ['application/manifest+json; charset=utf-8', 'no-cache'],
		'/m/icon-192.png': ['image/png', 'no-cache'],
		'/m/icon.svg': ['image/svg+xml; charset=utf-8', 'no-cache'],
		'/embed/herald-chat.js': ['text/javascript; charset=utf-8', 'no-cache'],
	};
	for (const [p, [type, cache]] of Object.entries(want)) {
		const r = await req(srv, p);
		assert.equal(r.status, 200, p);
		assert.equal(r.headers.get('content-type'), type, `${p} type`);
		assert.equal(r.headers.get('cache-control'), cache, `${p} cache`);
		assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
	}
	const sw = await req(srv, '/m/sw.js');
	assert.equal(sw.headers.get('service-worker-allowed'), '/m/');
	// the embed script runs in other sites' pages: readable cross-origin, no page CSP
	const embed = await req(srv, '/embed/herald-chat.js');
	assert.equal(embed.headers.get('access-control-allow-origin'), '*');
	assert.equal(embed.headers.get('content-security-policy'), null);

	// HEAD: the headers of GET, no body
	const head = await req(srv, '/assets/index-Ab12Cd34.js', {}, 'HEAD');
	assert.equal(head.status, 200);
	assert.equal(head.text, '');
	assert.equal(Number(head.headers.get('content-length')), Buffer.byteLength(BIG_JS));
	// other methods are not file operations
	const post = await req(srv, '/index.html', {}, 'POST');
	assert.equal(post.status, 404);
	assert.equal(post.headers.get('x-herald-error'), 'route_not_found');
});

test('static: ETag and 304, per encoding', async (t) => {
	const srv = await webServer(t);
	const p = '/assets/index-Ab12Cd34.js';
	const plain = await req(srv, p);
	const tag = plain.headers.get('etag');
	const again = await req(srv, p, { 'If-None-Match': tag });
	assert.equal(again.status, 304);
	assert.equal(again.text, '');
	assert.equal(again.headers.get('etag'), tag);
	assert.equal(again.headers.get('cache-control'), 'public, max-age=31536000, immutable');
	assert.equal((await req(srv, p, { 'If-None-Match': `"other", W/${tag}` })).status, 304);
	assert.equal((await req(srv, p, { 'If-None-Match': '"0000000000000000"' })).status, 200);

	const br = await req(srv, p, { 'Accept-Encoding': 'br' });
	const brTag = br.headers.get('etag');
	assert.notEqual(brTag, tag, 'the brotli bytes have their own tag');
	assert.equal((await req(srv, p, { 'Accept-Encoding': 'br', 'If-None-Match': brTag })).status, 304);
	// a tag of the gzip bytes does not validate the identity bytes
	const gz = await req(srv, p, { 'Accept-Encoding': 'gzip' });
	assert.equal((await req(srv, p, { 'If-None-Match': gz.headers.get('etag') })).status, 200);

	const page = await req(srv, '/m/');
	assert.equal((await req(srv, '/m/', { 'If-None-Match': page.headers.get('etag') })).status, 304);
});

test('static: precompressed variants by Accept-Encoding', async (t) => {
	const srv = await webServer(t);
	const p = '/assets/index-Ab12Cd34.js';
	const fetchRaw = async (ae) => {
		return binGet(srv, p, ae === null ? {} : { 'Accept-Encoding': ae });
	};
	const id = await fetchRaw(null);
	assert.equal(id.headers['content-encoding'], undefined);
	assert.equal(id.headers.vary, 'Accept-Encoding');
	assert.equal(id.body.toString(), BIG_JS);

	const br = await fetchRaw('gzip, deflate, br');
	assert.equal(br.headers['content-encoding'], 'br');
	assert.equal(br.headers.vary, 'Accept-Encoding');
	assert.ok(br.body.length < Buffer.byteLength(BIG_JS));
	assert.equal(zlib.brotliDecompressSync(br.body).toString(), BIG_JS);

	const gz = await fetchRaw('gzip');
	assert.equal(gz.headers['content-encoding'], 'gzip');
	assert.equal(zlib.gunzipSync(gz.body).toString(), BIG_JS);

	const refused = await fetchRaw('br;q=0, gzip;q=0');
	assert.equal(refused.headers['content-encoding'], undefined);
	assert.equal(refused.body.toString(), BIG_JS);

	// a file without variants has no Vary and is sent as is
	const css = await req(srv, '/assets/style-Zz99Yy88.css', { 'Accept-Encoding': 'br, gzip' });
	assert.equal(css.headers.get('content-encoding'), null);
	assert.equal(css.headers.get('vary'), null);
	// the variants are not files of their own
	assert.equal((await req(srv, `${p}.br`)).status, 404);
});

test('static: SPA fallbacks and what never falls back', async (t) => {
	const srv = await webServer(t);
	for (const p of ['/chats/5', '/cabinet/employees', '/orders']) {
		const r = await req(srv, p);
		assert.equal(r.status, 200, p);
		assert.match(r.text, /<title>console<\/title>/, p);
		assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
		assert.equal(r.headers.get('content-security-policy'), CSP);
	}
	for (const p of ['/m/chats/7', '/m/inbox', '/m/profile/']) {
		const r = await req(srv, p);
		assert.equal(r.status, 200, p);
		assert.match(r.text, /employee app/, p);
	}
	// a missing file is never answered with a page
	for (const p of ['/assets/gone-12345678.js', '/m/missing.png', '/embed/other', '/favicon.ico', '/.env']) {
		const r = await req(srv, p);
		assert.equal(r.status, 404, p);
		assert.equal(r.headers.get('x-herald-error'), 'route_not_found', p);
		assert.match(r.headers.get('content-type'), /^application\/json/, p);
	}
	// the server's own paths stay the server's
	const h = await req(srv, '/healthz');
	assert.equal(h.json.status, 'ok');
	for (const p of ['/api/v2/nothing', '/api/v1/nothing', '/api', '/metricsx/../metrics']) {
		const r = await req(srv, p);
		assert.notEqual(r.headers.get('content-type'), 'text/html; charset=utf-8', p);
	}
	assert.equal((await req(srv, '/api/v2/nothing')).status, 404);
	assert.match((await req(srv, '/metrics')).text, /herald_/);
});

test('static: traversal attempts get nothing from outside the root', async (t) => {
	const srv = await webServer(t);
	const attempts = [
		'/../../../../etc/passwd',
		'/%2e%2e/%2e%2e/etc/passwd',
		'/..%2f..%2f..%2fetc%2fpasswd',
		'/%2E%2E%2F%2E%2E%2Fetc/passwd',
		'/m/../../etc/passwd',
		'/assets/..%5c..%5cetc%5cpasswd',
		'/index.html%00.png',
		'/m/%2e/index.html',
		'/a%0d%0aSet-Cookie:%20x=1',
		'/%zz',
	];
	for (const p of attempts) {
		const r = await raw(srv, `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`);
		assert.equal(r.status, 400, `${p}: ${r.status} ${r.body}`);
		assert.equal(r.headers['x-herald-error'], 'bad_request', p);
		assert.doesNotMatch(r.body.toString(), /root:x:0:0/, p);
		assert.equal(r.headers['set-cookie'], undefined);
	}
	// symlinks out of the root were not loaded: the names are client routes
	// (the console page) or missing files, never the targets
	for (const p of ['/passwd', '/etc/passwd', '/etc/hostname', '/etc/os-release']) {
		const r = await req(srv, p);
		assert.doesNotMatch(r.text, /root:x:0:0|PRETTY_NAME/, p);
		assert.ok(r.status === 404 || /<title>console<\/title>/.test(r.text), `${p}: ${r.status} ${r.text.slice(0, 80)}`);
	}
	const skipped = srv.events().filter((e) => e.event === 'web_root_skip').map((e) => e.file);
	assert.deepEqual(skipped.sort(), ['/etc', '/passwd']);
});

test('static: without a web root / is the landing page with a hint, the API is unchanged', async (t) => {
	const srv = await serverFor(t, { env: { HERALD_HTTP_WEB_ROOT: path.join(makeTempDir(), 'nothing-here') } });
	const r = await req(srv, '/');
	assert.equal(r.status, 200);
	assert.match(r.text, /herald is running/);
	assert.match(r.text, /run make/);
	assert.ok(srv.events().some((e) => e.event === 'web_root_missing'));
	assert.equal((await req(srv, '/m/')).status, 404);
	assert.equal((await req(srv, '/chats/5')).status, 404);
	// the configuration lists the key with its default
	const cfg = runCli(['config']);
	assert.match(cfg.stdout, /http\.web_root\s*=?\s*web\/dist/);
	assert.match(cfg.stdout, /http\.cors_origins/);
});

test('cors: any origin by default, preflight answered, /ws open', async (t) => {
	const srv = await webServer(t);
	const a = makeTenant(srv);
	await a.user('emp-1', 'Anna');
	const tok = await a.session('emp-1');
	const origin = 'http://planner.example:3000';

	const pre = await req(srv, '/api/v2/chats/by-ref/shift/4711', {
		Origin: origin,
		'Access-Control-Request-Method': 'GET',
		'Access-Control-Request-Headers': 'authorization',
	}, 'OPTIONS');
	assert.equal(pre.status, 204);
	assert.equal(pre.headers.get('access-control-allow-origin'), '*');
	assert.match(pre.headers.get('access-control-allow-methods'), /\bPATCH\b/);
	assert.match(pre.headers.get('access-control-allow-headers'), /Authorization/);
	assert.match(pre.headers.get('access-control-allow-headers'), /Content-Type/);
	assert.equal(pre.headers.get('access-control-max-age'), '600');

	const me = await httpRequest(srv.url, { path: '/api/v2/me', token: `Bearer ${tok}`, headers: { Origin: origin } });
	assert.equal(me.status, 200);
	assert.equal(me.headers.get('access-control-allow-origin'), '*');
	assert.match(me.headers.get('access-control-expose-headers'), /X-Herald-Error/);
	// errors too, so the page can read the code
	const bad = await httpRequest(srv.url, { path: '/api/v2/me', token: 'Bearer nope', headers: { Origin: origin } });
	assert.equal(bad.status, 401);
	assert.equal(bad.headers.get('access-control-allow-origin'), '*');
	// same-origin pages and calls without Origin get no CORS headers
	const plain = await httpRequest(srv.url, { path: '/api/v2/me', token: `Bearer ${tok}` });
	assert.equal(plain.headers.get('access-control-allow-origin'), null);
	// /api/v1 (the original mobile app's API) is not opened to pages
	const v1 = await req(srv, '/api/v1/auth', { Origin: origin, 'Access-Control-Request-Method': 'POST' }, 'OPTIONS');
	assert.equal(v1.status, 405);

	const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/ws?token=${encodeURIComponent(tok)}`, { origin });
	await new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('unexpected-response', (_q, res) => reject(new Error(`ws refused: ${res.statusCode}`)));
		ws.once('error', reject);
	});
	ws.close();
});

test('cors: a list of origins allows those only', async (t) => {
	const allowed = 'https://plan.example.com';
	const srv = await webServer(t, { HERALD_HTTP_CORS_ORIGINS: `${allowed}, http://localhost:5173` });
	const a = makeTenant(srv);
	await a.user('emp-1', 'Anna');
	const tok = await a.session('emp-1');

	const ok = await req(srv, '/api/v2/me', { Origin: allowed, 'Access-Control-Request-Method': 'GET' }, 'OPTIONS');
	assert.equal(ok.status, 204);
	assert.equal(ok.headers.get('access-control-allow-origin'), allowed);
	assert.equal(ok.headers.get('vary'), 'Origin');
	const me = await httpRequest(srv.url, { path: '/api/v2/me', token: `Bearer ${tok}`, headers: { Origin: allowed } });
	assert.equal(me.headers.get('access-control-allow-origin'), allowed);

	const evil = 'https://evil.example';
	const no = await req(srv, '/api/v2/me', { Origin: evil, 'Access-Control-Request-Method': 'GET' }, 'OPTIONS');
	assert.equal(no.status, 403);
	assert.equal(no.headers.get('x-herald-error'), 'forbidden');
	assert.equal(no.headers.get('access-control-allow-origin'), null);
	const read = await httpRequest(srv.url, { path: '/api/v2/me', token: `Bearer ${tok}`, headers: { Origin: evil } });
	assert.equal(read.headers.get('access-control-allow-origin'), null, 'the browser keeps the answer from the page');

	const refused = await new Promise((resolve) => {
		const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/ws?token=${encodeURIComponent(tok)}`, { origin: evil });
		ws.once('unexpected-response', (_q, res) => resolve(res.statusCode));
		ws.once('open', () => {
			ws.close();
			resolve(101);
		});
		ws.once('error', () => resolve(-1));
	});
	assert.equal(refused, 403);
	// the server's own pages are never cross-origin
	const own = new URL(srv.url);
	const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/ws?token=${encodeURIComponent(tok)}`, { origin: `http://${own.host}` });
	await new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('unexpected-response', (_q, res) => reject(new Error(`own origin refused: ${res.statusCode}`)));
	});
	ws.close();
});

test('cors: a value that is no origin stops the server with a clear message', async () => {
	const dir = makeTempDir();
	const r = runCli(['serve', '--data', dir, '--listen', '127.0.0.1:0'], {
		env: { HERALD_HTTP_CORS_ORIGINS: 'plan.example.com/path' },
		timeoutMs: 20000,
	});
	assert.notEqual(r.status, 0);
	assert.match(r.stderr, /http\.cors_origins: "plan\.example\.com\/path" is not an origin/);
});
