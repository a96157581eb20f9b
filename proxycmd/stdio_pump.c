/*
 * stdio_pump.c: fds 0 and 1 <-> one tunnel connection (stdio_pump.h).
 *
 * lws 4.1.6 facts used (LWS-NOTES.md section 2):
 *  - BUG A: lws_callback_on_writable() from inside RAW_WRITEABLE_FILE is
 *    lost, so a partial write re-arms stdout from a 1 us timer;
 *  - BUG C: stdin paused when ssh hangs up is closed by lws with bytes
 *    still in the pipe; fd 0 is still open in RAW_CLOSE_FILE, so they
 *    are read there and sent before the end.
 * The WebSocket is paused through ist_ws_pause_rx(), safe from anywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stdio_pump.h"

#define IN_CHUNK 65536u
#define IN_MAX ((size_t)4 << 20)	/* BUG C tail: a pipe holds far less */
#define OUT_HIGH ((size_t)256 << 10)
/* Past OUT_HIGH the WebSocket is paused, and ist_ws_pause_rx() hands over
 * at most the rest of what was already read (under one WebSocket message)
 * and one tunnel message more: two whole messages of room is a margin.
 * Pages are touched as the queue slides, so this is resident memory. */
#define OUT_CAP (OUT_HIGH + 2 * (size_t)IST_MAX_WS_MESSAGE)
#define OUT_LOW ((size_t)64 << 10)

struct stdio_pump {
	struct lws_context *ctx;
	struct lws *in_wsi;
	struct lws *out_wsi;
	stdio_done_fn done;
	void *ud;
	bool done_sent;
	enum stdio_end why;
	struct ist_err err;

	struct ist_ws *ws;
	char svc[IST_MAX_SERVICE_ID + 1];
	bool has_svc;
	uint32_t conn;
	bool started;

	bool in_paused;
	bool in_eof;
	bool in_end_sent;
	uint8_t *in;
	size_t in_cap, in_off, in_len;

	uint8_t *out;
	size_t out_off, out_len;
	bool ws_paused;
	bool peer_ended;
	bool out_closed;

	lws_sorted_usec_list_t sul_out;
	lws_sorted_usec_list_t sul_done;
	uint64_t bytes_in, bytes_out;
};

static void
done_cb(lws_sorted_usec_list_t *sul)
{
	struct stdio_pump *p = lws_container_of(sul, struct stdio_pump,
	    sul_done);
	struct ist_err e = p->err;

	p->done(p->why, &e, p->ud);
}

/* Reports the end once, from the loop (the callee may free p). */
static void
finish(struct stdio_pump *p, enum stdio_end why)
{
	if (p->done_sent)
		return;
	p->done_sent = true;
	p->why = why;
	lws_sul_schedule(p->ctx, 0, &p->sul_done, done_cb, 1);
}

static void
pause_in(struct stdio_pump *p)
{
	if (p->in_wsi && !p->in_paused) {
		lws_rx_flow_control(p->in_wsi, 0);
		p->in_paused = true;
	}
}

static void
resume_in(struct stdio_pump *p)
{
	if (p->in_wsi && p->in_paused && p->started && !p->peer_ended) {
		lws_rx_flow_control(p->in_wsi, 1);
		p->in_paused = false;
	}
}

static const char *
svc(const struct stdio_pump *p)
{
	return p->has_svc ? p->svc : NULL;
}

static bool
conn_live(struct stdio_pump *p)
{
	struct ist_session *s;

	if (!p->ws || !p->started)
		return false;
	s = ist_ws_session(p->ws);
	return s && ist_session_connection_live(s, svc(p), p->conn);
}

/* stdin is done and everything read went out: end our side. */
static void
maybe_end_in(struct stdio_pump *p)
{
	struct ist_err e;

	if (!p->in_eof || p->in_len || !p->started || p->in_end_sent)
		return;
	p->in_end_sent = true;
	if (conn_live(p)) {
		ist_err_clear(&e);
		if (ist_session_end_connection(ist_ws_session(p->ws), svc(p),
		    p->conn, &e) < 0)
			ist_debug("ending the connection: %s", e.msg);
		ist_ws_flush(p->ws);
	}
	ist_verbose("stdin closed after %llu bytes",
	    (unsigned long long)p->bytes_in);
	finish(p, STDIO_END_STDIN_EOF);
}

