/*
 * api_internal.h — shared by the api/ files only.
 */
#ifndef HERALD_API_INTERNAL_H
#define HERALD_API_INTERNAL_H

#include <jansson.h>

#include "api/api.h"
#include "api/webroot.h"
#include "net/router.h"
#include "net/ws.h"
#include "svc/chat.h"

typedef struct rt_hub rt_hub;

struct api {
	svc *svc;
	router *router;
	http_server *server;
	rt_hub *hub;
	size_t max_upload;
	char vapid_public[128];
	char version[32], build[48]; /* for /healthz */
	webroot *web;                /* NULL: / shows the landing page */
	char web_hint[256];
	/* Cross-origin callers of /api/v2 (api_set_cors): any origin, or the
	 * listed ones, each with its ready-made response headers. */
	bool cors_any;
	size_t cors_count;
	char **cors_origins;
	const char *(*cors_headers)[4];
};

typedef void (*api_route_fn)(api *a, http_request *req, const router_params *params);

/* The language of error texts for this request (Accept-Language). */
herr_lang api_lang(const http_request *req);

/* A JSON body (takes ownership of root) with status and optional extra headers. */
void api_send_json(http_request *req, int status, json_t *root, const char *const *extra_headers);

/* A native error body {"error":{"code":…,"message":…}}. */
void api_send_error(http_request *req, int err, const char *detail, int retry_after_s);

/* The /api/v1 envelope {"success":false,"data":null,"error":"…"}. */
void api_v1_send_error(http_request *req, int err, const char *detail, int retry_after_s);

/* Registers the /api/v1 routes. */
int api_v1_register(api *a);

/* Registers the /api/v2 routes (v2.c). */
int api_v2_register(api *a);

/* Runs a svc_v2 operation for a request (v2.c): token, JSON body and path
 * parameters as every /api/v2 route; query (owned, may be NULL) carries an
 * operation's own parameters (svc_call.query). */
void api_v2_run(api *a, http_request *req, const router_params *p, svc_v2_op op, json_t *query);

/* Registers the company cabinet's routes (cabinet.c). */
int api_cabinet_register(api *a);

/* The realtime hub (realtime.c). */
rt_hub *rt_hub_new(api *a, svc *s, const ws_options *opt);
void rt_route_ws(api *a, http_request *req, const router_params *params);
void rt_hub_close_all(rt_hub *h);
size_t rt_hub_sessions(const rt_hub *h);
void rt_hub_free(rt_hub *h);

#endif
