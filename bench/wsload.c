/*
 * wsload.c — load generator for herald's realtime fan-out (team chat): many
 * WebSocket clients in group chats, a few of them posting, everyone
 * receiving (docs/performance.md, "Realtime fan-out").
 *
 * What it measures: how long N connections take to open, how much memory
 * the server holds per connection (VmRSS of --server-pid before and after),
 * how many messages/s reach the receivers, the end-to-end latency of a
 * message (sender's write to a receiver's read, CLOCK_MONOTONIC on the same
 * machine) and of its ack, and that every receiver got every message of its
 * chat exactly once and in order.
 *
 * How:
 *  1. Setup over plain HTTP (pipelined on a few keep-alive sockets): users
 *     bench-u0 … bench-u{N-1} (PUT /api/v2/users/{id}), chats by reference
 *     bench/0 … bench/{C-1} (PUT /api/v2/chats/by-ref/bench/{c}) and one
 *     session per user (POST /api/v2/sessions).
 *     Mapping: user i is a member of chat i % C if i / C < M, so chat c holds
 *     users c, c+C, c+2C, … (M of them when N >= M*C); the other users are
 *     connected but idle. Sender k is user k (k < S <= min(N, M*C)), so the
 *     senders spread round-robin over the chats.
 *  2. Fork P worker processes (at most --per-proc connections each: one
 *     file descriptor per connection, and the server needs one too); worker
 *     p owns the chats c with c % P == p and all their members, so each
 *     worker checks its chats alone. Each runs one libuv loop with a
 *     hand-written client side of RFC 6455 (upgrade with a random key, masked
 *     frames, unfragmented server frames; pings are answered).
 *  3. When every worker has all hello frames, the parent reads the server's
 *     RSS and starts the clock (it also samples the CPU time of the server
 *     and of the workers at both ends of the measured window). Senders post {"type":"send"} frames whose
 *     text is "wl1 <sender> <seq> <ns>": at --rate messages/s in total
 *     (open loop on a 1 ms tick, at most --window unacknowledged per
 *     sender; a send made more than 5 ms after its time, because the window
 *     was full or the loop busy, is counted late: latency is measured from
 *     the real send, so a high late count means the offered rate was not
 *     sustained) or, with --rate 0, as fast as the acks allow with --window
 *     in flight per sender.
 *  4. Receivers find the text field by a string search (no JSON parse),
 *     keep the last seq seen per sender of their chat and count duplicates,
 *     gaps and, after the drain, losses against the acknowledged sends.
 *     Latency goes to a log-linear histogram (64 sub-buckets per power of
 *     two, ~1.6 % resolution). Throughput and latency count what arrives
 *     between warmup and warmup + duration.
 *  5. After the run the senders stop, acks and deliveries drain (10 s at
 *     most), connections close (1000), and the parent prints a table and one
 *     key=value line. The exit status is 1 if anything was lost, duplicated,
 *     reordered, refused or dropped.
 *
 * Only addresses in 127.0.0.0/8 are accepted: this is a local benchmark.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define SOURCES_MAX     64
#define WINDOW_MAX      256 /* unacknowledged sends per sender */
#define READ_BUF        (256 * 1024)
#define CONNECT_STALL   (30 * NS_PER_S) /* no hello for this long: the rest failed */
#define DRAIN_TIMEOUT   (10 * NS_PER_S)
#define CLOSE_TIMEOUT   (3 * NS_PER_S)
#define LATE_NS         (5 * NS_PER_MS) /* a rate-mode send this late counts as late */
#define NS_PER_S        1000000000ull
#define NS_PER_MS       1000000ull
#define TOKEN_MAX       64
#define SETUP_CONNS     32
#define SETUP_DEPTH     8
#define SERVER_CONN_CAP 19000 /* herald's default http.max_connections */
#define STEPS_MAX       16
#define PAYLOAD_MAX     4096
#define BACKOFF_MIN_MS  50
#define BACKOFF_MAX_MS  1000
#define STEP_SETTLE_MS  500 /* after a step's last connection, before the server's RSS is read */

/* ---- options --------------------------------------------------------------------------- */

typedef struct opts {
	struct sockaddr_in dst;
	char host[64]; /* "127.0.0.1:8080" for Host: */
	const char *token;
	int users, chats, members, senders;
	double rate;
	int window;
	double duration, warmup;
	struct in_addr sources[SOURCES_MAX];
	int nsources;
	long server_pid;
	int procs, per_proc, connect_parallel;
	bool mqtt;            /* the peer is an MQTT 3.1.1 broker (--url mqtt://…) */
	int qos;              /* MQTT: 0 or 1 */
	int payload;          /* pad the message text to this many bytes (0: no padding) */
	int steps[STEPS_MAX]; /* --steps: connect in stages, the server's RSS after each */
	int nsteps;
	double storm_at;      /* --storm-at: SIGKILL the server this many seconds into the run */
	double storm_timeout; /* clients not back this long after the kill have failed */
} opts;

static opts O = {.users = 200,
                 .chats = 4,
                 .members = 50,
                 .senders = 4,
                 .rate = 200,
                 .window = 8,
                 .duration = 10,
                 .warmup = 2,
                 .per_proc = 9000,
                 .connect_parallel = 256,
                 .storm_timeout = 30};

static char (*tokens)[TOKEN_MAX]; /* per user */
static long long *chat_ids;       /* per chat */

static bool is_loopback(struct in_addr a)
{
	return (ntohl(a.s_addr) >> 24) == 127;
}

/* The chat of user i, or -1 (see the mapping at the top). */
static int chat_of(int i)
{
	return i / O.chats < O.members ? i % O.chats : -1;
}

static int members_of(int c)
{
	int n = (O.users - c + O.chats - 1) / O.chats;
	return n < O.members ? n : O.members;
}

static int senders_of(int c)
{
	return c < O.senders ? (O.senders - 1 - c) / O.chats + 1 : 0;
}

/* ---- histogram ------------------------------------------------------------------------- */

#define HIST_SUB_BITS 6
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

typedef struct hist {
	uint64_t count, max;
	uint64_t n[HIST_BUCKETS];
} hist;

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	return (e - HIST_SUB_BITS + 1) * HIST_SUB + (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static void hist_add(hist *h, uint64_t v)
{
	h->n[hist_index(v)]++;
	h->count++;
	if (v > h->max)
		h->max = v;
}

static void hist_merge(hist *into, const hist *h)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->n[i] += h->n[i];
	into->count += h->count;
	if (h->max > into->max)
		into->max = h->max;
}

/* The value at quantile q: the middle of its bucket, never above the max. */
static uint64_t hist_quantile(const hist *h, double q)
{
	if (!h->count)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->count + 0.999999), seen = 0;
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen < want)
			continue;
		if (i < HIST_SUB)
			return i;
		unsigned e = i / HIST_SUB + HIST_SUB_BITS - 1;
		uint64_t lo = (1ull << e) + ((uint64_t)(i % HIST_SUB) << (e - HIST_SUB_BITS));
		uint64_t mid = lo + (1ull << (e - HIST_SUB_BITS)) / 2;
		return mid < h->max ? mid : h->max;
	}
	return h->max;
}

/* ---- what workers report (shared memory) ----------------------------------------------- */

enum { W_CONNECTING, W_CONNECTED, W_DONE };

typedef struct wresult {
	_Atomic int state;
	uint64_t connected, failed, dropped;
	uint64_t connect_start, connect_end; /* ns */
	uint64_t rss_kb;                     /* the worker's own */
	uint64_t sent, sent_window, acked, errors, late;
	uint64_t delivered_window, delivered, expected;
	uint64_t lost, duplicated, gaps, misrouted, extra;
	uint64_t reconnected, resent, not_back; /* --storm-at */
	uint64_t storm_first, storm_last;       /* ns: the first and the last client live again */
	hist lat, ack, back;                    /* back: kill to live again, per client (storm) */
} wresult;

typedef struct shared {
	_Atomic int go, abort;
	_Atomic int step;        /* --steps: the stage workers may connect up to */
	_Atomic int killed;      /* --storm-at: the server was killed */
	uint64_t t0;             /* ns: sending starts */
	_Atomic uint64_t t_kill; /* ns */
	wresult w[];
} shared;

static shared *SH;

/* ---- small helpers ----------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
	return uv_hrtime(); /* CLOCK_MONOTONIC: the same clock in every process */
}

