/*
 * test_wsframe.c: the WebSocket frame codec (RFC 6455 section 5), byte for
 * byte: the RFC's own examples (5.7), every decoder rule, every split of
 * the input, masking at every offset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ist/wsframe.h"
#include "failmem.h"

/* ---- helpers ---- */

static const uint8_t rfc_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/*
 * A transcript of what the decoder reported, independent of how the input
 * was split: each whole message, ping, pong, close and the error, as text.
 */
struct tr {
	char s[300000];
	size_t n;
	uint8_t msg[140000];	/* the message being assembled */
	size_t msg_len;
	bool open;
	int pieces;
	int err;
	enum ist_wsframe_fail fail;
	struct ist_err e;
};

static void
tr_put(struct tr *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
tr_put(struct tr *t, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(t->s + t->n, sizeof(t->s) - t->n, fmt, ap);
	va_end(ap);
	assert_true(r >= 0 && (size_t)r < sizeof(t->s) - t->n);
	t->n += (size_t)r;
}

static void
tr_hex(struct tr *t, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		tr_put(t, "%02x", p[i]);
}

static void
tr_event(struct tr *t, const struct ist_wsframe_event *ev)
{
	switch (ev->type) {
	case IST_WSFRAME_EV_DATA:
		assert_int_equal(ev->first, !t->open);
		t->open = true;
		t->pieces++;
		assert_true(ev->len <= sizeof(t->msg) - t->msg_len);
		if (ev->len)
			memcpy(t->msg + t->msg_len, ev->data, ev->len);
		t->msg_len += ev->len;
		if (ev->last) {
			tr_put(t, "M%d:", ev->opcode);
			tr_hex(t, t->msg, t->msg_len);
			tr_put(t, "|");
			t->msg_len = 0;
			t->open = false;
		}
		break;
	case IST_WSFRAME_EV_PING:
	case IST_WSFRAME_EV_PONG:
		assert_true(ev->len <= 125);
		tr_put(t, "%s:", ev->type == IST_WSFRAME_EV_PING ? "PING" :
		    "PONG");
		tr_hex(t, ev->data, ev->len);
		tr_put(t, "|");
		break;
	case IST_WSFRAME_EV_CLOSE:
		assert_true(ev->len <= 123);
		assert_int_equal(ev->data[ev->len], 0);
		tr_put(t, "CLOSE%u:%s|", ev->close_code,
		    (const char *)ev->data);
		break;
	default:
		fail_msg("event type %d", ev->type);
	}
}

/* Feeds in[0..len) to d in one go, every event into t; returns the
 * first error or 0. */
static int
feed(struct ist_wsframe_decoder *d, uint8_t *in, size_t len, struct tr *t)
{
	struct ist_wsframe_event ev;
	size_t used;
	int r;

	while (len > 0) {
		r = ist_wsframe_decoder_feed(d, in, len, &used, &ev, &t->e);
		if (r < 0) {
			t->err = r;
			t->fail = ist_wsframe_decoder_fail(d);
			tr_put(t, "ERR%d/%d", r, (int)t->fail);
			return r;
		}
		assert_true(used <= len);
		if (r == 1) {
			assert_true(used > 0);
			tr_event(t, &ev);
		} else {
			assert_int_equal(used, len);
		}
		in += used;
		len -= used;
	}
	return 0;
}

static struct ist_wsframe_decoder *
decoder(enum ist_wsframe_role role, uint64_t max_frame, uint64_t max_msg)
{
	struct ist_wsframe_decoder_options o = { role, max_frame, max_msg,
	    NULL };
	struct ist_wsframe_decoder *d = NULL;

	assert_int_equal(ist_wsframe_decoder_new(&d, &o), 0);
	return d;
}

/*
 * Decodes in (a copy of it: the server role unmasks in place) whole, then
 * split at every offset into two feeds, then one byte at a time; every
 * way must give the same transcript. Returns the whole transcript.
 */
static struct tr *
decode_every_split(enum ist_wsframe_role role, const uint8_t *in,
    size_t len, uint64_t max_frame, uint64_t max_msg)
{
	struct tr *whole = calloc(1, sizeof(*whole));
	struct tr *t = calloc(1, sizeof(*t));
	uint8_t *buf = malloc(len ? len : 1);
	struct ist_wsframe_decoder *d;
	size_t k, i;

	assert_non_null(whole);
	assert_non_null(t);
	assert_non_null(buf);
	memcpy(buf, in, len);
	d = decoder(role, max_frame, max_msg);
	feed(d, buf, len, whole);
	ist_wsframe_decoder_free(d);
	for (k = 0; k <= len; k++) {
		memset(t, 0, offsetof(struct tr, msg));
		t->msg_len = 0;
		t->open = false;
		t->pieces = 0;
		t->err = 0;
		memcpy(buf, in, len);
		d = decoder(role, max_frame, max_msg);
		if (feed(d, buf, k, t) == 0)
			feed(d, buf + k, len - k, t);
		ist_wsframe_decoder_free(d);
		if (strcmp(t->s, whole->s) != 0)
			fail_msg("split at %zu: %.200s vs %.200s", k, t->s,
			    whole->s);
	}
	memset(t, 0, offsetof(struct tr, msg));
	t->msg_len = 0;
	t->open = false;
	t->err = 0;
	memcpy(buf, in, len);
	d = decoder(role, max_frame, max_msg);
	for (i = 0; i < len; i++)
		if (feed(d, buf + i, 1, t) < 0)
			break;
	ist_wsframe_decoder_free(d);
	assert_string_equal(t->s, whole->s);
	free(t);
	free(buf);
	return whole;
}

/* Expects in to fail in role with code, rule and a message holding
 * needle, at every split. */
static void
expect_fail(enum ist_wsframe_role role, const uint8_t *in, size_t len,
    uint64_t max_frame, uint64_t max_msg, int code,
    enum ist_wsframe_fail why, const char *needle)
{
	struct tr *t = decode_every_split(role, in, len, max_frame, max_msg);

	assert_int_equal(t->err, code);
	assert_int_equal(t->fail, why);
	assert_int_equal(t->e.code, code);
	if (!strstr(t->e.msg, needle))
		fail_msg("\"%s\" not in \"%s\"", needle, t->e.msg);
	free(t);
}

static void
expect_tr(enum ist_wsframe_role role, const uint8_t *in, size_t len,
    const char *want)
{
	struct tr *t = decode_every_split(role, in, len, 0, 0);

	assert_string_equal(t->s, want);
	free(t);
}

/* ---- RFC 6455 5.7 examples ---- */

static void
test_rfc_single_unmasked_text(void **state)
{
	static const uint8_t f[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c,
	    0x6f };
	uint8_t h[14];

	(void)state;
	expect_tr(IST_WSFRAME_CLIENT, f, sizeof(f), "M1:48656c6c6f|");
	assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
	    IST_WS_OP_TEXT, 5, NULL), 2);
	assert_memory_equal(h, f, 2);
	/* A server must not get it unmasked. */
	expect_fail(IST_WSFRAME_SERVER, f, sizeof(f), 0, 0, IST_ERR_PROTO,
	    IST_WSFRAME_FAIL_UNMASKED, "unmasked WebSocket text frame");
}

