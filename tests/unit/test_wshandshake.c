/*
 * test_wshandshake.c: the WebSocket upgrade (RFC 6455 section 4), byte for
 * byte: the RFC's 4.2.2 example, our request and answers, every check of
 * both parsers, every split of their input.
 */
#define _GNU_SOURCE /* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ist/wshandshake.h"
#include "failmem.h"

#define PROTO "aws.iot.securetunneling-3.0"
/* RFC 6455 4.2.2: the key is the base64 of "the sample nonce". */
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define TOKEN "AQGAAXiT-secret-access-token"

static const struct ist_wshandshake_header our_headers[] = {
	{ "access-token", TOKEN },
	{ "client-token", "0123456789abcdef0123456789abcdef" },
};

static void
client_init(struct ist_wshandshake_client *c, const char *protocol)
{
	memset(c, 0, sizeof(*c));
	c->host = "data.tunneling.iot.eu-west-1.amazonaws.com";
	c->path = "/tunnel?local-proxy-mode=source";
	c->protocol = protocol;
	c->headers = our_headers;
	c->n_headers = 2;
	memcpy(c->nonce, "the sample nonce", 16);
}

static const char *const answer_ok =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: WebSocket\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
    "Sec-WebSocket-Protocol: " PROTO "\r\n"
    "channel-id:   0a1b2c3d-4e5f  \r\n"
    "X-Twice: 1\r\n"
    "x-twice: 2\r\n"
    "\r\n";

/* ---- keys ---- */

static void
test_rfc_accept_key(void **state)
{
	char acc[IST_WSHANDSHAKE_ACCEPT_LEN + 1];

	(void)state;
	assert_int_equal(ist_wshandshake_accept_key(RFC_KEY,
	    strlen(RFC_KEY), acc), 0);
	assert_string_equal(acc, RFC_ACCEPT);
}

/* ---- client request ---- */

static void
test_client_request_bytes(void **state)
{
	static const char want[] =
	    "GET /tunnel?local-proxy-mode=source HTTP/1.1\r\n"
	    "Host: data.tunneling.iot.eu-west-1.amazonaws.com\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: " RFC_KEY "\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Sec-WebSocket-Protocol: " PROTO "\r\n"
	    "access-token: " TOKEN "\r\n"
	    "client-token: 0123456789abcdef0123456789abcdef\r\n"
	    "\r\n";
	struct ist_wshandshake_client c;
	char out[1024], msg[100];
	struct ist_err e;
	size_t len = 99;

	(void)state;
	client_init(&c, PROTO);
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	/* Exactly the size fits; one byte less does not, and says why. */
	assert_int_equal(ist_wshandshake_client_request(&c, out, len, &len,
	    &e), 0);
	assert_int_equal(ist_wshandshake_client_request(&c, out, len - 1,
	    &len, &e), IST_ERR_TOOBIG);
	assert_int_equal(len, 0);
	snprintf(msg, sizeof(msg), "takes %zu bytes and does not fit in %zu",
	    strlen(want), strlen(want) - 1);
	assert_non_null(strstr(e.msg, msg));
	/* No subprotocol, no headers. */
	c.protocol = NULL;
	c.headers = NULL;
	c.n_headers = 0;
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), 0);
	assert_null(memmem(out, len, "Sec-WebSocket-Protocol", 22));
	assert_memory_equal(out + len - 6, "13\r\n\r\n", 6);
}

