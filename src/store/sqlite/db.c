/*
 * db.c — the SQLite backend's life cycle and its threads.
 *
 * One file, herald.db, in WAL mode. Three kinds of connection:
 *  - the writer's, owned by one thread that group-commits (see store.h);
 *    synchronous=FULL, so a commit is on disk (fsync'd) before any request of
 *    the batch is acknowledged;
 *  - one per reader thread of libuv's pool, opened on first use and kept in a
 *    thread-local slot; query_only, so a bug cannot write through them;
 *  - the caller's, for store_run() from the command line.
 * Completions of write jobs travel back to the loop through a mutex-protected
 * list and one uv_async_t, so a batch of 500 costs one wake-up of the loop.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "store/sqlite/sqlite_internal.h"

#define WRITER_MAX_BATCH 1024

const unsigned store_batch_bounds[STORE_BATCH_BUCKETS] = {1, 3, 7, 15, 31, 63, 127, 0};

typedef struct wjob {
	store_job_fn run;
	store_done_fn done;
	void *arg;
	int rc;
	struct wjob *next;
} wjob;

typedef struct rjob {
	uv_work_t req;
	store *s;
	store_job_fn run;
	store_done_fn done;
	void *arg;
	int rc;
} rjob;

struct store {
	char path[4096];
	char describe[4200];
	int schema_found;

	uv_loop_t *loop;
	uv_async_t *async; /* own allocation: its close completes after store_close */
	bool attached;

	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	wjob *queue_head, *queue_tail;
	wjob *done_head, *done_tail;
	bool stopping;

	store_conn *writer_conn;
	store_conn *conns; /* readers, closed at store_close */
	pthread_mutex_t conns_mu;
	unsigned generation;

	pthread_mutex_t stats_mu;
	store_stats stats;

	atomic_int reads_running; /* read jobs between queueing and the end of their thread part */
};

/* A reader thread's connection, valid while its generation matches. */
static _Thread_local store_conn *tl_conn;
static _Thread_local unsigned tl_generation;
static atomic_uint store_generation_counter = 1;

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t err_size)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		if (err)
			snprintf(err, err_size, "%s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return HERR_STORAGE;
	}
	return 0;
}

void sq_devices_forget(store_conn *c)
{
	c->devices_known_n = 0;
}

static void on_update(void *ud, int op, const char *db, const char *table, sqlite3_int64 rowid)
{
	(void)op;
	(void)db;
	(void)rowid;
	if (strcmp(table, "devices") == 0)
		sq_devices_forget(ud);
}

static int conn_open(store *s, bool writer, store_conn **out, char *err, size_t err_size)
{
	store_conn *c = calloc(1, sizeof *c);
	if (!c)
		return HERR_NOMEM;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(s->path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, err_size, "cannot open %s: %s", s->path,
		         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return HERR_IO;
	}
	sqlite3_busy_timeout(c->db, 5000);
	const char *setup = writer ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
	                             "PRAGMA cache_size=-16000;"
	                           : "PRAGMA foreign_keys=ON; PRAGMA query_only=1; PRAGMA cache_size=-8000;";
	if (exec_sql(c->db, setup, err, err_size) != 0) {
		sqlite3_close(c->db);
		free(c);
		return HERR_STORAGE;
	}
	if (writer)
		sqlite3_update_hook(c->db, on_update, c);
	*out = c;
	return 0;
}

static void conn_close(store_conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < SQ_COUNT; i++)
		sqlite3_finalize(c->stmts[i]);
	for (int i = 0; i < SQ_CACHE_SLOTS; i++)
		sqlite3_finalize(c->cache[i].st);
	sqlite3_close(c->db);
	free(c);
}

int sq_err(store_conn *c, int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_CONSTRAINT:
		return HERR_CONFLICT;
	case SQLITE_NOMEM:
		return HERR_NOMEM;
	default: {
		hlog_line l;
		hlog_begin(&l, HLOG_ERROR, "sqlite_error");
		hlog_int(&l, "code", rc);
		hlog_str(&l, "message", c ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		hlog_end(&l);
		return HERR_STORAGE;
	}
	}
}

/* Resets statements a job left stepping (a row kept for its strings), so
 * no read snapshot outlives the job: a reader connection must see every
 * commit made before its next job starts. */
