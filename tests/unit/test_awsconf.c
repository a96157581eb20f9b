/*
 * test_awsconf.c: region, API and data-plane endpoints, CA file and
 * HTTPS proxy resolution, with the environment and profile files of a
 * temporary HOME.
 */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws_testutil.h"

#include "ist/aws.h"

static struct ist_aws *
new_ok(const struct ist_aws_opts *o)
{
	struct ist_aws *a = NULL;
	struct ist_err e;

	if (ist_aws_new(&a, o, &e) != 0)
		fail_msg("ist_aws_new: %s", e.msg);
	return a;
}

static void
test_region_order(void **state)
{
	struct ist_aws_opts o = { 0 };
	struct ist_aws *a = NULL;
	struct ist_err e;

	(void)state;
	/* None anywhere: a clear error saying where to set one. */
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_null(a);
	assert_non_null(strstr(e.msg, "no AWS region"));
	assert_non_null(strstr(e.msg, "AWS_REGION"));

	tu_write(".aws/config", "[default]\nregion = eu-west-1\n"
	    "[profile p2]\nregion = ap-south-1\n", 0600);
	a = new_ok(&o);
	assert_string_equal(ist_aws_region(a), "eu-west-1");
	assert_string_equal(ist_aws_profile(a), "default");
	ist_aws_free(a);
	o.profile = "p2";
	a = new_ok(&o);
	assert_string_equal(ist_aws_region(a), "ap-south-1");
	ist_aws_free(a);
	setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
	a = new_ok(&o);
	assert_string_equal(ist_aws_region(a), "us-west-1");
	ist_aws_free(a);
	setenv("AWS_REGION", "us-west-2", 1);
	a = new_ok(&o);
	assert_string_equal(ist_aws_region(a), "us-west-2");
	ist_aws_free(a);
	o.region = "ca-central-1";
	a = new_ok(&o);
	assert_string_equal(ist_aws_region(a), "ca-central-1");
	ist_aws_free(a);

	/* Not a region name: refused before it can reach a host name. */
	o.region = "us-east-1.evil.com/";
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "not a region name"));
}

static void
test_api_endpoint(void **state)
{
	struct ist_aws_opts o = { .region = "us-east-1" };
	struct ist_aws *a = NULL;
	struct ist_err e;

	(void)state;
	a = new_ok(&o);
	assert_string_equal(ist_aws_api_endpoint(a),
	    "https://api.tunneling.iot.us-east-1.amazonaws.com");
	ist_aws_free(a);
	o.region = "cn-north-1";
	a = new_ok(&o);
	assert_string_equal(ist_aws_api_endpoint(a),
	    "https://api.tunneling.iot.cn-north-1.amazonaws.com.cn");
	ist_aws_free(a);

	/* FIPS from the profile, and from the environment (which wins). */
	o.region = "us-gov-west-1";
	tu_write(".aws/config", "[default]\nuse_fips_endpoint = true\n", 0600);
	a = new_ok(&o);
	assert_string_equal(ist_aws_api_endpoint(a),
	    "https://api.tunneling.iot-fips.us-gov-west-1.amazonaws.com");
	ist_aws_free(a);
	setenv("AWS_USE_FIPS_ENDPOINT", "false", 1);
	a = new_ok(&o);
	assert_string_equal(ist_aws_api_endpoint(a),
	    "https://api.tunneling.iot.us-gov-west-1.amazonaws.com");
	ist_aws_free(a);
	setenv("AWS_USE_FIPS_ENDPOINT", "TRUE", 1);
	tu_write(".aws/config", "", 0600);
	a = new_ok(&o);
	assert_string_equal(ist_aws_api_endpoint(a),
	    "https://api.tunneling.iot-fips.us-gov-west-1.amazonaws.com");
	ist_aws_free(a);

	/* Overrides, strongest first; http:// allowed; default port gone. */
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:8001/", 1);
	a = new_ok(&o);
	assert_string_equal(ist_aws_api_endpoint(a), "http://127.0.0.1:8001");
	ist_aws_free(a);
	setenv("AWS_ENDPOINT_URL_IOTSECURETUNNELING", "https://localhost:443",
	    1);
	a = new_ok(&o);
	assert_string_equal(ist_aws_api_endpoint(a), "https://localhost");
	ist_aws_free(a);
	o.api_endpoint = "https://[::1]:9443";
	a = new_ok(&o);
	assert_string_equal(ist_aws_api_endpoint(a), "https://[::1]:9443");
	ist_aws_free(a);

	/* Bad overrides name their source. */
	o.api_endpoint = "ftp://x";
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "api_endpoint option"));
	o.api_endpoint = NULL;
	setenv("AWS_ENDPOINT_URL_IOTSECURETUNNELING", "localhost:99999", 1);
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL_IOTSECURETUNNELING"));
	setenv("AWS_ENDPOINT_URL_IOTSECURETUNNELING", "https://h:99999", 1);
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "port"));
}

