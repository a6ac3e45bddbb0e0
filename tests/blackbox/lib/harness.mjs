// harness.mjs — helpers for the black-box tests of herald.
//
// Every test starts its own server (own temporary data directory) through
// startServer() or serverFor(t); nothing here knows where the machine keeps
// things: the binary comes from HERALD_BIN (relative paths are taken from
// tests/blackbox), data directories are made under os.tmpdir().

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

export const BLACKBOX_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(BLACKBOX_DIR, '..', '..');

export const HERALD_BIN = path.resolve(BLACKBOX_DIR, process.env.HERALD_BIN || '../../build/asan/herald');

if (!fs.existsSync(HERALD_BIN)) {
	throw new Error(`herald binary not found at ${HERALD_BIN} (set HERALD_BIN; build it with make build/asan/herald)`);
}

const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|runtime error|UndefinedBehaviorSanitizer|ThreadSanitizer/;

// ---------------------------------------------------------------------------
// environment and temporary directories

const tempDirs = [];
const liveProcs = new Set();
const liveRawClients = new Set();

process.on('exit', () => {
	for (const p of liveProcs) {
		try {
			p.kill('SIGKILL');
		} catch {
			/* already gone */
		}
	}
	if (process.env.HERALD_KEEP_DATA) return;
	for (const d of tempDirs) {
		try {
			fs.rmSync(d, { recursive: true, force: true });
		} catch {
			/* best effort */
		}
	}
});

export function makeTempDir(prefix = 'herald-bb-') {
	const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
	tempDirs.push(d);
	return d;
}

// The environment of every herald process: the caller's, without HERALD_*
// settings that could leak in from the shell, plus sanitizer options.
export function baseEnv(extra = {}) {
	const env = {};
	for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HERALD_')) env[k] = v;
	env.ASAN_OPTIONS = 'detect_leaks=1';
	env.UBSAN_OPTIONS = 'print_stacktrace=1:halt_on_error=1';
	return { ...env, ...extra };
}

export function assertNoSanitizer(text, what = 'herald') {
	const m = SANITIZER_RE.exec(text);
	assert.ok(!m, `${what}: sanitizer report in stderr:\n${tail(text, 60)}`);
}

