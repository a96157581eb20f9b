/*
 * sso.c: IAM Identity Center (SSO) role credentials, as the AWS CLI v2
 * gets them for a profile with sso_session (an [sso-session NAME]
 * section) or the older sso_start_url/sso_region form:
 *
 *  1. the access token that "aws sso login" left in
 *     ~/.aws/sso/cache/<sha1(session name or start URL)>.json;
 *  2. for sso-session profiles, within 15 minutes of its expiry, a new
 *     one from SSO-OIDC CreateToken (grant refresh_token), written back
 *     to the same file, as botocore's SSOTokenProvider does;
 *  3. the portal's GetRoleCredentials for sso_account_id/sso_role_name,
 *     cached in ~/.aws/cli/cache like the CLI (creds.c does the cache).
 *
 * Secrets: the access token, the refresh token and the client secret
 * are never logged and are wiped after use.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "aws_int.h"
#include "ist/safepath.h"

#define TOKEN_FILE_MAX (256 * 1024)
#define REFRESH_WINDOW (15 * 60)
#define CACHE_MARGIN 300 /* as the credentials themselves */

struct sso_cfg {
	const char *session;	/* sso_session, or NULL (legacy form) */
	const char *start_url;
	const char *region;
	const char *account;
	const char *role;
	const char *where;	/* "file:line" of the profile, for messages */
};

static int
login_hint(const struct sso_cfg *c, const char *profile, const char *why,
    struct ist_err *e)
{
	if (c->session)
		return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s): %s: "
		    "run: aws sso login --sso-session %s", profile, c->where,
		    why, c->session);
	return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s): %s: run: aws "
	    "sso login --profile %s", profile, c->where, why, profile);
}

