/*
 * fuzz_http.c: hostile answers to the HTTP client's response parser
 * (src/aws/httpresp.c). The first byte picks the mode (bit 0: the head of
 * a CONNECT answer only; bit 1: then end of stream) and bits 2-7 a step:
 * the rest is fed in one piece and again in pieces of that size, and both
 * runs must agree, stay under the caps and keep *used honest. The same
 * bytes go to the tunnel's check of a proxy's answer to CONNECT
 * (ist_httpproxy_answer), whose verdict on every longer prefix must
 * keep the first one it gave.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "ist/httpproxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	int r;
	long status;
	size_t body_len;
	size_t used;
	char *body;
};

static void
one_run(const char *s, size_t n, size_t step, bool head_only, bool eof,
    struct run *out)
{
	struct http_parser p;
	struct ist_err e;
	size_t off = 0, used = 0;
	int r = 0;

	http_parser_init(&p, head_only);
	while (off < n) {
		size_t k = n - off < step ? n - off : step;

		r = http_parser_feed(&p, s + off, k, &used, &e);
		if (used > k || (r == 0 && used != k))
			abort();
		off += used;
		if (r != 0)
			break;
	}
	if (r == 0 && eof)
		r = http_parser_eof(&p, &e);
	if ((r == 1) != http_parser_done(&p) || p.body.len > HTTP_BODY_MAX ||
	    (r < 0 && r != IST_ERR_NET && r != IST_ERR_TOOBIG &&
	    r != IST_ERR_NOMEM))
		abort();
	out->r = r;
	out->status = p.status;
	out->body_len = p.body.len;
	out->used = off;
	out->body = NULL;
	if (r == 1) {
		out->body = malloc(p.body.len + 1);
		if (!out->body)
			abort();
		if (p.body.len)
			memcpy(out->body, p.body.s, p.body.len);
	}
	http_parser_free(&p);
}

static void
proxy_answer(const char *s, size_t n, size_t step)
{
	struct ist_err e;
	size_t head = 0, first_head = 0, k = 0;
	int status = 0, first_status = 0, first = 0, r;

	while (k < n) {
		k = n - k < step ? n : k + step;
		r = ist_httpproxy_answer(s, k, &head, &status, &e);
		if (r < 0 && r != IST_ERR_NET)
			abort();
		if (r == 1 && (head > k || head > IST_HTTPPROXY_ANSWER_MAX))
			abort();
		if (!first && r != 0) {
			first = r;
			first_head = head;
			first_status = status;
		} else if (first && (r != first || (r == 1 &&
		    (head != first_head || status != first_status)))) {
			abort();	/* more bytes changed a verdict */
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run a, b;
	size_t step;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] >> 2) + 1;
	one_run((const char *)data + 1, size - 1, size, data[0] & 1,
	    data[0] & 2, &a);
	one_run((const char *)data + 1, size - 1, step, data[0] & 1,
	    data[0] & 2, &b);
	/* Where the input is cut must not change the answer. */
	if (a.r != b.r || (a.r == 1 && (a.status != b.status ||
	    a.body_len != b.body_len || a.used != b.used ||
	    memcmp(a.body, b.body, a.body_len) != 0)))
		abort();
	free(a.body);
	free(b.body);
	proxy_answer((const char *)data + 1, size - 1, step);
	return 0;
}
