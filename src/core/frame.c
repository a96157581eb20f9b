/*
 * frame.c: tunnel frames, a 2-byte big-endian length then a protobuf
 * Message (docs/protocol.md section 2.2), with no I/O.
 *
 * Decoding goes through protobuf-c, with an allocator backed by a fixed
 * per-decoder arena that is reset for every message: the data path never
 * calls malloc. A cheap walk over the wire bytes runs first; it bounds the
 * number of fields (so that the arena size is a true upper bound), refuses
 * a payload over the limit before anything is copied and gives precise
 * error messages.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ist/frame.h"
#include "message.pb-c.h"

/* Short names for protoc-c's generated ones (no typedef of our own). */
#define pbmsg struct Com__Amazonaws__Iot__Securedtunneling__Message
#define PBMSG_INIT COM__AMAZONAWS__IOT__SECUREDTUNNELING__MESSAGE__INIT
#define PB_FN(x) com__amazonaws__iot__securedtunneling__message__##x
#define pbmsg_size PB_FN(get_packed_size)
#define pbmsg_pack PB_FN(pack)
#define pbmsg_unpack PB_FN(unpack)

#define MAX_BODY 65535u
#define ALIGN 16u

/*
 * What protobuf-c's unpack allocates for a body of at most MAX_BODY bytes
 * and IST_FRAME_MAX_FIELDS fields: the message struct, scan slabs that
 * double in size (under 2 entries of <= 48 bytes per field), the arrays of
 * repeated strings and unknown fields (<= 8 and <= 32 bytes per field),
 * copies of the length-delimited data (<= MAX_BODY bytes in all, plus a
 * NUL per string) and alignment slack per allocation.
 */
#define ARENA_SIZE (1024u + MAX_BODY + \
    IST_FRAME_MAX_FIELDS * (2u * 48u + 8u + 32u + 1u + 2u * ALIGN) + \
    32u * ALIGN)

struct arena {
	uint8_t *base;
	size_t used;
	size_t cap;
	bool exhausted;
};

struct ist_frame_decoder {
	struct ist_mem mem;
	uint8_t hdr[2];
	size_t hdr_have;
	size_t need;		/* body length from the prefix */
	size_t have;		/* body bytes gathered in frame[] */
	bool failed;
	uint8_t *frame;		/* MAX_BODY bytes: a body split across feeds */
	struct arena arena;
	ProtobufCAllocator pballoc;
};

static void *
std_malloc(size_t size, void *ud)
{
	(void)ud;
	return malloc(size);
}

static void
std_free(void *p, void *ud)
{
	(void)ud;
	free(p);
}

static const struct ist_mem std_mem = { std_malloc, std_free, NULL };

const struct ist_mem *
ist_mem_default(void)
{
	return &std_mem;
}

const char *
ist_msg_type_name(int type)
{
	switch (type) {
	case IST_MSG_UNKNOWN: return "UNKNOWN";
	case IST_MSG_DATA: return "DATA";
	case IST_MSG_STREAM_START: return "STREAM_START";
	case IST_MSG_STREAM_RESET: return "STREAM_RESET";
	case IST_MSG_SESSION_RESET: return "SESSION_RESET";
	case IST_MSG_SERVICE_IDS: return "SERVICE_IDS";
	case IST_MSG_CONNECTION_START: return "CONNECTION_START";
	case IST_MSG_CONNECTION_RESET: return "CONNECTION_RESET";
	}
	return "unknown type";
}

/* ---- encoding ---- */

/*
 * Fills p from m. protobuf-c wants non-const pointers but only reads
 * them when packing. Absent strings become "" (proto3 leaves those out).
 */
static void
to_pb(const struct ist_msg *m, pbmsg *p)
{
	pbmsg init = PBMSG_INIT;

	*p = init;
	p->type = (Com__Amazonaws__Iot__Securedtunneling__Message__Type)m->type;
	p->streamid = m->stream_id;
	p->ignorable = m->ignorable ? 1 : 0;
	p->payload.len = m->payload_len;
	p->payload.data = (uint8_t *)(uintptr_t)m->payload;
	p->serviceid = (char *)(uintptr_t)(m->service_id ? m->service_id : "");
	p->n_availableserviceids = m->n_available;
	p->availableserviceids = (char **)(uintptr_t)m->available;
	p->connectionid = m->connection_id;
}

static bool
strings_ok(const struct ist_msg *m)
{
	if (m->n_available && !m->available)
		return false;
	for (size_t i = 0; i < m->n_available; i++)
		if (!m->available[i])
			return false;
	return !(m->payload_len && !m->payload);
}

