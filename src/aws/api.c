/*
 * api.c: the IoT Secure Tunneling API client (AWS JSON 1.1 over HTTPS,
 * SigV4), with input checks from the API model
 * (botocore/data/iotsecuretunneling/2018-10-05/service-2.json) and the
 * SDKs' "standard" retry mode.
 *
 * Secrets: the credentials go only to the signer and the request
 * headers, which are never logged; OpenTunnel and RotateTunnelAccessToken
 * answers hold tunnel access tokens, so their bodies are never logged
 * and are wiped once copied.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "aws_int.h"
#include "ist/api.h"
#include "ist/sigv4.h"

#define SERVICE "IoTSecuredTunneling"
#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 30000
#define MAX_SERVICES 3 /* the documented per-tunnel limit */

/* ---- input checks ------------------------------------------------- */

static bool
chars_in(const char *s, const char *set)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(set, *s))
			return false;
	return true;
}

/* A string of 1..max characters of [a-zA-Z0-9<set>]. */
static int
check_simple(const char *op, const char *field, const cJSON *v, size_t max,
    const char *set, const char *pattern, struct ist_err *e)
{
	char shown[65];
	size_t n;

	if (!cJSON_IsString(v) || !v->valuestring)
		return ist_err_set(e, IST_ERR_INVAL, "%s: %s must be a string",
		    op, field);
	n = strlen(v->valuestring);
	if (n < 1 || n > max)
		return ist_err_set(e, IST_ERR_INVAL, "%s: %s must be 1 to %zu "
		    "characters long (it has %zu)", op, field, max, n);
	if (!chars_in(v->valuestring, set)) {
		/* The value may hold terminal escapes: never print it raw. */
		aws_clean_copy(shown, sizeof(shown), v->valuestring);
		return ist_err_set(e, IST_ERR_INVAL, "%s: %s '%s' does not "
		    "match %s", op, field, shown, pattern);
	}
	return 0;
}

/*
 * Decodes one UTF-8 sequence; returns its length or 0 when invalid
 * (overlong, surrogate, over U+10FFFF, truncated).
 */
