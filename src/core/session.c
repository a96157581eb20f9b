/*
 * session.c: the tunnel protocol state machine of one WebSocket
 * connection, source or destination role, with no I/O (docs/protocol.md
 * section 2; the contract and its decisions are in ist/session.h).
 *
 * Memory is taken once in ist_session_new(): the frame decoder, the
 * output buffer and the connection table. The data path does not
 * allocate.
 *
 * A "stream slot" is a service's stream: its service id ("" in V1) and
 * active stream id (0: none). Connections live in a flat table, each
 * naming its slot. Both are tiny (<= 4 slots, max_connections conns), so
 * lookups are linear scans.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ist/frame.h"
#include "ist/session.h"

#define DEFAULT_OUT_CAP (256u * 1024u)
#define DEFAULT_MAX_CONNS 64u
#define CTRL_RESERVE IST_MAX_FRAME
#define MAX_SLOTS (IST_MAX_SERVICES + 1u)
/* Largest DATA frame overhead: prefix, type, stream id (10-byte varint),
 * 128-byte service id, connection id, payload tag and 3-byte length. */
#define DATA_OVERHEAD (2u + 2u + 11u + 2u + IST_MAX_SERVICE_ID + 6u + 4u)

struct slot {
	bool used;
	char service[IST_MAX_SERVICE_ID + 1];
	int32_t stream_id;	/* active stream, 0 when none */
	uint32_t next_conn;	/* source: next connection id to hand out */
};

struct conn {
	bool used;
	/* Not used but mark set: ended, on_connection_end still to come
	 * (end_matching()); the entry is not free until then. */
	uint32_t mark;
	unsigned slot;
	uint32_t id;
};

struct ist_session {
	struct ist_mem mem;
	struct ist_session_options opt;
	struct ist_session_callbacks cb;
	void *ud;
	struct ist_frame_decoder *dec;
	int fatal;		/* the error that ended the session, or 0 */
	bool in_recv;
	uint32_t epoch;		/* end_matching() calls so far */
	enum ist_role role;
	int format;		/* 0 until a destination saw STREAM_START */
	int32_t last_stream_id;

	bool have_ids;
	size_t n_ids;
	char ids[IST_MAX_SERVICES][IST_MAX_SERVICE_ID + 1];
	const char *id_ptrs[IST_MAX_SERVICES];

	struct slot slots[MAX_SLOTS];
	struct conn *conns;
	size_t max_conns;

	uint8_t *out;		/* pending bytes are out[pos, last) */
	size_t cap, pos, last;
};

/* ---- lifetime ---- */

int
ist_session_new(struct ist_session **out,
    const struct ist_session_options *opt,
    const struct ist_session_callbacks *cb, void *ud)
{
	const struct ist_mem *mem;
	struct ist_session *s = NULL;
	size_t cap, nconns;
	int r = IST_ERR_NOMEM;

	if (!out || !opt)
		return IST_ERR_INVAL;
	*out = NULL;
	if (opt->role != IST_ROLE_SOURCE && opt->role != IST_ROLE_DESTINATION)
		return IST_ERR_INVAL;
	if (opt->role == IST_ROLE_SOURCE && opt->format != 0 &&
	    (opt->format < IST_FORMAT_V1 || opt->format > IST_FORMAT_V3))
		return IST_ERR_INVAL;
	if (opt->last_stream_id < 0 || opt->last_stream_id > IST_MAX_ID)
		return IST_ERR_INVAL;
	cap = opt->out_capacity ? opt->out_capacity : DEFAULT_OUT_CAP;
	if (cap < 2 * (size_t)IST_MAX_FRAME)
		return IST_ERR_INVAL;
	nconns = opt->max_connections ? opt->max_connections :
	    DEFAULT_MAX_CONNS;
	if (nconns > 65536)
		return IST_ERR_INVAL;
	mem = opt->mem ? opt->mem : ist_mem_default();

	if (!(s = mem->malloc(sizeof(*s), mem->ud)))
		goto out;
	memset(s, 0, sizeof(*s));
	s->mem = *mem;
	s->opt = *opt;
	s->opt.mem = NULL;
	if (cb)
		s->cb = *cb;
	s->ud = ud;
	s->role = opt->role;
	if (s->role == IST_ROLE_SOURCE)
		s->format = opt->format ? (int)opt->format : IST_FORMAT_V3;
	s->last_stream_id = opt->last_stream_id;
	s->cap = cap;
	s->max_conns = nconns;
	if ((r = ist_frame_decoder_new2(&s->dec, mem)) < 0)
		goto out;
	r = IST_ERR_NOMEM;
	if (!(s->out = mem->malloc(cap, mem->ud)))
		goto out;
	if (!(s->conns = mem->malloc(nconns * sizeof(*s->conns), mem->ud)))
		goto out;
	memset(s->conns, 0, nconns * sizeof(*s->conns));
	*out = s;
	s = NULL;
	r = 0;
out:
	ist_session_free(s);
	return r;
}

