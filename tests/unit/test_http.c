/*
 * test_http.c: the HTTP/1.1 client of src/aws. The response parser
 * (httpresp.c) byte in, result out: status lines, headers, the three body
 * framings, 1xx, every split of the input, the caps and garbage. Then
 * http_do() against a server thread on 127.0.0.1 (and ::1 when there is
 * one): the request bytes, a chunked answer, a deadline, a refused
 * connection, the body cap, and a proxy (CONNECT, the absolute form,
 * Proxy-Authorization, no secret in the message).
 */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "aws_int.h"

/* ---- the parser ------------------------------------------------------- */

struct hdrs {
	char buf[4096];
	size_t len;
};

static void
on_header(void *ud, const char *n, size_t nl, const char *v, size_t vl)
{
	struct hdrs *h = ud;
	int w = snprintf(h->buf + h->len, sizeof(h->buf) - h->len,
	    "%.*s=%.*s|", (int)nl, n, (int)vl, v);

	if (w > 0)
		h->len += (size_t)w;
}

/* Feeds s in pieces of at most step bytes; then eof when eof. */
static int
parse_steps(struct http_parser *p, const char *s, size_t n, size_t step,
    bool eof, struct ist_err *e)
{
	size_t off = 0, used;
	int r = 0;

	while (off < n) {
		size_t k = n - off < step ? n - off : step;

		r = http_parser_feed(p, s + off, k, &used, e);
		if (r != 0)
			return r;
		assert_int_equal(used, k);
		off += k;
	}
	if (eof)
		r = http_parser_eof(p, e);
	return r;
}

static int
parse_all(const char *s, size_t n, bool eof, long *status, char **body,
    struct ist_err *e)
{
	struct http_parser p;
	int r;

	http_parser_init(&p, false);
	r = parse_steps(&p, s, n, n ? n : 1, eof, e);
	*status = p.status;
	*body = r == 1 ? dstr_take(&p.body) : NULL;
	http_parser_free(&p);
	return r;
}

static void
expect_ok(const char *s, bool eof, long status, const char *body)
{
	struct ist_err e;
	long st;
	char *b;

	if (parse_all(s, strlen(s), eof, &st, &b, &e) != 1)
		fail_msg("not parsed: %s (%s)", s, e.msg);
	assert_int_equal(st, status);
	assert_string_equal(b, body);
	free(b);
}

static void
expect_err(const char *s, size_t n, bool eof, int code, const char *what)
{
	struct ist_err e;
	long st;
	char *b;
	int r;

	ist_err_clear(&e);
	r = parse_all(s, n, eof, &st, &b, &e);
	if (r != code)
		fail_msg("'%.60s': %d, not %d", s, r, code);
	if (what && !strstr(e.msg, what))
		fail_msg("'%s' not in '%s'", what, e.msg);
	assert_null(b);
}

/* expect_err on a string literal, NUL bytes in it included. */
#define EXPECT_ERR(lit, eof, code, what) \
	expect_err(lit, sizeof(lit) - 1, eof, code, what)

static void
test_status_and_headers(void **state)
{
	struct http_parser p;
	struct hdrs h = { .len = 0 };
	struct ist_err e;
	const char *s = "HTTP/1.1 403 Forbidden\r\nX-A:  spaced value \t\r\n"
	    "Content-Length: 2\r\ncontent-length: 2\r\nEmpty:\r\n\r\nno";

	(void)state;
	http_parser_init(&p, false);
	p.on_header = on_header;
	p.ud = &h;
	assert_int_equal(http_parser_feed(&p, s, strlen(s), NULL, &e), 1);
	assert_int_equal(p.status, 403);
	assert_string_equal(p.body.s, "no");
	assert_string_equal(h.buf, "X-A=spaced value|Content-Length=2|"
	    "content-length=2|Empty=|");
	http_parser_free(&p);

	expect_ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false,
	    200, "hello");
	/* No reason phrase; HTTP/1.0; bare LF line ends. */
	expect_ok("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", false, 200,
	    "x");
	expect_ok("HTTP/1.0 500 Oops\nContent-Length: 3\n\nbad", false, 500,
	    "bad");
	/* No body for 204 and 304, whatever the headers say. */
	expect_ok("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
	    false, 204, "");
	expect_ok("HTTP/1.1 304 Not Modified\r\n\r\n", false, 304, "");
	expect_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200,
	    "");
}

