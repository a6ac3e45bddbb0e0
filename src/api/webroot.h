/*
 * webroot.h — the built web apps (web/dist) served by herald itself.
 *
 * The directory is read once, when the server starts and before the loop
 * runs: every file goes into memory with its precompressed siblings
 * (x.br, x.gz), its content type and an ETag. Serving is then a lookup in a
 * sorted table — no file system call ever happens on the loop, and a path
 * can only name a file that was loaded, so no request can reach outside
 * the directory (symlinks pointing outside it are not loaded either).
 * A rebuilt web app is picked up by restarting the server.
 *
 * The pure helpers (path normalisation, content types, encoding choice,
 * ETag matching, cache policy, the SPA fallback) are exported for the unit
 * tests.
 */
#ifndef HERALD_API_WEBROOT_H
#define HERALD_API_WEBROOT_H

#include <stdbool.h>
#include <stddef.h>

#include "net/http.h"

typedef struct webroot webroot;

/* What loading accepts; beyond these a file is skipped with a warning. */
#define WEBROOT_MAX_FILES      4096
#define WEBROOT_MAX_FILE_BYTES (32u * 1024u * 1024u)
#define WEBROOT_MAX_BYTES      (256u * 1024u * 1024u)
#define WEBROOT_MAX_PATH       1024

/* Reads dir. HERR_NOT_FOUND when dir or dir/index.html does not exist (the
 * server then keeps its landing page); HERR_IO / HERR_NOMEM with err filled
 * otherwise. */
int webroot_load(const char *dir, webroot **out, char *err, size_t err_size);
void webroot_free(webroot *w);
size_t webroot_file_count(const webroot *w);
size_t webroot_bytes(const webroot *w);

/* Answers a GET or HEAD: the file, a SPA fallback page, 304, 301 (/m → /m/),
 * 400 for a path that cannot name a file, or 404. */
void webroot_serve(const webroot *w, http_request *req);

/* ---- pure helpers --------------------------------------------------------- */

/* Percent-decodes raw (the path without query) into out, collapsing repeated
 * slashes. HERR_BAD_REQUEST for anything that could step outside the root or
 * confuse a file system: NUL or control characters, a backslash, "." or ".."
 * segments (also when encoded), bad escapes, or a path not starting with '/'.
 * HERR_FIELD_INVALID when out is too small. */
int webroot_normalize(const char *raw, char *out, size_t out_size);

/* Content-Type for a file name by extension; application/octet-stream when unknown. */
const char *webroot_content_type(const char *path);

/* True when the type is worth compressing (text, JSON, SVG, …). */
bool webroot_compressible(const char *content_type);

typedef enum webroot_encoding { WEBROOT_IDENTITY = 0, WEBROOT_GZIP = 1, WEBROOT_BR = 2 } webroot_encoding;

/* Picks the encoding from Accept-Encoding (NULL: identity), among those
 * available; brotli wins over gzip at equal weight, q=0 refuses one. */
webroot_encoding webroot_pick_encoding(const char *accept_encoding, bool have_br, bool have_gz);

/* True when If-None-Match (a list, "*" or W/ tags) matches etag ("\"…\""). */
bool webroot_etag_matches(const char *if_none_match, const char *etag);

/* Hashed build output (a file inside an "assets" directory) never changes
 * under its name: cached for a year, immutable. Everything else must be
 * revalidated (HTML, the service worker, the manifest, the embed script). */
bool webroot_immutable(const char *path);

/* The page a client route of a single-page app gets: "/m/index.html" under
 * /m/, "/index.html" elsewhere; NULL for paths that look like files (the last
 * segment has a dot: "app.js", ".env") or lie under /assets/ or /embed/, so a missing
 * script is a 404 and never HTML. */
const char *webroot_spa_fallback(const char *path);

/* True for paths that belong to the server, never to the web app. */
bool webroot_reserved(const char *path);

/* The security headers of every page, for the landing page too. */
#define WEBROOT_CSP                                                                                                    \
	"Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: "      \
	"blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; " \
	"form-action 'self'"
#define WEBROOT_REFERRER "Referrer-Policy: strict-origin-when-cross-origin"

#endif
