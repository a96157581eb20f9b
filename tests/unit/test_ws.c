/*
 * test_ws.c: the parts of ws.c that need no server: reading access
 * tokens, and the checks ist_ws_new and ist_ws_context_new make before
 * anything goes on the wire (the wire is covered end to end in
 * tests/e2e/proxy_*.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ist/ws.h"

static char *
write_tmp(const char *content, size_t n)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_ws.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(content, 1, n, f), n);
	fclose(f);
	return path;
}

static void
test_token_file_trimmed(void **state)
{
	char *path = write_tmp("  tok-123.abc==\n\n", 17);
	struct ist_err e;
	char *t = NULL;

	(void)state;
	assert_int_equal(ist_ws_read_token(path, &t, &e), 0);
	assert_string_equal(t, "tok-123.abc==");
	free(t);
	unlink(path);
}

static void
test_token_file_two_lines_refused(void **state)
{
	char *path = write_tmp("abc\ndef\n", 8);
	struct ist_err e;
	char *t = NULL;

	(void)state;
	assert_int_equal(ist_ws_read_token(path, &t, &e), IST_ERR_CONFIG);
	assert_null(t);
	assert_non_null(strstr(e.msg, "one line"));
	/* The message must not echo the token. */
	assert_null(strstr(e.msg, "abc"));
	unlink(path);
}

static void
test_token_file_empty(void **state)
{
	char *path = write_tmp(" \n", 2);
	struct ist_err e;
	char *t = NULL;

	(void)state;
	assert_int_equal(ist_ws_read_token(path, &t, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "empty"));
	unlink(path);
}

static void
test_token_file_missing(void **state)
{
	struct ist_err e;
	char *t = NULL;

	(void)state;
	assert_int_equal(ist_ws_read_token("/nonexistent/tok", &t, &e),
	    IST_ERR_IO);
	assert_non_null(strstr(e.msg, "/nonexistent/tok"));
}

static void
test_token_file_too_big(void **state)
{
	size_t n = 20000;
	char *big = malloc(n), *path;
	struct ist_err e;
	char *t = NULL;

	(void)state;
	assert_non_null(big);
	memset(big, 'a', n);
	path = write_tmp(big, n);
	assert_int_equal(ist_ws_read_token(path, &t, &e), IST_ERR_CONFIG);
	assert_null(t);
	free(big);
	unlink(path);
}

static void
test_token_env(void **state)
{
	struct ist_err e;
	char *t = NULL;

	(void)state;
	unsetenv("AWSIOT_TUNNEL_ACCESS_TOKEN");
	assert_int_equal(ist_ws_read_token(NULL, &t, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "AWSIOT_TUNNEL_ACCESS_TOKEN"));
	setenv("AWSIOT_TUNNEL_ACCESS_TOKEN", "envtok", 1);
	assert_int_equal(ist_ws_read_token(NULL, &t, &e), 0);
	assert_string_equal(t, "envtok");
	free(t);
	unsetenv("AWSIOT_TUNNEL_ACCESS_TOKEN");
}

static void
test_context_missing_ca(void **state)
{
	struct ist_ws_context_options o;
	struct lws_context *ctx = NULL;
	struct ist_err e;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(ist_ws_context_new(&ctx, &o, &e), IST_ERR_CONFIG);
	assert_null(ctx);
	assert_non_null(strstr(e.msg, "/nonexistent/ca.pem"));
}

static void
test_context_unsets_http_proxy(void **state)
{
	struct ist_ws_context_options o;
	struct lws_context *ctx = NULL;
	struct ist_err e;

	(void)state;
	setenv("http_proxy", "http://127.0.0.1:9", 1);
	memset(&o, 0, sizeof(o));
	assert_int_equal(ist_ws_context_new(&ctx, &o, &e), 0);
	/* lws would send every connection through it otherwise. */
	assert_null(getenv("http_proxy"));
	ist_ws_context_free(ctx);
}

static void
test_new_refuses_header_injection(void **state)
{
	struct ist_ws_context_options co;
	struct ist_ws_callbacks cb;
	struct ist_ws_options o;
	struct lws_context *ctx = NULL;
	struct ist_ws *ws = NULL;
	struct ist_err e;

	(void)state;
	memset(&co, 0, sizeof(co));
	assert_int_equal(ist_ws_context_new(&ctx, &co, &e), 0);
	memset(&cb, 0, sizeof(cb));
	memset(&o, 0, sizeof(o));
	o.host = "127.0.0.1";
	o.port = 443;
	o.tls = true;
	o.role = IST_ROLE_SOURCE;
	o.access_token = "abc\r\nX-Evil: 1";
	assert_int_equal(ist_ws_new(&ws, ctx, &o, &cb, NULL, &e),
	    IST_ERR_CONFIG);
	assert_null(ws);
	assert_null(strstr(e.msg, "Evil"));

	o.access_token = "abc";
	o.client_token = "short";
	assert_int_equal(ist_ws_new(&ws, ctx, &o, &cb, NULL, &e),
	    IST_ERR_CONFIG);
	o.client_token = "0123456789abcdef0123456789abcdef!";
	assert_int_equal(ist_ws_new(&ws, ctx, &o, &cb, NULL, &e),
	    IST_ERR_CONFIG);

	o.client_token = NULL;
	o.port = 0;
	assert_int_equal(ist_ws_new(&ws, ctx, &o, &cb, NULL, &e),
	    IST_ERR_CONFIG);

	o.port = 443;
	assert_int_equal(ist_ws_new(&ws, ctx, &o, &cb, NULL, &e), 0);
	assert_non_null(ws);
	assert_false(ist_ws_is_open(ws));
	assert_null(ist_ws_session(ws));
	ist_ws_free(ws);
	ist_ws_context_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_file_trimmed),
		cmocka_unit_test(test_token_file_two_lines_refused),
		cmocka_unit_test(test_token_file_empty),
		cmocka_unit_test(test_token_file_missing),
		cmocka_unit_test(test_token_file_too_big),
		cmocka_unit_test(test_token_env),
		cmocka_unit_test(test_context_missing_ca),
		cmocka_unit_test(test_context_unsets_http_proxy),
		cmocka_unit_test(test_new_refuses_header_injection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