void
ist_session_free(struct ist_session *s)
{
	struct ist_mem mem;

	if (!s)
		return;
	mem = s->mem;
	ist_frame_decoder_free(s->dec);
	if (s->out)
		mem.free(s->out, mem.ud);
	if (s->conns)
		mem.free(s->conns, mem.ud);
	mem.free(s, mem.ud);
}

/* ---- small helpers ---- */

static bool
service_id_valid(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++) {
		char c = id[n];

		if (n >= IST_MAX_SERVICE_ID)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == ':' || c == '_' ||
		    c == '-'))
			return false;
	}
	return n > 0;
}

static bool
in_service_ids(const struct ist_session *s, const char *id)
{
	for (size_t i = 0; i < s->n_ids; i++)
		if (strcmp(s->ids[i], id) == 0)
			return true;
	return false;
}

/* The service name a slot is filed under: always "" in V1. */
static const char *
norm_service(const struct ist_session *s, const char *id)
{
	if (s->format == IST_FORMAT_V1 || !id)
		return "";
	return id;
}

static struct slot *
find_slot(struct ist_session *s, const char *service)
{
	for (unsigned i = 0; i < MAX_SLOTS; i++)
		if (s->slots[i].used &&
		    strcmp(s->slots[i].service, service) == 0)
			return &s->slots[i];
	return NULL;
}

static unsigned
slot_index(const struct ist_session *s, const struct slot *sl)
{
	return (unsigned)(sl - s->slots);
}

static bool
slot_has_conns(const struct ist_session *s, const struct slot *sl)
{
	for (size_t i = 0; i < s->max_conns; i++)
		if (s->conns[i].used && s->conns[i].slot == slot_index(s, sl))
			return true;
	return false;
}

/* Whether any connection names the slot, even one whose end is still
 * being reported (its callback reads the slot's service name). */
static bool
slot_referenced(const struct ist_session *s, const struct slot *sl)
{
	for (size_t i = 0; i < s->max_conns; i++)
		if ((s->conns[i].used || s->conns[i].mark) &&
		    s->conns[i].slot == slot_index(s, sl))
			return true;
	return false;
}

/* The slot for service, taking a free one if needed; NULL when full. */
static struct slot *
get_slot(struct ist_session *s, const char *service)
{
	struct slot *sl = find_slot(s, service);

	if (sl)
		return sl;
	for (unsigned i = 0; i < MAX_SLOTS; i++) {
		sl = &s->slots[i];
		if (sl->used && (sl->stream_id != 0 ||
		    slot_referenced(s, sl)))
			continue;
		memset(sl, 0, sizeof(*sl));
		sl->used = true;
		/* service was checked to fit by the callers */
		memcpy(sl->service, service, strlen(service) + 1);
		return sl;
	}
	return NULL;
}

static struct conn *
find_conn(struct ist_session *s, const struct slot *sl, uint32_t id)
{
	for (size_t i = 0; i < s->max_conns; i++)
		if (s->conns[i].used && s->conns[i].slot ==
		    slot_index(s, sl) && s->conns[i].id == id)
			return &s->conns[i];
	return NULL;
}

static struct conn *
add_conn(struct ist_session *s, const struct slot *sl, uint32_t id)
{
	for (size_t i = 0; i < s->max_conns; i++) {
		struct conn *c = &s->conns[i];

		if (c->used || c->mark)
			continue;
		c->used = true;
		c->mark = 0;
		c->slot = slot_index(s, sl);
		c->id = id;
		return c;
	}
	return NULL;
}

/*
 * Ends the live connections of slot sl (all slots when sl is NULL) with
 * on_connection_end(why) for each. Callbacks may start or end
 * connections, even through a nested end_matching(), so all of ours end
 * first (not live, entry kept) and are marked with this call's epoch;
 * then each is reported. A connection started by a callback is never
 * ended by mistake, and a callback never sees one of ours as live.
 */
static void
end_matching(struct ist_session *s, const struct slot *sl,
    enum ist_end_reason why)
{
	uint32_t mark = ++s->epoch;

