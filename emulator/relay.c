/*
 * relay.c: the data plane of the emulator (PROTOCOL.md section 2).
 *
 * Handshake checks run in HTTP_CONFIRM_UPGRADE (http.c passes them here),
 * where a refusal can still be an HTTP answer with a channel-id header.
 * An accepted handshake is handed to the WebSocket callbacks through
 * emu->pending, keyed by wsi: lws binds the protocol and calls ESTABLISHED
 * for that wsi within the same service call.
 *
 * Every binary message from a client goes through a frame decoder, each
 * tunnel frame is checked against the protocol rules and re-encoded into
 * the other side's queue. Queues live in the tunnel, not in the
 * connection, so messages wait there until the other side connects. A
 * sender is paused (lws_rx_flow_control, deferred: LWS-NOTES BUG B) while
 * the queue it feeds holds EMU_QUEUE_PAUSE messages or more, and resumed
 * below EMU_QUEUE_RESUME.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "emu.h"

struct emu_conn {
	struct emu *emu;
	struct lws *wsi;
	struct emu_tunnel *t; /* NULL: not, or no longer, in a tunnel */
	enum emu_side side;
	int version;	      /* 1, 2 or 3, from the subprotocol */
	char channel_id[37];
	struct ist_frame_decoder *dec;
	size_t msg_len; /* bytes of the WebSocket message so far */
	bool closing;
	int close_status;
	char close_reason[100];
	bool want_paused, paused;
	lws_sorted_usec_list_t flow_sul;
	lws_sorted_usec_list_t kick_sul;
};

static const char *const proto_names[3] = {
	"aws.iot.securetunneling-3.0",
	"aws.iot.securetunneling-2.0",
	"aws.iot.securetunneling-1.0",
};

/* ---- queues ---- */

static void
free_entries(struct emu_qent *e)
{
	struct emu_qent *next;

	for (; e; e = next) {
		next = e->next;
		free(e->buf);
		free(e);
	}
}

void
emu_queue_clear(struct emu_queue *q)
{
	free_entries(q->head);
	free_entries(q->spare);
	memset(q, 0, sizeof(*q));
}

/*
 * An empty entry for len bytes: a spare one when it fits (so that a
 * steady relay reuses its buffers instead of allocating), else a new one
 * of at least a whole frame.
 */
