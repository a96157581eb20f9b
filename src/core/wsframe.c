/* wsframe.c: WebSocket frames, RFC 6455 section 5 (stub: API only). */
#include "ist/wsframe.h"

size_t
ist_wsframe_header_size(uint64_t len, bool masked)
{
	(void)len;
	(void)masked;
	return 0;
}

int
ist_wsframe_header(uint8_t *out, size_t cap, bool fin, int opcode,
    uint64_t len, const uint8_t *mask_key)
{
	(void)out; (void)cap; (void)fin; (void)opcode; (void)len;
	(void)mask_key;
	return IST_ERR_UNSUPPORTED;
}

void
ist_wsframe_mask(uint8_t *data, size_t len, const uint8_t mask_key[4],
    uint64_t offset)
{
	(void)data; (void)len; (void)mask_key; (void)offset;
}

int
ist_wsframe_control(uint8_t *out, size_t cap, int opcode,
    const uint8_t *payload, size_t len, const uint8_t *mask_key)
{
	(void)out; (void)cap; (void)opcode; (void)payload; (void)len;
	(void)mask_key;
	return IST_ERR_UNSUPPORTED;
}

int
ist_wsframe_close(uint8_t *out, size_t cap, uint16_t code,
    const char *reason, size_t reason_len, const uint8_t *mask_key)
{
	(void)out; (void)cap; (void)code; (void)reason; (void)reason_len;
	(void)mask_key;
	return IST_ERR_UNSUPPORTED;
}

bool
ist_wsframe_close_code_valid(unsigned code)
{
	(void)code;
	return false;
}

bool
ist_wsframe_utf8_valid(const uint8_t *s, size_t len)
{
	(void)s; (void)len;
	return false;
}

int
ist_wsframe_decoder_new(struct ist_wsframe_decoder **out,
    const struct ist_wsframe_decoder_options *o)
{
	(void)o;
	*out = NULL;
	return IST_ERR_UNSUPPORTED;
}

void
ist_wsframe_decoder_free(struct ist_wsframe_decoder *d)
{
	(void)d;
}

int
ist_wsframe_decoder_feed(struct ist_wsframe_decoder *d, uint8_t *in,
    size_t len, size_t *consumed, struct ist_wsframe_event *ev,
    struct ist_err *e)
{
	(void)d; (void)in; (void)len; (void)ev;
	*consumed = 0;
	return ist_err_set(e, IST_ERR_UNSUPPORTED, "not yet");
}

enum ist_wsframe_fail
ist_wsframe_decoder_fail(const struct ist_wsframe_decoder *d)
{
	(void)d;
	return IST_WSFRAME_FAIL_NONE;
}

uint16_t
ist_wsframe_decoder_close_code(const struct ist_wsframe_decoder *d)
{
	(void)d;
	return 0;
}

bool
ist_wsframe_decoder_in_message(const struct ist_wsframe_decoder *d)
{
	(void)d;
	return false;
}

bool
ist_wsframe_decoder_closed(const struct ist_wsframe_decoder *d)
{
	(void)d;
	return false;
}
