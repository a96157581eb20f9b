/*
 * sts.c: AWS STS AssumeRole and AssumeRoleWithWebIdentity as the real
 * service speaks them (the query protocol: a form-encoded POST to /,
 * an XML answer, errors in <ErrorResponse>), on the emulator's one URL.
 *
 * AssumeRole is SigV4-verified (service "sts") with the same keys as
 * the tunnel API; AssumeRoleWithWebIdentity is not signed, as on AWS.
 * The temporary credentials issued are added to the keys the tunnel
 * API accepts, with their session token, until they expire.
 *
 * What stands in for IAM: any role ARN of the form
 * arn:aws:iam::<12 digits>:role/<name> exists and trusts the caller,
 * except that a role named "denied..." refuses everyone and one named
 * "mfa..." demands SerialNumber and TokenCode (the code must equal
 * $IST_EMU_MFA_CODE when that is set). A web identity token must have
 * the three parts of a JWT. Every call is logged as "STS <Action> ..."
 * (never a secret), so that tests count them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "emu.h"

#define STS_NS "https://sts.amazonaws.com/doc/2011-06-15/"
#define MAX_PARAMS 32

struct param {
	char *k, *v;
};

struct params {
	struct param p[MAX_PARAMS];
	size_t n;
};

const char *
emu_req_header(const struct emu_req *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (!strcasecmp(r->headers[i].name, name))
			return r->headers[i].value;
	return NULL;
}

bool
emu_sts_wants(const struct emu_req *r)
{
	const char *ct = emu_req_header(r, "content-type");

	if (r->target || strcmp(r->path, "/") || strcmp(r->method, "POST"))
		return false;
	return (ct && !strncasecmp(ct, "application/x-www-form-urlencoded",
	    33)) || (r->body_len >= 7 && !memcmp(r->body, "Action=", 7));
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static char *
form_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < n &&
		    hexval((unsigned char)s[i + 1]) >= 0 &&
		    hexval((unsigned char)s[i + 2]) >= 0) {
			*o++ = (char)(hexval((unsigned char)s[i + 1]) * 16 +
			    hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static int
parse_form(const uint8_t *body, size_t len, struct params *ps)
{
	const char *s = (const char *)body, *end = s + len;

	memset(ps, 0, sizeof(*ps));
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *e = amp ? amp : end;
		const char *eq = memchr(s, '=', (size_t)(e - s));

		if (e > s) {
			if (ps->n == MAX_PARAMS)
				return -1;
			ps->p[ps->n].k = form_decode(s, (size_t)((eq ? eq : e) -
			    s));
			ps->p[ps->n].v = eq ? form_decode(eq + 1,
			    (size_t)(e - eq - 1)) : strdup("");
			if (!ps->p[ps->n].k || !ps->p[ps->n].v) {
				ps->n++;
				return -1;
			}
			ps->n++;
		}
		s = amp ? amp + 1 : end;
	}
	return 0;
}

static void
params_free(struct params *ps)
{
	for (size_t i = 0; i < ps->n; i++) {
		free(ps->p[i].k);
		if (ps->p[i].v) {
			/* May be a web identity token or an MFA code. */
			OPENSSL_cleanse(ps->p[i].v, strlen(ps->p[i].v));
			free(ps->p[i].v);
		}
	}
	ps->n = 0;
}

static const char *
param(const struct params *ps, const char *k)
{
	for (size_t i = 0; i < ps->n; i++)
		if (!strcmp(ps->p[i].k, k))
			return ps->p[i].v;
	return NULL;
}

/* Appends s XML-escaped. */
static void
xml_add(char *buf, size_t bufsz, size_t *len, const char *s)
{
	for (; s && *s && *len + 7 < bufsz; s++) {
		const char *rep = NULL;

		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		default: break;
		}
		if (rep) {
			memcpy(buf + *len, rep, strlen(rep));
			*len += strlen(rep);
		} else {
			buf[(*len)++] = *s;
		}
	}
	buf[*len] = '\0';
}

static char *
sts_error(int *status, int st, const char *code, const char *msg)
{
	char buf[2048], id[37];
	size_t len = 0;

	emu_uuid(id);
	*status = st;
	len = (size_t)snprintf(buf, sizeof(buf), "<ErrorResponse xmlns=\""
	    STS_NS "\">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n"
	    "    <Message>", st >= 500 ? "Receiver" : "Sender", code);
	xml_add(buf, sizeof(buf) - 200, &len, msg);
	snprintf(buf + len, sizeof(buf) - len, "</Message>\n  </Error>\n  "
	    "<RequestId>%s</RequestId>\n</ErrorResponse>\n", id);
	return strdup(buf);
}

/* The tunnel API's names for SigV4 failures, as STS names them. */
static const char *
sts_code(const char *iot)
{
	static const char *const map[][2] = {
		{ "MissingAuthenticationTokenException",
		    "MissingAuthenticationToken" },
		{ "UnrecognizedClientException", "InvalidClientTokenId" },
		{ "InvalidSignatureException", "SignatureDoesNotMatch" },
		{ "IncompleteSignatureException", "IncompleteSignature" },
		{ "ExpiredTokenException", "ExpiredToken" },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(iot, map[i][0]))
			return map[i][1];
	return iot;
}