static struct emu_qent *
new_entry(struct emu_queue *q, size_t len)
{
	struct emu_qent *e = q->spare;

	if (e) {
		q->spare = e->next;
		q->n_spare--;
		if (e->cap >= len) {
			e->next = NULL;
			e->len = 0;
			e->text = false;
			return e;
		}
		free(e->buf);
		free(e);
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cap = len < IST_MAX_FRAME ? IST_MAX_FRAME : len;
	e->buf = malloc(LWS_PRE + e->cap);
	if (!e->buf) {
		free(e);
		return NULL;
	}
	return e;
}

/*
 * Appends len bytes as a WebSocket message, or (coalesce) to the last
 * binary message while it stays under EMU_QUEUE_ENTRY_MAX. front: put a
 * new message first (SERVICE_IDS).
 */
static int
enqueue(struct emu_queue *q, const uint8_t *data, size_t len, bool text,
    bool coalesce, bool front)
{
	struct emu_qent *e = q->tail;

	if (coalesce && !front && e && !e->text &&
	    e->len + len <= EMU_QUEUE_ENTRY_MAX && e->len + len <= e->cap) {
		memcpy(e->buf + LWS_PRE + e->len, data, len);
		e->len += len;
		q->bytes += len;
		return 0;
	}
	e = new_entry(q, len);
	if (!e)
		return IST_ERR_NOMEM;
	memcpy(e->buf + LWS_PRE, data, len);
	e->len = len;
	e->text = text;
	if (front) {
		e->next = q->head;
		q->head = e;
		if (!q->tail)
			q->tail = e;
	} else {
		if (q->tail)
			q->tail->next = e;
		else
			q->head = e;
		q->tail = e;
	}
	q->n++;
	q->bytes += len;
	return 0;
}

/* Drops the first message, keeping its buffer as a spare. */
static void
dequeue(struct emu_queue *q)
{
	struct emu_qent *e = q->head;

	if (!e)
		return;
	q->head = e->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	q->bytes -= e->len;
	if (q->n_spare < EMU_QUEUE_SPARES) {
		e->next = q->spare;
		q->spare = e;
		q->n_spare++;
		return;
	}
	free(e->buf);
	free(e);
}

/* ---- flow control ---- */

static void
on_flow(lws_sorted_usec_list_t *sul)
{
	struct emu_conn *c = lws_container_of(sul, struct emu_conn, flow_sul);

	if (c->want_paused != c->paused) {
		c->paused = c->want_paused;
		lws_rx_flow_control(c->wsi, c->paused ? 0 : 1);
		ist_debug2("channel %s: %s", c->channel_id,
		    c->paused ? "paused" : "resumed");
	}
}

/* Pause or resume reading from c; applied from a timer (BUG B). */
static void
set_paused(struct emu_conn *c, bool paused)
{
	if (c->want_paused == paused)
		return;
	c->want_paused = paused;
	lws_sul_schedule(lws_get_context(c->wsi), 0, &c->flow_sul, on_flow, 1);
}

static void
on_kick(lws_sorted_usec_list_t *sul)
{
	struct emu_conn *c = lws_container_of(sul, struct emu_conn, kick_sul);

	lws_callback_on_writable(c->wsi);
}

void
emu_relay_kick(struct emu_tunnel *t)
{
	int i;

	for (i = 0; i < 2; i++)
		if (t->side[i].conn && t->side[i].q.n)
			lws_callback_on_writable(t->side[i].conn->wsi);
}

/* Queues m for side s of t and wakes its connection. */
static int
send_msg(struct emu_tunnel *t, enum emu_side s, const struct ist_msg *m,
    bool front)
{
	uint8_t buf[IST_MAX_FRAME];
	int n = ist_frame_encode(m, buf, sizeof(buf));

	if (n < 0)
		return n;
	if (enqueue(&t->side[s].q, buf, (size_t)n, false, !front, front) != 0)
		return IST_ERR_NOMEM;
	if (t->side[s].conn)
		lws_callback_on_writable(t->side[s].conn->wsi);
	return 0;
}

static void
send_stream_reset(struct emu_tunnel *t, enum emu_side s, int32_t stream_id,
    const char *service)
{
	struct ist_msg m;

	memset(&m, 0, sizeof(m));
	m.type = IST_MSG_STREAM_RESET;
	m.stream_id = stream_id;
	m.service_id = service && *service ? service : NULL;
	if (send_msg(t, s, &m, false) != 0)
		ist_error("tunnel %s: cannot queue STREAM_RESET", t->id);
}

static void
send_service_ids(struct emu_tunnel *t, enum emu_side s)
{
	struct ist_msg m;

	memset(&m, 0, sizeof(m));
	m.type = IST_MSG_SERVICE_IDS;
	m.available = (const char *const *)t->services;
	m.n_available = t->n_services;
	if (send_msg(t, s, &m, true) != 0)
		ist_error("tunnel %s: cannot queue SERVICE_IDS", t->id);
}

static struct emu_active *
active_slot(struct emu_tunnel *t, const char *service, bool create)
{
	size_t i;
	struct emu_active *free_slot = NULL;

	if (!service)
		service = "";
	for (i = 0; i < IST_MAX_SERVICES + 1; i++) {
		if (t->active[i].stream_id &&
		    !strcmp(t->active[i].service, service))
			return &t->active[i];
		if (!t->active[i].stream_id && !free_slot)
			free_slot = &t->active[i];
	}
	if (create && free_slot) {
		snprintf(free_slot->service, sizeof(free_slot->service), "%s",
		    service);
		return free_slot;
	}
	return NULL;
}

/* ---- closing ---- */

static void
close_conn(struct emu_conn *c, int status, const char *why)
{
	size_t n;

	if (c->closing)
		return;
	c->closing = true;
	c->close_status = status;
	/* A close reason must fit in a control frame: cut it. */
	n = strnlen(why, sizeof(c->close_reason) - 1);
	memcpy(c->close_reason, why, n);
	c->close_reason[n] = '\0';
	lws_callback_on_writable(c->wsi);
}

/* A client broke the protocol: log what and close its connection. */
static void
violation(struct emu_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void
violation(struct emu_conn *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ist_info("channel %s (%s of tunnel %s): protocol violation: %s;"
	    " closing it", c->channel_id, emu_side_name(c->side),
	    c->t ? c->t->id : "-", msg);
	close_conn(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, msg);
}

void
emu_relay_drop(struct emu_tunnel *t, enum emu_side side, bool abrupt,
    int status, const char *why)
{
	struct emu_conn *c = t->side[side].conn;

	if (!c)
		return;
	ist_verbose("channel %s: dropping the %s (%s)", c->channel_id,
	    emu_side_name(side), why);
	if (abrupt) {
		lws_sockfd_type fd = lws_get_socket_fd(c->wsi);

		/* No close frame: like a network failure. */
		if (fd >= 0)
			shutdown(fd, SHUT_RDWR);
		c->closing = true;
		c->close_status = 0;
		lws_callback_on_writable(c->wsi);
		return;
	}
	close_conn(c, status, why);
}

void
emu_relay_detach(struct emu_tunnel *t)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct emu_conn *c = t->side[i].conn;

		if (!c)
			continue;
		close_conn(c, LWS_CLOSE_STATUS_GOINGAWAY, "tunnel deleted");
		c->t = NULL;
		t->side[i].conn = NULL;
	}
}

