/*
 * test_session.c: the tunnel state machine, bytes in and bytes out
 * (PROTOCOL.md section 2: source session, peer message formats, rules).
 * Sessions are wired back to back: what one emits is fed to the other.
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
#include "ist/session.h"
#include "failmem.h"

/* ---- a peer: a session plus what came out of it ---- */

enum ev_kind { EV_IDS = 1, EV_START, EV_END };

struct ev {
	enum ev_kind kind;
	char svc[32];
	uint32_t conn;
	int why;
	size_t n;
};

#define MAX_CONN 8

struct peer {
	struct ist_session *s;
	struct ev ev[64];
	int nev;
	int lost_ev;
	int refuse;		/* on_connection_start returns this */
	uint8_t *rx[MAX_CONN];	/* data received, by connection id */
	size_t rx_len[MAX_CONN];
	size_t rx_cap[MAX_CONN];
	char rx_svc[MAX_CONN][32];
	int data_calls;
	int msgs;		/* on_msg calls */
	/* Checks what this peer sends against the rules. */
	struct ist_frame_decoder *check;
	enum ist_role role;
	int sent[16];		/* frames sent, by type */
	/* Optional hook run from on_connection_end. */
	void (*on_end)(struct peer *p, const char *svc, uint32_t conn);
};

static void
add_ev(struct peer *p, enum ev_kind k, const char *svc, uint32_t conn,
    int why, size_t n)
{
	struct ev *v;

	if (p->nev == 64) {
		p->lost_ev++;	/* a flood: counted, not kept */
		return;
	}
	v = &p->ev[p->nev++];
	v->kind = k;
	snprintf(v->svc, sizeof(v->svc), "%s", svc ? svc : "(null)");
	v->conn = conn;
	v->why = why;
	v->n = n;
}

static void
cb_ids(struct ist_session *s, const char *const *ids, size_t n, void *ud)
{
	(void)s;
	add_ev(ud, EV_IDS, n ? ids[0] : "", 0, 0, n);
}

static int
cb_start(struct ist_session *s, const char *svc, uint32_t conn, void *ud)
{
	struct peer *p = ud;

	(void)s;
	add_ev(p, EV_START, svc, conn, 0, 0);
	return p->refuse;
}

static void
cb_data(struct ist_session *s, const char *svc, uint32_t conn,
    const uint8_t *d, size_t len, void *ud)
{
	struct peer *p = ud;

	(void)s;
	assert_true(conn < MAX_CONN);
	assert_true(len > 0 && len <= IST_MAX_PAYLOAD);
	if (p->rx_len[conn] + len > p->rx_cap[conn]) {
		size_t cap = (p->rx_len[conn] + len) * 2;

		p->rx[conn] = realloc(p->rx[conn], cap);
		assert_non_null(p->rx[conn]);
		p->rx_cap[conn] = cap;
	}
	memcpy(p->rx[conn] + p->rx_len[conn], d, len);
	p->rx_len[conn] += len;
	snprintf(p->rx_svc[conn], sizeof(p->rx_svc[conn]), "%s", svc);
	p->data_calls++;
}

static void
cb_end(struct ist_session *s, const char *svc, uint32_t conn,
    enum ist_end_reason why, void *ud)
{
	struct peer *p = ud;

	(void)s;
	add_ev(p, EV_END, svc, conn, (int)why, 0);
	if (p->on_end)
		p->on_end(p, svc, conn);
}

static void
cb_msg(struct ist_session *s, const struct ist_msg *m, void *ud)
{
	(void)s;
	(void)m;
	((struct peer *)ud)->msgs++;
}

static const struct ist_session_callbacks cbs = {
	.on_service_ids = cb_ids,
	.on_connection_start = cb_start,
	.on_data = cb_data,
	.on_connection_end = cb_end,
	.on_msg = cb_msg,
};

static void
peer_init(struct peer *p, enum ist_role role, enum ist_format f,
    int32_t last, size_t cap)
{
	struct ist_session_options o = {
		.role = role, .format = f, .last_stream_id = last,
		.out_capacity = cap,
	};

	memset(p, 0, sizeof(*p));
	p->role = role;
	assert_int_equal(ist_session_new(&p->s, &o, &cbs, p), 0);
	assert_int_equal(ist_frame_decoder_new(&p->check), 0);
}

static void
peer_done(struct peer *p)
{
	ist_session_free(p->s);
	ist_frame_decoder_free(p->check);
	for (int i = 0; i < MAX_CONN; i++)
		free(p->rx[i]);
}

/*
 * PROTOCOL.md rules on what a client sends: a type, no unknown fields,
 * never SESSION_RESET or SERVICE_IDS; a destination never STREAM_START
 * or CONNECTION_START; stream messages carry a positive stream id; a
 * payload within the limit.
 */
static void
check_sent(struct peer *p, const uint8_t *b, size_t len)
{
	struct ist_msg m;
	struct ist_err e = { 0 };
	size_t used;
	int r;

	while (len) {
		r = ist_frame_decoder_feed(p->check, b, len, &used, &m, &e);
		if (r < 0)
			fail_msg("peer sent bad bytes: %s", e.msg);
		b += used;
		len -= used;
		if (r == 0)
			continue;
		assert_true(m.type >= IST_MSG_DATA &&
		    m.type <= IST_MSG_CONNECTION_RESET);
		p->sent[m.type]++;
		assert_false(m.has_unknown_fields);
		assert_int_not_equal(m.type, IST_MSG_SESSION_RESET);
		assert_int_not_equal(m.type, IST_MSG_SERVICE_IDS);
		assert_true(m.stream_id > 0);
		assert_true(m.payload_len <= IST_MAX_PAYLOAD);
		if (p->role == IST_ROLE_DESTINATION) {
			assert_int_not_equal(m.type, IST_MSG_STREAM_START);
			assert_int_not_equal(m.type, IST_MSG_CONNECTION_START);
		}
	}
}

/* Moves at most chunk bytes at a time from a to b until a is empty. */
static void
flow(struct peer *a, struct peer *b, size_t chunk)
{
	const uint8_t *p;
	size_t n;
	struct ist_err e = { 0 };

	while ((n = ist_session_peek_output(a->s, &p)) > 0) {
		assert_true(n <= IST_MAX_WS_MESSAGE);
		if (n > chunk)
			n = chunk;
		check_sent(a, p, n);
		if (ist_session_recv(b->s, p, n, &e) < 0)
			fail_msg("recv: %s", e.msg);
		ist_session_consume_output(a->s, n);
	}
}

static void
pump(struct peer *a, struct peer *b, size_t chunk)
{
	while (ist_session_output_pending(a->s) ||
	    ist_session_output_pending(b->s)) {
		flow(a, b, chunk);
		flow(b, a, chunk);
	}
}

/* All output of a peer as bytes (and drained). */
static size_t
take_output(struct peer *p, uint8_t *buf, size_t cap)
{
	const uint8_t *o;
	size_t n, got = 0;

	while ((n = ist_session_peek_output(p->s, &o)) > 0) {
		assert_true(got + n <= cap);
		memcpy(buf + got, o, n);
		got += n;
		ist_session_consume_output(p->s, n);
	}
	return got;
}

static void
assert_output(struct peer *p, const uint8_t *want, size_t len)
{
	uint8_t buf[1024];
	size_t n = take_output(p, buf, sizeof(buf));

	assert_int_equal(n, len);
	assert_memory_equal(buf, want, len);
}

static int
feed(struct peer *p, const uint8_t *b, size_t len, struct ist_err *e)
{
	return ist_session_recv(p->s, b, len, e);
}

static void
feed_ok(struct peer *p, const uint8_t *b, size_t len)
{
	struct ist_err e = { 0 };

	if (feed(p, b, len, &e) < 0)
		fail_msg("recv: %s", e.msg);
}

/* Encodes m and feeds it. */
static int
feed_msg(struct peer *p, const struct ist_msg *m, struct ist_err *e)
{
	uint8_t buf[512];
	int n = ist_frame_encode(m, buf, sizeof(buf));

	assert_true(n > 0);
	return feed(p, buf, (size_t)n, e);
}

static void
feed_msg_ok(struct peer *p, const struct ist_msg *m)
{
	struct ist_err e = { 0 };

	if (feed_msg(p, m, &e) < 0)
		fail_msg("recv: %s", e.msg);
}

