/*
 * safepath.c: refuse files others could have written (OpenSSH safe_path()).
 * See include/ist/safepath.h for the rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/*
 * Checks every directory above the file named by real (an absolute path
 * from realpath(), without "." or ".."), which it cuts down on the way.
 */
static int
check_dirs(char *real, uid_t uid, struct ist_err *e)
{
	struct stat st;
	char *slash;
	int r;

	for (;;) {
		slash = strrchr(real, '/');
		if (!slash)
			return 0;
		if (slash == real)
			slash[1] = '\0';	/* keep "/" itself */
		else
			*slash = '\0';
		if (stat(real, &st) != 0)
			return ist_err_set(e, IST_ERR_IO, "cannot stat %s: %s",
			    real, strerror(errno));
		r = check_one(real, &st, uid, "directory", e);
		if (r != 0)
			return r;
		if (strcmp(real, "/") == 0)
			return 0;
	}
}

/*
 * For a link at path: *out = "<resolved folder of the link>/x", malloc'd,
 * ready for check_dirs() to check that folder and every one above it.
 */
static int
link_dir(const char *path, char **out, struct ist_err *e)
{
	char *dir = strdup(path), *rd = NULL, *slash;
	const char *d = ".";
	size_t n;
	int r = 0;

	*out = NULL;
	if (!dir)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	slash = strrchr(dir, '/');
	if (slash == dir)
		d = "/";
	else if (slash) {
		*slash = '\0';
		d = dir;
	}
	rd = realpath(d, NULL);
	if (!rd) {
		r = ist_err_set(e, IST_ERR_IO, "cannot resolve %s: %s", d,
		    strerror(errno));
		goto out;
	}
	n = strlen(rd) + 3;
	*out = malloc(n);
	if (!*out) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(*out, n, "%s/x", rd);
out:
	free(dir);
	free(rd);
	return r;
}

int
ist_safepath_check(const char *path, uid_t uid, struct stat *st_out,
    struct ist_err *e)
{
	char *real = NULL, *link = NULL;
	struct stat st, lst;
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
	r = check_dirs(real, uid, e);
	if (r != 0)
		goto out;
	/*
	 * A symbolic link: whoever can write the folder holding it can
	 * point it elsewhere, so that folder (resolved) must be safe too.
	 */
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		r = link_dir(path, &link, e);
		if (r == 0)
			r = check_dirs(link, uid, e);
		if (r != 0)
			goto out;
	}
	if (st_out)
		*st_out = st;
	r = 0;
out:
	free(real);
	free(link);
	return r;
}

int
ist_safepath_read(const char *path, size_t max, char **text, size_t *len,
    struct ist_err *e)
{
	struct stat st, checked;
	size_t got = 0;
	char *buf;
	int fd, r;

	*text = NULL;
	*len = 0;
	r = ist_safepath_check(path, getuid(), &checked, e);
	if (r == IST_ERR_NOTFOUND)
		return 0;
	if (r < 0)
		return r;
	/* Links are followed: the check resolved them, and the inode
	 * comparison below makes sure nothing was swapped in between. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ist_err_set(e, IST_ERR_IO, "%s: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) != 0 || st.st_dev != checked.st_dev ||
	    st.st_ino != checked.st_ino) {
		r = ist_err_set(e, IST_ERR_UNSAFE, "%s changed while it was "
		    "checked: try again", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = ist_err_set(e, IST_ERR_IO, "%s: not a regular file", path);
		goto out;
	}
	if ((uintmax_t)st.st_size > max) {
		r = ist_err_set(e, IST_ERR_IO, "%s: %jd bytes, over the limit "
		    "of %zu for this file", path, (intmax_t)st.st_size, max);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* Up to the size fstat gave: a file growing while read is cut
	 * there, never read past the limit. */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ist_err_set(e, IST_ERR_IO, "%s: %s", path,
			    strerror(errno));
			explicit_bzero(buf, got);
			free(buf);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	r = 1;
out:
	close(fd);
	return r;
}
