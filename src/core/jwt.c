/*
 * jwt.c — see jwt.h. Owns the HS256 token checks; must never trust the
 * header's algorithm, parse a payload whose signature failed, or allocate
 * beyond what jansson needs for two small objects.
 *
 * The order of the checks is deliberate: size and shape first (cheap, no
 * parsing), then the header (only to refuse what is not HS256), then the
 * MAC, and only then the payload — so an attacker without the key can make
 * us parse at most one header of a few kilobytes. The base64url alphabet is
 * checked here rather than in codec.c because the codec tolerates '+', '/'
 * and '=' for tokens from lenient clients, while a JWS has exactly one
 * spelling; with codec.c's canonical trailing bits, a signed token cannot be
 * re-spelled into a second valid one.
 */
#include "core/jwt.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/codec.h"
#include "core/crypto.h"
#include "core/err.h"

#define HJWT_MAC_BYTES 32

typedef struct hjwt_parts {
	const char *head;
	size_t head_len;
	const char *body;
	size_t body_len;
	const char *sig;
	size_t sig_len;
} hjwt_parts;

static int hjwt_fail(char *why, size_t why_size, const char *reason)
{
	if (why && why_size)
		snprintf(why, why_size, "%s", reason);
	return HERR_UNAUTHORIZED;
}

static bool hjwt_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Splits at the two dots; NULL or the reason the token is not a JWS. */
static const char *hjwt_split(const char *token, size_t len, hjwt_parts *pt)
{
	const char *dot[2];
	int dots = 0;

	if (len > HJWT_TOKEN_MAX)
		return "token too long";
	if (!token)
		return "malformed";
	for (size_t i = 0; i < len; i++) {
		if (token[i] == '.') {
			if (dots == 2)
				return "malformed";
			dot[dots++] = token + i;
		} else if (!hjwt_b64_char(token[i])) {
			return "malformed";
		}
	}
	if (dots != 2)
		return "malformed";
	pt->head = token;
	pt->head_len = (size_t)(dot[0] - token);
	pt->body = dot[0] + 1;
	pt->body_len = (size_t)(dot[1] - pt->body);
	pt->sig = dot[1] + 1;
	pt->sig_len = len - (size_t)(pt->sig - token);
	if (pt->head_len == 0 || pt->body_len == 0)
		return "malformed";
	return NULL;
}

/* A base64url part decoded and parsed; NULL unless it is a JSON object.
 * Duplicate keys are refused: two "sub" claims would mean whatever the
 * reading library picks, and other JWT libraries pick differently. */
static json_t *hjwt_part_json(const char *b64, size_t len)
{
	uint8_t raw[HJWT_TOKEN_MAX];
	json_error_t jerr;
	json_t *j;
	long n = hcodec_b64url_decode(b64, len, raw, sizeof raw);

	if (n < 0)
		return NULL;
	j = json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static const char *hjwt_check_header(const hjwt_parts *pt)
{
	json_t *h = hjwt_part_json(pt->head, pt->head_len);
	const char *reason = NULL;
	json_t *alg, *typ;

	if (!h)
		return "malformed";
	alg = json_object_get(h, "alg");
	typ = json_object_get(h, "typ");
	if (!alg)
		reason = "missing alg";
	else if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
		reason = "unsupported alg"; /* case-sensitive per RFC 7515 §4.1.1 */
	else if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
		reason = "bad typ";
	else if (json_object_get(h, "crit"))
		reason = "unsupported crit"; /* we understand no extension, so §4.1.11 says refuse */
	json_decref(h);
	return reason;
}

static const char *hjwt_check_mac(const char *token, const hjwt_parts *pt, const uint8_t *key, size_t key_len)
{
	uint8_t want[HJWT_MAC_BYTES], got[HJWT_MAC_BYTES];
	const char *reason = NULL;

	if (pt->sig_len != hcodec_b64url_len(HJWT_MAC_BYTES) ||
	    hcodec_b64url_decode(pt->sig, pt->sig_len, got, sizeof got) != HJWT_MAC_BYTES)
		return "bad signature";
	hcrypto_hmac(key, key_len, token, pt->head_len + 1 + pt->body_len, want);
	if (!hcrypto_equal(want, got, HJWT_MAC_BYTES))
		reason = "bad signature";
	return reason;
}

/* NumericDate (RFC 7519 §2): integer or real seconds. round_up picks the
 * stricter neighbour for nbf; exp rounds down for the same reason. */
static bool hjwt_numeric_date(const json_t *v, bool round_up, int64_t *out)
{
	double d;

	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return true;
	}
	if (!json_is_real(v))
		return false;
	d = round_up ? ceil(json_real_value(v)) : floor(json_real_value(v));
	/* well inside int64 so the conversion is defined */
	if (!(d >= -9.0e18 && d <= 9.0e18))
		return false;
	*out = (int64_t)d;
	return true;
}

static bool hjwt_copy_string(const json_t *v, size_t min, size_t max, char *out)
{
	size_t n;

	if (!json_is_string(v))
		return false;
	n = json_string_length(v);
	if (n < min || n > max)
		return false;
	memcpy(out, json_string_value(v), n);
	out[n] = '\0';
	return true;
}

static const char *hjwt_times(const json_t *p, const hjwt_expect *ex, hjwt_claims *out)
{
	int64_t leeway = ex->leeway_s == 0 ? HJWT_LEEWAY_DEFAULT : ex->leeway_s < 0 ? 0 : ex->leeway_s;
	const json_t *exp = json_object_get(p, "exp");
	const json_t *nbf = json_object_get(p, "nbf");
	const json_t *iat = json_object_get(p, "iat");

	if (!exp)
		return "missing exp";
	if (!hjwt_numeric_date(exp, false, &out->exp))
		return "bad exp";
	/* written as now − leeway so a huge exp cannot overflow */
	if (ex->now_s - leeway > out->exp)
		return "expired";
	if (nbf) {
		if (!hjwt_numeric_date(nbf, true, &out->nbf))
			return "bad nbf";
		if (ex->now_s + leeway < out->nbf)
			return "not yet valid";
	}
	if (iat && !hjwt_numeric_date(iat, false, &out->iat))
		return "bad iat";
	return NULL;
}

