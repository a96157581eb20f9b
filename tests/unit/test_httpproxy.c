/*
 * test_httpproxy.c: HTTPS_PROXY parsed (percent-decoded credentials,
 * IPv6, the errors, no secret in a message), the CONNECT request's
 * bytes, and the proxy's answer read and judged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ist/httpproxy.h"

static void
expect_ok(const char *value, const char *host, int port, const char *basic)
{
	struct ist_httpproxy px;
	struct ist_err e;

	ist_err_clear(&e);
	if (ist_httpproxy_parse(&px, value, &e) != 0)
		fail_msg("%s: %s", value, e.msg);
	assert_string_equal(px.host, host);
	assert_int_equal(px.port, port);
	assert_string_equal(px.basic, basic);
	ist_httpproxy_clear(&px);
	/* The credentials are a secret: nothing of them stays. */
	for (size_t i = 0; i < sizeof(px); i++)
		assert_int_equal(((unsigned char *)&px)[i], 0);
}

static void
test_parse(void **state)
{
	(void)state;
	/* What the API client's test sends: "pw x" after decoding. */
	expect_ok("alice:pw%20x@127.0.0.1:3128", "127.0.0.1", 3128,
	    "YWxpY2U6cHcgeA==");
	/* An escaped '@' and ':' stay in the user name and password; the
	 * last '@' of the authority ends the credentials. */
	expect_ok("http://us%40er:pa:ss@[fd00::1]:8080/", "fd00::1", 8080,
	    "dXNAZXI6cGE6c3M=");
	/* A user with no password: "user:" (RFC 7617). */
	expect_ok("bob@h.example:1", "h.example", 1, "Ym9iOg==");
	expect_ok("HTTPS://proxy.example:443", "proxy.example", 443, "");
	/* An '@' in the path is not userinfo. */
	expect_ok("p.example:80/a@b", "p.example", 80, "");
}

static void
expect_bad(const char *value, const char *what)
{
	struct ist_httpproxy px;
	struct ist_err e;

	ist_err_clear(&e);
	assert_int_equal(ist_httpproxy_parse(&px, value, &e), IST_ERR_CONFIG);
	if (!strstr(e.msg, what))
		fail_msg("%s: \"%s\" lacks \"%s\"", value, e.msg, what);
	assert_non_null(strstr(e.msg, "HTTPS proxy"));
	/* The secret never shows, whatever went wrong. */
	assert_null(strstr(e.msg, "s3cret"));
	ist_httpproxy_clear(&px);
}

static void
test_parse_refuses(void **state)
{
	char *big;

	(void)state;
	expect_bad("socks5://u:s3cret@h:1080", "only http://");
	expect_bad("u:s3cret@proxy.example", "give host:port");
	expect_bad("u:s3cret@[::1]", "give host:port");
	expect_bad("u:s3cret@h:0", "port must be 1 to 65535");
	expect_bad("u:s3cret@h:65536", "port must be 1 to 65535");
	expect_bad("u:s3cret@h:80x", "port must be 1 to 65535");
	expect_bad("u:s3cret@[::1:80", "without ']'");
	expect_bad("u:s3cret@:80", "no host");
	expect_bad("", "no host");
	expect_bad("u:s3cret@bad host:1", "bad character");
	expect_bad("u:s3cret@h:1?x", "port must be");
	/* bug "proxy password in message" (fuzz_cli): a mistyped scheme
	 * puts the '@' where it does not end credentials, and the value
	 * was quoted whole. */
	expect_bad("http:/u:s3cret@proxy.example:3128", "not shown");
	/* 599 bytes of "user:password" fit, 600 do not. */
	big = malloc(700);
	assert_non_null(big);
	memset(big, 'a', 597);
	snprintf(big + 597, 100, ":b@h:1");
	{
		struct ist_httpproxy px;
		struct ist_err e;

		assert_int_equal(ist_httpproxy_parse(&px, big, &e), 0);
		assert_int_equal(strlen(px.basic), 800);
		ist_httpproxy_clear(&px);
	}
	memset(big, 'a', 598);
	snprintf(big + 598, 100, ":b@h:1");
	expect_bad(big, "too long");
	free(big);
}

