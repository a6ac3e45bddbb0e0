/*
 * queries.c — the SQLite backend's implementation of the entity functions of
 * store.h. Every statement is prepared once per connection (sq_prepare) and
 * every statement that touches tenant data has tenant_id in its WHERE clause.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "store/sqlite/sqlite_internal.h"

static const char *const sql_text[SQ_COUNT] = {
        [SQ_TENANT_INSERT] = "INSERT INTO tenants(inn, short_name, full_name, password_hash, token_hash, created_at) "
                             "VALUES (?,?,?,?,?,?)",
        [SQ_TENANT_BY_INN] = "SELECT id, inn, short_name, full_name, created_at FROM tenants WHERE inn = ?",
        [SQ_TENANT_BY_ID] = "SELECT id, inn, short_name, full_name, created_at FROM tenants WHERE id = ?",
        [SQ_TENANT_BY_TOKEN] = "SELECT id, inn, short_name, full_name, created_at, token_hash FROM tenants "
                               "WHERE token_hash = ?",
        [SQ_TENANT_SET_TOKEN] = "UPDATE tenants SET token_hash = ? WHERE id = ?",
        [SQ_TENANT_SET_PASSWORD] = "UPDATE tenants SET password_hash = ? WHERE id = ?",
        [SQ_TENANT_LIST] = "SELECT id, inn, short_name, full_name, created_at FROM tenants ORDER BY id",
        [SQ_USER_INSERT] = "INSERT INTO users(tenant_id, staff_id, external_id, name, phone, device, mailing, "
                           "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
        [SQ_USER_UPDATE] = "UPDATE users SET name = ?, phone = ?, device = ?, mailing = ?, external_id = ?, "
                           "updated_at = ? WHERE tenant_id = ? AND id = ?",
        [SQ_USER_BY_ID] = "SELECT id, tenant_id, staff_id, external_id, name, phone, device, mailing, created_at, "
                          "updated_at FROM users WHERE tenant_id = ? AND id = ?",
        [SQ_USER_BY_STAFF_ID] = "SELECT id, tenant_id, staff_id, external_id, name, phone, device, mailing, "
                                "created_at, updated_at FROM users WHERE tenant_id = ? AND staff_id = ?",
        [SQ_USER_BY_PHONE] = "SELECT id, tenant_id, staff_id, external_id, name, phone, device, mailing, created_at, "
                             "updated_at FROM users WHERE tenant_id = ? AND phone = ?",
        [SQ_USER_LIST] = "SELECT id, tenant_id, staff_id, external_id, name, phone, device, mailing, created_at, "
                         "updated_at FROM users WHERE tenant_id = ? ORDER BY created_at, id",
        [SQ_USER_DEL_SENT] = "DELETE FROM messages WHERE tenant_id = ? AND sender_id = ?",
        [SQ_USER_DEL_INBOX] = "DELETE FROM chats WHERE tenant_id = ? AND kind = 'inbox' AND owner_id = ?",
        [SQ_USER_DEL] = "DELETE FROM users WHERE tenant_id = ? AND id = ?",
        [SQ_DEVICE_DEL_KIND] = "DELETE FROM devices WHERE tenant_id = ? AND user_id = ? AND kind = ?",
        [SQ_DEVICE_DEL_TOKEN] = "DELETE FROM devices WHERE tenant_id = ? AND kind = ? AND token = ?",
        [SQ_DEVICE_INSERT] = "INSERT INTO devices(tenant_id, user_id, kind, token, created_at, updated_at) "
                             "VALUES (?,?,?,?,?,?)",
        [SQ_DEVICE_COUNT] = "SELECT count(*) FROM devices WHERE tenant_id = ? AND user_id = ?",
        [SQ_SESSION_INSERT] = "INSERT INTO sessions(tenant_id, user_id, token_hash, created_at, expires_at) "
                              "VALUES (?,?,?,?,?)",
        [SQ_SESSION_LOOKUP] = "SELECT tenant_id, user_id, token_hash FROM sessions WHERE token_hash = ? "
                              "AND expires_at > ?",
        [SQ_CODE_INSERT] = "INSERT INTO sms_codes(tenant_id, user_id, code_hash, created_at, expires_at, attempts) "
                           "VALUES (?,?,?,?,?,0)",
        [SQ_CODE_LATEST] = "SELECT id, tenant_id, user_id, code_hash, created_at, expires_at, coalesce(used_at, 0), "
                           "attempts FROM sms_codes WHERE tenant_id = ? AND user_id = ? "
                           "ORDER BY created_at DESC, id DESC LIMIT 1",
        [SQ_CODE_UPDATE] = "UPDATE sms_codes SET attempts = ?, used_at = nullif(?, 0) WHERE tenant_id = ? AND id = ?",
        [SQ_CODE_STATS] = "SELECT count(*), coalesce(max(created_at), 0), coalesce(sum(attempts), 0) FROM sms_codes "
                          "WHERE tenant_id = ? AND user_id = ? AND created_at >= ?",
        [SQ_INBOX_FIND] = "SELECT id FROM chats WHERE tenant_id = ? AND kind = 'inbox' AND owner_id = ?",
        [SQ_INBOX_INSERT] = "INSERT INTO chats(tenant_id, kind, owner_id, title, created_at, updated_at) "
                            "VALUES (?, 'inbox', ?, '', ?, ?)",
        [SQ_MESSAGE_LIST] = "SELECT id, tenant_id, chat_id, seq, coalesce(sender_id, 0), kind, title, body, "
                            "created_at, coalesce(sent_at, 0) FROM messages "
                            "WHERE tenant_id = ? AND chat_id = ? AND created_at >= ? AND created_at <= ? "
                            "AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ?",
        [SQ_PING] = "SELECT 1",
        /* The writer's transaction control, prepared once: it runs per job. */
        [SQ_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
        [SQ_COMMIT] = "COMMIT",
        [SQ_SAVEPOINT] = "SAVEPOINT job",
        [SQ_RELEASE] = "RELEASE job",
        [SQ_ROLLBACK_TO] = "ROLLBACK TO job",
};

