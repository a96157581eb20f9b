/*
 * test_api.c: the tunnel API client. Input checks against the API model;
 * the five operations against fakeaws.py, which checks every request's
 * SigV4 signature with botocore's signer; error mapping and the retry
 * policy through its fault injection; secrecy of logs at debug3.
 */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws_testutil.h"

#include "ist/api.h"

#define SECRET "api-secret-key-SECRET-11" /* fakeaws.py's default */
#define SESSION "session-token-SECRET-22"

static cJSON *
parse(const char *json)
{
	cJSON *j = cJSON_Parse(json);

	assert_non_null(j);
	return j;
}

static void
expect_invalid(const char *json, const char *field)
{
	cJSON *j = parse(json);
	struct ist_err e;

	if (ist_api_check_open_tunnel(j, &e) != IST_ERR_INVAL)
		fail_msg("accepted: %s", json);
	if (!strstr(e.msg, field))
		fail_msg("'%s' not in '%s' for %s", field, e.msg, json);
	cJSON_Delete(j);
}

static void
test_check_open_tunnel(void **state)
{
	char big[2100 + 40];
	struct ist_err e;
	cJSON *j;

	(void)state;
	j = parse("{\"description\": \"kiosk 17 \\u00e9\", \"tags\": [{\"key\":"
	    " \"team:ops\", \"value\": \"\"}], \"destinationConfig\": "
	    "{\"thingName\": \"kiosk-17\", \"services\": [\"SSH\", \"HTTP_1\"]},"
	    " \"timeoutConfig\": {\"maxLifetimeTimeoutMinutes\": 720}}");
	assert_int_equal(ist_api_check_open_tunnel(j, &e), 0);
	cJSON_Delete(j);
	j = parse("{}");
	assert_int_equal(ist_api_check_open_tunnel(j, &e), 0);
	cJSON_Delete(j);

	expect_invalid("[]", "must be an object");
	expect_invalid("{\"destination\": {}}", "unknown field 'destination'");
	expect_invalid("{\"description\": \"\"}", "description");
	expect_invalid("{\"description\": \"a\\u0007b\"}", "description");
	expect_invalid("{\"description\": 5}", "description");
	memset(big, 0, sizeof(big));
	memcpy(big, "{\"description\": \"", 17);
	memset(big + 17, 'x', 2049);
	memcpy(big + 17 + 2049, "\"}", 2);
	expect_invalid(big, "2048");
	expect_invalid("{\"tags\": []}", "tags");
	expect_invalid("{\"tags\": [{\"key\": \"a\"}]}", "tags[0].value");
	expect_invalid("{\"tags\": [{\"key\": \"a\", \"value\": \"b\"}, "
	    "{\"key\": \"a!\", \"value\": \"b\"}]}", "tags[1].key");
	expect_invalid("{\"tags\": [{\"key\": \"a\", \"value\": \"b\", "
	    "\"x\": 1}]}", "unknown field 'x' in tags[0]");
	expect_invalid("{\"destinationConfig\": {\"thingName\": \"t\"}}",
	    "destinationConfig.services is required");
	expect_invalid("{\"destinationConfig\": {\"services\": []}}",
	    "destinationConfig.services");
	expect_invalid("{\"destinationConfig\": {\"services\": [\"a\", \"b\", "
	    "\"c\", \"d\"]}}", "destinationConfig.services");
	expect_invalid("{\"destinationConfig\": {\"services\": [\"SSH\", "
	    "\"no space\"]}}", "destinationConfig.services[1]");
	expect_invalid("{\"destinationConfig\": {\"thingName\": \"a/b\", "
	    "\"services\": [\"SSH\"]}}", "destinationConfig.thingName");
	expect_invalid("{\"timeoutConfig\": {\"maxLifetimeTimeoutMinutes\": "
	    "0}}", "maxLifetimeTimeoutMinutes");
	expect_invalid("{\"timeoutConfig\": {\"maxLifetimeTimeoutMinutes\": "
	    "721}}", "maxLifetimeTimeoutMinutes");
	expect_invalid("{\"timeoutConfig\": {\"maxLifetimeTimeoutMinutes\": "
	    "1.5}}", "maxLifetimeTimeoutMinutes");
	expect_invalid("{\"timeoutConfig\": {\"maxLifetimeTimeoutMinutes\": "
	    "1e300}}", "maxLifetimeTimeoutMinutes");
}

static struct tu_server srv;

