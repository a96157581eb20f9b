/* wshandshake.c: the WebSocket upgrade, RFC 6455 section 4 (stub). */
#include "ist/wshandshake.h"

int
ist_wshandshake_accept_key(const char *key, size_t key_len,
    char out[IST_WSHANDSHAKE_ACCEPT_LEN + 1])
{
	(void)key; (void)key_len;
	out[0] = '\0';
	return IST_ERR_UNSUPPORTED;
}

int
ist_wshandshake_client_request(const struct ist_wshandshake_client *c,
    char *out, size_t cap, size_t *len, struct ist_err *e)
{
	(void)c; (void)out; (void)cap;
	*len = 0;
	return ist_err_set(e, IST_ERR_UNSUPPORTED, "not yet");
}

int
ist_wshandshake_response_new(struct ist_wshandshake_response **out,
    const struct ist_wshandshake_client *c, size_t max_head,
    const struct ist_mem *mem)
{
	(void)c; (void)max_head; (void)mem;
	*out = NULL;
	return IST_ERR_UNSUPPORTED;
}

void
ist_wshandshake_response_free(struct ist_wshandshake_response *r)
{
	(void)r;
}

int
ist_wshandshake_response_feed(struct ist_wshandshake_response *r,
    const uint8_t *in, size_t len, size_t *consumed, struct ist_err *e)
{
	(void)r; (void)in; (void)len;
	*consumed = 0;
	return ist_err_set(e, IST_ERR_UNSUPPORTED, "not yet");
}

int
ist_wshandshake_response_status(const struct ist_wshandshake_response *r)
{
	(void)r;
	return 0;
}

const char *
ist_wshandshake_response_reason(const struct ist_wshandshake_response *r)
{
	(void)r;
	return "";
}

const char *
ist_wshandshake_response_header(const struct ist_wshandshake_response *r,
    const char *name, size_t *count)
{
	(void)r; (void)name;
	if (count)
		*count = 0;
	return NULL;
}

int
ist_wshandshake_request_new(struct ist_wshandshake_request **out,
    size_t max_head, const struct ist_mem *mem)
{
	(void)max_head; (void)mem;
	*out = NULL;
	return IST_ERR_UNSUPPORTED;
}

void
ist_wshandshake_request_free(struct ist_wshandshake_request *q)
{
	(void)q;
}

int
ist_wshandshake_request_feed(struct ist_wshandshake_request *q,
    const uint8_t *in, size_t len, size_t *consumed, struct ist_err *e)
{
	(void)q; (void)in; (void)len;
	*consumed = 0;
	return ist_err_set(e, IST_ERR_UNSUPPORTED, "not yet");
}

int
ist_wshandshake_request_fail_status(const struct ist_wshandshake_request *q)
{
	(void)q;
	return 0;
}

const char *
ist_wshandshake_request_method(const struct ist_wshandshake_request *q)
{
	(void)q;
	return NULL;
}

const char *
ist_wshandshake_request_target(const struct ist_wshandshake_request *q)
{
	(void)q;
	return NULL;
}

const char *
ist_wshandshake_request_path(const struct ist_wshandshake_request *q)
{
	(void)q;
	return NULL;
}

const char *
ist_wshandshake_request_query(const struct ist_wshandshake_request *q)
{
	(void)q;
	return NULL;
}

const char *
ist_wshandshake_request_header(const struct ist_wshandshake_request *q,
    const char *name, size_t *count)
{
	(void)q; (void)name;
	if (count)
		*count = 0;
	return NULL;
}

const char *
ist_wshandshake_request_key(const struct ist_wshandshake_request *q)
{
	(void)q;
	return NULL;
}

const char *
ist_wshandshake_request_protocol(const struct ist_wshandshake_request *q,
    size_t i)
{
	(void)q; (void)i;
	return NULL;
}

int
ist_wshandshake_accept(const char *key, const char *protocol,
    const struct ist_wshandshake_header *headers, size_t n_headers,
    char *out, size_t cap, size_t *len, struct ist_err *e)
{
	(void)key; (void)protocol; (void)headers; (void)n_headers;
	(void)out; (void)cap;
	*len = 0;
	return ist_err_set(e, IST_ERR_UNSUPPORTED, "not yet");
}

int
ist_wshandshake_refuse(int status,
    const struct ist_wshandshake_header *headers, size_t n_headers,
    const char *body, size_t body_len, char *out, size_t cap, size_t *len,
    struct ist_err *e)
{
	(void)status; (void)headers; (void)n_headers; (void)body;
	(void)body_len; (void)out; (void)cap;
	*len = 0;
	return ist_err_set(e, IST_ERR_UNSUPPORTED, "not yet");
}
