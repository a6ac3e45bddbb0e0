/*
 * store.h — the storage interface. Everything herald keeps goes through here.
 *
 * The interface speaks of tenants, users, chats and messages, never of SQL or
 * of a particular database: the SQLite backend (store/sqlite/) implements it
 * now and a PostgreSQL backend can implement the same functions later.
 *
 * Threads. The event loop never touches the database. Work is packaged as a
 * *job*: a function that runs on a storage thread with a store_conn, plus a
 * completion that runs back on the loop.
 *  - store_write(): the job runs on the single writer thread. The writer takes
 *    every job queued so far, runs each inside its own savepoint of one
 *    transaction, commits once (fsync'd) and only then completes them all:
 *    group commit, so many requests share one fsync and each is acknowledged
 *    only when durable. A job returning < 0 is rolled back alone; the others
 *    in the batch still commit. Nothing is ever half-written.
 *  - store_read(): the job runs on a reader thread (libuv's pool) in a read
 *    transaction, concurrent with the writer (SQLite WAL).
 *  - store_run(): runs a write job synchronously on the calling thread (for
 *    the command line, where there is no loop).
 *
 * Tenancy. Every function that reads or writes tenant data takes the tenant
 * id and filters by it; there is no call that can reach another tenant's row.
 *
 * Strings in result structs are fixed-size copies (limits below) or, for
 * message text, pointers valid only during the row callback.
 */
#ifndef HERALD_STORE_STORE_H
#define HERALD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define STORE_INN_MAX         13   /* 12 digits + NUL */
#define STORE_NAME_MAX        1024 /* bytes incl. NUL (names are ≤ 256 characters) */
#define STORE_STAFF_ID_MAX    24   /* digits + NUL */
#define STORE_PHONE_MAX       17   /* E.164 + NUL */
#define STORE_DEVICE_MAX      16   /* "android", "apple" */
#define STORE_EXTERNAL_ID_MAX 129
#define STORE_TOKEN_HASH      32

typedef struct store store;
typedef struct store_conn store_conn;

typedef int (*store_job_fn)(store_conn *c, void *arg);
typedef void (*store_done_fn)(void *arg, int rc);

typedef struct store_stats {
	uint64_t commits;       /* write transactions committed */
	uint64_t jobs;          /* write jobs run */
	uint64_t batch_hist[8]; /* batches of size 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64-127, 128+ */
	uint64_t batch_sum;     /* sum of batch sizes (= jobs in committed batches) */
	uint64_t commit_errors;
} store_stats;

#define STORE_BATCH_BUCKETS 8

/* Upper bounds of the batch histogram buckets (the last is +Inf). */
extern const unsigned store_batch_bounds[STORE_BATCH_BUCKETS];

/* ---- lifecycle ------------------------------------------------------------ */

typedef struct store_open_options {
	const char *data_dir; /* created if missing */
	bool migrate;         /* bring the schema to this binary's version */
	bool read_only_check; /* fail unless the schema is exactly current (no migration) */
} store_open_options;

/* Opens the database under data_dir. Errors: HERR_IO (cannot create/open),
 * HERR_SCHEMA_TOO_NEW (written by a newer herald), HERR_STORAGE. err is filled. */
int store_open(const store_open_options *opt, store **out, char *err, size_t err_size);

/* Human name of the backend and where it keeps data, e.g. "sqlite data/herald.db". */
const char *store_describe(const store *s);

/* Schema version found on open and the one this binary brings. */
void store_schema_versions(const store *s, int *found, int *current);

/* Starts the writer thread and routes completions to the loop. */
int store_attach_loop(store *s, uv_loop_t *loop);

/* Finishes every queued write (committing it), stops the writer, closes all
 * connections. Completions still pending run on the loop first if the loop
 * is running; call from the loop thread. */
void store_close(store *s);

/* Writes a consistent copy of the whole database to path (online). */
int store_backup(store *s, const char *path, char *err, size_t err_size);

/* ---- jobs ------------------------------------------------------------------ */

void store_write(store *s, store_job_fn run, store_done_fn done, void *arg);
void store_read(store *s, store_job_fn run, store_done_fn done, void *arg);
int store_run(store *s, store_job_fn run, void *arg);

