/*
 * api.c: the IoT Secure Tunneling API (AWS JSON 1.1) of the emulator.
 *
 * Shapes, constraints and error names follow the API model in botocore
 * (iotsecuretunneling/2018-10-05/service-2.json). Validation messages
 * use AWS's wording: "1 validation error detected: Value 'x' at 'path'
 * failed to satisfy constraint: Member must ...".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "emu.h"
#include "ist/sigv4.h"

#define SIG_SKEW 300 /* seconds a request may be off, as on AWS */

struct verr {
	int n;
	char msg[2048];
	size_t len;
};

char *
emu_api_error(const char *type, const char *fmt, ...)
{
	char msg[2048];
	cJSON *o;
	char *s;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "__type", type);
	cJSON_AddStringToObject(o, "message", msg);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void
verr_add(struct verr *v, const char *path, const char *value,
    const char *constraint)
{
	char shown[160];
	int n;

	/* AWS quotes the value; keep it short and printable. */
	snprintf(shown, sizeof(shown), "%.128s", value ? value : "null");
	for (n = 0; shown[n]; n++)
		if ((unsigned char)shown[n] < 0x20)
			shown[n] = '?';
	n = snprintf(v->msg + v->len, sizeof(v->msg) - v->len,
	    "%sValue '%s' at '%s' failed to satisfy constraint: Member must %s",
	    v->n ? "; " : "", shown, path, constraint);
	if (n > 0 && v->len + (size_t)n < sizeof(v->msg))
		v->len += (size_t)n;
	v->n++;
}

static char *
verr_body(const struct verr *v)
{
	return emu_api_error("ValidationException",
	    "%d validation error%s detected: %s", v->n, v->n == 1 ? "" : "s",
	    v->msg);
}

/* UTF-8 code points in s. */
static size_t
u8len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* [a-zA-Z0-9:_-]+ (ThingName, Service) plus extra characters. */
static bool
match_set(const char *s, const char *extra)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(extra, c)))
			return false;
	}
	return true;
}

/* Tag keys and values: letters, separators, numbers, and _.:/=+-@. */
static bool
match_tag(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x80)
			continue; /* non-ASCII letters: accepted */
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(" _.:/=+-@", c)))
			return false;
	}
	return true;
}

static bool
no_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void
check_string(struct verr *v, const char *path, const char *s, size_t min,
    size_t max, const char *extra)
{
	char c[128];
	size_t n = u8len(s);

	if (n < min) {
		snprintf(c, sizeof(c), "have length greater than or equal"
		    " to %zu", min);
		verr_add(v, path, s, c);
	} else if (n > max) {
		snprintf(c, sizeof(c), "have length less than or equal"
		    " to %zu", max);
		verr_add(v, path, s, c);
	} else if (extra && !match_set(s, extra)) {
		snprintf(c, sizeof(c), "satisfy regular expression pattern:"
		    " [a-zA-Z0-9%s]+", extra);
		verr_add(v, path, s, c);
	}
}

/* Checks a DestinationConfig, adding what is wrong to v. */
static void
check_dest_config(struct verr *v, const char *base, const cJSON *dc)
{
	const cJSON *thing = cJSON_GetObjectItemCaseSensitive(dc, "thingName");
	const cJSON *svcs = cJSON_GetObjectItemCaseSensitive(dc, "services");
	const cJSON *s;
	char path[128];
	int i = 0, j;

	if (thing) {
		snprintf(path, sizeof(path), "%s.thingName", base);
		check_string(v, path, thing->valuestring, 1, 128, ":_-");
	}
	snprintf(path, sizeof(path), "%s.services", base);
	if (!svcs) {
		verr_add(v, path, NULL, "not be null");
		return;
	}
	if (cJSON_GetArraySize(svcs) < 1) {
		verr_add(v, path, "[]", "have length greater than or equal"
		    " to 1");
		return;
	}
	if (cJSON_GetArraySize(svcs) > (int)IST_MAX_SERVICES) {
		verr_add(v, path, "[...]", "have length less than or equal"
		    " to 3");
		return;
	}
	cJSON_ArrayForEach(s, svcs) {
		const cJSON *o;

		snprintf(path, sizeof(path), "%s.services.%d.member", base,
		    i + 1);
		check_string(v, path, s->valuestring, 1, 128, ":_-");
		j = 0;
		cJSON_ArrayForEach(o, svcs) {
			if (j++ < i && !strcmp(o->valuestring,
			    s->valuestring)) {
				verr_add(v, path, s->valuestring,
				    "be unique in services");
				break;
			}
		}
		i++;
	}
}

