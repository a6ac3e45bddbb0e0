// /api/v1/auth and /api/v1/confirmsmscode: the SMS login of an employee,
// the envelope, validation errors and their languages, rate limits.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
	serverFor,
	createTenant,
	v1,
	ok,
	fails,
	assertEnvelope,
	readSmsCode,
	readSmsRecords,
	login,
} from './lib/harness.mjs';

const INN = '2441234324';
const FAST = { HERALD_SMS_RESEND_COOLDOWN: '0s' };

async function withTenant(t, env = FAST) {
	const srv = await serverFor(t, { env });
	const token = createTenant(srv.dataDir, { inn: INN, name: 'ООО Весна', fullName: 'Общество с ограниченной ответственностью «Весна»' });
	return { srv, token };
}

const authBody = (over = {}) => ({ inn: INN, staffname: 'Алексей Иванов', phone: '+79233381638', device: 'android', ...over });

test('auth: success envelope, SMS line in the outbox with E.164 phone and 6-digit code', async (t) => {
	const { srv } = await withTenant(t);
	const r = await v1(srv.url, 'auth', authBody());
	const data = ok(r, 'auth');
	assert.deepEqual(Object.keys(data), ['message']);
	assert.equal(typeof data.message, 'string');
	assert.ok(data.message.length > 3, 'a message text');
	assert.equal(r.text.indexOf('{"success":true,"data":{"message":'), 0, `raw envelope order: ${r.text}`);
	assert.ok(r.text.endsWith(',"error":""}'), r.text);

	const recs = readSmsRecords(srv.dataDir);
	assert.equal(recs.length, 1, 'exactly one SMS');
	const rec = recs[0];
	assert.equal(rec.to, '+79233381638');
	assert.match(rec.code, /^\d{6}$/);
	assert.ok(rec.text.includes(rec.code), `SMS text contains the code: ${rec.text}`);
	assert.equal(typeof rec.at, 'string');
	assert.ok(!Number.isNaN(Date.parse(rec.at)), `at is a date: ${rec.at}`);
	assert.ok(Math.abs(Date.parse(rec.at) - Date.now()) < 60000, 'at is now');
});