int
emu_relay_inject(struct emu_tunnel *t, enum emu_side side,
    const uint8_t *data, size_t len, bool text)
{
	if (enqueue(&t->side[side].q, data, len, text, false, false) != 0)
		return IST_ERR_NOMEM;
	if (t->side[side].conn)
		lws_callback_on_writable(t->side[side].conn->wsi);
	return 0;
}

/* ---- handshake ---- */

static int
refuse(struct lws *wsi, unsigned int code, const char *channel,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int
refuse(struct lws *wsi, unsigned int code, const char *channel,
    const char *fmt, ...)
{
	uint8_t buf[LWS_PRE + 2048];
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf);
	char msg[512];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ist_info("channel %s: handshake refused: %u %s", channel, code, msg);
	n = strlen(msg);
	if (lws_add_http_header_status(wsi, code, &p, end) ||
	    lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"channel-id:",
	    (const unsigned char *)channel, (int)strlen(channel), &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
	    (const unsigned char *)"text/plain", 10, &p, end) ||
	    lws_add_http_header_content_length(wsi, n, &p, end) ||
	    lws_finalize_http_header(wsi, &p, end))
		return -1;
	if ((size_t)(end - p) < n)
		return -1;
	memcpy(p, msg, n);
	p += n;
	if (lws_write(wsi, start, (size_t)(p - start),
	    LWS_WRITE_HTTP_HEADERS) != (int)(p - start))
		return -1;
	return 1;
}

/* Approximate size of the request: every header lws knows, plus ours. */
static size_t
request_size(struct lws *wsi)
{
	static const char *const custom[] = { "access-token:",
		"client-token:" };
	size_t total = 16; /* "GET  HTTP/1.1\r\n" */
	int i, n;

	for (i = 0; i < WSI_TOKEN_COUNT; i++) {
		const unsigned char *name =
		    lws_token_to_string((enum lws_token_indexes)i);

		n = lws_hdr_total_length(wsi, (enum lws_token_indexes)i);
		if (n > 0)
			total += (size_t)n + (name ? strlen((const char *)
			    name) : 0) + 3;
	}
	for (i = 0; i < 2; i++) {
		n = lws_hdr_custom_length(wsi, custom[i],
		    (int)strlen(custom[i]));
		if (n > 0)
			total += (size_t)n + strlen(custom[i]) + 3;
	}
	return total;
}

/* Does the Sec-WebSocket-Protocol offer let lws pick one of ours? */
static bool
offer_ok(const char *offer)
{
	const char *s = offer;

	while (*s) {
		size_t n;
		int i;

		while (*s == ' ' || *s == ',')
			s++;
		n = strcspn(s, ", ");
		for (i = 0; i < 3; i++)
			if (strlen(proto_names[i]) == n &&
			    !strncmp(s, proto_names[i], n))
				return true;
		if (n == strlen(emu_http_protocol.name) &&
		    !strncmp(s, emu_http_protocol.name, n))
			return false; /* lws would bind our HTTP handler */
		s += n;
	}
	return false;
}