static void
test_interim_skipped(void **state)
{
	(void)state;
	expect_ok("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n"
	    "X: y\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
	    false, 201, "ok");
	/* Content-Length of an interim answer does not carry over. */
	expect_ok("HTTP/1.1 100 Continue\r\nContent-Length: 7\r\n\r\n"
	    "HTTP/1.1 200 OK\r\n\r\nuntil close", true, 200, "until close");
}

static void
test_body_until_close(void **state)
{
	struct http_parser p;
	struct ist_err e;
	const char *s = "HTTP/1.0 200 OK\r\n\r\npart one, ";

	(void)state;
	http_parser_init(&p, false);
	assert_int_equal(http_parser_feed(&p, s, strlen(s), NULL, &e), 0);
	assert_int_equal(http_parser_feed(&p, "two", 3, NULL, &e), 0);
	assert_false(http_parser_done(&p));
	assert_int_equal(http_parser_eof(&p, &e), 1);
	assert_string_equal(p.body.s, "part one, two");
	http_parser_free(&p);
}

static const char chunked[] =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n"
    "1 ; a=\"quoted;\"; b\r\n,\r\n"
    "A\r\n wonderful\r\n"
    "00006\r\n world\r\n"
    "0;last\r\nX-Trailer: one\r\nChecksum: x\r\n\r\n";

static void
test_chunked(void **state)
{
	(void)state;
	expect_ok(chunked, false, 200, "hello, wonderful world");
	expect_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 3\r\n\r\n4\r\nwins\r\n0\r\n\r\n", false, 200,
	    "wins");
	expect_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n", false, 200, "");
}

/* Every split in two, and one byte at a time, gives the same answer. */
static void
test_split_everywhere(void **state)
{
	const char *inputs[] = { chunked,
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
		"Content-Length: 11\r\n\r\nhello world" };

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		const char *s = inputs[k];
		size_t n = strlen(s);

		for (size_t cut = 0; cut <= n; cut++) {
			struct http_parser p;
			struct ist_err e;
			size_t used;
			int r;

			http_parser_init(&p, false);
			r = http_parser_feed(&p, s, cut, &used, &e);
			assert_int_equal(r, cut == n ? 1 : 0);
			if (cut < n)
				assert_int_equal(http_parser_feed(&p, s + cut,
				    n - cut, &used, &e), 1);
			assert_string_equal(p.body.s, k == 0 ?
			    "hello, wonderful world" : "hello world");
			http_parser_free(&p);
		}
		{
			struct http_parser p;
			struct ist_err e;

			http_parser_init(&p, false);
			assert_int_equal(parse_steps(&p, s, n, 1, false, &e), 1);
			assert_int_equal(p.status, 200);
			http_parser_free(&p);
		}
	}
}

/* The answer to CONNECT is a head only; what follows is not read. */
static void
test_head_only(void **state)
{
	struct http_parser p;
	struct ist_err e;
	const char *s = "HTTP/1.1 200 Connection established\r\n"
	    "Content-Length: 99\r\n\r\n\x16\x03\x01";
	size_t used;

	(void)state;
	http_parser_init(&p, true);
	assert_int_equal(http_parser_feed(&p, s, strlen(s), &used, &e), 1);
	assert_int_equal(p.status, 200);
	assert_int_equal(used, strlen(s) - 3);
	http_parser_free(&p);
}

