// Push queue benchmark (docs/performance.md, "Push queue").
//
//   node bench/push.mjs [--bin build/release/herald] [--latency 50] [--pushes 20000]
//                       [--concurrency 64,256] [--pending 100000] [--members 1000]
//
// Starts a local stand-in Web Push service that answers every request 201 after
// --latency ms (a push service far away), and for each concurrency a fresh herald
// (release build, demo tenant, push.allow_private) with --members users, each with a
// Web Push subscription, in one group chat. Posting a message queues one push per
// member; the script posts --pushes / --members messages and measures how fast the
// queue drains (herald_push_total{outcome="sent"} from /metrics) and the most
// requests the stand-in saw at once.
//
// Then the memory a pending queue needs: the stand-in stops answering (requests hang
// until herald's 15 s timeout), --pending pushes are queued, and the script prints the
// server's RSS and database size before and after. Loopback only; every phase is
// bounded in time and the script stops everything it started.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const args = Object.fromEntries(
	process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const BIN = args.bin || 'build/release/herald';
const LATENCY = Number(args.latency || 50);
const PUSHES = Number(args.pushes || 20000);
const MEMBERS = Number(args.members || 1000);
const CONCURRENCY = (args.concurrency || '64,256').split(',').map(Number);
const PENDING = Number(args.pending || 100000);
const PHASE_LIMIT_MS = 10 * 60 * 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const b64url = (b) => Buffer.from(b).toString('base64url');

function sink() {
	const s = { open: 0, maxOpen: 0, count: 0, stall: false, held: [] };
	s.server = http.createServer((req, res) => {
		req.resume();
		req.on('end', () => {
			s.count++;
			if (s.stall) {
				s.held.push(res);
				return;
			}
			s.open++;
			s.maxOpen = Math.max(s.maxOpen, s.open);
			setTimeout(() => {
				s.open--;
				res.writeHead(201, { Location: '/m/1' });
				res.end();
			}, LATENCY);
		});
	});
	s.server.keepAliveTimeout = 60000;
	return new Promise((r) => s.server.listen(0, '127.0.0.1', () => r(s)));
}

async function startHerald(concurrency) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-push-bench-'));
	const env = {
		...process.env,
		HERALD_LOG_LEVEL: 'warn',
		HERALD_PUSH_ALLOW_PRIVATE: 'true',
		HERALD_PUSH_WEBPUSH_CONCURRENCY: String(concurrency),
	};
	const proc = spawn(BIN, ['serve', '--data', dir, '--listen', '127.0.0.1:0', '--demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
	let out = '';
	let err = '';
	proc.stdout.on('data', (d) => (out += d));
	proc.stderr.on('data', (d) => (err += d));
	const end = Date.now() + 20000;
	while (Date.now() < end) {
		const m = /"event":"listening","url":"([^"]+)"/.exec(err);
		const t = /^demo API token: (\S+)$/m.exec(out);
		if (m && t) return { proc, dir, url: m[1], token: t[1] };
		await sleep(50);
	}
	proc.kill('SIGKILL');
	throw new Error(`herald did not start:\n${err.slice(-2000)}`);
}

async function stopHerald(h) {
	h.proc.kill('SIGTERM');
	await new Promise((r) => h.proc.once('close', r));
	fs.rmSync(h.dir, { recursive: true, force: true });
}

async function call(h, method, p, { token = h.token, body } = {}) {
	const res = await fetch(`${h.url}${p}`, {
		method,
		headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
		body: body ? JSON.stringify(body) : undefined,
	});
	const text = await res.text();
	if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 300)}`);
	return JSON.parse(text);
}

// Users with one Web Push subscription each, in one group chat.
async function populate(h, s) {
	const ecdh = crypto.createECDH('prime256v1');
	ecdh.generateKeys();
	const keys = { p256dh: b64url(ecdh.getPublicKey()), auth: b64url(crypto.randomBytes(16)) };
	const ids = [];
	for (let i = 0; i < MEMBERS; i += 50) {
		await Promise.all(
			Array.from({ length: Math.min(50, MEMBERS - i) }, async (_, k) => {
				const id = `u${i + k}`;
				await call(h, 'PUT', `/api/v2/users/${id}`, { body: { name: id } });
				const { token } = await call(h, 'POST', '/api/v2/sessions', { body: { user: id } });
				await call(h, 'POST', '/api/v2/push/subscriptions', { token, body: { endpoint: `http://127.0.0.1:${s.server.address().port}/push/${id}`, keys } });
				ids.push(id);
			}),
		);
	}
	const chat = await call(h, 'POST', '/api/v2/chats', { body: { type: 'group', title: 'All hands', members: ids } });
	return chat.id;
}