static bool
valid_session_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_+=,.@-", *s))
			return false;
	return true;
}

/* arn:aws:iam::123456789012:role/path/name: the account and the name. */
static bool
parse_role_arn(const char *arn, char account[13], const char **name)
{
	static const char pre[] = "arn:aws:iam::";
	const char *p, *slash;

	if (strncmp(arn, pre, sizeof(pre) - 1))
		return false;
	p = arn + sizeof(pre) - 1;
	for (int i = 0; i < 12; i++)
		if (!isdigit((unsigned char)p[i]))
			return false;
	if (strncmp(p + 12, ":role/", 6))
		return false;
	memcpy(account, p, 12);
	account[12] = '\0';
	slash = strrchr(p + 18, '/');
	*name = slash ? slash + 1 : p + 18;
	return **name != '\0' && strlen(arn) <= 2048;
}

static bool
jwt_shaped(const char *t)
{
	int dots = 0;
	size_t part = 0;

	for (; *t; t++) {
		if (*t == '.') {
			if (part == 0)
				return false;
			dots++;
			part = 0;
		} else if (isalnum((unsigned char)*t) || *t == '-' ||
		    *t == '_' || *t == '=') {
			part++;
		} else {
			return false;
		}
	}
	return dots == 2 && part > 0;
}

int
emu_sts_issue(struct emu *emu, long seconds, const struct emu_cred **out)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	struct emu_cred *n, *c;
	char akid[21], secret[64], token[600];
	unsigned char rnd[16];
	bool open_mode = emu->n_creds == 0;

	memcpy(akid, "ASIA", 4);
	if (emu_random_b64url(secret, sizeof(secret), 30) ||
	    emu_random_b64url(token + 13, sizeof(token) - 13, 384))
		return -1;
	/* Session tokens look like AWS's, so tests can look for them. */
	memcpy(token, "FwoGZXIvYXdzE", 13);
	if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1)
		return -1;
	for (int i = 0; i < 16; i++)
		akid[4 + i] = b32[(unsigned char)rnd[i] & 31];
	akid[20] = '\0';
	n = realloc(emu->creds, (emu->n_creds + 1) * sizeof(*n));
	if (!n)
		return -1;
	emu->creds = n;
	c = &n[emu->n_creds];
	memset(c, 0, sizeof(*c));
	c->akid = strdup(akid);
	c->secret = strdup(secret);
	c->session_token = strdup(token);
	c->expires = emu_now() + (double)seconds;
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(token, sizeof(token));
	if (!c->akid || !c->secret || !c->session_token) {
		free(c->akid);
		free(c->secret);
		free(c->session_token);
		return -1;
	}
	/* With no keys configured any key is accepted: stay that way. */
	if (!open_mode)
		emu->n_creds++;
	*out = c;
	return 0;
}