static long rss_kb(long pid)
{
	char path[64], line[256];
	if (pid > 0)
		snprintf(path, sizeof path, "/proc/%ld/status", pid);
	else
		snprintf(path, sizeof path, "/proc/self/status");
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* CPU seconds (user + system) used so far by pid, or -1. */
static double cpu_s(long pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The soft limit on open files of pid (from /proc/<pid>/limits), or -1. */
static long nofile_of(long pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/limits", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long n = -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "Max open files", 14) == 0)
			n = strtol(line + 14, NULL, 10);
	fclose(f);
	return n;
}

static uint64_t rnd_state = 88172645463325252ull;

static uint32_t rnd32(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)(rnd_state >> 16);
}

/* Parses an unsigned decimal in [p, end); returns the end of it or NULL. */
static const char *parse_u64(const char *p, const char *end, uint64_t *out)
{
	uint64_t v = 0;
	const char *s = p;
	while (p < end && *p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	*out = v;
	return p > s ? p : NULL;
}

/* A socket to O.dst from source address src (port chosen at connect, so
 * ports are not exhausted by bind). Returns the fd or -errno. */
static int socket_from(struct in_addr src, bool nonblock)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = src};
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* ---- setup over HTTP ----------------------------------------------------------------------- */

typedef struct hjob {
	char *req;
	size_t req_len;
	int status;
	char *body; /* the response body, NUL-terminated */
} hjob;

typedef struct hconn {
	int fd;
	bool blocked;
	size_t count, sent, recvd, off; /* this connection runs jobs first, first+K, … */
	char *in;
	size_t inlen, incap;
} hconn;

static int job_set(hjob *j, const char *method, const char *path, const char *body)
{
	size_t blen = strlen(body), cap = strlen(path) + blen + strlen(O.token) + 256;
	if (!(j->req = malloc(cap)))
		return -1;
	int n = snprintf(j->req, cap,
	                 "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
	                 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	                 method, path, O.host, O.token, blen, body);
	j->req_len = (size_t)n;
	return 0;
}

static void jobs_free(hjob *jobs, size_t n)
{
	for (size_t i = 0; jobs && i < n; i++) {
		free(jobs[i].req);
		free(jobs[i].body);
	}
	free(jobs);
}

/* One complete response at the start of buf (NUL-terminated at len): its
 * length, 0 if incomplete, -1 if it cannot be read. */
static long http_response(hjob *j, char *buf, size_t len)
{
	char *eoh = memmem(buf, len, "\r\n\r\n", 4);
	if (!eoh)
		return 0;
	int status = 0;
	if (sscanf(buf, "HTTP/1.%*c %d", &status) != 1)
		return -1;
	size_t clen = 0;
	for (const char *l = buf; l < eoh;) {
		if (strncasecmp(l, "content-length:", 15) == 0)
			clen = strtoul(l + 15, NULL, 10);
		else if (strncasecmp(l, "transfer-encoding:", 18) == 0)
			return -1;
		const char *nl = memchr(l, '\n', (size_t)(eoh - l));
		if (!nl)
			break;
		l = nl + 1;
	}
	size_t total = (size_t)(eoh + 4 - buf) + clen;
	if (len < total)
		return 0;
	j->status = status;
	if (!(j->body = malloc(clen + 1)))
		return -1;
	memcpy(j->body, eoh + 4, clen);
	j->body[clen] = '\0';
	return (long)total;
}

/* Runs the requests on SETUP_CONNS keep-alive connections, SETUP_DEPTH
 * pipelined on each: the server answers one request of a connection at a
 * time, so several connections let its writer commit them in groups. */
static int http_run(hjob *jobs, size_t n)
{
	size_t k = n < SETUP_CONNS ? n : SETUP_CONNS, done = 0;
	hconn *cs = calloc(k ? k : 1, sizeof *cs);
	struct pollfd *pf = calloc(k ? k : 1, sizeof *pf);
	int rc = -1;
	if (!cs || !pf)
		goto out;
	for (size_t i = 0; i < k; i++)
		cs[i].fd = -1;
	for (size_t i = 0; i < k; i++) {
		cs[i].count = (n - i + k - 1) / k;
		int fd = socket_from(O.sources[i % (size_t)O.nsources], false);
		if (fd < 0 || connect(fd, (struct sockaddr *)&O.dst, sizeof O.dst) != 0) {
			fprintf(stderr, "wsload: setup: cannot connect: %s\n", strerror(fd < 0 ? -fd : errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		cs[i].fd = fd;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	uint64_t last = now_ns();
	while (done < n) {
		for (size_t i = 0; i < k; i++) {
			hconn *c = &cs[i];
			c->blocked = false;
			while (c->sent < c->count && c->sent - c->recvd < SETUP_DEPTH) {
				hjob *j = &jobs[c->sent * k + i];
				ssize_t w = send(c->fd, j->req + c->off, j->req_len - c->off, MSG_NOSIGNAL);
				if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
					c->blocked = true;
					break;
				}
				if (w < 0) {
					fprintf(stderr, "wsload: setup: send: %s\n", strerror(errno));
					goto out;
				}
				c->off += (size_t)w;
				if (c->off < j->req_len) {
					c->blocked = true;
					break;
				}
				c->off = 0;
				c->sent++;
			}
			pf[i].fd = c->recvd < c->count ? c->fd : -1;
			pf[i].events = (short)(POLLIN | (c->blocked ? POLLOUT : 0));
			pf[i].revents = 0;
		}
		int pr = poll(pf, (nfds_t)k, 1000);
		if (pr < 0 && errno != EINTR)
			goto out;
		if (pr <= 0) {
			if (now_ns() - last > CONNECT_STALL) {
				fprintf(stderr, "wsload: setup: the server stopped answering\n");
				goto out;
			}
			continue;
		}
		for (size_t i = 0; i < k; i++) {
			hconn *c = &cs[i];
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLERR | POLLHUP)))
				continue;
			if (c->incap - c->inlen < 65536) {
				size_t cap = c->incap ? c->incap * 2 : 131072;
				char *b = realloc(c->in, cap);
				if (!b)
					goto out;
				c->in = b;
				c->incap = cap;
			}
			ssize_t r = recv(c->fd, c->in + c->inlen, c->incap - c->inlen - 1, 0);
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
				continue;
			if (r <= 0) {
				fprintf(stderr, "wsload: setup: the server closed a connection\n");
				goto out;
			}
			c->inlen += (size_t)r;
			c->in[c->inlen] = '\0';
			last = now_ns();
			long used;
			while (c->recvd < c->sent &&
			       (used = http_response(&jobs[c->recvd * k + i], c->in, c->inlen)) != 0) {
				if (used < 0) {
					fprintf(stderr, "wsload: setup: unreadable response\n");
					goto out;
				}
				memmove(c->in, c->in + used, c->inlen - (size_t)used + 1);
				c->inlen -= (size_t)used;
				c->recvd++;
				done++;
			}
		}
	}
	rc = 0;
out:
	for (size_t i = 0; cs && i < k; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		free(cs[i].in);
	}
	free(cs);
	free(pf);
	return rc;
}

static int jobs_check(const hjob *jobs, size_t n, const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (jobs[i].status != 200 && jobs[i].status != 201) {
			fprintf(stderr, "wsload: setup: %s: HTTP %d %s\n", what, jobs[i].status,
			        jobs[i].body ? jobs[i].body : "");
			return -1;
		}
	return 0;
}

/* Creates the users, the chats and a session per user; seconds spent on
 * each go to secs[3]. */
static int setup(double secs[3])
{
	size_t nu = (size_t)O.users, nc = (size_t)O.chats;
	char path[128], body[160];
	size_t nj = nu;
	hjob *jobs = calloc(nj, sizeof *jobs);
	if (!jobs)
		return -1;
	uint64_t t = now_ns();
	for (size_t i = 0; i < nu; i++) {
		snprintf(path, sizeof path, "/api/v2/users/bench-u%zu", i);
		snprintf(body, sizeof body, "{\"name\":\"Bench user %zu\"}", i);
		if (job_set(&jobs[i], "PUT", path, body) != 0)
			goto fail;
	}
	if (http_run(jobs, nu) != 0 || jobs_check(jobs, nu, "PUT user") != 0)
		goto fail;
	jobs_free(jobs, nu);
	secs[0] = (double)(now_ns() - t) / 1e9;

	t = now_ns();
	if (!(jobs = calloc(nj = nc, sizeof *jobs)))
		return -1;
	size_t cap = (size_t)O.members * 24 + 128;
	char *big = malloc(cap);
	if (!big)
		goto fail;
	for (size_t c = 0; c < nc; c++) {
		size_t len = (size_t)snprintf(big, cap, "{\"title\":\"Bench chat %zu\",\"members\":[", c);
		for (int m = 0; m < members_of((int)c); m++)
			len += (size_t)snprintf(big + len, cap - len, "%s\"bench-u%zu\"", m ? "," : "",
			                        c + (size_t)m * nc);
		snprintf(big + len, cap - len, "]}");
		snprintf(path, sizeof path, "/api/v2/chats/by-ref/bench/%zu", c);
		if (job_set(&jobs[c], "PUT", path, big) != 0) {
			free(big);
			goto fail;
		}
	}
	free(big);
	if (http_run(jobs, nc) != 0 || jobs_check(jobs, nc, "PUT chat") != 0)
		goto fail;
	for (size_t c = 0; c < nc; c++) {
		const char *id = strstr(jobs[c].body, "\"id\":");
		if (!id || (chat_ids[c] = strtoll(id + 5, NULL, 10)) <= 0) {
			fprintf(stderr, "wsload: setup: no chat id in %s\n", jobs[c].body);
			goto fail;
		}
	}
	jobs_free(jobs, nc);
	secs[1] = (double)(now_ns() - t) / 1e9;

	t = now_ns();
	if (!(jobs = calloc(nj = nu, sizeof *jobs)))
		return -1;
	for (size_t i = 0; i < nu; i++) {
		snprintf(body, sizeof body, "{\"user\":\"bench-u%zu\"}", i);
		if (job_set(&jobs[i], "POST", "/api/v2/sessions", body) != 0)
			goto fail;
	}
	if (http_run(jobs, nu) != 0 || jobs_check(jobs, nu, "POST session") != 0)
		goto fail;
	for (size_t i = 0; i < nu; i++) {
		const char *tk = strstr(jobs[i].body, "\"token\":\"");
		const char *end = tk ? strchr(tk + 9, '"') : NULL;
		if (!end || end - (tk + 9) >= TOKEN_MAX) {
			fprintf(stderr, "wsload: setup: no token in %s\n", jobs[i].body);
			goto fail;
		}
		memcpy(tokens[i], tk + 9, (size_t)(end - (tk + 9)));
		tokens[i][end - (tk + 9)] = '\0';
	}
	jobs_free(jobs, nu);
	secs[2] = (double)(now_ns() - t) / 1e9;
	return 0;
fail:
	jobs_free(jobs, nj);
	return -1;
}

/* ---- the WebSocket clients (one worker process) ------------------------------------------------ */

enum { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_HELLO, C_LIVE, C_CLOSING, C_GONE };
enum { P_CONNECT, P_WAIT, P_RUN, P_DRAIN, P_CLOSE };

typedef struct worker worker;
typedef struct client client;

typedef struct sender {
	client *c;
	uint32_t seq, inflight; /* last seq sent; sends not yet acked */
	uint32_t ack_hi;        /* the highest seq acknowledged (acks come in order) */
	uint64_t acked, due;    /* due: next send (rate mode), ns */
	uint64_t sent_at[WINDOW_MAX];
} sender;

struct client {
	uv_tcp_t tcp;
	uv_connect_t creq;
	worker *w;
	sender *snd; /* when this user sends */
	int user, chat;
	int state;
	bool hinit, hclosing, gone, was_live, dropped;
	char key[25]; /* Sec-WebSocket-Key */
	char *rbuf;   /* an incomplete frame (usually none) */
	size_t rlen, rcap;
	uint32_t *last; /* per sender of the chat: the last seq received */
	uint64_t unique;
	uint64_t pos;          /* herald: the pos of the last event received (resume from it) */
	uint64_t reconnect_at; /* ns, when reconnect is set */
	uint32_t backoff_ms, attempts;
	bool has_pos, reconnect;
};

struct worker {
	int id;
	uv_loop_t loop;
	uv_timer_t tick;
	wresult *r;
	client *cl;
	size_t ncl, next_connect, pending, resolved, open, reconnecting;
	size_t step_allow[STEPS_MAX]; /* clients of this worker within each --steps stage */
	sender *snd;
	size_t nsnd;
	int *live_members;    /* per chat (global index) */
	uint64_t *chat_acked; /* per chat */
	int phase, notes;
	uint64_t t0, t_measure, t_end, phase_start, last_progress, period, unique_total;
	char rd[READ_BUF];
};

typedef struct wreq {
	uv_write_t req;
	char data[];
} wreq;

static void note(client *c, const char *what, const char *detail)
{
	if (c->w->notes++ < 5)
		fprintf(stderr, "wsload: worker %d: bench-u%d: %s%s%s\n", c->w->id, c->user, what, detail ? ": " : "",
		        detail ? detail : "");
}

/* A PUBACK for another packet than the oldest in flight: counted as out of order. */
static void w_note_order(client *c)
{
	c->w->r->gaps++;
	note(c, "mqtt", "PUBACK out of order");
}

static void on_handle_closed(uv_handle_t *h)
{
	client *c = h->data;
	c->w->open--;
	free(c->rbuf);
	c->rbuf = NULL;
	c->rlen = c->rcap = 0;
	if (c->reconnect) {
		/* the handle may be opened again (on_tick, storm mode) */
		c->hinit = false;
		c->hclosing = false;
	}
}

static void handle_close(client *c)
{
	if (c->hinit && !c->hclosing) {
		c->hclosing = true;
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	}
}

/* The connection ended: a failed connect, or a drop if it was live before
 * we started closing. */
/* Storm mode: a client that was live comes back, with growing pauses
 * while the server is down (what real clients do), until storm_timeout
 * after the kill. Returns false when it gives up. */
static bool client_retry(client *c)
{
	worker *w = c->w;
	uint64_t now = now_ns(), kill = atomic_load(&SH->t_kill);
	if (O.storm_at <= 0 || !c->was_live || w->phase < P_RUN || w->phase >= P_CLOSE)
		return false;
	if (kill && now > kill + (uint64_t)(O.storm_timeout * 1e9))
		return false;
	if (c->state > C_IDLE && c->state < C_LIVE)
		w->pending--;
	else if (c->state == C_LIVE)
		w->reconnecting++;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	c->reconnect_at = now + (uint64_t)(c->backoff_ms / 2 + rnd32() % c->backoff_ms) * NS_PER_MS;
	c->reconnect = true;
	c->state = C_IDLE;
	handle_close(c);
	return true;
}

static void client_lost(client *c, const char *why, const char *detail)
{
	worker *w = c->w;
	if (c->hclosing || c->gone)
		return;
	if (client_retry(c))
		return;
	if (c->reconnect || (c->was_live && c->state < C_LIVE)) {
		/* gave up coming back after the storm */
		c->gone = true;
		w->r->dropped++;
		c->dropped = true;
		w->reconnecting--;
		note(c, why, detail);
		c->state = C_GONE;
		handle_close(c);
		return;
	}
	c->gone = true;
	if (c->state < C_LIVE) {
		w->r->failed++;
		w->resolved++;
		if (c->state > C_IDLE)
			w->pending--;
		note(c, why, detail);
	} else if (c->state == C_LIVE && w->phase < P_CLOSE) {
		w->r->dropped++;
		c->dropped = true;
		if (c->chat >= 0)
			w->live_members[c->chat]--;
		w->unique_total -= c->unique;
		note(c, why, detail);
	}
	c->state = C_GONE;
	handle_close(c);
}

static void on_written(uv_write_t *req, int status)
{
	(void)status; /* the read side sees the connection go */
	free(req);
}

static int raw_write(client *c, const char *p, size_t n)
{
	if (c->hclosing)
		return UV_ECANCELED;
	uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
	int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	if (r == (int)n)
		return 0;
	if (r < 0 && r != UV_EAGAIN)
		return r;
	size_t off = r > 0 ? (size_t)r : 0;
	wreq *wr = malloc(sizeof *wr + n - off);
	if (!wr)
		return UV_ENOMEM;
	memcpy(wr->data, p + off, n - off);
	b = uv_buf_init(wr->data, (unsigned)(n - off));
	if ((r = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_written)) != 0)
		free(wr);
	return r;
}