sqlite3_stmt *sq_prepare(store_conn *c, sq_stmt id)
{
	sqlite3_stmt *st = c->stmts[id];
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	assert(sql_text[id] != NULL);
	if (sqlite3_prepare_v3(c->db, sql_text[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK || !st) {
		sq_err(c, sqlite3_errcode(c->db));
		return NULL;
	}
	c->stmts[id] = st;
	return st;
}

sqlite3_stmt *sq_cached(store_conn *c, const char *sql)
{
	size_t h = ((uintptr_t)sql >> 3) & (SQ_CACHE_SLOTS - 1);
	for (size_t i = 0; i < SQ_CACHE_SLOTS; i++, h = (h + 1) & (SQ_CACHE_SLOTS - 1)) {
		if (c->cache[h].sql == sql) {
			sqlite3_reset(c->cache[h].st);
			sqlite3_clear_bindings(c->cache[h].st);
			return c->cache[h].st;
		}
		if (!c->cache[h].sql) {
			sqlite3_stmt *st = NULL;
			if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK ||
			    !st) {
				sq_err(c, sqlite3_errcode(c->db));
				return NULL;
			}
			c->cache[h].sql = sql;
			c->cache[h].st = st;
			return st;
		}
	}
	/* More distinct statements than slots: a programming error. */
	assert(!"statement cache full");
	return NULL;
}

int sq_exec(store_conn *c, sq_stmt id)
{
	sqlite3_stmt *st = sq_prepare(c, id);
	if (!st)
		return HERR_STORAGE;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

/* Runs a statement that returns no rows. */
int sq_step_done(store_conn *c, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	int r = rc == SQLITE_DONE ? 0 : sq_err(c, rc);
	sqlite3_reset(st);
	return r;
}

void sq_col_copy(sqlite3_stmt *st, int col, char *out, size_t size)
{
	/* Not snprintf: this runs for most columns the writer reads per
	 * request, and formatting showed in its profile. */
	const unsigned char *t = sqlite3_column_text(st, col);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(out, t, n);
	out[n] = '\0';
}

void sq_bind_opt_text(sqlite3_stmt *st, int idx, const char *s)
{
	if (s && *s)
		sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, idx);
}

int store_ping(store_conn *c)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_PING);
	if (!st)
		return HERR_STORAGE;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : sq_err(c, rc);
}

