/*
 * ws.c: one tunnel WebSocket (see ist/ws.h).
 *
 * The WebSocket protocol is ours: the upgrade and the frames are made and
 * checked by the sans-I/O codec (ist/wshandshake.h, ist/wsframe.h).
 * libwebsockets 4.1.6 is only the transport: event loop, name lookup, TCP
 * connect and timers, through a plain raw-socket client connection.
 *
 * TLS and the proxy CONNECT are done here, not by lws, because 4.1.6
 * cannot do them for a raw client (checked with small programs, see
 * docs/libwebsockets.md, "Raw client connections"): with LCCSCF_USE_SSL
 * it fails before the socket exists ("tls start fail"), and through
 * http_proxy_address it writes the client's bytes behind the CONNECT
 * without waiting for the proxy's answer. So OpenSSL runs over memory:
 * lws hands us what it read (RAW_RX), OpenSSL's records go to the socket
 * with send(), and the
 * certificate name check is OpenSSL's own (X509_VERIFY_PARAM), IPv6
 * literals included. The TLS context, that check, the proxy's value,
 * the CONNECT request and the judging of its answer are the API
 * client's too (ist/tlsclient.h, ist/httpproxy.h).
 *
 * Every end of a connection (lws reporting an error or a close, a
 * timeout, a protocol error, ist_ws_close()) goes through drop_conn(),
 * which detaches the wsi at once (our pointer never outlives it) and
 * decides what comes next from a timer, never from inside lws or the
 * caller.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "ist/httpproxy.h"
#include "ist/tlsclient.h"
#include "ist/ws.h"
#include "ist/wsframe.h"
#include "ist/wshandshake.h"

#define PROTO_NAME "ist-tunnel"
#define TX_CAP IST_MAX_WS_MESSAGE
#define TX_HEAD IST_WSFRAME_MAX_HEADER
/* Socket output: room for two whole messages as TLS records. A message
 * is staged only when one more fits, so this never grows. */
#define OUT_CAP (2u * (TX_HEAD + TX_CAP) + 8192u)
#define OUT_ROOM (TX_HEAD + TX_CAP + 4096u)
/* Received bytes not yet handled: one TLS record's plaintext, or (ws://)
 * what lws read, kept while reading is paused. */
#define IN_CAP (2u * 65536u + 1024u)
#define REQ_CAP 24576u	/* the upgrade request: a 16 KiB token fits */
#define PING_SECS 20
#define HANDSHAKE_SECS 20
#define CLOSE_GRACE_SECS 5
#define FAIL_GRACE_SECS 2
#define BACKOFF_MAX_SECS 30

struct ctxdata {
	struct lws_protocols *protocols;
	void *user;
	SSL_CTX *ssl_ctx;
	BIO_METHOD *out_meth;
	bool proxy;
	struct ist_httpproxy px;	/* when proxy (its credentials: secret) */
};

/* A byte buffer sized once: begin <= off <= off + len <= cap. */
struct bytes {
	uint8_t *p;
	size_t off, len, cap;
};

enum phase {
	PH_IDLE,	/* no connection: before the first, between attempts */
	PH_TCP,		/* lws is looking up and connecting */
	PH_PROXY,	/* CONNECT sent, waiting for the proxy's answer */
	PH_TLS,		/* TLS handshake */
	PH_UPGRADE,	/* upgrade request sent, waiting for the answer */
	PH_OPEN,	/* the WebSocket is open */
	PH_CLOSING,	/* our close frame is out, waiting for the peer's */
	PH_FAILING,	/* a protocol error: our close frame is going out */
};

struct ist_ws {
	struct lws_context *ctx;
	struct ctxdata *cd;
	struct lws *wsi;
	struct ist_session *session;
	struct ist_ws_callbacks cb;
	void *ud;

	enum ist_role role;
	enum ist_format format;
	int32_t last_stream_id;
	char host[256];
	int port;
	int host_af;		/* AF_INET, AF_INET6, or 0 for a name */
	bool tls;
	char path[48];
	char *access_token;
	char client_token[49];
	char channel_id[96];

	int max_attempts;
	int attempt;		/* failed handshakes since the last open */
	bool reconnect;
	bool closing;		/* ist_ws_close() was called */
	bool ended;		/* on_end was delivered */

	/* The connection in hand; reset by conn_reset(). */
	enum phase phase;
	bool conn_live;		/* from ws_connect() to drop_conn() */
	bool was_open;		/* the dropped connection had been open */
	bool drop_final;	/* the drop is not worth another attempt */
	struct ist_err drop_err;
	struct ist_err fatal;	/* a local verdict to report at the end */
	bool ping_due;
	bool pong_due;
	uint8_t pong[IST_WSFRAME_MAX_CONTROL];
	size_t pong_len;
	bool close_sent;
	bool peer_closed;
	int peer_close_status;
	uint16_t fail_code;	/* close code for PH_FAILING */
	bool rx_pause_want;
	bool rx_paused;
	size_t hs_seen;		/* bytes of the upgrade answer so far */
	char hs_start[40];	/* its start, for a message */
	SSL *ssl;
	BIO *rbio;
	struct ist_wshandshake_client hs;
	struct ist_wshandshake_response *resp;
	struct ist_wsframe_decoder *dec;
	struct bytes in;
	struct bytes out;
	uint8_t *tx;		/* TX_HEAD + TX_CAP */

	lws_sorted_usec_list_t sul_ping;
	lws_sorted_usec_list_t sul_rx;
	lws_sorted_usec_list_t sul_connect;
	lws_sorted_usec_list_t sul_decide;
	lws_sorted_usec_list_t sul_deadline;
};

static void ws_connect(struct ist_ws *ws);
static void pump(struct ist_ws *ws);
static void drop_conn(struct ist_ws *ws, struct lws *dying,
    const struct ist_err *e, bool final);

/* ---- small helpers ---------------------------------------------------- */

static void
keep_printable(char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
}

static int
bytes_init(struct bytes *b, size_t cap)
{
	b->p = malloc(cap);
	b->off = b->len = 0;
	b->cap = b->p ? cap : 0;
	return b->p ? 0 : IST_ERR_NOMEM;
}

static void
bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static size_t
bytes_room(struct bytes *b)
{
	if (b->off && b->cap - b->off - b->len < b->cap / 2) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	return b->cap - b->off - b->len;
}

static int
bytes_put(struct bytes *b, const void *d, size_t n)
{
	if (bytes_room(b) < n)
		return IST_ERR_TOOBIG;
	memcpy(b->p + b->off + b->len, d, n);
	b->len += n;
	return 0;
}

static void
bytes_eat(struct bytes *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (!b->len)
		b->off = 0;
}

static const char *
phase_name(enum phase ph)
{
	switch (ph) {
	case PH_TCP:
		return "the TCP connection";
	case PH_PROXY:
		return "the HTTP proxy's answer to CONNECT";
	case PH_TLS:
		return "the TLS handshake";
	case PH_UPGRADE:
		return "the answer to the WebSocket upgrade";
	default:
		return "the handshake";
	}
}

/* The OpenSSL error queue's first entry, or what SSL_get_error said. */
static void
tls_reason(char *b, size_t n, int sslerr)
{
	unsigned long ec = ERR_get_error();

	if (ec)
		ERR_error_string_n(ec, b, n);
	else
		snprintf(b, n, "TLS error %d", sslerr);
	ERR_clear_error();
}