static size_t
utf8_next(const unsigned char *p, uint32_t *cp)
{
	size_t n, i;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if ((p[0] & 0xe0) == 0xc0) {
		n = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		n = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		n = 4;
		c = p[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/*
 * Unicode category C (control, format, private use, surrogate,
 * unassigned), as far as it can be told without the Unicode tables:
 * controls, the common format characters, private use and
 * noncharacters. Unassigned code points are not detected.
 */
static bool
is_category_c(uint32_t c)
{
	static const uint32_t ranges[][2] = {
		{ 0x0, 0x1f }, { 0x7f, 0x9f }, { 0xad, 0xad },
		{ 0x600, 0x605 }, { 0x61c, 0x61c }, { 0x6dd, 0x6dd },
		{ 0x70f, 0x70f }, { 0x180e, 0x180e }, { 0x200b, 0x200f },
		{ 0x202a, 0x202e }, { 0x2060, 0x2064 }, { 0x2066, 0x206f },
		{ 0xe000, 0xf8ff }, { 0xfdd0, 0xfdef }, { 0xfeff, 0xfeff },
		{ 0xfff9, 0xfffb }, { 0xe0001, 0xe007f }, { 0xf0000, 0x10ffff },
	};

	if ((c & 0xfffe) == 0xfffe)
		return true;
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if (c >= ranges[i][0] && c <= ranges[i][1])
			return true;
	return false;
}

/* Tag characters: \p{L}\p{Z}\p{N} and _.:/=+-@ (ASCII exactly). */
static bool
tag_char(uint32_t c)
{
	if (c < 0x80)
		return isalnum((int)c) || c == ' ' || strchr("_.:/=+-@", (int)c);
	return !is_category_c(c);
}

/* Checks a UTF-8 string of min..max code points, each passing ok(). */
static int
check_text(const char *op, const char *field, const cJSON *v, size_t min,
    size_t max, bool (*ok)(uint32_t), const char *rule, struct ist_err *e)
{
	const unsigned char *p;
	size_t n = 0;

	if (!cJSON_IsString(v) || !v->valuestring)
		return ist_err_set(e, IST_ERR_INVAL, "%s: %s must be a string",
		    op, field);
	for (p = (const unsigned char *)v->valuestring; *p; n++) {
		uint32_t c;
		size_t l = utf8_next(p, &c);

		if (l == 0)
			return ist_err_set(e, IST_ERR_INVAL, "%s: %s is not "
			    "valid UTF-8", op, field);
		if (!ok(c))
			return ist_err_set(e, IST_ERR_INVAL, "%s: %s has a "
			    "character not allowed (U+%04X): %s", op, field,
			    (unsigned)c, rule);
		p += l;
	}
	if (n < min || n > max)
		return ist_err_set(e, IST_ERR_INVAL, "%s: %s must be %zu to %zu "
		    "characters long (it has %zu)", op, field, min, max, n);
	return 0;
}

static bool
not_category_c(uint32_t c)
{
	return !is_category_c(c);
}

/* Rejects members not in the model, as the SDKs' validation does. */
static int
check_members(const char *op, const char *where, const cJSON *o,
    const char *const *allowed, struct ist_err *e)
{
	const cJSON *m;

	if (!cJSON_IsObject(o))
		return ist_err_set(e, IST_ERR_INVAL, "%s: %s must be an object",
		    op, where);
	cJSON_ArrayForEach(m, o) {
		bool found = false;

		for (const char *const *a = allowed; *a && !found; a++)
			found = m->string && strcmp(m->string, *a) == 0;
		if (!found)
			return ist_err_set(e, IST_ERR_INVAL, "%s: unknown "
			    "field '%.64s' in %s", op, m->string ? m->string :
			    "", where);
	}
	return 0;
}

static int
check_int(const char *op, const char *field, const cJSON *v, int min,
    int max, struct ist_err *e)
{
	/* Range first: casting an out-of-range double is undefined. */
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= min &&
	    v->valuedouble <= max) ||
	    v->valuedouble != (double)(int)v->valuedouble)
		return ist_err_set(e, IST_ERR_INVAL, "%s: %s must be a whole "
		    "number from %d to %d", op, field, min, max);
	return 0;
}

static int
check_dest_config(const char *op, const cJSON *dc, struct ist_err *e)
{
	static const char *const members[] = { "thingName", "services", NULL };
	const cJSON *thing, *svcs, *s;
	char field[64];
	int r, i = 0;

	if ((r = check_members(op, "destinationConfig", dc, members, e)) < 0)
		return r;
	thing = cJSON_GetObjectItemCaseSensitive(dc, "thingName");
	if (thing && (r = check_simple(op, "destinationConfig.thingName",
	    thing, 128, ":_-", "[a-zA-Z0-9:_-]{1,128}", e)) < 0)
		return r;
	svcs = cJSON_GetObjectItemCaseSensitive(dc, "services");
	if (!svcs)
		return ist_err_set(e, IST_ERR_INVAL, "%s: destinationConfig."
		    "services is required", op);
	if (!cJSON_IsArray(svcs) || cJSON_GetArraySize(svcs) < 1 ||
	    cJSON_GetArraySize(svcs) > MAX_SERVICES)
		return ist_err_set(e, IST_ERR_INVAL, "%s: destinationConfig."
		    "services must be a list of 1 to %d service names", op,
		    MAX_SERVICES);
	cJSON_ArrayForEach(s, svcs) {
		snprintf(field, sizeof(field), "destinationConfig.services[%d]",
		    i++);
		if ((r = check_simple(op, field, s, 128, ":_-",
		    "[a-zA-Z0-9:_-]{1,128}", e)) < 0)
			return r;
	}
	return 0;
}

int
ist_api_check_open_tunnel(const cJSON *req, struct ist_err *e)
{
	static const char *const members[] = { "description", "tags",
		"destinationConfig", "timeoutConfig", NULL };
	static const char *const tag_members[] = { "key", "value", NULL };
	static const char *const to_members[] = {
		"maxLifetimeTimeoutMinutes", NULL };
	const char *op = "OpenTunnel";
	const cJSON *v, *t;
	char field[64];
	int r, i = 0;

	if ((r = check_members(op, "the request", req, members, e)) < 0)
		return r;
	v = cJSON_GetObjectItemCaseSensitive(req, "description");
	if (v && (r = check_text(op, "description", v, 1, 2048,
	    not_category_c, "no control or format characters", e)) < 0)
		return r;
	v = cJSON_GetObjectItemCaseSensitive(req, "tags");
	if (v) {
		if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 ||
		    cJSON_GetArraySize(v) > 200)
			return ist_err_set(e, IST_ERR_INVAL, "%s: tags must be "
			    "a list of 1 to 200 {key, value} objects", op);
		cJSON_ArrayForEach(t, v) {
			snprintf(field, sizeof(field), "tags[%d]", i);
			if ((r = check_members(op, field, t, tag_members,
			    e)) < 0)
				return r;
			snprintf(field, sizeof(field), "tags[%d].key", i);
			if ((r = check_text(op, field,
			    cJSON_GetObjectItemCaseSensitive(t, "key"), 1, 128,
			    tag_char, "letters, digits, spaces and _.:/=+-@",
			    e)) < 0)
				return r;
			snprintf(field, sizeof(field), "tags[%d].value", i);
			if ((r = check_text(op, field,
			    cJSON_GetObjectItemCaseSensitive(t, "value"), 0,
			    256, tag_char, "letters, digits, spaces and "
			    "_.:/=+-@", e)) < 0)
				return r;
			i++;
		}
	}
	v = cJSON_GetObjectItemCaseSensitive(req, "destinationConfig");
	if (v && (r = check_dest_config(op, v, e)) < 0)
		return r;
	v = cJSON_GetObjectItemCaseSensitive(req, "timeoutConfig");
	if (v) {
		if ((r = check_members(op, "timeoutConfig", v, to_members,
		    e)) < 0)
			return r;
		t = cJSON_GetObjectItemCaseSensitive(v,
		    "maxLifetimeTimeoutMinutes");
		if (t && (r = check_int(op, "timeoutConfig."
		    "maxLifetimeTimeoutMinutes", t, 1, 720, e)) < 0)
			return r;
	}
	return 0;
}

