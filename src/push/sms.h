/*
 * sms.h — sending SMS through a provider.
 *
 * Two providers:
 *  - "log": appends one JSON line per SMS to <data>/sms-outbox.jsonl
 *    ({"to":"+7…","text":"…","code":"…","at":"…"}) and logs it. The default,
 *    for development and tests, which read codes from that file.
 *  - "http": POSTs to a gateway URL with a configurable body template
 *    ({to}, {text}, {code} are replaced, JSON-escaped when the content type is
 *    JSON, URL-encoded otherwise) and an optional auth header. A 2xx answer is
 *    success.
 * The log provider's append runs on libuv's worker pool, the http
 * provider's request in the async HTTP client on the loop (timeout
 * sms.http.timeout); done is called on the loop.
 */
#ifndef HERALD_PUSH_SMS_H
#define HERALD_PUSH_SMS_H

#include <uv.h>

typedef struct sms_provider sms_provider;

typedef struct sms_settings {
	const char *provider;          /* "log" or "http" */
	const char *data_dir;          /* for the log provider's outbox */
	const char *http_url;          /* http provider */
	const char *http_body;         /* template; default JSON {"to":"{to}","text":"{text}"} */
	const char *http_content_type; /* default application/json */
	const char *http_auth_header;  /* e.g. "Authorization: Bearer xyz"; optional */
	long http_timeout_ms;          /* default 10000 */
} sms_settings;

int sms_provider_new(const sms_settings *settings, uv_loop_t *loop, sms_provider **out, char *err, size_t err_size);
void sms_provider_free(sms_provider *p);
const char *sms_provider_name(const sms_provider *p);

/* Sends text to an E.164 number; code is recorded by the log provider only.
 * done(ud, 0) on success, done(ud, HERR_SMS_FAILED) otherwise. */
void sms_send(sms_provider *p, const char *to, const char *text, const char *code, void (*done)(void *ud, int rc),
              void *ud);

/* Before the loop's last run: cancels the http provider's requests (their
 * done reports failure) and closes its client. Sends after it fail. */
void sms_provider_close(sms_provider *p);

#endif
