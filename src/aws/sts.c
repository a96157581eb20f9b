/*
 * sts.c: AWS STS AssumeRole and AssumeRoleWithWebIdentity, in STS's
 * query protocol (a form-encoded POST, an XML answer), and what the
 * other credential sources share: service endpoints as botocore finds
 * them, and one HTTP exchange with the standard mode's retries.
 *
 * Secrets: the source credentials go only to the signer; the web
 * identity token, the MFA code and the answer (temporary credentials)
 * are never logged and are wiped once copied.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "aws_int.h"
#include "ist/sigv4.h"

#define STS_VERSION "2011-06-15"
#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 30000

/* ---- a strict extractor for STS's XML answers ----------------------- */

/*
 * Finds the element <tag> (or <tag attr...>) in [p, end) at this level
 * and returns its content. Nested elements of other names are skipped
 * whole; comments, CDATA, processing instructions inside the content
 * and unbalanced tags make the document malformed (NULL).
 */
static const char *
skip_element(const char *p, const char *end);

static const char *
name_end(const char *p, const char *end)
{
	while (p < end && (isalnum((unsigned char)*p) || *p == '_' ||
	    *p == '-' || *p == '.' || *p == ':'))
		p++;
	return p;
}

/* p at '<' of a start tag: returns past its matching end tag, or NULL. */
static const char *
skip_element(const char *p, const char *end)
{
	const char *n0 = p + 1, *n1 = name_end(n0, end), *gt;
	size_t nl = (size_t)(n1 - n0);

	if (nl == 0)
		return NULL;
	gt = memchr(n1, '>', (size_t)(end - n1));
	if (!gt)
		return NULL;
	if (gt[-1] == '/')
		return gt + 1;
	p = gt + 1;
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));

		if (!lt || lt + 1 >= end)
			return NULL;
		if (lt[1] == '/') {
			const char *c = name_end(lt + 2, end);

			if ((size_t)(c - lt - 2) != nl ||
			    memcmp(lt + 2, n0, nl) != 0 || c >= end ||
			    *c != '>')
				return NULL;
			return c + 1;
		}
		if (lt[1] == '!' || lt[1] == '?')
			return NULL;
		p = skip_element(lt, end);
		if (!p)
			return NULL;
	}
	return NULL;
}

/* Content of the first child <tag> of [p, end), or NULL. */
static const char *
find_child(const char *p, const char *end, const char *tag,
    const char **cend)
{
	size_t tl = strlen(tag);

	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		const char *n1, *gt, *after;

		if (!lt || lt + 1 >= end || lt[1] == '/')
			return NULL;
		if (lt[1] == '?' || lt[1] == '!') {
			/* The XML declaration, before the root only. */
			gt = memchr(lt, '>', (size_t)(end - lt));
			if (!gt || lt[1] == '!')
				return NULL;
			p = gt + 1;
			continue;
		}
		n1 = name_end(lt + 1, end);
		after = skip_element(lt, end);
		if (!after)
			return NULL;
		if ((size_t)(n1 - lt - 1) == tl && memcmp(lt + 1, tag, tl) == 0) {
			gt = memchr(n1, '>', (size_t)(end - n1));
			if (gt[-1] == '/') {
				*cend = gt;
				return gt; /* empty */
			}
			/* after points past "</tag>". */
			*cend = after - tl - 3;
			return gt + 1;
		}
		p = after;
	}
	return NULL;
}

char *
aws_xml_text(const char *doc, size_t len, const char *const *path,
    size_t depth)
{
	const char *p = doc, *end = doc + len, *cend = NULL;
	struct dstr d;

	for (size_t i = 0; i < depth; i++) {
		p = find_child(p, end, path[i], &cend);
		if (!p)
			return NULL;
		end = cend;
	}
	dstr_init(&d, len + 1);
	while (p < end) {
		if (*p == '<') {
			dstr_free(&d);
			return NULL; /* an element where text was wanted */
		}
		if (*p != '&') {
			dstr_addc(&d, *p++);
			continue;
		}
		{
			static const struct {
				const char *ent;
				char c;
			} ents[] = { { "&amp;", '&' }, { "&lt;", '<' },
				{ "&gt;", '>' }, { "&quot;", '"' },
				{ "&apos;", '\'' } };
			bool ok = false;

			for (size_t k = 0; k < 5 && !ok; k++) {
				size_t el = strlen(ents[k].ent);

				if ((size_t)(end - p) >= el &&
				    memcmp(p, ents[k].ent, el) == 0) {
					dstr_addc(&d, ents[k].c);
					p += el;
					ok = true;
				}
			}
			if (!ok && end - p > 3 && p[1] == '#') {
				char *q;
				unsigned long v = p[2] == 'x' ?
				    strtoul(p + 3, &q, 16) :
				    strtoul(p + 2, &q, 10);

				if (q < end && *q == ';' && v >= 0x20 &&
				    v < 0x7f) {
					dstr_addc(&d, (char)v);
					p = q + 1;
					ok = true;
				}
			}
			if (!ok) {
				dstr_free(&d);
				return NULL;
			}
		}
	}
	return dstr_take(&d);
}