static void
test_rfc_single_masked_text(void **state)
{
	static const uint8_t f[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t out[32];
	int h;

	(void)state;
	expect_tr(IST_WSFRAME_SERVER, f, sizeof(f), "M1:48656c6c6f|");
	h = ist_wsframe_header(out, sizeof(out), true, IST_WS_OP_TEXT, 5,
	    rfc_key);
	assert_int_equal(h, 6);
	memcpy(out + h, "Hello", 5);
	ist_wsframe_mask(out + h, 5, rfc_key, 0);
	assert_memory_equal(out, f, sizeof(f));
	/* A client must not get it masked. */
	expect_fail(IST_WSFRAME_CLIENT, f, sizeof(f), 0, 0, IST_ERR_PROTO,
	    IST_WSFRAME_FAIL_MASKED, "masked WebSocket text frame");
}

static void
test_rfc_fragmented_text(void **state)
{
	static const uint8_t f[] = { 0x01, 0x03, 0x48, 0x65, 0x6c,
	    0x80, 0x02, 0x6c, 0x6f };
	uint8_t h[14];

	(void)state;
	expect_tr(IST_WSFRAME_CLIENT, f, sizeof(f), "M1:48656c6c6f|");
	assert_int_equal(ist_wsframe_header(h, sizeof(h), false,
	    IST_WS_OP_TEXT, 3, NULL), 2);
	assert_memory_equal(h, f, 2);
	assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
	    IST_WS_OP_CONT, 2, NULL), 2);
	assert_memory_equal(h, f + 5, 2);
}

static void
test_rfc_ping_pong(void **state)
{
	static const uint8_t ping[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c,
	    0x6f };
	static const uint8_t pong[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t out[IST_WSFRAME_MAX_CONTROL_FRAME];

	(void)state;
	expect_tr(IST_WSFRAME_CLIENT, ping, sizeof(ping), "PING:48656c6c6f|");
	expect_tr(IST_WSFRAME_SERVER, pong, sizeof(pong), "PONG:48656c6c6f|");
	assert_int_equal(ist_wsframe_control(out, sizeof(out),
	    IST_WS_OP_PING, (const uint8_t *)"Hello", 5, NULL), 7);
	assert_memory_equal(out, ping, sizeof(ping));
	assert_int_equal(ist_wsframe_control(out, sizeof(out),
	    IST_WS_OP_PONG, (const uint8_t *)"Hello", 5, rfc_key), 11);
	assert_memory_equal(out, pong, sizeof(pong));
}

static void
test_rfc_256_and_64k_binary(void **state)
{
	static const uint8_t h256[] = { 0x82, 0x7e, 0x01, 0x00 };
	static const uint8_t h64k[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 };
	uint8_t *f = malloc(10 + 65536);
	struct ist_wsframe_decoder *d;
	struct ist_wsframe_event ev;
	struct ist_err e;
	uint8_t h[14];
	size_t used;
	size_t i;

	(void)state;
	assert_non_null(f);
	assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
	    IST_WS_OP_BINARY, 256, NULL), 4);
	assert_memory_equal(h, h256, 4);
	assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
	    IST_WS_OP_BINARY, 65536, NULL), 10);
	assert_memory_equal(h, h64k, 10);

	/* Decoded zero-copy: one piece pointing into the input. */
	memcpy(f, h256, 4);
	for (i = 0; i < 256; i++)
		f[4 + i] = (uint8_t)i;
	d = decoder(IST_WSFRAME_CLIENT, 0, 0);
	assert_int_equal(ist_wsframe_decoder_feed(d, f, 260, &used, &ev, &e),
	    1);
	assert_int_equal(used, 260);
	assert_int_equal(ev.type, IST_WSFRAME_EV_DATA);
	assert_int_equal(ev.opcode, IST_WS_OP_BINARY);
	assert_ptr_equal(ev.data, f + 4);
	assert_int_equal(ev.len, 256);
	assert_true(ev.first && ev.last);
	ist_wsframe_decoder_free(d);

	memcpy(f, h64k, 10);
	for (i = 0; i < 65536; i++)
		f[10 + i] = (uint8_t)(i * 7);
	d = decoder(IST_WSFRAME_CLIENT, 0, 0);
	assert_int_equal(ist_wsframe_decoder_feed(d, f, 10 + 65536, &used,
	    &ev, &e), 1);
	assert_int_equal(used, 10 + 65536);
	assert_ptr_equal(ev.data, f + 10);
	assert_int_equal(ev.len, 65536);
	assert_true(ev.first && ev.last);
	ist_wsframe_decoder_free(d);
	free(f);
}

