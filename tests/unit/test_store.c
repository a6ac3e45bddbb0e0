/*
 * test_store.c — the SQLite backend through store.h: migrations and the
 * schema guard, tenants, users, inbox messages (order, bounds, limits),
 * deletion, tenant scoping, and group commit through the writer thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/crypto.h"
#include "core/err.h"
#include "store/sqlite/sqlite_internal.h"
#include "store/store.h"

static char dir[256];

static int make_dir(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/herald-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static store *open_store(void)
{
	char err[512];
	store *s = NULL;
	store_open_options o = {.data_dir = dir, .migrate = true};
	int rc = store_open(&o, &s, err, sizeof err);
	if (rc != 0)
		fail_msg("store_open: %s", err);
	return s;
}

typedef struct fixture {
	store_tenant a, b;
	store_user ua, ub;
	uint8_t token_a[32], token_b[32];
} fixture;

static int setup_run(store_conn *c, void *arg)
{
	fixture *f = arg;
	memset(f, 0, sizeof *f);
	f->a.created_at = f->b.created_at = 1;
	memset(f->token_a, 1, 32);
	memset(f->token_b, 2, 32);
	snprintf(f->a.inn, sizeof f->a.inn, "1111111111");
	snprintf(f->a.short_name, sizeof f->a.short_name, "A");
	snprintf(f->a.full_name, sizeof f->a.full_name, "A Ltd");
	snprintf(f->b.inn, sizeof f->b.inn, "222222222222");
	snprintf(f->b.short_name, sizeof f->b.short_name, "B");
	snprintf(f->b.full_name, sizeof f->b.full_name, "B Ltd");
	int rc = store_tenant_insert(c, &f->a, "x", f->token_a);
	if (rc == 0)
		rc = store_tenant_insert(c, &f->b, "x", f->token_b);
	store_user *us[2] = {&f->ua, &f->ub};
	const store_tenant *ts[2] = {&f->a, &f->b};
	for (int i = 0; rc == 0 && i < 2; i++) {
		memset(us[i], 0, sizeof *us[i]);
		us[i]->tenant_id = ts[i]->id;
		snprintf(us[i]->name, sizeof us[i]->name, "User %d", i);
		snprintf(us[i]->phone, sizeof us[i]->phone, "%s", i ? "+79230000001" : "+79230000000");
		us[i]->mailing = true;
		rc = store_user_insert(c, us[i]);
	}
	return rc;
}

static void test_migrate_and_reopen(void **state)
{
	(void)state;
	store *s = open_store();
	int found, current;
	store_schema_versions(s, &found, &current);
	assert_int_equal(found, 0);
	assert_true(current >= 1);
	store_close(s);
	s = open_store();
	store_schema_versions(s, &found, &current);
	assert_int_equal(found, current);
	store_close(s);
}

static void test_schema_too_new_refused(void **state)
{
	(void)state;
	store *s = open_store();
	store_close(s);
	char path[512];
	snprintf(path, sizeof path, "%s/herald.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES (999)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	char err[512];
	store_open_options o = {.data_dir = dir, .migrate = true};
	assert_int_equal(store_open(&o, &s, err, sizeof err), HERR_SCHEMA_TOO_NEW);
	assert_non_null(strstr(err, "newer"));
	assert_null(s);
}

/* A database written by the first release (schema 1) is brought to the
 * current schema on open, and what it held works with the new features. */
typedef struct upgraded {
	int members, found;
} upgraded;

static int count_found(void *ud, const store_msg *m)
{
	upgraded *u = ud;
	u->found += strcmp(m->body, "from schema one") == 0;
	return 0;
}

static int upgraded_run(store_conn *c, void *arg)
{
	upgraded *u = arg;
	int rc = store_member_count(c, 1, 1, &u->members);
	if (rc == 0)
		rc = store_msg_search(c, 1, 1, "\"schema\"*", 10, count_found, u);
	return rc;
}