static void
push_in(struct stdio_pump *p)
{
	struct ist_session *s;
	struct ist_err e;
	size_t acc;
	int r;

	if (!p->started || !p->ws)
		return;
	if (!conn_live(p)) {
		/* The peer ended it: what is left has nowhere to go. */
		p->in_len = 0;
		pause_in(p);
		return;
	}
	s = ist_ws_session(p->ws);
	while (p->in_len) {
		acc = 0;
		ist_err_clear(&e);
		r = ist_session_send_data(s, svc(p), p->conn,
		    p->in + p->in_off, p->in_len, &acc, &e);
		if (r < 0) {
			p->err = e;
			p->in_len = 0;
			finish(p, STDIO_END_ERROR);
			return;
		}
		if (!acc)
			break;
		p->in_off += acc;
		p->in_len -= acc;
	}
	if (!p->in_len)
		p->in_off = 0;
	ist_ws_flush(p->ws);
	if (p->in_len)
		pause_in(p);
	else if (!p->in_eof)
		resume_in(p);
	maybe_end_in(p);
}

static int
stdin_rx(struct stdio_pump *p)
{
	ssize_t n;

	if (!p->started || p->in_len) {
		pause_in(p);
		return 0;
	}
	n = read(0, p->in, IN_CHUNK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		ist_err_set(&p->err, IST_ERR_IO, "reading stdin: %s",
		    strerror(errno));
		p->in_eof = true;
		finish(p, STDIO_END_ERROR);
		return -1;
	}
	if (n == 0) {
		p->in_eof = true;
		maybe_end_in(p);
		return -1;
	}
	p->in_off = 0;
	p->in_len = (size_t)n;
	p->bytes_in += (uint64_t)n;
	push_in(p);
	return 0;
}

/* BUG C: fd 0 is still open here; keep what ssh wrote before leaving. */
static void
stdin_closed(struct stdio_pump *p)
{
	ssize_t n;

	if (!p->in_eof) {
		for (;;) {
			if (p->in_off) {
				memmove(p->in, p->in + p->in_off, p->in_len);
				p->in_off = 0;
			}
			if (p->in_len == p->in_cap) {
				size_t nc = p->in_cap * 2;
				uint8_t *b;

				if (nc > IN_MAX)
					break;
				b = realloc(p->in, nc);
				if (!b)
					break;
				p->in = b;
				p->in_cap = nc;
			}
			n = read(0, p->in + p->in_len, p->in_cap - p->in_len);
			if (n <= 0)
				break;
			p->in_len += (size_t)n;
			p->bytes_in += (uint64_t)n;
		}
		if (p->in_len)
			ist_debug("read %zu bytes left in stdin after it "
			    "closed", p->in_len);
		p->in_eof = true;
	}
	p->in_wsi = NULL;
	push_in(p);
	maybe_end_in(p);
}

static void
out_again_cb(lws_sorted_usec_list_t *sul)
{
	struct stdio_pump *p = lws_container_of(sul, struct stdio_pump,
	    sul_out);

	if (p->out_wsi)
		lws_callback_on_writable(p->out_wsi);
}

static int
stdout_writeable(struct stdio_pump *p)
{
	ssize_t n;

	if (p->out_len) {
		n = write(1, p->out + p->out_off, p->out_len);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			ist_verbose("stdout: %s", strerror(errno));
			p->out_closed = true;
			p->out_len = 0;
			finish(p, STDIO_END_STDOUT_GONE);
			return -1;
		}
		if (n > 0) {
			p->out_off += (size_t)n;
			p->out_len -= (size_t)n;
			p->bytes_out += (uint64_t)n;
			if (!p->out_len)
				p->out_off = 0;
		}
	}
	if (p->ws_paused && p->out_len < OUT_LOW) {
		p->ws_paused = false;
		if (p->ws)
			ist_ws_pause_rx(p->ws, false);
	}
	if (p->out_len) {
		/* BUG A: a request made from here would be lost. */
		lws_sul_schedule(p->ctx, 0, &p->sul_out, out_again_cb, 1);
		return 0;
	}
	if (p->peer_ended) {
		finish(p, STDIO_END_PEER);
		return -1;	/* closes fd 1: ssh sees the end */
	}
	return 0;
}

static void
stdout_closed(struct stdio_pump *p)
{
	p->out_wsi = NULL;
	p->out_closed = true;
	if (p->out_len || !p->peer_ended)
		finish(p, STDIO_END_STDOUT_GONE);
	else
		finish(p, STDIO_END_PEER);
}

static int
stdio_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct stdio_pump *p = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	(void)in;
	(void)len;
	if (!p)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (wsi == p->in_wsi)
			return stdin_rx(p);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (wsi == p->out_wsi)
			return stdout_writeable(p);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		lws_set_opaque_user_data(wsi, NULL);
		if (wsi == p->in_wsi)
			stdin_closed(p);
		else if (wsi == p->out_wsi)
			stdout_closed(p);
		return 0;
	default:
		break;
	}
	return 0;
}

const struct lws_protocols stdio_pump_protocol = {
	"stdio", stdio_cb, 0, 0, 0, NULL, 0
};

static int
fcntl_ok(int fd)
{
	return fcntl(fd, F_GETFD) < 0 ? -1 : 0;
}

