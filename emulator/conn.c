/*
 * conn.c: the emulator's one lws protocol. The vhost binds every accepted
 * connection to it as a raw socket (LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_
 * ACCEPT_CONFIG, role "raw-skt"), with TLS when the vhost has a
 * certificate: lws does the event loop, TLS and buffering of partial
 * writes; HTTP and WebSocket are ours (http.c, relay.c).
 *
 * A connection starts in the HTTP phase (API, admin, upgrade request) and
 * may turn into a data-plane WebSocket; bytes read go to http.c or to
 * relay.c accordingly, and WRITEABLE writes a pending HTTP answer (or the
 * 101) first, then WebSocket frames.
 */
#include <string.h>

#include "emu.h"

/* An idle keep-alive connection, or a request that never completes, is
 * closed after this long. */
#define IDLE_SECS 120

static struct emu *
conn_emu(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

void
emu_conn_want_write(struct emu_conn *c)
{
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

int
emu_conn_write(struct emu_conn *c, uint8_t *buf, size_t len)
{
	/* lws keeps what the socket does not take and calls WRITEABLE
	 * again only once it is flushed. */
	if (lws_write(c->wsi, buf, len, LWS_WRITE_RAW) != (int)len)
		return -1;
	return 0;
}

static int
on_rx(struct emu_conn *c, uint8_t *in, size_t len)
{
	if (c->phase == EMU_CONN_WS)
		return emu_relay_rx(c, in, len);
	if (c->phase == EMU_CONN_DONE)
		return 0; /* closing: what the client says no longer matters */
	return emu_http_rx(c, in, len);
}

static int
on_writeable(struct emu_conn *c)
{
	int r = emu_http_writeable(c);

	if (r < 0)
		return -1;
	if (r > 0)
		return 0; /* one write per callback; more comes next time */
	if (c->phase == EMU_CONN_WS)
		return emu_relay_writeable(c);
	if (c->phase == EMU_CONN_DONE)
		return -1; /* everything is flushed */
	return 0;
}

static int
conn_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct emu_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		if (!c)
			return -1;
		memset(c, 0, sizeof(*c));
		c->emu = conn_emu(wsi);
		c->wsi = wsi;
		c->phase = EMU_CONN_HTTP;
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE,
		    IDLE_SECS);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		if (!c || !c->wsi)
			return -1;
		if (!len)
			return 0;
		return on_rx(c, in, len) < 0 ? -1 : 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!c || !c->wsi)
			return -1;
		return on_writeable(c);
	case LWS_CALLBACK_RAW_CLOSE:
		if (c && c->wsi) {
			emu_relay_closed(c);
			emu_http_closed(c);
			c->wsi = NULL;
		}
		return 0;
	default:
		break;
	}
	return 0;
}

const struct lws_protocols emu_conn_protocol = {
	.name = "iot-tunnel-emulator",
	.callback = conn_cb,
	.per_session_data_size = sizeof(struct emu_conn),
	.rx_buffer_size = 0,
};