static void reset_busy(store_conn *c)
{
	for (sqlite3_stmt *st = sqlite3_next_stmt(c->db, NULL); st; st = sqlite3_next_stmt(c->db, st))
		if (sqlite3_stmt_busy(st))
			sqlite3_reset(st);
}

/* ---- migrations -------------------------------------------------------------- */

static int schema_version(store_conn *c, int *out)
{
	if (exec_sql(c->db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);", NULL, 0) != 0)
		return HERR_STORAGE;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(c->db, "SELECT max(version) FROM schema_version", -1, &st, NULL) != SQLITE_OK)
		return HERR_STORAGE;
	*out = 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int migrate(store *s, store_conn *c, int from, char *err, size_t err_size)
{
	for (int v = from + 1; v <= sqlite_migration_count; v++) {
		char sql[64];
		if (exec_sql(c->db, "BEGIN IMMEDIATE", err, err_size) != 0)
			return HERR_STORAGE;
		snprintf(sql, sizeof sql, "INSERT INTO schema_version(version) VALUES (%d)", v);
		if (exec_sql(c->db, sqlite_migrations[v - 1], err, err_size) != 0 ||
		    exec_sql(c->db, sql, err, err_size) != 0) {
			exec_sql(c->db, "ROLLBACK", NULL, 0);
			return HERR_STORAGE;
		}
		if (exec_sql(c->db, "COMMIT", err, err_size) != 0)
			return HERR_STORAGE;
		hlog_line l;
		hlog_begin(&l, HLOG_INFO, "migrated");
		hlog_str(&l, "db", s->path);
		hlog_int(&l, "version", v);
		hlog_end(&l);
	}
	return 0;
}

/* ---- life cycle ---------------------------------------------------------------- */

/* Once per process, before SQLite initialises. Memory statistics off:
 * with them on, every sqlite3_malloc/free takes a global mutex (5 % of the
 * writer thread's time in durable ingest, docs/performance.md). Trimming
 * off: glibc gave the top of the writer's arena back to the kernel after
 * most batches (madvise) and faulted it in again for the next one. */
static void process_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

static pthread_once_t process_once = PTHREAD_ONCE_INIT;

int store_open(const store_open_options *opt, store **out, char *err, size_t err_size)
{
	*out = NULL;
	pthread_once(&process_once, process_setup);
	if (mkdir(opt->data_dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, err_size, "cannot create data directory %s: %s", opt->data_dir, strerror(errno));
		return HERR_IO;
	}
	store *s = calloc(1, sizeof *s);
	if (!s)
		return HERR_NOMEM;
	snprintf(s->path, sizeof s->path, "%s/herald.db", opt->data_dir);
	snprintf(s->describe, sizeof s->describe, "sqlite %s", s->path);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->conns_mu, NULL);
	pthread_mutex_init(&s->stats_mu, NULL);
	s->generation = atomic_fetch_add(&store_generation_counter, 1);

	int rc = conn_open(s, true, &s->writer_conn, err, err_size);
	if (rc != 0)
		goto fail;
	int version = 0;
	if ((rc = schema_version(s->writer_conn, &version)) != 0) {
		snprintf(err, err_size, "cannot read the schema version of %s: %s", s->path,
		         sqlite3_errmsg(s->writer_conn->db));
		goto fail;
	}
	s->schema_found = version;
	if (version > sqlite_migration_count) {
		snprintf(err, err_size,
		         "%s has schema version %d but this herald knows only up to %d: it was written by a newer "
		         "herald; run that version (or restore a backup)",
		         s->path, version, sqlite_migration_count);
		rc = HERR_SCHEMA_TOO_NEW;
		goto fail;
	}
	if (version < sqlite_migration_count) {
		if (!opt->migrate) {
			snprintf(err, err_size, "%s has schema version %d, this herald needs %d: run `herald migrate`",
			         s->path, version, sqlite_migration_count);
			rc = HERR_STORAGE;
			goto fail;
		}
		if ((rc = migrate(s, s->writer_conn, version, err, err_size)) != 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	conn_close(s->writer_conn);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->conns_mu);
	pthread_mutex_destroy(&s->stats_mu);
	free(s);
	return rc;
}

const char *store_describe(const store *s)
{
	return s->describe;
}

void store_schema_versions(const store *s, int *found, int *current)
{
	*found = s->schema_found;
	*current = sqlite_migration_count;
}

/* ---- the writer ------------------------------------------------------------------ */

static void record_batch(store *s, size_t n, bool ok)
{
	pthread_mutex_lock(&s->stats_mu);
	if (ok) {
		s->stats.commits++;
		s->stats.jobs += n;
		s->stats.batch_sum += n;
		int b = 0;
		while (b < STORE_BATCH_BUCKETS - 1 && n > store_batch_bounds[b])
			b++;
		s->stats.batch_hist[b]++;
	} else {
		s->stats.commit_errors++;
	}
	pthread_mutex_unlock(&s->stats_mu);
}

/* Runs one batch in one transaction; each job in its own savepoint. */
static void run_batch(store *s, wjob *batch, size_t n)
{
	store_conn *c = s->writer_conn;
	bool ok = sq_exec(c, SQ_BEGIN_IMMEDIATE) == 0;
	sq_devices_forget(c);
	for (wjob *j = batch; j; j = j->next) {
		if (!ok) {
			j->rc = HERR_STORAGE;
			continue;
		}
		if (sq_exec(c, SQ_SAVEPOINT) != 0) {
			j->rc = HERR_STORAGE;
			continue;
		}
		j->rc = j->run(c, j->arg);
		reset_busy(c);
		if (j->rc < 0) {
			sq_exec(c, SQ_ROLLBACK_TO);
			sq_devices_forget(c);
		}
		sq_exec(c, SQ_RELEASE);
	}
	if (ok && sq_exec(c, SQ_COMMIT) != 0) {
		hlog_msg(HLOG_ERROR, "commit_failed", "%s", sqlite3_errmsg(c->db));
		exec_sql(c->db, "ROLLBACK", NULL, 0);
		ok = false;
		for (wjob *j = batch; j; j = j->next)
			j->rc = HERR_STORAGE;
	}
	record_batch(s, n, ok);
}

static void *writer_main(void *arg)
{
	store *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->queue_head && !s->stopping)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->queue_head && s->stopping)
			break;
		/* Take up to WRITER_MAX_BATCH jobs: everything that queued while the
		 * previous commit was being fsync'd rides on the next one. */
		wjob *batch = s->queue_head, *last = batch;
		size_t n = 1;
		while (last->next && n < WRITER_MAX_BATCH) {
			last = last->next;
			n++;
		}
		s->queue_head = last->next;
		if (!s->queue_head)
			s->queue_tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&s->mu);

		run_batch(s, batch, n);

		pthread_mutex_lock(&s->mu);
		if (s->done_tail)
			s->done_tail->next = batch;
		else
			s->done_head = batch;
		s->done_tail = last;
		pthread_mutex_unlock(&s->mu);
		uv_async_send(s->async);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void drain_done(store *s)
{
	pthread_mutex_lock(&s->mu);
	wjob *j = s->done_head;
	s->done_head = s->done_tail = NULL;
	pthread_mutex_unlock(&s->mu);
	while (j) {
		wjob *next = j->next;
		j->done(j->arg, j->rc);
		free(j);
		j = next;
	}
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void on_async(uv_async_t *h)
{
	drain_done(h->data);
}

int store_attach_loop(store *s, uv_loop_t *loop)
{
	s->loop = loop;
	s->async = malloc(sizeof *s->async);
	if (!s->async)
		return HERR_NOMEM;
	if (uv_async_init(loop, s->async, on_async) != 0) {
		free(s->async);
		s->async = NULL;
		return HERR_INTERNAL;
	}
	s->async->data = s;
	s->attached = true;
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		uv_close((uv_handle_t *)s->async, free_handle);
		s->attached = false;
		return HERR_INTERNAL;
	}
	s->writer_started = true;
	return 0;
}

