/*
 * tlsclient.h: the TLS client setup both network clients share, the API
 * client (src/aws/http.c, blocking) and the tunnel WebSocket
 * (src/transport/ws.c, over libwebsockets). No I/O: the callers bring
 * their own BIOs and drive the handshake.
 *
 * The trust is always the system's CA directory (SSL_CERT_DIR, else
 * OpenSSL's default), looked up one certificate at a time rather than a
 * whole bundle parsed up front (0.9 MiB and 20 ms, bench/README.md), plus
 * the caller's CA file, which adds trust rather than replacing it.
 */
#ifndef IST_TLSCLIENT_H
#define IST_TLSCLIENT_H

#include <openssl/ssl.h>

#include "ist/ist.h"

struct ist_tlsclient_options {
	const char *ca_file; /* PEM certificates to trust too, or NULL */
	const char *alpn;    /* one protocol name ("http/1.1"), or NULL */
};

/*
 * Makes *out: TLS 1.2 or later, the peer verified, no renegotiation, and
 * plaintext wiped from OpenSSL's buffers (answers and requests carry
 * credentials and tokens). The caller frees it with SSL_CTX_free().
 * Returns 0; IST_ERR_CONFIG naming the CA file when it cannot be loaded;
 * IST_ERR_NOMEM; IST_ERR_TLS when the ALPN is refused. *out is NULL on
 * error.
 */
int ist_tlsclient_ctx_new(SSL_CTX **out, const struct ist_tlsclient_options *o,
    struct ist_err *e);

/*
 * The name the peer's certificate must carry: an IPv4 or IPv6 literal
 * (no brackets) as an IP address SAN, anything else as a DNS name
 * without partial wildcards ("a*.example.com" never matches), which also
 * goes out as SNI. Returns 0, or IST_ERR_TLS naming host.
 */
int ist_tlsclient_set_peer(SSL *ssl, const char *host, struct ist_err *e);

#endif
