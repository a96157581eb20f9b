/*
 * test_frame.c: the tunnel frame codec, byte for byte (PROTOCOL.md
 * section 2 "Framing" and the Message schema).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ist/frame.h"
#include "failmem.h"

/* ---- helpers ---- */

struct got {
	int n;
	struct ist_msg m[16];
	/* Copies, since message pointers die with the next feed. */
	uint8_t payload[16][256];
	char svc[16][64];
	uint8_t big[70000];	/* the one large payload, if any */
	size_t big_len;
};

static void
keep(struct got *g, const struct ist_msg *m)
{
	int i = g->n++;

	assert_true(i < 16);
	g->m[i] = *m;
	if (m->payload_len <= sizeof(g->payload[i])) {
		if (m->payload_len)
			memcpy(g->payload[i], m->payload, m->payload_len);
	} else {
		memcpy(g->big, m->payload, m->payload_len);
		g->big_len = m->payload_len;
	}
	g->m[i].payload = NULL;
	g->svc[i][0] = '\0';
	if (m->service_id)
		snprintf(g->svc[i], sizeof(g->svc[i]), "%s", m->service_id);
	g->m[i].service_id = NULL;
	g->m[i].available = NULL;
}

/* Feeds all of in; returns the first error or 0. */
static int
feed_all(struct ist_frame_decoder *d, const uint8_t *in, size_t len,
    struct got *g, struct ist_err *e)
{
	struct ist_msg m;
	size_t used;
	int r;

	while (len > 0) {
		r = ist_frame_decoder_feed(d, in, len, &used, &m, e);
		if (r < 0)
			return r;
		assert_true(used <= len);
		if (r == 1)
			keep(g, &m);
		else
			assert_int_equal(used, len);
		in += used;
		len -= used;
	}
	return 0;
}

static int
decode_one(const uint8_t *in, size_t len, struct got *g, struct ist_err *e)
{
	struct ist_frame_decoder *d = NULL;
	int r;

	assert_int_equal(ist_frame_decoder_new(&d), 0);
	r = feed_all(d, in, len, g, e);
	ist_frame_decoder_free(d);
	return r;
}

static void
assert_encodes_to(const struct ist_msg *m, const uint8_t *want,
    size_t want_len)
{
	uint8_t out[512];
	int n;

	assert_int_equal(ist_frame_size(m), want_len);
	n = ist_frame_encode(m, out, sizeof(out));
	assert_int_equal(n, (int)want_len);
	assert_memory_equal(out, want, want_len);
}

/* ---- the worked example ---- */

static const uint8_t worked[] = {
	0x00, 0x0b, 0x08, 0x02, 0x10, 0x01, 0x2a, 0x03, 0x53, 0x53, 0x48,
	0x38, 0x01,
};

static void
test_worked_example_encodes(void **state)
{
	struct ist_msg m = {
		.type = IST_MSG_STREAM_START, .stream_id = 1,
		.service_id = "SSH", .connection_id = 1,
	};

	(void)state;
	assert_encodes_to(&m, worked, sizeof(worked));
}

static void
test_worked_example_decodes(void **state)
{
	struct got g = { 0 };
	struct ist_err e = { 0 };

	(void)state;
	assert_int_equal(decode_one(worked, sizeof(worked), &g, &e), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.m[0].type, IST_MSG_STREAM_START);
	assert_int_equal(g.m[0].stream_id, 1);
	assert_string_equal(g.svc[0], "SSH");
	assert_int_equal(g.m[0].connection_id, 1);
	assert_false(g.m[0].ignorable);
	assert_false(g.m[0].has_unknown_fields);
	assert_int_equal(g.m[0].payload_len, 0);
}

/* ---- every message type in every peer format, byte for byte ---- */

struct vec {
	const char *name;
	struct ist_msg m;
	const char *svcs[3];
	size_t n_svcs;
	uint8_t bytes[40];
	size_t len;
};

