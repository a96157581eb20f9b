/*
 * fuzz_session.c: the session state machine, both roles, all formats.
 *
 * Input: two config bytes, then operations. Config byte 0: bit 0 role
 * (single mode), bits 1-2 format, bit 3 wait for SERVICE_IDS, bit 4
 * smallest output buffer, bit 5 two connections at most, bit 6 pair mode
 * (a source and a destination wired back to back), bit 7 echo received
 * data from the callback. Config byte 1: bit 0 restart a stream from
 * on_connection_end, bits 1-3 refuse every Nth connection start.
 *
 * Each operation byte: bits 0-2 the kind, bits 3-6 an argument, bit 7 the
 * side (pair mode). Kinds: raw bytes in (single) or bytes across (pair),
 * start_stream, start_connection, send_data, end_connection, drain,
 * a well-formed message in, queries.
 *
 * Oracles: everything a session emits decodes and obeys PROTOCOL.md's
 * rules for its role and format; the output stays within its bounds; in
 * pair mode neither session may ever fail on the other's bytes (only an
 * undrained output buffer may, with IST_ERR_TOOBIG).
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
#include "ist/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct side {
	struct ist_session *s;
	struct ist_frame_decoder *check;
	enum ist_role role;
	int format;		/* source: fixed; destination: learnt */
	size_t cap;
	bool echo;
	bool restart;
	int restarts;
	unsigned refuse_every;
	unsigned starts;
	bool in_echo;
};

static const char *const svcs[] = { "SSH", "HTTP", "", "RDP" };
static uint8_t scratch[1024];
static uint8_t big[256 * 997 + 16 * 16411];

static void
check_msg(struct side *sd, const struct ist_msg *m)
{
	if (m->type < IST_MSG_DATA || m->type > IST_MSG_CONNECTION_RESET)
		FAIL();
	if (m->has_unknown_fields || m->stream_id <= 0)
		FAIL();
	if (m->type == IST_MSG_SESSION_RESET || m->type == IST_MSG_SERVICE_IDS)
		FAIL();
	if (m->payload_len > IST_MAX_PAYLOAD)
		FAIL();
	if (m->type == IST_MSG_DATA && m->payload_len == 0)
		FAIL();
	if (sd->role == IST_ROLE_DESTINATION &&
	    (m->type == IST_MSG_STREAM_START ||
	    m->type == IST_MSG_CONNECTION_START))
		FAIL();
	if (sd->role != IST_ROLE_SOURCE)
		return;
	/* A source speaks its one format. */
	if (sd->format == IST_FORMAT_V1 && (m->service_id || m->connection_id))
		FAIL();
	if (sd->format == IST_FORMAT_V2 && (!m->service_id || m->connection_id))
		FAIL();
	if (sd->format == IST_FORMAT_V3 && !m->service_id)
		FAIL();
	if (sd->format == IST_FORMAT_V3 && m->type != IST_MSG_STREAM_RESET &&
	    !m->connection_id)
		FAIL();
}

/* Everything a session sends passes through here. */
static void
check_bytes(struct side *sd, const uint8_t *p, size_t n)
{
	struct ist_msg m;
	struct ist_err e;
	size_t used;
	int r;

	while (n > 0) {
		r = ist_frame_decoder_feed(sd->check, p, n, &used, &m, &e);
		if (r < 0)
			FAIL();
		if (r == 1)
			check_msg(sd, &m);
		p += used;
		n -= used;
	}
}

static void
check_bounds(const struct side *sd)
{
	const uint8_t *p;
	size_t n;

	if (ist_session_output_pending(sd->s) > sd->cap)
		FAIL();
	n = ist_session_peek_output(sd->s, &p);
	if (n > IST_MAX_WS_MESSAGE || n > ist_session_output_pending(sd->s))
		FAIL();
}

static void
on_ids(struct ist_session *s, const char *const *ids, size_t n, void *ud)
{
	(void)s;
	(void)ud;
	for (size_t i = 0; i < n; i++)
		if (!ids[i] || !ids[i][0])
			FAIL();
}

static int
on_start(struct ist_session *s, const char *svc, uint32_t conn, void *ud)
{
	struct side *sd = ud;

	(void)s;
	if (!svc || conn == 0)
		FAIL();
	sd->starts++;
	if (sd->refuse_every && sd->starts % sd->refuse_every == 0)
		return IST_ERR_DENIED;
	return 0;
}