static void
service_ids(struct peer *p, const char *a, const char *b)
{
	const char *ids[2] = { a, b };
	struct ist_msg m = { .type = IST_MSG_SERVICE_IDS, .available = ids,
	    .n_available = b ? 2 : (a ? 1 : 0) };

	feed_msg_ok(p, &m);
}

static const uint8_t worked[] = {
	0x00, 0x0b, 0x08, 0x02, 0x10, 0x01, 0x2a, 0x03, 0x53, 0x53, 0x48,
	0x38, 0x01,
};

static void
start(struct peer *p, const char *svc, uint32_t want_conn)
{
	struct ist_err e = { 0 };
	uint32_t c = 0;

	if (ist_session_start_stream(p->s, svc, &c, &e) < 0)
		fail_msg("start_stream: %s", e.msg);
	assert_int_equal(c, want_conn);
}

static void
send_all(struct peer *p, const char *svc, uint32_t conn, const void *d,
    size_t len)
{
	struct ist_err e = { 0 };
	size_t acc;

	if (ist_session_send_data(p->s, svc, conn, d, len, &acc, &e) < 0)
		fail_msg("send_data: %s", e.msg);
	assert_int_equal(acc, len);
}

/* ---- source: SERVICE_IDS, stream ids ---- */

static void
test_source_waits_for_service_ids(void **state)
{
	struct ist_session_options o = { .role = IST_ROLE_SOURCE,
	    .format = IST_FORMAT_V3, .wait_service_ids = true };
	struct peer p;
	struct ist_err e = { 0 };
	const char *const *ids;
	uint32_t c;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(ist_session_new(&p.s, &o, &cbs, &p), 0);
	assert_false(ist_session_ready(p.s));
	assert_int_equal(ist_session_start_stream(p.s, "SSH", &c, &e),
	    IST_ERR_STATE);
	assert_non_null(strstr(e.msg, "SERVICE_IDS"));
	assert_int_equal(ist_session_output_pending(p.s), 0);
	service_ids(&p, "SSH", "HTTP");
	assert_true(ist_session_ready(p.s));
	assert_int_equal(p.nev, 1);
	assert_int_equal(p.ev[0].kind, EV_IDS);
	assert_int_equal(p.ev[0].n, 2);
	assert_int_equal(ist_session_service_ids(p.s, &ids), 2);
	assert_string_equal(ids[1], "HTTP");
	/* The worked example of PROTOCOL.md, byte for byte. */
	start(&p, "SSH", 1);
	assert_output(&p, worked, sizeof(worked));
	/* serviceId must be one of SERVICE_IDS. */
	assert_int_equal(ist_session_start_stream(p.s, "RDP", &c, &e),
	    IST_ERR_INVAL);
	assert_non_null(strstr(e.msg, "RDP"));
	ist_session_free(p.s);
}

/* V1 style: no serviceId at all, even when SERVICE_IDS lists some. */
static void
test_v1_source_leaves_service_out(void **state)
{
	static const uint8_t want[] = { 0, 4, 0x08, 2, 0x10, 1 };
	struct ist_session_options o = { .role = IST_ROLE_SOURCE,
	    .format = IST_FORMAT_V1, .wait_service_ids = true };
	struct peer p;
	uint32_t c = 0;
	struct ist_err e = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(ist_session_new(&p.s, &o, &cbs, &p), 0);
	service_ids(&p, "SSH", NULL);
	assert_int_equal(ist_session_start_stream(p.s, NULL, &c, &e), 0);
	assert_int_equal(c, 1);
	assert_output(&p, want, sizeof(want));
	assert_true(ist_session_connection_live(p.s, NULL, 1));
	assert_true(ist_session_connection_live(p.s, "", 1));
	ist_session_free(p.s);
}

static void
test_stream_ids_never_repeat(void **state)
{
	static const uint8_t want[] = {
		0, 11, 0x08, 2, 0x10, 1, 0x2a, 3, 'S', 'S', 'H', 0x38, 1,
		0, 11, 0x08, 2, 0x10, 2, 0x2a, 3, 'S', 'S', 'H', 0x38, 1,
		0, 12, 0x08, 2, 0x10, 3, 0x2a, 4, 'H', 'T', 'T', 'P', 0x38, 1,
	};
	static const uint8_t after41[] = {
		0, 11, 0x08, 2, 0x10, 42, 0x2a, 3, 'S', 'S', 'H', 0x38, 1,
	};
	struct peer p, q;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "SSH", 1);
	start(&p, "SSH", 1);	/* replaces stream 1 */
	start(&p, "HTTP", 1);
	assert_output(&p, want, sizeof(want));
	assert_int_equal(ist_session_last_stream_id(p.s), 3);
	/* The old stream's connection ended when it was replaced. */
	assert_int_equal(p.nev, 1);
	assert_int_equal(p.ev[0].kind, EV_END);
	assert_int_equal(p.ev[0].why, IST_END_REPLACED);
	/* A reconnect carries on after the last id used. */
	peer_init(&q, IST_ROLE_SOURCE, IST_FORMAT_V3, 41, 0);
	start(&q, "SSH", 1);
	assert_output(&q, after41, sizeof(after41));
	assert_int_equal(ist_session_last_stream_id(q.s), 42);
	peer_done(&p);
	peer_done(&q);
}

/*
 * Bug "stream ids the AWS SDK cannot answer on": aws-c-iot refuses ids
 * above 2^28 - 1, and --tunnel-id seeded stream ids from time % 10^9.
 * Every id we choose stays within 1..IST_MAX_ID, across reconnects and
 * whatever the clock; a peer's larger ids are accepted and echoed.
 */
static void
test_bug_ids_within_2_pow_28(void **state)
{
	static const int64_t clocks[] = { 0, 1, 65535, 65536, 1764547200,
	    999999999, INT32_MAX, INT64_MAX, -1, INT64_MIN };
	struct ist_session_options o = { .role = IST_ROLE_SOURCE };
	struct ist_session *bad = NULL;
	struct ist_err e = { 0 };
	struct peer p, d;
	int32_t last;
	uint32_t c = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(clocks) / sizeof(clocks[0]); i++) {
		last = ist_session_stream_id_seed(clocks[i]);
		assert_true(last >= 0);
		/* Room for 10^8 streams after the seed. */
		assert_true(last <= IST_MAX_ID - 100000000);
	}
	/* Seeds a second apart leave each run 2048 ids of its own. */
	assert_int_equal(ist_session_stream_id_seed(1764547201) -
	    ist_session_stream_id_seed(1764547200), 2048);
	o.last_stream_id = IST_MAX_ID + 1;
	assert_int_equal(ist_session_new(&bad, &o, NULL, NULL),
	    IST_ERR_INVAL);
	o.last_stream_id = INT32_MAX;
	assert_int_equal(ist_session_new(&bad, &o, NULL, NULL),
	    IST_ERR_INVAL);
	assert_null(bad);

	/* Many reconnects, each carrying the last id on: never past it. */
	last = IST_MAX_ID - 3;
	for (i = 0; i < 1000; i++) {
		peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, last, 0);
		if (i < 3) {
			start(&p, "SSH", 1);
			last = ist_session_last_stream_id(p.s);
		} else {
			assert_int_equal(ist_session_start_stream(p.s, "SSH",
			    &c, &e), IST_ERR_STATE);
			assert_non_null(strstr(e.msg, "used up"));
		}
		assert_true(last <= IST_MAX_ID);
		peer_done(&p);
	}
	assert_int_equal(last, IST_MAX_ID);

	/* A destination takes a peer's ids above the limit and echoes them,
	 * but does not carry them on as its own last id. */
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	{
		struct ist_msg m = { .type = IST_MSG_STREAM_START,
		    .stream_id = INT32_MAX, .service_id = "SSH",
		    .connection_id = UINT32_MAX };
		static const uint8_t want[] = {
			0, 23, 0x08, 1, 0x10, 0xff, 0xff, 0xff, 0xff, 0x07,
			0x22, 2, 'h', 'i', 0x2a, 3, 'S', 'S', 'H', 0x38,
			0xff, 0xff, 0xff, 0xff, 0x0f,
		};

		feed_msg_ok(&d, &m);
		assert_int_equal(d.nev, 1);
		assert_int_equal(d.ev[0].kind, EV_START);
		assert_int_equal(d.ev[0].conn, UINT32_MAX);
		send_all(&d, "SSH", UINT32_MAX, "hi", 2);
		assert_output(&d, want, sizeof(want));
		assert_true(ist_session_last_stream_id(d.s) <= IST_MAX_ID);
	}
	peer_done(&d);

}