static void test_upgrade_from_schema_1(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof path, "%s/herald.db", dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE schema_version (version INTEGER NOT NULL);", NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sqlite_migrations[0], NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(
	        sqlite3_exec(db,
	                     "INSERT INTO schema_version VALUES (1);"
	                     "INSERT INTO tenants VALUES (1, '1111111111', 'A', 'A Ltd', 'x', x'01', 1);"
	                     "INSERT INTO users(id, tenant_id, staff_id, name, mailing, created_at, updated_at) "
	                     "  VALUES (1, 1, '1234567890', 'Old', 1, 1, 1);"
	                     "INSERT INTO chats(id, tenant_id, kind, owner_id, last_seq, created_at, updated_at) "
	                     "  VALUES (1, 1, 'inbox', 1, 1, 1, 1);"
	                     "INSERT INTO messages(tenant_id, chat_id, seq, kind, title, body, created_at) "
	                     "  VALUES (1, 1, 1, 'notification', 't', 'from schema one', 1);",
	                     NULL, NULL, NULL),
	        SQLITE_OK);
	sqlite3_close(db);
	store *s = open_store();
	int found, current;
	store_schema_versions(s, &found, &current);
	assert_int_equal(found, 1);
	assert_true(current >= 2);
	upgraded u = {0};
	assert_int_equal(store_run(s, upgraded_run, &u), 0);
	assert_int_equal(u.members, 1); /* the employee now belongs to their inbox */
	assert_int_equal(u.found, 1);   /* and old messages are searchable */
	store_close(s);
}

/* Events: pruning finds its cut by bisection over ids and keeps the newest. */
typedef struct prune_case {
	int64_t deleted, max_id, floor;
	int left;
} prune_case;

static int count_left(void *ud, const store_event *e)
{
	(void)e;
	((prune_case *)ud)->left++;
	return 0;
}

static int prune_run(store_conn *c, void *arg)
{
	prune_case *p = arg;
	int64_t id;
	for (int i = 0; i < 100; i++) {
		int rc = store_event_append(c, 1, 0, 7, "t", "{}", 1000 + i * 10, &id);
		if (rc)
			return rc;
	}
	/* older than t=1500: events 1..50 (times 1000..1490) */
	int rc = store_event_prune(c, 1500, 10, &p->deleted);
	if (rc == 0)
		rc = store_event_bounds(c, &p->max_id, &p->floor);
	if (rc == 0)
		rc = store_event_replay(c, 1, 7, 0, 1000, count_left, p);
	return rc;
}

static int prune_all_run(store_conn *c, void *arg)
{
	prune_case *p = arg;
	/* keep 0 and everything old: the newest still stays */
	int rc = store_event_prune(c, INT64_MAX, 0, &p->deleted);
	if (rc == 0)
		rc = store_event_bounds(c, &p->max_id, &p->floor);
	return rc;
}

static void test_event_prune(void **state)
{
	(void)state;
	store *s = open_store();
	prune_case p = {0};
	assert_int_equal(store_run(s, prune_run, &p), 0);
	assert_int_equal(p.deleted, 50);
	assert_int_equal(p.floor, 50);
	assert_int_equal(p.max_id, 100);
	assert_int_equal(p.left, 50);
	prune_case q = {0};
	assert_int_equal(store_run(s, prune_all_run, &q), 0);
	assert_int_equal(q.deleted, 49);
	assert_int_equal(q.max_id, 100);
	assert_int_equal(q.floor, 99);
	store_close(s);
}

/* Search indexing runs in batches: a message is found once indexed. */
typedef struct index_case {
	fixture *f;
	int before, after, indexed;
} index_case;

static int count_hits(void *ud, const store_msg *m)
{
	(void)m;
	(*(int *)ud)++;
	return 0;
}

static int index_run(store_conn *c, void *arg)
{
	index_case *x = arg;
	int64_t chat;
	int rc = store_inbox_ensure(c, x->f->a.id, x->f->ua.id, 1, &chat);
	store_msg m = {
	        .chat_id = chat, .kind = "notification", .title = "Смена", .body = "Склад номер пять", .created_at = 2};
	if (rc == 0)
		rc = store_msg_insert(c, x->f->a.id, &m);
	if (rc == 0)
		rc = store_msg_search(c, x->f->a.id, 0, "\"склад\"*", 10, count_hits, &x->before);
	if (rc == 0)
		rc = store_msg_index(c, 100, &x->indexed);
	if (rc == 0)
		rc = store_msg_search(c, x->f->a.id, 0, "\"склад\"*", 10, count_hits, &x->after);
	return rc;
}

static void test_search_index_batches(void **state)
{
	(void)state;
	store *s = open_store();
	fixture f;
	assert_int_equal(store_run(s, (store_job_fn)setup_run, &f), 0);
	index_case x = {.f = &f};
	assert_int_equal(store_run(s, index_run, &x), 0);
	assert_int_equal(x.before, 0);
	assert_int_equal(x.indexed, 1);
	assert_int_equal(x.after, 1); /* Cyrillic, case-folded, prefix */
	store_close(s);
}