/* ---- the end of ist_ws and of one connection --------------------------- */

static void
end(struct ist_ws *ws, int code, const struct ist_err *e)
{
	struct lws_context *ctx;
	struct ist_err none;

	if (ws->ended)
		return;
	ws->ended = true;
	lws_sul_cancel(&ws->sul_ping);
	lws_sul_cancel(&ws->sul_rx);
	lws_sul_cancel(&ws->sul_connect);
	lws_sul_cancel(&ws->sul_deadline);
	if (!e) {
		ist_err_clear(&none);
		none.code = code;
		e = &none;
	}
	ctx = ws->ctx;
	/* The program may free ws here. */
	if (ws->cb.on_end)
		ws->cb.on_end(ws, code, e, ws->ud);
	/* Ends come from timers: wake the loop, so that a program that
	 * stops on this end does not wait for its next event. */
	lws_cancel_service(ctx);
}

/* Frees what one connection had, keeping the buffers for the next. */
static void
conn_reset(struct ist_ws *ws)
{
	SSL_free(ws->ssl);	/* and its BIOs */
	ws->ssl = NULL;
	ws->rbio = NULL;
	ist_wshandshake_response_free(ws->resp);
	ws->resp = NULL;
	ist_wsframe_decoder_free(ws->dec);
	ws->dec = NULL;
	ws->in.off = ws->in.len = 0;
	ws->out.off = ws->out.len = 0;
	ws->phase = PH_IDLE;
	ws->ping_due = ws->pong_due = ws->close_sent = false;
	ws->peer_closed = false;
	ws->fail_code = 0;
	ws->rx_paused = false;
	ws->hs_seen = 0;
}

static void
connect_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws, sul_connect);

	if (ws->ended || ws->conn_live)
		return;
	ws_connect(ws);
}

/* Schedules the next handshake attempt, or ends with e. */
static void
retry_or_end(struct ist_ws *ws, const struct ist_err *e)
{
	struct ist_err e2;
	unsigned secs;

	ws->attempt++;
	if (ws->closing) {
		end(ws, 0, NULL);
		return;
	}
	if (ws->attempt >= ws->max_attempts) {
		e2 = *e;
		if (ws->attempt > 1)
			ist_err_prefix(&e2, "after %d attempts", ws->attempt);
		end(ws, e2.code, &e2);
		return;
	}
	secs = 1u << (ws->attempt - 1 < 5 ? ws->attempt - 1 : 5);
	if (secs > BACKOFF_MAX_SECS)
		secs = BACKOFF_MAX_SECS;
	ist_info("%s; trying again in %u s", e->msg, secs);
	lws_sul_schedule(ws->ctx, 0, &ws->sul_connect, connect_cb,
	    (lws_usec_t)secs * LWS_US_PER_SEC);
}

/* What follows a dropped connection, from the loop. */
static void
decide_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws, sul_decide);
	struct ist_err e = ws->drop_err;
	bool was_open = ws->was_open;
	bool peer_closed = ws->peer_closed;
	int status = ws->peer_close_status;

	conn_reset(ws);
	if (ws->ended)
		return;
	if (ws->fatal.code) {
		e = ws->fatal;
		end(ws, e.code, &e);
	} else if (ws->closing) {
		end(ws, 0, NULL);
	} else if (!was_open) {
		if (ws->drop_final)
			end(ws, e.code, &e);
		else
			retry_or_end(ws, &e);
	} else if (peer_closed && status == IST_WS_CLOSE_NORMAL) {
		/* What CloseTunnel and the end of a tunnel's life look like;
		 * any other status (1001 going away, ...) is a lost link. */
		ist_err_set(&e, IST_ERR_CLOSED, "the tunnel service closed "
		    "the WebSocket (status 1000)");
		end(ws, e.code, &e);
	} else {
		if (peer_closed)
			ist_err_set(&e, IST_ERR_NET, "the tunnel service "
			    "closed the WebSocket with status %d", status);
		else if (!e.code)
			ist_err_set(&e, IST_ERR_NET, "the connection to the "
			    "tunnel service was lost (no close from the "
			    "service)");
		if (ws->reconnect) {
			if (ws->cb.on_drop)
				ws->cb.on_drop(ws, &e, ws->ud);
			ws->attempt = 0;
			retry_or_end(ws, &e);
		} else {
			end(ws, e.code, &e);
		}
	}
}

/*
 * Ends the connection in hand, once: the wsi is detached now (dying is the
 * one lws is already destroying, not to be killed again), the rest is
 * decided from a timer. e (may be NULL) says why; final: not retried.
 */
static void
drop_conn(struct ist_ws *ws, struct lws *dying, const struct ist_err *e,
    bool final)
{
	if (!ws->conn_live)
		return;
	ws->conn_live = false;
	if (ws->wsi) {
		lws_set_opaque_user_data(ws->wsi, NULL);
		if (ws->wsi != dying)
			lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK,
			    LWS_TO_KILL_ASYNC);
		ws->wsi = NULL;
	} else if (dying) {
		lws_set_opaque_user_data(dying, NULL);
	}
	ws->was_open = ws->phase >= PH_OPEN;
	ws->drop_final = final;
	if (e)
		ws->drop_err = *e;
	else
		ist_err_clear(&ws->drop_err);
	if (ws->session && ws->was_open)
		ist_verbose("tunnel WebSocket closed");
	lws_sul_cancel(&ws->sul_ping);
	lws_sul_cancel(&ws->sul_deadline);
	lws_sul_schedule(ws->ctx, 0, &ws->sul_decide, decide_cb, 1);
}

/* A local verdict that ends the session, whatever comes later. */
static void
set_fatal(struct ist_ws *ws, const struct ist_err *e)
{
	if (!ws->fatal.code)
		ws->fatal = *e;
}

