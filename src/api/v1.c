/*
 * v1.c — the compatibility API (everything under /api/v1/), byte for byte as the original
 * mobile-alert product defines it (docs/api-v1.md).
 *
 * Each handler parses and validates its JSON on the loop (cheap, and every bad
 * input is refused before any storage work), fills an svc_op, and answers in
 * the envelope {"success":…,"data":…,"error":"…"} when the operation
 * completes. The original mixes staffid/staffId/staff_id; all are accepted.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/time.h"
#include "core/validate.h"

#define V1_COUNT_DEFAULT 50
#define V1_COUNT_MAX     1000
#define V1_TOKEN_MAX     512

typedef struct v1_call {
	svc_op op;
	http_request *req;
	api *api;
	void (*reply)(struct v1_call *c);
} v1_call;

/* ---- success texts --------------------------------------------------------------- */

enum { MSG_CODE_SENT, MSG_PUSH_UPDATED, MSG_STAFF_DELETED };

static const char *const ok_text[][HERR_LANG_COUNT] = {
        [MSG_CODE_SENT] = {"Код отправлен на ваш телефон", "The code was sent to your phone",
                           "Der Code wurde an Ihr Telefon gesendet", "Kod został wysłany na Twój telefon"},
        [MSG_PUSH_UPDATED] = {"Push-токен обновлён", "Push token updated", "Push-Token aktualisiert",
                              "Token push zaktualizowany"},
        [MSG_STAFF_DELETED] = {"Профиль сотрудника удалён", "Staff profile deleted", "Mitarbeiterprofil gelöscht",
                               "Profil pracownika usunięty"},
};

/* ---- request parsing ------------------------------------------------------------------ */

/* Field spellings: the first is canonical (used in error messages). */
static const char *const F_INN[] = {"inn", NULL};
static const char *const F_STAFF_ID[] = {"staffid", "staffId", "staff_id", "staffID", NULL};
static const char *const F_STAFF_NAME[] = {"staffname", "staffName", "staff_name", "staff name", NULL};
static const char *const F_PHONE[] = {"phone", NULL};
static const char *const F_DEVICE[] = {"device", NULL};
static const char *const F_CODE[] = {"smscode", "smsCode", "sms_code", "code", NULL};
static const char *const F_PUSH[] = {"pushtoken", "pushToken", "push_token", NULL};
static const char *const F_TITLE[] = {"title", NULL};
static const char *const F_MESSAGE[] = {"message", "text", NULL};
static const char *const F_DATEMIN[] = {"datemin", "dateMin", "date_min", NULL};
static const char *const F_DATEMAX[] = {"datemax", "dateMax", "date_max", NULL};
static const char *const F_COUNT[] = {"count", NULL};

/* Copies a string already checked to fit (keeps the compiler's truncation
 * analysis quiet without snprintf of unknown lengths). */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static json_t *field(json_t *o, const char *const names[])
{
	for (int i = 0; names[i]; i++) {
		json_t *v = json_object_get(o, names[i]);
		if (v && !json_is_null(v))
			return v;
	}
	return NULL;
}

typedef struct v1_parse {
	json_t *root;
	int err;
	const char *err_field;
	char detail[16]; /* a number shown in the error, e.g. a length limit */
} v1_parse;

static int fail(v1_parse *p, int err, const char *name)
{
	if (!p->err) {
		p->err = err;
		p->err_field = name;
	}
	return err;
}

/*
 * Reads a string field into out. Integers are accepted where the original's
 * clients are known to send numbers for ids (allow_int). Returns 0 when set,
 * 1 when absent and optional, < 0 on error (recorded in p).
 */