/* fakeaws.py with args, env credentials, and a client pointed at it. */
static struct ist_aws *
start(const char *const *args)
{
	struct ist_aws_opts o = { .region = "us-east-1" };
	struct ist_aws *a = NULL;
	struct ist_err e;

	tu_server_start(&srv, args);
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	setenv("AWS_SESSION_TOKEN", SESSION, 1);
	setenv("AWS_ENDPOINT_URL", srv.url, 1);
	if (ist_aws_new(&a, &o, &e) != 0)
		fail_msg("%s", e.msg);
	return a;
}

static int
posts(void)
{
	char *log = tu_server_log(&srv);
	int n = tu_count(log, "\"method\": \"POST\"");

	free(log);
	return n;
}

static const char open_req[] = "{\"description\": \"test\", "
    "\"destinationConfig\": {\"thingName\": \"kiosk-17\", \"services\": "
    "[\"SSH\"]}, \"timeoutConfig\": {\"maxLifetimeTimeoutMinutes\": 60}}";

static void
test_operations(void **state)
{
	const char *noargs[] = { NULL };
	struct ist_tunnel_tokens t, rt;
	struct ist_aws *a = start(noargs);
	struct ist_err e;
	cJSON *req = parse(open_req), *tun, *list, *dc;
	char *log;

	(void)state;
	if (ist_api_open_tunnel(a, req, &t, &e) != 0)
		fail_msg("%s", e.msg);
	assert_string_equal(t.tunnel_id, "tunnel-0001");
	assert_string_equal(t.source_access_token,
	    "src-TOKEN-SECRET-tunnel-0001");
	assert_string_equal(t.destination_access_token,
	    "dst-TOKEN-SECRET-tunnel-0001");
	assert_non_null(strstr(t.tunnel_arn, ":tunnel/tunnel-0001"));
	/* The request on the wire: the API shape, target, content type. */
	log = tu_server_log(&srv);
	assert_non_null(strstr(log, "\"target\": "
	    "\"IoTSecuredTunneling.OpenTunnel\""));
	assert_non_null(strstr(log, "\"content-type\": "
	    "\"application/x-amz-json-1.1\""));
	assert_non_null(strstr(log, "\\\"thingName\\\":\\\"kiosk-17\\\""));
	assert_non_null(strstr(log, "\"verify\": null"));
	assert_non_null(strstr(log, "\"x-amz-security-token\": \"" SESSION));
	free(log);

	assert_int_equal(ist_api_describe_tunnel(a, t.tunnel_id, &tun, &e), 0);
	assert_string_equal(cJSON_GetObjectItem(tun, "tunnelId")->valuestring,
	    "tunnel-0001");
	assert_string_equal(cJSON_GetObjectItem(tun, "status")->valuestring,
	    "OPEN");
	cJSON_Delete(tun);

	dc = parse("{\"thingName\": \"kiosk-17\", \"services\": [\"SSH\"]}");
	assert_int_equal(ist_api_rotate_tunnel_access_token(a, t.tunnel_id,
	    "DESTINATION", dc, &rt, &e), 0);
	assert_null(rt.source_access_token);
	assert_string_equal(rt.destination_access_token, "dst-ROTATED-SECRET");
	assert_null(rt.tunnel_id);
	ist_tunnel_tokens_clear(&rt);
	assert_int_equal(ist_api_rotate_tunnel_access_token(a, t.tunnel_id,
	    "sideways", NULL, &rt, &e), IST_ERR_INVAL);
	assert_non_null(strstr(e.msg, "clientMode"));
	cJSON_Delete(dc);

	assert_int_equal(ist_api_list_tunnels(a, "kiosk-17", 10, NULL, &list,
	    &e), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(list,
	    "tunnelSummaries")), 1);
	cJSON_Delete(list);
	assert_int_equal(ist_api_list_tunnels(a, NULL, 101, NULL, &list, &e),
	    IST_ERR_INVAL);
	assert_non_null(strstr(e.msg, "maxResults"));

	assert_int_equal(ist_api_close_tunnel(a, t.tunnel_id, false, &e), 0);
	assert_int_equal(ist_api_describe_tunnel(a, t.tunnel_id, &tun, &e), 0);
	assert_string_equal(cJSON_GetObjectItem(tun, "status")->valuestring,
	    "CLOSED");
	cJSON_Delete(tun);
	assert_int_equal(ist_api_close_tunnel(a, t.tunnel_id, true, &e), 0);

	/* A 4xx with a "prefix#Type": NOTFOUND, the type and a hint. */
	assert_int_equal(ist_api_describe_tunnel(a, t.tunnel_id, &tun, &e),
	    IST_ERR_NOTFOUND);
	assert_null(tun);
	assert_string_equal(e.msg, "DescribeTunnel failed: "
	    "ResourceNotFoundException: tunnel tunnel-0001 not found (check "
	    "the tunnel id and the region)");
	/* Bad input never reaches the wire. */
	assert_int_equal(posts(), 8);
	assert_int_equal(ist_api_describe_tunnel(a, "bad id!", &tun, &e),
	    IST_ERR_INVAL);
	assert_non_null(strstr(e.msg, "tunnelId"));
	cJSON_GetObjectItem(cJSON_GetObjectItem(req, "timeoutConfig"),
	    "maxLifetimeTimeoutMinutes")->valuedouble = 0;
	assert_int_equal(ist_api_open_tunnel(a, req, &rt, &e), IST_ERR_INVAL);
	assert_int_equal(posts(), 8);

	ist_tunnel_tokens_clear(&t);
	assert_null(t.source_access_token);
	cJSON_Delete(req);
	ist_aws_free(a);
}