int
ist_api_check_tunnel_id(const char *op, const char *id, struct ist_err *e)
{
	cJSON v = { .type = cJSON_String, .valuestring = (char *)id };

	if (!id)
		return ist_err_set(e, IST_ERR_INVAL, "%s: tunnelId is "
		    "required", op);
	return check_simple(op, "tunnelId", &v, 128, "_-+=:",
	    "[a-zA-Z0-9_-+=:]{1,128}", e);
}

/* ---- transport ---------------------------------------------------- */

static const char *
iam_action(const char *op)
{
	if (strcmp(op, "OpenTunnel") == 0)
		return "iot:OpenTunnel (and iot:TagResource with tags)";
	if (strcmp(op, "DescribeTunnel") == 0)
		return "iot:DescribeTunnel";
	if (strcmp(op, "CloseTunnel") == 0)
		return "iot:CloseTunnel";
	if (strcmp(op, "RotateTunnelAccessToken") == 0)
		return "iot:RotateTunnelAccessToken";
	return "iot:ListTunnels";
}

static bool
is_throttle(const char *type)
{
	/*
	 * botocore's standard-mode throttling codes, less
	 * LimitExceededException: here it means the account has too many
	 * open tunnels, which no retry fixes.
	 */
	static const char *const codes[] = { "Throttling",
		"ThrottlingException", "ThrottledException",
		"RequestThrottledException", "TooManyRequestsException",
		"ProvisionedThroughputExceededException",
		"TransactionInProgressException", "RequestLimitExceeded",
		"BandwidthLimitExceeded", "RequestThrottled", "SlowDown",
		"PriorRequestNotComplete", "EC2ThrottledException" };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(type, codes[i]) == 0)
			return true;
	return false;
}

