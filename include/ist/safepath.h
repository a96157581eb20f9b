/*
 * safepath.h: refuse files that another user could have written, in the
 * manner of OpenSSH's safe_path() (misc.c) and StrictModes.
 *
 * A path is safe for uid when, after resolving symbolic links:
 *  - it is a regular file owned by uid or root, not writable by group or
 *    others;
 *  - every directory above it, up to and including "/", is owned by uid or
 *    root and is not writable by group or others;
 *  - when path itself is a symbolic link, so is the directory holding the
 *    link and every one above it (whoever can write there can repoint
 *    it). Links in the middle of path are only resolved.
 * Differences from OpenSSH: the link rule; and a directory writable by
 * others is accepted when it is owned by root and has the sticky bit
 * (/tmp): there, others can neither rename nor remove an entry that is
 * not theirs, and the next level is checked for its own owner anyway.
 */
#ifndef IST_SAFEPATH_H
#define IST_SAFEPATH_H

#include <sys/stat.h>
#include <sys/types.h>

#include "ist/ist.h"

/*
 * Checks path for uid. Returns 0 when safe, IST_ERR_UNSAFE with the reason
 * (naming the offending file or directory, its owner or mode, and what to
 * do), IST_ERR_NOTFOUND when path does not exist, IST_ERR_IO when it cannot
 * be examined. When st is not NULL it receives the stat of the checked
 * file, so that a caller can open the file and compare st_dev/st_ino with
 * fstat() to make sure it read what was checked.
 */
int ist_safepath_check(const char *path, uid_t uid, struct stat *st,
    struct ist_err *e);

/*
 * Reads the whole of a small file that must be safe for the caller's uid
 * (ist_safepath_check), making sure the file read is the file checked.
 * Returns 1 with *text (NUL-terminated, *len bytes; it may hold secrets:
 * explicit_bzero it before free) when read, 0 with *text NULL when path
 * does not exist, IST_ERR_UNSAFE, or IST_ERR_IO when it cannot be opened
 * or read, is not a regular file, or is over max bytes (the message names
 * the path and the limit; nothing is read then).
 */
int ist_safepath_read(const char *path, size_t max, char **text,
    size_t *len, struct ist_err *e);

#endif
