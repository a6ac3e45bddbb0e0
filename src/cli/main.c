/*
 * main.c — the herald command: parses the subcommand and its flags, builds
 * the configuration (flag > HERALD_* environment > file > default), and
 * starts things. `herald serve` wires store → svc → api → http on one libuv
 * loop and owns the graceful shutdown; the other subcommands run once and
 * exit.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "api/webroot.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"
#include "net/http.h"
#include "push/apns.h"
#include "push/fcm.h"
#include "push/sms.h"
#include "push/webpush.h"
#include "store/store.h"
#include "svc/chat.h"
#include "svc/svc.h"

#ifndef HERALD_VERSION
#define HERALD_VERSION "0.0.0"
#endif
#ifndef HERALD_BUILD
#define HERALD_BUILD "dev"
#endif

/* ---- configuration ---------------------------------------------------------------- */

static const struct {
	const char *key, *def, *help;
} settings[] = {
        {"listen", "127.0.0.1:8080", "address and port to listen on (HOST:PORT, [v6]:PORT)"},
        {"data", "./data", "data directory (database, secret key, SMS outbox)"},
        {"log.level", "info", "debug, info (one access-log line per request), warn or error"},
        {"http.max_body", "1M", "largest request body; larger gets 413"},
        {"http.max_header", "16k", "largest request line + headers; larger gets 431"},
        {"http.header_timeout", "10s", "time to send the request headers; slower gets 408"},
        {"http.body_timeout", "30s", "longest pause while sending a body; slower gets 408"},
        {"http.idle_timeout", "60s", "keep-alive connections idle this long are closed"},
        {"http.max_connections", "19000", "connections beyond this are refused"},
        {"http.web_root", "web/dist",
         "the built web apps served at / and /m/ (read once at start); missing: / shows a landing page"},
        {"http.cors_origins", "*",
         "origins whose pages may call /api/v2 and open /ws: * (any; bearer tokens, no cookies) or a list"},
        {"api.date_offset", "local", "offset of dates in /api/v1: local (server time zone) or e.g. +03:00"},
        {"api.default_country_code", "7", "country code for phone numbers written without +"},
        {"limits.title_max", "256", "longest message title, in characters"},
        {"limits.text_max", "4000", "longest message text, in characters"},
        {"limits.name_max", "256", "longest employee name, in characters"},
        {"sms.provider", "log", "log (append to <data>/sms-outbox.jsonl) or http (a gateway)"},
        {"sms.http.url", NULL, "gateway URL for the http provider"},
        {"sms.http.body", "{\"to\":\"{to}\",\"text\":\"{text}\"}", "body template; {to}, {text}, {code} are replaced"},
        {"sms.http.content_type", "application/json", "Content-Type of the gateway request"},
        {"sms.http.auth_header", NULL, "a header line sent to the gateway, e.g. Authorization: Bearer KEY"},
        {"sms.http.timeout", "10s", "gateway request timeout"},
        {"sms.code_ttl", "10m", "how long an SMS code is valid"},
        {"sms.code_attempts", "5", "wrong attempts allowed per code"},
        {"sms.resend_cooldown", "60s", "least time between two codes to one phone"},
        {"sms.per_phone_hour", "5", "codes per phone per hour"},
        {"sms.per_ip_hour", "30", "login starts per client address per hour"},
        {"sms.fail_per_hour", "20", "wrong codes per employee per hour, over all codes"},
        {"session.ttl", "2160h", "lifetime of an app token from confirmsmscode (90 days)"},
        {"cabinet.session_ttl", "12h", "lifetime of a company cabinet sign-in (POST /api/v2/cabinet/login)"},
        {"cabinet.login_per_inn", "10", "cabinet sign-in attempts per INN per 15 minutes (successes are not counted)"},
        {"cabinet.login_per_ip", "60",
         "cabinet sign-in attempts per client address per hour (successes are not counted)"},
        {"auth.dev_login", "false", "development only: list a tenant's users and sign in as one without a password"},
        {"auth.jwt_audience", NULL, "audience (aud) that host-signed JWTs must carry; unset: not checked"},
        {"ws.max_message", "64k", "largest realtime message from a client; larger closes with 1009"},
        {"ws.max_queue", "1M", "outgoing bytes queued per connection; a slower consumer is closed (1008)"},
        {"ws.ping_interval", "25s", "ping a quiet realtime connection this often"},
        {"ws.idle_timeout", "60s", "close a realtime connection silent this long"},
        {"events.retention", "24h", "keep realtime events at least this long for resume"},
        {"events.keep", "10000", "and at least this many of the newest"},
        {"files.max_size", "10M", "largest attachment upload (POST /api/v2/files)"},
        {"webhooks.allow_private", "false",
         "let webhooks reach loopback and private addresses (tests, closed networks)"},
        {"push.allow_private", "false",
         "let Web Push endpoints be loopback or private addresses (tests, closed networks)"},
        {"push.while_online", "none",
         "pushes to a user with a live realtime connection: none, phones (FCM/APNs only) or all"},
        {"push.sms_fallback_after", "5m",
         "urgent messages no device has confirmed this long go out by SMS; 0 turns the fallback off"},
        {"push.webpush.concurrency", "64", "Web Push requests in flight at most"},
        {"push.fcm.concurrency", "64", "FCM requests in flight at most"},
        {"push.apns.concurrency", "64", "APNs requests in flight at most"},
        {"push.vapid_subject", NULL, "contact sent to push services with VAPID: mailto:… or https://…"},
        {"push.fcm.service_account", NULL, "FCM: the service-account key file (JSON) of the Firebase project"},
        {"push.fcm.endpoint", NULL, "FCM: API base URL (default https://fcm.googleapis.com)"},
        {"push.apns.key", NULL, "APNs: the .p8 key file (token-based authentication)"},
        {"push.apns.key_id", NULL, "APNs: the key's id (10 characters)"},
        {"push.apns.team_id", NULL, "APNs: the team id (10 characters)"},
        {"push.apns.topic", NULL, "APNs: the app's bundle id"},
        {"push.apns.endpoint", NULL, "APNs: base URL (default https://api.push.apple.com)"},
};

