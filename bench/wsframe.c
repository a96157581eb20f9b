/*
 * ist-bench-ws: the WebSocket frame codec alone, for instruction counts.
 *
 *   ist-bench-ws mask|client|server MIB
 *
 * mask:   ist_wsframe_mask() over a 64 KiB buffer, MIB * 16 times, each
 *         time at another offset (as a client masks its frames);
 * client: ist_wsframe_decoder_feed() in the client role over MIB * 16
 *         unmasked binary frames of 64 KiB (the service's frames to
 *         iot-ssh-proxy or iot-tunnel-agent), in one buffer fed in 64 KiB
 *         reads;
 * server: the same with masked frames in the server role (the decoder
 *         unmasks in place), re-masked before every pass.
 * Under `valgrind --tool=callgrind`, the difference of the instruction
 * counts at two sizes divided by the difference of the bytes is the cost
 * per payload byte, with set-up cancelled out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ist/wsframe.h"

#define PAYLOAD 65536u
#define FRAMES 16u	/* frames per buffer: 1 MiB of payload */

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

static int
usage(void)
{
	fprintf(stderr, "usage: ist-bench-ws mask|client|server MIB "
	    "(1..4096)\n");
	return 1;
}

/* FRAMES frames of PAYLOAD bytes each into buf; returns the length. */
static size_t
build(uint8_t *buf, bool masked)
{
	size_t n = 0, f, i;
	int h;

	for (f = 0; f < FRAMES; f++) {
		h = ist_wsframe_header(buf + n, IST_WSFRAME_MAX_HEADER, true,
		    IST_WS_OP_BINARY, PAYLOAD, masked ? key : NULL);
		if (h < 0)
			return 0;
		n += (size_t)h;
		for (i = 0; i < PAYLOAD; i++)
			buf[n + i] = (uint8_t)(i * 131u + 7u);
		if (masked)
			ist_wsframe_mask(buf + n, PAYLOAD, key, 0);
		n += PAYLOAD;
	}
	return n;
}

int
main(int argc, char **argv)
{
	struct ist_wsframe_decoder_options o = { IST_WSFRAME_CLIENT, 0, 0,
	    NULL };
	struct ist_wsframe_decoder *d = NULL;
	unsigned long long got = 0;
	unsigned long mib, pass;
	bool masked;
	uint8_t *buf, *copy = NULL;
	size_t len;
	char *end;
	int rc = 1;

	if (argc != 3)
		return usage();
	mib = strtoul(argv[2], &end, 10);
	if (end == argv[2] || *end || mib == 0 || mib > 4096)
		return usage();
	buf = malloc(FRAMES * (PAYLOAD + IST_WSFRAME_MAX_HEADER));
	if (!buf)
		return 1;
	if (strcmp(argv[1], "mask") == 0) {
		for (pass = 0; pass < mib * FRAMES; pass++) {
			ist_wsframe_mask(buf, PAYLOAD, key, pass);
			got += PAYLOAD;
		}
		printf("%llu %u\n", got, buf[pass & 0xffff]);
		rc = 0;
		goto out;
	}
	if (strcmp(argv[1], "client") == 0)
		masked = false;
	else if (strcmp(argv[1], "server") == 0)
		masked = true;
	else
		goto usage;
	o.role = masked ? IST_WSFRAME_SERVER : IST_WSFRAME_CLIENT;
	len = build(buf, masked);
	copy = malloc(len);
	if (!len || !copy || ist_wsframe_decoder_new(&d, &o) < 0)
		goto out;
	memcpy(copy, buf, len);
	for (pass = 0; pass < mib; pass++) {
		size_t pos = 0;

		/* The server role unmasked the last pass in place. */
		if (masked && pass)
			memcpy(buf, copy, len);
		while (pos < len) {
			size_t end_read = pos + PAYLOAD < len ? pos + PAYLOAD :
			    len;

			while (pos < end_read) {
				struct ist_wsframe_event ev;
				struct ist_err e;
				size_t used;
				int r;

				r = ist_wsframe_decoder_feed(d, buf + pos,
				    end_read - pos, &used, &ev, &e);
				if (r < 0) {
					fprintf(stderr, "ist-bench-ws: %s\n",
					    e.msg);
					goto out;
				}
				if (r == 1 && ev.type == IST_WSFRAME_EV_DATA)
					got += ev.len;
				pos += used;
			}
		}
	}
	if (got != (unsigned long long)mib * FRAMES * PAYLOAD) {
		fprintf(stderr, "ist-bench-ws: %llu bytes decoded\n", got);
		goto out;
	}
	printf("%llu\n", got);
	rc = 0;
	goto out;
usage:
	rc = usage();
out:
	ist_wsframe_decoder_free(d);
	free(copy);
	free(buf);
	return rc;
}
