/*
 * safepath.c: refuse files others could have written (OpenSSH safe_path()).
 * See include/ist/safepath.h for the rules.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ist/safepath.h"

/* Checks one file or directory. what is "file" or "directory". */
static int
check_one(const char *name, const struct stat *st, uid_t uid,
    const char *what, struct ist_err *e)
{
	if (st->st_uid != uid && st->st_uid != 0)
		return ist_err_set(e, IST_ERR_UNSAFE,
		    "bad ownership of %s %s: owned by uid %lu, not by you "
		    "(uid %lu) or root; chown it", what, name,
		    (unsigned long)st->st_uid, (unsigned long)uid);
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return 0;
	/* A root-owned sticky directory (/tmp): others cannot replace our
	 * entries in it, and the entry below is checked on its own. */
	if (S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) && st->st_uid == 0)
		return 0;
	return ist_err_set(e, IST_ERR_UNSAFE,
	    "bad modes for %s %s: mode %04o lets group or others write it; "
	    "run chmod go-w on it", what, name,
	    (unsigned int)(st->st_mode & 07777));
}

int
ist_safepath_check(const char *path, uid_t uid, struct stat *st_out,
    struct ist_err *e)
{
	char *real = NULL;
	struct stat st;
	char *slash;
	int r;

	if (!path || !*path)
		return ist_err_set(e, IST_ERR_INVAL, "empty path");
	real = realpath(path, NULL);
	if (!real) {
		if (errno == ENOENT || errno == ENOTDIR)
			return ist_err_set(e, IST_ERR_NOTFOUND,
			    "%s: no such file", path);
		return ist_err_set(e, IST_ERR_IO, "cannot resolve %s: %s",
		    path, strerror(errno));
	}
	if (stat(real, &st) != 0) {
		r = ist_err_set(e, IST_ERR_IO, "cannot stat %s: %s", real,
		    strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = ist_err_set(e, IST_ERR_UNSAFE, "%s is not a regular file",
		    real);
		goto out;
	}
	r = check_one(real, &st, uid, "file", e);
	if (r != 0)
		goto out;
	if (st_out)
		*st_out = st;

	/* Walk up: realpath gave an absolute path without "." or "..". */
	for (;;) {
		struct stat dst;

		slash = strrchr(real, '/');
		if (!slash)
			break;
		if (slash == real)
			slash[1] = '\0';	/* keep "/" itself */
		else
			*slash = '\0';
		if (stat(real, &dst) != 0) {
			r = ist_err_set(e, IST_ERR_IO, "cannot stat %s: %s",
			    real, strerror(errno));
			goto out;
		}
		r = check_one(real, &dst, uid, "directory", e);
		if (r != 0)
			goto out;
		if (strcmp(real, "/") == 0)
			break;
	}
	r = 0;
out:
	free(real);
	return r;
}