void store_get_stats(store *s, store_stats *out);

/* Cheap round trip through a reader (readiness probe). */
int store_ping(store_conn *c);

/* ---- tenants --------------------------------------------------------------- */

typedef struct store_tenant {
	int64_t id;
	char inn[STORE_INN_MAX];
	char short_name[STORE_NAME_MAX];
	char full_name[STORE_NAME_MAX];
	int64_t created_at;
} store_tenant;

/* Inserts; sets t->id. HERR_TENANT_EXISTS when the INN is taken. */
int store_tenant_insert(store_conn *c, store_tenant *t, const char *password_hash,
                        const uint8_t token_hash[STORE_TOKEN_HASH]);
int store_tenant_by_inn(store_conn *c, const char *inn, store_tenant *out);
int store_tenant_by_id(store_conn *c, int64_t id, store_tenant *out);
/* Looks the token hash up; HERR_NOT_FOUND if no tenant has it. */
int store_tenant_by_token(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH], store_tenant *out);
int store_tenant_set_token(store_conn *c, int64_t tenant_id, const uint8_t token_hash[STORE_TOKEN_HASH]);
int store_tenant_set_password(store_conn *c, int64_t tenant_id, const char *password_hash);
int store_tenant_list(store_conn *c, int (*fn)(void *ud, const store_tenant *t), void *ud);

/* ---- users (employees, "staff") -------------------------------------------- */

typedef struct store_user {
	int64_t id;
	int64_t tenant_id;
	char staff_id[STORE_STAFF_ID_MAX];
	char external_id[STORE_EXTERNAL_ID_MAX]; /* "" when none */
	char name[STORE_NAME_MAX];
	char phone[STORE_PHONE_MAX];   /* "" when none */
	char device[STORE_DEVICE_MAX]; /* "" when none */
	bool mailing;                  /* in the mailings (notifications on) */
	int64_t created_at;
	int64_t updated_at;
} store_user;

/* Inserts; sets u->id; a staff_id of "" gets a fresh random 10-digit id. */
int store_user_insert(store_conn *c, store_user *u);
/* Updates name, phone, device, mailing, external_id and updated_at. */
int store_user_update(store_conn *c, const store_user *u);
int store_user_by_id(store_conn *c, int64_t tenant_id, int64_t id, store_user *out);
int store_user_by_staff_id(store_conn *c, int64_t tenant_id, const char *staff_id, store_user *out);
int store_user_by_phone(store_conn *c, int64_t tenant_id, const char *phone, store_user *out);
int store_user_list(store_conn *c, int64_t tenant_id, int (*fn)(void *ud, const store_user *u), void *ud);
/* Deletes the user and everything that is theirs: inbox chat and its
 * messages, messages they sent, devices, sessions, SMS codes, memberships. */
int store_user_delete(store_conn *c, int64_t tenant_id, int64_t user_id);

/* ---- devices (push targets) ------------------------------------------------ */

/* Makes token the user's only device of this kind ("fcm", "apns"); a token
 * that belonged to another user of the tenant moves to this one. */
int store_device_set(store_conn *c, int64_t tenant_id, int64_t user_id, const char *kind, const char *token,
                     int64_t now);
int store_device_count(store_conn *c, int64_t tenant_id, int64_t user_id, int *out);

typedef struct store_device {
	int64_t id;
	char kind[16];     /* "fcm", "apns", "webpush" */
	const char *token; /* webpush: the endpoint URL; valid during the callback */
	int64_t created_at, updated_at, dead_at;
} store_device;

/* Registers a Web Push subscription for the user (a subscription that
 * belonged to someone else of the tenant moves); keys are base64url. */
int store_device_put_webpush(store_conn *c, int64_t tenant_id, int64_t user_id, const char *endpoint,
                             const char *p256dh, const char *auth, int64_t now);
/* Removes one of the user's devices by kind and token; HERR_NOT_FOUND if not theirs. */
int store_device_remove(store_conn *c, int64_t tenant_id, int64_t user_id, const char *kind, const char *token);
int store_device_list(store_conn *c, int64_t tenant_id, int64_t user_id, int (*fn)(void *ud, const store_device *d),
                      void *ud);