static const struct vec vecs[] = {
	{ "V1 DATA", { .type = 1, .stream_id = 1,
	    .payload = (const uint8_t *)"hi", .payload_len = 2 }, { 0 }, 0,
	  { 0, 8, 0x08, 1, 0x10, 1, 0x22, 2, 'h', 'i' }, 10 },
	{ "V2 DATA", { .type = 1, .stream_id = 1, .service_id = "SSH",
	    .payload = (const uint8_t *)"hi", .payload_len = 2 }, { 0 }, 0,
	  { 0, 13, 0x08, 1, 0x10, 1, 0x22, 2, 'h', 'i', 0x2a, 3, 'S', 'S',
	    'H' }, 15 },
	{ "V3 DATA", { .type = 1, .stream_id = 1, .service_id = "SSH",
	    .payload = (const uint8_t *)"hi", .payload_len = 2,
	    .connection_id = 2 }, { 0 }, 0,
	  { 0, 15, 0x08, 1, 0x10, 1, 0x22, 2, 'h', 'i', 0x2a, 3, 'S', 'S',
	    'H', 0x38, 2 }, 17 },
	{ "V1 STREAM_START", { .type = 2, .stream_id = 1 }, { 0 }, 0,
	  { 0, 4, 0x08, 2, 0x10, 1 }, 6 },
	{ "V2 STREAM_START", { .type = 2, .stream_id = 300,
	    .service_id = "SSH" }, { 0 }, 0,
	  { 0, 10, 0x08, 2, 0x10, 0xac, 0x02, 0x2a, 3, 'S', 'S', 'H' }, 12 },
	{ "V3 STREAM_START", { .type = 2, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 1 }, { 0 }, 0,
	  { 0, 11, 0x08, 2, 0x10, 1, 0x2a, 3, 'S', 'S', 'H', 0x38, 1 },
	  13 },
	{ "V1 STREAM_RESET", { .type = 3, .stream_id = 7 }, { 0 }, 0,
	  { 0, 4, 0x08, 3, 0x10, 7 }, 6 },
	{ "V2 STREAM_RESET", { .type = 3, .stream_id = 7,
	    .service_id = "SSH" }, { 0 }, 0,
	  { 0, 9, 0x08, 3, 0x10, 7, 0x2a, 3, 'S', 'S', 'H' }, 11 },
	{ "V3 STREAM_RESET", { .type = 3, .stream_id = 7,
	    .service_id = "SSH", .connection_id = 1 }, { 0 }, 0,
	  { 0, 11, 0x08, 3, 0x10, 7, 0x2a, 3, 'S', 'S', 'H', 0x38, 1 }, 13 },
	{ "SESSION_RESET", { .type = 4 }, { 0 }, 0, { 0, 2, 0x08, 4 }, 4 },
	{ "SERVICE_IDS", { .type = 5 }, { "SSH", "HTTP" }, 2,
	  { 0, 13, 0x08, 5, 0x32, 3, 'S', 'S', 'H', 0x32, 4, 'H', 'T', 'T',
	    'P' }, 15 },
	{ "V3 CONNECTION_START", { .type = 6, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 2 }, { 0 }, 0,
	  { 0, 11, 0x08, 6, 0x10, 1, 0x2a, 3, 'S', 'S', 'H', 0x38, 2 }, 13 },
	{ "V3 CONNECTION_RESET", { .type = 7, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 2 }, { 0 }, 0,
	  { 0, 11, 0x08, 7, 0x10, 1, 0x2a, 3, 'S', 'S', 'H', 0x38, 2 }, 13 },
	{ "ignorable unknown type", { .type = 9, .ignorable = true },
	  { 0 }, 0, { 0, 4, 0x08, 9, 0x18, 1 }, 6 },
	{ "negative stream id", { .type = 1, .stream_id = -1 }, { 0 }, 0,
	  { 0, 13, 0x08, 1, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0x01 }, 15 },
};

