/*
 * httpproxy.h: an HTTP proxy's CONNECT, for both network clients (the API
 * client, src/aws/http.c, and the tunnel WebSocket, src/transport/ws.c).
 * No I/O: the value of HTTPS_PROXY parsed, the request text made, the
 * answer's head checked; the callers write and read the bytes.
 */
#ifndef IST_HTTPPROXY_H
#define IST_HTTPPROXY_H

#include <stddef.h>

#include "ist/ist.h"

/* Decoded "user:password", at most (RFC 7617 Basic credentials). */
#define IST_HTTPPROXY_CREDS_MAX 599u
/* Room for any CONNECT request ist_httpproxy_connect_request() makes
 * with extra headers of up to 256 bytes. */
#define IST_HTTPPROXY_REQUEST_MAX 2048u
/* The answer's head (status line and headers), at most. */
#define IST_HTTPPROXY_ANSWER_MAX 4096u

struct ist_httpproxy {
	char host[256]; /* a name or an address, IPv6 without brackets */
	int port;
	/* base64 of "user:password" (a secret: never logged), or "" */
	char basic[4 * ((IST_HTTPPROXY_CREDS_MAX + 2) / 3) + 1];
};

/*
 * Parses "[scheme://][user:password@]host:port[/]" (the host may be an
 * IPv6 address in brackets; scheme http or https; the user name and
 * password percent-decoded, as in a URL) into *px. The port is
 * required. Returns 0 or IST_ERR_CONFIG (the message never holds the
 * user name or password), IST_ERR_NOMEM. Clear px with
 * ist_httpproxy_clear() whatever the result.
 */
int ist_httpproxy_parse(struct ist_httpproxy *px, const char *value,
    struct ist_err *e);

/* Wipes px (its credentials are a secret). NULL is fine. */
void ist_httpproxy_clear(struct ist_httpproxy *px);

/*
 * Writes into out[0..cap) the CONNECT request for host:port (an IPv6
 * host goes in brackets): the request line, Host, Proxy-Authorization
 * when px has credentials, then extra (whole header lines, each ending
 * in CRLF, or NULL), then the empty line. *len is its length, without
 * the NUL. out holds the credentials: wipe it after use. Returns 0, or
 * IST_ERR_TOOBIG when it does not fit (out then wiped), IST_ERR_INVAL
 * for a host or extra holding CR or LF, or a port outside 1..65535.
 */
int ist_httpproxy_connect_request(const struct ist_httpproxy *px,
    const char *host, int port, const char *extra, char *out, size_t cap,
    size_t *len, struct ist_err *e);

/*
 * Looks at the first n bytes of the proxy's answer. Returns 0 when its
 * head is not complete yet (read more), 1 when it is: *head_len is the
 * length of the head (status line and headers, up to the empty line;
 * what follows belongs to the tunnel) and *status the HTTP status.
 * IST_ERR_NET when it is not an HTTP/1.x answer, or no head ends within
 * IST_HTTPPROXY_ANSWER_MAX bytes.
 */
int ist_httpproxy_answer(const void *p, size_t n, size_t *head_len,
    int *status, struct ist_err *e);

/*
 * The verdict on the status of the answer to CONNECT host:port: 0 for a
 * 2xx, otherwise IST_ERR_NET with "refused CONNECT to host:port with
 * HTTP <status>", and for a 407 where the credentials go. The caller
 * puts what names the proxy in front.
 */
int ist_httpproxy_status(int status, const char *host, int port,
    struct ist_err *e);

#endif