/* ---- sessions (user tokens) ------------------------------------------------ */

int store_session_insert(store_conn *c, int64_t tenant_id, int64_t user_id, const uint8_t token_hash[STORE_TOKEN_HASH],
                         int64_t now, int64_t expires_at);
/* Finds a live session; HERR_NOT_FOUND when unknown or expired. */
int store_session_lookup(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH], int64_t now, int64_t *tenant_id,
                         int64_t *user_id);
struct store_user_ext;
/* The same, with the session's user (both parts) and its tenant's INN in one
 * query: what every request of a signed-in user resolves first. */
int store_session_user(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH], int64_t now, store_user *u,
                       struct store_user_ext *x, char inn[STORE_INN_MAX]);

/* ---- SMS codes ------------------------------------------------------------- */

typedef struct store_sms_code {
	int64_t id;
	int64_t tenant_id;
	int64_t user_id;
	uint8_t code_hash[STORE_TOKEN_HASH];
	int64_t created_at;
	int64_t expires_at;
	int64_t used_at; /* 0 when unused */
	int attempts;
} store_sms_code;

int store_sms_code_insert(store_conn *c, store_sms_code *code);
/* The newest code of a user; HERR_NOT_FOUND if none. */
int store_sms_code_latest(store_conn *c, int64_t tenant_id, int64_t user_id, store_sms_code *out);
int store_sms_code_update(store_conn *c, const store_sms_code *code);
/* Codes sent to a user since a time, the newest creation time, and the wrong
 * attempts made on them. */
int store_sms_code_stats(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t since, int *sent, int64_t *newest,
                         int *failed_attempts);

/* ---- chats and messages ---------------------------------------------------- */

/* The user's inbox chat (where host notifications land), created on demand. */
int store_inbox_ensure(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t now, int64_t *chat_id);
/* The inbox chat id, or HERR_NOT_FOUND when the user has none yet. */
int store_inbox_find(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t *chat_id);

typedef struct store_message {
	int64_t id;
	int64_t tenant_id;
	int64_t chat_id;
	int64_t seq;       /* per-chat, increasing */
	int64_t sender_id; /* 0 = the host system */
	const char *kind;  /* "notification", "text", "system" */
	const char *title; /* may be "" */
	const char *body;
	int64_t created_at;
	int64_t sent_at; /* 0 = not yet handed to a push service */
} store_message;

/* Inserts a message; assigns id and the chat's next seq. */
int store_message_insert(store_conn *c, store_message *m);

typedef struct store_message_query {
	int64_t tenant_id;
	int64_t chat_id;
	int64_t created_min; /* inclusive; INT64_MIN for none */
	int64_t created_max; /* inclusive; INT64_MAX for none */
	int limit;
} store_message_query;

/* Messages newest first; the row's strings are valid during the callback only.
 * A callback returning non-zero stops the walk and that value is returned. */
int store_message_list(store_conn *c, const store_message_query *q, int (*fn)(void *ud, const store_message *m),
                       void *ud);

/* ---- team chat (schema 2) ------------------------------------------------------ */

#define STORE_ROLES_MAX 545 /* up to 16 roles of 32 bytes, comma-separated */
#define STORE_URL_MAX   1025
#define STORE_TEXT_MAX  16384 /* bytes of a chat message (4000 characters of up to 4 bytes) */
#define STORE_REF_MAX   129

/* The user's public id: external_id when the host set one, else "staff-<staff_id>". */
void store_user_public_id(const store_user *u, char out[STORE_EXTERNAL_ID_MAX + 8]);

typedef struct store_user_ext {
	char avatar_url[STORE_URL_MAX];
	char roles[STORE_ROLES_MAX]; /* comma-separated tenant roles */
	bool active;
} store_user_ext;

int store_user_ext_get(store_conn *c, int64_t tenant_id, int64_t user_id, store_user_ext *out);
int store_user_ext_set(store_conn *c, int64_t tenant_id, int64_t user_id, const store_user_ext *ext);
int store_user_by_external_id(store_conn *c, int64_t tenant_id, const char *external_id, store_user *out);
/* Users of a tenant in id order after `after_id` (cursor), at most limit. */
int store_user_page(store_conn *c, int64_t tenant_id, int64_t after_id, int limit,
                    int (*fn)(void *ud, const store_user *u, const store_user_ext *x), void *ud);