static void
test_client_request_refuses_injection(void **state)
{
	static const char *const bad_values[] = { TOKEN "\r\nX-Evil: 1",
	    TOKEN "\n", "a\001b", "a\177b" };
	struct ist_wshandshake_header h[1];
	struct ist_wshandshake_client c;
	char out[1024];
	struct ist_err e;
	size_t len, i;

	(void)state;
	client_init(&c, PROTO);
	c.headers = h;
	c.n_headers = 1;
	for (i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
		h[0].name = "access-token";
		h[0].value = bad_values[i];
		assert_int_equal(ist_wshandshake_client_request(&c, out,
		    sizeof(out), &len, &e), IST_ERR_INVAL);
		assert_non_null(strstr(e.msg, "access-token"));
		/* The secret never lands in a message. */
		assert_null(strstr(e.msg, "secret"));
	}
	h[0].value = "v";
	h[0].name = "bad name";
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), IST_ERR_INVAL);
	h[0].name = "";
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), IST_ERR_INVAL);
	h[0].name = "sec-websocket-key";
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), IST_ERR_INVAL);
	assert_non_null(strstr(e.msg, "set by the WebSocket handshake"));
	h[0].name = "HOST";
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), IST_ERR_INVAL);
	h[0].name = "ok";
	c.path = "tunnel";
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), IST_ERR_INVAL);
	c.path = "/a b";
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), IST_ERR_INVAL);
	c.path = "/";
	c.host = "evil\r\nX: y";
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), IST_ERR_INVAL);
	c.host = "[::1]:8443";
	c.protocol = "a b";
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), IST_ERR_INVAL);
	c.protocol = NULL;
	assert_int_equal(ist_wshandshake_client_request(&c, out, sizeof(out),
	    &len, &e), 0);
	assert_non_null(memmem(out, len, "Host: [::1]:8443\r\n", 18));
}

/* ---- client: parsing the answer ---- */

static struct ist_wshandshake_response *
response(const char *protocol)
{
	struct ist_wshandshake_client c;
	struct ist_wshandshake_response *r = NULL;

	client_init(&c, protocol);
	assert_int_equal(ist_wshandshake_response_new(&r, &c, 0, NULL), 0);
	return r;
}

/*
 * Feeds text (+ tail, which must not be taken) whole, split at every
 * offset, and a byte at a time; every way must give want with the same
 * message; the message must hold needle. Returns the parser of the whole
 * feed for more checks (the caller frees it).
 */
static struct ist_wshandshake_response *
expect_response(const char *protocol, const char *text, const char *tail,
    int want, const char *needle)
{
	size_t n = strlen(text), tl = strlen(tail), k, used, i;
	uint8_t *buf = malloc(n + tl);
	struct ist_wshandshake_response *r, *whole;
	struct ist_err e, e0;
	int rc;

	assert_non_null(buf);
	memcpy(buf, text, n);
	memcpy(buf + n, tail, tl);
	whole = response(protocol);
	rc = ist_wshandshake_response_feed(whole, buf, n + tl, &used, &e0);
	assert_int_equal(rc, want);
	if (want == 1 || want == IST_ERR_NET)
		assert_int_equal(used, n);
	if (needle && !strstr(e0.msg, needle))
		fail_msg("\"%s\" not in \"%s\"", needle, e0.msg);
	for (k = 0; k <= n; k++) {
		r = response(protocol);
		rc = ist_wshandshake_response_feed(r, buf, k, &used, &e);
		if (rc == 0) {
			assert_int_equal(used, k);
			rc = ist_wshandshake_response_feed(r, buf + k,
			    n + tl - k, &used, &e);
			if (want == 1 || want == IST_ERR_NET)
				assert_int_equal(used, n - k);
		}
		assert_int_equal(rc, want);
		if (want < 0)
			assert_string_equal(e.msg, e0.msg);
		ist_wshandshake_response_free(r);
	}
	r = response(protocol);
	rc = 0;
	for (i = 0; i < n + tl && rc == 0; i++)
		rc = ist_wshandshake_response_feed(r, buf + i, 1, &used, &e);
	assert_int_equal(rc, want);
	if (want == 1 || want == IST_ERR_NET)
		assert_int_equal(i, n);
	ist_wshandshake_response_free(r);
	free(buf);
	return whole;
}

static void
test_response_ok(void **state)
{
	struct ist_wshandshake_response *r;
	struct ist_err e;
	size_t count, used;

	(void)state;
	/* The first frames right after the head are left to the caller. */
	r = expect_response(PROTO, answer_ok, "\x82\x02hi", 1, NULL);
	assert_int_equal(ist_wshandshake_response_status(r), 101);
	assert_string_equal(ist_wshandshake_response_reason(r),
	    "Switching Protocols");
	assert_string_equal(ist_wshandshake_response_header(r, "Channel-ID",
	    &count), "0a1b2c3d-4e5f");
	assert_int_equal(count, 1);
	assert_string_equal(ist_wshandshake_response_header(r, "x-twice",
	    &count), "1");
	assert_int_equal(count, 2);
	assert_string_equal(ist_wshandshake_response_header(r,
	    "sec-websocket-protocol", NULL), PROTO);
	assert_null(ist_wshandshake_response_header(r, "nope", &count));
	assert_int_equal(count, 0);
	/* Later calls: the same result, nothing taken. */
	assert_int_equal(ist_wshandshake_response_feed(r,
	    (const uint8_t *)"xx", 2, &used, &e), 1);
	assert_int_equal(used, 0);
	ist_wshandshake_response_free(r);

	/* Bare LF line ends, no subprotocol offered or chosen. */
	r = expect_response(NULL, "HTTP/1.1 101 OK\n"
	    "upgrade: websocket\nconnection: UPGRADE\n"
	    "sec-websocket-accept: " RFC_ACCEPT "\n\n", "", 1, NULL);
	ist_wshandshake_response_free(r);
}