/* ---- endpoints and retries ------------------------------------------ */

/* The [services NAME] section's "service = \n endpoint_url = U". */
static const char *
services_url(const struct aws_profile *p, const char *service, char *buf,
    size_t bufsz)
{
	const char *name = aws_profile_get(p, "services");
	const struct ini_section *s;
	const char *v, *line;
	char sec[AWS_NAME_MAX + 16];

	if (!name || !p->config ||
	    snprintf(sec, sizeof(sec), "services %s", name) >= (int)sizeof(sec))
		return NULL;
	s = ini_section(p->config, sec);
	v = ini_get(s, service);
	for (line = v; line && *line;) {
		size_t n = strcspn(line, "\n");
		const char *eq = memchr(line, '=', n);

		if (eq) {
			const char *k = line, *ke = eq, *vs = eq + 1,
			    *ve = line + n;

			while (ke > k && isspace((unsigned char)ke[-1]))
				ke--;
			while (vs < ve && isspace((unsigned char)*vs))
				vs++;
			while (ve > vs && isspace((unsigned char)ve[-1]))
				ve--;
			if ((size_t)(ke - k) == 12 &&
			    strncasecmp(k, "endpoint_url", 12) == 0 &&
			    (size_t)(ve - vs) < bufsz && ve > vs) {
				memcpy(buf, vs, (size_t)(ve - vs));
				buf[ve - vs] = '\0';
				return buf;
			}
		}
		line += n;
		if (*line == '\n')
			line++;
	}
	return NULL;
}

int
aws_service_endpoint(const struct aws_profile *p, const char *service,
    const char *dflt, char **out, struct ist_err *e)
{
	char env[64], buf[AWS_URL_MAX + 1];
	const char *v = NULL, *what = NULL;
	size_t n;

	*out = NULL;
	snprintf(env, sizeof(env), "AWS_ENDPOINT_URL_%s", service);
	for (char *c = env; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	if (!aws_is_true(aws_getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) &&
	    !aws_is_true(aws_profile_get(p,
	    "ignore_configured_endpoint_urls"))) {
		if ((v = aws_getenv(env)))
			what = env;
		else if ((v = services_url(p, service, buf, sizeof(buf))))
			what = "the profile's [services] section";
		else if ((v = aws_getenv("AWS_ENDPOINT_URL")))
			what = "AWS_ENDPOINT_URL";
		else if ((v = aws_profile_get(p, "endpoint_url")))
			what = "the profile's endpoint_url";
	}
	if (!v)
		v = dflt;
	n = strlen(v);
	if (n > AWS_URL_MAX)
		return ist_err_set(e, IST_ERR_CONFIG, "%s is over %d bytes: "
		    "give a shorter URL", what ? what : service, AWS_URL_MAX);
	if (strncasecmp(v, "https://", 8) != 0 &&
	    strncasecmp(v, "http://", 7) != 0)
		return ist_err_set(e, IST_ERR_CONFIG, "%s '%.200s' (the %s "
		    "endpoint): give a URL such as https://host[:port]",
		    what ? what : "endpoint", v, service);
	while (n > 0 && v[n - 1] == '/')
		n--;
	*out = strndup(v, n);
	if (!*out)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	if (what)
		ist_debug("%s endpoint %s (from %s)", service, *out, what);
	return 0;
}

/* HTTPS_PROXY for the host of url (NO_PROXY honoured), or NULL. */
const char *
aws_proxy_for_url(const struct aws_net *n, const char *url)
{
	char host[300];
	const char *path, *colon;

	if (aws_url_host_path(url, host, sizeof(host), &path) < 0)
		return NULL;
	colon = strrchr(host, ':');
	if (colon && !strchr(colon, ']'))
		host[colon - host] = '\0';
	return ist_aws_proxy_for(n->a, host);
}

int
aws_http_retry(const struct aws_net *n, const struct http_req *rq0,
    struct http_resp *rs, const char *what, struct ist_err *e)
{
	struct http_req rq = *rq0;
	struct timespec start;
	int attempts = n->max_attempts > 0 ? n->max_attempts : 3, r = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int attempt = 1; attempt <= attempts; attempt++) {
		long left = CALL_TIMEOUT_MS - aws_ms_since(&start);
		bool retry;

		if (left <= 0)
			return ist_err_set(e, IST_ERR_TIMEOUT, "%s: no answer "
			    "within %d s", what, CALL_TIMEOUT_MS / 1000);
		rq.connect_timeout_ms = CONNECT_TIMEOUT_MS;
		rq.timeout_ms = left;
		ist_debug("%s: %s %s (attempt %d of %d)", what, rq.method,
		    rq.url, attempt, attempts);
		r = http_do(&rq, rs, e);
		if (r == 0)
			retry = rs->status >= 500 || rs->status == 429 ||
			    (rs->body && (strstr(rs->body,
			    "<Code>Throttling</Code>") || strstr(rs->body,
			    "<Code>IDPCommunicationError</Code>")));
		else
			retry = r == IST_ERR_NET || r == IST_ERR_TIMEOUT;
		if (!retry || attempt == attempts)
			break;
		ist_verbose("%s: %s; retrying", what, r < 0 ? e->msg :
		    "the service is busy");
		if (r == 0)
			http_resp_free(rs);
		aws_backoff(attempt, CALL_TIMEOUT_MS - aws_ms_since(&start));
	}
	if (r < 0)
		ist_err_prefix(e, "%s", what);
	return r;
}