/* Counts awsiot-tunnel-token cookies; copies the first into out. */
static int
cookie_tokens(const char *cookies, char *out, size_t outsz)
{
	static const char name[] = "awsiot-tunnel-token=";
	const char *s = cookies;
	int count = 0;

	while (*s) {
		size_t n;

		while (*s == ' ' || *s == ';')
			s++;
		n = strcspn(s, ";");
		if (n >= sizeof(name) - 1 && !strncmp(s, name,
		    sizeof(name) - 1)) {
			size_t vl = n - (sizeof(name) - 1);

			if (!count && vl < outsz) {
				memcpy(out, s + sizeof(name) - 1, vl);
				out[vl] = '\0';
				while (vl && out[vl - 1] == ' ')
					out[--vl] = '\0';
			}
			count++;
		}
		s += n;
	}
	return count;
}

static bool
client_token_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 32 || n > 128)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* How ctok compares with the client token of the side's last refused
 * handshake: what the logs say instead of the token itself. */
static const char *
client_token_vs_last(const struct emu_tside *s, const char *ctok)
{
	if (!ctok)
		return "none";
	if (!s->hs_refused)
		return "first";
	return strcmp(ctok, s->hs_client_token) ? "different" : "same";
}

/*
 * Fault injection: refuses a handshake that passed every check with the
 * injected status, as the service does when it is in trouble (5xx) or
 * refuses for a reason we do not model (4xx). 1 if it did (r set).
 */
static int
inject_handshake_fault(struct emu *emu, struct lws *wsi,
    struct emu_tunnel *t, enum emu_side side, const char *ctok,
    const char *channel, int *r)
{
	struct emu_faults *f = &emu->faults;
	struct emu_tside *s = &t->side[side];

	if (!f->hs_fail_count ||
	    (f->hs_fail_side >= 0 && f->hs_fail_side != (int)side))
		return 0;
	f->hs_fail_count--;
	ist_info("fault: tunnel %s: %s handshake %d refused with %d "
	    "(client token: %s)", t->id, emu_side_name(side),
	    s->hs_refused + 1, f->hs_fail_status,
	    client_token_vs_last(s, ctok));
	s->hs_refused++;
	snprintf(s->hs_client_token, sizeof(s->hs_client_token), "%s",
	    ctok ? ctok : "");
	*r = refuse(wsi, (unsigned)f->hs_fail_status, channel,
	    "injected failure (fault injection)");
	return 1;
}