/*
 * Type checks first (AWS answers SerializationException for a JSON type
 * that does not fit the shape), then constraints.
 */
static bool
is_str(const cJSON *j)
{
	return !j || cJSON_IsString(j);
}

static bool
is_int(const cJSON *j)
{
	return !j || (cJSON_IsNumber(j) && j->valuedouble == (double)
	    (long long)j->valuedouble);
}

static bool
dest_config_types_ok(const cJSON *dc)
{
	const cJSON *s, *svcs;

	if (!dc)
		return true;
	if (!cJSON_IsObject(dc))
		return false;
	if (!is_str(cJSON_GetObjectItemCaseSensitive(dc, "thingName")))
		return false;
	svcs = cJSON_GetObjectItemCaseSensitive(dc, "services");
	if (svcs && !cJSON_IsArray(svcs))
		return false;
	cJSON_ArrayForEach(s, svcs)
		if (!cJSON_IsString(s))
			return false;
	return true;
}

static char *
serialization_error(void)
{
	return emu_api_error("SerializationException",
	    "Start of structure or map found where not expected, or a value"
	    " of the wrong type");
}

static void
add_time(cJSON *o, const char *name, double t)
{
	cJSON_AddNumberToObject(o, name, (double)(long long)(t * 1000.0) /
	    1000.0);
}

static cJSON *
dest_config_json(const struct emu_tunnel *t)
{
	cJSON *dc = cJSON_CreateObject(), *svcs;
	size_t i;

	if (!dc)
		return NULL;
	if (t->thing)
		cJSON_AddStringToObject(dc, "thingName", t->thing);
	svcs = cJSON_AddArrayToObject(dc, "services");
	for (i = 0; svcs && i < t->n_services; i++)
		cJSON_AddItemToArray(svcs, cJSON_CreateString(t->services[i]));
	return dc;
}

/* Replaces t's destination config with dc (already validated). */
static int
set_dest_config(struct emu_tunnel *t, const cJSON *dc)
{
	const cJSON *thing = cJSON_GetObjectItemCaseSensitive(dc, "thingName");
	const cJSON *svcs = cJSON_GetObjectItemCaseSensitive(dc, "services");
	const cJSON *s;
	char *nt = NULL, *ns[IST_MAX_SERVICES] = { NULL };
	size_t n = 0, i;

	if (thing && !(nt = strdup(thing->valuestring)))
		return IST_ERR_NOMEM;
	cJSON_ArrayForEach(s, svcs) {
		if (n >= IST_MAX_SERVICES || !(ns[n] = strdup(s->valuestring)))
			goto fail;
		n++;
	}
	free(t->thing);
	t->thing = nt;
	for (i = 0; i < t->n_services; i++)
		free(t->services[i]);
	memcpy(t->services, ns, sizeof(ns));
	t->n_services = n;
	t->has_dest_config = true;
	return 0;
fail:
	free(nt);
	for (i = 0; i < n; i++)
		free(ns[i]);
	return IST_ERR_NOMEM;
}

static char *
print_free(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;

	cJSON_Delete(o);
	return s;
}

/* Tag list constraints (TagList, Tag, TagKey, TagValue). */
static void
check_tags(struct verr *v, const cJSON *tags)
{
	const cJSON *tag;
	int i;

	if (cJSON_GetArraySize(tags) < 1)
		verr_add(v, "tags", "[]", "have length greater than or equal"
		    " to 1");
	if (cJSON_GetArraySize(tags) > 200)
		verr_add(v, "tags", "[...]", "have length less than or equal"
		    " to 200");
	i = 0;
	cJSON_ArrayForEach(tag, tags) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(tag, "key");
		const cJSON *val = cJSON_GetObjectItemCaseSensitive(tag,
		    "value");
		char path[64];

		i++;
		snprintf(path, sizeof(path), "tags.%d.member.key", i);
		if (!k)
			verr_add(v, path, NULL, "not be null");
		else if (u8len(k->valuestring) < 1 ||
		    u8len(k->valuestring) > 128)
			verr_add(v, path, k->valuestring, "have length between"
			    " 1 and 128");
		else if (!match_tag(k->valuestring))
			verr_add(v, path, k->valuestring, "satisfy regular "
			    "expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+"
			    "\\-@]*)$");
		snprintf(path, sizeof(path), "tags.%d.member.value", i);
		if (!val)
			verr_add(v, path, NULL, "not be null");
		else if (u8len(val->valuestring) > 256)
			verr_add(v, path, val->valuestring, "have length less"
			    " than or equal to 256");
		else if (!match_tag(val->valuestring))
			verr_add(v, path, val->valuestring, "satisfy regular "
			    "expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+"
			    "\\-@]*)$");
	}
}