static void
on_data(struct ist_session *s, const char *svc, uint32_t conn,
    const uint8_t *d, size_t len, void *ud)
{
	struct side *sd = ud;
	struct ist_err e;
	size_t acc;

	if (!svc || len == 0 || len > IST_MAX_PAYLOAD ||
	    !ist_session_connection_live(s, svc, conn))
		FAIL();
	if (sd->echo && !sd->in_echo) {
		sd->in_echo = true;
		if (ist_session_send_data(s, svc, conn, d, len, &acc, &e) < 0)
			FAIL(); /* the connection is live */
		sd->in_echo = false;
	}
}

static void
on_end(struct ist_session *s, const char *svc, uint32_t conn,
    enum ist_end_reason why, void *ud)
{
	struct side *sd = ud;
	struct ist_err e;

	if (!svc || why < IST_END_CONNECTION_RESET || why > IST_END_FORMAT)
		FAIL();
	/* Ended means not live, unless a restart from this very callback
	 * already brought up a new connection of the same name. */
	if (!sd->restart && ist_session_connection_live(s, svc, conn))
		FAIL();
	if (sd->restart && sd->role == IST_ROLE_SOURCE && sd->restarts < 4) {
		sd->restarts++;
		(void)ist_session_start_stream(s, svc, NULL, &e);
	}
}

static void
on_msg(struct ist_session *s, const struct ist_msg *m, void *ud)
{
	(void)s;
	(void)ud;
	if (m->type == 0)
		FAIL(); /* the decoder refuses those */
}

static const struct ist_session_callbacks cbs = {
	on_ids, on_start, on_data, on_end, on_msg,
};

static int
side_new(struct side *sd, enum ist_role role, int format, uint8_t c0,
    uint8_t c1)
{
	struct ist_session_options o = { 0 };

	memset(sd, 0, sizeof(*sd));
	sd->role = role;
	sd->format = role == IST_ROLE_SOURCE ? format : 0;
	sd->cap = c0 & 0x10 ? 2 * (size_t)IST_MAX_FRAME : 256 * 1024;
	sd->echo = c0 & 0x80;
	sd->restart = c1 & 1;
	sd->refuse_every = (c1 >> 1) & 7;
	o.role = role;
	o.format = (enum ist_format)format;
	o.wait_service_ids = c0 & 0x08;
	o.out_capacity = sd->cap;
	o.max_connections = c0 & 0x20 ? 2 : 0;
	if (ist_session_new(&sd->s, &o, &cbs, sd) < 0)
		return -1;
	if (ist_frame_decoder_new(&sd->check) < 0)
		return -1;
	return 0;
}

static void
side_free(struct side *sd)
{
	ist_session_free(sd->s);
	ist_frame_decoder_free(sd->check);
}

/* Moves up to n output bytes of a into b (NULL: just drains them). */
static int
move(struct side *a, struct side *b, size_t n, struct ist_err *e)
{
	const uint8_t *p;
	size_t k = ist_session_peek_output(a->s, &p);
	int r = 0;

	if (k > n)
		k = n;
	if (!k)
		return 0;
	check_bytes(a, p, k);
	if (b)
		r = ist_session_recv(b->s, p, k, e);
	ist_session_consume_output(a->s, k);
	return r;
}

/* Two of our sessions must understand each other. Returns true when the
 * run is over: an undrained output buffer overflowed, which is legal. */
static bool
pair_recv_failed(int r, const struct ist_err *e)
{
	if (r == 0)
		return false;
	if (r == IST_ERR_TOOBIG && strstr(e->msg, "output buffer full"))
		return true;
	fprintf(stderr, "pair: recv failed: %s\n", e->msg);
	FAIL();
}

