/*
 * wsframe.c: WebSocket frames (RFC 6455 section 5), encoded and decoded
 * with no I/O.
 *
 * The decoder is a small state machine over fixed state: the header bytes
 * (at most 14) are gathered in the decoder, data payload is handed out as
 * pointers into the caller's input, control payload (at most 125 bytes) is
 * gathered in the decoder. Nothing is allocated after
 * ist_wsframe_decoder_new(), and every limit is checked when the header is
 * complete, before a byte of payload is taken.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ist/wsframe.h"

#define FIN 0x80u
#define RSV 0x70u
#define OPCODE 0x0fu
#define MASK 0x80u
#define LEN7 0x7fu

size_t
ist_wsframe_header_size(uint64_t len, bool masked)
{
	size_t n = 2;

	if (len > 65535u)
		n += 8;
	else if (len > 125u)
		n += 2;
	return n + (masked ? 4u : 0u);
}

static bool
opcode_known(int op)
{
	return op == IST_WS_OP_CONT || op == IST_WS_OP_TEXT ||
	    op == IST_WS_OP_BINARY || op == IST_WS_OP_CLOSE ||
	    op == IST_WS_OP_PING || op == IST_WS_OP_PONG;
}

static bool
is_control(unsigned op)
{
	return (op & 0x8u) != 0;
}

int
ist_wsframe_header(uint8_t *out, size_t cap, bool fin, int opcode,
    uint64_t len, const uint8_t *mask_key)
{
	size_t n = ist_wsframe_header_size(len, mask_key != NULL);
	size_t i = 2;
	unsigned mbit = mask_key ? MASK : 0u;

	if (!opcode_known(opcode) || len > IST_WSFRAME_MAX_LENGTH)
		return IST_ERR_INVAL;
	if (is_control((unsigned)opcode) &&
	    (!fin || len > IST_WSFRAME_MAX_CONTROL))
		return IST_ERR_INVAL;
	if (!out || cap < n)
		return IST_ERR_TOOBIG;
	out[0] = (uint8_t)((fin ? FIN : 0u) | (unsigned)opcode);
	if (len <= 125u) {
		out[1] = (uint8_t)(mbit | (unsigned)len);
	} else if (len <= 65535u) {
		out[1] = (uint8_t)(mbit | 126u);
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		i = 4;
	} else {
		out[1] = (uint8_t)(mbit | 127u);
		for (i = 2; i < 10; i++)
			out[i] = (uint8_t)(len >> (8 * (9 - i)));
	}
	if (mask_key) {
		memcpy(out + i, mask_key, 4);
		i += 4;
	}
	return (int)i;
}

void
ist_wsframe_mask(uint8_t *data, size_t len, const uint8_t mask_key[4],
    uint64_t offset)
{
	uint8_t k8[8];
	uint64_t k;
	size_t i;

	/* The key rotated to this offset, twice: its period (4) divides a
	 * word (8), so one word of key serves every word of data. */
	for (i = 0; i < 8; i++)
		k8[i] = mask_key[(offset + i) & 3u];
	memcpy(&k, k8, 8);
	/* Eight words a round, in scalars and with memcpy for unaligned
	 * access: gcc and clang turn it into 16-byte vector loads, XORs and
	 * stores (an array here would be spilled to the stack each round). */
	while (len >= 64) {
		uint64_t w0, w1, w2, w3, w4, w5, w6, w7;

		memcpy(&w0, data, 8);
		memcpy(&w1, data + 8, 8);
		memcpy(&w2, data + 16, 8);
		memcpy(&w3, data + 24, 8);
		memcpy(&w4, data + 32, 8);
		memcpy(&w5, data + 40, 8);
		memcpy(&w6, data + 48, 8);
		memcpy(&w7, data + 56, 8);
		w0 ^= k;
		w1 ^= k;
		w2 ^= k;
		w3 ^= k;
		w4 ^= k;
		w5 ^= k;
		w6 ^= k;
		w7 ^= k;
		memcpy(data, &w0, 8);
		memcpy(data + 8, &w1, 8);
		memcpy(data + 16, &w2, 8);
		memcpy(data + 24, &w3, 8);
		memcpy(data + 32, &w4, 8);
		memcpy(data + 40, &w5, 8);
		memcpy(data + 48, &w6, 8);
		memcpy(data + 56, &w7, 8);
		data += 64;
		len -= 64;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, data, 8);
		w ^= k;
		memcpy(data, &w, 8);
		data += 8;
		len -= 8;
	}
	for (i = 0; i < len; i++)
		data[i] ^= k8[i];
}