	if (mark == 0)
		mark = ++s->epoch;
	for (size_t i = 0; i < s->max_conns; i++) {
		struct conn *c = &s->conns[i];

		if (c->used && (!sl || c->slot == slot_index(s, sl))) {
			c->used = false;
			c->mark = mark;
		}
	}
	for (size_t i = 0; i < s->max_conns; i++) {
		struct conn *c = &s->conns[i];
		unsigned si = c->slot;
		uint32_t id = c->id;

		if (c->used || c->mark != mark)
			continue;
		c->mark = 0;
		if (s->cb.on_connection_end)
			s->cb.on_connection_end(s, s->slots[si].service, id,
			    why, s->ud);
	}
}

/* ---- output buffer ---- */

static size_t
pending(const struct ist_session *s)
{
	return s->last - s->pos;
}

/* Room a message may use: DATA leaves CTRL_RESERVE for control ones. */
static size_t
room(const struct ist_session *s, bool data)
{
	size_t limit = data ? s->cap - CTRL_RESERVE : s->cap;

	return pending(s) >= limit ? 0 : limit - pending(s);
}

/* Makes size bytes contiguous at out + last; room() was checked. */
static void
make_room(struct ist_session *s, size_t size)
{
	if (s->cap - s->last >= size)
		return;
	memmove(s->out, s->out + s->pos, pending(s));
	s->last -= s->pos;
	s->pos = 0;
}

/* Queues one frame. IST_ERR_AGAIN when it does not fit now. */
static int
queue_msg(struct ist_session *s, const struct ist_msg *m, bool data)
{
	size_t size = ist_frame_size(m);
	int n;

	if (size == 0 || size > room(s, data))
		return IST_ERR_AGAIN;
	make_room(s, size);
	n = ist_frame_encode(m, s->out + s->last, s->cap - s->last);
	if (n < 0)
		return n;
	s->last += (size_t)n;
	return 0;
}

/*
 * Fills m with a control message for stream slot sl in the session's
 * format: service id in V2/V3, connection id in V3 when conn != 0.
 */
static void
control_msg(const struct ist_session *s, struct ist_msg *m, int type,
    int32_t stream_id, const char *service, uint32_t conn)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->stream_id = stream_id;
	if (s->format != IST_FORMAT_V1 && service && service[0])
		m->service_id = service;
	if (s->format == IST_FORMAT_V3)
		m->connection_id = conn;
}

/* A control message the peer's input calls for: never dropped. */
static int
answer(struct ist_session *s, const struct ist_msg *m, struct ist_err *e)
{
	if (queue_msg(s, m, false) == 0)
		return 0;
	return ist_err_set(e, IST_ERR_TOOBIG,
	    "output buffer full (%zu bytes pending) with no room to answer "
	    "%s for stream %d: the peer sends faster than the WebSocket "
	    "drains", pending(s), ist_msg_type_name(m->type), m->stream_id);
}

/* ---- receiving ---- */

/* The peer format a message is in; 0 if it fits none. */
static int
msg_format(const struct ist_msg *m)
{
	if (m->service_id && m->connection_id)
		return IST_FORMAT_V3;
	if (m->service_id)
		return IST_FORMAT_V2;
	if (!m->connection_id)
		return IST_FORMAT_V1;
	return 0;
}

/* Whether m fits fixed format f (destination side). A V3 STREAM_RESET
 * ends the whole stream and may leave the connection id out; the
 * CONNECTION_* messages exist in V3 only. */
static bool
format_fits(int f, const struct ist_msg *m)
{
	int mf = msg_format(m);

	if (f != IST_FORMAT_V3 && (m->type == IST_MSG_CONNECTION_START ||
	    m->type == IST_MSG_CONNECTION_RESET))
		return false;
	if (mf == f)
		return true;
	return f == IST_FORMAT_V3 && mf == IST_FORMAT_V2 &&
	    m->type == IST_MSG_STREAM_RESET;
}

/* The connection a received message names, in our format. */
static uint32_t
msg_conn(const struct ist_session *s, const struct ist_msg *m)
{
	if (s->format == IST_FORMAT_V3 && m->connection_id)
		return m->connection_id;
	return 1;
}

/* A peer's id above IST_MAX_ID is accepted but not noted: last_stream_id
 * seeds the ids we send, which stay within IST_MAX_ID. */
static void
note_stream_id(struct ist_session *s, int32_t id)
{
	if (id > s->last_stream_id && id <= IST_MAX_ID)
		s->last_stream_id = id;
}