static void
test_session_new_refuses_bad_options(void **state)
{
	struct ist_session *s = NULL;
	struct ist_session_options o = { .role = IST_ROLE_SOURCE };

	(void)state;
	o.last_stream_id = -1;
	assert_int_equal(ist_session_new(&s, &o, NULL, NULL), IST_ERR_INVAL);
	o.last_stream_id = 0;
	o.out_capacity = 1000;
	assert_int_equal(ist_session_new(&s, &o, NULL, NULL), IST_ERR_INVAL);
	o.out_capacity = 0;
	o.role = 7;
	assert_int_equal(ist_session_new(&s, &o, NULL, NULL), IST_ERR_INVAL);
	o.role = IST_ROLE_SOURCE;
	o.format = 9;
	assert_int_equal(ist_session_new(&s, &o, NULL, NULL), IST_ERR_INVAL);
	assert_null(s);
}

/* ---- every message a session sends, in each format, byte for byte ---- */

static void
test_source_bytes_each_format(void **state)
{
	static const uint8_t v1[] = {
		0, 4, 0x08, 2, 0x10, 1,				/* START */
		0, 8, 0x08, 1, 0x10, 1, 0x22, 2, 'h', 'i',	/* DATA */
		0, 4, 0x08, 3, 0x10, 1,				/* RESET */
	};
	static const uint8_t v2[] = {
		0, 9, 0x08, 2, 0x10, 1, 0x2a, 3, 'S', 'S', 'H',
		0, 13, 0x08, 1, 0x10, 1, 0x22, 2, 'h', 'i', 0x2a, 3, 'S', 'S',
		'H',
		0, 9, 0x08, 3, 0x10, 1, 0x2a, 3, 'S', 'S', 'H',
	};
	static const uint8_t v3[] = {
		0, 11, 0x08, 2, 0x10, 1, 0x2a, 3, 'S', 'S', 'H', 0x38, 1,
		0, 15, 0x08, 1, 0x10, 1, 0x22, 2, 'h', 'i', 0x2a, 3, 'S', 'S',
		'H', 0x38, 1,
		0, 11, 0x08, 6, 0x10, 1, 0x2a, 3, 'S', 'S', 'H', 0x38, 2,
		0, 11, 0x08, 7, 0x10, 1, 0x2a, 3, 'S', 'S', 'H', 0x38, 1,
	};
	struct { enum ist_format f; const uint8_t *b; size_t n; } t[] = {
		{ IST_FORMAT_V1, v1, sizeof(v1) },
		{ IST_FORMAT_V2, v2, sizeof(v2) },
		{ IST_FORMAT_V3, v3, sizeof(v3) },
	};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct peer p;
		struct ist_err e = { 0 };
		uint32_t c;

		peer_init(&p, IST_ROLE_SOURCE, t[i].f, 0, 0);
		start(&p, "SSH", 1);
		send_all(&p, "SSH", 1, "hi", 2);
		if (t[i].f == IST_FORMAT_V3) {
			assert_int_equal(ist_session_start_connection(p.s,
			    "SSH", &c, &e), 0);
			assert_int_equal(c, 2);
		} else {
			assert_int_equal(ist_session_start_connection(p.s,
			    "SSH", &c, &e), IST_ERR_STATE);
		}
		assert_int_equal(ist_session_end_connection(p.s, "SSH", 1,
		    &e), 0);
		assert_false(ist_session_connection_live(p.s, "SSH", 1));
		assert_output(&p, t[i].b, t[i].n);
		/* Ending it again is a state error, not a second reset. */
		assert_int_equal(ist_session_end_connection(p.s, "SSH", 1,
		    &e), IST_ERR_STATE);
		assert_int_equal(ist_session_output_pending(p.s), 0);
		peer_done(&p);
	}
}

static void
test_destination_bytes_each_format(void **state)
{
	static const uint8_t start_v1[] = { 0, 4, 0x08, 2, 0x10, 5 };
	static const uint8_t start_v2[] = { 0, 9, 0x08, 2, 0x10, 5, 0x2a, 3,
	    'S', 'S', 'H' };
	static const uint8_t start_v3[] = { 0, 11, 0x08, 2, 0x10, 5, 0x2a, 3,
	    'S', 'S', 'H', 0x38, 1 };
	static const uint8_t out_v1[] = {
		0, 8, 0x08, 1, 0x10, 5, 0x22, 2, 'o', 'k',
		0, 4, 0x08, 3, 0x10, 5,
	};
	static const uint8_t out_v2[] = {
		0, 13, 0x08, 1, 0x10, 5, 0x22, 2, 'o', 'k', 0x2a, 3, 'S', 'S',
		'H',
		0, 9, 0x08, 3, 0x10, 5, 0x2a, 3, 'S', 'S', 'H',
	};
	static const uint8_t out_v3[] = {
		0, 15, 0x08, 1, 0x10, 5, 0x22, 2, 'o', 'k', 0x2a, 3, 'S', 'S',
		'H', 0x38, 1,
		0, 11, 0x08, 7, 0x10, 5, 0x2a, 3, 'S', 'S', 'H', 0x38, 1,
	};
	struct {
		const uint8_t *in; size_t nin; const char *svc;
		const uint8_t *out; size_t nout;
	} t[] = {
		{ start_v1, sizeof(start_v1), "", out_v1, sizeof(out_v1) },
		{ start_v2, sizeof(start_v2), "SSH", out_v2, sizeof(out_v2) },
		{ start_v3, sizeof(start_v3), "SSH", out_v3, sizeof(out_v3) },
	};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct peer d;
		struct ist_err e = { 0 };
		uint32_t c;

		peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
		feed_ok(&d, t[i].in, t[i].nin);
		assert_int_equal(d.nev, 1);
		assert_int_equal(d.ev[0].kind, EV_START);
		assert_string_equal(d.ev[0].svc, t[i].svc);
		assert_int_equal(d.ev[0].conn, 1);
		assert_true(ist_session_connection_live(d.s, t[i].svc, 1));
		assert_int_equal(ist_session_last_stream_id(d.s), 5);
		/* A destination never sends STREAM_START. */
		assert_int_equal(ist_session_start_stream(d.s, "SSH", &c, &e),
		    IST_ERR_STATE);
		send_all(&d, t[i].svc, 1, "ok", 2);
		assert_int_equal(ist_session_end_connection(d.s, t[i].svc, 1,
		    &e), 0);
		assert_output(&d, t[i].out, t[i].nout);
		peer_done(&d);
	}
}

/* ---- back to back ---- */

static void
back_to_back(enum ist_format f, size_t chunk)
{
	struct peer src, dst;
	const char *svc = f == IST_FORMAT_V1 ? "" : "SSH";
	struct ist_err e = { 0 };

	peer_init(&src, IST_ROLE_SOURCE, f, 0, 0);
	peer_init(&dst, IST_ROLE_DESTINATION, 0, 0, 0);
	start(&src, svc, 1);
	send_all(&src, svc, 1, "SSH-2.0-client\r\n", 16);
	pump(&src, &dst, chunk);
	assert_int_equal(dst.nev, 1);
	assert_int_equal(dst.ev[0].kind, EV_START);
	assert_string_equal(dst.ev[0].svc, svc);
	assert_int_equal(dst.rx_len[1], 16);
	assert_memory_equal(dst.rx[1], "SSH-2.0-client\r\n", 16);
	send_all(&dst, svc, 1, "SSH-2.0-server\r\n", 16);
	pump(&src, &dst, chunk);
	assert_int_equal(src.rx_len[1], 16);
	assert_memory_equal(src.rx[1], "SSH-2.0-server\r\n", 16);
	/* The source ends it: V3 CONNECTION_RESET, else STREAM_RESET. */
	assert_int_equal(ist_session_end_connection(src.s, svc, 1, &e), 0);
	pump(&src, &dst, chunk);
	assert_int_equal(dst.nev, 2);
	assert_int_equal(dst.ev[1].kind, EV_END);
	assert_int_equal(dst.ev[1].why, f == IST_FORMAT_V3 ?
	    IST_END_CONNECTION_RESET : IST_END_STREAM_RESET);
	assert_false(ist_session_connection_live(dst.s, svc, 1));
	/* A second stream works, with a new id. */
	start(&src, svc, 1);
	send_all(&src, svc, 1, "again", 5);
	pump(&src, &dst, chunk);
	assert_int_equal(dst.nev, 3);
	assert_int_equal(dst.rx_len[1], 21);
	assert_int_equal(ist_session_last_stream_id(dst.s), 2);
	/* The destination ends it this time. */
	assert_int_equal(ist_session_end_connection(dst.s, svc, 1, &e), 0);
	pump(&src, &dst, chunk);
	assert_int_equal(src.nev, 1);
	assert_int_equal(src.ev[0].kind, EV_END);
	assert_false(ist_session_connection_live(src.s, svc, 1));
	assert_int_equal(src.sent[IST_MSG_STREAM_START], 2);
	peer_done(&src);
	peer_done(&dst);
}

