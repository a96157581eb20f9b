/*
 * test_credproc_hang.c: bug (issue 13, item 3): a credential_process
 * that closes its stdout and keeps running was waited for without a
 * deadline. The documented 60 s limit holds there too: the process and
 * its group are killed, and the error says so. (This test takes the
 * limit's full minute, which is why it has a file of its own.)
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
test_credential_process_closes_stdout_and_hangs(void **state)
{
	struct ist_creds c;
	struct ist_err e;
	char cfg[1024], marker[300];
	struct timespec t0, t1;

	(void)state;
	/* Prints valid credentials, closes stdout, then runs on; a child
	 * of its own would write the marker if it outlived the kill. */
	tu_write("proc.sh", "#!/bin/sh\n"
	    "echo '{\"Version\": 1, \"AccessKeyId\": \"A\", "
	    "\"SecretAccessKey\": \"S\"}'\n"
	    "exec >&-\n"
	    "(sleep 75; echo late > \"$HOME/late\") &\n"
	    "sleep 90\n", 0700);
	/* "exec": else the "sh -c" around it keeps the pipe open. */
	tu_snprintf(cfg, sizeof(cfg), "[default]\ncredential_process = "
	    "exec %s/proc.sh\n", tu_home);
	tu_write(".aws/config", cfg, 0600);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ist_creds_resolve(NULL, &c, &e), IST_ERR_TIMEOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_non_null(strstr(e.msg, "closed its output but did not exit in "
	    "60 s: killed it"));
	/* A deadline, not a timing assert: it did return before the
	 * process's own 90 s. */
	assert_true(t1.tv_sec - t0.tv_sec < 85);
	{
		struct timespec ts = { 16, 0 };

		nanosleep(&ts, NULL); /* past the child's 75 s */
	}
	tu_snprintf(marker, sizeof(marker), "%s/late", tu_home);
	assert_int_equal(access(marker, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_credential_process_closes_stdout_and_hangs, tu_setup,
		    tu_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
