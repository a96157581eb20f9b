/*
 * wshandshake.h: the HTTP/1.1 upgrade that opens a WebSocket (RFC 6455
 * section 4), with no I/O, for both ends:
 *  - client: ist_wshandshake_client_request() builds the request;
 *    an ist_wshandshake_response parses and checks the server's answer;
 *  - server: an ist_wshandshake_request parses and checks the client's
 *    request; ist_wshandshake_accept() builds the 101 answer and
 *    ist_wshandshake_refuse() any other.
 *
 * Parsers are fed arbitrary chunks and stop at the end of the head (the
 * empty line): the bytes after it (the first WebSocket frames, or a
 * refusal's body) are left in the caller's input, not consumed, never
 * lost. Heads are bounded (max_head); header values are kept in the
 * parser, NUL-terminated, with surrounding spaces and tabs removed.
 * Header names compare case-insensitively; "Upgrade" and "Connection"
 * are comma-separated token lists whose tokens compare case-insensitively.
 *
 * Secrets (access-token, client-token) may be header values: errors name
 * the header, never its value.
 */
#ifndef IST_WSHANDSHAKE_H
#define IST_WSHANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ist/frame.h"
#include "ist/ist.h"

/* Sec-WebSocket-Key: base64 of 16 bytes, 24 characters. */
#define IST_WSHANDSHAKE_KEY_LEN 24u
/* Sec-WebSocket-Accept: base64 of a SHA-1 digest, 28 characters. */
#define IST_WSHANDSHAKE_ACCEPT_LEN 28u
/* max_head 0 means this. */
#define IST_WSHANDSHAKE_DEFAULT_HEAD 16384u
/* At most this many headers in a head, and subprotocols offered. */
#define IST_WSHANDSHAKE_MAX_HEADERS 64u
#define IST_WSHANDSHAKE_MAX_PROTOCOLS 16u

struct ist_wshandshake_header {
	const char *name;	/* an HTTP token: letters, digits, !#$%&'*+-.^_`|~ */
	const char *value;	/* printable ASCII, space, tab, bytes >= 0x80 */
};

/*
 * Sec-WebSocket-Accept for a key: base64(SHA-1(key + the RFC's GUID
 * 258EAFA5-E914-47DA-95CA-C5AB0DC85B11)), NUL-terminated in out.
 * key is used as given (key_len bytes). Returns 0 or IST_ERR_NOMEM
 * (libcrypto failed).
 */
int ist_wshandshake_accept_key(const char *key, size_t key_len,
    char out[IST_WSHANDSHAKE_ACCEPT_LEN + 1]);

/* ---- client ----------------------------------------------------------- */

struct ist_wshandshake_client {
	/* Host header value: a name or address, with ":port" when not the
	 * scheme's default; an IPv6 address in brackets. */
	const char *host;
	/* Request target: "/" then path and query, e.g.
	 * "/tunnel?local-proxy-mode=source". */
	const char *path;
	/* Sec-WebSocket-Protocol to offer (one token, e.g.
	 * "aws.iot.securetunneling-3.0"), or NULL to offer none. */
	const char *protocol;
	/* More headers (access-token, client-token, User-Agent, ...), sent
	 * in this order after ours; may be NULL when n_headers is 0. They
	 * must not repeat ours (Host, Upgrade, Connection, Sec-WebSocket-*):
	 * IST_ERR_INVAL. */
	const struct ist_wshandshake_header *headers;
	size_t n_headers;
	/* 16 random bytes from the caller (4.1: a fresh nonce per
	 * connection); Sec-WebSocket-Key is their base64. */
	uint8_t nonce[16];
};

/*
 * Writes the whole request head into out (not NUL-terminated), length in
 * *len:
 *   GET <path> HTTP/1.1, Host, Upgrade: websocket, Connection: Upgrade,
 *   Sec-WebSocket-Key, Sec-WebSocket-Version: 13, Sec-WebSocket-Protocol
 *   (when offered), the caller's headers, the empty line.
 * Returns 0; IST_ERR_INVAL (e names the field, never a header's value)
 * for a missing host or path, a path not starting with '/' or holding a
 * space or control byte, a header name that is not a token, a value with
 * CR, LF, NUL or another control byte (header injection), a protocol that
 * is not a token, or one of our headers among the caller's;
 * IST_ERR_TOOBIG when the request does not fit in cap (e says how many
 * bytes it needs; out is then unspecified).
 */
