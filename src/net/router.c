/*
 * router.c — a segment trie from (method, path) to a handler.
 *
 * What it owns: the route table and the matching rules: literal segments
 * before "{name}" before "{name*}", 405 with the allowed methods, HEAD
 * answered by GET routes.
 * What it must never do: look at anything but the method and the path, or
 * allocate while matching (it runs once per request).
 *
 * Why it is built so: one trie node per path position, literal children first,
 * so the lookup walks the path once and backtracks only when a literal branch
 * dead-ends. Matching takes the raw (not decoded) path so that "%2F" inside an
 * identifier stays inside its segment; values are decoded into the caller's
 * router_params, and a value that does not fit in 255 bytes is not a match.
 */
#include "net/router.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "net/http_parse.h"

/* Distinct methods collected for an Allow list. */
#define ROUTER_MAX_ALLOW 16

typedef struct router_route {
	const char *method;
	void *handler;
	const char *name;
	size_t param_count;
	char *param_names[ROUTER_MAX_PARAMS];
} router_route;

typedef struct router_node {
	const char *seg; /* literal segment, a slice of the pattern */
	size_t seg_len;
	struct router_node **lits;
	size_t lit_count, lit_cap;
	struct router_node *param;
	struct router_node *rest;
	router_route *routes;
	size_t route_count, route_cap;
} router_node;

struct router {
	router_node root;
};

typedef struct router_match_ctx {
	const char *method;
	bool head;
	router_params *params;
	const router_route *found;
	const char *allow[ROUTER_MAX_ALLOW];
	size_t allow_count;
} router_match_ctx;

router *router_new(void)
{
	return calloc(1, sizeof(router));
}

static void router_node_clear(router_node *n)
{
	size_t i, j;

	for (i = 0; i < n->lit_count; i++) {
		router_node_clear(n->lits[i]);
		free(n->lits[i]);
	}
	free(n->lits);
	if (n->param) {
		router_node_clear(n->param);
		free(n->param);
	}
	if (n->rest) {
		router_node_clear(n->rest);
		free(n->rest);
	}
	for (i = 0; i < n->route_count; i++)
		for (j = 0; j < n->routes[i].param_count; j++)
			free(n->routes[i].param_names[j]);
	free(n->routes);
}

void router_free(router *r)
{
	if (!r)
		return;
	router_node_clear(&r->root);
	free(r);
}

static router_node *router_literal_child(router_node *n, const char *seg, size_t len, bool create)
{
	router_node *c;
	size_t i;

	for (i = 0; i < n->lit_count; i++)
		if (n->lits[i]->seg_len == len && memcmp(n->lits[i]->seg, seg, len) == 0)
			return n->lits[i];
	if (!create)
		return NULL;
	if (n->lit_count == n->lit_cap) {
		size_t cap = n->lit_cap ? n->lit_cap * 2 : 4;
		router_node **l = realloc(n->lits, cap * sizeof *l);
		if (!l)
			return NULL;
		n->lits = l;
		n->lit_cap = cap;
	}
	c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->seg = seg;
	c->seg_len = len;
	n->lits[n->lit_count++] = c;
	return c;
}

int router_add(router *r, const char *method, const char *pattern, void *handler, const char *name)
{
	router_route rt;
	router_node *n = &r->root;
	const char *s;
	size_t i;
	int rc = HERR_INTERNAL;

	memset(&rt, 0, sizeof rt);
	if (!method || !*method || !pattern || pattern[0] != '/')
		return HERR_INTERNAL;
	rt.method = method;
	rt.handler = handler;
	rt.name = name;
	s = pattern + 1;
	for (;;) {
		const char *e = strchr(s, '/');
		size_t len;
		router_node **slot = NULL;

		if (!e)
			e = s + strlen(s);
		len = (size_t)(e - s);
		if (len >= 3 && s[0] == '{' && s[len - 1] == '}') {
			bool rest = s[len - 2] == '*';
			size_t name_len = len - 2 - (rest ? 1 : 0);

			if (name_len == 0 || memchr(s + 1, '{', len - 2) || memchr(s + 1, '}', len - 2) ||
			    rt.param_count == ROUTER_MAX_PARAMS || (rest && *e))
				goto fail;
			rt.param_names[rt.param_count] = strndup(s + 1, name_len);
			if (!rt.param_names[rt.param_count]) {
				rc = HERR_NOMEM;
				goto fail;
			}
			rt.param_count++;
			slot = rest ? &n->rest : &n->param;
			if (!*slot) {
				*slot = calloc(1, sizeof **slot);
				if (!*slot) {
					rc = HERR_NOMEM;
					goto fail;
				}
			}
			n = *slot;
		} else {
			/* braces elsewhere are a typo, not a literal */
			if (memchr(s, '{', len) || memchr(s, '}', len))
				goto fail;
			n = router_literal_child(n, s, len, true);
			if (!n) {
				rc = HERR_NOMEM;
				goto fail;
			}
		}
		if (!*e)
			break;
		s = e + 1;
	}
	for (i = 0; i < n->route_count; i++) {
		if (strcmp(n->routes[i].method, method) == 0) {
			rc = HERR_CONFLICT;
			goto fail;
		}
	}
	if (n->route_count == n->route_cap) {
		size_t cap = n->route_cap ? n->route_cap * 2 : 2;
		router_route *routes = realloc(n->routes, cap * sizeof *routes);
		if (!routes) {
			rc = HERR_NOMEM;
			goto fail;
		}
		n->routes = routes;
		n->route_cap = cap;
	}
	n->routes[n->route_count++] = rt;
	return 0;
fail:
	for (i = 0; i < rt.param_count; i++)
		free(rt.param_names[i]);
	return rc;
}

