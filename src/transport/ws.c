/*
 * ws.c: one tunnel WebSocket over libwebsockets 4.1.6 (see ist/ws.h).
 *
 * The lws facts and bugs relied on here are in LWS-NOTES.md; the ones
 * that shape this file:
 *  - the tunnel protocol is protocols[0], because lws delivers
 *    OPENSSL_PERFORM_SERVER_CERT_VERIFICATION there; that is where an IPv6
 *    literal's name is checked, as lws cannot;
 *  - a reply without Sec-WebSocket-Protocol is accepted by lws, so the
 *    subprotocol is checked in FILTER_PRE_ESTABLISH;
 *  - rx flow control is never called inside CLIENT_RECEIVE (BUG B): it is
 *    applied from a 1 us timer.
 * Output goes out as whole tunnel frames, at most IST_MAX_WS_MESSAGE bytes
 * per WebSocket message, one lws_write() per WRITEABLE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ist/ws.h"

#define PROTO_NAME "ist-tunnel"
#define TX_CAP IST_MAX_WS_MESSAGE
#define PING_SECS 20
#define CLOSE_GRACE_SECS 5
#define BACKOFF_MAX_SECS 30

struct ctxdata {
	struct lws_protocols *protocols;
	char *http_proxy;
	void *user;
};

struct ist_ws {
	struct lws_context *ctx;
	struct lws *wsi;
	struct ist_session *session;
	struct ist_ws_callbacks cb;
	void *ud;

	enum ist_role role;
	enum ist_format format;
	int32_t last_stream_id;
	char host[256];
	int port;
	bool host_is_ip6;
	bool tls;
	char path[48];
	char *access_token;
	char client_token[49];
	char channel_id[96];

	int max_attempts;
	int attempt;		/* failed handshakes since the last open */
	bool reconnect;
	bool open;		/* handshake done, not yet gone */
	bool closing;		/* ist_ws_close() was called */
	bool ended;		/* on_end was delivered */
	bool ping_due;
	bool failure_reported;	/* by a callback during ws_connect() */
	bool peer_closed;	/* the server sent a close frame */
	int peer_close_status;
	bool rx_pause_want;
	bool rx_paused;
	struct ist_err fatal;	/* a local verdict to report at the end */
	char tls_err[160];
	size_t rx_msg_len;

	lws_sorted_usec_list_t sul_ping;
	lws_sorted_usec_list_t sul_flow;
	lws_sorted_usec_list_t sul_connect;
	lws_sorted_usec_list_t sul_end;

	uint8_t *tx;	/* LWS_PRE + TX_CAP */
	size_t tx_len;	/* staged bytes at tx + LWS_PRE */
};

static int ws_connect(struct ist_ws *ws);
static void retry_or_end(struct ist_ws *ws, const struct ist_err *e);

static void
end(struct ist_ws *ws, int code, const struct ist_err *e)
{
	struct ist_err none;

	if (ws->ended)
		return;
	ws->ended = true;
	lws_sul_cancel(&ws->sul_ping);
	lws_sul_cancel(&ws->sul_flow);
	lws_sul_cancel(&ws->sul_connect);
	if (!e) {
		ist_err_clear(&none);
		none.code = code;
		e = &none;
	}
	/* Last statement: the program may free ws here. */
	if (ws->cb.on_end)
		ws->cb.on_end(ws, code, e, ws->ud);
}

static void
end_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws, sul_end);
	struct ist_err e = ws->fatal;

	end(ws, e.code, &e);
}

/* Ends from the loop, not from inside the caller's call. */
static void
end_later(struct ist_ws *ws, int code)
{
	ws->fatal.code = code;
	lws_sul_schedule(ws->ctx, 0, &ws->sul_end, end_cb, 1);
}

static void
set_fatal(struct ist_ws *ws, const struct ist_err *e)
{
	if (!ws->fatal.code)
		ws->fatal = *e;
}