int
ist_wsframe_control(uint8_t *out, size_t cap, int opcode,
    const uint8_t *payload, size_t len, const uint8_t *mask_key)
{
	int h;

	if (opcode != IST_WS_OP_PING && opcode != IST_WS_OP_PONG)
		return IST_ERR_INVAL;
	if (len > IST_WSFRAME_MAX_CONTROL || (len && !payload))
		return IST_ERR_INVAL;
	if (!out || cap < ist_wsframe_header_size(len, mask_key) + len)
		return IST_ERR_TOOBIG;
	h = ist_wsframe_header(out, cap, true, opcode, len, mask_key);
	if (h < 0)
		return h;
	if (len) {
		memcpy(out + h, payload, len);
		if (mask_key)
			ist_wsframe_mask(out + h, len, mask_key, 0);
	}
	return h + (int)len;
}

int
ist_wsframe_close(uint8_t *out, size_t cap, uint16_t code,
    const char *reason, size_t reason_len, const uint8_t *mask_key)
{
	size_t len = code ? 2u + reason_len : 0u;
	int h;

	if (reason_len && !reason)
		return IST_ERR_INVAL;
	if (code == 0 && reason_len)
		return IST_ERR_INVAL;
	if (code && !ist_wsframe_close_code_valid(code))
		return IST_ERR_INVAL;
	if (reason_len > IST_WSFRAME_MAX_REASON ||
	    !ist_wsframe_utf8_valid((const uint8_t *)reason, reason_len))
		return IST_ERR_INVAL;
	if (!out || cap < ist_wsframe_header_size(len, mask_key) + len)
		return IST_ERR_TOOBIG;
	h = ist_wsframe_header(out, cap, true, IST_WS_OP_CLOSE, len, mask_key);
	if (h < 0)
		return h;
	if (code) {
		out[h] = (uint8_t)(code >> 8);
		out[h + 1] = (uint8_t)code;
		if (reason_len)
			memcpy(out + h + 2, reason, reason_len);
		if (mask_key)
			ist_wsframe_mask(out + h, len, mask_key, 0);
	}
	return h + (int)len;
}

bool
ist_wsframe_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) ||
	    (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

bool
ist_wsframe_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xbf;

		if (c < 0x80) {
			i++;
			continue;
		}
		/* The first continuation byte's range excludes overlong
		 * forms, surrogates and code points over U+10FFFF
		 * (RFC 3629 section 4). */
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t j = 2; j <= n; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += n + 1;
	}
	return true;
}

/* ---- decoder ---------------------------------------------------------- */

enum state {
	ST_HEADER,	/* gathering hdr[0..need) */
	ST_PAYLOAD,	/* taking the frame's payload */
	ST_FAILED,
	ST_CLOSED,
};

struct ist_wsframe_decoder {
	struct ist_mem mem;
	enum ist_wsframe_role role;
	uint64_t max_frame;
	uint64_t max_message;
	enum state state;

	uint8_t hdr[IST_WSFRAME_MAX_HEADER];
	size_t have;		/* header bytes gathered */
	size_t need;		/* header bytes this frame has (2 to 14) */

	/* The frame whose payload is being taken. */
	bool fin;
	unsigned opcode;
	bool masked;
	uint8_t key[4];
	uint64_t len;
	uint64_t done;		/* payload bytes taken */

	/* The data message open, if any. */
	bool in_message;
	unsigned msg_opcode;
	uint64_t msg_len;	/* its frames' lengths so far, this one too */
	bool delivered;		/* its first piece went out */

	uint8_t ctl[IST_WSFRAME_MAX_CONTROL + 1]; /* + NUL for a reason */

	enum ist_wsframe_fail fail;
	int code;		/* the negative return of the failure */
	struct ist_err err;	/* its message, repeated on later calls */
};

