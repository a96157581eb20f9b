/*
 * sigv4.h: AWS Signature Version 4, header signing, with no I/O.
 * Used by the API client to sign and by the emulator to verify.
 */
#ifndef IST_SIGV4_H
#define IST_SIGV4_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ist/ist.h"

struct ist_header {
	const char *name;
	const char *value;
};

/* A request as it goes on the wire. path and query are already encoded. */
struct ist_sigv4_request {
	const char *method;
	const char *path;  /* e.g. "/" */
	const char *query; /* without '?', "" or NULL when none */
	const struct ist_header *headers; /* must include host */
	size_t n_headers;
	const uint8_t *body;
	size_t body_len;
};

struct ist_sigv4_params {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL when none */
	const char *region;
	const char *service; /* "IoTSecuredTunneling" */
	time_t now;
	/* Normalize the URI path (every service but S3). */
	int normalize_path;
	/* Sign the session token (it is then added before signing). */
	int sign_session_token;
	/*
	 * Only for verifying: sign exactly these lowercase header names
	 * (";"-separated, as in SignedHeaders) instead of all of them.
	 */
	const char *signed_headers;
};

/* Sizes that always suffice for the outputs below. */
#define IST_SIGV4_AMZDATE_LEN 17 /* "20150830T123600Z" + NUL */
#define IST_SIGV4_SIG_LEN 65	 /* hex HMAC-SHA256 + NUL */

/*
 * Outputs of signing. The caller adds these headers to the request:
 * X-Amz-Date: amz_date, Authorization: authorization, and
 * X-Amz-Security-Token when a session token is set.
 * canonical_request and string_to_sign are kept for tests and debug3
 * logs (they hold no secret).
 */
struct ist_sigv4_result {
	char amz_date[IST_SIGV4_AMZDATE_LEN];
	char signature[IST_SIGV4_SIG_LEN];
	char *authorization;	 /* malloc'd */
	char *canonical_request; /* malloc'd */
	char *string_to_sign;	 /* malloc'd */
};

int ist_sigv4_sign(const struct ist_sigv4_request *req,
    const struct ist_sigv4_params *p, struct ist_sigv4_result *out,
    struct ist_err *e);
void ist_sigv4_result_free(struct ist_sigv4_result *r);

/* Lowercase hex SHA-256 of data into out[65]. */
void ist_sha256_hex(const void *data, size_t len, char out[65]);

#endif
