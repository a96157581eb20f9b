/*
 * fuzz_aws.c: hostile input to the AWS modules' parsers: the shared
 * config/credentials file format (src/aws/awsini.c) and SigV4 canonicalization
 * of arbitrary paths, queries and headers (src/aws/sigv4.c). The first byte
 * picks which.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws_int.h"
#include "ist/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_ini(const char *text, size_t len)
{
	struct ist_err e;
	struct ini *ini = NULL;

	if (ini_parse("fuzz", text, len, &ini, &e) != 0)
		return;
	/* Every section and first key parsed must be found again. */
	for (size_t i = 0; i < ini->nsec; i++) {
		const struct ini_section *s = ini_section(ini,
		    ini->sec[i].name);

		if (!s)
			abort();
		if (s->nkv && !ini_get(s, s->kv[0].key))
			abort();
	}
	ini_free(ini);
}

/* Lines: path, query, then "name:value" headers. */
static void
fuzz_sigv4(char *text)
{
	struct ist_header h[16];
	struct ist_sigv4_request req = { .method = "POST" };
	struct ist_sigv4_params p = { .access_key_id = "AKID",
		.secret_access_key = "secret", .region = "us-east-1",
		.service = "IoTSecuredTunneling", .now = 1440938160,
		.normalize_path = 1, .sign_session_token = 1,
		.session_token = "token" };
	struct ist_sigv4_result res;
	struct ist_err e;
	char *line, *next = text;
	size_t n = 0;

	line = next;
	next = strchr(line, '\n');
	if (next)
		*next++ = '\0';
	req.path = line;
	if (next) {
		line = next;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		req.query = line;
	}
	h[n++] = (struct ist_header){ "Host", "h" };
	while (next && n < 16) {
		char *colon;

		line = next;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		h[n++] = (struct ist_header){ line, colon + 1 };
	}
	req.headers = h;
	req.n_headers = n;
	if (ist_sigv4_sign(&req, &p, &res, &e) == 0) {
		/* Canonical requests are signed as they are: no NUL inside. */
		if (strlen(res.signature) != 64)
			abort();
		ist_sigv4_result_free(&res);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (size < 1 || size > 65536)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1)
		fuzz_sigv4(text);
	else
		fuzz_ini(text, size - 1);
	free(text);
	return 0;
}
