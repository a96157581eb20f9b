/*
 * sigv4.c: AWS Signature Version 4 for the Authorization header.
 *
 * Pure computation: no I/O, no clock unless the caller passes one.
 * The rules follow the AWS SigV4 test suite (tests/data/sigv4): path
 * double-encoding and optional normalization, query parameters decoded,
 * re-encoded and sorted, header values trimmed with inner whitespace
 * collapsed, repeated headers joined with ',' in request order.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "aws_int.h"
#include "ist/sigv4.h"

/* Generous caps: a canonical request is a few KiB at most for us. */
#define CREQ_MAX (1024 * 1024)
#define MAX_HEADERS 128

/* Never signed: they change in transit or are the signature itself. */
static const char *const unsigned_headers[] = {
	"authorization", "user-agent", "x-amzn-trace-id", "expect",
};

struct hdr {
	char *name;  /* lowercase, malloc'd */
	char *value; /* normalized, malloc'd */
	size_t order;
};

void
ist_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}

static int
hmac(const void *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[32])
{
	unsigned int olen = 32;

	if (!HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &olen) ||
	    olen != 32)
		return -1;
	return 0;
}

static bool
is_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

void
aws_uri_encode(struct dstr *d, const char *p, size_t n, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			dstr_addc(d, (char)c);
		} else {
			dstr_addc(d, '%');
			dstr_addc(d, hex[c >> 4]);
			dstr_addc(d, hex[c & 0xf]);
		}
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
aws_uri_decode(const char *p, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '%' && i + 2 < n) {
			int hi = hexval(p[i + 1]);
			int lo = hexval(p[i + 2]);

			if (hi >= 0 && lo >= 0) {
				out[o++] = (char)(hi * 16 + lo);
				i += 2;
				continue;
			}
		}
		out[o++] = p[i];
	}
	out[o] = '\0';
	return out;
}

/*
 * Canonical URI. With normalize, "." and ".." segments and empty
 * segments go (RFC 3986 remove_dot_segments, as every SDK but S3's does),
 * keeping a trailing slash; then each byte is encoded once more, which
 * is the "double encoding" every service but S3 expects.
 */
static int
canonical_uri(struct dstr *d, const char *path, bool normalize)
{
	const char **seg = NULL;
	size_t *seglen = NULL, nseg = 0, plen;
	const char *p;
	int r = IST_ERR_NOMEM;

	if (!path || !*path) {
		dstr_add(d, "/");
		return 0;
	}
	if (!normalize) {
		aws_uri_encode(d, path, strlen(path), true);
		return 0;
	}
	plen = strlen(path);
	seg = calloc(plen + 1, sizeof(*seg));
	seglen = calloc(plen + 1, sizeof(*seglen));
	if (!seg || !seglen)
		goto out;
	p = path;
	while (*p) {
		const char *s;
		size_t n;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			if (nseg > 0)
				nseg--;
			continue;
		}
		seg[nseg] = s;
		seglen[nseg++] = n;
	}
	for (size_t i = 0; i < nseg; i++) {
		dstr_addc(d, '/');
		aws_uri_encode(d, seg[i], seglen[i], false);
	}
	if (nseg == 0 || path[plen - 1] == '/')
		dstr_addc(d, '/');
	r = 0;
out:
	free(seg);
	free(seglen);
	return r;
}

struct qparam {
	char *key; /* encoded */
	char *val; /* encoded */
};

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->val, y->val);
}

/* Encodes the decoded form of p[0..n) as a new string. */
static char *
reencode(const char *p, size_t n)
{
	struct dstr d;
	char *raw = aws_uri_decode(p, n);

	if (!raw)
		return NULL;
	dstr_init(&d, CREQ_MAX);
	aws_uri_encode(&d, raw, strlen(raw), false);
	free(raw);
	return dstr_take(&d);
}