test('auth: phone "8 (923) 338-16-38" is normalised to +79233381638 and can log in', async (t) => {
	const { srv } = await withTenant(t);
	ok(await v1(srv.url, 'auth', authBody({ phone: '8 (923) 338-16-38' })));
	const recs = readSmsRecords(srv.dataDir);
	assert.equal(recs.length, 1);
	assert.equal(recs[0].to, '+79233381638');
	// confirm with yet another spelling of the same number
	const c = ok(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+7 923 338-16-38', smscode: recs[0].code }));
	assert.equal(c.phone, '+79233381638');
});

test('auth: unknown INN → 404 unknown_inn naming the INN, no SMS', async (t) => {
	const { srv } = await withTenant(t);
	const r = await v1(srv.url, 'auth', authBody({ inn: '7777777777' }));
	const msg = fails(r, 404, 'unknown_inn');
	assert.ok(msg.includes('7777777777'), `error names the INN: ${msg}`);
	assert.deepEqual(readSmsRecords(srv.dataDir), []);
});

test('auth: validation errors (inn, missing fields, device, phone, JSON, types)', async (t) => {
	const { srv } = await withTenant(t);
	fails(await v1(srv.url, 'auth', authBody({ inn: '123' })), 422, 'inn_invalid', 'inn 123');
	fails(await v1(srv.url, 'auth', authBody({ inn: '12345678901' })), 422, 'inn_invalid', 'inn of 11 digits');
	fails(await v1(srv.url, 'auth', authBody({ inn: '244123432a' })), 422, 'inn_invalid', 'inn with a letter');
	for (const f of ['inn', 'staffname', 'phone', 'device']) {
		const b = authBody();
		delete b[f];
		const msg = fails(await v1(srv.url, 'auth', b), 422, 'field_missing', `missing ${f}`);
		assert.ok(msg.includes(f), `error names the field ${f}: ${msg}`);
	}
	fails(await v1(srv.url, 'auth', authBody({ device: 'windows' })), 422, 'device_invalid', 'device windows');
	fails(await v1(srv.url, 'auth', authBody({ device: 'Android' })), 422, 'device_invalid', 'device Android (reserved words are exact)');
	fails(await v1(srv.url, 'auth', authBody({ phone: 'not a phone' })), 422, 'phone_invalid', 'phone letters');
	fails(await v1(srv.url, 'auth', authBody({ phone: '12345' })), 422, 'phone_invalid', 'phone too short');
	fails(await v1(srv.url, 'auth', '{"inn": "2441234324", '), 400, 'bad_json', 'truncated JSON');
	fails(await v1(srv.url, 'auth', 'inn=2441234324'), 400, 'bad_json', 'form body');
	fails(await v1(srv.url, 'auth', JSON.stringify([authBody()])), 400, 'bad_json', 'array body');
	fails(await v1(srv.url, 'auth', authBody({ inn: 2441234324 })), 400, 'field_type', 'inn as a number');
	fails(await v1(srv.url, 'auth', authBody({ staffname: '   ' })), 422, 'name_invalid', 'blank name');
	// nothing of this sent an SMS
	assert.deepEqual(readSmsRecords(srv.dataDir), []);
});

test('errors: Russian by default, English/German/Polish by Accept-Language, same code', async (t) => {
	const { srv } = await withTenant(t);
	const texts = {};
	for (const lang of [undefined, 'en', 'de', 'pl']) {
		const r = await v1(srv.url, 'auth', authBody({ inn: '7777777777' }), { lang });
		texts[lang || 'default'] = fails(r, 404, 'unknown_inn', `lang ${lang}`);
	}
	const all = Object.values(texts);
	assert.equal(new Set(all).size, 4, `four different sentences: ${JSON.stringify(texts)}`);
	for (const s of all) assert.ok(s.includes('7777777777'), `each names the INN: ${s}`);
	assert.match(texts.default, /[а-яА-ЯёЁ]/, `default is Russian: ${texts.default}`);
	assert.match(texts.en, /^[\x20-\x7e]+$/, `en is plain ASCII: ${texts.en}`);
	assert.match(texts.en, /\b(organisation|organization|company|INN)\b/i, `en is English: ${texts.en}`);
	assert.doesNotMatch(texts.de, /[а-яА-Я]/, `de is not Russian: ${texts.de}`);
	assert.doesNotMatch(texts.pl, /[а-яА-Я]/, `pl is not Russian: ${texts.pl}`);
	assert.notEqual(texts.de, texts.en);
	// a full browser header picks the best language; an unknown one falls back to Russian
	const r1 = await v1(srv.url, 'auth', authBody({ inn: '7777777777' }), { lang: 'fr-FR,fr;q=0.9,en;q=0.8,de;q=0.5' });
	assert.equal(fails(r1, 404, 'unknown_inn'), texts.en);
	const r2 = await v1(srv.url, 'auth', authBody({ inn: '7777777777' }), { lang: 'fr' });
	assert.equal(fails(r2, 404, 'unknown_inn'), texts.default);
	// a field-named validation error in English names the field
	const b = authBody();
	delete b.phone;
	const en = fails(await v1(srv.url, 'auth', b, { lang: 'en' }), 422, 'field_missing');
	assert.match(en, /^[\x20-\x7e]+$/);
	assert.ok(en.includes('phone'), en);
});

test('confirmsmscode: success data, firstname/companyname from the tenant, token works', async (t) => {
	const { srv } = await withTenant(t);
	ok(await v1(srv.url, 'auth', authBody({ device: 'apple' })));
	const code = readSmsCode(srv.dataDir, '+79233381638');
	const r = await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: code });
	const d = ok(r, 'confirm');
	assert.deepEqual(Object.keys(d).sort(), ['apitoken', 'companyname', 'device', 'firstname', 'inn', 'phone', 'staffid', 'staffname'].sort());
	assert.equal(d.inn, INN);
	assert.equal(d.firstname, 'ООО Весна');
	assert.equal(d.companyname, 'Общество с ограниченной ответственностью «Весна»');
	assert.equal(d.staffname, 'Алексей Иванов');
	assert.equal(d.device, 'apple');
	assert.equal(d.phone, '+79233381638');
	assert.match(d.staffid, /^\d+$/);
	assert.match(d.apitoken, /^\S{16,}$/);
	// the app token reads its own (empty) inbox
	const g = await v1(srv.url, 'getmessage', { inn: INN, staffid: d.staffid }, { token: d.apitoken });
	assert.deepEqual(ok(g), []);
	// a second login of the same phone keeps the same staffid and updates the name
	const again = await login(srv.url, srv.dataDir, INN, '+79233381638', 'Алексей Петрович Иванов');
	assert.equal(again.staffid, d.staffid);
	assert.equal(again.staffname, 'Алексей Петрович Иванов');
	assert.notEqual(again.apitoken, d.apitoken);
});