static void
test_every_type_every_format_byte_exact(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];
		struct ist_msg m = v->m;
		struct got g = { 0 };
		struct ist_err e = { 0 };

		print_message("vector: %s\n", v->name);
		m.available = v->svcs;
		m.n_available = v->n_svcs;
		assert_encodes_to(&m, v->bytes, v->len);
		/* Decoding gives back the same fields. */
		assert_int_equal(decode_one(v->bytes, v->len, &g, &e), 0);
		assert_int_equal(g.n, 1);
		assert_int_equal(g.m[0].type, m.type);
		assert_int_equal(g.m[0].stream_id, m.stream_id);
		assert_int_equal(g.m[0].ignorable, m.ignorable);
		assert_int_equal(g.m[0].connection_id, m.connection_id);
		assert_int_equal(g.m[0].payload_len, m.payload_len);
		assert_memory_equal(g.payload[0], m.payload ? m.payload :
		    (const uint8_t *)"", m.payload_len);
		assert_string_equal(g.svc[0], m.service_id ? m.service_id :
		    "");
		assert_int_equal(g.m[0].n_available, m.n_available);
	}
}

static void
test_service_ids_decode_list(void **state)
{
	struct ist_frame_decoder *d = NULL;
	struct ist_msg m;
	struct ist_err e = { 0 };
	size_t used;
	const uint8_t *in = vecs[10].bytes;

	(void)state;
	assert_int_equal(ist_frame_decoder_new(&d), 0);
	assert_int_equal(ist_frame_decoder_feed(d, in, vecs[10].len, &used,
	    &m, &e), 1);
	assert_int_equal(m.n_available, 2);
	assert_string_equal(m.available[0], "SSH");
	assert_string_equal(m.available[1], "HTTP");
	assert_null(m.service_id);
	ist_frame_decoder_free(d);
}

/* ---- arbitrary chunking ---- */

/* Several frames back to back: the worked example, DATA, SERVICE_IDS. */
static size_t
build_stream(uint8_t *buf, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		assert_true(n + vecs[i].len <= cap);
		memcpy(buf + n, vecs[i].bytes, vecs[i].len);
		n += vecs[i].len;
	}
	return n;
}

static void
check_stream(const struct got *g)
{
	size_t nv = sizeof(vecs) / sizeof(vecs[0]);

	assert_int_equal(g->n, (int)nv);
	for (size_t i = 0; i < nv; i++) {
		assert_int_equal(g->m[i].type, vecs[i].m.type);
		assert_int_equal(g->m[i].stream_id, vecs[i].m.stream_id);
		assert_int_equal(g->m[i].payload_len, vecs[i].m.payload_len);
	}
}

static void
test_split_at_every_offset(void **state)
{
	uint8_t buf[512];
	size_t len = build_stream(buf, sizeof(buf));

	(void)state;
	for (size_t k = 0; k <= len; k++) {
		struct ist_frame_decoder *d = NULL;
		struct got g = { 0 };
		struct ist_err e = { 0 };

		assert_int_equal(ist_frame_decoder_new(&d), 0);
		assert_int_equal(feed_all(d, buf, k, &g, &e), 0);
		assert_int_equal(feed_all(d, buf + k, len - k, &g, &e), 0);
		check_stream(&g);
		ist_frame_decoder_free(d);
	}
}

static void
test_byte_at_a_time_and_coalesced(void **state)
{
	uint8_t buf[512];
	size_t len = build_stream(buf, sizeof(buf));
	struct ist_frame_decoder *d = NULL;
	struct got g = { 0 }, g2 = { 0 };
	struct ist_err e = { 0 };

	(void)state;
	assert_int_equal(ist_frame_decoder_new(&d), 0);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(feed_all(d, buf + i, 1, &g, &e), 0);
	check_stream(&g);
	/* All frames in one chunk: one message per call, same decoder. */
	assert_int_equal(feed_all(d, buf, len, &g2, &e), 0);
	check_stream(&g2);
	ist_frame_decoder_free(d);
}

