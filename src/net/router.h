/*
 * router.h — maps (method, path) to a handler.
 *
 * Patterns are literal paths with optional "{name}" segments, e.g.
 * "/api/v2/chats/{id}/messages"; a final "{name*}" segment takes the rest of
 * the path. Literal segments win over parameters. A path that matches with
 * another method yields ROUTER_METHOD_NOT_ALLOWED and the allowed methods.
 * HEAD matches GET routes.
 */
#ifndef HERALD_NET_ROUTER_H
#define HERALD_NET_ROUTER_H

#include <stddef.h>

#define ROUTER_MAX_PARAMS 8

typedef struct router router;

typedef struct router_params {
	size_t count;
	struct {
		const char *name;
		char value[256];
	} items[ROUTER_MAX_PARAMS];
} router_params;

typedef enum router_result { ROUTER_FOUND = 0, ROUTER_NOT_FOUND = 1, ROUTER_METHOD_NOT_ALLOWED = 2 } router_result;

router *router_new(void);
void router_free(router *r);

/* Adds a route; pattern and name must outlive the router (string literals). */
int router_add(router *r, const char *method, const char *pattern, void *handler, const char *name);

/* Finds a route. On FOUND sets *handler, *name and params; on METHOD_NOT_ALLOWED
 * writes "GET, POST" into allow. */
router_result router_match(const router *r, const char *method, const char *path, void **handler, const char **name,
                           router_params *params, char *allow, size_t allow_size);

const char *router_param(const router_params *p, const char *name);

#endif
