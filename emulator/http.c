/*
 * http.c: the HTTP/1.1 side of a connection. Reads one request at a time
 * (head bounded by EMU_MAX_HEAD, body by Content-Length and
 * EMU_MAX_REQ_BODY), answers it, and keeps the connection for the next
 * one (the AWS CLI, botocore and libcurl reuse connections). Routes:
 *  - a request with an Upgrade header: relay.c (the data plane; it
 *    checks the path, /tunnel);
 *  - POST /admin/<what> from loopback with --admin: admin.c;
 *  - anything else, any method and path: api.c.
 * While an answer is pending (written, or delayed by fault injection),
 * later bytes wait in the input buffer: requests are answered in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"
#include "ist/num.h"

struct head {
	char method[16];
	char *target; /* in the copy of the head */
	const char *path, *query;
	int minor;    /* HTTP/1.<minor> */
	struct ist_header h[EMU_MAX_HEADERS];
	size_t n;
	char *copy;   /* the head, NUL-terminated pieces */
};

const char *
emu_http_header(const struct ist_header *h, size_t n, const char *name,
    size_t *count)
{
	const char *first = NULL;
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(h[i].name, name))
			continue;
		if (!first)
			first = h[i].value;
		k++;
	}
	if (count)
		*count = k;
	return first;
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return status < 500 ? "Client Error" : "Server Error";
	}
}

/* Whether a comma-separated list (a Connection value) has token tok. */
static bool
has_token(const char *list, const char *tok)
{
	size_t tl = strlen(tok);

	while (list && *list) {
		size_t n;

		while (*list == ' ' || *list == '\t' || *list == ',')
			list++;
		n = strcspn(list, ", \t");
		if (n == tl && !strncasecmp(list, tok, tl))
			return true;
		list += n;
	}
	return false;
}

static bool
is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch && strchr("!#$%&'*+-.^_`|~",
	    ch));
}

/*
 * Parses a head (len bytes ending with CRLFCRLF) into hd. Returns 0, or
 * the status to refuse it with (400, 431, 505).
 */
static int
parse_head(const uint8_t *buf, size_t len, struct head *hd)
{
	char *s, *line, *next, *sp, *colon, *v, *end;
	size_t n;

	memset(hd, 0, sizeof(*hd));
	hd->copy = malloc(len + 1);
	if (!hd->copy)
		return 500;
	memcpy(hd->copy, buf, len);
	hd->copy[len] = '\0';
	if (memchr(hd->copy, '\0', len))
		return 400;
	s = hd->copy;
	/* request line: METHOD SP target SP HTTP/1.x */
	next = strstr(s, "\r\n");
	*next = '\0';
	line = s;
	s = next + 2;
	sp = strchr(line, ' ');
	if (!sp || (size_t)(sp - line) >= sizeof(hd->method) || sp == line)
		return 400;
	memcpy(hd->method, line, (size_t)(sp - line));
	for (n = 0; hd->method[n]; n++)
		if (!is_tchar((unsigned char)hd->method[n]))
			return 400;
	hd->target = sp + 1;
	sp = strchr(hd->target, ' ');
	if (!sp || sp == hd->target || hd->target[0] != '/')
		return 400;
	*sp = '\0';
	if (strncmp(sp + 1, "HTTP/1.", 7))
		return strncmp(sp + 1, "HTTP/", 5) ? 400 : 505;
	if ((sp[8] != '0' && sp[8] != '1') || sp[9])
		return 505;
	hd->minor = sp[8] - '0';
	for (v = hd->target; *v; v++)
		if ((unsigned char)*v <= ' ' || *v == 0x7f)
			return 400;
	/* headers, until the empty line */
	while (*s) {
		next = strstr(s, "\r\n");
		if (!next)
			return 400;
		*next = '\0';
		line = s;
		s = next + 2;
		if (!*line)
			break;
		if (hd->n == EMU_MAX_HEADERS)
			return 431;
		colon = strchr(line, ':');
		if (!colon || colon == line)
			return 400; /* also obs-fold (a line starting with SP) */
		*colon = '\0';
		for (v = line; *v; v++) {
			if (!is_tchar((unsigned char)*v))
				return 400;
			if (*v >= 'A' && *v <= 'Z')
				*v = (char)(*v - 'A' + 'a');
		}
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		end = v + strlen(v);
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		for (sp = v; *sp; sp++)
			if (((unsigned char)*sp < ' ' && *sp != '\t') ||
			    *sp == 0x7f)
				return 400;
		hd->h[hd->n].name = line;
		hd->h[hd->n].value = v;
		hd->n++;
	}
	/* path and query, split in place: target is not needed whole */
	hd->path = hd->target;
	v = strchr(hd->target, '?');
	if (v) {
		*v = '\0';
		hd->query = v + 1;
	} else {
		hd->query = "";
	}
	return 0;
}