static void
test_wrong_secret_is_rejected(void **state)
{
	const char *args[] = { "--secret", "another-secret", NULL };
	struct ist_tunnel_tokens t;
	struct ist_aws *a = start(args);
	struct ist_err e;
	cJSON *req = parse(open_req);

	(void)state;
	/* botocore's check fails: proof that the check is real. */
	assert_int_equal(ist_api_open_tunnel(a, req, &t, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "OpenTunnel failed: "
	    "InvalidSignatureException"));
	assert_non_null(strstr(e.msg, "secret access key"));
	assert_int_equal(posts(), 1);
	cJSON_Delete(req);
	ist_aws_free(a);
}

static void
test_retry_then_success(void **state)
{
	const char *args[] = { "--fail", "2:500:InternalServerException",
		NULL };
	struct ist_aws *a = start(args);
	struct ist_err e;
	cJSON *list;

	(void)state;
	assert_int_equal(ist_api_list_tunnels(a, NULL, 0, NULL, &list, &e), 0);
	assert_int_equal(posts(), 3);
	cJSON_Delete(list);
	ist_aws_free(a);
}

static void
test_throttling_exhausts_attempts(void **state)
{
	const char *args[] = { "--fail", "9:400:ThrottlingException", NULL };
	struct ist_aws *a = start(args);
	struct ist_err e;
	cJSON *list;

	(void)state;
	assert_int_equal(ist_api_list_tunnels(a, NULL, 0, NULL, &list, &e),
	    IST_ERR_AWS);
	assert_non_null(strstr(e.msg, "ListTunnels failed: "
	    "ThrottlingException: injected fault"));
	assert_int_equal(posts(), 3);
	ist_aws_free(a);
}

static void
fault_once(const char *fault, int code, const char *want)
{
	const char *args[] = { "--fail", fault, NULL };
	struct ist_tunnel_tokens t;
	struct ist_aws *a = start(args);
	struct ist_err e;
	cJSON *req = parse(open_req);

	assert_int_equal(ist_api_open_tunnel(a, req, &t, &e), code);
	if (!strstr(e.msg, want))
		fail_msg("'%s' not in '%s'", want, e.msg);
	/* 4xx other than throttling: never retried. */
	assert_int_equal(posts(), 1);
	cJSON_Delete(req);
	ist_aws_free(a);
	tu_server_stop(&srv);
}

static void
test_errors_and_hints(void **state)
{
	(void)state;
	fault_once("1:400:AccessDeniedException", IST_ERR_AWS,
	    "OpenTunnel failed: AccessDeniedException: injected fault (the "
	    "credentials need IAM permission iot:OpenTunnel");
	fault_once("1:400:ExpiredTokenException", IST_ERR_CREDS,
	    "refresh your credentials");
	fault_once("1:400:LimitExceededException", IST_ERR_AWS,
	    "close unused tunnels");
	fault_once("1:400:aws.iot#UnrecognizedClientException", IST_ERR_CREDS,
	    "OpenTunnel failed: UnrecognizedClientException: injected fault");
}

static void
test_network_error(void **state)
{
	struct ist_aws_opts o = { .region = "us-east-1" };
	struct ist_aws *a = NULL;
	struct ist_err e;
	cJSON *list;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	/* Port 1 on loopback: connection refused, retried, then reported. */
	o.api_endpoint = "http://127.0.0.1:1";
	assert_int_equal(ist_aws_new(&a, &o, &e), 0);
	assert_int_equal(ist_api_list_tunnels(a, NULL, 0, NULL, &list, &e),
	    IST_ERR_NET);
	assert_non_null(strstr(e.msg, "ListTunnels failed: POST "
	    "http://127.0.0.1:1/"));
	ist_aws_free(a);
	/* TLS to a plain HTTP server: a TLS error, not retried forever. */
	o.api_endpoint = "https://127.0.0.1:1";
	assert_int_equal(ist_aws_new(&a, &o, &e), 0);
	assert_true(ist_api_list_tunnels(a, NULL, 0, NULL, &list, &e) < 0);
	ist_aws_free(a);
}

