// /api/v1/createmessage and /api/v1/getmessage.

import test from 'node:test';
import assert from 'node:assert/strict';
import { serverFor, setupTenant, v1, ok, fails, sendMessage, sleep, CREATEDATE_RE } from './lib/harness.mjs';

const ENV = { HERALD_SMS_RESEND_COOLDOWN: '0s' };

async function world(t, staff = 1) {
	const srv = await serverFor(t, { env: ENV });
	const a = await setupTenant(srv, { staff });
	return { srv, a };
}

const getMessages = (srv, tenant, body, token = tenant.token) => v1(srv.url, 'getmessage', { inn: tenant.inn, ...body }, { token });

test('createmessage: success data and what getmessage returns for it', async (t) => {
	const { srv, a } = await world(t);
	const e = a.employees[0];
	const r = await v1(srv.url, 'createmessage', { inn: a.inn, staffid: e.staffid, title: 'Заказ №15 изменён', message: 'Количество в строке 3: 10 → 12' }, { token: a.token });
	const d = ok(r, 'createmessage');
	assert.deepEqual(Object.keys(d).sort(), ['message', 'messageid', 'staffId', 'staffname', 'title'].sort());
	assert.equal(d.staffname, 'Сотрудник 1');
	assert.equal(d.staffId, e.staffid);
	assert.match(d.messageid, /^\d+$/);
	assert.equal(d.title, 'Заказ №15 изменён');
	assert.equal(d.message, 'Количество в строке 3: 10 → 12');

	const list = ok(await getMessages(srv, a, { staffid: e.staffid }));
	assert.equal(list.length, 1);
	const m = list[0];
	assert.deepEqual(Object.keys(m).sort(), ['createdate', 'inn', 'message', 'messageId', 'senddate', 'staffId', 'title'].sort());
	assert.equal(m.inn, a.inn);
	assert.equal(m.staffId, e.staffid);
	assert.equal(m.messageId, d.messageid);
	assert.equal(m.title, d.title);
	assert.equal(m.message, d.message);
	assert.match(m.createdate, CREATEDATE_RE);
	assert.ok(Math.abs(Date.parse(m.createdate) - Date.now()) < 60000, `createdate is now: ${m.createdate}`);
	assert.equal(m.senddate, null);
	// the employee reads the same with the app token
	const own = ok(await getMessages(srv, a, { staffid: e.staffid }, e.apitoken));
	assert.deepEqual(own, list);
});

test('createmessage: staffid, staffId, staff_id and a numeric id are all accepted; Bearer token too', async (t) => {
	const { srv, a } = await world(t);
	const id = a.employees[0].staffid;
	const bodies = [
		{ staffid: id, title: 't1' },
		{ staffId: id, title: 't2' },
		{ staff_id: id, title: 't3' },
		{ staffid: Number(id), title: 't4' },
	];
	for (const b of bodies) {
		const d = ok(await v1(srv.url, 'createmessage', { inn: a.inn, message: 'x', ...b }, { token: a.token }), b.title);
		assert.equal(d.staffId, id);
	}
	ok(await v1(srv.url, 'createmessage', { inn: a.inn, staffid: id, title: 't5', message: 'x' }, { token: `Bearer ${a.token}` }), 'Bearer');
	for (const key of ['staffid', 'staffId', 'staff_id']) {
		const list = ok(await getMessages(srv, a, { [key]: id }));
		assert.deepEqual(list.map((m) => m.title), ['t5', 't4', 't3', 't2', 't1'], `getmessage with ${key}`);
	}
});

