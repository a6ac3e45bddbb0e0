/*
 * sms.c — the SMS providers (see sms.h).
 *
 * Both providers do blocking work (a file append with fsync, or an HTTP
 * request), so sms_send() runs them on libuv's worker pool and completes on
 * the loop. A login sends one SMS, so the pool is the simple and sufficient
 * place; the push work of later versions uses libcurl's multi interface on
 * the loop instead.
 */
#include "push/sms.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/time.h"

typedef enum { SMS_LOG, SMS_HTTP } sms_kind;

struct sms_provider {
	sms_kind kind;
	uv_loop_t *loop;
	char outbox[4096];
	char *url, *body, *content_type, *auth_header;
	long timeout_ms;
	pthread_mutex_t mu; /* serialises appends to the outbox */
};

typedef struct sms_job {
	uv_work_t req;
	sms_provider *p;
	char to[32];
	char *text;
	char code[16];
	int rc;
	void (*done)(void *ud, int rc);
	void *ud;
} sms_job;

static char *dup_or(const char *s, const char *fallback)
{
	return strdup(s && *s ? s : fallback);
}

int sms_provider_new(const sms_settings *st, uv_loop_t *loop, sms_provider **out, char *err, size_t err_size)
{
	sms_provider *p = calloc(1, sizeof *p);
	if (!p)
		return HERR_NOMEM;
	p->loop = loop;
	pthread_mutex_init(&p->mu, NULL);
	const char *name = st->provider && *st->provider ? st->provider : "log";
	if (strcmp(name, "log") == 0) {
		p->kind = SMS_LOG;
		snprintf(p->outbox, sizeof p->outbox, "%s/sms-outbox.jsonl", st->data_dir ? st->data_dir : ".");
	} else if (strcmp(name, "http") == 0) {
		if (!st->http_url || !*st->http_url) {
			snprintf(err, err_size, "sms.provider is http but sms.http.url is not set");
			free(p);
			return HERR_FIELD_INVALID;
		}
		p->kind = SMS_HTTP;
		p->url = strdup(st->http_url);
		p->body = dup_or(st->http_body, "{\"to\":\"{to}\",\"text\":\"{text}\"}");
		p->content_type = dup_or(st->http_content_type, "application/json");
		p->auth_header = st->http_auth_header && *st->http_auth_header ? strdup(st->http_auth_header) : NULL;
		p->timeout_ms = st->http_timeout_ms > 0 ? st->http_timeout_ms : 10000;
		curl_global_init(CURL_GLOBAL_DEFAULT);
	} else {
		snprintf(err, err_size, "unknown sms.provider \"%s\" (use log or http)", name);
		free(p);
		return HERR_FIELD_INVALID;
	}
	*out = p;
	return 0;
}