void store_write(store *s, store_job_fn run, store_done_fn done, void *arg)
{
	wjob *j = calloc(1, sizeof *j);
	if (!j) {
		done(arg, HERR_NOMEM);
		return;
	}
	j->run = run;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&s->mu);
	if (s->stopping) {
		pthread_mutex_unlock(&s->mu);
		free(j);
		done(arg, HERR_SHUTTING_DOWN);
		return;
	}
	if (s->queue_tail)
		s->queue_tail->next = j;
	else
		s->queue_head = j;
	s->queue_tail = j;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- readers --------------------------------------------------------------------- */

static store_conn *reader_conn(store *s)
{
	if (tl_conn && tl_generation == s->generation)
		return tl_conn;
	char err[256];
	store_conn *c = NULL;
	if (conn_open(s, false, &c, err, sizeof err) != 0) {
		hlog_msg(HLOG_ERROR, "reader_open_failed", "%s", err);
		return NULL;
	}
	pthread_mutex_lock(&s->conns_mu);
	c->next = s->conns;
	s->conns = c;
	pthread_mutex_unlock(&s->conns_mu);
	tl_conn = c;
	tl_generation = s->generation;
	return c;
}

static void read_work(uv_work_t *req)
{
	rjob *j = req->data;
	store_conn *c = reader_conn(j->s);
	if (!c) {
		j->rc = HERR_STORAGE;
		return;
	}
	if (exec_sql(c->db, "BEGIN", NULL, 0) != 0) {
		j->rc = HERR_STORAGE;
		return;
	}
	j->rc = j->run(c, j->arg);
	reset_busy(c);
	exec_sql(c->db, "COMMIT", NULL, 0);
}