static void
test_response_refusals_keep_status_and_headers(void **state)
{
	struct ist_wshandshake_response *r;
	size_t count;

	(void)state;
	r = expect_response(PROTO, "HTTP/1.1 403 Forbidden\r\n"
	    "Content-Length: 13\r\nchannel-id: abc\r\n\r\n", "{\"m\":\"nope\"}",
	    IST_ERR_NET, "refused the WebSocket handshake with HTTP 403 "
	    "Forbidden");
	assert_int_equal(ist_wshandshake_response_status(r), 403);
	assert_string_equal(ist_wshandshake_response_header(r, "channel-id",
	    &count), "abc");
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.1 503 Service Unavailable\r\n"
	    "\r\n", "", IST_ERR_NET, "HTTP 503 Service Unavailable");
	assert_int_equal(ist_wshandshake_response_status(r), 503);
	ist_wshandshake_response_free(r);
	/* No reason phrase at all. */
	r = expect_response(PROTO, "HTTP/1.1 500\r\n\r\n", "", IST_ERR_NET,
	    "HTTP 500");
	assert_int_equal(ist_wshandshake_response_status(r), 500);
	assert_string_equal(ist_wshandshake_response_reason(r), "");
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.1 100 Continue\r\n\r\n", "",
	    IST_ERR_PROTO, "interim status 100");
	ist_wshandshake_response_free(r);
}

static void
test_response_not_http11(void **state)
{
	struct ist_wshandshake_response *r;
	struct ist_err e;
	size_t used;

	(void)state;
	/* An HTTP/0.9-style answer (a body, no status line) or another
	 * protocol fails at its first bytes, quoted, without waiting for a
	 * head that never comes. */
	r = response(PROTO);
	assert_int_equal(ist_wshandshake_response_feed(r,
	    (const uint8_t *)"<html><body>", 12, &used, &e), IST_ERR_PROTO);
	assert_int_equal(used, 1);
	assert_non_null(strstr(e.msg, "\"<...\", which is not HTTP/1.1 (an "
	    "HTTP/0.9 reply"));
	ist_wshandshake_response_free(r);
	r = response(PROTO);
	assert_int_equal(ist_wshandshake_response_feed(r,
	    (const uint8_t *)"SSH-2.0-OpenSSH_9.2\r\n", 21, &used, &e),
	    IST_ERR_PROTO);
	assert_non_null(strstr(e.msg, "\"S...\""));
	ist_wshandshake_response_free(r);
	r = response(PROTO);
	assert_int_equal(ist_wshandshake_response_feed(r,
	    (const uint8_t *)"HTTP/\x01", 6, &used, &e), 0);
	assert_int_equal(ist_wshandshake_response_feed(r,
	    (const uint8_t *)"\r\n\r\n", 4, &used, &e), IST_ERR_PROTO);
	assert_non_null(strstr(e.msg, "\"HTTP/\\x01\", not an HTTP/1.1"));
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.0 101 Switching Protocols\r\n\r\n",
	    "", IST_ERR_PROTO, "a 101 in HTTP/1.0 (an upgrade needs "
	    "HTTP/1.1)");
	ist_wshandshake_response_free(r);
	/* A refusal in HTTP/1.0 is still a refusal with a status. */
	r = expect_response(PROTO, "HTTP/1.0 403 Forbidden\r\n\r\n", "",
	    IST_ERR_NET, "HTTP 403 Forbidden");
	assert_int_equal(ist_wshandshake_response_status(r), 403);
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.x 403 Forbidden\r\n\r\n", "",
	    IST_ERR_PROTO, "not an HTTP/1.1 status line");
	assert_int_equal(ist_wshandshake_response_status(r), 0);
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/2 101\r\n\r\n", "", IST_ERR_PROTO,
	    "not an HTTP/1.1 status line");
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.1 1O1 Switching\r\n\r\n", "",
	    IST_ERR_PROTO, "bad status line \"HTTP/1.1 1O1 Switching\"");
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.1 101x\r\n\r\n", "",
	    IST_ERR_PROTO, "bad status line");
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.1 101 OK\r\nNoColon\r\n\r\n", "",
	    IST_ERR_PROTO, "without ':'");
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.1 101 OK\r\nA b: c\r\n\r\n", "",
	    IST_ERR_PROTO, "not an HTTP token");
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.1 101 OK\r\nA: b\r\n c\r\n\r\n",
	    "", IST_ERR_PROTO, "folds a header line");
	ist_wshandshake_response_free(r);
	r = expect_response(PROTO, "HTTP/1.1 101 OK\r\nA: b\rc\r\n\r\n", "",
	    IST_ERR_PROTO, "stray CR");
	ist_wshandshake_response_free(r);
}