static hconfig *config_new(void)
{
	hconfig *c = hconfig_new();
	if (!c)
		return NULL;
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		hconfig_define(c, settings[i].key, settings[i].def, settings[i].help);
	return c;
}

typedef struct cli {
	hconfig *cfg;
	const char *config_file;
	bool demo;
	const char *out;
	const char *inn, *name, *full_name, *password;
} cli;

static int die(const char *fmt, const char *a)
{
	fprintf(stderr, "herald: ");
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
	return 1;
}

/* Loads env and file layers after the flags were set. */
static int config_finish(cli *c)
{
	hconfig_load_env(c->cfg);
	const char *file = c->config_file ? c->config_file : getenv("HERALD_CONFIG");
	if (file && *file) {
		char err[512];
		if (hconfig_load_file(c->cfg, file, err, sizeof err) != 0)
			return die("%s", err);
	}
	const char *lvl = hconfig_get(c->cfg, "log.level");
	int level = hlog_parse_level(lvl ? lvl : "info");
	if (level < 0)
		return die("log.level must be debug, info, warn or error, not \"%s\"", lvl);
	hlog_set_level((hlog_level)level);
	return 0;
}

static int cfg_int(hconfig *cfg, const char *key, int64_t min, int64_t max, int64_t *out)
{
	char err[256];
	if (hconfig_get_int(cfg, key, out, err, sizeof err) != 0)
		return die("%s", err);
	if (*out < min || *out > max) {
		fprintf(stderr, "herald: %s must be between %lld and %lld\n", key, (long long)min, (long long)max);
		return 1;
	}
	return 0;
}

static int cfg_ms(hconfig *cfg, const char *key, int64_t *out)
{
	char err[256];
	if (hconfig_get_duration_ms(cfg, key, out, err, sizeof err) != 0 || *out < 0)
		return die("%s", err[0] ? err : key);
	return 0;
}

/* ---- flags -------------------------------------------------------------------------- */

enum { OPT_DATA = 1000, OPT_LISTEN, OPT_CONFIG, OPT_DEMO, OPT_OUT, OPT_INN, OPT_NAME, OPT_FULL, OPT_PW, OPT_HELP };

static const struct option long_opts[] = {
        {"data", required_argument, NULL, OPT_DATA},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"demo", no_argument, NULL, OPT_DEMO},
        {"out", required_argument, NULL, OPT_OUT},
        {"inn", required_argument, NULL, OPT_INN},
        {"name", required_argument, NULL, OPT_NAME},
        {"full-name", required_argument, NULL, OPT_FULL},
        {"password", required_argument, NULL, OPT_PW},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
};

static const char *const usage_main = "herald — a self-hosted messaging server for business systems\n"
                                      "\n"
                                      "usage: herald COMMAND [options]\n"
                                      "\n"
                                      "commands:\n"
                                      "  serve     run the server\n"
                                      "  migrate   bring the database schema up to date\n"
                                      "  tenant    create, list and manage tenants (companies)\n"
                                      "  backup    write a consistent copy of the database while it runs\n"
                                      "  config    print every setting with its value and source names\n"
                                      "  version   print the version\n"
                                      "  help      this text; `herald COMMAND --help` explains a command\n";

static const char *const usage_serve =
        "usage: herald serve [--data DIR] [--listen HOST:PORT] [--config FILE] [--demo]\n"
        "\n"
        "Runs the server. Creates the data directory and migrates the database on\n"
        "first start. --demo creates a demo tenant (once) and prints its credentials.\n"
        "SIGTERM or SIGINT stop it gracefully: no new connections, in-flight requests\n"
        "finish, every acknowledged write is on disk, exit 0 within 10 seconds.\n"
        "Settings: see `herald config` and docs/configuration.md.\n";

