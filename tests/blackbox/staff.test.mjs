// /api/v1/getstaff, /api/v1/deletestaff and /api/v1/updatepushtoken.

import test from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, setupTenant, v1, ok, fails, httpRequest, get, sendMessage, CREATEDATE_RE, login, createTenant, sqlite, dbPath } from './lib/harness.mjs';

const ENV = { HERALD_SMS_RESEND_COOLDOWN: '0s' };

async function world(t, staff = 2) {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv, { staff });
	return { srv, a };
}

function checkStaffList(list, a) {
	assert.ok(Array.isArray(list), 'an array');
	assert.equal(list.length, a.employees.length);
	const byId = new Map(list.map((s) => [s.staffId, s]));
	for (const [i, e] of a.employees.entries()) {
		const s = byId.get(e.staffid);
		assert.ok(s, `employee ${e.staffid} is listed`);
		assert.deepEqual(Object.keys(s).sort(), ['createdate', 'device', 'inn', 'staff name', 'staffId', 'staffname', 'statusnotification'].sort());
		assert.equal(s.inn, a.inn);
		assert.equal(s['staff name'], `Сотрудник ${i + 1}`);
		assert.equal(s.staffname, `Сотрудник ${i + 1}`);
		assert.equal(s.device, 'android');
		assert.match(s.createdate, CREATEDATE_RE);
		assert.equal(s.statusnotification, true);
	}
}

test('getstaff: GET with a JSON body, GET ?inn=, GET without inn, POST; all list the same employees', async (t) => {
	const { srv, a } = await world(t);
	const bodyGet = await httpRequest(srv.url, { method: 'GET', path: '/api/v1/getstaff', body: { inn: a.inn }, token: a.token });
	const list = ok(bodyGet, 'GET with body');
	checkStaffList(list, a);
	assert.ok(bodyGet.text.includes('"staff name":'), 'raw key "staff name" with a space');

	const q = await get(srv.url, `/api/v1/getstaff?inn=${a.inn}`, { token: a.token });
	assert.deepEqual(ok(q, 'GET ?inn='), list);
	const none = await get(srv.url, '/api/v1/getstaff', { token: a.token });
	assert.deepEqual(ok(none, 'GET without inn'), list);
	const bearer = await get(srv.url, '/api/v1/getstaff', { token: `Bearer ${a.token}` });
	assert.deepEqual(ok(bearer, 'Bearer'), list);
	const post = await v1(srv.url, 'getstaff', { inn: a.inn }, { token: a.token });
	assert.deepEqual(ok(post, 'POST'), list);
});

test('getstaff: errors (no token, app token, bad inn, foreign inn)', async (t) => {
	const { srv, a } = await world(t);
	fails(await get(srv.url, `/api/v1/getstaff?inn=${a.inn}`), 401, 'unauthorized');
	fails(await get(srv.url, `/api/v1/getstaff?inn=${a.inn}`, { token: a.employees[0].apitoken }), 403, 'forbidden', 'app token');
	fails(await get(srv.url, '/api/v1/getstaff?inn=123', { token: a.token }), 422, 'inn_invalid');
	fails(await httpRequest(srv.url, { path: '/api/v1/getstaff', body: { inn: '12' }, token: a.token }), 422, 'inn_invalid', 'body inn');
	createTenant(srv.dataDir, { inn: '5000000001' });
	fails(await get(srv.url, '/api/v1/getstaff?inn=5000000001', { token: a.token }), 403, 'inn_mismatch');
});

test('getstaff: a tenant without employees gets an empty array', async (t) => {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv, { staff: 0 });
	assert.deepEqual(ok(await get(srv.url, '/api/v1/getstaff', { token: a.token })), []);
});

