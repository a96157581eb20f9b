/*
 * fuzz_ws.c: the WebSocket codec in both roles, joined to the tunnel
 * session: the bytes a tunnel client or the service's side receives, from
 * the handshake through the frames to the tunnel messages.
 *
 * Input: two config bytes, then the peer's bytes. Config byte 0: bit 0
 * decoder role (0 client: the server's bytes to iot-ssh-proxy or
 * iot-tunnel-agent; 1 server: a client's bytes to the emulator), bits 1-3
 * max_frame, bits 4-5 max_message, bit 6 a handshake head comes first (a
 * 101 answer for the client, an upgrade request for the server), bit 7
 * the session's role (source or destination). Config byte 1 seeds the
 * chunk sizes the bytes are fed in.
 *
 * Oracles:
 *  - the decoder gives the same events (message bytes, ping, pong, close,
 *    error) fed whole and fed in chunks;
 *  - every event obeys its contract (pieces inside the input, first/last
 *    in order, limits, control payloads <= 125, valid close codes and
 *    UTF-8 reasons, an event takes at least one byte), errors are sticky
 *    and name a close code;
 *  - what we would send back (the session's output as binary frames,
 *    a pong, a close, masked when we are the client) decodes in the
 *    opposite role to the same bytes;
 *  - a request the server parser accepts gets a 101 our client parser
 *    accepts; a refused request has a status to refuse it with.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ist/session.h"
#include "ist/wsframe.h"
#include "ist/wshandshake.h"

#define FAIL() do { \
	fprintf(stderr, "%s:%d: oracle failed\n", __FILE__, __LINE__); \
	abort(); \
} while (0)

#define PROTO "aws.iot.securetunneling-3.0"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t frame_limits[8] = { 0, 1, 125, 126, 1000, 65536,
    131076, UINT64_MAX };
static const uint64_t message_limits[4] = { 0, 200, 300000, UINT64_MAX };

/* The events of one run, independent of chunking: an FNV-1a hash. */
struct run {
	uint64_t hash;
	int err;
	enum ist_wsframe_fail fail;
	uint64_t msg_len;
	bool open;
};

static void
mix(struct run *r, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		r->hash ^= b[i];
		r->hash *= UINT64_C(0x100000001b3);
	}
}

static void
mix_tag(struct run *r, int tag)
{
	uint8_t t = (uint8_t)tag;

	mix(r, &t, 1);
}

/* What the decoder in the opposite role made of our own bytes. */
struct echo {
	uint8_t buf[IST_MAX_WS_MESSAGE + 64];
	size_t len;
};

static uint8_t key_seed;

static void
next_key(uint8_t key[4])
{
	key_seed = (uint8_t)(key_seed * 37u + 11u);
	key[0] = key_seed;
	key[1] = (uint8_t)(key_seed ^ 0x5a);
	key[2] = (uint8_t)(key_seed + 1u);
	key[3] = (uint8_t)~key_seed;
}

/*
 * Decodes frame (our own, as the peer would get it) in the opposite role
 * and checks it gives exactly one event of type with payload want.
 */
static void
check_ours(enum ist_wsframe_role our_role, uint8_t *frame, size_t n,
    enum ist_wsframe_event_type type, const uint8_t *want, size_t want_len)
{
	struct ist_wsframe_decoder_options o = { our_role ==
	    IST_WSFRAME_CLIENT ? IST_WSFRAME_SERVER : IST_WSFRAME_CLIENT,
	    UINT64_MAX, UINT64_MAX, NULL };
	struct ist_wsframe_decoder *d = NULL;
	struct ist_wsframe_event ev;
	struct ist_err e;
	size_t used;

	if (ist_wsframe_decoder_new(&d, &o) < 0)
		FAIL();
	if (ist_wsframe_decoder_feed(d, frame, n, &used, &ev, &e) != 1)
		FAIL();
	if (used != n || ev.type != type || ev.len != want_len)
		FAIL();
	if (want_len && memcmp(ev.data, want, want_len) != 0)
		FAIL();
	ist_wsframe_decoder_free(d);
}

static uint8_t out_frame[IST_MAX_WS_MESSAGE + IST_WSFRAME_MAX_HEADER];

