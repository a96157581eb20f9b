/*
 * session.h: the tunnel protocol state machine of one WebSocket connection,
 * for the source and the destination role, with no I/O (nghttp2 style).
 *
 * The adapter feeds every byte of every binary WebSocket message into
 * ist_session_recv(); events come back through callbacks, called from inside
 * recv. Bytes to send come out of ist_session_peek_output() and are written
 * as binary WebSocket messages. docs/protocol.md section 2 is the
 * specification.
 *
 * Connections are named by (service_id, connection_id). In the V1 format
 * there is no service id: callbacks get "" and calls take NULL or "".
 * In V1 and V2 every stream has exactly one connection, id 1.
 *
 * Ids we send: every stream id and connection id a session chooses is
 * within 1..IST_MAX_ID (2^28 - 1), after any number of reconnects. AWS's
 * SDK (aws-c-iot, under the AWS IoT Device Client) encodes ids as varints
 * of at most 4 bytes and fails locally on anything larger, so a device on
 * it could never answer a stream above that. Ids a peer sends are accepted
 * up to INT32_MAX (stream) and UINT32_MAX (connection) and echoed as they
 * are; a session never picks one above IST_MAX_ID itself.
 */
#ifndef IST_SESSION_H
#define IST_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ist/frame.h"
#include "ist/ist.h"

enum ist_role {
	IST_ROLE_SOURCE = 1,
	IST_ROLE_DESTINATION = 2,
};

/* The peer message formats of docs/protocol.md section 2.5. */
enum ist_format {
	IST_FORMAT_V1 = 1, /* no serviceId, no connectionId */
	IST_FORMAT_V2 = 2, /* serviceId, one connection per stream */
	IST_FORMAT_V3 = 3, /* serviceId and connectionId */
};

/* Why a connection ended; passed to on_connection_end. */
enum ist_end_reason {
	IST_END_CONNECTION_RESET = 1, /* peer sent CONNECTION_RESET */
	IST_END_STREAM_RESET = 2,     /* peer sent STREAM_RESET */
	IST_END_SESSION_RESET = 3,    /* service sent SESSION_RESET */
	IST_END_REPLACED = 4,	      /* a new STREAM_START superseded it */
	IST_END_FORMAT = 5,	      /* peer mixed message formats */
};

/* The largest stream or connection id a session sends (see above). */
#define IST_MAX_ID 268435455

struct ist_session;

struct ist_session_callbacks {
	/* SERVICE_IDS arrived (both roles). The source may start streams. */
	void (*on_service_ids)(struct ist_session *s, const char *const *ids,
	    size_t n, void *ud);
	/*
	 * Destination: the peer opened a connection (STREAM_START or
	 * CONNECTION_START). Return 0 to accept it, or a negative code to
	 * refuse: the session then queues the reset for it.
	 */
	int (*on_connection_start)(struct ist_session *s,
	    const char *service_id, uint32_t connection_id, void *ud);
	/* Payload of a DATA message for a live connection. */
	void (*on_data)(struct ist_session *s, const char *service_id,
	    uint32_t connection_id, const uint8_t *data, size_t len,
	    void *ud);
	/* A live connection ended by the peer or the service. */
	void (*on_connection_end)(struct ist_session *s,
	    const char *service_id, uint32_t connection_id,
	    enum ist_end_reason why, void *ud);
	/* Optional: each message as received, before it is acted on. */
	void (*on_msg)(struct ist_session *s, const struct ist_msg *m,
	    void *ud);
};

struct ist_session_options {
	enum ist_role role;
	/* Source: the format to send (0 means V3). Destination: ignored,
	 * the first STREAM_START fixes it. */
	enum ist_format format;
	/* Source: refuse to start a stream before SERVICE_IDS arrived
	 * (subprotocols 2.0 and 3.0). */
	bool wait_service_ids;
	/* Source: stream ids start after this one, so that they never
	 * repeat within a tunnel across reconnects; 0..IST_MAX_ID. */
	int32_t last_stream_id;
	/* Output buffer size; 0 means 256 KiB. At least 2 * IST_MAX_FRAME.
	 * DATA never takes the last IST_MAX_FRAME bytes: they are kept for
	 * control messages (starts and resets), which are never lost. */
	size_t out_capacity;
	/* Live connections in the session; 0 means 64. Beyond it a
	 * peer's STREAM_START/CONNECTION_START is refused with a reset. */
	size_t max_connections;
	/* Allocator for ist_session_new (tests fail the Nth); NULL: malloc. */
	const struct ist_mem *mem;
};

/* IST_ERR_INVAL for bad options (role, format, last_stream_id outside
 * 0..IST_MAX_ID,
 * out_capacity too small), IST_ERR_NOMEM (nothing leaked). cb may be
 * NULL and each callback is optional. */
int ist_session_new(struct ist_session **out,
    const struct ist_session_options *opt,
    const struct ist_session_callbacks *cb, void *ud);
void ist_session_free(struct ist_session *s);