static void
test_back_to_back_v1(void **state)
{
	(void)state;
	back_to_back(IST_FORMAT_V1, 1 << 20);
	back_to_back(IST_FORMAT_V1, 1);
}

static void
test_back_to_back_v2(void **state)
{
	(void)state;
	back_to_back(IST_FORMAT_V2, 1 << 20);
	back_to_back(IST_FORMAT_V2, 3);
}

static void
test_back_to_back_v3(void **state)
{
	(void)state;
	back_to_back(IST_FORMAT_V3, 1 << 20);
	back_to_back(IST_FORMAT_V3, 7);
}

static void
test_v3_multiple_connections(void **state)
{
	struct peer src, dst;
	struct ist_err e = { 0 };
	uint32_t c2, c3;

	(void)state;
	peer_init(&src, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	peer_init(&dst, IST_ROLE_DESTINATION, 0, 0, 0);
	start(&src, "SSH", 1);
	assert_int_equal(ist_session_start_connection(src.s, "SSH", &c2, &e),
	    0);
	assert_int_equal(ist_session_start_connection(src.s, "SSH", &c3, &e),
	    0);
	assert_int_equal(c2, 2);
	assert_int_equal(c3, 3);
	send_all(&src, "SSH", 3, "three", 5);
	send_all(&src, "SSH", 1, "one", 3);
	send_all(&src, "SSH", 2, "two", 3);
	pump(&src, &dst, 5);
	assert_int_equal(dst.nev, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dst.ev[i].kind, EV_START);
		assert_int_equal(dst.ev[i].conn, (uint32_t)i + 1);
	}
	assert_memory_equal(dst.rx[1], "one", 3);
	assert_memory_equal(dst.rx[2], "two", 3);
	assert_memory_equal(dst.rx[3], "three", 5);
	assert_int_equal(src.sent[IST_MSG_CONNECTION_START], 2);
	/* Ending connection 2 leaves 1 and 3 alone. */
	assert_int_equal(ist_session_end_connection(src.s, "SSH", 2, &e), 0);
	send_all(&dst, "SSH", 3, "3", 1);
	send_all(&dst, "SSH", 1, "1", 1);
	pump(&src, &dst, 64);
	assert_int_equal(dst.nev, 4);
	assert_int_equal(dst.ev[3].kind, EV_END);
	assert_int_equal(dst.ev[3].conn, 2);
	assert_int_equal(dst.ev[3].why, IST_END_CONNECTION_RESET);
	assert_true(ist_session_connection_live(dst.s, "SSH", 1));
	assert_true(ist_session_connection_live(dst.s, "SSH", 3));
	assert_memory_equal(src.rx[3], "3", 1);
	assert_memory_equal(src.rx[1], "1", 1);
	/* Data the source sends on the dead connection is refused. */
	assert_int_equal(ist_session_send_data(src.s, "SSH", 2, (const
	    uint8_t *)"x", 1, &(size_t){ 0 }, &e), IST_ERR_STATE);
	/* The destination ends 3; then a fourth connection starts. */
	assert_int_equal(ist_session_end_connection(dst.s, "SSH", 3, &e), 0);
	pump(&src, &dst, 64);
	assert_int_equal(src.nev, 1);
	assert_int_equal(src.ev[0].conn, 3);
	assert_int_equal(src.ev[0].why, IST_END_CONNECTION_RESET);
	assert_int_equal(ist_session_start_connection(src.s, "SSH", &c3, &e),
	    0);
	assert_int_equal(c3, 4);
	pump(&src, &dst, 64);
	assert_true(ist_session_connection_live(dst.s, "SSH", 4));
	/* A second service runs its own stream beside it. */
	start(&src, "HTTP", 1);
	send_all(&src, "HTTP", 1, "GET", 3);
	pump(&src, &dst, 64);
	assert_string_equal(dst.rx_svc[1], "HTTP");
	assert_true(ist_session_connection_live(dst.s, "SSH", 1));
	assert_true(ist_session_connection_live(dst.s, "HTTP", 1));
	peer_done(&src);
	peer_done(&dst);
}

/* ---- dropping stale and unknown ---- */

static void
test_stale_stream_messages_dropped(void **state)
{
	struct peer p;
	struct ist_msg m = { .type = IST_MSG_DATA, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 1,
	    .payload = (const uint8_t *)"old", .payload_len = 3 };

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "SSH", 1);
	start(&p, "SSH", 1);	/* stream 2 is the active one now */
	p.nev = 0;
	feed_msg_ok(&p, &m);	/* DATA for stream 1 */
	m.type = IST_MSG_STREAM_RESET;
	feed_msg_ok(&p, &m);
	m.type = IST_MSG_CONNECTION_RESET;
	feed_msg_ok(&p, &m);
	assert_int_equal(p.msgs, 3);
	assert_int_equal(p.data_calls, 0);
	assert_int_equal(p.nev, 0);
	assert_true(ist_session_connection_live(p.s, "SSH", 1));
	/* Another service's name does not match either. */
	m.type = IST_MSG_DATA;
	m.stream_id = 2;
	m.service_id = "HTTP";
	feed_msg_ok(&p, &m);
	assert_int_equal(p.data_calls, 0);
	m.service_id = "SSH";
	feed_msg_ok(&p, &m);
	assert_int_equal(p.data_calls, 1);
	peer_done(&p);
}

static void
test_unknown_connection_dropped(void **state)
{
	struct peer p;
	struct ist_msg m = { .type = IST_MSG_DATA, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 9,
	    .payload = (const uint8_t *)"x", .payload_len = 1 };

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "SSH", 1);
	feed_msg_ok(&p, &m);
	m.type = IST_MSG_CONNECTION_RESET;
	feed_msg_ok(&p, &m);
	assert_int_equal(p.data_calls, 0);
	assert_int_equal(p.nev, 0);
	assert_true(ist_session_connection_live(p.s, "SSH", 1));
	/* A V2 peer leaves connectionId out: that is connection 1. */
	m.type = IST_MSG_DATA;
	m.connection_id = 0;
	feed_msg_ok(&p, &m);
	assert_int_equal(p.data_calls, 1);
	peer_done(&p);
}

/* ---- resets ---- */

static void
test_stream_reset_ends_every_connection(void **state)
{
	struct peer p;
	struct ist_err e = { 0 };
	struct ist_msg m = { .type = IST_MSG_STREAM_RESET, .stream_id = 1,
	    .service_id = "SSH" };
	uint32_t c;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "SSH", 1);
	assert_int_equal(ist_session_start_connection(p.s, "SSH", &c, &e),
	    0);
	feed_msg_ok(&p, &m);
	assert_int_equal(p.nev, 2);
	assert_int_equal(p.ev[0].why, IST_END_STREAM_RESET);
	assert_int_equal(p.ev[1].why, IST_END_STREAM_RESET);
	assert_false(ist_session_connection_live(p.s, "SSH", 1));
	assert_false(ist_session_connection_live(p.s, "SSH", 2));
	/* The stream is gone: no more connections on it. */
	assert_int_equal(ist_session_start_connection(p.s, "SSH", &c, &e),
	    IST_ERR_STATE);
	/* A second STREAM_RESET is stale. */
	feed_msg_ok(&p, &m);
	assert_int_equal(p.nev, 2);
	peer_done(&p);
}

