/*
 * push.c — the SQLite backend of urgent messages, their SMS fallback and
 * users' quiet hours (store.h). Same rules as chat.c: cached statements,
 * tenant_id in every WHERE that a caller's input reaches.
 *
 * An urgent message gets one sms_fallbacks row per recipient with a phone,
 * written in the message's own transaction: like the push queue, the
 * fallback is as durable as the message. The dispatcher reads the rows that
 * are due together with whether the recipient has taken the message since
 * (a device confirmed it, or a read receipt passed it).
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "store/sqlite/sqlite_internal.h"

int store_sms_fallback_add(store_conn *c, int64_t tenant_id, int64_t message_id, int64_t chat_id, int64_t sender_id,
                           int64_t user_id, int64_t due_at, int *queued)
{
	static const char urgent_sql[] = "UPDATE messages SET urgent = 1 WHERE tenant_id = ? AND id = ?";
	static const char one_sql[] = "INSERT INTO sms_fallbacks(tenant_id, message_id, user_id, status, due_at) "
	                              "SELECT ?1, ?2, u.id, 'pending', ?4 FROM users u "
	                              "WHERE u.tenant_id = ?1 AND u.id = ?3 AND coalesce(u.phone, '') != ''";
	static const char chat_sql[] = "INSERT INTO sms_fallbacks(tenant_id, message_id, user_id, status, due_at) "
	                               "SELECT ?1, ?2, u.id, 'pending', ?4 FROM chat_members m "
	                               "JOIN users u ON u.id = m.user_id AND u.tenant_id = ?1 "
	                               "WHERE m.tenant_id = ?1 AND m.chat_id = ?3 AND m.user_id != ?5 "
	                               "AND coalesce(u.phone, '') != '' AND u.active = 1";
	*queued = 0;
	sqlite3_stmt *st = sq_cached(c, urgent_sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, message_id);
	int rc = sq_step_done(c, st);
	if (rc != 0 || due_at <= 0)
		return rc;
	if (!(st = sq_cached(c, user_id ? one_sql : chat_sql)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, message_id);
	sqlite3_bind_int64(st, 3, user_id ? user_id : chat_id);
	sqlite3_bind_int64(st, 4, due_at);
	if (!user_id)
		sqlite3_bind_int64(st, 5, sender_id);
	if ((rc = sq_step_done(c, st)) == 0)
		*queued = sqlite3_changes(c->db);
	return rc;
}

int store_sms_due_list(store_conn *c, int64_t now, int limit, int (*fn)(void *ud, const store_sms_due *d), void *ud)
{
	static const char sql[] =
	        "SELECT f.id, f.tenant_id, f.message_id, f.user_id, u.phone, m.title, m.body, "
	        "EXISTS (SELECT 1 FROM deliveries q WHERE q.message_id = f.message_id AND q.user_id = f.user_id "
	        "        AND q.status IN ('delivered', 'read')) "
	        "OR EXISTS (SELECT 1 FROM chat_members cm WHERE cm.chat_id = m.chat_id AND cm.user_id = f.user_id "
	        "        AND cm.last_read_seq >= m.seq) "
	        "FROM sms_fallbacks f JOIN users u ON u.id = f.user_id JOIN messages m ON m.id = f.message_id "
	        "WHERE f.status = 'pending' AND f.due_at <= ? ORDER BY f.due_at, f.id LIMIT ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit);
	int rc, r = 0;
	store_sms_due d;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d.id = sqlite3_column_int64(st, 0);
		d.tenant_id = sqlite3_column_int64(st, 1);
		d.message_id = sqlite3_column_int64(st, 2);
		d.user_id = sqlite3_column_int64(st, 3);
		d.phone = (const char *)sqlite3_column_text(st, 4);
		d.title = (const char *)sqlite3_column_text(st, 5);
		d.body = (const char *)sqlite3_column_text(st, 6);
		d.delivered = sqlite3_column_int(st, 7) != 0;
		if ((r = fn(ud, &d)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_sms_result(store_conn *c, int64_t id, const char *status, const char *reason, int64_t now)
{
	static const char sql[] = "UPDATE sms_fallbacks SET status = ?2, reason = ?3, done_at = ?4 "
	                          "WHERE id = ?1 AND status IN ('pending', 'sending')";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sq_bind_opt_text(st, 3, reason);
	sqlite3_bind_int64(st, 4, now);
	return sq_step_done(c, st);
}

int store_sms_requeue(store_conn *c)
{
	static const char sql[] =
	        "UPDATE sms_fallbacks SET status = 'pending', done_at = NULL WHERE status = 'sending'";
	sqlite3_stmt *st = sq_cached(c, sql);
	return st ? sq_step_done(c, st) : HERR_STORAGE;
}

int store_sms_list(store_conn *c, int64_t tenant_id, int64_t message_id, int (*fn)(void *ud, const store_sms_row *r),
                   void *ud)
{
	static const char sql[] = "SELECT id, user_id, status, reason, due_at, coalesce(done_at, 0) FROM sms_fallbacks "
	                          "WHERE tenant_id = ? AND message_id = ? ORDER BY id";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, message_id);
	int rc, r = 0;
	store_sms_row x;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		x.id = sqlite3_column_int64(st, 0);
		x.user_id = sqlite3_column_int64(st, 1);
		x.status = (const char *)sqlite3_column_text(st, 2);
		x.reason = (const char *)sqlite3_column_text(st, 3);
		x.due_at = sqlite3_column_int64(st, 4);
		x.done_at = sqlite3_column_int64(st, 5);
		if ((r = fn(ud, &x)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_quiet_get(store_conn *c, int64_t tenant_id, int64_t user_id, store_quiet *out)
{
	static const char sql[] = "SELECT quiet_from IS NOT NULL, coalesce(quiet_from, 0), coalesce(quiet_to, 0), "
	                          "coalesce(quiet_offset, 0) FROM users WHERE tenant_id = ? AND id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->set = sqlite3_column_int(st, 0) != 0;
		out->from = sqlite3_column_int(st, 1);
		out->to = sqlite3_column_int(st, 2);
		out->offset = sqlite3_column_int(st, 3);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_quiet_set(store_conn *c, int64_t tenant_id, int64_t user_id, const store_quiet *q)
{
	static const char sql[] = "UPDATE users SET quiet_from = ?3, quiet_to = ?4, quiet_offset = ?5 "
	                          "WHERE tenant_id = ?1 AND id = ?2";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	if (q->set) {
		sqlite3_bind_int(st, 3, q->from);
		sqlite3_bind_int(st, 4, q->to);
		sqlite3_bind_int(st, 5, q->offset);
	} else {
		sqlite3_bind_null(st, 3);
		sqlite3_bind_null(st, 4);
		sqlite3_bind_null(st, 5);
	}
	int rc = sq_step_done(c, st);
	if (rc == 0 && sqlite3_changes(c->db) == 0)
		return HERR_NOT_FOUND;
	return rc;
}
