/*
 * api.c — dispatching requests to routes, the error bodies, health and
 * readiness probes, /metrics, the landing page and the access log.
 *
 * Errors are answered in the shape the caller speaks: under /api/v1/ the
 * compatibility envelope {"success":false,"data":null,"error":"…"}, elsewhere
 * {"error":{"code":"…","message":"…"}}. Both carry the stable code in the
 * X-Herald-Error header and the sentence in the caller's language.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/time.h"
#include "svc/chat.h"

herr_lang api_lang(const http_request *req)
{
	return herr_lang_from_accept(http_request_header(req, "accept-language"));
}

void api_send_json(http_request *req, int status, json_t *root, const char *const *extra_headers)
{
	size_t len = 0;
	char *body = NULL;
	if (root) {
		len = json_dumpb(root, NULL, 0, JSON_COMPACT);
		body = malloc(len + 1);
		if (body)
			json_dumpb(root, body, len, JSON_COMPACT);
		json_decref(root);
	}
	if (!body) {
		static const char oom[] = "{\"error\":{\"code\":\"nomem\",\"message\":\"out of memory\"}}";
		http_respond(req, 500, "application/json", oom, sizeof oom - 1, NULL);
		return;
	}
	http_respond_owned(req, status, "application/json; charset=utf-8", body, len, extra_headers);
}

static void error_headers(int err, int retry_after_s, char h_code[96], char h_retry[48], const char *hdrs[4])
{
	int n = 0;
	snprintf(h_code, 96, "X-Herald-Error: %s", herr_name(err));
	hdrs[n++] = h_code;
	if (retry_after_s > 0) {
		snprintf(h_retry, 48, "Retry-After: %d", retry_after_s);
		hdrs[n++] = h_retry;
	}
	if (err == HERR_UNAUTHORIZED)
		hdrs[n++] = "WWW-Authenticate: Bearer";
	hdrs[n] = NULL;
}

void api_send_error(http_request *req, int err, const char *detail, int retry_after_s)
{
	char msg[512], h_code[96], h_retry[48];
	const char *hdrs[4];
	herr_format(err, api_lang(req), detail, msg, sizeof msg);
	error_headers(err, retry_after_s, h_code, h_retry, hdrs);
	json_t *root = json_pack("{s:{s:s,s:s}}", "error", "code", herr_name(err), "message", msg);
	api_send_json(req, herr_http_status(err), root, hdrs);
}

void api_v1_send_error(http_request *req, int err, const char *detail, int retry_after_s)
{
	char msg[512], h_code[96], h_retry[48];
	const char *hdrs[4];
	herr_format(err, api_lang(req), detail, msg, sizeof msg);
	error_headers(err, retry_after_s, h_code, h_retry, hdrs);
	json_t *root = json_pack("{s:b,s:n,s:s}", "success", 0, "data", "error", msg);
	api_send_json(req, herr_http_status(err), root, hdrs);
}

static bool is_v1(const http_request *req)
{
	return req->path && strncmp(req->path, "/api/v1/", 8) == 0;
}

/* ---- probes and metrics --------------------------------------------------------- */

/* Also tells the version and build (api_set_version, from the binary's own
 * `herald version`): the employee app's About screen and operators read
 * them without a token. */
static void route_healthz(api *a, http_request *req, const router_params *p)
{
	(void)p;
	api_send_json(req, 200, json_pack("{s:s,s:s,s:s}", "status", "ok", "version", a->version, "build", a->build),
	              NULL);
}

static void ready_done(void *ud, int rc)
{
	http_request *req = ud;
	if (rc != 0) {
		api_send_error(req, HERR_STORAGE, NULL, 0);
		return;
	}
	api_send_json(req, 200, json_pack("{s:s}", "status", "ready"), NULL);
}

static void route_readyz(api *a, http_request *req, const router_params *p)
{
	(void)p;
	svc_ping(a->svc, ready_done, req);
}