/* Handshake failures: a network one is retried, a final one is not. */
static void
hs_fail(struct ist_ws *ws, int code, bool final, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
hs_fail(struct ist_ws *ws, int code, bool final, const char *fmt, ...)
{
	struct ist_err e;
	va_list ap;

	ist_err_clear(&e);
	e.code = code;
	va_start(ap, fmt);
	vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
	va_end(ap);
	drop_conn(ws, NULL, &e, final);
}

/* ---- output ----------------------------------------------------------- */

/* The sink BIO under SSL: records go straight into ws->out. */
static int
out_bio_write(BIO *b, const char *d, int n)
{
	struct ist_ws *ws = BIO_get_data(b);

	if (n < 0 || bytes_put(&ws->out, d, (size_t)n) < 0)
		return -1;
	return n;
}

static long
out_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* Queues plaintext for the peer: encrypted with TLS, or as is (ws://). */
static int
put_out(struct ist_ws *ws, const uint8_t *d, size_t n)
{
	char why[160];
	int r;

	if (!ws->tls)
		return bytes_put(&ws->out, d, n);
	if (!n)
		return 0;
	r = SSL_write(ws->ssl, d, (int)n);
	if (r != (int)n) {
		tls_reason(why, sizeof(why), SSL_get_error(ws->ssl, r));
		ist_err_set(&ws->fatal, IST_ERR_TLS, "TLS with the tunnel "
		    "service failed while sending: %s", why);
		return IST_ERR_TLS;
	}
	return 0;
}

/*
 * Sends what ws->out holds, as far as the socket takes it; asks for
 * WRITEABLE when it is full. Returns 0, or a negative code after
 * dropping the connection.
 */
static int
flush_out(struct ist_ws *ws)
{
	struct ist_err e;
	ssize_t n;
	int fd;

	if (!ws->wsi)
		return IST_ERR_STATE;
	fd = (int)lws_get_socket_fd(ws->wsi);
	while (ws->out.len) {
		n = send(fd, ws->out.p + ws->out.off, ws->out.len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			bytes_eat(&ws->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			lws_callback_on_writable(ws->wsi);
			return 0;
		}
		ist_err_set(&e, IST_ERR_NET, "writing to the tunnel service "
		    "at %s:%d failed: %s", ws->host, ws->port,
		    n < 0 ? strerror(errno) : "connection closed");
		drop_conn(ws, NULL, &e, false);
		return IST_ERR_NET;
	}
	return 0;
}

static int
put_control(struct ist_ws *ws, int opcode, const uint8_t *d, size_t n)
{
	uint8_t f[IST_WSFRAME_MAX_CONTROL_FRAME], key[4];
	int r;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return ist_err_set(&ws->fatal, IST_ERR_NOMEM, "no random "
		    "bytes for a WebSocket mask");
	r = ist_wsframe_control(f, sizeof(f), opcode, d, n, key);
	if (r < 0)
		return r;
	return put_out(ws, f, (size_t)r);
}

static int
put_close(struct ist_ws *ws, uint16_t code)
{
	uint8_t f[IST_WSFRAME_MAX_CONTROL_FRAME], key[4];
	int r;

	ws->close_sent = true;
	if (RAND_bytes(key, sizeof(key)) != 1)
		return ist_err_set(&ws->fatal, IST_ERR_NOMEM, "no random "
		    "bytes for a WebSocket mask");
	r = ist_wsframe_close(f, sizeof(f), code, NULL, 0, key);
	if (r < 0)
		return r;
	return put_out(ws, f, (size_t)r);
}

/*
 * Moves the next run of whole tunnel frames (at most one WebSocket
 * message) from the session into one masked binary frame in ws->out.
 * The session's output holds whole frames, so nothing is carried over.
 * Returns the payload bytes, 0 when there is nothing to send.
 */
static size_t
put_message(struct ist_ws *ws)
{
	const uint8_t *p;
	uint8_t key[4], *pl = ws->tx + TX_HEAD;
	size_t n, off = 0, hl;

	n = ist_session_peek_output(ws->session, &p);
	while (off + 2 <= n) {
		size_t fl = 2 + ((size_t)p[off] << 8 | p[off + 1]);

		if (off + fl > n)
			break;
		off += fl;
	}
	if (!off)
		off = n;	/* not whole frames: send what there is */
	if (!off)
		return 0;
	if (RAND_bytes(key, sizeof(key)) != 1) {
		ist_err_set(&ws->fatal, IST_ERR_NOMEM, "no random bytes for "
		    "a WebSocket mask");
		return 0;
	}
	/* The session's buffer is not ours to mask: one copy into tx,
	 * masked there, with the header just before it. */
	memcpy(pl, p, off);
	ist_session_consume_output(ws->session, off);
	ist_wsframe_mask(pl, off, key, 0);
	hl = ist_wsframe_header_size(off, true);
	if (ist_wsframe_header(pl - hl, hl, true, IST_WS_OP_BINARY, off,
	    key) != (int)hl) {
		ist_err_set(&ws->fatal, IST_ERR_INVAL, "cannot encode a "
		    "WebSocket frame of %zu bytes", off);
		return 0;
	}
	if (put_out(ws, pl - hl, hl + off) < 0)
		return 0;
	ist_debug3("tunnel: sent %zu bytes", off);
	return off;
}

static void deadline_cb(lws_sorted_usec_list_t *sul);

static void
set_deadline(struct ist_ws *ws, int secs)
{
	lws_sul_schedule(ws->ctx, 0, &ws->sul_deadline, deadline_cb,
	    (lws_usec_t)secs * LWS_US_PER_SEC);
}

/* A protocol error found while reading: stop reading, send our close
 * frame, then drop (from WRITEABLE, or the deadline timer). */
static void
fail_proto(struct ist_ws *ws, const struct ist_err *e, uint16_t code)
{
	set_fatal(ws, e);
	if (ws->phase == PH_FAILING || !ws->conn_live)
		return;
	ws->phase = PH_FAILING;
	ws->fail_code = code;
	if (ws->wsi && !ws->rx_paused) {
		lws_rx_flow_control(ws->wsi, 0);
		ws->rx_paused = true;
	}
	lws_sul_cancel(&ws->sul_ping);
	set_deadline(ws, FAIL_GRACE_SECS);
	if (ws->wsi)
		lws_callback_on_writable(ws->wsi);
}

static void
writeable(struct ist_ws *ws)
{
	int round;

	if (ws->phase == PH_FAILING) {
		if (!ws->close_sent) {
			(void)put_close(ws, ws->fail_code ? ws->fail_code :
			    IST_WS_CLOSE_PROTOCOL);
		}
		if (flush_out(ws) == 0 && !ws->out.len)
			drop_conn(ws, NULL, NULL, true);
		return;
	}
	if (ws->phase != PH_OPEN) {
		(void)flush_out(ws);
		return;
	}
	/* Fill TLS records and the socket in big writes, a few rounds at
	 * most, so that the rest of the loop gets its turn. */
	for (round = 0; round < 4 && ws->phase == PH_OPEN; round++) {
		bool sent = false;

		if (ws->pong_due) {
			ws->pong_due = false;
			if (put_control(ws, IST_WS_OP_PONG, ws->pong,
			    ws->pong_len) < 0)
				goto fatal;
		}
		if (ws->ping_due) {
			ws->ping_due = false;
			if (put_control(ws, IST_WS_OP_PING,
			    (const uint8_t *)"ist", 3) < 0)
				goto fatal;
		}
		while (bytes_room(&ws->out) >= OUT_ROOM && put_message(ws))
			sent = true;
		if (ws->fatal.code)
			goto fatal;
		if (ws->closing && !ist_session_output_pending(ws->session)) {
			if (put_close(ws, IST_WS_CLOSE_NORMAL) < 0)
				goto fatal;
			ws->phase = PH_CLOSING;
		}
		if (flush_out(ws) < 0)
			return;
		if (sent && ws->cb.on_writable)
			ws->cb.on_writable(ws, ws->ud);
		if (ws->out.len || !ws->wsi)
			return;		/* WRITEABLE was asked for */
		if (!ist_session_output_pending(ws->session) &&
		    !ws->pong_due && !(ws->closing && ws->phase == PH_OPEN))
			return;
	}
	if (ws->wsi)
		lws_callback_on_writable(ws->wsi);
	return;
fatal:
	drop_conn(ws, NULL, NULL, true);
}

/* ---- timers ----------------------------------------------------------- */

static void
ping_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws, sul_ping);

	if (!ws->wsi || ws->phase != PH_OPEN)
		return;
	ws->ping_due = true;
	lws_callback_on_writable(ws->wsi);
	lws_sul_schedule(ws->ctx, 0, &ws->sul_ping, ping_cb,
	    PING_SECS * LWS_US_PER_SEC);
}

/* The handshake, a close or a failure took too long. */
static void
deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws,
	    sul_deadline);

	if (!ws->conn_live)
		return;
	if (ws->phase == PH_CLOSING || ws->phase == PH_FAILING ||
	    ws->phase == PH_OPEN) {
		/* A peer that does not drain or answer our close. */
		drop_conn(ws, NULL, NULL, true);
		return;
	}
	hs_fail(ws, IST_ERR_NET, false, "the tunnel service at %s:%d did "
	    "not complete the WebSocket handshake within %d s (waiting "
	    "for %s)", ws->host, ws->port, HANDSHAKE_SECS,
	    phase_name(ws->phase));
}