/* ---- STS ------------------------------------------------------------ */

static void
form_add(struct dstr *d, const char *key, const char *v)
{
	dstr_addf(d, "&%s=", key);
	aws_uri_encode(d, v, strlen(v), false);
}

static bool
is_legacy_global(const char *region)
{
	static const char *const r[] = { "ap-northeast-1", "ap-south-1",
		"ap-southeast-1", "ap-southeast-2", "aws-global",
		"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1",
		"eu-west-2", "eu-west-3", "sa-east-1", "us-east-1",
		"us-east-2", "us-west-1", "us-west-2" };

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (strcmp(region, r[i]) == 0)
			return true;
	return false;
}

/* The default STS URL and the region to sign for. */
static int
sts_default(const struct aws_net *n, const struct aws_profile *p,
    char *url, size_t urlsz, const char **sign_region)
{
	const char *mode = aws_getenv("AWS_STS_REGIONAL_ENDPOINTS");
	const char *region = n->region;

	if (!mode)
		mode = aws_profile_get(p, "sts_regional_endpoints");
	if (!region || (mode && strcasecmp(mode, "legacy") == 0 &&
	    is_legacy_global(region))) {
		*sign_region = "us-east-1";
		return snprintf(url, urlsz, "https://sts.amazonaws.com") <
		    (int)urlsz ? 0 : -1;
	}
	*sign_region = region;
	return snprintf(url, urlsz, "https://sts.%s.%s", region,
	    strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" :
	    "amazonaws.com") < (int)urlsz ? 0 : -1;
}

int
aws_url_host_path(const char *url, char *host, size_t hsz, const char **path)
{
	const char *h = strstr(url, "://");
	size_t n;

	if (!h)
		return -1;
	h += 3;
	n = strcspn(h, "/?#");
	if (n == 0 || n >= hsz)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	*path = h[n] == '/' ? h + n : "/";
	/* The default port is not part of Host. */
	if (strncasecmp(url, "https://", 8) == 0 && n > 4 &&
	    strcmp(host + n - 4, ":443") == 0)
		host[n - 4] = '\0';
	else if (strncasecmp(url, "http://", 7) == 0 && n > 3 &&
	    strcmp(host + n - 3, ":80") == 0)
		host[n - 3] = '\0';
	return 0;
}

static char *
xml_get(const struct http_resp *rs, const char *root, const char *a,
    const char *b, const char *c)
{
	const char *path[4] = { root, a, b, c };

	return aws_xml_text(rs->body, rs->body_len, path, c ? 4 : b ? 3 : 2);
}