size_t
ist_frame_size(const struct ist_msg *m)
{
	pbmsg p;

	if (!m || !strings_ok(m))
		return 0;
	to_pb(m, &p);
	return 2 + pbmsg_size(&p);
}

int
ist_frame_encode(const struct ist_msg *m, uint8_t *out, size_t cap)
{
	pbmsg p;
	size_t body, n;

	if (!m || !out || !strings_ok(m))
		return IST_ERR_INVAL;
	if (m->payload_len > IST_MAX_PAYLOAD)
		return IST_ERR_TOOBIG;
	to_pb(m, &p);
	body = pbmsg_size(&p);
	if (body > MAX_BODY || body + 2 > cap)
		return IST_ERR_TOOBIG;
	out[0] = (uint8_t)(body >> 8);
	out[1] = (uint8_t)(body & 0xff);
	n = pbmsg_pack(&p, out + 2);
	if (n != body)
		return IST_ERR_INVAL; /* cannot happen: size and pack agree */
	return (int)(body + 2);
}

/* ---- decoding ---- */

static void *
arena_alloc(void *ud, size_t size)
{
	struct arena *a = ud;
	size_t start = (a->used + ALIGN - 1) & ~(size_t)(ALIGN - 1);

	if (start > a->cap || size > a->cap - start) {
		a->exhausted = true;
		return NULL;
	}
	a->used = start + size;
	return a->base + start;
}

static void
arena_free(void *ud, void *p)
{
	/* The whole arena is reset before the next message. */
	(void)ud;
	(void)p;
}

int
ist_frame_decoder_new(struct ist_frame_decoder **out)
{
	return ist_frame_decoder_new2(out, NULL);
}

int
ist_frame_decoder_new2(struct ist_frame_decoder **out,
    const struct ist_mem *mem)
{
	struct ist_frame_decoder *d = NULL;
	int r = IST_ERR_NOMEM;

	if (!out)
		return IST_ERR_INVAL;
	*out = NULL;
	if (!mem)
		mem = &std_mem;
	if (!(d = mem->malloc(sizeof(*d), mem->ud)))
		goto out;
	memset(d, 0, sizeof(*d));
	d->mem = *mem;
	if (!(d->frame = mem->malloc(MAX_BODY, mem->ud)))
		goto out;
	if (!(d->arena.base = mem->malloc(ARENA_SIZE, mem->ud)))
		goto out;
	d->arena.cap = ARENA_SIZE;
	d->pballoc.alloc = arena_alloc;
	d->pballoc.free = arena_free;
	d->pballoc.allocator_data = &d->arena;
	*out = d;
	d = NULL;
	r = 0;
out:
	ist_frame_decoder_free(d);
	return r;
}

void
ist_frame_decoder_free(struct ist_frame_decoder *d)
{
	struct ist_mem mem;

	if (!d)
		return;
	mem = d->mem;
	if (d->frame)
		mem.free(d->frame, mem.ud);
	if (d->arena.base)
		mem.free(d->arena.base, mem.ud);
	mem.free(d, mem.ud);
}