static void test_tenants_and_tokens(void **state)
{
	(void)state;
	store *s = open_store();
	fixture f;
	assert_int_equal(store_run(s, (store_job_fn)setup_run, &f), 0);
	assert_true(f.ua.staff_id[0] >= '1' && strlen(f.ua.staff_id) == 10);
	/* A second tenant with the same INN is refused, and rolls back. */
	fixture g;
	assert_int_equal(store_run(s, (store_job_fn)setup_run, &g), HERR_TENANT_EXISTS);
	store_close(s);
}

typedef struct lookup {
	fixture *f;
	store_tenant t;
	store_user u;
	int rc_token, rc_cross, rc_phone;
} lookup;

static int lookup_run(store_conn *c, void *arg)
{
	lookup *l = arg;
	l->rc_token = store_tenant_by_token(c, l->f->token_b, &l->t);
	/* Tenant A cannot see tenant B's employee, by staff id or by phone. */
	l->rc_cross = store_user_by_staff_id(c, l->f->a.id, l->f->ub.staff_id, &l->u);
	l->rc_phone = store_user_by_phone(c, l->f->a.id, l->f->ub.phone, &l->u);
	return 0;
}

static void test_tenant_scoping(void **state)
{
	(void)state;
	store *s = open_store();
	fixture f;
	assert_int_equal(store_run(s, (store_job_fn)setup_run, &f), 0);
	lookup l = {.f = &f};
	assert_int_equal(store_run(s, (store_job_fn)lookup_run, &l), 0);
	assert_int_equal(l.rc_token, 0);
	assert_string_equal(l.t.inn, "222222222222");
	assert_int_equal(l.rc_cross, HERR_NOT_FOUND);
	assert_int_equal(l.rc_phone, HERR_NOT_FOUND);
	store_close(s);
}

typedef struct msgs {
	fixture *f;
	int64_t chat;
	int64_t times[10];
	int64_t seen[20];
	int n;
	int64_t min, max;
	int limit;
} msgs;

static int insert_msgs(store_conn *c, void *arg)
{
	msgs *m = arg;
	int rc = store_inbox_ensure(c, m->f->a.id, m->f->ua.id, 1000, &m->chat);
	for (int i = 0; rc == 0 && i < 10; i++) {
		store_message msg = {.tenant_id = m->f->a.id, .chat_id = m->chat, .kind = "notification"};
		char t[16];
		snprintf(t, sizeof t, "t%d", i);
		msg.title = t;
		msg.body = "body";
		msg.created_at = m->times[i] = 10000 + i * 1000;
		rc = store_message_insert(c, &msg);
		if (rc == 0 && msg.seq != i + 1)
			rc = HERR_INTERNAL;
	}
	return rc;
}

static int collect(void *ud, const store_message *m)
{
	msgs *s = ud;
	s->seen[s->n++] = m->created_at;
	return 0;
}

static int list_msgs(store_conn *c, void *arg)
{
	msgs *m = arg;
	m->n = 0;
	store_message_query q = {.tenant_id = m->f->a.id,
	                         .chat_id = m->chat,
	                         .created_min = m->min,
	                         .created_max = m->max,
	                         .limit = m->limit};
	return store_message_list(c, &q, collect, m);
}

static void test_messages_newest_first_bounds_limit(void **state)
{
	(void)state;
	store *s = open_store();
	fixture f;
	assert_int_equal(store_run(s, (store_job_fn)setup_run, &f), 0);
	msgs m = {.f = &f};
	assert_int_equal(store_run(s, insert_msgs, &m), 0);
	m.min = INT64_MIN, m.max = INT64_MAX, m.limit = 50;
	assert_int_equal(store_run(s, list_msgs, &m), 0);
	assert_int_equal(m.n, 10);
	for (int i = 0; i < 10; i++)
		assert_int_equal(m.seen[i], m.times[9 - i]);
	m.min = 12000, m.max = 15000;
	assert_int_equal(store_run(s, list_msgs, &m), 0);
	assert_int_equal(m.n, 4);
	assert_int_equal(m.seen[0], 15000);
	assert_int_equal(m.seen[3], 12000);
	m.min = INT64_MIN, m.max = INT64_MAX, m.limit = 3;
	assert_int_equal(store_run(s, list_msgs, &m), 0);
	assert_int_equal(m.n, 3);
	assert_int_equal(m.seen[0], 19000);
	/* Another tenant's id on the same chat finds nothing. */
	m.limit = 50;
	int64_t a = f.a.id;
	f.a.id = f.b.id;
	assert_int_equal(store_run(s, list_msgs, &m), 0);
	assert_int_equal(m.n, 0);
	f.a.id = a;
	store_close(s);
}