/* A masked client frame (RFC 6455 §5.3). */
static int ws_write(client *c, int op, const char *p, size_t n)
{
	unsigned char stack[512];
	unsigned char *f = n + 14 <= sizeof stack ? stack : malloc(n + 14);
	if (!f)
		return UV_ENOMEM;
	size_t h = 0;
	f[h++] = (unsigned char)(0x80 | op);
	if (n < 126) {
		f[h++] = (unsigned char)(0x80 | n);
	} else if (n < 65536) {
		f[h++] = 0x80 | 126;
		f[h++] = (unsigned char)(n >> 8);
		f[h++] = (unsigned char)n;
	} else {
		f[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			f[h++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	uint32_t m = rnd32();
	unsigned char *mask = f + h;
	memcpy(mask, &m, 4);
	h += 4;
	for (size_t i = 0; i < n; i++)
		f[h + i] = (unsigned char)p[i] ^ mask[i & 3];
	int rc = raw_write(c, (const char *)f, h + n);
	if (f != stack)
		free(f);
	return rc;
}

static void pump_connects(worker *w);
static void send_one(worker *w, sender *s);
static void resend(worker *w, sender *s);
static void ack_seq(client *c, uint64_t q, bool error);

static void on_hello(client *c)
{
	worker *w = c->w;
	if (c->state != C_HELLO)
		return;
	if (c->was_live) { /* back after the storm */
		uint64_t now = now_ns();
		c->state = C_LIVE;
		c->backoff_ms = 0;
		w->pending--;
		w->reconnecting--;
		w->r->reconnected++;
		if (!w->r->storm_first)
			w->r->storm_first = now;
		w->r->storm_last = now;
		hist_add(&w->r->back, now - atomic_load(&SH->t_kill));
		if (c->snd)
			resend(w, c->snd);
		return;
	}
	c->state = C_LIVE;
	c->was_live = true;
	w->r->connected++;
	w->pending--;
	w->resolved++;
	if (c->chat >= 0)
		w->live_members[c->chat]++;
	w->last_progress = w->r->connect_end = now_ns();
	pump_connects(w);
}

/* "<sender> <seq> <ns>" after "wl1 ": a message text (herald) or an MQTT payload. */
static void on_payload(client *c, const char *x, const char *end)
{
	worker *w = c->w;
	uint64_t k, q, ts;
	if (!(x = parse_u64(x, end, &k)) || x >= end || *x++ != ' ' || !(x = parse_u64(x, end, &q)) || x >= end ||
	    *x++ != ' ' || !parse_u64(x, end, &ts)) {
		w->r->misrouted++;
		return;
	}
	uint64_t now = now_ns();
	if (c->dropped || c->chat < 0 || k >= (uint64_t)O.senders || (int)(k % (uint64_t)O.chats) != c->chat) {
		w->r->misrouted++;
		return;
	}
	uint32_t j = (uint32_t)(k / (uint64_t)O.chats);
	if (q <= c->last[j]) {
		w->r->duplicated++;
	} else {
		if (q != (uint64_t)c->last[j] + 1)
			w->r->gaps++;
		c->last[j] = (uint32_t)q;
		c->unique++;
		w->unique_total++;
	}
	if (now >= w->t_measure && now < w->t_end && ts <= now) {
		w->r->delivered_window++;
		hist_add(&w->r->lat, now - ts);
	}
	/* MQTT QoS 0 has no acknowledgement: a sender's window moves when its
	 * own message comes back through the broker (as herald's message event
	 * reaches the sender too). */
	if (O.mqtt && O.qos == 0 && c->snd && k == (uint64_t)c->user)
		ack_seq(c, q, false);
}

/* {"v":1,"pos":…,"type":"message","message":{…,"text":"wl1 <sender> <seq> <ns>",…}} */
static void on_message(client *c, const char *p, const char *end)
{
	const char *x = memmem(p, (size_t)(end - p), "\"text\":\"wl1 ", 12);
	if (x)
		on_payload(c, x + 12, end); /* else not ours, e.g. the system message of a join */
}

/* {"v":1,"type":"ack","id":q,…} or {"v":1,"type":"error","id":q,"code":…} */
static void on_reply(client *c, const char *p, const char *end, bool error)
{
	const char *id = memmem(p, (size_t)(end - p), "\"id\":", 5);
	uint64_t q = 0;
	char text[200];
	if (error) {
		c->w->r->errors++;
		snprintf(text, sizeof text, "%.*s", (int)((size_t)(end - p) < 190 ? end - p : 190), p);
		note(c, "error", text);
	}
	if (id && parse_u64(id + 5, end, &q))
		ack_seq(c, q, error);
}

/* The send q of c's sender was answered (an ack, an error, an MQTT PUBACK). */
static void ack_seq(client *c, uint64_t q, bool error)
{
	worker *w = c->w;
	sender *s = c->snd;
	if (!s || q == 0 || q > s->seq || q <= s->ack_hi || !s->inflight)
		return;
	uint64_t now = now_ns();
	s->inflight--;
	s->ack_hi = (uint32_t)q;
	if (!error) {
		s->acked++;
		w->r->acked++;
		if (now >= w->t_measure && now < w->t_end)
			hist_add(&w->r->ack, now - s->sent_at[q % WINDOW_MAX]);
	}
	if (O.rate == 0 && w->phase == P_RUN && c->state == C_LIVE)
		send_one(w, s);
}

static void on_text(client *c, const char *p, size_t n)
{
	const char *end = p + n;
	const char *t = memmem(p, n < 96 ? n : 96, "\"type\":\"", 8); /* the first "type" is the frame's */
	if (!t)
		return;
	t += 8;
	if (O.storm_at > 0) {
		/* the position to resume from after the storm */
		const char *pp = memmem(p, n < 48 ? n : 48, "\"pos\":", 6);
		uint64_t v;
		if (pp && parse_u64(pp + 6, end, &v) && v > c->pos) {
			c->pos = v;
			c->has_pos = true;
		}
	}
	size_t rest = (size_t)(end - t);
	if (rest > 8 && memcmp(t, "message\"", 8) == 0)
		on_message(c, t, end);
	else if (rest > 4 && memcmp(t, "ack\"", 4) == 0)
		on_reply(c, t, end, false);
	else if (rest > 6 && memcmp(t, "error\"", 6) == 0)
		on_reply(c, t, end, true);
	else if (rest > 6 && memcmp(t, "hello\"", 6) == 0)
		on_hello(c);
}

static bool accept_ok(const client *c, const char *hdr, size_t len)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char in[24 + sizeof guid - 1], md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char want[32];
	memcpy(in, c->key, 24);
	memcpy(in + 24, guid, sizeof guid - 1);
	if (EVP_Digest(in, sizeof in, md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20)
		return false;
	EVP_EncodeBlock((unsigned char *)want, md, 20);
	for (const char *l = hdr; l < hdr + len;) {
		const char *nl = memchr(l, '\n', (size_t)(hdr + len - l));
		if (!nl)
			break;
		l = nl + 1;
		if ((size_t)(hdr + len - l) > 21 && strncasecmp(l, "sec-websocket-accept:", 21) == 0) {
			const char *v = l + 21;
			while (*v == ' ')
				v++;
			return strncmp(v, want, 28) == 0;
		}
	}
	return false;
}

/* ---- MQTT 3.1.1 (the same scenario against a broker) ------------------------------------------ */

/* A packet: type byte, remaining length (variable), then body. */
static int mqtt_write(client *c, unsigned type, const unsigned char *body, size_t n)
{
	unsigned char stack[PAYLOAD_MAX + 128];
	size_t h = 0, len = n;
	if (n + 5 > sizeof stack)
		return UV_EINVAL;
	stack[h++] = (unsigned char)type;
	do {
		unsigned char b = len & 127;
		len >>= 7;
		stack[h++] = (unsigned char)(b | (len ? 128 : 0));
	} while (len);
	if (n)
		memcpy(stack + h, body, n);
	return raw_write(c, (const char *)stack, h + n);
}

static size_t mqtt_str(unsigned char *out, const char *s, size_t n)
{
	out[0] = (unsigned char)(n >> 8);
	out[1] = (unsigned char)n;
	memcpy(out + 2, s, n);
	return n + 2;
}

static int mqtt_connect(client *c)
{
	unsigned char b[128];
	char id[32];
	size_t n = 0;
	int idn = snprintf(id, sizeof id, "wl%d-%d", c->user, (int)getpid());
	n += mqtt_str(b, "MQTT", 4);
	b[n++] = 4;    /* protocol level: 3.1.1 */
	b[n++] = 0x02; /* clean session */
	b[n++] = 0;    /* keep alive 0: off (runs are bounded) */
	b[n++] = 0;
	n += mqtt_str(b + n, id, (size_t)idn);
	return mqtt_write(c, 0x10, b, n);
}

static int mqtt_subscribe(client *c)
{
	unsigned char b[64];
	char topic[32];
	size_t n = 0;
	int tn = snprintf(topic, sizeof topic, "bench/%d", c->chat);
	b[n++] = 0;
	b[n++] = 1; /* packet id */
	n += mqtt_str(b + n, topic, (size_t)tn);
	b[n++] = (unsigned char)O.qos;
	return mqtt_write(c, 0x82, b, n);
}

/* Packet ids run 1..65535; a sender has at most WINDOW_MAX in flight. */
static unsigned mqtt_id(uint32_t q)
{
	return (unsigned)((q - 1) % 65535u) + 1u;
}

static long mqtt_process(client *c, const char *p, size_t n)
{
	size_t off = 0;
	while (n - off >= 2) {
		const unsigned char *f = (const unsigned char *)p + off;
		size_t avail = n - off, len = 0, h = 1;
		unsigned shift = 0;
		bool whole = false;
		while (h < avail && h <= 4) {
			unsigned char b = f[h++];
			len |= (size_t)(b & 127) << shift;
			shift += 7;
			if (!(b & 128)) {
				whole = true;
				break;
			}
		}
		if (!whole) {
			if (h > 4) {
				client_lost(c, "mqtt", "bad remaining length");
				return -1;
			}
			break;
		}
		if (avail - h < len)
			break;
		const unsigned char *b = f + h;
		unsigned type = f[0] >> 4;
		if (type == 2) { /* CONNACK */
			if (len < 2 || b[1] != 0) {
				client_lost(c, "mqtt", "connection refused");
				return -1;
			}
			c->state = C_HELLO;
			if (c->chat < 0)
				on_hello(c);
			else if (mqtt_subscribe(c) != 0)
				client_lost(c, "mqtt", "subscribe");
		} else if (type == 9) { /* SUBACK */
			if (len < 3 || b[2] == 0x80) {
				client_lost(c, "mqtt", "subscription refused");
				return -1;
			}
			on_hello(c);
		} else if (type == 3) { /* PUBLISH */
			unsigned qos = (f[0] >> 1) & 3;
			size_t at = len >= 2 ? 2 + ((size_t)b[0] << 8 | b[1]) : len + 1;
			if (at + (qos ? 2 : 0) > len) {
				client_lost(c, "mqtt", "short PUBLISH");
				return -1;
			}
			if (qos) {
				unsigned char ack[2] = {b[at], b[at + 1]};
				at += 2;
				mqtt_write(c, 0x40, ack, 2);
			}
			if (len - at > 4 && memcmp(b + at, "wl1 ", 4) == 0)
				on_payload(c, (const char *)b + at + 4, (const char *)b + len);
		} else if (type == 4) { /* PUBACK: the broker has our QoS 1 message */
			sender *sd = c->snd;
			if (len >= 2 && sd) {
				unsigned id = (unsigned)b[0] << 8 | b[1];
				/* acks come in order: the oldest send in flight */
				uint32_t q = sd->ack_hi + 1;
				if (mqtt_id(q) != id)
					w_note_order(c);
				ack_seq(c, q, false);
			}
		} else if (type != 13) { /* PINGRESP is fine */
			client_lost(c, "mqtt", "unexpected packet");
			return -1;
		}
		if (c->hclosing)
			return -1;
		off += h + len;
	}
	return (long)off;
}

/* Handles the complete frames (and the handshake response) in p; returns
 * the bytes used, or -1 when the connection went away meanwhile. */
static long process(client *c, const char *p, size_t n)
{
	size_t off = 0;
	if (O.mqtt)
		return mqtt_process(c, p, n);
	if (c->state == C_HANDSHAKE) {
		const char *eoh = memmem(p, n, "\r\n\r\n", 4);
		if (!eoh) {
			if (n > 8192)
				client_lost(c, "handshake", "response too long");
			return c->hclosing ? -1 : 0;
		}
		if (n < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
			char line[160];
			size_t l = strcspn(p, "\r");
			snprintf(line, sizeof line, "%.*s", (int)(l < 150 ? l : 150), p);
			client_lost(c, "handshake refused", line);
			return -1;
		}
		if (!accept_ok(c, p, (size_t)(eoh + 2 - p))) {
			client_lost(c, "handshake", "wrong Sec-WebSocket-Accept");
			return -1;
		}
		c->state = C_HELLO;
		off = (size_t)(eoh + 4 - p);
	}
	while (n - off >= 2) {
		const unsigned char *f = (const unsigned char *)p + off;
		size_t avail = n - off, h = 2;
		int op = f[0] & 0x0f;
		uint64_t len = f[1] & 0x7f;
		if (f[1] & 0x80) {
			client_lost(c, "protocol", "masked server frame");
			return -1;
		}
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)f[2] << 8 | f[3];
			h = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | f[2 + i];
			h = 10;
		}
		if (len > (16u << 20)) {
			client_lost(c, "protocol", "frame above 16 MiB");
			return -1;
		}
		if (avail - h < len)
			break;
		const char *pl = (const char *)f + h;
		if (!(f[0] & 0x80) || op == 0) {
			client_lost(c, "protocol", "fragmented frame (herald sends whole frames)");
			return -1;
		}
		if (op == 1) {
			on_text(c, pl, (size_t)len);
		} else if (op == 9) {
			ws_write(c, 10, pl, (size_t)len); /* pong */
		} else if (op == 8) {
			if (c->state == C_CLOSING) {
				handle_close(c); /* our closing handshake is complete */
			} else {
				char why[160];
				int code = len >= 2 ? ((unsigned char)pl[0] << 8 | (unsigned char)pl[1]) : 1005;
				snprintf(why, sizeof why, "%d %.*s", code, (int)(len > 2 && len < 130 ? len - 2 : 0),
				         pl + 2);
				client_lost(c, "closed by the server", why);
			}
			return -1;
		} else if (op != 10) {
			client_lost(c, "protocol", "unexpected opcode");
			return -1;
		}
		if (c->hclosing)
			return -1;
		off += h + (size_t)len;
	}
	return (long)off;
}

static int keep(client *c, const char *p, size_t n)
{
	if (c->rlen + n > c->rcap) {
		size_t cap = c->rcap ? c->rcap : 1024;
		while (cap < c->rlen + n)
			cap *= 2;
		char *b = realloc(c->rbuf, cap);
		if (!b)
			return -1;
		c->rbuf = b;
		c->rcap = cap;
	}
	memcpy(c->rbuf + c->rlen, p, n);
	c->rlen += n;
	return 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	(void)suggested;
	client *c = h->data;
	*b = uv_buf_init(c->w->rd, READ_BUF); /* one read at a time per loop: one buffer */
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
	client *c = st->data;
	if (c->hclosing || nread == 0)
		return;
	if (nread < 0) {
		if (c->state == C_CLOSING)
			handle_close(c);
		else
			client_lost(c, "connection lost",
			            nread == UV_EOF ? "closed by the server" : uv_strerror((int)nread));
		return;
	}
	const char *p = b->base;
	size_t n = (size_t)nread;
	if (c->rlen) {
		if (keep(c, p, n) != 0) {
			client_lost(c, "out of memory", NULL);
			return;
		}
		p = c->rbuf;
		n = c->rlen;
	}
	long used = process(c, p, n);
	if (used < 0 || c->hclosing)
		return;
	if (c->rlen) {
		memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
		c->rlen -= (size_t)used;
		if (!c->rlen) {
			free(c->rbuf);
			c->rbuf = NULL;
			c->rcap = 0;
		}
	} else if ((size_t)used < n && keep(c, p + used, n - (size_t)used) != 0) {
		client_lost(c, "out of memory", NULL);
	}
}

static void on_connect(uv_connect_t *req, int status)
{
	client *c = req->data;
	if (c->hclosing)
		return;
	if (status < 0) {
		client_lost(c, "connect", uv_strerror(status));
		return;
	}
	if (O.mqtt) {
		c->state = C_HANDSHAKE;
		int mrc = mqtt_connect(c);
		if (mrc == 0)
			mrc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
		if (mrc != 0)
			client_lost(c, "connect", uv_strerror(mrc));
		return;
	}
	unsigned char raw[16];
	if (RAND_bytes(raw, sizeof raw) != 1)
		for (size_t i = 0; i < sizeof raw; i++)
			raw[i] = (unsigned char)rnd32();
	EVP_EncodeBlock((unsigned char *)c->key, raw, sizeof raw);
	char hs[512], pos[32] = "";
	if (c->has_pos) /* back after the storm: resume after the last event seen */
		snprintf(pos, sizeof pos, "&pos=%" PRIu64, c->pos);
	int n = snprintf(hs, sizeof hs,
	                 "GET /ws?token=%s%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
	                 tokens[c->user], pos, O.host, c->key);
	c->state = C_HANDSHAKE;
	int rc = raw_write(c, hs, (size_t)n);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc != 0)
		client_lost(c, "handshake", uv_strerror(rc));
}