static int get_string(v1_parse *p, const char *const names[], bool required, bool allow_int, char *out, size_t cap)
{
	json_t *v = field(p->root, names);
	out[0] = '\0';
	if (!v)
		return required ? fail(p, HERR_FIELD_MISSING, names[0]) : 1;
	if (allow_int && json_is_integer(v)) {
		snprintf(out, cap, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (!json_is_string(v))
		return fail(p, HERR_FIELD_TYPE, names[0]);
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);
	if (memchr(s, '\0', len))
		return fail(p, HERR_FIELD_INVALID, names[0]);
	if (len >= cap)
		return fail(p, HERR_FIELD_INVALID, names[0]);
	memcpy(out, s, len + 1);
	return 0;
}

/* Copies a trimmed string; used for names and identifiers where leading and
 * trailing blanks are never meant. */
static void trim(char *s)
{
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	size_t lead = 0;
	while (isspace((unsigned char)s[lead]))
		lead++;
	if (lead)
		memmove(s, s + lead, n - lead + 1);
}

static int get_inn(v1_parse *p, char out[STORE_INN_MAX], bool required)
{
	char tmp[64];
	int rc = get_string(p, F_INN, required, false, tmp, sizeof tmp);
	if (rc < 0 && p->err == HERR_FIELD_INVALID)
		p->err = HERR_INN_INVALID;
	if (rc != 0)
		return rc;
	trim(tmp);
	if (hval_inn(tmp) != 0)
		return fail(p, HERR_INN_INVALID, "inn");
	copy_str(out, STORE_INN_MAX, tmp);
	return 0;
}

static int get_staff_id(v1_parse *p, char out[STORE_STAFF_ID_MAX], bool required)
{
	char tmp[64];
	int rc = get_string(p, F_STAFF_ID, required, true, tmp, sizeof tmp);
	if (rc != 0)
		return rc;
	trim(tmp);
	if (hval_digits(tmp, STORE_STAFF_ID_MAX - 1) != 0)
		return fail(p, HERR_FIELD_INVALID, "staffid");
	copy_str(out, STORE_STAFF_ID_MAX, tmp);
	return 0;
}

static int get_phone(v1_parse *p, svc *s, char out[STORE_PHONE_MAX])
{
	char tmp[64];
	int rc = get_string(p, F_PHONE, true, false, tmp, sizeof tmp);
	if (rc < 0 && p->err == HERR_FIELD_INVALID)
		p->err = HERR_PHONE_INVALID;
	if (rc != 0)
		return rc;
	if (hval_phone_e164(tmp, svc_get_settings(s)->default_country_code, out) != 0)
		return fail(p, HERR_PHONE_INVALID, "phone");
	return 0;
}

static int get_device(v1_parse *p, char out[STORE_DEVICE_MAX], bool required)
{
	char tmp[32];
	int rc = get_string(p, F_DEVICE, required, false, tmp, sizeof tmp);
	if (rc < 0 && p->err == HERR_FIELD_INVALID)
		p->err = HERR_DEVICE_INVALID;
	if (rc != 0)
		return rc;
	/* Reserved words, matched exactly as the original documents them. */
	if (strcmp(tmp, "android") != 0 && strcmp(tmp, "apple") != 0)
		return fail(p, HERR_DEVICE_INVALID, "device");
	copy_str(out, STORE_DEVICE_MAX, tmp);
	return 0;
}

/* A bounded UTF-8 text: not empty (after blanks), at most max characters. */
static int get_text(v1_parse *p, const char *const names[], int max_chars, int empty_err, int long_err, char **out)
{
	json_t *v = field(p->root, names);
	if (!v)
		return fail(p, HERR_FIELD_MISSING, names[0]);
	if (!json_is_string(v))
		return fail(p, HERR_FIELD_TYPE, names[0]);
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (memchr(s, '\0', len))
		return fail(p, HERR_FIELD_INVALID, names[0]);
	size_t i = 0;
	while (i < len && isspace((unsigned char)s[i]))
		i++;
	if (i == len)
		return fail(p, empty_err, names[0]);
	size_t cps = 0;
	if (hval_utf8(s, len, &cps) != 0)
		return fail(p, HERR_FIELD_INVALID, names[0]);
	if (cps > (size_t)max_chars) {
		if (p->err)
			return p->err;
		snprintf(p->detail, sizeof p->detail, "%d", max_chars);
		return fail(p, long_err, p->detail);
	}
	*out = strdup(s);
	return *out ? 0 : fail(p, HERR_NOMEM, NULL);
}

static int get_date(v1_parse *p, const char *const names[], int offset, int64_t *out, int64_t none)
{
	*out = none;
	json_t *v = field(p->root, names);
	if (!v)
		return 1;
	if (!json_is_string(v))
		return fail(p, HERR_DATE_INVALID, names[0]);
	const char *s = json_string_value(v);
	if (!*s)
		return 1; /* "" = no bound */
	if (htime_parse_iso(s, offset, out) != 0)
		return fail(p, HERR_DATE_INVALID, names[0]);
	return 0;
}

static int get_count(v1_parse *p, int *out)
{
	*out = V1_COUNT_DEFAULT;
	json_t *v = field(p->root, F_COUNT);
	if (!v)
		return 1;
	long long n;
	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v) && hval_digits(json_string_value(v), 9) == 0) {
		n = atoll(json_string_value(v));
	} else if (json_is_string(v) && json_string_value(v)[0] == '\0') {
		return 1;
	} else {
		return fail(p, HERR_COUNT_INVALID, "count");
	}
	if (n < 0)
		return fail(p, HERR_COUNT_INVALID, "count");
	/* 0 means "the 50 most recent"; larger asks are served up to the cap. */
	*out = n == 0 ? V1_COUNT_DEFAULT : n > V1_COUNT_MAX ? V1_COUNT_MAX : (int)n;
	return 0;
}

