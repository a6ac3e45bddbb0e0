/*
 * v2.c — the native REST API (everything under /api/v2/; docs/openapi.yaml).
 *
 * Every route maps to one svc operation: this file parses the path, the
 * query and the JSON body, hands them over, and answers with the resource
 * svc returns (200/201) or an error {"error":{"code","message"}}. The token
 * in Authorization decides who is calling: the tenant's API token (the host
 * system, full control) or a user's token (a session or a JWT the host
 * signed), and svc enforces what each may do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"
#include "core/buf.h"
#include "svc/chat.h"

/* Larger than any query string the HTTP layer accepts (the 16 KiB header limit). */
#define HTTP_QUERY_PROBE (64 * 1024)

#define TOKEN_MAX 4096

typedef struct v2_call {
	svc_call k;
	http_request *req;
	json_t *body;
	json_t *query; /* cabinet routes: their parameters (api/cabinet.c) */
	char token[TOKEN_MAX + 1];
} v2_call;

/* A file download: the bytes with their sniffed type, never rendered as a
 * page (attachment unless an image, nosniff, a sandboxing CSP). */
static void send_file(v2_call *c)
{
	svc_call *k = &c->k;
	bool image = strncmp(k->file_mime, "image/", 6) == 0;
	/* An export (CSV) is made now from changing data: never cached. */
	bool export = strncmp(k->file_mime, "text/csv", 8) == 0;
	char disp[400], ctype[96];
	snprintf(disp, sizeof disp, "Content-Disposition: %s; filename=\"%s\"", image ? "inline" : "attachment",
	         k->file_name);
	snprintf(ctype, sizeof ctype, "%s", k->file_mime);
	const char *hdrs[] = {disp, "X-Content-Type-Options: nosniff",
	                      export ? "Cache-Control: no-store"
	                             : "Cache-Control: private, max-age=31536000, immutable",
	                      "Content-Security-Policy: default-src 'none'; sandbox", NULL};
	char *data = k->file_data;
	size_t len = k->file_len;
	k->file_data = NULL;
	http_respond_owned(c->req, 200, ctype, data, len, hdrs);
}

static void v2_done(svc_call *k)
{
	v2_call *c = (v2_call *)k;
	if (k->tenant_inn[0])
		hstrlcpy(c->req->tenant, k->tenant_inn, sizeof c->req->tenant);
	if (!k->err && k->file_data) {
		send_file(c);
	} else if (k->err) {
		api_send_error(c->req, k->err, k->err_detail[0] ? k->err_detail : NULL, k->retry_after_s);
	} else if (k->status == 204) {
		http_respond(c->req, 204, NULL, NULL, 0, NULL);
	} else if (k->result_json) {
		char *body = k->result_json;
		k->result_json = NULL;
		http_respond_owned(c->req, k->status ? k->status : 200, "application/json; charset=utf-8", body,
		                   k->result_json_len, NULL);
	} else {
		json_t *r = k->result;
		k->result = NULL;
		api_send_json(c->req, k->status ? k->status : 200, r ? r : json_object(), NULL);
	}
	svc_call_free_results(k);
	json_decref(c->body);
	json_decref(c->query);
	free(c);
}

static int64_t param_int(const router_params *p, const char *name)
{
	const char *v = router_param(p, name);
	if (!v || !*v)
		return -1;
	char *end;
	long long n = strtoll(v, &end, 10);
	return *end || n <= 0 ? -1 : n;
}

static long query_int(http_request *req, const char *name, long def, bool *bad)
{
	char buf[32];
	long n = http_request_query(req, name, buf, sizeof buf);
	if (n < 0)
		return def;
	char *end;
	long v = strtol(buf, &end, 10);
	if (*end || n == 0 || v < 0) {
		*bad = true;
		return def;
	}
	return v;
}