test('deletestaff: removes the employee, their messages and their app token', async (t) => {
	const { srv, a } = await world(t);
	const [e1, e2] = a.employees;
	await sendMessage(srv, a, e1.staffid, 'one', 'x');
	await sendMessage(srv, a, e1.staffid, 'two', 'y');
	await sendMessage(srv, a, e2.staffid, 'keep', 'z');
	const d = ok(await v1(srv.url, 'deletestaff', { inn: a.inn, staffid: e1.staffid }, { token: a.token }), 'deletestaff');
	assert.deepEqual(Object.keys(d), ['message']);
	assert.ok(d.message.length > 3);

	fails(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: e1.staffid }, { token: a.token }), 404, 'unknown_staff', 'getmessage after delete');
	fails(await v1(srv.url, 'createmessage', { inn: a.inn, staffid: e1.staffid, title: 't', message: 'm' }, { token: a.token }), 404, 'unknown_staff');
	const staff = ok(await get(srv.url, '/api/v1/getstaff', { token: a.token }));
	assert.deepEqual(staff.map((s) => s.staffId), [e2.staffid], 'getstaff lacks the deleted employee');
	fails(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: e1.staffid }, { token: e1.apitoken }), 401, 'unauthorized', 'old app token');
	fails(await v1(srv.url, 'updatepushtoken', { inn: a.inn, staffId: e1.staffid, pushtoken: 'abc', device: 'android' }, { token: e1.apitoken }), 401, 'unauthorized', 'old app token push');
	fails(await v1(srv.url, 'deletestaff', { inn: a.inn, staffid: e1.staffid }, { token: a.token }), 404, 'unknown_staff', 'second delete');
	// their messages are gone from the database, the other employee's stays
	assert.equal(sqlite(dbPath(srv.dataDir), "SELECT count(*) FROM messages WHERE body IN ('x','y')"), '0', 'messages of the deleted employee are deleted');
	assert.equal(sqlite(dbPath(srv.dataDir), "SELECT count(*) FROM messages WHERE body = 'z'"), '1');
	// the other employee is untouched
	assert.deepEqual(ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: e2.staffid }, { token: e2.apitoken })).map((m) => m.title), ['keep']);
	// logging in again with the same phone makes a fresh employee with an empty inbox
	const back = await login(srv.url, srv.dataDir, a.inn, e1.phone, 'Вернувшийся');
	assert.deepEqual(ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: back.staffid }, { token: back.apitoken })), []);
});

test('deletestaff: errors (no token, app token, missing staffid, bad staffid)', async (t) => {
	const { srv, a } = await world(t);
	const e = a.employees[0];
	fails(await v1(srv.url, 'deletestaff', { inn: a.inn, staffid: e.staffid }), 401, 'unauthorized');
	fails(await v1(srv.url, 'deletestaff', { inn: a.inn, staffid: e.staffid }, { token: e.apitoken }), 403, 'forbidden');
	fails(await v1(srv.url, 'deletestaff', { inn: a.inn }, { token: a.token }), 422, 'field_missing');
	fails(await v1(srv.url, 'deletestaff', { inn: a.inn, staffid: 'abc' }, { token: a.token }), 422, 'field_invalid');
	// still there
	assert.equal(ok(await get(srv.url, '/api/v1/getstaff', { token: a.token })).length, 2);
});

test('updatepushtoken: app token bare or Bearer, device change shows in getstaff', async (t) => {
	const { srv, a } = await world(t);
	const e = a.employees[0];
	const body = { inn: a.inn, staffId: e.staffid, pushtoken: 'fcm:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx', device: 'android' };
	const d = ok(await v1(srv.url, 'updatepushtoken', body, { token: e.apitoken }), 'bare');
	assert.deepEqual(Object.keys(d), ['message']);
	assert.ok(d.message.length > 3);
	ok(await v1(srv.url, 'updatepushtoken', { ...body, staffid: undefined }, { token: `Bearer ${e.apitoken}` }), 'Bearer');
	ok(await v1(srv.url, 'updatepushtoken', { inn: a.inn, staffid: e.staffid, pushtoken: 'a'.repeat(4096), device: 'apple' }, { token: e.apitoken }), '4096 bytes');
	const staff = ok(await get(srv.url, '/api/v1/getstaff', { token: a.token }));
	assert.equal(staff.find((s) => s.staffId === e.staffid).device, 'apple', 'device updated to apple');
	assert.equal(staff.find((s) => s.staffId === a.employees[1].staffid).device, 'android', 'the other one unchanged');
});