int
emu_relay_confirm_upgrade(struct emu *emu, struct lws *wsi)
{
	char channel[37], uri[256], mode[32], offer[512];
	char *tok = NULL, *cookies = NULL, *ctok = NULL;
	const char *mv;
	struct emu_tunnel *t;
	enum emu_side side = EMU_SOURCE, want;
	int n, count = 0, r;

	emu_uuid(channel);
	memset(&emu->pending, 0, sizeof(emu->pending));
	if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 ||
	    strcmp(uri, "/tunnel")) {
		r = refuse(wsi, 400, channel, "unknown path: the data plane "
		    "is /tunnel");
		goto out;
	}
	if (request_size(wsi) > EMU_MAX_HANDSHAKE) {
		r = refuse(wsi, 400, channel, "handshake request over %u "
		    "bytes", EMU_MAX_HANDSHAKE);
		goto out;
	}
	if (lws_hdr_copy(wsi, offer, sizeof(offer), WSI_TOKEN_PROTOCOL) <= 0 ||
	    !offer_ok(offer)) {
		r = refuse(wsi, 400, channel, "Sec-WebSocket-Protocol must "
		    "offer aws.iot.securetunneling-3.0, -2.0 or -1.0");
		goto out;
	}
	/* 4.1.6 copies "name=value" into mode and points past the name. */
	mv = lws_get_urlarg_by_name(wsi, "local-proxy-mode=", mode,
	    sizeof(mode));
	if (!mv) {
		r = refuse(wsi, 400, channel, "missing local-proxy-mode");
		goto out;
	}
	if (!strcmp(mv, "source")) {
		want = EMU_SOURCE;
	} else if (!strcmp(mv, "destination")) {
		want = EMU_DEST;
	} else {
		r = refuse(wsi, 400, channel, "local-proxy-mode must be "
		    "source or destination");
		goto out;
	}

	/* Exactly one access token: header or cookie. */
	n = lws_hdr_custom_length(wsi, "access-token:", 13);
	if (n > 0) {
		if (!(tok = malloc((size_t)n + 1)) ||
		    lws_hdr_custom_copy(wsi, tok, n + 1, "access-token:",
		    13) < 0) {
			r = -1;
			goto out;
		}
		count = strchr(tok, ',') ? 2 : 1;
	}
	n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_COOKIE);
	if (n > 0) {
		char *ck = malloc((size_t)n + 1);

		cookies = malloc((size_t)n + 1);
		if (!ck || !cookies || lws_hdr_copy(wsi, cookies, n + 1,
		    WSI_TOKEN_HTTP_COOKIE) < 0) {
			free(ck);
			r = -1;
			goto out;
		}
		n = cookie_tokens(cookies, ck, (size_t)n + 1);
		count += n;
		if (n && !tok)
			tok = ck;
		else
			free(ck);
	}
	if (count != 1 || !tok || !*tok) {
		r = refuse(wsi, 400, channel, count ? "more than one access "
		    "token" : "missing access token (access-token header or "
		    "awsiot-tunnel-token cookie)");
		goto out;
	}

	n = lws_hdr_custom_length(wsi, "client-token:", 13);
	if (n >= 0) {
		if (!(ctok = malloc((size_t)n + 1)) ||
		    lws_hdr_custom_copy(wsi, ctok, n + 1, "client-token:",
		    13) < 0) {
			r = -1;
			goto out;
		}
		if (!client_token_ok(ctok)) {
			r = refuse(wsi, 400, channel, "client-token must "
			    "match ^[a-zA-Z0-9-]{32,128}$");
			goto out;
		}
	}

	t = emu_tunnel_by_token(emu, tok, &side);
	if (!t || !t->open) {
		r = refuse(wsi, 401, channel, "invalid access token");
		goto out;
	}
	if (side != want) {
		r = refuse(wsi, 400, channel, "local-proxy-mode %s does not "
		    "match the access token's mode", mv);
		goto out;
	}
	if (t->side[side].conn) {
		r = refuse(wsi, 409, channel, "a %s is already connected with"
		    " this access token", emu_side_name(side));
		goto out;
	}
	if (t->side[side].client_token[0]) {
		if (!ctok || strcmp(ctok, t->side[side].client_token)) {
			r = refuse(wsi, 401, channel, "access token already "
			    "used with another client token");
			goto out;
		}
	} else if (t->side[side].spent) {
		r = refuse(wsi, 401, channel, "access token already used");
		goto out;
	}

	if (inject_handshake_fault(emu, wsi, t, side, ctok, channel, &r))
		goto out;
	if (t->side[side].hs_refused) {
		ist_info("fault: tunnel %s: %s handshake accepted after %d "
		    "refused (client token: %s)", t->id, emu_side_name(side),
		    t->side[side].hs_refused,
		    client_token_vs_last(&t->side[side], ctok));
		t->side[side].hs_refused = 0;
		memset(t->side[side].hs_client_token, 0,
		    sizeof(t->side[side].hs_client_token));
	}

	emu->pending.wsi = wsi;
	emu->pending.t = t;
	emu->pending.side = side;
	memcpy(emu->pending.channel_id, channel, sizeof(channel));
	if (ctok)
		snprintf(emu->pending.client_token,
		    sizeof(emu->pending.client_token), "%s", ctok);
	r = 0;
out:
	if (tok) {
		memset(tok, 0, strlen(tok));
		free(tok);
	}
	free(cookies);
	free(ctok);
	return r;
}

/* ---- WebSocket callbacks ---- */