test('createmessage: validation and authorisation errors', async (t) => {
	const { srv, a } = await world(t);
	const e = a.employees[0];
	const base = { inn: a.inn, staffid: e.staffid, title: 'Title', message: 'Text' };
	const send = (over, opts = { token: a.token }) => v1(srv.url, 'createmessage', { ...base, ...over }, opts);
	fails(await send({ staffid: '1234567890' }), 404, 'unknown_staff', 'unknown staff');
	fails(await send({ title: '' }), 422, 'title_empty');
	fails(await send({ title: '   \t ' }), 422, 'title_empty', 'whitespace title');
	fails(await send({ message: '' }), 422, 'text_empty');
	fails(await send({ message: ' \n ' }), 422, 'text_empty', 'whitespace message');
	fails(await send({ title: 'a'.repeat(257) }), 422, 'title_too_long');
	ok(await send({ title: 'a'.repeat(256) }), '256-character title');
	ok(await send({ title: 'ж'.repeat(256) }), '256 Cyrillic characters in the title');
	fails(await send({ message: 'щ'.repeat(4001) }), 422, 'text_too_long', '4001 Cyrillic characters');
	fails(await send({ message: 'a'.repeat(4001) }), 422, 'text_too_long', '4001 ASCII characters');
	const long = ok(await send({ message: 'щ'.repeat(4000) }), '4000 Cyrillic characters (8000 bytes)');
	assert.equal(long.message, 'щ'.repeat(4000));
	const emoji = ok(await send({ message: '😀'.repeat(4000) }), '4000 emoji (16000 bytes)');
	assert.equal([...emoji.message].length, 4000);
	const b = { ...base };
	delete b.title;
	fails(await v1(srv.url, 'createmessage', b, { token: a.token }), 422, 'field_missing', 'no title');
	fails(await send({ title: 5 }), 400, 'field_type', 'numeric title');
	fails(await send({ inn: '123' }), 422, 'inn_invalid');
	// tokens
	fails(await send({}, {}), 401, 'unauthorized', 'no token');
	const unauth = await send({}, { token: 'not-a-token' });
	fails(unauth, 401, 'unauthorized', 'wrong token');
	assert.ok(unauth.headers.get('www-authenticate'), 'WWW-Authenticate on 401');
	fails(await send({}, { token: e.apitoken }), 403, 'forbidden', 'app token cannot create messages');
	fails(await send({}, { token: `Bearer ${e.apitoken}` }), 403, 'forbidden', 'app token (Bearer) cannot create messages');
	// only the successful ones were stored
	const list = ok(await getMessages(srv, a, { staffid: e.staffid }));
	assert.equal(list.length, 4);
});

test('getmessage: 60 messages → 50 newest by default and for count 0, 5 for count 5, newest first', async (t) => {
	const { srv, a } = await world(t);
	const id = a.employees[0].staffid;
	const sent = [];
	for (let i = 1; i <= 60; i++) sent.push(await sendMessage(srv, a, id, `m${i}`, `text ${i}`));
	const ids = sent.map((d) => d.messageid);
	const newestFirst = [...ids].reverse();

	const def = ok(await getMessages(srv, a, { staffid: id }));
	assert.equal(def.length, 50, 'count absent → 50');
	assert.deepEqual(def.map((m) => m.messageId), newestFirst.slice(0, 50));
	assert.deepEqual(def.map((m) => m.title), newestFirst.slice(0, 50).map((_, i) => `m${60 - i}`));
	for (let i = 1; i < def.length; i++) assert.ok(def[i - 1].createdate >= def[i].createdate || Date.parse(def[i - 1].createdate) >= Date.parse(def[i].createdate), 'sorted by date, newest first');

	const zero = ok(await getMessages(srv, a, { staffid: id, count: 0 }));
	assert.deepEqual(zero.map((m) => m.messageId), newestFirst.slice(0, 50), 'count 0 → 50 newest');
	const five = ok(await getMessages(srv, a, { staffid: id, count: 5 }));
	assert.deepEqual(five.map((m) => m.messageId), newestFirst.slice(0, 5), 'count 5');
	const all = ok(await getMessages(srv, a, { staffid: id, count: 1000 }));
	assert.deepEqual(all.map((m) => m.messageId), newestFirst, 'count 1000 → all 60');
	const str = ok(await getMessages(srv, a, { staffid: id, count: '7' }));
	assert.equal(str.length, 7, 'count as a digit string');

	fails(await getMessages(srv, a, { staffid: id, count: -1 }), 422, 'count_invalid');
	fails(await getMessages(srv, a, { staffid: id, count: 'many' }), 422, 'count_invalid');
	fails(await getMessages(srv, a, { staffid: id, count: 1.5 }), 422, 'count_invalid');
});