/* An STS error answer as our message: Code, Message, and a hint. */
static int
sts_error(const struct http_resp *rs, const char *what,
    const struct sts_args *args, struct ist_err *e)
{
	char *code = xml_get(rs, "ErrorResponse", "Error", "Code", NULL);
	char *msg = xml_get(rs, "ErrorResponse", "Error", "Message", NULL);
	char c[96], m[300];
	const char *hint = "";
	int r = IST_ERR_CREDS;

	aws_clean_copy(c, sizeof(c), code ? code : "");
	aws_clean_copy(m, sizeof(m), msg ? msg : "(no message)");
	free(code);
	free(msg);
	if (!*c)
		snprintf(c, sizeof(c), "HTTP %ld", rs->status);
	if (strcmp(c, "AccessDenied") == 0)
		hint = args->serial ? " (check the MFA code, and that the "
		    "role trusts the source identity)" : " (the role must "
		    "trust the source identity: check its trust policy)";
	else if (strcmp(c, "ExpiredToken") == 0 ||
	    strcmp(c, "ExpiredTokenException") == 0)
		hint = " (the source credentials have expired: refresh them)";
	else if (strcmp(c, "InvalidClientTokenId") == 0 ||
	    strcmp(c, "SignatureDoesNotMatch") == 0)
		hint = " (the source credentials are not valid: check them)";
	else if (strcmp(c, "InvalidIdentityToken") == 0)
		hint = " (the web identity token is not accepted: check the "
		    "token file and the role's identity provider)";
	else if (strcmp(c, "RegionDisabledException") == 0)
		hint = " (activate STS in this region, or use another)";
	return ist_err_set(e, r, "%s failed: %s: %s%s", what, c, m, hint);
}

int
aws_sts_assume(const struct aws_net *n, const struct aws_profile *p,
    const struct sts_args *args, const struct ist_creds *src,
    struct sts_result *out, struct ist_err *e)
{
	const char *action = src ? "AssumeRole" : "AssumeRoleWithWebIdentity";
	const char *sign_region = NULL, *path = "/";
	char dflt[300], host[300], what[AWS_NAME_MAX + 64], *exp = NULL;
	char *base = NULL, *body = NULL;
	char *akid = NULL, *secret = NULL, *token = NULL;
	struct dstr form, h[6];
	struct http_req rq = { .method = "POST" };
	struct http_resp rs = { 0 };
	struct ist_sigv4_result sig = { 0 };
	const char *hv[7] = { NULL };
	const char *root;
	int r;