static int
on_established(struct emu_conn *c, struct lws *wsi)
{
	struct emu *emu = lws_context_user(lws_get_context(wsi));
	struct emu_tunnel *t = emu->pending.t;
	struct emu_tside *s;
	const char *name = lws_get_protocol(wsi)->name;
	enum emu_side side = emu->pending.side;

	c->emu = emu;
	c->wsi = wsi;
	if (emu->pending.wsi != wsi || !t) {
		ist_error("WebSocket established without a checked "
		    "handshake; closing it");
		return -1;
	}
	memcpy(c->channel_id, emu->pending.channel_id, sizeof(c->channel_id));
	s = &t->side[side];
	if (emu->pending.client_token[0])
		memcpy(s->client_token, emu->pending.client_token,
		    sizeof(s->client_token));
	s->spent = true;
	memset(&emu->pending, 0, sizeof(emu->pending));
	if (ist_frame_decoder_new(&c->dec) != 0)
		return -1;
	c->t = t;
	c->side = side;
	c->version = name[strlen(name) - 3] - '0';
	s->conn = c;
	s->state_at = emu_now();
	emu_tunnel_touch(t);
	ist_info("channel %s: %s connected to tunnel %s (%s)", c->channel_id,
	    emu_side_name(side), t->id, name);
	if (c->version >= 2)
		send_service_ids(t, side);
	if (s->q.n)
		lws_callback_on_writable(wsi);
	return 0;
}

/*
 * c leaves its tunnel: the side is DISCONNECTED, what waited for it is
 * dropped (it belongs to streams that end now), its sender resumes, and
 * the other side gets STREAM_RESET for every active stream.
 */
static void
leave_tunnel(struct emu_conn *c)
{
	struct emu_tunnel *t = c->t;
	enum emu_side other = c->side == EMU_SOURCE ? EMU_DEST : EMU_SOURCE;
	size_t i;

	if (!t)
		return;
	c->t = NULL;
	ist_info("channel %s: %s of tunnel %s disconnected", c->channel_id,
	    emu_side_name(c->side), t->id);
	t->side[c->side].conn = NULL;
	t->side[c->side].state_at = emu_now();
	emu_tunnel_touch(t);
	emu_queue_clear(&t->side[c->side].q);
	if (t->side[other].conn && t->side[c->side].sender_paused)
		set_paused(t->side[other].conn, false);
	t->side[c->side].sender_paused = false;
	if (!t->open)
		return;
	for (i = 0; i < IST_MAX_SERVICES + 1; i++) {
		struct emu_active *a = &t->active[i];

		if (!a->stream_id)
			continue;
		if (t->side[other].conn)
			send_stream_reset(t, other, a->stream_id, a->service);
		a->stream_id = 0;
	}
}

static void
on_closed(struct emu_conn *c)
{
	lws_sul_cancel(&c->flow_sul);
	lws_sul_cancel(&c->kick_sul);
	ist_frame_decoder_free(c->dec);
	c->dec = NULL;
	leave_tunnel(c);
}

void
emu_relay_retire(struct emu_tunnel *t, enum emu_side side, int status,
    const char *why)
{
	struct emu_conn *c = t->side[side].conn;

	if (!c)
		return;
	ist_verbose("channel %s: closing the %s (%s)", c->channel_id,
	    emu_side_name(side), why);
	leave_tunnel(c);
	close_conn(c, status, why);
}

static bool
service_known(const struct emu_tunnel *t, const char *svc)
{
	size_t i;

	for (i = 0; i < t->n_services; i++)
		if (!strcmp(t->services[i], svc))
			return true;
	return false;
}