/* Type checks of a TagList; false: SerializationException. */
static bool
tags_types_ok(const cJSON *tags)
{
	const cJSON *tag;

	if (!tags)
		return true;
	if (!cJSON_IsArray(tags))
		return false;
	cJSON_ArrayForEach(tag, tags) {
		if (!cJSON_IsObject(tag) ||
		    !is_str(cJSON_GetObjectItemCaseSensitive(tag, "key")) ||
		    !is_str(cJSON_GetObjectItemCaseSensitive(tag, "value")))
			return false;
	}
	return true;
}

static char *
op_open(struct emu *emu, const cJSON *in, int *status)
{
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(in, "description");
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(in, "tags");
	const cJSON *dc = cJSON_GetObjectItemCaseSensitive(in,
	    "destinationConfig");
	const cJSON *tc = cJSON_GetObjectItemCaseSensitive(in, "timeoutConfig");
	const cJSON *mins = NULL;
	struct emu_tunnel *t = NULL;
	struct verr v;
	cJSON *out;

	memset(&v, 0, sizeof(v));
	if (tc && !cJSON_IsObject(tc))
		return serialization_error();
	if (tc)
		mins = cJSON_GetObjectItemCaseSensitive(tc,
		    "maxLifetimeTimeoutMinutes");
	if (!is_str(desc) || !tags_types_ok(tags) ||
	    !dest_config_types_ok(dc) || !is_int(mins))
		return serialization_error();

	if (desc) {
		check_string(&v, "description", desc->valuestring, 1, 2048,
		    NULL);
		if (!no_control(desc->valuestring))
			verr_add(&v, "description", desc->valuestring,
			    "satisfy regular expression pattern: "
			    "[^\\p{C}]{1,2048}");
	}
	if (tags)
		check_tags(&v, tags);
	if (dc)
		check_dest_config(&v, "destinationConfig", dc);
	if (mins && (mins->valuedouble < 1 || mins->valuedouble > 720)) {
		char val[32];

		snprintf(val, sizeof(val), "%lld",
		    (long long)mins->valuedouble);
		verr_add(&v, "timeoutConfig.maxLifetimeTimeoutMinutes", val,
		    mins->valuedouble < 1 ? "have value greater than or equal"
		    " to 1" : "have value less than or equal to 720");
	}
	if (v.n)
		return verr_body(&v);

	if (emu->max_open > 0 &&
	    emu_tunnel_count_open(emu) >= (size_t)emu->max_open) {
		*status = 400;
		return emu_api_error("LimitExceededException",
		    "Limit exceeded: at most %d open tunnels", emu->max_open);
	}

	if (emu_tunnel_new(emu, &t) != 0)
		goto nomem;
	if (desc && !(t->description = strdup(desc->valuestring)))
		goto nomem;
	if (tags && !(t->tags = cJSON_Duplicate(tags, 1)))
		goto nomem;
	if (dc && set_dest_config(t, dc) != 0)
		goto nomem;
	if (mins)
		t->timeout_min = (int)mins->valuedouble;
	emu_tunnel_arm(t);
	ist_info("tunnel %s: opened (thing %s, %zu service%s, lifetime %d"
	    " min)", t->id, t->thing ? t->thing : "-", t->n_services,
	    t->n_services == 1 ? "" : "s", t->timeout_min);

	out = cJSON_CreateObject();
	if (!out)
		goto nomem;
	cJSON_AddStringToObject(out, "tunnelId", t->id);
	cJSON_AddStringToObject(out, "tunnelArn", t->arn);
	cJSON_AddStringToObject(out, "sourceAccessToken",
	    t->side[EMU_SOURCE].token);
	cJSON_AddStringToObject(out, "destinationAccessToken",
	    t->side[EMU_DEST].token);
	if (t->thing && emu->mqtt)
		emu_mqtt_notify(emu, t);
	*status = 200;
	return print_free(out);
nomem:
	if (t)
		emu_tunnel_delete(t);
	*status = 500;
	return emu_api_error("InternalFailure", "out of memory");
}