/* The partner or app token from Authorization: bare, or "Bearer <token>". */
static void read_token(http_request *req, svc_op *op)
{
	const char *h = http_request_header(req, "authorization");
	op->have_token = false;
	if (!h)
		return;
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "bearer ", 7) == 0)
		h += 7;
	while (*h == ' ' || *h == '\t')
		h++;
	size_t n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (n == 0 || n > V1_TOKEN_MAX)
		return; /* an absurd token cannot match; treated as missing */
	hcrypto_token_hash(h, n, op->token_hash);
	op->have_token = true;
}

/* Parses the body as a JSON object; an empty body is an empty object. */
static int parse_body(http_request *req, v1_parse *p)
{
	memset(p, 0, sizeof *p);
	if (req->body_len == 0) {
		p->root = json_object();
		return p->root ? 0 : fail(p, HERR_NOMEM, NULL);
	}
	json_error_t jerr;
	p->root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!p->root || !json_is_object(p->root)) {
		json_decref(p->root);
		p->root = NULL;
		return fail(p, HERR_BAD_JSON, NULL);
	}
	return 0;
}

/* ---- plumbing --------------------------------------------------------------------------- */

static v1_call *call_new(api *a, http_request *req, void (*reply)(v1_call *))
{
	v1_call *c = calloc(1, sizeof *c);
	if (!c) {
		api_v1_send_error(req, HERR_NOMEM, NULL, 0);
		return NULL;
	}
	c->req = req;
	c->api = a;
	c->reply = reply;
	c->op.ud = c;
	c->op.lang = api_lang(req);
	c->op.date_min = INT64_MIN;
	c->op.date_max = INT64_MAX;
	snprintf(c->op.remote_addr, sizeof c->op.remote_addr, "%s", req->remote_addr);
	read_token(req, &c->op);
	return c;
}

static void call_free(v1_call *c)
{
	svc_op_clear_results(&c->op);
	free(c->op.title);
	free(c->op.text);
	free(c->op.push_token);
	free(c);
}

static void reject(v1_call *c, v1_parse *p)
{
	api_v1_send_error(c->req, p->err, p->err_field, 0);
	json_decref(p->root);
	call_free(c);
}

static void send_ok(http_request *req, json_t *data)
{
	api_send_json(req, 200,
	              json_pack("{s:b,s:o,s:s}", "success", 1, "data", data ? data : json_null(), "error", ""), NULL);
}

static void op_done(svc_op *op)
{
	v1_call *c = op->ud;
	if (op->tenant.inn[0])
		snprintf(c->req->tenant, sizeof c->req->tenant, "%s", op->tenant.inn);
	if (op->err)
		api_v1_send_error(c->req, op->err, op->err_detail[0] ? op->err_detail : NULL, op->retry_after_s);
	else
		c->reply(c);
	call_free(c);
}