/* Checks one message from a client and relays it. */
static void
on_msg(struct emu_conn *c, struct ist_msg *m)
{
	struct emu_tunnel *t = c->t;
	enum emu_side other = c->side == EMU_SOURCE ? EMU_DEST : EMU_SOURCE;
	const char *svc = m->service_id ? m->service_id : "";
	struct emu_active *a;

	ist_debug3("channel %s: %s stream %d service '%s' conn %u, %zu "
	    "bytes", c->channel_id, ist_msg_type_name(m->type),
	    (int)m->stream_id, svc, (unsigned)m->connection_id,
	    m->payload_len);
	if (m->has_unknown_fields) {
		violation(c, "%s message with unknown fields",
		    ist_msg_type_name(m->type));
		return;
	}
	/* Fields the connection's subprotocol does not have are unknown. */
	if (c->version < 2 && (m->service_id || m->n_available)) {
		violation(c, "serviceId in subprotocol 1.0 (a 2.0 field)");
		return;
	}
	if (c->version < 3 && m->connection_id) {
		violation(c, "connectionId in subprotocol %d.0 (a 3.0 field)",
		    c->version);
		return;
	}
	if (m->payload_len > IST_MAX_PAYLOAD) {
		violation(c, "payload of %zu bytes (limit %u)", m->payload_len,
		    IST_MAX_PAYLOAD);
		return;
	}
	switch (m->type) {
	case IST_MSG_SESSION_RESET:
	case IST_MSG_SERVICE_IDS:
		violation(c, "clients never send %s",
		    ist_msg_type_name(m->type));
		return;
	case IST_MSG_STREAM_START:
	case IST_MSG_CONNECTION_START:
		if (c->side == EMU_DEST) {
			violation(c, "a destination never sends %s",
			    ist_msg_type_name(m->type));
			return;
		}
		break;
	case IST_MSG_DATA:
	case IST_MSG_STREAM_RESET:
	case IST_MSG_CONNECTION_RESET:
		break;
	default:
		if (m->ignorable) {
			ist_debug("channel %s: ignorable message of unknown "
			    "type %d dropped", c->channel_id, m->type);
			return;
		}
		violation(c, "unknown message type %d, not ignorable",
		    m->type);
		return;
	}
	if (m->stream_id <= 0) {
		violation(c, "%s with stream id %d",
		    ist_msg_type_name(m->type), (int)m->stream_id);
		return;
	}
	if (m->type == IST_MSG_STREAM_START) {
		if (*svc && !service_known(t, svc)) {
			ist_info("channel %s: STREAM_START for service '%s', "
			    "not one of the tunnel's: STREAM_RESET",
			    c->channel_id, svc);
			send_stream_reset(t, c->side, m->stream_id, svc);
			return;
		}
		if (!t->side[EMU_DEST].conn) {
			/* Undocumented; what the real service does too. */
			ist_verbose("channel %s: STREAM_START %d with no "
			    "destination connected: STREAM_RESET",
			    c->channel_id, (int)m->stream_id);
			send_stream_reset(t, c->side, m->stream_id, svc);
			return;
		}
		a = active_slot(t, svc, true);
		if (a)
			a->stream_id = m->stream_id;
	} else if (m->type == IST_MSG_STREAM_RESET) {
		a = active_slot(t, svc, false);
		if (a && a->stream_id == m->stream_id)
			a->stream_id = 0;
	}
	m->has_unknown_fields = false;
	if (send_msg(t, other, m, false) != 0) {
		violation(c, "cannot relay (out of memory)");
		return;
	}
	if (t->side[other].q.n >= EMU_QUEUE_PAUSE) {
		t->side[other].sender_paused = true;
		set_paused(c, true);
	}
}

