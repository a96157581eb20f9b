/*
 * sso.c: the two IAM Identity Center calls a CLI makes after "aws sso
 * login", on the emulator's one URL:
 *
 *   GET /federation/credentials?account_id=&role_name=  (the portal's
 *       GetRoleCredentials; the access token in x-amz-sso_bearer_token)
 *   POST /token  (SSO-OIDC CreateToken, grantType refresh_token)
 *
 * Both are restJson1 and unsigned, as on AWS. The tokens a login would
 * have produced are registered through the admin API ("sso-token":
 * accessToken, expiresIn, and optionally refreshToken, clientId,
 * clientSecret), since the device-code login itself needs a browser.
 * CreateToken issues a new access token and rotates the refresh token;
 * GetRoleCredentials issues STS-style temporary credentials that the
 * tunnel API accepts. Any 12-digit account and role name exist, except
 * roles named "denied...". Calls are logged as "SSO <Operation>", never
 * with a token.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "emu.h"

#define SSO_TOKENS_MAX 64

struct sso_tok {
	char *access;
	double expires;
	char *refresh; /* NULL: none */
	char *client_id, *client_secret;
};

struct emu_sso {
	struct sso_tok t[SSO_TOKENS_MAX];
	size_t n;
};

static void
wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void
tok_clear(struct sso_tok *t)
{
	wipe_free(t->access);
	wipe_free(t->refresh);
	free(t->client_id);
	wipe_free(t->client_secret);
	memset(t, 0, sizeof(*t));
}

static bool
same(const char *a, const char *b)
{
	return a && b && strlen(a) == strlen(b) &&
	    !CRYPTO_memcmp(a, b, strlen(a));
}

bool
emu_sso_wants(const struct emu_req *r)
{
	return !strcmp(r->path, "/federation/credentials") ||
	    !strcmp(r->path, "/token");
}

/* restJson1 error: the type for botocore (__type) and OAuth's fields. */
static char *
sso_error(int *status, int st, const char *type, const char *oauth,
    const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	*status = st;
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "__type", type);
	cJSON_AddStringToObject(o, "message", msg);
	if (oauth) {
		cJSON_AddStringToObject(o, "error", oauth);
		cJSON_AddStringToObject(o, "error_description", msg);
	}
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static struct emu_sso *
state(struct emu *emu)
{
	if (!emu->sso)
		emu->sso = calloc(1, sizeof(*emu->sso));
	return emu->sso;
}

static struct sso_tok *
new_slot(struct emu_sso *s)
{
	if (s->n == SSO_TOKENS_MAX) {
		/* Forget the oldest. */
		tok_clear(&s->t[0]);
		memmove(&s->t[0], &s->t[1], (SSO_TOKENS_MAX - 1) *
		    sizeof(s->t[0]));
		s->n--;
		memset(&s->t[s->n], 0, sizeof(s->t[0]));
	}
	return &s->t[s->n++];
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

char *
emu_sso_admin(struct emu *emu, const cJSON *in, int *status)
{
	struct emu_sso *s = state(emu);
	const cJSON *ei = cJSON_GetObjectItemCaseSensitive(in, "expiresIn");
	const char *at = jstr(in, "accessToken");
	struct sso_tok *t;

	*status = 400;
	if (!s || !at || !*at || !cJSON_IsNumber(ei))
		return strdup("{\"error\":\"sso-token: {accessToken, expiresIn, "
		    "refreshToken, clientId, clientSecret}\"}");
	t = new_slot(s);
	t->access = strdup(at);
	t->expires = emu_now() + ei->valuedouble;
	if (jstr(in, "refreshToken")) {
		t->refresh = strdup(jstr(in, "refreshToken"));
		t->client_id = strdup(jstr(in, "clientId") ?
		    jstr(in, "clientId") : "");
		t->client_secret = strdup(jstr(in, "clientSecret") ?
		    jstr(in, "clientSecret") : "");
	}
	ist_info("SSO token registered (expires in %.0f s%s)", ei->valuedouble,
	    t->refresh ? ", with a refresh token" : "");
	*status = 200;
	return strdup("{}");
}

/* The value of name in a raw query string, decoded; malloc'd or NULL. */
static char *
query_get(const char *q, const char *name)
{
	size_t nl = strlen(name);

	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);

		if (n > nl && !strncmp(q, name, nl) && q[nl] == '=') {
			char *out = malloc(n - nl), *o = out;

			if (!out)
				return NULL;
			for (size_t i = nl + 1; i < n; i++) {
				unsigned int v;

				if (q[i] == '%' && i + 2 < n &&
				    sscanf(q + i + 1, "%2x", &v) == 1) {
					*o++ = (char)v;
					i += 2;
				} else {
					*o++ = q[i] == '+' ? ' ' : q[i];
				}
			}
			*o = '\0';
			return out;
		}
		q = amp ? amp + 1 : NULL;
	}
	return NULL;
}