/* ---- encoder ---- */

static void
test_header_lengths(void **state)
{
	static const struct {
		uint64_t len;
		size_t size;
		uint8_t b[10];
	} c[] = {
		{ 0, 2, { 0x82, 0x00 } },
		{ 125, 2, { 0x82, 0x7d } },
		{ 126, 4, { 0x82, 0x7e, 0x00, 0x7e } },
		{ 65535, 4, { 0x82, 0x7e, 0xff, 0xff } },
		{ 65536, 10, { 0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 } },
		{ UINT64_C(0x7fffffffffffffff), 10,
		    { 0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff } },
	};
	uint8_t h[14];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		assert_int_equal(ist_wsframe_header_size(c[i].len, false),
		    c[i].size);
		assert_int_equal(ist_wsframe_header_size(c[i].len, true),
		    c[i].size + 4);
		assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
		    IST_WS_OP_BINARY, c[i].len, NULL), (int)c[i].size);
		assert_memory_equal(h, c[i].b, c[i].size);
		assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
		    IST_WS_OP_BINARY, c[i].len, rfc_key),
		    (int)c[i].size + 4);
		assert_int_equal(h[1], c[i].b[1] | 0x80);
		assert_memory_equal(h + c[i].size, rfc_key, 4);
		/* One byte short: nothing written. */
		memset(h, 0xee, sizeof(h));
		assert_int_equal(ist_wsframe_header(h, c[i].size + 3, true,
		    IST_WS_OP_BINARY, c[i].len, rfc_key), IST_ERR_TOOBIG);
		assert_int_equal(h[0], 0xee);
	}
	/* FIN clear, continuation. */
	assert_int_equal(ist_wsframe_header(h, sizeof(h), false,
	    IST_WS_OP_CONT, 1, NULL), 2);
	assert_int_equal(h[0], 0x00);
}

static void
test_header_refuses_bad_frames(void **state)
{
	uint8_t h[14];
	int op;

	(void)state;
	for (op = 0; op < 16; op++) {
		bool known = op <= 2 || (op >= 8 && op <= 10);
		int r = ist_wsframe_header(h, sizeof(h), true, op, 0, NULL);

		assert_int_equal(r, known ? 2 : IST_ERR_INVAL);
	}
	assert_int_equal(ist_wsframe_header(h, sizeof(h), true, 16, 0, NULL),
	    IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
	    IST_WS_OP_BINARY, UINT64_C(0x8000000000000000), NULL),
	    IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_header(h, sizeof(h), false,
	    IST_WS_OP_PING, 0, NULL), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
	    IST_WS_OP_CLOSE, 126, NULL), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_header(h, sizeof(h), true,
	    IST_WS_OP_PONG, 125, NULL), 2);
}

static void
test_control_encoding(void **state)
{
	uint8_t out[IST_WSFRAME_MAX_CONTROL_FRAME];
	uint8_t big[126];
	static const uint8_t close_normal[] = { 0x88, 0x06, 0x03, 0xe8, 'b',
	    'y', 'e', '!' };
	static const uint8_t close_empty[] = { 0x88, 0x00 };
	uint8_t plain[8];

	(void)state;
	memset(big, 'a', sizeof(big));
	assert_int_equal(ist_wsframe_control(out, sizeof(out),
	    IST_WS_OP_PING, big, 125, rfc_key),
	    (int)IST_WSFRAME_MAX_CONTROL_FRAME);
	assert_int_equal(ist_wsframe_control(out, sizeof(out),
	    IST_WS_OP_PING, big, 126, NULL), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_control(out, sizeof(out),
	    IST_WS_OP_CLOSE, big, 1, NULL), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_control(out, 6, IST_WS_OP_PING, big, 5,
	    NULL), IST_ERR_TOOBIG);
	assert_int_equal(ist_wsframe_control(out, sizeof(out),
	    IST_WS_OP_PONG, NULL, 0, NULL), 2);
	assert_memory_equal(out, "\x8a\x00", 2);

	assert_int_equal(ist_wsframe_close(out, sizeof(out), 1000, "bye!", 4,
	    NULL), 8);
	assert_memory_equal(out, close_normal, sizeof(close_normal));
	assert_int_equal(ist_wsframe_close(out, sizeof(out), 1000, "bye!", 4,
	    rfc_key), 12);
	assert_int_equal(out[1], 0x86);
	memcpy(plain, out + 6, 6);
	ist_wsframe_mask(plain, 6, rfc_key, 0);
	assert_memory_equal(plain, close_normal + 2, 6);
	assert_int_equal(ist_wsframe_close(out, sizeof(out), 0, NULL, 0,
	    NULL), 2);
	assert_memory_equal(out, close_empty, 2);
	/* Codes that must never be sent, a reason without a code, a reason
	 * over 123 bytes or not UTF-8. */
	assert_int_equal(ist_wsframe_close(out, sizeof(out), 1005, NULL, 0,
	    NULL), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_close(out, sizeof(out), 0, "x", 1,
	    NULL), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_close(out, sizeof(out), 1000,
	    (const char *)big, 124, NULL), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_close(out, sizeof(out), 1000,
	    (const char *)big, 123, NULL), 127);
	assert_int_equal(ist_wsframe_close(out, sizeof(out), 1000, "\xff",
	    1, NULL), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_close(out, 7, 1000, "bye!", 4, NULL),
	    IST_ERR_TOOBIG);
}