static const char *const usage_tenant =
        "usage: herald tenant create --inn INN --name SHORT --full-name FULL --password PW [--data DIR]\n"
        "       herald tenant list [--data DIR]\n"
        "       herald tenant rotate-token --inn INN [--data DIR]\n"
        "       herald tenant set-password --inn INN --password PW [--data DIR]\n"
        "       herald tenant jwt-secret --inn INN [--data DIR]\n"
        "\n"
        "create and rotate-token print the tenant's API token as the last line of\n"
        "standard output. It is shown only then: herald keeps only its hash.\n"
        "jwt-secret sets a new secret for JWTs the host signs for its users (HS256,\n"
        "key = the base64url-decoded secret, iss = the INN) and prints it last.\n";

static const char *const usage_migrate = "usage: herald migrate [--data DIR] [--config FILE]\n"
                                         "\n"
                                         "Applies the numbered schema migrations this binary brings, each in its own\n"
                                         "transaction. `herald serve` does the same on start.\n";

static const char *const usage_backup =
        "usage: herald backup --out FILE [--data DIR] [--config FILE]\n"
        "\n"
        "Writes a consistent copy of the database to FILE (which must not exist) while\n"
        "the server keeps running. Keep <data>/secret.key with it: SMS codes in flight\n"
        "are keyed with it.\n";

static const char *const usage_config = "usage: herald config [--config FILE] [--data DIR] [--listen HOST:PORT]\n"
                                        "\n"
                                        "Prints every setting: key, effective value, environment variable, help.\n";

static const char *const usage_version = "usage: herald version\n";

static int parse_flags(int argc, char **argv, cli *c, const char *usage)
{
	optind = 1;
	int opt;
	while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_DATA:
			hconfig_set(c->cfg, HCONFIG_FLAG, "data", optarg);
			break;
		case OPT_LISTEN:
			hconfig_set(c->cfg, HCONFIG_FLAG, "listen", optarg);
			break;
		case OPT_CONFIG:
			c->config_file = optarg;
			break;
		case OPT_DEMO:
			c->demo = true;
			break;
		case OPT_OUT:
			c->out = optarg;
			break;
		case OPT_INN:
			c->inn = optarg;
			break;
		case OPT_NAME:
			c->name = optarg;
			break;
		case OPT_FULL:
			c->full_name = optarg;
			break;
		case OPT_PW:
			c->password = optarg;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			return -1;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	return 0;
}

/* ---- storage for the one-shot commands ------------------------------------------------- */

static int open_store(cli *c, store **st)
{
	if (hcrypto_init() != 0)
		return die("%s", "libsodium failed to initialise");
	char err[1024];
	store_open_options o = {.data_dir = hconfig_get(c->cfg, "data"), .migrate = true};
	int rc = store_open(&o, st, err, sizeof err);
	if (rc != 0)
		return die("%s", err);
	return 0;
}

static int print_tenant(void *ud, const store_tenant *t)
{
	int *n = ud;
	char at[32];
	htime_format_iso(t->created_at, HTIME_LOCAL, at);
	if ((*n)++ == 0)
		printf("%-12s  %-29s  %s\n", "INN", "CREATED", "NAME");
	printf("%-12s  %-29s  %s\n", t->inn, at, t->short_name);
	return 0;
}

static int cmd_tenant(int argc, char **argv, cli *c)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		fputs(usage_tenant, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	const char *sub = argv[1];
	int rc = parse_flags(argc - 1, argv + 1, c, usage_tenant);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = config_finish(c)) != 0)
		return rc;
	store *st = NULL;
	char token[HCRYPTO_TOKEN_CHARS + 1], err[512];
	if (strcmp(sub, "create") == 0) {
		if (!c->inn || !c->name || !c->full_name || !c->password)
			return die("%s", "tenant create needs --inn, --name, --full-name and --password");
		if ((rc = open_store(c, &st)) != 0)
			return rc;
		svc_tenant_new in = {c->inn, c->name, c->full_name, c->password};
		rc = svc_tenant_create(st, &in, token, err, sizeof err);
		store_close(st);
		if (rc != 0)
			return die("%s", err);
		printf("tenant %s created (%s)\n", c->inn, c->name);
		printf("API token (shown once; the ERP sends it in the Authorization header):\n%s\n", token);
		return 0;
	}
	if (strcmp(sub, "list") == 0) {
		if ((rc = open_store(c, &st)) != 0)
			return rc;
		int n = 0;
		rc = svc_tenant_list(st, print_tenant, &n);
		store_close(st);
		if (n == 0 && rc == 0)
			printf("no tenants yet; create one with `herald tenant create`\n");
		return rc == 0 ? 0 : die("%s", herr_name(rc));
	}
	if (strcmp(sub, "jwt-secret") == 0) {
		if (!c->inn)
			return die("%s", "tenant jwt-secret needs --inn");
		if ((rc = open_store(c, &st)) != 0)
			return rc;
		rc = svc_tenant_rotate_jwt_secret(st, c->inn, token);
		store_close(st);
		if (rc == HERR_UNKNOWN_INN)
			return die("no tenant has INN %s", c->inn);
		if (rc != 0)
			return die("%s", herr_name(rc));
		printf("new JWT secret for %s (HS256; tokens signed with the old one stop working now):\n%s\n", c->inn,
		       token);
		return 0;
	}
	if (strcmp(sub, "rotate-token") == 0 || strcmp(sub, "set-password") == 0) {
		bool rotate = sub[0] == 'r';
		if (!c->inn || (!rotate && !c->password))
			return die("%s", rotate ? "tenant rotate-token needs --inn"
			                        : "tenant set-password needs --inn and --password");
		if ((rc = open_store(c, &st)) != 0)
			return rc;
		rc = rotate ? svc_tenant_rotate_token(st, c->inn, token)
		            : svc_tenant_set_password(st, c->inn, c->password);
		store_close(st);
		if (rc == HERR_UNKNOWN_INN)
			return die("no tenant has INN %s", c->inn);
		if (rc == HERR_FIELD_INVALID)
			return die("%s", "the password must have 8 to 1024 characters");
		if (rc != 0)
			return die("%s", herr_name(rc));
		if (rotate)
			printf("new API token for %s (the old one stops working now):\n%s\n", c->inn, token);
		else
			printf("password of %s changed\n", c->inn);
		return 0;
	}
	fputs(usage_tenant, stderr);
	return 2;
}

