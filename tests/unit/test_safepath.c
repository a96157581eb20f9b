/*
 * test_safepath.c: ist_safepath_check() and ist_safepath_read() on real
 * files in a temp folder.
 * The tests run as root, so "another user" is uid 65534 (nobody) set with
 * chown, and bad modes are set with chmod.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ist/safepath.h"

#define OTHER_UID 65534

struct fx {
	char dir[64];		/* /tmp/ist_safepath.XXXXXX, mode 0700 */
	char sub[96];		/* dir/sub */
	char file[128];		/* dir/sub/f.lua, mode 0600 */
};

static void
write_file(const char *path, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs("return 1\n", fp);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ist_safepath.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sub, sizeof(f->sub), "%s/sub", f->dir);
	assert_int_equal(mkdir(f->sub, 0755), 0);
	snprintf(f->file, sizeof(f->file), "%s/f.lua", f->sub);
	write_file(f->file, 0600);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

static void
test_safe_file(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };
	struct stat st, want;

	assert_int_equal(ist_safepath_check(f->file, 0, &st, &e), 0);
	assert_int_equal(stat(f->file, &want), 0);
	assert_int_equal(st.st_ino, want.st_ino);
	/* root-owned files are fine for any user, as in OpenSSH */
	assert_int_equal(ist_safepath_check(f->file, 1000, NULL, &e), 0);
}

static void
test_group_writable_file(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };

	assert_int_equal(chmod(f->file, 0620), 0);
	assert_int_equal(ist_safepath_check(f->file, 0, NULL, &e),
	    IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, f->file));
	assert_non_null(strstr(e.msg, "0620"));
	assert_non_null(strstr(e.msg, "chmod go-w"));
}

static void
test_other_writable_file(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };

	assert_int_equal(chmod(f->file, 0602), 0);
	assert_int_equal(ist_safepath_check(f->file, 0, NULL, &e),
	    IST_ERR_UNSAFE);
}

static void
test_file_of_other_user(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };

	assert_int_equal(chown(f->file, OTHER_UID, OTHER_UID), 0);
	assert_int_equal(ist_safepath_check(f->file, 0, NULL, &e),
	    IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, "ownership"));
	assert_non_null(strstr(e.msg, "65534"));
	/* ...but that user may use it */
	assert_int_equal(ist_safepath_check(f->file, OTHER_UID, NULL, &e), 0);
}

static void
test_writable_parent(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };

	assert_int_equal(chmod(f->sub, 0777), 0);
	assert_int_equal(ist_safepath_check(f->file, 0, NULL, &e),
	    IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, "directory"));
	assert_non_null(strstr(e.msg, f->sub));
	assert_int_equal(chmod(f->sub, 0775), 0);
	assert_int_equal(ist_safepath_check(f->file, 0, NULL, &e),
	    IST_ERR_UNSAFE);
}

static void
test_parent_of_other_user(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };

	assert_int_equal(chown(f->dir, OTHER_UID, 0), 0);
	assert_int_equal(ist_safepath_check(f->file, 0, NULL, &e),
	    IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, f->dir));
}

static void
test_sticky_root_dir_ok(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };

	/* like /tmp: others cannot replace our entries in it */
	assert_int_equal(chmod(f->sub, 01777), 0);
	assert_int_equal(ist_safepath_check(f->file, 0, NULL, &e), 0);
	/* but a sticky folder of another user is not */
	assert_int_equal(chown(f->sub, OTHER_UID, 0), 0);
	assert_int_equal(ist_safepath_check(f->file, 0, NULL, &e),
	    IST_ERR_UNSAFE);
}

static void
test_symlink_to_unsafe(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };
	char link[160];

	snprintf(link, sizeof(link), "%s/link.lua", f->dir);
	assert_int_equal(symlink(f->file, link), 0);
	assert_int_equal(ist_safepath_check(link, 0, NULL, &e), 0);
	assert_int_equal(chmod(f->file, 0666), 0);
	assert_int_equal(ist_safepath_check(link, 0, NULL, &e),
	    IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, f->file));
}

static void
test_symlink_in_unsafe_dir(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };
	char dir[160], link[200];

	/* the file is safe, but others could repoint the link */
	snprintf(dir, sizeof(dir), "%s/open", f->dir);
	assert_int_equal(mkdir(dir, 0777), 0);
	assert_int_equal(chmod(dir, 0777), 0);
	snprintf(link, sizeof(link), "%s/hooks.lua", dir);
	assert_int_equal(symlink(f->file, link), 0);
	assert_int_equal(ist_safepath_check(link, 0, NULL, &e),
	    IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, dir));
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(ist_safepath_check(link, 0, NULL, &e), 0);
	/* a relative link name works too */
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(ist_safepath_check("hooks.lua", 0, NULL, &e), 0);
	assert_int_equal(chmod(dir, 0757), 0);
	assert_int_equal(ist_safepath_check("hooks.lua", 0, NULL, &e),
	    IST_ERR_UNSAFE);
	assert_int_equal(chdir("/"), 0);
}

static void
test_missing_and_not_regular(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };
	char missing[160];

	snprintf(missing, sizeof(missing), "%s/nope.lua", f->sub);
	assert_int_equal(ist_safepath_check(missing, 0, NULL, &e),
	    IST_ERR_NOTFOUND);
	assert_int_equal(ist_safepath_check(f->sub, 0, NULL, &e),
	    IST_ERR_UNSAFE);
	assert_non_null(strstr(e.msg, "not a regular file"));
	assert_int_equal(ist_safepath_check("", 0, NULL, &e), IST_ERR_INVAL);
}

/* ist_safepath_read: the bytes of a safe file, through a safe link too;
 * nothing of a file over the limit, an unsafe one or a missing one. */
static void
test_read(void **state)
{
	struct fx *f = *state;
	struct ist_err e = { 0 };
	char link[160], missing[160], *text = (char *)"x";
	size_t len = 99;

	assert_int_equal(ist_safepath_read(f->file, 9, &text, &len, &e), 1);
	assert_int_equal(len, 9);
	assert_string_equal(text, "return 1\n");
	free(text);

	snprintf(link, sizeof(link), "%s/link.lua", f->sub);
	assert_int_equal(symlink(f->file, link), 0);
	assert_int_equal(ist_safepath_read(link, 64, &text, &len, &e), 1);
	assert_string_equal(text, "return 1\n");
	free(text);

	assert_int_equal(ist_safepath_read(f->file, 8, &text, &len, &e),
	    IST_ERR_IO);
	assert_null(text);
	assert_non_null(strstr(e.msg, f->file));
	assert_non_null(strstr(e.msg, "9 bytes, over the limit of 8"));

	snprintf(missing, sizeof(missing), "%s/nope.lua", f->sub);
	assert_int_equal(ist_safepath_read(missing, 64, &text, &len, &e), 0);
	assert_null(text);

	assert_int_equal(ist_safepath_read(f->sub, 64, &text, &len, &e),
	    IST_ERR_UNSAFE);
	assert_int_equal(chmod(f->file, 0666), 0);
	assert_int_equal(ist_safepath_read(f->file, 64, &text, &len, &e),
	    IST_ERR_UNSAFE);
	assert_null(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_safe_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_writable_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_other_writable_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_of_other_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_writable_parent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_parent_of_other_user,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sticky_root_dir_ok, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_symlink_to_unsafe, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_symlink_in_unsafe_dir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_and_not_regular,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
