// v2.mjs — helpers for the black-box tests of /api/v2 and the realtime
// stream on /ws: a REST client, tenants with users and tokens, HS256 JWTs
// signed with node:crypto, and a WebSocket client that collects frames.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { serverFor, createTenant, freshInn, sleep } from './harness.mjs';

export { WebSocket, sleep };

// ---------------------------------------------------------------------------
// REST

function parseMaybeJson(text) {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

/**
 * One /api/v2 request (or any path). token: sent as "Bearer <token>".
 * Returns {status, headers, json, text}.
 */
export async function api(srv, method, p, { token, body, headers = {} } = {}) {
	const h = { ...headers };
	if (token) h.Authorization = `Bearer ${token}`;
	let payload;
	if (body !== undefined) {
		payload = typeof body === 'string' ? body : JSON.stringify(body);
		h['Content-Type'] = 'application/json';
	}
	const res = await fetch(`${srv.url}${p}`, { method, headers: h, body: payload });
	const text = await res.text();
	return { status: res.status, headers: res.headers, json: parseMaybeJson(text), text };
}

/** Asserts a 2xx status (exactly `status` when given); returns the JSON body. */
export function okv2(res, what = '', status) {
	const good = status ? res.status === status : res.status >= 200 && res.status < 300;
	assert.ok(good, `${what}: expected ${status || '2xx'}, got ${res.status}: ${res.text.slice(0, 500)}`);
	assert.ok(res.json !== undefined, `${what}: JSON body: ${res.text.slice(0, 200)}`);
	return res.json;
}

/** Asserts an error response {error:{code,message}} with status and code. */
export function errv2(res, status, code, what = '') {
	assert.equal(res.status, status, `${what}: expected ${status} ${code}, got ${res.status}: ${res.text.slice(0, 500)}`);
	assert.ok(res.json && res.json.error, `${what}: error body: ${res.text.slice(0, 300)}`);
	assert.equal(res.json.error.code, code, `${what}: error code: ${res.text.slice(0, 300)}`);
	assert.equal(typeof res.json.error.message, 'string');
	return res.json.error;
}

// ---------------------------------------------------------------------------
// tenants and users

/**
 * A tenant on srv: {srv, inn, token (the API token), user(id, name, roles),
 * session(id), call(method, path, opts)}.
 */
export function makeTenant(srv, { inn = freshInn(), name } = {}) {
	const token = createTenant(srv.dataDir, { inn, ...(name ? { name } : {}) });
	const t = {
		srv,
		inn,
		token,
		/** REST as the server (the API token) unless opts.token is given. */
		call: (method, p, opts = {}) => api(srv, method, p, { token, ...opts }),
		async user(id, name = id, roles = ['staff'], extra = {}) {
			return okv2(await api(srv, 'PUT', `/api/v2/users/${encodeURIComponent(id)}`, { token, body: { name, roles, ...extra } }), `PUT user ${id}`);
		},
		async session(id) {
			const r = okv2(await api(srv, 'POST', '/api/v2/sessions', { token, body: { user: id } }), `session for ${id}`, 201);
			assert.match(r.token, /^\S{16,}$/);
			return r.token;
		},
		/** Creates users (spec: {id: roles}) and returns {id: token}. */
		async users(spec) {
			const toks = {};
			for (const [id, roles] of Object.entries(spec)) {
				await t.user(id, `Name ${id}`, roles);
				toks[id] = await t.session(id);
			}
			return toks;
		},
		/** Creates a group chat as the server; members [{user, role}] or ids. */
		async group(title, members, extra = {}) {
			return okv2(await api(srv, 'POST', '/api/v2/chats', { token, body: { type: 'group', title, members, ...extra } }), `create group ${title}`, 201);
		},
		async post(chat, text, { as, ...extra } = {}) {
			return okv2(await api(srv, 'POST', `/api/v2/chats/${chat}/messages`, { token: as || token, body: { text, ...extra } }), `post to ${chat}`, 201);
		},
	};
	return t;
}

/** A server for this test plus one tenant. */
export async function world(t, { env = {}, inn } = {}) {
	const srv = await serverFor(t, { env });
	const a = makeTenant(srv, { inn });
	return { srv, a };
}

// ---------------------------------------------------------------------------
// JWT

export const b64url = (buf) => Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
export const b64urlDecode = (s) => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

/** An HS256 JWT over claims; header and the raw signing key may be overridden. */
export function signJwt(secret, claims, { header = { alg: 'HS256', typ: 'JWT' } } = {}) {
	const key = typeof secret === 'string' ? b64urlDecode(secret) : secret;
	const h = b64url(JSON.stringify(header));
	const p = b64url(typeof claims === 'string' ? claims : JSON.stringify(claims));
	const sig = b64url(crypto.createHmac('sha256', key).update(`${h}.${p}`).digest());
	return `${h}.${p}.${sig}`;
}

export const nowS = () => Math.floor(Date.now() / 1000);

/** Rotates the tenant's JWT secret; returns {secret, iss}. */
export async function jwtSecret(tenant) {
	const r = okv2(await tenant.call('POST', '/api/v2/tenant/jwt-secret'), 'jwt-secret');
	assert.equal(b64urlDecode(r.secret).length, 32, 'the secret is 32 bytes');
	assert.equal(r.iss, tenant.inn);
	return r;
}

// ---------------------------------------------------------------------------
// WebSocket

/**
 * A /ws client that keeps every frame it receives. Frames are consumed by
 * next(pred): the first unconsumed frame matching pred (waiting for it).
 */
export class WsClient {
	constructor(srv, { token, user, pos, query = '', lang, wsOptions = {} } = {}) {
		const u = new URL(srv.url.replace(/^http/, 'ws') + '/ws');
		if (token !== undefined) u.searchParams.set('token', token);
		if (user !== undefined) u.searchParams.set('user', user);
		if (pos !== undefined) u.searchParams.set('pos', String(pos));
		const url = u.toString() + (query ? (u.search ? '&' : '?') + query : '');
		this.frames = [];
		this.raw = [];
		this.consumed = new Set();
		this.waiters = [];
		this.closeCode = null;
		this.closeReason = '';
		this.reqId = 0;
		this.ws = new WebSocket(url, { headers: lang ? { 'Accept-Language': lang } : {}, ...wsOptions });
		this.opened = new Promise((resolve, reject) => {
			this.ws.once('open', resolve);
			this.ws.once('error', reject);
			this.ws.once('unexpected-response', (req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
		});
		this.opened.catch(() => {});
		this.closed = new Promise((resolve) => {
			this.ws.on('close', (code, reason) => {
				this.closeCode = code;
				this.closeReason = reason.toString();
				resolve({ code, reason: this.closeReason });
				this._wake();
			});
		});
		this.ws.on('error', (e) => {
			this.error = e;
			this._wake();
		});
		this.ws.on('message', (data, isBinary) => {
			const text = data.toString();
			this.raw.push(text);
			let f;
			try {
				f = JSON.parse(text);
			} catch {
				f = { type: '<not json>', text };
			}
			this.frames.push(f);
			this._wake();
		});
	}
	_wake() {
		for (const w of this.waiters.splice(0)) w();
	}
	async _waitChange(ms) {
		await new Promise((r) => {
			const t = setTimeout(r, ms);
			this.waiters.push(() => {
				clearTimeout(t);
				r();
			});
		});
	}
	/** Waits for hello (asserting it) and returns it. */
	async hello(timeoutMs = 10000) {
		const h = await this.next((f) => f.type === 'hello' || f.type === 'error', timeoutMs, 'hello');
		assert.equal(h.type, 'hello', `hello expected, got ${JSON.stringify(h)}`);
		return h;
	}
	/** The first unconsumed frame satisfying pred; consumes it. Throws on timeout. */
	async next(pred = () => true, timeoutMs = 5000, what = 'a frame') {
		if (typeof pred === 'string') {
			const type = pred;
			pred = (f) => f.type === type;
			what = type;
		}
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			for (let i = 0; i < this.frames.length; i++) {
				if (this.consumed.has(i)) continue;
				if (pred(this.frames[i])) {
					this.consumed.add(i);
					return this.frames[i];
				}
			}
			const left = deadline - Date.now();
			if (left <= 0 || this.closeCode !== null) {
				throw new Error(`timed out waiting for ${what} (closed: ${this.closeCode}); frames: ${JSON.stringify(this.frames.slice(-8))}`);
			}
			await this._waitChange(Math.min(left, 200));
		}
	}
	/** Waits until n frames satisfying pred arrived (not consuming); returns them. */
	async collect(pred, n, timeoutMs = 20000) {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const got = this.frames.filter(pred);
			if (got.length >= n) return got;
			const left = deadline - Date.now();
			if (left <= 0 || this.closeCode !== null) return got;
			await this._waitChange(Math.min(left, 200));
		}
	}
	/** Frames with a pos (events), in arrival order. */
	events() {
		return this.frames.filter((f) => typeof f.pos === 'number' && f.type !== 'hello' && f.type !== 'resync_required');
	}
	/** True if no frame satisfying pred arrives within ms. */
	async none(pred, ms = 300) {
		await sleep(ms);
		return !this.frames.some(pred);
	}
	send(obj) {
		this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
	}
	/** Sends a request with a fresh id; resolves with its ack or error frame. */
	async request(obj, timeoutMs = 10000) {
		const id = `r${++this.reqId}`;
		this.send({ ...obj, id });
		return this.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id, timeoutMs, `reply to ${obj.type} ${id}`);
	}
	async waitClosed(timeoutMs = 10000) {
		let timer;
		const r = await Promise.race([this.closed, new Promise((res) => (timer = setTimeout(() => res(null), timeoutMs)))]);
		clearTimeout(timer);
		return r;
	}
	close() {
		try {
			this.ws.close();
		} catch {
			/* already closing */
		}
	}
	terminate() {
		try {
			this.ws.terminate();
		} catch {
			/* gone */
		}
	}
}

/** Connects, waits for hello; the client is closed after the test. */
export async function wsConnect(t, srv, opts = {}) {
	const c = new WsClient(srv, opts);
	t.after(() => c.terminate());
	await c.opened;
	c.helloFrame = await c.hello();
	return c;
}

/** Asserts a message event for chat with text. */
export function isMsg(chat, text) {
	return (f) => f.type === 'message' && f.message && f.message.chat === chat && (text === undefined || f.message.text === text);
}