static void
test_oversize(void **state)
{
	size_t n = HTTP_HEAD_MAX + 100, body = HTTP_BODY_MAX;
	char *s = malloc(body + 4096), *chunks;
	struct http_parser p;
	struct ist_err e;
	int k;

	(void)state;
	assert_non_null(s);
	/* A head just under the cap is fine, one byte over is not. */
	k = snprintf(s, 64, "HTTP/1.1 200 OK\r\nX: ");
	memset(s + k, 'a', HTTP_HEAD_MAX - (size_t)k - 6);
	memcpy(s + HTTP_HEAD_MAX - 6, "\r\n\r\n", 5);
	expect_ok(s, true, 200, "");
	memset(s + k, 'a', n);
	memcpy(s + k + n, "\r\n\r\n", 5);
	expect_err(s, strlen(s), false, IST_ERR_TOOBIG, "headers over");
	/* Many small headers count too. */
	k = snprintf(s, 64, "HTTP/1.1 200 OK\r\n");
	while ((size_t)k < n)
		k += snprintf(s + k, 64, "X-Many: yes\r\n");
	expect_err(s, (size_t)k, false, IST_ERR_TOOBIG, "headers over");

	/* The body: exactly the cap is fine, by each framing. */
	k = snprintf(s, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
	    body);
	memset(s + k, 'b', body);
	http_parser_init(&p, false);
	assert_int_equal(http_parser_feed(&p, s, (size_t)k + body, NULL, &e),
	    1);
	assert_int_equal(p.body.len, body);
	http_parser_free(&p);
	EXPECT_ERR("HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n",
	    false, IST_ERR_TOOBIG, "over 1048576");
	EXPECT_ERR("HTTP/1.1 200 OK\r\nContent-Length: "
	    "99999999999999999999999999\r\n\r\n", false, IST_ERR_TOOBIG,
	    NULL);
	k = snprintf(s, 64, "HTTP/1.1 200 OK\r\n\r\n");
	memset(s + k, 'c', body + 1);
	expect_err(s, (size_t)k + body + 1, true, IST_ERR_TOOBIG, NULL);
	chunks = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "80000\r\n";
	k = snprintf(s, 128, "%s", chunks);
	memset(s + k, 'd', 0x80000);
	k += 0x80000;
	k += snprintf(s + k, 64, "\r\n80000\r\n");
	memset(s + k, 'd', 0x80000);
	k += 0x80000;
	k += snprintf(s + k, 64, "\r\n1\r\n");
	expect_err(s, (size_t)k, false, IST_ERR_TOOBIG, NULL);
	EXPECT_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "fffffffffffffffffffffff\r\n", false, IST_ERR_TOOBIG, NULL);
	free(s);
}

static void
test_garbage(void **state)
{
	static const char *const bad[] = {
		"garbage\r\n",
		"\r\n",
		"HTTP/2 200 OK\r\n",
		"HTTP/1.1 20 OK\r\n",
		"HTTP/1.1 2000 OK\r\n",
		"HTTP/1.1 099 Low\r\n",
		"HTTP/1.1 2x0 OK\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 200 O\x01K\r\n",
		"HTTP/1.1 200 OK\r\nNo colon here\r\n",
		"HTTP/1.1 200 OK\r\n: no name\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n",
		"HTTP/1.1 200 OK\r\nX: bell\x07\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length:\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhelloX\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\nbad trailer\r\n",
	};
	char *long_ext;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_err(bad[i], strlen(bad[i]), false, IST_ERR_NET, NULL);
	EXPECT_ERR("HTTP/1.1 200 OK\r\nX: a\0b\r\n", false, IST_ERR_NET,
	    "NUL");
	long_ext = calloc(1, HTTP_LINE_MAX + 200);
	assert_non_null(long_ext);
	snprintf(long_ext, 128, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n1;");
	memset(long_ext + strlen(long_ext), 'e', HTTP_LINE_MAX);
	expect_err(long_ext, strlen(long_ext), false, IST_ERR_NET,
	    "chunk size line");
	free(long_ext);
}

static void
test_truncated(void **state)
{
	(void)state;
	EXPECT_ERR("", true, IST_ERR_NET, "without an answer");
	EXPECT_ERR("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true,
	    IST_ERR_NET, "before the end");
	EXPECT_ERR("HTTP/1.1 200 OK\r\nContent-Le", true, IST_ERR_NET,
	    "before the end");
	EXPECT_ERR("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n", true, IST_ERR_NET, "before the end");
}

/* ---- http_do against a server thread ------------------------------- */

struct srv {
	int lfd;
	int port;
	const char *reply; /* NULL: say nothing until the client leaves */
	char req[16384];
	size_t req_len;
	pthread_t t;
};

static void *
srv_main(void *arg)
{
	struct srv *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	char *end = NULL;
	ssize_t n;

	if (fd < 0)
		return NULL;
	/* The head, then Content-Length bytes of body. */
	while (s->req_len < sizeof(s->req) - 1) {
		const char *cl;
		size_t want;

		s->req[s->req_len] = '\0';
		end = strstr(s->req, "\r\n\r\n");
		if (end) {
			cl = strcasestr(s->req, "\r\nContent-Length: ");
			want = (size_t)(end + 4 - s->req) + (cl ?
			    strtoul(cl + 18, NULL, 10) : 0);
			if (s->req_len >= want)
				break;
		}
		n = read(fd, s->req + s->req_len,
		    sizeof(s->req) - 1 - s->req_len);
		if (n <= 0)
			break;
		s->req_len += (size_t)n;
	}
	s->req[s->req_len] = '\0';
	if (s->reply) {
		size_t len = strlen(s->reply);

		/* A body holder: "%BIG%" stands for 1 MiB + 1 of 'z'. */
		if (strstr(s->reply, "%BIG%")) {
			char *z = malloc(HTTP_BODY_MAX + 1);

			memset(z, 'z', HTTP_BODY_MAX + 1);
			(void)!send(fd, s->reply, (size_t)(strstr(s->reply,
			    "%BIG%") - s->reply), MSG_NOSIGNAL);
			(void)!send(fd, z, HTTP_BODY_MAX + 1, MSG_NOSIGNAL);
			free(z);
		} else {
			(void)!send(fd, s->reply, len, MSG_NOSIGNAL);
		}
	} else {
		char c;

		while (read(fd, &c, 1) > 0)
			;
	}
	close(fd);
	return NULL;
}

/* Returns false when the address family is not there (::1). */
static bool
srv_start(struct srv *s, const char *reply, bool v6)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;

	memset(s, 0, sizeof(*s));
	s->reply = reply;
	s->lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
	if (v6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		sl = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*a);
	}
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&ss, sl) != 0) {
		assert_true(v6);
		if (s->lfd >= 0)
			close(s->lfd);
		return false;
	}
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&ss, &sl), 0);
	s->port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	assert_int_equal(pthread_create(&s->t, NULL, srv_main, s), 0);
	return true;
}

