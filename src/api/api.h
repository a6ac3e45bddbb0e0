/*
 * api.h — the HTTP face of herald: routes, error bodies, health, metrics, the
 * access log, and the compatibility API /api/v1 (v1.c).
 *
 * api_handle() is the http_server's request handler and api_complete() its
 * completion hook (access log line + metrics).
 */
#ifndef HERALD_API_API_H
#define HERALD_API_API_H

#include "net/http.h"
#include "net/ws.h"
#include "svc/svc.h"

typedef struct api api;

/* ws_opt: limits of realtime connections (NULL: defaults). */
int api_new(svc *s, const ws_options *ws_opt, api **out);
/* Body limit per path (uploads may be larger than other requests); give it
 * to the HTTP server as http_server_options.body_limit with the api as udata. */
size_t api_body_limit(const char *path, size_t def, void *ud);
void api_set_max_upload(api *a, size_t bytes);
/* The VAPID public key (base64url) served to web apps. */
void api_set_vapid_public(api *a, const char *key);

/* Version and build shown by /healthz (main.c passes what `herald version`
 * prints, so both always agree). */
void api_set_version(api *a, const char *version, const char *build);
/* The built web apps served at / and /m/ (takes ownership; NULL keeps the
 * landing page, which then shows hint, e.g. how to build them). */
typedef struct webroot webroot;
void api_set_web_root(api *a, webroot *w, const char *hint);
/* Origins allowed to call /api/v2 and open /ws from other sites: "*" (the
 * default: bearer tokens, no cookies, so any page may call), or a list
 * separated by commas or spaces ("https://a.example, https://b.example").
 * HERR_FIELD_INVALID with err filled for an entry that is not an origin. */
int api_set_cors(api *a, const char *origins, char *err, size_t err_size);

/* Closes realtime connections (1001) so that the HTTP server can drain. */
void api_shutdown(api *a);
void api_free(api *a);
/* Lets /metrics report open connections. */
void api_set_server(api *a, http_server *server);

void api_handle(http_request *req, void *ud);
void api_complete(http_request *req, int status, size_t bytes_out, uint64_t duration_ns, void *ud);

#endif