/* Finds the tunnel named by "tunnelId" or fills the error answer. */
static struct emu_tunnel *
tunnel_arg(struct emu *emu, const cJSON *in, int *status, char **err)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(in, "tunnelId");
	struct emu_tunnel *t;
	struct verr v;

	memset(&v, 0, sizeof(v));
	if (!is_str(id)) {
		*err = serialization_error();
		return NULL;
	}
	if (!id) {
		verr_add(&v, "tunnelId", NULL, "not be null");
		*err = verr_body(&v);
		return NULL;
	}
	check_string(&v, "tunnelId", id->valuestring, 1, 128, "_-+=:");
	if (v.n) {
		*err = verr_body(&v);
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

static cJSON *
conn_state(const struct emu_tunnel *t, enum emu_side s)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "status", t->side[s].conn ?
	    "CONNECTED" : "DISCONNECTED");
	add_time(o, "lastUpdatedAt", t->side[s].state_at);
	return o;
}

static char *
op_describe(struct emu *emu, const cJSON *in, int *status)
{
	struct emu_tunnel *t;
	cJSON *out, *o, *tc;
	char *err = NULL;

	if (!(t = tunnel_arg(emu, in, status, &err)))
		return err;
	out = cJSON_CreateObject();
	o = cJSON_AddObjectToObject(out, "tunnel");
	if (!o)
		goto nomem;
	cJSON_AddStringToObject(o, "tunnelId", t->id);
	cJSON_AddStringToObject(o, "tunnelArn", t->arn);
	cJSON_AddStringToObject(o, "status", t->open ? "OPEN" : "CLOSED");
	cJSON_AddItemToObject(o, "sourceConnectionState",
	    conn_state(t, EMU_SOURCE));
	cJSON_AddItemToObject(o, "destinationConnectionState",
	    conn_state(t, EMU_DEST));
	if (t->description)
		cJSON_AddStringToObject(o, "description", t->description);
	if (t->has_dest_config)
		cJSON_AddItemToObject(o, "destinationConfig",
		    dest_config_json(t));
	tc = cJSON_AddObjectToObject(o, "timeoutConfig");
	if (tc)
		cJSON_AddNumberToObject(tc, "maxLifetimeTimeoutMinutes",
		    t->timeout_min);
	if (t->tags)
		cJSON_AddItemToObject(o, "tags", cJSON_Duplicate(t->tags, 1));
	add_time(o, "createdAt", t->created_at);
	add_time(o, "lastUpdatedAt", t->updated_at);
	*status = 200;
	return print_free(out);
nomem:
	cJSON_Delete(out);
	*status = 500;
	return emu_api_error("InternalFailure", "out of memory");
}

static char *
op_close(struct emu *emu, const cJSON *in, int *status)
{
	const cJSON *del = cJSON_GetObjectItemCaseSensitive(in, "delete");
	struct emu_tunnel *t;
	char *err = NULL;

	if (del && !cJSON_IsBool(del))
		return serialization_error();
	if (!(t = tunnel_arg(emu, in, status, &err)))
		return err;
	emu_tunnel_close(t, "CloseTunnel");
	if (cJSON_IsTrue(del))
		emu_tunnel_delete(t);
	*status = 200;
	return strdup("{}");
}

static char *
op_rotate(struct emu *emu, const cJSON *in, int *status)
{
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(in, "clientMode");
	const cJSON *dc = cJSON_GetObjectItemCaseSensitive(in,
	    "destinationConfig");
	struct emu_tunnel *t;
	struct verr v;
	cJSON *out;
	char *err = NULL;
	bool src, dst;

	memset(&v, 0, sizeof(v));
	if (!is_str(mode) || !dest_config_types_ok(dc))
		return serialization_error();
	if (!(t = tunnel_arg(emu, in, status, &err)))
		return err;
	if (!mode)
		verr_add(&v, "clientMode", NULL, "not be null");
	else if (strcmp(mode->valuestring, "SOURCE") &&
	    strcmp(mode->valuestring, "DESTINATION") &&
	    strcmp(mode->valuestring, "ALL"))
		verr_add(&v, "clientMode", mode->valuestring, "satisfy enum "
		    "value set: [SOURCE, DESTINATION, ALL]");
	if (dc)
		check_dest_config(&v, "destinationConfig", dc);
	if (v.n)
		return verr_body(&v);
	if (!t->open) {
		*status = 400;
		return emu_api_error("InvalidRequestException",
		    "Tunnel %s is closed", t->id);
	}
	src = strcmp(mode->valuestring, "DESTINATION") != 0;
	dst = strcmp(mode->valuestring, "SOURCE") != 0;
	if (dc && set_dest_config(t, dc) != 0)
		goto nomem;
	if ((src && emu_tunnel_rotate(t, EMU_SOURCE) != 0) ||
	    (dst && emu_tunnel_rotate(t, EMU_DEST) != 0))
		goto nomem;
	ist_info("tunnel %s: %s token%s rotated", t->id,
	    src && dst ? "source and destination" : src ? "source" :
	    "destination", src && dst ? "s" : "");
	out = cJSON_CreateObject();
	if (!out)
		goto nomem;
	cJSON_AddStringToObject(out, "tunnelArn", t->arn);
	if (src)
		cJSON_AddStringToObject(out, "sourceAccessToken",
		    t->side[EMU_SOURCE].token);
	if (dst)
		cJSON_AddStringToObject(out, "destinationAccessToken",
		    t->side[EMU_DEST].token);
	if (dst && dc && t->thing && emu->mqtt)
		emu_mqtt_notify(emu, t);
	*status = 200;
	return print_free(out);
nomem:
	*status = 500;
	return emu_api_error("InternalFailure", "out of memory");
}