static void
srv_stop(struct srv *s)
{
	pthread_join(s->t, NULL);
	close(s->lfd);
}

static void
test_request_bytes(void **state)
{
	const char *h[] = { "Host: signed.example", "X-Amz-Target: T", NULL };
	struct http_req rq = { .method = "POST", .headers = h,
		.body = "{\"a\"}", .body_len = 5, .timeout_ms = 10000,
		.connect_timeout_ms = 5000 };
	struct http_resp rs;
	struct ist_err e;
	struct srv s;
	char url[128];

	(void)state;
	srv_start(&s, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n", false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/p/a?x=1&y=2#frag",
	    s.port);
	rq.url = url;
	if (http_do(&rq, &rs, &e) != 0)
		fail_msg("http_do: %s", e.msg);
	srv_stop(&s);
	assert_int_equal(rs.status, 200);
	assert_string_equal(rs.body, "{}\n");
	assert_int_equal(rs.body_len, 3);
	http_resp_free(&rs);
	/* The caller's Host, once; the body's length; one request only. */
	assert_string_equal(s.req, "POST /p/a?x=1&y=2 HTTP/1.1\r\n"
	    "Host: signed.example\r\nX-Amz-Target: T\r\n"
	    "Content-Length: 5\r\nConnection: close\r\n\r\n{\"a\"}");

	/* GET: our Host with the port, no Content-Length; "/" by default. */
	rq.method = "GET";
	rq.headers = NULL;
	rq.body = NULL;
	rq.body_len = 0;
	srv_start(&s, "HTTP/1.0 404 Not Found\r\n\r\nnone here", false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
	assert_int_equal(http_do(&rq, &rs, &e), 0);
	srv_stop(&s);
	assert_int_equal(rs.status, 404);
	assert_string_equal(rs.body, "none here");
	http_resp_free(&rs);
	snprintf(url, sizeof(url), "GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "Connection: close\r\n\r\n", s.port);
	assert_string_equal(s.req, url);

	/* An empty PUT still says Content-Length: 0 (IMDSv2 wants it). */
	rq.method = "PUT";
	srv_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntok", false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/latest/api/token/",
	    s.port);
	assert_int_equal(http_do(&rq, &rs, &e), 0);
	srv_stop(&s);
	assert_string_equal(rs.body, "tok");
	http_resp_free(&rs);
	assert_non_null(strstr(s.req, "PUT /latest/api/token/ HTTP/1.1\r\n"));
	assert_non_null(strstr(s.req, "\r\nContent-Length: 0\r\n"));
}

static void
test_ipv6_literal(void **state)
{
	struct http_req rq = { .method = "GET", .timeout_ms = 10000 };
	struct http_resp rs;
	struct ist_err e;
	struct srv s;
	char url[128];

	(void)state;
	if (!srv_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6",
	    true))
		skip();
	snprintf(url, sizeof(url), "http://[::1]:%d/six", s.port);
	rq.url = url;
	if (http_do(&rq, &rs, &e) != 0)
		fail_msg("http_do: %s", e.msg);
	srv_stop(&s);
	assert_string_equal(rs.body, "v6");
	http_resp_free(&rs);
	snprintf(url, sizeof(url), "\r\nHost: [::1]:%d\r\n", s.port);
	assert_non_null(strstr(s.req, url));
}