/* A full-size DATA message arriving as 4096-byte continuation frames. */
static void
test_max_payload_in_4096_byte_pieces(void **state)
{
	static uint8_t payload[IST_MAX_PAYLOAD], frame[IST_MAX_FRAME];
	static struct got g;
	struct ist_msg m = { .type = IST_MSG_DATA, .stream_id = 3,
	    .service_id = "SSH", .connection_id = 1 };
	struct ist_frame_decoder *d = NULL;
	struct ist_err e = { 0 };
	int n;

	(void)state;
	memset(&g, 0, sizeof(g));
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	m.payload = payload;
	m.payload_len = sizeof(payload);
	n = ist_frame_encode(&m, frame, sizeof(frame));
	assert_true(n > (int)IST_MAX_PAYLOAD);
	assert_int_equal((size_t)n, ist_frame_size(&m));
	assert_int_equal(ist_frame_decoder_new(&d), 0);
	for (int off = 0; off < n; off += 4096) {
		size_t k = (size_t)(n - off) < 4096 ? (size_t)(n - off) : 4096;
		assert_int_equal(feed_all(d, frame + off, k, &g, &e), 0);
	}
	assert_int_equal(g.n, 1);
	assert_int_equal(g.big_len, sizeof(payload));
	assert_memory_equal(g.big, payload, sizeof(payload));
	ist_frame_decoder_free(d);
}

/* ---- refusals, each with its own code ---- */

static void
test_payload_over_64512_is_toobig(void **state)
{
	static uint8_t f[70000];
	size_t n = 0, plen = IST_MAX_PAYLOAD + 1, body;
	struct got g = { 0 };
	struct ist_err e = { 0 };
	struct ist_msg m = { .type = 1, .stream_id = 1, .payload = f,
	    .payload_len = plen };
	uint8_t out[16];

	(void)state;
	/* 08 01 10 01 22 <varint 64513 = 81 f8 03> payload */
	body = 4 + 1 + 3 + plen;
	f[n++] = (uint8_t)(body >> 8);
	f[n++] = (uint8_t)body;
	f[n++] = 0x08; f[n++] = 1; f[n++] = 0x10; f[n++] = 1;
	f[n++] = 0x22; f[n++] = 0x81; f[n++] = 0xf8; f[n++] = 0x03;
	memset(f + n, 'x', plen);
	n += plen;
	assert_int_equal(decode_one(f, n, &g, &e), IST_ERR_TOOBIG);
	assert_int_equal(e.code, IST_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "64513"));
	assert_int_equal(g.n, 0);
	/* The encoder refuses it too, and a frame that does not fit. */
	assert_int_equal(ist_frame_encode(&m, f, sizeof(f)), IST_ERR_TOOBIG);
	assert_int_equal(ist_frame_encode(&vecs[0].m, out, 5),
	    IST_ERR_TOOBIG);
}