static void
test_close_code_validity(void **state)
{
	unsigned c;

	(void)state;
	for (c = 0; c < 70000; c++) {
		bool want = (c >= 1000 && c <= 1003) ||
		    (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);

		assert_int_equal(ist_wsframe_close_code_valid(c), want);
	}
}

static void
test_utf8(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} c[] = {
		{ "", true }, { "plain", true },
		{ "\xc3\xa9", true },		/* é */
		{ "\xe2\x82\xac", true },	/* € */
		{ "\xf0\x9f\x98\x80", true },	/* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", true },	/* U+10FFFF */
		{ "\xed\x9f\xbf", true },	/* U+D7FF */
		{ "\xc0\x80", false },		/* overlong NUL */
		{ "\xc1\xbf", false },
		{ "\xe0\x9f\xbf", false },	/* overlong */
		{ "\xed\xa0\x80", false },	/* surrogate */
		{ "\xf0\x8f\xbf\xbf", false },	/* overlong */
		{ "\xf4\x90\x80\x80", false },	/* over U+10FFFF */
		{ "\xf5\x80\x80\x80", false },
		{ "\x80", false },		/* lone continuation */
		{ "\xc3", false },		/* truncated */
		{ "\xe2\x82", false },
		{ "\xe2\x28\xa1", false },
		{ "\xff", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		assert_int_equal(ist_wsframe_utf8_valid(
		    (const uint8_t *)c[i].s, strlen(c[i].s)), c[i].ok);
}

/* ---- masking ---- */

static void
test_mask_every_offset_and_length(void **state)
{
	static const uint8_t key[4] = { 0xa1, 0x02, 0xf3, 0x5c };
	uint8_t buf[80], ref[80];
	size_t len, off, i, cut;

	(void)state;
	for (off = 0; off < 8; off++) {
		for (len = 0; len <= 64; len++) {
			/* Odd start addresses too: no alignment needed. */
			uint8_t *p = buf + 1 + (off & 3);

			for (i = 0; i < len; i++)
				p[i] = ref[i] = (uint8_t)(i * 31 + off);
			ist_wsframe_mask(p, len, key, off);
			for (i = 0; i < len; i++)
				ref[i] ^= key[(off + i) % 4];
			assert_memory_equal(p, ref, len);
			/* In two pieces with running offsets: the same. */
			for (cut = 0; cut <= len; cut++) {
				for (i = 0; i < len; i++)
					p[i] = (uint8_t)(i * 31 + off);
				ist_wsframe_mask(p, cut, key, off);
				ist_wsframe_mask(p + cut, len - cut, key,
				    off + cut);
				assert_memory_equal(p, ref, len);
			}
		}
	}
	/* Offsets past 32 bits still mean offset mod 4. */
	buf[0] = 0;
	ist_wsframe_mask(buf, 1, key, UINT64_C(0x100000003));
	assert_int_equal(buf[0], key[3]);
	ist_wsframe_mask(NULL, 0, key, 0);
}

/* ---- decoder: what it delivers ---- */

static void
test_control_inside_fragmented_message(void **state)
{
	static const uint8_t f[] = {
		0x02, 0x02, 'a', 'b',		/* binary, no FIN */
		0x89, 0x01, 'x',		/* ping */
		0x00, 0x00,			/* empty continuation */
		0x8a, 0x00,			/* empty pong */
		0x80, 0x01, 'c',		/* final continuation */
		0x88, 0x02, 0x03, 0xe8,		/* close 1000 */
	};

	(void)state;
	expect_tr(IST_WSFRAME_CLIENT, f, sizeof(f),
	    "PING:78|PONG:|M2:616263|CLOSE1000:|");
}

static void
test_empty_frames_still_report_last(void **state)
{
	static const uint8_t f[] = {
		0x82, 0x00,			/* empty binary message */
		0x01, 0x01, 'h', 0x80, 0x00,	/* text "h" + empty final */
		0x88, 0x00,			/* close, no code */
	};
	struct ist_wsframe_decoder *d = decoder(IST_WSFRAME_CLIENT, 0, 0);
	struct ist_wsframe_event ev;
	uint8_t buf[sizeof(f)];
	size_t used;

	(void)state;
	expect_tr(IST_WSFRAME_CLIENT, f, sizeof(f), "M2:|M1:68|CLOSE1005:|");
	memcpy(buf, f, sizeof(f));
	assert_int_equal(ist_wsframe_decoder_feed(d, buf, sizeof(buf), &used,
	    &ev, NULL), 1);
	assert_int_equal(used, 2);
	assert_int_equal(ev.len, 0);
	assert_true(ev.first && ev.last);
	assert_false(ist_wsframe_decoder_in_message(d));
	ist_wsframe_decoder_free(d);
}

static void
test_text_is_reported_not_judged(void **state)
{
	/* Not UTF-8, but a text message: the caller decides (1003). */
	static const uint8_t f[] = { 0x81, 0x02, 0xff, 0xfe };

	(void)state;
	expect_tr(IST_WSFRAME_CLIENT, f, sizeof(f), "M1:fffe|");
}

static void
test_close_with_reason(void **state)
{
	static const uint8_t f[] = { 0x88, 0x0a, 0x0f, 0xa0, 'b', 'y', 'e',
	    ' ', 0xc3, 0xa9, 't', 0xc3 };
	static const uint8_t g[] = { 0x88, 0x09, 0x0f, 0xa0, 'b', 'y', 'e',
	    ' ', 0xc3, 0xa9, 't' };
	struct tr *t;

	(void)state;
	/* 4000 with a reason cut in the middle of a character: 1007. */
	t = decode_every_split(IST_WSFRAME_CLIENT, f, sizeof(f), 0, 0);
	assert_int_equal(t->err, IST_ERR_DECODE);
	assert_int_equal(t->fail, IST_WSFRAME_FAIL_CLOSE_UTF8);
	assert_non_null(strstr(t->e.msg, "not valid UTF-8"));
	assert_non_null(strstr(t->e.msg, "closing with 1007"));
	free(t);
	expect_tr(IST_WSFRAME_CLIENT, g, sizeof(g),
	    "CLOSE4000:bye \xc3\xa9t|");
}

static void
test_close_codes_on_the_wire(void **state)
{
	static const unsigned bad[] = { 0, 1, 999, 1004, 1005, 1006, 1015,
	    1016, 1100, 2000, 2999, 5000, 65535 };
	static const unsigned good[] = { 1000, 1001, 1002, 1003, 1007, 1011,
	    1012, 1014, 3000, 4000, 4999 };
	uint8_t f[4] = { 0x88, 0x02, 0, 0 };
	char want[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f[2] = (uint8_t)(bad[i] >> 8);
		f[3] = (uint8_t)bad[i];
		snprintf(want, sizeof(want), "close code %u,", bad[i]);
		expect_fail(IST_WSFRAME_CLIENT, f, 4, 0, 0, IST_ERR_PROTO,
		    IST_WSFRAME_FAIL_CLOSE_CODE, want);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		f[2] = (uint8_t)(good[i] >> 8);
		f[3] = (uint8_t)good[i];
		snprintf(want, sizeof(want), "CLOSE%u:|", good[i]);
		expect_tr(IST_WSFRAME_CLIENT, f, 4, want);
	}
}

static void
test_server_unmasks_in_place(void **state)
{
	/* A client's message in three frames with three keys, plus a masked
	 * ping and close, all from our own encoder. */
	static const uint8_t k1[4] = { 1, 2, 3, 4 }, k2[4] = { 0xff, 0, 0x80,
	    0x7f }, k3[4] = { 0xde, 0xad, 0xbe, 0xef };
	uint8_t f[600], payload[300];
	struct ist_wsframe_decoder *d;
	struct ist_wsframe_event ev;
	struct tr *t;
	size_t n = 0, used, i;
	int h;

	(void)state;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i ^ 0x5a);
	h = ist_wsframe_header(f, sizeof(f), false, IST_WS_OP_BINARY, 200,
	    k1);
	n = (size_t)h;
	memcpy(f + n, payload, 200);
	ist_wsframe_mask(f + n, 100, k1, 0);
	ist_wsframe_mask(f + n + 100, 100, k1, 100);
	n += 200;
	h = ist_wsframe_control(f + n, sizeof(f) - n, IST_WS_OP_PING,
	    (const uint8_t *)"hi", 2, k2);
	n += (size_t)h;
	h = ist_wsframe_header(f + n, sizeof(f) - n, true, IST_WS_OP_CONT,
	    100, k3);
	n += (size_t)h;
	memcpy(f + n, payload + 200, 100);
	ist_wsframe_mask(f + n, 100, k3, 0);
	n += 100;
	h = ist_wsframe_close(f + n, sizeof(f) - n, 1001, "gone", 4, k2);
	n += (size_t)h;

	t = decode_every_split(IST_WSFRAME_SERVER, f, n, 0, 0);
	assert_int_equal(t->err, 0);
	assert_non_null(strstr(t->s, "PING:6869|M2:"));
	assert_non_null(strstr(t->s, "|CLOSE1001:gone|"));
	free(t);

	/* The piece points into the input, which now holds the plain
	 * bytes. */
	d = decoder(IST_WSFRAME_SERVER, 0, 0);
	assert_int_equal(ist_wsframe_decoder_feed(d, f, n, &used, &ev, NULL),
	    1);
	assert_ptr_equal(ev.data, f + 8);
	assert_int_equal(ev.len, 200);
	assert_true(ev.first && !ev.last);
	assert_memory_equal(f + 8, payload, 200);
	assert_true(ist_wsframe_decoder_in_message(d));
	ist_wsframe_decoder_free(d);
}