static const char *hjwt_audience(const json_t *aud, const char *expected, hjwt_claims *out)
{
	bool match = false;
	char one[HJWT_AUD_MAX + 1];

	if (!aud)
		return expected ? "wrong audience" : NULL;
	if (json_is_string(aud)) {
		if (!hjwt_copy_string(aud, 0, HJWT_AUD_MAX, out->aud))
			return "bad aud";
		match = expected && strcmp(out->aud, expected) == 0;
	} else if (json_is_array(aud)) {
		for (size_t i = 0; i < json_array_size(aud); i++) {
			if (!hjwt_copy_string(json_array_get(aud, i), 0, HJWT_AUD_MAX, one))
				return "bad aud";
			if (i == 0)
				memcpy(out->aud, one, sizeof one);
			if (expected && strcmp(one, expected) == 0)
				match = true;
		}
	} else {
		return "bad aud";
	}
	return expected && !match ? "wrong audience" : NULL;
}

static bool hjwt_role_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* A bad role refuses the whole token rather than dropping the role: a
 * silently shortened list could hide an issuer bug we want to see. */
static const char *hjwt_roles(const json_t *roles, hjwt_claims *out)
{
	size_t n;

	if (!roles)
		return NULL;
	if (!json_is_array(roles) || (n = json_array_size(roles)) > HJWT_ROLES_MAX)
		return "bad roles";
	for (size_t i = 0; i < n; i++) {
		char *r = out->roles[i];

		if (!hjwt_copy_string(json_array_get(roles, i), 1, HJWT_ROLE_MAX, r) || !hjwt_role_ok(r))
			return "bad roles";
	}
	out->role_count = (int)n;
	return NULL;
}

static const char *hjwt_claims_of(const hjwt_parts *pt, const hjwt_expect *ex, hjwt_claims *out)
{
	json_t *p = hjwt_part_json(pt->body, pt->body_len);
	const json_t *sub, *name;
	const char *reason;

	if (!p)
		return "malformed";
	sub = json_object_get(p, "sub");
	name = json_object_get(p, "name");
	if ((reason = hjwt_times(p, ex, out)) || (reason = hjwt_audience(json_object_get(p, "aud"), ex->audience, out)))
		goto done;
	if (!sub)
		reason = "missing sub";
	else if (!hjwt_copy_string(sub, 1, HJWT_SUB_MAX, out->sub))
		reason = "bad sub";
	else if (name && !hjwt_copy_string(name, 0, HJWT_NAME_MAX, out->name))
		reason = "bad name";
	else
		reason = hjwt_roles(json_object_get(p, "roles"), out);
done:
	json_decref(p);
	return reason;
}

/* Everything up to and including the MAC; shared by both entry points. */
static const char *hjwt_signed(const char *token, size_t len, const uint8_t *key, size_t key_len, hjwt_parts *pt)
{
	const char *reason;

	/* an empty key would make every token forgeable; refuse before parsing */
	if (!key || key_len == 0)
		return "no key";
	if ((reason = hjwt_split(token, len, pt)) || (reason = hjwt_check_header(pt)))
		return reason;
	return hjwt_check_mac(token, pt, key, key_len);
}

int hjwt_check_signature(const char *token, size_t len, const uint8_t *key, size_t key_len, char *why, size_t why_size)
{
	hjwt_parts pt;
	const char *reason = hjwt_signed(token, len, key, key_len, &pt);

	if (reason)
		return hjwt_fail(why, why_size, reason);
	hjwt_fail(why, why_size, "");
	return 0;
}

int hjwt_verify(const char *token, size_t len, const uint8_t *key, size_t key_len, const hjwt_expect *expect,
                hjwt_claims *out, char *why, size_t why_size)
{
	hjwt_parts pt;
	const char *reason;

	memset(out, 0, sizeof *out);
	if (!(reason = hjwt_signed(token, len, key, key_len, &pt)))
		reason = hjwt_claims_of(&pt, expect, out);
	if (reason) {
		/* no half-filled claims for a caller that forgets the return code */
		memset(out, 0, sizeof *out);
		return hjwt_fail(why, why_size, reason);
	}
	hjwt_fail(why, why_size, "");
	return 0;
}

int hjwt_sign_hs256(const char *payload_json, const uint8_t *key, size_t key_len, char *out, size_t out_size)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	uint8_t mac[HJWT_MAC_BYTES];
	size_t plen, hb, pb, total;

	if (!payload_json || !key || key_len == 0 || !out)
		return HERR_INTERNAL;
	plen = strlen(payload_json);
	hb = hcodec_b64url_len(sizeof header - 1);
	pb = hcodec_b64url_len(plen);
	total = hb + 1 + pb + 1 + hcodec_b64url_len(HJWT_MAC_BYTES);
	if (plen > INT_MAX / 2 || total >= out_size)
		return HERR_INTERNAL;
	hcodec_b64url_encode((const uint8_t *)header, sizeof header - 1, out);
	out[hb] = '.';
	hcodec_b64url_encode((const uint8_t *)payload_json, plen, out + hb + 1);
	out[hb + 1 + pb] = '.';
	hcrypto_hmac(key, key_len, out, hb + 1 + pb, mac);
	hcodec_b64url_encode(mac, sizeof mac, out + hb + 1 + pb + 1);
	return (int)total;
}