static void route_metrics(api *a, http_request *req, const router_params *p)
{
	(void)p;
	hbuf b = HBUF_INIT;
	int rc = hmetrics_render_http(&b);
	rc |= hmetrics_gauge(&b, "herald_http_open_connections", "Open HTTP connections.",
	                     a->server ? (double)http_server_connection_count(a->server) : 0);
	store_stats st;
	store_get_stats(svc_store(a->svc), &st);
	rc |= hbuf_puts(&b, "# HELP herald_db_commit_batch_size Write jobs committed per transaction (group commit).\n"
	                    "# TYPE herald_db_commit_batch_size histogram\n");
	uint64_t cum = 0;
	for (int i = 0; i < STORE_BATCH_BUCKETS; i++) {
		cum += st.batch_hist[i];
		if (store_batch_bounds[i])
			rc |= hbuf_printf(&b, "herald_db_commit_batch_size_bucket{le=\"%u\"} %llu\n",
			                  store_batch_bounds[i], (unsigned long long)cum);
		else
			rc |= hbuf_printf(&b, "herald_db_commit_batch_size_bucket{le=\"+Inf\"} %llu\n",
			                  (unsigned long long)cum);
	}
	rc |= hbuf_printf(&b, "herald_db_commit_batch_size_sum %llu\nherald_db_commit_batch_size_count %llu\n",
	                  (unsigned long long)st.batch_sum, (unsigned long long)st.commits);
	rc |= hmetrics_counter(&b, "herald_db_commit_errors_total", "Write transactions that failed to commit.",
	                       (double)st.commit_errors);
	rc |= svc_push_metrics(a->svc, &b);
	if (rc != 0) {
		hbuf_free(&b);
		api_send_error(req, HERR_NOMEM, NULL, 0);
		return;
	}
	size_t len;
	char *body = hbuf_steal(&b, &len);
	http_respond_owned(req, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, NULL);
}

static const char landing_html[] =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>herald</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;"
        "color:#1f2937}code{background:#f3f4f6;padding:.1rem .3rem;border-radius:.2rem}"
        "@media(prefers-color-scheme:dark){body{background:#111827;color:#e5e7eb}code{background:#374151}}"
        "</style></head><body><h1>herald is running</h1>"
        "<p>The compatibility API is at <code>/api/v1/</code>; see <code>docs/api-v1.md</code> in the "
        "source tree. Probes: <a href=\"/healthz\">/healthz</a>, <a href=\"/readyz\">/readyz</a>, "
        "<a href=\"/metrics\">/metrics</a>.</p><p>The web apps (console, employee app) are not served: %s</p>"
        "</body></html>";

static void route_landing(api *a, http_request *req, const router_params *p)
{
	(void)p;
	if (a->web) {
		webroot_serve(a->web, req);
		return;
	}
	static const char *const hdrs[] = {
	        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
	        "frame-ancestors 'none'",
	        "X-Content-Type-Options: nosniff", "Cache-Control: no-cache", NULL};
	hbuf b = HBUF_INIT;
	if (hbuf_printf(&b, landing_html, a->web_hint[0] ? a->web_hint : "run make to build them.") != 0) {
		hbuf_free(&b);
		api_send_error(req, HERR_NOMEM, NULL, 0);
		return;
	}
	size_t len;
	char *body = hbuf_steal(&b, &len);
	http_respond_owned(req, 200, "text/html; charset=utf-8", body, len, hdrs);
}

/* ---- cross-origin callers ------------------------------------------------------------ */

#define CORS_EXPOSE "Access-Control-Expose-Headers: X-Herald-Error, Retry-After, WWW-Authenticate"

static void cors_clear(api *a)
{
	for (size_t i = 0; i < a->cors_count; i++) {
		free(a->cors_origins[i]);
		free((char *)a->cors_headers[i][0]);
	}
	free(a->cors_origins);
	free(a->cors_headers);
	a->cors_origins = NULL;
	a->cors_headers = NULL;
	a->cors_count = 0;
}

/* scheme://host[:port] with nothing after it. */
static bool is_origin(const char *o, size_t n)
{
	size_t s = n > 8 && strncmp(o, "https://", 8) == 0 ? 8 : n > 7 && strncmp(o, "http://", 7) == 0 ? 7 : 0;
	if (!s)
		return false;
	for (size_t i = s; i < n; i++) {
		char ch = o[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '-' || ch == ':' || ch == '[' || ch == ']'))
			return false;
	}
	return true;
}