static void
test_data_endpoint(void **state)
{
	struct ist_aws_opts o = { .region = "eu-central-1" };
	struct ist_endpoint ep;
	struct ist_aws *a = NULL;
	struct ist_err e;

	(void)state;
	a = new_ok(&o);
	assert_int_equal(ist_aws_data_endpoint(a, NULL, &ep, &e), 0);
	assert_string_equal(ep.host,
	    "data.tunneling.iot.eu-central-1.amazonaws.com");
	assert_int_equal(ep.port, 443);
	assert_true(ep.tls);
	assert_string_equal(ep.path, "");
	/* Another region (the agent gets one per notification), cn. */
	assert_int_equal(ist_aws_data_endpoint(a, "cn-northwest-1", &ep, &e),
	    0);
	assert_string_equal(ep.host,
	    "data.tunneling.iot.cn-northwest-1.amazonaws.com.cn");
	assert_int_equal(ist_aws_data_endpoint(a, "bad region", &ep, &e),
	    IST_ERR_CONFIG);
	ist_aws_free(a);

	/* host:port as localproxy takes it: wss. */
	setenv("AWSIOT_TUNNEL_ENDPOINT", "127.0.0.1:8443", 1);
	a = new_ok(&o);
	assert_int_equal(ist_aws_data_endpoint(a, "us-east-1", &ep, &e), 0);
	assert_string_equal(ep.host, "127.0.0.1");
	assert_int_equal(ep.port, 8443);
	assert_true(ep.tls);
	ist_aws_free(a);
	setenv("AWSIOT_TUNNEL_ENDPOINT", "tunnel.example.com", 1);
	a = new_ok(&o);
	assert_int_equal(ist_aws_data_endpoint(a, NULL, &ep, &e), 0);
	assert_string_equal(ep.host, "tunnel.example.com");
	assert_int_equal(ep.port, 443);
	assert_true(ep.tls);
	ist_aws_free(a);
	/* The option wins; ws:// is plain, with a path prefix. */
	o.proxy_endpoint = "ws://localhost:8080/prefix/";
	a = new_ok(&o);
	assert_int_equal(ist_aws_data_endpoint(a, NULL, &ep, &e), 0);
	assert_string_equal(ep.host, "localhost");
	assert_int_equal(ep.port, 8080);
	assert_false(ep.tls);
	assert_string_equal(ep.path, "/prefix");
	ist_aws_free(a);
	o.proxy_endpoint = "wss://[::1]";
	a = new_ok(&o);
	assert_int_equal(ist_aws_data_endpoint(a, NULL, &ep, &e), 0);
	assert_string_equal(ep.host, "::1");
	assert_int_equal(ep.port, 443);
	assert_true(ep.tls);
	ist_aws_free(a);
	o.proxy_endpoint = "https://x";
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "proxy_endpoint option"));
	o.proxy_endpoint = "user:pw@host";
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
}

static void
test_ca_file(void **state)
{
	struct ist_aws_opts o = { .region = "us-east-1" };
	struct ist_aws *a = NULL;
	struct ist_err e;
	char p1[300], p2[300];

	(void)state;
	a = new_ok(&o);
	assert_null(ist_aws_ca_file(a));
	ist_aws_free(a);
	tu_write("a.pem", "x", 0600);
	tu_write("b.pem", "x", 0600);
	tu_snprintf(p1, sizeof(p1), "%s/a.pem", tu_home);
	tu_snprintf(p2, sizeof(p2), "%s/b.pem", tu_home);
	setenv("AWS_CA_BUNDLE", p1, 1);
	a = new_ok(&o);
	assert_string_equal(ist_aws_ca_file(a), p1);
	ist_aws_free(a);
	o.ca_file = p2;
	a = new_ok(&o);
	assert_string_equal(ist_aws_ca_file(a), p2);
	ist_aws_free(a);
	o.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "/nonexistent/ca.pem"));
}

