/*
 * admin.c: fault injection, POST /admin/<what> with a JSON body, on the
 * main port, only with --admin and only from a loopback address.
 * README.md "iot-tunnel-emulator" lists the endpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

static char *
ok(int *status)
{
	*status = 200;
	return strdup("{\"ok\":true}");
}

static char *
bad(int *status, const char *msg)
{
	*status = 400;
	return emu_api_error("ValidationException", "%s", msg);
}

bool
emu_fault_applies(const char *op, const char *target)
{
	static const char prefix[] = "IoTSecuredTunneling.";

	if (!op[0])
		return true;
	return target && !strncmp(target, prefix, sizeof(prefix) - 1) &&
	    !strcmp(target + sizeof(prefix) - 1, op);
}

/* Copies the optional "operation" member into out; -1 if bad. */
static int
get_op(const cJSON *in, char *out, size_t outsz)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(in, "operation");

	out[0] = '\0';
	if (!j)
		return 0;
	if (!cJSON_IsString(j) || strlen(j->valuestring) >= outsz)
		return -1;
	memcpy(out, j->valuestring, strlen(j->valuestring) + 1);
	return 0;
}

static int
get_int(const cJSON *in, const char *name, int def, int lo, int hi,
    int *out)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(in, name);

	if (!j) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsNumber(j) || j->valuedouble < lo || j->valuedouble > hi)
		return -1;
	*out = (int)j->valuedouble;
	return 0;
}

static struct emu_tunnel *
get_tunnel(struct emu *emu, const cJSON *in, int *status, char **err)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "tunnelId");
	struct emu_tunnel *t;

	if (!cJSON_IsString(id)) {
		*err = bad(status, "tunnelId missing");
		return NULL;
	}
	t = emu_tunnel_find(emu, id->valuestring);
	if (!t) {
		*status = 404;
		*err = emu_api_error("ResourceNotFoundException",
		    "Tunnel %s not found", id->valuestring);
	}
	return t;
}

static int
get_side(const cJSON *in, enum emu_side *side)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(in, "side");

	if (!cJSON_IsString(s))
		return -1;
	if (!strcmp(s->valuestring, "source"))
		*side = EMU_SOURCE;
	else if (!strcmp(s->valuestring, "destination"))
		*side = EMU_DEST;
	else
		return -1;
	return 0;
}

/*
 * The bytes of one injected message into buf; returns its length or -1.
 * payload is scratch space of IST_MAX_PAYLOAD bytes.
 */