static void
test_errors(void **state)
{
	struct http_req rq = { .method = "GET", .timeout_ms = 300,
		.connect_timeout_ms = 300 };
	struct http_resp rs;
	struct ist_err e;
	struct srv s;
	char url[128];
	int port;

	(void)state;
	/* Nobody answers: the deadline, not a hang. */
	srv_start(&s, NULL, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	rq.url = url;
	assert_int_equal(http_do(&rq, &rs, &e), IST_ERR_TIMEOUT);
	assert_null(rs.body);
	srv_stop(&s);
	assert_non_null(strstr(e.msg, "GET http://127.0.0.1:"));
	assert_non_null(strstr(e.msg, "reading the answer: timed out after"));
	/* A closed port. */
	port = s.port;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
	rq.timeout_ms = 10000;
	assert_int_equal(http_do(&rq, &rs, &e), IST_ERR_NET);
	assert_non_null(strstr(e.msg, "cannot connect to 127.0.0.1:"));
	/* Over the body cap. */
	srv_start(&s, "HTTP/1.1 200 OK\r\n\r\n%BIG%", false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	assert_int_equal(http_do(&rq, &rs, &e), IST_ERR_TOOBIG);
	srv_stop(&s);
	assert_non_null(strstr(e.msg, "over 1048576 bytes"));
	/* Not HTTP at all. */
	srv_start(&s, "SSH-2.0-OpenSSH_9.2\r\n", false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	assert_int_equal(http_do(&rq, &rs, &e), IST_ERR_NET);
	srv_stop(&s);
	assert_non_null(strstr(e.msg, "not an HTTP/1.x answer"));
	/* Not a URL we take. */
	rq.url = "ftp://127.0.0.1/";
	assert_int_equal(http_do(&rq, &rs, &e), IST_ERR_CONFIG);
	rq.url = "http://127.0.0.1/a b";
	assert_int_equal(http_do(&rq, &rs, &e), IST_ERR_CONFIG);
}

static void
test_proxy(void **state)
{
	struct http_req rq = { .method = "GET", .timeout_ms = 10000 };
	struct http_resp rs;
	struct ist_err e;
	struct srv s;
	char px[128];

	(void)state;
	/* https: CONNECT, with the decoded user and password (alice:pw x),
	 * refused; the message names the proxy and not the secret. */
	srv_start(&s, "HTTP/1.1 407 Proxy Authentication Required\r\n"
	    "Content-Length: 4\r\n\r\nnope", false);
	snprintf(px, sizeof(px), "alice:pw%%20x@127.0.0.1:%d", s.port);
	rq.url = "https://api.example.test/x";
	rq.proxy = px;
	assert_int_equal(http_do(&rq, &rs, &e), IST_ERR_NET);
	srv_stop(&s);
	assert_string_equal(s.req, "CONNECT api.example.test:443 HTTP/1.1\r\n"
	    "Host: api.example.test:443\r\n"
	    "Proxy-Authorization: Basic YWxpY2U6cHcgeA==\r\n"
	    "Proxy-Connection: Keep-Alive\r\n\r\n");
	snprintf(px, sizeof(px), "through the HTTPS proxy 127.0.0.1:%d (from "
	    "HTTPS_PROXY/https_proxy)", s.port);
	assert_non_null(strstr(e.msg, px));
	assert_non_null(strstr(e.msg, "407"));
	assert_null(strstr(e.msg, "alice"));
	assert_null(strstr(e.msg, "pw"));

	/* http: the absolute form to the proxy, which answers itself. */
	srv_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nproxy",
	    false);
	snprintf(px, sizeof(px), "127.0.0.1:%d", s.port);
	rq.url = "http://[fd00::1]:8080/y?z";
	assert_int_equal(http_do(&rq, &rs, &e), 0);
	srv_stop(&s);
	assert_string_equal(rs.body, "proxy");
	http_resp_free(&rs);
	assert_string_equal(s.req, "GET http://[fd00::1]:8080/y?z HTTP/1.1\r\n"
	    "Host: [fd00::1]:8080\r\nConnection: close\r\n\r\n");

	/* A dead proxy. */
	rq.url = "https://api.example.test/x";
	assert_int_equal(http_do(&rq, &rs, &e), IST_ERR_NET);
	assert_non_null(strstr(e.msg, "through the HTTPS proxy 127.0.0.1:"));
	assert_non_null(strstr(e.msg, "list the host in NO_PROXY"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_and_headers),
		cmocka_unit_test(test_interim_skipped),
		cmocka_unit_test(test_body_until_close),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_head_only),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_request_bytes),
		cmocka_unit_test(test_ipv6_literal),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_proxy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
