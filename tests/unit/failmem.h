/*
 * failmem.h: a struct ist_mem that fails the Nth allocation and counts
 * what is still allocated, for "fails cleanly, leaks nothing" tests.
 * Header-only: each test program includes it once.
 */
#ifndef IST_TEST_FAILMEM_H
#define IST_TEST_FAILMEM_H

#include <stdlib.h>

#include "ist/frame.h"

struct failmem {
	int calls;
	int fail_at;	/* fail the call with this index (0-based) */
	int live;	/* allocations not yet freed */
};

static void *
fail_malloc(size_t size, void *ud)
{
	struct failmem *f = ud;

	if (f->calls++ == f->fail_at)
		return NULL;
	f->live++;
	return malloc(size);
}

static void
fail_free(void *p, void *ud)
{
	struct failmem *f = ud;

	if (p)
		f->live--;
	free(p);
}

#endif