static struct lws *
adopt(struct stdio_pump *p, int fd, struct ist_err *e)
{
	struct lws_vhost *vh = lws_get_vhost_by_name(p->ctx, "default");
	lws_sock_file_fd_type u;
	struct lws *wsi;

	if (fcntl_ok(fd) < 0) {
		ist_err_set(e, IST_ERR_IO, "fd %d is not open (run me as "
		    "ssh's ProxyCommand)", fd);
		return NULL;
	}
	memset(&u, 0, sizeof(u));
	u.filefd = fd;
	wsi = vh ? lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u,
	    "stdio", NULL) : NULL;
	if (!wsi) {
		ist_err_set(e, IST_ERR_IO, "cannot watch fd %d", fd);
		return NULL;
	}
	lws_set_opaque_user_data(wsi, p);
	/* Nothing is read from either until asked. */
	lws_rx_flow_control(wsi, 0);
	return wsi;
}

int
stdio_pump_new(struct stdio_pump **out, struct lws_context *ctx,
    stdio_done_fn done, void *ud, struct ist_err *e)
{
	struct stdio_pump *p;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	p->ctx = ctx;
	p->done = done;
	p->ud = ud;
	p->in_cap = IN_CHUNK;
	p->in = malloc(p->in_cap);
	p->out = malloc(OUT_CAP);
	if (!p->in || !p->out) {
		stdio_pump_free(p);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	p->in_wsi = adopt(p, 0, e);
	if (!p->in_wsi) {
		stdio_pump_free(p);
		return e ? e->code : IST_ERR_IO;
	}
	p->in_paused = true;
	p->out_wsi = adopt(p, 1, e);
	if (!p->out_wsi) {
		stdio_pump_free(p);
		return e ? e->code : IST_ERR_IO;
	}
	*out = p;
	return 0;
}

void
stdio_pump_free(struct stdio_pump *p)
{
	if (!p)
		return;
	lws_sul_cancel(&p->sul_out);
	lws_sul_cancel(&p->sul_done);
	if (p->in_wsi)
		lws_set_opaque_user_data(p->in_wsi, NULL);
	if (p->out_wsi)
		lws_set_opaque_user_data(p->out_wsi, NULL);
	free(p->in);
	free(p->out);
	free(p);
}

int
stdio_pump_start(struct stdio_pump *p, struct ist_ws *ws,
    const char *service_id, uint32_t connection_id, struct ist_err *e)
{
	size_t n = service_id ? strlen(service_id) : 0;

	if (n > IST_MAX_SERVICE_ID)
		return ist_err_set(e, IST_ERR_INVAL, "service id too long");
	p->has_svc = service_id != NULL;
	if (n)
		memcpy(p->svc, service_id, n);
	p->svc[n] = '\0';
	p->ws = ws;
	p->conn = connection_id;
	p->started = true;
	if (p->in_len || p->in_eof)
		push_in(p);	/* a tail kept before the start (BUG C) */
	else
		resume_in(p);
	return 0;
}

void
stdio_pump_data(struct stdio_pump *p, const uint8_t *data, size_t len)
{
	if (p->out_closed || !len)
		return;
	if (OUT_CAP - p->out_off - p->out_len < len && p->out_off) {
		memmove(p->out, p->out + p->out_off, p->out_len);
		p->out_off = 0;
	}
	if (OUT_CAP - p->out_len < len) {
		/* The pause came too late: cannot happen with lws's read
		 * sizes, but never write past the buffer. */
		ist_err_set(&p->err, IST_ERR_IO, "stdout is not keeping up: "
		    "more than %zu bytes queued", OUT_CAP);
		finish(p, STDIO_END_ERROR);
		return;
	}
	memcpy(p->out + p->out_off + p->out_len, data, len);
	p->out_len += len;
	if (!p->ws_paused && p->out_len > OUT_HIGH && p->ws) {
		p->ws_paused = true;
		ist_ws_pause_rx(p->ws, true);
	}
	if (p->out_wsi)
		lws_callback_on_writable(p->out_wsi);
}

void
stdio_pump_writable(struct stdio_pump *p)
{
	if (p->in_len)
		push_in(p);
	else
		resume_in(p);
}

void
stdio_pump_peer_end(struct stdio_pump *p)
{
	p->peer_ended = true;
	pause_in(p);
	if (p->out_wsi)
		lws_callback_on_writable(p->out_wsi);
	else
		finish(p, STDIO_END_PEER);
}

void
stdio_pump_detach(struct stdio_pump *p)
{
	p->ws = NULL;
}

uint64_t
stdio_pump_bytes_in(const struct stdio_pump *p)
{
	return p->bytes_in;
}

uint64_t
stdio_pump_bytes_out(const struct stdio_pump *p)
{
	return p->bytes_out;
}