/* text with the line that starts with name replaced by with (dropped
 * when with is ""). */
static char *
replace_line(const char *text, const char *name, const char *with)
{
	static char buf[2048];
	const char *p = strstr(text, name), *eol;
	size_t n;

	assert_non_null(p);
	eol = strstr(p, "\r\n") + 2;
	n = (size_t)(p - text);
	memcpy(buf, text, n);
	snprintf(buf + n, sizeof(buf) - n, "%s%s", with, eol);
	return buf;
}

static void
test_response_checks_of_101(void **state)
{
	static const struct {
		const char *name, *with, *needle;
	} c[] = {
		{ "Upgrade:", "", "no \"Upgrade: websocket\"" },
		{ "Upgrade:", "Upgrade: h2c\r\n", "no \"Upgrade: websocket\"" },
		{ "Upgrade:", "Upgrade: websockets\r\n", "Upgrade" },
		{ "Connection:", "", "no \"Connection: upgrade\"" },
		{ "Connection:", "Connection: upgraded, close\r\n",
		    "Connection: upgrade" },
		{ "Sec-WebSocket-Accept:", "", "0 Sec-WebSocket-Accept" },
		{ "Sec-WebSocket-Accept:", "Sec-WebSocket-Accept: "
		    "dGhlIHNhbXBsZSBub25jZQ==\r\n", "wrong "
		    "Sec-WebSocket-Accept" },
		{ "Sec-WebSocket-Accept:", "Sec-WebSocket-Accept: "
		    RFC_ACCEPT "\r\nSec-WebSocket-Accept: " RFC_ACCEPT "\r\n",
		    "2 Sec-WebSocket-Accept headers" },
		{ "Sec-WebSocket-Protocol:", "", "chose no WebSocket "
		    "subprotocol (we offered " PROTO ")" },
		{ "Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: "
		    "aws.iot.securetunneling-2.0\r\n", "chose the WebSocket "
		    "subprotocol \"aws.iot.securetunneling-2.0\", not the "
		    PROTO " we offered" },
		{ "Sec-WebSocket-Protocol:", "Sec-WebSocket-Protocol: "
		    PROTO "\r\nSec-WebSocket-Protocol: x\r\n", "(and more)" },
		{ "channel-id:", "Sec-WebSocket-Extensions: "
		    "permessage-deflate\r\n", "Sec-WebSocket-Extensions" },
	};
	struct ist_wshandshake_response *r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		r = expect_response(PROTO, replace_line(answer_ok, c[i].name, c[i].with),
		    "", IST_ERR_PROTO, c[i].needle);
		/* The status is known even so. */
		assert_int_equal(ist_wshandshake_response_status(r), 101);
		ist_wshandshake_response_free(r);
	}
	/* Offered nothing, but the server chose one. */
	r = expect_response(NULL, answer_ok, "", IST_ERR_PROTO, "none "
	    "offered");
	ist_wshandshake_response_free(r);
}

