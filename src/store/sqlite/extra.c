/*
 * extra.c — the SQLite backend of topics, files and webhooks (store.h).
 * Same rules as chat.c: cached statements, tenant_id in every WHERE.
 */
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "store/sqlite/sqlite_internal.h"

/* ---- topics ------------------------------------------------------------------------ */

int store_topic_put(store_conn *c, int64_t tenant_id, const store_topic *t)
{
	static const char sql[] = "INSERT INTO topics(tenant_id, name, rule, members, keep, created_at) "
	                          "VALUES (?,?,?,?,?,?) ON CONFLICT(tenant_id, name) DO UPDATE SET "
	                          "rule = excluded.rule, members = excluded.members, keep = excluded.keep";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, t->members, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, t->keep);
	sqlite3_bind_int64(st, 6, t->created_at);
	return sq_step_done(c, st);
}

int store_topic_get(store_conn *c, int64_t tenant_id, const char *name, store_topic *out)
{
	static const char sql[] = "SELECT name, rule, members, keep, last_seq, created_at FROM topics "
	                          "WHERE tenant_id = ? AND name = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sq_col_copy(st, 0, out->name, sizeof out->name);
		sq_col_copy(st, 1, out->rule, sizeof out->rule);
		sq_col_copy(st, 2, out->members, sizeof out->members);
		out->keep = sqlite3_column_int(st, 3);
		out->last_seq = sqlite3_column_int64(st, 4);
		out->created_at = sqlite3_column_int64(st, 5);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_topic_publish(store_conn *c, int64_t tenant_id, const char *name, const char *payload, int64_t now,
                        int64_t *seq)
{
	static const char bump[] = "UPDATE topics SET last_seq = last_seq + 1 WHERE tenant_id = ? AND name = ? "
	                           "RETURNING last_seq, keep";
	static const char ins[] =
	        "INSERT INTO topic_events(tenant_id, topic, seq, payload, created_at) VALUES (?,?,?,?,?)";
	static const char trim[] = "DELETE FROM topic_events WHERE tenant_id = ? AND topic = ? AND seq <= ?";
	sqlite3_stmt *st = sq_cached(c, bump);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
	}
	*seq = sqlite3_column_int64(st, 0);
	int64_t keep = sqlite3_column_int64(st, 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_err(c, rc);
	if (!(st = sq_cached(c, ins)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, *seq);
	sqlite3_bind_text(st, 4, payload, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	if ((rc = sq_step_done(c, st)) != 0)
		return rc;
	if (!(st = sq_cached(c, trim)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, *seq - keep);
	return sq_step_done(c, st);
}

int store_topic_events(store_conn *c, int64_t tenant_id, const char *name, int64_t after, int limit,
                       int (*fn)(void *ud, int64_t seq, const char *payload, int64_t created_at), void *ud)
{
	static const char sql[] = "SELECT seq, payload, created_at FROM topic_events WHERE tenant_id = ? AND "
	                          "topic = ? AND seq > ? ORDER BY seq LIMIT ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, after);
	sqlite3_bind_int(st, 4, limit);
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = fn(ud, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
		            sqlite3_column_int64(st, 2))) != 0)
			break;
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

/* ---- files ---------------------------------------------------------------------------- */

int store_file_insert(store_conn *c, const store_file *f)
{
	static const char sql[] = "INSERT INTO files(id, tenant_id, uploader_id, name, mime, size, width, height, "
	                          "created_at) VALUES (?,?,nullif(?, 0),?,?,?,nullif(?, 0),nullif(?, 0),?)";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, f->tenant_id);
	sqlite3_bind_int64(st, 3, f->uploader_id);
	sqlite3_bind_text(st, 4, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, f->mime, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, f->size);
	sqlite3_bind_int(st, 7, f->width);
	sqlite3_bind_int(st, 8, f->height);
	sqlite3_bind_int64(st, 9, f->created_at);
	return sq_step_done(c, st);
}

int store_file_get(store_conn *c, int64_t tenant_id, const char *id, store_file *out)
{
	static const char sql[] = "SELECT id, tenant_id, coalesce(uploader_id, 0), name, mime, size, "
	                          "coalesce(width, 0), coalesce(height, 0), created_at FROM files "
	                          "WHERE tenant_id = ? AND id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sq_col_copy(st, 0, out->id, sizeof out->id);
		out->tenant_id = sqlite3_column_int64(st, 1);
		out->uploader_id = sqlite3_column_int64(st, 2);
		sq_col_copy(st, 3, out->name, sizeof out->name);
		sq_col_copy(st, 4, out->mime, sizeof out->mime);
		out->size = sqlite3_column_int64(st, 5);
		out->width = sqlite3_column_int(st, 6);
		out->height = sqlite3_column_int(st, 7);
		out->created_at = sqlite3_column_int64(st, 8);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_file_ref(store_conn *c, int64_t tenant_id, const char *file_id, int64_t chat_id)
{
	static const char sql[] = "INSERT OR IGNORE INTO file_refs(file_id, chat_id, tenant_id) VALUES (?,?,?)";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, tenant_id);
	return sq_step_done(c, st);
}

int store_file_visible(store_conn *c, int64_t tenant_id, const char *file_id, int64_t user_id, bool *visible)
{
	static const char sql[] =
	        "SELECT EXISTS (SELECT 1 FROM files WHERE tenant_id = ?1 AND id = ?2 AND uploader_id = ?3) OR "
	        "EXISTS (SELECT 1 FROM file_refs r JOIN chat_members m ON m.chat_id = r.chat_id "
	        "JOIN chats ch ON ch.id = r.chat_id "
	        "WHERE r.tenant_id = ?1 AND r.file_id = ?2 AND m.user_id = ?3 AND ch.deleted_at IS NULL)";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, file_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, user_id);
	int rc = sqlite3_step(st);
	*visible = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : sq_err(c, rc);
}

/* ---- webhooks ----------------------------------------------------------------------------- */

int store_webhook_put(store_conn *c, const store_webhook *w)
{
	static const char sql[] = "INSERT INTO webhooks(tenant_id, url, secret, cursor, created_at) VALUES (?,?,?,?,?) "
	                          "ON CONFLICT(tenant_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, "
	                          "cursor = excluded.cursor, created_at = excluded.created_at";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, w->tenant_id);
	sqlite3_bind_text(st, 2, w->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->secret, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, w->cursor);
	sqlite3_bind_int64(st, 5, w->created_at);
	return sq_step_done(c, st);
}