static void
connect_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws, sul_connect);
	struct ist_err e;

	if (ws->ended || ws->wsi)
		return;
	ws->failure_reported = false;
	/* lws may report the failure through CONNECTION_ERROR from inside
	 * the call (then it is handled there) or only by returning NULL. */
	if (ws_connect(ws) < 0 && !ws->failure_reported) {
		ist_err_set(&e, IST_ERR_NET,
		    "could not connect to the tunnel service at %s:%d "
		    "(name lookup or connect failed)", ws->host, ws->port);
		retry_or_end(ws, &e);
	}
}

static void
ping_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws, sul_ping);

	if (!ws->wsi || !ws->open)
		return;
	ws->ping_due = true;
	lws_callback_on_writable(ws->wsi);
	lws_sul_schedule(ws->ctx, 0, &ws->sul_ping, ping_cb,
	    PING_SECS * LWS_US_PER_SEC);
}

static void
flow_cb(lws_sorted_usec_list_t *sul)
{
	struct ist_ws *ws = lws_container_of(sul, struct ist_ws, sul_flow);

	if (!ws->wsi || !ws->open || ws->rx_paused == ws->rx_pause_want)
		return;
	ws->rx_paused = ws->rx_pause_want;
	ist_debug2("tunnel: %s reading from the WebSocket",
	    ws->rx_paused ? "pausing" : "resuming");
	lws_rx_flow_control(ws->wsi, ws->rx_paused ? 0 : 1);
}

/* Schedules the next handshake attempt, or ends with e. */
static void
retry_or_end(struct ist_ws *ws, const struct ist_err *e)
{
	unsigned secs;

	ws->attempt++;
	if (ws->closing || ws->attempt >= ws->max_attempts) {
		if (ws->closing) {
			end(ws, 0, NULL);
			return;
		}
		struct ist_err e2 = *e;
		if (ws->attempt > 1)
			ist_err_prefix(&e2, "after %d attempts",
			    ws->attempt);
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

/* A handshake that did not complete. */
static void
handshake_failed(struct ist_ws *ws, struct lws *wsi, const char *why)
{
	struct ist_err e;
	int status = lws_http_client_http_response(wsi);

	lws_set_opaque_user_data(wsi, NULL);
	ws->wsi = NULL;
	ws->failure_reported = true;
	if (ws->fatal.code) {
		struct ist_err f = ws->fatal;
		end(ws, f.code, &f);
		return;
	}
	if (ws->tls_err[0]) {
		ist_err_set(&e, IST_ERR_TLS,
		    "TLS with the tunnel service at %s:%d failed: %s "
		    "(a private or test CA: --ca-file FILE or AWS_CA_BUNDLE; "
		    "check --proxy-endpoint)", ws->host,
		    ws->port, ws->tls_err);
		end(ws, e.code, &e);
		return;
	}
	if (status >= 400 && status < 500) {
		ist_err_set(&e, IST_ERR_NET,
		    "the tunnel service refused the WebSocket handshake "
		    "with HTTP %d%s (a 4xx is final: not retried)", status,
		    status == 401 || status == 403 ?
		    ": the access token is wrong, already used, expired, "
		    "or the tunnel is closed" : "");
		end(ws, e.code, &e);
		return;
	}
	if (status >= 500)
		ist_err_set(&e, IST_ERR_NET, "the tunnel service answered "
		    "the WebSocket handshake with HTTP %d", status);
	else
		ist_err_set(&e, IST_ERR_NET, "could not connect to the "
		    "tunnel service at %s:%d (%s)", ws->host, ws->port,
		    why && *why ? why : "connection failed");
	retry_or_end(ws, &e);
}

/* An established connection went away. */
static void
connection_gone(struct ist_ws *ws, struct lws *wsi)
{
	struct ist_err e;

	lws_set_opaque_user_data(wsi, NULL);
	ws->wsi = NULL;
	ws->open = false;
	lws_sul_cancel(&ws->sul_ping);
	lws_sul_cancel(&ws->sul_flow);
	if (ws->fatal.code) {
		e = ws->fatal;
		end(ws, e.code, &e);
	} else if (ws->closing) {
		end(ws, 0, NULL);
	} else if (ws->peer_closed &&
	    ws->peer_close_status == LWS_CLOSE_STATUS_NORMAL) {
		/* What CloseTunnel and the end of a tunnel's life look like;
		 * any other status (1001 going away, ...) is a lost link. */
		ist_err_set(&e, IST_ERR_CLOSED, "the tunnel service closed "
		    "the WebSocket (status 1000)");
		end(ws, e.code, &e);
	} else {
		if (ws->peer_closed)
			ist_err_set(&e, IST_ERR_NET, "the tunnel service "
			    "closed the WebSocket with status %d",
			    ws->peer_close_status);
		else
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

static int
verify_cert(struct ist_ws *ws, X509_STORE_CTX *xs, int ok)
{
	if (!ws || !xs)
		return ok ? 0 : 1;
	if (ok && ws->host_is_ip6 && X509_STORE_CTX_get_error_depth(xs) == 0) {
		X509 *c = X509_STORE_CTX_get_current_cert(xs);

		if (!c || X509_check_ip_asc(c, ws->host, 0) != 1) {
			X509_STORE_CTX_set_error(xs,
			    X509_V_ERR_IP_ADDRESS_MISMATCH);
			ok = 0;
		}
	}
	if (!ok && !ws->tls_err[0])
		snprintf(ws->tls_err, sizeof(ws->tls_err), "%s",
		    X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(xs)));
	return ok ? 0 : 1;
}

static int
append_headers(struct ist_ws *ws, struct lws *wsi, void *in, size_t len)
{
	unsigned char **p = in, *endp = *p + len;
	const char *tok = ws->access_token;

	if (lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"access-token:",
	    (const unsigned char *)tok, (int)strlen(tok), p, endp) ||
	    lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"client-token:",
	    (const unsigned char *)ws->client_token,
	    (int)strlen(ws->client_token), p, endp)) {
		ist_err_set(&ws->fatal, IST_ERR_TOOBIG, "the access token "
		    "does not fit in the WebSocket handshake");
		return -1;
	}
	return 0;
}

static void
keep_printable(char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e)
			*s = '?';
}