int
ist_wsframe_decoder_new(struct ist_wsframe_decoder **out,
    const struct ist_wsframe_decoder_options *o)
{
	const struct ist_mem *mem;
	struct ist_wsframe_decoder *d;

	if (!out)
		return IST_ERR_INVAL;
	*out = NULL;
	if (!o || (o->role != IST_WSFRAME_CLIENT &&
	    o->role != IST_WSFRAME_SERVER))
		return IST_ERR_INVAL;
	mem = o->mem ? o->mem : ist_mem_default();
	d = mem->malloc(sizeof(*d), mem->ud);
	if (!d)
		return IST_ERR_NOMEM;
	memset(d, 0, sizeof(*d));
	d->mem = *mem;
	d->role = o->role;
	d->max_frame = o->max_frame ? o->max_frame : IST_MAX_WS_MESSAGE;
	d->max_message = o->max_message ? o->max_message : IST_MAX_WS_MESSAGE;
	d->state = ST_HEADER;
	d->need = 2;
	*out = d;
	return 0;
}

void
ist_wsframe_decoder_free(struct ist_wsframe_decoder *d)
{
	if (!d)
		return;
	d->mem.free(d, d->mem.ud);
}

static uint16_t
close_code_for(int code)
{
	switch (code) {
	case IST_ERR_TOOBIG: return IST_WS_CLOSE_TOO_BIG;
	case IST_ERR_DECODE: return IST_WS_CLOSE_BAD_DATA;
	default: return IST_WS_CLOSE_PROTOCOL;
	}
}