int api_set_cors(api *a, const char *origins, char *err, size_t err_size)
{
	cors_clear(a);
	a->cors_any = false;
	const char *p = origins ? origins : "*";
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		const char *tok = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - tok);
		if (n == 0)
			break;
		if (n == 1 && *tok == '*') {
			a->cors_any = true;
			continue;
		}
		if (n > 200 || !is_origin(tok, n)) {
			snprintf(err, err_size,
			         "http.cors_origins: \"%.*s\" is not an origin (scheme://host[:port]) or *",
			         (int)(n > 200 ? 200 : n), tok);
			return HERR_FIELD_INVALID;
		}
		char **no = realloc(a->cors_origins, (a->cors_count + 1) * sizeof *no);
		if (!no)
			return HERR_NOMEM;
		a->cors_origins = no;
		const char *(*nh)[4] = realloc(a->cors_headers, (a->cors_count + 1) * sizeof *nh);
		if (!nh)
			return HERR_NOMEM;
		a->cors_headers = nh;
		char *origin = strndup(tok, n), *line = malloc(n + 32);
		if (!origin || !line) {
			free(origin);
			free(line);
			return HERR_NOMEM;
		}
		snprintf(line, n + 32, "Access-Control-Allow-Origin: %s", origin);
		a->cors_origins[a->cors_count] = origin;
		a->cors_headers[a->cors_count][0] = line;
		a->cors_headers[a->cors_count][1] = "Vary: Origin";
		a->cors_headers[a->cors_count][2] = CORS_EXPOSE;
		a->cors_headers[a->cors_count][3] = NULL;
		a->cors_count++;
	}
	return 0;
}

static const char *const cors_any_headers[] = {"Access-Control-Allow-Origin: *", CORS_EXPOSE, NULL};

/* The headers a request from origin gets, or NULL when it may not call. */
static const char *const *cors_for(const api *a, const char *origin)
{
	if (a->cors_any)
		return cors_any_headers;
	for (size_t i = 0; i < a->cors_count; i++)
		if (strcmp(a->cors_origins[i], origin) == 0)
			return a->cors_headers[i];
	return NULL;
}

/* A page of the server itself (Origin names the Host) is never cross-origin. */
static bool same_origin(const http_request *req, const char *origin)
{
	const char *host = http_request_header(req, "host");
	const char *sep = strstr(origin, "://");
	return host && sep && strcmp(sep + 3, host) == 0;
}

/* Cross-origin rules for /api/v2 and /ws. Returns true when the request was
 * answered here (a preflight, or a refused origin). */
