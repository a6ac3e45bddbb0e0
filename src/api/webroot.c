/*
 * webroot.c — serving the built web apps from memory (see webroot.h).
 *
 * Why in memory: the web apps are a few megabytes, every request for them
 * must be answered without a blocking read on the loop, and a table of the
 * files that exist makes path traversal impossible by construction (a
 * request names a key, never a file system path). Loading walks the
 * directory with lstat: a symlink is followed only when its real path stays
 * inside the root's real path.
 *
 * Precompressed siblings written at build time (app.js.br, app.js.gz) become
 * variants of app.js and are not served under their own names; a variant is
 * kept only when it is smaller than the original.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "api/api_internal.h"
#include "api/webroot.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"

typedef struct wr_file {
	char *path; /* "/m/index.html" */
	char *data, *br, *gz;
	size_t len, br_len, gz_len;
	const char *ctype;
	char etag[24]; /* "\"<16 hex>\"" of the identity bytes */
	bool immutable;
} wr_file;

struct webroot {
	wr_file *files; /* sorted by path after loading */
	size_t count, cap;
	size_t bytes;
	char root_real[PATH_MAX];
};

/* ---- pure helpers --------------------------------------------------------------- */

int webroot_normalize(const char *raw, char *out, size_t out_size)
{
	if (!raw || raw[0] != '/')
		return HERR_BAD_REQUEST;
	size_t o = 0, seg_start = 0;
	for (const char *p = raw;; p++) {
		int ch = (unsigned char)*p;
		bool end = ch == '\0' || ch == '?' || ch == '#';
		if (!end && ch == '%') {
			int hi = hcodec_hex_value((unsigned char)p[1]),
			    lo = hi < 0 ? -1 : hcodec_hex_value((unsigned char)p[2]);
			if (lo < 0)
				return HERR_BAD_REQUEST;
			ch = hi * 16 + lo;
			p += 2;
			if (ch == 0)
				return HERR_BAD_REQUEST;
		}
		if (end || ch == '/') {
			/* Close the segment just written: "." and ".." are refused
			 * whether they came plain or percent-encoded. */
			size_t seg_len = o - seg_start;
			if ((seg_len == 1 && out[seg_start] == '.') ||
			    (seg_len == 2 && out[seg_start] == '.' && out[seg_start + 1] == '.'))
				return HERR_BAD_REQUEST;
			if (end)
				break;
			if (o > 0 && out[o - 1] == '/')
				continue; /* "//" collapses */
			if (o + 1 >= out_size)
				return HERR_FIELD_INVALID;
			out[o++] = '/';
			seg_start = o;
			continue;
		}
		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			return HERR_BAD_REQUEST;
		if (o + 1 >= out_size)
			return HERR_FIELD_INVALID;
		out[o++] = (char)ch;
	}
	if (o == 0) {
		if (out_size < 2)
			return HERR_FIELD_INVALID;
		out[o++] = '/';
	}
	out[o] = '\0';
	return 0;
}

static const struct {
	const char *ext, *type;
	bool compress;
} types[] = {
        {"html", "text/html; charset=utf-8", true},
        {"js", "text/javascript; charset=utf-8", true},
        {"mjs", "text/javascript; charset=utf-8", true},
        {"css", "text/css; charset=utf-8", true},
        {"json", "application/json; charset=utf-8", true},
        {"map", "application/json; charset=utf-8", true},
        {"webmanifest", "application/manifest+json; charset=utf-8", true},
        {"svg", "image/svg+xml; charset=utf-8", true},
        {"txt", "text/plain; charset=utf-8", true},
        {"md", "text/markdown; charset=utf-8", true},
        {"yaml", "application/yaml; charset=utf-8", true},
        {"yml", "application/yaml; charset=utf-8", true},
        {"xml", "application/xml; charset=utf-8", true},
        {"ico", "image/x-icon", true},
        {"wasm", "application/wasm", true},
        {"png", "image/png", false},
        {"jpg", "image/jpeg", false},
        {"jpeg", "image/jpeg", false},
        {"gif", "image/gif", false},
        {"webp", "image/webp", false},
        {"avif", "image/avif", false},
        {"woff", "font/woff", false},
        {"woff2", "font/woff2", false},
        {"ttf", "font/ttf", true},
        {"otf", "font/otf", true},
};

static const char *extension(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	const char *dot = strrchr(name, '.');
	return dot && dot != name ? dot + 1 : NULL;
}

