/*
 * test_router.c — route matching: literals before parameters, rest
 * parameters, 404 against 405 with Allow, HEAD via GET, parameter limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "net/router.h"

/* Handlers are opaque to the router: distinct addresses are enough. */
static int h_root, h_list, h_create, h_get, h_new, h_messages, h_delete_msg, h_static, h_head_only, h_xa, h_xby;

static int setup(void **state)
{
	router *r = router_new();

	if (!r)
		return -1;
	if (router_add(r, "GET", "/", &h_root, "root") || router_add(r, "GET", "/api/v2/chats", &h_list, "list") ||
	    router_add(r, "POST", "/api/v2/chats", &h_create, "create") ||
	    router_add(r, "GET", "/api/v2/chats/{id}", &h_get, "get") ||
	    router_add(r, "GET", "/api/v2/chats/new", &h_new, "new") ||
	    router_add(r, "GET", "/api/v2/chats/{id}/messages", &h_messages, "messages") ||
	    router_add(r, "DELETE", "/api/v2/chats/{chat}/messages/{msg}", &h_delete_msg, "delete_msg") ||
	    router_add(r, "GET", "/static/{path*}", &h_static, "static") ||
	    router_add(r, "HEAD", "/probe", &h_head_only, "probe") || router_add(r, "GET", "/x/{a}", &h_xa, "xa") ||
	    router_add(r, "GET", "/x/{b}/y", &h_xby, "xby"))
		return -1;
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	router_free(*state);
	return 0;
}

static router_result match(router *r, const char *method, const char *path, void **h, const char **name,
                           router_params *p, char *allow)
{
	return router_match(r, method, path, h, name, p, allow, 64);
}

static void test_literal_vs_param(void **state)
{
	router *r = *state;
	router_params p;
	const char *name = NULL;
	void *h = NULL;
	char allow[64];

	assert_int_equal(match(r, "GET", "/api/v2/chats/new", &h, &name, &p, allow), ROUTER_FOUND);
	assert_ptr_equal(h, &h_new);
	assert_string_equal(name, "new");
	assert_int_equal(p.count, 0);

	assert_int_equal(match(r, "GET", "/api/v2/chats/42", &h, &name, &p, allow), ROUTER_FOUND);
	assert_ptr_equal(h, &h_get);
	assert_int_equal(p.count, 1);
	assert_string_equal(p.items[0].name, "id");
	assert_string_equal(router_param(&p, "id"), "42");
	assert_null(router_param(&p, "nope"));

	/* the literal branch dead-ends, so "new" is taken as an id */
	assert_int_equal(match(r, "GET", "/api/v2/chats/new/messages", &h, &name, &p, allow), ROUTER_FOUND);
	assert_ptr_equal(h, &h_messages);
	assert_string_equal(router_param(&p, "id"), "new");

	assert_int_equal(match(r, "DELETE", "/api/v2/chats/7/messages/99", &h, &name, &p, allow), ROUTER_FOUND);
	assert_ptr_equal(h, &h_delete_msg);
	assert_int_equal(p.count, 2);
	assert_string_equal(router_param(&p, "chat"), "7");
	assert_string_equal(router_param(&p, "msg"), "99");

	assert_int_equal(match(r, "GET", "/", &h, &name, &p, allow), ROUTER_FOUND);
	assert_ptr_equal(h, &h_root);
}

static void test_param_names_per_route(void **state)
{
	router *r = *state;
	router_params p;
	void *h = NULL;

	assert_int_equal(match(r, "GET", "/x/1", &h, NULL, &p, NULL), ROUTER_FOUND);
	assert_ptr_equal(h, &h_xa);
	assert_string_equal(router_param(&p, "a"), "1");
	assert_int_equal(match(r, "GET", "/x/2/y", &h, NULL, &p, NULL), ROUTER_FOUND);
	assert_ptr_equal(h, &h_xby);
	assert_string_equal(router_param(&p, "b"), "2");
	assert_null(router_param(&p, "a"));
}

static void test_rest_param(void **state)
{
	router *r = *state;
	router_params p;
	void *h = NULL;

	assert_int_equal(match(r, "GET", "/static/css/site%20main.css", &h, NULL, &p, NULL), ROUTER_FOUND);
	assert_ptr_equal(h, &h_static);
	assert_string_equal(router_param(&p, "path"), "css/site main.css");
	assert_int_equal(match(r, "GET", "/static/", &h, NULL, &p, NULL), ROUTER_FOUND);
	assert_string_equal(router_param(&p, "path"), "");
	assert_int_equal(match(r, "GET", "/static", &h, NULL, &p, NULL), ROUTER_NOT_FOUND);
}

static void test_not_found_vs_not_allowed(void **state)
{
	router *r = *state;
	router_params p;
	char allow[64];
	void *h = NULL;

	assert_int_equal(match(r, "GET", "/nope", &h, NULL, &p, allow), ROUTER_NOT_FOUND);
	assert_string_equal(allow, "");
	assert_int_equal(match(r, "GET", "/api/v2/chats/1/other", &h, NULL, &p, allow), ROUTER_NOT_FOUND);
	assert_int_equal(match(r, "GET", "/api/v2/chats/", &h, NULL, &p, allow), ROUTER_NOT_FOUND);
	assert_int_equal(match(r, "GET", "/api/v2", &h, NULL, &p, allow), ROUTER_NOT_FOUND);
	assert_int_equal(match(r, "GET", "", &h, NULL, &p, allow), ROUTER_NOT_FOUND);

	assert_int_equal(match(r, "PUT", "/api/v2/chats", &h, NULL, &p, allow), ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "GET, POST");
	assert_int_equal(match(r, "DELETE", "/api/v2/chats/5", &h, NULL, &p, allow), ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "GET");
	/* methods of every route the path fits, literal or parameter */
	assert_int_equal(match(r, "POST", "/api/v2/chats/new", &h, NULL, &p, allow), ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "GET");
	assert_int_equal(match(r, "GET", "/api/v2/chats/5/messages/6", &h, NULL, &p, allow), ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "DELETE");

	/* a short buffer gets whole names only */
	assert_int_equal(router_match(r, "PUT", "/api/v2/chats", &h, NULL, &p, allow, 6), ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "GET");
}