static void
rx_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws, sul_rx);

	if (!ws->wsi || ws->phase == PH_FAILING)
		return;
	if (ws->rx_pause_want) {
		if (!ws->rx_paused) {
			ws->rx_paused = true;
			ist_debug2("tunnel: pausing reading from the "
			    "WebSocket");
			lws_rx_flow_control(ws->wsi, 0);
		}
		return;
	}
	if (ws->rx_paused) {
		ws->rx_paused = false;
		ist_debug2("tunnel: resuming reading from the WebSocket");
		lws_rx_flow_control(ws->wsi, 1);
	}
	/* What was read before the pause is handled now: no POLLIN
	 * will come for it. */
	pump(ws);
}

/* ---- the handshake ------------------------------------------------------ */

static void
send_upgrade(struct ist_ws *ws)
{
	struct ist_wshandshake_header h[2];
	struct ist_err e;
	char hostport[300], *req = NULL;
	size_t len;
	int r;

	ws->phase = PH_UPGRADE;
	if ((ws->tls && ws->port == 443) || (!ws->tls && ws->port == 80))
		snprintf(hostport, sizeof(hostport), ws->host_af == AF_INET6 ?
		    "[%s]" : "%s", ws->host);
	else
		snprintf(hostport, sizeof(hostport), ws->host_af == AF_INET6 ?
		    "[%s]:%d" : "%s:%d", ws->host, ws->port);
	h[0].name = "access-token";
	h[0].value = ws->access_token;
	h[1].name = "client-token";
	h[1].value = ws->client_token;
	memset(&ws->hs, 0, sizeof(ws->hs));
	ws->hs.host = hostport;
	ws->hs.path = ws->path;
	ws->hs.protocol = IST_WS_SUBPROTOCOL;
	ws->hs.headers = h;
	ws->hs.n_headers = 2;
	/* No Origin header: like localproxy, we are not a browser. */
	ist_err_clear(&e);
	if (RAND_bytes(ws->hs.nonce, sizeof(ws->hs.nonce)) != 1) {
		hs_fail(ws, IST_ERR_NOMEM, true, "no random bytes for the "
		    "WebSocket key");
		return;
	}
	req = malloc(REQ_CAP);
	if (!req) {
		hs_fail(ws, IST_ERR_NOMEM, true, "out of memory");
		return;
	}
	r = ist_wshandshake_client_request(&ws->hs, req, REQ_CAP, &len, &e);
	if (r == 0)
		r = ist_wshandshake_response_new(&ws->resp, &ws->hs, 0, NULL);
	/* The parser keeps only the nonce and the protocol. */
	ws->hs.host = ws->hs.path = NULL;
	ws->hs.headers = NULL;
	ws->hs.n_headers = 0;
	if (r == IST_ERR_TOOBIG) {
		hs_fail(ws, IST_ERR_TOOBIG, true, "the access token does not "
		    "fit in the WebSocket handshake (%zu bytes at most)",
		    (size_t)REQ_CAP - 1024);
	} else if (r < 0) {
		hs_fail(ws, r, true, "cannot make the WebSocket upgrade "
		    "request: %s", e.msg[0] ? e.msg : ist_strerror(r));
	} else if (put_out(ws, (const uint8_t *)req, len) < 0) {
		drop_conn(ws, NULL, NULL, true);
	} else {
		ist_debug("tunnel: upgrade request sent");
		(void)flush_out(ws);
	}
	OPENSSL_cleanse(req, REQ_CAP);
	free(req);
}

static void
tls_step(struct ist_ws *ws)
{
	char why[200];
	long v;
	int r, err;

	r = SSL_do_handshake(ws->ssl);
	if (r == 1) {
		ist_debug("tunnel: TLS %s with %s", SSL_get_version(ws->ssl),
		    ws->host);
		send_upgrade(ws);
		return;
	}
	err = SSL_get_error(ws->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		(void)flush_out(ws);
		return;
	}
	v = SSL_get_verify_result(ws->ssl);
	if (v != X509_V_OK)
		snprintf(why, sizeof(why), "%s",
		    X509_verify_cert_error_string(v));
	else
		tls_reason(why, sizeof(why), err);
	ERR_clear_error();
	/* Certificates and TLS protocol errors do not mend by retrying. */
	hs_fail(ws, IST_ERR_TLS, true, "TLS with the tunnel service at "
	    "%s:%d failed: %s (a private or test CA: --ca-file FILE or "
	    "AWS_CA_BUNDLE; check --proxy-endpoint)",
	    ws->host, ws->port, why);
}

static int
start_tls(struct ist_ws *ws)
{
	struct ist_err e;
	BIO *wbio = NULL;
	int r;

	ws->phase = PH_TLS;
	ws->ssl = SSL_new(ws->cd->ssl_ctx);
	ws->rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(ws->cd->out_meth);
	if (!ws->ssl || !ws->rbio || !wbio) {
		BIO_free(ws->rbio);
		BIO_free(wbio);
		ws->rbio = NULL;
		hs_fail(ws, IST_ERR_NOMEM, true, "out of memory for TLS");
		return IST_ERR_NOMEM;
	}
	/* An empty rbio means "wait for more", not end of file. */
	BIO_set_mem_eof_return(ws->rbio, -1);
	BIO_set_data(wbio, ws);
	BIO_set_init(wbio, 1);
	SSL_set_bio(ws->ssl, ws->rbio, wbio);
	SSL_set_connect_state(ws->ssl);
	if ((r = ist_tlsclient_set_peer(ws->ssl, ws->host, &e)) < 0) {
		hs_fail(ws, r, true, "%s", e.msg);
		return r;
	}
	tls_step(ws);
	return 0;
}

/* The proxy's answer; bytes after its head go on to TLS. */
static void
proxy_rx(struct ist_ws *ws)
{
	struct ist_err e;
	bool final = true;
	size_t hl;
	int r, status;

	r = ist_httpproxy_answer(ws->in.p + ws->in.off, ws->in.len, &hl,
	    &status, &e);
	if (r == 0)
		return;
	if (r > 0) {
		/* A 4xx is the proxy's policy: not worth another try. */
		final = status >= 400 && status < 500;
		r = ist_httpproxy_status(status, ws->host, ws->port, &e);
	}
	if (r < 0) {
		hs_fail(ws, r, final, "the HTTP proxy %s:%d %s",
		    ws->cd->px.host, ws->cd->px.port, e.msg);
		return;
	}
	bytes_eat(&ws->in, hl);
	ist_debug("tunnel: the HTTP proxy connected us to %s:%d", ws->host,
	    ws->port);
	if (!ws->tls) {
		send_upgrade(ws);
		return;
	}
	if (start_tls(ws) < 0)
		return;
	/* A TLS server speaks second; anything early goes to TLS. */
	if (ws->in.len && BIO_write(ws->rbio, ws->in.p + ws->in.off,
	    (int)ws->in.len) != (int)ws->in.len) {
		hs_fail(ws, IST_ERR_NOMEM, true, "out of memory for TLS");
		return;
	}
	ws->in.off = ws->in.len = 0;
	if (ws->conn_live && ws->phase == PH_TLS)
		tls_step(ws);
}