static void read_work_counted(uv_work_t *req)
{
	rjob *j = req->data;
	store *s = j->s;
	read_work(req);
	atomic_fetch_sub(&s->reads_running, 1);
}

static void read_after(uv_work_t *req, int status)
{
	rjob *j = req->data;
	j->done(j->arg, status == UV_ECANCELED ? HERR_SHUTTING_DOWN : j->rc);
	free(j);
}

void store_read(store *s, store_job_fn run, store_done_fn done, void *arg)
{
	rjob *j = calloc(1, sizeof *j);
	if (!j) {
		done(arg, HERR_NOMEM);
		return;
	}
	j->s = s;
	j->run = run;
	j->done = done;
	j->arg = arg;
	j->req.data = j;
	atomic_fetch_add(&s->reads_running, 1);
	if (uv_queue_work(s->loop, &j->req, read_work_counted, read_after) != 0) {
		atomic_fetch_sub(&s->reads_running, 1);
		free(j);
		done(arg, HERR_INTERNAL);
	}
}

int store_run(store *s, store_job_fn run, void *arg)
{
	sqlite3 *db = s->writer_conn->db;
	if (exec_sql(db, "BEGIN IMMEDIATE", NULL, 0) != 0)
		return HERR_STORAGE;
	sq_devices_forget(s->writer_conn);
	int rc = run(s->writer_conn, arg);
	reset_busy(s->writer_conn);
	if (rc < 0) {
		exec_sql(db, "ROLLBACK", NULL, 0);
		return rc;
	}
	if (exec_sql(db, "COMMIT", NULL, 0) != 0) {
		exec_sql(db, "ROLLBACK", NULL, 0);
		return HERR_STORAGE;
	}
	return rc;
}

void store_get_stats(store *s, store_stats *out)
{
	pthread_mutex_lock(&s->stats_mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->stats_mu);
}

int store_backup(store *s, const char *path, char *err, size_t err_size)
{
	/* VACUUM INTO writes a consistent, compacted copy from one read
	 * snapshot while the server keeps running. It refuses an existing file. */
	if (access(path, F_OK) == 0) {
		snprintf(err, err_size, "%s exists; choose a new file name", path);
		return HERR_IO;
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->writer_conn->db, "VACUUM INTO ?", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, err_size, "backup to %s failed: %s", path, sqlite3_errmsg(s->writer_conn->db));
		sqlite3_finalize(st);
		return HERR_IO;
	}
	sqlite3_finalize(st);
	return 0;
}

void store_close(store *s)
{
	if (!s)
		return;
	if (s->writer_started) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
		drain_done(s);
	}
	/* A read still running on a pool thread uses its connection: wait
	 * for it (bounded; a shutdown has only in-flight requests' reads). */
	for (int i = 0; i < 5000 && atomic_load(&s->reads_running) > 0; i++)
		usleep(1000);
	if (s->attached)
		uv_close((uv_handle_t *)s->async, free_handle);
	pthread_mutex_lock(&s->conns_mu);
	for (store_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		conn_close(c);
	}
	s->conns = NULL;
	pthread_mutex_unlock(&s->conns_mu);
	/* Leave the WAL checkpointed so the .db file alone is complete. */
	sqlite3_wal_checkpoint_v2(s->writer_conn->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	conn_close(s->writer_conn);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->conns_mu);
	pthread_mutex_destroy(&s->stats_mu);
	free(s);
}
