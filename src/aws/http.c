/*
 * http.c: one HTTP/1.1 request on its own connection (Connection: close),
 * for the API client and the credential sources: the calls are few, small
 * and seconds apart. Plain TCP or TLS 1.2+ over OpenSSL, directly or
 * through an HTTP proxy (CONNECT for https://, the absolute form for
 * http://). The answer is read by httpresp.c.
 *
 * TLS is always verified: the system's CA directory, looked up one
 * certificate at a time (not the whole bundle parsed), plus ca_file when
 * given, which adds trust rather than replacing it. The context, the
 * name check, the proxy's value and its CONNECT are made the way the
 * tunnel WebSocket makes them (ist/tlsclient.h, ist/httpproxy.h); the
 * I/O is ours.
 *
 * Every step is bounded: connect (and the proxy's CONNECT and the TLS
 * handshake) by connect_timeout_ms, everything by timeout_ms. Name
 * resolution is getaddrinfo's own.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "aws_int.h"
#include "ist/httpproxy.h"
#include "ist/tlsclient.h"

struct htx {
	const struct http_req *rq;
	struct ist_endpoint to;	 /* the URL's host */
	struct ist_httpproxy via; /* the proxy, when via_proxy (secret) */
	bool via_proxy;
	const char *target; /* path and query, from the URL */
	long long start;    /* CLOCK_MONOTONIC ms */
	long long deadline; /* 0: none */
	long long connect_deadline;
	int fd;
	BIO_METHOD *bm;
	SSL_CTX *ctx;
	SSL *ssl;
	bool verify_failed;
	bool ca_bad;
	char why[512];
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
fail(struct htx *x, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
fail(struct htx *x, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	return code;
}

/* "host:port", IPv6 in brackets. */
static void
host_port(const char *host, int port, char *out, size_t n)
{
	bool v6 = strchr(host, ':') != NULL;

	snprintf(out, n, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "",
	    port);
}

/* Waits for ev on fd until deadline: 0, or IST_ERR_TIMEOUT/_NET. */
static int
wait_fd(struct htx *x, short ev, long long deadline, const char *doing)
{
	struct pollfd pfd = { .fd = x->fd, .events = ev };
	int ms, n;

	for (;;) {
		ms = -1;
		if (deadline) {
			long long left = deadline - now_ms();

			if (left <= 0)
				return fail(x, IST_ERR_TIMEOUT, "%s: timed "
				    "out after %lld ms", doing, now_ms() -
				    x->start);
			ms = left > 60000 ? 60000 : (int)left;
		}
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return fail(x, IST_ERR_NET, "%s: poll: %s", doing,
			    strerror(errno));
	}
}

/* ---- a BIO over our non-blocking socket, without SIGPIPE ------------ */

static int
bio_write(BIO *b, const char *p, int n)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t w;

	BIO_clear_retry_flags(b);
	w = send(fd, p, (size_t)n, MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_write(b);
	return (int)w;
}

static int
bio_read(BIO *b, char *p, int n)
{
	int fd = (int)(intptr_t)BIO_get_data(b);
	ssize_t r;

	BIO_clear_retry_flags(b);
	r = recv(fd, p, (size_t)n, 0);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_read(b);
	return (int)r;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

/* ---- connecting ------------------------------------------------------ */

/* Tries each address in turn, each with its share of the time left. */
static int
tcp_connect(struct htx *x, const char *host, int to_port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL, *ai;
	char port[8], hp[300];
	int rc, err = 0, n = 0, i = 0, r;
	bool timed_out = false;

	host_port(host, to_port, hp, sizeof(hp));
	snprintf(port, sizeof(port), "%d", to_port);
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return fail(x, IST_ERR_NET, "cannot resolve %s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next)
		n++;
	for (ai = res; ai; ai = ai->ai_next, i++) {
		long long dl = x->connect_deadline;
		socklen_t sl = sizeof(err);

		if (dl && n - i > 1)
			dl = now_ms() + (dl - now_ms()) / (n - i);
		x->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (x->fd < 0) {
			err = errno;
			continue;
		}
		if (connect(x->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (err == EINPROGRESS) {
			r = wait_fd(x, POLLOUT, dl, "connect");
			if (r == 0 && getsockopt(x->fd, SOL_SOCKET, SO_ERROR,
			    &err, &sl) == 0 && err == 0)
				break;
			if (r == IST_ERR_TIMEOUT) {
				timed_out = true;
				err = ETIMEDOUT;
			}
		}
		close(x->fd);
		x->fd = -1;
	}
	freeaddrinfo(res);
	if (x->fd >= 0)
		return 0;
	if (timed_out)
		return fail(x, IST_ERR_TIMEOUT, "cannot connect to %s: no "
		    "answer after %lld ms", hp, now_ms() - x->start);
	return fail(x, IST_ERR_NET, "cannot connect to %s: %s", hp,
	    strerror(err ? err : ECONNREFUSED));
}

/* ---- I/O, plain or TLS ------------------------------------------------ */

static const char *
tls_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;

	return s ? s : "the peer closed the connection";
}

static int
io_write(struct htx *x, const char *p, size_t n, long long dl,
    const char *doing)
{
	while (n > 0) {
		size_t w = 0;
		int r;

		if (!x->ssl) {
			ssize_t s = send(x->fd, p, n, MSG_NOSIGNAL);

			if (s >= 0) {
				w = (size_t)s;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((r = wait_fd(x, POLLOUT, dl, doing)) < 0)
					return r;
			} else if (errno != EINTR) {
				return fail(x, IST_ERR_NET, "%s: %s", doing,
				    strerror(errno));
			}
		} else if (SSL_write_ex(x->ssl, p, n, &w) != 1) {
			switch (SSL_get_error(x->ssl, 0)) {
			case SSL_ERROR_WANT_READ:
				r = wait_fd(x, POLLIN, dl, doing);
				break;
			case SSL_ERROR_WANT_WRITE:
				r = wait_fd(x, POLLOUT, dl, doing);
				break;
			default:
				r = fail(x, IST_ERR_NET, "%s: %s", doing,
				    tls_reason());
			}
			if (r < 0)
				return r;
			w = 0;
		}
		p += w;
		n -= w;
	}
	return 0;
}

/* 0 with *got bytes, *got == 0 at the end of the stream. */
static int
io_read(struct htx *x, char *p, size_t n, size_t *got, long long dl,
    const char *doing)
{
	int r;

	*got = 0;
	for (;;) {
		if (!x->ssl) {
			ssize_t s = recv(x->fd, p, n, 0);

			if (s >= 0) {
				*got = (size_t)s;
				return 0;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((r = wait_fd(x, POLLIN, dl, doing)) < 0)
					return r;
			} else if (errno != EINTR) {
				return fail(x, IST_ERR_NET, "%s: %s", doing,
				    strerror(errno));
			}
			continue;
		}
		if (SSL_read_ex(x->ssl, p, n, got) == 1)
			return 0;
		switch (SSL_get_error(x->ssl, 0)) {
		case SSL_ERROR_ZERO_RETURN:
			*got = 0;
			return 0;
		case SSL_ERROR_WANT_READ:
			r = wait_fd(x, POLLIN, dl, doing);
			break;
		case SSL_ERROR_WANT_WRITE:
			r = wait_fd(x, POLLOUT, dl, doing);
			break;
		default:
			r = fail(x, IST_ERR_NET, "%s: %s", doing, tls_reason());
		}
		if (r < 0)
			return r;
	}
}

/* Reads one answer into p; leftover bytes after it are an error. */
static int
read_answer(struct htx *x, struct http_parser *p, long long dl,
    const char *doing)
{
	char buf[16384];
	struct ist_err pe;
	size_t got, used;
	int r;

	for (;;) {
		r = io_read(x, buf, sizeof(buf), &got, dl, doing);
		if (r < 0)
			break;
		if (got == 0) {
			r = http_parser_eof(p, &pe);
			if (r < 0)
				r = fail(x, pe.code, "%s: %s", doing, pe.msg);
			break;
		}
		r = http_parser_feed(p, buf, got, &used, &pe);
		if (r < 0) {
			r = fail(x, pe.code, "%s: %s", doing, pe.msg);
			break;
		}
		if (r == 1) {
			/* Nothing follows an answer we asked Connection:
			 * close for, and nothing follows a proxy's 200. */
			r = used == got || !p->head_only || p->status < 200 ||
			    p->status > 299 ? 0 : fail(x, IST_ERR_NET, "%s: "
			    "data after the answer", doing);
			break;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

/* ---- the proxy ----------------------------------------------------- */

static int
proxy_connect(struct htx *x)
{
	struct http_parser p;
	struct ist_err pe;
	char req[IST_HTTPPROXY_REQUEST_MAX];
	size_t n;
	int r;

	/* "Proxy-Connection" as curl sends it: the e2e proxy log tells the
	 * API client's CONNECT from the WebSocket's by it. */
	r = ist_httpproxy_connect_request(&x->via, x->to.host, x->to.port,
	    "Proxy-Connection: Keep-Alive\r\n", req, sizeof(req), &n, &pe);
	if (r < 0)
		return fail(x, r, "%s", pe.msg);
	r = io_write(x, req, n, x->connect_deadline, "sending CONNECT");
	OPENSSL_cleanse(req, sizeof(req));
	if (r < 0)
		return r;
	/* Read by the same parser as every answer (its limits and checks);
	 * the verdict is the one the WebSocket gives. */
	http_parser_init(&p, true);
	r = read_answer(x, &p, x->connect_deadline, "the answer to CONNECT");
	/* The status has three digits (httpresp.c). */
	if (r == 0 && ist_httpproxy_status((int)p.status, x->to.host,
	    x->to.port, &pe) < 0)
		r = fail(x, IST_ERR_NET, "the proxy %s", pe.msg);
	http_parser_free(&p);
	return r;
}

/* ---- TLS --------------------------------------------------------------- */

static int
tls_start(struct htx *x)
{
	const struct ist_tlsclient_options to = { .ca_file = x->rq->ca_file,
		.alpn = "http/1.1" };
	const char *doing = "TLS handshake";
	struct ist_err te;
	BIO *b;
	int r;

	ERR_clear_error();
	r = ist_tlsclient_ctx_new(&x->ctx, &to, &te);
	if (r < 0) {
		x->ca_bad = r == IST_ERR_CONFIG;
		return fail(x, r, "%s", te.msg);
	}
	x->ssl = SSL_new(x->ctx);
	x->bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "ist-socket");
	if (!x->ssl || !x->bm || BIO_meth_set_write(x->bm, bio_write) != 1 ||
	    BIO_meth_set_read(x->bm, bio_read) != 1 ||
	    BIO_meth_set_ctrl(x->bm, bio_ctrl) != 1 ||
	    !(b = BIO_new(x->bm)))
		return fail(x, IST_ERR_NOMEM, "cannot make a TLS connection");
	BIO_set_data(b, (void *)(intptr_t)x->fd);
	BIO_set_init(b, 1);
	SSL_set_bio(x->ssl, b, b);
	if ((r = ist_tlsclient_set_peer(x->ssl, x->to.host, &te)) < 0)
		return fail(x, r, "%s", te.msg);
	for (;;) {
		long v;

		if (SSL_connect(x->ssl) == 1)
			return 0;
		switch (SSL_get_error(x->ssl, 0)) {
		case SSL_ERROR_WANT_READ:
			r = wait_fd(x, POLLIN, x->connect_deadline, doing);
			break;
		case SSL_ERROR_WANT_WRITE:
			r = wait_fd(x, POLLOUT, x->connect_deadline, doing);
			break;
		default:
			v = SSL_get_verify_result(x->ssl);
			if (v != X509_V_OK) {
				x->verify_failed = true;
				return fail(x, IST_ERR_TLS, "the server's "
				    "certificate was refused: %s",
				    X509_verify_cert_error_string(v));
			}
			return fail(x, IST_ERR_TLS, "TLS handshake failed: %s",
			    tls_reason());
		}
		if (r < 0)
			return r;
	}
}

/* ---- the exchange ---------------------------------------------------- */

static bool
has_header(const char *const *h, const char *name)
{
	size_t n = strlen(name);

	for (; h && *h; h++)
		if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
			return true;
	return false;
}

/* Splits rq->url: x->to by awsconf.c's rules, x->target the rest. */
static int
parse_target(struct htx *x, struct ist_err *e)
{
	const char *url = x->rq->url, *s = strstr(url, "://");
	size_t alen;
	char *auth;
	int r;

	if (!s)
		return aws_parse_url(url, "http", "https", false, "URL",
		    &x->to, e);
	alen = (size_t)(s + 3 - url) + strcspn(s + 3, "/?#");
	auth = strndup(url, alen);
	if (!auth)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	r = aws_parse_url(auth, "http", "https", false, "URL", &x->to, e);
	free(auth);
	if (r < 0)
		return r;
	x->target = url + alen;
	for (const char *c = x->target; *c && *c != '#'; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return ist_err_set(e, IST_ERR_CONFIG, "URL %s: a space "
			    "or control character in it", url);
	return 0;
}

static int
send_request(struct htx *x)
{
	const struct http_req *rq = x->rq;
	size_t tl = strcspn(x->target, "#");
	struct dstr d;
	char hp[300];
	int r;

	for (const char *c = rq->method; *c; c++)
		if (*c < 'A' || *c > 'Z')
			return fail(x, IST_ERR_INVAL, "bad method");
	dstr_init(&d, rq->body_len + 65536);
	dstr_addf(&d, "%s ", rq->method);
	host_port(x->to.host, x->to.port, hp, sizeof(hp));
	if (x->via_proxy && !x->to.tls)
		dstr_addf(&d, "http://%s", hp);
	if (tl == 0 || *x->target != '/')
		dstr_addc(&d, '/');
	dstr_addn(&d, x->target, tl);
	dstr_add(&d, " HTTP/1.1\r\n");
	/* Host: the caller's when given, since it is what SigV4 signed. */
	if (!has_header(rq->headers, "Host")) {
		if (x->to.port == (x->to.tls ? 443 : 80))
			dstr_addf(&d, "Host: %s%s%s\r\n", strchr(x->to.host,
			    ':') ? "[" : "", x->to.host, strchr(x->to.host,
			    ':') ? "]" : "");
		else
			dstr_addf(&d, "Host: %s\r\n", hp);
	}
	for (const char *const *h = rq->headers; h && *h; h++) {
		if (strpbrk(*h, "\r\n") || !strchr(*h, ':')) {
			dstr_free(&d);
			return fail(x, IST_ERR_INVAL, "bad request header");
		}
		dstr_addf(&d, "%s\r\n", *h);
	}
	if (rq->body_len > 0 || strcmp(rq->method, "GET") != 0)
		dstr_addf(&d, "Content-Length: %zu\r\n", rq->body_len);
	if (x->via_proxy && !x->to.tls && x->via.basic[0])
		dstr_addf(&d, "Proxy-Authorization: Basic %s\r\n",
		    x->via.basic);
	dstr_add(&d, "Connection: close\r\n\r\n");
	if (rq->body_len)
		dstr_addn(&d, rq->body, rq->body_len);
	if (!dstr_ok(&d)) {
		dstr_free(&d);
		return fail(x, IST_ERR_NOMEM, "out of memory");
	}
	r = io_write(x, d.s, d.len, x->deadline, "sending the request");
	dstr_free(&d); /* wiped: it holds the session token */
	return r;
}

/* The message, as the libcurl-based version worded it. */
static int
report(const struct htx *x, int code, struct ist_err *e)
{
	const struct http_req *rq = x->rq;

	if (x->ca_bad)
		return ist_err_set(e, code, "%s %s: %s", rq->method, rq->url,
		    x->why);
	if (x->via_proxy && (code == IST_ERR_NET || code ==
	    IST_ERR_TIMEOUT)) {
		char px[300];

		/* Every connection goes to the proxy first: its failure is
		 * the proxy's (or the proxy's way on), not the service's. */
		host_port(x->via.host, x->via.port, px, sizeof(px));
		return ist_err_set(e, code, "%s %s: through the HTTPS proxy %s "
		    "(from HTTPS_PROXY/https_proxy): %s (check that proxy, or "
		    "list the host in NO_PROXY)", rq->method, rq->url, px,
		    x->why);
	}
	if (x->verify_failed)
		return ist_err_set(e, code, "%s %s: %s (a private or test CA: "
		    "trust it with --ca-file FILE or AWS_CA_BUNDLE)",
		    rq->method, rq->url, x->why);
	return ist_err_set(e, code, "%s %s: %s", rq->method, rq->url, x->why);
}

static long long
deadline_in(long long start, long ms)
{
	return ms > 0 ? start + ms : 0;
}

int
http_do(const struct http_req *rq, struct http_resp *rs, struct ist_err *e)
{
	struct htx x = { .rq = rq, .fd = -1, .target = "",
		.start = now_ms() };
	struct http_parser p;
	long long start = x.start;
	int r;

	memset(rs, 0, sizeof(*rs));
	http_parser_init(&p, false);
	x.deadline = deadline_in(start, rq->timeout_ms);
	/* curl's default, 300 s, when no connect timeout is given. */
	x.connect_deadline = deadline_in(start, rq->connect_timeout_ms > 0 ?
	    rq->connect_timeout_ms : 300000);
	if (x.deadline && x.connect_deadline > x.deadline)
		x.connect_deadline = x.deadline;
	if ((r = parse_target(&x, e)) < 0)
		goto out;
	if (rq->proxy && *rq->proxy) {
		if ((r = ist_httpproxy_parse(&x.via, rq->proxy, e)) < 0)
			goto out;
		x.via_proxy = true;
	}
	r = tcp_connect(&x, x.via_proxy ? x.via.host : x.to.host,
	    x.via_proxy ? x.via.port : x.to.port);
	if (r == 0 && x.via_proxy && x.to.tls)
		r = proxy_connect(&x);
	if (r == 0 && x.to.tls)
		r = tls_start(&x);
	if (r == 0)
		r = send_request(&x);
	if (r == 0)
		r = read_answer(&x, &p, x.deadline, "reading the answer");
	if (r < 0) {
		r = report(&x, r, e);
		goto out;
	}
	rs->status = p.status;
	rs->body_len = p.body.len;
	rs->body = dstr_take(&p.body);
	if (!rs->body) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = 0;
out:
	http_parser_free(&p);
	ist_httpproxy_clear(&x.via);
	SSL_free(x.ssl);
	SSL_CTX_free(x.ctx);
	BIO_meth_free(x.bm);
	if (x.fd >= 0)
		close(x.fd);
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