static void
test_response_head_is_bounded(void **state)
{
	struct ist_wshandshake_client c;
	struct ist_wshandshake_response *r = NULL;
	struct failmem fm = { 0, -1, 0 };
	struct ist_mem mem = { fail_malloc, fail_free, &fm };
	char *big = malloc(20000);
	struct ist_err e;
	size_t used, n, i;

	(void)state;
	assert_non_null(big);
	client_init(&c, PROTO);
	n = (size_t)snprintf(big, 20000, "HTTP/1.1 101 OK\r\n");
	for (i = 0; n < 19000; i++)
		n += (size_t)snprintf(big + n, 20000 - n, "X-%zu: %0200d\r\n",
		    i, 0);
	assert_int_equal(ist_wshandshake_response_new(&r, &c, 0, &mem), 0);
	assert_int_equal(fm.calls, 1);
	assert_int_equal(ist_wshandshake_response_feed(r, (uint8_t *)big, n,
	    &used, &e), IST_ERR_TOOBIG);
	assert_int_equal(used, IST_WSHANDSHAKE_DEFAULT_HEAD);
	assert_non_null(strstr(e.msg, "head over 16384 bytes"));
	assert_int_equal(fm.calls, 1);
	ist_wshandshake_response_free(r);
	assert_int_equal(fm.live, 0);

	/* A small limit of the caller's; too many headers. */
	assert_int_equal(ist_wshandshake_response_new(&r, &c, 64, NULL), 0);
	assert_int_equal(ist_wshandshake_response_feed(r,
	    (const uint8_t *)answer_ok, strlen(answer_ok), &used, &e),
	    IST_ERR_TOOBIG);
	ist_wshandshake_response_free(r);
	n = (size_t)snprintf(big, 20000, "HTTP/1.1 101 OK\r\n");
	for (i = 0; i < 65; i++)
		n += (size_t)snprintf(big + n, 20000 - n, "X: %zu\r\n", i);
	n += (size_t)snprintf(big + n, 20000 - n, "\r\n");
	assert_int_equal(ist_wshandshake_response_new(&r, &c, 0, NULL), 0);
	assert_int_equal(ist_wshandshake_response_feed(r, (uint8_t *)big, n,
	    &used, &e), IST_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "more than 64 headers"));
	ist_wshandshake_response_free(r);
	free(big);
}

static void
test_response_new_fails_cleanly(void **state)
{
	struct ist_wshandshake_client c;
	struct ist_wshandshake_response *r = (void *)1;
	struct ist_wshandshake_request *q = (void *)1;
	struct failmem fm = { 0, 0, 0 };
	struct ist_mem mem = { fail_malloc, fail_free, &fm };

	(void)state;
	client_init(&c, PROTO);
	assert_int_equal(ist_wshandshake_response_new(&r, &c, 0, &mem),
	    IST_ERR_NOMEM);
	assert_null(r);
	assert_int_equal(ist_wshandshake_response_new(&r, NULL, 0, NULL),
	    IST_ERR_INVAL);
	fm.calls = 0;
	assert_int_equal(ist_wshandshake_request_new(&q, 0, &mem),
	    IST_ERR_NOMEM);
	assert_null(q);
	assert_int_equal(fm.live, 0);
	ist_wshandshake_response_free(NULL);
	ist_wshandshake_request_free(NULL);
}

/* ---- server: parsing the request ---- */

static const char *const request_ok =
    "GET /tunnel?local-proxy-mode=destination&x=1 HTTP/1.1\r\n"
    "Host: localhost:8443\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: " RFC_KEY "\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: aws.iot.securetunneling-2.0, " PROTO "\r\n"
    "Sec-WebSocket-Protocol: chat\r\n"
    "access-token: " TOKEN "\r\n"
    "\r\n";

static struct ist_wshandshake_request *
request(void)
{
	struct ist_wshandshake_request *q = NULL;

	assert_int_equal(ist_wshandshake_request_new(&q, 0, NULL), 0);
	return q;
}

/* As expect_response(), for the server's parser; status is the expected
 * ist_wshandshake_request_fail_status(). */