static void
send_connect(struct ist_ws *ws)
{
	char req[IST_HTTPPROXY_REQUEST_MAX];
	struct ist_err e;
	size_t n;
	int r;

	ws->phase = PH_PROXY;
	/* The User-Agent tells the e2e proxy logs which client it was. */
	r = ist_httpproxy_connect_request(&ws->cd->px, ws->host, ws->port,
	    "User-Agent: iot-tunnel-ws\r\n", req, sizeof(req), &n, &e);
	if (r < 0) {
		hs_fail(ws, r, true, "%s", e.msg);
		return;
	}
	(void)bytes_put(&ws->out, req, n);
	OPENSSL_cleanse(req, sizeof(req));
	(void)flush_out(ws);
}

static int
established(struct ist_ws *ws)
{
	struct ist_wsframe_decoder_options d;
	struct ist_session_options so;
	struct ist_session *s = NULL;
	const char *cid;
	int r;

	memset(&d, 0, sizeof(d));
	d.role = IST_WSFRAME_CLIENT;	/* limits: IST_MAX_WS_MESSAGE */
	r = ist_wsframe_decoder_new(&ws->dec, &d);
	if (r < 0) {
		hs_fail(ws, r, true, "cannot make a WebSocket decoder: %s",
		    ist_strerror(r));
		return r;
	}
	memset(&so, 0, sizeof(so));
	so.role = ws->role;
	so.format = ws->format;
	so.wait_service_ids = ws->role == IST_ROLE_SOURCE;
	so.last_stream_id = ws->session ?
	    ist_session_last_stream_id(ws->session) : ws->last_stream_id;
	r = ist_session_new(&s, &so, &ws->cb.session, ws->ud);
	if (r < 0) {
		hs_fail(ws, r, true, "cannot make a tunnel session: %s",
		    ist_strerror(r));
		return r;
	}
	cid = ist_wshandshake_response_header(ws->resp, "channel-id", NULL);
	snprintf(ws->channel_id, sizeof(ws->channel_id), "%s",
	    cid ? cid : "");
	keep_printable(ws->channel_id);
	ist_wshandshake_response_free(ws->resp);
	ws->resp = NULL;
	ist_session_free(ws->session);
	ws->session = s;
	ws->phase = PH_OPEN;
	ws->attempt = 0;
	ws->rx_pause_want = false;
	lws_sul_cancel(&ws->sul_deadline);
	ist_verbose("tunnel WebSocket open as %s (channel-id %s)",
	    ws->role == IST_ROLE_SOURCE ? "source" : "destination",
	    ws->channel_id[0] ? ws->channel_id : "none");
	lws_sul_schedule(ws->ctx, 0, &ws->sul_ping, ping_cb,
	    PING_SECS * LWS_US_PER_SEC);
	if (ws->cb.on_open)
		ws->cb.on_open(ws, ws->channel_id, ws->ud);
	if (ws->wsi && (ist_session_output_pending(ws->session) ||
	    ws->closing))
		lws_callback_on_writable(ws->wsi);
	return 0;
}

static void
upgrade_rx(struct ist_ws *ws)
{
	const char *proto;
	struct ist_err e;
	size_t used = 0, n = ws->in.len, k;
	int r, status;

	if (ws->hs_seen < sizeof(ws->hs_start) - 1) {
		k = sizeof(ws->hs_start) - 1 - ws->hs_seen;
		if (k > n)
			k = n;
		memcpy(ws->hs_start + ws->hs_seen, ws->in.p + ws->in.off, k);
		ws->hs_start[ws->hs_seen + k] = '\0';
	}
	ws->hs_seen += n;
	ist_err_clear(&e);
	r = ist_wshandshake_response_feed(ws->resp, ws->in.p + ws->in.off,
	    n, &used, &e);
	bytes_eat(&ws->in, used);
	if (r == 0)
		return;
	if (r == 1) {
		(void)established(ws);
		return;
	}
	status = ist_wshandshake_response_status(ws->resp);
	if (r == IST_ERR_NET && status >= 400 && status < 500) {
		hs_fail(ws, IST_ERR_NET, true, "the tunnel service refused "
		    "the WebSocket handshake with HTTP %d%s (a 4xx is final: "
		    "not retried)", status, status == 401 || status == 403 ?
		    ": the access token is wrong, already used, expired, "
		    "or the tunnel is closed" : "");
	} else if (r == IST_ERR_NET && status >= 500) {
		hs_fail(ws, IST_ERR_NET, false, "the tunnel service answered "
		    "the WebSocket handshake with HTTP %d", status);
	} else if (r == IST_ERR_NET) {
		hs_fail(ws, IST_ERR_PROTO, true, "the tunnel service answered "
		    "the WebSocket handshake with HTTP %d instead of 101 "
		    "Switching Protocols", status);
	} else if (status == 101 && (proto = ist_wshandshake_response_header(
	    ws->resp, "sec-websocket-protocol", NULL), !proto ||
	    strcmp(proto, IST_WS_SUBPROTOCOL) != 0)) {
		char b[64];

		snprintf(b, sizeof(b), "%s", proto ? proto : "");
		keep_printable(b);
		hs_fail(ws, IST_ERR_PROTO, true, "the tunnel service did not "
		    "accept subprotocol %s (it answered \"%s\"): it speaks "
		    "another version of the tunnel protocol",
		    IST_WS_SUBPROTOCOL, b);
	} else {
		hs_fail(ws, r == IST_ERR_TOOBIG ? IST_ERR_PROTO : r, true,
		    "the tunnel service's answer to the WebSocket upgrade is "
		    "not valid: %s", e.msg[0] ? e.msg : ist_strerror(r));
	}
}

/* ---- reading ------------------------------------------------------------ */

