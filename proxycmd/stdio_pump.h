/*
 * stdio_pump.h: ssh's stdin/stdout (fds 0 and 1) bridged to one tunnel
 * connection, in the program's lws loop (docs/libwebsockets.md).
 *
 * Both fds are adopted as raw files at stdio_pump_new(); stdin is not read
 * until stdio_pump_start(), so bytes ssh sends early (its banner) wait in
 * the pipe. Memory is bounded: one stdin buffer of 64 KiB (more only for
 * the bytes left in the pipe when ssh hangs up, BUG C, capped), and a
 * stdout queue of 1 MiB that pauses the WebSocket above 256 KiB.
 */
#ifndef IST_STDIO_PUMP_H
#define IST_STDIO_PUMP_H

#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "ist/ist.h"
#include "ist/ws.h"

struct stdio_pump;

/* Why the local side is done (on_done). */
enum stdio_end {
	STDIO_END_STDIN_EOF = 1,	/* ssh closed our stdin: all sent */
	STDIO_END_STDOUT_GONE = 2,	/* nobody reads our stdout */
	STDIO_END_PEER = 3,	/* peer ended, everything written out */
	STDIO_END_ERROR = 4,	/* a local I/O error; e says which */
};

/* Called once, from the loop; the pump may be freed afterwards. */
typedef void (*stdio_done_fn)(enum stdio_end why, const struct ist_err *e,
    void *ud);

/* The lws protocol entry "stdio", for ist_ws_context_options. */
extern const struct lws_protocols stdio_pump_protocol;

int stdio_pump_new(struct stdio_pump **out, struct lws_context *ctx,
    stdio_done_fn done, void *ud, struct ist_err *e);
void stdio_pump_free(struct stdio_pump *p);

/*
 * The stream is open: start moving stdin into (service_id, connection_id)
 * of ws's session (service_id NULL in the V1 format).
 */
int stdio_pump_start(struct stdio_pump *p, struct ist_ws *ws,
    const char *service_id, uint32_t connection_id, struct ist_err *e);
/* Data for stdout (the session's on_data). */
void stdio_pump_data(struct stdio_pump *p, const uint8_t *data, size_t len);
/* The ws wrote output: push pending stdin (ist_ws on_writable). */
void stdio_pump_writable(struct stdio_pump *p);
/* The peer ended the connection: write out what is queued, then done. */
void stdio_pump_peer_end(struct stdio_pump *p);
/* The ws is gone: stop feeding it. */
void stdio_pump_detach(struct stdio_pump *p);

/* Byte counters for the logs and on_tunnel_closed. */
uint64_t stdio_pump_bytes_in(const struct stdio_pump *p);	/* stdin */
uint64_t stdio_pump_bytes_out(const struct stdio_pump *p);	/* stdout */

#endif
