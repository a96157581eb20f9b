/*
 * httpproxy.c: HTTPS_PROXY parsed, the CONNECT request made and the
 * proxy's answer checked (see ist/httpproxy.h). No I/O.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "aws_int.h"
#include "ist/httpproxy.h"

#define WHAT "the HTTPS proxy"

_Static_assert(sizeof(((struct ist_endpoint *)0)->host) ==
    sizeof(((struct ist_httpproxy *)0)->host), "host sizes");

/* "user:password" from userinfo u[0..n), each part percent-decoded,
 * then base64 (RFC 7617) into px->basic. */
static int
set_basic(struct ist_httpproxy *px, const char *u, size_t n,
    struct ist_err *e)
{
	const char *colon = memchr(u, ':', n);
	char *user = NULL, *pass = NULL;
	unsigned char raw[IST_HTTPPROXY_CREDS_MAX + 1];
	size_t ul, pl;
	int r;

	user = aws_uri_decode(u, colon ? (size_t)(colon - u) : n);
	pass = colon ? aws_uri_decode(colon + 1, n - (size_t)(colon - u) - 1) :
	    strdup("");
	if (!user || !pass) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	ul = strlen(user);
	pl = strlen(pass);
	if (ul + 1 + pl > IST_HTTPPROXY_CREDS_MAX) {
		r = ist_err_set(e, IST_ERR_CONFIG, WHAT "'s user name and "
		    "password are too long (over %u bytes)",
		    IST_HTTPPROXY_CREDS_MAX);
		goto out;
	}
	memcpy(raw, user, ul);
	raw[ul] = ':';
	memcpy(raw + ul + 1, pass, pl);
	EVP_EncodeBlock((unsigned char *)px->basic, raw, (int)(ul + 1 + pl));
	r = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	aws_free_secret(user);
	aws_free_secret(pass);
	return r;
}

int
ist_httpproxy_parse(struct ist_httpproxy *px, const char *value,
    struct ist_err *e)
{
	const char *s = value, *sep, *at = NULL, *hp, *he;
	struct ist_endpoint ep;
	size_t n, sl;
	int r;

	memset(px, 0, sizeof(*px));
	sep = strstr(s, "://");
	if (sep) {
		sl = (size_t)(sep - s);
		if (!(sl == 4 && strncasecmp(s, "http", 4) == 0) &&
		    !(sl == 5 && strncasecmp(s, "https", 5) == 0))
			return ist_err_set(e, IST_ERR_CONFIG, WHAT ": only "
			    "http:// proxies are supported");
		s = sep + 3;
	}
	/* The userinfo ends at the authority's last '@'. */
	n = strcspn(s, "/?#");
	for (size_t i = 0; i < n; i++)
		if (s[i] == '@')
			at = s + i;
	hp = at ? at + 1 : s;
	r = aws_parse_url(hp, "http", "https", true, WHAT, &ep, e);
	/* aws_parse_url takes a default port; a proxy has none. (After a
	 * parse, a '[' has its ']'.) */
	if (r == 0) {
		he = *hp == '[' ? strchr(hp, ']') + 1 : hp + strcspn(hp, ":/");
		if (*he != ':')
			r = ist_err_set(e, IST_ERR_CONFIG, WHAT " '%s': give "
			    "host:port", hp);
	}
	/* A message quotes what it refuses: never when an '@' we did not
	 * take as the end of a user name and password is in it (a value
	 * mistyped as "http:/user:pw@host" holds one all the same). */
	if (r < 0 && strchr(hp, '@'))
		return ist_err_set(e, r, WHAT ": not [http://][user:password"
		    "@]host:port (the value is not shown: it may hold a "
		    "password)");
	if (r < 0)
		return r;
	memcpy(px->host, ep.host, sizeof(px->host));
	px->port = ep.port;
	if (at && (r = set_basic(px, s, (size_t)(at - s), e)) < 0) {
		ist_httpproxy_clear(px);
		return r;
	}
	return 0;
}

void
ist_httpproxy_clear(struct ist_httpproxy *px)
{
	if (px)
		OPENSSL_cleanse(px, sizeof(*px));
}

int
ist_httpproxy_connect_request(const struct ist_httpproxy *px,
    const char *host, int port, const char *extra, char *out, size_t cap,
    size_t *len, struct ist_err *e)
{
	bool v6 = strchr(host, ':') != NULL, auth = px && px->basic[0];
	const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
	int n;

	*len = 0;
	if (!*host || strpbrk(host, "\r\n \t") || port < 1 || port > 65535)
		return ist_err_set(e, IST_ERR_INVAL, "CONNECT: bad host or "
		    "port");
	/* Host right after the request line: the e2e proxy logs look. */
	n = snprintf(out, cap, "CONNECT %s%s%s:%d HTTP/1.1\r\n"
	    "Host: %s%s%s:%d\r\n%s%s%s%s\r\n", lb, host, rb, port, lb, host, rb,
	    port, auth ? "Proxy-Authorization: Basic " : "",
	    auth ? px->basic : "", auth ? "\r\n" : "", extra ? extra : "");
	if (n < 0 || (size_t)n >= cap) {
		if (cap)
			OPENSSL_cleanse(out, cap);
		return ist_err_set(e, IST_ERR_TOOBIG, "the CONNECT request "
		    "for %s%s%s:%d does not fit in %zu bytes", lb, host, rb,
		    port, cap);
	}
	*len = (size_t)n;
	return 0;
}

int
ist_httpproxy_answer(const void *p, size_t n, size_t *head_len,
    int *status, struct ist_err *e)
{
	const unsigned char *b = p;
	size_t m = n < IST_HTTPPROXY_ANSWER_MAX ? n :
	    IST_HTTPPROXY_ANSWER_MAX, hl = 0;
	int st = 0;

	*head_len = 0;
	*status = 0;
	for (size_t j = 0; j + 4 <= m && !hl; j++)
		if (memcmp(b + j, "\r\n\r\n", 4) == 0)
			hl = j + 4;
	if (!hl) {
		if (n >= IST_HTTPPROXY_ANSWER_MAX)
			return ist_err_set(e, IST_ERR_NET, "sent an answer "
			    "over %u bytes to CONNECT",
			    IST_HTTPPROXY_ANSWER_MAX);
		return 0;
	}
	/* "HTTP/1.x NNN" and then a space or the line's end. */
	if (hl < 16 || memcmp(b, "HTTP/1.", 7) != 0 || b[7] < '0' ||
	    b[7] > '9' || b[8] != ' ' || (b[12] != ' ' && b[12] != '\r'))
		goto bad;
	for (int i = 9; i < 12; i++) {
		if (b[i] < '0' || b[i] > '9')
			goto bad;
		st = st * 10 + (b[i] - '0');
	}
	if (st < 100)
		goto bad;
	*head_len = hl;
	*status = st;
	return 1;
bad:
	return ist_err_set(e, IST_ERR_NET, "did not answer CONNECT in "
	    "HTTP/1.x");
}

int
ist_httpproxy_status(int status, const char *host, int port,
    struct ist_err *e)
{
	bool v6 = strchr(host, ':') != NULL;

	if (status >= 200 && status <= 299)
		return 0;
	return ist_err_set(e, IST_ERR_NET, "refused CONNECT to %s%s%s:%d "
	    "with HTTP %d%s", v6 ? "[" : "", host, v6 ? "]" : "", port,
	    status, status == 407 ? " (it wants credentials: put them in "
	    "HTTPS_PROXY as http://user:password@host:port)" : "");
}