static void
test_client_does_not_write_input(void **state)
{
	uint8_t f[] = { 0x82, 0x03, 1, 2, 3 };
	struct ist_wsframe_decoder *d = decoder(IST_WSFRAME_CLIENT, 0, 0);
	struct ist_wsframe_event ev;
	size_t used;

	(void)state;
	assert_int_equal(ist_wsframe_decoder_feed(d, f, 3, &used, &ev, NULL),
	    1);
	assert_int_equal(used, 3);
	assert_ptr_equal(ev.data, f + 2);
	assert_int_equal(ev.len, 1);
	assert_true(ev.first && !ev.last);
	assert_int_equal(ist_wsframe_decoder_feed(d, f + 3, 2, &used, &ev,
	    NULL), 1);
	assert_int_equal(ev.len, 2);
	assert_true(!ev.first && ev.last);
	assert_memory_equal(f, "\x82\x03\x01\x02\x03", 5);
	ist_wsframe_decoder_free(d);
}

/* ---- decoder: every error ---- */

static void
test_rsv_bits(void **state)
{
	uint8_t f[2] = { 0, 0 };
	unsigned rsv;

	(void)state;
	for (rsv = 1; rsv < 8; rsv++) {
		f[0] = (uint8_t)(0x82 | rsv << 4);
		expect_fail(IST_WSFRAME_CLIENT, f, 2, 0, 0, IST_ERR_PROTO,
		    IST_WSFRAME_FAIL_RSV, "reserved bits set");
	}
}

