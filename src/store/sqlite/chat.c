/*
 * chat.c — the SQLite backend of team chat: user details, chats, members,
 * chat messages, search and the event log (store.h, "team chat").
 *
 * Statements are cached per connection by the address of their SQL text
 * (sq_cached), so each lives next to the function that runs it. Every
 * statement that touches tenant data filters by tenant_id.
 */
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "store/sqlite/sqlite_internal.h"

static const char *col_text(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

void store_user_public_id(const store_user *u, char out[STORE_EXTERNAL_ID_MAX + 8])
{
	if (u->external_id[0])
		snprintf(out, STORE_EXTERNAL_ID_MAX + 8, "%s", u->external_id);
	else
		snprintf(out, STORE_EXTERNAL_ID_MAX + 8, "staff-%s", u->staff_id);
}

/* ---- users ---------------------------------------------------------------------- */

#define USER_COLS                                                                                                      \
	"id, tenant_id, staff_id, external_id, name, phone, device, mailing, created_at, updated_at, avatar_url, "     \
	"roles, active"

static void read_user_row(sqlite3_stmt *st, store_user *u, store_user_ext *x)
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
	if (x) {
		sq_col_copy(st, 10, x->avatar_url, sizeof x->avatar_url);
		sq_col_copy(st, 11, x->roles, sizeof x->roles);
		x->active = sqlite3_column_int(st, 12) != 0;
	}
}

