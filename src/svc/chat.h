/*
 * chat.h — the team-chat service behind /api/v2 and the realtime protocol:
 * who the caller is, what they may do, and what changes. Each call is one
 * storage job; its result is the JSON representation of the resource (the
 * same objects REST returns and realtime events carry), and the events it
 * appended to the event log are handed to the event sink after commit, in
 * commit order, so live delivery and replay agree.
 *
 * svc builds resource JSON (jansson) because a resource's shape is part of
 * the business model: REST bodies and realtime events must never disagree.
 * It still knows nothing of sockets or SQL.
 */
#ifndef HERALD_SVC_CHAT_H
#define HERALD_SVC_CHAT_H

#include <jansson.h>

#include "svc/svc.h"

typedef enum svc_v2_op {
	/* server (tenant token) */
	V2_USER_PUT,        /* path user; body {name, phone?, avatar_url?, roles?, active?} */
	V2_USER_GET,        /* path user */
	V2_USER_LIST,       /* query cursor, limit */
	V2_USER_DEACTIVATE, /* path user */
	V2_SESSION_CREATE,  /* body {user, ttl_seconds?} */
	V2_JWT_ROTATE,      /* → {secret} */
	V2_CHAT_BY_REF_PUT, /* path ref_type, ref_id; body {title, description?, avatar_url?, members:[{user, role}]} */
	V2_CHAT_BY_REF_GET,
	/* both */
	V2_ME,              /* the caller */
	V2_CHAT_CREATE,     /* body {type, title?, description?, avatar_url?, members:[user|{user,role}], ref?} */
	V2_CHAT_LIST,       /* query cursor, limit (server: query user) */
	V2_CHAT_GET,        /* path chat */
	V2_CHAT_PATCH,      /* path chat; body {title?, description?, avatar_url?} */
	V2_CHAT_DELETE,     /* path chat */
	V2_CHAT_RESTORE,    /* path chat */
	V2_MEMBER_LIST,     /* path chat */
	V2_MEMBER_ADD,      /* path chat; body {user, role?} */
	V2_MEMBER_PATCH,    /* path chat, user; body {role} */
	V2_MEMBER_REMOVE,   /* path chat, user */
	V2_SETTINGS,        /* path chat; body {pinned?, muted?} */
	V2_MSG_POST,        /* path chat; body {text, client_id?, reply_to?, attachments?, (server) sender?, title?} */
	V2_MSG_PAGE,        /* path chat; query before|after, limit */
	V2_MSG_PATCH,       /* path chat, seq; body {text} */
	V2_MSG_DELETE,      /* path chat, seq */
	V2_READ,            /* path chat; body {seq} */
	V2_READS,           /* path chat, seq */
	V2_SEARCH,          /* query q, limit */
	V2_TOPIC_PUT,       /* (server) path topic; body {access, roles?, users?, keep?} */
	V2_TOPIC_PUBLISH,   /* (server) path topic; body {data} */
	V2_TOPIC_EVENTS,    /* path topic; query after, limit */
	V2_TOPIC_SUBSCRIBE, /* realtime: path topic, pos = after → events since */
	V2_FILE_UPLOAD,     /* upload bytes, query name → writes the file, then V2_FILE_COMMIT */
	V2_FILE_COMMIT,     /* (chained) records the file */
	V2_FILE_GET,        /* path file → bytes and type */
	V2_WEBHOOK_PUT,     /* (server) body {url} → {url, secret} */
	V2_WEBHOOK_GET,     /* (server) */
	V2_WEBHOOK_DELETE,  /* (server) */
	V2_PUSH_SUBSCRIBE,  /* (user) body {endpoint, keys:{p256dh, auth}}: a Web Push subscription */
	V2_PUSH_UNSUBSCRIBE,
	/* (user) body {endpoint} */ V2_PUSH_DEVICES,
	/* (user) the caller's push devices */
	V2_DELIVERIES,     /* path chat, seq: each recipient device's delivery status */
	V2_DELIVERED,      /* (user) path delivery: the device confirms a push */
	V2_QUIET_PUT,      /* (user) body {from "HH:MM", to "HH:MM", utc_offset minutes}: quiet hours */
	V2_QUIET_DELETE,   /* (user) no quiet hours */
	V2_DIRECTORY,      /* (any) query q, cursor, limit: the tenant's active users, for people pickers */
	V2_DEV_USERS,      /* development login: query inn → users (only when enabled) */
	V2_DEV_LOGIN,      /* development login: body {inn, user} → session */
	V2_REPLAY,         /* realtime resume: pos → events */
	V2_SUBSCRIBE_INIT, /* realtime: the caller's chat ids and the stream head */
	/* the company cabinet (svc/cabinet.c); the server caller: the API
	 * token or a cabinet session. Query parameters arrive in k->query. */
	V2_CAB_LOGIN,          /* (anonymous; use svc_cabinet_login) body {inn, password} */
	V2_CAB_LOGIN_COMMIT,   /* (chained) opens the session */
	V2_CAB_LOGOUT,         /* ends the caller's cabinet session */
	V2_CAB_TENANT_GET,     /* → {inn, name, full_name, language, created_at, api_token_hint} */
	V2_CAB_TENANT_PATCH,   /* body {name?, language?} */
	V2_CAB_TOKEN_ROTATE,   /* → {token} */
	V2_CAB_EMPLOYEES,      /* query q, limit, cursor */
	V2_CAB_EMPLOYEE_PATCH, /* query staff_id; body {name?, mailing?} */
	V2_CAB_EMPLOYEE_DELETE,
	V2_CAB_MESSAGES,    /* query employee, from, to, status, sort, order, limit, offset, format, tz_offset */
	V2_CAB_MESSAGE_GET, /* query id */
	V2_CAB_SEND,        /* body {to, title, text, urgent?} */
	V2_CAB_STATS,       /* query from, to, tz_offset */
	V2_OP_COUNT
} svc_v2_op;