/*
 * Turns an error answer into a message and a code. Sets *retry for
 * throttling and 5xx. a may be NULL (aws_api_answer: no client at hand);
 * the hints then name no region or endpoint.
 */
static int
service_error(const char *op, const struct ist_aws *a, bool session,
    long status, const char *body, bool *retry, struct ist_err *e)
{
	cJSON *j = cJSON_Parse(body);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
	char type[96], msg[256], hbuf[600];
	const char *hint = NULL, *hash;
	int code = IST_ERR_AWS;

	if (!cJSON_IsString(m))
		m = cJSON_GetObjectItemCaseSensitive(j, "Message");
	if (cJSON_IsString(t) && t->valuestring) {
		/* "aws.protocoltests#Name" or "Name:http://..." forms. */
		hash = strrchr(t->valuestring, '#');
		aws_clean_copy(type, sizeof(type), hash ? hash + 1 :
		    t->valuestring);
		type[strcspn(type, ":")] = '\0';
	} else {
		snprintf(type, sizeof(type), "HTTP %ld", status);
	}
	aws_clean_copy(msg, sizeof(msg), cJSON_IsString(m) ? m->valuestring :
	    "(no message)");
	cJSON_Delete(j);

	*retry = status >= 500 || status == 429 || is_throttle(type);
	if (strstr(type, "AccessDenied"))
		return ist_err_set(e, IST_ERR_AWS, "%s failed: %s: %s (the "
		    "credentials need IAM permission %s)", op, type, msg,
		    iam_action(op));
	if (strstr(type, "ExpiredToken")) {
		hint = "the credentials have expired: refresh your credentials";
		code = IST_ERR_CREDS;
	} else if (strcmp(type, "UnrecognizedClientException") == 0 ||
	    strcmp(type, "InvalidClientTokenId") == 0) {
		/* AWS says "security token" for a bad key id too. */
		hint = session ? "the session token or access key id is not "
		    "valid (revoked, mistyped, or from another partition): "
		    "get fresh temporary credentials, e.g. aws sso login or "
		    "a new AWS_SESSION_TOKEN" :
		    "the access key id is not valid here: check the "
		    "credentials, and the region's partition";
		code = IST_ERR_CREDS;
	} else if (strcmp(type, "InvalidSignatureException") == 0 ||
	    strcmp(type, "SignatureDoesNotMatch") == 0) {
		/* The message tells a region, a clock and a key apart. */
		if (strstr(msg, "region")) {
			snprintf(hbuf, sizeof(hbuf), "the request was signed "
			    "for region %s, which %s does not serve: check "
			    "--region, AWS_REGION and the endpoint "
			    "(--api-endpoint, AWS_ENDPOINT_URL)",
			    a ? ist_aws_region(a) : "(not known here)",
			    a ? ist_aws_api_endpoint(a) : "the endpoint");
			hint = hbuf;
		} else if (strstr(msg, "expired") ||
		    strstr(msg, "Date in Credential")) {
			hint = "this machine's clock is off by more than 5 "
			    "minutes: set it right (NTP)";
		} else {
			hint = "check the secret access key "
			    "(AWS_SECRET_ACCESS_KEY or the profile's "
			    "aws_secret_access_key)";
		}
		code = IST_ERR_CREDS;
	} else if (strcmp(type, "LimitExceededException") == 0) {
		hint = "too many open tunnels: close unused tunnels";
	} else if (strcmp(type, "ResourceNotFoundException") == 0) {
		hint = "check the tunnel id and the region";
		code = IST_ERR_NOTFOUND;
	} else if (*retry) {
		hint = "the service is busy or failing: try again later";
	}
	return ist_err_set(e, code, "%s failed: %s: %s%s%s%s", op, type, msg,
	    hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
}

/* The canonical request signs the session token: log it without. */
static void
log_canonical(const char *op, const char *creq)
{
	static const char tok[] = "\nx-amz-security-token:";
	const char *p = strstr(creq, tok), *end;

	if (!p) {
		ist_debug3("%s: canonical request:\n%s", op, creq);
		return;
	}
	end = strchr(p + 1, '\n');
	ist_debug3("%s: canonical request:\n%.*s%s<redacted>%s", op,
	    (int)(p - creq), creq, tok, end ? end : "");
}

/*
 * One signed POST, retried as the SDKs' standard mode does. secret_resp:
 * the answer holds tokens, so its body is never logged. *resp: parsed
 * answer on success.
 */
static int
call(struct ist_aws *a, const char *op, const cJSON *in, bool secret_resp,
    cJSON **resp, struct ist_err *e)
{
	const struct ist_endpoint *ep = aws_api_ep(a);
	const struct ist_creds *cr;
	struct timespec start;
	char host[300], target[96];
	char *body = NULL;
	int r = 0, attempt;
	/* max_attempts / AWS_MAX_ATTEMPTS / retry_mode, as botocore. */
	const int max_attempts = a->max_attempts > 0 ? a->max_attempts : 3;
	static const char *const hdr_names[7] = { "Host:", "Content-Type:",
		"X-Amz-Target:", "X-Amz-Date:", "Authorization:", "User-Agent:",
		"X-Amz-Security-Token:" };

	*resp = NULL;
	if ((r = ist_aws_creds(a, &cr, e)) < 0)
		return r;
	body = cJSON_PrintUnformatted(in);
	if (!body)
		return ist_err_set(e, IST_ERR_NOMEM, "%s: out of memory", op);
	if (ep->port == (ep->tls ? 443 : 80))
		snprintf(host, sizeof(host), "%s%s%s",
		    strchr(ep->host, ':') ? "[" : "", ep->host,
		    strchr(ep->host, ':') ? "]" : "");
	else
		snprintf(host, sizeof(host), "%s%s%s:%d",
		    strchr(ep->host, ':') ? "[" : "", ep->host,
		    strchr(ep->host, ':') ? "]" : "", ep->port);
	snprintf(target, sizeof(target), SERVICE ".%s", op);
	ist_debug2("%s: request %s", op, body);
	clock_gettime(CLOCK_MONOTONIC, &start);

	for (attempt = 1; attempt <= max_attempts; attempt++) {
		struct ist_header sh[] = {
			{ "Host", host },
			{ "Content-Type", "application/x-amz-json-1.1" },
			{ "X-Amz-Target", target },
		};
		struct ist_sigv4_request sreq = { .method = "POST",
			.path = *ep->path ? ep->path : "/", .query = "",
			.headers = sh, .n_headers = 3,
			.body = (const uint8_t *)body,
			.body_len = strlen(body) };
		struct ist_sigv4_params sp = {
			.access_key_id = cr->access_key_id,
			.secret_access_key = cr->secret_access_key,
			.session_token = cr->session_token,
			.region = ist_aws_region(a), .service = SERVICE,
			.now = time(NULL), .normalize_path = 1,
			.sign_session_token = 1 };
		struct ist_sigv4_result sig = { 0 };
		struct dstr h[7], url;
		const char *hv[8] = { NULL };
		struct http_req rq = { 0 };
		struct http_resp rs = { 0 };
		struct ist_err he;
		bool retry = false;
		long left = CALL_TIMEOUT_MS - aws_ms_since(&start);

		if (left <= 0) {
			r = ist_err_set(e, IST_ERR_TIMEOUT, "%s: no answer "
			    "within %d s", op, CALL_TIMEOUT_MS / 1000);
			break;
		}
		r = ist_sigv4_sign(&sreq, &sp, &sig, e);
		if (r < 0)
			break;
		if (ist_log_get_level() >= IST_LOG_DEBUG3)
			log_canonical(op, sig.canonical_request);
		ist_debug3("%s: string to sign:\n%s", op, sig.string_to_sign);
		for (int i = 0; i < 7; i++)
			dstr_init(&h[i], 16384);
		dstr_addf(&h[0], "Host: %s", host);
		dstr_add(&h[1], "Content-Type: application/x-amz-json-1.1");
		dstr_addf(&h[2], "X-Amz-Target: %s", target);
		dstr_addf(&h[3], "X-Amz-Date: %s", sig.amz_date);
		dstr_addf(&h[4], "Authorization: %s", sig.authorization);
		dstr_add(&h[5], "User-Agent: iot-ssh-proxy/" IST_VERSION);
		if (cr->session_token)
			dstr_addf(&h[6], "X-Amz-Security-Token: %s",
			    cr->session_token);
		for (int i = 0; i < 7; i++)
			hv[i] = h[i].s;
		dstr_init(&url, 4096);
		dstr_add(&url, ist_aws_api_endpoint(a));
		if (!*ep->path)
			dstr_addc(&url, '/');
		rq.method = "POST";
		rq.url = url.s;
		rq.headers = hv;
		rq.body = body;
		rq.body_len = strlen(body);
		rq.connect_timeout_ms = CONNECT_TIMEOUT_MS;
		rq.timeout_ms = left;
		rq.ca_file = ist_aws_ca_file(a);
		rq.proxy = ist_aws_proxy_for(a, ep->host);
		ist_debug("%s: POST %s (attempt %d of %d)", op, url.s, attempt,
		    max_attempts);
		ist_err_clear(&he);
		r = 0;
		for (int i = 0; i < 7; i++)
			/* A header that does not fit is an error, never
			 * dropped: it is signed (the session token). */
			if (!dstr_ok(&h[i]))
				r = ist_err_set(e, IST_ERR_TOOBIG, "%s: the "
				    "%.*s header is over 16 KiB (or out of "
				    "memory)", op, (int)strcspn(hdr_names[i],
				    ":"), hdr_names[i]);
		if (r == 0 && !dstr_ok(&url))
			r = ist_err_set(e, IST_ERR_NOMEM, "%s: out of memory",
			    op);
		if (r == 0)
			r = http_do(&rq, &rs, &he);
		for (int i = 0; i < 7; i++)
			dstr_free(&h[i]);
		dstr_free(&url);
		ist_sigv4_result_free(&sig);
		if (r == IST_ERR_NOMEM || r == IST_ERR_TOOBIG)
			break;
		if (r < 0) {
			/* Network errors and timeouts are retried; TLS not. */
			ist_err_set(e, he.code, "%s failed: %s", op, he.msg);
			retry = r == IST_ERR_NET || r == IST_ERR_TIMEOUT;
		} else if (rs.status >= 200 && rs.status < 300) {
			if (!secret_resp)
				ist_debug3("%s: answer %s", op, rs.body);
			*resp = cJSON_Parse(rs.body);
			if (!*resp)
				r = ist_err_set(e, IST_ERR_AWS, "%s: the answer "
				    "(HTTP %ld) is not JSON", op, rs.status);
			http_resp_free(&rs);
			break;
		} else {
			ist_debug("%s: HTTP %ld", op, rs.status);
			r = service_error(op, a, cr->session_token != NULL,
			    rs.status, rs.body, &retry, e);
		}
		http_resp_free(&rs);
		if (!retry || attempt == max_attempts)
			break;
		/* e->msg already starts with "<op> failed:" */
		ist_verbose("%s; retrying", e ? e->msg : "failed");
		aws_backoff(attempt, CALL_TIMEOUT_MS - aws_ms_since(&start));
	}
	free(body);
	return r;
}

/* ---- operations --------------------------------------------------- */

static char *
take_str(cJSON *o, const char *key)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	char *s;

	if (!cJSON_IsString(v) || !v->valuestring)
		return NULL;
	s = strdup(v->valuestring);
	explicit_bzero(v->valuestring, strlen(v->valuestring));
	return s;
}