static void
test_connect_request(void **state)
{
	struct ist_httpproxy px;
	struct ist_err e;
	char out[IST_HTTPPROXY_REQUEST_MAX];
	size_t n;

	(void)state;
	assert_int_equal(ist_httpproxy_parse(&px, "alice:pw%20x@127.0.0.1:3128",
	    &e), 0);
	/* IPv6 in brackets, on both lines; the caller's lines after the
	 * credentials. */
	assert_int_equal(ist_httpproxy_connect_request(&px, "fd00::1", 443,
	    "User-Agent: t\r\n", out, sizeof(out), &n, &e), 0);
	assert_string_equal(out, "CONNECT [fd00::1]:443 HTTP/1.1\r\n"
	    "Host: [fd00::1]:443\r\n"
	    "Proxy-Authorization: Basic YWxpY2U6cHcgeA==\r\n"
	    "User-Agent: t\r\n\r\n");
	assert_int_equal(n, strlen(out));
	/* A name, no credentials, no extra lines. */
	assert_int_equal(ist_httpproxy_connect_request(NULL,
	    "data.tunneling.iot.us-east-1.amazonaws.com", 443, NULL, out,
	    sizeof(out), &n, &e), 0);
	assert_string_equal(out, "CONNECT "
	    "data.tunneling.iot.us-east-1.amazonaws.com:443 HTTP/1.1\r\n"
	    "Host: data.tunneling.iot.us-east-1.amazonaws.com:443\r\n\r\n");
	/* Too small: refused, and the credentials wiped from out. */
	memset(out, 'x', sizeof(out));
	assert_int_equal(ist_httpproxy_connect_request(&px, "h", 1, NULL, out,
	    60, &n, &e), IST_ERR_TOOBIG);
	assert_int_equal(n, 0);
	for (size_t i = 0; i < 60; i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(out[60], 'x');
	/* Header injection through the host, and bad ports. */
	assert_int_equal(ist_httpproxy_connect_request(&px, "h\r\nX: y", 1,
	    NULL, out, sizeof(out), &n, &e), IST_ERR_INVAL);
	assert_int_equal(ist_httpproxy_connect_request(&px, "", 1, NULL, out,
	    sizeof(out), &n, &e), IST_ERR_INVAL);
	assert_int_equal(ist_httpproxy_connect_request(&px, "h", 0, NULL, out,
	    sizeof(out), &n, &e), IST_ERR_INVAL);
	assert_int_equal(ist_httpproxy_connect_request(&px, "h", 65536, NULL,
	    out, sizeof(out), &n, &e), IST_ERR_INVAL);
	ist_httpproxy_clear(&px);
}

#define ANSWER(lit, hl, st) answer(lit, sizeof(lit) - 1, hl, st)

static int
answer(const char *p, size_t n, size_t *hl, int *st)
{
	struct ist_err e;

	return ist_httpproxy_answer(p, n, hl, st, &e);
}

static void
test_answer(void **state)
{
	struct ist_err e;
	size_t hl;
	int st;
	char *big;

	(void)state;
	/* Not complete yet: read more. */
	assert_int_equal(ANSWER("HTTP/1.1 200 Connection established\r\n",
	    &hl, &st), 0);
	assert_int_equal(ANSWER("", &hl, &st), 0);
	/* Complete; the TLS bytes after the head are not the head's. */
	assert_int_equal(ANSWER("HTTP/1.1 200 Connection established\r\n"
	    "Via: p\r\n\r\n\x16\x03\x03", &hl, &st), 1);
	assert_int_equal(st, 200);
	assert_int_equal(hl, 47);
	assert_int_equal(ANSWER("HTTP/1.0 407 Proxy Authentication Required\r\n"
	    "\r\n", &hl, &st), 1);
	assert_int_equal(st, 407);
	assert_int_equal(ANSWER("HTTP/1.1 200\r\n\r\n", &hl, &st), 1);
	assert_int_equal(hl, 16);
	/* Not HTTP/1.x. */
	assert_int_equal(ist_httpproxy_answer("SSH-2.0-OpenSSH_9.2\r\n\r\n", 23,
	    &hl, &st, &e), IST_ERR_NET);
	assert_non_null(strstr(e.msg, "did not answer CONNECT in HTTP/1.x"));
	assert_int_equal(ANSWER("HTTP/1.1 2x0 OK\r\n\r\n", &hl, &st),
	    IST_ERR_NET);
	assert_int_equal(ANSWER("HTTP/1.1 2000 OK\r\n\r\n", &hl, &st),
	    IST_ERR_NET);
	assert_int_equal(ANSWER("HTTP/1.1 099 OK\r\n\r\n", &hl, &st),
	    IST_ERR_NET);
	assert_int_equal(ANSWER("HTTP/2 200 OK\r\n\r\n", &hl, &st),
	    IST_ERR_NET);
	/* A head that never ends: refused at the cap, not read forever. */
	big = malloc(IST_HTTPPROXY_ANSWER_MAX + 10);
	assert_non_null(big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', IST_HTTPPROXY_ANSWER_MAX - 20);
	assert_int_equal(ist_httpproxy_answer(big, IST_HTTPPROXY_ANSWER_MAX - 1,
	    &hl, &st, &e), 0);
	assert_int_equal(ist_httpproxy_answer(big, IST_HTTPPROXY_ANSWER_MAX,
	    &hl, &st, &e), IST_ERR_NET);
	assert_non_null(strstr(e.msg, "over 4096 bytes"));
	/* An end beyond the cap does not count either. */
	memcpy(big + IST_HTTPPROXY_ANSWER_MAX, "\r\n\r\n", 4);
	assert_int_equal(ist_httpproxy_answer(big, IST_HTTPPROXY_ANSWER_MAX + 4,
	    &hl, &st, &e), IST_ERR_NET);
	free(big);
}

static void
test_status(void **state)
{
	struct ist_err e;

	(void)state;
	assert_int_equal(ist_httpproxy_status(200, "h", 443, &e), 0);
	assert_int_equal(ist_httpproxy_status(299, "h", 443, &e), 0);
	assert_int_equal(ist_httpproxy_status(407, "fd00::1", 443, &e),
	    IST_ERR_NET);
	assert_string_equal(e.msg, "refused CONNECT to [fd00::1]:443 with "
	    "HTTP 407 (it wants credentials: put them in HTTPS_PROXY as "
	    "http://user:password@host:port)");
	assert_int_equal(ist_httpproxy_status(502, "h.example", 8443, &e),
	    IST_ERR_NET);
	assert_string_equal(e.msg, "refused CONNECT to h.example:8443 with "
	    "HTTP 502");
	assert_int_equal(ist_httpproxy_status(101, "h", 1, &e), IST_ERR_NET);
	assert_int_equal(ist_httpproxy_status(300, "h", 1, &e), IST_ERR_NET);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_connect_request),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