typedef struct del {
	fixture *f;
	int rc_after, rc_session;
	int64_t tenant, user;
} del;

static int delete_run(store_conn *c, void *arg)
{
	del *d = arg;
	uint8_t h[32];
	memset(h, 9, 32);
	int rc = store_session_insert(c, d->f->a.id, d->f->ua.id, h, 1, INT64_MAX);
	if (rc == 0)
		rc = store_device_set(c, d->f->a.id, d->f->ua.id, "fcm", "tok", 1);
	/* Deleting via the wrong tenant does nothing. */
	if (rc == 0 && store_user_delete(c, d->f->b.id, d->f->ua.id) != HERR_NOT_FOUND)
		rc = HERR_INTERNAL;
	if (rc == 0)
		rc = store_user_delete(c, d->f->a.id, d->f->ua.id);
	store_user u;
	d->rc_after = store_user_by_id(c, d->f->a.id, d->f->ua.id, &u);
	d->rc_session = store_session_lookup(c, h, 2, &d->tenant, &d->user);
	return rc;
}

static void test_delete_user_cascades(void **state)
{
	(void)state;
	store *s = open_store();
	fixture f;
	assert_int_equal(store_run(s, (store_job_fn)setup_run, &f), 0);
	msgs m = {.f = &f};
	assert_int_equal(store_run(s, insert_msgs, &m), 0);
	del d = {.f = &f};
	assert_int_equal(store_run(s, delete_run, &d), 0);
	assert_int_equal(d.rc_after, HERR_NOT_FOUND);
	assert_int_equal(d.rc_session, HERR_NOT_FOUND);
	m.min = INT64_MIN, m.max = INT64_MAX, m.limit = 50;
	assert_int_equal(store_run(s, list_msgs, &m), 0);
	assert_int_equal(m.n, 0);
	store_close(s);
}

/* ---- group commit through the loop -------------------------------------------------- */

typedef struct gc {
	fixture *f;
	int64_t chat;
	int done, ok, failed;
	int fail_this;
} gc;

typedef struct gc_job {
	gc *g;
	int index;
} gc_job;

static int gc_run(store_conn *c, void *arg)
{
	gc_job *j = arg;
	store_message msg = {.tenant_id = j->g->f->a.id,
	                     .chat_id = j->g->chat,
	                     .kind = "notification",
	                     .title = "t",
	                     .body = "b",
	                     .created_at = 5};
	int rc = store_message_insert(c, &msg);
	/* One job in the batch fails after writing: it must roll back alone. */
	return j->index == j->g->fail_this ? HERR_CONFLICT : rc;
}

static void gc_done(void *arg, int rc)
{
	gc_job *j = arg;
	j->g->done++;
	if (rc == 0)
		j->g->ok++;
	else
		j->g->failed++;
	free(j);
}

static int chat_run(store_conn *c, void *arg)
{
	gc *g = arg;
	return store_inbox_ensure(c, g->f->a.id, g->f->ua.id, 1, &g->chat);
}

static void test_group_commit(void **state)
{
	(void)state;
	store *s = open_store();
	fixture f;
	assert_int_equal(store_run(s, (store_job_fn)setup_run, &f), 0);
	gc g = {.f = &f, .fail_this = 57};
	assert_int_equal(store_run(s, chat_run, &g), 0);
	uv_loop_t loop;
	uv_loop_init(&loop);
	assert_int_equal(store_attach_loop(s, &loop), 0);
	for (int i = 0; i < 200; i++) {
		gc_job *j = malloc(sizeof *j);
		j->g = &g;
		j->index = i;
		store_write(s, gc_run, gc_done, j);
	}
	while (g.done < 200)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(g.ok, 199);
	assert_int_equal(g.failed, 1);
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.jobs, 200);
	assert_true(st.commits < 200); /* batched: fewer commits than jobs */
	store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);

	s = open_store();
	msgs m = {.f = &f, .chat = g.chat, .min = INT64_MIN, .max = INT64_MAX, .limit = 20};
	assert_int_equal(store_run(s, list_msgs, &m), 0);
	assert_int_equal(m.n, 20);
	store_close(s);
}

