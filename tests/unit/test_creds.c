/*
 * test_creds.c: the credential chain, each source for real: a temporary
 * HOME with shared files, credential_process shell scripts, and
 * fakeaws.py as the container endpoint and as IMDSv2.
 */
#define _GNU_SOURCE 1
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "aws_testutil.h"

#include "ist/aws.h"

static void
test_env(void **state)
{
	struct ist_creds c;
	struct ist_err e;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
	setenv("AWS_SESSION_TOKEN", "env-token", 1);
	/* A profile in the files must lose against the environment. */
	tu_write(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\n"
	    "aws_secret_access_key = file-secret\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDENV");
	assert_string_equal(c.secret_access_key, "env-secret");
	assert_string_equal(c.session_token, "env-token");
	assert_string_equal(c.source, "environment");
	ist_creds_clear(&c);
	assert_null(c.access_key_id);

	/* Half of the pair is an error saying which is missing. */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "AWS_SECRET_ACCESS_KEY"));
}

static void
test_profile_option_skips_env(void **state)
{
	struct ist_creds c;
	struct ist_err e;

	(void)state;
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
	tu_write(".aws/credentials", "[work]\naws_access_key_id = AKIDWORK\n"
	    "aws_secret_access_key = work-secret\n", 0600);
	/* As the SDKs: an explicit profile option skips the environment. */
	assert_int_equal(ist_creds_resolve("work", &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDWORK");
	assert_null(c.session_token);
	assert_non_null(strstr(c.source, "work"));
	ist_creds_clear(&c);
	/* AWS_PROFILE does not: the environment's keys still win. */
	setenv("AWS_PROFILE", "work", 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDENV");
	ist_creds_clear(&c);
}

static void
test_shared_files(void **state)
{
	struct ist_creds c;
	struct ist_err e;
	char path[300];

	(void)state;
	/* Config-file keys, under [profile NAME]; comments and case. */
	tu_write(".aws/config", "# comment\n[default]\nregion = eu-west-1\n\n"
	    "[profile dev]\n; other comment\nAWS_ACCESS_KEY_ID = AKIDDEV\n"
	    "aws_secret_access_key=dev-secret\naws_session_token : dev-tok\n"
	    "s3 =\n  max_concurrent_requests = 4\n", 0600);
	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDDEV");
	assert_string_equal(c.secret_access_key, "dev-secret");
	assert_string_equal(c.session_token, "dev-tok");
	assert_non_null(strstr(c.source, "config"));
	ist_creds_clear(&c);

	/* The credentials file wins over the config file for one profile. */
	tu_write(".aws/credentials", "[dev]\naws_access_key_id = AKIDCRED\n"
	    "aws_secret_access_key = cred-secret\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDCRED");
	assert_null(c.session_token);
	ist_creds_clear(&c);

	/* AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE move them. */
	tu_write("other-creds", "[dev]\naws_access_key_id = AKIDOTHER\n"
	    "aws_secret_access_key = other-secret\n", 0600);
	tu_snprintf(path, sizeof(path), "%s/other-creds", tu_home);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDOTHER");
	ist_creds_clear(&c);

	/* A named profile that exists nowhere is an error naming files. */
	setenv("AWS_PROFILE", "nope", 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "'nope'"));
	assert_non_null(strstr(e.msg, "other-creds"));
}

static void
test_malformed_files(void **state)
{
	struct ist_creds c;
	struct ist_err e;

	(void)state;
	tu_write(".aws/credentials", "[default]\naws_access_key_id = A\n"
	    "this line is wrong\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "/.aws/credentials:3:"));
	assert_null(c.access_key_id);

	tu_write(".aws/credentials", "aws_access_key_id = A\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "credentials:1: setting before"));

	tu_write(".aws/credentials", "", 0600);
	tu_write(".aws/config", "[default]\nregion = x\n[default\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "/.aws/config:3:"));

	tu_write(".aws/config", "[default]\nregion = x\n[default]\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "config:3: section [default] repeats"));

	/* A key without its secret names the file and the section. */
	tu_write(".aws/config", "", 0600);
	tu_write(".aws/credentials", "[default]\naws_access_key_id = A\n",
	    0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CONFIG);
	assert_non_null(strstr(e.msg, "aws_secret_access_key"));
	assert_non_null(strstr(e.msg, "credentials"));
}

/* Files others can write are refused: they can hold a command we run. */
static void
test_unsafe_files(void **state)
{
	struct ist_creds c;
	struct ist_err e;

	(void)state;
	tu_write(".aws/config", "[default]\ncredential_process = /bin/true\n",
	    0664);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, "/.aws/config"));
	assert_null(c.access_key_id);
	tu_write(".aws/config", "", 0600);
	tu_write(".aws/credentials", "[default]\naws_access_key_id = A\n"
	    "aws_secret_access_key = S\n", 0606);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, "/.aws/credentials"));
	assert_int_equal(chmod(tu_home, 0777), 0);
	tu_write(".aws/credentials", "[default]\naws_access_key_id = A\n"
	    "aws_secret_access_key = S\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_UNSAFE);
	assert_int_equal(chmod(tu_home, 0700), 0);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	ist_creds_clear(&c);
}

static void
write_process(const char *script, const char *profile_extra)
{
	char cfg[1024];

	tu_write("proc.sh", script, 0700);
	tu_snprintf(cfg, sizeof(cfg), "[default]\ncredential_process = "
	    "\"%s/proc.sh\" --arg 'with space'\n%s", tu_home, profile_extra);
	tu_write(".aws/config", cfg, 0600);
}

static void
test_credential_process(void **state)
{
	struct ist_creds c;
	struct ist_err e;
	char marker[300];

	(void)state;
	/* Run through /bin/sh -c: quoting and arguments work as in a shell. */
	write_process("#!/bin/sh\n[ \"$2\" = 'with space' ] || exit 7\n"
	    "echo 'ran' > \"$HOME/ran\"\n"
	    "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", '\n"
	    "printf '\"SecretAccessKey\": \"proc-secret\", '\n"
	    "printf '\"SessionToken\": \"proc-token\", '\n"
	    "printf '\"Expiration\": \"2099-01-02T03:04:05Z\"}'\n", "");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDPROC");
	assert_string_equal(c.secret_access_key, "proc-secret");
	assert_string_equal(c.session_token, "proc-token");
	assert_int_equal((long long)c.expiration, 4071006245LL);
	assert_non_null(strstr(c.source, "credential_process"));
	tu_snprintf(marker, sizeof(marker), "%s/ran", tu_home);
	assert_int_equal(access(marker, F_OK), 0);
	ist_creds_clear(&c);

	/* Static keys in the credentials file come before the process. */
	tu_write(".aws/credentials", "[default]\naws_access_key_id = AKIDS\n"
	    "aws_secret_access_key = s\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDS");
	ist_creds_clear(&c);
	tu_write(".aws/credentials", "", 0600);

	/* Expired credentials are refused. */
	write_process("#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": "
	    "\"A\", \"SecretAccessKey\": \"S\", \"Expiration\": "
	    "\"2001-01-01T00:00:00Z\"}'\n", "");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "expired"));

	/* A failing process: its status, never its output. */
	write_process("#!/bin/sh\necho '{\"SecretAccessKey\": \"leak\"}'\n"
	    "exit 3\n", "");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "exit status 3"));
	assert_null(strstr(e.msg, "leak"));

	/* Output that is not JSON, or not Version 1. */
	write_process("#!/bin/sh\necho 'AKID secret-not-json'\n", "");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "not a JSON object"));
	assert_null(strstr(e.msg, "secret-not-json"));
	write_process("#!/bin/sh\necho '{\"Version\": 2, \"AccessKeyId\": "
	    "\"A\", \"SecretAccessKey\": \"S\"}'\n", "");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "\"Version\": 1"));
	write_process("#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": "
	    "\"A\"}'\n", "");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "SecretAccessKey"));
	/* A command that does not exist: the shell's status 127. */
	tu_write(".aws/config", "[default]\ncredential_process = "
	    "/nonexistent/helper\n", 0600);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "exit status 127"));
}