static void start_connect(worker *w, client *c)
{
	if (!w->r->connect_start)
		w->r->connect_start = now_ns();
	/* A reconnect comes from the next source address: the server's side of
	 * the old connection may sit in TIME_WAIT on the same address and port,
	 * and a SYN that hits it waits a 1 s retransmission (real clients come
	 * from elsewhere anyway). */
	int fd = socket_from(O.sources[((size_t)c->user + c->attempts++) % (size_t)O.nsources], true);
	if (fd < 0) {
		client_lost(c, "socket", strerror(-fd));
		return;
	}
	if (uv_tcp_init(&w->loop, &c->tcp) != 0) {
		close(fd);
		client_lost(c, "socket", "uv_tcp_init");
		return;
	}
	c->tcp.data = c;
	c->creq.data = c;
	c->hinit = true;
	w->open++;
	c->state = C_CONNECTING;
	w->pending++;
	int rc = uv_tcp_open(&c->tcp, fd);
	if (rc != 0)
		close(fd);
	else
		rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&O.dst, on_connect);
	if (rc != 0)
		client_lost(c, "connect", uv_strerror(rc));
}

static void pump_connects(worker *w)
{
	size_t limit = w->ncl;
	if (O.nsteps) {
		int st = atomic_load(&SH->step);
		limit = w->step_allow[st < O.nsteps ? st : O.nsteps - 1];
	}
	while (w->phase == P_CONNECT && w->pending < (size_t)O.connect_parallel && w->next_connect < limit)
		start_connect(w, &w->cl[w->next_connect++]);
}