static int cmd_migrate(int argc, char **argv, cli *c)
{
	int rc = parse_flags(argc, argv, c, usage_migrate);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = config_finish(c)) != 0)
		return rc;
	store *st = NULL;
	if ((rc = open_store(c, &st)) != 0)
		return rc;
	int found, current;
	store_schema_versions(st, &found, &current);
	printf("%s: schema version %d%s\n", store_describe(st), current,
	       found == current ? " (already current)" : " (migrated)");
	store_close(st);
	return 0;
}

static int cmd_backup(int argc, char **argv, cli *c)
{
	int rc = parse_flags(argc, argv, c, usage_backup);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = config_finish(c)) != 0)
		return rc;
	if (!c->out)
		return die("%s", "backup needs --out FILE");
	store *st = NULL;
	if ((rc = open_store(c, &st)) != 0)
		return rc;
	char err[1024];
	rc = store_backup(st, c->out, err, sizeof err);
	store_close(st);
	if (rc != 0)
		return die("%s", err);
	printf("backup written to %s\n", c->out);
	return 0;
}

static void print_setting(void *ud, const char *key, const char *value, const char *def, const char *help)
{
	(void)ud;
	(void)def;
	char env[128] = "HERALD_";
	size_t n = strlen(env);
	for (const char *k = key; *k && n < sizeof env - 1; k++)
		env[n++] = (*k == '.' || *k == '-') ? '_' : (char)(*k >= 'a' && *k <= 'z' ? *k - 32 : *k);
	env[n] = '\0';
	printf("%-26s = %-28s  %-32s  %s\n", key, value ? value : "(unset)", env, help);
}

static int cmd_config(int argc, char **argv, cli *c)
{
	int rc = parse_flags(argc, argv, c, usage_config);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = config_finish(c)) != 0)
		return rc;
	hconfig_each(c->cfg, print_setting, NULL);
	return 0;
}

/* ---- serve ------------------------------------------------------------------------------ */

typedef struct server {
	uv_loop_t *loop;
	uv_timer_t prune;
	uv_timer_t index;
	webpush_vapid *vapid;
	int64_t retention_ms, keep_events;
	store *st;
	svc *svc;
	api *api;
	sms_provider *sms;
	http_server *http;
	uv_signal_t sigterm, sigint;
	uv_timer_t deadline;
	uv_check_t log_flush;
	bool stopping;
	bool drained;
} server;

static void on_drained(void *ud)
{
	server *s = ud;
	s->drained = true;
	uv_stop(s->loop);
}

