/*
 * httpresp.c: the HTTP/1.1 response parser of http.c, without I/O: bytes
 * in, status, headers and body out. Everything in it is the peer's input
 * and capped: the head (status line, headers, trailers) at HTTP_HEAD_MAX,
 * a chunk-size line at HTTP_LINE_MAX, the body at HTTP_BODY_MAX.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "aws_int.h"

enum {
	ST_STATUS,
	ST_HEADER,
	ST_BODY_LEN,
	ST_BODY_EOF,
	ST_CHUNK_SIZE,
	ST_CHUNK_DATA,
	ST_CHUNK_END,
	ST_TRAILER,
	ST_DONE
};

/* RFC 9110 tchar. */
static bool
is_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Field values: visible characters, obs-text, SP and HTAB. */
static bool
clean_value(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

void
http_parser_init(struct http_parser *p, bool head_only)
{
	memset(p, 0, sizeof(*p));
	p->head_only = head_only;
	p->clen = -1;
	dstr_init(&p->body, HTTP_BODY_MAX + 1);
}

void
http_parser_free(struct http_parser *p)
{
	if (!p)
		return;
	OPENSSL_cleanse(p->line, sizeof(p->line));
	dstr_free(&p->body);
}

static int
status_line(struct http_parser *p, const char *s, size_t n,
    struct ist_err *e)
{
	long v = 0;

	if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 ||
	    !isdigit((unsigned char)s[7]) || s[8] != ' ')
		return ist_err_set(e, IST_ERR_NET, "not an HTTP/1.x answer");
	for (size_t i = 9; i < 12; i++) {
		if (!isdigit((unsigned char)s[i]))
			return ist_err_set(e, IST_ERR_NET, "bad HTTP status "
			    "line");
		v = v * 10 + (s[i] - '0');
	}
	if (v < 100 || (n > 12 && s[12] != ' ') || !clean_value(s, n))
		return ist_err_set(e, IST_ERR_NET, "bad HTTP status line");
	if (v == 101)
		return ist_err_set(e, IST_ERR_NET, "unasked-for HTTP 101 "
		    "(Switching Protocols)");
	p->status = v;
	p->clen = -1;
	p->chunked = false;
	p->te_seen = false;
	p->state = ST_HEADER;
	return 0;
}

/* Content-Length: digits only; repeats must agree (RFC 9112 6.3). */
static int
content_length(struct http_parser *p, const char *v, size_t n,
    struct ist_err *e)
{
	long long len = 0;

	if (n == 0)
		return ist_err_set(e, IST_ERR_NET, "empty Content-Length");
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return ist_err_set(e, IST_ERR_NET, "bad Content-Length");
		if (len > HTTP_BODY_MAX)
			break; /* too big either way: no overflow */
		len = len * 10 + (v[i] - '0');
	}
	if (p->clen >= 0 && p->clen != len)
		return ist_err_set(e, IST_ERR_NET, "two different "
		    "Content-Length headers");
	p->clen = len;
	return 0;
}

/* A header or trailer line: "name: value". */
static int
field_line(struct http_parser *p, const char *s, size_t n, bool trailer,
    struct ist_err *e)
{
	const char *colon = memchr(s, ':', n), *v;
	size_t nl, vl;

	if (s[0] == ' ' || s[0] == '\t')
		return ist_err_set(e, IST_ERR_NET, "folded header line");
	if (!colon || colon == s)
		return ist_err_set(e, IST_ERR_NET, "bad header line");
	nl = (size_t)(colon - s);
	for (size_t i = 0; i < nl; i++)
		if (!is_tchar((unsigned char)s[i]))
			return ist_err_set(e, IST_ERR_NET, "bad header name");
	v = colon + 1;
	vl = n - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (!clean_value(v, vl))
		return ist_err_set(e, IST_ERR_NET, "bad header value");
	if (trailer)
		return 0;
	if (p->on_header)
		p->on_header(p->ud, s, nl, v, vl);
	if (nl == 14 && strncasecmp(s, "Content-Length", 14) == 0)
		return content_length(p, v, vl, e);
	if (nl == 17 && strncasecmp(s, "Transfer-Encoding", 17) == 0) {
		/* We send no TE and no Accept-Encoding: chunked or nothing. */
		if (p->te_seen || vl != 7 || strncasecmp(v, "chunked", 7) != 0)
			return ist_err_set(e, IST_ERR_NET, "unsupported "
			    "Transfer-Encoding");
		p->te_seen = true;
		p->chunked = true;
	}
	return 0;
}

/* The empty line after the headers: what the body is. */
static int
end_of_head(struct http_parser *p, struct ist_err *e)
{
	if (p->status < 200) {
		p->state = ST_STATUS; /* 100 Continue and the like: skipped */
		return 0;
	}
	if (p->head_only || p->status == 204 || p->status == 304) {
		p->state = ST_DONE;
		return 0;
	}
	if (p->chunked) {
		p->state = ST_CHUNK_SIZE;
	} else if (p->clen > HTTP_BODY_MAX) {
		return ist_err_set(e, IST_ERR_TOOBIG, "answer over %d bytes",
		    HTTP_BODY_MAX);
	} else if (p->clen == 0) {
		p->state = ST_DONE;
	} else if (p->clen > 0) {
		p->left = (size_t)p->clen;
		p->state = ST_BODY_LEN;
	} else {
		p->state = ST_BODY_EOF;
	}
	return 0;
}

