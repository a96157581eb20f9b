/*
 * wshandshake.c: the HTTP/1.1 upgrade that opens a WebSocket (RFC 6455
 * section 4; HTTP syntax from RFC 9112), with no I/O.
 *
 * Both parsers share one head reader: bytes are copied into a buffer of
 * max_head bytes until the empty line, then the buffer is cut in place
 * into NUL-terminated lines, names and values. Nothing past the empty
 * line is taken. Builders write into the caller's buffer and, when it is
 * too small, still count what the whole would need, to say so.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ist/wshandshake.h"

#define GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---- characters ------------------------------------------------------- */

static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

/* Field content: visible ASCII, space, tab and obs-text (RFC 9110 5.5). */
static bool
is_value(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 ? c != '\t' : c == 0x7f)
			return false;
	}
	return true;
}

/* A request target or host: visible ASCII only. */
static bool
is_visible(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c;
}

static bool
eq_nocase(const char *a, const char *b)
{
	while (*a && lower((unsigned char)*a) == lower((unsigned char)*b)) {
		a++;
		b++;
	}
	return *a == *b;
}

static bool
eq_nocase_n(const char *a, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!b[i] || lower((unsigned char)a[i]) !=
		    lower((unsigned char)b[i]))
			return false;
	return b[n] == '\0';
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Up to 40 bytes of s, printable: for messages about garbage. */
static void
quote(char *out, size_t cap, const char *s, size_t n)
{
	size_t o = 0, i;

	if (n > 40)
		n = 40;
	for (i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	out[o] = '\0';
}

int
ist_wshandshake_accept_key(const char *key, size_t key_len,
    char out[IST_WSHANDSHAKE_ACCEPT_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	int r = IST_ERR_NOMEM;

	out[0] = '\0';
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		goto out;
	if (EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, key, key_len) != 1 ||
	    EVP_DigestUpdate(ctx, GUID, sizeof(GUID) - 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 20)
		goto out;
	if (EVP_EncodeBlock((unsigned char *)out, md, 20) !=
	    (int)IST_WSHANDSHAKE_ACCEPT_LEN)
		goto out;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* The base64 of 16 bytes: 22 characters, the last using only its top 2
 * bits (so its low 4 are 0), then "==". */
static bool
key_valid(const char *k)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p;
	size_t i;

	if (strlen(k) != IST_WSHANDSHAKE_KEY_LEN || k[22] != '=' ||
	    k[23] != '=')
		return false;
	for (i = 0; i < 22; i++)
		if (!k[i] || !(p = strchr(b64, k[i])))
			return false;
	p = strchr(b64, k[21]);
	return ((p - b64) & 0xf) == 0;
}

/* ---- output ----------------------------------------------------------- */

struct out {
	char *p;
	size_t cap;
	size_t len;	/* what the whole needs, even past cap */
};

static void
put_n(struct out *o, const char *s, size_t n)
{
	if (o->len <= o->cap && n <= o->cap - o->len)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
put(struct out *o, const char *s)
{
	put_n(o, s, strlen(s));
}

static void
put_header(struct out *o, const char *name, const char *value)
{
	put(o, name);
	put(o, ": ");
	put(o, value);
	put(o, "\r\n");
}

static bool
name_in(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (eq_nocase(name, *list))
			return true;
	return false;
}

/* Checks the caller's headers: tokens, clean values, none of ours. */
static int
check_headers(const struct ist_wshandshake_header *h, size_t n,
    const char *const *ours, struct ist_err *e)
{
	size_t i;

	if (n && !h)
		return ist_err_set(e, IST_ERR_INVAL, "no headers given "
		    "but a count of %zu", n);
	for (i = 0; i < n; i++) {
		if (!is_token(h[i].name))
			return ist_err_set(e, IST_ERR_INVAL, "header %zu has "
			    "a name that is not an HTTP token", i + 1);
		if (!h[i].value || !is_value(h[i].value))
			return ist_err_set(e, IST_ERR_INVAL, "the value of "
			    "header %s is missing or holds a control "
			    "character (CR, LF, NUL, ...)", h[i].name);
		if (name_in(h[i].name, ours))
			return ist_err_set(e, IST_ERR_INVAL, "header %s is "
			    "set by the WebSocket handshake itself",
			    h[i].name);
	}
	return 0;
}

static int
finish(struct out *o, size_t *len, const char *what, struct ist_err *e)
{
	*len = 0;
	if (o->len > o->cap)
		return ist_err_set(e, IST_ERR_TOOBIG, "the WebSocket %s "
		    "takes %zu bytes and does not fit in %zu", what, o->len,
		    o->cap);
	*len = o->len;
	return 0;
}

int
ist_wshandshake_client_request(const struct ist_wshandshake_client *c,
    char *out, size_t cap, size_t *len, struct ist_err *e)
{
	static const char *const ours[] = { "host", "upgrade", "connection",
	    "sec-websocket-key", "sec-websocket-version",
	    "sec-websocket-protocol", "sec-websocket-accept",
	    "sec-websocket-extensions", NULL };
	char key[IST_WSHANDSHAKE_KEY_LEN + 1];
	struct out o = { out, out ? cap : 0, 0 };
	size_t i;
	int r;

	*len = 0;
	if (!c || !c->host || !is_visible(c->host) || strchr(c->host, '/'))
		return ist_err_set(e, IST_ERR_INVAL, "the WebSocket request "
		    "needs a host without spaces, slashes or control "
		    "characters");
	if (!c->path || c->path[0] != '/' || !is_visible(c->path))
		return ist_err_set(e, IST_ERR_INVAL, "the WebSocket request "
		    "path must start with '/' and hold no spaces or control "
		    "characters");
	if (c->protocol && !is_token(c->protocol))
		return ist_err_set(e, IST_ERR_INVAL, "the WebSocket "
		    "subprotocol must be an HTTP token");
	r = check_headers(c->headers, c->n_headers, ours, e);
	if (r < 0)
		return r;
	EVP_EncodeBlock((unsigned char *)key, c->nonce, 16);
	put(&o, "GET ");
	put(&o, c->path);
	put(&o, " HTTP/1.1\r\n");
	put_header(&o, "Host", c->host);
	put_header(&o, "Upgrade", "websocket");
	put_header(&o, "Connection", "Upgrade");
	put_header(&o, "Sec-WebSocket-Key", key);
	put_header(&o, "Sec-WebSocket-Version", "13");
	if (c->protocol)
		put_header(&o, "Sec-WebSocket-Protocol", c->protocol);
	for (i = 0; i < c->n_headers; i++)
		put_header(&o, c->headers[i].name, c->headers[i].value);
	put(&o, "\r\n");
	return finish(&o, len, "handshake request", e);
}

int
ist_wshandshake_accept(const char *key, const char *protocol,
    const struct ist_wshandshake_header *headers, size_t n_headers,
    char *out, size_t cap, size_t *len, struct ist_err *e)
{
	static const char *const ours[] = { "upgrade", "connection",
	    "sec-websocket-accept", "sec-websocket-protocol",
	    "sec-websocket-extensions", NULL };
	char acc[IST_WSHANDSHAKE_ACCEPT_LEN + 1];
	struct out o = { out, out ? cap : 0, 0 };
	size_t i;
	int r;

	*len = 0;
	if (!key || !*key || !is_value(key))
		return ist_err_set(e, IST_ERR_INVAL, "no client key to "
		    "answer the WebSocket handshake with");
	if (protocol && !is_token(protocol))
		return ist_err_set(e, IST_ERR_INVAL, "the WebSocket "
		    "subprotocol must be an HTTP token");
	r = check_headers(headers, n_headers, ours, e);
	if (r < 0)
		return r;
	r = ist_wshandshake_accept_key(key, strlen(key), acc);
	if (r < 0)
		return ist_err_set(e, r, "SHA-1 from libcrypto failed");
	put(&o, "HTTP/1.1 101 Switching Protocols\r\n");
	put_header(&o, "Upgrade", "websocket");
	put_header(&o, "Connection", "Upgrade");
	put_header(&o, "Sec-WebSocket-Accept", acc);
	if (protocol)
		put_header(&o, "Sec-WebSocket-Protocol", protocol);
	for (i = 0; i < n_headers; i++)
		put_header(&o, headers[i].name, headers[i].value);
	put(&o, "\r\n");
	return finish(&o, len, "handshake answer", e);
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

int
ist_wshandshake_refuse(int status,
    const struct ist_wshandshake_header *headers, size_t n_headers,
    const char *body, size_t body_len, char *out, size_t cap, size_t *len,
    struct ist_err *e)
{
	static const char *const ours[] = { "content-length", "connection",
	    "transfer-encoding", NULL };
	struct out o = { out, out ? cap : 0, 0 };
	char num[32];
	size_t i;
	int r;

	*len = 0;
	if (status < 200 || status > 599)
		return ist_err_set(e, IST_ERR_INVAL, "HTTP status %d cannot "
		    "refuse a WebSocket handshake (200-599)", status);
	if (body_len && !body)
		return ist_err_set(e, IST_ERR_INVAL, "no body given but a "
		    "length of %zu", body_len);
	r = check_headers(headers, n_headers, ours, e);
	if (r < 0)
		return r;
	snprintf(num, sizeof(num), "%d ", status);
	put(&o, "HTTP/1.1 ");
	put(&o, num);
	put(&o, reason_phrase(status));
	put(&o, "\r\n");
	for (i = 0; i < n_headers; i++)
		put_header(&o, headers[i].name, headers[i].value);
	snprintf(num, sizeof(num), "%zu", body_len);
	put_header(&o, "Content-Length", num);
	put_header(&o, "Connection", "close");
	put(&o, "\r\n");
	if (body_len)
		put_n(&o, body, body_len);
	return finish(&o, len, "refusal", e);
}

/* ---- head reader ------------------------------------------------------ */

struct header {
	const char *name;
	const char *value;
};

struct head {
	char *buf;		/* max_head bytes, then cut in place */
	size_t cap;
	size_t have;
	bool complete;
	int result;		/* once != 0: returned by every later feed */
	struct ist_err err;
	char *line1;		/* the start line, NUL-terminated */
	struct header h[IST_WSHANDSHAKE_MAX_HEADERS];
	size_t nh;
};

static int
head_fail(struct head *h, int code, struct ist_err *e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
head_fail(struct head *h, int code, struct ist_err *e, const char *fmt, ...)
{
	va_list ap;

	h->err.code = code;
	va_start(ap, fmt);
	vsnprintf(h->err.msg, sizeof(h->err.msg), fmt, ap);
	va_end(ap);
	h->result = code;
	if (e)
		*e = h->err;
	return code;
}

/*
 * Copies bytes up to the end of the head. Returns 1 when the head is
 * complete, 0 when in ran out first, IST_ERR_TOOBIG when it is over cap.
 * prefix: what the head must start with, checked as the bytes arrive so
 * that garbage fails at once rather than after max_head bytes.
 */
static int
head_take(struct head *h, const uint8_t *in, size_t len, size_t *consumed,
    const char *prefix, bool *bad_prefix)
{
	size_t i, plen = prefix ? strlen(prefix) : 0;

	*bad_prefix = false;
	for (i = 0; i < len; i++) {
		char c = (char)in[i];

		if (h->have == h->cap) {
			*consumed = i;
			return IST_ERR_TOOBIG;
		}
		h->buf[h->have++] = c;
		if (h->have <= plen && c != prefix[h->have - 1]) {
			*bad_prefix = true;
			*consumed = i + 1;
			return 0;
		}
		/* The empty line: "\n\n" or "\n\r\n" (a bare LF ends a line
		 * too, as RFC 9112 2.2 lets a recipient accept). */
		if (c == '\n' && h->have >= 2 &&
		    (h->buf[h->have - 2] == '\n' || (h->have >= 3 &&
		    h->buf[h->have - 2] == '\r' &&
		    h->buf[h->have - 3] == '\n'))) {
			*consumed = i + 1;
			return 1;
		}
	}
	*consumed = len;
	return 0;
}

/*
 * Cuts the complete head into the start line and headers. Returns 0 or
 * IST_ERR_PROTO / IST_ERR_TOOBIG with e set. what: "answer" or "request",
 * for messages.
 */
static int
head_split(struct head *h, const char *what, struct ist_err *e)
{
	char *p = h->buf, *end = h->buf + h->have;
	bool first = true;

	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *eol, *colon, *v, *ve;

		if (!nl)
			break;
		eol = nl;
		if (eol > p && eol[-1] == '\r')
			eol--;
		*eol = '\0';
		if (memchr(p, '\0', (size_t)(eol - p)) ||
		    memchr(p, '\r', (size_t)(eol - p)))
			return head_fail(h, IST_ERR_PROTO, e, "the WebSocket "
			    "handshake %s holds a NUL or stray CR byte",
			    what);
		if (first) {
			h->line1 = p;
			first = false;
			p = nl + 1;
			continue;
		}
		if (eol == p)
			break;	/* the empty line */
		if (is_ows(*p))
			return head_fail(h, IST_ERR_PROTO, e, "the WebSocket "
			    "handshake %s folds a header line (obsolete, "
			    "RFC 9112 5.2)", what);
		colon = strchr(p, ':');
		if (!colon)
			return head_fail(h, IST_ERR_PROTO, e, "the WebSocket "
			    "handshake %s has a header line without ':'",
			    what);
		*colon = '\0';
		if (!is_token(p))
			return head_fail(h, IST_ERR_PROTO, e, "the WebSocket "
			    "handshake %s has a header name that is not an "
			    "HTTP token", what);
		if (h->nh == IST_WSHANDSHAKE_MAX_HEADERS)
			return head_fail(h, IST_ERR_TOOBIG, e, "the WebSocket "
			    "handshake %s has more than %u headers", what,
			    IST_WSHANDSHAKE_MAX_HEADERS);
		v = colon + 1;
		while (is_ows(*v))
			v++;
		ve = eol;
		while (ve > v && is_ows(ve[-1]))
			ve--;
		*ve = '\0';
		if (!is_value(v))
			return head_fail(h, IST_ERR_PROTO, e, "the WebSocket "
			    "handshake %s has a control character in header "
			    "%s", what, p);
		h->h[h->nh].name = p;
		h->h[h->nh].value = v;
		h->nh++;
		p = nl + 1;
	}
	h->complete = true;
	return 0;
}

static const char *
head_header(const struct head *h, const char *name, size_t *count)
{
	const char *first = NULL;
	size_t i, n = 0;

	if (h->complete && name) {
		for (i = 0; i < h->nh; i++) {
			if (!eq_nocase(h->h[i].name, name))
				continue;
			if (!first)
				first = h->h[i].value;
			n++;
		}
	}
	if (count)
		*count = n;
	return first;
}

/*
 * Calls fn for each comma-separated element (OWS trimmed, empty ones
 * included) of every header named name; stops when fn returns true.
 * Returns whether one did.
 */
static bool
each_element(const struct head *h, const char *name,
    bool (*fn)(const char *s, size_t n, void *ud), void *ud)
{
	size_t i;

	for (i = 0; i < h->nh; i++) {
		const char *p;

		if (!eq_nocase(h->h[i].name, name))
			continue;
		p = h->h[i].value;
		for (;;) {
			const char *c = strchr(p, ','), *s = p, *t;

			t = c ? c : p + strlen(p);
			while (s < t && is_ows(*s))
				s++;
			while (t > s && is_ows(t[-1]))
				t--;
			if (fn(s, (size_t)(t - s), ud))
				return true;
			if (!c)
				break;
			p = c + 1;
		}
	}
	return false;
}

static bool
token_is(const char *s, size_t n, void *ud)
{
	return eq_nocase_n(s, n, ud);
}

static bool
has_token(const struct head *h, const char *name, const char *token)
{
	return each_element(h, name, token_is, (void *)(uintptr_t)token);
}

/* One block: the parser struct (self bytes, zeroed), the head buffer,
 * then extra bytes. */
static int
head_new(void **block, size_t self, size_t cap, size_t extra,
    const struct ist_mem **mem)
{
	uint8_t *b;

	if (!*mem)
		*mem = ist_mem_default();
	if (cap > SIZE_MAX / 4 || extra > SIZE_MAX / 4)
		return IST_ERR_INVAL;
	b = (*mem)->malloc(self + cap + extra, (*mem)->ud);
	if (!b)
		return IST_ERR_NOMEM;
	memset(b, 0, self);
	*block = b;
	return 0;
}

/* ---- client: the answer ----------------------------------------------- */

struct ist_wshandshake_response {
	struct ist_mem mem;
	struct head head;
	int status;
	const char *reason;
	char accept[IST_WSHANDSHAKE_ACCEPT_LEN + 1];
	char *protocol;		/* offered, or NULL */
};

int
ist_wshandshake_response_new(struct ist_wshandshake_response **out,
    const struct ist_wshandshake_client *c, size_t max_head,
    const struct ist_mem *mem)
{
	struct ist_wshandshake_response *r;
	char key[IST_WSHANDSHAKE_KEY_LEN + 1];
	size_t plen;
	void *b = NULL;
	int rc;

	if (!out)
		return IST_ERR_INVAL;
	*out = NULL;
	if (!c)
		return IST_ERR_INVAL;
	plen = c->protocol ? strlen(c->protocol) + 1 : 0;
	rc = head_new(&b, sizeof(*r), max_head ? max_head :
	    IST_WSHANDSHAKE_DEFAULT_HEAD, plen, &mem);
	if (rc < 0)
		return rc;
	r = b;
	r->mem = *mem;
	r->head.cap = max_head ? max_head : IST_WSHANDSHAKE_DEFAULT_HEAD;
	r->head.buf = (char *)b + sizeof(*r);
	r->reason = "";
	if (c->protocol) {
		r->protocol = r->head.buf + r->head.cap;
		memcpy(r->protocol, c->protocol, plen);
	}
	EVP_EncodeBlock((unsigned char *)key, c->nonce, 16);
	rc = ist_wshandshake_accept_key(key, IST_WSHANDSHAKE_KEY_LEN,
	    r->accept);
	if (rc < 0) {
		ist_wshandshake_response_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

void
ist_wshandshake_response_free(struct ist_wshandshake_response *r)
{
	if (!r)
		return;
	r->mem.free(r, r->mem.ud);
}

/* "HTTP/1.x SP 3DIGIT SP reason" (the SP before an empty reason may be
 * missing: RFC 9112 4 asks recipients to accept that). */
static int
parse_status(struct ist_wshandshake_response *r, struct ist_err *e)
{
	char *l = r->head.line1, q[200];
	int st;

	if (strncmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' ||
	    l[8] != ' ') {
		quote(q, sizeof(q), l, strlen(l));
		return head_fail(&r->head, IST_ERR_PROTO, e, "the server "
		    "answered the WebSocket handshake with \"%s\", not an "
		    "HTTP/1.1 status line", q);
	}
	if (l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' ||
	    l[11] < '0' || l[11] > '9' || (l[12] != ' ' && l[12] != '\0')) {
		quote(q, sizeof(q), l, strlen(l));
		return head_fail(&r->head, IST_ERR_PROTO, e, "the server "
		    "answered the WebSocket handshake with a bad status "
		    "line \"%s\"", q);
	}
	st = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	r->status = st;
	r->reason = l[12] ? l + 13 : "";
	/* An HTTP/1.0 server (lws's own, some proxies) may still refuse
	 * with a status worth reading; it can never upgrade. */
	if (l[7] != '1' && st == 101)
		return head_fail(&r->head, IST_ERR_PROTO, e, "the server "
		    "answered the WebSocket handshake with a 101 in HTTP/1.%c "
		    "(an upgrade needs HTTP/1.1)", l[7]);
	return 0;
}

static int
check_upgrade(struct ist_wshandshake_response *r, struct ist_err *e)
{
	struct head *h = &r->head;
	const char *v;
	size_t n;

	if (!has_token(h, "upgrade", "websocket"))
		return head_fail(h, IST_ERR_PROTO, e, "the server's 101 "
		    "answer has no \"Upgrade: websocket\" header");
	if (!has_token(h, "connection", "upgrade"))
		return head_fail(h, IST_ERR_PROTO, e, "the server's 101 "
		    "answer has no \"Connection: upgrade\" header");
	v = head_header(h, "sec-websocket-accept", &n);
	if (n != 1)
		return head_fail(h, IST_ERR_PROTO, e, "the server's 101 "
		    "answer has %zu Sec-WebSocket-Accept headers, not "
		    "one", n);
	if (strcmp(v, r->accept) != 0)
		return head_fail(h, IST_ERR_PROTO, e, "the server's 101 "
		    "answer has a wrong Sec-WebSocket-Accept (not the hash "
		    "of our key: a proxy or server that does not speak "
		    "WebSocket)");
	head_header(h, "sec-websocket-extensions", &n);
	if (n)
		return head_fail(h, IST_ERR_PROTO, e, "the server's 101 "
		    "answer names Sec-WebSocket-Extensions, none offered");
	v = head_header(h, "sec-websocket-protocol", &n);
	if (!r->protocol) {
		if (n)
			return head_fail(h, IST_ERR_PROTO, e, "the server's "
			    "101 answer chose a WebSocket subprotocol, none "
			    "offered");
		return 0;
	}
	if (n == 0)
		return head_fail(h, IST_ERR_PROTO, e, "the server's 101 "
		    "answer chose no WebSocket subprotocol (we offered "
		    "%s)", r->protocol);
	if (n > 1 || strcmp(v, r->protocol) != 0) {
		char q[200];

		quote(q, sizeof(q), v, strlen(v));
		return head_fail(h, IST_ERR_PROTO, e, "the server's 101 "
		    "answer chose the WebSocket subprotocol \"%s\"%s, not "
		    "the %s we offered", q, n > 1 ? " (and more)" : "",
		    r->protocol);
	}
	return 0;
}

int
ist_wshandshake_response_feed(struct ist_wshandshake_response *r,
    const uint8_t *in, size_t len, size_t *consumed, struct ist_err *e)
{
	struct head *h = &r->head;
	bool bad = false;
	char q[200];
	int rc;

	*consumed = 0;
	if (h->result) {
		if (e)
			*e = h->err;
		return h->result;
	}
	rc = head_take(h, in, len, consumed, "HTTP/", &bad);
	if (bad) {
		quote(q, sizeof(q), h->buf, h->have);
		return head_fail(h, IST_ERR_PROTO, e, "the server answered "
		    "the WebSocket handshake with \"%s...\", which is not "
		    "HTTP/1.1 (an HTTP/0.9 reply or not HTTP at all)", q);
	}
	if (rc == IST_ERR_TOOBIG)
		return head_fail(h, rc, e, "the server's answer to the "
		    "WebSocket handshake has a head over %zu bytes", h->cap);
	if (rc == 0)
		return 0;
	rc = head_split(h, "answer", e);
	if (rc < 0)
		return rc;
	rc = parse_status(r, e);
	if (rc < 0)
		return rc;
	if (r->status != 101 && r->status < 200) {
		h->complete = false;
		return head_fail(h, IST_ERR_PROTO, e, "the server answered "
		    "the WebSocket handshake with the interim status %d",
		    r->status);
	}
	if (r->status != 101) {
		quote(q, sizeof(q), r->reason, strlen(r->reason));
		return head_fail(h, IST_ERR_NET, e, "the server refused the "
		    "WebSocket handshake with HTTP %d %s", r->status, q);
	}
	rc = check_upgrade(r, e);
	if (rc < 0)
		return rc;
	h->result = 1;
	return 1;
}

int
ist_wshandshake_response_status(const struct ist_wshandshake_response *r)
{
	return r->status;
}

const char *
ist_wshandshake_response_reason(const struct ist_wshandshake_response *r)
{
	return r->reason;
}

const char *
ist_wshandshake_response_header(const struct ist_wshandshake_response *r,
    const char *name, size_t *count)
{
	return head_header(&r->head, name, count);
}

/* ---- server: the request ---------------------------------------------- */

struct ist_wshandshake_request {
	struct ist_mem mem;
	struct head head;
	int fail_status;
	const char *method;
	const char *target;
	const char *path;
	const char *query;
	const char *key;
	char *tok;		/* copies of the offered subprotocols */
	size_t tok_used;
	size_t tok_cap;
	const char *protocols[IST_WSHANDSHAKE_MAX_PROTOCOLS];
	size_t nprotocols;
	bool bad_protocol;
};

int
ist_wshandshake_request_new(struct ist_wshandshake_request **out,
    size_t max_head, const struct ist_mem *mem)
{
	struct ist_wshandshake_request *q;
	size_t cap = max_head ? max_head : IST_WSHANDSHAKE_DEFAULT_HEAD;
	void *b = NULL;
	int rc;

	if (!out)
		return IST_ERR_INVAL;
	*out = NULL;
	/* The path copy and the subprotocol copies each take at most the
	 * head's bytes plus a NUL. */
	rc = head_new(&b, sizeof(*q), cap, 2 * cap + 2, &mem);
	if (rc < 0)
		return rc;
	q = b;
	q->mem = *mem;
	q->head.cap = cap;
	q->head.buf = (char *)b + sizeof(*q);
	q->tok = q->head.buf + cap;
	q->tok_cap = 2 * cap + 2;
	*out = q;
	return 0;
}

void
ist_wshandshake_request_free(struct ist_wshandshake_request *q)
{
	if (!q)
		return;
	q->mem.free(q, q->mem.ud);
}

static int
req_fail(struct ist_wshandshake_request *q, int status, int code,
    struct ist_err *e, const char *msg)
{
	q->fail_status = status;
	return head_fail(&q->head, code, e, "%s", msg);
}

static char *
tok_copy(struct ist_wshandshake_request *q, const char *s, size_t n)
{
	char *p;

	if (n + 1 > q->tok_cap - q->tok_used)
		return NULL;
	p = q->tok + q->tok_used;
	memcpy(p, s, n);
	p[n] = '\0';
	q->tok_used += n + 1;
	return p;
}

static bool
add_protocol(const char *s, size_t n, void *ud)
{
	struct ist_wshandshake_request *q = ud;
	char *p;
	size_t i;

	if (n == 0 || q->nprotocols == IST_WSHANDSHAKE_MAX_PROTOCOLS) {
		q->bad_protocol = true;
		return true;
	}
	for (i = 0; i < n; i++) {
		if (!is_tchar((unsigned char)s[i])) {
			q->bad_protocol = true;
			return true;
		}
	}
	p = tok_copy(q, s, n);
	if (!p) {
		q->bad_protocol = true;
		return true;
	}
	q->protocols[q->nprotocols++] = p;
	return false;
}

/* "METHOD SP target SP HTTP/1.1"; sets the request line parts. */
static int
parse_request_line(struct ist_wshandshake_request *q, struct ist_err *e)
{
	char *l = q->head.line1, *sp1, *sp2, *qm;
	char m[200];

	sp1 = strchr(l, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' ')) {
		quote(m, sizeof(m), l, strlen(l));
		q->fail_status = 400;
		return head_fail(&q->head, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request line \"%s\" is not \"METHOD target "
		    "HTTP/1.1\"", m);
	}
	*sp1 = '\0';
	*sp2 = '\0';
	if (!is_token(l) || !is_visible(sp1 + 1)) {
		q->fail_status = 400;
		return head_fail(&q->head, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request line has a bad method or target");
	}
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		quote(m, sizeof(m), sp2 + 1, strlen(sp2 + 1));
		q->fail_status = 505;
		return head_fail(&q->head, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request is %s, not HTTP/1.1", m);
	}
	q->method = l;
	q->target = sp1 + 1;
	qm = strchr(q->target, '?');
	if (qm) {
		q->path = tok_copy(q, q->target, (size_t)(qm - q->target));
		q->query = qm + 1;
	} else {
		q->path = q->target;
	}
	if (!q->path) {
		q->fail_status = 400;
		return head_fail(&q->head, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request target is too long");
	}
	q->head.complete = true;
	if (strcmp(sp2 + 1, "HTTP/1.1") != 0) {
		quote(m, sizeof(m), sp2 + 1, strlen(sp2 + 1));
		q->fail_status = 400;
		return head_fail(&q->head, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request is %s, not HTTP/1.1", m);
	}
	return 0;
}

static int
check_request(struct ist_wshandshake_request *q, struct ist_err *e)
{
	struct head *h = &q->head;
	const char *v;
	size_t n;

	if (strcmp(q->method, "GET") != 0)
		return req_fail(q, 405, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request is not a GET");
	head_header(h, "host", &n);
	if (n != 1)
		return req_fail(q, 400, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request needs exactly one Host header");
	if (!has_token(h, "upgrade", "websocket"))
		return req_fail(q, 400, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request has no \"Upgrade: websocket\"");
	if (!has_token(h, "connection", "upgrade"))
		return req_fail(q, 400, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request has no \"Connection: upgrade\"");
	v = head_header(h, "sec-websocket-key", &n);
	if (n != 1 || !key_valid(v))
		return req_fail(q, 400, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request needs one Sec-WebSocket-Key that is "
		    "the base64 of 16 bytes");
	v = head_header(h, "sec-websocket-version", &n);
	if (n != 1 || strcmp(v, "13") != 0)
		return req_fail(q, 426, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request needs one Sec-WebSocket-Version: 13");
	each_element(h, "sec-websocket-protocol", add_protocol, q);
	if (q->bad_protocol) {
		q->nprotocols = 0;
		return req_fail(q, 400, IST_ERR_PROTO, e, "the WebSocket "
		    "handshake request offers an empty or bad subprotocol, "
		    "or more than 16");
	}
	q->key = head_header(h, "sec-websocket-key", NULL);
	return 0;
}

int
ist_wshandshake_request_feed(struct ist_wshandshake_request *q,
    const uint8_t *in, size_t len, size_t *consumed, struct ist_err *e)
{
	struct head *h = &q->head;
	bool bad = false;
	int rc;

	*consumed = 0;
	if (h->result) {
		if (e)
			*e = h->err;
		return h->result;
	}
	rc = head_take(h, in, len, consumed, NULL, &bad);
	if (rc == IST_ERR_TOOBIG)
		return req_fail(q, 431, rc, e, "the WebSocket handshake "
		    "request has a head over the size limit");
	if (rc == 0)
		return 0;
	rc = head_split(h, "request", e);
	if (rc < 0) {
		q->fail_status = rc == IST_ERR_TOOBIG ? 431 : 400;
		h->complete = false;
		return rc;
	}
	h->complete = false;
	rc = parse_request_line(q, e);
	if (rc < 0)
		return rc;
	rc = check_request(q, e);
	if (rc < 0)
		return rc;
	h->result = 1;
	return 1;
}

int
ist_wshandshake_request_fail_status(const struct ist_wshandshake_request *q)
{
	return q->fail_status;
}

const char *
ist_wshandshake_request_method(const struct ist_wshandshake_request *q)
{
	return q->head.complete ? q->method : NULL;
}

const char *
ist_wshandshake_request_target(const struct ist_wshandshake_request *q)
{
	return q->head.complete ? q->target : NULL;
}

const char *
ist_wshandshake_request_path(const struct ist_wshandshake_request *q)
{
	return q->head.complete ? q->path : NULL;
}

const char *
ist_wshandshake_request_query(const struct ist_wshandshake_request *q)
{
	return q->head.complete ? q->query : NULL;
}

const char *
ist_wshandshake_request_header(const struct ist_wshandshake_request *q,
    const char *name, size_t *count)
{
	return head_header(&q->head, name, count);
}

const char *
ist_wshandshake_request_key(const struct ist_wshandshake_request *q)
{
	return q->key;
}

const char *
ist_wshandshake_request_protocol(const struct ist_wshandshake_request *q,
    size_t i)
{
	return i < q->nprotocols ? q->protocols[i] : NULL;
}