async function metric(h, re) {
	const text = await (await fetch(`${h.url}/metrics`)).text();
	const m = re.exec(text);
	return m ? Number(m[1]) : 0;
}

function rssKiB(pid) {
	const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
	return Number(m[1]);
}

// Bytes the push queue's table and indexes take (SQLite's dbstat, read beside
// the running server: WAL readers do not block it).
function dbBytes(dir) {
	const r = spawnSync('sqlite3', [path.join(dir, 'herald.db'), "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'deliveries%'"], { encoding: 'utf8' });
	if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
	return Number(r.stdout.trim());
}

async function post(h, chat, n) {
	for (let i = 0; i < n; i += 20)
		await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, k) => call(h, 'POST', `/api/v2/chats/${chat}/messages`, { body: { text: `Shift change ${i + k}: please confirm` } })));
}

const SENT = /herald_push_total\{channel="webpush",outcome="sent"\} (\d+)/;

async function throughput(s, concurrency) {
	const h = await startHerald(concurrency);
	try {
		const chat = await populate(h, s);
		const messages = Math.max(1, Math.round(PUSHES / MEMBERS));
		const total = messages * MEMBERS;
		s.maxOpen = 0;
		const t0 = process.hrtime.bigint();
		await post(h, chat, messages);
		let sent = 0;
		const deadline = Date.now() + PHASE_LIMIT_MS;
		while ((sent = await metric(h, SENT)) < total && Date.now() < deadline) await sleep(50);
		const secs = Number(process.hrtime.bigint() - t0) / 1e9;
		return { concurrency, total, sent, secs, rate: sent / secs, ideal: (concurrency * 1000) / LATENCY, maxOpen: s.maxOpen, rss: rssKiB(h.proc.pid) };
	} finally {
		await stopHerald(h);
	}
}

async function pending(s) {
	const h = await startHerald(64);
	try {
		const chat = await populate(h, s);
		s.stall = true;
		await sleep(300);
		const rss0 = rssKiB(h.proc.pid);
		const db0 = dbBytes(h.dir);
		const messages = Math.round(PENDING / MEMBERS);
		await post(h, chat, messages);
		await sleep(2000); // the dispatcher has taken its in-flight share
		const rss1 = rssKiB(h.proc.pid);
		const db1 = dbBytes(h.dir);
		return { queued: messages * MEMBERS, rss0, rss1, db0, db1 };
	} finally {
		s.stall = false;
		for (const r of s.held.splice(0)) r.destroy();
		await stopHerald(h);
	}
}

const s = await sink();
const rev = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || 'dev';
console.log(`== push queue: ${os.cpus().length} cores, stand-in Web Push service answering after ${LATENCY} ms, ${MEMBERS} devices, build ${rev}`);
console.log('concurrency  pushes   seconds  pushes/s  ideal/s  most at once  server RSS');
for (const c of CONCURRENCY) {
	const r = await throughput(s, c);
	console.log(
		`${String(r.concurrency).padStart(11)}  ${String(r.sent).padStart(6)}  ${r.secs.toFixed(2).padStart(8)}  ${r.rate.toFixed(0).padStart(8)}  ${r.ideal.toFixed(0).padStart(7)}  ${String(r.maxOpen).padStart(12)}  ${(r.rss / 1024).toFixed(1)} MiB`,
	);
	if (r.sent < r.total) {
		console.error(`push.mjs: only ${r.sent} of ${r.total} sent within the time limit`);
		process.exitCode = 1;
	}
}
if (PENDING > 0) {
	const p = await pending(s);
	const perRss = ((p.rss1 - p.rss0) * 1024) / p.queued;
	const perDb = (p.db1 - p.db0) / p.queued;
	console.log(`pending: ${p.queued} pushes queued (service not answering)`);
	console.log(`  server RSS ${(p.rss0 / 1024).toFixed(1)} → ${(p.rss1 / 1024).toFixed(1)} MiB: ${perRss.toFixed(0)} bytes per pending push, ${((perRss * 100000) / 1048576).toFixed(1)} MiB per 100,000`);
	console.log(`  deliveries table and indexes ${(p.db0 / 1048576).toFixed(1)} → ${(p.db1 / 1048576).toFixed(1)} MiB: ${perDb.toFixed(0)} bytes per pending push, ${((perDb * 100000) / 1048576).toFixed(1)} MiB per 100,000`);
}
s.server.close();
process.exit();