/* "hex[ ;ext...]" (RFC 9112 7.1); extensions are ignored. */
static int
chunk_size(struct http_parser *p, const char *s, size_t n,
    struct ist_err *e)
{
	size_t i = 0, v = 0;

	for (; i < n && isxdigit((unsigned char)s[i]); i++) {
		int d = isdigit((unsigned char)s[i]) ? s[i] - '0' :
		    (tolower((unsigned char)s[i]) - 'a' + 10);

		if (v > HTTP_BODY_MAX)
			return ist_err_set(e, IST_ERR_TOOBIG, "answer over %d "
			    "bytes", HTTP_BODY_MAX);
		v = v * 16 + (size_t)d;
	}
	if (i == 0)
		return ist_err_set(e, IST_ERR_NET, "bad chunk size");
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if ((i < n && s[i] != ';') || !clean_value(s, n))
		return ist_err_set(e, IST_ERR_NET, "bad chunk size");
	if (v == 0) {
		p->state = ST_TRAILER;
		return 0;
	}
	if (v > HTTP_BODY_MAX - p->body.len)
		return ist_err_set(e, IST_ERR_TOOBIG, "answer over %d bytes",
		    HTTP_BODY_MAX);
	p->left = v;
	p->state = ST_CHUNK_DATA;
	return 0;
}

static int
one_line(struct http_parser *p, const char *s, size_t n, struct ist_err *e)
{
	switch (p->state) {
	case ST_STATUS:
		return status_line(p, s, n, e);
	case ST_HEADER:
		return n == 0 ? end_of_head(p, e) : field_line(p, s, n, false,
		    e);
	case ST_CHUNK_SIZE:
		return chunk_size(p, s, n, e);
	case ST_CHUNK_END:
		if (n != 0)
			return ist_err_set(e, IST_ERR_NET, "no line end after "
			    "a chunk");
		p->state = ST_CHUNK_SIZE;
		return 0;
	default: /* ST_TRAILER */
		if (n == 0) {
			p->state = ST_DONE;
			return 0;
		}
		return field_line(p, s, n, true, e);
	}
}

/* Body bytes: stored, under the cap. */
static int
body_bytes(struct http_parser *p, const char *b, size_t n,
    struct ist_err *e)
{
	if (n > HTTP_BODY_MAX - p->body.len)
		return ist_err_set(e, IST_ERR_TOOBIG, "answer over %d bytes",
		    HTTP_BODY_MAX);
	dstr_addn(&p->body, b, n);
	if (!dstr_ok(&p->body))
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	return 0;
}

int
http_parser_feed(struct http_parser *p, const char *b, size_t n,
    size_t *used, struct ist_err *e)
{
	size_t i = 0;
	int r = 0;

	if (n > 0)
		p->got_any = true;
	while (i < n && p->state != ST_DONE) {
		const char *nl;
		size_t take, cap;

		if (p->state == ST_BODY_LEN || p->state == ST_CHUNK_DATA ||
		    p->state == ST_BODY_EOF) {
			take = n - i;
			if (p->state != ST_BODY_EOF && take > p->left)
				take = p->left;
			if ((r = body_bytes(p, b + i, take, e)) < 0)
				goto out;
			i += take;
			if (p->state == ST_BODY_EOF)
				continue;
			p->left -= take;
			if (p->left == 0)
				p->state = p->state == ST_BODY_LEN ? ST_DONE :
				    ST_CHUNK_END;
			continue;
		}
		nl = memchr(b + i, '\n', n - i);
		take = nl ? (size_t)(nl - (b + i)) + 1 : n - i;
		if (p->state == ST_CHUNK_SIZE || p->state == ST_CHUNK_END) {
			cap = HTTP_LINE_MAX;
			if (p->line_len + take > cap) {
				r = ist_err_set(e, IST_ERR_NET, "chunk size "
				    "line over %d bytes", HTTP_LINE_MAX);
				goto out;
			}
		} else {
			cap = HTTP_HEAD_MAX;
			if (p->head_used + take > cap) {
				r = ist_err_set(e, IST_ERR_TOOBIG, "answer "
				    "headers over %d bytes", HTTP_HEAD_MAX);
				goto out;
			}
			p->head_used += take;
		}
		memcpy(p->line + p->line_len, b + i, take);
		p->line_len += take;
		i += take;
		if (!nl)
			continue;
		/* Lines end in CRLF; a bare LF is taken too, as clients do. */
		take = p->line_len - 1;
		if (take > 0 && p->line[take - 1] == '\r')
			take--;
		if (memchr(p->line, '\0', take)) {
			r = ist_err_set(e, IST_ERR_NET, "NUL byte in the answer "
			    "head");
			goto out;
		}
		p->line_len = 0;
		if ((r = one_line(p, p->line, take, e)) < 0)
			goto out;
	}
	r = p->state == ST_DONE;
out:
	if (used)
		*used = i;
	return r;
}

int
http_parser_eof(struct http_parser *p, struct ist_err *e)
{
	if (p->state == ST_DONE)
		return 1;
	if (p->state == ST_BODY_EOF) {
		p->state = ST_DONE;
		return 1;
	}
	if (!p->got_any)
		return ist_err_set(e, IST_ERR_NET, "the server closed the "
		    "connection without an answer");
	return ist_err_set(e, IST_ERR_NET, "the connection closed before the "
	    "end of the answer");
}

bool
http_parser_done(const struct http_parser *p)
{
	return p->state == ST_DONE;
}