/* "2026-12-01T12:00:00Z" for a time_t, as botocore writes expiresAt. */
static void
utc_text(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * CreateToken with the refresh token. On success replaces *tok with
 * the new cache entry (written back to path). Failures are logged and
 * leave *tok as it was: the caller then decides on the old token.
 */
static void
refresh_token(const struct aws_net *n, const struct aws_profile *p,
    const struct sso_cfg *c, const char *path, cJSON **tok)
{
	const char *cid = aws_json_str(*tok, "clientId");
	const char *csec = aws_json_str(*tok, "clientSecret");
	const char *rt = aws_json_str(*tok, "refreshToken");
	const char *regexp = aws_json_str(*tok, "registrationExpiresAt");
	const char *hv[3] = { "Content-Type: application/json",
		"User-Agent: iot-ssh-proxy/" IST_VERSION, NULL };
	char dflt[300], exptext[32];
	char *base = NULL, *body = NULL, *text = NULL;
	struct http_req rq = { .method = "POST" };
	struct http_resp rs = { 0 };
	struct ist_err e;
	struct dstr url;
	cJSON *req = NULL, *ans = NULL, *nt = NULL;
	const cJSON *ei;
	time_t t;

	ist_err_clear(&e);
	dstr_init(&url, 8192);
	if (!cid || !csec || !rt || !regexp) {
		ist_verbose("SSO token of session %s: no refresh token in the "
		    "cache", c->session);
		goto out;
	}
	if (aws_parse_time(regexp, &t) < 0 || t <= time(NULL)) {
		ist_verbose("SSO token of session %s: the client registration "
		    "expired at %.40s", c->session, regexp);
		goto out;
	}
	snprintf(dflt, sizeof(dflt), "https://oidc.%s.amazonaws.com",
	    c->region);
	if (aws_service_endpoint(p, "sso_oidc", dflt, &base, &e) < 0) {
		ist_error("%s", e.msg);
		goto out;
	}
	dstr_addf(&url, "%s/token", base);
	req = cJSON_CreateObject();
	if (!req || !dstr_ok(&url) ||
	    !cJSON_AddStringToObject(req, "clientId", cid) ||
	    !cJSON_AddStringToObject(req, "clientSecret", csec) ||
	    !cJSON_AddStringToObject(req, "grantType", "refresh_token") ||
	    !cJSON_AddStringToObject(req, "refreshToken", rt) ||
	    !(body = cJSON_PrintUnformatted(req)))
		goto out;
	rq.url = url.s;
	rq.headers = hv;
	rq.body = body;
	rq.body_len = strlen(body);
	rq.ca_file = n->ca_file;
	rq.proxy = aws_proxy_for_url(n, base);
	ist_verbose("SSO token of session %s expires soon: refreshing it "
	    "(SSO-OIDC CreateToken)", c->session);
	if (aws_http_retry(n, &rq, &rs, "SSO-OIDC CreateToken", &e) < 0) {
		ist_error("%s", e.msg);
		goto out;
	}
	ans = rs.status == 200 ? cJSON_Parse(rs.body) : NULL;
	ei = cJSON_GetObjectItemCaseSensitive(ans, "expiresIn");
	if (!aws_json_str(ans, "accessToken") || !cJSON_IsNumber(ei) ||
	    ei->valuedouble <= 0 || ei->valuedouble > 1e8) {
		cJSON *err = rs.status != 200 ? cJSON_Parse(rs.body) : NULL;
		char what[80] = "";
		const char *w = aws_json_str(err, "error");

		for (size_t i = 0; w && w[i] && i + 1 < sizeof(what); i++)
			what[i] = isprint((unsigned char)w[i]) ? w[i] : '?';
		ist_error("SSO-OIDC CreateToken answered HTTP %ld%s%s: the "
		    "token was not refreshed", rs.status, *what ? ": " : "",
		    what);
		aws_json_free_secret(err);
		goto out;
	}
	utc_text(time(NULL) + (time_t)ei->valuedouble, exptext);
	nt = cJSON_CreateObject();
	if (!nt || !cJSON_AddStringToObject(nt, "startUrl", c->start_url) ||
	    !cJSON_AddStringToObject(nt, "region", c->region) ||
	    !cJSON_AddStringToObject(nt, "accessToken",
	    aws_json_str(ans, "accessToken")) ||
	    !cJSON_AddStringToObject(nt, "expiresAt", exptext) ||
	    !cJSON_AddStringToObject(nt, "clientId", cid) ||
	    !cJSON_AddStringToObject(nt, "clientSecret", csec) ||
	    !cJSON_AddStringToObject(nt, "registrationExpiresAt", regexp) ||
	    !cJSON_AddStringToObject(nt, "refreshToken",
	    aws_json_str(ans, "refreshToken") ? aws_json_str(ans, "refreshToken") : rt) ||
	    !(text = cJSON_Print(nt)))
		goto out;
	if (aws_file_write_atomic(path, text, &e) < 0)
		ist_error("SSO token cache: %s (the refreshed token is used "
		    "once)", e.msg);
	aws_json_free_secret(*tok);
	*tok = nt;
	nt = NULL;
out:
	aws_json_free_secret(req);
	aws_json_free_secret(ans);
	aws_json_free_secret(nt);
	aws_free_secret(body);
	aws_free_secret(text);
	http_resp_free(&rs);
	dstr_free(&url);
	free(base);
}

/* Reads the profile's SSO settings, naming what is missing. */
static int
sso_config(const struct aws_profile *p, const char *profile,
    struct sso_cfg *c, char *where, size_t wsz, struct ist_err *e)
{
	const struct ini_section *sec = p->config_sec ? p->config_sec :
	    p->cred_sec;
	const struct ini *ini = p->config_sec ? p->config : p->cred;

	memset(c, 0, sizeof(*c));
	snprintf(where, wsz, "%s:%d", ini ? ini->path : "?",
	    sec ? sec->line : 0);
	c->where = where;
	c->session = aws_profile_get(p, "sso_session");
	c->account = aws_profile_get(p, "sso_account_id");
	c->role = aws_profile_get(p, "sso_role_name");
	if (c->session) {
		char name[AWS_NAME_MAX + 16];
		const struct ini_section *s;

		snprintf(name, sizeof(name), "sso-session %s", c->session);
		s = ini_section(p->config, name);
		if (!s)
			return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s): "
			    "sso_session = %s, but %s has no [sso-session %s] "
			    "section: add it, or run: aws configure sso",
			    profile, where, c->session, p->config_path,
			    c->session);
		c->start_url = ini_get(s, "sso_start_url");
		c->region = ini_get(s, "sso_region");
		if (!c->start_url || !c->region)
			return ist_err_set(e, IST_ERR_CREDS, "%s:%d: "
			    "[sso-session %s] lacks %s", p->config_path,
			    s->line, c->session, !c->start_url ?
			    "sso_start_url" : "sso_region");
		/* The profile may repeat them; they must then agree. */
		if ((aws_profile_get(p, "sso_start_url") &&
		    strcmp(aws_profile_get(p, "sso_start_url"),
		    c->start_url) != 0) || (aws_profile_get(p, "sso_region") &&
		    strcmp(aws_profile_get(p, "sso_region"), c->region) != 0))
			return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s): "
			    "sso_start_url or sso_region differs from "
			    "[sso-session %s]: remove them from the profile",
			    profile, where, c->session);
	} else {
		c->start_url = aws_profile_get(p, "sso_start_url");
		c->region = aws_profile_get(p, "sso_region");
	}
	if (!c->start_url || !c->region || !c->account || !c->role)
		return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s) is an SSO "
		    "profile but lacks %s: add it, or run: aws configure sso "
		    "--profile %s", profile, where, !c->start_url ?
		    "sso_start_url" : !c->region ? "sso_region" : !c->account ?
		    "sso_account_id" : "sso_role_name", profile);
	for (const char *s = c->region; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) &&
		    *s != '-')
			return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s): "
			    "sso_region '%.64s' is not a region name", profile,
			    where, c->region);
	return 0;
}

