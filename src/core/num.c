/* num.c: see ist/num.h. */
#include <errno.h>
#include <stdlib.h>

#include "ist/num.h"

int
ist_num_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}