/* Destination: a message in another format than the fixed one. */
static int
format_mix(struct ist_session *s, const struct ist_msg *m,
    struct ist_err *e)
{
	struct ist_msg r;

	ist_verbose("stream %d: %s in format V%d on a V%d session: "
	    "resetting the stream", m->stream_id, ist_msg_type_name(m->type),
	    msg_format(m), s->format);
	for (unsigned i = 0; i < MAX_SLOTS; i++) {
		struct slot *sl = &s->slots[i];

		if (!sl->used || sl->stream_id == 0 ||
		    sl->stream_id != m->stream_id)
			continue;
		sl->stream_id = 0;
		end_matching(s, sl, IST_END_FORMAT);
		control_msg(s, &r, IST_MSG_STREAM_RESET, m->stream_id,
		    sl->service, 0);
		return answer(s, &r, e);
	}
	if (m->type != IST_MSG_STREAM_START)
		return 0;
	/* Refuse a start we will not serve, so the source does not wait. */
	memset(&r, 0, sizeof(r));
	r.type = IST_MSG_STREAM_RESET;
	r.stream_id = m->stream_id;
	r.service_id = m->service_id;
	return answer(s, &r, e);
}

/* Destination: refuses a stream with STREAM_RESET, echoing its names. */
static int
refuse_stream(struct ist_session *s, const struct ist_msg *m,
    const char *why, struct ist_err *e)
{
	struct ist_msg r;

	ist_verbose("stream %d: refused: %s", m->stream_id, why);
	control_msg(s, &r, IST_MSG_STREAM_RESET, m->stream_id,
	    m->service_id, 0);
	return answer(s, &r, e);
}

static int
refuse_conn(struct ist_session *s, const struct slot *sl, uint32_t id,
    const char *why, struct ist_err *e)
{
	struct ist_msg r;

	ist_verbose("stream %d connection %u: refused: %s", sl->stream_id,
	    id, why);
	control_msg(s, &r, IST_MSG_CONNECTION_RESET, sl->stream_id,
	    sl->service, id);
	return answer(s, &r, e);
}

/* Asks the application about a new connection; 0 accepted. */
static int
ask_start(struct ist_session *s, const struct slot *sl, uint32_t id)
{
	if (!s->cb.on_connection_start)
		return 0;
	return s->cb.on_connection_start(s, sl->service, id, s->ud);
}

static int
on_stream_start(struct ist_session *s, const struct ist_msg *m,
    struct ist_err *e)
{
	const char *service;
	struct slot *sl;
	struct conn *c;
	uint32_t id;
	int f = msg_format(m);

	if (s->format == 0) {
		if (f == 0)
			return refuse_stream(s, m,
			    "connectionId without serviceId fits no format",
			    e);
		s->format = f;
		ist_verbose("peer uses message format V%d", f);
	}
	note_stream_id(s, m->stream_id);
	service = norm_service(s, m->service_id);
	if (service[0] && s->have_ids && !in_service_ids(s, service))
		return refuse_stream(s, m, "service not in SERVICE_IDS", e);
	if (!(sl = get_slot(s, service)))
		return refuse_stream(s, m, "too many services", e);
	if (sl->stream_id != 0 || slot_has_conns(s, sl)) {
		ist_verbose("stream %d replaces stream %d", m->stream_id,
		    sl->stream_id);
		sl->stream_id = 0;
		end_matching(s, sl, IST_END_REPLACED);
	}
	sl->stream_id = m->stream_id;
	id = msg_conn(s, m);
	if (!(c = add_conn(s, sl, id))) {
		sl->stream_id = 0;
		return refuse_stream(s, m, "too many live connections", e);
	}
	if (ask_start(s, sl, id) < 0) {
		/* The callback may have ended or replaced things: look up. */
		if ((c = find_conn(s, sl, id)))
			c->used = false;
		if (sl->stream_id == m->stream_id)
			sl->stream_id = 0;
		return refuse_stream(s, m, "the application refused it", e);
	}
	return 0;
}

static int
on_connection_start(struct ist_session *s, const struct ist_msg *m,
    struct ist_err *e)
{
	struct slot *sl = find_slot(s, norm_service(s, m->service_id));
	uint32_t id = m->connection_id;
	struct conn *c;

	if (!sl || sl->stream_id == 0 || sl->stream_id != m->stream_id) {
		ist_debug("CONNECTION_START for stale stream %d dropped",
		    m->stream_id);
		return 0;
	}
	if (find_conn(s, sl, id)) {
		ist_debug("stream %d: CONNECTION_START for live connection "
		    "%u dropped", m->stream_id, id);
		return 0;
	}
	if (!(c = add_conn(s, sl, id)))
		return refuse_conn(s, sl, id, "too many live connections", e);
	if (ask_start(s, sl, id) < 0) {
		if ((c = find_conn(s, sl, id)))
			c->used = false;
		return refuse_conn(s, sl, id, "the application refused it", e);
	}
	return 0;
}