static char *
get_role_credentials(struct emu *emu, const struct emu_req *r, int *status)
{
	struct emu_sso *s = state(emu);
	const char *bearer = emu_req_header(r, "x-amz-sso_bearer_token");
	char *account = query_get(r->query, "account_id");
	char *role = query_get(r->query, "role_name");
	const struct sso_tok *t = NULL;
	const struct emu_cred *c;
	cJSON *o = NULL, *rc;
	char *out = NULL;
	bool digits = account && strlen(account) == 12 &&
	    strspn(account, "0123456789") == 12;

	if (strcmp(r->method, "GET")) {
		out = sso_error(status, 405, "InvalidRequestException", NULL,
		    "GetRoleCredentials is GET");
		goto done;
	}
	for (size_t i = 0; s && bearer && i < s->n; i++)
		if (same(s->t[i].access, bearer))
			t = &s->t[i];
	if (!t || t->expires <= emu_now()) {
		ist_info("SSO GetRoleCredentials refused: %s", !bearer ?
		    "no token" : !t ? "unknown token" : "expired token");
		out = sso_error(status, 401, "UnauthorizedException", NULL,
		    "Session token not found or invalid");
		goto done;
	}
	if (!digits || !role || !*role) {
		out = sso_error(status, 400, "InvalidRequestException", NULL,
		    "account_id and role_name are required");
		goto done;
	}
	if (!strncmp(role, "denied", 6)) {
		out = sso_error(status, 403, "ForbiddenException", NULL,
		    "No access");
		goto done;
	}
	if (emu_sts_issue(emu, 3600, &c) != 0) {
		out = sso_error(status, 500, "InternalFailure", NULL, "failed");
		goto done;
	}
	ist_info("SSO GetRoleCredentials account %s role %.64s", account,
	    role);
	o = cJSON_CreateObject();
	rc = o ? cJSON_AddObjectToObject(o, "roleCredentials") : NULL;
	if (rc) {
		cJSON_AddStringToObject(rc, "accessKeyId", c->akid);
		cJSON_AddStringToObject(rc, "secretAccessKey", c->secret);
		cJSON_AddStringToObject(rc, "sessionToken", c->session_token);
		cJSON_AddNumberToObject(rc, "expiration",
		    (double)(long long)(c->expires * 1000.0));
	}
	out = o ? cJSON_PrintUnformatted(o) : NULL;
	*status = 200;
done:
	cJSON_Delete(o);
	free(account);
	free(role);
	return out;
}

static char *
create_token(struct emu *emu, const struct emu_req *r, int *status)
{
	struct emu_sso *s = state(emu);
	cJSON *in = r->body_len ? cJSON_ParseWithLength((const char *)r->body,
	    r->body_len) : NULL;
	const char *grant = jstr(in, "grantType");
	const char *rt = jstr(in, "refreshToken");
	struct sso_tok *t = NULL, *nt;
	char at[200], nrt[200];
	cJSON *o = NULL;
	char *out = NULL;

	if (!in || !grant || !jstr(in, "clientId") ||
	    !jstr(in, "clientSecret")) {
		out = sso_error(status, 400, "InvalidRequestException",
		    "invalid_request", "clientId, clientSecret and grantType "
		    "are required");
		goto done;
	}
	if (strcmp(grant, "refresh_token")) {
		out = sso_error(status, 400, "UnsupportedGrantTypeException",
		    "unsupported_grant_type", "Only refresh_token is emulated");
		goto done;
	}
	for (size_t i = 0; s && rt && i < s->n; i++)
		if (same(s->t[i].refresh, rt))
			t = &s->t[i];
	if (!t) {
		ist_info("SSO-OIDC CreateToken refused: unknown refresh token");
		out = sso_error(status, 400, "InvalidGrantException",
		    "invalid_grant", "Invalid refresh token provided");
		goto done;
	}
	if (!same(t->client_id, jstr(in, "clientId")) ||
	    !same(t->client_secret, jstr(in, "clientSecret"))) {
		out = sso_error(status, 401, "InvalidClientException",
		    "invalid_client", "Invalid client provided");
		goto done;
	}
	memcpy(at, "aoa", 3);
	memcpy(nrt, "aorAAAAAG", 9);
	if (emu_random_b64url(at + 3, sizeof(at) - 3, 96) ||
	    emu_random_b64url(nrt + 9, sizeof(nrt) - 9, 96)) {
		out = sso_error(status, 500, "InternalServerException", NULL,
		    "failed");
		goto done;
	}
	/* The old refresh token is spent; the new pair replaces it. */
	wipe_free(t->refresh);
	t->refresh = NULL;
	{
		char *cid = t->client_id, *csec = t->client_secret;

		t->client_id = t->client_secret = NULL;
		nt = new_slot(s);
		nt->access = strdup(at);
		nt->refresh = strdup(nrt);
		nt->client_id = cid;
		nt->client_secret = csec;
		nt->expires = emu_now() + 28800;
	}
	ist_info("SSO-OIDC CreateToken (refresh_token)");
	o = cJSON_CreateObject();
	if (o) {
		cJSON_AddStringToObject(o, "accessToken", at);
		cJSON_AddStringToObject(o, "tokenType", "Bearer");
		cJSON_AddNumberToObject(o, "expiresIn", 28800);
		cJSON_AddStringToObject(o, "refreshToken", nrt);
	}
	out = o ? cJSON_PrintUnformatted(o) : NULL;
	*status = 200;
	OPENSSL_cleanse(at, sizeof(at));
	OPENSSL_cleanse(nrt, sizeof(nrt));
done:
	cJSON_Delete(o);
	cJSON_Delete(in);
	return out;
}

void
emu_sso_handle(struct emu *emu, const struct emu_req *r, int *status,
    char **body, const char **content_type)
{
	*content_type = "application/json";
	if (!strcmp(r->path, "/token"))
		*body = create_token(emu, r, status);
	else
		*body = get_role_credentials(emu, r, status);
}
