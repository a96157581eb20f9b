/* awsutil.c: the small string helpers the AWS modules share. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "aws_int.h"

void
dstr_init(struct dstr *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
}

static bool
dstr_grow(struct dstr *d, size_t extra)
{
	size_t need, ncap;
	char *n;

	if (d->failed)
		return false;
	if (extra > d->max || d->len + extra + 1 > d->max) {
		d->failed = true;
		return false;
	}
	need = d->len + extra + 1;
	if (need <= d->cap)
		return true;
	ncap = d->cap ? d->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > d->max)
		ncap = d->max;
	/* Not realloc: the old bytes may be a secret, so wipe them. */
	n = malloc(ncap);
	if (!n) {
		d->failed = true;
		return false;
	}
	if (d->s) {
		memcpy(n, d->s, d->len + 1);
		explicit_bzero(d->s, d->cap);
		free(d->s);
	}
	d->s = n;
	d->cap = ncap;
	return true;
}

void
dstr_addn(struct dstr *d, const char *p, size_t n)
{
	if (!dstr_grow(d, n))
		return;
	memcpy(d->s + d->len, p, n);
	d->len += n;
	d->s[d->len] = '\0';
}

void
dstr_add(struct dstr *d, const char *p)
{
	dstr_addn(d, p, strlen(p));
}

void
dstr_addc(struct dstr *d, char c)
{
	dstr_addn(d, &c, 1);
}

void
dstr_addf(struct dstr *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		d->failed = true;
		return;
	}
	if (!dstr_grow(d, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(d->s + d->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	d->len += (size_t)n;
}

bool
dstr_ok(const struct dstr *d)
{
	return !d->failed;
}

char *
dstr_take(struct dstr *d)
{
	char *s;

	if (d->failed) {
		dstr_free(d);
		return NULL;
	}
	if (!d->s && !dstr_grow(d, 0))
		return NULL;
	if (!d->s)
		return NULL;
	s = d->s;
	s[d->len] = '\0';
	d->s = NULL;
	d->len = d->cap = 0;
	return s;
}

void
dstr_free(struct dstr *d)
{
	if (d->s) {
		explicit_bzero(d->s, d->cap);
		free(d->s);
	}
	d->s = NULL;
	d->len = d->cap = 0;
}

char *
aws_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void
aws_free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

bool
aws_is_true(const char *v)
{
	return v && strcasecmp(v, "true") == 0;
}

const char *
aws_getenv(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

void
ist_creds_clear(struct ist_creds *c)
{
	if (!c)
		return;
	aws_free_secret(c->access_key_id);
	aws_free_secret(c->secret_access_key);
	aws_free_secret(c->session_token);
	memset(c, 0, sizeof(*c));
}

long
aws_ms_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start->tv_sec) * 1000 +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Full jitter: a random wait in [0, min(20 s, 2^(attempt-1) s)). */
void
aws_backoff(int attempt, long left_ms)
{
	unsigned int rnd = 0;
	long cap = 1000L << (attempt - 1), ms;
	struct timespec ts;

	if (cap > 20000)
		cap = 20000;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (unsigned int)time(NULL);
	ms = (long)(rnd % (unsigned long)cap);
	if (ms > left_ms)
		ms = left_ms > 0 ? left_ms : 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0)
		;
}

void
aws_clean_copy(char *dst, size_t n, const char *s)
{
	size_t o = 0;

	for (; s && *s && o + 1 < n; s++)
		dst[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	dst[o] = '\0';
}