/* Active users of a tenant whose name or public id contains q (any case;
 * "" = all), in (name, id) order after the user after_id (0: from the
 * start), at most limit. */
int store_user_directory(store_conn *c, int64_t tenant_id, const char *q, int64_t after_id, int limit,
                         int (*fn)(void *ud, const store_user *u, const store_user_ext *x), void *ud);
/* Ends every session of the user (deactivation, rotation). */
int store_session_delete_user(store_conn *c, int64_t tenant_id, int64_t user_id);

/* Per-tenant JWT secret (32 bytes); HERR_NOT_FOUND when none was set yet. */
int store_tenant_jwt_secret(store_conn *c, int64_t tenant_id, uint8_t out[32]);
int store_tenant_set_jwt_secret(store_conn *c, int64_t tenant_id, const uint8_t secret[32]);

typedef struct store_chat {
	int64_t id;
	int64_t tenant_id;
	char kind[16]; /* "group", "direct", "inbox" */
	int64_t owner_id;
	char title[STORE_NAME_MAX];
	char description[STORE_NAME_MAX * 2];
	char avatar_url[STORE_URL_MAX];
	char ref_type[STORE_REF_MAX]; /* "" when none */
	char ref_id[STORE_REF_MAX];
	int64_t last_seq;
	int64_t last_message_at; /* 0 = no message yet */
	int64_t created_at;
	int64_t updated_at;
	int64_t deleted_at; /* 0 = live */
} store_chat;

/* Inserts; sets id. direct_key ("a:b", lower id first) for direct chats, else NULL.
 * HERR_CONFLICT when the reference or direct pair exists. */
int store_chat_insert(store_conn *c, store_chat *chat, const char *direct_key);
int store_chat_get(store_conn *c, int64_t tenant_id, int64_t chat_id, store_chat *out);
int store_chat_by_ref(store_conn *c, int64_t tenant_id, const char *ref_type, const char *ref_id, store_chat *out);
int store_chat_by_direct_key(store_conn *c, int64_t tenant_id, const char *direct_key, store_chat *out);
/* Writes title, description, avatar_url, deleted_at and updated_at. */
int store_chat_update(store_conn *c, const store_chat *chat);

typedef struct store_member {
	int64_t chat_id;
	int64_t user_id;
	char role[16]; /* "owner", "admin", "member", "reader" */
	int64_t last_read_seq;
	bool pinned;
	bool muted;
	int64_t joined_at;
} store_member;

int store_member_get(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t user_id, store_member *out);
/* Inserts or updates the role (keeps read position, pin and mute). */
int store_member_put(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t user_id, const char *role, int64_t now);
int store_member_remove(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t user_id);
/* Sets last_read_seq (only forward), pinned and muted. */
int store_member_update(store_conn *c, int64_t tenant_id, const store_member *m);
int store_member_list(store_conn *c, int64_t tenant_id, int64_t chat_id,
                      int (*fn)(void *ud, const store_member *m, const store_user *u), void *ud);
int store_member_count(store_conn *c, int64_t tenant_id, int64_t chat_id, int *out);
/* Chat ids a user belongs to (deleted chats included). */
int store_member_chats(store_conn *c, int64_t tenant_id, int64_t user_id, int (*fn)(void *ud, int64_t chat_id),
                       void *ud);

typedef struct store_chat_row {
	store_chat chat;
	store_member me;
	int64_t unread;
	bool has_last;
	int64_t last_sender_id;
	const char *last_text; /* valid during the callback */
	int64_t last_created_at;
	bool last_deleted;
} store_chat_row;

typedef struct store_chat_cursor {
	bool set;
	int pinned;
	int64_t activity;
	int64_t id;
} store_chat_cursor;

/* The user's chats: pinned first, then by last activity, newest first. */
int store_chat_list(store_conn *c, int64_t tenant_id, int64_t user_id, const store_chat_cursor *after, int limit,
                    int (*fn)(void *ud, const store_chat_row *r), void *ud);