static void
test_reserved_opcodes(void **state)
{
	uint8_t f[2] = { 0, 0 };
	char want[40];
	unsigned op;

	(void)state;
	for (op = 3; op < 16; op++) {
		if (op >= 8 && op <= 10)
			continue;
		f[0] = (uint8_t)(0x80 | op);
		snprintf(want, sizeof(want), "reserved opcode %u", op);
		expect_fail(IST_WSFRAME_CLIENT, f, 2, 0, 0, IST_ERR_PROTO,
		    IST_WSFRAME_FAIL_OPCODE, want);
	}
}

static void
test_continuation_without_message(void **state)
{
	static const uint8_t f[] = { 0x80, 0x01, 'x' };
	static const uint8_t g[] = { 0x82, 0x01, 'x', 0x00, 0x01, 'y' };

	(void)state;
	expect_fail(IST_WSFRAME_CLIENT, f, sizeof(f), 0, 0, IST_ERR_PROTO,
	    IST_WSFRAME_FAIL_CONT_NO_MESSAGE, "continuation frame with no "
	    "message started");
	/* The message before it was finished. */
	expect_fail(IST_WSFRAME_CLIENT, g, sizeof(g), 0, 0, IST_ERR_PROTO,
	    IST_WSFRAME_FAIL_CONT_NO_MESSAGE, "no message started");
}

static void
test_new_message_while_one_open(void **state)
{
	static const uint8_t f[] = { 0x02, 0x01, 'x', 0x81, 0x01, 'y' };

	(void)state;
	expect_fail(IST_WSFRAME_CLIENT, f, sizeof(f), 0, 0, IST_ERR_PROTO,
	    IST_WSFRAME_FAIL_DATA_IN_MESSAGE, "started a WebSocket text "
	    "message before finishing its binary message");
}

static void
test_control_rules(void **state)
{
	static const uint8_t frag[] = { 0x09, 0x00 };
	static const uint8_t big[] = { 0x89, 0x7e, 0x00, 0x7e };
	static const uint8_t big2[] = { 0x88, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 };
	static const uint8_t one[] = { 0x88, 0x01, 0x03 };

	(void)state;
	expect_fail(IST_WSFRAME_CLIENT, frag, sizeof(frag), 0, 0,
	    IST_ERR_PROTO, IST_WSFRAME_FAIL_CONTROL_FRAGMENTED,
	    "fragmented WebSocket ping frame");
	expect_fail(IST_WSFRAME_CLIENT, big, sizeof(big), 0, 0,
	    IST_ERR_PROTO, IST_WSFRAME_FAIL_CONTROL_TOO_BIG,
	    "ping frame with a payload over 125 bytes");
	expect_fail(IST_WSFRAME_CLIENT, big2, sizeof(big2), 0, 0,
	    IST_ERR_PROTO, IST_WSFRAME_FAIL_CONTROL_TOO_BIG,
	    "close frame with a payload over 125");
	expect_fail(IST_WSFRAME_CLIENT, one, sizeof(one), 0, 0,
	    IST_ERR_PROTO, IST_WSFRAME_FAIL_CLOSE_1_BYTE, "1-byte payload");
}

static void
test_length_encodings(void **state)
{
	static const uint8_t short16[] = { 0x82, 0x7e, 0x00, 0x7d };
	static const uint8_t short64[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff,
	    0xff };
	static const uint8_t top[] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0,
	    0 };
	static const uint8_t max64[] = { 0x82, 0x7f, 0xff, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff };

	(void)state;
	expect_fail(IST_WSFRAME_CLIENT, short16, sizeof(short16), 0, 0,
	    IST_ERR_PROTO, IST_WSFRAME_FAIL_LENGTH_NOT_MINIMAL,
	    "length of 125 in 2 bytes");
	expect_fail(IST_WSFRAME_CLIENT, short64, sizeof(short64), 0, 0,
	    IST_ERR_PROTO, IST_WSFRAME_FAIL_LENGTH_NOT_MINIMAL,
	    "length of 65535 in 8 bytes");
	expect_fail(IST_WSFRAME_CLIENT, top, sizeof(top), 0, 0,
	    IST_ERR_PROTO, IST_WSFRAME_FAIL_LENGTH_TOP_BIT,
	    "length of 9223372036854775808 (the top bit");
	expect_fail(IST_WSFRAME_CLIENT, max64, sizeof(max64), 0, 0,
	    IST_ERR_PROTO, IST_WSFRAME_FAIL_LENGTH_TOP_BIT,
	    "length of 18446744073709551615");
}

/*
 * The largest length the format can express is refused from the header:
 * no payload byte is taken and nothing more is allocated.
 */
