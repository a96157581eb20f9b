/*
 * frame.h: tunnel frames (2-byte big-endian length + protobuf Message),
 * decoded and encoded with no I/O. docs/protocol.md section 2.2.
 */
#ifndef IST_FRAME_H
#define IST_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ist/ist.h"

#define IST_MAX_PAYLOAD 64512u		/* Message.payload limit */
#define IST_MAX_FRAME (2u + 65535u)	/* length prefix + largest Message */
#define IST_MAX_WS_MESSAGE 131076u	/* WebSocket payload limit */
#define IST_MAX_SERVICES 3u
#define IST_MAX_SERVICE_ID 128u

enum ist_msg_type {
	IST_MSG_UNKNOWN = 0,
	IST_MSG_DATA = 1,
	IST_MSG_STREAM_START = 2,
	IST_MSG_STREAM_RESET = 3,
	IST_MSG_SESSION_RESET = 4,
	IST_MSG_SERVICE_IDS = 5,
	IST_MSG_CONNECTION_START = 6,
	IST_MSG_CONNECTION_RESET = 7,
};

/*
 * One decoded Message. Pointers stay valid until the next call on the
 * decoder that produced it. Absent optional fields: service_id NULL,
 * connection_id 0, n_available 0.
 */
struct ist_msg {
	int type; /* may be a value outside enum ist_msg_type */
	int32_t stream_id;
	bool ignorable;
	const uint8_t *payload;
	size_t payload_len;
	const char *service_id;
	const char *const *available;
	size_t n_available;
	uint32_t connection_id;
	bool has_unknown_fields; /* the service refuses those from clients */
};

const char *ist_msg_type_name(int type);

/* Bytes the encoding of m takes, length prefix included. */
size_t ist_frame_size(const struct ist_msg *m);

/*
 * Encodes m with its length prefix into out. Returns the bytes written, or
 * IST_ERR_TOOBIG if m is over the limits or does not fit in cap.
 * Any type is encoded, even 0 (tests and fault injection need that);
 * has_unknown_fields is ignored; service_id NULL or "" is left out; an
 * available[] entry that is NULL is IST_ERR_INVAL.
 */
int ist_frame_encode(const struct ist_msg *m, uint8_t *out, size_t cap);

/*
 * Optional allocator (nghttp2_mem style), so that tests can fail the Nth
 * allocation. NULL everywhere means malloc/free. Only the *_new functions
 * allocate; the data path never does.
 */
struct ist_mem {
	void *(*malloc)(size_t size, void *ud);
	void (*free)(void *p, void *ud);
	void *ud;
};

/* malloc/free as a struct ist_mem: what NULL stands for. */
const struct ist_mem *ist_mem_default(void);

/* A decoded Message has at most this many fields (the largest real one
 * has 10); more is refused as IST_ERR_DECODE. It bounds decoder memory. */
#define IST_FRAME_MAX_FIELDS 256u

struct ist_frame_decoder;

/* IST_ERR_NOMEM when an allocation fails (nothing is leaked). */
int ist_frame_decoder_new(struct ist_frame_decoder **out);
int ist_frame_decoder_new2(struct ist_frame_decoder **out,
    const struct ist_mem *mem);
void ist_frame_decoder_free(struct ist_frame_decoder *d);

/*
 * Feeds bytes; they may split or join frames anyhow.
 * Returns 1 and fills *msg when a whole message was decoded, 0 when all
 * input was taken without completing one, or a negative code
 * (IST_ERR_TOOBIG for a payload over IST_MAX_PAYLOAD, IST_ERR_DECODE for
 * bytes that do not parse, a string field holding a NUL byte or more than
 * IST_FRAME_MAX_FIELDS fields, IST_ERR_PROTO for type 0) with e set.
 * *consumed says how much of in was taken: call again with the rest.
 * After an error the decoder is unusable (the stream is lost).
 */
int ist_frame_decoder_feed(struct ist_frame_decoder *d, const uint8_t *in,
    size_t len, size_t *consumed, struct ist_msg *msg, struct ist_err *e);

#endif