void api_v2_run(api *a, http_request *req, const router_params *p, svc_v2_op op, json_t *query)
{
	v2_call *c = calloc(1, sizeof *c);
	if (!c) {
		json_decref(query);
		api_send_error(req, HERR_NOMEM, NULL, 0);
		return;
	}
	c->req = req;
	c->query = query;
	svc_call *k = &c->k;
	k->query = query;
	hstrlcpy(k->remote_addr, req->remote_addr, sizeof k->remote_addr);
	k->done = v2_done;
	k->lang = api_lang(req);
	const char *auth = http_request_header(req, "authorization");
	if (auth) {
		while (*auth == ' ')
			auth++;
		if (strncasecmp(auth, "bearer ", 7) == 0)
			auth += 7;
		if (strlen(auth) > TOKEN_MAX) {
			json_decref(query);
			free(c);
			api_send_error(req, HERR_UNAUTHORIZED, NULL, 0);
			return;
		}
		hstrlcpy(c->token, auth, sizeof c->token);
		k->token = c->token;
	}
	if (op == V2_FILE_UPLOAD) {
		k->upload = (const uint8_t *)req->body;
		k->upload_len = req->body_len;
	} else if (req->body_len) {
		json_error_t jerr;
		c->body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (!c->body || !json_is_object(c->body)) {
			json_decref(c->body);
			json_decref(query);
			free(c);
			api_send_error(req, HERR_BAD_JSON, NULL, 0);
			return;
		}
		k->body = c->body;
	}
	const char *v;
	if ((v = router_param(p, "user")))
		hstrlcpy(k->p_user, v, sizeof k->p_user);
	if ((v = router_param(p, "topic")))
		hstrlcpy(k->p_topic, v, sizeof k->p_topic);
	if ((v = router_param(p, "file")))
		hstrlcpy(k->p_file, v, sizeof k->p_file);
	if ((v = router_param(p, "type")))
		hstrlcpy(k->p_ref_type, v, sizeof k->p_ref_type);
	if ((v = router_param(p, "ref")))
		hstrlcpy(k->p_ref_id, v, sizeof k->p_ref_id);
	if (router_param(p, "chat") && (k->p_chat = param_int(p, "chat")) < 0) {
		json_decref(c->body);
		json_decref(query);
		free(c);
		api_send_error(req, HERR_NOT_FOUND, "chat", 0);
		return;
	}
	if (router_param(p, "delivery") && (k->p_delivery = param_int(p, "delivery")) < 0) {
		json_decref(c->body);
		json_decref(query);
		free(c);
		api_send_error(req, HERR_NOT_FOUND, "delivery", 0);
		return;
	}
	if (router_param(p, "seq") && (k->p_seq = param_int(p, "seq")) < 0) {
		json_decref(c->body);
		json_decref(query);
		free(c);
		api_send_error(req, HERR_NOT_FOUND, "message", 0);
		return;
	}
	bool bad = false;
	k->q_limit = (int)query_int(req, "limit", 0, &bad);
	k->q_before = query_int(req, "before", 0, &bad);
	k->q_after = query_int(req, "after", -1, &bad); /* -1: absent (0 is "from the start") */
	if (http_request_query(req, "cursor", k->q_cursor, sizeof k->q_cursor) < 0)
		k->q_cursor[0] = '\0';
	if (http_request_query(req, "user", k->q_user, sizeof k->q_user) < 0)
		k->q_user[0] = '\0';
	for (const char *q = k->q_user; *q; q++)
		bad = bad || (unsigned char)*q < 0x20;
	/* One free-text slot, read from the parameter the operation defines. */
	const char *text_param = op == V2_SEARCH || op == V2_DIRECTORY ? "q"
	                         : op == V2_DEV_USERS                  ? "inn"
	                         : op == V2_FILE_UPLOAD                ? "name"
	                                                               : NULL;
	if (!text_param || http_request_query(req, text_param, k->q_text, sizeof k->q_text) < 0)
		k->q_text[0] = '\0';
	/* Absent and too long look alike above; a too long one is an error, not
	 * "no filter" (the directory would list everyone). The request line fits
	 * the header limit, so a buffer of that size tells the two apart. */
	if (text_param && !k->q_text[0]) {
		char *probe = malloc(HTTP_QUERY_PROBE);
		long n = probe ? http_request_query(req, text_param, probe, HTTP_QUERY_PROBE) : -1;
		free(probe);
		if (n >= (long)sizeof k->q_text) {
			json_decref(c->body);
			json_decref(query);
			free(c);
			char what[64];
			snprintf(what, sizeof what, "%s (at most %zu bytes)", text_param, sizeof k->q_text - 1);
			api_send_error(req, HERR_FIELD_INVALID, what, 0);
			return;
		}
	}
	if (bad) {
		json_decref(c->body);
		json_decref(query);
		free(c);
		api_send_error(req, HERR_FIELD_INVALID, "limit/before/after", 0);
		return;
	}
	if (op == V2_CAB_LOGIN)
		svc_cabinet_login(a->svc, k); /* rate limits first */
	else
		svc_v2(a->svc, k, op);
}

