/* test_num.c: ist_num_parse_long refuses what atoi would let through. */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ist/num.h"

static void
test_accepts_in_range(void **state)
{
	long v = 0;

	(void)state;
	assert_int_equal(ist_num_parse_long("22", 1, 65535, &v), 0);
	assert_int_equal(v, 22);
	assert_int_equal(ist_num_parse_long("65535", 1, 65535, &v), 0);
	assert_int_equal(v, 65535);
	assert_int_equal(ist_num_parse_long("-3", -5, 5, &v), 0);
	assert_int_equal(v, -3);
}

static void
test_refuses_junk_range_overflow(void **state)
{
	static const char *bad[] = { "", "x", "22x", "2 2", "65536", "0",
	    "99999999999999999999999", "1.5" };
	long v = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ist_num_parse_long(bad[i], 1, 65535, &v), -1);
		assert_int_equal(v, 7); /* untouched */
	}
	assert_int_equal(ist_num_parse_long("9223372036854775808", 0,
	    LONG_MAX, &v), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_in_range),
		cmocka_unit_test(test_refuses_junk_range_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
