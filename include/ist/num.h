/*
 * num.h: numbers from command lines and configuration, parsed one way
 * for every program (no atoi: junk, overflow and range are errors).
 */
#ifndef IST_NUM_H
#define IST_NUM_H

/*
 * The whole of s as a decimal long in [lo, hi] into *out. Returns 0, or
 * -1 (and leaves *out alone) for an empty string, trailing characters,
 * overflow or a value out of range.
 */
int ist_num_parse_long(const char *s, long lo, long hi, long *out);

#endif