/* ---- tenants ------------------------------------------------------------------- */

static void read_tenant(sqlite3_stmt *st, store_tenant *t)
{
	t->id = sqlite3_column_int64(st, 0);
	sq_col_copy(st, 1, t->inn, sizeof t->inn);
	sq_col_copy(st, 2, t->short_name, sizeof t->short_name);
	sq_col_copy(st, 3, t->full_name, sizeof t->full_name);
	t->created_at = sqlite3_column_int64(st, 4);
}

static int tenant_one(store_conn *c, sqlite3_stmt *st, store_tenant *out)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_tenant(st, out);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_tenant_insert(store_conn *c, store_tenant *t, const char *password_hash,
                        const uint8_t token_hash[STORE_TOKEN_HASH])
{
	sqlite3_stmt *st = sq_prepare(c, SQ_TENANT_INSERT);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, t->inn, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->short_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->full_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, t->created_at);
	int rc = sq_step_done(c, st);
	if (rc == HERR_CONFLICT)
		return HERR_TENANT_EXISTS;
	if (rc == 0)
		t->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int store_tenant_by_inn(store_conn *c, const char *inn, store_tenant *out)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_TENANT_BY_INN);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, inn, -1, SQLITE_STATIC);
	return tenant_one(c, st, out);
}

int store_tenant_by_id(store_conn *c, int64_t id, store_tenant *out)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_TENANT_BY_ID);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, id);
	return tenant_one(c, st, out);
}

int store_tenant_by_token(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH], store_tenant *out)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_TENANT_BY_TOKEN);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_blob(st, 1, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		/* The index found the row; compare the stored hash in constant
		 * time anyway, so equality is never decided by memcmp timing. */
		const void *stored = sqlite3_column_blob(st, 5);
		int ok = stored && sqlite3_column_bytes(st, 5) == STORE_TOKEN_HASH &&
		         hcrypto_equal(stored, token_hash, STORE_TOKEN_HASH);
		if (ok)
			read_tenant(st, out);
		sqlite3_reset(st);
		return ok ? 0 : HERR_NOT_FOUND;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_tenant_set_token(store_conn *c, int64_t tenant_id, const uint8_t token_hash[STORE_TOKEN_HASH])
{
	sqlite3_stmt *st = sq_prepare(c, SQ_TENANT_SET_TOKEN);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_blob(st, 1, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tenant_id);
	int rc = sq_step_done(c, st);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		return HERR_NOT_FOUND;
	return rc;
}

int store_tenant_set_password(store_conn *c, int64_t tenant_id, const char *password_hash)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_TENANT_SET_PASSWORD);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tenant_id);
	int rc = sq_step_done(c, st);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		return HERR_NOT_FOUND;
	return rc;
}

int store_tenant_list(store_conn *c, int (*fn)(void *ud, const store_tenant *t), void *ud)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_TENANT_LIST);
	if (!st)
		return HERR_STORAGE;
	int rc, r = 0;
	store_tenant t;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_tenant(st, &t);
		if ((r = fn(ud, &t)) != 0)
			break;
	}
	sqlite3_reset(st);
	if (r != 0)
		return r;
	return rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

/* ---- users ----------------------------------------------------------------------- */

static void read_user(sqlite3_stmt *st, store_user *u)
{
	u->id = sqlite3_column_int64(st, 0);
	u->tenant_id = sqlite3_column_int64(st, 1);
	sq_col_copy(st, 2, u->staff_id, sizeof u->staff_id);
	sq_col_copy(st, 3, u->external_id, sizeof u->external_id);
	sq_col_copy(st, 4, u->name, sizeof u->name);
	sq_col_copy(st, 5, u->phone, sizeof u->phone);
	sq_col_copy(st, 6, u->device, sizeof u->device);
	u->mailing = sqlite3_column_int(st, 7) != 0;
	u->created_at = sqlite3_column_int64(st, 8);
	u->updated_at = sqlite3_column_int64(st, 9);
}