static char *
op_list(struct emu *emu, const cJSON *in, int *status)
{
	const cJSON *thing = cJSON_GetObjectItemCaseSensitive(in, "thingName");
	const cJSON *maxr = cJSON_GetObjectItemCaseSensitive(in, "maxResults");
	const cJSON *next = cJSON_GetObjectItemCaseSensitive(in, "nextToken");
	struct emu_tunnel *t;
	struct verr v;
	cJSON *out, *arr;
	unsigned long long from = ~0ull;
	int max = 100, n = 0;

	memset(&v, 0, sizeof(v));
	if (!is_str(thing) || !is_int(maxr) || !is_str(next))
		return serialization_error();
	if (thing)
		check_string(&v, "thingName", thing->valuestring, 1, 128,
		    ":_-");
	if (maxr) {
		char val[32];

		snprintf(val, sizeof(val), "%lld",
		    (long long)maxr->valuedouble);
		if (maxr->valuedouble < 1)
			verr_add(&v, "maxResults", val, "have value greater "
			    "than or equal to 1");
		else if (maxr->valuedouble > 100)
			verr_add(&v, "maxResults", val, "have value less than "
			    "or equal to 100");
		else
			max = (int)maxr->valuedouble;
	}
	if (next) {
		/* Our tokens are "n" + the sequence number to resume at. */
		const char *s = next->valuestring;
		char *end;

		check_string(&v, "nextToken", s, 1, 4096, "_=-");
		if (!v.n && (s[0] != 'n' || !s[1] ||
		    (from = strtoull(s + 1, &end, 10), *end))) {
			*status = 400;
			return emu_api_error("InvalidRequestException",
			    "Invalid nextToken");
		}
	}
	if (v.n)
		return verr_body(&v);

	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "tunnelSummaries");
	if (!arr)
		goto nomem;
	/* The table is newest first, as AWS lists. */
	for (t = emu->tunnels; t; t = t->next) {
		cJSON *o;

		if (t->seq > from)
			continue;
		if (thing && (!t->thing || strcmp(t->thing,
		    thing->valuestring)))
			continue;
		if (n == max) {
			char tok[32];

			snprintf(tok, sizeof(tok), "n%llu",
			    (unsigned long long)t->seq);
			cJSON_AddStringToObject(out, "nextToken", tok);
			break;
		}
		o = cJSON_CreateObject();
		if (!o)
			goto nomem;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "tunnelId", t->id);
		cJSON_AddStringToObject(o, "tunnelArn", t->arn);
		cJSON_AddStringToObject(o, "status", t->open ? "OPEN" :
		    "CLOSED");
		if (t->description)
			cJSON_AddStringToObject(o, "description",
			    t->description);
		add_time(o, "createdAt", t->created_at);
		add_time(o, "lastUpdatedAt", t->updated_at);
		n++;
	}
	*status = 200;
	return print_free(out);
nomem:
	cJSON_Delete(out);
	*status = 500;
	return emu_api_error("InternalFailure", "out of memory");
}

/* Finds the tunnel named by "resourceArn" or fills the error answer. */
static struct emu_tunnel *
arn_arg(struct emu *emu, const cJSON *in, int *status, char **err)
{
	const cJSON *arn = cJSON_GetObjectItemCaseSensitive(in, "resourceArn");
	struct emu_tunnel *t;
	struct verr v;

	memset(&v, 0, sizeof(v));
	if (!is_str(arn)) {
		*err = serialization_error();
		return NULL;
	}
	if (!arn)
		verr_add(&v, "resourceArn", NULL, "not be null");
	else
		check_string(&v, "resourceArn", arn->valuestring, 1, 1011,
		    NULL);
	if (v.n) {
		*err = verr_body(&v);
		return NULL;
	}
	for (t = emu->tunnels; t; t = t->next)
		if (!strcmp(t->arn, arn->valuestring))
			return t;
	*status = 404;
	*err = emu_api_error("ResourceNotFoundException",
	    "Resource %s not found", arn->valuestring);
	return NULL;
}

