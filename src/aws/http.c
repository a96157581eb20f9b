/*
 * http.c: one HTTP request over libcurl, for the API client and the
 * credential sources. TLS is always verified; ca_file adds trust to the
 * system store rather than replacing it.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "aws_int.h"

#define RESP_MAX (1024 * 1024)

struct sink {
	struct dstr d;
	bool toobig;
};

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
	struct sink *s = ud;

	dstr_addn(&s->d, p, n);
	if (!dstr_ok(&s->d)) {
		s->toobig = true;
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	}
	return n;
	(void)size;
}

/* Adds the CA file to the store curl already loaded with the defaults. */
static CURLcode
on_ssl_ctx(CURL *c, void *ctx, void *ud)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);

	(void)c;
	if (!st || X509_STORE_load_file(st, ud) != 1)
		return CURLE_SSL_CACERT_BADFILE;
	return CURLE_OK;
}

/* The proxy URL without user:password@, which may be a secret. */
static void
proxy_name(const char *url, char *out, size_t n)
{
	const char *host = strstr(url, "://"), *at;

	host = host ? host + 3 : url;
	at = strchr(host, '@');
	if (at && (!strchr(host, '/') || at < strchr(host, '/')))
		snprintf(out, n, "%.*s%s", (int)(host - url), url, at + 1);
	else
		snprintf(out, n, "%s", url);
}

static int
map_error(CURLcode rc, const struct http_req *rq, const char *detail,
    struct ist_err *e)
{
	const char *what = *detail ? detail : curl_easy_strerror(rc);
	int code;

	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		code = IST_ERR_TIMEOUT;
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		code = IST_ERR_TLS;
		break;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		code = IST_ERR_CONFIG;
		break;
	default:
		code = IST_ERR_NET;
	}
	if (rc == CURLE_SSL_CACERT_BADFILE && rq->ca_file)
		return ist_err_set(e, code, "%s %s: cannot load CA file %s",
		    rq->method, rq->url, rq->ca_file);
	if (rq->proxy && *rq->proxy && (rc == CURLE_COULDNT_RESOLVE_PROXY ||
	    rc == CURLE_COULDNT_CONNECT || rc == CURLE_RECV_ERROR ||
	    rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
	    rc == CURLE_OPERATION_TIMEDOUT)) {
		char px[256];

		/* Every connection goes to the proxy first: its failure is
		 * the proxy's (or the proxy's way on), not the service's. */
		proxy_name(rq->proxy, px, sizeof(px));
		return ist_err_set(e, code, "%s %s: through the HTTPS proxy %s "
		    "(from HTTPS_PROXY/https_proxy): %s (check that proxy, or "
		    "list the host in NO_PROXY)", rq->method, rq->url, px,
		    what);
	}
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return ist_err_set(e, code, "%s %s: %s (a private or test CA: "
		    "trust it with --ca-file FILE or AWS_CA_BUNDLE)",
		    rq->method, rq->url, what);
	return ist_err_set(e, code, "%s %s: %s", rq->method, rq->url, what);
}

int
http_do(const struct http_req *rq, struct http_resp *rs, struct ist_err *e)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL, *tmp;
	struct sink sink;
	CURL *c;
	CURLcode rc;
	int r;

	memset(rs, 0, sizeof(*rs));
	dstr_init(&sink.d, RESP_MAX);
	sink.toobig = false;
	c = curl_easy_init();
	if (!c)
		return ist_err_set(e, IST_ERR_NOMEM, "curl_easy_init failed");
	for (const char *const *h = rq->headers; h && *h; h++) {
		tmp = curl_slist_append(hl, *h);
		if (!tmp) {
			r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
			goto out;
		}
		hl = tmp;
	}
	/* libcurl adds these by itself: we sign exactly what is sent. */
	tmp = curl_slist_append(hl, "Expect:");
	if (tmp)
		hl = tmp;
	tmp = curl_slist_append(hl, "Accept:");
	if (tmp)
		hl = tmp;
	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, rq->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	/* Never libcurl's own reading of the proxy variables: ours only. */
	curl_easy_setopt(c, CURLOPT_PROXY, rq->proxy ? rq->proxy : "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "");
	if (rq->ca_file &&
	    (curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, rq->ca_file) !=
	    CURLE_OK))
		curl_easy_setopt(c, CURLOPT_CAINFO, rq->ca_file);
	if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS,
		    rq->body ? rq->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)rq->body_len);
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		if (sink.toobig)
			r = ist_err_set(e, IST_ERR_TOOBIG, "%s %s: answer over "
			    "%d bytes", rq->method, rq->url, RESP_MAX);
		else
			r = map_error(rc, rq, errbuf, e);
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
	rs->body = dstr_take(&sink.d);
	if (!rs->body) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	rs->body_len = strlen(rs->body);
	r = 0;
out:
	dstr_free(&sink.d);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return r;
}

void
http_resp_free(struct http_resp *rs)
{
	if (!rs)
		return;
	aws_free_secret(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
}