static int user_one(store_conn *c, sqlite3_stmt *st, store_user *out)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_user(st, out);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_user_insert(store_conn *c, store_user *u)
{
	bool generate = u->staff_id[0] == '\0';
	/* Staff ids are random 10-digit numbers: stable, not guessable from
	 * their neighbours, and the shape the original product used. A clash is
	 * one in billions per tenant; retry a few times all the same. */
	for (int attempt = 0; attempt < 8; attempt++) {
		if (generate) {
			u->staff_id[0] = (char)('1' + hcrypto_random_below(9));
			hcrypto_random_digits(u->staff_id + 1, 9);
		}
		sqlite3_stmt *st = sq_prepare(c, SQ_USER_INSERT);
		if (!st)
			return HERR_STORAGE;
		sqlite3_bind_int64(st, 1, u->tenant_id);
		sqlite3_bind_text(st, 2, u->staff_id, -1, SQLITE_STATIC);
		sq_bind_opt_text(st, 3, u->external_id);
		sqlite3_bind_text(st, 4, u->name, -1, SQLITE_STATIC);
		sq_bind_opt_text(st, 5, u->phone);
		sq_bind_opt_text(st, 6, u->device);
		sqlite3_bind_int(st, 7, u->mailing ? 1 : 0);
		sqlite3_bind_int64(st, 8, u->created_at);
		sqlite3_bind_int64(st, 9, u->updated_at);
		int rc = sq_step_done(c, st);
		if (rc == 0) {
			u->id = sqlite3_last_insert_rowid(c->db);
			return 0;
		}
		if (rc != HERR_CONFLICT || !generate)
			return rc;
		store_user other;
		if (store_user_by_staff_id(c, u->tenant_id, u->staff_id, &other) != 0)
			return rc; /* the conflict was on phone or external id */
	}
	return HERR_CONFLICT;
}

int store_user_update(store_conn *c, const store_user *u)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_USER_UPDATE);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, u->name, -1, SQLITE_STATIC);
	sq_bind_opt_text(st, 2, u->phone);
	sq_bind_opt_text(st, 3, u->device);
	sqlite3_bind_int(st, 4, u->mailing ? 1 : 0);
	sq_bind_opt_text(st, 5, u->external_id);
	sqlite3_bind_int64(st, 6, u->updated_at);
	sqlite3_bind_int64(st, 7, u->tenant_id);
	sqlite3_bind_int64(st, 8, u->id);
	int rc = sq_step_done(c, st);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		return HERR_NOT_FOUND;
	return rc;
}

int store_user_by_id(store_conn *c, int64_t tenant_id, int64_t id, store_user *out)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_USER_BY_ID);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, id);
	return user_one(c, st, out);
}

int store_user_by_staff_id(store_conn *c, int64_t tenant_id, const char *staff_id, store_user *out)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_USER_BY_STAFF_ID);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, staff_id, -1, SQLITE_STATIC);
	return user_one(c, st, out);
}

int store_user_by_phone(store_conn *c, int64_t tenant_id, const char *phone, store_user *out)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_USER_BY_PHONE);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, phone, -1, SQLITE_STATIC);
	return user_one(c, st, out);
}

int store_user_list(store_conn *c, int64_t tenant_id, int (*fn)(void *ud, const store_user *u), void *ud)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_USER_LIST);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	int rc, r = 0;
	store_user u;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_user(st, &u);
		if ((r = fn(ud, &u)) != 0)
			break;
	}
	sqlite3_reset(st);
	if (r != 0)
		return r;
	return rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

static int exec_two_ids(store_conn *c, sq_stmt id, int64_t a, int64_t b)
{
	sqlite3_stmt *st = sq_prepare(c, id);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	return sq_step_done(c, st);
}