test('confirmsmscode: wrong code 401, code used twice 401 code_expired, formats, unknown phone', async (t) => {
	const { srv } = await withTenant(t);
	ok(await v1(srv.url, 'auth', authBody()));
	const code = readSmsCode(srv.dataDir, '+79233381638');
	const wrong = code === '000000' ? '111111' : '000000';
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: wrong }), 401, 'code_invalid');
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: 'abc' }), 422, 'code_format');
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: '12' }), 422, 'code_format');
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: '12a456' }), 422, 'code_format');
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79230000000', smscode: code }), 401, 'code_expired', 'unknown phone');
	fails(await v1(srv.url, 'confirmsmscode', { inn: '7777777777', phone: '+79233381638', smscode: code }), 404, 'unknown_inn');
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638' }), 422, 'field_missing');
	// the right code still works after one wrong try
	ok(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: code }));
	// and cannot be used again
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: code }), 401, 'code_expired', 'reuse');
});

test('confirmsmscode: after 5 wrong attempts even the right code is refused (429 code_attempts)', async (t) => {
	const { srv } = await withTenant(t);
	ok(await v1(srv.url, 'auth', authBody()));
	const code = readSmsCode(srv.dataDir, '+79233381638');
	const wrongs = ['000000', '111111', '222222', '333333', '444444', '555555'].filter((c) => c !== code);
	for (let i = 0; i < 4; i++) {
		fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: wrongs[i] }), 401, 'code_invalid', `wrong #${i + 1}`);
	}
	const fifth = await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: wrongs[4] });
	assertEnvelope(fifth);
	assert.equal(fifth.json.success, false);
	assert.ok(
		(fifth.status === 401 && fifth.headers.get('x-herald-error') === 'code_invalid') ||
			(fifth.status === 429 && fifth.headers.get('x-herald-error') === 'code_attempts'),
		`fifth wrong try: ${fifth.status} ${fifth.headers.get('x-herald-error')}`,
	);
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: code }), 429, 'code_attempts', 'right code after 5 wrong');
	// a new code can be requested and works
	ok(await v1(srv.url, 'auth', authBody()));
	const code2 = readSmsCode(srv.dataDir, '+79233381638');
	ok(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: code2 }), 'new code');
});

test('auth: a second code within sms.resend_cooldown → 429 rate_limited with Retry-After', async (t) => {
	const { srv } = await withTenant(t, {}); // default cooldown 60 s
	ok(await v1(srv.url, 'auth', authBody()));
	const r = await v1(srv.url, 'auth', authBody({ phone: '8 923 338 16 38' }));
	fails(r, 429, 'rate_limited');
	const ra = Number(r.headers.get('retry-after'));
	assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 60, `Retry-After in 1..60: ${r.headers.get('retry-after')}`);
	assert.equal(readSmsRecords(srv.dataDir).length, 1, 'no second SMS');
	// another phone is not limited
	ok(await v1(srv.url, 'auth', authBody({ phone: '+79233381639' })));
});