static bool
get_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned i = 0; i < 10; i++) {
		if (*pos >= len)
			return false;
		r |= (uint64_t)(p[*pos] & 0x7f) << (7 * i);
		if (!(p[(*pos)++] & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* Wire type each known field must have: 0 varint, 2 length-delimited. */
static int
known_wire_type(uint64_t field)
{
	switch (field) {
	case 1: case 2: case 3: case 7:
		return 0;
	case 4: case 5: case 6:
		return 2;
	}
	return -1;
}

/*
 * Walks the fields of a Message body without decoding them. Refuses what
 * protobuf-c would refuse anyway, with a message that says where, plus
 * what the arena cannot hold or a C string cannot carry.
 */
static int
prescan(const uint8_t *p, size_t len, struct ist_err *e)
{
	size_t pos = 0, nfields = 0, at;
	uint64_t tag, field, v;
	int wt, want;

	while (pos < len) {
		at = pos;
		if (!get_varint(p, len, &pos, &tag) || tag > UINT32_MAX)
			return ist_err_set(e, IST_ERR_DECODE,
			    "bad field tag at byte %zu of a %zu-byte Message",
			    at, len);
		field = tag >> 3;
		wt = (int)(tag & 7);
		if (field == 0)
			return ist_err_set(e, IST_ERR_DECODE,
			    "field number 0 at byte %zu of a Message", at);
		if (++nfields > IST_FRAME_MAX_FIELDS)
			return ist_err_set(e, IST_ERR_DECODE,
			    "Message has more than %u fields",
			    IST_FRAME_MAX_FIELDS);
		want = known_wire_type(field);
		if (want >= 0 && want != wt)
			return ist_err_set(e, IST_ERR_DECODE,
			    "Message field %u has wire type %d, not %d",
			    (unsigned)field, wt, want);
		switch (wt) {
		case 0:
			if (!get_varint(p, len, &pos, &v))
				goto truncated;
			break;
		case 1:
			if (len - pos < 8)
				goto truncated;
			pos += 8;
			break;
		case 5:
			if (len - pos < 4)
				goto truncated;
			pos += 4;
			break;
		case 2:
			if (!get_varint(p, len, &pos, &v) || v > len - pos)
				goto truncated;
			if (field == 4 && v > IST_MAX_PAYLOAD)
				return ist_err_set(e, IST_ERR_TOOBIG,
				    "DATA payload of %u bytes is over the "
				    "%u-byte limit", (unsigned)v,
				    IST_MAX_PAYLOAD);
			if ((field == 5 || field == 6) &&
			    memchr(p + pos, 0, (size_t)v))
				return ist_err_set(e, IST_ERR_DECODE,
				    "Message field %u (a service id) holds "
				    "a NUL byte", (unsigned)field);
			pos += (size_t)v;
			break;
		default:
			return ist_err_set(e, IST_ERR_DECODE,
			    "Message field %u has unsupported wire type %d",
			    (unsigned)field, wt);
		}
	}
	return 0;
truncated:
	return ist_err_set(e, IST_ERR_DECODE,
	    "Message field %u at byte %zu is cut short or malformed "
	    "(%zu-byte Message)", (unsigned)field, at, len);
}

static int
decode_body(struct ist_frame_decoder *d, const uint8_t *body, size_t len,
    struct ist_msg *msg, struct ist_err *e)
{
	pbmsg *p;
	int r;

	if ((r = prescan(body, len, e)) < 0)
		return r;
	d->arena.used = 0;
	d->arena.exhausted = false;
	p = pbmsg_unpack(&d->pballoc, len, body);
	if (!p) {
		if (d->arena.exhausted)
			return ist_err_set(e, IST_ERR_DECODE,
			    "%zu-byte Message needs more than the decoder's "
			    "%u bytes of memory", len, ARENA_SIZE);
		return ist_err_set(e, IST_ERR_DECODE,
		    "%zu-byte Message does not parse as protobuf", len);
	}
	if (p->type == 0)
		return ist_err_set(e, IST_ERR_PROTO,
		    "Message of type 0 (UNKNOWN, or type missing): the "
		    "protocol needs a type");
	memset(msg, 0, sizeof(*msg));
	msg->type = (int)p->type;
	msg->stream_id = p->streamid;
	msg->ignorable = p->ignorable != 0;
	msg->payload = p->payload.len ? p->payload.data : NULL;
	msg->payload_len = p->payload.len;
	msg->service_id = p->serviceid && p->serviceid[0] ? p->serviceid :
	    NULL;
	msg->available = (const char *const *)p->availableserviceids;
	msg->n_available = p->n_availableserviceids;
	msg->connection_id = p->connectionid;
	msg->has_unknown_fields = p->base.n_unknown_fields > 0;
	return 1;
}

int
ist_frame_decoder_feed(struct ist_frame_decoder *d, const uint8_t *in,
    size_t len, size_t *consumed, struct ist_msg *msg, struct ist_err *e)
{
	const uint8_t *body;
	size_t off = 0, n;
	int r;

	if (consumed)
		*consumed = 0;
	if (!d || !consumed || !msg || (!in && len))
		return ist_err_set(e, IST_ERR_INVAL,
		    "frame decoder: bad arguments");
	if (d->failed)
		return ist_err_set(e, IST_ERR_STATE,
		    "frame decoder used after an error: the tunnel byte "
		    "stream is lost, reconnect");
	while (d->hdr_have < 2 && off < len)
		d->hdr[d->hdr_have++] = in[off++];
	if (d->hdr_have < 2) {
		*consumed = off;
		return 0;
	}
	d->need = (size_t)d->hdr[0] << 8 | d->hdr[1];
	if (d->have == 0 && len - off >= d->need) {
		/* The whole body is in this chunk: no copy. */
		body = in + off;
		off += d->need;
	} else {
		n = d->need - d->have;
		if (n > len - off)
			n = len - off;
		if (n) {
			memcpy(d->frame + d->have, in + off, n);
			d->have += n;
		}
		off += n;
		if (d->have < d->need) {
			*consumed = off;
			return 0;
		}
		body = d->frame;
	}
	d->hdr_have = 0;
	d->have = 0;
	*consumed = off;
	r = decode_body(d, body, d->need, msg, e);
	if (r < 0)
		d->failed = true;
	return r;
}