static int
inject(struct side *sd, const struct ist_msg *m, struct ist_err *e)
{
	int n = ist_frame_encode(m, scratch, sizeof(scratch));

	if (n < 0)
		return 0;
	return ist_session_recv(sd->s, scratch, (size_t)n, e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct side sides[2];
	struct ist_err e;
	bool pair;
	uint8_t c0, c1;
	int format;
	size_t pos = 2;
	/* FUZZ_TRACE=1 bin/fuzz_session crash-...: shows each step. */
	bool trace = getenv("FUZZ_TRACE") != NULL;

	if (size < 2)
		return 0;
	c0 = data[0];
	c1 = data[1];
	pair = c0 & 0x40;
	format = 1 + ((c0 >> 1) & 3) % 3;
	if (side_new(&sides[0], pair || !(c0 & 1) ? IST_ROLE_SOURCE :
	    IST_ROLE_DESTINATION, format, c0, c1) < 0)
		FAIL();
	if (pair && side_new(&sides[1], IST_ROLE_DESTINATION, 0, c0, c1) < 0)
		FAIL();

	while (pos < size) {
		uint8_t op = data[pos++];
		unsigned arg = (op >> 3) & 15;
		struct side *sd = &sides[pair ? op >> 7 : 0];
		struct side *other = pair ? &sides[!(op >> 7)] : NULL;
		const char *svc = svcs[arg & 3];
		uint32_t conn = (arg >> 2) + 1, got;
		size_t n, acc;
		int r;

		if (trace)
			fprintf(stderr, "op kind %d arg %u side %d: pending "
			    "%zu/%zu\n", op & 7, arg, pair ? op >> 7 : 0,
			    ist_session_output_pending(sides[0].s), pair ?
			    ist_session_output_pending(sides[1].s) : 0);
		switch (op & 7) {
		case 0:
			if (pair) {
				n = (size_t)(arg + 1) * 997;
				r = move(sd, other, n, &e);
				if (pair_recv_failed(r, &e))
					goto out;
				break;
			}
			n = pos < size ? data[pos++] : 0;
			if (n > size - pos)
				n = size - pos;
			r = ist_session_recv(sd->s, data + pos, n, &e);
			if (r < 0 && (e.code != r || !e.msg[0]))
				FAIL();
			pos += n;
			break;
		case 1:
			r = ist_session_start_stream(sd->s, svc, &got, &e);
			if (r == 0 && got != 1)
				FAIL();
			break;
		case 2:
			(void)ist_session_start_connection(sd->s, svc, &got,
			    &e);
			break;
		case 3:
			n = pos < size ? (size_t)data[pos++] * 997 : 1;
			n += (size_t)arg * 16411;
			if (n > sizeof(big))
				FAIL();
			r = ist_session_send_data(sd->s, svc, conn, big, n,
			    &acc, &e);
			if (r == 0 && acc > n)
				FAIL();
			break;
		case 4:
			(void)ist_session_end_connection(sd->s, svc, conn, &e);
			break;
		case 5:
			/* In pair mode dropping bytes would tear the stream. */
			if (pair) {
				if (pair_recv_failed(move(sd, other, (size_t)
				    (arg + 1) * 4099, &e), &e))
					goto out;
				break;
			}
			(void)move(sd, NULL, (size_t)(arg + 1) * 4099, &e);
			break;
		case 6: {
			/* A well-formed message from the service or peer. */
			struct ist_msg m = { 0 };
			const char *ids[2] = { "SSH", "HTTP" };

			if (pos + 3 > size)
				break;
			m.type = 1 + data[pos] % 7;
			m.stream_id = (int8_t)data[pos + 1];
			m.service_id = svcs[data[pos + 2] & 3];
			m.connection_id = data[pos + 2] >> 4;
			m.ignorable = data[pos] & 0x80;
			if (data[pos] & 0x40) {
				m.type = 8 + (data[pos] & 7);
			}
			if (m.type == IST_MSG_DATA) {
				m.payload = (const uint8_t *)"payload";
				m.payload_len = 7;
			}
			if (m.type == IST_MSG_SERVICE_IDS) {
				m.available = ids;
				m.n_available = arg % 3;
			}
			pos += 3;
			if (pair) {
				/* Only what the service itself may send. */
				if (m.type != IST_MSG_SERVICE_IDS &&
				    m.type != IST_MSG_SESSION_RESET)
					break;
				m.service_id = NULL;
				m.stream_id = 0;
				m.connection_id = 0;
				m.ignorable = false;
				/* The service sends whole frames: deliver what
				 * the peer has in flight so that sd's byte
				 * stream is at a frame boundary first. */
				while (ist_session_output_pending(other->s))
					if (pair_recv_failed(move(other, sd,
					    IST_MAX_WS_MESSAGE, &e), &e))
						goto out;
				if (pair_recv_failed(inject(sd, &m, &e), &e))
					goto out;
				break;
			}
			r = inject(sd, &m, &e);
			if (r < 0 && (e.code != r || !e.msg[0]))
				FAIL();
			break;
		}
		case 7:
			(void)ist_session_ready(sd->s);
			(void)ist_session_send_room(sd->s);
			(void)ist_session_last_stream_id(sd->s);
			(void)ist_session_connection_live(sd->s, svc, conn);
			break;
		}
		check_bounds(&sides[0]);
		if (pair)
			check_bounds(&sides[1]);
	}
out:
	/* Whatever is left must still be valid output. */
	while (ist_session_output_pending(sides[0].s))
		(void)move(&sides[0], NULL, IST_MAX_WS_MESSAGE, &e);
	side_free(&sides[0]);
	if (pair) {
		while (ist_session_output_pending(sides[1].s))
			(void)move(&sides[1], NULL, IST_MAX_WS_MESSAGE, &e);
		side_free(&sides[1]);
	}
	return 0;
}