typedef struct store_msg {
	int64_t id;
	int64_t chat_id;
	int64_t seq;
	int64_t sender_id; /* 0 = the host system */
	const char *kind;
	const char *title;
	const char *body;
	const char *client_id; /* NULL when none */
	int64_t reply_to;      /* seq, 0 = none */
	const char *extra;     /* JSON or NULL: {"mentions":[…],"attachments":[…]} */
	int64_t created_at;
	int64_t edited_at;
	int64_t deleted_at;
	int64_t sent_at;
} store_msg;

/* Inserts a chat message; assigns id and seq; HERR_CONFLICT when (sender, client_id) exists. */
int store_msg_insert(store_conn *c, int64_t tenant_id, store_msg *m);
/* Finds one message; strings valid until the next call on c. */
int store_msg_get(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t seq, store_msg *out);
int store_msg_by_client_id(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t sender_id, const char *client_id,
                           store_msg *out);
int store_msg_edit(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t seq, const char *body, int64_t now);
int store_msg_delete(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t seq, int64_t now);

/* History by seq: before > 0 → seq < before, newest first; else seq > after, oldest first. */
int store_msg_page(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t before, int64_t after, int limit,
                   int (*fn)(void *ud, const store_msg *m), void *ud);

/* Adds messages not yet in the search index (at most limit, oldest first);
 * *indexed receives how many. Search runs it first, and a timer keeps the
 * backlog short, so inserting a message never pays for indexing it. */
int store_msg_index(store_conn *c, int limit, int *indexed);

/* Full-text search over the live messages of the chats the user belongs to
 * (all chats of the tenant when user_id is 0). */
int store_msg_search(store_conn *c, int64_t tenant_id, int64_t user_id, const char *fts_query, int limit,
                     int (*fn)(void *ud, const store_msg *m), void *ud);

/* ---- the event log ------------------------------------------------------------ */

/* Appends an event for a chat's members (chat_id) or one user (user_id);
 * returns its id, which is the stream position `pos`. */
int store_event_append(store_conn *c, int64_t tenant_id, int64_t chat_id, int64_t user_id, const char *type,
                       const char *payload, int64_t now, int64_t *id);

typedef struct store_event {
	int64_t id;
	int64_t chat_id;
	int64_t user_id;
	const char *type;
	const char *payload;
} store_event;

/* Events after pos that the user may see, in order, at most limit. */
int store_event_replay(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t after, int limit,
                       int (*fn)(void *ud, const store_event *e), void *ud);
/* Highest event id so far (0 when none) and the floor below which events were pruned. */
int store_event_bounds(store_conn *c, int64_t *max_id, int64_t *floor);
/* Deletes events older than before_ms while keeping at least keep_last; raises the floor. */
int store_event_prune(store_conn *c, int64_t before_ms, int64_t keep_last, int64_t *deleted);

/* ---- topics (live business events) ---------------------------------------------- */

#define STORE_TOPIC_MAX         65
#define STORE_TOPIC_MEMBERS_MAX 8192

typedef struct store_topic {
	char name[STORE_TOPIC_MAX];
	char rule[16];                         /* "tenant", "roles", "users" */
	char members[STORE_TOPIC_MEMBERS_MAX]; /* comma-separated roles or user ids */
	int keep;                              /* events kept for resume */
	int64_t last_seq;
	int64_t created_at;
} store_topic;

int store_topic_put(store_conn *c, int64_t tenant_id, const store_topic *t);
int store_topic_get(store_conn *c, int64_t tenant_id, const char *name, store_topic *out);
/* Appends an event (next seq) and drops those beyond the topic's keep. */
int store_topic_publish(store_conn *c, int64_t tenant_id, const char *name, const char *payload, int64_t now,
                        int64_t *seq);
int store_topic_events(store_conn *c, int64_t tenant_id, const char *name, int64_t after, int limit,
                       int (*fn)(void *ud, int64_t seq, const char *payload, int64_t created_at), void *ud);

/* ---- files (attachments) ------------------------------------------------------------ */