static void test_head_matches_get(void **state)
{
	router *r = *state;
	router_params p;
	const char *name = NULL;
	char allow[64];
	void *h = NULL;

	assert_int_equal(match(r, "HEAD", "/api/v2/chats/7", &h, &name, &p, allow), ROUTER_FOUND);
	assert_ptr_equal(h, &h_get);
	assert_string_equal(router_param(&p, "id"), "7");
	assert_int_equal(match(r, "HEAD", "/probe", &h, &name, &p, allow), ROUTER_FOUND);
	assert_ptr_equal(h, &h_head_only);
	/* but GET does not match HEAD routes */
	assert_int_equal(match(r, "GET", "/probe", &h, &name, &p, allow), ROUTER_METHOD_NOT_ALLOWED);
	assert_string_equal(allow, "HEAD");
	assert_int_equal(match(r, "HEAD", "/api/v2/chats/5/messages/6", &h, NULL, &p, allow),
	                 ROUTER_METHOD_NOT_ALLOWED);
}

static void test_param_decoding_and_length(void **state)
{
	router *r = *state;
	router_params p;
	char path[600];
	void *h = NULL;

	assert_int_equal(match(r, "GET", "/api/v2/chats/a%2Fb%D0%90", &h, NULL, &p, NULL), ROUTER_FOUND);
	assert_ptr_equal(h, &h_get);
	assert_string_equal(router_param(&p, "id"), "a/b\xD0\x90");
	assert_int_equal(match(r, "GET", "/api/v2/chats/a%00b", &h, NULL, &p, NULL), ROUTER_NOT_FOUND);
	assert_int_equal(match(r, "GET", "/api/v2/chats/a%zz", &h, NULL, &p, NULL), ROUTER_NOT_FOUND);

	strcpy(path, "/api/v2/chats/");
	memset(path + strlen(path), 'x', 255);
	path[14 + 255] = '\0';
	assert_int_equal(match(r, "GET", path, &h, NULL, &p, NULL), ROUTER_FOUND);
	assert_int_equal(strlen(router_param(&p, "id")), 255);
	path[14 + 255] = 'x';
	path[14 + 256] = '\0';
	assert_int_equal(match(r, "GET", path, &h, NULL, &p, NULL), ROUTER_NOT_FOUND);
	/* 255 bytes once decoded is fine even if the raw segment is longer */
	strcpy(path, "/api/v2/chats/%41");
	memset(path + strlen(path), 'x', 254);
	path[17 + 254] = '\0';
	assert_int_equal(match(r, "GET", path, &h, NULL, &p, NULL), ROUTER_FOUND);
	assert_int_equal(strlen(router_param(&p, "id")), 255);
}

static void test_add_errors(void **state)
{
	router *r = router_new();

	(void)state;
	assert_non_null(r);
	assert_int_equal(router_add(r, "GET", "/a/{id}", &h_get, "a"), 0);
	assert_int_equal(router_add(r, "GET", "/a/{other}", &h_get, "a2"), HERR_CONFLICT);
	assert_int_equal(router_add(r, "POST", "/a/{other}", &h_get, "a3"), 0);
	assert_true(router_add(r, "GET", "no-slash", &h_get, "b") < 0);
	assert_true(router_add(r, "GET", "/b/{}", &h_get, "b") < 0);
	assert_true(router_add(r, "GET", "/b/x{id}", &h_get, "b") < 0);
	assert_true(router_add(r, "GET", "/b/{rest*}/more", &h_get, "b") < 0);
	assert_true(router_add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", &h_get, "b") < 0);
	assert_int_equal(router_add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", &h_get, "eight"), 0);
	router_free(r);
	router_free(NULL);
}

static void test_eight_params(void **state)
{
	router *r = router_new();
	router_params p;
	const char *name = NULL;

	(void)state;
	assert_int_equal(router_add(r, "GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", &h_get, "eight"), 0);
	assert_int_equal(router_match(r, "GET", "/1/2/3/4/5/6/7/8", NULL, &name, &p, NULL, 0), ROUTER_FOUND);
	assert_string_equal(name, "eight");
	assert_int_equal(p.count, 8);
	assert_string_equal(router_param(&p, "a"), "1");
	assert_string_equal(router_param(&p, "h"), "8");
	assert_int_equal(router_match(r, "GET", "/1/2/3/4/5/6/7/8/9", NULL, &name, &p, NULL, 0), ROUTER_NOT_FOUND);
	router_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_literal_vs_param, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_param_names_per_route, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_rest_param, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_not_found_vs_not_allowed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_head_matches_get, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_param_decoding_and_length, setup, teardown),
	        cmocka_unit_test(test_add_errors),
	        cmocka_unit_test(test_eight_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