/* Enters the failed state with the rule and message; returns the code. */
static int
failf(struct ist_wsframe_decoder *d, enum ist_wsframe_fail why, int code,
    struct ist_err *e, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int
failf(struct ist_wsframe_decoder *d, enum ist_wsframe_fail why, int code,
    struct ist_err *e, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(d->err.msg)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->state = ST_FAILED;
	d->fail = why;
	d->code = code;
	ist_err_set(&d->err, code, "%s (closing with %u)", msg,
	    (unsigned)close_code_for(code));
	if (e)
		*e = d->err;
	return code;
}

static const char *
opcode_name(unsigned op)
{
	switch (op) {
	case IST_WS_OP_CONT: return "continuation";
	case IST_WS_OP_TEXT: return "text";
	case IST_WS_OP_BINARY: return "binary";
	case IST_WS_OP_CLOSE: return "close";
	case IST_WS_OP_PING: return "ping";
	case IST_WS_OP_PONG: return "pong";
	default: return "reserved";
	}
}

/*
 * The first two header bytes are in: checks everything they alone decide
 * and sets how long the header is.
 */
static int
check_start(struct ist_wsframe_decoder *d, struct ist_err *e)
{
	uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
	unsigned op = b0 & OPCODE;
	unsigned len7 = b1 & LEN7;

	d->fin = (b0 & FIN) != 0;
	d->opcode = op;
	d->masked = (b1 & MASK) != 0;
	if (b0 & RSV)
		return failf(d, IST_WSFRAME_FAIL_RSV, IST_ERR_PROTO, e,
		    "the peer sent a WebSocket frame with reserved bits "
		    "set (0x%02x) but no extension was negotiated",
		    (unsigned)(b0 & RSV));
	if (!opcode_known((int)op))
		return failf(d, IST_WSFRAME_FAIL_OPCODE, IST_ERR_PROTO, e,
		    "the peer sent a WebSocket frame with the reserved "
		    "opcode %u", op);
	if (is_control(op)) {
		if (!d->fin)
			return failf(d, IST_WSFRAME_FAIL_CONTROL_FRAGMENTED,
			    IST_ERR_PROTO, e, "the peer sent a fragmented "
			    "WebSocket %s frame (control frames must have "
			    "FIN set)", opcode_name(op));
		if (len7 > IST_WSFRAME_MAX_CONTROL)
			return failf(d, IST_WSFRAME_FAIL_CONTROL_TOO_BIG,
			    IST_ERR_PROTO, e, "the peer sent a WebSocket %s "
			    "frame with a payload over 125 bytes",
			    opcode_name(op));
	} else if (op == IST_WS_OP_CONT) {
		if (!d->in_message)
			return failf(d, IST_WSFRAME_FAIL_CONT_NO_MESSAGE,
			    IST_ERR_PROTO, e, "the peer sent a WebSocket "
			    "continuation frame with no message started");
	} else if (d->in_message) {
		return failf(d, IST_WSFRAME_FAIL_DATA_IN_MESSAGE,
		    IST_ERR_PROTO, e, "the peer started a WebSocket %s "
		    "message before finishing its %s message",
		    opcode_name(op), opcode_name(d->msg_opcode));
	}
	if (d->role == IST_WSFRAME_SERVER && !d->masked)
		return failf(d, IST_WSFRAME_FAIL_UNMASKED, IST_ERR_PROTO, e,
		    "the client sent an unmasked WebSocket %s frame "
		    "(RFC 6455 5.1: a client must mask)", opcode_name(op));
	if (d->role == IST_WSFRAME_CLIENT && d->masked)
		return failf(d, IST_WSFRAME_FAIL_MASKED, IST_ERR_PROTO, e,
		    "the server sent a masked WebSocket %s frame "
		    "(RFC 6455 5.1: a server must not mask)",
		    opcode_name(op));
	d->need = 2u + (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u) +
	    (d->masked ? 4u : 0u);
	return 0;
}

/* The whole header is in: the length, its encoding and the limits. */
static int
check_header(struct ist_wsframe_decoder *d, struct ist_err *e)
{
	unsigned len7 = d->hdr[1] & LEN7;
	size_t i = 2;
	uint64_t len = len7;

	if (len7 == 126) {
		len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
		i = 4;
		if (len < 126)
			return failf(d, IST_WSFRAME_FAIL_LENGTH_NOT_MINIMAL,
			    IST_ERR_PROTO, e, "the peer sent a WebSocket "
			    "frame length of %" PRIu64 " in 2 bytes (RFC "
			    "6455 5.2: the minimal encoding must be used)",
			    len);
	} else if (len7 == 127) {
		len = 0;
		for (i = 2; i < 10; i++)
			len = len << 8 | d->hdr[i];
		if (len > IST_WSFRAME_MAX_LENGTH)
			return failf(d, IST_WSFRAME_FAIL_LENGTH_TOP_BIT,
			    IST_ERR_PROTO, e, "the peer sent a WebSocket "
			    "frame length of %" PRIu64 " (the top bit of a "
			    "64-bit length must be 0)", len);
		if (len < 65536)
			return failf(d, IST_WSFRAME_FAIL_LENGTH_NOT_MINIMAL,
			    IST_ERR_PROTO, e, "the peer sent a WebSocket "
			    "frame length of %" PRIu64 " in 8 bytes (RFC "
			    "6455 5.2: the minimal encoding must be used)",
			    len);
	}
	if (d->masked)
		memcpy(d->key, d->hdr + i, 4);
	d->len = len;
	d->done = 0;
	if (is_control(d->opcode))
		return 0;
	if (len > d->max_frame)
		return failf(d, IST_WSFRAME_FAIL_FRAME_TOO_BIG, IST_ERR_TOOBIG,
		    e, "the peer sent a WebSocket frame of %" PRIu64
		    " bytes, over the %" PRIu64 "-byte limit", len,
		    d->max_frame);
	/* max_frame bounds len, but not msg_len: compare without adding. */
	if (d->opcode == IST_WS_OP_CONT ? len > d->max_message - d->msg_len :
	    len > d->max_message)
		return failf(d, IST_WSFRAME_FAIL_MESSAGE_TOO_BIG,
		    IST_ERR_TOOBIG, e, "the peer sent a WebSocket message "
		    "of at least %" PRIu64 " bytes, over the %" PRIu64
		    "-byte limit", d->opcode == IST_WS_OP_CONT ?
		    d->msg_len + len : len, d->max_message);
	if (d->opcode != IST_WS_OP_CONT) {
		d->in_message = true;
		d->msg_opcode = d->opcode;
		d->msg_len = 0;
		d->delivered = false;
	}
	d->msg_len += len;
	return 0;
}

/* The control frame's payload is all in ctl[]: checks it, makes the
 * event. */
static int
control_event(struct ist_wsframe_decoder *d, struct ist_wsframe_event *ev,
    struct ist_err *e)
{
	size_t n = (size_t)d->len;

	memset(ev, 0, sizeof(*ev));
	ev->opcode = (int)d->opcode;
	ev->data = d->ctl;
	ev->len = n;
	d->ctl[n] = '\0';
	if (d->opcode == IST_WS_OP_PING) {
		ev->type = IST_WSFRAME_EV_PING;
		return 1;
	}
	if (d->opcode == IST_WS_OP_PONG) {
		ev->type = IST_WSFRAME_EV_PONG;
		return 1;
	}
	ev->type = IST_WSFRAME_EV_CLOSE;
	if (n == 0) {
		ev->close_code = IST_WS_CLOSE_NO_STATUS;
	} else {
		unsigned code;

		if (n == 1)
			return failf(d, IST_WSFRAME_FAIL_CLOSE_1_BYTE,
			    IST_ERR_PROTO, e, "the peer sent a WebSocket "
			    "close frame with a 1-byte payload (a close "
			    "code takes 2)");
		code = (unsigned)d->ctl[0] << 8 | d->ctl[1];
		if (!ist_wsframe_close_code_valid(code))
			return failf(d, IST_WSFRAME_FAIL_CLOSE_CODE,
			    IST_ERR_PROTO, e, "the peer sent a WebSocket "
			    "close frame with the close code %u, which is "
			    "not valid on the wire (RFC 6455 7.4)", code);
		if (!ist_wsframe_utf8_valid(d->ctl + 2, n - 2))
			return failf(d, IST_WSFRAME_FAIL_CLOSE_UTF8,
			    IST_ERR_DECODE, e, "the peer sent a WebSocket "
			    "close frame (code %u) whose reason is not "
			    "valid UTF-8", code);
		ev->close_code = (uint16_t)code;
		ev->data = d->ctl + 2;
		ev->len = n - 2;
	}
	d->state = ST_CLOSED;
	return 1;
}

static void
next_frame(struct ist_wsframe_decoder *d)
{
	d->state = ST_HEADER;
	d->have = 0;
	d->need = 2;
}

int
ist_wsframe_decoder_feed(struct ist_wsframe_decoder *d, uint8_t *in,
    size_t len, size_t *consumed, struct ist_wsframe_event *ev,
    struct ist_err *e)
{
	size_t pos = 0;
	int r;

	*consumed = 0;
	if (len == 0)
		return 0;
	if (d->state == ST_FAILED) {
		if (e)
			*e = d->err;
		return d->code;
	}
	if (d->state == ST_CLOSED)
		return failf(d, IST_WSFRAME_FAIL_AFTER_CLOSE, IST_ERR_PROTO, e,
		    "the peer sent bytes after its WebSocket close frame");
	while (pos < len) {
		if (d->state == ST_HEADER) {
			while (pos < len && d->have < d->need)
				d->hdr[d->have++] = in[pos++];
			if (d->have < d->need)
				break;
			if (d->have == 2) {
				r = check_start(d, e);
				if (r < 0)
					goto out;
				if (d->need > 2)
					continue;
			}
			r = check_header(d, e);
			if (r < 0)
				goto out;
			d->state = ST_PAYLOAD;
			if (d->len > 0)
				continue;
		}
		/* ST_PAYLOAD: pos < len, or a frame with no payload. */
		{
			uint64_t left = d->len - d->done;
			size_t n = len - pos;

			if ((uint64_t)n > left)
				n = (size_t)left;
			if (is_control(d->opcode)) {
				memcpy(d->ctl + d->done, in + pos, n);
				if (d->masked)
					ist_wsframe_mask(d->ctl + d->done, n,
					    d->key, d->done);
				d->done += n;
				pos += n;
				if (d->done < d->len)
					break;
				r = control_event(d, ev, e);
				if (r < 0)
					goto out;
				if (d->state != ST_CLOSED)
					next_frame(d);
				r = 1;
				goto out;
			}
			if (d->masked)
				ist_wsframe_mask(in + pos, n, d->key, d->done);
			memset(ev, 0, sizeof(*ev));
			ev->type = IST_WSFRAME_EV_DATA;
			ev->opcode = (int)d->msg_opcode;
			ev->data = in + pos;
			ev->len = n;
			ev->first = !d->delivered;
			d->delivered = true;
			d->done += n;
			pos += n;
			if (d->done == d->len) {
				ev->last = d->fin;
				if (d->fin)
					d->in_message = false;
				next_frame(d);
			}
			r = 1;
			goto out;
		}
	}
	r = 0;
out:
	*consumed = pos;
	return r;
}

enum ist_wsframe_fail
ist_wsframe_decoder_fail(const struct ist_wsframe_decoder *d)
{
	return d->fail;
}

uint16_t
ist_wsframe_decoder_close_code(const struct ist_wsframe_decoder *d)
{
	return d->fail == IST_WSFRAME_FAIL_NONE ? 0 : close_code_for(d->code);
}

bool
ist_wsframe_decoder_in_message(const struct ist_wsframe_decoder *d)
{
	return d->in_message;
}

bool
ist_wsframe_decoder_closed(const struct ist_wsframe_decoder *d)
{
	return d->state == ST_CLOSED ||
	    d->fail == IST_WSFRAME_FAIL_AFTER_CLOSE;
}