/* Storm mode: clients due to come back, as many at a time as connects may be in flight. */
static void pump_reconnects(worker *w, uint64_t now)
{
	if (!w->reconnecting)
		return;
	for (size_t i = 0; i < w->ncl && w->pending < (size_t)O.connect_parallel; i++) {
		client *c = &w->cl[i];
		if (c->reconnect && !c->hinit && c->reconnect_at <= now) {
			c->reconnect = false;
			c->gone = false;
			start_connect(w, c);
		}
	}
}

/* Writes send q of s (sent at ts): a herald "send" frame (with a client_id
 * in storm mode, so that a repeat after the restart is not posted twice)
 * or an MQTT PUBLISH. The text is padded to --payload bytes. */
static int send_frame(sender *s, uint32_t q, uint64_t ts)
{
	char text[PAYLOAD_MAX + 1], buf[PAYLOAD_MAX + 256], cid[48] = "";
	client *c = s->c;
	int tn = snprintf(text, sizeof text, "wl1 %d %" PRIu32 " %" PRIu64, c->user, q, ts);
	if (O.payload > tn) {
		memset(text + tn, ' ', (size_t)(O.payload - tn));
		tn = O.payload;
		text[tn] = '\0';
	}
	if (O.mqtt) {
		unsigned char *b = (unsigned char *)buf;
		char topic[32];
		int topn = snprintf(topic, sizeof topic, "bench/%d", c->chat);
		size_t n = mqtt_str(b, topic, (size_t)topn);
		if (O.qos) {
			b[n++] = (unsigned char)(mqtt_id(q) >> 8);
			b[n++] = (unsigned char)mqtt_id(q);
		}
		memcpy(b + n, text, (size_t)tn);
		return mqtt_write(c, 0x30u | (unsigned)O.qos << 1, b, n + (size_t)tn);
	}
	if (O.storm_at > 0)
		snprintf(cid, sizeof cid, ",\"client_id\":\"wl-%d-%" PRIu32 "\"", c->user, q);
	int n = snprintf(buf, sizeof buf, "{\"type\":\"send\",\"id\":%" PRIu32 ",\"chat\":%lld,\"text\":\"%s\"%s}", q,
	                 chat_ids[c->chat], text, cid);
	return ws_write(c, 1, buf, (size_t)n);
}

static void send_one(worker *w, sender *s)
{
	uint32_t q = ++s->seq;
	uint64_t ts = now_ns();
	s->sent_at[q % WINDOW_MAX] = ts;
	s->inflight++;
	w->r->sent++;
	if (ts >= w->t_measure && ts < w->t_end)
		w->r->sent_window++;
	int rc = send_frame(s, q, ts);
	if (rc != 0)
		client_lost(s->c, "send", uv_strerror(rc));
}

/* Back after the storm: what was sent and not acknowledged goes again, in
 * order and with the same client_id (herald answers a repeat with the
 * stored message). */
static void resend(worker *w, sender *s)
{
	s->inflight = s->seq - s->ack_hi;
	for (uint32_t q = s->ack_hi + 1; q <= s->seq; q++) {
		w->r->resent++;
		int rc = send_frame(s, q, s->sent_at[q % WINDOW_MAX]);
		if (rc != 0) {
			client_lost(s->c, "send", uv_strerror(rc));
			return;
		}
	}
}

/* Rate mode: each sender has its own schedule; a send that had to wait for
 * the window is late (the server falls behind the offered rate). */
static void send_due(worker *w, uint64_t now)
{
	for (size_t i = 0; i < w->nsnd; i++) {
		sender *s = &w->snd[i];
		while (s->c->state == C_LIVE && s->due <= now && s->inflight < (uint32_t)O.window) {
			if (now - s->due > LATE_NS)
				w->r->late++;
			send_one(w, s);
			s->due += w->period;
		}
	}
}

static void sum_acked(worker *w)
{
	memset(w->chat_acked, 0, (size_t)O.chats * sizeof *w->chat_acked);
	for (size_t i = 0; i < w->nsnd; i++)
		w->chat_acked[w->snd[i].c->chat] += w->snd[i].acked;
}

/* Every live sender has its acks and every live receiver every
 * acknowledged message of its chat. */
static bool drained(worker *w)
{
	if (w->reconnecting)
		return false; /* storm: not everyone is back yet */
	for (size_t i = 0; i < w->nsnd; i++)
		if (w->snd[i].inflight && w->snd[i].c->state == C_LIVE)
			return false;
	sum_acked(w);
	uint64_t expected = 0;
	for (int c = 0; c < O.chats; c++)
		expected += w->chat_acked[c] * (uint64_t)w->live_members[c];
	return w->unique_total >= expected;
}

static void start_close(worker *w)
{
	static const unsigned char bye[2] = {1000 >> 8, 1000 & 0xff};
	w->phase = P_CLOSE;
	w->phase_start = now_ns();
	for (size_t i = 0; i < w->ncl; i++) {
		client *c = &w->cl[i];
		if (c->state == C_LIVE && !c->hclosing) {
			c->state = C_CLOSING;
			if ((O.mqtt ? mqtt_write(c, 0xE0, NULL, 0) : ws_write(c, 8, (const char *)bye, 2)) != 0)
				handle_close(c);
		} else if (c->state != C_CLOSING) {
			handle_close(c);
		}
	}
}

static void start_run(worker *w)
{
	w->phase = P_RUN;
	w->t_measure = w->t0 + (uint64_t)(O.warmup * 1e9);
	w->t_end = w->t_measure + (uint64_t)(O.duration * 1e9);
	if (O.rate > 0) {
		double period = 1e9 * O.senders / O.rate;
		w->period = (uint64_t)period;
		for (size_t i = 0; i < w->nsnd; i++)
			w->snd[i].due = w->t0 + (uint64_t)(period * w->snd[i].c->user / O.senders);
	} else {
		for (size_t i = 0; i < w->nsnd; i++)
			for (int k = 0; k < O.window && w->snd[i].c->state == C_LIVE; k++)
				send_one(w, &w->snd[i]);
	}
}