/* Sends the session's output as we would: one binary frame per peek,
 * masked by a client, and checks the peer would read it back. */
static void
drain(struct ist_session *s, enum ist_wsframe_role role)
{
	const uint8_t *p;
	uint8_t key[4];
	size_t n;
	int h;

	while ((n = ist_session_peek_output(s, &p)) > 0) {
		next_key(key);
		h = ist_wsframe_header(out_frame, sizeof(out_frame), true,
		    IST_WS_OP_BINARY, n, role == IST_WSFRAME_CLIENT ? key :
		    NULL);
		if (h < 2 || (size_t)h + n > sizeof(out_frame))
			FAIL();
		memcpy(out_frame + h, p, n);
		if (role == IST_WSFRAME_CLIENT) {
			/* In two pieces, as a transport writing in parts
			 * would. */
			ist_wsframe_mask(out_frame + h, n / 3, key, 0);
			ist_wsframe_mask(out_frame + h + n / 3, n - n / 3,
			    key, n / 3);
		}
		check_ours(role, out_frame, (size_t)h + n,
		    IST_WSFRAME_EV_DATA, p, n);
		ist_session_consume_output(s, n);
	}
}

/* Answers a ping or close as a program would, and checks it. */
static void
answer(const struct ist_wsframe_event *ev, enum ist_wsframe_role role)
{
	uint8_t f[IST_WSFRAME_MAX_CONTROL_FRAME], key[4];
	uint8_t copy[IST_WSFRAME_MAX_CONTROL];
	const uint8_t *k = NULL;
	int n;

	if (role == IST_WSFRAME_CLIENT) {
		next_key(key);
		k = key;
	}
	memcpy(copy, ev->data, ev->len);
	if (ev->type == IST_WSFRAME_EV_PING) {
		n = ist_wsframe_control(f, sizeof(f), IST_WS_OP_PONG, copy,
		    ev->len, k);
		if (n < 0)
			FAIL();
		check_ours(role, f, (size_t)n, IST_WSFRAME_EV_PONG, copy,
		    ev->len);
	} else if (ev->type == IST_WSFRAME_EV_CLOSE &&
	    ev->close_code != IST_WS_CLOSE_NO_STATUS) {
		n = ist_wsframe_close(f, sizeof(f), ev->close_code,
		    (const char *)copy, ev->len, k);
		if (n < 0)
			FAIL();
		check_ours(role, f, (size_t)n, IST_WSFRAME_EV_CLOSE, copy,
		    ev->len);
	}
}

static void
check_event(struct run *r, const struct ist_wsframe_event *ev,
    const uint8_t *in, size_t len, uint64_t max_message)
{
	switch (ev->type) {
	case IST_WSFRAME_EV_DATA:
		if (ev->data < in || ev->len > len ||
		    ev->data + ev->len > in + len)
			FAIL();
		if (ev->first == r->open)
			FAIL();
		if (ev->opcode != IST_WS_OP_TEXT &&
		    ev->opcode != IST_WS_OP_BINARY)
			FAIL();
		r->open = !ev->last;
		r->msg_len += ev->len;
		if (r->msg_len > max_message)
			FAIL();
		mix(r, ev->data, ev->len);
		if (ev->last) {
			mix_tag(r, 'M' + ev->opcode);
			r->msg_len = 0;
		}
		break;
	case IST_WSFRAME_EV_PING:
	case IST_WSFRAME_EV_PONG:
		if (ev->len > IST_WSFRAME_MAX_CONTROL)
			FAIL();
		mix(r, ev->data, ev->len);
		mix_tag(r, ev->type);
		break;
	case IST_WSFRAME_EV_CLOSE:
		if (ev->len > IST_WSFRAME_MAX_REASON || ev->data[ev->len])
			FAIL();
		if (ev->close_code != IST_WS_CLOSE_NO_STATUS &&
		    !ist_wsframe_close_code_valid(ev->close_code))
			FAIL();
		if (ev->close_code == IST_WS_CLOSE_NO_STATUS && ev->len)
			FAIL();
		if (!ist_wsframe_utf8_valid(ev->data, ev->len))
			FAIL();
		mix(r, ev->data, ev->len);
		mix(r, &ev->close_code, sizeof(ev->close_code));
		mix_tag(r, 'C');
		break;
	default:
		FAIL();
	}
}

