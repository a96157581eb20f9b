/*
 * tlsclient.c: the client SSL_CTX and the peer name check (see
 * ist/tlsclient.h). No I/O.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ist/tlsclient.h"

int
ist_tlsclient_ctx_new(SSL_CTX **out, const struct ist_tlsclient_options *o,
    struct ist_err *e)
{
	const char *dir = getenv(X509_get_default_cert_dir_env());
	unsigned char alpn[256];
	SSL_CTX *ctx;
	size_t an;
	int r;

	*out = NULL;
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		r = ist_err_set(e, IST_ERR_NOMEM, "cannot make a TLS context");
		goto out;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		r = ist_err_set(e, IST_ERR_TLS, "cannot ask for TLS 1.2 or "
		    "later");
		goto out;
	}
	/* No SSL_OP_IGNORE_UNEXPECTED_EOF: an end without close_notify
	 * may be a cut-short answer, so it stays an error. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (o && o->alpn) {
		an = strlen(o->alpn);
		if (an == 0 || an > 255) {
			r = ist_err_set(e, IST_ERR_INVAL, "bad ALPN protocol "
			    "name");
			goto out;
		}
		alpn[0] = (unsigned char)an;
		memcpy(alpn + 1, o->alpn, an);
		/* 0 is success here, unlike the rest of OpenSSL. */
		if (SSL_CTX_set_alpn_protos(ctx, alpn, (unsigned)an + 1) != 0) {
			r = ist_err_set(e, IST_ERR_TLS, "cannot set up TLS "
			    "(ALPN %s)", o->alpn);
			goto out;
		}
	}
	if (!dir || !*dir)
		dir = X509_get_default_cert_dir();
	if (SSL_CTX_load_verify_dir(ctx, dir) != 1)
		ist_verbose("TLS: the system's CA directory %s could not be "
		    "used", dir);
	if (o && o->ca_file && SSL_CTX_load_verify_file(ctx, o->ca_file) != 1) {
		r = ist_err_set(e, IST_ERR_CONFIG, "cannot read CA file %s (a "
		    "PEM file of certificates)", o->ca_file);
		goto out;
	}
	*out = ctx;
	ctx = NULL;
	r = 0;
out:
	/* What failed is in the message; nothing stays queued for the
	 * next OpenSSL call to trip on. */
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return r;
}

int
ist_tlsclient_set_peer(SSL *ssl, const char *host, struct ist_err *e)
{
	X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
	unsigned char addr[16];
	int ok;

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1) {
		/* No SNI: RFC 6066 allows only names there. */
		ok = X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1;
	} else {
		X509_VERIFY_PARAM_set_hostflags(vp,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1 &&
		    SSL_set_tlsext_host_name(ssl, host) == 1;
	}
	if (!ok) {
		ERR_clear_error();
		return ist_err_set(e, IST_ERR_TLS, "cannot set up TLS for %s",
		    host);
	}
	return 0;
}