const char *webroot_content_type(const char *path)
{
	const char *ext = path ? extension(path) : NULL;
	if (ext)
		for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
			if (strcasecmp(ext, types[i].ext) == 0)
				return types[i].type;
	return "application/octet-stream";
}

bool webroot_compressible(const char *content_type)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(content_type, types[i].type) == 0)
			return types[i].compress;
	return false;
}

/* The weight Accept-Encoding gives coding (or "*"): -1 when not named. */
static double coding_weight(const char *ae, const char *coding)
{
	double star = -1, named = -1;
	const char *p = ae;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *tok = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
			p++;
		size_t tlen = (size_t)(p - tok);
		double q = 1.0;
		/* parameters up to the next comma; only q matters */
		while (*p && *p != ',') {
			if (*p == ';') {
				p++;
				while (*p == ' ' || *p == '\t')
					p++;
				if ((*p == 'q' || *p == 'Q') && p[1] == '=') {
					char *endp;
					q = strtod(p + 2, &endp);
					if (endp == p + 2 || q < 0 || q > 1)
						q = 0;
					p = endp;
					continue;
				}
			}
			if (*p && *p != ',')
				p++;
		}
		if (tlen == 0)
			continue;
		if (tlen == 1 && tok[0] == '*')
			star = q;
		else if (strlen(coding) == tlen && strncasecmp(tok, coding, tlen) == 0)
			named = q;
		else if (strcmp(coding, "gzip") == 0 && tlen == 6 && strncasecmp(tok, "x-gzip", 6) == 0)
			named = q;
	}
	return named >= 0 ? named : star;
}

webroot_encoding webroot_pick_encoding(const char *accept_encoding, bool have_br, bool have_gz)
{
	if (!accept_encoding || !*accept_encoding)
		return WEBROOT_IDENTITY;
	double br = have_br ? coding_weight(accept_encoding, "br") : -1;
	double gz = have_gz ? coding_weight(accept_encoding, "gzip") : -1;
	if (br > 0 && br >= gz)
		return WEBROOT_BR;
	if (gz > 0)
		return WEBROOT_GZIP;
	return WEBROOT_IDENTITY;
}

bool webroot_etag_matches(const char *inm, const char *etag)
{
	if (!inm || !etag)
		return false;
	size_t elen = strlen(etag);
	const char *p = inm;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2; /* weak comparison is what If-None-Match uses */
		const char *tok = p;
		if (*p == '"') {
			p++;
			while (*p && *p != '"')
				p++;
			if (*p == '"')
				p++;
		} else {
			while (*p && *p != ',' && *p != ' ')
				p++;
		}
		if ((size_t)(p - tok) == elen && strncmp(tok, etag, elen) == 0)
			return true;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

bool webroot_immutable(const char *path)
{
	return strncmp(path, "/assets/", 8) == 0 || strstr(path, "/assets/") != NULL;
}

bool webroot_reserved(const char *path)
{
	static const char *const exact[] = {"/ws", "/healthz", "/readyz", "/metrics", "/api"};
	for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
		if (strcmp(path, exact[i]) == 0)
			return true;
	return strncmp(path, "/api/", 5) == 0 || strncmp(path, "/ws/", 4) == 0;
}

const char *webroot_spa_fallback(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (webroot_reserved(path) || strchr(slash ? slash : path, '.') || strncmp(path, "/assets/", 8) == 0 ||
	    strncmp(path, "/m/assets/", 10) == 0 || strncmp(path, "/embed/", 7) == 0)
		return NULL;
	if (strncmp(path, "/m/", 3) == 0)
		return "/m/index.html";
	return "/index.html";
}

/* ---- loading ------------------------------------------------------------------------------ */

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static char *read_all(const char *path, size_t size, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(size ? size : 1);
	size_t n = buf ? fread(buf, 1, size, f) : 0;
	fclose(f);
	if (!buf || n != size) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static void warn_skip(const char *path, const char *why)
{
	hlog_line l;
	hlog_begin(&l, HLOG_WARN, "web_root_skip");
	hlog_str(&l, "file", path);
	hlog_str(&l, "reason", why);
	hlog_end(&l);
}

static int add_file(webroot *w, const char *rel, const char *full, size_t size)
{
	if (w->count >= WEBROOT_MAX_FILES) {
		warn_skip(rel, "too many files");
		return 0;
	}
	if (size > WEBROOT_MAX_FILE_BYTES || w->bytes + size > WEBROOT_MAX_BYTES) {
		warn_skip(rel, "too large");
		return 0;
	}
	if (w->count == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		wr_file *f = realloc(w->files, cap * sizeof *f);
		if (!f)
			return HERR_NOMEM;
		w->files = f;
		w->cap = cap;
	}
	wr_file *f = &w->files[w->count];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(rel)))
		return HERR_NOMEM;
	if (!(f->data = read_all(full, size, &f->len))) {
		free(f->path);
		warn_skip(rel, "unreadable");
		return 0;
	}
	w->bytes += size;
	w->count++;
	return 0;
}

