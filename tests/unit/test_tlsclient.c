/*
 * test_tlsclient.c: the client context (the CA file: missing, not PEM,
 * good) and the peer name check, run by OpenSSL's own verification
 * against a certificate made here: names, wildcards (no partial ones),
 * IPv4 and IPv6 addresses, SNI only for names.
 */
#define _GNU_SOURCE 1 /* nftw, in aws_testutil.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "aws_testutil.h"
#include "ist/tlsclient.h"

/* A self-signed CA certificate with the SANs the name tests look for. */
static X509 *
make_cert(EVP_PKEY **key)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *name;

	*key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(*key);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_int_equal(X509_set_pubkey(x, *key), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test CA", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	    "critical,CA:TRUE");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
	    "DNS:api.example.test, DNS:*.w.example.test, "
	    "DNS:f*.p.example.test, IP:127.0.0.1, IP:fd00::1");
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, *key, EVP_sha256()) > 0);
	return x;
}

static void
test_ca_file(void **state)
{
	struct ist_tlsclient_options o = { .alpn = "http/1.1" };
	struct ist_err e;
	SSL_CTX *ctx = (SSL_CTX *)1;
	EVP_PKEY *key;
	X509 *x;
	char path[600];
	FILE *f;

	(void)state;
	/* Missing: a config error that names the file. */
	o.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(ist_tlsclient_ctx_new(&ctx, &o, &e), IST_ERR_CONFIG);
	assert_null(ctx);
	assert_non_null(strstr(e.msg, "/nonexistent/ca.pem"));
	assert_non_null(strstr(e.msg, "PEM"));
	/* Not PEM: the same. */
	tu_write("ca.pem", "not a certificate\n", 0600);
	snprintf(path, sizeof(path), "%s/ca.pem", tu_home);
	o.ca_file = path;
	assert_int_equal(ist_tlsclient_ctx_new(&ctx, &o, &e), IST_ERR_CONFIG);
	assert_null(ctx);
	assert_non_null(strstr(e.msg, path));
	/* A good one. */
	x = make_cert(&key);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	assert_int_equal(ist_tlsclient_ctx_new(&ctx, &o, &e), 0);
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
	assert_true(SSL_CTX_get_options(ctx) & SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_free(ctx);
	/* No CA file, no ALPN: the system's CAs alone. */
	assert_int_equal(ist_tlsclient_ctx_new(&ctx, NULL, &e), 0);
	SSL_CTX_free(ctx);
	o.ca_file = NULL;
	o.alpn = "";
	assert_int_equal(ist_tlsclient_ctx_new(&ctx, &o, &e), IST_ERR_INVAL);
	assert_null(ctx);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* OpenSSL's verdict on x for the name ist_tlsclient_set_peer() set,
 * and the SNI it would send. */
static int
verify_as(X509 *x, const char *host, const char **sni)
{
	struct ist_tlsclient_options o = { .alpn = "http/1.1" };
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	struct ist_err e;
	SSL_CTX *ctx;
	SSL *ssl;
	int v;

	assert_int_equal(ist_tlsclient_ctx_new(&ctx, &o, &e), 0);
	ssl = SSL_new(ctx);
	assert_non_null(ssl);
	assert_int_equal(ist_tlsclient_set_peer(ssl, host, &e), 0);
	*sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	*sni = *sni ? strdup(*sni) : NULL;
	assert_non_null(store);
	assert_non_null(sc);
	assert_int_equal(X509_STORE_add_cert(store, x), 1);
	assert_int_equal(X509_STORE_CTX_init(sc, store, x, NULL), 1);
	assert_int_equal(X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(sc),
	    SSL_get0_param(ssl)), 1);
	v = X509_verify_cert(sc) == 1 ? X509_V_OK :
	    X509_STORE_CTX_get_error(sc);
	X509_STORE_CTX_free(sc);
	X509_STORE_free(store);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return v;
}

static void
expect_peer(X509 *x, const char *host, int want, const char *want_sni)
{
	const char *sni;
	int v = verify_as(x, host, &sni);

	if (v != want)
		fail_msg("%s: %s", host, X509_verify_cert_error_string(v));
	if (want_sni)
		assert_string_equal(sni, want_sni);
	else
		assert_null(sni);
	free((char *)sni);
}

static void
test_peer_names(void **state)
{
	EVP_PKEY *key;
	X509 *x = make_cert(&key);

	(void)state;
	expect_peer(x, "api.example.test", X509_V_OK, "api.example.test");
	expect_peer(x, "API.Example.Test", X509_V_OK, "API.Example.Test");
	expect_peer(x, "other.example.test", X509_V_ERR_HOSTNAME_MISMATCH,
	    "other.example.test");
	expect_peer(x, "a.w.example.test", X509_V_OK, "a.w.example.test");
	/* One label only, and never a partial wildcard. */
	expect_peer(x, "a.b.w.example.test", X509_V_ERR_HOSTNAME_MISMATCH,
	    "a.b.w.example.test");
	expect_peer(x, "foo.p.example.test", X509_V_ERR_HOSTNAME_MISMATCH,
	    "foo.p.example.test");
	/* Addresses are checked as addresses, and get no SNI. */
	expect_peer(x, "127.0.0.1", X509_V_OK, NULL);
	expect_peer(x, "127.0.0.2", X509_V_ERR_IP_ADDRESS_MISMATCH, NULL);
	expect_peer(x, "fd00::1", X509_V_OK, NULL);
	expect_peer(x, "fd00:0:0::1", X509_V_OK, NULL);
	expect_peer(x, "fd00::2", X509_V_ERR_IP_ADDRESS_MISMATCH, NULL);
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
test_peer_refused(void **state)
{
	struct ist_err e;
	SSL_CTX *ctx;
	SSL *ssl;

	(void)state;
	assert_int_equal(ist_tlsclient_ctx_new(&ctx, NULL, &e), 0);
	ssl = SSL_new(ctx);
	assert_non_null(ssl);
	/* Not a valid host name for SNI (over 255 bytes). */
	{
		char host[300];

		memset(host, 'a', sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		assert_int_equal(ist_tlsclient_set_peer(ssl, host, &e),
		    IST_ERR_TLS);
		assert_non_null(strstr(e.msg, "cannot set up TLS for aaa"));
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ca_file, tu_setup,
		    tu_teardown),
		cmocka_unit_test(test_peer_names),
		cmocka_unit_test(test_peer_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