static void
on_frame_event(struct ist_ws *ws, const struct ist_wsframe_event *ev)
{
	struct ist_err e;

	switch (ev->type) {
	case IST_WSFRAME_EV_DATA:
		if (ev->opcode != IST_WS_OP_BINARY) {
			ist_err_set(&e, IST_ERR_PROTO, "the tunnel service "
			    "sent a text WebSocket message (only binary is "
			    "allowed)");
			fail_proto(ws, &e, IST_WS_CLOSE_UNSUPPORTED);
			return;
		}
		if (ws->phase != PH_OPEN || !ev->len)
			return;
		ist_err_clear(&e);
		if (ist_session_recv(ws->session, ev->data, ev->len, &e) < 0) {
			ist_err_prefix(&e, "protocol violation by the peer");
			e.code = IST_ERR_PROTO;
			fail_proto(ws, &e, IST_WS_CLOSE_PROTOCOL);
			return;
		}
		if (ws->wsi && ist_session_output_pending(ws->session))
			lws_callback_on_writable(ws->wsi);
		return;
	case IST_WSFRAME_EV_PING:
		if (ws->close_sent)
			return;
		memcpy(ws->pong, ev->data, ev->len);
		ws->pong_len = ev->len;
		ws->pong_due = true;
		if (ws->wsi)
			lws_callback_on_writable(ws->wsi);
		return;
	case IST_WSFRAME_EV_PONG:
		ist_debug3("tunnel: pong");
		return;
	case IST_WSFRAME_EV_CLOSE:
		ws->peer_closed = true;
		ws->peer_close_status = ev->close_code;
		ist_verbose("the tunnel service closed the WebSocket (status "
		    "%d)", ws->peer_close_status);
		if (!ws->close_sent) {
			/* Echo it (RFC 6455 5.5.1), then drop. */
			(void)put_close(ws, ev->close_code ==
			    IST_WS_CLOSE_NO_STATUS ? 0 : ev->close_code);
			(void)flush_out(ws);
		}
		drop_conn(ws, NULL, NULL, false);
		return;
	}
}

static void
frames_rx(struct ist_ws *ws)
{
	struct ist_wsframe_event ev;
	struct ist_err e;
	size_t used;
	int r;

	while (ws->in.len && ws->conn_live && ws->phase != PH_FAILING &&
	    !ws->rx_pause_want) {
		ist_err_clear(&e);
		r = ist_wsframe_decoder_feed(ws->dec, ws->in.p + ws->in.off,
		    ws->in.len, &used, &ev, &e);
		bytes_eat(&ws->in, used);
		if (r == 0)
			return;
		if (r < 0) {
			uint16_t code = ist_wsframe_decoder_close_code(ws->dec);

			if (r == IST_ERR_TOOBIG)
				ist_err_prefix(&e, "the tunnel service sent a "
				    "WebSocket message over %u bytes",
				    IST_MAX_WS_MESSAGE);
			else
				ist_err_prefix(&e, "the tunnel service broke "
				    "the WebSocket protocol");
			e.code = IST_ERR_PROTO;
			fail_proto(ws, &e, code ? code :
			    IST_WS_CLOSE_PROTOCOL);
			return;
		}
		on_frame_event(ws, &ev);
	}
}

/* Plaintext in ws->in, handled as the phase says. */
static void
plain_rx(struct ist_ws *ws)
{
	switch (ws->phase) {
	case PH_PROXY:
		proxy_rx(ws);
		break;
	case PH_UPGRADE:
		upgrade_rx(ws);
		if (ws->phase == PH_OPEN)
			frames_rx(ws);
		break;
	case PH_OPEN:
	case PH_CLOSING:
		frames_rx(ws);
		break;
	default:
		ws->in.off = ws->in.len = 0;
		break;
	}
}

/*
 * Handles what has been read, as far as the pause allows: plaintext left
 * in ws->in first, then TLS records decrypted one at a time.
 */
static void
pump(struct ist_ws *ws)
{
	char why[160];
	int n, err;

	while (ws->conn_live && ws->phase != PH_FAILING) {
		if (ws->in.len) {
			size_t before = ws->in.len;
			enum phase ph = ws->phase;

			plain_rx(ws);
			if (ws->in.len == before && ws->phase == ph)
				break;	/* waiting for more, or paused */
			continue;
		}
		if (!ws->tls || ws->phase < PH_TLS || ws->rx_pause_want)
			break;
		if (ws->phase == PH_TLS) {
			tls_step(ws);
			if (ws->phase == PH_TLS)
				break;
			continue;
		}
		n = SSL_read(ws->ssl, ws->in.p, (int)ws->in.cap);
		if (n > 0) {
			ws->in.off = 0;
			ws->in.len = (size_t)n;
			continue;
		}
		err = SSL_get_error(ws->ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			break;
		if (err == SSL_ERROR_ZERO_RETURN) {
			/* close_notify: as a TCP close. */
			drop_conn(ws, NULL, NULL, false);
			break;
		}
		tls_reason(why, sizeof(why), err);
		if (ws->phase >= PH_OPEN) {
			struct ist_err e;

			ist_err_set(&e, IST_ERR_TLS, "TLS with the tunnel "
			    "service failed: %s", why);
			set_fatal(ws, &e);
			drop_conn(ws, NULL, NULL, true);
		} else {
			hs_fail(ws, IST_ERR_TLS, true, "TLS with the tunnel "
			    "service failed: %s", why);
		}
		break;
	}
	if (ws->wsi && ws->rx_pause_want && !ws->rx_paused) {
		/* Safe here: a raw socket, not lws's ws rx (BUG B). */
		ws->rx_paused = true;
		lws_rx_flow_control(ws->wsi, 0);
	}
	if (ws->wsi && ws->out.len)
		(void)flush_out(ws);
}

static void
raw_rx(struct ist_ws *ws, const uint8_t *d, size_t n)
{
	if (ws->phase == PH_FAILING || !n)
		return;
	if (ws->tls && ws->phase >= PH_TLS) {
		if (BIO_write(ws->rbio, d, (int)n) != (int)n) {
			hs_fail(ws, IST_ERR_NOMEM, true, "out of memory for "
			    "TLS");
			return;
		}
	} else if (bytes_put(&ws->in, d, n) < 0) {
		/* Only a peer that ignores the pause gets here. */
		struct ist_err e;

		ist_err_set(&e, IST_ERR_PROTO, "the tunnel service sent more "
		    "than %zu bytes ahead", ws->in.cap);
		fail_proto(ws, &e, IST_WS_CLOSE_POLICY);
		return;
	}
	pump(ws);
}

/* What lws reports on the raw connection. */
static int
raw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct ist_ws *ws = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	struct ist_err e;

	(void)user;
	if (!ws || !ws->conn_live)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_CONNECTED:
		ws->wsi = wsi;
		ist_debug("tunnel: TCP connected to %s:%d", ws->cd->proxy ?
		    ws->cd->px.host : ws->host, ws->cd->proxy ?
		    ws->cd->px.port : ws->port);
		if (ws->cd->proxy)
			send_connect(ws);
		else if (ws->tls)
			(void)start_tls(ws);
		else
			send_upgrade(ws);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		ws->wsi = wsi;
		raw_rx(ws, in, len);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		ws->wsi = wsi;
		writeable(ws);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		ist_err_set(&e, IST_ERR_NET, "could not connect to the tunnel "
		    "service at %s:%d%s (%s)", ws->host, ws->port,
		    ws->cd->proxy ? " through the HTTP proxy" : "",
		    in && *(const char *)in ? (const char *)in :
		    "connection failed");
		drop_conn(ws, wsi, &e, false);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE:
	case LWS_CALLBACK_WSI_DESTROY:
		if (ws->phase == PH_UPGRADE && ws->hs_seen) {
			keep_printable(ws->hs_start);
			ist_err_set(&e, IST_ERR_PROTO, "the tunnel service "
			    "answered the WebSocket upgrade with something "
			    "that is not HTTP/1.1 (\"%s\") and closed",
			    ws->hs_start);
			drop_conn(ws, wsi, &e, true);
		} else if (ws->phase < PH_OPEN) {
			ist_err_set(&e, IST_ERR_NET, "the tunnel service at "
			    "%s:%d closed the connection during %s", ws->host,
			    ws->port, phase_name(ws->phase));
			drop_conn(ws, wsi, &e, false);
		} else {
			drop_conn(ws, wsi, NULL, false);
		}
		return 0;
	default:
		break;
	}
	return 0;
}