/* Picks the route of the node for the method; otherwise remembers the node's
 * methods for the Allow list. */
static bool router_match_routes(const router_node *n, router_match_ctx *m)
{
	const router_route *get = NULL;
	size_t i, j;

	for (i = 0; i < n->route_count; i++) {
		if (strcmp(n->routes[i].method, m->method) == 0) {
			m->found = &n->routes[i];
			return true;
		}
		if (m->head && strcmp(n->routes[i].method, "GET") == 0)
			get = &n->routes[i];
	}
	if (get) {
		m->found = get;
		return true;
	}
	for (i = 0; i < n->route_count; i++) {
		for (j = 0; j < m->allow_count; j++)
			if (strcmp(m->allow[j], n->routes[i].method) == 0)
				break;
		if (j == m->allow_count && m->allow_count < ROUTER_MAX_ALLOW)
			m->allow[m->allow_count++] = n->routes[i].method;
	}
	return false;
}

/*
 * seg is the start of the next path segment, or NULL when the path is used
 * up; depth is the number of parameters taken so far. A parameter's value is
 * written at its depth, so a later successful branch overwrites what a failed
 * one left behind.
 */
static bool router_match_node(const router_node *n, const char *seg, size_t depth, router_match_ctx *m)
{
	const char *e, *next;
	const router_node *lit;
	size_t len;
	long dl;

	if (!seg)
		return n->route_count && router_match_routes(n, m);
	e = strchr(seg, '/');
	if (!e)
		e = seg + strlen(seg);
	len = (size_t)(e - seg);
	next = *e ? e + 1 : NULL;

	lit = router_literal_child((router_node *)n, seg, len, false);
	if (lit && router_match_node(lit, next, depth, m))
		return true;
	if (n->param && len > 0 && depth < ROUTER_MAX_PARAMS) {
		dl = http_percent_decode(seg, len, m->params->items[depth].value, sizeof m->params->items[depth].value,
		                         false);
		if (dl > 0 && router_match_node(n->param, next, depth + 1, m))
			return true;
	}
	if (n->rest && n->rest->route_count && depth < ROUTER_MAX_PARAMS) {
		dl = http_percent_decode(seg, strlen(seg), m->params->items[depth].value,
		                         sizeof m->params->items[depth].value, false);
		if (dl >= 0 && router_match_routes(n->rest, m))
			return true;
	}
	return false;
}

router_result router_match(const router *r, const char *method, const char *path, void **handler, const char **name,
                           router_params *params, char *allow, size_t allow_size)
{
	router_params local;
	router_match_ctx m;
	size_t i, off = 0;

	memset(&m, 0, sizeof m);
	m.method = method ? method : "";
	m.head = strcmp(m.method, "HEAD") == 0;
	m.params = params ? params : &local;
	m.params->count = 0;
	if (allow && allow_size)
		allow[0] = '\0';
	if (!path || path[0] != '/')
		return ROUTER_NOT_FOUND;

	if (router_match_node(&r->root, path + 1, 0, &m)) {
		m.params->count = m.found->param_count;
		for (i = 0; i < m.found->param_count; i++)
			m.params->items[i].name = m.found->param_names[i];
		if (handler)
			*handler = m.found->handler;
		if (name)
			*name = m.found->name;
		return ROUTER_FOUND;
	}
	if (!m.allow_count)
		return ROUTER_NOT_FOUND;
	for (i = 0; allow && i < m.allow_count; i++) {
		size_t l = strlen(m.allow[i]);
		size_t sep = i ? 2 : 0;

		if (off + sep + l + 1 > allow_size)
			break;
		if (sep)
			memcpy(allow + off, ", ", 2);
		memcpy(allow + off + sep, m.allow[i], l);
		off += sep + l;
		allow[off] = '\0';
	}
	return ROUTER_METHOD_NOT_ALLOWED;
}

const char *router_param(const router_params *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->count; i++)
		if (strcmp(p->items[i].name, name) == 0)
			return p->items[i].value;
	return NULL;
}
