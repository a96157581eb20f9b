/*
 * wsframe.h: WebSocket frames (RFC 6455 section 5) encoded and decoded with
 * no I/O, in the wslay/nghttp2 manner: bytes in, bytes and events out.
 *
 * Encoding: ist_wsframe_header() writes only the frame header (2 to 14
 * bytes) into a caller buffer, so that a large payload is never copied to
 * prepend it; a client masks its payload in place with ist_wsframe_mask(),
 * in as many pieces as it likes. Control frames are small and are encoded
 * whole (ist_wsframe_control(), ist_wsframe_close()).
 *
 * Decoding: an ist_wsframe_decoder is fed arbitrary chunks (one byte at a
 * time works) and returns one event per call. Binary and text payload is
 * delivered zero-copy, as pieces pointing into the caller's input (in the
 * server role unmasked in place first, which is why the input is not
 * const). Control payloads (at most 125 bytes) are collected in the
 * decoder. The decoder allocates once, in ist_wsframe_decoder_new(), and
 * never per frame; the limits are enforced from the frame header, before
 * any payload byte is looked at.
 *
 * Random bytes (masking keys) come from the caller: the codec has no RNG.
 */
#ifndef IST_WSFRAME_H
#define IST_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ist/frame.h"
#include "ist/ist.h"

/* Opcodes (RFC 6455 5.2). 3-7 and 11-15 are reserved. */
enum ist_wsframe_opcode {
	IST_WS_OP_CONT = 0x0,
	IST_WS_OP_TEXT = 0x1,
	IST_WS_OP_BINARY = 0x2,
	IST_WS_OP_CLOSE = 0x8,
	IST_WS_OP_PING = 0x9,
	IST_WS_OP_PONG = 0xa,
};

/* Close codes we name (RFC 6455 7.4.1). */
enum ist_ws_close_code {
	IST_WS_CLOSE_NORMAL = 1000,
	IST_WS_CLOSE_GOING_AWAY = 1001,
	IST_WS_CLOSE_PROTOCOL = 1002,	/* the peer broke RFC 6455 */
	IST_WS_CLOSE_UNSUPPORTED = 1003, /* e.g. text where binary is due */
	IST_WS_CLOSE_NO_STATUS = 1005,	/* never sent: "close had no code" */
	IST_WS_CLOSE_ABNORMAL = 1006,	/* never sent: "no close at all" */
	IST_WS_CLOSE_BAD_DATA = 1007,	/* e.g. close reason not UTF-8 */
	IST_WS_CLOSE_POLICY = 1008,
	IST_WS_CLOSE_TOO_BIG = 1009,	/* frame or message over a limit */
	IST_WS_CLOSE_INTERNAL = 1011,
};

#define IST_WSFRAME_MAX_HEADER 14u	/* 2 + 8 (length) + 4 (mask key) */
#define IST_WSFRAME_MAX_CONTROL 125u	/* control payload limit (5.5) */
#define IST_WSFRAME_MAX_REASON 123u	/* close reason: 125 - 2 (code) */
/* The largest whole control frame: header with mask key + 125 bytes. */
#define IST_WSFRAME_MAX_CONTROL_FRAME (2u + 4u + IST_WSFRAME_MAX_CONTROL)
/* Payload lengths are 63-bit on the wire (5.2: the top bit must be 0). */
#define IST_WSFRAME_MAX_LENGTH UINT64_C(0x7fffffffffffffff)

/* ---- encoder ---------------------------------------------------------- */

/*
 * Bytes the header of a frame with a payload of len bytes takes: 2, 4 or
 * 10, plus 4 when masked. Minimal length encoding, as 5.2 requires.
 */
size_t ist_wsframe_header_size(uint64_t len, bool masked);

/*
 * Writes the header of one frame into out: FIN, the opcode (RSV bits 0),
 * the payload length in its minimal encoding and, when mask_key is not
 * NULL, the MASK bit and the 4-byte key. The payload is not touched: send
 * it after the header, masked with ist_wsframe_mask() when a key was
 * given (a client must mask, a server must not: 5.1).
 *
 * Returns the bytes written (2..14), or IST_ERR_INVAL for an opcode that
 * is not one of enum ist_wsframe_opcode, len over IST_WSFRAME_MAX_LENGTH,
 * or a control opcode (>= 8) with fin false or len over 125;
 * IST_ERR_TOOBIG when cap is under ist_wsframe_header_size() (nothing is
 * written then). cap >= IST_WSFRAME_MAX_HEADER always suffices.
 */
int ist_wsframe_header(uint8_t *out, size_t cap, bool fin, int opcode,
    uint64_t len, const uint8_t *mask_key);

/*
 * XORs data in place with the 4-byte mask key (5.3); applying it twice
 * restores the data, so it also unmasks. offset is the position of data[0]
 * within the frame's payload: masking a payload in pieces of any sizes
 * with their running offsets gives the same bytes as masking it whole.
 * Works a machine word at a time; data needs no alignment. len 0 is fine
 * (data may then be NULL).
 */