static bool inside_root(const webroot *w, const char *full)
{
	char real[PATH_MAX];
	if (!realpath(full, real))
		return false;
	size_t n = strlen(w->root_real);
	return strncmp(real, w->root_real, n) == 0 && (real[n] == '/' || real[n] == '\0');
}

static int walk(webroot *w, const char *dir, const char *rel, int depth)
{
	if (depth > 16)
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue; /* ".", "..", and hidden files are not published */
		char full[PATH_MAX], sub[WEBROOT_MAX_PATH];
		if (snprintf(full, sizeof full, "%s/%s", dir, e->d_name) >= (int)sizeof full ||
		    snprintf(sub, sizeof sub, "%s/%s", rel, e->d_name) >= (int)sizeof sub)
			continue;
		bool bad = false;
		for (const char *c = e->d_name; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == '\\' || *c == 0x7f)
				bad = true;
		if (bad)
			continue;
		struct stat st;
		if (lstat(full, &st) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			if (!inside_root(w, full)) {
				warn_skip(sub, "symlink out of the web root");
				continue;
			}
			if (stat(full, &st) != 0)
				continue;
		}
		if (S_ISDIR(st.st_mode))
			rc = walk(w, full, sub, depth + 1);
		else if (S_ISREG(st.st_mode))
			rc = add_file(w, sub, full, (size_t)st.st_size);
	}
	closedir(d);
	return rc;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const wr_file *)a)->path, ((const wr_file *)b)->path);
}

static wr_file *find(const webroot *w, const char *path)
{
	wr_file key = {.path = (char *)path};
	return w->count ? bsearch(&key, w->files, w->count, sizeof *w->files, cmp_file) : NULL;
}

static void free_file(wr_file *f)
{
	free(f->path);
	free(f->data);
	free(f->br);
	free(f->gz);
}

/* Turns x.br / x.gz entries into variants of x (when x exists and the
 * variant is smaller) and drops them from the table. */
static void attach_variants(webroot *w)
{
	size_t keep = 0;
	for (size_t i = 0; i < w->count; i++) {
		wr_file *f = &w->files[i];
		size_t n = strlen(f->path);
		bool is_br = n > 3 && strcmp(f->path + n - 3, ".br") == 0;
		bool is_gz = n > 3 && strcmp(f->path + n - 3, ".gz") == 0;
		if (is_br || is_gz) {
			char base[WEBROOT_MAX_PATH];
			snprintf(base, sizeof base, "%.*s", (int)(n - 3), f->path);
			wr_file *orig = find(w, base);
			if (orig && orig->ctype == NULL && f->len < orig->len) {
				/* ctype is still NULL for every kept file: it is set below */
				if (is_br && !orig->br) {
					orig->br = f->data;
					orig->br_len = f->len;
					f->data = NULL;
				} else if (is_gz && !orig->gz) {
					orig->gz = f->data;
					orig->gz_len = f->len;
					f->data = NULL;
				}
			}
			f->ctype = "drop";
		}
	}
	for (size_t i = 0; i < w->count; i++) {
		wr_file *f = &w->files[i];
		if (f->ctype) {
			free_file(f);
			continue;
		}
		w->files[keep++] = *f;
	}
	w->count = keep;
	for (size_t i = 0; i < w->count; i++) {
		wr_file *f = &w->files[i];
		f->ctype = webroot_content_type(f->path);
		f->immutable = webroot_immutable(f->path);
		snprintf(f->etag, sizeof f->etag, "\"%016llx\"", (unsigned long long)fnv1a(f->data, f->len));
	}
}