/* Runs op for this request. */
static void run(api *a, http_request *req, const router_params *p, svc_v2_op op)
{
	api_v2_run(a, req, p, op, NULL);
}

#define ROUTE(fn, op)                                                                                                  \
	static void fn(api *a, http_request *req, const router_params *p)                                              \
	{                                                                                                              \
		run(a, req, p, op);                                                                                    \
	}

ROUTE(r_user_put, V2_USER_PUT)
ROUTE(r_user_get, V2_USER_GET)
ROUTE(r_user_list, V2_USER_LIST)
ROUTE(r_user_deactivate, V2_USER_DEACTIVATE)
ROUTE(r_session_create, V2_SESSION_CREATE)
ROUTE(r_jwt_rotate, V2_JWT_ROTATE)
ROUTE(r_by_ref_put, V2_CHAT_BY_REF_PUT)
ROUTE(r_by_ref_get, V2_CHAT_BY_REF_GET)
ROUTE(r_me, V2_ME)
ROUTE(r_chat_create, V2_CHAT_CREATE)
ROUTE(r_chat_list, V2_CHAT_LIST)
ROUTE(r_chat_get, V2_CHAT_GET)
ROUTE(r_chat_patch, V2_CHAT_PATCH)
ROUTE(r_chat_delete, V2_CHAT_DELETE)
ROUTE(r_chat_restore, V2_CHAT_RESTORE)
ROUTE(r_member_list, V2_MEMBER_LIST)
ROUTE(r_member_add, V2_MEMBER_ADD)
ROUTE(r_member_patch, V2_MEMBER_PATCH)
ROUTE(r_member_remove, V2_MEMBER_REMOVE)
ROUTE(r_settings, V2_SETTINGS)
ROUTE(r_msg_post, V2_MSG_POST)
ROUTE(r_msg_page, V2_MSG_PAGE)
ROUTE(r_msg_patch, V2_MSG_PATCH)
ROUTE(r_msg_delete, V2_MSG_DELETE)
ROUTE(r_read, V2_READ)
ROUTE(r_reads, V2_READS)
ROUTE(r_search, V2_SEARCH)
ROUTE(r_topic_put, V2_TOPIC_PUT)
ROUTE(r_topic_publish, V2_TOPIC_PUBLISH)
ROUTE(r_topic_events, V2_TOPIC_EVENTS)
ROUTE(r_file_upload, V2_FILE_UPLOAD)
ROUTE(r_file_get, V2_FILE_GET)
ROUTE(r_webhook_put, V2_WEBHOOK_PUT)
ROUTE(r_webhook_get, V2_WEBHOOK_GET)
ROUTE(r_webhook_delete, V2_WEBHOOK_DELETE)
ROUTE(r_push_subscribe, V2_PUSH_SUBSCRIBE)
ROUTE(r_push_unsubscribe, V2_PUSH_UNSUBSCRIBE)
ROUTE(r_push_devices, V2_PUSH_DEVICES)
ROUTE(r_deliveries, V2_DELIVERIES)
ROUTE(r_quiet_put, V2_QUIET_PUT)
ROUTE(r_directory, V2_DIRECTORY)
ROUTE(r_quiet_delete, V2_QUIET_DELETE)
ROUTE(r_delivered, V2_DELIVERED)
ROUTE(r_dev_users, V2_DEV_USERS)

/* The VAPID public key a browser subscribes with (applicationServerKey):
 * public by nature, so no token is needed. */
static void r_vapid_key(api *a, http_request *req, const router_params *p)
{
	(void)p;
	if (!a->vapid_public[0]) {
		api_send_error(req, HERR_NOT_FOUND, "vapid key", 0);
		return;
	}
	api_send_json(req, 200, json_pack("{s:s}", "public_key", a->vapid_public), NULL);
}
ROUTE(r_dev_login, V2_DEV_LOGIN)

static void webhook_test_done(svc_call *k)
{
	v2_done(k);
}

/* The test delivery goes through the webhook module, not a storage job. */
static void r_webhook_test(api *a, http_request *req, const router_params *p)
{
	(void)p;
	v2_call *c = calloc(1, sizeof *c);
	if (!c) {
		api_send_error(req, HERR_NOMEM, NULL, 0);
		return;
	}
	c->req = req;
	c->k.done = webhook_test_done;
	c->k.lang = api_lang(req);
	const char *auth = http_request_header(req, "authorization");
	if (auth && strncasecmp(auth, "bearer ", 7) == 0)
		auth += 7;
	if (auth && strlen(auth) <= TOKEN_MAX) {
		hstrlcpy(c->token, auth, sizeof c->token);
		c->k.token = c->token;
	}
	svc_webhook_test(a->svc, &c->k);
}