static void read_webhook(sqlite3_stmt *st, store_webhook *w)
{
	w->tenant_id = sqlite3_column_int64(st, 0);
	sq_col_copy(st, 1, w->url, sizeof w->url);
	sq_col_copy(st, 2, w->secret, sizeof w->secret);
	w->cursor = sqlite3_column_int64(st, 3);
	w->created_at = sqlite3_column_int64(st, 4);
}

int store_webhook_get(store_conn *c, int64_t tenant_id, store_webhook *out)
{
	static const char sql[] = "SELECT tenant_id, url, secret, cursor, created_at FROM webhooks WHERE tenant_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_webhook(st, out);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_webhook_delete(store_conn *c, int64_t tenant_id)
{
	static const char sql[] = "DELETE FROM webhooks WHERE tenant_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	int rc = sq_step_done(c, st);
	return rc == 0 && sqlite3_changes(c->db) == 0 ? HERR_NOT_FOUND : rc;
}

int store_webhook_advance(store_conn *c, int64_t tenant_id, int64_t cursor)
{
	static const char sql[] = "UPDATE webhooks SET cursor = max(cursor, ?) WHERE tenant_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, cursor);
	sqlite3_bind_int64(st, 2, tenant_id);
	return sq_step_done(c, st);
}

int store_webhook_list(store_conn *c, int (*fn)(void *ud, const store_webhook *w), void *ud)
{
	static const char sql[] = "SELECT tenant_id, url, secret, cursor, created_at FROM webhooks ORDER BY tenant_id";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	int rc, r = 0;
	store_webhook w;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_webhook(st, &w);
		if ((r = fn(ud, &w)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_event_tenant(store_conn *c, int64_t tenant_id, int64_t after, int limit,
                       int (*fn)(void *ud, const store_event *e), void *ud)
{
	static const char sql[] = "SELECT id, coalesce(chat_id, 0), coalesce(user_id, 0), type, payload FROM events "
	                          "WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int(st, 3, limit);
	return sq_walk_events(c, st, fn, ud);
}

/* ---- Web Push subscriptions ------------------------------------------------------------- */

int store_device_put_webpush(store_conn *c, int64_t tenant_id, int64_t user_id, const char *endpoint,
                             const char *p256dh, const char *auth, int64_t now)
{
	static const char sql[] =
	        "INSERT INTO devices(tenant_id, user_id, kind, token, p256dh, auth, created_at, updated_at) "
	        "VALUES (?, ?, 'webpush', ?, ?, ?, ?, ?) ON CONFLICT(tenant_id, kind, token) DO UPDATE SET "
	        "user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, "
	        "updated_at = excluded.updated_at, dead_at = NULL, dead_reason = NULL";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_text(st, 3, endpoint, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p256dh, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, auth, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int64(st, 7, now);
	return sq_step_done(c, st);
}

int store_device_remove(store_conn *c, int64_t tenant_id, int64_t user_id, const char *kind, const char *token)
{
	static const char sql[] = "DELETE FROM devices WHERE tenant_id = ? AND user_id = ? AND kind = ? AND token = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, token, -1, SQLITE_STATIC);
	int rc = sq_step_done(c, st);
	return rc == 0 && sqlite3_changes(c->db) == 0 ? HERR_NOT_FOUND : rc;
}

int store_device_list(store_conn *c, int64_t tenant_id, int64_t user_id, int (*fn)(void *ud, const store_device *d),
                      void *ud)
{
	static const char sql[] = "SELECT id, kind, token, created_at, updated_at, coalesce(dead_at, 0) FROM devices "
	                          "WHERE tenant_id = ? AND user_id = ? ORDER BY id";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	int rc, r = 0;
	store_device d;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d.id = sqlite3_column_int64(st, 0);
		sq_col_copy(st, 1, d.kind, sizeof d.kind);
		d.token = (const char *)sqlite3_column_text(st, 2);
		d.created_at = sqlite3_column_int64(st, 3);
		d.updated_at = sqlite3_column_int64(st, 4);
		d.dead_at = sqlite3_column_int64(st, 5);
		if ((r = fn(ud, &d)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

/* ---- deliveries ------------------------------------------------------------------------- */

static int enqueue(store_conn *c, sqlite3_stmt *st, int *queued)
{
	int rc = sq_step_done(c, st);
	*queued = rc == 0 ? sqlite3_changes(c->db) : 0;
	return rc;
}

/* Whether the tenant has a live push device (see store_conn: known within
 * the writer's transaction). Most messages of a tenant without phones or
 * browsers subscribed then cost no INSERT … SELECT over members × devices. */
static int tenant_has_devices(store_conn *c, int64_t tenant_id, bool *has)
{
	static const char sql[] = "SELECT EXISTS (SELECT 1 FROM devices WHERE tenant_id = ? AND dead_at IS NULL)";
	for (int i = 0; i < c->devices_known_n; i++)
		if (c->devices_known[i].tenant == tenant_id) {
			*has = c->devices_known[i].has;
			return 0;
		}
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return sq_err(c, rc);
	}
	*has = sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	int n = (int)(sizeof c->devices_known / sizeof c->devices_known[0]);
	int i = c->devices_known_n < n ? c->devices_known_n++ : (int)(tenant_id % n);
	c->devices_known[i].tenant = tenant_id;
	c->devices_known[i].has = *has;
	return 0;
}

/* The device kinds to queue for, as three text parameters ("" = none). */
static void bind_kinds(sqlite3_stmt *st, int first, unsigned kinds)
{
	sqlite3_bind_text(st, first, kinds & STORE_PUSH_WEBPUSH ? "webpush" : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 1, kinds & STORE_PUSH_FCM ? "fcm" : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, first + 2, kinds & STORE_PUSH_APNS ? "apns" : "", -1, SQLITE_STATIC);
}

int store_delivery_enqueue_user(store_conn *c, int64_t tenant_id, int64_t message_id, int64_t user_id, int64_t now,
                                unsigned kinds, int *queued)
{
	static const char sql[] =
	        "INSERT INTO deliveries(tenant_id, message_id, user_id, device_id, kind, status, next_try_at, "
	        "queued_at) "
	        "SELECT ?1, ?2, d.user_id, d.id, d.kind, 'queued', ?4, ?4 FROM devices d "
	        "WHERE d.tenant_id = ?1 AND d.user_id = ?3 AND d.kind IN (?5, ?6, ?7) AND d.dead_at IS NULL";
	*queued = 0;
	if (!kinds)
		return 0;
	bool has;
	int rc = tenant_has_devices(c, tenant_id, &has);
	if (rc != 0 || !has)
		return rc;
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, message_id);
	sqlite3_bind_int64(st, 3, user_id);
	sqlite3_bind_int64(st, 4, now);
	bind_kinds(st, 5, kinds);
	return enqueue(c, st, queued);
}

int store_delivery_enqueue_chat(store_conn *c, int64_t tenant_id, int64_t message_id, int64_t chat_id,
                                int64_t sender_id, int64_t now, unsigned kinds, int *queued)
{
	static const char sql[] = "INSERT INTO deliveries(tenant_id, message_id, user_id, device_id, kind, status, "
	                          "next_try_at, queued_at) "
	                          "SELECT ?1, ?2, d.user_id, d.id, d.kind, 'queued', ?5, ?5 FROM chat_members m "
	                          "JOIN devices d ON d.user_id = m.user_id AND d.tenant_id = ?1 "
	                          "WHERE m.tenant_id = ?1 AND m.chat_id = ?3 AND m.user_id != ?4 AND m.muted = 0 "
	                          "AND d.kind IN (?6, ?7, ?8) AND d.dead_at IS NULL";
	*queued = 0;
	if (!kinds)
		return 0;
	bool has;
	int rc = tenant_has_devices(c, tenant_id, &has);
	if (rc != 0 || !has)
		return rc;
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, message_id);
	sqlite3_bind_int64(st, 3, chat_id);
	sqlite3_bind_int64(st, 4, sender_id);
	sqlite3_bind_int64(st, 5, now);
	bind_kinds(st, 6, kinds);
	return enqueue(c, st, queued);
}

int store_delivery_due(store_conn *c, const char *kind, int64_t now, int limit, bool (*skip)(void *ud, int64_t id),
                       int (*fn)(void *ud, const store_due *d), void *ud)
{
	/* Rows being sent are still 'queued': they are stepped over here, and
	 * the badge (the unread total) is counted only for the rows returned. */
	static const char sql[] = "SELECT q.id FROM deliveries q WHERE q.kind = ?1 AND q.status = 'queued' "
	                          "AND q.next_try_at <= ?2 ORDER BY q.next_try_at, q.id";
	static const char row_sql[] =
	        "SELECT q.id, q.tenant_id, q.message_id, m.chat_id, m.seq, q.device_id, q.attempts, d.kind, d.token, "
	        "coalesce(d.p256dh, ''), coalesce(d.auth, ''), m.title, m.body, "
	        "(SELECT coalesce(sum(max(ch.last_seq - cm.last_read_seq, 0)), 0) FROM chat_members cm "
	        " JOIN chats ch ON ch.id = cm.chat_id WHERE cm.user_id = q.user_id AND ch.deleted_at IS NULL), "
	        "q.user_id, m.urgent, u.quiet_from IS NOT NULL, coalesce(u.quiet_from, 0), coalesce(u.quiet_to, 0), "
	        "coalesce(u.quiet_offset, 0), m.kind = 'notification' "
	        "FROM deliveries q JOIN devices d ON d.id = q.device_id JOIN messages m ON m.id = q.message_id "
	        "JOIN users u ON u.id = q.user_id WHERE q.id = ?";
	sqlite3_stmt *ids = sq_cached(c, sql), *st = sq_cached(c, row_sql);
	if (!ids || !st)
		return HERR_STORAGE;
	sqlite3_bind_text(ids, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ids, 2, now);
	int rc = SQLITE_DONE, r = 0, n = 0;
	store_due d;
	while (n < limit && (rc = sqlite3_step(ids)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(ids, 0);
		if (skip && skip(ud, id))
			continue;
		sqlite3_bind_int64(st, 1, id);
		if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
			sqlite3_reset(st);
			if (rc == SQLITE_DONE)
				continue;
			break;
		}
		n++;
		d.id = sqlite3_column_int64(st, 0);
		d.tenant_id = sqlite3_column_int64(st, 1);
		d.message_id = sqlite3_column_int64(st, 2);
		d.chat_id = sqlite3_column_int64(st, 3);
		d.seq = sqlite3_column_int64(st, 4);
		d.device_id = sqlite3_column_int64(st, 5);
		d.attempts = sqlite3_column_int(st, 6);
		d.kind = (const char *)sqlite3_column_text(st, 7);
		d.token = (const char *)sqlite3_column_text(st, 8);
		d.p256dh = (const char *)sqlite3_column_text(st, 9);
		d.auth = (const char *)sqlite3_column_text(st, 10);
		d.title = (const char *)sqlite3_column_text(st, 11);
		d.body = (const char *)sqlite3_column_text(st, 12);
		d.unread = sqlite3_column_int64(st, 13);
		d.user_id = sqlite3_column_int64(st, 14);
		d.urgent = sqlite3_column_int(st, 15) != 0;
		d.has_quiet = sqlite3_column_int(st, 16) != 0;
		d.quiet_from = sqlite3_column_int(st, 17);
		d.quiet_to = sqlite3_column_int(st, 18);
		d.quiet_offset = sqlite3_column_int(st, 19);
		d.notification = sqlite3_column_int(st, 20) != 0;
		r = fn(ud, &d);
		sqlite3_reset(st);
		if (r != 0)
			break;
		rc = SQLITE_ROW;
	}
	sqlite3_reset(ids);
	if (r)
		return r;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_delivery_result(store_conn *c, int64_t id, store_delivery_outcome outcome, const char *reason,
                          int64_t next_try, int64_t now)
{
	static const char sent_sql[] =
	        "UPDATE deliveries SET status = 'sent', sent_at = ?2, attempts = attempts + 1, reason = NULL "
	        "WHERE id = ?1 AND status = 'queued' RETURNING message_id";
	static const char msg_sql[] = "UPDATE messages SET sent_at = coalesce(sent_at, ?2) WHERE id = ?1";
	static const char retry_sql[] =
	        "UPDATE deliveries SET attempts = attempts + 1, next_try_at = ?3, reason = ?4 WHERE id = ?1 "
	        "AND status = 'queued' AND ?2 = ?2";
	static const char fail_sql[] = "UPDATE deliveries SET status = 'failed', failed_at = ?2, reason = ?3, "
	                               "attempts = attempts + 1 WHERE id = ?1 AND status = 'queued'";
	static const char hold_sql[] = "UPDATE deliveries SET next_try_at = ?3, reason = ?4 WHERE id = ?1 "
	                               "AND status = 'queued' AND ?2 = ?2";
	static const char live_sql[] = "UPDATE deliveries SET status = 'delivered', delivered_at = ?2, reason = ?3 "
	                               "WHERE id = ?1 AND status = 'queued'";
	static const char dead_sql[] =
	        "UPDATE devices SET dead_at = ?2, dead_reason = ?3 WHERE id = (SELECT device_id FROM deliveries "
	        "WHERE id = ?1)";
	sqlite3_stmt *st;
	int rc;
	switch (outcome) {
	case STORE_SENT: {
		if (!(st = sq_cached(c, sent_sql)))
			return HERR_STORAGE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		rc = sqlite3_step(st);
		int64_t message_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		while (rc == SQLITE_ROW)
			rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return sq_err(c, rc);
		if (!message_id)
			return 0;
		if (!(st = sq_cached(c, msg_sql)))
			return HERR_STORAGE;
		sqlite3_bind_int64(st, 1, message_id);
		sqlite3_bind_int64(st, 2, now);
		return sq_step_done(c, st);
	}
	case STORE_LIVE:
		if (!(st = sq_cached(c, live_sql)))
			return HERR_STORAGE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		sq_bind_opt_text(st, 3, reason);
		return sq_step_done(c, st);
	case STORE_HOLD:
	case STORE_RETRY:
		if (!(st = sq_cached(c, outcome == STORE_HOLD ? hold_sql : retry_sql)))
			return HERR_STORAGE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_int64(st, 3, next_try);
		sq_bind_opt_text(st, 4, reason);
		return sq_step_done(c, st);
	case STORE_DEAD:
		if (!(st = sq_cached(c, dead_sql)))
			return HERR_STORAGE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		sq_bind_opt_text(st, 3, reason);
		if ((rc = sq_step_done(c, st)) != 0)
			return rc;
		/* fall through: the delivery itself failed */
		__attribute__((fallthrough));
	case STORE_FAILED:
		if (!(st = sq_cached(c, fail_sql)))
			return HERR_STORAGE;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		sq_bind_opt_text(st, 3, reason);
		return sq_step_done(c, st);
	}
	return HERR_INTERNAL;
}

int store_delivery_list(store_conn *c, int64_t tenant_id, int64_t message_id,
                        int (*fn)(void *ud, const store_delivery *d), void *ud)
{
	static const char sql[] =
	        "SELECT q.id, q.user_id, d.kind, q.status, q.reason, q.attempts, q.queued_at, coalesce(q.sent_at, 0), "
	        "coalesce(q.delivered_at, 0), coalesce(q.failed_at, 0), coalesce(q.read_at, 0) FROM deliveries q "
	        "JOIN devices d ON d.id = q.device_id WHERE q.tenant_id = ? AND q.message_id = ? ORDER BY q.id";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, message_id);
	int rc, r = 0;
	store_delivery d;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d.id = sqlite3_column_int64(st, 0);
		d.user_id = sqlite3_column_int64(st, 1);
		d.kind = (const char *)sqlite3_column_text(st, 2);
		d.status = (const char *)sqlite3_column_text(st, 3);
		d.reason = (const char *)sqlite3_column_text(st, 4);
		d.attempts = sqlite3_column_int(st, 5);
		d.queued_at = sqlite3_column_int64(st, 6);
		d.sent_at = sqlite3_column_int64(st, 7);
		d.delivered_at = sqlite3_column_int64(st, 8);
		d.failed_at = sqlite3_column_int64(st, 9);
		d.read_at = sqlite3_column_int64(st, 10);
		if ((r = fn(ud, &d)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_delivery_delivered(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t delivery_id, int64_t now)
{
	static const char find[] = "SELECT status FROM deliveries WHERE tenant_id = ? AND user_id = ? AND id = ?";
	static const char upd[] = "UPDATE deliveries SET status = 'delivered', delivered_at = ?, "
	                          "sent_at = coalesce(sent_at, ?) WHERE id = ? AND status IN ('queued', 'sent')";
	sqlite3_stmt *st = sq_cached(c, find);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, delivery_id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return HERR_NOT_FOUND;
	if (rc != SQLITE_ROW)
		return sq_err(c, rc);
	if (!(st = sq_cached(c, upd)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, delivery_id);
	return sq_step_done(c, st);
}

int store_delivery_read(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t chat_id, int64_t seq, int64_t now)
{
	static const char sql[] =
	        "UPDATE deliveries SET status = 'read', read_at = ?5 WHERE tenant_id = ?1 AND user_id = ?2 "
	        "AND status IN ('queued', 'sent', 'delivered') AND message_id IN "
	        "(SELECT id FROM messages WHERE tenant_id = ?1 AND chat_id = ?3 AND seq <= ?4)";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, chat_id);
	sqlite3_bind_int64(st, 4, seq);
	sqlite3_bind_int64(st, 5, now);
	return sq_step_done(c, st);
}
