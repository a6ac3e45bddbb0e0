/*
 * jwt.h — JSON Web Tokens (RFC 7519) in the JWS compact form (RFC 7515),
 * HS256 only.
 *
 * What it owns: taking a token apart, checking its HMAC-SHA256 signature in
 * constant time, and checking and extracting the few claims herald uses.
 * What it must never do: accept any other algorithm (no "none", no RS*, no
 * HS384/512), look anything up, or read the clock — the caller passes "now",
 * so tests pin it and the loop reads the clock once per request.
 *
 * One algorithm on purpose: the classic JWT attacks (alg "none", RS256→HS256
 * key confusion) all come from trusting the header's choice. Here the header
 * may only confirm what the server expects.
 *
 * Every failure returns HERR_UNAUTHORIZED (callers answer 401) and writes a
 * short, stable reason into `why` for logs — never for the client, which
 * should not learn which check failed:
 *   "token too long", "malformed", "unsupported alg", "missing alg",
 *   "bad typ", "unsupported crit", "bad signature", "no key",
 *   "missing exp", "bad exp", "expired", "bad nbf", "not yet valid", "bad iat",
 *   "bad aud", "wrong audience", "missing sub", "bad sub", "bad name",
 *   "bad roles".
 */
#ifndef HERALD_CORE_JWT_H
#define HERALD_CORE_JWT_H

#include <stddef.h>
#include <stdint.h>

#define HJWT_TOKEN_MAX      4096 /* bytes of the whole compact token */
#define HJWT_SUB_MAX        128  /* bytes of "sub" (UTF-8), not counting the NUL */
#define HJWT_NAME_MAX       256  /* bytes of "name" */
#define HJWT_AUD_MAX        128  /* bytes of each "aud" entry */
#define HJWT_ROLES_MAX      16   /* entries of "roles" */
#define HJWT_ROLE_MAX       32   /* bytes of one role: [a-z0-9_-]{1,32} */
#define HJWT_LEEWAY_DEFAULT 5    /* seconds of clock skew forgiven */

typedef struct hjwt_expect {
	int64_t now_s;        /* current Unix time in seconds */
	int leeway_s;         /* 0 takes HJWT_LEEWAY_DEFAULT; negative means none at all */
	const char *audience; /* must be one of the token's "aud" values; NULL: not checked */
} hjwt_expect;

typedef struct hjwt_claims {
	char sub[HJWT_SUB_MAX + 1];
	char name[HJWT_NAME_MAX + 1]; /* "" when absent */
	char roles[HJWT_ROLES_MAX][HJWT_ROLE_MAX + 1];
	int role_count;
	int64_t exp;
	int64_t nbf;                /* 0 when absent */
	int64_t iat;                /* 0 when absent */
	char aud[HJWT_AUD_MAX + 1]; /* the first audience, "" when absent */
} hjwt_claims;

/*
 * Verifies an HS256 token and extracts its claims into out (zeroed on
 * failure). expect and out must not be NULL. Rules: three base64url parts (unpadded, canonical); the header is
 * a JSON object with alg "HS256", typ "JWT" if present (any case), no "crit";
 * the signature matches; the payload is a JSON object without duplicate
 * keys; exp is required and now ≤ exp + leeway; nbf, if present, now ≥ nbf −
 * leeway; aud is a string or an array of strings (each ≤ HJWT_AUD_MAX) and,
 * when expect->audience is set, contains it; sub is a non-empty string of at
 * most HJWT_SUB_MAX bytes; name, if present, a string of at most
 * HJWT_NAME_MAX bytes; roles, if present, an array of at most HJWT_ROLES_MAX
 * role strings. Fractional NumericDates are rounded towards the stricter side.
 * Returns 0 or HERR_UNAUTHORIZED; why (may be NULL) receives the reason, ""
 * on success.
 */
int hjwt_verify(const char *token, size_t len, const uint8_t *key, size_t key_len, const hjwt_expect *expect,
                hjwt_claims *out, char *why, size_t why_size);

/*
 * Only the structure, the header and the signature — no claim is looked at.
 * For tests against published vectors that lack herald's required claims.
 * Returns 0 or HERR_UNAUTHORIZED with the reason in why.
 */
int hjwt_check_signature(const char *token, size_t len, const uint8_t *key, size_t key_len, char *why, size_t why_size);

/*
 * Signs payload_json as is (not validated: tests sign broken payloads on
 * purpose) under the header {"alg":"HS256","typ":"JWT"}. Writes the
 * NUL-terminated token into out. Returns its length, or HERR_INTERNAL when
 * out is too small or the key is empty.
 */
int hjwt_sign_hs256(const char *payload_json, const uint8_t *key, size_t key_len, char *out, size_t out_size);

#endif
