/*
 * cabinet.c — the SQLite side of the company cabinet: cabinet sessions, the
 * tenant's cabinet settings, employees with their activity and devices, and
 * the tenant's messages to employees with their delivery status.
 *
 * A message's status is never stored: it is derived from its deliveries
 * (one row per recipient device, schema 5/6) whenever it is read, so it can
 * never disagree with the delivery records the detail view shows. The rank
 * expression below is that derivation; filtering and sorting by status use
 * it too, one index probe (deliveries_message) per candidate message.
 *
 * Listing is two steps: the ids of one page (filter, order, limit/offset
 * over the partial index messages_notifications), then each row's details
 * with one grouped statement. The details (sender, times, reason) are only
 * computed for the rows shown. The list statement is assembled from fixed
 * fragments chosen by enum values — nothing a caller sends reaches SQL text.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/crypto.h"
#include "core/err.h"
#include "store/sqlite/sqlite_internal.h"

#define RANK_CASE(col)                                                                                                 \
	"CASE " col " WHEN 'read' THEN 4 WHEN 'delivered' THEN 3 WHEN 'sent' THEN 2 WHEN 'queued' THEN 1 ELSE 0 END"
/* An employee who read the message in the app has read it, whether or not a
 * device of theirs was pushed (a PWA without notifications has none). */
#define READ_RANK_SQL                                                                                                  \
	"coalesce((SELECT 4 FROM chats rc JOIN chat_members rm ON rm.chat_id = rc.id AND rm.user_id = rc.owner_id "    \
	"WHERE rc.id = m.chat_id AND rm.last_read_seq >= m.seq), 0)"
#define RANK_SQL                                                                                                       \
	"max(coalesce((SELECT max(" RANK_CASE(                                                                         \
	        "d.status") ") FROM deliveries d WHERE d.message_id = m.id), 0), " READ_RANK_SQL ")"
#define MSG_SCOPE "m.tenant_id = ?1 AND m.kind = 'notification' AND m.deleted_at IS NULL"

/* ---- tenants ------------------------------------------------------------------------- */