/* ---- the push queue follows the devices, within a transaction and across a rollback ------------ */

typedef struct dq {
	fixture *f;
	int64_t chat, msg;
	int queued[3];
	int done;
} dq;

static int dq_enqueue(store_conn *c, dq *d, int *queued)
{
	return store_delivery_enqueue_user(c, d->f->a.id, d->msg, d->f->ua.id, 5, STORE_PUSH_FCM, queued);
}

/* One transaction: no device, then one, then none again. */
static int dq_one_transaction(store_conn *c, void *arg)
{
	dq *d = arg;
	store_message msg = {
	        .tenant_id = d->f->a.id, .kind = "notification", .title = "t", .body = "b", .created_at = 5};
	int rc = store_inbox_ensure(c, d->f->a.id, d->f->ua.id, 1, &d->chat);
	if (rc == 0) {
		msg.chat_id = d->chat;
		rc = store_message_insert(c, &msg);
		d->msg = msg.id;
	}
	if (rc == 0)
		rc = dq_enqueue(c, d, &d->queued[0]);
	if (rc == 0)
		rc = store_device_set(c, d->f->a.id, d->f->ua.id, "fcm", "tok-1", 5);
	if (rc == 0)
		rc = dq_enqueue(c, d, &d->queued[1]);
	if (rc == 0)
		rc = store_device_remove(c, d->f->a.id, d->f->ua.id, "fcm", "tok-1");
	if (rc == 0)
		rc = dq_enqueue(c, d, &d->queued[2]);
	return rc;
}

static int dq_add_device(store_conn *c, void *arg)
{
	dq *d = arg;
	return store_device_set(c, d->f->a.id, d->f->ua.id, "fcm", "tok-2", 5);
}

/* Removes the device, finds nothing to queue, then fails: rolled back. */
static int dq_remove_and_fail(store_conn *c, void *arg)
{
	dq *d = arg;
	int rc = store_device_remove(c, d->f->a.id, d->f->ua.id, "fcm", "tok-2");
	if (rc == 0)
		rc = dq_enqueue(c, d, &d->queued[0]);
	return rc ? rc : HERR_CONFLICT;
}

static int dq_after(store_conn *c, void *arg)
{
	dq *d = arg;
	return dq_enqueue(c, d, &d->queued[1]);
}

static void dq_done(void *arg, int rc)
{
	dq *d = arg;
	d->done++;
	(void)rc;
}

static void test_push_queue_follows_devices(void **state)
{
	(void)state;
	store *s = open_store();
	fixture f;
	assert_int_equal(store_run(s, (store_job_fn)setup_run, &f), 0);
	dq d = {.f = &f};
	assert_int_equal(store_run(s, dq_one_transaction, &d), 0);
	assert_int_equal(d.queued[0], 0);
	assert_int_equal(d.queued[1], 1);
	assert_int_equal(d.queued[2], 0);

	/* Two jobs of one batch (queued before the writer starts): the first
	 * removes the device and is rolled back, so the second must see the
	 * device again. */
	assert_int_equal(store_run(s, dq_add_device, &d), 0);
	memset(d.queued, 0xff, sizeof d.queued);
	store_write(s, dq_remove_and_fail, dq_done, &d);
	store_write(s, dq_after, dq_done, &d);
	uv_loop_t loop;
	uv_loop_init(&loop);
	assert_int_equal(store_attach_loop(s, &loop), 0);
	while (d.done < 2)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(d.queued[0], 0);
	assert_int_equal(d.queued[1], 1);
	store_stats st;
	store_get_stats(s, &st);
	assert_int_equal(st.commits, 1); /* both in one batch */
	store_close(s);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	assert_int_equal(hcrypto_init(), 0);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_migrate_and_reopen, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_schema_too_new_refused, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_upgrade_from_schema_1, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_event_prune, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_search_index_batches, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_tenants_and_tokens, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_tenant_scoping, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_messages_newest_first_bounds_limit, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_delete_user_cascades, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_group_commit, make_dir, remove_dir),
	        cmocka_unit_test_setup_teardown(test_push_queue_follows_devices, make_dir, remove_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