/* The live slot a stream message is for, or NULL (stale: drop). */
static struct slot *
active_slot(struct ist_session *s, const struct ist_msg *m)
{
	struct slot *sl = find_slot(s, norm_service(s, m->service_id));

	if (!sl || sl->stream_id == 0 || sl->stream_id != m->stream_id) {
		ist_debug("%s for stale stream %d dropped",
		    ist_msg_type_name(m->type), m->stream_id);
		return NULL;
	}
	return sl;
}

static int
on_service_ids(struct ist_session *s, const struct ist_msg *m,
    struct ist_err *e)
{
	size_t n = 0;

	/* Empty entries are skipped: whether a tunnel without services
	 * gets SERVICE_IDS, and what it holds, is undocumented. */
	for (size_t i = 0; i < m->n_available; i++) {
		if (!m->available[i][0])
			continue;
		if (!service_id_valid(m->available[i]))
			return ist_err_set(e, IST_ERR_PROTO,
			    "SERVICE_IDS entry %zu is not a valid service id "
			    "(want 1-128 of [a-zA-Z0-9:_-])", i + 1);
		if (++n > IST_MAX_SERVICES)
			return ist_err_set(e, IST_ERR_PROTO,
			    "SERVICE_IDS lists more than %u services, the "
			    "most a tunnel has", IST_MAX_SERVICES);
	}
	s->n_ids = 0;
	for (size_t i = 0; i < m->n_available; i++) {
		if (!m->available[i][0])
			continue;
		memcpy(s->ids[s->n_ids], m->available[i],
		    strlen(m->available[i]) + 1);
		s->id_ptrs[s->n_ids] = s->ids[s->n_ids];
		s->n_ids++;
	}
	s->have_ids = true;
	if (s->cb.on_service_ids)
		s->cb.on_service_ids(s, s->id_ptrs, s->n_ids, s->ud);
	return 0;
}

static bool
is_stream_msg(int type)
{
	return type == IST_MSG_DATA || type == IST_MSG_STREAM_START ||
	    type == IST_MSG_STREAM_RESET || type == IST_MSG_CONNECTION_START ||
	    type == IST_MSG_CONNECTION_RESET;
}

static int
handle(struct ist_session *s, const struct ist_msg *m, struct ist_err *e)
{
	struct slot *sl;
	struct conn *c;
	uint32_t id;

	if (m->type < IST_MSG_DATA || m->type > IST_MSG_CONNECTION_RESET) {
		if (m->ignorable) {
			ist_debug("ignorable message of unknown type %d "
			    "skipped", m->type);
			return 0;
		}
		return ist_err_set(e, IST_ERR_PROTO,
		    "message of unknown type %d not marked ignorable: "
		    "the peer speaks a newer protocol", m->type);
	}
	if (s->role == IST_ROLE_SOURCE && (m->type == IST_MSG_STREAM_START ||
	    m->type == IST_MSG_CONNECTION_START))
		return ist_err_set(e, IST_ERR_ROLE,
		    "received %s for stream %d, which a destination never "
		    "sends: is the other side also a source?",
		    ist_msg_type_name(m->type), m->stream_id);
	if (is_stream_msg(m->type) && m->stream_id <= 0) {
		if (m->type == IST_MSG_STREAM_RESET ||
		    m->type == IST_MSG_CONNECTION_RESET) {
			ist_debug("%s for stream %d dropped",
			    ist_msg_type_name(m->type), m->stream_id);
			return 0;
		}
		return ist_err_set(e, IST_ERR_PROTO,
		    "%s with stream id %d: stream ids are positive",
		    ist_msg_type_name(m->type), m->stream_id);
	}
	/* Checked first: a refusal echoes it, so it must be sane. */
	if (m->type == IST_MSG_STREAM_START && m->service_id &&
	    !service_id_valid(m->service_id))
		return ist_err_set(e, IST_ERR_PROTO,
		    "STREAM_START for stream %d names an invalid service id "
		    "(want 1-128 of [a-zA-Z0-9:_-])", m->stream_id);
	if (s->role == IST_ROLE_DESTINATION && is_stream_msg(m->type) &&
	    s->format != 0 && !format_fits(s->format, m))
		return format_mix(s, m, e);

	switch (m->type) {
	case IST_MSG_SERVICE_IDS:
		return on_service_ids(s, m, e);
	case IST_MSG_SESSION_RESET:
		ist_verbose("SESSION_RESET: every stream ends");
		for (unsigned i = 0; i < MAX_SLOTS; i++)
			s->slots[i].stream_id = 0;
		end_matching(s, NULL, IST_END_SESSION_RESET);
		return 0;
	case IST_MSG_STREAM_START:
		return on_stream_start(s, m, e);
	case IST_MSG_CONNECTION_START:
		return on_connection_start(s, m, e);
	}
	if (s->format == 0 || !(sl = active_slot(s, m)))
		return 0;
	id = msg_conn(s, m);
	switch (m->type) {
	case IST_MSG_DATA:
		if (!find_conn(s, sl, id)) {
			ist_debug("stream %d: DATA for unknown connection %u "
			    "dropped", m->stream_id, id);
			return 0;
		}
		if (m->payload_len && s->cb.on_data)
			s->cb.on_data(s, sl->service, id, m->payload,
			    m->payload_len, s->ud);
		return 0;
	case IST_MSG_STREAM_RESET:
		ist_verbose("stream %d reset by the peer", m->stream_id);
		sl->stream_id = 0;
		end_matching(s, sl, IST_END_STREAM_RESET);
		return 0;
	case IST_MSG_CONNECTION_RESET:
		if (!(c = find_conn(s, sl, id))) {
			ist_debug("stream %d: CONNECTION_RESET for unknown "
			    "connection %u dropped", m->stream_id, id);
			return 0;
		}
		c->used = false;
		if (s->cb.on_connection_end)
			s->cb.on_connection_end(s, sl->service, id,
			    IST_END_CONNECTION_RESET, s->ud);
		return 0;
	}
	return 0;
}