	memset(out, 0, sizeof(*out));
	for (int i = 0; i < 6; i++)
		dstr_init(&h[i], 24576);
	dstr_init(&form, 65536);
	snprintf(what, sizeof(what), "STS %s %.*s", action, AWS_NAME_MAX,
	    args->role_arn);
	if (sts_default(n, p, dflt, sizeof(dflt), &sign_region) < 0) {
		r = ist_err_set(e, IST_ERR_CONFIG, "region too long");
		goto out;
	}
	if ((r = aws_service_endpoint(p, "sts", dflt, &base, e)) < 0)
		goto out;
	if (strcmp(base, dflt) != 0)
		sign_region = n->region ? n->region : "us-east-1";
	if (aws_url_host_path(base, host, sizeof(host), &path) < 0) {
		r = ist_err_set(e, IST_ERR_CONFIG, "STS endpoint %s: no host",
		    base);
		goto out;
	}
	dstr_addf(&form, "Action=%s&Version=%s", action, STS_VERSION);
	form_add(&form, "RoleArn", args->role_arn);
	form_add(&form, "RoleSessionName", args->session_name);
	if (args->duration > 0)
		dstr_addf(&form, "&DurationSeconds=%ld", args->duration);
	if (args->external_id)
		form_add(&form, "ExternalId", args->external_id);
	if (args->serial) {
		form_add(&form, "SerialNumber", args->serial);
		form_add(&form, "TokenCode", args->token_code);
	}
	if (!src)
		form_add(&form, "WebIdentityToken", args->web_identity);
	body = dstr_take(&form);
	if (!body) {
		r = ist_err_set(e, IST_ERR_TOOBIG, "%s: the request is over "
		    "64 KiB (the web identity token?)", what);
		goto out;
	}
	dstr_addf(&h[0], "Host: %s", host);
	dstr_add(&h[1], "Content-Type: application/x-www-form-urlencoded; "
	    "charset=utf-8");
	dstr_add(&h[2], "User-Agent: iot-ssh-proxy/" IST_VERSION);
	if (src) {
		/* AssumeRoleWithWebIdentity is not signed: the token is
		 * the proof. */
		struct ist_header sh[] = {
			{ "Host", host },
			{ "Content-Type", "application/x-www-form-urlencoded; "
			    "charset=utf-8" },
		};
		struct ist_sigv4_request sreq = { .method = "POST",
			.path = path, .query = "", .headers = sh,
			.n_headers = 2, .body = (const uint8_t *)body,
			.body_len = strlen(body) };
		struct ist_sigv4_params sp = {
			.access_key_id = src->access_key_id,
			.secret_access_key = src->secret_access_key,
			.session_token = src->session_token,
			.region = sign_region, .service = "sts",
			.now = time(NULL), .normalize_path = 1,
			.sign_session_token = 1 };

		if ((r = ist_sigv4_sign(&sreq, &sp, &sig, e)) < 0)
			goto out;
		dstr_addf(&h[3], "X-Amz-Date: %s", sig.amz_date);
		dstr_addf(&h[4], "Authorization: %s", sig.authorization);
		if (src->session_token)
			dstr_addf(&h[5], "X-Amz-Security-Token: %s",
			    src->session_token);
	}
	for (int i = 0, k = 0; i < 6; i++) {
		if (!dstr_ok(&h[i])) {
			r = ist_err_set(e, IST_ERR_TOOBIG, "%s: a header is "
			    "over 24 KiB", what);
			goto out;
		}
		if (h[i].s)
			hv[k++] = h[i].s;
	}
	rq.url = base;
	rq.headers = hv;
	rq.body = body;
	rq.body_len = strlen(body);
	rq.ca_file = n->ca_file;
	rq.proxy = aws_proxy_for_url(n, base);
	r = aws_http_retry(n, &rq, &rs, what, e);
	if (r < 0) {
		if (e)
			e->code = IST_ERR_CREDS;
		r = IST_ERR_CREDS;
		goto out;
	}
	if (rs.status != 200) {
		r = sts_error(&rs, what, args, e);
		goto out;
	}
	root = src ? "AssumeRoleResponse" : "AssumeRoleWithWebIdentityResponse";
	{
		char res[64];

		snprintf(res, sizeof(res), "%sResult", action);
		akid = xml_get(&rs, root, res, "Credentials", "AccessKeyId");
		secret = xml_get(&rs, root, res, "Credentials",
		    "SecretAccessKey");
		token = xml_get(&rs, root, res, "Credentials", "SessionToken");
		exp = xml_get(&rs, root, res, "Credentials", "Expiration");
		out->assumed_role_id = xml_get(&rs, root, res,
		    "AssumedRoleUser", "AssumedRoleId");
		out->arn = xml_get(&rs, root, res, "AssumedRoleUser", "Arn");
	}
	out->request_id = xml_get(&rs, root, "ResponseMetadata", "RequestId",
	    NULL);
	if (!akid || !*akid || !secret || !*secret || !token || !*token ||
	    !exp || aws_parse_time(exp, &out->creds.expiration) < 0) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s: the answer lacks %s", what,
		    !akid || !*akid ? "AccessKeyId" : !secret || !*secret ?
		    "SecretAccessKey" : !token || !*token ? "SessionToken" :
		    "a valid Expiration");
		goto out;
	}
	if (strlen(akid) > AWS_AKID_MAX || strlen(secret) > AWS_SECRET_MAX ||
	    strlen(token) > AWS_TOKEN_MAX) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s: the answer's credentials "
		    "are over the limits (access key id %d, secret %d, "
		    "session token %d bytes)", what, AWS_AKID_MAX,
		    AWS_SECRET_MAX, AWS_TOKEN_MAX);
		goto out;
	}
	out->creds.access_key_id = akid;
	out->creds.secret_access_key = secret;
	out->creds.session_token = token;
	akid = secret = token = NULL;
	r = 0;
out:
	if (r < 0)
		aws_sts_result_free(out);
	aws_free_secret(akid);
	aws_free_secret(secret);
	aws_free_secret(token);
	free(exp);
	aws_free_secret(body);
	free(base);
	dstr_free(&form);
	for (int i = 0; i < 6; i++)
		dstr_free(&h[i]);
	ist_sigv4_result_free(&sig);
	http_resp_free(&rs);
	return r;
}

void
aws_sts_result_free(struct sts_result *r)
{
	if (!r)
		return;
	ist_creds_clear(&r->creds);
	free(r->assumed_role_id);
	free(r->arn);
	free(r->request_id);
	memset(r, 0, sizeof(*r));
}