typedef struct store_file {
	char id[32];
	int64_t tenant_id;
	int64_t uploader_id; /* 0 = the host system */
	char name[256];
	char mime[64];
	int64_t size;
	int width, height; /* 0 when not an image */
	int64_t created_at;
} store_file;

int store_file_insert(store_conn *c, const store_file *f);
int store_file_get(store_conn *c, int64_t tenant_id, const char *id, store_file *out);
/* Records that a chat's message references the file (who may download it). */
int store_file_ref(store_conn *c, int64_t tenant_id, const char *file_id, int64_t chat_id);
/* Whether the user uploaded the file or is a member of a chat referencing it. */
int store_file_visible(store_conn *c, int64_t tenant_id, const char *file_id, int64_t user_id, bool *visible);

/* ---- webhooks ------------------------------------------------------------------------ */

typedef struct store_webhook {
	int64_t tenant_id;
	char url[STORE_URL_MAX];
	char secret[64];
	int64_t cursor; /* last event pos delivered */
	int64_t created_at;
} store_webhook;

int store_webhook_put(store_conn *c, const store_webhook *w);
int store_webhook_get(store_conn *c, int64_t tenant_id, store_webhook *out);
int store_webhook_delete(store_conn *c, int64_t tenant_id);
/* Moves the cursor forward only. */
int store_webhook_advance(store_conn *c, int64_t tenant_id, int64_t cursor);
int store_webhook_list(store_conn *c, int (*fn)(void *ud, const store_webhook *w), void *ud);
/* Every event of a tenant after pos, in order (the webhook feed). */
int store_event_tenant(store_conn *c, int64_t tenant_id, int64_t after, int limit,
                       int (*fn)(void *ud, const store_event *e), void *ud);

/* ---- deliveries (the push queue) --------------------------------------------------------- */

/* Queues a delivery of a message to every live Web Push device of a user
 * (the inbox) or of a chat's members except the sender and those who muted
 * it. *queued receives how many. */
/* kinds: which device kinds have a configured provider (STORE_PUSH_* bits). */
#define STORE_PUSH_WEBPUSH 1
#define STORE_PUSH_FCM     2
#define STORE_PUSH_APNS    4
int store_delivery_enqueue_user(store_conn *c, int64_t tenant_id, int64_t message_id, int64_t user_id, int64_t now,
                                unsigned kinds, int *queued);
int store_delivery_enqueue_chat(store_conn *c, int64_t tenant_id, int64_t message_id, int64_t chat_id,
                                int64_t sender_id, int64_t now, unsigned kinds, int *queued);

typedef struct store_due {
	int64_t id, tenant_id, message_id, chat_id, seq, device_id, user_id;
	int attempts;
	bool urgent;
	bool notification;                        /* an inbox message (from the ERP), not chat traffic */
	bool has_quiet;                           /* the recipient keeps quiet hours: */
	int quiet_from, quiet_to, quiet_offset;   /* minutes after local midnight; local = UTC + offset minutes */
	const char *kind, *token, *p256dh, *auth; /* the device */
	const char *title, *body;                 /* the message */
	int64_t unread;                           /* the recipient's unread total (the badge) */
} store_due;

/* Queued deliveries to devices of one kind ("webpush", "fcm", "apns") whose
 * time has come, oldest first, skipping ids for which skip(ud, id) is true
 * (those being sent right now). */
int store_delivery_due(store_conn *c, const char *kind, int64_t now, int limit, bool (*skip)(void *ud, int64_t id),
                       int (*fn)(void *ud, const store_due *d), void *ud);

typedef enum store_delivery_outcome {
	STORE_SENT,   /* the push service accepted it */
	STORE_RETRY,  /* try again at next_try (counts an attempt) */
	STORE_DEAD,   /* the device is dead: the delivery failed and the device is marked */
	STORE_FAILED, /* gave up */
	STORE_HOLD,   /* not now (quiet hours): wait until next_try, no attempt counted */
	STORE_LIVE    /* the user took it over a live connection: delivered, no push */
} store_delivery_outcome;

/* Records a provider's answer: sent (and the message's send date), retry at
 * next_try, dead (the device is marked dead too) or failed. */