void
emu_http_set_answer(struct emu_conn *c, char *out, size_t len,
    bool close_after)
{
	free(c->out);
	c->out = out;
	c->out_len = len;
	c->busy = true;
	if (close_after)
		c->close_after = true;
	emu_conn_want_write(c);
}

/* A whole answer (status line, headers, body) as the next write. */
static int
set_response(struct emu_conn *c, int status, const char *ctype,
    const char *body, bool close_after)
{
	char rid[37], *out;
	size_t blen = body ? strlen(body) : 0, cap = blen + 512;
	int n;

	emu_uuid(rid);
	out = malloc(cap);
	if (!out)
		return -1;
	n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n"
	    "Server: " EMU_PROG "\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "x-amzn-RequestId: %s\r\n"
	    "%s\r\n", status, reason_phrase(status), ctype, blen, rid,
	    close_after ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n + blen > cap) {
		free(out);
		return -1;
	}
	if (blen)
		memcpy(out + n, body, blen);
	emu_http_set_answer(c, out, (size_t)n + blen, close_after);
	return 0;
}

/* A refusal before the request could be read: answer and close. */
static int
refuse(struct emu_conn *c, int status, const char *type, const char *msg)
{
	char *body = emu_api_error(type, "%s", msg);
	int r;

	ist_verbose("HTTP request refused: %d %s", status, msg);
	r = set_response(c, status, "application/x-amz-json-1.1", body ? body :
	    "{}", true);
	free(body);
	return r;
}

static void
on_delay(lws_sorted_usec_list_t *sul)
{
	struct emu_conn *c = lws_container_of(sul, struct emu_conn, delay_sul);

	c->delayed = false;
	emu_conn_want_write(c);
}

/* Routes and answers one complete request. */
static int
answer(struct emu_conn *c, const struct head *hd, const uint8_t *body,
    size_t body_len, bool close_after)
{
	struct emu *emu = c->emu;
	struct emu_faults *f = &emu->faults;
	const char *ctype = "application/x-amz-json-1.1";
	char *resp = NULL;
	int status = 500, r;
	bool admin = !strncmp(hd->path, "/admin/", 7) &&
	    !strcmp(hd->method, "POST") && emu->admin &&
	    emu_is_loopback(c->wsi);
	const char *target = emu_http_header(hd->h, hd->n, "x-amz-target",
	    NULL);

	if (admin) {
		emu_admin_handle(emu, hd->path, body, body_len, &status,
		    &resp);
	} else {
		struct emu_req q;

		memset(&q, 0, sizeof(q));
		q.target = target;
		q.auth = emu_http_header(hd->h, hd->n, "authorization", NULL);
		q.amz_date = emu_http_header(hd->h, hd->n, "x-amz-date",
		    NULL);
		q.sec_token = emu_http_header(hd->h, hd->n,
		    "x-amz-security-token", NULL);
		q.headers = hd->h;
		q.n_headers = hd->n;
		q.method = hd->method;
		q.path = hd->path;
		q.query = hd->query;
		q.body = body;
		q.body_len = body_len;
		emu_api_handle(emu, &q, &status, &resp, &ctype);
	}
	if (!resp) {
		status = 500;
		ctype = "application/x-amz-json-1.1";
		resp = strdup("{\"__type\":\"InternalFailure\"}");
		if (!resp)
			return -1;
	}
	r = set_response(c, status, ctype, resp, close_after);
	free(resp);
	if (r != 0)
		return -1;
	if (!admin && f->delay_count != 0 &&
	    emu_fault_applies(f->delay_op, target)) {
		if (f->delay_count > 0)
			f->delay_count--;
		ist_verbose("fault: answering in %d ms", f->delay_ms);
		c->delayed = true;
		lws_sul_schedule(lws_get_context(c->wsi), 0, &c->delay_sul,
		    on_delay, (lws_usec_t)f->delay_ms * LWS_US_PER_MS);
	}
	return 0;
}

/* Drops the first n bytes of the input buffer. */
static void
consume(struct emu_conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	c->scanned = 0;
	c->continued = false;
}

/* The end of the head (just past CRLFCRLF) in c->in, or 0. */
static size_t
head_end(struct emu_conn *c)
{
	size_t i = c->scanned > 3 ? c->scanned - 3 : 0;

	for (; i + 4 <= c->in_len; i++)
		if (c->in[i] == '\r' && !memcmp(c->in + i, "\r\n\r\n", 4))
			return i + 4;
	c->scanned = c->in_len;
	return 0;
}

/*
 * Handles what c->in holds: at most one request while none is pending.
 * 0 (done for now) or -1 (close).
 */