static struct ist_wshandshake_request *
expect_request(const char *text, const char *tail, int want, int status,
    const char *needle)
{
	size_t n = strlen(text), tl = strlen(tail), k, used, i;
	uint8_t *buf = malloc(n + tl);
	struct ist_wshandshake_request *q, *whole;
	struct ist_err e, e0;
	int rc;

	assert_non_null(buf);
	memcpy(buf, text, n);
	memcpy(buf + n, tail, tl);
	whole = request();
	rc = ist_wshandshake_request_feed(whole, buf, n + tl, &used, &e0);
	assert_int_equal(rc, want);
	assert_int_equal(ist_wshandshake_request_fail_status(whole), status);
	if (want == 1)
		assert_int_equal(used, n);
	if (needle && !strstr(e0.msg, needle))
		fail_msg("\"%s\" not in \"%s\"", needle, e0.msg);
	for (k = 0; k <= n; k++) {
		q = request();
		rc = ist_wshandshake_request_feed(q, buf, k, &used, &e);
		if (rc == 0)
			rc = ist_wshandshake_request_feed(q, buf + k,
			    n + tl - k, &used, &e);
		assert_int_equal(rc, want);
		if (want < 0)
			assert_string_equal(e.msg, e0.msg);
		ist_wshandshake_request_free(q);
	}
	q = request();
	rc = 0;
	for (i = 0; i < n + tl && rc == 0; i++)
		rc = ist_wshandshake_request_feed(q, buf + i, 1, &used, &e);
	assert_int_equal(rc, want);
	if (want == 1)
		assert_int_equal(i, n);
	ist_wshandshake_request_free(q);
	free(buf);
	return whole;
}

static void
test_request_ok(void **state)
{
	struct ist_wshandshake_request *q;
	size_t count;

	(void)state;
	q = expect_request(request_ok, "\x82\x80\x01\x02\x03\x04", 1, 0,
	    NULL);
	assert_string_equal(ist_wshandshake_request_method(q), "GET");
	assert_string_equal(ist_wshandshake_request_target(q),
	    "/tunnel?local-proxy-mode=destination&x=1");
	assert_string_equal(ist_wshandshake_request_path(q), "/tunnel");
	assert_string_equal(ist_wshandshake_request_query(q),
	    "local-proxy-mode=destination&x=1");
	assert_string_equal(ist_wshandshake_request_key(q), RFC_KEY);
	assert_string_equal(ist_wshandshake_request_header(q, "ACCESS-TOKEN",
	    &count), TOKEN);
	assert_int_equal(count, 1);
	assert_string_equal(ist_wshandshake_request_protocol(q, 0),
	    "aws.iot.securetunneling-2.0");
	assert_string_equal(ist_wshandshake_request_protocol(q, 1), PROTO);
	assert_string_equal(ist_wshandshake_request_protocol(q, 2), "chat");
	assert_null(ist_wshandshake_request_protocol(q, 3));
	ist_wshandshake_request_free(q);
}

static void
test_request_from_our_client(void **state)
{
	struct ist_wshandshake_client c;
	struct ist_wshandshake_request *q;
	char out[1024];
	size_t len, count;

	(void)state;
	client_init(&c, PROTO);
	assert_int_equal(ist_wshandshake_client_request(&c, out,
	    sizeof(out) - 1, &len, NULL), 0);
	out[len] = '\0';
	q = expect_request(out, "", 1, 0, NULL);
	assert_string_equal(ist_wshandshake_request_path(q), "/tunnel");
	assert_string_equal(ist_wshandshake_request_query(q),
	    "local-proxy-mode=source");
	assert_string_equal(ist_wshandshake_request_protocol(q, 0), PROTO);
	assert_string_equal(ist_wshandshake_request_header(q, "client-token",
	    &count), "0123456789abcdef0123456789abcdef");
	assert_string_equal(ist_wshandshake_request_key(q), RFC_KEY);
	ist_wshandshake_request_free(q);
}