int store_delivery_result(store_conn *c, int64_t id, store_delivery_outcome outcome, const char *reason,
                          int64_t next_try, int64_t now);

typedef struct store_delivery {
	int64_t id, user_id;
	const char *kind, *status, *reason;
	int attempts;
	int64_t queued_at, sent_at, delivered_at, read_at, failed_at;
} store_delivery;

/* The device confirmed a push (its app or service worker, or a live
 * connection): queued or sent → delivered. Only the recipient may; 
 * HERR_NOT_FOUND for anyone else's delivery. */
int store_delivery_delivered(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t delivery_id, int64_t now);
/* A read receipt up to seq in a chat marks the user's deliveries of those
 * messages read. */
int store_delivery_read(store_conn *c, int64_t tenant_id, int64_t user_id, int64_t chat_id, int64_t seq, int64_t now);

int store_delivery_list(store_conn *c, int64_t tenant_id, int64_t message_id,
                        int (*fn)(void *ud, const store_delivery *d), void *ud);

/* ---- urgent messages, SMS fallback, quiet hours (sqlite/push.c) ---------------------------- */

/* Marks a message urgent and queues its SMS fallback at due_at: for user_id
 * (an inbox message) or, when user_id is 0, for every member of the chat
 * but the sender. Only users with a phone get a row. *queued: how many. */
int store_sms_fallback_add(store_conn *c, int64_t tenant_id, int64_t message_id, int64_t chat_id, int64_t sender_id,
                           int64_t user_id, int64_t due_at, int *queued);

typedef struct store_sms_due {
	int64_t id, tenant_id, message_id, user_id;
	const char *phone, *title, *body;
	bool delivered; /* a device confirmed it, or the user read it */
} store_sms_due;

int store_sms_due_list(store_conn *c, int64_t now, int limit, int (*fn)(void *ud, const store_sms_due *d), void *ud);
/* status: "sending" (claimed), "sent", "skipped" or "failed"; only a
 * pending or claimed row changes. */
int store_sms_result(store_conn *c, int64_t id, const char *status, const char *reason, int64_t now);
/* After a restart: rows claimed ('sending') whose answer was never recorded
 * are pending again. */
int store_sms_requeue(store_conn *c);

typedef struct store_sms_row {
	int64_t id, user_id, due_at, done_at;
	const char *status, *reason;
} store_sms_row;

int store_sms_list(store_conn *c, int64_t tenant_id, int64_t message_id, int (*fn)(void *ud, const store_sms_row *r),
                   void *ud);

typedef struct store_quiet {
	bool set;
	int from, to, offset; /* minutes: from/to after local midnight, offset = local - UTC */
} store_quiet;

int store_quiet_get(store_conn *c, int64_t tenant_id, int64_t user_id, store_quiet *out);
int store_quiet_set(store_conn *c, int64_t tenant_id, int64_t user_id, const store_quiet *q);

/* ---- the company cabinet (schema 7; sqlite/cabinet.c) ------------------------------------ */

/* The tenant's hashed cabinet password (for verifying a sign-in). */
int store_tenant_password_hash(store_conn *c, int64_t tenant_id, char *out, size_t out_size);
/* The tenant's language ("ru", "en", "de", "pl") and the last characters of
 * its API token ("" when unknown: tokens made before schema 7). */
int store_tenant_cabinet_info(store_conn *c, int64_t tenant_id, char language[8], char token_hint[8]);
/* Changes the short name and/or the language (NULL keeps). */
int store_tenant_cabinet_update(store_conn *c, int64_t tenant_id, const char *short_name, const char *language);
int store_tenant_set_token_hint(store_conn *c, int64_t tenant_id, const char *hint);

/* Cabinet sessions: a tenant's sign-in, not a user's. Inserting also
 * drops the tenant's expired ones. */
int store_cabinet_session_insert(store_conn *c, int64_t tenant_id, const uint8_t token_hash[STORE_TOKEN_HASH],
                                 int64_t now, int64_t expires_at);
/* HERR_NOT_FOUND when unknown or expired. */
int store_cabinet_session_lookup(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH], int64_t now,
                                 int64_t *tenant_id);