int store_user_delete(store_conn *c, int64_t tenant_id, int64_t user_id)
{
	int rc;
	/* Order matters only for clarity: the inbox chat cascades to its
	 * messages and members; the user row cascades to devices, sessions,
	 * codes and memberships. Messages the user sent elsewhere go first. */
	if ((rc = exec_two_ids(c, SQ_USER_DEL_SENT, tenant_id, user_id)) != 0)
		return rc;
	if ((rc = exec_two_ids(c, SQ_USER_DEL_INBOX, tenant_id, user_id)) != 0)
		return rc;
	if ((rc = exec_two_ids(c, SQ_USER_DEL, tenant_id, user_id)) != 0)
		return rc;
	return sqlite3_changes(c->db) == 0 ? HERR_NOT_FOUND : 0;
}

/* ---- devices -------------------------------------------------------------------- */

int store_device_set(store_conn *c, int64_t tenant_id, int64_t user_id, const char *kind, const char *token,
                     int64_t now)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_DEVICE_DEL_KIND);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	int rc = sq_step_done(c, st);
	if (rc != 0)
		return rc;
	if (!(st = sq_prepare(c, SQ_DEVICE_DEL_TOKEN)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, token, -1, SQLITE_STATIC);
	if ((rc = sq_step_done(c, st)) != 0)
		return rc;
	if (!(st = sq_prepare(c, SQ_DEVICE_INSERT)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, token, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_int64(st, 6, now);
	return sq_step_done(c, st);
}

int store_device_count(store_conn *c, int64_t tenant_id, int64_t user_id, int *out)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_DEVICE_COUNT);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : sq_err(c, rc);
}

/* ---- sessions ------------------------------------------------------------------- */

int store_session_insert(store_conn *c, int64_t tenant_id, int64_t user_id, const uint8_t token_hash[STORE_TOKEN_HASH],
                         int64_t now, int64_t expires_at)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_SESSION_INSERT);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_blob(st, 3, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, expires_at);
	return sq_step_done(c, st);
}

int store_session_lookup(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH], int64_t now, int64_t *tenant_id,
                         int64_t *user_id)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_SESSION_LOOKUP);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_blob(st, 1, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *stored = sqlite3_column_blob(st, 2);
		int ok = stored && sqlite3_column_bytes(st, 2) == STORE_TOKEN_HASH &&
		         hcrypto_equal(stored, token_hash, STORE_TOKEN_HASH);
		*tenant_id = sqlite3_column_int64(st, 0);
		*user_id = sqlite3_column_int64(st, 1);
		sqlite3_reset(st);
		return ok ? 0 : HERR_NOT_FOUND;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_session_user(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH], int64_t now, store_user *u,
                       store_user_ext *x, char inn[STORE_INN_MAX])
{
	static const char sql[] =
	        "SELECT u.id, u.tenant_id, u.staff_id, u.external_id, u.name, u.phone, u.device, u.mailing, "
	        "u.created_at, u.updated_at, u.avatar_url, u.roles, u.active, t.inn, s.token_hash FROM sessions s "
	        "JOIN users u ON u.id = s.user_id AND u.tenant_id = s.tenant_id JOIN tenants t ON t.id = s.tenant_id "
	        "WHERE s.token_hash = ? AND s.expires_at > ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_blob(st, 1, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const void *stored = sqlite3_column_blob(st, 14);
		int ok = stored && sqlite3_column_bytes(st, 14) == STORE_TOKEN_HASH &&
		         hcrypto_equal(stored, token_hash, STORE_TOKEN_HASH);
		read_user(st, u);
		sq_col_copy(st, 10, x->avatar_url, sizeof x->avatar_url);
		sq_col_copy(st, 11, x->roles, sizeof x->roles);
		x->active = sqlite3_column_int(st, 12) != 0;
		sq_col_copy(st, 13, inn, STORE_INN_MAX);
		sqlite3_reset(st);
		return ok ? 0 : HERR_NOT_FOUND;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

/* ---- SMS codes ------------------------------------------------------------------- */

int store_sms_code_insert(store_conn *c, store_sms_code *code)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_CODE_INSERT);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, code->tenant_id);
	sqlite3_bind_int64(st, 2, code->user_id);
	sqlite3_bind_blob(st, 3, code->code_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, code->created_at);
	sqlite3_bind_int64(st, 5, code->expires_at);
	int rc = sq_step_done(c, st);
	if (rc == 0)
		code->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int store_sms_code_latest(store_conn *c, int64_t tenant_id, int64_t user_id, store_sms_code *out)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_CODE_LATEST);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		out->tenant_id = sqlite3_column_int64(st, 1);
		out->user_id = sqlite3_column_int64(st, 2);
		memset(out->code_hash, 0, sizeof out->code_hash);
		if (sqlite3_column_bytes(st, 3) == STORE_TOKEN_HASH)
			memcpy(out->code_hash, sqlite3_column_blob(st, 3), STORE_TOKEN_HASH);
		out->created_at = sqlite3_column_int64(st, 4);
		out->expires_at = sqlite3_column_int64(st, 5);
		out->used_at = sqlite3_column_int64(st, 6);
		out->attempts = sqlite3_column_int(st, 7);
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_sms_code_update(store_conn *c, const store_sms_code *code)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_CODE_UPDATE);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int(st, 1, code->attempts);
	sqlite3_bind_int64(st, 2, code->used_at);
	sqlite3_bind_int64(st, 3, code->tenant_id);
	sqlite3_bind_int64(st, 4, code->id);
	return sq_step_done(c, st);
}

