/*
 * ist-bench-core: the protocol core alone, for instruction counts.
 *
 *   ist-bench-core MIB [CHUNK]
 *
 * A source session sends MIB MiB of DATA (ist_session_send_data, in
 * CHUNK-byte writes, 64 KiB by default as iot-ssh-proxy reads stdin);
 * every output chunk goes straight into a destination session
 * (ist_session_recv), whose on_data counts the payload. No I/O, no
 * WebSocket, no TLS: under `valgrind --tool=callgrind` the instructions
 * spent in those two functions, divided by the bytes, are the protocol
 * core's cost per byte, the same on every run (bench/run.sh runs it at
 * two sizes and takes the difference, so that set-up cancels out).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ist/session.h"

struct sink {
	unsigned long long got;
};

static void
on_data(struct ist_session *s, const char *service_id,
    uint32_t connection_id, const uint8_t *data, size_t len, void *ud)
{
	struct sink *k = ud;

	(void)s;
	(void)service_id;
	(void)connection_id;
	(void)data;
	k->got += len;
}

/* Hands all of src's output to dst, as the service would relay it. */
static int
drain(struct ist_session *src, struct ist_session *dst, struct ist_err *e)
{
	const uint8_t *p;
	size_t n;
	int r;

	while ((n = ist_session_peek_output(src, &p)) > 0) {
		r = ist_session_recv(dst, p, n, e);
		if (r < 0)
			return r;
		ist_session_consume_output(src, n);
	}
	return 0;
}

/* The service's SERVICE_IDS to the destination, as on the wire. */
static int
service_ids(struct ist_session *dst, struct ist_err *e)
{
	static const char *const ids[] = { "SSH" };
	struct ist_msg m = { .type = IST_MSG_SERVICE_IDS, .available = ids,
	    .n_available = 1 };
	uint8_t buf[64];
	int n;

	n = ist_frame_encode(&m, buf, sizeof(buf));
	if (n < 0)
		return ist_err_set(e, n, "cannot encode SERVICE_IDS");
	return ist_session_recv(dst, buf, (size_t)n, e);
}

static int
parse_size(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	v = strtoul(s, &end, 10);
	if (end == s || *end != '\0' || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct ist_session_options so = { .role = IST_ROLE_SOURCE,
	    .format = IST_FORMAT_V3 };
	struct ist_session_options dopt = { .role = IST_ROLE_DESTINATION };
	struct ist_session_callbacks dcb = { .on_data = on_data };
	struct ist_session *src = NULL, *dst = NULL;
	struct sink sink = { 0 };
	struct ist_err e = { 0 };
	unsigned long mib, chunk = 65536;
	unsigned long long total, sent = 0;
	uint8_t *buf = NULL;
	uint32_t conn = 0;
	int rc = 1, r;

	if (argc < 2 || argc > 3 || parse_size(argv[1], 4096, &mib) < 0 ||
	    (argc == 3 && parse_size(argv[2], 1ul << 20, &chunk) < 0)) {
		fprintf(stderr, "usage: ist-bench-core MIB (1..4096) "
		    "[CHUNK (bytes, up to 1 MiB)]\n");
		return 1;
	}
	total = (unsigned long long)mib << 20;
	buf = malloc(chunk);
	if (!buf) {
		fprintf(stderr, "ist-bench-core: out of memory\n");
		goto out;
	}
	/* Bytes of no importance, but not all zero. */
	for (size_t i = 0; i < chunk; i++)
		buf[i] = (uint8_t)(i * 131u + 7u);

	r = ist_session_new(&src, &so, NULL, NULL);
	if (r == 0)
		r = ist_session_new(&dst, &dopt, &dcb, &sink);
	if (r < 0) {
		fprintf(stderr, "ist-bench-core: cannot make the sessions "
		    "(%s)\n", ist_strerror(r));
		goto out;
	}
	if (service_ids(dst, &e) < 0 ||
	    ist_session_start_stream(src, "SSH", &conn, &e) < 0 ||
	    drain(src, dst, &e) < 0) {
		fprintf(stderr, "ist-bench-core: %s\n", e.msg);
		goto out;
	}
	while (sent < total) {
		size_t want = chunk, off = 0, acc;

		if (total - sent < want)
			want = (size_t)(total - sent);
		while (off < want) {
			acc = 0;
			if (ist_session_send_data(src, "SSH", conn, buf + off,
			    want - off, &acc, &e) < 0 ||
			    drain(src, dst, &e) < 0) {
				fprintf(stderr, "ist-bench-core: %s\n", e.msg);
				goto out;
			}
			off += acc;
		}
		sent += want;
	}
	if (sink.got != total) {
		fprintf(stderr, "ist-bench-core: sent %llu bytes, %llu "
		    "arrived\n", total, sink.got);
		goto out;
	}
	printf("%llu\n", sink.got);
	rc = 0;
out:
	ist_session_free(dst);
	ist_session_free(src);
	free(buf);
	return rc;
}