static void
expect_refused(const uint8_t *in, size_t len, int code, const char *needle)
{
	struct got g = { 0 };
	struct ist_err e = { 0 };

	assert_int_equal(decode_one(in, len, &g, &e), code);
	assert_int_equal(e.code, code);
	if (!strstr(e.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
	assert_int_equal(g.n, 0);
}

static void
test_garbage_is_decode_error(void **state)
{
	static const uint8_t truncated_varint[] = { 0, 2, 0x08, 0x80 };
	static const uint8_t len_past_end[] = { 0, 4, 0x22, 0x05, 'a', 'b' };
	static const uint8_t bad_wire_type[] = { 0, 3, 0x0a, 0x01, 0x02 };
	static const uint8_t group[] = { 0, 3, 0x08, 0x01, 0x0b };
	static const uint8_t field_zero[] = { 0, 4, 0x08, 0x01, 0x00, 0x00 };
	static const uint8_t nul_service[] = { 0, 7, 0x08, 0x02, 0x2a, 3,
	    'S', 0, 'H' };
	static const uint8_t short_fixed64[] = { 0, 5, 0x08, 1, 0x49, 1, 2 };
	static const uint8_t short_fixed32[] = { 0, 4, 0x08, 1, 0x55, 1 };
	static const uint8_t wire_type_6[] = { 0, 4, 0x08, 1, 0x4e, 0 };

	(void)state;
	expect_refused(truncated_varint, sizeof(truncated_varint),
	    IST_ERR_DECODE, "malformed");
	expect_refused(len_past_end, sizeof(len_past_end), IST_ERR_DECODE,
	    "field 4");
	expect_refused(bad_wire_type, sizeof(bad_wire_type), IST_ERR_DECODE,
	    "wire type");
	expect_refused(group, sizeof(group), IST_ERR_DECODE, "wire type 3");
	expect_refused(field_zero, sizeof(field_zero), IST_ERR_DECODE,
	    "field number 0");
	expect_refused(nul_service, sizeof(nul_service), IST_ERR_DECODE,
	    "NUL");
	expect_refused(short_fixed64, sizeof(short_fixed64), IST_ERR_DECODE,
	    "field 9");
	expect_refused(short_fixed32, sizeof(short_fixed32), IST_ERR_DECODE,
	    "field 10");
	expect_refused(wire_type_6, sizeof(wire_type_6), IST_ERR_DECODE,
	    "wire type 6");
}

static void
test_too_many_fields_is_decode_error(void **state)
{
	uint8_t f[2 + 2 * (IST_FRAME_MAX_FIELDS + 1)];
	size_t body = 2 * (IST_FRAME_MAX_FIELDS + 1);

	(void)state;
	f[0] = (uint8_t)(body >> 8);
	f[1] = (uint8_t)body;
	for (size_t i = 0; i <= IST_FRAME_MAX_FIELDS; i++) {
		f[2 + 2 * i] = 0x08;	/* type = DATA, repeated */
		f[3 + 2 * i] = 0x01;
	}
	expect_refused(f, sizeof(f), IST_ERR_DECODE, "fields");
}

/* The most fields allowed, all unknown ones with data: still decodes. */
static void
test_max_fields_with_unknowns_fit_the_arena(void **state)
{
	static uint8_t f[IST_MAX_FRAME];
	size_t n = 2, per;
	struct got g = { 0 };
	struct ist_err e = { 0 };

	(void)state;
	f[n++] = 0x08;
	f[n++] = 0x01;
	/* 255 unknown length-delimited fields sharing ~65000 bytes. */
	per = (65535 - 2 - 255 * 4) / 255;
	for (int i = 0; i < 255; i++) {
		f[n++] = 0x42;	/* field 8, wire type 2 */
		f[n++] = (uint8_t)(0x80 | (per & 0x7f));
		f[n++] = (uint8_t)(per >> 7);
		memset(f + n, 'u', per);
		n += per;
	}
	f[0] = (uint8_t)((n - 2) >> 8);
	f[1] = (uint8_t)(n - 2);
	assert_int_equal(decode_one(f, n, &g, &e), 0);
	assert_int_equal(g.n, 1);
	assert_true(g.m[0].has_unknown_fields);
}

static void
test_type_zero_is_proto_error(void **state)
{
	static const uint8_t no_type[] = { 0, 2, 0x10, 0x01 };
	static const uint8_t empty[] = { 0, 0 };
	static const uint8_t zero[] = { 0, 2, 0x08, 0x00 };

	(void)state;
	expect_refused(no_type, sizeof(no_type), IST_ERR_PROTO, "type 0");
	expect_refused(empty, sizeof(empty), IST_ERR_PROTO, "type 0");
	expect_refused(zero, sizeof(zero), IST_ERR_PROTO, "type 0");
}

static void
test_unknown_fields_are_flagged(void **state)
{
	/* DATA stream 1 plus field 8 (varint) and field 15 (bytes). */
	static const uint8_t f[] = { 0, 9, 0x08, 1, 0x10, 1, 0x40, 5,
	    0x7a, 1, 'z' };
	/* Field 9 fixed64 and field 10 fixed32, after STREAM_RESET 2. */
	static const uint8_t fixed[] = { 0, 18, 0x08, 3, 0x10, 2,
	    0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x55, 1, 2, 3, 4 };
	struct got g = { 0 };
	struct ist_err e = { 0 };

	(void)state;
	assert_int_equal(decode_one(f, sizeof(f), &g, &e), 0);
	assert_int_equal(g.n, 1);
	assert_true(g.m[0].has_unknown_fields);
	assert_int_equal(g.m[0].type, IST_MSG_DATA);
	assert_int_equal(g.m[0].stream_id, 1);
	assert_int_equal(decode_one(fixed, sizeof(fixed), &g, &e), 0);
	assert_int_equal(g.n, 2);
	assert_true(g.m[1].has_unknown_fields);
	assert_int_equal(g.m[1].type, IST_MSG_STREAM_RESET);
	assert_int_equal(g.m[1].stream_id, 2);
}

static void
test_decoder_unusable_after_error(void **state)
{
	static const uint8_t bad[] = { 0, 2, 0x08, 0x80 };
	struct ist_frame_decoder *d = NULL;
	struct got g = { 0 };
	struct ist_err e = { 0 };

	(void)state;
	assert_int_equal(ist_frame_decoder_new(&d), 0);
	assert_int_equal(feed_all(d, bad, sizeof(bad), &g, &e),
	    IST_ERR_DECODE);
	assert_int_equal(feed_all(d, worked, sizeof(worked), &g, &e),
	    IST_ERR_STATE);
	assert_int_equal(g.n, 0);
	ist_frame_decoder_free(d);
}

static void
test_type_names(void **state)
{
	(void)state;
	assert_string_equal(ist_msg_type_name(IST_MSG_CONNECTION_RESET),
	    "CONNECTION_RESET");
	assert_string_equal(ist_msg_type_name(99), "unknown type");
	assert_string_equal(ist_msg_type_name(-3), "unknown type");
}

/* ---- failing allocator (failmem.h) ---- */

static void
test_decoder_new_fails_cleanly(void **state)
{
	struct failmem f;
	struct ist_mem mem = { fail_malloc, fail_free, &f };
	struct ist_frame_decoder *d;
	int n, r;

	(void)state;
	for (n = 0;; n++) {
		memset(&f, 0, sizeof(f));
		f.fail_at = n;
		d = (struct ist_frame_decoder *)1;
		r = ist_frame_decoder_new2(&d, &mem);
		if (r == 0) {
			ist_frame_decoder_free(d);
			assert_int_equal(f.live, 0);
			break;
		}
		assert_int_equal(r, IST_ERR_NOMEM);
		assert_null(d);
		assert_int_equal(f.live, 0);
	}
	assert_true(n >= 2); /* there were allocations to fail */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_worked_example_encodes),
		cmocka_unit_test(test_worked_example_decodes),
		cmocka_unit_test(test_every_type_every_format_byte_exact),
		cmocka_unit_test(test_service_ids_decode_list),
		cmocka_unit_test(test_split_at_every_offset),
		cmocka_unit_test(test_byte_at_a_time_and_coalesced),
		cmocka_unit_test(test_max_payload_in_4096_byte_pieces),
		cmocka_unit_test(test_payload_over_64512_is_toobig),
		cmocka_unit_test(test_garbage_is_decode_error),
		cmocka_unit_test(test_too_many_fields_is_decode_error),
		cmocka_unit_test(test_max_fields_with_unknowns_fit_the_arena),
		cmocka_unit_test(test_type_zero_is_proto_error),
		cmocka_unit_test(test_unknown_fields_are_flagged),
		cmocka_unit_test(test_decoder_unusable_after_error),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_decoder_new_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