static void
test_connection_reset_ends_one(void **state)
{
	struct peer p;
	struct ist_err e = { 0 };
	struct ist_msg m = { .type = IST_MSG_CONNECTION_RESET,
	    .stream_id = 1, .service_id = "SSH", .connection_id = 2 };
	uint32_t c;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "SSH", 1);
	assert_int_equal(ist_session_start_connection(p.s, "SSH", &c, &e),
	    0);
	feed_msg_ok(&p, &m);
	assert_int_equal(p.nev, 1);
	assert_int_equal(p.ev[0].conn, 2);
	assert_int_equal(p.ev[0].why, IST_END_CONNECTION_RESET);
	assert_true(ist_session_connection_live(p.s, "SSH", 1));
	assert_false(ist_session_connection_live(p.s, "SSH", 2));
	/* The stream lives on: connection 3 may start. */
	assert_int_equal(ist_session_start_connection(p.s, "SSH", &c, &e),
	    0);
	assert_int_equal(c, 3);
	peer_done(&p);
}

static void
session_reset(enum ist_role role)
{
	static const uint8_t reset[] = { 0, 2, 0x08, 4 };
	struct peer p;

	peer_init(&p, role, IST_FORMAT_V3, 0, 0);
	service_ids(&p, "SSH", "HTTP");
	if (role == IST_ROLE_SOURCE) {
		start(&p, "SSH", 1);
		start(&p, "HTTP", 1);
	} else {
		struct ist_msg m = { .type = IST_MSG_STREAM_START,
		    .stream_id = 1, .service_id = "SSH",
		    .connection_id = 1 };

		feed_msg_ok(&p, &m);
		m.stream_id = 2;
		m.service_id = "HTTP";
		feed_msg_ok(&p, &m);
	}
	p.nev = 0;
	feed_ok(&p, reset, sizeof(reset));
	assert_int_equal(p.nev, 2);
	assert_int_equal(p.ev[0].why, IST_END_SESSION_RESET);
	assert_int_equal(p.ev[1].why, IST_END_SESSION_RESET);
	assert_false(ist_session_connection_live(p.s, "SSH", 1));
	assert_false(ist_session_connection_live(p.s, "HTTP", 1));
	peer_done(&p);
}

static void
test_session_reset_ends_all_both_roles(void **state)
{
	(void)state;
	session_reset(IST_ROLE_SOURCE);
	session_reset(IST_ROLE_DESTINATION);
}

/* ---- roles and types ---- */

static void
test_source_receiving_starts_is_role_error(void **state)
{
	int types[] = { IST_MSG_STREAM_START, IST_MSG_CONNECTION_START };

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct peer p;
		struct ist_err e = { 0 };
		struct ist_msg m = { .type = types[i], .stream_id = 1,
		    .service_id = "SSH", .connection_id = 1 };

		peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
		assert_int_equal(feed_msg(&p, &m, &e), IST_ERR_ROLE);
		assert_int_equal(e.code, IST_ERR_ROLE);
		assert_non_null(strstr(e.msg, ist_msg_type_name(types[i])));
		/* The session stays failed and says so. */
		assert_int_equal(feed(&p, worked, sizeof(worked), &e),
		    IST_ERR_ROLE);
		assert_non_null(strstr(e.msg, "earlier"));
		assert_int_equal(ist_session_start_stream(p.s, "SSH", NULL,
		    &e), IST_ERR_STATE);
		peer_done(&p);
	}
}

static void
test_service_messages_legal_for_destination(void **state)
{
	static const uint8_t reset[] = { 0, 2, 0x08, 4 };
	struct peer d;

	(void)state;
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	service_ids(&d, "SSH", NULL);
	feed_ok(&d, reset, sizeof(reset));
	assert_int_equal(d.nev, 1);
	assert_int_equal(d.ev[0].kind, EV_IDS);
	assert_true(ist_session_ready(d.s));
	peer_done(&d);
}

static void
test_unknown_types(void **state)
{
	static const uint8_t ignorable[] = { 0, 4, 0x08, 9, 0x18, 1 };
	static const uint8_t not_ignorable[] = { 0, 2, 0x08, 9 };
	struct peer p;
	struct ist_err e = { 0 };

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	feed_ok(&p, ignorable, sizeof(ignorable));
	assert_int_equal(p.msgs, 1);
	assert_int_equal(feed(&p, not_ignorable, sizeof(not_ignorable), &e),
	    IST_ERR_PROTO);
	assert_non_null(strstr(e.msg, "ignorable"));
	peer_done(&p);
}

static void
test_bad_frames_are_fatal_with_their_code(void **state)
{
	static const uint8_t type0[] = { 0, 2, 0x10, 1 };
	static const uint8_t garbage[] = { 0, 2, 0xff, 0xff };
	struct { const uint8_t *b; size_t n; int code; } t[] = {
		{ type0, sizeof(type0), IST_ERR_PROTO },
		{ garbage, sizeof(garbage), IST_ERR_DECODE },
	};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct peer p;
		struct ist_err e = { 0 };

		peer_init(&p, IST_ROLE_DESTINATION, 0, 0, 0);
		assert_int_equal(feed(&p, t[i].b, t[i].n, &e), t[i].code);
		assert_true(e.msg[0] != '\0');
		peer_done(&p);
	}
}

static void
test_stream_id_zero_or_negative(void **state)
{
	struct peer d, s;
	struct ist_err e = { 0 };
	struct ist_msg m = { .type = IST_MSG_STREAM_RESET, .stream_id = -1,
	    .service_id = "SSH" };

	(void)state;
	/* Resets naming no stream are dropped... */
	peer_init(&s, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&s, "SSH", 1);
	feed_msg_ok(&s, &m);
	m.type = IST_MSG_CONNECTION_RESET;
	m.stream_id = 0;
	m.connection_id = 1;
	feed_msg_ok(&s, &m);
	assert_int_equal(s.nev, 0);
	/* ...DATA with one is a protocol error. */
	m.type = IST_MSG_DATA;
	m.stream_id = -5;
	assert_int_equal(feed_msg(&s, &m, &e), IST_ERR_PROTO);
	assert_non_null(strstr(e.msg, "-5"));
	/* A destination refuses STREAM_START 0 the same way. */
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	m.type = IST_MSG_STREAM_START;
	m.stream_id = 0;
	assert_int_equal(feed_msg(&d, &m, &e), IST_ERR_PROTO);
	assert_int_equal(d.nev, 0);
	peer_done(&s);
	peer_done(&d);
}

static void
test_invalid_service_ids_refused(void **state)
{
	const char *four[] = { "a", "b", "c", "d" };
	const char *bad[] = { "SSH", "no spaces" };
	struct ist_msg m = { .type = IST_MSG_SERVICE_IDS };

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct peer p;
		struct ist_err e = { 0 };

		peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
		m.available = i ? bad : four;
		m.n_available = i ? 2 : 4;
		assert_int_equal(feed_msg(&p, &m, &e), IST_ERR_PROTO);
		assert_int_equal(p.nev, 0);
		peer_done(&p);
	}
}

static void
test_empty_service_ids_entries_skipped(void **state)
{
	const char *ids[] = { "", "SSH", "" , "A", "B" };
	struct ist_msg m = { .type = IST_MSG_SERVICE_IDS, .available = ids,
	    .n_available = 5 };
	const char *const *got;
	struct peer p;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	feed_msg_ok(&p, &m);
	assert_int_equal(ist_session_service_ids(p.s, &got), 3);
	assert_string_equal(got[0], "SSH");
	assert_string_equal(got[2], "B");
	/* No services at all: only V1-style (absent) service ids fit. */
	m.n_available = 1;
	feed_msg_ok(&p, &m);
	assert_int_equal(ist_session_service_ids(p.s, &got), 0);
	assert_int_equal(ist_session_start_stream(p.s, "SSH", NULL, NULL),
	    IST_ERR_INVAL);
	peer_done(&p);
}

/* ---- destination specifics ---- */

static void
test_destination_fixes_format_and_resets_on_mix(void **state)
{
	/* STREAM_RESET{stream 1, "SSH"}, then the refusal of stream 2. */
	static const uint8_t want[] = {
		0, 9, 0x08, 3, 0x10, 1, 0x2a, 3, 'S', 'S', 'H',
		0, 4, 0x08, 3, 0x10, 2,
	};
	struct peer d;
	struct ist_msg m = { .type = IST_MSG_STREAM_START, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 1 };

	(void)state;
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	feed_msg_ok(&d, &m);	/* V3 from now on */
	/* V2-format DATA on stream 1: the stream is reset. */
	m.type = IST_MSG_DATA;
	m.connection_id = 0;
	m.payload = (const uint8_t *)"x";
	m.payload_len = 1;
	feed_msg_ok(&d, &m);
	assert_int_equal(d.data_calls, 0);
	assert_int_equal(d.nev, 2);
	assert_int_equal(d.ev[1].kind, EV_END);
	assert_int_equal(d.ev[1].why, IST_END_FORMAT);
	assert_false(ist_session_connection_live(d.s, "SSH", 1));
	/* A V1 STREAM_START later is refused, not served. */
	memset(&m, 0, sizeof(m));
	m.type = IST_MSG_STREAM_START;
	m.stream_id = 2;
	feed_msg_ok(&d, &m);
	assert_int_equal(d.nev, 2);
	assert_output(&d, want, sizeof(want));
	peer_done(&d);
}

