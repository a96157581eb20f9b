/*
 * relay.c: the data plane of the emulator (PROTOCOL.md section 2).
 *
 * http.c hands over a request with an Upgrade header; its checks run
 * here, on the head parsed by libist's wshandshake codec, and a refusal
 * is an HTTP answer with a channel-id header. An accepted connection
 * speaks WebSocket through libist's wsframe codec (server role: client
 * frames must be masked and are unmasked in place, in the read buffer).
 *
 * The bulk path copies each relayed byte once: a tunnel frame that lies
 * whole in what was read is checked where it is (ist_frame_decoder
 * decodes it without a copy) and its bytes go as they are into the other
 * side's queue; only a frame split across reads is gathered first. A
 * queued message leaves with its frame header written in front of it,
 * in one write. Queues live in the tunnel, not in the connection, so
 * messages wait there until the other side connects. A sender is paused
 * (lws_rx_flow_control, from a timer: BUG B in docs/libwebsockets.md)
 * while the queue it feeds holds EMU_QUEUE_PAUSE messages or more, and
 * resumed below EMU_QUEUE_RESUME.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "emu.h"
#include "ist/wshandshake.h"

/* An entry holds checked frames up to EMU_QUEUE_ENTRY_MAX bytes plus one
 * more frame: 131073 bytes, under the 131076 a client takes. */
#define ASM_CAP (EMU_QUEUE_ENTRY_MAX + IST_MAX_FRAME)

/* After our close frame, wait this long for the client's. */
#define CLOSE_WAIT_US (3 * LWS_US_PER_SEC)

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
			e->kind = EMU_Q_BINARY;
			return e;
		}
		free(e->buf);
		free(e);
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cap = len < ASM_CAP ? ASM_CAP : len;
	e->buf = malloc(EMU_QHEAD + e->cap);
	if (!e->buf) {
		free(e);
		return NULL;
	}
	return e;
}

/*
 * Appends len bytes as a WebSocket message, or (coalesce) to the last
 * binary message while it stays under EMU_QUEUE_ENTRY_MAX. front: put a
 * new message first (SERVICE_IDS). The one copy of relayed bytes.
 */
static int
enqueue(struct emu_queue *q, const uint8_t *data, size_t len,
    enum emu_qkind kind, bool coalesce, bool front)
{
	struct emu_qent *e = q->tail;

	if (coalesce && !front && e && e->kind == EMU_Q_BINARY &&
	    e->len + len <= EMU_QUEUE_ENTRY_MAX && e->len + len <= e->cap) {
		memcpy(e->buf + EMU_QHEAD + e->len, data, len);
		e->len += len;
		q->bytes += len;
		return 0;
	}
	e = new_entry(q, len);
	if (!e)
		return IST_ERR_NOMEM;
	memcpy(e->buf + EMU_QHEAD, data, len);
	e->len = len;
	e->kind = kind;
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

/* Keeps an unqueued entry as a spare of q, or frees it. */
static void
recycle(struct emu_queue *q, struct emu_qent *e)
{
	if (q->n_spare < EMU_QUEUE_SPARES) {
		e->next = q->spare;
		q->spare = e;
		q->n_spare++;
		return;
	}
	free(e->buf);
	free(e);
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
	recycle(q, e);
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

	emu_conn_want_write(c);
}

void
emu_relay_kick(struct emu_tunnel *t)
{
	int i;

	for (i = 0; i < 2; i++)
		if (t->side[i].conn && t->side[i].q.n)
			emu_conn_want_write(t->side[i].conn);
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
	if (enqueue(&t->side[s].q, buf, (size_t)n, EMU_Q_BINARY, !front,
	    front) != 0)
		return IST_ERR_NOMEM;
	if (t->side[s].conn)
		emu_conn_want_write(t->side[s].conn);
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

/* The "service-ids" fault: this connection waits for SERVICE_IDS for ever
 * (what a client must survive: every way out still has to work). */
static bool
hold_service_ids(struct emu *emu, enum emu_side side)
{
	struct emu_faults *f = &emu->faults;

	if (!f->ids_hold_count ||
	    (f->ids_hold_side >= 0 && f->ids_hold_side != (int)side))
		return false;
	f->ids_hold_count--;
	ist_info("fault: no SERVICE_IDS for this %s", emu_side_name(side));
	return true;
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

/*
 * Sends c a close frame with status and why (cut to what a close frame
 * holds), then waits for the client's; status 0: a close with no code.
 */
static void
close_conn(struct emu_conn *c, uint16_t status, const char *why)
{
	size_t n;

	if (c->closing)
		return;
	c->closing = true;
	c->close_status = status;
	n = strnlen(why, sizeof(c->close_reason) - 1);
	memcpy(c->close_reason, why, n);
	c->close_reason[n] = '\0';
	emu_conn_want_write(c);
}

/* A client broke the protocol: log what and close its connection. */
static void
violation_code(struct emu_conn *c, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
violation_code(struct emu_conn *c, uint16_t code, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ist_info("channel %s (%s of tunnel %s): protocol violation: %s;"
	    " closing it (%u)", c->channel_id, emu_side_name(c->side),
	    c->t ? c->t->id : "-", msg, code);
	close_conn(c, code, msg);
}

#define violation(c, ...) \
	violation_code((c), IST_WS_CLOSE_PROTOCOL, __VA_ARGS__)

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
		c->abrupt = true;
		emu_conn_want_write(c);
		return;
	}
	close_conn(c, (uint16_t)status, why);
}

void
emu_relay_detach(struct emu_tunnel *t)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct emu_conn *c = t->side[i].conn;

		if (!c)
			continue;
		close_conn(c, IST_WS_CLOSE_GOING_AWAY, "tunnel deleted");
		c->t = NULL;
		t->side[i].conn = NULL;
	}
}