static void on_tick(uv_timer_t *t)
{
	worker *w = t->data;
	uint64_t now = now_ns();
	if (atomic_load(&SH->abort) && w->phase < P_CLOSE)
		start_close(w);
	switch (w->phase) {
	case P_CONNECT:
		pump_connects(w);
		if (w->resolved < w->ncl && now - w->last_progress > CONNECT_STALL)
			for (size_t i = 0; i < w->ncl; i++)
				if (w->cl[i].state < C_LIVE)
					client_lost(&w->cl[i], "connect", "no hello in time");
		if (w->resolved == w->ncl) {
			w->r->rss_kb = (uint64_t)rss_kb(0);
			w->phase = P_WAIT;
			atomic_store(&w->r->state, W_CONNECTED);
		}
		break;
	case P_WAIT:
		if (atomic_load(&SH->go) && now >= SH->t0) {
			w->t0 = SH->t0;
			start_run(w);
		}
		break;
	case P_RUN:
		pump_reconnects(w, now);
		if (now >= w->t_end) {
			w->phase = P_DRAIN;
			w->phase_start = now;
		} else if (O.rate > 0) {
			send_due(w, now);
		}
		break;
	case P_DRAIN:
		pump_reconnects(w, now);
		if (drained(w) || now - w->phase_start > DRAIN_TIMEOUT)
			start_close(w);
		break;
	case P_CLOSE:
		if (w->open && now - w->phase_start > CLOSE_TIMEOUT)
			for (size_t i = 0; i < w->ncl; i++)
				handle_close(&w->cl[i]);
		if (!w->open) {
			uv_timer_stop(t);
			uv_close((uv_handle_t *)t, NULL);
		}
		break;
	}
}

/* Worker p: the chats c with c % P == p and every user in them (and the
 * idle users i with i % C % P == p). */
static int worker_main(int id, int procs)
{
	worker *w = calloc(1, sizeof *w);
	if (!w)
		return 1;
	w->id = id;
	w->r = &SH->w[id];
	rnd_state ^= (uint64_t)getpid() << 20 ^ now_ns();
	for (int i = 0; i < O.users; i++)
		w->ncl += i % O.chats % procs == id;
	w->cl = calloc(w->ncl ? w->ncl : 1, sizeof *w->cl);
	w->live_members = calloc((size_t)O.chats, sizeof *w->live_members);
	w->chat_acked = calloc((size_t)O.chats, sizeof *w->chat_acked);
	if (!w->cl || !w->live_members || !w->chat_acked)
		return 1;
	size_t n = 0;
	for (int i = 0; i < O.users; i++) {
		if (i % O.chats % procs != id)
			continue;
		client *c = &w->cl[n++];
		c->w = w;
		c->user = i;
		c->chat = chat_of(i);
		if (c->chat >= 0 && senders_of(c->chat) && !(c->last = calloc((size_t)senders_of(c->chat), 4)))
			return 1;
		w->nsnd += i < O.senders;
	}
	w->snd = calloc(w->nsnd ? w->nsnd : 1, sizeof *w->snd);
	if (!w->snd)
		return 1;
	for (int k = 0; k < O.nsteps; k++)
		for (size_t i = 0; i < w->ncl; i++)
			w->step_allow[k] += w->cl[i].user < O.steps[k];
	for (size_t i = 0, k = 0; i < w->ncl; i++)
		if (w->cl[i].user < O.senders) {
			w->snd[k].c = &w->cl[i];
			w->cl[i].snd = &w->snd[k++];
		}
	if (uv_loop_init(&w->loop) != 0 || uv_timer_init(&w->loop, &w->tick) != 0)
		return 1;
	w->tick.data = w;
	w->last_progress = now_ns();
	uv_timer_start(&w->tick, on_tick, 1, 1);
	pump_connects(w);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	uv_loop_close(&w->loop);

	/* Every receiver that stayed must hold every acknowledged message of
	 * its chat. */
	sum_acked(w);
	w->r->not_back = w->reconnecting;
	for (size_t i = 0; i < w->ncl; i++) {
		client *c = &w->cl[i];
		if (!c->was_live || c->dropped || c->chat < 0)
			continue;
		uint64_t want = w->chat_acked[c->chat];
		w->r->expected += want;
		w->r->delivered += c->unique;
		if (c->unique < want)
			w->r->lost += want - c->unique;
		else
			w->r->extra += c->unique - want;
	}
	atomic_store(&w->r->state, W_DONE);
	return 0;
}