static void
ws_connect(struct ist_ws *ws)
{
	struct lws_client_connect_info i;
	struct ist_err e;
	struct lws *w;

	conn_reset(ws);
	memset(&i, 0, sizeof(i));
	i.context = ws->ctx;
	i.address = ws->cd->proxy ? ws->cd->px.host : ws->host;
	i.port = ws->cd->proxy ? ws->cd->px.port : ws->port;
	i.host = i.address;
	i.path = "";
	i.method = "RAW";
	i.local_protocol_name = PROTO_NAME;
	i.opaque_user_data = ws;
	ws->channel_id[0] = '\0';
	ws->conn_live = true;
	ws->phase = PH_TCP;
	ist_err_clear(&ws->drop_err);
	ist_verbose("connecting to the tunnel service at %s:%d as %s%s%s",
	    ws->host, ws->port,
	    ws->role == IST_ROLE_SOURCE ? "source" : "destination",
	    ws->cd->proxy ? " through an HTTP proxy" : "",
	    ws->attempt ? " (again)" : "");
	set_deadline(ws, HANDSHAKE_SECS);
	/* Name lookup happens inside (it blocks the loop: Debian's lws has
	 * no async DNS). Failures may be reported from inside as well. */
	w = lws_client_connect_via_info(&i);
	if (!ws->conn_live)
		return;
	if (!w) {
		ist_err_set(&e, IST_ERR_NET, "could not connect to the tunnel "
		    "service at %s:%d (name lookup or connect failed)",
		    i.address, i.port);
		drop_conn(ws, NULL, &e, false);
		return;
	}
	ws->wsi = w;
}

/* ---- the API -------------------------------------------------------------- */

int
ist_ws_new(struct ist_ws **out, struct lws_context *ctx,
    const struct ist_ws_options *o, const struct ist_ws_callbacks *cb,
    void *ud, struct ist_err *e)
{
	struct ist_ws *ws = NULL;
	unsigned char rnd[24], a[16];
	size_t i, n;
	int r;

	*out = NULL;
	if (!o->access_token || !*o->access_token)
		return ist_err_set(e, IST_ERR_CONFIG, "no tunnel access token");
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	ws->ctx = ctx;
	ws->cd = lws_context_user(ctx);
	ws->cb = *cb;
	ws->ud = ud;
	ws->role = o->role;
	ws->format = o->format ? o->format : IST_FORMAT_V3;
	ws->last_stream_id = o->last_stream_id;
	ws->max_attempts = o->max_attempts > 0 ? o->max_attempts : 4;
	ws->reconnect = o->reconnect;
	if (!ws->cd || !o->host || !*o->host ||
	    strlen(o->host) >= sizeof(ws->host) ||
	    o->port < 1 || o->port > 65535) {
		r = ist_err_set(e, IST_ERR_CONFIG, "bad tunnel service "
		    "endpoint");
		goto out;
	}
	memcpy(ws->host, o->host, strlen(o->host) + 1);
	ws->port = o->port;
	ws->tls = o->tls;
	if (inet_pton(AF_INET6, ws->host, a) == 1)
		ws->host_af = AF_INET6;
	else if (inet_pton(AF_INET, ws->host, a) == 1)
		ws->host_af = AF_INET;
	snprintf(ws->path, sizeof(ws->path), "/tunnel?local-proxy-mode=%s",
	    o->role == IST_ROLE_SOURCE ? "source" : "destination");
	n = strlen(o->access_token);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)o->access_token[i];

		/* It goes into an HTTP header: no CR/LF smuggling. */
		if (c < 0x20 || c > 0x7e) {
			r = ist_err_set(e, IST_ERR_CONFIG, "the tunnel access "
			    "token has a character that is not printable "
			    "ASCII");
			goto out;
		}
	}
	ws->access_token = strdup(o->access_token);
	ws->tx = malloc(TX_HEAD + TX_CAP);
	if (!ws->access_token || !ws->tx || bytes_init(&ws->in, IN_CAP) < 0 ||
	    bytes_init(&ws->out, OUT_CAP) < 0) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (o->client_token) {
		n = strlen(o->client_token);
		if (n < 32 || n >= sizeof(ws->client_token) ||
		    strspn(o->client_token, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n) {
			r = ist_err_set(e, IST_ERR_CONFIG, "a client token "
			    "is 32 to 48 letters, digits or '-'");
			goto out;
		}
		memcpy(ws->client_token, o->client_token, n + 1);
	} else {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			r = ist_err_set(e, IST_ERR_NOMEM, "no random bytes "
			    "for a client token");
			goto out;
		}
		for (i = 0; i < sizeof(rnd); i++)
			snprintf(ws->client_token + 2 * i, 3, "%02x", rnd[i]);
		OPENSSL_cleanse(rnd, sizeof(rnd));
	}
	/* Connect from the loop, so that every outcome arrives as a
	 * callback and never from inside this call. */
	lws_sul_schedule(ctx, 0, &ws->sul_connect, connect_cb, 1);
	*out = ws;
	ws = NULL;
	r = 0;
out:
	ist_ws_free(ws);
	return r;
}

void
ist_ws_free(struct ist_ws *ws)
{
	if (!ws)
		return;
	lws_sul_cancel(&ws->sul_ping);
	lws_sul_cancel(&ws->sul_rx);
	lws_sul_cancel(&ws->sul_connect);
	lws_sul_cancel(&ws->sul_decide);
	lws_sul_cancel(&ws->sul_deadline);
	if (ws->wsi) {
		lws_set_opaque_user_data(ws->wsi, NULL);
		lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
		ws->wsi = NULL;
	}
	ws->conn_live = false;
	conn_reset(ws);
	ist_session_free(ws->session);
	if (ws->access_token) {
		OPENSSL_cleanse(ws->access_token, strlen(ws->access_token));
		free(ws->access_token);
	}
	OPENSSL_cleanse(ws->client_token, sizeof(ws->client_token));
	free(ws->tx);
	bytes_free(&ws->in);
	bytes_free(&ws->out);
	free(ws);
}

struct ist_session *
ist_ws_session(struct ist_ws *ws)
{
	return ws->session;
}

bool
ist_ws_is_open(const struct ist_ws *ws)
{
	return ws->conn_live && (ws->phase == PH_OPEN ||
	    ws->phase == PH_CLOSING);
}

const char *
ist_ws_channel_id(const struct ist_ws *ws)
{
	return ws->channel_id;
}

void
ist_ws_flush(struct ist_ws *ws)
{
	if (ws->wsi && ws->phase == PH_OPEN)
		lws_callback_on_writable(ws->wsi);
}

void
ist_ws_pause_rx(struct ist_ws *ws, bool pause)
{
	if (ws->rx_pause_want == pause)
		return;
	ws->rx_pause_want = pause;
	/* Applied from the loop: this may be called from inside the
	 * session's callbacks, in the middle of reading. */
	lws_sul_schedule(ws->ctx, 0, &ws->sul_rx, rx_cb, 1);
}