int webroot_load(const char *dir, webroot **out, char *err, size_t err_size)
{
	*out = NULL;
	char index[PATH_MAX];
	struct stat st;
	if (!dir || !*dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    snprintf(index, sizeof index, "%s/index.html", dir) >= (int)sizeof index || stat(index, &st) != 0) {
		snprintf(err, err_size, "%s has no index.html", dir && *dir ? dir : "(web root)");
		return HERR_NOT_FOUND;
	}
	webroot *w = calloc(1, sizeof *w);
	if (!w)
		return HERR_NOMEM;
	if (!realpath(dir, w->root_real)) {
		snprintf(err, err_size, "%s: %s", dir, strerror(errno));
		free(w);
		return HERR_IO;
	}
	int rc = walk(w, w->root_real, "", 0);
	if (rc != 0) {
		snprintf(err, err_size, "%s: out of memory", dir);
		webroot_free(w);
		return rc;
	}
	qsort(w->files, w->count, sizeof *w->files, cmp_file);
	attach_variants(w);
	if (!find(w, "/index.html")) {
		snprintf(err, err_size, "%s/index.html could not be read", dir);
		webroot_free(w);
		return HERR_IO;
	}
	*out = w;
	return 0;
}

void webroot_free(webroot *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->count; i++)
		free_file(&w->files[i]);
	free(w->files);
	free(w);
}

size_t webroot_file_count(const webroot *w)
{
	return w ? w->count : 0;
}

size_t webroot_bytes(const webroot *w)
{
	return w ? w->bytes : 0;
}

/* ---- serving -------------------------------------------------------------------------- */

void webroot_serve(const webroot *w, http_request *req)
{
	char path[WEBROOT_MAX_PATH + 16];
	int rc = webroot_normalize(req->raw_path, path, WEBROOT_MAX_PATH);
	if (rc != 0) {
		req->route = "static";
		api_send_error(req, rc == HERR_BAD_REQUEST ? HERR_BAD_REQUEST : HERR_ROUTE_NOT_FOUND, "path", 0);
		return;
	}
	req->route = "static";
	if (strcmp(path, "/m") == 0) {
		/* The employee app and its service worker live under /m/. */
		static const char *const hdrs[] = {"Location: /m/", "Cache-Control: no-cache", NULL};
		http_respond(req, 301, "text/plain; charset=utf-8", "/m/\n", 4, hdrs);
		return;
	}
	size_t n = strlen(path);
	if (path[n - 1] == '/')
		memcpy(path + n, "index.html", 11);
	const wr_file *f = find(w, path);
	if (!f) {
		path[n] = '\0'; /* a client route may end in '/' */
		const char *fb = webroot_spa_fallback(path);
		f = fb ? find(w, fb) : NULL;
	}
	if (!f) {
		api_send_error(req, HERR_ROUTE_NOT_FOUND, req->path, 0);
		return;
	}
	webroot_encoding enc =
	        webroot_pick_encoding(http_request_header(req, "accept-encoding"), f->br != NULL, f->gz != NULL);
	const char *body = f->data;
	size_t len = f->len;
	char etag[48];
	const char *suffix = "";
	if (enc == WEBROOT_BR) {
		body = f->br;
		len = f->br_len;
		suffix = "-br";
	} else if (enc == WEBROOT_GZIP) {
		body = f->gz;
		len = f->gz_len;
		suffix = "-gz";
	}
	/* Each representation has its own tag: a cache holding the gzip bytes
	 * must not revalidate them against the brotli ones. */
	snprintf(etag, sizeof etag, "ETag: %.*s%s\"", (int)strlen(f->etag) - 1, f->etag, suffix);
	const char *hdrs[12];
	int h = 0;
	hdrs[h++] = etag;
	hdrs[h++] = f->immutable ? "Cache-Control: public, max-age=31536000, immutable" : "Cache-Control: no-cache";
	if (f->br || f->gz)
		hdrs[h++] = "Vary: Accept-Encoding";
	if (enc == WEBROOT_BR)
		hdrs[h++] = "Content-Encoding: br";
	else if (enc == WEBROOT_GZIP)
		hdrs[h++] = "Content-Encoding: gzip";
	hdrs[h++] = "X-Content-Type-Options: nosniff";
	hdrs[h++] = WEBROOT_REFERRER;
	if (strncmp(path, "/embed/", 7) == 0) {
		/* The embed script runs in host pages on other origins; a module
		 * script or a crossorigin attribute needs these. */
		hdrs[h++] = "Access-Control-Allow-Origin: *";
		hdrs[h++] = "Cross-Origin-Resource-Policy: cross-origin";
	} else {
		hdrs[h++] = WEBROOT_CSP;
	}
	if (strcmp(path, "/m/sw.js") == 0)
		hdrs[h++] = "Service-Worker-Allowed: /m/";
	hdrs[h] = NULL;
	if (webroot_etag_matches(http_request_header(req, "if-none-match"), etag + 6)) {
		http_respond(req, 304, NULL, NULL, 0, hdrs);
		return;
	}
	http_respond(req, 200, f->ctype, body, len, hdrs);
}