static json_t *message_json(const char *text)
{
	return json_pack("{s:s}", "message", text);
}

static json_t *date_json(const svc *s, int64_t ms)
{
	if (ms <= 0)
		return json_null();
	char buf[32];
	htime_format_iso(ms, svc_get_settings(s)->date_offset_min, buf);
	return json_string(buf);
}

/* ---- auth --------------------------------------------------------------------------------- */

static void auth_reply(v1_call *c)
{
	send_ok(c->req, message_json(ok_text[MSG_CODE_SENT][c->op.lang]));
}

static void route_auth(api *a, http_request *req, const router_params *params)
{
	(void)params;
	v1_call *c = call_new(a, req, auth_reply);
	if (!c)
		return;
	v1_parse p;
	char name[STORE_NAME_MAX];
	if (parse_body(req, &p) == 0) {
		get_inn(&p, c->op.inn, true);
		get_string(&p, F_STAFF_NAME, true, false, name, sizeof name);
		get_phone(&p, a->svc, c->op.phone);
		get_device(&p, c->op.device, true);
	}
	if (!p.err) {
		trim(name);
		size_t cps = 0;
		if (!name[0] || hval_utf8(name, strlen(name), &cps) != 0 ||
		    cps > (size_t)svc_get_settings(a->svc)->name_max)
			fail(&p, HERR_NAME_INVALID, "staffname");
		snprintf(c->op.name, sizeof c->op.name, "%s", name);
	}
	if (p.err) {
		reject(c, &p);
		return;
	}
	json_decref(p.root);
	c->op.done = op_done;
	svc_v1_auth(a->svc, &c->op);
}

/* ---- confirmsmscode ------------------------------------------------------------------------- */

static void confirm_reply(v1_call *c)
{
	svc_op *op = &c->op;
	json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "apitoken", op->api_token, "inn", op->tenant.inn,
	                         "firstname", op->tenant.short_name, "companyname", op->tenant.full_name, "staffname",
	                         op->user.name, "staffid", op->user.staff_id, "device", op->user.device, "phone",
	                         op->user.phone);
	send_ok(c->req, data);
}

static void route_confirm(api *a, http_request *req, const router_params *params)
{
	(void)params;
	v1_call *c = call_new(a, req, confirm_reply);
	if (!c)
		return;
	v1_parse p;
	if (parse_body(req, &p) == 0) {
		get_inn(&p, c->op.inn, true);
		get_phone(&p, a->svc, c->op.phone);
		if (get_string(&p, F_CODE, true, true, c->op.code, sizeof c->op.code) == 0) {
			trim(c->op.code);
			size_t n = strlen(c->op.code);
			if (n < 4 || n > 8 || hval_digits(c->op.code, 8) != 0)
				fail(&p, HERR_CODE_FORMAT, "smscode");
		} else if (p.err == HERR_FIELD_INVALID) {
			p.err = HERR_CODE_FORMAT;
		}
	}
	if (p.err) {
		reject(c, &p);
		return;
	}
	json_decref(p.root);
	c->op.done = op_done;
	svc_v1_confirm_code(a->svc, &c->op);
}

/* ---- updatepushtoken --------------------------------------------------------------------------- */

static void push_reply(v1_call *c)
{
	send_ok(c->req, message_json(ok_text[MSG_PUSH_UPDATED][c->op.lang]));
}