int store_tenant_password_hash(store_conn *c, int64_t tenant_id, char *out, size_t out_size)
{
	static const char sql[] = "SELECT password_hash FROM tenants WHERE id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		sq_col_copy(st, 0, out, out_size);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_tenant_cabinet_info(store_conn *c, int64_t tenant_id, char language[8], char token_hint[8])
{
	static const char sql[] = "SELECT language, coalesce(token_hint, '') FROM tenants WHERE id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sq_col_copy(st, 0, language, 8);
		sq_col_copy(st, 1, token_hint, 8);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_tenant_cabinet_update(store_conn *c, int64_t tenant_id, const char *short_name, const char *language)
{
	static const char sql[] = "UPDATE tenants SET short_name = coalesce(?2, short_name), "
	                          "language = coalesce(?3, language) WHERE id = ?1";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sq_bind_opt_text(st, 2, short_name);
	sq_bind_opt_text(st, 3, language);
	int rc = sq_step_done(c, st);
	return rc == 0 && sqlite3_changes(c->db) == 0 ? HERR_NOT_FOUND : rc;
}

int store_tenant_set_token_hint(store_conn *c, int64_t tenant_id, const char *hint)
{
	static const char sql[] = "UPDATE tenants SET token_hint = ?2 WHERE id = ?1";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sq_bind_opt_text(st, 2, hint);
	return sq_step_done(c, st);
}

/* ---- cabinet sessions ------------------------------------------------------------------ */

int store_cabinet_session_insert(store_conn *c, int64_t tenant_id, const uint8_t token_hash[STORE_TOKEN_HASH],
                                 int64_t now, int64_t expires_at)
{
	static const char prune[] = "DELETE FROM cabinet_sessions WHERE tenant_id = ? AND expires_at <= ?";
	static const char ins[] =
	        "INSERT INTO cabinet_sessions(tenant_id, token_hash, created_at, expires_at) VALUES (?,?,?,?)";
	sqlite3_stmt *st = sq_cached(c, prune);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, now);
	int rc = sq_step_done(c, st);
	if (rc != 0)
		return rc;
	if (!(st = sq_cached(c, ins)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_blob(st, 2, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, expires_at);
	return sq_step_done(c, st);
}

int store_cabinet_session_lookup(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH], int64_t now,
                                 int64_t *tenant_id)
{
	static const char sql[] =
	        "SELECT tenant_id, token_hash FROM cabinet_sessions WHERE token_hash = ? AND expires_at > ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_blob(st, 1, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		/* As for API tokens: the final comparison is constant-time. */
		const void *stored = sqlite3_column_blob(st, 1);
		int ok = stored && sqlite3_column_bytes(st, 1) == STORE_TOKEN_HASH &&
		         hcrypto_equal(stored, token_hash, STORE_TOKEN_HASH);
		*tenant_id = sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
		return ok ? 0 : HERR_NOT_FOUND;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_cabinet_session_delete(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH])
{
	static const char sql[] = "DELETE FROM cabinet_sessions WHERE token_hash = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_blob(st, 1, token_hash, STORE_TOKEN_HASH, SQLITE_STATIC);
	int rc = sq_step_done(c, st);
	return rc == 0 && sqlite3_changes(c->db) == 0 ? HERR_NOT_FOUND : rc;
}

int store_cabinet_session_delete_tenant(store_conn *c, int64_t tenant_id)
{
	static const char sql[] = "DELETE FROM cabinet_sessions WHERE tenant_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	return sq_step_done(c, st);
}

/* ---- employees ------------------------------------------------------------------------- */

int store_cabinet_employees(store_conn *c, int64_t tenant_id, int (*fn)(void *ud, const store_cabinet_employee *e),
                            void *ud)
{
	/* Employees are who the compatibility API knows: users without roles
	 * (SMS sign-in, demo) and users the host created as staff. */
	static const char sql[] =
	        "SELECT * FROM (SELECT u.id, u.tenant_id, u.staff_id, u.external_id, u.name, u.phone, u.device, "
	        "u.mailing, u.created_at, u.updated_at, u.active, "
	        "max(coalesce((SELECT max(s.created_at) FROM sessions s WHERE s.user_id = u.id), 0), "
	        "    coalesce((SELECT max(d.updated_at) FROM devices d WHERE d.user_id = u.id), 0)) AS seen "
	        "FROM users u WHERE u.tenant_id = ? AND (u.roles = '' OR ',' || u.roles || ',' LIKE '%,staff,%')) "
	        "ORDER BY max(seen, updated_at) DESC, id DESC";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	int rc, r = 0;
	store_cabinet_employee e;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&e, 0, sizeof e);
		store_user *u = &e.user;
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
		e.active = sqlite3_column_int(st, 10) != 0;
		e.last_seen = sqlite3_column_int64(st, 11);
		e.activity = e.last_seen > u->updated_at ? e.last_seen : u->updated_at;
		if ((r = fn(ud, &e)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_cabinet_devices(store_conn *c, int64_t tenant_id, int64_t user_id,
                          int (*fn)(void *ud, const store_cabinet_device *d), void *ud)
{
	static const char sql[] =
	        "SELECT d.id, d.kind, d.created_at, max(d.updated_at, coalesce((SELECT "
	        "max(max(coalesce(q.delivered_at, "
	        "0), coalesce(q.read_at, 0))) FROM deliveries q WHERE q.device_id = d.id), 0)), coalesce(d.dead_at, 0) "
	        "FROM devices d WHERE d.tenant_id = ? AND d.user_id = ? ORDER BY d.id";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	int rc, r = 0;
	store_cabinet_device d;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d.id = sqlite3_column_int64(st, 0);
		sq_col_copy(st, 1, d.kind, sizeof d.kind);
		d.created_at = sqlite3_column_int64(st, 2);
		d.last_used_at = sqlite3_column_int64(st, 3);
		d.dead_at = sqlite3_column_int64(st, 4);
		if ((r = fn(ud, &d)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

/* ---- messages -------------------------------------------------------------------------- */

/* One message with its employee and the summary of its deliveries. */
static const char detail_sql[] =
        "SELECT m.id, m.chat_id, m.seq, m.created_at, m.title, m.body, m.urgent, u.staff_id, u.name, "
        "coalesce(u.phone, ''), max(coalesce(max(" RANK_CASE(
                "d.status") "), 0), " READ_RANK_SQL "), coalesce(min(d.sent_at), 0), "
                            "coalesce(min(d.delivered_at), 0), coalesce(min(d.read_at), 0), "
                            "max(CASE WHEN d.status = 'failed' THEN coalesce(d.reason, 'failed') END), count(d.id) "
                            "FROM messages m JOIN chats ch ON ch.id = m.chat_id AND ch.kind = 'inbox' "
                            "JOIN users u ON u.id = ch.owner_id LEFT JOIN deliveries d ON d.message_id = m.id "
                            "WHERE " MSG_SCOPE " AND m.id = ?2 GROUP BY m.id";

static int emit_detail(store_conn *c, int64_t tenant_id, int64_t id, int (*fn)(void *ud, const store_cabinet_msg *m),
                       void *ud)
{
	sqlite3_stmt *st = sq_cached(c, detail_sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
	}
	store_cabinet_msg m = {0};
	m.id = sqlite3_column_int64(st, 0);
	m.chat_id = sqlite3_column_int64(st, 1);
	m.seq = sqlite3_column_int64(st, 2);
	m.created_at = sqlite3_column_int64(st, 3);
	m.title = (const char *)sqlite3_column_text(st, 4);
	m.body = (const char *)sqlite3_column_text(st, 5);
	m.urgent = sqlite3_column_int(st, 6) != 0;
	m.staff_id = (const char *)sqlite3_column_text(st, 7);
	m.name = (const char *)sqlite3_column_text(st, 8);
	m.phone = (const char *)sqlite3_column_text(st, 9);
	m.status = sqlite3_column_int(st, 10);
	m.sent_at = sqlite3_column_int64(st, 11);
	m.delivered_at = sqlite3_column_int64(st, 12);
	m.read_at = sqlite3_column_int64(st, 13);
	m.deliveries = sqlite3_column_int(st, 15);
	if (m.status == STORE_CAB_FAILED)
		m.failed_reason = m.deliveries ? (const char *)sqlite3_column_text(st, 14) : "no_device";
	if (m.status == STORE_CAB_FAILED && !m.failed_reason)
		m.failed_reason = "failed";
	int r = fn(ud, &m);
	sqlite3_reset(st);
	return r;
}

int store_cabinet_message(store_conn *c, int64_t tenant_id, int64_t id, int (*fn)(void *ud, const store_cabinet_msg *m),
                          void *ud)
{
	return emit_detail(c, tenant_id, id, fn, ud);
}

/* Appends the WHERE clause of a filter (the scope is always there). */
static void where_clause(char *sql, size_t cap, const store_cabinet_filter *f)
{
	size_t n = strlen(sql);
	snprintf(sql + n, cap - n, " WHERE " MSG_SCOPE " AND m.created_at >= ?2 AND m.created_at < ?3%s%s",
	         f->chat_id ? " AND m.chat_id = ?4" : "", f->status >= 0 ? " AND " RANK_SQL " = ?5" : "");
}

static void bind_filter(sqlite3_stmt *st, const store_cabinet_filter *f)
{
	sqlite3_bind_int64(st, 1, f->tenant_id);
	sqlite3_bind_int64(st, 2, f->from_ms);
	sqlite3_bind_int64(st, 3, f->to_ms);
	if (f->chat_id)
		sqlite3_bind_int64(st, 4, f->chat_id);
	if (f->status >= 0)
		sqlite3_bind_int(st, 5, f->status);
}

static int prepare(store_conn *c, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(c->db, sql, -1, st, NULL) != SQLITE_OK || !*st)
		return sq_err(c, sqlite3_errcode(c->db));
	return 0;
}

int store_cabinet_messages(store_conn *c, const store_cabinet_filter *f, int64_t *total,
                           int (*fn)(void *ud, const store_cabinet_msg *m), void *ud)
{
	char sql[2048] = "SELECT count(*) FROM messages m";
	where_clause(sql, sizeof sql, f);
	sqlite3_stmt *st = NULL;
	int rc = prepare(c, sql, &st);
	if (rc != 0)
		return rc;
	bind_filter(st, f);
	rc = sqlite3_step(st);
	*total = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return sq_err(c, rc);
	if (*total == 0 || f->limit == 0 || (f->max_total > 0 && *total > f->max_total))
		return 0;

	static const char *const keys[] = {
	        [STORE_CAB_SORT_CREATED] = "m.created_at",
	        [STORE_CAB_SORT_STATUS] = RANK_SQL,
	        [STORE_CAB_SORT_EMPLOYEE] = "u.name COLLATE NOCASE",
	        [STORE_CAB_SORT_TITLE] = "m.title COLLATE NOCASE",
	};
	const char *dir = f->descending ? "DESC" : "ASC";
	snprintf(sql, sizeof sql, "SELECT m.id FROM messages m%s",
	         f->sort == STORE_CAB_SORT_EMPLOYEE
	                 ? " JOIN chats ch ON ch.id = m.chat_id JOIN users u ON u.id = ch.owner_id"
	                 : "");
	where_clause(sql, sizeof sql, f);
	size_t n = strlen(sql);
	snprintf(sql + n, sizeof sql - n, " ORDER BY %s %s, m.id %s LIMIT ?6 OFFSET ?7", keys[f->sort], dir, dir);
	if ((rc = prepare(c, sql, &st)) != 0)
		return rc;
	bind_filter(st, f);
	sqlite3_bind_int64(st, 6, f->limit < 0 ? -1 : f->limit);
	sqlite3_bind_int64(st, 7, f->offset);
	int r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = emit_detail(c, f->tenant_id, sqlite3_column_int64(st, 0), fn, ud);
		if (r == HERR_NOT_FOUND)
			r = 0; /* cannot happen in one read transaction; never fatal */
		if (r != 0)
			break;
	}
	sqlite3_finalize(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_cabinet_deliveries(store_conn *c, int64_t tenant_id, int64_t message_id,
                             int (*fn)(void *ud, const store_cabinet_delivery *d), void *ud)
{
	static const char sql[] =
	        "SELECT q.id, q.user_id, d.kind, q.status, q.reason, q.attempts, q.queued_at, coalesce(q.sent_at, 0), "
	        "coalesce(q.delivered_at, 0), coalesce(q.failed_at, 0), coalesce(q.read_at, 0), d.id, d.created_at, "
	        "coalesce(d.dead_at, 0) FROM deliveries q JOIN devices d ON d.id = q.device_id "
	        "WHERE q.tenant_id = ? AND q.message_id = ? ORDER BY q.id";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, message_id);
	int rc, r = 0;
	store_cabinet_delivery x;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_delivery *d = &x.d;
		d->id = sqlite3_column_int64(st, 0);
		d->user_id = sqlite3_column_int64(st, 1);
		d->kind = (const char *)sqlite3_column_text(st, 2);
		d->status = (const char *)sqlite3_column_text(st, 3);
		d->reason = (const char *)sqlite3_column_text(st, 4);
		d->attempts = sqlite3_column_int(st, 5);
		d->queued_at = sqlite3_column_int64(st, 6);
		d->sent_at = sqlite3_column_int64(st, 7);
		d->delivered_at = sqlite3_column_int64(st, 8);
		d->failed_at = sqlite3_column_int64(st, 9);
		d->read_at = sqlite3_column_int64(st, 10);
		x.device_id = sqlite3_column_int64(st, 11);
		x.device_created_at = sqlite3_column_int64(st, 12);
		x.device_dead_at = sqlite3_column_int64(st, 13);
		if ((r = fn(ud, &x)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_cabinet_stats(store_conn *c, int64_t tenant_id, int64_t from_ms, int64_t to_ms, int64_t offset_ms,
                        int (*fn)(void *ud, const store_cabinet_day *d), void *ud)
{
	static const char sql[] =
	        "SELECT (created_at + ?4) / 86400000 AS day, count(*), sum(r >= 2), sum(r >= 3), sum(r = 4), "
	        "sum(r = 0) FROM (SELECT m.created_at, " RANK_SQL " AS r FROM messages m WHERE " MSG_SCOPE
	        " AND m.created_at >= ?2 AND m.created_at < ?3) GROUP BY day ORDER BY day";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, from_ms);
	sqlite3_bind_int64(st, 3, to_ms);
	sqlite3_bind_int64(st, 4, offset_ms);
	int rc, r = 0;
	store_cabinet_day d;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d.day = sqlite3_column_int64(st, 0);
		d.messages = sqlite3_column_int64(st, 1);
		d.sent = sqlite3_column_int64(st, 2);
		d.delivered = sqlite3_column_int64(st, 3);
		d.read = sqlite3_column_int64(st, 4);
		d.failed = sqlite3_column_int64(st, 5);
		if ((r = fn(ud, &d)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}
