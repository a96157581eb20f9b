/* test_err.c: error codes, messages and the log hook. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ist/ist.h"

static void
test_set_returns_code_and_formats(void **state)
{
	struct ist_err e;

	(void)state;
	assert_int_equal(ist_err_set(&e, IST_ERR_PROTO, "stream %d", 7),
	    IST_ERR_PROTO);
	assert_int_equal(e.code, IST_ERR_PROTO);
	assert_string_equal(e.msg, "stream 7");
	assert_int_equal(ist_err_prefix(&e, "session %s", "x"), IST_ERR_PROTO);
	assert_string_equal(e.msg, "session x: stream 7");
	assert_int_equal(ist_err_set(NULL, IST_ERR_IO, "x"), IST_ERR_IO);
}

static void
test_every_code_has_text(void **state)
{
	(void)state;
	for (int c = 0; c >= IST_ERR_UNSUPPORTED; c--)
		assert_string_not_equal(ist_strerror(c), "unknown error");
	assert_string_equal(ist_strerror(-999), "unknown error");
}

struct seen {
	int n;
	int level;
	char msg[64];
};

static void
hook(int level, const char *msg, void *ud)
{
	struct seen *s = ud;

	s->n++;
	s->level = level;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

static void
test_log_level_filters(void **state)
{
	struct seen s = { 0 };

	(void)state;
	ist_log_set_hook(hook, &s);
	ist_log_set_level(IST_LOG_ERROR);
	ist_debug("hidden %d", 1);
	assert_int_equal(s.n, 0);
	ist_error("shown %d", 2);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.msg, "shown 2");
	ist_log_set_level(IST_LOG_DEBUG3 + 5);
	assert_int_equal(ist_log_get_level(), IST_LOG_DEBUG3);
	ist_debug3("deep");
	assert_int_equal(s.level, IST_LOG_DEBUG3);
	ist_log_set_hook(NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_returns_code_and_formats),
		cmocka_unit_test(test_every_code_has_text),
		cmocka_unit_test(test_log_level_filters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