static int
build_injection(const struct emu_tunnel *t, const char *what, uint8_t *buf,
    size_t cap, bool *text, uint8_t *payload)
{
	struct ist_msg m;
	int n, i, total = 0;
	size_t k;

	*text = false;
	memset(&m, 0, sizeof(m));
	if (!strcmp(what, "text")) {
		static const char s[] = "text frame injected by the emulator";

		*text = true;
		memcpy(buf, s, sizeof(s) - 1);
		return (int)sizeof(s) - 1;
	}
	if (!strcmp(what, "session-reset")) {
		m.type = IST_MSG_SESSION_RESET;
		return ist_frame_encode(&m, buf, cap);
	}
	if (!strcmp(what, "stream-reset")) {
		/* STREAM_RESET for every active stream (none: nothing). */
		m.type = IST_MSG_STREAM_RESET;
		for (k = 0; k < IST_MAX_SERVICES + 1; k++) {
			if (!t->active[k].stream_id)
				continue;
			m.stream_id = t->active[k].stream_id;
			m.service_id = t->active[k].service[0] ?
			    t->active[k].service : NULL;
			n = ist_frame_encode(&m, buf + total,
			    cap - (size_t)total);
			if (n < 0)
				return -1;
			total += n;
		}
		return total;
	}
	if (!strcmp(what, "malformed")) {
		/* Length 3, then bytes that are no protobuf Message. */
		static const uint8_t b[] = { 0x00, 0x03, 0xff, 0xff, 0xff };

		memcpy(buf, b, sizeof(b));
		return (int)sizeof(b);
	}
	if (!strcmp(what, "unknown") || !strcmp(what, "unknown-ignorable")) {
		m.type = 42;
		m.stream_id = 1;
		m.ignorable = !strcmp(what, "unknown-ignorable");
		return ist_frame_encode(&m, buf, cap);
	}
	if (!strcmp(what, "oversized")) {
		/*
		 * A DATA Message with a payload one byte over the limit. The
		 * encoder refuses that, so encode IST_MAX_PAYLOAD bytes and
		 * grow it by one: the payload length varint keeps its size
		 * (64512 and 64513 both take 3 bytes) and is the last field
		 * before the payload, which ends the Message.
		 */
		m.type = IST_MSG_DATA;
		m.stream_id = 1;
		m.payload = payload;
		m.payload_len = IST_MAX_PAYLOAD;
		memset(payload, 'o', IST_MAX_PAYLOAD);
		n = ist_frame_encode(&m, buf, cap);
		if (n < 0 || (size_t)n + 1 > cap)
			return -1;
		/* [len 2][08 01][10 01][22][varint 3][payload] */
		if (buf[6] != 0x22)
			return -1;
		buf[7] = (uint8_t)(buf[7] + 1); /* 0x80 -> 0x81: +1 */
		buf[n] = 'o';
		n++;
		buf[0] = (uint8_t)((n - 2) >> 8);
		buf[1] = (uint8_t)((n - 2) & 0xff);
		return n;
	}
	if (!strcmp(what, "huge")) {
		/* One WebSocket message over IST_MAX_WS_MESSAGE bytes. */
		m.type = IST_MSG_DATA;
		m.stream_id = 1;
		m.payload = payload;
		m.payload_len = 60000;
		memset(payload, 'h', IST_MAX_PAYLOAD);
		for (i = 0; i < 3; i++) {
			n = ist_frame_encode(&m, buf + total,
			    cap - (size_t)total);
			if (n < 0)
				return -1;
			total += n;
		}
		return total;
	}
	return -1;
}

static char *
do_send(struct emu *emu, const cJSON *in, int *status)
{
	const cJSON *what = cJSON_GetObjectItemCaseSensitive(in, "what");
	struct emu_tunnel *t;
	enum emu_side side;
	uint8_t *buf = NULL, *payload = NULL;
	char *err = NULL, *res = NULL;
	bool text;
	int n;

	if (!(t = get_tunnel(emu, in, status, &err)))
		return err;
	if (get_side(in, &side) != 0)
		return bad(status, "side must be source or destination");
	if (!cJSON_IsString(what))
		return bad(status, "what: text, malformed, oversized, huge, "
		    "unknown or unknown-ignorable");
	buf = malloc(4 * IST_MAX_FRAME);
	payload = malloc(IST_MAX_PAYLOAD);
	if (!buf || !payload)
		goto out;
	n = build_injection(t, what->valuestring, buf, 4 * IST_MAX_FRAME,
	    &text, payload);
	if (n == 0) {
		*status = 409;
		res = emu_api_error("ConflictException", "no active stream");
		goto out;
	}
	if (n < 0) {
		res = bad(status, "what: text, malformed, oversized, huge, "
		    "unknown, unknown-ignorable, session-reset or "
		    "stream-reset");
		goto out;
	}
	ist_info("fault: tunnel %s: sending the %s a %s message", t->id,
	    emu_side_name(side), what->valuestring);
	if (emu_relay_inject(t, side, buf, (size_t)n, text ? EMU_Q_TEXT :
	    EMU_Q_BINARY) == 0)
		res = ok(status);
out:
	free(buf);
	free(payload);
	return res;
}

/* Up to this many bytes per raw injection. */
#define RAW_MAX (256u * 1024u)