/*
 * Bug (fuzz_session): a CONNECTION_START in a V1 or V2 session fitted the
 * format check (no connectionId) and was offered to the application as
 * connection 0. CONNECTION_* messages are V3 only: mixing resets.
 */
static void
test_bug_connection_start_in_v2_session_gave_connection_0(void **state)
{
	static const uint8_t want[] = {
		0, 9, 0x08, 3, 0x10, 1, 0x2a, 3, 'S', 'S', 'H',
	};
	int types[] = { IST_MSG_CONNECTION_START, IST_MSG_CONNECTION_RESET };

	(void)state;
	for (int i = 0; i < 2; i++) {
		struct peer d;
		struct ist_msg m = { .type = IST_MSG_STREAM_START,
		    .stream_id = 1, .service_id = "SSH" };

		peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
		feed_msg_ok(&d, &m);	/* V2 from now on */
		m.type = types[i];
		feed_msg_ok(&d, &m);
		assert_int_equal(d.nev, 2);
		assert_int_equal(d.ev[0].kind, EV_START);
		assert_int_equal(d.ev[0].conn, 1);
		assert_int_equal(d.ev[1].kind, EV_END);
		assert_int_equal(d.ev[1].why, IST_END_FORMAT);
		assert_output(&d, want, sizeof(want));
		peer_done(&d);
	}
}

static void
test_destination_stream_start_replaces(void **state)
{
	struct peer d;
	struct ist_msg m = { .type = IST_MSG_STREAM_START, .stream_id = 1,
	    .service_id = "SSH" };

	(void)state;
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	feed_msg_ok(&d, &m);
	m.stream_id = 2;
	feed_msg_ok(&d, &m);
	/* Same id again: a restarted source. Still a fresh start. */
	feed_msg_ok(&d, &m);
	assert_int_equal(d.nev, 5);
	assert_int_equal(d.ev[1].kind, EV_END);
	assert_int_equal(d.ev[1].why, IST_END_REPLACED);
	assert_int_equal(d.ev[2].kind, EV_START);
	assert_int_equal(d.ev[3].why, IST_END_REPLACED);
	assert_int_equal(d.ev[4].kind, EV_START);
	assert_true(ist_session_connection_live(d.s, "SSH", 1));
	assert_int_equal(ist_session_output_pending(d.s), 0);
	peer_done(&d);
}

static void
test_destination_refusals(void **state)
{
	static const uint8_t want[] = {
		/* the application refused STREAM_START 1 */
		0, 9, 0x08, 3, 0x10, 1, 0x2a, 3, 'S', 'S', 'H',
		/* the application refused CONNECTION_START 2 on stream 2 */
		0, 11, 0x08, 7, 0x10, 2, 0x2a, 3, 'S', 'S', 'H', 0x38, 2,
		/* RDP is not in SERVICE_IDS */
		0, 9, 0x08, 3, 0x10, 3, 0x2a, 3, 'R', 'D', 'P',
	};
	struct peer d;
	struct ist_msg m = { .type = IST_MSG_STREAM_START, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 1 };

	(void)state;
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	service_ids(&d, "SSH", NULL);
	d.refuse = IST_ERR_DENIED;
	feed_msg_ok(&d, &m);
	assert_false(ist_session_connection_live(d.s, "SSH", 1));
	d.refuse = 0;
	m.stream_id = 2;
	feed_msg_ok(&d, &m);
	d.refuse = IST_ERR_DENIED;
	m.type = IST_MSG_CONNECTION_START;
	m.connection_id = 2;
	feed_msg_ok(&d, &m);
	assert_true(ist_session_connection_live(d.s, "SSH", 1));
	assert_false(ist_session_connection_live(d.s, "SSH", 2));
	m.type = IST_MSG_STREAM_START;
	m.stream_id = 3;
	m.service_id = "RDP";
	m.connection_id = 1;
	feed_msg_ok(&d, &m);
	assert_output(&d, want, sizeof(want));
	/* Stream 2 is untouched by the refusal of RDP. */
	assert_true(ist_session_connection_live(d.s, "SSH", 1));
	peer_done(&d);
}

static void
test_connection_start_stale_duplicate_and_limit(void **state)
{
	static const uint8_t want[] = {
		/* connection 3 is over max_connections (2): refused */
		0, 11, 0x08, 7, 0x10, 1, 0x2a, 3, 'S', 'S', 'H', 0x38, 3,
	};
	struct ist_session_options o = { .role = IST_ROLE_DESTINATION,
	    .max_connections = 2 };
	struct ist_msg m = { .type = IST_MSG_STREAM_START, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 1 };
	struct peer d;

	(void)state;
	memset(&d, 0, sizeof(d));
	assert_int_equal(ist_session_new(&d.s, &o, &cbs, &d), 0);
	feed_msg_ok(&d, &m);
	m.type = IST_MSG_CONNECTION_START;
	m.connection_id = 2;
	feed_msg_ok(&d, &m);
	/* A duplicate start of a live connection is dropped. */
	feed_msg_ok(&d, &m);
	/* So is one for a stream that is not the active one. */
	m.stream_id = 7;
	m.connection_id = 5;
	feed_msg_ok(&d, &m);
	assert_int_equal(d.nev, 2);
	assert_int_equal(ist_session_output_pending(d.s), 0);
	/* The third live connection is one too many. */
	m.stream_id = 1;
	m.connection_id = 3;
	feed_msg_ok(&d, &m);
	assert_int_equal(d.nev, 2);
	assert_false(ist_session_connection_live(d.s, "SSH", 3));
	assert_output(&d, want, sizeof(want));
	ist_session_free(d.s);
}

static void
test_source_connection_limit(void **state)
{
	struct ist_session_options o = { .role = IST_ROLE_SOURCE,
	    .format = IST_FORMAT_V3, .max_connections = 2 };
	struct ist_session *s = NULL;
	struct ist_err e = { 0 };
	uint32_t c;

	(void)state;
	assert_int_equal(ist_session_new(&s, &o, NULL, NULL), 0);
	assert_int_equal(ist_session_start_stream(s, "SSH", &c, &e), 0);
	assert_int_equal(ist_session_start_connection(s, "SSH", &c, &e), 0);
	assert_int_equal(ist_session_start_connection(s, "SSH", &c, &e),
	    IST_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "2 connections"));
	/* V2 and V3 need a service id; a bad one is refused. */
	assert_int_equal(ist_session_start_stream(s, NULL, &c, &e),
	    IST_ERR_INVAL);
	assert_int_equal(ist_session_start_stream(s, "a b", &c, &e),
	    IST_ERR_INVAL);
	ist_session_free(s);
}

static void
test_stream_start_with_bad_service_id_is_proto_error(void **state)
{
	char longid[IST_MAX_SERVICE_ID + 2];
	struct ist_msg m = { .type = IST_MSG_STREAM_START, .stream_id = 1,
	    .service_id = "S S" };
	struct peer d;
	struct ist_err e = { 0 };

	(void)state;
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	assert_int_equal(feed_msg(&d, &m, &e), IST_ERR_PROTO);
	assert_non_null(strstr(e.msg, "service id"));
	peer_done(&d);
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	m.service_id = longid;
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	assert_int_equal(feed_msg(&d, &m, &e), IST_ERR_PROTO);
	peer_done(&d);
	/* Exactly 128 characters is fine. */
	longid[IST_MAX_SERVICE_ID] = '\0';
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
	feed_msg_ok(&d, &m);
	assert_true(ist_session_connection_live(d.s, longid, 1));
	peer_done(&d);
}

static void
recv_from_callback(struct peer *p, const char *svc, uint32_t conn)
{
	struct ist_err e = { 0 };

	(void)svc;
	(void)conn;
	assert_int_equal(ist_session_recv(p->s, worked, sizeof(worked), &e),
	    IST_ERR_STATE);
}