static int
pre_establish(struct ist_ws *ws, struct lws *wsi)
{
	char b[128];
	int n;

	n = lws_hdr_copy(wsi, b, sizeof(b), WSI_TOKEN_PROTOCOL);
	if (n <= 0 || strcmp(b, IST_WS_SUBPROTOCOL) != 0) {
		if (n < 0)
			n = 0;
		b[n] = '\0';
		keep_printable(b);
		ist_err_set(&ws->fatal, IST_ERR_PROTO, "the tunnel service "
		    "did not accept subprotocol %s (it answered \"%s\")",
		    IST_WS_SUBPROTOCOL, b);
		return -1;
	}
	ws->channel_id[0] = '\0';
	n = lws_hdr_custom_copy(wsi, ws->channel_id, sizeof(ws->channel_id),
	    "channel-id:", 11);
	if (n < 0)
		ws->channel_id[0] = '\0';
	keep_printable(ws->channel_id);
	return 0;
}

static int
established(struct ist_ws *ws)
{
	struct ist_session_options so;
	struct ist_session *s = NULL;
	int r;

	memset(&so, 0, sizeof(so));
	so.role = ws->role;
	so.format = ws->format;
	so.wait_service_ids = ws->role == IST_ROLE_SOURCE;
	so.last_stream_id = ws->session ?
	    ist_session_last_stream_id(ws->session) : ws->last_stream_id;
	r = ist_session_new(&s, &so, &ws->cb.session, ws->ud);
	if (r < 0) {
		ist_err_set(&ws->fatal, r, "cannot make a tunnel session: %s",
		    ist_strerror(r));
		return -1;
	}
	ist_session_free(ws->session);
	ws->session = s;
	ws->open = true;
	ws->attempt = 0;
	ws->tx_len = 0;
	ws->rx_paused = false;
	ws->rx_pause_want = false;
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

static int
receive(struct ist_ws *ws, struct lws *wsi, const uint8_t *in, size_t len)
{
	struct ist_err e;
	int r;

	if (!ws->session || !ws->open)
		return 0;
	if (lws_is_first_fragment(wsi))
		ws->rx_msg_len = 0;
	if (!lws_frame_is_binary(wsi)) {
		ist_err_set(&ws->fatal, IST_ERR_PROTO, "the tunnel service "
		    "sent a text WebSocket message (only binary is allowed)");
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    NULL, 0);
		return -1;
	}
	ws->rx_msg_len += len;
	if (ws->rx_msg_len > IST_MAX_WS_MESSAGE) {
		ist_err_set(&ws->fatal, IST_ERR_PROTO, "the tunnel service "
		    "sent a WebSocket message over %u bytes",
		    IST_MAX_WS_MESSAGE);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
		    NULL, 0);
		return -1;
	}
	ist_err_clear(&e);
	r = ist_session_recv(ws->session, in, len, &e);
	if (r < 0) {
		ist_err_prefix(&e, "protocol violation by the peer");
		e.code = IST_ERR_PROTO;
		set_fatal(ws, &e);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, NULL, 0);
		return -1;
	}
	if (ws->wsi && (ist_session_output_pending(ws->session) ||
	    ws->closing))
		lws_callback_on_writable(wsi);
	return 0;
}