int
emu_relay_inject(struct emu_tunnel *t, enum emu_side side,
    const uint8_t *data, size_t len, enum emu_qkind kind)
{
	if (enqueue(&t->side[side].q, data, len, kind, false, false) != 0)
		return IST_ERR_NOMEM;
	if (t->side[side].conn)
		emu_conn_want_write(t->side[side].conn);
	return 0;
}

/* ---- handshake ---- */

/* Refuses the upgrade with code, a channel-id and a text body, then
 * closes the connection. 0, or -1 (close at once). */
static int
refuse(struct emu_conn *c, int code, const char *channel,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int
refuse(struct emu_conn *c, int code, const char *channel,
    const char *fmt, ...)
{
	struct ist_wshandshake_header h[3];
	struct ist_err e;
	char msg[512], *out;
	size_t n = 0, len, cap = 2048;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ist_info("channel %s: handshake refused: %d %s", channel, code, msg);
	h[n].name = "channel-id";
	h[n++].value = channel;
	h[n].name = "Content-Type";
	h[n++].value = "text/plain";
	if (code == 426) {
		h[n].name = "Sec-WebSocket-Version";
		h[n++].value = "13";
	}
	out = malloc(cap);
	if (!out)
		return -1;
	memset(&e, 0, sizeof(e));
	if (ist_wshandshake_refuse(code, h, n, msg, strlen(msg), out, cap,
	    &len, &e) != 0) {
		ist_error("channel %s: cannot build the refusal: %s", channel,
		    e.msg);
		free(out);
		return -1;
	}
	emu_http_set_answer(c, out, len, true);
	return 0;
}

/* Copies the URL-decoded value of query argument name into out. */
static bool
query_arg(const char *query, const char *name, char *out, size_t outsz)
{
	size_t nl = strlen(name);
	const char *s = query;

	while (s && *s) {
		size_t n = strcspn(s, "&");

		if (n > nl && !strncmp(s, name, nl) && s[nl] == '=') {
			const char *v = s + nl + 1, *end = s + n;
			size_t k = 0;

			for (; v < end; v++) {
				char ch = *v;

				if (ch == '%' && end - v >= 3) {
					char hex[3] = { v[1], v[2], 0 };
					char *ep;
					long b = strtol(hex, &ep, 16);

					if (*ep)
						return false;
					ch = (char)b;
					v += 2;
				} else if (ch == '+') {
					ch = ' ';
				}
				if (k + 1 >= outsz || !ch)
					return false;
				out[k++] = ch;
			}
			out[k] = '\0';
			return true;
		}
		s += n;
		if (*s == '&')
			s++;
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
inject_handshake_fault(struct emu_conn *c, struct emu_tunnel *t,
    enum emu_side side, const char *ctok, const char *channel, int *r)
{
	struct emu_faults *f = &c->emu->faults;
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
	*r = refuse(c, f->hs_fail_status, channel,
	    "injected failure (fault injection)");
	return 1;
}

/* The first subprotocol of the client's offer that we speak (what lws
 * chose before, and what the service does), as an index of proto_names,
 * or -1. */
static int
choose_protocol(const struct ist_wshandshake_request *q)
{
	const char *p;
	size_t i;
	int k;

	for (i = 0; (p = ist_wshandshake_request_protocol(q, i)); i++)
		for (k = 0; k < 3; k++)
			if (!strcmp(p, proto_names[k]))
				return k;
	return -1;
}

/* The connection joins side of t: 101 with the chosen subprotocol. */
static int
accept_conn(struct emu_conn *c, const struct ist_wshandshake_request *q,
    struct emu_tunnel *t, enum emu_side side, int proto,
    const char *channel, const char *ctok)
{
	struct ist_wsframe_decoder_options o;
	struct ist_wshandshake_header h[1];
	struct emu_tside *s = &t->side[side];
	struct ist_err e;
	char *out;
	size_t len, cap = 1024;

	memset(&o, 0, sizeof(o));
	o.role = IST_WSFRAME_SERVER;
	o.max_frame = IST_MAX_WS_MESSAGE;
	o.max_message = IST_MAX_WS_MESSAGE;
	if (ist_wsframe_decoder_new(&c->wsd, &o) != 0 ||
	    ist_frame_decoder_new(&c->dec) != 0)
		return -1;
	h[0].name = "channel-id";
	h[0].value = channel;
	out = malloc(cap);
	if (!out)
		return -1;
	memset(&e, 0, sizeof(e));
	if (ist_wshandshake_accept(ist_wshandshake_request_key(q),
	    proto_names[proto], h, 1, out, cap, &len, &e) != 0) {
		ist_error("channel %s: cannot build the 101: %s", channel,
		    e.msg);
		free(out);
		return -1;
	}
	emu_http_set_answer(c, out, len, false);
	c->phase = EMU_CONN_WS;
	lws_set_timeout(c->wsi, NO_PENDING_TIMEOUT, 0);
	memcpy(c->channel_id, channel, sizeof(c->channel_id));
	if (ctok)
		snprintf(s->client_token, sizeof(s->client_token), "%s", ctok);
	s->spent = true;
	c->t = t;
	c->side = side;
	c->version = 3 - proto;
	s->conn = c;
	s->state_at = emu_now();
	emu_tunnel_touch(t);
	ist_info("channel %s: %s connected to tunnel %s (%s)", c->channel_id,
	    emu_side_name(side), t->id, proto_names[proto]);
	if (c->version >= 2 && !hold_service_ids(c->emu, side))
		send_service_ids(t, side);
	return 0;
}

int
emu_relay_handshake(struct emu_conn *c, const uint8_t *head,
    size_t head_len, const struct ist_header *h, size_t n_headers)
{
	struct emu *emu = c->emu;
	struct ist_wshandshake_request *q = NULL;
	struct ist_err e;
	char channel[37], mode[32], *tok = NULL, *ck = NULL;
	const char *path, *query, *v, *ctok = NULL;
	struct emu_tunnel *t;
	enum emu_side side = EMU_SOURCE, want;
	size_t used, i, count = 0, n;
	int hr, proto, r = -1;

	emu_uuid(channel);
	memset(&e, 0, sizeof(e));
	if (ist_wshandshake_request_new(&q, EMU_MAX_HEAD + 4, NULL) != 0)
		goto out;
	hr = ist_wshandshake_request_feed(q, head, head_len, &used, &e);
	path = ist_wshandshake_request_path(q);
	if (!path || strcmp(path, "/tunnel")) {
		r = refuse(c, 400, channel, "unknown path: the data plane "
		    "is /tunnel");
		goto out;
	}
	if (head_len > EMU_MAX_HANDSHAKE) {
		r = refuse(c, 400, channel, "handshake request over %u "
		    "bytes", EMU_MAX_HANDSHAKE);
		goto out;
	}
	if (hr != 1) {
		int st = ist_wshandshake_request_fail_status(q);

		r = refuse(c, st ? st : 400, channel, "%s", hr < 0 ? e.msg :
		    "incomplete upgrade request");
		goto out;
	}
	proto = choose_protocol(q);
	if (proto < 0) {
		r = refuse(c, 400, channel, "Sec-WebSocket-Protocol must "
		    "offer aws.iot.securetunneling-3.0, -2.0 or -1.0");
		goto out;
	}
	query = ist_wshandshake_request_query(q);
	if (!query || !query_arg(query, "local-proxy-mode", mode,
	    sizeof(mode))) {
		r = refuse(c, 400, channel, "missing local-proxy-mode");
		goto out;
	}
	if (!strcmp(mode, "source")) {
		want = EMU_SOURCE;
	} else if (!strcmp(mode, "destination")) {
		want = EMU_DEST;
	} else {
		r = refuse(c, 400, channel, "local-proxy-mode must be "
		    "source or destination");
		goto out;
	}

	/* Exactly one access token: header or cookie. */
	v = emu_http_header(h, n_headers, "access-token", &count);
	if (v && count == 1 && strchr(v, ','))
		count = 2; /* two tokens folded into one header */
	if (v && !(tok = strdup(v)))
		goto out;
	for (i = 0; i < n_headers; i++) {
		if (strcmp(h[i].name, "cookie"))
			continue;
		n = strlen(h[i].value) + 1;
		free(ck);
		if (!(ck = malloc(n)))
			goto out;
		n = (size_t)cookie_tokens(h[i].value, ck, n);
		count += n;
		if (n && !tok) {
			tok = ck;
			ck = NULL;
		}
	}
	if (count != 1 || !tok || !*tok) {
		r = refuse(c, 400, channel, count ? "more than one access "
		    "token" : "missing access token (access-token header or "
		    "awsiot-tunnel-token cookie)");
		goto out;
	}

	ctok = emu_http_header(h, n_headers, "client-token", &n);
	if (ctok && (n != 1 || !client_token_ok(ctok))) {
		r = refuse(c, 400, channel, n != 1 ? "more than one "
		    "client-token" : "client-token must match "
		    "^[a-zA-Z0-9-]{32,128}$");
		goto out;
	}

	t = emu_tunnel_by_token(emu, tok, &side);
	if (!t || !t->open) {
		r = refuse(c, 401, channel, "invalid access token");
		goto out;
	}
	if (side != want) {
		r = refuse(c, 400, channel, "local-proxy-mode %s does not "
		    "match the access token's mode", mode);
		goto out;
	}
	if (t->side[side].conn) {
		r = refuse(c, 409, channel, "a %s is already connected with"
		    " this access token", emu_side_name(side));
		goto out;
	}
	if (t->side[side].client_token[0]) {
		if (!ctok || strcmp(ctok, t->side[side].client_token)) {
			r = refuse(c, 401, channel, "access token already "
			    "used with another client token");
			goto out;
		}
	} else if (t->side[side].spent) {
		r = refuse(c, 401, channel, "access token already used");
		goto out;
	}

	if (inject_handshake_fault(c, t, side, ctok, channel, &r))
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
	r = accept_conn(c, q, t, side, proto, channel, ctok);
out:
	if (tok) {
		memset(tok, 0, strlen(tok));
		free(tok);
	}
	free(ck);
	ist_wshandshake_request_free(q);
	return r;
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

void
emu_relay_closed(struct emu_conn *c)
{
	lws_sul_cancel(&c->flow_sul);
	lws_sul_cancel(&c->kick_sul);
	lws_sul_cancel(&c->close_sul);
	leave_tunnel(c);
	ist_wsframe_decoder_free(c->wsd);
	c->wsd = NULL;
	ist_frame_decoder_free(c->dec);
	c->dec = NULL;
	free_entries(c->asm_e);
	c->asm_e = NULL;
	c->fr_have = 0;
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
	close_conn(c, (uint16_t)status, why);
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

/* Checks one message from a client: true if it is to be relayed (its
 * bytes as the client encoded them). */
static bool
on_msg(struct emu_conn *c, const struct ist_msg *m)
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
		return false;
	}
	/* Fields the connection's subprotocol does not have are unknown. */
	if (c->version < 2 && (m->service_id || m->n_available)) {
		violation(c, "serviceId in subprotocol 1.0 (a 2.0 field)");
		return false;
	}
	if (c->version < 3 && m->connection_id) {
		violation(c, "connectionId in subprotocol %d.0 (a 3.0 field)",
		    c->version);
		return false;
	}
	if (m->payload_len > IST_MAX_PAYLOAD) {
		violation(c, "payload of %zu bytes (limit %u)", m->payload_len,
		    IST_MAX_PAYLOAD);
		return false;
	}
	switch (m->type) {
	case IST_MSG_SESSION_RESET:
	case IST_MSG_SERVICE_IDS:
		violation(c, "clients never send %s",
		    ist_msg_type_name(m->type));
		return false;
	case IST_MSG_STREAM_START:
	case IST_MSG_CONNECTION_START:
		if (c->side == EMU_DEST) {
			violation(c, "a destination never sends %s",
			    ist_msg_type_name(m->type));
			return false;
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
			return false;
		}
		violation(c, "unknown message type %d, not ignorable",
		    m->type);
		return false;
	}
	if (m->stream_id <= 0) {
		violation(c, "%s with stream id %d",
		    ist_msg_type_name(m->type), (int)m->stream_id);
		return false;
	}
	if (m->type == IST_MSG_STREAM_START) {
		if (*svc && !service_known(t, svc)) {
			ist_info("channel %s: STREAM_START for service '%s', "
			    "not one of the tunnel's: STREAM_RESET",
			    c->channel_id, svc);
			send_stream_reset(t, c->side, m->stream_id, svc);
			return false;
		}
		if (!t->side[EMU_DEST].conn) {
			/* Undocumented; what the real service does too. */
			ist_verbose("channel %s: STREAM_START %d with no "
			    "destination connected: STREAM_RESET",
			    c->channel_id, (int)m->stream_id);
			send_stream_reset(t, c->side, m->stream_id, svc);
			return false;
		}
		a = active_slot(t, svc, true);
		if (a)
			a->stream_id = m->stream_id;
	} else if (m->type == IST_MSG_STREAM_RESET) {
		a = active_slot(t, svc, false);
		if (a && a->stream_id == m->stream_id)
			a->stream_id = 0;
	}
	(void)other;
	return true;
}

/* One whole tunnel frame (length prefix included) from the client:
 * true if it is to be relayed. */
static bool
on_frame(struct emu_conn *c, const uint8_t *frame, size_t flen)
{
	struct ist_msg m;
	struct ist_err e;
	size_t used = 0;
	int r;

	memset(&e, 0, sizeof(e));
	r = ist_frame_decoder_feed(c->dec, frame, flen, &used, &m, &e);
	if (r < 0) {
		violation(c, "%s", e.msg);
		return false;
	}
	if (r != 1 || used != flen) {
		violation(c, "tunnel frame not decoded whole");
		return false;
	}
	return on_msg(c, &m);
}

/*
 * Queues the checked frames gathered in c->asm_e for the other side (as
 * one WebSocket message, or appended to the last queued one when both
 * are small), keeping the start of a next frame, if any, for more.
 */
static void
flush_frames(struct emu_conn *c)
{
	struct emu_tunnel *t = c->t;
	struct emu_qent *e = c->asm_e, *ne = NULL, *tail;
	enum emu_side other = c->side == EMU_SOURCE ? EMU_DEST : EMU_SOURCE;
	struct emu_queue *q;

	if (!t || !e || !e->len)
		return;
	q = &t->side[other].q;
	if (c->fr_have) {
		/* Only after small frames (big ones are flushed as soon as
		 * they are whole): at most one read's worth to copy. */
		ne = new_entry(q, ASM_CAP);
		if (!ne) {
			violation_code(c, IST_WS_CLOSE_INTERNAL, "out of "
			    "memory");
			return;
		}
		memcpy(ne->buf + EMU_QHEAD, e->buf + EMU_QHEAD + e->len,
		    c->fr_have);
	}
	c->asm_e = ne;
	tail = q->tail;
	if (tail && tail->kind == EMU_Q_BINARY &&
	    tail->len + e->len <= EMU_QUEUE_ENTRY_MAX &&
	    tail->len + e->len <= tail->cap) {
		memcpy(tail->buf + EMU_QHEAD + tail->len, e->buf + EMU_QHEAD,
		    e->len);
		tail->len += e->len;
		q->bytes += e->len;
		e->len = 0;
		recycle(q, e);
	} else {
		e->next = NULL;
		e->kind = EMU_Q_BINARY;
		if (q->tail)
			q->tail->next = e;
		else
			q->head = e;
		q->tail = e;
		q->n++;
		q->bytes += e->len;
	}
	if (t->side[other].conn)
		emu_conn_want_write(t->side[other].conn);
	if (q->n >= EMU_QUEUE_PAUSE) {
		t->side[other].sender_paused = true;
		set_paused(c, true);
	}
}

/*
 * Payload bytes of the client's binary messages: a stream of tunnel
 * frames, split across WebSocket frames, messages and reads anyhow.
 * Each byte is copied once, into c->asm_e, an entry for the other side's
 * queue: checked frames first, then the next frame as far as it came.
 */
static void
tunnel_bytes(struct emu_conn *c, const uint8_t *p, size_t n)
{
	enum emu_side other = c->side == EMU_SOURCE ? EMU_DEST : EMU_SOURCE;
	struct emu_qent *e;
	uint8_t *f;
	size_t flen, take;

	while (n && c->t && !c->closing) {
		if (!c->asm_e) {
			c->asm_e = new_entry(&c->t->side[other].q, ASM_CAP);
			if (!c->asm_e) {
				violation_code(c, IST_WS_CLOSE_INTERNAL,
				    "out of memory");
				return;
			}
		}
		e = c->asm_e;
		f = e->buf + EMU_QHEAD + e->len;
		flen = 2;
		if (c->fr_have >= 2)
			flen += (size_t)f[0] << 8 | f[1];
		take = flen - c->fr_have;
		if (take > n)
			take = n;
		memcpy(f + c->fr_have, p, take);
		c->fr_have += take;
		p += take;
		n -= take;
		if (c->fr_have < flen || flen == 2)
			continue; /* more of it to come (or just its length) */
		c->fr_have = 0;
		if (on_frame(c, f, flen))
			e->len += flen;
		if (e->len >= EMU_QUEUE_ENTRY_MAX)
			flush_frames(c);
	}
}

/* The client's close frame: answer it (its code, never its reason: it
 * is the client's text) unless ours went first, then close. */
static void
on_peer_close(struct emu_conn *c, const struct ist_wsframe_event *ev)
{
	ist_verbose("channel %s: the %s closed its WebSocket (%u)",
	    c->channel_id, emu_side_name(c->side), ev->close_code);
	leave_tunnel(c);
	if (c->close_sent) {
		c->phase = EMU_CONN_DONE;
		emu_conn_want_write(c);
		return;
	}
	close_conn(c, ev->close_code == IST_WS_CLOSE_NO_STATUS ? 0 :
	    ev->close_code, "");
}

int
emu_relay_rx(struct emu_conn *c, uint8_t *in, size_t len)
{
	struct ist_wsframe_event ev;
	struct ist_err e;
	size_t used;
	int r;

	memset(&e, 0, sizeof(e));
	while (len) {
		if (ist_wsframe_decoder_fail(c->wsd) != IST_WSFRAME_FAIL_NONE ||
		    ist_wsframe_decoder_closed(c->wsd))
			return 0; /* the rest is ignored: we are closing */
		r = ist_wsframe_decoder_feed(c->wsd, in, len, &used, &ev, &e);
		in += used;
		len -= used;
		if (r < 0) {
			if (c->closing)
				return -1;
			violation_code(c, ist_wsframe_decoder_close_code(
			    c->wsd), "%s", e.msg);
			return 0;
		}
		if (r == 0)
			break;
		switch (ev.type) {
		case IST_WSFRAME_EV_DATA:
			if (!c->t || c->closing)
				break;
			if (ev.opcode != IST_WS_OP_BINARY) {
				violation(c, "text WebSocket message (the "
				    "protocol is binary only)");
				break;
			}
			tunnel_bytes(c, ev.data, ev.len);
			break;
		case IST_WSFRAME_EV_PING:
			if (c->closing)
				break;
			memcpy(c->pong, ev.data, ev.len);
			c->pong_len = ev.len;
			c->pong_due = true;
			emu_conn_want_write(c);
			break;
		case IST_WSFRAME_EV_PONG:
			break;
		case IST_WSFRAME_EV_CLOSE:
			on_peer_close(c, &ev);
			return 0;
		}
	}
	/* What this read completed goes now: an interactive session's
	 * small frames must not wait for more. */
	flush_frames(c);
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
	cap = (double)(t->bw_bps > IST_MAX_WS_MESSAGE ? t->bw_bps :
	    IST_MAX_WS_MESSAGE);
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

static void
on_close_wait(lws_sorted_usec_list_t *sul)
{
	struct emu_conn *c = lws_container_of(sul, struct emu_conn, close_sul);

	/* The client never answered our close: give up on it. */
	c->phase = EMU_CONN_DONE;
	emu_conn_want_write(c);
}

static int
write_close(struct emu_conn *c)
{
	uint8_t buf[IST_WSFRAME_MAX_CONTROL_FRAME];
	size_t rl = strlen(c->close_reason);
	int n;

	n = ist_wsframe_close(buf, sizeof(buf), c->close_status,
	    c->close_reason, rl, NULL);
	if (n < 0) /* a reason cut inside a character: code alone */
		n = ist_wsframe_close(buf, sizeof(buf), c->close_status, NULL,
		    0, NULL);
	if (n < 0)
		n = ist_wsframe_close(buf, sizeof(buf), 0, NULL, 0, NULL);
	if (n < 0 || emu_conn_write(c, buf, (size_t)n) != 0)
		return -1;
	c->close_sent = true;
	if (ist_wsframe_decoder_closed(c->wsd) ||
	    ist_wsframe_decoder_fail(c->wsd) != IST_WSFRAME_FAIL_NONE) {
		/* Nothing more will come that matters. */
		c->phase = EMU_CONN_DONE;
		emu_conn_want_write(c);
		return 0;
	}
	lws_sul_schedule(lws_get_context(c->wsi), 0, &c->close_sul,
	    on_close_wait, CLOSE_WAIT_US);
	return 0;
}

int
emu_relay_writeable(struct emu_conn *c)
{
	struct emu_tunnel *t = c->t;
	struct emu_tside *s;
	struct emu_qent *e;
	enum emu_side other;
	int64_t wait_us = 0, now;
	uint8_t *p;
	size_t hl;

	if (c->abrupt)
		return -1;
	if (c->pong_due && !c->close_sent) {
		uint8_t buf[IST_WSFRAME_MAX_CONTROL_FRAME];
		int n = ist_wsframe_control(buf, sizeof(buf), IST_WS_OP_PONG,
		    c->pong, c->pong_len, NULL);

		c->pong_due = false;
		if (n < 0 || emu_conn_write(c, buf, (size_t)n) != 0)
			return -1;
		emu_conn_want_write(c);
		return 0;
	}
	if (c->closing) {
		if (!c->close_sent)
			return write_close(c);
		return 0;
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
	p = e->buf + EMU_QHEAD;
	hl = 0;
	if (e->kind != EMU_Q_RAW) {
		hl = ist_wsframe_header_size(e->len, false);
		if (ist_wsframe_header(p - hl, hl, true, e->kind ==
		    EMU_Q_TEXT ? IST_WS_OP_TEXT : IST_WS_OP_BINARY, e->len,
		    NULL) != (int)hl)
			return -1;
	}
	if (emu_conn_write(c, p - hl, hl + e->len) != 0) {
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
		emu_conn_want_write(c);
	return 0;
}