/* The portal's query string wants its values percent-encoded. */
int
aws_sso_creds(const struct aws_net *n, const struct aws_profile *p,
    const char *profile, struct ist_creds *out, struct ist_err *e)
{
	struct sso_cfg c;
	char where[AWS_URL_MAX], key[41], dflt[300];
	char *path = NULL, *cpath = NULL, *text = NULL, *base = NULL;
	struct dstr url, auth;
	const char *hv[3] = { NULL, "User-Agent: iot-ssh-proxy/" IST_VERSION,
		NULL };
	struct http_req rq = { .method = "GET" };
	struct http_resp rs = { 0 };
	cJSON *tok = NULL, *ans = NULL;
	const cJSON *rc, *ex;
	const char *at, *exp, *akid, *secret, *stok;
	time_t t = 0;
	size_t len;
	int r;

	memset(out, 0, sizeof(*out));
	dstr_init(&url, 16384);
	dstr_init(&auth, 65536);
	if ((r = sso_config(p, profile, &c, where, sizeof(where), e)) < 0)
		goto out;
	/* The role credentials the CLI (or we) cached, first. */
	if (aws_cache_key_sso(c.account, c.role, c.session, c.start_url,
	    key) < 0) {
		r = ist_err_set(e, IST_ERR_CREDS, "profile %s (%s): the SSO "
		    "settings are not valid UTF-8", profile, where);
		goto out;
	}
	cpath = aws_home_file(".aws/cli/cache", key);
	if (!cpath) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = aws_cache_read(cpath, CACHE_MARGIN, out, e);
	if (r < 0)
		goto out;
	if (r == 1) {
		snprintf(out->source, sizeof(out->source), "SSO (profile "
		    "%.40s, role %.40s, cached)", profile, c.role);
		r = 0;
		goto out;
	}
	aws_sha1_hex(c.session ? c.session : c.start_url, key);
	path = aws_home_file(".aws/sso/cache", key);
	if (!path) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = ist_safepath_read(path, TOKEN_FILE_MAX, &text, &len, e);
	if (r < 0)
		goto out;
	if (r == 0) {
		r = login_hint(&c, profile, "no SSO token", e);
		goto out;
	}
	tok = cJSON_Parse(text);
	at = aws_json_str(tok, "accessToken");
	exp = aws_json_str(tok, "expiresAt");
	if (!at || !exp || aws_parse_time(exp, &t) < 0) {
		r = login_hint(&c, profile, "the SSO token cache entry is not "
		    "valid", e);
		goto out;
	}
	if (c.session && t - time(NULL) < REFRESH_WINDOW) {
		refresh_token(n, p, &c, path, &tok);
		at = aws_json_str(tok, "accessToken");
		exp = aws_json_str(tok, "expiresAt");
		if (!at || !exp || aws_parse_time(exp, &t) < 0)
			t = 0;
	}
	if (t <= time(NULL)) {
		r = login_hint(&c, profile, "the SSO token has expired", e);
		goto out;
	}
	if (strpbrk(at, "\r\n") || strlen(at) > 32768) {
		r = login_hint(&c, profile, "the SSO token is malformed", e);
		goto out;
	}
	snprintf(dflt, sizeof(dflt), "https://portal.sso.%s.amazonaws.com",
	    c.region);
	if ((r = aws_service_endpoint(p, "sso", dflt, &base, e)) < 0)
		goto out;
	dstr_addf(&url, "%s/federation/credentials?account_id=", base);
	aws_uri_encode(&url, c.account, strlen(c.account), false);
	dstr_add(&url, "&role_name=");
	aws_uri_encode(&url, c.role, strlen(c.role), false);
	dstr_addf(&auth, "x-amz-sso_bearer_token: %s", at);
	if (!dstr_ok(&url) || !dstr_ok(&auth)) {
		r = ist_err_set(e, IST_ERR_CREDS, "profile %s: the SSO request "
		    "is too long", profile);
		goto out;
	}
	hv[0] = auth.s;
	rq.url = url.s;
	rq.headers = hv;
	rq.ca_file = n->ca_file;
	rq.proxy = aws_proxy_for_url(n, base);
	r = aws_http_retry(n, &rq, &rs, "SSO GetRoleCredentials", e);
	if (r < 0) {
		if (e)
			e->code = IST_ERR_CREDS;
		r = IST_ERR_CREDS;
		goto out;
	}
	if (rs.status == 401 || rs.status == 403) {
		r = login_hint(&c, profile, "the portal refused the SSO token "
		    "(UnauthorizedException)", e);
		goto out;
	}
	ans = rs.status == 200 ? cJSON_Parse(rs.body) : NULL;
	rc = cJSON_GetObjectItemCaseSensitive(ans, "roleCredentials");
	akid = aws_json_str(rc, "accessKeyId");
	secret = aws_json_str(rc, "secretAccessKey");
	stok = aws_json_str(rc, "sessionToken");
	ex = cJSON_GetObjectItemCaseSensitive(rc, "expiration");
	if (rs.status != 200) {
		r = ist_err_set(e, IST_ERR_CREDS, "SSO GetRoleCredentials for "
		    "account %.20s role %.64s answered HTTP %ld%s", c.account,
		    c.role, rs.status, rs.status == 404 ? " (no such "
		    "account or role for this user: check sso_account_id "
		    "and sso_role_name)" : "");
		goto out;
	}
	if (!akid || !*akid || !secret || !*secret || !stok || !*stok ||
	    !cJSON_IsNumber(ex) || strlen(akid) > AWS_AKID_MAX ||
	    strlen(secret) > AWS_SECRET_MAX || strlen(stok) > AWS_TOKEN_MAX) {
		r = ist_err_set(e, IST_ERR_CREDS, "SSO GetRoleCredentials: the "
		    "answer has no valid roleCredentials");
		goto out;
	}
	out->access_key_id = strdup(akid);
	out->secret_access_key = strdup(secret);
	out->session_token = strdup(stok);
	out->expiration = (time_t)(ex->valuedouble / 1000.0);
	if (!out->access_key_id || !out->secret_access_key ||
	    !out->session_token) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(out->source, sizeof(out->source), "SSO (profile %.40s, role "
	    "%.40s)", profile, c.role);
	r = aws_cache_write(cpath, out, NULL, e);
	if (r < 0) {
		ist_error("SSO role credentials not cached: %s", e->msg);
		r = 0;
	}
out:
	if (r < 0)
		ist_creds_clear(out);
	aws_json_free_secret(tok);
	aws_json_free_secret(ans);
	aws_free_secret(text);
	free(path);
	free(cpath);
	free(base);
	dstr_free(&url);
	dstr_free(&auth);
	http_resp_free(&rs);
	return r;
}