static void
test_huge_frames_refused_from_header(void **state)
{
	static const uint8_t max63[] = { 0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 'x', 'y' };
	static const uint8_t max63m[] = { 0x82, 0xff, 0x7f, 0xff, 0xff, 0xff,
	    0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 'x', 'y' };
	static const uint8_t four_mib[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x40,
	    0, 0 };
	struct failmem fm = { 0, -1, 0 };
	struct ist_mem mem = { fail_malloc, fail_free, &fm };
	struct ist_wsframe_decoder_options o = { IST_WSFRAME_CLIENT, 0, 0,
	    &mem };
	struct ist_wsframe_decoder *d = NULL;
	struct ist_wsframe_event ev;
	struct ist_err e;
	uint8_t buf[sizeof(max63m)];
	size_t used;

	(void)state;
	expect_fail(IST_WSFRAME_CLIENT, four_mib, sizeof(four_mib), 0, 0,
	    IST_ERR_TOOBIG, IST_WSFRAME_FAIL_FRAME_TOO_BIG,
	    "a WebSocket frame of 4194304 bytes, over the 131076-byte "
	    "limit");
	expect_fail(IST_WSFRAME_CLIENT, max63, sizeof(max63), 0, 0,
	    IST_ERR_TOOBIG, IST_WSFRAME_FAIL_FRAME_TOO_BIG,
	    "frame of 9223372036854775807 bytes, over the 131076-byte");
	expect_fail(IST_WSFRAME_SERVER, max63m, sizeof(max63m), 0, 0,
	    IST_ERR_TOOBIG, IST_WSFRAME_FAIL_FRAME_TOO_BIG,
	    "frame of 9223372036854775807 bytes");

	assert_int_equal(ist_wsframe_decoder_new(&d, &o), 0);
	assert_int_equal(fm.calls, 1);
	memcpy(buf, max63, sizeof(max63));
	assert_int_equal(ist_wsframe_decoder_feed(d, buf, sizeof(max63),
	    &used, &ev, &e), IST_ERR_TOOBIG);
	/* The header only; the payload bytes are left alone. */
	assert_int_equal(used, 10);
	assert_int_equal(ist_wsframe_decoder_close_code(d), 1009);
	assert_non_null(strstr(e.msg, "closing with 1009"));
	assert_int_equal(fm.calls, 1);
	/* Sticky. */
	assert_int_equal(ist_wsframe_decoder_feed(d, buf + 10, 2, &used,
	    &ev, &e), IST_ERR_TOOBIG);
	assert_int_equal(used, 0);
	assert_non_null(strstr(e.msg, "9223372036854775807 bytes"));
	ist_wsframe_decoder_free(d);
	assert_int_equal(fm.live, 0);
}

static void
test_limits_chosen_by_caller(void **state)
{
	static const uint8_t f[] = { 0x02, 0x06, 1, 2, 3, 4, 5, 6,
	    0x89, 0x00, 0x80, 0x05, 7, 8, 9, 10, 11 };
	static const uint8_t g[] = { 0x82, 0x0b, 1, 2, 3, 4, 5, 6, 7, 8, 9,
	    10, 11 };
	struct tr *t;

	(void)state;
	/* Frames of 6 and 5 fit max_frame 6, but the message of 11 is over
	 * max_message 10: refused at the second frame's header. */
	expect_fail(IST_WSFRAME_CLIENT, f, sizeof(f), 6, 10, IST_ERR_TOOBIG,
	    IST_WSFRAME_FAIL_MESSAGE_TOO_BIG, "a WebSocket message of at "
	    "least 11 bytes, over the 10-byte limit");
	t = decode_every_split(IST_WSFRAME_CLIENT, f, sizeof(f), 6, 11);
	assert_string_equal(t->s, "PING:|M2:0102030405060708090a0b|");
	free(t);
	expect_fail(IST_WSFRAME_CLIENT, g, sizeof(g), 10, 100,
	    IST_ERR_TOOBIG, IST_WSFRAME_FAIL_FRAME_TOO_BIG,
	    "frame of 11 bytes, over the 10-byte limit");
	expect_fail(IST_WSFRAME_CLIENT, g, sizeof(g), 100, 10,
	    IST_ERR_TOOBIG, IST_WSFRAME_FAIL_MESSAGE_TOO_BIG,
	    "message of at least 11 bytes, over the 10-byte limit");
	/* Control frames are not bound by max_frame. */
	expect_tr(IST_WSFRAME_CLIENT, (const uint8_t *)"\x89\x03" "abc", 5,
	    "PING:616263|");
}

static void
test_unlimited_message(void **state)
{
	/* With no limits a frame of 2^62 bytes is taken: payload is
	 * streamed, nothing is buffered. */
	static const uint8_t f[] = { 0x02, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0 };
	struct ist_wsframe_decoder *d = decoder(IST_WSFRAME_CLIENT,
	    UINT64_MAX, UINT64_MAX);
	struct ist_wsframe_event ev;
	uint8_t buf[sizeof(f)];
	size_t used;

	(void)state;
	memcpy(buf, f, sizeof(f));
	assert_int_equal(ist_wsframe_decoder_feed(d, buf, sizeof(buf), &used,
	    &ev, NULL), 0);
	assert_int_equal(used, sizeof(buf));
	assert_true(ist_wsframe_decoder_in_message(d));
	ist_wsframe_decoder_free(d);
}

static void
test_bytes_after_close(void **state)
{
	static const uint8_t f[] = { 0x88, 0x02, 0x03, 0xe8, 0x82, 0x00 };
	struct ist_wsframe_decoder *d = decoder(IST_WSFRAME_CLIENT, 0, 0);
	struct ist_wsframe_event ev;
	uint8_t buf[sizeof(f)];
	struct ist_err e;
	size_t used;

	(void)state;
	expect_fail(IST_WSFRAME_CLIENT, f, sizeof(f), 0, 0, IST_ERR_PROTO,
	    IST_WSFRAME_FAIL_AFTER_CLOSE, "bytes after its WebSocket close");
	memcpy(buf, f, sizeof(f));
	assert_int_equal(ist_wsframe_decoder_feed(d, buf, sizeof(buf), &used,
	    &ev, &e), 1);
	assert_int_equal(used, 4);
	assert_int_equal(ev.type, IST_WSFRAME_EV_CLOSE);
	assert_int_equal(ev.close_code, 1000);
	assert_true(ist_wsframe_decoder_closed(d));
	assert_int_equal(ist_wsframe_decoder_close_code(d), 0);
	assert_int_equal(ist_wsframe_decoder_feed(d, buf + 4, 0, &used, &ev,
	    &e), 0);
	assert_int_equal(ist_wsframe_decoder_feed(d, buf + 4, 2, &used, &ev,
	    &e), IST_ERR_PROTO);
	assert_true(ist_wsframe_decoder_closed(d));
	ist_wsframe_decoder_free(d);
}