/* The programs' side of the session: a source starts a stream to the
 * first service offered, both echo data back (as ssh would answer), so
 * that the session has output for the encoder. */
static void
on_ids(struct ist_session *s, const char *const *ids, size_t n, void *ud)
{
	struct ist_err e;

	(void)ud;
	if (n)
		(void)ist_session_start_stream(s, ids[0], NULL, &e);
}

static void
on_data(struct ist_session *s, const char *service_id,
    uint32_t connection_id, const uint8_t *data, size_t len, void *ud)
{
	struct ist_err e;
	size_t acc;

	(void)ud;
	(void)ist_session_send_data(s, service_id, connection_id, data, len,
	    &acc, &e);
}

static const struct ist_session_callbacks session_cbs = {
	.on_service_ids = on_ids,
	.on_data = on_data,
};

struct ctx {
	enum ist_wsframe_role role;
	uint64_t max_frame, max_message;
	struct ist_session *s;	/* NULL: not fed (or failed) */
};

/*
 * One run of the decoder over in[0..len), fed in chunks from seed (0:
 * whole). Data goes into the session when c->s is not NULL.
 */
static void
run(struct ctx *c, uint8_t *in, size_t len, unsigned seed, struct run *r)
{
	struct ist_wsframe_decoder_options o = { c->role, c->max_frame,
	    c->max_message, NULL };
	struct ist_wsframe_decoder *d = NULL;
	uint64_t max_msg = c->max_message ? c->max_message :
	    IST_MAX_WS_MESSAGE;
	struct ist_wsframe_event ev;
	struct ist_err e;
	size_t pos = 0, used;
	unsigned x = seed * 2654435761u + 1u;
	int rc;

	memset(r, 0, sizeof(*r));
	r->hash = UINT64_C(0xcbf29ce484222325);
	if (ist_wsframe_decoder_new(&d, &o) < 0)
		FAIL();
	while (pos < len) {
		size_t chunk = len - pos, end, p;

		if (seed) {
			x = x * 1103515245u + 12345u;
			chunk = 1 + (x >> 16) % 40;
			if (chunk > len - pos)
				chunk = len - pos;
		}
		end = pos + chunk;
		p = pos;
		while (p < end) {
			rc = ist_wsframe_decoder_feed(d, in + p, end - p, &used,
			    &ev, &e);
			if (used > end - p)
				FAIL();
			if (rc < 0) {
				uint16_t cc = ist_wsframe_decoder_close_code(d);

				if (cc != 1002 && cc != 1007 && cc != 1009)
					FAIL();
				if (e.code != rc || !e.msg[0])
					FAIL();
				/* Sticky. */
				if (ist_wsframe_decoder_feed(d, in + p, 1,
				    &used, &ev, &e) != rc || used != 0)
					FAIL();
				r->err = rc;
				r->fail = ist_wsframe_decoder_fail(d);
				mix(r, &r->fail, sizeof(r->fail));
				ist_wsframe_decoder_free(d);
				return;
			}
			if (rc == 0) {
				if (used != end - p)
					FAIL();
				p = end;
				continue;
			}
			if (rc != 1 || used == 0)
				FAIL();
			check_event(r, &ev, in + p, used, max_msg);
			if (ev.type == IST_WSFRAME_EV_DATA && c->s &&
			    ev.opcode == IST_WS_OP_BINARY) {
				if (ist_session_recv(c->s, ev.data, ev.len,
				    &e) < 0) {
					ist_session_free(c->s);
					c->s = NULL;
				} else {
					drain(c->s, c->role);
				}
			} else if (ev.type != IST_WSFRAME_EV_DATA) {
				answer(&ev, c->role);
			}
			p += used;
		}
		pos = end;
	}
	/* Open with a piece out means in a message (not the reverse: a
	 * message is open from its first header on). */
	if (r->open && !ist_wsframe_decoder_in_message(d))
		FAIL();
	ist_wsframe_decoder_free(d);
}