static bool cors_apply(api *a, http_request *req)
{
	bool v2 = strncmp(req->path, "/api/v2/", 8) == 0;
	bool ws = strcmp(req->path, "/ws") == 0;
	const char *origin = http_request_header(req, "origin");
	if ((!v2 && !ws) || !origin || same_origin(req, origin))
		return false;
	const char *const *allow = cors_for(a, origin);
	if (ws) {
		/* WebSockets have no CORS: the origin check is the server's. */
		if (allow)
			return false;
		req->route = "/ws";
		api_send_error(req, HERR_FORBIDDEN, "Origin", 0);
		return true;
	}
	if (strcmp(req->method, "OPTIONS") == 0 && http_request_header(req, "access-control-request-method")) {
		req->route = "preflight";
		if (!allow) {
			api_send_error(req, HERR_FORBIDDEN, "Origin", 0);
			return true;
		}
		static const char *const pre[] = {
		        "Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE",
		        "Access-Control-Allow-Headers: Authorization, Content-Type, Accept-Language",
		        "Access-Control-Max-Age: 600", NULL};
		req->more_headers = allow;
		http_respond(req, 204, NULL, NULL, 0, pre);
		return true;
	}
	/* A refused origin still gets its answer, without the header that
	 * would let the browser hand it to the page. */
	req->more_headers = allow;
	return false;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int api_new(svc *s, const ws_options *ws_opt, api **out)
{
	api *a = calloc(1, sizeof *a);
	if (!a)
		return HERR_NOMEM;
	a->svc = s;
	a->cors_any = true;
	a->router = router_new();
	if (!a->router) {
		free(a);
		return HERR_NOMEM;
	}
	int rc = router_add(a->router, "GET", "/healthz", (void *)route_healthz, "/healthz");
	rc |= router_add(a->router, "GET", "/readyz", (void *)route_readyz, "/readyz");
	rc |= router_add(a->router, "GET", "/metrics", (void *)route_metrics, "/metrics");
	rc |= router_add(a->router, "GET", "/", (void *)route_landing, "/");
	rc |= api_v1_register(a);
	rc |= api_v2_register(a);
	rc |= api_cabinet_register(a);
	if (rc == 0 && !(a->hub = rt_hub_new(a, s, ws_opt)))
		rc = HERR_NOMEM;
	if (rc != 0) {
		api_free(a);
		return HERR_NOMEM;
	}
	*out = a;
	return 0;
}

void api_shutdown(api *a)
{
	if (a->hub)
		rt_hub_close_all(a->hub);
}

void api_free(api *a)
{
	if (!a)
		return;
	rt_hub_free(a->hub);
	router_free(a->router);
	webroot_free(a->web);
	cors_clear(a);
	free(a);
}

void api_set_max_upload(api *a, size_t bytes)
{
	a->max_upload = bytes;
}

void api_set_vapid_public(api *a, const char *key)
{
	snprintf(a->vapid_public, sizeof a->vapid_public, "%s", key ? key : "");
}

void api_set_version(api *a, const char *version, const char *build)
{
	snprintf(a->version, sizeof a->version, "%s", version ? version : "");
	snprintf(a->build, sizeof a->build, "%s", build ? build : "");
}

void api_set_web_root(api *a, webroot *w, const char *hint)
{
	webroot_free(a->web);
	a->web = w;
	snprintf(a->web_hint, sizeof a->web_hint, "%s", hint ? hint : "");
}

void api_set_server(api *a, http_server *server)
{
	a->server = server;
}

void api_handle(http_request *req, void *ud)
{
	api *a = ud;
	if (req->error) {
		req->route = "invalid";
		if (is_v1(req))
			api_v1_send_error(req, req->error, NULL, 0);
		else
			api_send_error(req, req->error, NULL, 0);
		return;
	}
	if (cors_apply(a, req))
		return;
	void *handler = NULL;
	const char *name = NULL;
	router_params params;
	char allow[128] = "";
	router_result r =
	        router_match(a->router, req->method, req->raw_path, &handler, &name, &params, allow, sizeof allow);
	if (r == ROUTER_FOUND) {
		req->route = name;
		((api_route_fn)handler)(a, req, &params);
		return;
	}
	/* Everything that is not the server's own is the web app's: its files
	 * and the client routes of its pages. */
	if (r == ROUTER_NOT_FOUND && a->web && !webroot_reserved(req->path) &&
	    (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)) {
		webroot_serve(a->web, req);
		return;
	}
	req->route = "unmatched";
	int err = r == ROUTER_METHOD_NOT_ALLOWED ? HERR_METHOD_NOT_ALLOWED : HERR_ROUTE_NOT_FOUND;
	if (r == ROUTER_METHOD_NOT_ALLOWED) {
		char h_allow[160], msg[256];
		snprintf(h_allow, sizeof h_allow, "Allow: %s", allow);
		const char *hdrs[] = {h_allow, "X-Herald-Error: method_not_allowed", NULL};
		herr_format(err, api_lang(req), req->method, msg, sizeof msg);
		json_t *root = is_v1(req) ? json_pack("{s:b,s:n,s:s}", "success", 0, "data", "error", msg)
		                          : json_pack("{s:{s:s,s:s}}", "error", "code", herr_name(err), "message", msg);
		api_send_json(req, 405, root, hdrs);
		return;
	}
	if (is_v1(req))
		api_v1_send_error(req, err, req->path, 0);
	else
		api_send_error(req, err, req->path, 0);
}

void api_complete(http_request *req, int status, size_t bytes_out, uint64_t duration_ns, void *ud)
{
	(void)ud;
	hmetrics_request(req->route, req->method, status, duration_ns);
	hlog_line l;
	hlog_begin(&l, HLOG_INFO, "request");
	hlog_str(&l, "method", req->method);
	hlog_str(&l, "path", req->path);
	hlog_int(&l, "status", status);
	hlog_int(&l, "bytes", (int64_t)bytes_out);
	hlog_double(&l, "ms", (double)duration_ns / 1e6);
	hlog_str(&l, "tenant", req->tenant[0] ? req->tenant : NULL);
	hlog_str(&l, "remote", req->remote_addr);
	hlog_end(&l);
}