static void
test_recv_from_a_callback_is_refused(void **state)
{
	static const uint8_t reset[] = { 0, 2, 0x08, 4 };
	struct peer p;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "SSH", 1);
	p.on_end = recv_from_callback;
	feed_ok(&p, reset, sizeof(reset));
	assert_int_equal(p.nev, 1);
	peer_done(&p);
}

/* ---- output bound and DATA chunking ---- */

static void
test_output_bounded_and_resets_never_lost(void **state)
{
	static uint8_t big[300000];
	struct peer p;
	struct ist_err e = { 0 };
	size_t acc, total, cap = 2 * IST_MAX_FRAME;
	const uint8_t *o;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, cap);
	start(&p, "SSH", 1);
	assert_int_equal(ist_session_send_data(p.s, "SSH", 1, big,
	    sizeof(big), &acc, &e), 0);
	assert_true(acc > 0 && acc < sizeof(big));
	total = ist_session_output_pending(p.s);
	assert_true(total <= cap - IST_MAX_FRAME);
	/* Full for data... */
	assert_int_equal(ist_session_send_room(p.s), 0);
	assert_int_equal(ist_session_send_data(p.s, "SSH", 1, big, 10, &acc,
	    &e), 0);
	assert_int_equal(acc, 0);
	/* ...but the reset still gets in, after the data. */
	assert_int_equal(ist_session_end_connection(p.s, "SSH", 1, &e), 0);
	assert_true(ist_session_output_pending(p.s) > total);
	assert_true(ist_session_peek_output(p.s, &o) <= IST_MAX_WS_MESSAGE);
	check_sent(&p, NULL, 0);
	{
		static uint8_t all[2 * IST_MAX_FRAME];
		size_t n = take_output(&p, all, sizeof(all));

		check_sent(&p, all, n);
		assert_int_equal(p.sent[IST_MSG_CONNECTION_RESET], 1);
		/* The reset is the last frame: 13 bytes at the end. */
		assert_int_equal(all[n - 11], 0x08);
		assert_int_equal(all[n - 10], IST_MSG_CONNECTION_RESET);
	}
	/* Drained: room again. */
	assert_true(ist_session_send_room(p.s) > IST_MAX_PAYLOAD / 2);
	peer_done(&p);
}

static void
test_send_data_cuts_at_64512(void **state)
{
	static uint8_t big[150000];
	static uint8_t all[400000];
	struct peer p;
	struct ist_frame_decoder *d = NULL;
	struct ist_err e = { 0 };
	size_t sizes[8], ns = 0, n, off = 0, used, acc;
	struct ist_msg m;
	const uint8_t *o;
	int r;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "SSH", 1);
	assert_true(ist_session_send_room(p.s) >= sizeof(big));
	assert_int_equal(ist_session_send_data(p.s, "SSH", 1, big,
	    sizeof(big), &acc, &e), 0);
	assert_int_equal(acc, sizeof(big));
	/* One peek is at most one WebSocket message. */
	assert_true(ist_session_output_pending(p.s) > IST_MAX_WS_MESSAGE);
	assert_int_equal(ist_session_peek_output(p.s, &o),
	    IST_MAX_WS_MESSAGE);
	n = take_output(&p, all, sizeof(all));
	assert_int_equal(ist_frame_decoder_new(&d), 0);
	while (off < n) {
		r = ist_frame_decoder_feed(d, all + off, n - off, &used, &m,
		    &e);
		assert_true(r >= 0);
		off += used;
		if (r == 1 && m.type == IST_MSG_DATA)
			sizes[ns++] = m.payload_len;
	}
	assert_int_equal(ns, 3);
	assert_int_equal(sizes[0], 64512);
	assert_int_equal(sizes[1], 64512);
	assert_int_equal(sizes[2], sizeof(big) - 2 * 64512);
	ist_frame_decoder_free(d);
	peer_done(&p);
}

/* 1 MiB each way through send_data, with small output buffers. */
static void
mib_transfer(enum ist_format f)
{
	const size_t total = 1u << 20;
	uint8_t *data = malloc(total);
	const char *svc = f == IST_FORMAT_V1 ? "" : "SSH";
	struct peer src, dst;
	struct ist_err e = { 0 };
	size_t sent = 0, back = 0, acc, want;

	assert_non_null(data);
	for (size_t i = 0; i < total; i++)
		data[i] = (uint8_t)((i * 2654435761u) >> 13);
	peer_init(&src, IST_ROLE_SOURCE, f, 0, 2 * IST_MAX_FRAME);
	peer_init(&dst, IST_ROLE_DESTINATION, 0, 0, 2 * IST_MAX_FRAME);
	start(&src, svc, 1);
	pump(&src, &dst, 4096);
	while (sent < total || back < total) {
		if (sent < total) {
			assert_int_equal(ist_session_send_data(src.s, svc, 1,
			    data + sent, total - sent, &acc, &e), 0);
			assert_true(acc > 0);
			sent += acc;
		}
		if (back < total) {
			want = total - back < 50000 ? total - back : 50000;
			assert_int_equal(ist_session_send_data(dst.s, svc, 1,
			    data + back, want, &acc, &e), 0);
			assert_true(acc > 0);
			back += acc;
		}
		/* WebSocket-sized pieces, not aligned with frames. */
		pump(&src, &dst, 4096);
	}
	assert_int_equal(dst.rx_len[1], total);
	assert_memory_equal(dst.rx[1], data, total);
	assert_int_equal(src.rx_len[1], total);
	assert_memory_equal(src.rx[1], data, total);
	assert_true(src.sent[IST_MSG_DATA] >= (int)(total / IST_MAX_PAYLOAD));
	free(data);
	peer_done(&src);
	peer_done(&dst);
}

/* The output buffer compacts when drained in part: bytes stay intact. */
static void
test_partial_drain_keeps_bytes_in_order(void **state)
{
	const size_t total = 600000;
	uint8_t *data = malloc(total);
	struct peer src, dst;
	struct ist_err e = { 0 };
	size_t sent = 0, acc;
	const uint8_t *p;
	size_t n;

	(void)state;
	assert_non_null(data);
	for (size_t i = 0; i < total; i++)
		data[i] = (uint8_t)(i % 251);
	peer_init(&src, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 2 * IST_MAX_FRAME);
	peer_init(&dst, IST_ROLE_DESTINATION, 0, 0, 0);
	start(&src, "SSH", 1);
	while (sent < total) {
		assert_int_equal(ist_session_send_data(src.s, "SSH", 1,
		    data + sent, total - sent, &acc, &e), 0);
		sent += acc;
		/* Move 5000 bytes only: the rest waits, shifted later. */
		n = ist_session_peek_output(src.s, &p);
		if (n > 5000)
			n = 5000;
		check_sent(&src, p, n);
		feed_ok(&dst, p, n);
		ist_session_consume_output(src.s, n);
	}
	pump(&src, &dst, 9000);
	assert_int_equal(dst.rx_len[1], total);
	assert_memory_equal(dst.rx[1], data, total);
	free(data);
	peer_done(&src);
	peer_done(&dst);
}

static void
test_one_mib_transfer_integrity(void **state)
{
	(void)state;
	mib_transfer(IST_FORMAT_V1);
	mib_transfer(IST_FORMAT_V2);
	mib_transfer(IST_FORMAT_V3);
}

/* A peer that only asks and never reads its answers runs out of room. */
static void
test_flood_of_refused_starts_is_fatal_not_lost(void **state)
{
	static uint8_t in[200000];
	struct ist_msg m = { .type = IST_MSG_STREAM_START,
	    .service_id = "SSH", .connection_id = 1 };
	struct peer d;
	struct ist_err e = { 0 };
	size_t n = 0;
	int r;

	(void)state;
	peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 2 * IST_MAX_FRAME);
	d.refuse = IST_ERR_DENIED;
	for (int32_t id = 1; n + 32 < sizeof(in); id++) {
		m.stream_id = id;
		r = ist_frame_encode(&m, in + n, sizeof(in) - n);
		assert_true(r > 0);
		n += (size_t)r;
	}
	r = feed(&d, in, n, &e);
	assert_int_equal(r, IST_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "output buffer full"));
	/* Every answer queued before that is intact. */
	assert_true(ist_session_output_pending(d.s) > IST_MAX_FRAME);
	peer_done(&d);
}

