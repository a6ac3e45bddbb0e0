/*
 * sqlite_internal.h — what the SQLite backend's files share, and nothing the
 * rest of herald may see.
 */
#ifndef HERALD_STORE_SQLITE_INTERNAL_H
#define HERALD_STORE_SQLITE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

/* Prepared statements, cached per connection and prepared on first use. */
typedef enum sq_stmt {
	SQ_TENANT_INSERT,
	SQ_TENANT_BY_INN,
	SQ_TENANT_BY_ID,
	SQ_TENANT_BY_TOKEN,
	SQ_TENANT_SET_TOKEN,
	SQ_TENANT_SET_PASSWORD,
	SQ_TENANT_LIST,
	SQ_USER_INSERT,
	SQ_USER_UPDATE,
	SQ_USER_BY_ID,
	SQ_USER_BY_STAFF_ID,
	SQ_USER_BY_PHONE,
	SQ_USER_LIST,
	SQ_USER_DEL_SENT,
	SQ_USER_DEL_INBOX,
	SQ_USER_DEL,
	SQ_DEVICE_DEL_KIND,
	SQ_DEVICE_DEL_TOKEN,
	SQ_DEVICE_INSERT,
	SQ_DEVICE_COUNT,
	SQ_SESSION_INSERT,
	SQ_SESSION_LOOKUP,
	SQ_CODE_INSERT,
	SQ_CODE_LATEST,
	SQ_CODE_UPDATE,
	SQ_CODE_STATS,
	SQ_INBOX_FIND,
	SQ_INBOX_INSERT,
	SQ_MESSAGE_LIST,
	SQ_PING,
	SQ_BEGIN_IMMEDIATE,
	SQ_COMMIT,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ROLLBACK_TO,
	SQ_COUNT
} sq_stmt;

#define SQ_CACHE_SLOTS 256

struct store_conn {
	sqlite3 *db;
	sqlite3_stmt *stmts[SQ_COUNT];
	/* Statements keyed by the address of their SQL text (a static string
	 * at each call site): open addressing, never evicted. */
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} cache[SQ_CACHE_SLOTS];
	struct store_conn *next; /* in the store's list of connections */
	/* The writer's knowledge, within its current transaction, of whether
	 * a tenant has any live push device: store_delivery_enqueue_* skip
	 * their INSERT … SELECT for a tenant without one. Forgotten (n = 0) at
	 * every BEGIN and rollback and, through the update hook, at any change
	 * to the devices table, so it is never older than the data it
	 * describes; other processes cannot write while the transaction holds
	 * the write lock. */
	struct {
		int64_t tenant;
		bool has;
	} devices_known[8];
	int devices_known_n;
};

/* Forgets what the writer knew about devices (see store_conn). */
void sq_devices_forget(store_conn *c);

extern const char *const sqlite_migrations[];
extern const int sqlite_migration_count;

/* Returns the cached statement, reset and with bindings cleared (NULL on error). */
sqlite3_stmt *sq_prepare(store_conn *c, sq_stmt id);

/* Returns the statement for a static SQL string, prepared on first use,
 * reset and with bindings cleared. NULL on error (logged). */
sqlite3_stmt *sq_cached(store_conn *c, const char *sql);

/* Steps a statement that returns no rows and resets it; 0 or HERR_*. */
int sq_step_done(store_conn *c, sqlite3_stmt *st);
/* Copies a text column, cut to size and NUL-terminated ("" for NULL). */
void sq_col_copy(sqlite3_stmt *st, int col, char *out, size_t size);
/* Binds s, or NULL when s is NULL or empty. */
void sq_bind_opt_text(sqlite3_stmt *st, int idx, const char *s);

/* Walks event rows (id, chat_id, user_id, type, payload) to fn. */
int sq_walk_events(store_conn *c, sqlite3_stmt *st, int (*fn)(void *ud, const store_event *e), void *ud);

/* Runs a cached statement that returns no rows (transaction control). */
int sq_exec(store_conn *c, sq_stmt id);

/* Maps a SQLite result code to HERR_* (constraint → HERR_CONFLICT). */
int sq_err(store_conn *c, int rc);

#endif
