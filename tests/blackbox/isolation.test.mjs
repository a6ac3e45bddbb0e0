// Tenant isolation: one partner's token never reads or changes another's data.

import test from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, setupTenant, v1, ok, fails, get, httpRequest, sendMessage, login } from './lib/harness.mjs';

const ENV = { HERALD_SMS_RESEND_COOLDOWN: '0s' };

async function snapshotB(srv, b) {
	const staff = ok(await get(srv.url, '/api/v1/getstaff', { token: b.token }));
	const messages = {};
	for (const e of b.employees) {
		messages[e.staffid] = ok(await v1(srv.url, 'getmessage', { inn: b.inn, staffid: e.staffid, count: 1000 }, { token: b.token }));
	}
	return { staff, messages };
}

test("isolation: A's token with B's inn → 403 inn_mismatch on every method", async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv, { inn: '1111111111', staff: 1 });
	const b = await setupTenant(srv, { inn: '2222222222', staff: 2 });
	const bs = b.employees[0].staffid;
	await sendMessage(srv, b, bs, 'B private', 'secret of B');
	const before = await snapshotB(srv, b);

	const calls = [
		['createmessage', { inn: b.inn, staffid: bs, title: 'x', message: 'y' }],
		['getmessage', { inn: b.inn, staffid: bs }],
		['deletestaff', { inn: b.inn, staffid: bs }],
		['updatepushtoken', { inn: b.inn, staffId: bs, pushtoken: 'p', device: 'android' }],
		['getstaff', { inn: b.inn }],
	];
	for (const [m, body] of calls) {
		const r = await v1(srv.url, m, body, { token: a.token });
		fails(r, 403, 'inn_mismatch', `${m} with A's token and B's inn`);
		assert.ok(!r.text.includes('secret of B') && !r.text.includes(bs), `${m} leaks nothing: ${r.text}`);
	}
	fails(await get(srv.url, `/api/v1/getstaff?inn=${b.inn}`, { token: a.token }), 403, 'inn_mismatch', 'getstaff ?inn=');
	fails(await httpRequest(srv.url, { path: '/api/v1/getstaff', body: { inn: b.inn }, token: a.token }), 403, 'inn_mismatch', 'getstaff GET body');
	// A's employee app token with B's inn
	const ae = a.employees[0];
	fails(await v1(srv.url, 'getmessage', { inn: b.inn, staffid: bs }, { token: ae.apitoken }), 403, 'inn_mismatch', 'app token of A, inn of B');
	fails(await v1(srv.url, 'updatepushtoken', { inn: b.inn, staffId: ae.staffid, pushtoken: 'p', device: 'android' }, { token: ae.apitoken }), 403, 'inn_mismatch');

	assert.deepEqual(await snapshotB(srv, b), before, "B's data unchanged");
});

test("isolation: A's token and inn with B's staffid → 404 unknown_staff; B unchanged", async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv, { inn: '1111111111', staff: 1 });
	const b = await setupTenant(srv, { inn: '222222222222', staff: 2 });
	const bs = b.employees[0].staffid;
	for (let i = 0; i < 3; i++) await sendMessage(srv, b, bs, `B${i}`, `secret ${i}`);
	const before = await snapshotB(srv, b);
	assert.equal(before.messages[bs].length, 3);

	for (const key of ['staffid', 'staffId', 'staff_id']) {
		fails(await v1(srv.url, 'createmessage', { inn: a.inn, [key]: bs, title: 'x', message: 'y' }, { token: a.token }), 404, 'unknown_staff', `createmessage ${key}`);
		const g = await v1(srv.url, 'getmessage', { inn: a.inn, [key]: bs }, { token: a.token });
		fails(g, 404, 'unknown_staff', `getmessage ${key}`);
		assert.ok(!g.text.includes('secret'), g.text);
		fails(await v1(srv.url, 'deletestaff', { inn: a.inn, [key]: bs }, { token: a.token }), 404, 'unknown_staff', `deletestaff ${key}`);
	}
	fails(await v1(srv.url, 'updatepushtoken', { inn: a.inn, staffId: bs, pushtoken: 'p', device: 'apple' }, { token: a.token }), 404, 'unknown_staff', 'updatepushtoken (partner token)');
	// A's app token naming B's employee
	fails(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: bs }, { token: a.employees[0].apitoken }), 403, 'staff_mismatch', 'app token of A, staff of B');
	// A's getstaff lists only A
	const aStaff = ok(await get(srv.url, '/api/v1/getstaff', { token: a.token }));
	assert.deepEqual(aStaff.map((s) => s.staffId), [a.employees[0].staffid]);
	assert.ok(aStaff.every((s) => s.inn === a.inn));

	const after = await snapshotB(srv, b);
	assert.deepEqual(after, before, "B's data unchanged");
	assert.equal(after.messages[bs].length, 3, "B's message count unchanged");
	assert.equal(after.staff.length, 2);
	assert.equal(after.staff.find((s) => s.staffId === bs).device, 'android', "B's device not changed by A");
});

test('isolation: the same phone in two tenants makes two separate employees', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv, { inn: '1111111111', staff: 0 });
	const b = await setupTenant(srv, { inn: '2222222222', staff: 0 });
	const ea = await login(srv.url, srv.dataDir, a.inn, '+79990001122', 'В А');
	const eb = await login(srv.url, srv.dataDir, b.inn, '+79990001122', 'В Б');
	assert.notEqual(ea.apitoken, eb.apitoken);
	await sendMessage(srv, a, ea.staffid, 'for A', 'x');
	assert.deepEqual(ok(await v1(srv.url, 'getmessage', { inn: b.inn, staffid: eb.staffid }, { token: eb.apitoken })), [], "B's employee sees nothing of A");
	assert.equal(ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: ea.staffid }, { token: ea.apitoken })).length, 1);
	fails(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: ea.staffid }, { token: eb.apitoken }), 403, 'inn_mismatch');
});