int
ist_session_recv(struct ist_session *s, const uint8_t *in, size_t len,
    struct ist_err *e)
{
	struct ist_msg m;
	size_t used;
	int r = 0;

	if (!s || (!in && len))
		return ist_err_set(e, IST_ERR_INVAL, "session recv: bad "
		    "arguments");
	if (s->in_recv)
		return ist_err_set(e, IST_ERR_STATE, "session recv called "
		    "from a session callback");
	if (s->fatal)
		return ist_err_set(e, s->fatal, "the tunnel session failed "
		    "earlier (%s): reconnect", ist_strerror(s->fatal));
	s->in_recv = true;
	while (len > 0) {
		r = ist_frame_decoder_feed(s->dec, in, len, &used, &m, e);
		in += used;
		len -= used;
		if (r <= 0)
			break;
		if (s->cb.on_msg)
			s->cb.on_msg(s, &m, s->ud);
		if ((r = handle(s, &m, e)) < 0)
			break;
	}
	s->in_recv = false;
	if (r < 0) {
		s->fatal = r;
		return r;
	}
	return 0;
}

/* ---- queries ---- */

bool
ist_session_ready(const struct ist_session *s)
{
	return s && !s->fatal && (!s->opt.wait_service_ids || s->have_ids);
}

size_t
ist_session_service_ids(const struct ist_session *s,
    const char *const **ids)
{
	if (ids)
		*ids = s ? s->id_ptrs : NULL;
	return s ? s->n_ids : 0;
}

int32_t
ist_session_last_stream_id(const struct ist_session *s)
{
	return s ? s->last_stream_id : 0;
}

int32_t
ist_session_stream_id_seed(int64_t now)
{
	uint64_t t = (uint64_t)now % 65536u;

	return (int32_t)(t * 2048u);
}

bool
ist_session_connection_live(const struct ist_session *s,
    const char *service_id, uint32_t connection_id)
{
	struct ist_session *ms = (struct ist_session *)(uintptr_t)s;
	struct slot *sl;

	if (!s || s->format == 0)
		return false;
	sl = find_slot(ms, norm_service(s, service_id));
	return sl && sl->stream_id != 0 && find_conn(ms, sl, connection_id);
}

size_t
ist_session_send_room(const struct ist_session *s)
{
	size_t r, full;

	if (!s || s->fatal)
		return 0;
	r = room(s, true);
	/* Whole frames of the largest overhead, then what is left. */
	full = r / (IST_MAX_PAYLOAD + DATA_OVERHEAD);
	r -= full * (IST_MAX_PAYLOAD + DATA_OVERHEAD);
	return full * IST_MAX_PAYLOAD + (r > DATA_OVERHEAD ?
	    r - DATA_OVERHEAD : 0);
}

