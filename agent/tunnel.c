/*
 * tunnel.c: a destination tunnel and its local connections (tunnel.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ist/num.h"
#include "ist/ws.h"
#include "tunnel.h"

#define OUT_HIGH ((size_t)256 << 10)
/* Past OUT_HIGH the WebSocket is paused, and ist_ws_pause_rx() hands over
 * at most the rest of what was already read (under one WebSocket message)
 * and one tunnel message more: two whole messages of room is a margin.
 * Pages are touched as the queue slides, so this is resident memory. */
#define OUT_CAP (OUT_HIGH + 2 * (size_t)IST_MAX_WS_MESSAGE)
#define OUT_LOW ((size_t)64 << 10)
#define IN_MAX ((size_t)1 << 20)
#define WRITE_CHUNK 65536u
/* How long the tunnel's end waits for local services to take what the
 * source sent before it ended their connections. */
#define DRAIN_SECS 10

struct lconn {
	struct agent_tunnel *t;
	struct lconn *next;
	struct lws *wsi;
	char svc[IST_MAX_SERVICE_ID + 1];
	uint32_t id;
	bool connected;
	bool peer_ended;	/* flush out, then close */
	bool rx_paused;
	uint8_t *out;	/* tunnel -> local service */
	size_t out_off, out_len;
	uint8_t *in;	/* local service -> tunnel, not yet taken */
	size_t in_cap, in_len;
	lws_sorted_usec_list_t sul_write;
};

struct agent_tunnel {
	struct lws_context *ctx;
	struct ist_ws *ws;
	char name[80];
	struct agent_service svcs[AGENT_MAX_SERVICES];
	size_t nsvcs;
	struct lconn *conns;
	bool ws_paused;
	/* The WebSocket ended; the end is reported once the connections
	 * left (each ended by the source, output still queued) drain. */
	bool ending;
	int end_code;
	struct ist_err end_err;
	lws_sorted_usec_list_t sul_end;
	agent_tunnel_end_fn fn;
	void *ud;
};

static void report_end(struct agent_tunnel *t);

static const char *
svc_arg(const struct lconn *c)
{
	return c->svc[0] ? c->svc : NULL;
}

static struct lconn *
find(struct agent_tunnel *t, const char *svc, uint32_t id)
{
	struct lconn *c;

	for (c = t->conns; c; c = c->next)
		if (c->id == id && !strcmp(c->svc, svc ? svc : ""))
			return c;
	return NULL;
}

