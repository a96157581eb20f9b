/*
 * fuzz_frame.c: the frame decoder over arbitrary bytes and chunkings.
 *
 * Input: byte 0 picks the chunk size (1..256, or whole), the rest is the
 * tunnel byte stream. Every decoded message must encode again and decode
 * to the same fields; the decoder must never run out of its arena, never
 * read past the input and never take more than it was given; and feeding
 * the input whole must give the same messages and the same error.
 */
#include <stdbool.h>
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

/* What is kept of each message to compare two chunkings. */
struct rec {
	int n;
	int last;		/* the final return code */
	struct {
		int type;
		int32_t stream_id;
		size_t payload_len;
		uint32_t connection_id;
		size_t n_available;
		uint8_t first, end;
	} m[64];
};

static void
record(struct rec *rc, const struct ist_msg *m)
{
	if (rc->n == 64)
		return;
	rc->m[rc->n].type = m->type;
	rc->m[rc->n].stream_id = m->stream_id;
	rc->m[rc->n].payload_len = m->payload_len;
	rc->m[rc->n].connection_id = m->connection_id;
	rc->m[rc->n].n_available = m->n_available;
	rc->m[rc->n].first = m->payload_len ? m->payload[0] : 0;
	rc->m[rc->n].end = m->payload_len ? m->payload[m->payload_len - 1] :
	    0;
	rc->n++;
}

/* Decodes data fed chunk bytes at a time. */
static void
run(const uint8_t *data, size_t size, size_t chunk, bool check,
    struct rec *rc)
{
	struct ist_frame_decoder *d = NULL;
	struct ist_msg m;
	struct ist_err e;
	size_t used, n;
	int r = 0;

	memset(rc, 0, sizeof(*rc));
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
		if (r == 1) {
			record(rc, &m);
			if (check)
				roundtrip(&m);
		}
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
	rc->last = r < 0 ? r : 0;
	ist_frame_decoder_free(d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rec a, b;

	if (size < 1)
		return 0;
	run(data + 1, size - 1, data[0] ? data[0] : size, true, &a);
	/* The chunking must not change what comes out. */
	run(data + 1, size - 1, size, false, &b);
	if (a.n != b.n || a.last != b.last ||
	    memcmp(a.m, b.m, sizeof(a.m[0]) * (size_t)a.n))
		FAIL();
	return 0;
}