static void
test_request_refusals(void **state)
{
	static const struct {
		const char *name, *with;
		int status;
		const char *needle;
	} c[] = {
		{ "GET", "POST /tunnel HTTP/1.1\r\n", 405, "not a GET" },
		{ "GET", "GET /tunnel HTTP/1.0\r\n", 400, "HTTP/1.0, not" },
		{ "GET", "GET /tunnel HTTP/2.0\r\n", 505, "HTTP/2.0, not" },
		{ "GET", "GET /tunnel\r\n", 400, "not \"METHOD target" },
		{ "GET", "GET  /tunnel HTTP/1.1\r\n", 400, "not \"METHOD" },
		{ "GET", "G@T /tunnel HTTP/1.1\r\n", 400, "bad method" },
		{ "Host:", "", 400, "exactly one Host" },
		{ "Host:", "Host: a\r\nHost: b\r\n", 400, "exactly one Host" },
		{ "Upgrade:", "", 400, "no \"Upgrade: websocket\"" },
		{ "Connection:", "Connection: keep-alive\r\n", 400,
		    "no \"Connection: upgrade\"" },
		{ "Sec-WebSocket-Key:", "", 400, "Sec-WebSocket-Key" },
		{ "Sec-WebSocket-Key:", "Sec-WebSocket-Key: "
		    "dGhlIHNhbXBsZSBub25jZQ=\r\n", 400, "base64 of 16" },
		{ "Sec-WebSocket-Key:", "Sec-WebSocket-Key: "
		    "dGhlIHNhbXBsZSBub25jZR==\r\n", 400, "base64 of 16" },
		{ "Sec-WebSocket-Key:", "Sec-WebSocket-Key: "
		    "dGhlIHNhbXBsZSBub25j*Q==\r\n", 400, "base64 of 16" },
		{ "Sec-WebSocket-Key:", "Sec-WebSocket-Key: " RFC_KEY "\r\n"
		    "Sec-WebSocket-Key: " RFC_KEY "\r\n", 400, "needs one" },
		{ "Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8\r\n",
		    426, "Sec-WebSocket-Version: 13" },
		{ "Sec-WebSocket-Version:", "", 426, "Version: 13" },
		{ "Sec-WebSocket-Protocol: aws", "Sec-WebSocket-Protocol: "
		    "a,,b\r\n", 400, "empty or bad subprotocol" },
		{ "Sec-WebSocket-Protocol: aws", "Sec-WebSocket-Protocol: "
		    "a b\r\n", 400, "bad subprotocol" },
		{ "Sec-WebSocket-Protocol: aws", "Sec-WebSocket-Protocol: "
		    "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16\r\n", 400,
		    "more than 16" },
	};
	struct ist_wshandshake_request *q;
	size_t i, count;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		q = expect_request(replace_line(request_ok, c[i].name, c[i].with), "",
		    IST_ERR_PROTO, c[i].status, c[i].needle);
		assert_null(ist_wshandshake_request_key(q));
		assert_null(ist_wshandshake_request_protocol(q, 0));
		ist_wshandshake_request_free(q);
	}
	/* After a refusal of the upgrade (not of the syntax) the request
	 * can still be read: a health check, a repeated token. */
	q = expect_request("GET /ping HTTP/1.1\r\nHost: x\r\n"
	    "access-token: a\r\naccess-token: b\r\n\r\n", "", IST_ERR_PROTO,
	    400, "Upgrade");
	assert_string_equal(ist_wshandshake_request_path(q), "/ping");
	assert_null(ist_wshandshake_request_query(q));
	assert_string_equal(ist_wshandshake_request_header(q, "access-token",
	    &count), "a");
	assert_int_equal(count, 2);
	ist_wshandshake_request_free(q);
}

static void
test_request_head_is_bounded(void **state)
{
	struct ist_wshandshake_request *q = NULL;
	struct ist_err e;
	size_t used;

	(void)state;
	assert_int_equal(ist_wshandshake_request_new(&q, 100, NULL), 0);
	assert_int_equal(ist_wshandshake_request_feed(q,
	    (const uint8_t *)request_ok, strlen(request_ok), &used, &e),
	    IST_ERR_TOOBIG);
	assert_int_equal(used, 100);
	assert_int_equal(ist_wshandshake_request_fail_status(q), 431);
	assert_null(ist_wshandshake_request_method(q));
	ist_wshandshake_request_free(q);
}

/* ---- server: answers ---- */