test('auth: more than sms.per_ip_hour starts from one address → 429', async (t) => {
	const { srv } = await withTenant(t, { ...FAST, HERALD_SMS_PER_IP_HOUR: '3' });
	for (let i = 0; i < 3; i++) ok(await v1(srv.url, 'auth', authBody({ phone: `+7923338160${i}` })), `auth #${i + 1}`);
	const r = await v1(srv.url, 'auth', authBody({ phone: '+79233381609' }));
	fails(r, 429, 'rate_limited', 'fourth start');
	assert.ok(Number(r.headers.get('retry-after')) >= 1, `Retry-After: ${r.headers.get('retry-after')}`);
	assert.equal(readSmsRecords(srv.dataDir).length, 3);
});

test('limits: sms.code_ttl, session.ttl, sms.per_phone_hour and sms.fail_per_hour', async (t) => {
	const { srv } = await withTenant(t, { ...FAST, HERALD_SMS_CODE_TTL: '1s', HERALD_SESSION_TTL: '2s', HERALD_SMS_PER_PHONE_HOUR: '3', HERALD_SMS_FAIL_PER_HOUR: '7' });
	// per phone and hour: the 4th code is refused, another phone is fine
	for (let i = 0; i < 3; i++) ok(await v1(srv.url, 'auth', authBody()), `code #${i + 1}`);
	const r4 = await v1(srv.url, 'auth', authBody());
	fails(r4, 429, 'rate_limited', 'fourth code to one phone within the hour');
	assert.ok(Number(r4.headers.get('retry-after')) > 60, `Retry-After counts in the hour: ${r4.headers.get('retry-after')}`);
	// an expired code is refused
	const code = readSmsCode(srv.dataDir, '+79233381638');
	const before = Date.now();
	const e = await login(srv.url, srv.dataDir, INN, '+79233381600', 'Сессия');
	ok(await v1(srv.url, 'getmessage', { inn: INN, staffid: e.staffid }, { token: e.apitoken }), 'fresh session');
	await new Promise((r) => setTimeout(r, Math.max(0, 1200 - (Date.now() - before))));
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone: '+79233381638', smscode: code }), 401, 'code_expired', 'code older than sms.code_ttl');
	await new Promise((r) => setTimeout(r, Math.max(0, 2300 - (Date.now() - before))));
	fails(await v1(srv.url, 'getmessage', { inn: INN, staffid: e.staffid }, { token: e.apitoken }), 401, 'unauthorized', 'session older than session.ttl');
	// wrong codes per employee and hour, over several codes
	const phone = '+79233381611';
	let wrong = 0;
	for (let k = 0; k < 2; k++) {
		ok(await v1(srv.url, 'auth', authBody({ phone })));
		for (let i = 0; i < 4; i++, wrong++) {
			const r = await v1(srv.url, 'confirmsmscode', { inn: INN, phone, smscode: '000001' });
			assert.equal(r.json.success, false);
			if (wrong < 7) assert.ok(['code_invalid', 'code_attempts'].includes(r.headers.get('x-herald-error')), `wrong #${wrong + 1}: ${r.headers.get('x-herald-error')}`);
			else fails(r, 429, 'rate_limited', `wrong #${wrong + 1} over sms.fail_per_hour`);
		}
	}
	ok(await v1(srv.url, 'auth', authBody({ phone })));
	const good = readSmsCode(srv.dataDir, phone);
	fails(await v1(srv.url, 'confirmsmscode', { inn: INN, phone, smscode: good }), 429, 'rate_limited', 'even a right code after sms.fail_per_hour wrong ones');
});
