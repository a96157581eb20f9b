/*
 * notify.c: the tunnel notification's JSON (agent/notify.h).
 */
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>

#include "notify.h"

static bool
valid_region(const char *s)
{
	size_t n = strlen(s);

	return n && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789-") == n;
}

int
agent_notify_parse(const void *payload, size_t len, struct agent_notify *n,
    struct ist_err *e)
{
	cJSON *tok, *mode, *region, *svcs, *s;
	int r;

	memset(n, 0, sizeof(*n));
	if (len == 0 || len > AGENT_NOTIFY_MAX)
		return ist_err_set(e, IST_ERR_TOOBIG, "ignored a payload of "
		    "%zu bytes", len);
	n->json = cJSON_ParseWithLength(payload, len);
	if (!n->json || !cJSON_IsObject(n->json)) {
		r = ist_err_set(e, IST_ERR_INVAL, "ignored a payload that is "
		    "not a JSON object");
		goto fail;
	}
	tok = cJSON_GetObjectItemCaseSensitive(n->json, "clientAccessToken");
	mode = cJSON_GetObjectItemCaseSensitive(n->json, "clientMode");
	region = cJSON_GetObjectItemCaseSensitive(n->json, "region");
	svcs = cJSON_GetObjectItemCaseSensitive(n->json, "services");
	if (!cJSON_IsString(tok) || !*tok->valuestring) {
		r = ist_err_set(e, IST_ERR_INVAL, "no clientAccessToken; "
		    "ignored");
		goto fail;
	}
	if (!cJSON_IsString(mode) ||
	    strcmp(mode->valuestring, "destination") != 0) {
		r = ist_err_set(e, IST_ERR_INVAL, "clientMode is not "
		    "\"destination\"; ignored");
		goto fail;
	}
	if (region && (!cJSON_IsString(region) ||
	    !valid_region(region->valuestring))) {
		r = ist_err_set(e, IST_ERR_INVAL, "bad region; ignored");
		goto fail;
	}
	/* Only logged: the tunnel's SERVICE_IDS are what counts. */
	if (cJSON_IsArray(svcs)) {
		cJSON_ArrayForEach(s, svcs) {
			/* Printed only when it cannot play with a terminal. */
			if (cJSON_IsString(s) && s->valuestring[
			    strspn(s->valuestring, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_-")] == '\0')
				ist_verbose("tunnel notify: service %s",
				    s->valuestring);
		}
	}
	n->token = tok->valuestring;
	n->region = region ? region->valuestring : NULL;
	return 0;
fail:
	agent_notify_free(n);
	return r;
}

void
agent_notify_free(struct agent_notify *n)
{
	cJSON *tok;

	if (!n)
		return;
	if (n->json) {
		tok = cJSON_GetObjectItemCaseSensitive(n->json,
		    "clientAccessToken");
		if (cJSON_IsString(tok) && tok->valuestring)
			OPENSSL_cleanse(tok->valuestring,
			    strlen(tok->valuestring));
		cJSON_Delete(n->json);
	}
	memset(n, 0, sizeof(*n));
}
