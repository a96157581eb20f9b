/*
 * aws_int.h: internals shared by the AWS modules (sigv4.c, creds.c,
 * awsconf.c, http.c, api.c). Not installed.
 */
#ifndef IST_AWS_INT_H
#define IST_AWS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "ist/ist.h"

/*
 * A growable NUL-terminated string with a hard size cap. Once an append
 * fails (cap or allocation), the string stays failed: check dstr_ok() or
 * the result of dstr_take() once at the end instead of after every append.
 */
struct dstr {
	char *s;
	size_t len;
	size_t cap;
	size_t max;
	bool failed;
};

void dstr_init(struct dstr *d, size_t max);
void dstr_addn(struct dstr *d, const char *p, size_t n);
void dstr_add(struct dstr *d, const char *p);
void dstr_addc(struct dstr *d, char c);
void dstr_addf(struct dstr *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool dstr_ok(const struct dstr *d);
/* Returns the malloc'd string (NULL when failed) and resets d. */
char *dstr_take(struct dstr *d);
/* Frees; wipes the bytes first, since it may have held a secret. */
void dstr_free(struct dstr *d);

/* strdup that wipes nothing but checks for NULL input (returns NULL). */
char *aws_strdup(const char *s);
/* explicit_bzero + free of a C string; NULL is fine. */
void aws_free_secret(char *s);
/* Case-insensitive "true" (as the SDKs read boolean settings). */
bool aws_is_true(const char *v);
/* getenv that treats "" as unset. */
const char *aws_getenv(const char *name);

#endif