int store_sms_code_stats(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t since, int *sent, int64_t *newest,
                         int *failed_attempts)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_CODE_STATS);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, since);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*sent = sqlite3_column_int(st, 0);
		*newest = sqlite3_column_int64(st, 1);
		*failed_attempts = sqlite3_column_int(st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : sq_err(c, rc);
}

/* ---- chats and messages -------------------------------------------------------------- */

int store_inbox_find(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t *chat_id)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_INBOX_FIND);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*chat_id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_inbox_ensure(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t now, int64_t *chat_id)
{
	int rc = store_inbox_find(c, tenant_id, user_id, chat_id);
	if (rc != HERR_NOT_FOUND)
		return rc;
	sqlite3_stmt *st = sq_prepare(c, SQ_INBOX_INSERT);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now);
	if ((rc = sq_step_done(c, st)) != 0)
		return rc;
	*chat_id = sqlite3_last_insert_rowid(c->db);
	/* The employee reads their inbox like any chat (receipts, unread,
	 * live events) but cannot post to it. */
	return store_member_put(c, tenant_id, *chat_id, user_id, "reader", now);
}

int store_message_insert(store_conn *c, store_message *m)
{
	/* One way to append to a chat: the team-chat insert (seq, bump). */
	store_msg x = {.chat_id = m->chat_id,
	               .sender_id = m->sender_id,
	               .kind = m->kind,
	               .title = m->title,
	               .body = m->body,
	               .created_at = m->created_at};
	int rc = store_msg_insert(c, m->tenant_id, &x);
	if (rc == 0) {
		m->id = x.id;
		m->seq = x.seq;
	}
	return rc;
}

int store_message_list(store_conn *c, const store_message_query *q, int (*fn)(void *ud, const store_message *m),
                       void *ud)
{
	sqlite3_stmt *st = sq_prepare(c, SQ_MESSAGE_LIST);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, q->tenant_id);
	sqlite3_bind_int64(st, 2, q->chat_id);
	sqlite3_bind_int64(st, 3, q->created_min);
	sqlite3_bind_int64(st, 4, q->created_max);
	sqlite3_bind_int(st, 5, q->limit);
	int rc, r = 0;
	store_message m;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		m.id = sqlite3_column_int64(st, 0);
		m.tenant_id = sqlite3_column_int64(st, 1);
		m.chat_id = sqlite3_column_int64(st, 2);
		m.seq = sqlite3_column_int64(st, 3);
		m.sender_id = sqlite3_column_int64(st, 4);
		m.kind = (const char *)sqlite3_column_text(st, 5);
		m.title = (const char *)sqlite3_column_text(st, 6);
		m.body = (const char *)sqlite3_column_text(st, 7);
		m.created_at = sqlite3_column_int64(st, 8);
		m.sent_at = sqlite3_column_int64(st, 9);
		if ((r = fn(ud, &m)) != 0)
			break;
	}
	sqlite3_reset(st);
	if (r != 0)
		return r;
	return rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}