void
ist_ws_set_reconnect(struct ist_ws *ws, bool on)
{
	ws->reconnect = on;
}

void
ist_ws_close(struct ist_ws *ws)
{
	if (ws->closing || ws->ended)
		return;
	ws->closing = true;
	if (ws->wsi && ws->phase == PH_OPEN) {
		/* Output that cannot drain (a stalled peer) and a peer that
		 * does not answer our close must not hold the end back. */
		set_deadline(ws, CLOSE_GRACE_SECS);
		lws_callback_on_writable(ws->wsi);
		return;
	}
	if (ws->conn_live) {
		/* Connecting, or closing already: stop now. */
		drop_conn(ws, NULL, NULL, true);
		return;
	}
	/* Waiting to retry, or between a drop and its decision. */
	lws_sul_cancel(&ws->sul_connect);
	lws_sul_schedule(ws->ctx, 0, &ws->sul_decide, decide_cb, 1);
}

/* ---- the context ---------------------------------------------------------- */

/* lws logs go to ours, at the most verbose level only. */
static void
lws_log_emit(int level, const char *line)
{
	char b[256];
	size_t n;

	(void)level;
	snprintf(b, sizeof(b), "%s", line);
	n = strlen(b);
	while (n && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		b[--n] = '\0';
	ist_debug3("lws: %s", b);
}

static void
ctxdata_free(struct ctxdata *cd)
{
	if (!cd)
		return;
	free(cd->protocols);
	ist_httpproxy_clear(&cd->px);
	SSL_CTX_free(cd->ssl_ctx);
	BIO_meth_free(cd->out_meth);
	free(cd);
}

int
ist_ws_context_new(struct lws_context **out,
    const struct ist_ws_context_options *o, struct ist_err *e)
{
	const struct ist_tlsclient_options to = { .ca_file = o->ca_file,
		.alpn = "http/1.1" };
	struct lws_context_creation_info info;
	struct ctxdata *cd = NULL;
	size_t n = 0, i;
	int r;

	*out = NULL;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	cd->user = o->user;
	if (o->protocols)
		while (o->protocols[n].name)
			n++;
	cd->protocols = calloc(n + 2, sizeof(*cd->protocols));
	cd->out_meth = BIO_meth_new(BIO_get_new_index() |
	    BIO_TYPE_SOURCE_SINK, "ist-ws-out");
	if (!cd->protocols || !cd->out_meth ||
	    !BIO_meth_set_write(cd->out_meth, out_bio_write) ||
	    !BIO_meth_set_ctrl(cd->out_meth, out_bio_ctrl)) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	cd->protocols[0].name = PROTO_NAME;
	cd->protocols[0].callback = raw_callback;
	for (i = 0; i < n; i++)
		cd->protocols[i + 1] = o->protocols[i];

	/* --ca-file is extra trust, as for the API calls. */
	r = ist_tlsclient_ctx_new(&cd->ssl_ctx, &to, e);
	if (r < 0)
		goto out;
	if (o->http_proxy && *o->http_proxy) {
		r = ist_httpproxy_parse(&cd->px, o->http_proxy, e);
		if (r < 0)
			goto out;
		cd->proxy = true;
		ist_verbose("using an HTTP proxy for the tunnel service");
	}

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = cd->protocols;
	/* Raw reads come in pieces of this size (less LWS_PRE). */
	info.pt_serv_buf_size = 65536;
	info.user = cd;
	/* lws would apply a lowercase http_proxy by itself to its own
	 * client connections; none of ours should see it. */
	unsetenv("http_proxy");
	lws_set_log_level(ist_log_get_level() >= IST_LOG_DEBUG3 ?
	    LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR | LLL_WARN,
	    lws_log_emit);
	*out = lws_create_context(&info);
	if (!*out) {
		r = ist_err_set(e, IST_ERR_CONFIG, "cannot set up "
		    "libwebsockets");
		goto out;
	}
	return 0;
out:
	ctxdata_free(cd);
	return r;
}

void
ist_ws_context_free(struct lws_context *ctx)
{
	struct ctxdata *cd;

	if (!ctx)
		return;
	cd = lws_context_user(ctx);
	lws_context_destroy(ctx);
	ctxdata_free(cd);
}

void *
ist_ws_context_user(struct lws_context *ctx)
{
	struct ctxdata *cd = lws_context_user(ctx);

	return cd ? cd->user : NULL;
}

#define TOKEN_MAX 16384

int
ist_ws_read_token(const char *path, char **out, struct ist_err *e)
{
	char *buf = NULL;
	const char *env;
	size_t n = 0, a, b, i;
	FILE *f = NULL;
	int r;

	*out = NULL;
	buf = malloc(TOKEN_MAX + 1);
	if (!buf)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	if (!path) {
		env = getenv("AWSIOT_TUNNEL_ACCESS_TOKEN");
		if (!env || !*env) {
			r = ist_err_set(e, IST_ERR_CONFIG, "no access token: "
			    "give --token-file FILE or set "
			    "AWSIOT_TUNNEL_ACCESS_TOKEN");
			goto out;
		}
		n = strlen(env);
		if (n > TOKEN_MAX) {
			r = ist_err_set(e, IST_ERR_CONFIG, "the access token "
			    "in AWSIOT_TUNNEL_ACCESS_TOKEN is too long");
			goto out;
		}
		memcpy(buf, env, n);
	} else {
		f = strcmp(path, "-") ? fopen(path, "r") : stdin;
		if (!f) {
			r = ist_err_set(e, IST_ERR_IO, "cannot read token file "
			    "%s: %s", path, strerror(errno));
			goto out;
		}
		n = fread(buf, 1, TOKEN_MAX + 1, f);
		if (ferror(f)) {
			r = ist_err_set(e, IST_ERR_IO, "cannot read token file "
			    "%s", path);
			goto out;
		}
		if (n > TOKEN_MAX) {
			r = ist_err_set(e, IST_ERR_CONFIG, "token file %s is "
			    "over %d bytes: not an access token", path,
			    TOKEN_MAX);
			goto out;
		}
	}
	buf[n] = '\0';
	for (a = 0; a < n && strchr(" \t\r\n", buf[a]); a++)
		;
	for (b = n; b > a && strchr(" \t\r\n", buf[b - 1]); b--)
		;
	for (i = a; i < b; i++)
		if ((unsigned char)buf[i] < 0x21 ||
		    (unsigned char)buf[i] > 0x7e) {
			r = ist_err_set(e, IST_ERR_CONFIG, "the access token "
			    "%s%s is not one line of printable characters",
			    path ? "in " : "from AWSIOT_TUNNEL_ACCESS_TOKEN",
			    path ? path : "");
			goto out;
		}
	if (a == b) {
		r = ist_err_set(e, IST_ERR_CONFIG, "the access token %s%s is "
		    "empty", path ? "in " : "from AWSIOT_TUNNEL_ACCESS_TOKEN",
		    path ? path : "");
		goto out;
	}
	memmove(buf, buf + a, b - a);
	buf[b - a] = '\0';
	*out = buf;
	buf = NULL;
	r = 0;
out:
	if (f && f != stdin)
		fclose(f);
	if (buf) {
		OPENSSL_cleanse(buf, TOKEN_MAX + 1);
		free(buf);
	}
	return r;
}