void ist_wsframe_mask(uint8_t *data, size_t len, const uint8_t mask_key[4],
    uint64_t offset);

/*
 * Encodes a whole ping or pong frame (FIN set) with payload (len <= 125,
 * payload may be NULL when len is 0), masked with mask_key when it is not
 * NULL (client) or unmasked (server). A pong should echo the ping's
 * payload (5.5.3). Returns the bytes written (at most
 * IST_WSFRAME_MAX_CONTROL_FRAME), IST_ERR_INVAL for another opcode or len
 * over 125, IST_ERR_TOOBIG when it does not fit in cap.
 */
int ist_wsframe_control(uint8_t *out, size_t cap, int opcode,
    const uint8_t *payload, size_t len, const uint8_t *mask_key);

/*
 * Encodes a whole close frame. code 0 sends an empty close (no code, no
 * reason: the peer sees 1005). Otherwise code must be one an endpoint may
 * send (ist_wsframe_close_code_valid()), followed by reason_len bytes of
 * reason (reason may be NULL when reason_len is 0), which must be valid
 * UTF-8 and at most IST_WSFRAME_MAX_REASON bytes. Masked as for
 * ist_wsframe_control(). Returns the bytes written, IST_ERR_INVAL for a
 * bad code, reason over 123 bytes or not UTF-8 (a reason with code 0 too),
 * IST_ERR_TOOBIG when it does not fit in cap.
 */
int ist_wsframe_close(uint8_t *out, size_t cap, uint16_t code,
    const char *reason, size_t reason_len, const uint8_t *mask_key);

/*
 * Whether code may appear in a close frame on the wire (7.4): 1000-1003,
 * 1007-1014 and 3000-4999. 0-999, 1004, 1005, 1006, 1015 and 1016-2999
 * are not (1004-1006 and 1015 are reserved or local-only, the rest
 * unassigned).
 */
bool ist_wsframe_close_code_valid(unsigned code);

/* Whether s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
bool ist_wsframe_utf8_valid(const uint8_t *s, size_t len);

/* ---- decoder ---------------------------------------------------------- */

enum ist_wsframe_role {
	/* We are the client: frames from the server must be unmasked. */
	IST_WSFRAME_CLIENT = 1,
	/* We are the server: frames from the client must be masked; they
	 * are unmasked in place in the caller's input. */
	IST_WSFRAME_SERVER = 2,
};

struct ist_wsframe_decoder_options {
	enum ist_wsframe_role role;
	/* Largest payload of one data frame; 0 means IST_MAX_WS_MESSAGE
	 * (131076, the tunnel service's limit). */
	uint64_t max_frame;
	/* Largest data message (the sum of its frames); 0 means
	 * IST_MAX_WS_MESSAGE. UINT64_MAX: no limit (nothing is buffered,
	 * so a caller that streams pieces may choose that). */
	uint64_t max_message;
	/* Allocator for ist_wsframe_decoder_new; NULL means malloc. */
	const struct ist_mem *mem;
};

/* Why the decoder failed: a caller that wants more than the close code
 * and message (tests do) can tell the rules apart. Never renumbered. */
enum ist_wsframe_fail {
	IST_WSFRAME_FAIL_NONE = 0,
	IST_WSFRAME_FAIL_RSV = 1,	     /* RSV1-3 set, no extension */
	IST_WSFRAME_FAIL_OPCODE = 2,	     /* reserved opcode 3-7, 11-15 */
	IST_WSFRAME_FAIL_UNMASKED = 3,	     /* server role: no MASK bit */
	IST_WSFRAME_FAIL_MASKED = 4,	     /* client role: MASK bit set */
	IST_WSFRAME_FAIL_CONT_NO_MESSAGE = 5, /* continuation, none open */
	IST_WSFRAME_FAIL_DATA_IN_MESSAGE = 6, /* text/binary, one open */
	IST_WSFRAME_FAIL_CONTROL_FRAGMENTED = 7, /* control without FIN */
	IST_WSFRAME_FAIL_CONTROL_TOO_BIG = 8, /* control payload > 125 */
	IST_WSFRAME_FAIL_LENGTH_TOP_BIT = 9, /* 64-bit length >= 2^63 */
	IST_WSFRAME_FAIL_LENGTH_NOT_MINIMAL = 10, /* 5.2: minimal bytes */
	IST_WSFRAME_FAIL_FRAME_TOO_BIG = 11, /* over max_frame */
	IST_WSFRAME_FAIL_MESSAGE_TOO_BIG = 12, /* over max_message */
	IST_WSFRAME_FAIL_CLOSE_1_BYTE = 13,  /* close payload of 1 byte */
	IST_WSFRAME_FAIL_CLOSE_CODE = 14,    /* code not valid on the wire */
	IST_WSFRAME_FAIL_CLOSE_UTF8 = 15,    /* close reason not UTF-8 */
	IST_WSFRAME_FAIL_AFTER_CLOSE = 16,   /* a byte after the close */
};