/* ---- sending ---- */

/* The live slot and connection named by the caller, or an error. */
static int
lookup_live(struct ist_session *s, const char *service_id, uint32_t id,
    struct slot **slp, struct ist_err *e)
{
	const char *service = norm_service(s, service_id);
	struct slot *sl;

	if (s->fatal)
		return ist_err_set(e, IST_ERR_STATE, "the tunnel session "
		    "failed earlier: reconnect");
	sl = s->format ? find_slot(s, service) : NULL;
	if (!sl || sl->stream_id == 0 || !find_conn(s, sl, id))
		return ist_err_set(e, IST_ERR_STATE, "connection %u of "
		    "service \"%s\" is not live", id, service);
	*slp = sl;
	return 0;
}

int
ist_session_start_stream(struct ist_session *s, const char *service_id,
    uint32_t *connection_id, struct ist_err *e)
{
	const char *service;
	struct ist_msg m;
	struct slot *sl;
	int r;

	if (!s)
		return ist_err_set(e, IST_ERR_INVAL, "no session");
	if (s->role != IST_ROLE_SOURCE || s->fatal)
		return ist_err_set(e, IST_ERR_STATE, "only a live source "
		    "session starts streams");
	if (s->opt.wait_service_ids && !s->have_ids)
		return ist_err_set(e, IST_ERR_STATE, "the service has not "
		    "sent SERVICE_IDS yet: wait for it");
	service = norm_service(s, service_id);
	if (s->format != IST_FORMAT_V1) {
		if (!service[0])
			return ist_err_set(e, IST_ERR_INVAL, "message "
			    "format V%d needs a service id", s->format);
		if (!service_id_valid(service))
			return ist_err_set(e, IST_ERR_INVAL, "invalid "
			    "service id (want 1-128 of [a-zA-Z0-9:_-])");
		if (s->have_ids && !in_service_ids(s, service))
			return ist_err_set(e, IST_ERR_INVAL, "service \"%s\" "
			    "is not one the tunnel was opened with",
			    service);
	}
	if (s->last_stream_id >= IST_MAX_ID)
		return ist_err_set(e, IST_ERR_STATE, "stream ids of this "
		    "tunnel are used up: open a new tunnel");
	if (!(sl = get_slot(s, service)))
		return ist_err_set(e, IST_ERR_TOOBIG, "more than %u services "
		    "in one session", IST_MAX_SERVICES);
	control_msg(s, &m, IST_MSG_STREAM_START, s->last_stream_id + 1,
	    service, 1);
	if (ist_frame_size(&m) > room(s, false))
		return ist_err_set(e, IST_ERR_AGAIN, "output buffer full: "
		    "drain it and start the stream again");
	/* The old stream's connections go before we count free slots. */
	if (sl->stream_id != 0 || slot_has_conns(s, sl)) {
		sl->stream_id = 0;
		end_matching(s, sl, IST_END_REPLACED);
		/* Callbacks ran: the session may have moved on. */
		sl = get_slot(s, service);
		if (s->fatal || !sl || sl->stream_id != 0 ||
		    slot_has_conns(s, sl))
			return ist_err_set(e, IST_ERR_STATE, "a callback "
			    "started a stream for \"%s\" meanwhile", service);
		control_msg(s, &m, IST_MSG_STREAM_START,
		    s->last_stream_id + 1, service, 1);
		if (s->last_stream_id >= IST_MAX_ID ||
		    ist_frame_size(&m) > room(s, false))
			return ist_err_set(e, IST_ERR_AGAIN, "output buffer "
			    "full: drain it and start the stream again");
	}
	if (!add_conn(s, sl, 1))
		return ist_err_set(e, IST_ERR_TOOBIG, "%zu connections are "
		    "live: the most a session has", s->max_conns);
	if ((r = queue_msg(s, &m, false)) < 0) {
		find_conn(s, sl, 1)->used = false;
		return ist_err_set(e, r, "output buffer full: drain it and "
		    "start the stream again");
	}
	s->last_stream_id++;
	sl->stream_id = s->last_stream_id;
	sl->next_conn = 2;
	if (connection_id)
		*connection_id = 1;
	return 0;
}

