/*
 * fuzz_api.c: hostile answers from the IoT Secure Tunneling API and from
 * credential sources: what src/aws/api.c makes of an answer to each
 * operation at any HTTP status (aws_api_answer), and the credentials JSON
 * of credential_process, the container endpoint and IMDS
 * (aws_creds_parse_json). Input: byte 0 picks the operation or the
 * credentials source, byte 1 the status class, the rest is the body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ops[] = { "OpenTunnel", "DescribeTunnel",
		"CloseTunnel", "RotateTunnelAccessToken", "ListTunnels" };
	static const long status[] = { 200, 400, 403, 404, 429, 500, 503,
		204 };
	struct ist_creds c;
	struct ist_err e;
	char *body;
	int r;

	if (size < 2)
		return 0;
	body = malloc(size - 1);
	if (!body)
		return 0;
	memcpy(body, data + 2, size - 2);
	body[size - 2] = '\0';
	ist_err_clear(&e);
	if (data[0] < 0xf0) {
		r = aws_api_answer(ops[data[0] % 5], status[data[1] % 8], body,
		    &e);
		/* An error always says something, and nothing unprintable. */
		if (r < 0 && !e.msg[0])
			abort();
	} else {
		memset(&c, 0, sizeof(c));
		r = aws_creds_parse_json(&c, body, data[1] & 1, "fuzz", &e);
		if (r == 0 && (!c.access_key_id || !*c.access_key_id ||
		    !c.secret_access_key || !*c.secret_access_key))
			abort();
		ist_creds_clear(&c);
	}
	free(body);
	return 0;
}