static int
on_receive(struct emu_conn *c, const uint8_t *in, size_t len)
{
	struct ist_msg m;
	struct ist_err e;
	size_t off = 0, used;
	int r;

	if (!c->t || c->closing)
		return 0;
	if (!lws_frame_is_binary(c->wsi)) {
		violation(c, "text WebSocket message (the protocol is "
		    "binary only)");
		return 0;
	}
	if (lws_is_first_fragment(c->wsi))
		c->msg_len = 0;
	c->msg_len += len;
	if (c->msg_len > IST_MAX_WS_MESSAGE) {
		violation(c, "WebSocket message over %u bytes",
		    IST_MAX_WS_MESSAGE);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	while (off < len && c->t && !c->closing) {
		r = ist_frame_decoder_feed(c->dec, in + off, len - off, &used,
		    &m, &e);
		off += used;
		if (r < 0) {
			violation(c, "%s", e.msg);
			return 0;
		}
		if (r == 1)
			on_msg(c, &m);
	}
	return 0;
}

/* Bytes the tunnel's bandwidth cap lets through now, and when more. */
static bool
bw_allows(struct emu_tunnel *t, size_t len, int64_t *wait_us)
{
	int64_t now = lws_now_usecs();
	double cap;

	if (!t->bw_bps)
		return true;
	/* A burst of one message's worth: messages are never split. */
	cap = (double)(t->bw_bps > EMU_QUEUE_ENTRY_MAX ? t->bw_bps :
	    EMU_QUEUE_ENTRY_MAX);
	t->bw_budget += (double)(now - t->bw_at) * (double)t->bw_bps / 1e6;
	if (t->bw_budget > cap)
		t->bw_budget = cap;
	t->bw_at = now;
	if (t->bw_budget >= (double)len) {
		t->bw_budget -= (double)len;
		return true;
	}
	*wait_us = (int64_t)(((double)len - t->bw_budget) * 1e6 /
	    (double)t->bw_bps) + 1000;
	return false;
}

static int
on_writeable(struct emu_conn *c)
{
	struct emu_tunnel *t = c->t;
	struct emu_tside *s;
	struct emu_qent *e;
	enum emu_side other;
	int64_t wait_us = 0, now;
	int n;

	if (c->closing) {
		if (c->close_status)
			lws_close_reason(c->wsi,
			    (enum lws_close_status)c->close_status,
			    (unsigned char *)c->close_reason,
			    strlen(c->close_reason));
		return -1;
	}
	if (!t)
		return 0;
	s = &t->side[c->side];
	e = s->q.head;
	if (!e)
		return 0;
	now = lws_now_usecs();
	if (t->stall_until > now) {
		lws_sul_schedule(lws_get_context(c->wsi), 0, &c->kick_sul,
		    on_kick, t->stall_until - now);
		return 0;
	}
	if (!bw_allows(t, e->len, &wait_us)) {
		lws_sul_schedule(lws_get_context(c->wsi), 0, &c->kick_sul,
		    on_kick, wait_us);
		return 0;
	}
	n = lws_write(c->wsi, e->buf + LWS_PRE, e->len, e->text ?
	    LWS_WRITE_TEXT : LWS_WRITE_BINARY);
	if (n < (int)e->len) {
		ist_info("channel %s: write failed; closing", c->channel_id);
		return -1;
	}
	dequeue(&s->q);
	other = c->side == EMU_SOURCE ? EMU_DEST : EMU_SOURCE;
	if (s->sender_paused && s->q.n < EMU_QUEUE_RESUME) {
		s->sender_paused = false;
		if (t->side[other].conn)
			set_paused(t->side[other].conn, false);
	}
	if (s->q.n)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static int
add_channel_header(struct lws *wsi, struct lws_process_html_args *args)
{
	struct emu *emu = lws_context_user(lws_get_context(wsi));
	unsigned char *p = (unsigned char *)args->p;
	unsigned char *end = p + args->max_len;

	if (emu->pending.wsi != wsi)
		return 0;
	if (lws_add_http_header_by_name(wsi,
	    (const unsigned char *)"channel-id:",
	    (const unsigned char *)emu->pending.channel_id,
	    (int)strlen(emu->pending.channel_id), &p, end))
		return -1;
	args->max_len -= (int)(p - (unsigned char *)args->p);
	args->p = (char *)p;
	return 0;
}

static int
ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct emu_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_ADD_HEADERS:
		return add_channel_header(wsi, in);
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(c, wsi);
	case LWS_CALLBACK_RECEIVE:
		return on_receive(c, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(c);
	case LWS_CALLBACK_CLOSED:
		if (c)
			on_closed(c);
		return 0;
	default:
		break;
	}
	return 0;
}

const struct lws_protocols emu_ws_protocols[3] = {
	{ .name = "aws.iot.securetunneling-3.0", .callback = ws_cb,
	  .per_session_data_size = sizeof(struct emu_conn),
	  .rx_buffer_size = 65536 },
	{ .name = "aws.iot.securetunneling-2.0", .callback = ws_cb,
	  .per_session_data_size = sizeof(struct emu_conn),
	  .rx_buffer_size = 65536 },
	{ .name = "aws.iot.securetunneling-1.0", .callback = ws_cb,
	  .per_session_data_size = sizeof(struct emu_conn),
	  .rx_buffer_size = 65536 },
};