/* One event after commit: pos (its id in the log), its audience and the
 * complete frame to send ({"v":1,"type":…,"pos":…,…}). */
typedef struct svc_event {
	int64_t pos;
	int64_t tenant_id;
	int64_t chat_id;      /* audience: the chat's members … */
	int64_t user_id;      /* … or one user */
	int64_t subject_user; /* member_added/removed: who joined or left */
	int64_t ref_chat;     /* the chat the event is about (also for user-audience events) */
	char topic[65];       /* topic events: the topic (pos is 0; seq is per topic) */
	int64_t topic_seq;
	char type[24];
	char *frame;
	size_t frame_len;
} svc_event;

typedef void (*svc_event_sink)(void *ud, const svc_event *e);

typedef struct svc_call svc_call;
typedef void (*svc_call_done)(svc_call *k);

struct svc_call {
	/* in */
	svc_call_done done;
	void *ud;
	herr_lang lang;
	const char *token; /* Authorization value (bare, "Bearer" stripped); owned by the caller */
	json_t *body;      /* borrowed; may be NULL */
	char p_user[STORE_EXTERNAL_ID_MAX + 8];
	char p_ref_type[STORE_REF_MAX];
	char p_ref_id[STORE_REF_MAX];
	int64_t p_chat;
	int64_t p_seq;
	char q_cursor[128];
	char q_user[STORE_EXTERNAL_ID_MAX + 8];
	char q_text[512];
	int64_t q_before, q_after;
	int q_limit;
	int64_t pos; /* V2_REPLAY; V2_TOPIC_SUBSCRIBE: after */
	char p_topic[65];
	int64_t p_delivery;
	char p_file[32];
	const uint8_t *upload; /* V2_FILE_UPLOAD: the bytes (borrowed) */
	size_t upload_len;
	json_t *query;        /* cabinet operations: query and path parameters as strings (borrowed) */
	char remote_addr[64]; /* the client's address (rate limits) */

	/* out */
	int err;
	char err_detail[160];
	int retry_after_s; /* with HERR_RATE_LIMITED */
	int status;        /* 200, or 201 when something was created */
	json_t *result;    /* owned by the call; freed by svc_call_free */
	/* Instead of result: the answer already serialised (a posted message,
	 * written by hand on the writer, which builds no jansson tree for it).
	 * Owned by the call; a caller may take it (and set it to NULL). */
	char *result_json;
	size_t result_json_len;
	bool is_server;
	bool cabinet; /* the server caller signed in through the cabinet (a cabinet session) */
	int64_t tenant_id;
	char tenant_inn[STORE_INN_MAX];
	int64_t user_id; /* 0 for the server */
	char user_public[STORE_EXTERNAL_ID_MAX + 8];
	char user_name[STORE_NAME_MAX];
	int64_t *chat_ids; /* V2_SUBSCRIBE_INIT */
	size_t chat_count;
	int64_t head_pos;  /* V2_SUBSCRIBE_INIT: latest pos; V2_REPLAY: last replayed */
	bool resync;       /* V2_REPLAY: pos is older than the retained window */
	svc_event *events; /* V2_REPLAY: the replayed events (frames) */
	size_t event_count;
	char *file_data; /* V2_FILE_GET: the bytes (owned; freed with the results) */
	size_t file_len;
	char file_mime[64];
	char file_name[256];