/* Moves the tokens out of an answer, wiping them there. */
static int
take_tokens(const char *op, cJSON *resp, struct ist_tunnel_tokens *out,
    bool want_id, struct ist_err *e)
{
	bool src = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(resp,
	    "sourceAccessToken"));
	bool dst = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(resp,
	    "destinationAccessToken"));

	out->tunnel_id = take_str(resp, "tunnelId");
	out->tunnel_arn = take_str(resp, "tunnelArn");
	out->source_access_token = take_str(resp, "sourceAccessToken");
	out->destination_access_token = take_str(resp,
	    "destinationAccessToken");
	if ((src && !out->source_access_token) ||
	    (dst && !out->destination_access_token)) {
		ist_tunnel_tokens_clear(out);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	if ((want_id && !out->tunnel_id) || (!src && !dst)) {
		ist_tunnel_tokens_clear(out);
		return ist_err_set(e, IST_ERR_AWS, "%s: the answer lacks %s",
		    op, want_id && !out->tunnel_id ? "tunnelId" :
		    "access tokens");
	}
	return 0;
}

int
aws_api_answer(const char *op, long status, const char *body,
    struct ist_err *e)
{
	struct ist_tunnel_tokens tok;
	bool retry, open = strcmp(op, "OpenTunnel") == 0;
	cJSON *resp;
	int r = 0;

