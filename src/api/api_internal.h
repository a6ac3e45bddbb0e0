/*
 * api_internal.h — shared by the api/ files only.
 */
#ifndef HERALD_API_INTERNAL_H
#define HERALD_API_INTERNAL_H

#include <jansson.h>

#include "api/api.h"
#include "net/router.h"

struct api {
	svc *svc;
	router *router;
	http_server *server;
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

#endif