static const struct ist_wshandshake_client client = {
	"localhost", "/tunnel?local-proxy-mode=source", PROTO, NULL, 0,
	{ 't', 'h', 'e', ' ', 's', 'a', 'm', 'p', 'l', 'e', ' ', 'n', 'o',
	    'n', 'c', 'e' },
};

/* Parses a handshake head from data; returns how much it took. */
static size_t
handshake(enum ist_wsframe_role role, const uint8_t *data, size_t size)
{
	static char out[16384];
	struct ist_err e;
	size_t used = 0, len;
	int r;

	if (role == IST_WSFRAME_CLIENT) {
		struct ist_wshandshake_response *p = NULL;

		if (ist_wshandshake_response_new(&p, &client, 0, NULL) < 0)
			FAIL();
		r = ist_wshandshake_response_feed(p, data, size, &used, &e);
		if (used > size)
			FAIL();
		if (r == 1 && (ist_wshandshake_response_status(p) != 101 ||
		    strcmp(ist_wshandshake_response_header(p,
		    "sec-websocket-protocol", NULL), PROTO) != 0))
			FAIL();
		if (r == IST_ERR_NET && ist_wshandshake_response_status(p) <
		    200)
			FAIL();
		ist_wshandshake_response_free(p);
	} else {
		struct ist_wshandshake_request *q = NULL;
		struct ist_wshandshake_response *p = NULL;
		const char *proto = NULL, *t;
		size_t i;

		if (ist_wshandshake_request_new(&q, 0, NULL) < 0)
			FAIL();
		r = ist_wshandshake_request_feed(q, data, size, &used, &e);
		if (used > size)
			FAIL();
		if (r == 1) {
			for (i = 0; (t = ist_wshandshake_request_protocol(q,
			    i)); i++)
				if (strcmp(t, PROTO) == 0)
					proto = t;
			if (ist_wshandshake_accept(
			    ist_wshandshake_request_key(q), proto, NULL, 0,
			    out, sizeof(out), &len, &e) < 0)
				FAIL();
			/* Our client, had it sent this key, accepts it
			 * (only with the RFC's key can we tell). */
			if (strcmp(ist_wshandshake_request_key(q),
			    "dGhlIHNhbXBsZSBub25jZQ==") == 0 && proto) {
				size_t u;

				if (ist_wshandshake_response_new(&p, &client, 0,
				    NULL) < 0)
					FAIL();
				if (ist_wshandshake_response_feed(p,
				    (const uint8_t *)out, len, &u, &e) != 1 ||
				    u != len)
					FAIL();
				ist_wshandshake_response_free(p);
			}
		} else if (r < 0) {
			int st = ist_wshandshake_request_fail_status(q);

			if (st < 400 || st > 505)
				FAIL();
			if (ist_wshandshake_refuse(st, NULL, 0, "no", 2, out,
			    sizeof(out), &len, &e) < 0)
				FAIL();
		}
		ist_wshandshake_request_free(q);
	}
	return used;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ist_session_options so = { 0 };
	struct ctx c;
	struct run whole, chunked;
	uint8_t *buf;
	unsigned seed;
	size_t n;

	if (size < 2)
		return 0;
	c.role = data[0] & 1 ? IST_WSFRAME_SERVER : IST_WSFRAME_CLIENT;
	c.max_frame = frame_limits[(data[0] >> 1) & 7];
	c.max_message = message_limits[(data[0] >> 4) & 3];
	so.role = data[0] & 0x80 ? IST_ROLE_DESTINATION : IST_ROLE_SOURCE;
	seed = data[1] | 1u;
	key_seed = data[1];
	data += 2;
	size -= 2;
	if (data[-2] & 0x40) {
		n = handshake(c.role, data, size);
		data += n;
		size -= n;
	}
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;

	/* Whole, into the session. */
	memcpy(buf, data, size);
	if (ist_session_new(&c.s, &so, &session_cbs, NULL) < 0)
		FAIL();
	run(&c, buf, size, 0, &whole);
	ist_session_free(c.s);

	/* In chunks, without the session: the same events. */
	memcpy(buf, data, size);
	c.s = NULL;
	run(&c, buf, size, seed, &chunked);
	if (whole.hash != chunked.hash || whole.err != chunked.err ||
	    whole.fail != chunked.fail)
		FAIL();
	free(buf);
	return 0;
}
