/*
 * cabinet.c — the HTTP routes of the company cabinet (/api/v2/cabinet/…;
 * docs/cabinet.md, docs/openapi.yaml). The operations are svc's
 * (svc/cabinet.c); this file only gathers each route's query and path
 * parameters into one JSON object of strings and runs the operation the
 * way every /api/v2 route runs (api_v2_run: token, body, errors).
 *
 * The parameters are copied as sent (percent-decoded); svc checks every
 * one. A parameter that is not valid UTF-8 is refused here, as JSON cannot
 * carry it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_internal.h"

/* Adds the named query parameters that are present. Returns 0, or the
 * name of one that cannot be carried (not UTF-8). */
static const char *add_query(json_t *q, http_request *req, const char *const *names)
{
	size_t cap = req->query ? strlen(req->query) + 1 : 1;
	char *buf = malloc(cap);
	if (!buf)
		return "query";
	for (; *names; names++) {
		long n = http_request_query(req, *names, buf, cap);
		if (n < 0)
			continue;
		json_t *v = json_stringn(buf, (size_t)n);
		if (!v || memchr(buf, '\0', (size_t)n)) {
			json_decref(v);
			free(buf);
			return *names;
		}
		json_object_set_new(q, *names, v);
	}
	free(buf);
	return NULL;
}

static void run(api *a, http_request *req, const router_params *p, svc_v2_op op, const char *const *names)
{
	json_t *q = json_object();
	if (!q) {
		api_send_error(req, HERR_NOMEM, NULL, 0);
		return;
	}
	const char *bad = names ? add_query(q, req, names) : NULL;
	if (bad) {
		json_decref(q);
		api_send_error(req, HERR_FIELD_INVALID, bad, 0);
		return;
	}
	const char *v;
	if ((v = router_param(p, "staff_id")))
		json_object_set_new(q, "staff_id", json_string(v));
	if ((v = router_param(p, "id")))
		json_object_set_new(q, "id", json_string(v));
	/* A client that asks for CSV by Accept gets it without format=csv. */
	const char *accept = http_request_header(req, "accept");
	if (op == V2_CAB_MESSAGES && accept && strncasecmp(accept, "text/csv", 8) == 0 && !json_object_get(q, "format"))
		json_object_set_new(q, "format", json_string("csv"));
	api_v2_run(a, req, p, op, q);
}

static void r_login(api *a, http_request *req, const router_params *p)
{
	run(a, req, p, V2_CAB_LOGIN, NULL);
}

static void r_logout(api *a, http_request *req, const router_params *p)
{
	run(a, req, p, V2_CAB_LOGOUT, NULL);
}

static void r_tenant_get(api *a, http_request *req, const router_params *p)
{
	run(a, req, p, V2_CAB_TENANT_GET, NULL);
}

static void r_tenant_patch(api *a, http_request *req, const router_params *p)
{
	run(a, req, p, V2_CAB_TENANT_PATCH, NULL);
}

static void r_token(api *a, http_request *req, const router_params *p)
{
	run(a, req, p, V2_CAB_TOKEN_ROTATE, NULL);
}

static void r_employees(api *a, http_request *req, const router_params *p)
{
	static const char *const names[] = {"q", "limit", "cursor", NULL};
	run(a, req, p, V2_CAB_EMPLOYEES, names);
}

static void r_employee_patch(api *a, http_request *req, const router_params *p)
{
	run(a, req, p, V2_CAB_EMPLOYEE_PATCH, NULL);
}

static void r_employee_delete(api *a, http_request *req, const router_params *p)
{
	run(a, req, p, V2_CAB_EMPLOYEE_DELETE, NULL);
}

static void r_messages(api *a, http_request *req, const router_params *p)
{
	static const char *const names[] = {"employee", "from",   "to",     "status",    "sort", "order",
	                                    "limit",    "offset", "format", "tz_offset", NULL};
	run(a, req, p, V2_CAB_MESSAGES, names);
}

static void r_message_get(api *a, http_request *req, const router_params *p)
{
	static const char *const names[] = {"tz_offset", NULL};
	run(a, req, p, V2_CAB_MESSAGE_GET, names);
}

static void r_send(api *a, http_request *req, const router_params *p)
{
	run(a, req, p, V2_CAB_SEND, NULL);
}

static void r_stats(api *a, http_request *req, const router_params *p)
{
	static const char *const names[] = {"from", "to", "tz_offset", NULL};
	run(a, req, p, V2_CAB_STATS, names);
}

int api_cabinet_register(api *a)
{
	static const struct {
		const char *method, *pattern;
		api_route_fn fn;
	} routes[] = {
	        {"POST", "/api/v2/cabinet/login", r_login},
	        {"POST", "/api/v2/cabinet/logout", r_logout},
	        {"GET", "/api/v2/cabinet/tenant", r_tenant_get},
	        {"PATCH", "/api/v2/cabinet/tenant", r_tenant_patch},
	        {"POST", "/api/v2/cabinet/api-token", r_token},
	        {"GET", "/api/v2/cabinet/employees", r_employees},
	        {"PATCH", "/api/v2/cabinet/employees/{staff_id}", r_employee_patch},
	        {"DELETE", "/api/v2/cabinet/employees/{staff_id}", r_employee_delete},
	        {"GET", "/api/v2/cabinet/messages", r_messages},
	        {"POST", "/api/v2/cabinet/messages", r_send},
	        {"GET", "/api/v2/cabinet/messages/{id}", r_message_get},
	        {"GET", "/api/v2/cabinet/stats", r_stats},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		rc |= router_add(a->router, routes[i].method, routes[i].pattern, (void *)routes[i].fn,
		                 routes[i].pattern);
	return rc ? HERR_NOMEM : 0;
}