enum ist_wsframe_event_type {
	/*
	 * A piece of a text or binary message. data/len point into the
	 * caller's input (unmasked in the server role) and stay valid as
	 * long as that input does. A message arrives as pieces in order:
	 * first is set on its first piece, last on its last one (both on a
	 * message that fits in one piece). Pieces break at frame ends and
	 * at the ends of the chunks fed; a frame with an empty payload
	 * gives one piece of len 0 (so an empty message, or an empty final
	 * continuation, still reports last). opcode is the message's
	 * (IST_WS_OP_TEXT or IST_WS_OP_BINARY), also for continuation
	 * frames. Text is not checked for UTF-8: the caller decides what a
	 * text message means (the tunnel refuses it with 1003).
	 */
	IST_WSFRAME_EV_DATA = 1,
	/* A ping (a pong is due) or pong, whole: data/len is its payload
	 * (len <= 125) inside the decoder, valid until the next call. */
	IST_WSFRAME_EV_PING = 2,
	IST_WSFRAME_EV_PONG = 3,
	/*
	 * A close frame, whole and checked. close_code is its code, or
	 * IST_WS_CLOSE_NO_STATUS (1005) when it had no payload; data/len is
	 * the reason (valid UTF-8, len <= 123, NUL-terminated in the
	 * decoder, so it may be printed as a string once the caller has
	 * made it safe for a terminal), valid until the next call. The
	 * decoder takes nothing after it: feeding more bytes is an error
	 * (IST_WSFRAME_FAIL_AFTER_CLOSE).
	 */
	IST_WSFRAME_EV_CLOSE = 4,
};

struct ist_wsframe_event {
	enum ist_wsframe_event_type type;
	int opcode;		/* DATA: the message's; others: the frame's */
	const uint8_t *data;
	size_t len;
	bool first;		/* DATA: first piece of the message */
	bool last;		/* DATA: last piece of the message */
	uint16_t close_code;	/* CLOSE only */
};

struct ist_wsframe_decoder;

/* IST_ERR_INVAL for a bad role, IST_ERR_NOMEM (nothing leaked). */
int ist_wsframe_decoder_new(struct ist_wsframe_decoder **out,
    const struct ist_wsframe_decoder_options *o);
/* Accepts NULL. */
void ist_wsframe_decoder_free(struct ist_wsframe_decoder *d);

/*
 * Decodes from in[0..len). Returns 1 with *ev filled when an event is
 * ready, 0 when all of in was taken without one (call again with more),
 * or a negative code with e (may be NULL) saying what the peer did:
 *  - IST_ERR_PROTO: a broken rule of RFC 6455 (close code 1002);
 *  - IST_ERR_TOOBIG: a frame or message over the limits, named with its
 *    size ("a WebSocket frame of 4194304 bytes, over the 131076-byte
 *    limit"; close code 1009), known from the header alone: no payload
 *    byte of it is taken, nothing is buffered or allocated;
 *  - IST_ERR_DECODE: a close reason that is not UTF-8 (close code 1007).
 * ist_wsframe_decoder_fail() gives the precise rule and
 * ist_wsframe_decoder_close_code() the code to close with.
 *
 * *consumed (always set) says how much of in was taken; after 1, feed
 * the rest (in + *consumed) in the next call. An event always takes at
 * least one byte. In the server role the payload bytes taken are unmasked
 * in place in in[]; in the client role in[] is not written. Bytes not yet
 * taken are not touched.
 *
 * Decisions where RFC 6455 leaves room, or where we are stricter:
 *  - a non-minimal length encoding (126 with a length < 126, 127 with
 *    one < 65536) is IST_ERR_PROTO: 5.2 says the minimal number of bytes
 *    MUST be used;
 *  - max_frame limits data frames; control frames have their own limit
 *    of 125 (a bigger one is IST_ERR_PROTO, 5.5, not IST_ERR_TOOBIG);
 *  - the message limit is checked at each frame's header against the
 *    message so far plus this frame's length;
 *  - a ping or pong does not need an answer from the decoder: the caller
 *    sends the pong (and stops answering once it sent a close).
 * After an error, and after a close, every later call with len > 0
 * fails the same way (the stream is lost); len 0 returns 0.
 */
int ist_wsframe_decoder_feed(struct ist_wsframe_decoder *d, uint8_t *in,
    size_t len, size_t *consumed, struct ist_wsframe_event *ev,
    struct ist_err *e);

/* The rule the peer broke, or IST_WSFRAME_FAIL_NONE. */
enum ist_wsframe_fail ist_wsframe_decoder_fail(
    const struct ist_wsframe_decoder *d);
/* The close code to send after a failure: 1002, 1007 or 1009; 0 while
 * the decoder has not failed. */
uint16_t ist_wsframe_decoder_close_code(const struct ist_wsframe_decoder *d);
/* A data message is open (its last piece not yet delivered). */
bool ist_wsframe_decoder_in_message(const struct ist_wsframe_decoder *d);
/* The peer's close frame was decoded. */
bool ist_wsframe_decoder_closed(const struct ist_wsframe_decoder *d);

#endif