/* Moves session output into tx; returns the bytes of whole frames. */
static size_t
stage(struct ist_ws *ws)
{
	uint8_t *buf = ws->tx + LWS_PRE;
	const uint8_t *p;
	size_t n, off = 0;

	while (ws->tx_len < TX_CAP) {
		n = ist_session_peek_output(ws->session, &p);
		if (!n)
			break;
		if (n > TX_CAP - ws->tx_len)
			n = TX_CAP - ws->tx_len;
		memcpy(buf + ws->tx_len, p, n);
		ist_session_consume_output(ws->session, n);
		ws->tx_len += n;
	}
	while (off + 2 <= ws->tx_len) {
		size_t fl = 2 + ((size_t)buf[off] << 8 | buf[off + 1]);

		if (off + fl > ws->tx_len)
			break;
		off += fl;
	}
	return off;
}

static int
writeable(struct ist_ws *ws, struct lws *wsi)
{
	uint8_t ping[LWS_PRE + 8];
	size_t n;

	if (!ws->open || !ws->session)
		return 0;
	if (ws->ping_due) {
		ws->ping_due = false;
		memcpy(ping + LWS_PRE, "ist", 3);
		if (lws_write(wsi, ping + LWS_PRE, 3, LWS_WRITE_PING) < 3) {
			ist_err_set(&ws->fatal, IST_ERR_NET, "writing to the "
			    "tunnel service failed");
			return -1;
		}
		lws_callback_on_writable(wsi);
		return 0;
	}
	n = stage(ws);
	if (n) {
		if (lws_write(wsi, ws->tx + LWS_PRE, n, LWS_WRITE_BINARY) <
		    (int)n) {
			ist_err_set(&ws->fatal, IST_ERR_NET, "writing to the "
			    "tunnel service failed");
			return -1;
		}
		ws->tx_len -= n;
		if (ws->tx_len)
			memmove(ws->tx + LWS_PRE, ws->tx + LWS_PRE + n,
			    ws->tx_len);
		ist_debug3("tunnel: sent %zu bytes", n);
		if (ws->tx_len >= 2 || ist_session_output_pending(ws->session)
		    || ws->closing)
			lws_callback_on_writable(wsi);
		if (ws->cb.on_writable)
			ws->cb.on_writable(ws, ws->ud);
		return 0;
	}
	if (ws->closing) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

static int
ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct ist_ws *ws = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
		return verify_cert(ws, user, (int)len);
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		return ws ? append_headers(ws, wsi, in, len) : -1;
	case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
		return ws ? pre_establish(ws, wsi) : -1;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		return ws ? established(ws) : -1;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return ws ? receive(ws, wsi, in, len) : -1;
	case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
		ist_debug3("tunnel: pong");
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return ws ? writeable(ws, wsi) : -1;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (ws) {
			const uint8_t *b = in;

			ws->peer_closed = true;
			ws->peer_close_status = len >= 2 && b ?
			    (b[0] << 8 | b[1]) : 1005;
			ist_verbose("the tunnel service closed the WebSocket "
			    "(status %d)", ws->peer_close_status);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (ws)
			handshake_failed(ws, wsi, in ? (const char *)in : "");
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (ws) {
			if (ws->open)
				connection_gone(ws, wsi);
			else
				handshake_failed(ws, wsi, "closed");
		}
		return 0;
	default:
		break;
	}
	return 0;
}