static int
process(struct emu_conn *c)
{
	struct head hd;
	const char *cl, *te, *conn, *expect, *upgrade;
	size_t hlen, n;
	long clen = 0;
	bool close_after;
	int st, r = -1;

	memset(&hd, 0, sizeof(hd));
	if (c->busy || c->phase != EMU_CONN_HTTP || !c->in_len)
		return 0;
	hlen = head_end(c);
	if (!hlen) {
		if (c->in_len > EMU_MAX_HEAD)
			return refuse(c, 431, "SerializationException",
			    "request head over 16384 bytes");
		return 0;
	}
	if (hlen > EMU_MAX_HEAD + 4)
		return refuse(c, 431, "SerializationException",
		    "request head over 16384 bytes");
	st = parse_head(c->in, hlen, &hd);
	if (st) {
		r = refuse(c, st, "SerializationException", st == 505 ?
		    "HTTP/1.1 only" : st == 431 ? "too many header lines" :
		    "malformed HTTP request");
		goto out;
	}
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE, 120);
	upgrade = emu_http_header(hd.h, hd.n, "upgrade", NULL);
	if (upgrade) {
		/* The data plane: relay.c answers (101 or a refusal) and
		 * takes what follows the head as WebSocket bytes. */
		r = emu_relay_handshake(c, c->in, hlen, hd.h, hd.n);
		if (r == 0)
			consume(c, hlen);
		if (r == 0 && c->phase == EMU_CONN_WS && c->in_len) {
			n = c->in_len;
			c->in_len = 0;
			r = emu_relay_rx(c, c->in, n);
		}
		goto out;
	}
	conn = emu_http_header(hd.h, hd.n, "connection", NULL);
	close_after = hd.minor == 0 ? !has_token(conn, "keep-alive") :
	    has_token(conn, "close");
	te = emu_http_header(hd.h, hd.n, "transfer-encoding", NULL);
	if (te) {
		r = refuse(c, 501, "SerializationException", "Transfer-Encoding "
		    "is not supported: send Content-Length");
		goto out;
	}
	cl = emu_http_header(hd.h, hd.n, "content-length", &n);
	if (cl && (n > 1 || ist_num_parse_long(cl, 0, 0x7fffffffL,
	    &clen) != 0)) {
		r = refuse(c, 400, "SerializationException", "bad "
		    "Content-Length");
		goto out;
	}
	if ((unsigned long)clen > EMU_MAX_REQ_BODY) {
		char msg[64];

		snprintf(msg, sizeof(msg), "Request body over %u bytes",
		    EMU_MAX_REQ_BODY);
		r = refuse(c, 413, "SerializationException", msg);
		goto out;
	}
	if (c->in_len - hlen < (size_t)clen) {
		/* The body is still coming; say so if the client waits. */
		expect = emu_http_header(hd.h, hd.n, "expect", NULL);
		if (expect && !strcasecmp(expect, "100-continue") &&
		    !c->continued && c->in_len == hlen) {
			static const char cont[] =
			    "HTTP/1.1 100 Continue\r\n\r\n";
			uint8_t tmp[sizeof(cont)];

			c->continued = true;
			memcpy(tmp, cont, sizeof(cont) - 1);
			if (emu_conn_write(c, tmp, sizeof(cont) - 1) != 0)
				goto out;
		}
		r = 0;
		goto out;
	}
	r = answer(c, &hd, c->in + hlen, (size_t)clen, close_after);
	if (r == 0)
		consume(c, hlen + (size_t)clen);
out:
	free(hd.copy);
	return r;
}

int
emu_http_rx(struct emu_conn *c, const uint8_t *in, size_t len)
{
	size_t cap_max = EMU_MAX_HEAD + 4 + EMU_MAX_REQ_BODY;

	if (c->close_after)
		return 0; /* a final answer is on its way */
	if (c->in_len + len > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 4096;
		uint8_t *nb;

		while (cap < c->in_len + len)
			cap *= 2;
		if (cap > cap_max)
			cap = cap_max;
		if (c->in_len + len > cap) {
			/* Only a client that sends past a request it has not
			 * had an answer for gets here. */
			if (c->busy)
				return -1;
			return refuse(c, 413, "SerializationException",
			    "request too large");
		}
		nb = realloc(c->in, cap);
		if (!nb)
			return -1;
		c->in = nb;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, in, len);
	c->in_len += len;
	return process(c);
}

int
emu_http_writeable(struct emu_conn *c)
{
	char *out = c->out;

	if (!out)
		return 0;
	if (c->delayed)
		return 1; /* fault injection: later */
	c->out = NULL;
	if (emu_conn_write(c, (uint8_t *)out, c->out_len) != 0) {
		free(out);
		return -1;
	}
	free(out);
	c->busy = false;
	if (c->close_after) {
		c->phase = EMU_CONN_DONE;
	} else if (c->phase == EMU_CONN_HTTP && c->in_len &&
	    process(c) != 0) {
		return -1;
	}
	emu_conn_want_write(c);
	return 1;
}

void
emu_http_closed(struct emu_conn *c)
{
	lws_sul_cancel(&c->delay_sul);
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	free(c->out);
	c->out = NULL;
}
