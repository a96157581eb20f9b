/*
 * fuzz_frame.c: the frame decoder over arbitrary bytes and chunkings.
 *
 * Input: byte 0 picks the chunk size (1..256, or whole), the rest is the
 * tunnel byte stream. Every decoded message must encode again and decode
 * to the same fields; the decoder must never run out of its arena, never
 * read past the input and never take more than it was given.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ist/frame.h"

/* An oracle failed: say which one, then crash for libFuzzer. */
#define FAIL() do { \
	fprintf(stderr, "%s:%d: oracle failed\n", __FILE__, __LINE__); \
	abort(); \
} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t enc[IST_MAX_FRAME];

static void
same(const struct ist_msg *a, const struct ist_msg *b)
{
	if (a->type != b->type || a->stream_id != b->stream_id ||
	    a->ignorable != b->ignorable || a->payload_len != b->payload_len ||
	    a->connection_id != b->connection_id ||
	    a->n_available != b->n_available)
		FAIL();
	if (a->payload_len && memcmp(a->payload, b->payload, a->payload_len))
		FAIL();
	if (!a->service_id != !b->service_id)
		FAIL();
	if (a->service_id && strcmp(a->service_id, b->service_id))
		FAIL();
	for (size_t i = 0; i < a->n_available; i++)
		if (strcmp(a->available[i], b->available[i]))
			FAIL();
}

/* Encodes m and decodes it with a fresh decoder: same fields back. */
static void
roundtrip(const struct ist_msg *m)
{
	struct ist_frame_decoder *d = NULL;
	struct ist_msg back;
	struct ist_err e;
	size_t used;
	int n, r;

	n = ist_frame_encode(m, enc, sizeof(enc));
	if (n < 0) {
		/* Re-encoding drops unknown fields and duplicates but writes
		 * negative ints as 10-byte varints, so it may grow past the
		 * limit; nothing else may be refused. */
		if (n == IST_ERR_TOOBIG && ist_frame_size(m) > IST_MAX_FRAME)
			return;
		FAIL();
	}
	if ((size_t)n != ist_frame_size(m))
		FAIL();
	if (ist_frame_decoder_new(&d) < 0)
		FAIL();
	r = ist_frame_decoder_feed(d, enc, (size_t)n, &used, &back, &e);
	if (r != 1 || used != (size_t)n || back.has_unknown_fields)
		FAIL();
	same(m, &back);
	ist_frame_decoder_free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ist_frame_decoder *d = NULL;
	struct ist_msg m;
	struct ist_err e;
	size_t chunk, used, n;
	int r;

	if (size < 1)
		return 0;
	chunk = data[0] ? data[0] : size;
	data++;
	size--;
	if (ist_frame_decoder_new(&d) < 0)
		FAIL();
	while (size > 0) {
		n = size < chunk ? size : chunk;
		/* A copy of exactly n bytes, so ASan sees any overread. */
		uint8_t *piece = malloc(n);

		if (!piece)
			FAIL();
		memcpy(piece, data, n);
		r = ist_frame_decoder_feed(d, piece, n, &used, &m, &e);
		if (used > n)
			FAIL();
		if (r == 1)
			roundtrip(&m);
		free(piece);
		if (r < 0) {
			if (e.code != r || !e.msg[0])
				FAIL();
			if (strstr(e.msg, "bytes of memory"))
				FAIL(); /* the arena bound is wrong */
			break;
		}
		if (r == 0 && used != n)
			FAIL();
		data += used;
		size -= used;
	}
	ist_frame_decoder_free(d);
	return 0;
}