/* Unlinks and frees c; its wsi (if any) is detached and killed. */
static void
lconn_free(struct lconn *c)
{
	struct agent_tunnel *t = c->t;
	struct lconn **pp;

	for (pp = &t->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	lws_sul_cancel(&c->sul_write);
	if (c->wsi) {
		lws_set_opaque_user_data(c->wsi, NULL);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
	}
	free(c->out);
	free(c->in);
	free(c);
	if (t->ending && !t->conns)
		report_end(t);
}

/* Resumes the WebSocket when no connection holds much queued. */
static void
update_ws_pause(struct agent_tunnel *t)
{
	struct lconn *c;
	bool high = false, low = true;

	for (c = t->conns; c; c = c->next) {
		if (c->out_len > OUT_HIGH)
			high = true;
		if (c->out_len >= OUT_LOW)
			low = false;
	}
	if (!t->ws || t->ending)
		return;
	if (!t->ws_paused && high) {
		t->ws_paused = true;
		ist_ws_pause_rx(t->ws, true);
	} else if (t->ws_paused && low) {
		t->ws_paused = false;
		ist_ws_pause_rx(t->ws, false);
	}
}

/* Tells the peer that c ended (our side), then frees it. */
static void
lconn_end(struct lconn *c)
{
	struct agent_tunnel *t = c->t;
	struct ist_session *s = t->ws ? ist_ws_session(t->ws) : NULL;
	struct ist_err e;

	if (s && !c->peer_ended &&
	    ist_session_connection_live(s, svc_arg(c), c->id)) {
		ist_err_clear(&e);
		if (ist_session_end_connection(s, svc_arg(c), c->id, &e) < 0)
			ist_debug("%s: ending connection %u: %s", t->name,
			    c->id, e.msg);
		ist_ws_flush(t->ws);
	}
	lconn_free(c);
	update_ws_pause(t);
}

/* Moves what the local side sent into the session. */
static void
push_in(struct lconn *c)
{
	struct agent_tunnel *t = c->t;
	struct ist_session *s = t->ws ? ist_ws_session(t->ws) : NULL;
	struct ist_err e;
	size_t acc = 0;

	if (!c->in_len || !s || t->ending)
		return;
	ist_err_clear(&e);
	if (ist_session_send_data(s, svc_arg(c), c->id, c->in, c->in_len,
	    &acc, &e) < 0) {
		ist_debug("%s: connection %u: %s", t->name, c->id, e.msg);
		c->in_len = 0;
		return;
	}
	if (acc) {
		memmove(c->in, c->in + acc, c->in_len - acc);
		c->in_len -= acc;
		ist_ws_flush(t->ws);
	}
	if (!c->in_len && c->rx_paused && c->wsi) {
		c->rx_paused = false;
		lws_rx_flow_control(c->wsi, 1);
	}
}

static int
local_rx(struct lconn *c, const uint8_t *in, size_t len)
{
	struct agent_tunnel *t = c->t;
	struct ist_session *s = t->ws ? ist_ws_session(t->ws) : NULL;
	struct ist_err e;
	size_t acc = 0;

	if (!s || !ist_session_connection_live(s, svc_arg(c), c->id))
		return -1;
	if (!c->in_len) {
		ist_err_clear(&e);
		if (ist_session_send_data(s, svc_arg(c), c->id, in, len, &acc,
		    &e) < 0) {
			ist_debug("%s: connection %u: %s", t->name, c->id,
			    e.msg);
			return -1;
		}
		in += acc;
		len -= acc;
		ist_ws_flush(t->ws);
	}
	if (!len)
		return 0;
	/* Keep the rest and stop reading until the tunnel drains. */
	if (c->in_len + len > c->in_cap) {
		size_t nc = c->in_cap ? c->in_cap : WRITE_CHUNK;
		uint8_t *b;

		while (nc < c->in_len + len)
			nc *= 2;
		if (nc > IN_MAX) {
			ist_error("%s: connection %u: local data not taken "
			    "by the tunnel over %zu bytes", t->name, c->id,
			    IN_MAX);
			return -1;
		}
		b = realloc(c->in, nc);
		if (!b)
			return -1;
		c->in = b;
		c->in_cap = nc;
	}
	memcpy(c->in + c->in_len, in, len);
	c->in_len += len;
	if (!c->rx_paused) {
		c->rx_paused = true;
		lws_rx_flow_control(c->wsi, 0);
	}
	return 0;
}

static void
write_again_cb(lws_sorted_usec_list_t *sul)
{
	struct lconn *c = lws_container_of(sul, struct lconn, sul_write);

	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

static int
local_writeable(struct lconn *c)
{
	size_t n = c->out_len;
	int w;

	if (n) {
		if (n > WRITE_CHUNK)
			n = WRITE_CHUNK;
		w = lws_write(c->wsi, c->out + c->out_off, n, LWS_WRITE_RAW);
		if (w < 0)
			return -1;
		c->out_off += n;
		c->out_len -= n;
		if (!c->out_len)
			c->out_off = 0;
		update_ws_pause(c->t);
	}
	/* After a write, close only from the next WRITEABLE: lws keeps
	 * what the socket did not take and reports WRITEABLE again once it
	 * has gone out, while closing now would drop it (the end of the
	 * stream lost). */
	if (c->out_len || (n && c->peer_ended)) {
		/* Re-arm from a timer: BUG A in docs/libwebsockets.md. */
		lws_sul_schedule(c->t->ctx, 0, &c->sul_write, write_again_cb,
		    1);
		return 0;
	}
	if (c->peer_ended)
		return -1;
	return 0;
}

static int
local_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct lconn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	if (!c) {
		/* Its connection was freed while lws was still connecting:
		 * lws's connect timeout replaced our kill, and the socket
		 * would stay open with nobody reading it. */
		return reason == LWS_CALLBACK_RAW_CONNECTED ||
		    reason == LWS_CALLBACK_RAW_RX ||
		    reason == LWS_CALLBACK_RAW_WRITEABLE ? -1 : 0;
	}
	switch (reason) {
	case LWS_CALLBACK_RAW_CONNECTED:
		c->connected = true;
		ist_verbose("%s: connection %u to %s is up", c->t->name,
		    c->id, c->svc[0] ? c->svc : "the service");
		if (c->out_len || c->peer_ended)
			lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		return local_rx(c, in, len);
	case LWS_CALLBACK_RAW_WRITEABLE:
		return local_writeable(c);
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		ist_error("%s: cannot connect to the local service for "
		    "%s: %s", c->t->name, c->svc[0] ? c->svc : "the tunnel",
		    in ? (const char *)in : "connection failed");
		lws_set_opaque_user_data(wsi, NULL);
		c->wsi = NULL;
		lconn_end(c);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE:
		ist_verbose("%s: connection %u closed", c->t->name, c->id);
		lws_set_opaque_user_data(wsi, NULL);
		c->wsi = NULL;
		lconn_end(c);
		return 0;
	default:
		break;
	}
	return 0;
}

const struct lws_protocols agent_local_protocol = {
	"ist-local", local_cb, 0, 65536, 0, NULL, 0
};

static const struct agent_service *
lookup(struct agent_tunnel *t, const char *svc)
{
	size_t i;

	/* V1 sources name no service: the tunnel's first one serves. */
	if (!svc || !*svc)
		return t->nsvcs ? &t->svcs[0] : NULL;
	for (i = 0; i < t->nsvcs; i++)
		if (!strcmp(t->svcs[i].name, svc))
			return &t->svcs[i];
	return NULL;
}

static int
on_connection_start(struct ist_session *s, const char *svc, uint32_t id,
    void *ud)
{
	struct agent_tunnel *t = ud;
	const struct agent_service *m = lookup(t, svc);
	struct lws_client_connect_info i;
	struct lconn *c;

	(void)s;
	if (!m) {
		ist_error("%s: the source asked for service \"%s\", which "
		    "this agent does not serve (add --service %s=HOST:PORT)",
		    t->name, svc, svc);
		return IST_ERR_NOTFOUND;
	}
	c = find(t, svc, id);
	if (c)
		lconn_free(c);
	c = calloc(1, sizeof(*c));
	if (c)
		c->out = malloc(OUT_CAP);
	if (!c || !c->out) {
		if (c)
			free(c);
		return IST_ERR_NOMEM;
	}
	c->t = t;
	c->id = id;
	snprintf(c->svc, sizeof(c->svc), "%s", svc ? svc : "");
	c->next = t->conns;
	t->conns = c;

	memset(&i, 0, sizeof(i));
	i.context = t->ctx;
	i.vhost = lws_get_vhost_by_name(t->ctx, AGENT_LOCAL_VHOST);
	i.address = m->host;
	i.port = m->port;
	i.method = "RAW";
	i.local_protocol_name = agent_local_protocol.name;
	i.opaque_user_data = c;
	i.pwsi = &c->wsi;
	ist_info("%s: connection %u for %s to %s:%d", t->name, id,
	    svc && *svc ? svc : "(V1)", m->host, m->port);
	if (!lws_client_connect_via_info(&i)) {
		/* The error callback may have freed c already. */
		c = find(t, svc, id);
		if (c) {
			c->wsi = NULL;
			lconn_free(c);
		}
		ist_error("%s: cannot connect to %s:%d", t->name, m->host,
		    m->port);
		return IST_ERR_NET;
	}
	return 0;
}

static void
on_data(struct ist_session *s, const char *svc, uint32_t id,
    const uint8_t *data, size_t len, void *ud)
{
	struct agent_tunnel *t = ud;
	struct lconn *c = find(t, svc, id);

	(void)s;
	if (!c)
		return;
	if (OUT_CAP - c->out_off - c->out_len < len && c->out_off) {
		memmove(c->out, c->out + c->out_off, c->out_len);
		c->out_off = 0;
	}
	if (OUT_CAP - c->out_len < len) {
		ist_error("%s: connection %u: the local service is not "
		    "reading; closing it", t->name, id);
		lconn_end(c);
		return;
	}
	memcpy(c->out + c->out_off + c->out_len, data, len);
	c->out_len += len;
	update_ws_pause(t);
	if (c->wsi && c->connected)
		lws_callback_on_writable(c->wsi);
}

static void
on_connection_end(struct ist_session *s, const char *svc, uint32_t id,
    enum ist_end_reason why, void *ud)
{
	struct agent_tunnel *t = ud;
	struct lconn *c = find(t, svc, id);

	(void)s;
	if (!c)
		return;
	ist_verbose("%s: the source ended connection %u (reason %d)",
	    t->name, id, (int)why);
	c->peer_ended = true;
	if (c->wsi && c->connected)
		lws_callback_on_writable(c->wsi);
	else if (!c->wsi)
		lconn_free(c);
	/* A connection still connecting closes when it is up. */
}

static void
on_service_ids(struct ist_session *s, const char *const *ids, size_t n,
    void *ud)
{
	struct agent_tunnel *t = ud;
	size_t i;

	(void)s;
	for (i = 0; i < n; i++)
		if (!lookup(t, ids[i]))
			ist_info("%s: the tunnel offers service %s, which "
			    "this agent does not serve", t->name, ids[i]);
}

/* A connection the source ended whose bytes are still on their way to
 * the local service (or that is still connecting): they are the end of a
 * complete stream, so they are delivered even if the WebSocket goes
 * (local_writeable closes it once done). Anything else has lost its
 * other end. */
static bool
draining(const struct lconn *c)
{
	return c->peer_ended && c->wsi && (c->out_len || !c->connected);
}

/* Frees every connection, or (keep_draining) every one but those. */
static void
close_all(struct agent_tunnel *t, bool keep_draining)
{
	struct lconn *c, *next;

	for (c = t->conns; c; c = next) {
		next = c->next;
		if (!keep_draining || !draining(c))
			lconn_free(c);
	}
	t->ws_paused = false;
}

static void
end_cb(lws_sorted_usec_list_t *sul)
{
	struct agent_tunnel *t = lws_container_of(sul, struct agent_tunnel,
	    sul_end);

	if (!t->ending)
		return;
	if (t->conns)
		ist_info("%s: a local service did not take the last bytes of "
		    "its connection in %d s; closing it", t->name,
		    DRAIN_SECS);
	t->ending = false;	/* the frees below report nothing more */
	close_all(t, false);
	/* Last: the agent may free t here. */
	t->fn(t, t->end_code, t->end_err.code ? &t->end_err : NULL, t->ud);
}

/* From a timer: it may be called inside a local connection's callback,
 * and the agent frees t in fn. */
static void
report_end(struct agent_tunnel *t)
{
	lws_sul_schedule(t->ctx, 0, &t->sul_end, end_cb, 1);
}

static void
on_open(struct ist_ws *ws, const char *channel_id, void *ud)
{
	struct agent_tunnel *t = ud;

	(void)ws;
	ist_info("%s: connected as destination (channel-id %s)", t->name,
	    channel_id && *channel_id ? channel_id : "none");
}

static void
on_drop(struct ist_ws *ws, const struct ist_err *e, void *ud)
{
	struct agent_tunnel *t = ud;

	(void)ws;
	ist_verbose("%s: %s; reconnecting", t->name, e->msg);
	close_all(t, true);
}

static void
on_writable(struct ist_ws *ws, void *ud)
{
	struct agent_tunnel *t = ud;
	struct lconn *c, *next;

	(void)ws;
	for (c = t->conns; c; c = next) {
		next = c->next;
		push_in(c);
	}
}

static void
on_end(struct ist_ws *ws, int code, const struct ist_err *e, void *ud)
{
	struct agent_tunnel *t = ud;

	(void)ws;
	close_all(t, true);
	if (!t->conns) {
		/* Last: the agent may free t here. */
		t->fn(t, code, e, t->ud);
		return;
	}
	t->ending = true;
	t->end_code = code;
	ist_err_clear(&t->end_err);
	if (e)
		t->end_err = *e;
	ist_verbose("%s: the tunnel ended; delivering what is queued for "
	    "the local service first", t->name);
	lws_sul_schedule(t->ctx, 0, &t->sul_end, end_cb,
	    DRAIN_SECS * LWS_US_PER_SEC);
}

int
agent_tunnel_new(struct agent_tunnel **out, struct lws_context *ctx,
    const char *name, const struct ist_endpoint *ep, const char *token,
    const struct agent_service *svcs, size_t nsvcs, agent_tunnel_end_fn fn,
    void *ud, struct ist_err *e)
{
	struct ist_ws_callbacks cb;
	struct ist_ws_options o;
	struct agent_tunnel *t;
	int r;

	*out = NULL;
	if (nsvcs > AGENT_MAX_SERVICES)
		return ist_err_set(e, IST_ERR_CONFIG, "too many services");
	t = calloc(1, sizeof(*t));
	if (!t)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	t->ctx = ctx;
	t->fn = fn;
	t->ud = ud;
	snprintf(t->name, sizeof(t->name), "%s", name);
	memcpy(t->svcs, svcs, nsvcs * sizeof(*svcs));
	t->nsvcs = nsvcs;

	memset(&cb, 0, sizeof(cb));
	cb.session.on_service_ids = on_service_ids;
	cb.session.on_connection_start = on_connection_start;
	cb.session.on_data = on_data;
	cb.session.on_connection_end = on_connection_end;
	cb.on_open = on_open;
	cb.on_drop = on_drop;
	cb.on_writable = on_writable;
	cb.on_end = on_end;
	memset(&o, 0, sizeof(o));
	o.host = ep->host;
	o.port = ep->port;
	o.tls = ep->tls;
	o.role = IST_ROLE_DESTINATION;
	o.access_token = token;
	o.reconnect = true;
	o.max_attempts = 8;
	r = ist_ws_new(&t->ws, ctx, &o, &cb, t, e);
	if (r < 0) {
		free(t);
		return r;
	}
	*out = t;
	return 0;
}

void
agent_tunnel_free(struct agent_tunnel *t)
{
	if (!t)
		return;
	t->ending = false;
	close_all(t, false);
	lws_sul_cancel(&t->sul_end);
	ist_ws_free(t->ws);
	free(t);
}

void
agent_tunnel_close(struct agent_tunnel *t)
{
	struct lconn *c, *next;

	for (c = t->conns; c; c = next) {
		next = c->next;
		lconn_end(c);
	}
	ist_ws_close(t->ws);
}

const char *
agent_tunnel_name(const struct agent_tunnel *t)
{
	return t->name;
}

int
agent_parse_hostport(const char *s, char *host, size_t hostlen, int *port,
    struct ist_err *e)
{
	const char *h = s, *colon = NULL;
	size_t n;
	long v;

	if (*h == '[') {
		const char *rb = strchr(h, ']');

		if (!rb || (rb[1] && rb[1] != ':'))
			return ist_err_set(e, IST_ERR_CONFIG, "%s: expected "
			    "[ADDRESS]:PORT", s);
		h++;
		n = (size_t)(rb - h);
		colon = rb[1] ? rb + 1 : NULL;
	} else {
		colon = strchr(h, ':');
		/* More than one ':' without brackets: a bare IPv6 address. */
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		n = colon ? (size_t)(colon - h) : strlen(h);
	}
	if (!n || n >= hostlen)
		return ist_err_set(e, IST_ERR_CONFIG, "%s: bad host", s);
	memcpy(host, h, n);
	host[n] = '\0';
	if (colon) {
		if (ist_num_parse_long(colon + 1, 1, 65535, &v) < 0)
			return ist_err_set(e, IST_ERR_CONFIG, "%s: bad port",
			    s);
		*port = (int)v;
	}
	return 0;
}

int
agent_service_parse(const char *arg, struct agent_service *out,
    struct ist_err *e)
{
	const char *eq = strchr(arg, '=');
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	if (!eq || eq == arg)
		return ist_err_set(e, IST_ERR_CONFIG, "--service %s: expected "
		    "NAME=HOST:PORT, e.g. SSH=127.0.0.1:22", arg);
	n = (size_t)(eq - arg);
	if (n >= sizeof(out->name) || strspn(arg, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-") < n)
		return ist_err_set(e, IST_ERR_CONFIG, "--service %s: a service "
		    "name is 1 to 128 of [a-zA-Z0-9:_-]", arg);
	memcpy(out->name, arg, n);
	r = agent_parse_hostport(eq + 1, out->host, sizeof(out->host),
	    &out->port, e);
	if (r < 0)
		return ist_err_prefix(e, "--service");
	if (!out->port)
		return ist_err_set(e, IST_ERR_CONFIG, "--service %s: expected "
		    "HOST:PORT after '='", arg);
	return 0;
}