static void
test_proxy(void **state)
{
	struct ist_aws_opts o = { .region = "us-east-1" };
	struct ist_aws *a = NULL;
	struct ist_err e;
	const char *host = "data.tunneling.iot.us-east-1.amazonaws.com";

	(void)state;
	a = new_ok(&o);
	assert_null(ist_aws_proxy_for(a, host));
	ist_aws_free(a);

	setenv("HTTPS_PROXY", "http://user:p%40ss@proxy.corp:3128/", 1);
	a = new_ok(&o);
	assert_string_equal(ist_aws_proxy_for(a, host),
	    "user:p%40ss@proxy.corp:3128");
	ist_aws_free(a);
	/* The lowercase one wins, as in curl and Python; default port. */
	setenv("https_proxy", "proxy2.corp", 1);
	a = new_ok(&o);
	assert_string_equal(ist_aws_proxy_for(a, host), "proxy2.corp:80");
	ist_aws_free(a);

	/* NO_PROXY: suffixes with or without a dot, ports, '*'. */
	setenv("NO_PROXY", "localhost, .example.com,10.0.0.1:443", 1);
	a = new_ok(&o);
	assert_non_null(ist_aws_proxy_for(a, host));
	assert_null(ist_aws_proxy_for(a, "localhost"));
	assert_null(ist_aws_proxy_for(a, "www.example.com"));
	assert_null(ist_aws_proxy_for(a, "example.com"));
	assert_non_null(ist_aws_proxy_for(a, "badexample.com"));
	assert_null(ist_aws_proxy_for(a, "10.0.0.1"));
	assert_non_null(ist_aws_proxy_for(a, "10.0.0.11"));
	ist_aws_free(a);
	setenv("no_proxy", "amazonaws.com", 1);
	a = new_ok(&o);
	assert_null(ist_aws_proxy_for(a, host));
	assert_non_null(ist_aws_proxy_for(a, "localhost"));
	ist_aws_free(a);
	setenv("no_proxy", "*", 1);
	a = new_ok(&o);
	assert_null(ist_aws_proxy_for(a, host));
	ist_aws_free(a);

	setenv("https_proxy", "socks5://p:1080", 1);
	assert_int_equal(ist_aws_new(&a, &o, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "https_proxy"));
}

static void
test_creds_lazy_and_cached(void **state)
{
	struct ist_aws_opts o = { .region = "us-east-1" };
	const struct ist_creds *c1, *c2;
	struct ist_aws *a;
	struct ist_err e;

	(void)state;
	/* No credentials is not an error until they are needed. */
	a = new_ok(&o);
	assert_int_equal(ist_aws_creds(a, &c1, &e), IST_ERR_CREDS);
	setenv("AWS_ACCESS_KEY_ID", "AKIDX", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "sx", 1);
	assert_int_equal(ist_aws_creds(a, &c1, &e), 0);
	assert_string_equal(c1->access_key_id, "AKIDX");
	/* Cached: a change of environment is not seen without expiry. */
	setenv("AWS_ACCESS_KEY_ID", "AKIDY", 1);
	assert_int_equal(ist_aws_creds(a, &c2, &e), 0);
	assert_string_equal(c2->access_key_id, "AKIDX");
	ist_aws_free(a);
}

/* Credentials that expire within 5 minutes are fetched again. */
static void
test_creds_refresh_before_expiry(void **state)
{
	struct ist_aws_opts o = { .region = "us-east-1" };
	const struct ist_creds *c;
	struct ist_aws *a;
	struct ist_err e;
	char cfg[512], runs[300];
	FILE *fp;
	int n = 0;

	(void)state;
	tu_write("proc.sh", "#!/bin/sh\necho x >> \"$HOME/runs\"\n"
	    "exp=$(date -u -d \"+$1 seconds\" +%Y-%m-%dT%H:%M:%SZ)\n"
	    "echo \"{\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"A\\\", "
	    "\\\"SecretAccessKey\\\": \\\"S\\\", \\\"Expiration\\\": "
	    "\\\"$exp\\\"}\"\n", 0700);
	tu_snprintf(cfg, sizeof(cfg), "[default]\ncredential_process = "
	    "%s/proc.sh 120\n[profile long]\ncredential_process = "
	    "%s/proc.sh 3600\n", tu_home, tu_home);
	tu_write(".aws/config", cfg, 0600);
	tu_snprintf(runs, sizeof(runs), "%s/runs", tu_home);

	a = new_ok(&o);
	assert_int_equal(ist_aws_creds(a, &c, &e), 0);
	assert_true(c->expiration > time(NULL));
	assert_int_equal(ist_aws_creds(a, &c, &e), 0);
	ist_aws_free(a);
	o.profile = "long";
	a = new_ok(&o);
	assert_int_equal(ist_aws_creds(a, &c, &e), 0);
	assert_int_equal(ist_aws_creds(a, &c, &e), 0);
	ist_aws_free(a);
	/* 2 runs for the short-lived ones, 1 for the long-lived ones. */
	fp = fopen(runs, "r");
	assert_non_null(fp);
	while (fgetc(fp) == 'x') {
		n++;
		(void)fgetc(fp);
	}
	fclose(fp);
	assert_int_equal(n, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_region_order, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_api_endpoint, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_data_endpoint, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_ca_file, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_proxy, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(
		    test_creds_refresh_before_expiry, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_creds_lazy_and_cached,
		    tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