size_t api_body_limit(const char *path, size_t def, void *ud)
{
	api *a = ud;
	if (strcmp(path, "/api/v2/files") == 0 && a->max_upload > def)
		return a->max_upload;
	return def;
}

int api_v2_register(api *a)
{
	static const struct {
		const char *method, *pattern;
		api_route_fn fn;
	} routes[] = {
	        {"PUT", "/api/v2/users/{user}", r_user_put},
	        {"GET", "/api/v2/users/{user}", r_user_get},
	        {"DELETE", "/api/v2/users/{user}", r_user_deactivate},
	        {"GET", "/api/v2/users", r_user_list},
	        {"GET", "/api/v2/directory", r_directory},
	        {"POST", "/api/v2/sessions", r_session_create},
	        {"POST", "/api/v2/tenant/jwt-secret", r_jwt_rotate},
	        {"GET", "/api/v2/me", r_me},
	        {"PUT", "/api/v2/me/quiet-hours", r_quiet_put},
	        {"DELETE", "/api/v2/me/quiet-hours", r_quiet_delete},
	        {"PUT", "/api/v2/chats/by-ref/{type}/{ref}", r_by_ref_put},
	        {"GET", "/api/v2/chats/by-ref/{type}/{ref}", r_by_ref_get},
	        {"POST", "/api/v2/chats", r_chat_create},
	        {"GET", "/api/v2/chats", r_chat_list},
	        {"GET", "/api/v2/chats/{chat}", r_chat_get},
	        {"PATCH", "/api/v2/chats/{chat}", r_chat_patch},
	        {"DELETE", "/api/v2/chats/{chat}", r_chat_delete},
	        {"POST", "/api/v2/chats/{chat}/restore", r_chat_restore},
	        {"GET", "/api/v2/chats/{chat}/members", r_member_list},
	        {"POST", "/api/v2/chats/{chat}/members", r_member_add},
	        {"PATCH", "/api/v2/chats/{chat}/members/{user}", r_member_patch},
	        {"DELETE", "/api/v2/chats/{chat}/members/{user}", r_member_remove},
	        {"PATCH", "/api/v2/chats/{chat}/settings", r_settings},
	        {"POST", "/api/v2/chats/{chat}/messages", r_msg_post},
	        {"GET", "/api/v2/chats/{chat}/messages", r_msg_page},
	        {"PATCH", "/api/v2/chats/{chat}/messages/{seq}", r_msg_patch},
	        {"DELETE", "/api/v2/chats/{chat}/messages/{seq}", r_msg_delete},
	        {"GET", "/api/v2/chats/{chat}/messages/{seq}/reads", r_reads},
	        {"POST", "/api/v2/chats/{chat}/read", r_read},
	        {"GET", "/api/v2/search", r_search},
	        {"PUT", "/api/v2/topics/{topic}", r_topic_put},
	        {"POST", "/api/v2/topics/{topic}/events", r_topic_publish},
	        {"GET", "/api/v2/topics/{topic}/events", r_topic_events},
	        {"POST", "/api/v2/files", r_file_upload},
	        {"GET", "/api/v2/files/{file}", r_file_get},
	        {"PUT", "/api/v2/webhook", r_webhook_put},
	        {"GET", "/api/v2/webhook", r_webhook_get},
	        {"DELETE", "/api/v2/webhook", r_webhook_delete},
	        {"POST", "/api/v2/webhook/test", r_webhook_test},
	        {"POST", "/api/v2/push/subscriptions", r_push_subscribe},
	        {"DELETE", "/api/v2/push/subscriptions", r_push_unsubscribe},
	        {"GET", "/api/v2/push/devices", r_push_devices},
	        {"GET", "/api/v2/chats/{chat}/messages/{seq}/deliveries", r_deliveries},
	        {"POST", "/api/v2/deliveries/{delivery}/delivered", r_delivered},
	        {"GET", "/api/v2/push/vapid-key", r_vapid_key},
	        {"GET", "/api/v2/dev/users", r_dev_users},
	        {"POST", "/api/v2/dev/login", r_dev_login},
	        {"GET", "/ws", rt_route_ws},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		rc |= router_add(a->router, routes[i].method, routes[i].pattern, (void *)routes[i].fn,
		                 routes[i].pattern);
	return rc ? HERR_NOMEM : 0;
}