static void route_push_token(api *a, http_request *req, const router_params *params)
{
	(void)params;
	v1_call *c = call_new(a, req, push_reply);
	if (!c)
		return;
	v1_parse p;
	if (parse_body(req, &p) == 0) {
		get_inn(&p, c->op.inn, true);
		get_staff_id(&p, c->op.staff_id, true);
		get_device(&p, c->op.device, false);
		json_t *v = field(p.root, F_PUSH);
		if (!v) {
			fail(&p, HERR_FIELD_MISSING, "pushtoken");
		} else if (!json_is_string(v)) {
			fail(&p, HERR_FIELD_TYPE, "pushtoken");
		} else {
			const char *t = json_string_value(v);
			size_t n = json_string_length(v);
			bool ok = n > 0 && n <= (size_t)svc_get_settings(a->svc)->push_token_max;
			for (size_t i = 0; ok && i < n; i++)
				ok = t[i] > 0x20 && t[i] < 0x7f; /* tokens are printable ASCII */
			if (!ok)
				fail(&p, HERR_PUSHTOKEN_INVALID, "pushtoken");
			else if (!(c->op.push_token = strdup(t)))
				fail(&p, HERR_NOMEM, NULL);
		}
	}
	if (p.err) {
		reject(c, &p);
		return;
	}
	json_decref(p.root);
	c->op.done = op_done;
	svc_v1_update_push_token(a->svc, &c->op);
}

/* ---- createmessage ------------------------------------------------------------------------------ */

static void create_reply(v1_call *c)
{
	svc_op *op = &c->op;
	char id[24];
	snprintf(id, sizeof id, "%lld", (long long)op->message_id);
	json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:s}", "staffname", op->user.name, "staffId", op->user.staff_id,
	                         "messageid", id, "title", op->title, "message", op->text);
	send_ok(c->req, data);
}

static void route_create_message(api *a, http_request *req, const router_params *params)
{
	(void)params;
	v1_call *c = call_new(a, req, create_reply);
	if (!c)
		return;
	const svc_settings *st = svc_get_settings(a->svc);
	v1_parse p;
	if (parse_body(req, &p) == 0) {
		get_inn(&p, c->op.inn, true);
		get_staff_id(&p, c->op.staff_id, true);
		get_text(&p, F_TITLE, st->title_max, HERR_TITLE_EMPTY, HERR_TITLE_TOO_LONG, &c->op.title);
		get_text(&p, F_MESSAGE, st->text_max, HERR_TEXT_EMPTY, HERR_TEXT_TOO_LONG, &c->op.text);
	}
	if (p.err) {
		reject(c, &p);
		return;
	}
	json_decref(p.root);
	c->op.done = op_done;
	svc_v1_create_message(a->svc, &c->op);
}

/* ---- getmessage ------------------------------------------------------------------------------------ */

static void get_messages_reply(v1_call *c)
{
	svc_op *op = &c->op;
	svc *s = c->api->svc;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < op->message_count; i++) {
		const svc_message_row *m = &op->messages[i];
		char id[24];
		snprintf(id, sizeof id, "%lld", (long long)m->id);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "inn", op->tenant.inn, "staffId",
		                                     op->user.staff_id, "messageId", id, "title", m->title, "message",
		                                     m->text, "createdate", date_json(s, m->created_at), "senddate",
		                                     date_json(s, m->sent_at)));
	}
	send_ok(c->req, arr);
}

static void route_get_messages(api *a, http_request *req, const router_params *params)
{
	(void)params;
	v1_call *c = call_new(a, req, get_messages_reply);
	if (!c)
		return;
	int offset = svc_get_settings(a->svc)->date_offset_min;
	v1_parse p;
	if (parse_body(req, &p) == 0) {
		get_inn(&p, c->op.inn, true);
		get_staff_id(&p, c->op.staff_id, true);
		get_date(&p, F_DATEMIN, offset, &c->op.date_min, INT64_MIN);
		get_date(&p, F_DATEMAX, offset, &c->op.date_max, INT64_MAX);
		get_count(&p, &c->op.count);
		if (!p.err && c->op.date_min > c->op.date_max)
			fail(&p, HERR_DATE_INVALID, "datemin");
	}
	if (p.err) {
		reject(c, &p);
		return;
	}
	json_decref(p.root);
	c->op.done = op_done;
	svc_v1_get_messages(a->svc, &c->op);
}

/* ---- getstaff --------------------------------------------------------------------------------------- */