static int
canonical_query(struct dstr *d, const char *query)
{
	struct qparam *qp = NULL;
	size_t nq = 0, max = 1;
	const char *p;
	int r = IST_ERR_NOMEM;

	if (!query || !*query)
		return 0;
	for (p = query; *p; p++)
		if (*p == '&')
			max++;
	qp = calloc(max, sizeof(*qp));
	if (!qp)
		return IST_ERR_NOMEM;
	p = query;
	while (*p) {
		const char *s = p, *eq;
		size_t n;

		while (*p && *p != '&')
			p++;
		n = (size_t)(p - s);
		if (*p == '&')
			p++;
		if (n == 0)
			continue;
		eq = memchr(s, '=', n);
		qp[nq].key = reencode(s, eq ? (size_t)(eq - s) : n);
		qp[nq].val = eq ? reencode(eq + 1, n - (size_t)(eq - s) - 1)
				: strdup("");
		nq++;
		if (!qp[nq - 1].key || !qp[nq - 1].val)
			goto out;
	}
	qsort(qp, nq, sizeof(*qp), qparam_cmp);
	for (size_t i = 0; i < nq; i++)
		dstr_addf(d, "%s%s=%s", i ? "&" : "", qp[i].key, qp[i].val);
	r = 0;
out:
	for (size_t i = 0; i < nq; i++) {
		free(qp[i].key);
		free(qp[i].val);
	}
	free(qp);
	return r;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims and collapses runs of whitespace (including folded lines). */
static char *
normalize_value(const char *v)
{
	size_t n = strlen(v), o = 0;
	char *out = malloc(n + 1);
	bool pending = false;

	if (!out)
		return NULL;
	while (*v && is_ws(*v))
		v++;
	for (; *v; v++) {
		if (is_ws(*v)) {
			pending = true;
			continue;
		}
		if (pending)
			out[o++] = ' ';
		pending = false;
		out[o++] = *v;
	}
	out[o] = '\0';
	return out;
}

static char *
lowercase(const char *s)
{
	char *l = strdup(s);

	if (!l)
		return NULL;
	for (char *p = l; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return l;
}

static int
hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Is name one of the ';'-separated names in list? */
static bool
in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p && *p) {
		const char *e = strchr(p, ';');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && strncasecmp(p, name, n) == 0)
			return true;
		p = e ? e + 1 : NULL;
	}
	return false;
}

static bool
is_unsigned_header(const char *lname)
{
	for (size_t i = 0; i < sizeof(unsigned_headers) /
	    sizeof(unsigned_headers[0]); i++)
		if (strcmp(lname, unsigned_headers[i]) == 0)
			return true;
	return false;
}