/*
 * Takes all of in (any split of the binary stream). A negative return is
 * fatal for the session (the adapter closes the WebSocket): IST_ERR_PROTO,
 * IST_ERR_ROLE, IST_ERR_DECODE, IST_ERR_TOOBIG, with e saying what the
 * peer sent. Stale or unknown-connection messages and ignorable unknown
 * types are dropped, not errors. Later calls return the same error.
 *
 * Decisions where the protocol leaves room (docs/protocol.md section 4):
 *  - stream id <= 0 (negative ids included): in STREAM_START,
 *    CONNECTION_START and DATA it is IST_ERR_PROTO; a STREAM_RESET or
 *    CONNECTION_RESET naming one is dropped (it names no stream);
 *  - a service id that does not match [a-zA-Z0-9:_-]{1,128} in
 *    SERVICE_IDS or STREAM_START, or more than IST_MAX_SERVICES ids:
 *    IST_ERR_PROTO; empty SERVICE_IDS entries are skipped;
 *  - destination: a STREAM_START always starts the stream, ending the
 *    service's previous one (IST_END_REPLACED), even with the same id
 *    (a restarted source); one for a service not in SERVICE_IDS is
 *    refused with STREAM_RESET. The first STREAM_START fixes the format
 *    for the life of the session; a later message in another format
 *    resets its stream (IST_END_FORMAT, STREAM_RESET sent; a STREAM_START
 *    is refused with STREAM_RESET);
 *  - source in V3: DATA/CONNECTION_RESET without connectionId (a V2
 *    peer) count as connection 1;
 *  - IST_ERR_TOOBIG also when answers (resets) no longer fit in the
 *    output buffer because it is not drained.
 * Callbacks may call the send functions but not recv or free.
 */
int ist_session_recv(struct ist_session *s, const uint8_t *in, size_t len,
    struct ist_err *e);

/* Source: SERVICE_IDS seen (or not awaited). */
bool ist_session_ready(const struct ist_session *s);
/* The service ids from SERVICE_IDS; valid until the session is freed. */
size_t ist_session_service_ids(const struct ist_session *s,
    const char *const **ids);
/* The highest stream id used or seen (for last_stream_id on reconnect). */
int32_t ist_session_last_stream_id(const struct ist_session *s);

/*
 * A first last_stream_id for a source joining a tunnel someone else
 * opened (earlier sources may have used low ids), from the wall clock in
 * seconds: (now mod 65536) * 2048, so at most 134215680, leaving over
 * 10^8 ids for the streams of the run below IST_MAX_ID. A tunnel lives at
 * most 12 h (43200 s < 65536 s), so across its life the seed wraps at
 * most once, and runs a second or more apart start 2048 ids apart: no id
 * repeats unless one run starts thousands of streams.
 */
int32_t ist_session_stream_id_seed(int64_t now);

/*
 * Source: open a new stream to service_id with its first connection
 * (*connection_id = 1). A new stream for a service ends its old one:
 * its live connections get on_connection_end(IST_END_REPLACED) before
 * this returns. IST_ERR_STATE before SERVICE_IDS when awaited (or in the
 * destination role); IST_ERR_INVAL for a service not in SERVICE_IDS, or
 * none in V2/V3 (in V1 any service_id given is ignored);
 * IST_ERR_AGAIN when the output buffer is full.
 */
int ist_session_start_stream(struct ist_session *s, const char *service_id,
    uint32_t *connection_id, struct ist_err *e);
/* Source, V3 only: one more connection on the service's active stream.
 * IST_ERR_STATE without an active stream or in V1/V2; IST_ERR_TOOBIG
 * when max_connections are live. */
int ist_session_start_connection(struct ist_session *s,
    const char *service_id, uint32_t *connection_id, struct ist_err *e);

/*
 * Queues payload as DATA messages of at most IST_MAX_PAYLOAD bytes.
 * Takes as much as fits in the output buffer: *accepted may be less than
 * len (0 when full; wait for the output to drain).
 * IST_ERR_STATE when the connection is not live (the peer may have ended
 * it: on_connection_end said so).
 */
int ist_session_send_data(struct ist_session *s, const char *service_id,
    uint32_t connection_id, const uint8_t *data, size_t len,
    size_t *accepted, struct ist_err *e);

/* Ends a connection from our side: CONNECTION_RESET in V3, STREAM_RESET
 * in V1/V2. Does not call on_connection_end. IST_ERR_STATE when it is not
 * live (harmless after on_connection_end); IST_ERR_AGAIN only when the
 * control reserve itself is full (drain the output and call again). */
int ist_session_end_connection(struct ist_session *s, const char *service_id,
    uint32_t connection_id, struct ist_err *e);

/* True while the connection is live. */
bool ist_session_connection_live(const struct ist_session *s,
    const char *service_id, uint32_t connection_id);

/* Payload bytes send_data would take now. */
size_t ist_session_send_room(const struct ist_session *s);

/* Output: pending bytes, a contiguous chunk of them, and consuming it.
 * peek returns at most IST_MAX_WS_MESSAGE bytes, so that one chunk can be
 * sent as one WebSocket message; the pointer is valid until the next call
 * that queues or consumes output. */
size_t ist_session_output_pending(const struct ist_session *s);
size_t ist_session_peek_output(const struct ist_session *s,
    const uint8_t **p);
void ist_session_consume_output(struct ist_session *s, size_t n);

#endif