static int
ws_connect(struct ist_ws *ws)
{
	struct lws_client_connect_info i;

	memset(&i, 0, sizeof(i));
	i.context = ws->ctx;
	i.address = ws->host;
	i.port = ws->port;
	i.path = ws->path;
	i.host = ws->host;	/* SNI, Host and the certificate name */
	/* No Origin header: like localproxy, we are not a browser. */
	i.ssl_connection = ws->tls ? LCCSCF_USE_SSL : 0;
	/* lws cuts an IPv6 host at its first ':' and then checks nothing
	 * (LWS-NOTES 1): verify_cert() checks the address instead. */
	if (ws->tls && ws->host_is_ip6)
		i.ssl_connection |= LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
	i.protocol = IST_WS_SUBPROTOCOL;
	i.local_protocol_name = PROTO_NAME;
	i.opaque_user_data = ws;
	i.pwsi = &ws->wsi;
	ws->tls_err[0] = '\0';
	ws->peer_closed = false;
	ws->rx_msg_len = 0;
	ws->channel_id[0] = '\0';
	ist_verbose("connecting to the tunnel service at %s:%d as %s%s",
	    ws->host, ws->port,
	    ws->role == IST_ROLE_SOURCE ? "source" : "destination",
	    ws->attempt ? " (again)" : "");
	if (!lws_client_connect_via_info(&i)) {
		ws->wsi = NULL;
		return IST_ERR_NET;
	}
	return 0;
}