static void
test_container(void **state)
{
	const char *args[] = { "--container-auth", "Bearer ctr-auth-SECRET",
		NULL };
	struct tu_server s;
	struct ist_creds c;
	struct ist_err e;
	char url[128], *log;

	(void)state;
	tu_server_start(&s, args);
	tu_snprintf(url, sizeof(url), "%s/creds", s.url);
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
	/* Without the token the endpoint answers 401. */
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "HTTP 401"));

	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer ctr-auth-SECRET",
	    1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "ASIAFAKEMETADATA");
	assert_string_equal(c.session_token,
	    "metadata-session-token-SECRET-88");
	assert_true(c.expiration > 0);
	assert_string_equal(c.source, "container credentials");
	ist_creds_clear(&c);

	/* The token file wins over the variable; trailing newline trimmed. */
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong", 1);
	tu_write("token", "Bearer ctr-auth-SECRET\n", 0600);
	tu_snprintf(url, sizeof(url), "%s/token", tu_home);
	setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", url, 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	ist_creds_clear(&c);
	log = tu_server_log(&s);
	assert_int_equal(tu_count(log, "\"authorization\": \"Bearer "
	    "ctr-auth-SECRET\""), 2);
	free(log);

	/* FULL_URI over plain http only to loopback or the agent address. */
	setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/c",
	    1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "loopback"));
	tu_server_stop(&s);

	/* RELATIVE_URI goes to the ECS agent address, 169.254.170.2. */
	unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x",
	    1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg,
	    "http://169.254.170.2/v2/credentials/x"));
}