function tail(text, n) {
	const lines = String(text).split('\n');
	return lines.slice(-n).join('\n');
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// the server

/**
 * Starts `herald serve --data DIR --listen 127.0.0.1:0` and resolves once its
 * "listening" log line arrived. Returns
 * {url, port, dataDir, proc, logs(), events(), stop(signal), kill9(), exited}.
 */
export async function startServer({ env = {}, args = [], dataDir, timeoutMs = 15000 } = {}) {
	dataDir = dataDir || makeTempDir();
	const proc = spawn(HERALD_BIN, ['serve', '--data', dataDir, '--listen', '127.0.0.1:0', ...args], {
		env: baseEnv(env),
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	liveProcs.add(proc);
	let stderr = '';
	let stdout = '';
	let exitInfo = null;
	// 'close' (not 'exit'): all of stderr has been read by then, so a
	// sanitizer report printed at exit is never missed
	const exited = new Promise((resolve) => {
		proc.on('close', (code, signal) => {
			exitInfo = { code, signal };
			liveProcs.delete(proc);
			resolve(exitInfo);
		});
	});
	proc.stdout.setEncoding('utf8');
	proc.stdout.on('data', (d) => (stdout += d));
	proc.stderr.setEncoding('utf8');

	const listening = new Promise((resolve, reject) => {
		let pending = '';
		const timer = setTimeout(() => {
			reject(new Error(`herald did not report "listening" within ${timeoutMs} ms; stderr:\n${tail(stderr, 40)}`));
		}, timeoutMs);
		proc.stderr.on('data', (d) => {
			stderr += d;
			pending += d;
			let nl;
			while ((nl = pending.indexOf('\n')) >= 0) {
				const line = pending.slice(0, nl);
				pending = pending.slice(nl + 1);
				let ev;
				try {
					ev = JSON.parse(line);
				} catch {
					continue;
				}
				if (ev && ev.event === 'listening') {
					clearTimeout(timer);
					resolve(ev);
				}
			}
		});
		exited.then((info) => {
			clearTimeout(timer);
			reject(new Error(`herald exited (${JSON.stringify(info)}) before listening; stderr:\n${tail(stderr, 40)}`));
		});
	});
	let ev;
	try {
		ev = await listening;
	} catch (e) {
		proc.kill('SIGKILL');
		throw e;
	}
	const url = ev.url;
	const port = Number(new URL(url).port);
	assert.ok(port > 0, `listening line has a real port: ${url}`);

	const srv = {
		url,
		port,
		dataDir,
		proc,
		exited,
		listening: ev,
		logs: () => stderr,
		stdout: () => stdout,
		events: () =>
			stderr
				.split('\n')
				.filter((l) => l.startsWith('{'))
				.map((l) => {
					try {
						return JSON.parse(l);
					} catch {
						return null;
					}
				})
				.filter(Boolean),
		get exitInfo() {
			return exitInfo;
		},
		stopped: false,
		/**
		 * Sends signal and waits for the exit. For SIGTERM/SIGINT asserts a
		 * graceful exit (code 0, within waitMs). Always asserts that no
		 * sanitizer reported anything. Resolves with the exit code.
		 */
		async stop(signal = 'SIGTERM', { waitMs = 15000 } = {}) {
			srv.stopped = true;
			if (!exitInfo) proc.kill(signal);
			let timer;
			const info = await Promise.race([
				exited,
				new Promise((r) => (timer = setTimeout(() => r(null), waitMs))),
			]);
			clearTimeout(timer);
			if (!info) {
				proc.kill('SIGKILL');
				await exited;
				assert.fail(`herald did not exit within ${waitMs} ms after ${signal}; stderr:\n${tail(stderr, 40)}`);
			}
			assertNoSanitizer(stderr);
			if (signal === 'SIGTERM' || signal === 'SIGINT') {
				assert.equal(
					info.code,
					0,
					`herald should exit 0 after ${signal}, got ${JSON.stringify(info)}; stderr:\n${tail(stderr, 40)}`,
				);
			}
			return info.code;
		},
		/** SIGKILL, no checks (a crash). Resolves when the process is gone. */
		async kill9() {
			srv.stopped = true;
			if (!exitInfo) proc.kill('SIGKILL');
			await exited;
		},
		dumpLogs(label = '') {
			console.log(`---- herald stderr ${label} (${url}, data ${dataDir}) ----\n${tail(stderr, 200)}\n---- end ----`);
		},
	};
	return srv;
}

/**
 * startServer for one test: stops the server after the test (asserting a
 * graceful exit) and prints its stderr when the test failed.
 */
export async function serverFor(t, opts = {}) {
	const srv = await startServer(opts);
	t.after(async () => {
		let err;
		// raw clients of this test left open must not hold up the graceful stop
		for (const c of liveRawClients) if (c.port === srv.port) c.destroy();
		if (!srv.stopped) {
			try {
				await srv.stop('SIGTERM');
			} catch (e) {
				err = e;
			}
		}
		// after the stop, so the log is complete
		if (t.passed === false && !err) srv.dumpLogs(t.name);
		if (err) throw err;
	});
	return srv;
}

// ---------------------------------------------------------------------------
// the command line

/** Runs herald with args; returns {status, signal, stdout, stderr}. Asserts no sanitizer output. */
export function runCli(args, { env = {}, input, timeoutMs = 30000 } = {}) {
	const r = spawnSync(HERALD_BIN, args, {
		env: baseEnv(env),
		encoding: 'utf8',
		input,
		timeout: timeoutMs,
	});
	if (r.error) throw r.error;
	assertNoSanitizer(r.stderr, `herald ${args.join(' ')}`);
	return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

let innCounter = 0;
/** A fresh valid 10-digit INN, different each call within a run. */
export function freshInn() {
	innCounter++;
	const base = 7700000000 + ((process.pid * 1000 + innCounter) % 99999999);
	return String(base);
}

/** `herald tenant create …`; returns the API token (last line of stdout). */
export function createTenant(dataDir, { inn, name = 'ООО Весна', fullName = 'Общество с ограниченной ответственностью «Весна»', password = 'secret-password-1' } = {}) {
	const r = runCli(['tenant', 'create', '--inn', inn, '--name', name, '--full-name', fullName, '--password', password, '--data', dataDir]);
	if (r.status !== 0) throw new Error(`tenant create failed (${r.status}): ${r.stderr}`);
	const lines = r.stdout.trim().split('\n');
	const token = lines[lines.length - 1].trim();
	assert.match(token, /^\S{16,}$/, `tenant create printed a token as its last line: ${r.stdout}`);
	return token;
}

// ---------------------------------------------------------------------------
// HTTP clients

function authHeaders({ token, headers = {}, lang } = {}) {
	const h = { ...headers };
	if (token !== undefined && token !== null) h.Authorization = token;
	if (lang) h['Accept-Language'] = lang;
	return h;
}

function parseMaybeJson(text) {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

/**
 * POSTs body (an object → JSON, a string → sent as is) to url/api/v1/method.
 * Returns {status, headers, json, text}.
 */
export async function v1(url, method, body, opts = {}) {
	const h = authHeaders(opts);
	if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
	const res = await fetch(`${url}/api/v1/${method}`, {
		method: opts.httpMethod || 'POST',
		headers: h,
		body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
	});
	const text = await res.text();
	return { status: res.status, headers: res.headers, json: parseMaybeJson(text), text };
}

/** GET url+path; returns {status, headers, json, text}. */
export async function get(url, p, opts = {}) {
	const res = await fetch(`${url}${p}`, { headers: authHeaders(opts) });
	const text = await res.text();
	return { status: res.status, headers: res.headers, json: parseMaybeJson(text), text };
}

/** A request with node:http, which (unlike fetch) may carry a body with GET. */
export function httpRequest(url, { method = 'GET', path: p = '/', body, token, headers = {}, lang } = {}) {
	const u = new URL(url);
	const h = authHeaders({ token, headers, lang });
	let payload;
	if (body !== undefined) {
		payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
		h['Content-Type'] = h['Content-Type'] || 'application/json';
		h['Content-Length'] = payload.length;
	}
	return new Promise((resolve, reject) => {
		const req = http.request(
			{ host: u.hostname, port: u.port, method, path: p, headers: h, agent: false },
			(res) => {
				let text = '';
				res.setEncoding('utf8');
				res.on('data', (d) => (text += d));
				res.on('end', () =>
					resolve({ status: res.statusCode, headers: new Headers(res.headers), json: parseMaybeJson(text), text }),
				);
			},
		);
		req.on('error', reject);
		if (payload) req.write(payload);
		req.end();
	});
}

// ---------------------------------------------------------------------------
// envelope assertions

/** Checks the /api/v1 envelope shape and key order of a response. */
export function assertEnvelope(res) {
	assert.ok(res.json !== undefined, `response is JSON: ${res.status} ${res.text}`);
	assert.deepEqual(Object.keys(res.json), ['success', 'data', 'error'], `envelope keys in order: ${res.text}`);
	assert.match(res.text, /^\{"success":(true|false),"data":/, `raw body starts with success then data: ${res.text.slice(0, 200)}`);
	assert.match(res.text, /,"error":"(?:[^"\\]|\\.)*"\}$/, `raw body ends with the error key: ${res.text.slice(-200)}`);
	assert.equal(typeof res.json.success, 'boolean');
	assert.equal(typeof res.json.error, 'string');
	assert.match(res.headers.get('content-type') || '', /^application\/json/);
}

/** Asserts a v1 success: 200, success true, error "". Returns data. */
export function ok(res, what = '') {
	assertEnvelope(res);
	assert.equal(res.status, 200, `${what} expected 200, got ${res.status}: ${res.text}`);
	assert.equal(res.json.success, true, `${what} success: ${res.text}`);
	assert.equal(res.json.error, '', `${what} error is "" on success`);
	return res.json.data;
}

/** Asserts a v1 failure with status and stable code (X-Herald-Error). Returns the error text. */
export function fails(res, status, code, what = '') {
	assertEnvelope(res);
	assert.equal(res.status, status, `${what} expected ${status} ${code}, got ${res.status} ${res.headers.get('x-herald-error')}: ${res.text}`);
	assert.equal(res.headers.get('x-herald-error'), code, `${what} X-Herald-Error: ${res.text}`);
	assert.equal(res.json.success, false);
	assert.equal(res.json.data, null, `${what} data is null on failure`);
	assert.ok(res.json.error.trim().length > 3, `${what} error is a non-empty sentence: ${res.text}`);
	return res.json.error;
}

// ---------------------------------------------------------------------------
// SMS login

/** The code of the last SMS to phone (E.164) in DATA/sms-outbox.jsonl. */
export function readSmsCode(dataDir, phone) {
	const rec = readSmsRecords(dataDir).filter((r) => r.to === phone).pop();
	if (!rec) throw new Error(`no SMS to ${phone} in the outbox`);
	return rec.code;
}

/** All records of DATA/sms-outbox.jsonl ([] if it does not exist). */
export function readSmsRecords(dataDir) {
	const f = path.join(dataDir, 'sms-outbox.jsonl');
	if (!fs.existsSync(f)) return [];
	return fs
		.readFileSync(f, 'utf8')
		.split('\n')
		.filter((l) => l.trim())
		.map((l) => JSON.parse(l));
}

/** auth + confirmsmscode; returns the confirm data (apitoken, staffid, …). */
export async function login(url, dataDir, inn, phone, name = 'Алексей Иванов', device = 'android') {
	const a = await v1(url, 'auth', { inn, staffname: name, phone, device });
	ok(a, `auth ${phone}`);
	const code = readSmsCode(dataDir, phone);
	const c = await v1(url, 'confirmsmscode', { inn, phone, smscode: code });
	return ok(c, `confirmsmscode ${phone}`);
}

/** A tenant with n logged-in employees on a running server. */
export async function setupTenant(srv, { inn = freshInn(), staff = 1, name, fullName } = {}) {
	const token = createTenant(srv.dataDir, { inn, name, fullName });
	const employees = [];
	for (let i = 0; i < staff; i++) {
		const phone = `+7923${String(inn).slice(-4)}${String(100 + i).padStart(3, '0')}`;
		employees.push({ phone, ...(await login(srv.url, srv.dataDir, inn, phone, `Сотрудник ${i + 1}`)) });
	}
	return { inn, token, employees };
}

/** createmessage with the partner token; asserts success; returns data. */
export async function sendMessage(srv, tenant, staffid, title, message, opts = {}) {
	const r = await v1(srv.url, 'createmessage', { inn: tenant.inn, staffid, title, message }, { token: tenant.token, ...opts });
	return ok(r, `createmessage ${title}`);
}

// ---------------------------------------------------------------------------
// raw sockets

/**
 * Parses complete HTTP/1.1 responses off the front of buf. Returns
 * {responses, rest}; a response is {status, reason, headers (lower-case
 * names), body (string), raw}.
 */
export function parseResponses(buf, { closed = false } = {}) {
	const responses = [];
	let off = 0;
	for (;;) {
		const headEnd = buf.indexOf('\r\n\r\n', off);
		if (headEnd < 0) break;
		const head = buf.subarray(off, headEnd).toString('latin1');
		const [statusLine, ...hl] = head.split('\r\n');
		const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
		if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
		const headers = {};
		for (const l of hl) {
			const i = l.indexOf(':');
			if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
		}
		let bodyStart = headEnd + 4;
		let body;
		let end;
		if (headers['content-length'] !== undefined) {
			const n = Number(headers['content-length']);
			if (buf.length < bodyStart + n) break;
			body = buf.subarray(bodyStart, bodyStart + n);
			end = bodyStart + n;
		} else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
			const parts = [];
			let p = bodyStart;
			let complete = false;
			for (;;) {
				const le = buf.indexOf('\r\n', p);
				if (le < 0) break;
				const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
				if (size === 0) {
					const te = buf.indexOf('\r\n\r\n', le);
					if (te < 0) break;
					end = te + 4;
					complete = true;
					break;
				}
				if (buf.length < le + 2 + size + 2) break;
				parts.push(buf.subarray(le + 2, le + 2 + size));
				p = le + 2 + size + 2;
			}
			if (!complete) break;
			body = Buffer.concat(parts);
		} else if (Number(m[1]) === 204 || Number(m[1]) === 304 || Number(m[1]) < 200) {
			body = Buffer.alloc(0);
			end = bodyStart;
		} else {
			if (!closed) break;
			body = buf.subarray(bodyStart);
			end = buf.length;
		}
		responses.push({
			status: Number(m[1]),
			reason: m[2],
			headers,
			body: body.toString('utf8'),
			raw: buf.subarray(off, end).toString('utf8'),
		});
		off = end;
	}
	return { responses, rest: buf.subarray(off) };
}

/** A raw TCP client that collects bytes and parses responses. */
export class RawClient {
	constructor(port, host = '127.0.0.1') {
		this.port = port;
		liveRawClients.add(this);
		this.buf = Buffer.alloc(0);
		this.responses = [];
		this.closed = false;
		this.error = null;
		this.waiters = [];
		this.sock = net.connect(port, host);
		this.connected = new Promise((resolve, reject) => {
			this.sock.once('connect', resolve);
			this.sock.once('error', reject);
		});
		this.sock.on('data', (d) => {
			this.buf = Buffer.concat([this.buf, d]);
			this._parse(false);
		});
		this.sock.on('error', (e) => {
			this.error = e;
		});
		this.sock.on('close', () => {
			liveRawClients.delete(this);
			this.closed = true;
			this.closedAt = Date.now();
			this._parse(true);
		});
	}
	_parse(closed) {
		try {
			const { responses, rest } = parseResponses(this.buf, { closed });
			this.responses.push(...responses);
			this.buf = rest;
		} catch (e) {
			this.error = e;
		}
		for (const w of this.waiters.splice(0)) w();
	}
	write(data) {
		return new Promise((resolve, reject) => this.sock.write(data, (e) => (e ? reject(e) : resolve())));
	}
	/** Waits until n responses arrived (or the socket closed); returns them. */
	async waitResponses(n, timeoutMs = 10000) {
		const deadline = Date.now() + timeoutMs;
		while (this.responses.length < n && !this.closed && !this.error) {
			const left = deadline - Date.now();
			if (left <= 0) break;
			await new Promise((r) => {
				const t = setTimeout(r, left);
				this.waiters.push(() => {
					clearTimeout(t);
					r();
				});
			});
		}
		return this.responses.slice(0, n);
	}
	/** Waits until the peer closed the connection; returns true if it did within timeoutMs. */
	async waitClosed(timeoutMs = 10000) {
		const deadline = Date.now() + timeoutMs;
		while (!this.closed) {
			const left = deadline - Date.now();
			if (left <= 0) return false;
			await new Promise((r) => {
				const t = setTimeout(r, Math.min(left, 50));
				this.waiters.push(() => {
					clearTimeout(t);
					r();
				});
			});
		}
		return true;
	}
	destroy() {
		this.sock.destroy();
	}
}

/** One raw exchange: connects, writes data, waits for n responses, closes. */
export async function rawExchange(port, data, n = 1, timeoutMs = 10000) {
	const c = new RawClient(port);
	await c.connected;
	await c.write(data);
	const res = await c.waitResponses(n, timeoutMs);
	c.destroy();
	return res;
}

/** The JSON body of a raw response (undefined if not JSON). */
export function rawJson(r) {
	return parseMaybeJson(r.body);
}

export const CREATEDATE_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/;

/** Runs one SQL statement with the sqlite3 command-line tool; returns its trimmed stdout. */
export function sqlite(dbFile, sql) {
	const r = spawnSync('sqlite3', [dbFile, sql], { encoding: 'utf8', timeout: 30000 });
	if (r.error) throw r.error;
	if (r.status !== 0) throw new Error(`sqlite3 ${sql}: ${r.stderr}`);
	return r.stdout.trim();
}

export const dbPath = (dataDir) => path.join(dataDir, 'herald.db');