test('updatepushtoken: 401 without/with a wrong token, 403 staff/inn mismatch, 422 bad tokens', async (t) => {
	const { srv, a } = await world(t);
	const [e1, e2] = a.employees;
	const body = { inn: a.inn, staffId: e1.staffid, pushtoken: 'token-1', device: 'android' };
	const send = (over, token = e1.apitoken) => v1(srv.url, 'updatepushtoken', { ...body, ...over }, { token });
	fails(await v1(srv.url, 'updatepushtoken', body), 401, 'unauthorized', 'no token');
	fails(await send({}, 'wrong-token'), 401, 'unauthorized', 'wrong token');
	fails(await send({}, 'Bearer '), 401, 'unauthorized', 'empty Bearer');
	fails(await send({ staffId: e2.staffid }), 403, 'staff_mismatch', "someone else's staffId");
	createTenant(srv.dataDir, { inn: '5000000002' });
	fails(await send({ inn: '5000000002' }), 403, 'inn_mismatch', 'inn of another tenant');
	fails(await send({ pushtoken: 'has space' }), 422, 'pushtoken_invalid', 'space');
	fails(await send({ pushtoken: 'ctl\u0001char' }), 422, 'pushtoken_invalid', 'control char');
	fails(await send({ pushtoken: 'new\nline' }), 422, 'pushtoken_invalid', 'newline');
	fails(await send({ pushtoken: '' }), 422, 'pushtoken_invalid', 'empty');
	fails(await send({ pushtoken: 'a'.repeat(4097) }), 422, 'pushtoken_invalid', '4097 bytes');
	fails(await send({ pushtoken: 'я'.repeat(10) }), 422, 'pushtoken_invalid', 'non-ASCII');
	fails(await send({ pushtoken: 42 }), 400, 'field_type', 'number');
	fails(await send({ device: 'windows' }), 422, 'device_invalid');
	const b = { ...body };
	delete b.pushtoken;
	fails(await v1(srv.url, 'updatepushtoken', b, { token: e1.apitoken }), 422, 'field_missing');
});

test('an employee switched off from mailings: getstaff shows statusnotification false, createmessage 409 staff_disabled', async (t) => {
	const { srv, a } = await world(t);
	const [e1, e2] = a.employees;
	// the web cabinet is not part of v1; switch the employee off directly in the database
	sqlite(dbPath(srv.dataDir), `UPDATE users SET mailing = 0 WHERE staff_id = '${e1.staffid}'`);
	const staff = ok(await get(srv.url, '/api/v1/getstaff', { token: a.token }));
	assert.equal(staff.find((s) => s.staffId === e1.staffid).statusnotification, false);
	assert.equal(staff.find((s) => s.staffId === e2.staffid).statusnotification, true);
	fails(await v1(srv.url, 'createmessage', { inn: a.inn, staffid: e1.staffid, title: 't', message: 'm' }, { token: a.token }), 409, 'staff_disabled');
	ok(await v1(srv.url, 'createmessage', { inn: a.inn, staffid: e2.staffid, title: 't', message: 'm' }, { token: a.token }));
	assert.deepEqual(ok(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: e1.staffid }, { token: a.token })), []);
});

test('getstaff ?inn= that is not a valid INN is refused, not ignored (too long, bad escape, %00)', async (t) => {
	const { srv, a } = await world(t, 1);
	// for comparison: a short one is refused
	fails(await get(srv.url, '/api/v1/getstaff?inn=123', { token: a.token }), 422, 'inn_invalid', '?inn=123');
	fails(await get(srv.url, `/api/v1/getstaff?inn=${'7'.repeat(70)}`, { token: a.token }), 422, 'inn_invalid', '?inn= of 70 digits');
	fails(await get(srv.url, '/api/v1/getstaff?inn=%', { token: a.token }), 422, 'inn_invalid', '?inn=% (a broken escape)');
	fails(await get(srv.url, `/api/v1/getstaff?inn=${a.inn}%00junk`, { token: a.token }), 422, 'inn_invalid', '?inn=INN%00junk');
});