	if (status < 200 || status >= 300)
		return service_error(op, NULL, false, status, body, &retry, e);
	resp = cJSON_Parse(body);
	if (!resp)
		return ist_err_set(e, IST_ERR_AWS, "%s: the answer is not JSON",
		    op);
	memset(&tok, 0, sizeof(tok));
	if (open || strcmp(op, "RotateTunnelAccessToken") == 0)
		r = take_tokens(op, resp, &tok, open, e);
	if (r == 0 && tok.tunnel_id)
		r = ist_api_check_tunnel_id(op, tok.tunnel_id, e);
	ist_tunnel_tokens_clear(&tok);
	cJSON_Delete(resp);
	return r;
}

void
ist_tunnel_tokens_clear(struct ist_tunnel_tokens *t)
{
	if (!t)
		return;
	aws_free_secret(t->tunnel_id);
	aws_free_secret(t->tunnel_arn);
	aws_free_secret(t->source_access_token);
	aws_free_secret(t->destination_access_token);
	memset(t, 0, sizeof(*t));
}

int
ist_api_open_tunnel(struct ist_aws *a, const cJSON *req,
    struct ist_tunnel_tokens *out, struct ist_err *e)
{
	cJSON *resp = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = ist_api_check_open_tunnel(req, e)) < 0)
		return r;
	if ((r = call(a, "OpenTunnel", req, true, &resp, e)) < 0)
		return r;
	r = take_tokens("OpenTunnel", resp, out, true, e);
	cJSON_Delete(resp);
	/* An id we cannot pass back as it is (too long, or with terminal
	 * escapes) would make DescribeTunnel and CloseTunnel act on
	 * another tunnel, or write raw bytes to the user's terminal. */
	if (r == 0 && (r = ist_api_check_tunnel_id("OpenTunnel answer",
	    out->tunnel_id, e)) < 0) {
		char why[sizeof(e->msg)];

		snprintf(why, sizeof(why), "%s", e->msg);
		ist_tunnel_tokens_clear(out);
		return ist_err_set(e, IST_ERR_AWS, "%s: the service (or "
		    "--api-endpoint) answered with a tunnel id this program "
		    "cannot use; that tunnel stays open until its timeout",
		    why);
	}
	if (r == 0)
		ist_verbose("OpenTunnel: opened tunnel %s", out->tunnel_id);
	return r;
}