int ist_wshandshake_client_request(const struct ist_wshandshake_client *c,
    char *out, size_t cap, size_t *len, struct ist_err *e);

struct ist_wshandshake_response;

/*
 * A parser for the answer to the request c made (the same nonce and
 * protocol; host, path and headers are not used and not kept). max_head
 * bounds the head, 0 meaning IST_WSHANDSHAKE_DEFAULT_HEAD; mem NULL means
 * malloc. IST_ERR_INVAL for a NULL c, IST_ERR_NOMEM (nothing leaked).
 */
int ist_wshandshake_response_new(struct ist_wshandshake_response **out,
    const struct ist_wshandshake_client *c, size_t max_head,
    const struct ist_mem *mem);
/* Accepts NULL. */
void ist_wshandshake_response_free(struct ist_wshandshake_response *r);

/*
 * Feeds bytes of the server's answer. *consumed (always set) says how
 * many were taken: never more than up to the end of the head, so in +
 * *consumed is where the WebSocket frames (or a refusal's body) start.
 * Returns:
 *  - 0: all of in taken, the head is not complete yet;
 *  - 1: the head is complete, the status is 101 and the upgrade is
 *    valid: Upgrade has the token "websocket", Connection has the token
 *    "upgrade", Sec-WebSocket-Accept (exactly one) matches the key,
 *    Sec-WebSocket-Protocol (exactly one) equals the one offered (none
 *    when none was offered), no Sec-WebSocket-Extensions (none offered);
 *  - IST_ERR_NET: the head is complete and its status is not 101 (a
 *    refusal; e names the status and reason phrase). The status and the
 *    headers can be read: a caller retries on 5xx, not on 4xx.
 *    A refusal in HTTP/1.0 (or 1.x) counts too: such servers exist
 *    (lws's own, some proxies) and their status is worth reading;
 *  - IST_ERR_PROTO: not an HTTP/1.x answer (an HTTP/0.9 reply, HTTP/2,
 *    garbage: e quotes the start of it, made printable), a 101 in any
 *    version but HTTP/1.1, a bad status line or header line, a 101 that
 *    fails a check above (e names the header and what was wrong with
 *    it), or a 1xx other than 101;
 *  - IST_ERR_TOOBIG: the head is over max_head, or has more than
 *    IST_WSHANDSHAKE_MAX_HEADERS headers, before it ended.
 * After a result other than 0, later calls return the same result and
 * take nothing.
 */
int ist_wshandshake_response_feed(struct ist_wshandshake_response *r,
    const uint8_t *in, size_t len, size_t *consumed, struct ist_err *e);

/* The status code, once the status line is parsed (also after a refusal
 * or a failed check); 0 before. */
int ist_wshandshake_response_status(const struct ist_wshandshake_response *r);
/* The reason phrase, or "" before the status line is parsed. */
const char *ist_wshandshake_response_reason(
    const struct ist_wshandshake_response *r);
/*
 * The value of header name (case-insensitive) once the head is complete,
 * or NULL when absent or the head is not complete. *count (may be NULL)
 * gets how many times it appeared; the first value is returned. Valid
 * until the parser is freed. Sec-WebSocket-Protocol tells the chosen
 * subprotocol; channel-id the tunnel service's session id.
 */
const char *ist_wshandshake_response_header(
    const struct ist_wshandshake_response *r, const char *name,
    size_t *count);

/* ---- server ----------------------------------------------------------- */

struct ist_wshandshake_request;

/* max_head and mem as for ist_wshandshake_response_new(). */
int ist_wshandshake_request_new(struct ist_wshandshake_request **out,
    size_t max_head, const struct ist_mem *mem);
void ist_wshandshake_request_free(struct ist_wshandshake_request *q);