/* HTTPS_PROXY is used (fakeaws.py plays the proxy too), NO_PROXY too. */
static void
test_proxy(void **state)
{
	const char *noargs[] = { NULL };
	struct ist_aws_opts o = { .region = "us-east-1",
		.api_endpoint = "http://api.example.invalid:8123" };
	struct ist_aws *a = NULL, *direct = start(noargs);
	struct ist_err e;
	char proxy[128], *log;
	cJSON *list;

	(void)state;
	ist_aws_free(direct);
	tu_snprintf(proxy, sizeof(proxy), "http://user:pw@127.0.0.1:%d",
	    srv.port);
	setenv("HTTPS_PROXY", proxy, 1);
	assert_int_equal(ist_aws_new(&a, &o, &e), 0);
	if (ist_api_list_tunnels(a, NULL, 0, NULL, &list, &e) != 0)
		fail_msg("%s", e.msg);
	cJSON_Delete(list);
	ist_aws_free(a);
	log = tu_server_log(&srv);
	/* A proxy request: absolute URL, credentials for the proxy. */
	assert_non_null(strstr(log, "\"path\": "
	    "\"http://api.example.invalid:8123/\""));
	assert_non_null(strstr(log, "\"proxy-authorization\": \"Basic "
	    "dXNlcjpwdw==\""));
	assert_non_null(strstr(log, "\"verify\": null"));
	free(log);
	/* NO_PROXY: direct, so the made-up name does not resolve. */
	setenv("NO_PROXY", ".example.invalid", 1);
	assert_int_equal(ist_aws_new(&a, &o, &e), 0);
	assert_int_equal(ist_api_list_tunnels(a, NULL, 0, NULL, &list, &e),
	    IST_ERR_NET);
	ist_aws_free(a);
	assert_int_equal(posts(), 1);
}

/* Every operation at debug3: no secret in logs or error messages. */
static void
test_no_secret_in_logs(void **state)
{
	const char *noargs[] = { NULL };
	struct tu_capture cap = { 0 };
	struct ist_tunnel_tokens t, rt;
	struct ist_aws *a;
	struct ist_err e;
	cJSON *req = parse(open_req), *tun, *list;

	(void)state;
	ist_log_set_hook(tu_capture_hook, &cap);
	ist_log_set_level(IST_LOG_DEBUG3);
	a = start(noargs);
	assert_int_equal(ist_api_open_tunnel(a, req, &t, &e), 0);
	assert_int_equal(ist_api_describe_tunnel(a, t.tunnel_id, &tun, &e), 0);
	cJSON_Delete(tun);
	assert_int_equal(ist_api_rotate_tunnel_access_token(a, t.tunnel_id,
	    "ALL", NULL, &rt, &e), 0);
	ist_tunnel_tokens_clear(&rt);
	assert_int_equal(ist_api_list_tunnels(a, NULL, 0, NULL, &list, &e), 0);
	cJSON_Delete(list);
	assert_int_equal(ist_api_close_tunnel(a, t.tunnel_id, true, &e), 0);
	assert_int_equal(ist_api_describe_tunnel(a, t.tunnel_id, &tun, &e),
	    IST_ERR_NOTFOUND);
	assert_null(strstr(e.msg, "SECRET"));
	ist_tunnel_tokens_clear(&t);
	ist_log_set_hook(NULL, NULL);
	ist_log_set_level(IST_LOG_ERROR);
	assert_non_null(cap.buf);
	/* debug3 did show the signing steps and answers... */
	assert_non_null(strstr(cap.buf, "canonical request"));
	assert_non_null(strstr(cap.buf, "string to sign"));
	assert_non_null(strstr(cap.buf, "x-amz-security-token:<redacted>"));
	assert_non_null(strstr(cap.buf, "tunnelSummaries"));
	/* ...but no key, session token or tunnel token. */
	if (strstr(cap.buf, "SECRET"))
		fail_msg("secret in logs: %s", strstr(cap.buf, "SECRET") - 40);
	free(cap.buf);
	cJSON_Delete(req);
	ist_aws_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_open_tunnel),
		cmocka_unit_test_setup_teardown(test_operations, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_secret_is_rejected,
		    tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_retry_then_success,
		    tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(
		    test_throttling_exhausts_attempts, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_errors_and_hints,
		    tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_network_error, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_proxy, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_no_secret_in_logs,
		    tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