/* ---- the parent: options, setup, workers, report ----------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: wsload --url http://127.0.0.1:PORT --token API_TOKEN [options]\n"
	           "  --users N         connections, one user each (default 200)\n"
	           "  --chats C         group chats (default 4)\n"
	           "  --members M       members per chat: user i is in chat i %% C if i / C < M (default 50)\n"
	           "  --senders S       users 0..S-1 post (default 4)\n"
	           "  --rate R          messages/s in total; 0: as fast as acks allow (default 200)\n"
	           "  --window W        unacknowledged sends per sender, at most 256 (default 8)\n"
	           "  --duration D      measured seconds (default 10)\n"
	           "  --warmup W        seconds before measuring (default 2)\n"
	           "  --sources A,B,..  loopback source addresses for the client sockets (default 127.0.0.1)\n"
	           "  --server-pid PID  read the server's RSS and file limit from /proc\n"
	           "  --procs P         client processes (default: users / per-proc, rounded up)\n"
	           "  --per-proc N      connections per client process (default 9000)\n"
	           "  --connect-parallel N  handshakes in flight per process (default 256)\n"
	           "  --payload B       pad each message text to B bytes (default: no padding)\n"
	           "  --steps N1,N2,..  connect in stages and read the server's RSS after each (memory growth)\n"
	           "  --storm-at T      SIGKILL the server (--server-pid) T s into the run; clients come back with\n"
	           "                    their last pos, senders repeat unacknowledged sends (same client_id);\n"
	           "                    whoever restarts the server (bench/ws.sh storm) must reuse the port\n"
	           "  --storm-timeout T clients not back T s after the kill have failed (default 30)\n"
	           "  --url mqtt://127.0.0.1:PORT --qos 0|1  the same scenario against an MQTT 3.1.1 broker:\n"
	           "                    chat c is topic bench/c, a send is a PUBLISH (QoS 0: the window moves when\n"
	           "                    the sender's own copy arrives; QoS 1: on PUBACK)\n");
}

static int parse_sources(const char *list)
{
	char buf[1024];
	snprintf(buf, sizeof buf, "%s", list);
	O.nsources = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (O.nsources == SOURCES_MAX || inet_pton(AF_INET, t, &O.sources[O.nsources]) != 1 ||
		    !is_loopback(O.sources[O.nsources])) {
			fprintf(stderr, "wsload: --sources: %s is not an address in 127.0.0.0/8\n", t);
			return -1;
		}
		O.nsources++;
	}
	return O.nsources ? 0 : -1;
}

static int parse_url(const char *url)
{
	const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : strncmp(url, "ws://", 5) == 0 ? url + 5 : NULL;
	if (!p && strncmp(url, "mqtt://", 7) == 0) {
		p = url + 7;
		O.mqtt = true;
	}
	char host[24];
	const char *colon = p ? strchr(p, ':') : NULL;
	if (!colon || (size_t)(colon - p) >= sizeof host) {
		fprintf(stderr, "wsload: --url must be http://127.x.y.z:PORT (herald) or mqtt://127.x.y.z:PORT\n");
		return -1;
	}
	memcpy(host, p, (size_t)(colon - p));
	host[colon - p] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	char *end;
	long port = strtol(colon + 1, &end, 10);
	O.dst.sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &O.dst.sin_addr) != 1 || !is_loopback(O.dst.sin_addr) || port <= 0 ||
	    port > 65535 || (*end && strcmp(end, "/") != 0)) {
		fprintf(stderr, "wsload: refusing %s: only http://127.x.y.z:PORT (the loopback network) is allowed\n",
		        url);
		return -1;
	}
	O.dst.sin_port = htons((uint16_t)port);
	snprintf(O.host, sizeof O.host, "%s:%ld", host, port);
	return 0;
}

static int parse_args(int argc, char **argv)
{
	enum {
		O_URL = 256,
		O_TOKEN,
		O_USERS,
		O_CHATS,
		O_MEMBERS,
		O_SENDERS,
		O_RATE,
		O_WINDOW,
		O_DURATION,
		O_WARMUP,
		O_SOURCES,
		O_PID,
		O_PROCS,
		O_PER_PROC,
		O_PARALLEL,
		O_QOS,
		O_PAYLOAD,
		O_STEPS,
		O_STORM_AT,
		O_STORM_TIMEOUT,
		O_HELP
	};
	static const struct option lo[] = {
	        {"url", required_argument, NULL, O_URL},
	        {"token", required_argument, NULL, O_TOKEN},
	        {"users", required_argument, NULL, O_USERS},
	        {"chats", required_argument, NULL, O_CHATS},
	        {"members", required_argument, NULL, O_MEMBERS},
	        {"senders", required_argument, NULL, O_SENDERS},
	        {"rate", required_argument, NULL, O_RATE},
	        {"window", required_argument, NULL, O_WINDOW},
	        {"duration", required_argument, NULL, O_DURATION},
	        {"warmup", required_argument, NULL, O_WARMUP},
	        {"sources", required_argument, NULL, O_SOURCES},
	        {"server-pid", required_argument, NULL, O_PID},
	        {"procs", required_argument, NULL, O_PROCS},
	        {"per-proc", required_argument, NULL, O_PER_PROC},
	        {"connect-parallel", required_argument, NULL, O_PARALLEL},
	        {"qos", required_argument, NULL, O_QOS},
	        {"payload", required_argument, NULL, O_PAYLOAD},
	        {"steps", required_argument, NULL, O_STEPS},
	        {"storm-at", required_argument, NULL, O_STORM_AT},
	        {"storm-timeout", required_argument, NULL, O_STORM_TIMEOUT},
	        {"help", no_argument, NULL, O_HELP},
	        {NULL, 0, NULL, 0},
	};
	bool have_url = false;
	O.sources[0].s_addr = htonl(0x7f000001);
	O.nsources = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case O_URL:
			if (parse_url(optarg) != 0)
				return -1;
			have_url = true;
			break;
		case O_TOKEN:
			O.token = optarg;
			break;
		case O_USERS:
			O.users = atoi(optarg);
			break;
		case O_CHATS:
			O.chats = atoi(optarg);
			break;
		case O_MEMBERS:
			O.members = atoi(optarg);
			break;
		case O_SENDERS:
			O.senders = atoi(optarg);
			break;
		case O_RATE:
			O.rate = atof(optarg);
			break;
		case O_WINDOW:
			O.window = atoi(optarg);
			break;
		case O_DURATION:
			O.duration = atof(optarg);
			break;
		case O_WARMUP:
			O.warmup = atof(optarg);
			break;
		case O_SOURCES:
			if (parse_sources(optarg) != 0)
				return -1;
			break;
		case O_PID:
			O.server_pid = atol(optarg);
			break;
		case O_PROCS:
			O.procs = atoi(optarg);
			break;
		case O_PER_PROC:
			O.per_proc = atoi(optarg);
			break;
		case O_PARALLEL:
			O.connect_parallel = atoi(optarg);
			break;
		case O_QOS:
			O.qos = atoi(optarg);
			break;
		case O_PAYLOAD:
			O.payload = atoi(optarg);
			break;
		case O_STEPS: {
			char buf[256];
			snprintf(buf, sizeof buf, "%s", optarg);
			O.nsteps = 0;
			for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (O.nsteps == STEPS_MAX)
					break;
				O.steps[O.nsteps++] = atoi(t);
			}
			break;
		}
		case O_STORM_AT:
			O.storm_at = atof(optarg);
			break;
		case O_STORM_TIMEOUT:
			O.storm_timeout = atof(optarg);
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	const char *bad = NULL;
	if (optind < argc)
		bad = "unexpected argument";
	else if (!have_url || (!O.mqtt && !O.token) || (O.token && strlen(O.token) > 512))
		bad = "--url and --token are required (no token for mqtt://)";
	else if (O.qos < 0 || O.qos > 1 || O.payload < 0 || O.payload > PAYLOAD_MAX)
		bad = "--qos must be 0 or 1 and --payload between 0 and 4096";
	else if (O.storm_at < 0 || (O.storm_at > 0 && (O.mqtt || O.server_pid <= 0)))
		bad = "--storm-at needs herald and --server-pid";
	else if (O.users < 1 || O.chats < 1 || O.members < 1 || O.users > 1000000)
		bad = "--users, --chats and --members must be positive";
	else if (O.senders < 0 || O.senders > O.users || (long)O.senders > (long)O.chats * O.members)
		bad = "--senders must be at most min(users, chats * members): every sender is a member";
	else if (O.rate < 0 || O.window < 1 || O.window > WINDOW_MAX)
		bad = "--rate must be >= 0 and --window between 1 and 256";
	else if (O.duration <= 0 || O.warmup < 0)
		bad = "--duration must be positive and --warmup not negative";
	else if (O.per_proc < 1 || O.procs < 0 || O.connect_parallel < 1)
		bad = "--per-proc, --procs and --connect-parallel must be positive";
	for (int k = 0; !bad && k < O.nsteps; k++)
		if (O.steps[k] < 1 || O.steps[k] > O.users || (k && O.steps[k] <= O.steps[k - 1]))
			bad = "--steps must rise and stay within --users";
	if (!bad && O.nsteps && O.steps[O.nsteps - 1] != O.users) { /* the last stage is everyone */
		if (O.nsteps == STEPS_MAX)
			O.nsteps--;
		O.steps[O.nsteps++] = O.users;
	}
	if (bad) {
		fprintf(stderr, "wsload: %s\n", bad);
		return -1;
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

int main(int argc, char **argv)
{
	if (parse_args(argc, argv) != 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	int procs = O.procs ? O.procs : (O.users + O.per_proc - 1) / O.per_proc;
	if (procs > O.chats)
		procs = O.chats; /* a worker owns whole chats */
	if (procs < 1)
		procs = 1;
	size_t biggest = 0;
	for (int p = 0; p < procs; p++) {
		size_t n = 0;
		for (int i = 0; i < O.users; i++)
			n += i % O.chats % procs == p;
		biggest = n > biggest ? n : biggest;
	}

	if (O.mqtt)
		printf("wsload: MQTT 3.1.1 broker, QoS %d, the same fan-out (chat c = topic bench/c)\n", O.qos);
	else
		printf("wsload: herald realtime fan-out\n");
	printf("  scenario        %d users, %d chats x %d members, %d senders, ", O.users, O.chats,
	       members_of(0) < O.members ? members_of(0) : O.members, O.senders);
	if (O.rate > 0)
		printf("%.0f messages/s, window %d", O.rate, O.window);
	else
		printf("as fast as acks allow, window %d per sender", O.window);
	printf(", warmup %.0f s, measured %.0f s\n", O.warmup, O.duration);
	printf("  limits          %d client process(es), at most %zu connections each (--per-proc %d; open files: "
	       "hard limit %llu per process);\n"
	       "                  the server holds one file per connection too and refuses connections beyond "
	       "http.max_connections (%d by default)\n",
	       procs, biggest, O.per_proc, (unsigned long long)rl.rlim_max, SERVER_CONN_CAP);
	long server_files = O.server_pid > 0 ? nofile_of(O.server_pid) : -1;
	if ((rlim_t)biggest + 64 > rl.rlim_max)
		fprintf(stderr,
		        "wsload: warning: %zu connections in one process exceed the file limit %llu: use --procs\n",
		        biggest, (unsigned long long)rl.rlim_max);
	if (server_files > 0 && O.users + 64 > server_files)
		fprintf(stderr, "wsload: warning: the server may open %ld files; %d connections will not fit\n",
		        server_files, O.users);
	if (O.users > SERVER_CONN_CAP - 100)
		fprintf(stderr, "wsload: warning: %d connections is above what herald accepts by default (%d)\n",
		        O.users, SERVER_CONN_CAP);

	tokens = calloc((size_t)O.users, sizeof *tokens);
	chat_ids = calloc((size_t)O.chats, sizeof *chat_ids);
	if (!tokens || !chat_ids)
		return 1;
	double secs[3] = {0};
	if (!O.mqtt && setup(secs) != 0)
		return 1;
	if (!O.mqtt)
		printf("  setup           %d users in %.1f s, %d chats in %.1f s, %d sessions in %.1f s\n", O.users,
		       secs[0], O.chats, secs[1], O.users, secs[2]);

	long rss_before = O.server_pid > 0 ? rss_kb(O.server_pid) : -1;
	size_t shsize = sizeof(shared) + (size_t)procs * sizeof(wresult);
	SH = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (SH == MAP_FAILED)
		return 1;
	fflush(NULL);
	pid_t *pids = calloc((size_t)procs, sizeof *pids);
	if (!pids)
		return 1;
	for (int p = 0; p < procs; p++) {
		if ((pids[p] = fork()) == 0)
			_exit(worker_main(p, procs));
		if (pids[p] < 0) {
			perror("wsload: fork");
			atomic_store(&SH->abort, 1);
			procs = p;
			break;
		}
	}

	/* Wait for every worker to be connected, measure, start the clock,
	 * then wait for them to finish. */
	long rss_after = -1;
	int alive = procs, failed_workers = 0, sampled = 0;
	long step_rss[STEPS_MAX];
	double step_s[STEPS_MAX];
	uint64_t step_t = now_ns(), step_done = 0;
	double cpu[2][2] = {{0}}; /* [start, end of the measured window][server, clients] */
	bool cpu_ok[2] = {O.server_pid > 0, true};
	while (alive > 0) {
		uint64_t now = now_ns();
		if (atomic_load(&SH->go) && sampled < 2 &&
		    now >= SH->t0 + (uint64_t)((O.warmup + (sampled ? O.duration : 0)) * 1e9)) {
			if ((cpu[sampled][0] = O.server_pid > 0 ? cpu_s(O.server_pid) : 0) < 0)
				cpu_ok[0] = false;
			for (int p = 0; p < procs; p++) {
				double c = cpu_s(pids[p]);
				cpu[sampled][1] += c;
				cpu_ok[1] = cpu_ok[1] && c >= 0;
			}
			sampled++;
		}
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			alive--;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				failed_workers++;
				atomic_store(&SH->abort, 1);
			}
		}
		if (O.nsteps && !atomic_load(&SH->abort) && atomic_load(&SH->step) < O.nsteps - 1) {
			/* memory growth: every worker has resolved this stage; settle, read the RSS, go on */
			int stage = atomic_load(&SH->step);
			uint64_t resolved = 0;
			for (int p = 0; p < procs; p++)
				resolved += SH->w[p].connected + SH->w[p].failed;
			if (resolved >= (uint64_t)O.steps[stage] && !step_done) {
				step_done = now;
				step_s[stage] = (double)(now - step_t) / 1e9;
			}
			if (step_done && now - step_done >= STEP_SETTLE_MS * NS_PER_MS) {
				step_rss[stage] = O.server_pid > 0 ? rss_kb(O.server_pid) : -1;
				step_done = 0;
				step_t = now_ns();
				atomic_store(&SH->step, stage + 1);
			}
		}
		if (O.storm_at > 0 && atomic_load(&SH->go) && !atomic_load(&SH->killed) &&
		    now >= SH->t0 + (uint64_t)(O.storm_at * 1e9)) {
			/* the storm: the server dies without a word; bench/ws.sh restarts it */
			atomic_store(&SH->t_kill, now_ns());
			kill((pid_t)O.server_pid, SIGKILL);
			atomic_store(&SH->killed, 1);
			printf("  storm           server (pid %ld) killed at %.1f s\n", O.server_pid, O.storm_at);
		}
		if (!atomic_load(&SH->go) && !atomic_load(&SH->abort)) {
			bool all = true;
			for (int p = 0; p < procs; p++)
				all = all && atomic_load(&SH->w[p].state) >= W_CONNECTED;
			if (all) {
				if (O.nsteps) {
					step_s[O.nsteps - 1] = (double)(now - step_t) / 1e9;
					sleep_ms(STEP_SETTLE_MS);
				}
				rss_after = O.server_pid > 0 ? rss_kb(O.server_pid) : -1;
				if (O.nsteps)
					step_rss[O.nsteps - 1] = rss_after;
				SH->t0 = now_ns() + 20 * NS_PER_MS;
				atomic_store(&SH->go, 1);
			}
		}
		if (alive > 0)
			sleep_ms(5);
	}

	wresult *t = calloc(1, sizeof *t);
	if (!t)
		return 1;
	uint64_t cstart = UINT64_MAX, cend = 0, client_rss = 0;
	for (int p = 0; p < procs; p++) {
		wresult *r = &SH->w[p];
#define SUM(f) t->f += r->f
		SUM(connected);
		SUM(failed);
		SUM(dropped);
		SUM(sent);
		SUM(sent_window);
		SUM(acked);
		SUM(errors);
		SUM(late);
		SUM(delivered_window);
		SUM(delivered);
		SUM(expected);
		SUM(lost);
		SUM(duplicated);
		SUM(gaps);
		SUM(misrouted);
		SUM(extra);
		SUM(reconnected);
		SUM(resent);
		SUM(not_back);
#undef SUM
		if (r->storm_first && (!t->storm_first || r->storm_first < t->storm_first))
			t->storm_first = r->storm_first;
		if (r->storm_last > t->storm_last)
			t->storm_last = r->storm_last;
		hist_merge(&t->lat, &r->lat);
		hist_merge(&t->ack, &r->ack);
		hist_merge(&t->back, &r->back);
		if (r->connect_start && r->connect_start < cstart)
			cstart = r->connect_start;
		if (r->connect_end > cend)
			cend = r->connect_end;
		client_rss += r->rss_kb;
	}
	double connect_s = cend > cstart ? (double)(cend - cstart) / 1e9 : 0;
	double per_conn = rss_before > 0 && rss_after > 0 && t->connected
	                          ? (double)(rss_after - rss_before) * 1024.0 / (double)t->connected
	                          : -1;
	bool ok = !failed_workers && t->connected == (uint64_t)O.users && !t->failed && !t->dropped && !t->lost &&
	          !t->duplicated && !t->gaps && !t->errors && !t->misrouted && !t->extra && !t->not_back;
	uint64_t t_kill = atomic_load(&SH->t_kill);
	if (O.storm_at > 0 && (!t_kill || t->reconnected < t->connected))
		ok = false; /* every client must have come back */

	printf("  connect         %" PRIu64 " of %d in %.2f s (%.0f/s), failed %" PRIu64 "\n", t->connected, O.users,
	       connect_s, connect_s > 0 ? (double)t->connected / connect_s : 0, t->failed);
	if (per_conn >= 0)
		printf("  server memory   RSS %.1f MiB before connecting, %.1f MiB with all connected: %.1f KiB per "
		       "connection\n",
		       rss_before / 1024.0, rss_after / 1024.0, per_conn / 1024);
	else
		printf("  server memory   unknown (give --server-pid)\n");
	printf("  client memory   RSS %.1f MiB in %d process(es)\n", (double)client_rss / 1024, procs);
	if (O.nsteps) {
		printf("  growth          connections | server RSS | per connection | marginal (since the stage "
		       "before) | "
		       "connect rate\n");
		for (int k = 0; k < O.nsteps; k++) {
			long prev_rss = k ? step_rss[k - 1] : rss_before;
			int prev_n = k ? O.steps[k - 1] : 0;
			double per = rss_before > 0 && step_rss[k] > 0
			                     ? (double)(step_rss[k] - rss_before) * 1024 / O.steps[k]
			                     : -1;
			double marg = prev_rss > 0 && step_rss[k] > 0
			                      ? (double)(step_rss[k] - prev_rss) * 1024 / (O.steps[k] - prev_n)
			                      : -1;
			printf("                  %11d | %7.1f MiB | %9.0f bytes | %9.0f bytes | %8.0f/s\n", O.steps[k],
			       step_rss[k] / 1024.0, per, marg, step_s[k] > 0 ? (O.steps[k] - prev_n) / step_s[k] : 0);
			printf("wsload-step: connections=%d server_rss_kb=%ld bytes_per_conn=%.0f "
			       "marginal_bytes_per_conn=%.0f "
			       "connect_per_s=%.0f\n",
			       O.steps[k], step_rss[k], per, marg,
			       step_s[k] > 0 ? (O.steps[k] - prev_n) / step_s[k] : 0);
		}
	}
	double storm_all = t_kill && t->storm_last > t_kill ? (double)(t->storm_last - t_kill) / 1e9 : -1;
	double storm_first = t_kill && t->storm_first > t_kill ? (double)(t->storm_first - t_kill) / 1e9 : -1;
	if (O.storm_at > 0)
		printf("  storm           %" PRIu64 " of %" PRIu64 " clients back (%" PRIu64
		       " not); the first %.2f s after the kill (the restart), all %.2f s after it; %" PRIu64
		       " unacknowledged sends repeated\n",
		       t->reconnected, t->connected, t->not_back, storm_first, storm_all, t->resent);
	if (O.storm_at > 0)
		printf("  back after      p10 %.2f s, p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s (kill to live, "
		       "per client)\n",
		       ms(hist_quantile(&t->back, 0.1)) / 1e3, ms(hist_quantile(&t->back, 0.5)) / 1e3,
		       ms(hist_quantile(&t->back, 0.9)) / 1e3, ms(hist_quantile(&t->back, 0.99)) / 1e3,
		       ms(t->back.max) / 1e3);
	double server_cores = sampled == 2 && cpu_ok[0] ? (cpu[1][0] - cpu[0][0]) / O.duration : -1;
	double client_cores = sampled == 2 && cpu_ok[1] ? (cpu[1][1] - cpu[0][1]) / O.duration : -1;
	if (server_cores >= 0 && client_cores >= 0)
		printf("  cpu             server %.2f cores, clients %.2f cores (of %ld) during the measured window\n",
		       server_cores, client_cores, sysconf(_SC_NPROCESSORS_ONLN));
	else
		printf("  cpu             unknown (give --server-pid; a process ended early)\n");
	printf("  sent            %" PRIu64 " (%.0f/s measured), acked %" PRIu64 ", errors %" PRIu64 ", late %" PRIu64
	       "\n",
	       t->sent, (double)t->sent_window / O.duration, t->acked, t->errors, t->late);
	printf("  delivered       %.0f messages/s to receivers (%" PRIu64 " in the measured %.0f s; %" PRIu64
	       " in all)\n",
	       (double)t->delivered_window / O.duration, t->delivered_window, O.duration, t->delivered);
	printf("  latency         p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (send to "
	       "receive)\n",
	       ms(hist_quantile(&t->lat, 0.5)), ms(hist_quantile(&t->lat, 0.9)), ms(hist_quantile(&t->lat, 0.99)),
	       ms(hist_quantile(&t->lat, 0.999)), ms(t->lat.max));
	printf("  ack latency     p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (send to ack)\n",
	       ms(hist_quantile(&t->ack, 0.5)), ms(hist_quantile(&t->ack, 0.9)), ms(hist_quantile(&t->ack, 0.99)),
	       ms(hist_quantile(&t->ack, 0.999)), ms(t->ack.max));
	printf("  checks          receivers got %" PRIu64 " of the %" PRIu64
	       " acknowledged messages of their chats; lost %" PRIu64 ", duplicated %" PRIu64 ", out of order %" PRIu64
	       ", dropped %" PRIu64 ", misrouted %" PRIu64 ", unacked but delivered %" PRIu64 ": %s\n",
	       t->delivered, t->expected, t->lost, t->duplicated, t->gaps, t->dropped, t->misrouted, t->extra,
	       ok ? "ok" : "FAILED");
	if (O.storm_at > 0)
		printf("wsload-storm: clients=%" PRIu64 " reconnected=%" PRIu64 " not_back=%" PRIu64
		       " first_back_s=%.3f all_back_s=%.3f back_p50_s=%.3f back_p90_s=%.3f resent=%" PRIu64
		       " lost=%" PRIu64 " duplicated=%" PRIu64 " result=%s\n",
		       t->connected, t->reconnected, t->not_back, storm_first, storm_all,
		       ms(hist_quantile(&t->back, 0.5)) / 1e3, ms(hist_quantile(&t->back, 0.9)) / 1e3, t->resent,
		       t->lost, t->duplicated, ok ? "ok" : "failed");
	printf("wsload: proto=%s qos=%d payload=%d users=%d chats=%d members=%d senders=%d rate=%.0f window=%d "
	       "warmup=%.0f duration=%.0f procs=%d "
	       "connected=%" PRIu64 " failed=%" PRIu64 " connect_s=%.3f connect_per_s=%.0f server_rss_before_kb=%ld "
	       "server_rss_after_kb=%ld server_bytes_per_conn=%.0f client_rss_kb=%" PRIu64 " sent=%" PRIu64
	       " acked=%" PRIu64 " errors=%" PRIu64 " late=%" PRIu64 " server_cores=%.2f client_cores=%.2f "
	       "sent_per_s=%.0f delivered_per_s=%.0f "
	       "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f ack_p50_ms=%.3f ack_p99_ms=%.3f "
	       "lost=%" PRIu64 " duplicated=%" PRIu64 " out_of_order=%" PRIu64 " dropped=%" PRIu64 " result=%s\n",
	       O.mqtt ? "mqtt" : "herald", O.qos, O.payload, O.users, O.chats, O.members, O.senders, O.rate, O.window,
	       O.warmup, O.duration, procs, t->connected, t->failed, connect_s,
	       connect_s > 0 ? (double)t->connected / connect_s : 0, rss_before, rss_after, per_conn, client_rss,
	       t->sent, t->acked, t->errors, t->late, server_cores, client_cores, (double)t->sent_window / O.duration,
	       (double)t->delivered_window / O.duration, ms(hist_quantile(&t->lat, 0.5)),
	       ms(hist_quantile(&t->lat, 0.9)), ms(hist_quantile(&t->lat, 0.99)), ms(hist_quantile(&t->lat, 0.999)),
	       ms(t->lat.max), ms(hist_quantile(&t->ack, 0.5)), ms(hist_quantile(&t->ack, 0.99)), t->lost,
	       t->duplicated, t->gaps, t->dropped, ok ? "ok" : "failed");
	free(t);
	free(pids);
	munmap(SH, shsize);
	return ok ? 0 : 1;
}