int
ist_api_describe_tunnel(struct ist_aws *a, const char *tunnel_id,
    cJSON **tunnel, struct ist_err *e)
{
	cJSON *in = NULL, *resp = NULL;
	int r;

	*tunnel = NULL;
	if ((r = ist_api_check_tunnel_id("DescribeTunnel", tunnel_id, e)) < 0)
		return r;
	in = cJSON_CreateObject();
	if (!in || !cJSON_AddStringToObject(in, "tunnelId", tunnel_id)) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = call(a, "DescribeTunnel", in, false, &resp, e)) < 0)
		goto out;
	*tunnel = cJSON_DetachItemFromObjectCaseSensitive(resp, "tunnel");
	if (!cJSON_IsObject(*tunnel)) {
		cJSON_Delete(*tunnel);
		*tunnel = NULL;
		r = ist_err_set(e, IST_ERR_AWS, "DescribeTunnel: the answer "
		    "lacks a tunnel object");
	}
out:
	cJSON_Delete(in);
	cJSON_Delete(resp);
	return r;
}

int
ist_api_close_tunnel(struct ist_aws *a, const char *tunnel_id, bool del,
    struct ist_err *e)
{
	cJSON *in = NULL, *resp = NULL;
	int r;

	if ((r = ist_api_check_tunnel_id("CloseTunnel", tunnel_id, e)) < 0)
		return r;
	in = cJSON_CreateObject();
	if (!in || !cJSON_AddStringToObject(in, "tunnelId", tunnel_id) ||
	    (del && !cJSON_AddTrueToObject(in, "delete"))) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = call(a, "CloseTunnel", in, false, &resp, e);
	if (r == 0)
		ist_verbose("CloseTunnel: closed tunnel %s", tunnel_id);
out:
	cJSON_Delete(in);
	cJSON_Delete(resp);
	return r;
}