int store_cabinet_session_delete(store_conn *c, const uint8_t token_hash[STORE_TOKEN_HASH]);
/* Ends every cabinet session of a tenant (its password changed). */
int store_cabinet_session_delete_tenant(store_conn *c, int64_t tenant_id);

typedef struct store_cabinet_employee {
	store_user user;
	bool active;
	int64_t last_seen; /* last sign-in or push-token registration; 0 = never */
	int64_t activity;  /* the sort key: max(last_seen, updated_at) */
} store_cabinet_employee;

/* The tenant's employees (users without roles or with the role "staff"),
 * newest activity first (then by id, descending). */
int store_cabinet_employees(store_conn *c, int64_t tenant_id, int (*fn)(void *ud, const store_cabinet_employee *e),
                            void *ud);

typedef struct store_cabinet_device {
	int64_t id;
	char kind[16]; /* "fcm", "apns", "webpush" */
	int64_t created_at;
	int64_t last_used_at; /* the token's last registration or the last confirmed delivery */
	int64_t dead_at;
} store_cabinet_device;

int store_cabinet_devices(store_conn *c, int64_t tenant_id, int64_t user_id,
                          int (*fn)(void *ud, const store_cabinet_device *d), void *ud);

/* A message's status over its deliveries: the most advanced one; failed
 * when every delivery failed or there is none. */
enum { STORE_CAB_FAILED = 0, STORE_CAB_QUEUED, STORE_CAB_SENT, STORE_CAB_DELIVERED, STORE_CAB_READ };
typedef enum store_cabinet_sort {
	STORE_CAB_SORT_CREATED,
	STORE_CAB_SORT_STATUS,
	STORE_CAB_SORT_EMPLOYEE,
	STORE_CAB_SORT_TITLE
} store_cabinet_sort;

typedef struct store_cabinet_filter {
	int64_t tenant_id;
	int64_t chat_id;        /* one employee's inbox; 0 = every employee */
	int64_t from_ms, to_ms; /* created_at in [from, to) */
	int status;             /* STORE_CAB_*, or -1 for any */
	store_cabinet_sort sort;
	bool descending;
	int limit; /* < 0: every row */
	int64_t offset;
	int64_t max_total; /* > 0: when more rows match, count them but walk none */
} store_cabinet_filter;

typedef struct store_cabinet_msg {
	int64_t id, chat_id, seq, created_at;
	const char *title, *body; /* valid during the callback */
	bool urgent;
	const char *staff_id, *name, *phone;
	int status;                             /* STORE_CAB_* */
	int64_t sent_at, delivered_at, read_at; /* the first device's; 0 = not yet */
	const char *failed_reason;              /* NULL unless failed */
	int deliveries;
} store_cabinet_msg;

/* The tenant's messages to employees (notifications in their inboxes) that
 * match, in the order asked, one page; *total counts every match. */
int store_cabinet_messages(store_conn *c, const store_cabinet_filter *f, int64_t *total,
                           int (*fn)(void *ud, const store_cabinet_msg *m), void *ud);
/* One of them; HERR_NOT_FOUND when it is not the tenant's message to an employee. */
int store_cabinet_message(store_conn *c, int64_t tenant_id, int64_t id, int (*fn)(void *ud, const store_cabinet_msg *m),
                          void *ud);

typedef struct store_cabinet_delivery {
	store_delivery d;
	int64_t device_id;
	int64_t device_created_at, device_dead_at;
} store_cabinet_delivery;

int store_cabinet_deliveries(store_conn *c, int64_t tenant_id, int64_t message_id,
                             int (*fn)(void *ud, const store_cabinet_delivery *d), void *ud);

typedef struct store_cabinet_day {
	int64_t day; /* days since 1970-01-01 at the asked offset */
	int64_t messages, sent, delivered, read, failed;
} store_cabinet_day;

/* Messages created in [from, to) per day (offset_ms east of UTC), with how
 * many reached sent (or beyond), delivered (or beyond), read, and failed;
 * only days with messages, in order. */
int store_cabinet_stats(store_conn *c, int64_t tenant_id, int64_t from_ms, int64_t to_ms, int64_t offset_ms,
                        int (*fn)(void *ud, const store_cabinet_day *d), void *ud);

#endif