test('getmessage: datemin/datemax bound by createdate (inclusive), "" = no bound, bad dates 422', async (t) => {
	const { srv, a } = await world(t);
	const id = a.employees[0].staffid;
	for (let i = 1; i <= 6; i++) {
		await sendMessage(srv, a, id, `m${i}`, `text ${i}`);
		await sleep(15); // distinct createdate values
	}
	const all = ok(await getMessages(srv, a, { staffid: id }));
	assert.deepEqual(all.map((m) => m.title), ['m6', 'm5', 'm4', 'm3', 'm2', 'm1']);
	const d = Object.fromEntries(all.map((m) => [m.title, m.createdate]));
	assert.equal(new Set(Object.values(d)).size, 6, `distinct createdates: ${JSON.stringify(d)}`);

	const mid = ok(await getMessages(srv, a, { staffid: id, datemin: d.m3, datemax: d.m5 }));
	assert.deepEqual(mid.map((m) => m.title), ['m5', 'm4', 'm3'], 'both bounds inclusive');
	const from = ok(await getMessages(srv, a, { staffid: id, datemin: d.m4 }));
	assert.deepEqual(from.map((m) => m.title), ['m6', 'm5', 'm4']);
	const until = ok(await getMessages(srv, a, { staffid: id, datemax: d.m2 }));
	assert.deepEqual(until.map((m) => m.title), ['m2', 'm1']);
	const empty = ok(await getMessages(srv, a, { staffid: id, datemin: '', datemax: '' }));
	assert.equal(empty.length, 6, '"" = no bound');
	const half = ok(await getMessages(srv, a, { staffid: id, datemin: d.m5, datemax: '' }));
	assert.deepEqual(half.map((m) => m.title), ['m6', 'm5']);
	const bounded = ok(await getMessages(srv, a, { staffid: id, datemin: d.m2, count: 2 }));
	assert.deepEqual(bounded.map((m) => m.title), ['m6', 'm5'], 'count applies to the newest in range');
	// the same instant written in UTC
	const utc = new Date(Date.parse(d.m3)).toISOString().replace('Z', '+00:00');
	const sameInstant = ok(await getMessages(srv, a, { staffid: id, datemin: utc, datemax: utc }));
	assert.deepEqual(sameInstant.map((m) => m.title), ['m3'], `bound ${utc} (UTC form of ${d.m3})`);
	const future = ok(await getMessages(srv, a, { staffid: id, datemin: '2999-01-01T00:00:00.000+03:00' }));
	assert.deepEqual(future, []);

	fails(await getMessages(srv, a, { staffid: id, datemin: 'yesterday' }), 422, 'date_invalid');
	fails(await getMessages(srv, a, { staffid: id, datemax: '2024-02-30T00:00:00.000+03:00' }), 422, 'date_invalid', '30 February');
	fails(await getMessages(srv, a, { staffid: id, datemin: 20240101 }), 422, 'date_invalid', 'a number');
	fails(await getMessages(srv, a, { staffid: id, datemin: d.m5, datemax: d.m2 }), 422, 'date_invalid', 'datemin after datemax');
});

test('getmessage: an app token reads only its own staff; partner reads everyone; unknown staff 404', async (t) => {
	const { srv, a } = await world(t, 2);
	const [e1, e2] = a.employees;
	await sendMessage(srv, a, e1.staffid, 'for e1', 'x');
	await sendMessage(srv, a, e2.staffid, 'for e2', 'y');
	assert.deepEqual(ok(await getMessages(srv, a, { staffid: e1.staffid }, e1.apitoken)).map((m) => m.title), ['for e1']);
	assert.deepEqual(ok(await getMessages(srv, a, { staffid: e2.staffid }, e2.apitoken)).map((m) => m.title), ['for e2']);
	fails(await getMessages(srv, a, { staffid: e2.staffid }, e1.apitoken), 403, 'staff_mismatch');
	fails(await getMessages(srv, a, { staffId: e1.staffid }, e2.apitoken), 403, 'staff_mismatch');
	fails(await getMessages(srv, a, { staffid: '1234567890' }), 404, 'unknown_staff');
	fails(await getMessages(srv, a, { staffid: e1.staffid }, 'garbage'), 401, 'unauthorized');
	fails(await v1(srv.url, 'getmessage', { inn: a.inn, staffid: e1.staffid }), 401, 'unauthorized', 'no token');
	const noStaff = await v1(srv.url, 'getmessage', { inn: a.inn }, { token: a.token });
	fails(noStaff, 422, 'field_missing');
	assert.ok(noStaff.json.error.includes('staffid'), noStaff.json.error);
});

test('dates: api.date_offset=+03:00 and a local time zone shape createdate; bounds follow the offset', async (t) => {
	const srv = await serverFor(t, { env: { ...ENV, HERALD_API_DATE_OFFSET: '+03:00' } });
	const a = await setupTenant(srv);
	const id = a.employees[0].staffid;
	await sendMessage(srv, a, id, 'msk', 'x');
	const [m] = ok(await getMessages(srv, a, { staffid: id }));
	assert.match(m.createdate, CREATEDATE_RE);
	assert.ok(m.createdate.endsWith('+03:00'), m.createdate);
	// a bound without an offset is read in the configured offset
	const local = m.createdate.slice(0, -6);
	assert.equal(ok(await getMessages(srv, a, { staffid: id, datemin: local, datemax: local })).length, 1, `bound ${local}`);

	const nsk = await serverFor(t, { env: { ...ENV, TZ: 'Asia/Novosibirsk' } });
	const b = await setupTenant(nsk);
	await sendMessage(nsk, b, b.employees[0].staffid, 'nsk', 'y');
	const [n] = ok(await getMessages(nsk, b, { staffid: b.employees[0].staffid }));
	assert.ok(n.createdate.endsWith('+07:00'), `server time zone Asia/Novosibirsk: ${n.createdate}`);
	assert.ok(Math.abs(Date.parse(n.createdate) - Date.now()) < 60000, n.createdate);
});