static int
hex_nibble(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * Sends a side the bytes of "hex" as they are, on its connection or
 * when it connects, in order with what is queued for it: hostile frames
 * (huge length fields, masked server frames, bad opcodes) for tests of
 * the clients.
 */
static char *
do_raw(struct emu *emu, const cJSON *in, int *status)
{
	const cJSON *hex = cJSON_GetObjectItemCaseSensitive(in, "hex");
	struct emu_tunnel *t;
	enum emu_side side;
	uint8_t *buf = NULL;
	char *err = NULL, *res = NULL;
	size_t n, i;

	if (!(t = get_tunnel(emu, in, status, &err)))
		return err;
	if (get_side(in, &side) != 0)
		return bad(status, "side must be source or destination");
	if (!cJSON_IsString(hex) || !(n = strlen(hex->valuestring)) ||
	    n % 2 || n / 2 > RAW_MAX)
		return bad(status, "raw: {tunnelId, side, hex (1 to 262144 "
		    "bytes as hex digits)}");
	buf = malloc(n / 2);
	if (!buf)
		goto out;
	for (i = 0; i < n / 2; i++) {
		int hi = hex_nibble(hex->valuestring[2 * i]);
		int lo = hex_nibble(hex->valuestring[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			res = bad(status, "hex: digits 0-9, a-f only");
			goto out;
		}
		buf[i] = (uint8_t)(hi << 4 | lo);
	}
	ist_info("fault: tunnel %s: sending the %s %zu raw bytes", t->id,
	    emu_side_name(side), n / 2);
	if (emu_relay_inject(t, side, buf, n / 2, EMU_Q_RAW) == 0)
		res = ok(status);
out:
	free(buf);
	return res;
}

void
emu_admin_handle(struct emu *emu, const char *path, const uint8_t *body,
    size_t len, int *status, char **out)
{
	const char *what = path + strlen("/admin/");
	struct emu_faults *f = &emu->faults;
	struct emu_tunnel *t;
	enum emu_side side;
	cJSON *in;
	char *err = NULL;
	int v, v2;

	*status = 400;
	*out = NULL;
	in = len ? cJSON_ParseWithLength((const char *)body, len) :
	    cJSON_CreateObject();
	if (!in || !cJSON_IsObject(in)) {
		*out = bad(status, "the body must be a JSON object");
		goto out;
	}
	if (!strcmp(what, "fail")) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(in,
		    "type");
		const char *ty = cJSON_IsString(type) ? type->valuestring :
		    "InternalFailure";
		int def = strcmp(ty, "ThrottlingException") ? 500 : 400;

		if (get_int(in, "count", 1, 0, 1000000, &v) ||
		    get_int(in, "status", def, 400, 599, &v2) ||
		    get_op(in, f->fail_op, sizeof(f->fail_op)) ||
		    strlen(ty) >= sizeof(f->fail_type)) {
			*out = bad(status, "fail: {count, status, type, "
			    "operation}");
			goto out;
		}
		f->fail_count = v;
		f->fail_status = v2;
		snprintf(f->fail_type, sizeof(f->fail_type), "%s", ty);
		ist_info("fault: the next %d %s calls fail with %d %s", v,
		    f->fail_op[0] ? f->fail_op : "API", v2, ty);
		*out = ok(status);
	} else if (!strcmp(what, "sso-token")) {
		*out = emu_sso_admin(emu, in, status);
	} else if (!strcmp(what, "delay")) {
		if (get_int(in, "ms", 0, 0, 600000, &v) ||
		    get_int(in, "count", 1, -1, 1000000, &v2) ||
		    get_op(in, f->delay_op, sizeof(f->delay_op))) {
			*out = bad(status, "delay: {ms, count (-1: all), "
			    "operation}");
			goto out;
		}
		f->delay_ms = v;
		f->delay_count = v ? v2 : 0;
		ist_info("fault: delaying %d %s answers by %d ms", v2,
		    f->delay_op[0] ? f->delay_op : "API", v);
		*out = ok(status);
	} else if (!strcmp(what, "handshake")) {
		const cJSON *sd = cJSON_GetObjectItemCaseSensitive(in, "side");

		side = EMU_SOURCE;
		if (get_int(in, "count", 1, 0, 1000000, &v) ||
		    get_int(in, "status", 503, 400, 599, &v2) ||
		    (sd && get_side(in, &side) != 0)) {
			*out = bad(status, "handshake: {count, status "
			    "(400-599), side (source or destination; any)}");
			goto out;
		}
		f->hs_fail_count = v;
		f->hs_fail_status = v2;
		f->hs_fail_side = sd ? (int)side : -1;
		ist_info("fault: the next %d %sdata-plane handshakes are "
		    "refused with %d", v, !sd ? "" : side == EMU_SOURCE ?
		    "source " : "destination ", v2);
		*out = ok(status);
	} else if (!strcmp(what, "service-ids")) {
		const cJSON *sd = cJSON_GetObjectItemCaseSensitive(in, "side");

		side = EMU_SOURCE;
		if (get_int(in, "count", 1, 0, 1000000, &v) ||
		    (sd && get_side(in, &side) != 0)) {
			*out = bad(status, "service-ids: {count, side (source "
			    "or destination; any)}");
			goto out;
		}
		f->ids_hold_count = v;
		f->ids_hold_side = sd ? (int)side : -1;
		ist_info("fault: the next %d %sconnections get no SERVICE_IDS",
		    v, !sd ? "" : side == EMU_SOURCE ? "source " :
		    "destination ");
		*out = ok(status);
	} else if (!strcmp(what, "reset")) {
		memset(f, 0, sizeof(*f));
		*out = ok(status);
	} else if (!strcmp(what, "drop")) {
		const cJSON *ab = cJSON_GetObjectItemCaseSensitive(in,
		    "abrupt");

		if (!(t = get_tunnel(emu, in, status, &err))) {
			*out = err;
			goto out;
		}
		if (get_side(in, &side) != 0) {
			*out = bad(status, "side: source or destination");
			goto out;
		}
		if (!t->side[side].conn) {
			*status = 409;
			*out = emu_api_error("ConflictException", "no %s "
			    "connected", emu_side_name(side));
			goto out;
		}
		emu_relay_drop(t, side, cJSON_IsTrue(ab),
		    IST_WS_CLOSE_GOING_AWAY, "dropped by fault injection");
		*out = ok(status);
	} else if (!strcmp(what, "stall")) {
		if (!(t = get_tunnel(emu, in, status, &err))) {
			*out = err;
			goto out;
		}
		if (get_int(in, "ms", 0, 0, 600000, &v)) {
			*out = bad(status, "stall: {tunnelId, ms}");
			goto out;
		}
		t->stall_until = lws_now_usecs() + (int64_t)v * 1000;
		ist_info("fault: tunnel %s: relaying stalled for %d ms",
		    t->id, v);
		emu_relay_kick(t);
		*out = ok(status);
	} else if (!strcmp(what, "bandwidth")) {
		if (!(t = get_tunnel(emu, in, status, &err))) {
			*out = err;
			goto out;
		}
		if (get_int(in, "bytesPerSecond", 0, 0, 2000000000, &v)) {
			*out = bad(status, "bandwidth: {tunnelId, "
			    "bytesPerSecond (0: no cap)}");
			goto out;
		}
		t->bw_bps = (uint64_t)v;
		t->bw_budget = 0;
		t->bw_at = lws_now_usecs();
		ist_info("fault: tunnel %s: bandwidth capped at %d B/s",
		    t->id, v);
		emu_relay_kick(t);
		*out = ok(status);
	} else if (!strcmp(what, "send")) {
		*out = do_send(emu, in, status);
	} else if (!strcmp(what, "raw")) {
		*out = do_raw(emu, in, status);
	} else if (!strcmp(what, "expire")) {
		if (!(t = get_tunnel(emu, in, status, &err))) {
			*out = err;
			goto out;
		}
		emu_tunnel_expire(t);
		*out = ok(status);
	} else {
		*status = 404;
		*out = emu_api_error("NotFound", "admin endpoints: fail, "
		    "delay, handshake, reset, drop, stall, bandwidth, send, "
		    "raw, expire");
	}
out:
	cJSON_Delete(in);
}