int
ist_ws_new(struct ist_ws **out, struct lws_context *ctx,
    const struct ist_ws_options *o, const struct ist_ws_callbacks *cb,
    void *ud, struct ist_err *e)
{
	struct ist_ws *ws = NULL;
	unsigned char rnd[24];
	size_t i, n;
	int r;

	*out = NULL;
	if (!o->access_token || !*o->access_token)
		return ist_err_set(e, IST_ERR_CONFIG, "no tunnel access token");
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	ws->ctx = ctx;
	ws->cb = *cb;
	ws->ud = ud;
	ws->role = o->role;
	ws->format = o->format ? o->format : IST_FORMAT_V3;
	ws->last_stream_id = o->last_stream_id;
	ws->max_attempts = o->max_attempts > 0 ? o->max_attempts : 4;
	ws->reconnect = o->reconnect;
	if (!o->host || !*o->host || strlen(o->host) >= sizeof(ws->host) ||
	    o->port < 1 || o->port > 65535) {
		r = ist_err_set(e, IST_ERR_CONFIG, "bad tunnel service "
		    "endpoint");
		goto out;
	}
	memcpy(ws->host, o->host, strlen(o->host) + 1);
	ws->port = o->port;
	ws->tls = o->tls;
	ws->host_is_ip6 = strchr(ws->host, ':') != NULL;
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
	ws->tx = malloc(LWS_PRE + TX_CAP);
	if (!ws->access_token || !ws->tx) {
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
	lws_sul_cancel(&ws->sul_flow);
	lws_sul_cancel(&ws->sul_connect);
	lws_sul_cancel(&ws->sul_end);
	if (ws->wsi) {
		lws_set_opaque_user_data(ws->wsi, NULL);
		lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
	}
	ist_session_free(ws->session);
	if (ws->access_token) {
		OPENSSL_cleanse(ws->access_token, strlen(ws->access_token));
		free(ws->access_token);
	}
	OPENSSL_cleanse(ws->client_token, sizeof(ws->client_token));
	free(ws->tx);
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
	return ws->open;
}

const char *
ist_ws_channel_id(const struct ist_ws *ws)
{
	return ws->channel_id;
}

void
ist_ws_flush(struct ist_ws *ws)
{
	if (ws->wsi && ws->open)
		lws_callback_on_writable(ws->wsi);
}

void
ist_ws_pause_rx(struct ist_ws *ws, bool pause)
{
	if (ws->rx_pause_want == pause)
		return;
	ws->rx_pause_want = pause;
	lws_sul_schedule(ws->ctx, 0, &ws->sul_flow, flow_cb, 1);
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
	if (ws->wsi && ws->open) {
		/* Output that cannot drain (a stalled peer) must not hold
		 * the close back for ever. */
		lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK,
		    CLOSE_GRACE_SECS);
		lws_callback_on_writable(ws->wsi);
		return;
	}
	/* Still connecting or waiting to retry: stop now. */
	lws_sul_cancel(&ws->sul_connect);
	if (ws->wsi) {
		lws_set_opaque_user_data(ws->wsi, NULL);
		lws_set_timeout(ws->wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
		ws->wsi = NULL;
	}
	end_later(ws, 0);
}

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

int
ist_ws_context_new(struct lws_context **out,
    const struct ist_ws_context_options *o, struct ist_err *e)
{
	struct lws_context_creation_info info;
	struct ctxdata *cd = NULL;
	size_t n = 0, i;
	int r;
	FILE *f;

	*out = NULL;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	cd->user = o->user;
	if (o->protocols)
		while (o->protocols[n].name)
			n++;
	cd->protocols = calloc(n + 2, sizeof(*cd->protocols));
	if (!cd->protocols) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	cd->protocols[0].name = PROTO_NAME;
	cd->protocols[0].callback = ws_callback;
	cd->protocols[0].rx_buffer_size = 65536;
	for (i = 0; i < n; i++)
		cd->protocols[i + 1] = o->protocols[i];

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.protocols = cd->protocols;
	info.pt_serv_buf_size = 32768;
	info.user = cd;
	if (o->ca_file) {
		f = fopen(o->ca_file, "r");
		if (!f) {
			r = ist_err_set(e, IST_ERR_CONFIG, "cannot read CA "
			    "file %s", o->ca_file);
			goto out;
		}
		fclose(f);
		/* Extra trust, as for the API calls: lws loads the system's
		 * CAs as well. */
		info.client_ssl_ca_filepath = o->ca_file;
	}
	/* lws would apply a lowercase http_proxy by itself to wss too. */
	unsetenv("http_proxy");
	if (o->http_proxy && *o->http_proxy) {
		/* lws parses "[user:pass@]host:port" itself. */
		cd->http_proxy = strdup(o->http_proxy);
		if (!cd->http_proxy) {
			r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
			goto out;
		}
		info.http_proxy_address = cd->http_proxy;
		ist_verbose("using an HTTP proxy for the tunnel service");
	}
	lws_set_log_level(ist_log_get_level() >= IST_LOG_DEBUG3 ?
	    LLL_ERR | LLL_WARN | LLL_NOTICE : LLL_ERR | LLL_WARN,
	    lws_log_emit);
	*out = lws_create_context(&info);
	if (!*out) {
		r = ist_err_set(e, IST_ERR_CONFIG, "cannot set up "
		    "libwebsockets (TLS or CA file problem?)");
		goto out;
	}
	return 0;
out:
	if (cd) {
		free(cd->protocols);
		free(cd->http_proxy);
		free(cd);
	}
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
	if (cd) {
		free(cd->protocols);
		free(cd->http_proxy);
		free(cd);
	}
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