int
ist_session_start_connection(struct ist_session *s,
    const char *service_id, uint32_t *connection_id, struct ist_err *e)
{
	const char *service;
	struct ist_msg m;
	struct slot *sl;
	struct conn *c;
	int r;

	if (!s)
		return ist_err_set(e, IST_ERR_INVAL, "no session");
	if (s->role != IST_ROLE_SOURCE || s->fatal ||
	    s->format != IST_FORMAT_V3)
		return ist_err_set(e, IST_ERR_STATE, "further connections "
		    "on a stream need a live V3 source session");
	service = norm_service(s, service_id);
	sl = find_slot(s, service);
	if (!sl || sl->stream_id == 0)
		return ist_err_set(e, IST_ERR_STATE, "service \"%s\" has no "
		    "active stream: start one first", service);
	if (sl->next_conn == 0 || sl->next_conn > IST_MAX_ID)
		return ist_err_set(e, IST_ERR_STATE, "connection ids of "
		    "stream %d are used up: start a new stream",
		    sl->stream_id);
	control_msg(s, &m, IST_MSG_CONNECTION_START, sl->stream_id, service,
	    sl->next_conn);
	if (!(c = add_conn(s, sl, sl->next_conn)))
		return ist_err_set(e, IST_ERR_TOOBIG, "%zu connections are "
		    "live: the most a session has", s->max_conns);
	if ((r = queue_msg(s, &m, false)) < 0) {
		c->used = false;
		return ist_err_set(e, r, "output buffer full: drain it and "
		    "start the connection again");
	}
	if (connection_id)
		*connection_id = sl->next_conn;
	sl->next_conn++;
	return 0;
}

int
ist_session_send_data(struct ist_session *s, const char *service_id,
    uint32_t connection_id, const uint8_t *data, size_t len,
    size_t *accepted, struct ist_err *e)
{
	struct ist_msg m;
	struct slot *sl;
	size_t done = 0, base, r, chunk;
	int rc;

	if (accepted)
		*accepted = 0;
	if (!s || !accepted || (!data && len))
		return ist_err_set(e, IST_ERR_INVAL, "send_data: bad "
		    "arguments");
	if ((rc = lookup_live(s, service_id, connection_id, &sl, e)) < 0)
		return rc;
	control_msg(s, &m, IST_MSG_DATA, sl->stream_id, sl->service,
	    connection_id);
	base = ist_frame_size(&m);
	while (done < len) {
		/* Payload tag plus a length of up to 3 bytes. */
		r = room(s, true);
		if (r <= base + 4)
			break;
		chunk = r - base - 4;
		if (chunk > IST_MAX_PAYLOAD)
			chunk = IST_MAX_PAYLOAD;
		if (chunk > len - done)
			chunk = len - done;
		m.payload = data + done;
		m.payload_len = chunk;
		if ((rc = queue_msg(s, &m, true)) < 0)
			return ist_err_set(e, rc, "send_data: could not "
			    "queue %zu bytes", chunk);
		done += chunk;
	}
	*accepted = done;
	return 0;
}

int
ist_session_end_connection(struct ist_session *s, const char *service_id,
    uint32_t connection_id, struct ist_err *e)
{
	struct ist_msg m;
	struct slot *sl;
	int r;

	if (!s)
		return ist_err_set(e, IST_ERR_INVAL, "no session");
	if ((r = lookup_live(s, service_id, connection_id, &sl, e)) < 0)
		return r;
	if (s->format == IST_FORMAT_V3)
		control_msg(s, &m, IST_MSG_CONNECTION_RESET, sl->stream_id,
		    sl->service, connection_id);
	else
		control_msg(s, &m, IST_MSG_STREAM_RESET, sl->stream_id,
		    sl->service, 0);
	if ((r = queue_msg(s, &m, false)) < 0)
		return ist_err_set(e, r, "output buffer full: drain it and "
		    "end connection %u again", connection_id);
	find_conn(s, sl, connection_id)->used = false;
	/* V1/V2: the stream had this one connection, and it is over. */
	if (s->format != IST_FORMAT_V3)
		sl->stream_id = 0;
	return 0;
}

/* ---- output ---- */

size_t
ist_session_output_pending(const struct ist_session *s)
{
	return s ? pending(s) : 0;
}

size_t
ist_session_peek_output(const struct ist_session *s, const uint8_t **p)
{
	size_t n;

	if (!s || !p) {
		if (p)
			*p = NULL;
		return 0;
	}
	n = pending(s);
	*p = s->out + s->pos;
	return n > IST_MAX_WS_MESSAGE ? IST_MAX_WS_MESSAGE : n;
}

void
ist_session_consume_output(struct ist_session *s, size_t n)
{
	if (!s)
		return;
	if (n > pending(s))
		n = pending(s);
	s->pos += n;
	if (s->pos == s->last)
		s->pos = s->last = 0;
}