static void
test_close_codes_for_failures(void **state)
{
	struct ist_wsframe_decoder *d = decoder(IST_WSFRAME_CLIENT, 0, 0);
	uint8_t f[] = { 0xc2, 0x00 };
	struct ist_wsframe_event ev;
	size_t used;

	(void)state;
	assert_int_equal(ist_wsframe_decoder_close_code(d), 0);
	assert_int_equal(ist_wsframe_decoder_fail(d), IST_WSFRAME_FAIL_NONE);
	assert_int_equal(ist_wsframe_decoder_feed(d, f, 2, &used, &ev, NULL),
	    IST_ERR_PROTO);
	assert_int_equal(ist_wsframe_decoder_close_code(d), 1002);
	ist_wsframe_decoder_free(d);
}

/* ---- every split of a stream with a bit of everything ---- */

static void
test_mixed_stream_every_split(void **state)
{
	static const uint8_t key[4] = { 0x11, 0x22, 0x33, 0x44 };
	uint8_t f[800], plain[800];
	size_t n = 0, i;
	bool masked;
	int h;

	(void)state;
	for (i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 13);
	for (masked = false;; masked = true) {
		const uint8_t *k = masked ? key : NULL;
		struct tr *t;

		n = 0;
#define ADD_HDR(fin, op, len) do { \
		h = ist_wsframe_header(f + n, sizeof(f) - n, fin, op, len, k); \
		assert_true(h > 0); \
		n += (size_t)h; \
	} while (0)
#define ADD_PAY(src, len) do { \
		memcpy(f + n, src, len); \
		if (k) \
			ist_wsframe_mask(f + n, len, k, 0); \
		n += len; \
	} while (0)
		ADD_HDR(true, IST_WS_OP_BINARY, 300);
		ADD_PAY(plain, 300);
		ADD_HDR(false, IST_WS_OP_BINARY, 126);
		ADD_PAY(plain + 300, 126);
		h = ist_wsframe_control(f + n, sizeof(f) - n, IST_WS_OP_PING,
		    plain, 125, k);
		n += (size_t)h;
		ADD_HDR(false, IST_WS_OP_CONT, 0);
		ADD_HDR(true, IST_WS_OP_CONT, 3);
		ADD_PAY(plain + 426, 3);
		ADD_HDR(true, IST_WS_OP_TEXT, 2);
		ADD_PAY("ok", 2);
		h = ist_wsframe_close(f + n, sizeof(f) - n, 1000, "done", 4,
		    k);
		n += (size_t)h;
#undef ADD_HDR
#undef ADD_PAY
		t = decode_every_split(masked ? IST_WSFRAME_SERVER :
		    IST_WSFRAME_CLIENT, f, n, 0, 0);
		assert_int_equal(t->err, 0);
		assert_non_null(strstr(t->s, "|CLOSE1000:done|"));
		assert_non_null(strstr(t->s, "|M1:6f6b|"));
		free(t);
		if (masked)
			break;
	}
}

static void
test_decoder_new_fails_cleanly(void **state)
{
	struct failmem fm = { 0, 0, 0 };
	struct ist_mem mem = { fail_malloc, fail_free, &fm };
	struct ist_wsframe_decoder_options o = { IST_WSFRAME_SERVER, 0, 0,
	    &mem };
	struct ist_wsframe_decoder *d = (void *)1;

	(void)state;
	assert_int_equal(ist_wsframe_decoder_new(&d, &o), IST_ERR_NOMEM);
	assert_null(d);
	assert_int_equal(fm.live, 0);
	o.role = 0;
	assert_int_equal(ist_wsframe_decoder_new(&d, &o), IST_ERR_INVAL);
	assert_int_equal(ist_wsframe_decoder_new(&d, NULL), IST_ERR_INVAL);
	ist_wsframe_decoder_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_single_unmasked_text),
		cmocka_unit_test(test_rfc_single_masked_text),
		cmocka_unit_test(test_rfc_fragmented_text),
		cmocka_unit_test(test_rfc_ping_pong),
		cmocka_unit_test(test_rfc_256_and_64k_binary),
		cmocka_unit_test(test_header_lengths),
		cmocka_unit_test(test_header_refuses_bad_frames),
		cmocka_unit_test(test_control_encoding),
		cmocka_unit_test(test_close_code_validity),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_mask_every_offset_and_length),
		cmocka_unit_test(test_control_inside_fragmented_message),
		cmocka_unit_test(test_empty_frames_still_report_last),
		cmocka_unit_test(test_text_is_reported_not_judged),
		cmocka_unit_test(test_close_with_reason),
		cmocka_unit_test(test_close_codes_on_the_wire),
		cmocka_unit_test(test_server_unmasks_in_place),
		cmocka_unit_test(test_client_does_not_write_input),
		cmocka_unit_test(test_rsv_bits),
		cmocka_unit_test(test_reserved_opcodes),
		cmocka_unit_test(test_continuation_without_message),
		cmocka_unit_test(test_new_message_while_one_open),
		cmocka_unit_test(test_control_rules),
		cmocka_unit_test(test_length_encodings),
		cmocka_unit_test(test_huge_frames_refused_from_header),
		cmocka_unit_test(test_limits_chosen_by_caller),
		cmocka_unit_test(test_unlimited_message),
		cmocka_unit_test(test_bytes_after_close),
		cmocka_unit_test(test_close_codes_for_failures),
		cmocka_unit_test(test_mixed_stream_every_split),
		cmocka_unit_test(test_decoder_new_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