static void on_deadline(uv_timer_t *t)
{
	server *s = t->data;
	hlog_msg(HLOG_WARN, "shutdown_forced", "in-flight requests did not finish in time; closing");
	uv_stop(s->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
	server *s = h->data;
	if (s->stopping) {
		hlog_msg(HLOG_WARN, "shutdown", "second signal; stopping now");
		uv_stop(s->loop);
		return;
	}
	s->stopping = true;
	hlog_line l;
	hlog_begin(&l, HLOG_INFO, "shutdown");
	hlog_str(&l, "signal", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	hlog_int(&l, "connections", (int64_t)http_server_connection_count(s->http));
	hlog_end(&l);
	/* The 10 s promise: 8 s for requests, the rest for the writer and close. */
	uv_timer_start(&s->deadline, on_deadline, 8000, 0);
	uv_timer_stop(&s->prune);
	uv_timer_stop(&s->index);
	svc_webhooks_stop(s->svc);
	svc_deliveries_stop(s->svc);
	sms_provider_close(s->sms);
	api_shutdown(s->api);
	http_server_shutdown(s->http, on_drained, s);
}

static void on_pruned(void *ud, int64_t deleted, int rc)
{
	(void)ud;
	if (rc != 0 || deleted > 0) {
		hlog_line l;
		hlog_begin(&l, rc ? HLOG_WARN : HLOG_INFO, "events_pruned");
		hlog_int(&l, "deleted", deleted);
		if (rc)
			hlog_str(&l, "error", herr_name(rc));
		hlog_end(&l);
	}
}

static void on_prune_timer(uv_timer_t *t)
{
	server *s = t->data;
	svc_prune_events(s->svc, s->retention_ms, s->keep_events, on_pruned, s);
}

static void on_index_timer(uv_timer_t *t)
{
	server *s = t->data;
	svc_index_messages(s->svc);
}

static void on_check(uv_check_t *h)
{
	(void)h;
	hlog_flush();
}

static void close_walk(uv_handle_t *h, void *ud)
{
	(void)ud;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int split_listen(const char *listen, char *host, size_t host_size, int *port)
{
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return -1;
	const char *h = listen;
	size_t hl = (size_t)(colon - listen);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= host_size)
		return -1;
	memcpy(host, h, hl);
	host[hl] = '\0';
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535 || colon[1] == '\0')
		return -1;
	*port = (int)p;
	return 0;
}

static int build_settings(hconfig *cfg, svc_settings *ss, http_server_options *ho)
{
	int64_t v;
	svc_settings_default(ss);
	http_server_options_default(ho);
	char err[256];
	uint64_t size;
	if (hconfig_get_size(cfg, "http.max_body", &size, err, sizeof err) != 0)
		return die("%s", err);
	ho->max_body = size;
	if (hconfig_get_size(cfg, "http.max_header", &size, err, sizeof err) != 0)
		return die("%s", err);
	ho->max_header = size;
	if (cfg_ms(cfg, "http.header_timeout", &v) != 0)
		return 1;
	ho->header_timeout_ms = (uint64_t)v;
	if (cfg_ms(cfg, "http.body_timeout", &v) != 0)
		return 1;
	ho->body_timeout_ms = (uint64_t)v;
	if (cfg_ms(cfg, "http.idle_timeout", &v) != 0)
		return 1;
	ho->idle_timeout_ms = (uint64_t)v;
	if (cfg_int(cfg, "http.max_connections", 1, 1000000, &v) != 0)
		return 1;
	ho->max_connections = (int)v;
	const char *off = hconfig_get(cfg, "api.date_offset");
	if (htime_parse_offset(off ? off : "local", &ss->date_offset_min) != 0)
		return die("api.date_offset must be local or an offset like +03:00, not \"%s\"", off);
	if (cfg_int(cfg, "api.default_country_code", 1, 999, &v) != 0)
		return 1;
	ss->default_country_code = (int)v;
	if (cfg_int(cfg, "limits.title_max", 1, 100000, &v) != 0)
		return 1;
	ss->title_max = (int)v;
	if (cfg_int(cfg, "limits.text_max", 1, 100000, &v) != 0)
		return 1;
	ss->text_max = (int)v;
	if (cfg_int(cfg, "limits.name_max", 1, 1000, &v) != 0)
		return 1;
	ss->name_max = (int)v;
	if (cfg_ms(cfg, "sms.code_ttl", &v) != 0)
		return 1;
	ss->code_ttl_s = (int)(v / 1000);
	if (cfg_int(cfg, "sms.code_attempts", 1, 100, &v) != 0)
		return 1;
	ss->code_max_attempts = (int)v;
	if (cfg_ms(cfg, "sms.resend_cooldown", &v) != 0)
		return 1;
	ss->code_cooldown_s = (int)(v / 1000);
	if (cfg_int(cfg, "sms.per_phone_hour", 1, 1000, &v) != 0)
		return 1;
	ss->code_per_phone_hour = (int)v;
	if (cfg_int(cfg, "sms.per_ip_hour", 1, 1000000, &v) != 0)
		return 1;
	ss->auth_per_ip_hour = (int)v;
	if (cfg_int(cfg, "sms.fail_per_hour", 1, 100, &v) != 0)
		return 1;
	ss->code_fail_per_hour = (int)v;
	if (cfg_ms(cfg, "session.ttl", &v) != 0)
		return 1;
	ss->session_ttl_s = v / 1000;
	if (cfg_ms(cfg, "cabinet.session_ttl", &v) != 0)
		return 1;
	if (v < 60 * 1000)
		return die("%s", "cabinet.session_ttl must be at least 1m");
	ss->cabinet_session_ttl_s = v / 1000;
	if (cfg_int(cfg, "cabinet.login_per_inn", 1, 1000000, &v) != 0)
		return 1;
	ss->cabinet_login_per_inn = (int)v;
	if (cfg_int(cfg, "cabinet.login_per_ip", 1, 1000000, &v) != 0)
		return 1;
	ss->cabinet_login_per_ip = (int)v;
	return 0;
}

/* Reads a whole (small) file: keys and service accounts. */
static char *read_small_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(65537);
	size_t n = buf ? fread(buf, 1, 65536, f) : 0;
	fclose(f);
	if (!buf || n == 0 || n == 65536) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* FCM and APNs clients from the configuration, when it names them. */
static int start_providers(hconfig *cfg, uv_loop_t *loop, fcm_client **fcm, apns_client **apns)
{
	char err[512];
	size_t len = 0;
	const char *path = hconfig_get(cfg, "push.fcm.service_account");
	if (path && *path) {
		char *json = read_small_file(path, &len);
		if (!json)
			return die("push.fcm.service_account: cannot read %s", path);
		fcm_config fc = {.loop = loop,
		                 .service_account = json,
		                 .service_account_len = len,
		                 .endpoint = hconfig_get(cfg, "push.fcm.endpoint")};
		int rc = fcm_client_new(&fc, fcm, err, sizeof err);
		sodium_memzero(json, len);
		free(json);
		if (rc != 0)
			return die("push.fcm: %s", err);
	}
	path = hconfig_get(cfg, "push.apns.key");
	if (path && *path) {
		char *pem = read_small_file(path, &len);
		if (!pem)
			return die("push.apns.key: cannot read %s", path);
		apns_config ac = {.loop = loop,
		                  .team_id = hconfig_get(cfg, "push.apns.team_id"),
		                  .key_id = hconfig_get(cfg, "push.apns.key_id"),
		                  .key_pem = pem,
		                  .key_pem_len = len,
		                  .topic = hconfig_get(cfg, "push.apns.topic"),
		                  .endpoint = hconfig_get(cfg, "push.apns.endpoint")};
		int rc = apns_client_new(&ac, apns, err, sizeof err);
		sodium_memzero(pem, len);
		free(pem);
		if (rc != 0)
			return die("push.apns: %s", err);
	}
	return 0;
}

/* The push queue's policy settings (push.while_online, the SMS fallback,
 * per-provider concurrency). */
static int push_settings(hconfig *cfg, svc_push_options *po)
{
	char err[512] = "";
	const char *w = hconfig_get(cfg, "push.while_online");
	if (strcmp(w, "none") == 0)
		po->while_online = SVC_PUSH_ONLINE_NONE;
	else if (strcmp(w, "phones") == 0)
		po->while_online = SVC_PUSH_ONLINE_PHONES;
	else if (strcmp(w, "all") == 0)
		po->while_online = SVC_PUSH_ONLINE_ALL;
	else
		return die("push.while_online: %s is not none, phones or all", w);
	int64_t ms;
	if (hconfig_get_duration_ms(cfg, "push.sms_fallback_after", &ms, err, sizeof err) != 0 || ms < 0 ||
	    ms > 7LL * 24 * 3600 * 1000)
		return err[0] ? die("%s", err) : die("%s", "push.sms_fallback_after: at most 7 days");
	po->sms_fallback_ms = ms;
	static const char *const keys[SVC_PUSH_KINDS] = {"push.webpush.concurrency", "push.fcm.concurrency",
	                                                 "push.apns.concurrency"};
	for (int k = 0; k < SVC_PUSH_KINDS; k++) {
		int64_t v;
		if (hconfig_get_int(cfg, keys[k], &v, err, sizeof err) != 0 || v < 1 || v > 10000) {
			if (err[0])
				fprintf(stderr, "herald: %s\n", err); /* names the key already */
			else
				fprintf(stderr, "herald: %s: between 1 and 10000\n", keys[k]);
			return 1;
		}
		po->concurrency[k] = (int)v;
	}
	return 0;
}

/* The built web apps, read into memory before the loop starts. A missing
 * directory is not an error (a server for the API alone, or not built yet):
 * / then says how to get them. */
static int load_web_root(api *a, const char *dir)
{
	char err[1200], hint[256];
	webroot *w = NULL;
	int rc = webroot_load(dir, &w, err, sizeof err);
	hlog_line l;
	if (rc == HERR_NOT_FOUND) {
		snprintf(hint, sizeof hint, "%s has no index.html; run make (it builds web/dist) or set http.web_root.",
		         dir && *dir ? dir : "http.web_root");
		api_set_web_root(a, NULL, hint);
		hlog_begin(&l, HLOG_WARN, "web_root_missing");
		hlog_str(&l, "dir", dir);
		hlog_str(&l, "hint", "run make to build the web apps");
		hlog_end(&l);
		return 0;
	}
	if (rc != 0)
		return die("http.web_root: %s", err);
	hlog_begin(&l, HLOG_INFO, "web_root");
	hlog_str(&l, "dir", dir);
	hlog_int(&l, "files", (int64_t)webroot_file_count(w));
	hlog_int(&l, "bytes", (int64_t)webroot_bytes(w));
	hlog_end(&l);
	api_set_web_root(a, w, NULL);
	return 0;
}

static int cmd_serve(int argc, char **argv, cli *c)
{
	int rc = parse_flags(argc, argv, c, usage_serve);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = config_finish(c)) != 0)
		return rc;
	svc_settings ss;
	http_server_options ho;
	if ((rc = build_settings(c->cfg, &ss, &ho)) != 0)
		return rc;
	char host[256];
	int port;
	const char *listen = hconfig_get(c->cfg, "listen");
	if (split_listen(listen, host, sizeof host, &port) != 0)
		return die("listen must be HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080), not \"%s\"", listen);
	const char *data = hconfig_get(c->cfg, "data");
	char err[1024];
	int64_t sms_timeout = 10000;
	if (cfg_ms(c->cfg, "sms.http.timeout", &sms_timeout) != 0)
		return 1;

	signal(SIGPIPE, SIG_IGN);
	server s = {0};
	s.loop = uv_default_loop();
	int exit_code = 1;
	if (hcrypto_init() != 0)
		return die("%s", "libsodium failed to initialise");
	store_open_options so = {.data_dir = data, .migrate = true};
	if (store_open(&so, &s.st, err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	if (c->demo) {
		char summary[2048];
		if ((rc = svc_demo_seed(s.st, data, summary, sizeof summary)) != 0) {
			die("cannot create the demo tenant: %s", herr_name(rc));
			goto out;
		}
		fputs(summary, stdout);
		fflush(stdout);
	}
	sms_settings sms = {
	        .provider = hconfig_get(c->cfg, "sms.provider"),
	        .data_dir = data,
	        .http_url = hconfig_get(c->cfg, "sms.http.url"),
	        .http_body = hconfig_get(c->cfg, "sms.http.body"),
	        .http_content_type = hconfig_get(c->cfg, "sms.http.content_type"),
	        .http_auth_header = hconfig_get(c->cfg, "sms.http.auth_header"),
	        .http_timeout_ms = (long)sms_timeout,
	};
	if (sms_provider_new(&sms, s.loop, &s.sms, err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	if (svc_new(s.st, &ss, data, s.sms, &s.svc, err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	ws_options wo;
	ws_options_default(&wo);
	uint64_t size;
	int64_t ms;
	bool dev_login = false;
	if (hconfig_get_size(c->cfg, "ws.max_message", &size, err, sizeof err) != 0 || size < 1024 ||
	    size > 16 * 1024 * 1024) {
		die("ws.max_message: %s", err[0] ? err : "1k to 16M");
		goto out;
	}
	wo.max_message = size;
	if (hconfig_get_size(c->cfg, "ws.max_queue", &size, err, sizeof err) != 0 || size < 16 * 1024) {
		die("ws.max_queue: %s", err[0] ? err : "at least 16k");
		goto out;
	}
	wo.max_queue_bytes = size;
	if (cfg_ms(c->cfg, "ws.ping_interval", &ms) != 0)
		goto out;
	wo.ping_interval_ms = (uint64_t)ms;
	if (cfg_ms(c->cfg, "ws.idle_timeout", &ms) != 0)
		goto out;
	wo.idle_timeout_ms = (uint64_t)ms;
	if (cfg_ms(c->cfg, "events.retention", &s.retention_ms) != 0 ||
	    cfg_int(c->cfg, "events.keep", 1, INT64_MAX, &s.keep_events) != 0)
		goto out;
	if (hconfig_get_bool(c->cfg, "auth.dev_login", &dev_login, err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	svc_v2_settings(s.svc, dev_login, hconfig_get(c->cfg, "auth.jwt_audience"));
	if (api_new(s.svc, &wo, &s.api) != 0 || store_attach_loop(s.st, s.loop) != 0) {
		die("%s", "out of memory");
		goto out;
	}
	if (hconfig_get_size(c->cfg, "files.max_size", &size, err, sizeof err) != 0 || size > 1024ULL * 1024 * 1024) {
		die("files.max_size: %s", err[0] ? err : "at most 1G");
		goto out;
	}
	api_set_max_upload(s.api, size);
	/* The VAPID key pair is made on first start and kept with the data:
	 * browsers' subscriptions are bound to its public key. */
	char vapid_path[4200];
	snprintf(vapid_path, sizeof vapid_path, "%s/vapid.pem", data);
	if (webpush_vapid_load_or_create(vapid_path, &s.vapid, err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	api_set_vapid_public(s.api, webpush_vapid_public_b64(s.vapid));
	api_set_version(s.api, HERALD_VERSION, HERALD_BUILD);
	if (api_set_cors(s.api, hconfig_get(c->cfg, "http.cors_origins"), err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	if (load_web_root(s.api, hconfig_get(c->cfg, "http.web_root")) != 0)
		goto out;
	ho.body_limit = api_body_limit;
	bool allow_private = false;
	if (hconfig_get_bool(c->cfg, "webhooks.allow_private", &allow_private, err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	svc_webhooks_allow_private(s.svc, allow_private);
	bool push_private = false;
	if (hconfig_get_bool(c->cfg, "push.allow_private", &push_private, err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	fcm_client *fcm = NULL;
	apns_client *apns = NULL;
	if (start_providers(c->cfg, s.loop, &fcm, &apns) != 0)
		goto out;
	svc_push_options po = {.vapid = s.vapid,
	                       .subject = hconfig_get(c->cfg, "push.vapid_subject"),
	                       .allow_private = push_private,
	                       .fcm = fcm,
	                       .apns = apns};
	if (push_settings(c->cfg, &po) != 0)
		goto out;
	if (svc_deliveries_start(s.svc, s.loop, &po) != 0) {
		die("%s", "out of memory");
		goto out;
	}
	if (svc_webhooks_start(s.svc, s.loop) != 0) {
		die("%s", "out of memory");
		goto out;
	}
	s.http = http_server_new(s.loop, &ho, api_handle, api_complete, s.api);
	if (!s.http) {
		die("%s", "out of memory");
		goto out;
	}
	api_set_server(s.api, s.http);
	if (http_server_listen(s.http, host, port, err, sizeof err) != 0) {
		die("%s", err);
		goto out;
	}
	uv_signal_init(s.loop, &s.sigterm);
	uv_signal_init(s.loop, &s.sigint);
	s.sigterm.data = s.sigint.data = &s;
	uv_signal_start(&s.sigterm, on_signal, SIGTERM);
	uv_signal_start(&s.sigint, on_signal, SIGINT);
	uv_timer_init(s.loop, &s.deadline);
	s.deadline.data = &s;
	uv_unref((uv_handle_t *)&s.deadline);
	uv_check_init(s.loop, &s.log_flush);
	uv_check_start(&s.log_flush, on_check);
	uv_timer_init(s.loop, &s.prune);
	s.prune.data = &s;
	uv_timer_start(&s.prune, on_prune_timer, 60 * 1000, 10 * 60 * 1000);
	uv_unref((uv_handle_t *)&s.prune);
	/* Search indexing in batches, twice a second: far cheaper than one
	 * index write per message inside every commit. */
	uv_timer_init(s.loop, &s.index);
	s.index.data = &s;
	uv_timer_start(&s.index, on_index_timer, 500, 500);
	uv_unref((uv_handle_t *)&s.index);

	char url[300];
	snprintf(url, sizeof url, "http://%s%s%s:%d", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
	         http_server_port(s.http));
	/* The start line is logged whatever log.level says: operators and
	 * scripts read the address (port 0 picks one) from it. */
	hlog_set_level(HLOG_INFO);
	hlog_line l;
	hlog_begin(&l, HLOG_INFO, "listening");
	hlog_str(&l, "url", url);
	hlog_str(&l, "storage", store_describe(s.st));
	hlog_str(&l, "sms", sms_provider_name(s.sms));
	hlog_str(&l, "version", HERALD_VERSION);
	hlog_end(&l);
	hlog_flush();
	hlog_set_level((hlog_level)hlog_parse_level(hconfig_get(c->cfg, "log.level")));

	uv_run(s.loop, UV_RUN_DEFAULT);
	exit_code = 0;
	if (!s.drained) {
		/* Requests did not finish within 8 s: commit what the writer holds
		 * (acknowledged work is durable already) and leave now. */
		store_close(s.st);
		hlog_msg(HLOG_WARN, "stopped", "forced: connections were still open");
		hlog_flush();
		_exit(0);
	}
	hlog_msg(HLOG_INFO, "stopped", "all requests finished");
out:
	if (s.svc) {
		svc_webhooks_stop(s.svc);
		svc_deliveries_stop(s.svc);
	}
	sms_provider_close(s.sms);
	/* The writer finishes and commits everything queued before the store
	 * closes, so every acknowledged write is on disk. The HTTP server then
	 * closes its own handles; the walk closes the rest (signals, timers). */
	store_close(s.st);
	s.st = NULL;
	http_server_free(s.http);
	s.http = NULL;
	uv_walk(s.loop, close_walk, NULL);
	uv_run(s.loop, UV_RUN_DEFAULT);
	api_free(s.api);
	svc_free(s.svc);
	sms_provider_free(s.sms);
	webpush_vapid_free(s.vapid);
	uv_loop_close(s.loop);
	hlog_flush();
	return exit_code;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		if (argc > 2) {
			char *args[] = {argv[0], argv[2], "--help", NULL};
			return main(3, args);
		}
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		if (argc > 2 && strcmp(argv[2], "--help") == 0) {
			fputs(usage_version, stdout);
			return 0;
		}
		printf("herald %s (build %s)\n", HERALD_VERSION, HERALD_BUILD);
		return 0;
	}
	cli c = {0};
	c.cfg = config_new();
	if (!c.cfg)
		return die("%s", "out of memory");
	int rc;
	if (strcmp(cmd, "serve") == 0)
		rc = cmd_serve(argc - 1, argv + 1, &c);
	else if (strcmp(cmd, "tenant") == 0)
		rc = cmd_tenant(argc - 1, argv + 1, &c);
	else if (strcmp(cmd, "migrate") == 0)
		rc = cmd_migrate(argc - 1, argv + 1, &c);
	else if (strcmp(cmd, "backup") == 0)
		rc = cmd_backup(argc - 1, argv + 1, &c);
	else if (strcmp(cmd, "config") == 0)
		rc = cmd_config(argc - 1, argv + 1, &c);
	else {
		fprintf(stderr, "herald: unknown command \"%s\"\n\n%s", cmd, usage_main);
		rc = 2;
	}
	hconfig_free(c.cfg);
	return rc;
}