static void
test_imds(void **state)
{
	const char *noargs[] = { NULL };
	const char *norole[] = { "--no-role", NULL };
	const char *v1[] = { "--imds-v1-only", NULL };
	struct tu_server s;
	struct ist_creds c;
	struct ist_err e;
	char *log, *put, *get;

	(void)state;
	tu_server_start(&s, noargs);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.url, 1);
	/* Disabled: not even asked. */
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "disabled by AWS_EC2_METADATA_DISABLED"));
	log = tu_server_log(&s);
	assert_string_equal(log, "");
	free(log);

	unsetenv("AWS_EC2_METADATA_DISABLED");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "ASIAFAKEMETADATA");
	assert_string_equal(c.secret_access_key,
	    "metadata-secret-key-SECRET-77");
	assert_non_null(strstr(c.source, "test-role"));
	ist_creds_clear(&c);
	/* IMDSv2: the PUT for a token came first, then GETs with it. */
	log = tu_server_log(&s);
	put = strstr(log, "\"method\": \"PUT\", \"path\": "
	    "\"/latest/api/token\"");
	get = strstr(log, "\"method\": \"GET\"");
	assert_non_null(put);
	assert_non_null(get);
	assert_true(put < get);
	assert_int_equal(tu_count(log, "\"x-aws-ec2-metadata-token\": "
	    "\"imds-session-token-SECRET-5d8f\""), 2);
	free(log);
	tu_server_stop(&s);

	/* An instance without a role: a miss, listed in the final error. */
	tu_server_start(&s, norole);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.url, 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "no IAM role"));
	tu_server_stop(&s);

	/* IMDSv1 only: never fall back to token-less requests. */
	tu_server_start(&s, v1);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.url, 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "no IMDSv2 token"));
	log = tu_server_log(&s);
	assert_int_equal(tu_count(log, "\"method\": \"GET\""), 0);
	free(log);
	tu_server_stop(&s);
}

static void
test_nothing_found_lists_sources(void **state)
{
	struct ist_creds c;
	struct ist_err e;

	(void)state;
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_CREDS);
	assert_non_null(strstr(e.msg, "environment"));
	assert_non_null(strstr(e.msg, "profile default"));
	assert_non_null(strstr(e.msg, "/.aws/credentials"));
	assert_non_null(strstr(e.msg, "/.aws/config"));
	assert_non_null(strstr(e.msg, "container credentials"));
	assert_non_null(strstr(e.msg, "EC2 instance metadata"));
}

/* Every source, at the highest verbosity: no secret in any log line. */
static void
test_no_secret_in_logs(void **state)
{
	const char *noargs[] = { NULL };
	struct tu_capture cap = { 0 };
	struct tu_server s;
	struct ist_creds c;
	struct ist_err e;

	(void)state;
	ist_log_set_hook(tu_capture_hook, &cap);
	ist_log_set_level(IST_LOG_DEBUG3);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "env-secret-SECRET", 1);
	setenv("AWS_SESSION_TOKEN", "env-token-SECRET", 1);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	ist_creds_clear(&c);
	tu_clear_env();
	setenv("HOME", tu_home, 1);
	write_process("#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": "
	    "\"A\", \"SecretAccessKey\": \"proc-SECRET\", \"SessionToken\": "
	    "\"proc-tok-SECRET\"}'\n", "");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	ist_creds_clear(&c);
	tu_write(".aws/config", "", 0600);
	tu_server_start(&s, noargs);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", s.url, 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), 0);
	ist_creds_clear(&c);
	tu_server_stop(&s);
	ist_log_set_hook(NULL, NULL);
	ist_log_set_level(IST_LOG_ERROR);
	assert_non_null(cap.buf);
	/* The logs did say something about each source... */
	assert_non_null(strstr(cap.buf, "credential_process"));
	assert_non_null(strstr(cap.buf, "EC2 instance metadata"));
	/* ...and nothing secret. */
	assert_null(strstr(cap.buf, "SECRET"));
	free(cap.buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_env, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_profile_option_skips_env,
		    tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_shared_files, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_files, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_unsafe_files, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_credential_process,
		    tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_container, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(test_imds, tu_setup,
		    tu_teardown),
		cmocka_unit_test_setup_teardown(
		    test_nothing_found_lists_sources, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_no_secret_in_logs,
		    tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