int
ist_api_rotate_tunnel_access_token(struct ist_aws *a, const char *tunnel_id,
    const char *client_mode, const cJSON *dest_config,
    struct ist_tunnel_tokens *out, struct ist_err *e)
{
	const char *op = "RotateTunnelAccessToken";
	cJSON *in = NULL, *resp = NULL, *dc;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = ist_api_check_tunnel_id(op, tunnel_id, e)) < 0)
		return r;
	if (!client_mode || (strcmp(client_mode, "SOURCE") != 0 &&
	    strcmp(client_mode, "DESTINATION") != 0 &&
	    strcmp(client_mode, "ALL") != 0))
		return ist_err_set(e, IST_ERR_INVAL, "%s: clientMode must be "
		    "SOURCE, DESTINATION or ALL", op);
	if (dest_config && (r = check_dest_config(op, dest_config, e)) < 0)
		return r;
	in = cJSON_CreateObject();
	if (!in || !cJSON_AddStringToObject(in, "tunnelId", tunnel_id) ||
	    !cJSON_AddStringToObject(in, "clientMode", client_mode)) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (dest_config) {
		dc = cJSON_Duplicate(dest_config, true);
		if (!dc || !cJSON_AddItemToObject(in, "destinationConfig",
		    dc)) {
			cJSON_Delete(dc);
			r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if ((r = call(a, op, in, true, &resp, e)) < 0)
		goto out;
	r = take_tokens(op, resp, out, false, e);
out:
	cJSON_Delete(in);
	cJSON_Delete(resp);
	return r;
}

int
ist_api_list_tunnels(struct ist_aws *a, const char *thing, int max_results,
    const char *next_token, cJSON **out, struct ist_err *e)
{
	const char *op = "ListTunnels";
	cJSON *in = NULL;
	int r;

	*out = NULL;
	if (thing) {
		cJSON v = { .type = cJSON_String, .valuestring = (char *)thing };

		if ((r = check_simple(op, "thingName", &v, 128, ":_-",
		    "[a-zA-Z0-9:_-]{1,128}", e)) < 0)
			return r;
	}
	if (max_results != 0 && (max_results < 1 || max_results > 100))
		return ist_err_set(e, IST_ERR_INVAL, "%s: maxResults must be "
		    "from 1 to 100", op);
	if (next_token) {
		cJSON v = { .type = cJSON_String,
			.valuestring = (char *)next_token };

		if ((r = check_simple(op, "nextToken", &v, 4096, "_=-",
		    "[a-zA-Z0-9_=-]{1,4096}", e)) < 0)
			return r;
	}
	in = cJSON_CreateObject();
	if (!in || (thing && !cJSON_AddStringToObject(in, "thingName",
	    thing)) || (max_results && !cJSON_AddNumberToObject(in,
	    "maxResults", max_results)) || (next_token &&
	    !cJSON_AddStringToObject(in, "nextToken", next_token))) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = call(a, op, in, false, out, e);
	if (r == 0 && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(*out,
	    "tunnelSummaries"))) {
		cJSON_Delete(*out);
		*out = NULL;
		r = ist_err_set(e, IST_ERR_AWS, "%s: the answer lacks "
		    "tunnelSummaries", op);
	}
out:
	cJSON_Delete(in);
	return r;
}