	/* private */
	svc *svc_;
	svc_v2_op op_;
	bool write_;
	size_t event_cap_;
	int chain_;                /* an operation to run next (as its own job), or 0 */
	svc_call_done outer_done_; /* svc_cabinet_login: the caller's done */
	char staged_[4096];
};

/* The realtime layer registers where committed events go. */
void svc_set_event_sink(svc *s, svc_event_sink sink, void *ud);

/* Runs an operation; k->done follows on the loop. */
void svc_v2(svc *s, svc_call *k, svc_v2_op op);

/* The cabinet sign-in: checks the limits per INN and per client address
 * (k->remote_addr) first, then runs V2_CAB_LOGIN; k->done follows. */
void svc_cabinet_login(svc *s, svc_call *k);

/* Frees results and events (not the caller's inputs). */
void svc_call_free_results(svc_call *k);

/* Push deliveries (svc/delivery.c): the dispatcher of the durable push
 * queue and of the SMS fallback of urgent messages. */
struct webpush_vapid;
struct fcm_client;
struct apns_client;
struct hbuf;

/* Whether a user with a live realtime connection still gets pushes. */
typedef enum svc_push_online {
	SVC_PUSH_ONLINE_NONE,   /* no push while a connection is live (default) */
	SVC_PUSH_ONLINE_PHONES, /* phones (FCM, APNs) always; browsers only when offline */
	SVC_PUSH_ONLINE_ALL     /* every device, always */
} svc_push_online;

enum { SVC_PUSH_WEBPUSH, SVC_PUSH_FCM, SVC_PUSH_APNS, SVC_PUSH_KINDS };

typedef struct svc_push_options {
	const struct webpush_vapid *vapid; /* must outlive the dispatcher */
	const char *subject;               /* VAPID contact (mailto: or https:), may be NULL */
	bool allow_private;                /* Web Push endpoints may be private addresses */
	/* Clients for Android and iOS devices registered through
	 * /api/v1/updatepushtoken (may be NULL); closed by svc_deliveries_stop. */
	struct fcm_client *fcm;
	struct apns_client *apns;
	svc_push_online while_online;
	int concurrency[SVC_PUSH_KINDS]; /* requests in flight per provider (0: default 64) */
	int64_t sms_fallback_ms;         /* urgent messages not delivered this long go by SMS; 0: off */
} svc_push_options;

int svc_deliveries_start(svc *s, uv_loop_t *loop, const svc_push_options *opt);
/* The SMS fallback time (0: off); read on the writer thread when an urgent
 * message is stored, so it is set before the server starts. */
int64_t svc_sms_fallback_ms(const svc *s);
/* Tells the dispatcher who is online (the realtime hub; NULL to forget). */
void svc_set_presence(svc *s, bool (*live)(void *ud, int64_t user_id), void *ud);
/* Appends the push queue's counters (Prometheus text) for /metrics. */
int svc_push_metrics(svc *s, struct hbuf *out);
void svc_deliveries_stop(svc *s);

/* Webhook deliveries (svc/webhook.c): starts the dispatcher on the loop. */
int svc_webhooks_start(svc *s, uv_loop_t *loop);
/* Lets webhooks reach private and loopback addresses (tests, closed
 * networks); off by default so a tenant cannot probe the internal network. */
void svc_webhooks_allow_private(svc *s, bool allow);
void svc_webhooks_stop(svc *s);
/* Sends a test event to the tenant's webhook now; done gets the receiver's
 * HTTP status (0 if unreachable). */
void svc_webhook_test(svc *s, svc_call *k);

/* Adds a batch of new messages to the search index (a write job; call it
 * from a timer). */
void svc_index_messages(svc *s);

/* Deletes events older than retention_ms while keeping at least keep_last
 * (a write job; done gets the count deleted or a negative HERR). */
void svc_prune_events(svc *s, int64_t retention_ms, int64_t keep_last, void (*done)(void *ud, int64_t deleted, int rc),
                      void *ud);

/* Options of the client API: the development login (off by default) and
 * the audience JWTs must carry (NULL: not checked). */
void svc_v2_settings(svc *s, bool dev_login, const char *jwt_audience);

#endif