int store_user_ext_get(store_conn *c, int64_t tenant_id, int64_t user_id, store_user_ext *out)
{
	static const char sql[] = "SELECT avatar_url, roles, active FROM users WHERE tenant_id = ? AND id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sq_col_copy(st, 0, out->avatar_url, sizeof out->avatar_url);
		sq_col_copy(st, 1, out->roles, sizeof out->roles);
		out->active = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_user_ext_set(store_conn *c, int64_t tenant_id, int64_t user_id, const store_user_ext *x)
{
	static const char sql[] =
	        "UPDATE users SET avatar_url = ?, roles = ?, active = ? WHERE tenant_id = ? AND id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, x->avatar_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, x->roles, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, x->active ? 1 : 0);
	sqlite3_bind_int64(st, 4, tenant_id);
	sqlite3_bind_int64(st, 5, user_id);
	return sq_step_done(c, st);
}

int store_user_by_external_id(store_conn *c, int64_t tenant_id, const char *external_id, store_user *out)
{
	static const char sql[] = "SELECT " USER_COLS " FROM users WHERE tenant_id = ? AND external_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, external_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_user_row(st, out, NULL);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_user_page(store_conn *c, int64_t tenant_id, int64_t after_id, int limit,
                    int (*fn)(void *ud, const store_user *u, const store_user_ext *x), void *ud)
{
	static const char sql[] = "SELECT " USER_COLS " FROM users WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, after_id);
	sqlite3_bind_int(st, 3, limit);
	int rc, r = 0;
	store_user u;
	store_user_ext x;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_user_row(st, &u, &x);
		if ((r = fn(ud, &u, &x)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_user_directory(store_conn *c, int64_t tenant_id, const char *q, int64_t after_id, int limit,
                         int (*fn)(void *ud, const store_user *u, const store_user_ext *x), void *ud)
{
	/* instr(lower(…)) rather than LIKE: no wildcard to escape in q. SQLite's
	 * lower() folds ASCII only; names in other scripts match as typed. */
	static const char sql[] =
	        "SELECT " USER_COLS " FROM users WHERE tenant_id = ?1 AND active = 1 "
	        "AND (?2 = '' OR instr(lower(name), lower(?2)) > 0 "
	        "     OR instr(lower(coalesce(external_id, 'staff-' || staff_id)), lower(?2)) > 0) "
	        "AND (?3 = 0 OR name > (SELECT name FROM users WHERE tenant_id = ?1 AND id = ?3) "
	        "     OR (name = (SELECT name FROM users WHERE tenant_id = ?1 AND id = ?3) AND id > ?3)) "
	        "ORDER BY name, id LIMIT ?4";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, q, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, after_id);
	sqlite3_bind_int(st, 4, limit);
	int rc, r = 0;
	store_user u;
	store_user_ext x;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_user_row(st, &u, &x);
		if ((r = fn(ud, &u, &x)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_session_delete_user(store_conn *c, int64_t tenant_id, int64_t user_id)
{
	static const char sql[] = "DELETE FROM sessions WHERE tenant_id = ? AND user_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	return sq_step_done(c, st);
}

int store_tenant_jwt_secret(store_conn *c, int64_t tenant_id, uint8_t out[32])
{
	static const char sql[] = "SELECT jwt_secret FROM tenants WHERE id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	int rc = sqlite3_step(st);
	int r = HERR_NOT_FOUND;
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
		memcpy(out, sqlite3_column_blob(st, 0), 32);
		r = 0;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = sq_err(c, rc);
	}
	sqlite3_reset(st);
	return r;
}

int store_tenant_set_jwt_secret(store_conn *c, int64_t tenant_id, const uint8_t secret[32])
{
	static const char sql[] = "UPDATE tenants SET jwt_secret = ? WHERE id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_blob(st, 1, secret, 32, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tenant_id);
	return sq_step_done(c, st);
}

/* ---- chats ----------------------------------------------------------------------- */

#define CHAT_COLS                                                                                                      \
	"c.id, c.tenant_id, c.kind, coalesce(c.owner_id, 0), c.title, c.description, c.avatar_url, "                   \
	"coalesce(c.ref_type, ''), coalesce(c.ref_id, ''), c.last_seq, coalesce(c.last_message_at, 0), "               \
	"c.created_at, c.updated_at, coalesce(c.deleted_at, 0)"
#define CHAT_NCOLS 14

static void read_chat(sqlite3_stmt *st, int base, store_chat *ch)
{
	ch->id = sqlite3_column_int64(st, base + 0);
	ch->tenant_id = sqlite3_column_int64(st, base + 1);
	sq_col_copy(st, base + 2, ch->kind, sizeof ch->kind);
	ch->owner_id = sqlite3_column_int64(st, base + 3);
	sq_col_copy(st, base + 4, ch->title, sizeof ch->title);
	sq_col_copy(st, base + 5, ch->description, sizeof ch->description);
	sq_col_copy(st, base + 6, ch->avatar_url, sizeof ch->avatar_url);
	sq_col_copy(st, base + 7, ch->ref_type, sizeof ch->ref_type);
	sq_col_copy(st, base + 8, ch->ref_id, sizeof ch->ref_id);
	ch->last_seq = sqlite3_column_int64(st, base + 9);
	ch->last_message_at = sqlite3_column_int64(st, base + 10);
	ch->created_at = sqlite3_column_int64(st, base + 11);
	ch->updated_at = sqlite3_column_int64(st, base + 12);
	ch->deleted_at = sqlite3_column_int64(st, base + 13);
}

static int chat_one(store_conn *c, sqlite3_stmt *st, store_chat *out)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_chat(st, 0, out);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_chat_insert(store_conn *c, store_chat *ch, const char *direct_key)
{
	static const char sql[] =
	        "INSERT INTO chats(tenant_id, kind, owner_id, title, description, avatar_url, ref_type, ref_id, "
	        "direct_key, created_at, updated_at) VALUES (?,?,nullif(?, 0),?,?,?,?,?,?,?,?)";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, ch->tenant_id);
	sqlite3_bind_text(st, 2, ch->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ch->owner_id);
	sqlite3_bind_text(st, 4, ch->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, ch->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ch->avatar_url, -1, SQLITE_STATIC);
	sq_bind_opt_text(st, 7, ch->ref_type);
	sq_bind_opt_text(st, 8, ch->ref_id);
	sq_bind_opt_text(st, 9, direct_key);
	sqlite3_bind_int64(st, 10, ch->created_at);
	sqlite3_bind_int64(st, 11, ch->updated_at);
	int rc = sq_step_done(c, st);
	if (rc == 0)
		ch->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int store_chat_get(store_conn *c, int64_t tenant_id, int64_t chat_id, store_chat *out)
{
	static const char sql[] = "SELECT " CHAT_COLS " FROM chats c WHERE c.tenant_id = ? AND c.id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	return chat_one(c, st, out);
}

int store_chat_by_ref(store_conn *c, int64_t tenant_id, const char *ref_type, const char *ref_id, store_chat *out)
{
	static const char sql[] =
	        "SELECT " CHAT_COLS " FROM chats c WHERE c.tenant_id = ? AND c.ref_type = ? AND c.ref_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, ref_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ref_id, -1, SQLITE_STATIC);
	return chat_one(c, st, out);
}

int store_chat_by_direct_key(store_conn *c, int64_t tenant_id, const char *direct_key, store_chat *out)
{
	static const char sql[] = "SELECT " CHAT_COLS " FROM chats c WHERE c.tenant_id = ? AND c.direct_key = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_text(st, 2, direct_key, -1, SQLITE_STATIC);
	return chat_one(c, st, out);
}

int store_chat_update(store_conn *c, const store_chat *ch)
{
	static const char sql[] = "UPDATE chats SET title = ?, description = ?, avatar_url = ?, "
	                          "deleted_at = nullif(?, 0), updated_at = ? WHERE tenant_id = ? AND id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, ch->title, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ch->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ch->avatar_url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ch->deleted_at);
	sqlite3_bind_int64(st, 5, ch->updated_at);
	sqlite3_bind_int64(st, 6, ch->tenant_id);
	sqlite3_bind_int64(st, 7, ch->id);
	return sq_step_done(c, st);
}

/* ---- members ------------------------------------------------------------------------ */

static void read_member(sqlite3_stmt *st, int base, store_member *m)
{
	m->chat_id = sqlite3_column_int64(st, base + 0);
	m->user_id = sqlite3_column_int64(st, base + 1);
	sq_col_copy(st, base + 2, m->role, sizeof m->role);
	m->last_read_seq = sqlite3_column_int64(st, base + 3);
	m->pinned = sqlite3_column_int(st, base + 4) != 0;
	m->muted = sqlite3_column_int(st, base + 5) != 0;
	m->joined_at = sqlite3_column_int64(st, base + 6);
}

#define MEMBER_COLS "m.chat_id, m.user_id, m.role, m.last_read_seq, m.pinned, m.muted, m.joined_at"

int store_member_get(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t user_id, store_member *out)
{
	static const char sql[] =
	        "SELECT " MEMBER_COLS " FROM chat_members m WHERE m.tenant_id = ? AND m.chat_id = ? AND m.user_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, user_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_member(st, 0, out);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_member_put(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t user_id, const char *role, int64_t now)
{
	static const char sql[] = "INSERT INTO chat_members(chat_id, user_id, tenant_id, role, joined_at) "
	                          "VALUES (?,?,?,?,?) ON CONFLICT(chat_id, user_id) DO UPDATE SET role = excluded.role";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, chat_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int64(st, 3, tenant_id);
	sqlite3_bind_text(st, 4, role, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	return sq_step_done(c, st);
}

int store_member_remove(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t user_id)
{
	static const char sql[] = "DELETE FROM chat_members WHERE tenant_id = ? AND chat_id = ? AND user_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, user_id);
	int rc = sq_step_done(c, st);
	return rc == 0 && sqlite3_changes(c->db) == 0 ? HERR_NOT_FOUND : rc;
}

int store_member_update(store_conn *c, int64_t tenant_id, const store_member *m)
{
	static const char sql[] = "UPDATE chat_members SET last_read_seq = max(last_read_seq, ?), pinned = ?, "
	                          "muted = ? WHERE tenant_id = ? AND chat_id = ? AND user_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, m->last_read_seq);
	sqlite3_bind_int(st, 2, m->pinned ? 1 : 0);
	sqlite3_bind_int(st, 3, m->muted ? 1 : 0);
	sqlite3_bind_int64(st, 4, tenant_id);
	sqlite3_bind_int64(st, 5, m->chat_id);
	sqlite3_bind_int64(st, 6, m->user_id);
	return sq_step_done(c, st);
}

int store_member_list(store_conn *c, int64_t tenant_id, int64_t chat_id,
                      int (*fn)(void *ud, const store_member *m, const store_user *u), void *ud)
{
	static const char sql[] =
	        "SELECT " MEMBER_COLS ", u.id, u.tenant_id, u.staff_id, u.external_id, u.name, u.phone, u.device, "
	        "u.mailing, u.created_at, u.updated_at FROM chat_members m JOIN users u ON u.id = m.user_id "
	        "WHERE m.tenant_id = ? AND m.chat_id = ? ORDER BY m.joined_at, m.user_id";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	int rc, r = 0;
	store_member m;
	store_user u;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_member(st, 0, &m);
		u.id = sqlite3_column_int64(st, 7);
		u.tenant_id = sqlite3_column_int64(st, 8);
		sq_col_copy(st, 9, u.staff_id, sizeof u.staff_id);
		sq_col_copy(st, 10, u.external_id, sizeof u.external_id);
		sq_col_copy(st, 11, u.name, sizeof u.name);
		sq_col_copy(st, 12, u.phone, sizeof u.phone);
		sq_col_copy(st, 13, u.device, sizeof u.device);
		u.mailing = sqlite3_column_int(st, 14) != 0;
		u.created_at = sqlite3_column_int64(st, 15);
		u.updated_at = sqlite3_column_int64(st, 16);
		if ((r = fn(ud, &m, &u)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_member_count(store_conn *c, int64_t tenant_id, int64_t chat_id, int *out)
{
	static const char sql[] = "SELECT count(*) FROM chat_members WHERE tenant_id = ? AND chat_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : sq_err(c, rc);
}

int store_member_chats(store_conn *c, int64_t tenant_id, int64_t user_id, int (*fn)(void *ud, int64_t chat_id),
                       void *ud)
{ /* Deleted chats too: a live connection must hear chat_restored. */
	static const char sql[] = "SELECT m.chat_id FROM chat_members m WHERE m.tenant_id = ? AND m.user_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	int rc, r = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = fn(ud, sqlite3_column_int64(st, 0))) != 0)
			break;
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_chat_list(store_conn *c, int64_t tenant_id, int64_t user_id, const store_chat_cursor *after, int limit,
                    int (*fn)(void *ud, const store_chat_row *r), void *ud)
{
	/* Pinned first, then by activity; the cursor is the (pinned, activity,
	 * id) of the last row seen, compared as a row value. */
	static const char sql[] =
	        "SELECT " CHAT_COLS ", " MEMBER_COLS ", lm.sender_id, lm.body, lm.created_at, lm.deleted_at, "
	        "lm.id IS NOT NULL, coalesce(c.last_message_at, c.created_at) AS activity "
	        "FROM chat_members m JOIN chats c ON c.id = m.chat_id "
	        "LEFT JOIN messages lm ON lm.chat_id = c.id AND lm.seq = c.last_seq "
	        "WHERE m.tenant_id = ? AND m.user_id = ? AND c.deleted_at IS NULL "
	        "AND (? = 0 OR (m.pinned, activity, c.id) < (?, ?, ?)) "
	        "ORDER BY m.pinned DESC, activity DESC, c.id DESC LIMIT ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, user_id);
	sqlite3_bind_int(st, 3, after && after->set ? 1 : 0);
	sqlite3_bind_int(st, 4, after ? after->pinned : 0);
	sqlite3_bind_int64(st, 5, after ? after->activity : 0);
	sqlite3_bind_int64(st, 6, after ? after->id : 0);
	sqlite3_bind_int(st, 7, limit);
	int rc, r = 0;
	store_chat_row row;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&row, 0, sizeof row);
		read_chat(st, 0, &row.chat);
		read_member(st, CHAT_NCOLS, &row.me);
		int b = CHAT_NCOLS + 7;
		row.last_sender_id = sqlite3_column_int64(st, b);
		row.last_text = col_text(st, b + 1);
		row.last_created_at = sqlite3_column_int64(st, b + 2);
		row.last_deleted = sqlite3_column_type(st, b + 3) != SQLITE_NULL;
		row.has_last = sqlite3_column_int(st, b + 4) != 0;
		row.unread = row.chat.last_seq - row.me.last_read_seq;
		if (row.unread < 0)
			row.unread = 0;
		if ((r = fn(ud, &row)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

/* ---- messages ------------------------------------------------------------------------ */

#define MSG_COLS                                                                                                       \
	"m.id, m.chat_id, m.seq, coalesce(m.sender_id, 0), m.kind, m.title, m.body, m.client_id, "                     \
	"coalesce(m.reply_to, 0), m.extra, m.created_at, coalesce(m.edited_at, 0), coalesce(m.deleted_at, 0), "        \
	"coalesce(m.sent_at, 0)"

static void read_msg(sqlite3_stmt *st, store_msg *m)
{
	m->id = sqlite3_column_int64(st, 0);
	m->chat_id = sqlite3_column_int64(st, 1);
	m->seq = sqlite3_column_int64(st, 2);
	m->sender_id = sqlite3_column_int64(st, 3);
	m->kind = col_text(st, 4);
	m->title = col_text(st, 5);
	m->body = col_text(st, 6);
	m->client_id = col_text(st, 7);
	m->reply_to = sqlite3_column_int64(st, 8);
	m->extra = col_text(st, 9);
	m->created_at = sqlite3_column_int64(st, 10);
	m->edited_at = sqlite3_column_int64(st, 11);
	m->deleted_at = sqlite3_column_int64(st, 12);
	m->sent_at = sqlite3_column_int64(st, 13);
}

int store_msg_insert(store_conn *c, int64_t tenant_id, store_msg *m)
{
	/* The chat's next seq: an UPDATE, then a point read of the row it
	 * changed. Not UPDATE … RETURNING: SQLite collects RETURNING rows in an
	 * ephemeral table, and opening one per message (a pager and page cache
	 * allocated and freed) cost more than the second statement. */
	static const char bump[] = "UPDATE chats SET last_seq = last_seq + 1, last_message_at = ?, updated_at = ? "
	                           "WHERE tenant_id = ? AND id = ?";
	static const char seq[] = "SELECT last_seq FROM chats WHERE id = ?";
	static const char ins[] =
	        "INSERT INTO messages(tenant_id, chat_id, seq, sender_id, kind, title, body, client_id, reply_to, "
	        "extra, created_at) VALUES (?,?,?,nullif(?, 0),?,?,?,?,nullif(?, 0),?,?)";
	sqlite3_stmt *st = sq_cached(c, bump);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, m->created_at);
	sqlite3_bind_int64(st, 2, m->created_at);
	sqlite3_bind_int64(st, 3, tenant_id);
	sqlite3_bind_int64(st, 4, m->chat_id);
	int rc = sq_step_done(c, st);
	if (rc != 0)
		return rc;
	if (sqlite3_changes(c->db) == 0)
		return HERR_NOT_FOUND;
	if (!(st = sq_cached(c, seq)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, m->chat_id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
	}
	m->seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (!(st = sq_cached(c, ins)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, m->chat_id);
	sqlite3_bind_int64(st, 3, m->seq);
	sqlite3_bind_int64(st, 4, m->sender_id);
	sqlite3_bind_text(st, 5, m->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, m->title ? m->title : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, m->body, -1, SQLITE_STATIC);
	sq_bind_opt_text(st, 8, m->client_id);
	sqlite3_bind_int64(st, 9, m->reply_to);
	sq_bind_opt_text(st, 10, m->extra);
	sqlite3_bind_int64(st, 11, m->created_at);
	if ((rc = sq_step_done(c, st)) != 0)
		return rc;
	m->id = sqlite3_last_insert_rowid(c->db);
	return 0;
}

static int msg_one(store_conn *c, sqlite3_stmt *st, store_msg *out)
{
	/* The row's strings stay valid until the statement is next reset,
	 * which happens at its next use: callers copy before reusing c. */
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_msg(st, out);
		return 0;
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? HERR_NOT_FOUND : sq_err(c, rc);
}

int store_msg_get(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t seq, store_msg *out)
{
	static const char sql[] =
	        "SELECT " MSG_COLS " FROM messages m WHERE m.tenant_id = ? AND m.chat_id = ? AND m.seq = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, seq);
	return msg_one(c, st, out);
}

int store_msg_by_client_id(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t sender_id, const char *client_id,
                           store_msg *out)
{
	static const char sql[] = "SELECT " MSG_COLS " FROM messages m WHERE m.tenant_id = ? AND m.chat_id = ? AND "
	                          "coalesce(m.sender_id, 0) = ? AND m.client_id = ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, sender_id);
	sqlite3_bind_text(st, 4, client_id, -1, SQLITE_STATIC);
	return msg_one(c, st, out);
}

int store_msg_edit(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t seq, const char *body, int64_t now)
{
	static const char sql[] = "UPDATE messages SET body = ?, edited_at = ? WHERE tenant_id = ? AND chat_id = ? "
	                          "AND seq = ? AND deleted_at IS NULL";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, body, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, tenant_id);
	sqlite3_bind_int64(st, 4, chat_id);
	sqlite3_bind_int64(st, 5, seq);
	int rc = sq_step_done(c, st);
	return rc == 0 && sqlite3_changes(c->db) == 0 ? HERR_NOT_FOUND : rc;
}

int store_msg_delete(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t seq, int64_t now)
{
	/* Soft: the row stays in the stream as "deleted"; its text goes, so
	 * neither history nor search shows it again. */
	static const char sql[] = "UPDATE messages SET body = '', title = '', extra = NULL, deleted_at = ? "
	                          "WHERE tenant_id = ? AND chat_id = ? AND seq = ? AND deleted_at IS NULL";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, tenant_id);
	sqlite3_bind_int64(st, 3, chat_id);
	sqlite3_bind_int64(st, 4, seq);
	int rc = sq_step_done(c, st);
	return rc == 0 && sqlite3_changes(c->db) == 0 ? HERR_NOT_FOUND : rc;
}

static int msg_walk(store_conn *c, sqlite3_stmt *st, int (*fn)(void *ud, const store_msg *m), void *ud)
{
	int rc, r = 0;
	store_msg m;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_msg(st, &m);
		if ((r = fn(ud, &m)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_msg_page(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t before, int64_t after, int limit,
                   int (*fn)(void *ud, const store_msg *m), void *ud)
{
	static const char older[] = "SELECT " MSG_COLS " FROM messages m WHERE m.tenant_id = ? AND m.chat_id = ? "
	                            "AND m.seq < ? ORDER BY m.seq DESC LIMIT ?";
	static const char newer[] = "SELECT " MSG_COLS " FROM messages m WHERE m.tenant_id = ? AND m.chat_id = ? "
	                            "AND m.seq > ? ORDER BY m.seq ASC LIMIT ?";
	sqlite3_stmt *st = sq_cached(c, before > 0 ? older : newer);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, before > 0 ? before : after);
	sqlite3_bind_int(st, 4, limit);
	return msg_walk(c, st, fn, ud);
}

int store_msg_index(store_conn *c, int limit, int *indexed)
{
	static const char upto_sql[] = "SELECT coalesce(max(id), 0), count(*) FROM (SELECT id FROM messages WHERE id > "
	                               "(SELECT value FROM meta WHERE key = 'fts_indexed') ORDER BY id LIMIT ?)";
	static const char ins_sql[] =
	        "INSERT INTO messages_fts(rowid, body) SELECT id, title || ' ' || body FROM messages "
	        "WHERE id > (SELECT value FROM meta WHERE key = 'fts_indexed') AND id <= ?";
	static const char mark_sql[] = "UPDATE meta SET value = ? WHERE key = 'fts_indexed'";
	*indexed = 0;
	sqlite3_stmt *st = sq_cached(c, upto_sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int(st, 1, limit);
	int rc = sqlite3_step(st);
	int64_t upto = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	int n = rc == SQLITE_ROW ? sqlite3_column_int(st, 1) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return sq_err(c, rc);
	if (n == 0)
		return 0;
	if (!(st = sq_cached(c, ins_sql)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, upto);
	if ((rc = sq_step_done(c, st)) != 0)
		return rc;
	if (!(st = sq_cached(c, mark_sql)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, upto);
	if ((rc = sq_step_done(c, st)) != 0)
		return rc;
	*indexed = n;
	return 0;
}

int store_msg_search(store_conn *c, int64_t tenant_id, int64_t user_id, const char *fts_query, int limit,
                     int (*fn)(void *ud, const store_msg *m), void *ud)
{
	static const char mine[] =
	        "SELECT " MSG_COLS " FROM messages_fts f JOIN messages m ON m.id = f.rowid "
	        "JOIN chats ch ON ch.id = m.chat_id "
	        "WHERE messages_fts MATCH ? AND m.tenant_id = ? AND m.deleted_at IS NULL AND ch.deleted_at IS NULL "
	        "AND m.chat_id IN (SELECT chat_id FROM chat_members WHERE tenant_id = ? AND user_id = ?) "
	        "ORDER BY m.id DESC LIMIT ?";
	static const char all[] = "SELECT " MSG_COLS " FROM messages_fts f JOIN messages m ON m.id = f.rowid "
	                          "JOIN chats ch ON ch.id = m.chat_id "
	                          "WHERE messages_fts MATCH ? AND m.tenant_id = ? AND m.deleted_at IS NULL "
	                          "AND ch.deleted_at IS NULL AND ? = ? ORDER BY m.id DESC LIMIT ?";
	sqlite3_stmt *st = sq_cached(c, user_id ? mine : all);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_text(st, 1, fts_query, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, tenant_id);
	sqlite3_bind_int64(st, 3, tenant_id);
	sqlite3_bind_int64(st, 4, user_id ? user_id : tenant_id);
	sqlite3_bind_int(st, 5, limit);
	return msg_walk(c, st, fn, ud);
}

/* ---- events ---------------------------------------------------------------------------- */

int store_event_append(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t user_id, const char *type,
                       const char *payload, int64_t now, int64_t *id)
{
	static const char sql[] = "INSERT INTO events(tenant_id, chat_id, user_id, type, payload, created_at) "
	                          "VALUES (?, nullif(?, 0), nullif(?, 0), ?, ?, ?)";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, chat_id);
	sqlite3_bind_int64(st, 3, user_id);
	sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, payload, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	int rc = sq_step_done(c, st);
	if (rc == 0)
		*id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

int sq_walk_events(store_conn *c, sqlite3_stmt *st, int (*fn)(void *ud, const store_event *e), void *ud)
{
	int rc, r = 0;
	store_event e;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		e.id = sqlite3_column_int64(st, 0);
		e.chat_id = sqlite3_column_int64(st, 1);
		e.user_id = sqlite3_column_int64(st, 2);
		e.type = (const char *)sqlite3_column_text(st, 3);
		e.payload = (const char *)sqlite3_column_text(st, 4);
		if ((r = fn(ud, &e)) != 0)
			break;
	}
	sqlite3_reset(st);
	return r ? r : rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_event_replay(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t after, int limit,
                       int (*fn)(void *ud, const store_event *e), void *ud)
{
	/* Two index range scans merged by id: the user's own events and those
	 * of every chat they are in now. */
	static const char sql[] =
	        "SELECT id, coalesce(chat_id, 0), coalesce(user_id, 0), type, payload FROM events "
	        "WHERE tenant_id = ? AND id > ? AND (user_id = ? OR chat_id IN "
	        "(SELECT chat_id FROM chat_members WHERE tenant_id = ? AND user_id = ?)) ORDER BY id LIMIT ?";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, tenant_id);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int64(st, 3, user_id);
	sqlite3_bind_int64(st, 4, tenant_id);
	sqlite3_bind_int64(st, 5, user_id);
	sqlite3_bind_int(st, 6, limit);
	return sq_walk_events(c, st, fn, ud);
}

int store_event_bounds(store_conn *c, int64_t *max_id, int64_t *floor)
{
	static const char sql[] = "SELECT coalesce((SELECT max(id) FROM events), 0), "
	                          "coalesce((SELECT value FROM meta WHERE key = 'events_floor'), 0)";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*max_id = sqlite3_column_int64(st, 0);
		*floor = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : sq_err(c, rc);
}

/* created_at of the first event with id >= id (0 when none). */
static int event_time_at(store_conn *c, int64_t id, int64_t *created, int64_t *found_id)
{
	static const char sql[] = "SELECT id, created_at FROM events WHERE id >= ? ORDER BY id LIMIT 1";
	sqlite3_stmt *st = sq_cached(c, sql);
	if (!st)
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	*found_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	*created = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_err(c, rc);
}

int store_event_prune(store_conn *c, int64_t before_ms, int64_t keep_last, int64_t *deleted)
{
	static const char bounds_sql[] = "SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM events";
	static const char del_sql[] = "DELETE FROM events WHERE id <= ?";
	static const char floor_sql[] = "INSERT INTO meta(key, value) VALUES ('events_floor', ?) "
	                                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)";
	*deleted = 0;
	/* The newest event always stays: ids continue from the highest row,
	 * so an emptied table would restart positions below the floor. */
	if (keep_last < 1)
		keep_last = 1;
	sqlite3_stmt *st = sq_cached(c, bounds_sql);
	if (!st)
		return HERR_STORAGE;
	int rc = sqlite3_step(st);
	int64_t lo = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	int64_t hi = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return sq_err(c, rc);
	int64_t limit = hi - keep_last; /* the highest id that may go */
	if (lo == 0 || limit < lo)
		return 0;
	/* Event times grow with ids, so the last id older than before_ms is
	 * found by bisection over primary-key lookups (no time index to keep
	 * up on every insert). */
	int64_t cut = lo - 1;
	int64_t a = lo, b = limit;
	while (a <= b) {
		int64_t mid = a + (b - a) / 2, at = 0, id = 0;
		if ((rc = event_time_at(c, mid, &at, &id)) != 0)
			return rc;
		if (id && id <= limit && at < before_ms) {
			cut = id;
			a = id + 1;
		} else {
			b = mid - 1;
		}
	}
	if (cut < lo)
		return 0;
	if (!(st = sq_cached(c, del_sql)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, cut);
	if ((rc = sq_step_done(c, st)) != 0)
		return rc;
	*deleted = sqlite3_changes(c->db);
	if (!(st = sq_cached(c, floor_sql)))
		return HERR_STORAGE;
	sqlite3_bind_int64(st, 1, cut);
	return sq_step_done(c, st);
}