static void get_staff_reply(v1_call *c)
{
	svc_op *op = &c->op;
	svc *s = c->api->svc;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < op->user_count; i++) {
		const store_user *u = &op->users[i];
		/* "staff name" with a space is the original's key; staffname is the
		 * spelling every other method uses. Both are emitted. */
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:b}", "inn", op->tenant.inn, "staffId",
		                                     u->staff_id, "staff name", u->name, "staffname", u->name, "device",
		                                     u->device, "createdate", date_json(s, u->created_at),
		                                     "statusnotification", u->mailing));
	}
	send_ok(c->req, arr);
}

/* Whether the query string names a parameter at all (whatever its value). */
static bool query_has(const http_request *req, const char *name)
{
	size_t n = strlen(name);
	for (const char *q = req->query; q && *q;) {
		if (strncmp(q, name, n) == 0 && (q[n] == '=' || q[n] == '&' || q[n] == '\0'))
			return true;
		q = strchr(q, '&');
		if (q)
			q++;
	}
	return false;
}

static void route_get_staff(api *a, http_request *req, const router_params *params)
{
	(void)params;
	v1_call *c = call_new(a, req, get_staff_reply);
	if (!c)
		return;
	v1_parse p;
	if (parse_body(req, &p) == 0) {
		char q[64];
		long n = http_request_query(req, "inn", q, sizeof q);
		if (!field(p.root, F_INN) && (n >= 0 || query_has(req, "inn"))) {
			/* Present but too long, badly escaped or with a NUL: refuse it
			 * rather than fall back to the token's company. */
			if (n >= 0)
				trim(q);
			if (n < 0 || strlen(q) != (size_t)n || hval_inn(q) != 0)
				fail(&p, HERR_INN_INVALID, "inn");
			else
				copy_str(c->op.inn, sizeof c->op.inn, q);
		} else {
			/* Without an INN anywhere, the token alone names the tenant. */
			get_inn(&p, c->op.inn, false);
		}
	}
	if (p.err) {
		reject(c, &p);
		return;
	}
	json_decref(p.root);
	c->op.done = op_done;
	svc_v1_get_staff(a->svc, &c->op);
}

/* ---- deletestaff ------------------------------------------------------------------------------------ */

static void delete_reply(v1_call *c)
{
	send_ok(c->req, message_json(ok_text[MSG_STAFF_DELETED][c->op.lang]));
}

static void route_delete_staff(api *a, http_request *req, const router_params *params)
{
	(void)params;
	v1_call *c = call_new(a, req, delete_reply);
	if (!c)
		return;
	v1_parse p;
	if (parse_body(req, &p) == 0) {
		get_inn(&p, c->op.inn, true);
		get_staff_id(&p, c->op.staff_id, true);
	}
	if (p.err) {
		reject(c, &p);
		return;
	}
	json_decref(p.root);
	c->op.done = op_done;
	svc_v1_delete_staff(a->svc, &c->op);
}

int api_v1_register(api *a)
{
	int rc = 0;
	rc |= router_add(a->router, "POST", "/api/v1/auth", (void *)route_auth, "/api/v1/auth");
	rc |= router_add(a->router, "POST", "/api/v1/confirmsmscode", (void *)route_confirm, "/api/v1/confirmsmscode");
	rc |= router_add(a->router, "POST", "/api/v1/updatepushtoken", (void *)route_push_token,
	                 "/api/v1/updatepushtoken");
	rc |= router_add(a->router, "POST", "/api/v1/createmessage", (void *)route_create_message,
	                 "/api/v1/createmessage");
	rc |= router_add(a->router, "POST", "/api/v1/getmessage", (void *)route_get_messages, "/api/v1/getmessage");
	/* The original documents getstaff as a GET with a JSON body; clients that
	 * cannot send a body with GET use ?inn= or POST. */
	rc |= router_add(a->router, "GET", "/api/v1/getstaff", (void *)route_get_staff, "/api/v1/getstaff");
	rc |= router_add(a->router, "POST", "/api/v1/getstaff", (void *)route_get_staff, "/api/v1/getstaff");
	rc |= router_add(a->router, "POST", "/api/v1/deletestaff", (void *)route_delete_staff, "/api/v1/deletestaff");
	return rc ? HERR_NOMEM : 0;
}