static char *
op_list_tags(struct emu *emu, const cJSON *in, int *status)
{
	struct emu_tunnel *t;
	cJSON *out;
	char *err = NULL;

	if (!(t = arn_arg(emu, in, status, &err)))
		return err;
	out = cJSON_CreateObject();
	if (!out)
		return NULL;
	if (t->tags)
		cJSON_AddItemToObject(out, "tags", cJSON_Duplicate(t->tags, 1));
	*status = 200;
	return print_free(out);
}

/* Index of the tag with key k in t's tags, or -1. */
static int
tag_index(const struct emu_tunnel *t, const char *k)
{
	const cJSON *tag;
	int i = 0;

	cJSON_ArrayForEach(tag, t->tags) {
		const cJSON *key = cJSON_GetObjectItemCaseSensitive(tag, "key");

		if (cJSON_IsString(key) && !strcmp(key->valuestring, k))
			return i;
		i++;
	}
	return -1;
}

static char *
op_tag(struct emu *emu, const cJSON *in, int *status)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(in, "tags");
	const cJSON *tag;
	struct emu_tunnel *t;
	struct verr v;
	char *err = NULL;

	memset(&v, 0, sizeof(v));
	if (!tags_types_ok(tags))
		return serialization_error();
	if (!(t = arn_arg(emu, in, status, &err)))
		return err;
	if (!tags)
		verr_add(&v, "tags", NULL, "not be null");
	else
		check_tags(&v, tags);
	if (v.n)
		return verr_body(&v);
	if (!t->tags && !(t->tags = cJSON_CreateArray()))
		return NULL;
	cJSON_ArrayForEach(tag, tags) {
		const char *k = cJSON_GetObjectItemCaseSensitive(tag,
		    "key")->valuestring;
		int i = tag_index(t, k);
		cJSON *dup = cJSON_Duplicate(tag, 1);

		if (!dup)
			return NULL;
		if (i >= 0)
			cJSON_ReplaceItemInArray(t->tags, i, dup);
		else
			cJSON_AddItemToArray(t->tags, dup);
	}
	emu_tunnel_touch(t);
	*status = 200;
	return strdup("{}");
}

static char *
op_untag(struct emu *emu, const cJSON *in, int *status)
{
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(in, "tagKeys");
	const cJSON *k;
	struct emu_tunnel *t;
	struct verr v;
	char *err = NULL;

	memset(&v, 0, sizeof(v));
	if (keys && !cJSON_IsArray(keys))
		return serialization_error();
	cJSON_ArrayForEach(k, keys)
		if (!cJSON_IsString(k))
			return serialization_error();
	if (!(t = arn_arg(emu, in, status, &err)))
		return err;
	if (!keys)
		verr_add(&v, "tagKeys", NULL, "not be null");
	else if (cJSON_GetArraySize(keys) > 200)
		verr_add(&v, "tagKeys", "[...]", "have length less than or "
		    "equal to 200");
	if (v.n)
		return verr_body(&v);
	cJSON_ArrayForEach(k, keys) {
		int i = tag_index(t, k->valuestring);

		if (i >= 0)
			cJSON_DeleteItemFromArray(t->tags, i);
	}
	if (t->tags && cJSON_GetArraySize(t->tags) == 0) {
		cJSON_Delete(t->tags);
		t->tags = NULL;
	}
	emu_tunnel_touch(t);
	*status = 200;
	return strdup("{}");
}

/* "YYYYMMDDTHHMMSSZ" to time_t, or -1. */
static time_t
parse_amz_date(const char *s)
{
	struct tm tm;
	int i;

	if (!s || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return -1;
	for (i = 0; i < 15; i++)
		if (i != 8 && (s[i] < '0' || s[i] > '9'))
			return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
	    (s[2] - '0') * 10 + (s[3] - '0') - 1900;
	tm.tm_mon = (s[4] - '0') * 10 + (s[5] - '0') - 1;
	tm.tm_mday = (s[6] - '0') * 10 + (s[7] - '0');
	tm.tm_hour = (s[9] - '0') * 10 + (s[10] - '0');
	tm.tm_min = (s[11] - '0') * 10 + (s[12] - '0');
	tm.tm_sec = (s[13] - '0') * 10 + (s[14] - '0');
	return timegm(&tm);
}

static void
fmt_amz_date(time_t t, char out[IST_SIGV4_AMZDATE_LEN])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, IST_SIGV4_AMZDATE_LEN, "%Y%m%dT%H%M%SZ", &tm);
}