/*
 * Feeds bytes of a client's request; *consumed as for the response
 * (bytes after the head are the client's first frames). Returns:
 *  - 0: all taken, the head is not complete yet;
 *  - 1: a valid WebSocket upgrade request: "GET <target> HTTP/1.1", Host
 *    present once, Upgrade with the token "websocket", Connection with
 *    the token "upgrade", Sec-WebSocket-Key once and the base64 of 16
 *    bytes, Sec-WebSocket-Version once and "13";
 *  - IST_ERR_PROTO: not HTTP/1.1, a bad request line or header line, or
 *    a complete head that is not a valid upgrade (e says which rule);
 *  - IST_ERR_TOOBIG: the head is over max_head or has too many headers.
 * ist_wshandshake_request_fail_status() gives the status to refuse with.
 * When the head was complete (1, or IST_ERR_PROTO for a rule of the
 * upgrade), its method, target and headers can be read, so that a server
 * may answer non-WebSocket requests (a health check) itself. Later calls
 * return the same result and take nothing.
 */
int ist_wshandshake_request_feed(struct ist_wshandshake_request *q,
    const uint8_t *in, size_t len, size_t *consumed, struct ist_err *e);

/*
 * The HTTP status to refuse a failed request with: 400 (bad syntax or
 * upgrade), 405 (method not GET), 426 (Sec-WebSocket-Version not 13:
 * answer with "Sec-WebSocket-Version: 13", 4.4), 431 (head too big),
 * 505 (not HTTP/1.x); 0 when the request has not failed.
 */
int ist_wshandshake_request_fail_status(
    const struct ist_wshandshake_request *q);
/* Request line parts once the head is complete, else NULL. target is the
 * raw request target; path is target up to '?'; query what follows it
 * (NULL when there is no '?'). No percent-decoding. */
const char *ist_wshandshake_request_method(
    const struct ist_wshandshake_request *q);
const char *ist_wshandshake_request_target(
    const struct ist_wshandshake_request *q);
const char *ist_wshandshake_request_path(
    const struct ist_wshandshake_request *q);
const char *ist_wshandshake_request_query(
    const struct ist_wshandshake_request *q);
/* As ist_wshandshake_response_header(): first value, *count occurrences
 * (a caller refuses a repeated access-token with it). */
const char *ist_wshandshake_request_header(
    const struct ist_wshandshake_request *q, const char *name,
    size_t *count);
/* The client's Sec-WebSocket-Key after a 1, else NULL. */
const char *ist_wshandshake_request_key(
    const struct ist_wshandshake_request *q);
/*
 * The i-th subprotocol offered (all Sec-WebSocket-Protocol headers'
 * comma-separated tokens, in order), or NULL past the last. More than
 * IST_WSHANDSHAKE_MAX_PROTOCOLS, or an empty or non-token entry, is
 * IST_ERR_PROTO from feed.
 */
const char *ist_wshandshake_request_protocol(
    const struct ist_wshandshake_request *q, size_t i);

/*
 * Writes a 101 answer into out (not NUL-terminated), length in *len:
 *   HTTP/1.1 101 Switching Protocols, Upgrade: websocket, Connection:
 *   Upgrade, Sec-WebSocket-Accept for key, Sec-WebSocket-Protocol when
 *   protocol is not NULL (it should be one the client offered), the
 *   caller's headers (e.g. channel-id), the empty line.
 * key is the client's (ist_wshandshake_request_key()). Returns 0,
 * IST_ERR_INVAL as for the client request (bad names, values, a protocol
 * that is not a token), IST_ERR_TOOBIG when it does not fit in cap.
 */
int ist_wshandshake_accept(const char *key, const char *protocol,
    const struct ist_wshandshake_header *headers, size_t n_headers,
    char *out, size_t cap, size_t *len, struct ist_err *e);

/*
 * Writes a refusal: "HTTP/1.1 <status> <standard reason phrase>", the
 * caller's headers, Content-Length, Connection: close, the empty line,
 * then body (body may be NULL when body_len is 0; a small text such as a
 * JSON error). status must be 200-599 except 101. Returns 0,
 * IST_ERR_INVAL (bad status, names or values, or a caller header
 * Content-Length or Connection), IST_ERR_TOOBIG when it does not fit.
 */
int ist_wshandshake_refuse(int status,
    const struct ist_wshandshake_header *headers, size_t n_headers,
    const char *body, size_t body_len, char *out, size_t cap, size_t *len,
    struct ist_err *e);

#endif