/* ---- split input ---- */

static void
test_recv_split_at_every_offset(void **state)
{
	uint8_t in[256];
	size_t n = 0;
	struct ist_msg m = { .type = IST_MSG_STREAM_START, .stream_id = 1,
	    .service_id = "SSH", .connection_id = 1 };
	int r;

	(void)state;
	r = ist_frame_encode(&m, in, sizeof(in));
	n += (size_t)r;
	m.type = IST_MSG_DATA;
	m.payload = (const uint8_t *)"hello";
	m.payload_len = 5;
	for (int i = 0; i < 3; i++) {
		r = ist_frame_encode(&m, in + n, sizeof(in) - n);
		n += (size_t)r;
	}
	m.type = IST_MSG_CONNECTION_RESET;
	m.payload_len = 0;
	r = ist_frame_encode(&m, in + n, sizeof(in) - n);
	n += (size_t)r;
	for (size_t k = 0; k <= n; k++) {
		struct peer d;

		peer_init(&d, IST_ROLE_DESTINATION, 0, 0, 0);
		feed_ok(&d, in, k);
		feed_ok(&d, in + k, n - k);
		assert_int_equal(d.nev, 2);
		assert_int_equal(d.rx_len[1], 15);
		assert_memory_equal(d.rx[1], "hellohellohello", 15);
		assert_int_equal(d.ev[1].why, IST_END_CONNECTION_RESET);
		peer_done(&d);
	}
}

/* ---- callbacks that call back in ---- */

static void
restart_ssh(struct peer *p, const char *svc, uint32_t conn)
{
	struct ist_err e = { 0 };

	(void)conn;
	/* From inside SESSION_RESET's loop: start a new SSH stream. */
	if (strcmp(svc, "HTTP") == 0) {
		p->on_end = NULL;
		assert_int_equal(ist_session_start_stream(p->s, "SSH", NULL,
		    &e), 0);
	}
}

static void
start_other_service(struct peer *p, const char *svc, uint32_t conn)
{
	struct ist_err e = { 0 };

	(void)svc;
	(void)conn;
	p->on_end = NULL;
	/* Slots: "", SSH, HTTP, DNS in use; a fifth service needs one. */
	(void)ist_session_start_stream(p->s, "RDP", NULL, &e);
}

/*
 * Bug: a callback run while SESSION_RESET reported ended connections
 * could start a stream for another service in the slot of a connection
 * not yet reported, which was then reported under the new name.
 */
static void
test_bug_pending_end_keeps_its_service_name(void **state)
{
	static const uint8_t reset[] = { 0, 2, 0x08, 4 };
	struct peer p;
	struct ist_err e = { 0 };
	uint32_t c;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "SSH", 1);
	start(&p, "HTTP", 1);
	start(&p, "DNS", 1);
	start(&p, "TCP", 1);
	/* SSH's stream is reported last: its connection is the newest. */
	assert_int_equal(ist_session_end_connection(p.s, "SSH", 1, &e), 0);
	assert_int_equal(ist_session_start_connection(p.s, "HTTP", &c, &e),
	    0);
	assert_int_equal(ist_session_start_connection(p.s, "SSH", &c, &e),
	    0);
	p.on_end = start_other_service;
	feed_ok(&p, reset, sizeof(reset));
	assert_int_equal(p.nev, 5);
	assert_string_equal(p.ev[0].svc, "HTTP");
	assert_string_equal(p.ev[4].svc, "SSH");
	assert_int_equal(p.ev[4].conn, 2);
	peer_done(&p);
}

/*
 * Bug: end_matching() marked connections with a flag that a nested call
 * (from a callback) cleared, so some connections of the outer reset were
 * never ended.
 */
static void
test_bug_nested_end_skips_marked(void **state)
{
	static const uint8_t reset[] = { 0, 2, 0x08, 4 };
	struct peer p;
	struct ist_err e = { 0 };
	uint32_t c;

	(void)state;
	peer_init(&p, IST_ROLE_SOURCE, IST_FORMAT_V3, 0, 0);
	start(&p, "HTTP", 1);
	start(&p, "SSH", 1);
	assert_int_equal(ist_session_start_connection(p.s, "SSH", &c, &e),
	    0);
	p.nev = 0;
	p.on_end = restart_ssh;
	feed_ok(&p, reset, sizeof(reset));
	/* HTTP 1, SSH 1 and SSH 2 all ended by the SESSION_RESET. */
	assert_int_equal(p.nev, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(p.ev[i].why, IST_END_SESSION_RESET);
	/* And the stream started from the callback is live. */
	assert_true(ist_session_connection_live(p.s, "SSH", 1));
	assert_false(ist_session_connection_live(p.s, "SSH", 2));
	assert_false(ist_session_connection_live(p.s, "HTTP", 1));
	peer_done(&p);
}

/* ---- failing allocator (failmem.h) ---- */

static void
test_session_new_fails_cleanly(void **state)
{
	struct failmem f;
	struct ist_mem mem = { fail_malloc, fail_free, &f };
	struct ist_session_options o = { .role = IST_ROLE_DESTINATION,
	    .mem = &mem };
	struct ist_session *s;
	int n, r;

	(void)state;
	for (n = 0;; n++) {
		memset(&f, 0, sizeof(f));
		f.fail_at = n;
		s = (struct ist_session *)1;
		r = ist_session_new(&s, &o, &cbs, NULL);
		if (r == 0) {
			ist_session_free(s);
			assert_int_equal(f.live, 0);
			break;
		}
		assert_int_equal(r, IST_ERR_NOMEM);
		assert_null(s);
		assert_int_equal(f.live, 0);
	}
	assert_true(n >= 5); /* session, 3 decoder, output, connections */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_waits_for_service_ids),
		cmocka_unit_test(test_v1_source_leaves_service_out),
		cmocka_unit_test(test_stream_ids_never_repeat),
		cmocka_unit_test(test_bug_ids_within_2_pow_28),
		cmocka_unit_test(test_session_new_refuses_bad_options),
		cmocka_unit_test(test_source_bytes_each_format),
		cmocka_unit_test(test_destination_bytes_each_format),
		cmocka_unit_test(test_back_to_back_v1),
		cmocka_unit_test(test_back_to_back_v2),
		cmocka_unit_test(test_back_to_back_v3),
		cmocka_unit_test(test_v3_multiple_connections),
		cmocka_unit_test(test_stale_stream_messages_dropped),
		cmocka_unit_test(test_unknown_connection_dropped),
		cmocka_unit_test(test_stream_reset_ends_every_connection),
		cmocka_unit_test(test_connection_reset_ends_one),
		cmocka_unit_test(test_session_reset_ends_all_both_roles),
		cmocka_unit_test(test_source_receiving_starts_is_role_error),
		cmocka_unit_test(test_service_messages_legal_for_destination),
		cmocka_unit_test(test_unknown_types),
		cmocka_unit_test(test_bad_frames_are_fatal_with_their_code),
		cmocka_unit_test(test_stream_id_zero_or_negative),
		cmocka_unit_test(test_invalid_service_ids_refused),
		cmocka_unit_test(test_empty_service_ids_entries_skipped),
		cmocka_unit_test(
		    test_destination_fixes_format_and_resets_on_mix),
		cmocka_unit_test(
		    test_bug_connection_start_in_v2_session_gave_connection_0),
		cmocka_unit_test(test_destination_stream_start_replaces),
		cmocka_unit_test(test_destination_refusals),
		cmocka_unit_test(test_output_bounded_and_resets_never_lost),
		cmocka_unit_test(test_send_data_cuts_at_64512),
		cmocka_unit_test(test_partial_drain_keeps_bytes_in_order),
		cmocka_unit_test(test_one_mib_transfer_integrity),
		cmocka_unit_test(
		    test_connection_start_stale_duplicate_and_limit),
		cmocka_unit_test(test_source_connection_limit),
		cmocka_unit_test(
		    test_stream_start_with_bad_service_id_is_proto_error),
		cmocka_unit_test(test_recv_from_a_callback_is_refused),
		cmocka_unit_test(
		    test_flood_of_refused_starts_is_fatal_not_lost),
		cmocka_unit_test(test_recv_split_at_every_offset),
		cmocka_unit_test(test_bug_nested_end_skips_marked),
		cmocka_unit_test(test_bug_pending_end_keeps_its_service_name),
		cmocka_unit_test(test_session_new_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