static void
test_accept_bytes(void **state)
{
	static const char want[] =
	    "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
	    "Sec-WebSocket-Protocol: " PROTO "\r\n"
	    "channel-id: 42\r\n"
	    "\r\n";
	static const struct ist_wshandshake_header h[] = {
		{ "channel-id", "42" } };
	struct ist_wshandshake_response *r;
	char out[512];
	struct ist_err e;
	size_t len;

	(void)state;
	assert_int_equal(ist_wshandshake_accept(RFC_KEY, PROTO, h, 1, out,
	    sizeof(out) - 1, &len, &e), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	/* Our client accepts it. */
	out[len] = '\0';
	r = expect_response(PROTO, out, "", 1, NULL);
	assert_string_equal(ist_wshandshake_response_header(r, "channel-id",
	    NULL), "42");
	ist_wshandshake_response_free(r);

	assert_int_equal(ist_wshandshake_accept(RFC_KEY, PROTO, h, 1, out,
	    len - 1, &len, &e), IST_ERR_TOOBIG);
	assert_int_equal(ist_wshandshake_accept(RFC_KEY, "a b", NULL, 0, out,
	    sizeof(out), &len, &e), IST_ERR_INVAL);
	assert_int_equal(ist_wshandshake_accept(NULL, NULL, NULL, 0, out,
	    sizeof(out), &len, &e), IST_ERR_INVAL);
	assert_int_equal(ist_wshandshake_accept(RFC_KEY, NULL, (const struct
	    ist_wshandshake_header[]){ { "Sec-WebSocket-Accept", "x" } }, 1,
	    out, sizeof(out), &len, &e), IST_ERR_INVAL);
	assert_int_equal(ist_wshandshake_accept(RFC_KEY, NULL, NULL, 0, out,
	    sizeof(out), &len, &e), 0);
	assert_null(memmem(out, len, "Sec-WebSocket-Protocol", 22));
}

static void
test_refuse_bytes(void **state)
{
	static const char want[] =
	    "HTTP/1.1 426 Upgrade Required\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Content-Length: 2\r\n"
	    "Connection: close\r\n"
	    "\r\n"
	    "no";
	static const struct ist_wshandshake_header h[] = {
		{ "Sec-WebSocket-Version", "13" } };
	struct ist_wshandshake_response *r;
	char out[512];
	struct ist_err e;
	size_t len;

	(void)state;
	assert_int_equal(ist_wshandshake_refuse(426, h, 1, "no", 2, out,
	    sizeof(out), &len, &e), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	/* Our client reports it with its status; the body is left over. */
	out[len] = '\0';
	r = expect_response(PROTO, "HTTP/1.1 426 Upgrade Required\r\n"
	    "Sec-WebSocket-Version: 13\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\n", "no", IST_ERR_NET, "HTTP 426 "
	    "Upgrade Required");
	ist_wshandshake_response_free(r);
	assert_int_equal(ist_wshandshake_refuse(431, NULL, 0, NULL, 0, out,
	    sizeof(out), &len, &e), 0);
	assert_memory_equal(out, "HTTP/1.1 431 Request Header Fields Too "
	    "Large\r\nContent-Length: 0\r\n", 61);
	assert_int_equal(ist_wshandshake_refuse(101, NULL, 0, NULL, 0, out,
	    sizeof(out), &len, &e), IST_ERR_INVAL);
	assert_int_equal(ist_wshandshake_refuse(600, NULL, 0, NULL, 0, out,
	    sizeof(out), &len, &e), IST_ERR_INVAL);
	assert_int_equal(ist_wshandshake_refuse(400, (const struct
	    ist_wshandshake_header[]){ { "Content-Length", "9" } }, 1, NULL,
	    0, out, sizeof(out), &len, &e), IST_ERR_INVAL);
	assert_int_equal(ist_wshandshake_refuse(400, NULL, 0, "x", 1, out,
	    40, &len, &e), IST_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "does not fit in 40"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_accept_key),
		cmocka_unit_test(test_client_request_bytes),
		cmocka_unit_test(test_client_request_refuses_injection),
		cmocka_unit_test(test_response_ok),
		cmocka_unit_test(test_response_refusals_keep_status_and_headers),
		cmocka_unit_test(test_response_not_http11),
		cmocka_unit_test(test_response_checks_of_101),
		cmocka_unit_test(test_response_head_is_bounded),
		cmocka_unit_test(test_response_new_fails_cleanly),
		cmocka_unit_test(test_request_ok),
		cmocka_unit_test(test_request_from_our_client),
		cmocka_unit_test(test_request_refusals),
		cmocka_unit_test(test_request_head_is_bounded),
		cmocka_unit_test(test_accept_bytes),
		cmocka_unit_test(test_refuse_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