static const char *
find_header(const struct ist_sigv4_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (req->headers[i].name &&
		    strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

static int
add_hdr(struct hdr *h, size_t *n, const char *name, const char *value)
{
	if (*n >= MAX_HEADERS)
		return IST_ERR_TOOBIG;
	h[*n].name = lowercase(name);
	h[*n].value = normalize_value(value ? value : "");
	h[*n].order = *n;
	(*n)++;
	if (!h[*n - 1].name || !h[*n - 1].value)
		return IST_ERR_NOMEM;
	return 0;
}

/* A date as in X-Amz-Date: 8 digits, 'T', 6 digits, 'Z'. */
static bool
valid_amz_date(const char *s)
{
	if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return false;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int
check_params(const struct ist_sigv4_request *req,
    const struct ist_sigv4_params *p, struct ist_err *e)
{
	if (!req || !p || !req->method || !*req->method)
		return ist_err_set(e, IST_ERR_INVAL, "sigv4: no request");
	if (!p->access_key_id || !*p->access_key_id || !p->secret_access_key ||
	    !*p->secret_access_key)
		return ist_err_set(e, IST_ERR_INVAL,
		    "sigv4: no access key id or secret key");
	if (!p->region || !*p->region || !p->service || !*p->service)
		return ist_err_set(e, IST_ERR_INVAL,
		    "sigv4: no region or service");
	if (strchr(p->access_key_id, '/') || strchr(p->region, '/') ||
	    strchr(p->service, '/'))
		return ist_err_set(e, IST_ERR_INVAL,
		    "sigv4: '/' in the access key id, region or service");
	if (req->n_headers > MAX_HEADERS)
		return ist_err_set(e, IST_ERR_TOOBIG,
		    "sigv4: more than %d headers", MAX_HEADERS);
	if (req->body_len && !req->body)
		return ist_err_set(e, IST_ERR_INVAL, "sigv4: body length "
		    "without a body");
	return 0;
}

static int
derive_signature(const struct ist_sigv4_params *p, const char *datestamp,
    const char *sts, char out[IST_SIGV4_SIG_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char k[32], sig[32];
	char seed[256];
	int n, r = IST_ERR_INVAL;

	n = snprintf(seed, sizeof(seed), "AWS4%s", p->secret_access_key);
	if (n < 0 || (size_t)n >= sizeof(seed))
		goto out;
	if (hmac(seed, (size_t)n, datestamp, strlen(datestamp), k) < 0 ||
	    hmac(k, 32, p->region, strlen(p->region), k) < 0 ||
	    hmac(k, 32, p->service, strlen(p->service), k) < 0 ||
	    hmac(k, 32, "aws4_request", 12, k) < 0 ||
	    hmac(k, 32, sts, strlen(sts), sig) < 0)
		goto out;
	for (size_t i = 0; i < 32; i++) {
		out[2 * i] = hex[sig[i] >> 4];
		out[2 * i + 1] = hex[sig[i] & 0xf];
	}
	out[64] = '\0';
	r = 0;
out:
	explicit_bzero(seed, sizeof(seed));
	explicit_bzero(k, sizeof(k));
	return r;
}

int
ist_sigv4_sign(const struct ist_sigv4_request *req,
    const struct ist_sigv4_params *p, struct ist_sigv4_result *out,
    struct ist_err *e)
{
	struct hdr *h = NULL;
	struct dstr creq, sts, auth, signed_list;
	const char *date_hdr, *payload_hdr;
	char datestamp[9], payload_hash[65], creq_hash[65], scope[256];
	size_t nh = 0;
	int r;

	memset(out, 0, sizeof(*out));
	dstr_init(&creq, CREQ_MAX);
	dstr_init(&sts, CREQ_MAX);
	dstr_init(&auth, CREQ_MAX);
	dstr_init(&signed_list, CREQ_MAX);
	if ((r = check_params(req, p, e)) < 0)
		goto out;

	/* The request's own X-Amz-Date wins: it is what was signed. */
	date_hdr = find_header(req, "x-amz-date");
	if (date_hdr) {
		if (!valid_amz_date(date_hdr)) {
			r = ist_err_set(e, IST_ERR_INVAL, "sigv4: X-Amz-Date "
			    "is not of the form YYYYMMDDTHHMMSSZ");
			goto out;
		}
		memcpy(out->amz_date, date_hdr, 17);
	} else {
		struct tm tm;

		if (!gmtime_r(&p->now, &tm) ||
		    strftime(out->amz_date, sizeof(out->amz_date),
		    "%Y%m%dT%H%M%SZ", &tm) != 16) {
			r = ist_err_set(e, IST_ERR_INVAL, "sigv4: bad time");
			goto out;
		}
	}
	memcpy(datestamp, out->amz_date, 8);
	datestamp[8] = '\0';
	r = snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", datestamp,
	    p->region, p->service);
	if (r < 0 || (size_t)r >= sizeof(scope)) {
		r = ist_err_set(e, IST_ERR_INVAL, "sigv4: region or service "
		    "too long");
		goto out;
	}

	/* Headers to sign. */
	h = calloc(MAX_HEADERS + 2, sizeof(*h));
	if (!h) {
		r = ist_err_set(e, IST_ERR_NOMEM, "sigv4: out of memory");
		goto out;
	}
	r = 0;
	for (size_t i = 0; i < req->n_headers && r == 0; i++) {
		const struct ist_header *x = &req->headers[i];

		if (!x->name)
			continue;
		if (p->signed_headers) {
			if (!in_list(p->signed_headers, x->name))
				continue;
		} else {
			char *l = lowercase(x->name);
			bool skip = !l || is_unsigned_header(l);

			free(l);
			if (skip)
				continue;
		}
		r = add_hdr(h, &nh, x->name, x->value);
	}
	if (r == 0 && !p->signed_headers && !date_hdr)
		r = add_hdr(h, &nh, "x-amz-date", out->amz_date);
	if (r == 0 && !p->signed_headers && p->session_token &&
	    p->sign_session_token && !find_header(req, "x-amz-security-token"))
		r = add_hdr(h, &nh, "x-amz-security-token", p->session_token);
	if (r < 0) {
		ist_err_set(e, r, "sigv4: %s", r == IST_ERR_NOMEM ?
		    "out of memory" : "too many headers");
		goto out;
	}
	if (p->signed_headers) {
		/* Verifying: every name listed must be present. */
		const char *s = p->signed_headers;

		while (*s) {
			const char *end = strchr(s, ';');
			size_t l = end ? (size_t)(end - s) : strlen(s);
			bool found = false;

			for (size_t i = 0; i < nh && !found; i++)
				found = strlen(h[i].name) == l &&
				    strncmp(h[i].name, s, l) == 0;
			if (!found) {
				r = ist_err_set(e, IST_ERR_INVAL, "sigv4: signed "
				    "header '%.*s' is not in the request",
				    (int)(l > 64 ? 64 : l), s);
				goto out;
			}
			s = end ? end + 1 : s + l;
		}
	}
	if (!find_header(req, "host") ||
	    (p->signed_headers && !in_list(p->signed_headers, "host"))) {
		r = ist_err_set(e, IST_ERR_INVAL, "sigv4: the Host header "
		    "must be signed");
		goto out;
	}
	qsort(h, nh, sizeof(*h), hdr_cmp);

	/* Payload hash: a given x-amz-content-sha256 is what was signed. */
	payload_hdr = find_header(req, "x-amz-content-sha256");
	if (payload_hdr && strlen(payload_hdr) < sizeof(payload_hash)) {
		memcpy(payload_hash, payload_hdr, strlen(payload_hdr) + 1);
	} else {
		ist_sha256_hex(req->body ? (const void *)req->body : "",
		    req->body_len, payload_hash);
	}

	/* The canonical request. */
	dstr_add(&creq, req->method);
	dstr_addc(&creq, '\n');
	if ((r = canonical_uri(&creq, req->path, p->normalize_path)) < 0 ||
	    (r = (dstr_addc(&creq, '\n'), canonical_query(&creq,
	    req->query))) < 0) {
		ist_err_set(e, r, "sigv4: out of memory");
		goto out;
	}
	dstr_addc(&creq, '\n');
	for (size_t i = 0; i < nh; i++) {
		bool same_next = i + 1 < nh &&
		    strcmp(h[i].name, h[i + 1].name) == 0;
		bool same_prev = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;

		if (!same_prev) {
			dstr_addf(&creq, "%s:", h[i].name);
			dstr_addf(&signed_list, "%s%s",
			    signed_list.len ? ";" : "", h[i].name);
		}
		dstr_add(&creq, h[i].value);
		dstr_addc(&creq, same_next ? ',' : '\n');
	}
	dstr_addc(&creq, '\n');
	if (signed_list.s)
		dstr_add(&creq, signed_list.s);
	dstr_addc(&creq, '\n');
	dstr_add(&creq, payload_hash);
	if (!dstr_ok(&creq) || !dstr_ok(&signed_list)) {
		r = ist_err_set(e, IST_ERR_TOOBIG, "sigv4: request too big "
		    "to sign");
		goto out;
	}

	ist_sha256_hex(creq.s, creq.len, creq_hash);
	dstr_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", out->amz_date, scope,
	    creq_hash);
	if (!dstr_ok(&sts)) {
		r = ist_err_set(e, IST_ERR_NOMEM, "sigv4: out of memory");
		goto out;
	}
	if (derive_signature(p, datestamp, sts.s, out->signature) < 0) {
		r = ist_err_set(e, IST_ERR_INVAL, "sigv4: HMAC failed (secret "
		    "key too long?)");
		goto out;
	}
	dstr_addf(&auth, "AWS4-HMAC-SHA256 Credential=%s/%s, "
	    "SignedHeaders=%s, Signature=%s", p->access_key_id, scope,
	    signed_list.s ? signed_list.s : "", out->signature);
	out->authorization = dstr_take(&auth);
	out->canonical_request = dstr_take(&creq);
	out->string_to_sign = dstr_take(&sts);
	if (!out->authorization || !out->canonical_request ||
	    !out->string_to_sign) {
		ist_sigv4_result_free(out);
		r = ist_err_set(e, IST_ERR_NOMEM, "sigv4: out of memory");
		goto out;
	}
	r = 0;
out:
	if (h) {
		for (size_t i = 0; i < nh; i++) {
			free(h[i].name);
			aws_free_secret(h[i].value);
		}
		free(h);
	}
	dstr_free(&creq);
	dstr_free(&sts);
	dstr_free(&auth);
	dstr_free(&signed_list);
	return r;
}

void
ist_sigv4_result_free(struct ist_sigv4_result *r)
{
	if (!r)
		return;
	free(r->authorization);
	free(r->canonical_request);
	free(r->string_to_sign);
	r->authorization = r->canonical_request = r->string_to_sign = NULL;
}