void sms_provider_free(sms_provider *p)
{
	if (!p)
		return;
	if (p->kind == SMS_HTTP)
		curl_global_cleanup();
	free(p->url);
	free(p->body);
	free(p->content_type);
	free(p->auth_header);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

const char *sms_provider_name(const sms_provider *p)
{
	return p->kind == SMS_LOG ? "log" : "http";
}

/* ---- log provider -------------------------------------------------------------- */

static int send_log(sms_provider *p, const char *to, const char *text, const char *code)
{
	char at[32];
	htime_format_iso(htime_now_ms(), 0, at);
	hbuf line = HBUF_INIT;
	int rc = hbuf_puts(&line, "{\"to\":");
	rc |= hbuf_json_str(&line, to, strlen(to));
	rc |= hbuf_puts(&line, ",\"text\":");
	rc |= hbuf_json_str(&line, text, strlen(text));
	rc |= hbuf_puts(&line, ",\"code\":");
	rc |= hbuf_json_str(&line, code ? code : "", code ? strlen(code) : 0);
	rc |= hbuf_puts(&line, ",\"at\":");
	rc |= hbuf_json_str(&line, at, strlen(at));
	rc |= hbuf_puts(&line, "}\n");
	if (rc != 0) {
		hbuf_free(&line);
		return HERR_NOMEM;
	}
	pthread_mutex_lock(&p->mu);
	int fd = open(p->outbox, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	ssize_t n = -1;
	if (fd >= 0) {
		n = write(fd, line.data, line.len);
		close(fd);
	}
	pthread_mutex_unlock(&p->mu);
	int ok = n == (ssize_t)line.len;
	hbuf_free(&line);
	hlog_line l;
	hlog_begin(&l, ok ? HLOG_INFO : HLOG_ERROR, "sms");
	hlog_str(&l, "provider", "log");
	hlog_str(&l, "to", to);
	hlog_str(&l, "outbox", p->outbox);
	hlog_end(&l);
	return ok ? 0 : HERR_SMS_FAILED;
}

/* ---- http provider --------------------------------------------------------------- */

static int append_escaped(hbuf *b, const char *v, bool json, CURL *curl)
{
	if (json) {
		/* Inside a JSON string already: escape without the quotes. */
		hbuf tmp = HBUF_INIT;
		int rc = hbuf_json_str(&tmp, v, strlen(v));
		if (rc == 0)
			rc = hbuf_append(b, tmp.data + 1, tmp.len - 2);
		hbuf_free(&tmp);
		return rc;
	}
	char *e = curl_easy_escape(curl, v, 0);
	if (!e)
		return HERR_NOMEM;
	int rc = hbuf_puts(b, e);
	curl_free(e);
	return rc;
}

static int render_body(const sms_provider *p, CURL *curl, const char *to, const char *text, const char *code, hbuf *out)
{
	bool json = strstr(p->content_type, "json") != NULL;
	for (const char *s = p->body; *s;) {
		const char *v = NULL;
		size_t skip = 0;
		if (strncmp(s, "{to}", 4) == 0)
			v = to, skip = 4;
		else if (strncmp(s, "{text}", 6) == 0)
			v = text, skip = 6;
		else if (strncmp(s, "{code}", 6) == 0)
			v = code ? code : "", skip = 6;
		int rc = v ? append_escaped(out, v, json, curl) : hbuf_append(out, s, 1);
		if (rc != 0)
			return rc;
		s += v ? skip : 1;
	}
	return 0;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

static int send_http(sms_provider *p, const char *to, const char *text, const char *code)
{
	CURL *curl = curl_easy_init();
	if (!curl)
		return HERR_SMS_FAILED;
	hbuf body = HBUF_INIT;
	struct curl_slist *headers = NULL;
	int rc = render_body(p, curl, to, text, code, &body);
	char ctype[300];
	snprintf(ctype, sizeof ctype, "Content-Type: %s", p->content_type);
	headers = curl_slist_append(headers, ctype);
	if (p->auth_header)
		headers = curl_slist_append(headers, p->auth_header);
	long status = 0;
	CURLcode cc = CURLE_OK;
	if (rc == 0) {
		curl_easy_setopt(curl, CURLOPT_URL, p->url);
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data ? body.data : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)body.len);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, p->timeout_ms);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(curl, CURLOPT_USERAGENT, "herald-sms/1");
		cc = curl_easy_perform(curl);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	}
	bool ok = rc == 0 && cc == CURLE_OK && status >= 200 && status < 300;
	hlog_line l;
	hlog_begin(&l, ok ? HLOG_INFO : HLOG_ERROR, "sms");
	hlog_str(&l, "provider", "http");
	hlog_str(&l, "to", to);
	hlog_int(&l, "status", status);
	if (cc != CURLE_OK)
		hlog_str(&l, "error", curl_easy_strerror(cc));
	hlog_end(&l);
	curl_slist_free_all(headers);
	hbuf_free(&body);
	curl_easy_cleanup(curl);
	return ok ? 0 : HERR_SMS_FAILED;
}

int sms_send_blocking(sms_provider *p, const char *to, const char *text, const char *code)
{
	return p->kind == SMS_LOG ? send_log(p, to, text, code) : send_http(p, to, text, code);
}

static void job_work(uv_work_t *req)
{
	sms_job *j = req->data;
	j->rc = sms_send_blocking(j->p, j->to, j->text, j->code);
}

static void job_after(uv_work_t *req, int status)
{
	sms_job *j = req->data;
	j->done(j->ud, status == 0 ? j->rc : HERR_SMS_FAILED);
	free(j->text);
	free(j);
}

void sms_send(sms_provider *p, const char *to, const char *text, const char *code, void (*done)(void *ud, int rc),
              void *ud)
{
	sms_job *j = calloc(1, sizeof *j);
	if (!j || !(j->text = strdup(text))) {
		free(j);
		done(ud, HERR_NOMEM);
		return;
	}
	j->req.data = j;
	j->p = p;
	snprintf(j->to, sizeof j->to, "%s", to);
	snprintf(j->code, sizeof j->code, "%s", code ? code : "");
	j->done = done;
	j->ud = ud;
	if (uv_queue_work(p->loop, &j->req, job_work, job_after) != 0) {
		free(j->text);
		free(j);
		done(ud, HERR_SMS_FAILED);
	}
}
