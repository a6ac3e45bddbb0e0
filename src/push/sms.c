/*
 * sms.c — the SMS providers (see sms.h).
 *
 * The log provider appends to a file, blocking work that runs on libuv's
 * worker pool. The http provider sends through the async HTTP client on the
 * loop (push/http_client.c): the SMS fallback of urgent messages can send
 * many at once, and a slow gateway must not hold the pool threads that also
 * encrypt pushes and serve files.
 */
#include "push/sms.h"

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
#include "push/http_client.h"

typedef enum { SMS_LOG, SMS_HTTP } sms_kind;

struct sms_provider {
	sms_kind kind;
	uv_loop_t *loop;
	char outbox[4096];
	char *url, *body, *content_type, *auth_header;
	long timeout_ms;
	hclient *http; /* http provider: made on first use, closed by sms_provider_close */
	bool closed;
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

/* application/x-www-form-urlencoded value: unreserved bytes as they are. */
static int append_urlencoded(hbuf *b, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;
	for (const unsigned char *c = (const unsigned char *)v; *c && rc == 0; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		    *c == '.' || *c == '_' || *c == '~') {
			rc = hbuf_append(b, c, 1);
		} else {
			char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
			rc = hbuf_append(b, e, 3);
		}
	}
	return rc;
}

static int append_escaped(hbuf *b, const char *v, bool json)
{
	if (!json)
		return append_urlencoded(b, v);
	/* Inside a JSON string already: escape without the quotes. */
	hbuf tmp = HBUF_INIT;
	int rc = hbuf_json_str(&tmp, v, strlen(v));
	if (rc == 0)
		rc = hbuf_append(b, tmp.data + 1, tmp.len - 2);
	hbuf_free(&tmp);
	return rc;
}

static int render_body(const sms_provider *p, const char *to, const char *text, const char *code, hbuf *out)
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
		int rc = v ? append_escaped(out, v, json) : hbuf_append(out, s, 1);
		if (rc != 0)
			return rc;
		s += v ? skip : 1;
	}
	return 0;
}

typedef struct http_job {
	sms_provider *p;
	char to[32];
	void (*done)(void *ud, int rc);
	void *ud;
} http_job;

static void http_done(void *ud, const hclient_response *res)
{
	http_job *j = ud;
	bool ok = res->status >= 200 && res->status < 300;
	hlog_line l;
	hlog_begin(&l, ok ? HLOG_INFO : HLOG_ERROR, "sms");
	hlog_str(&l, "provider", "http");
	hlog_str(&l, "to", j->to);
	hlog_int(&l, "status", res->status);
	if (res->error)
		hlog_str(&l, "error", res->error);
	hlog_end(&l);
	j->done(j->ud, ok ? 0 : HERR_SMS_FAILED);
	free(j);
}

/* Starts the request; done follows on the loop. HERR_* when it cannot start. */
static int send_http(sms_provider *p, const char *to, const char *text, const char *code,
                     void (*done)(void *ud, int rc), void *ud)
{
	if (p->closed)
		return HERR_SHUTTING_DOWN;
	if (!p->http && hclient_new(p->loop, 16, &p->http) != 0)
		return HERR_NOMEM;
	http_job *j = calloc(1, sizeof *j);
	hbuf body = HBUF_INIT;
	int rc = j ? render_body(p, to, text, code, &body) : HERR_NOMEM;
	if (rc == 0) {
		char ctype[300];
		snprintf(ctype, sizeof ctype, "Content-Type: %s", p->content_type);
		const char *headers[] = {ctype, "User-Agent: herald-sms/1", p->auth_header, NULL};
		hclient_request req = {.method = "POST",
		                       .url = p->url,
		                       .headers = headers,
		                       .body = body.data ? body.data : "",
		                       .body_len = body.len,
		                       .timeout_ms = p->timeout_ms,
		                       .max_response = 4096};
		j->p = p;
		snprintf(j->to, sizeof j->to, "%s", to);
		j->done = done;
		j->ud = ud;
		rc = hclient_send(p->http, &req, http_done, j);
	}
	hbuf_free(&body);
	if (rc != 0)
		free(j);
	return rc;
}

void sms_provider_close(sms_provider *p)
{
	if (!p || p->closed)
		return;
	p->closed = true;
	/* Requests on their way are cancelled: their done reports failure. */
	if (p->http)
		hclient_close(p->http, NULL, NULL);
}

static void job_work(uv_work_t *req)
{
	sms_job *j = req->data;
	j->rc = send_log(j->p, j->to, j->text, j->code);
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
	if (p->kind == SMS_HTTP) {
		int rc = send_http(p, to, text, code, done, ud);
		free(j->text);
		free(j);
		if (rc != 0)
			done(ud, HERR_SMS_FAILED);
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