/* Copies the "Name=" field of an Authorization value into out. */
static int
auth_field(const char *auth, const char *name, char *out, size_t outsz)
{
	const char *p = strstr(auth, name);
	size_t n;

	if (!p)
		return -1;
	p += strlen(name);
	n = strcspn(p, ", ");
	if (n == 0 || n >= outsz)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/*
 * Verifies the SigV4 Authorization of r. Returns 0, or fills *status and
 * *body with AWS's answer for the failure.
 */
static int
verify(struct emu *emu, const struct emu_req *r, int *status, char **body)
{
	char cred[512], sigh[1024], sig[128];
	char *parts[5] = { NULL };
	const struct emu_cred *c = NULL;
	struct ist_sigv4_request req;
	struct ist_sigv4_params p;
	struct ist_sigv4_result res;
	struct ist_err e;
	char *s;
	time_t t, now = time(NULL);
	size_t i, n = 0;
	int rc = -1;

	*status = 403;
	memset(&res, 0, sizeof(res));
	if (!r->auth) {
		*body = emu_api_error("MissingAuthenticationTokenException",
		    "Missing Authentication Token");
		return -1;
	}
	if (strncmp(r->auth, "AWS4-HMAC-SHA256 ", 17) ||
	    auth_field(r->auth, "Credential=", cred, sizeof(cred)) ||
	    auth_field(r->auth, "SignedHeaders=", sigh, sizeof(sigh)) ||
	    auth_field(r->auth, "Signature=", sig, sizeof(sig))) {
		*status = 400;
		*body = emu_api_error("IncompleteSignatureException",
		    "Authorization header requires 'Credential', "
		    "'Signature' and 'SignedHeaders' parameters (AWS4-HMAC-"
		    "SHA256)");
		return -1;
	}
	/* AKID/date/region/service/aws4_request */
	for (s = cred; n < 5; n++) {
		parts[n] = s;
		s = strchr(s, '/');
		if (!s)
			break;
		*s++ = '\0';
	}
	if (n != 4 || strcmp(parts[4], "aws4_request")) {
		*status = 400;
		*body = emu_api_error("IncompleteSignatureException",
		    "Credential must have exactly 5 slash-delimited elements,"
		    " e.g. keyid/date/region/service/term");
		return -1;
	}
	for (i = 0; i < emu->n_creds; i++)
		if (!strcmp(emu->creds[i].akid, parts[0]))
			c = &emu->creds[i];
	if (emu->n_creds && !c) {
		*body = emu_api_error("UnrecognizedClientException",
		    "The security token included in the request is invalid.");
		return -1;
	}
	if (c && ((c->session_token && (!r->sec_token ||
	    strcmp(c->session_token, r->sec_token))) ||
	    (!c->session_token && r->sec_token))) {
		*body = emu_api_error("UnrecognizedClientException",
		    "The security token included in the request is invalid.");
		return -1;
	}
	t = parse_amz_date(r->amz_date);
	if (t < 0) {
		*body = emu_api_error("IncompleteSignatureException",
		    "Authorization header requires existence of either a "
		    "'X-Amz-Date' or a 'Date' header.");
		*status = 400;
		return -1;
	}
	if (t < now - SIG_SKEW || t > now + SIG_SKEW) {
		char a[IST_SIGV4_AMZDATE_LEN], b[IST_SIGV4_AMZDATE_LEN];

		fmt_amz_date(now + (t < now ? -SIG_SKEW : SIG_SKEW), a);
		fmt_amz_date(now, b);
		*body = emu_api_error("InvalidSignatureException",
		    "Signature expired: %s is now %s than %s (%s %c 5 min.)",
		    r->amz_date, t < now ? "earlier" : "later", a, b,
		    t < now ? '-' : '+');
		return -1;
	}
	if (strncmp(parts[1], r->amz_date, 8) || strlen(parts[1]) != 8) {
		*body = emu_api_error("InvalidSignatureException",
		    "Date in Credential scope does not match YYYYMMDD from "
		    "ISO-8601 version of date from HTTP: '%.8s' != '%.8s', "
		    "from '%s'.", parts[1], r->amz_date, r->amz_date);
		return -1;
	}
	if (strcmp(parts[2], emu->region)) {
		*body = emu_api_error("InvalidSignatureException",
		    "Credential should be scoped to a valid region. ");
		return -1;
	}
	if (strcasecmp(parts[3], "iotsecuredtunneling")) {
		*body = emu_api_error("InvalidSignatureException",
		    "Credential should be scoped to correct service: "
		    "'IoTSecuredTunneling'. ");
		return -1;
	}
	if (!c)
		return 0; /* no keys configured: accept any */

	memset(&req, 0, sizeof(req));
	req.method = r->method;
	req.path = r->path;
	req.query = r->query;
	req.headers = r->headers;
	req.n_headers = r->n_headers;
	req.body = r->body;
	req.body_len = r->body_len;
	memset(&p, 0, sizeof(p));
	p.access_key_id = c->akid;
	p.secret_access_key = c->secret;
	p.region = parts[2];
	p.service = parts[3];
	p.now = t;
	p.normalize_path = 1;
	p.signed_headers = sigh;
	memset(&e, 0, sizeof(e));
	if (ist_sigv4_sign(&req, &p, &res, &e) != 0) {
		*status = 400;
		*body = emu_api_error("IncompleteSignatureException", "%s",
		    e.msg);
		goto out;
	}
	if (strlen(sig) != strlen(res.signature) ||
	    CRYPTO_memcmp(sig, res.signature, strlen(sig))) {
		ist_debug3("signature mismatch; string to sign: %s",
		    res.string_to_sign);
		*body = emu_api_error("InvalidSignatureException",
		    "The request signature we calculated does not match the "
		    "signature you provided. Check your AWS Secret Access Key "
		    "and signing method. Consult the service documentation for"
		    " details.");
		goto out;
	}
	rc = 0;
out:
	ist_sigv4_result_free(&res);
	return rc;
}

void
emu_api_handle(struct emu *emu, const struct emu_req *r, int *status,
    char **body, const char **content_type)
{
	static const char prefix[] = "IoTSecuredTunneling.";
	struct emu_faults *f = &emu->faults;
	const char *op;
	cJSON *in = NULL;

	*status = 400;
	*body = NULL;
	(void)content_type; /* every answer here is JSON */
	/* http.c sends every path here (the interface with "creds"). */
	if (strcmp(r->path, "/") || strcmp(r->method, "POST")) {
		bool root = !strcmp(r->path, "/");

		*status = root ? 405 : 404;
		*body = emu_api_error("UnknownOperationException", "%s", root ?
		    "Method not allowed: the API takes POST /" :
		    "Not found: the API is POST /, the data plane /tunnel");
		return;
	}
	if (f->fail_count > 0 && emu_fault_applies(f->fail_op, r->target)) {
		f->fail_count--;
		*status = f->fail_status;
		*body = emu_api_error(f->fail_type, "%s", *status == 500 ?
		    "Internal failure (injected)" : "Rate exceeded");
		ist_verbose("fault: answered %d %s", *status, f->fail_type);
		return;
	}
	if (verify(emu, r, status, body) != 0) {
		ist_info("API request refused: %d (%s)", *status,
		    *body ? *body : "");
		return;
	}
	*status = 400;
	if (!r->target || strncmp(r->target, prefix, sizeof(prefix) - 1)) {
		*body = emu_api_error("UnknownOperationException", "%s",
		    r->target ? "Unknown operation" : "Missing X-Amz-Target");
		return;
	}
	op = r->target + sizeof(prefix) - 1;
	if (r->body_len) {
		in = cJSON_ParseWithLength((const char *)r->body, r->body_len);
		if (!in || !cJSON_IsObject(in)) {
			*body = serialization_error();
			goto out;
		}
	} else {
		in = cJSON_CreateObject();
	}
	if (!in) {
		*status = 500;
		goto out;
	}
	ist_verbose("API %s", op);
	if (!strcmp(op, "OpenTunnel"))
		*body = op_open(emu, in, status);
	else if (!strcmp(op, "DescribeTunnel"))
		*body = op_describe(emu, in, status);
	else if (!strcmp(op, "CloseTunnel"))
		*body = op_close(emu, in, status);
	else if (!strcmp(op, "RotateTunnelAccessToken"))
		*body = op_rotate(emu, in, status);
	else if (!strcmp(op, "ListTunnels"))
		*body = op_list(emu, in, status);
	else if (!strcmp(op, "ListTagsForResource"))
		*body = op_list_tags(emu, in, status);
	else if (!strcmp(op, "TagResource"))
		*body = op_tag(emu, in, status);
	else if (!strcmp(op, "UntagResource"))
		*body = op_untag(emu, in, status);
	else
		*body = emu_api_error("UnknownOperationException",
		    "Unknown operation %.64s", op);
out:
	cJSON_Delete(in);
}