static char *
issue_answer(struct emu *emu, const char *action, const char *arn,
    const char *account, const char *role, const char *session,
    long seconds, const char *extra, int *status)
{
	const struct emu_cred *c;
	char exp[32], id[37], roleid[32];
	size_t cap = 8192, len;
	char *buf;
	time_t t = time(NULL) + seconds;
	struct tm tm;

	(void)arn;
	if (emu_sts_issue(emu, seconds, &c) != 0)
		return sts_error(status, 500, "InternalFailure", "out of memory");
	gmtime_r(&t, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	emu_uuid(id);
	snprintf(roleid, sizeof(roleid), "AROA%.16s", c->akid + 4);
	buf = malloc(cap);
	if (!buf)
		return NULL;
	len = (size_t)snprintf(buf, cap, "<%sResponse xmlns=\"" STS_NS "\">\n"
	    "  <%sResult>\n%s    <AssumedRoleUser>\n      <AssumedRoleId>%s:",
	    action, action, extra ? extra : "", roleid);
	xml_add(buf, cap, &len, session);
	len += (size_t)snprintf(buf + len, cap - len, "</AssumedRoleId>\n"
	    "      <Arn>arn:aws:sts::%s:assumed-role/", account);
	xml_add(buf, cap, &len, role);
	buf[len++] = '/';
	xml_add(buf, cap, &len, session);
	len += (size_t)snprintf(buf + len, cap - len, "</Arn>\n    "
	    "</AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>%s"
	    "</AccessKeyId>\n      <SecretAccessKey>%s</SecretAccessKey>\n"
	    "      <SessionToken>%s</SessionToken>\n      <Expiration>%s"
	    "</Expiration>\n    </Credentials>\n  </%sResult>\n  "
	    "<ResponseMetadata>\n    <RequestId>%s</RequestId>\n  "
	    "</ResponseMetadata>\n</%sResponse>\n", c->akid, c->secret,
	    c->session_token, exp, action, id, action);
	*status = 200;
	return buf;
}

static char *
assume(struct emu *emu, const struct params *ps, bool web, int *status)
{
	const char *action = web ? "AssumeRoleWithWebIdentity" : "AssumeRole";
	const char *arn = param(ps, "RoleArn");
	const char *session = param(ps, "RoleSessionName");
	const char *dur = param(ps, "DurationSeconds");
	const char *serial = param(ps, "SerialNumber");
	const char *code = param(ps, "TokenCode");
	const char *want = getenv("IST_EMU_MFA_CODE");
	const char *role = NULL;
	char account[13], extra[512];
	long seconds = 3600;

	if (!arn || !session)
		return sts_error(status, 400, "ValidationError", !arn ?
		    "1 validation error detected: Value null at 'roleArn' "
		    "failed to satisfy constraint: Member must not be null" :
		    "1 validation error detected: Value null at "
		    "'roleSessionName' failed to satisfy constraint: Member "
		    "must not be null");
	if (!parse_role_arn(arn, account, &role))
		return sts_error(status, 400, "ValidationError", "Invalid ARN: "
		    "the role ARN must be arn:aws:iam::<account>:role/<name>");
	if (!valid_session_name(session))
		return sts_error(status, 400, "ValidationError", "1 validation "
		    "error detected: Value at 'roleSessionName' failed to "
		    "satisfy constraint: Member must satisfy regular expression "
		    "pattern: [\\w+=,.@-]*");
	if (dur) {
		char *end;

		seconds = strtol(dur, &end, 10);
		if (*end || seconds < 900 || seconds > 43200)
			return sts_error(status, 400, "ValidationError", "1 "
			    "validation error detected: Value at "
			    "'durationSeconds' failed to satisfy constraint: "
			    "Member must have value between 900 and 43200");
	}
	if (web) {
		const char *tok = param(ps, "WebIdentityToken");

		if (!tok)
			return sts_error(status, 400, "ValidationError", "1 "
			    "validation error detected: Value null at "
			    "'webIdentityToken' failed to satisfy constraint: "
			    "Member must not be null");
		if (!jwt_shaped(tok))
			return sts_error(status, 400, "InvalidIdentityToken",
			    "The ID Token provided is not a valid JWT. (You may "
			    "see this error if you sent an Access Token)");
	}
	if (code && (strlen(code) != 6 || strspn(code, "0123456789") != 6))
		return sts_error(status, 400, "ValidationError", "1 validation "
		    "error detected: Value at 'tokenCode' failed to satisfy "
		    "constraint: Member must have length less than or equal "
		    "to 6");
	if (!strncmp(role, "denied", 6) || (!strncmp(role, "mfa", 3) &&
	    (!serial || !code)))
		return sts_error(status, 403, "AccessDenied", "User is not "
		    "authorized to perform: sts:AssumeRole on resource");
	if (serial && code && want && (strlen(want) != strlen(code) ||
	    CRYPTO_memcmp(want, code, strlen(code))))
		return sts_error(status, 403, "AccessDenied",
		    "MultiFactorAuthentication failed with invalid MFA one "
		    "time pass code. ");
	ist_info("STS %s %s (session %s)%s", action, arn, session,
	    serial ? " with MFA" : "");
	extra[0] = '\0';
	if (web)
		snprintf(extra, sizeof(extra), "    <SubjectFromWebIdentityToken>"
		    "emulated-subject</SubjectFromWebIdentityToken>\n    "
		    "<Audience>sts.amazonaws.com</Audience>\n    <Provider>"
		    "emulated-oidc</Provider>\n");
	return issue_answer(emu, action, arn, account, role, session,
	    seconds, extra, status);
}

void
emu_sts_handle(struct emu *emu, const struct emu_req *r, int *status,
    char **body, const char **content_type)
{
	struct params ps;
	const char *action, *ver;

	*content_type = "text/xml";
	if (parse_form(r->body, r->body_len, &ps) != 0) {
		*body = sts_error(status, 400, "MalformedInput", "The request "
		    "body could not be parsed");
		goto out;
	}
	action = param(&ps, "Action");
	ver = param(&ps, "Version");
	if (!action || (strcmp(action, "AssumeRole") &&
	    strcmp(action, "AssumeRoleWithWebIdentity"))) {
		*body = sts_error(status, 400, "InvalidAction", "Could not find "
		    "operation for this request");
		goto out;
	}
	if (!ver || strcmp(ver, "2011-06-15")) {
		*body = sts_error(status, 400, "InvalidAction", "Could not find "
		    "operation for this API version");
		goto out;
	}
	if (!strcmp(action, "AssumeRole")) {
		struct emu_sigerr se;
		const struct emu_cred *c;

		if (emu_api_verify(emu, r, "sts", "sts", status, &se, &c)) {
			ist_info("STS request refused: %d %s", *status,
			    sts_code(se.type));
			*body = sts_error(status, *status, sts_code(se.type),
			    se.msg);
			goto out;
		}
		*body = assume(emu, &ps, false, status);
	} else {
		*body = assume(emu, &ps, true, status);
	}
out:
	params_free(&ps);
}
