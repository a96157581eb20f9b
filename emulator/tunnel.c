/*
 * tunnel.c: the tunnel table of the emulator: ids, access tokens, status,
 * lifetime. Tunnels stay listed after they close (as on AWS) until
 * CloseTunnel with delete=true removes them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "emu.h"

const char *
emu_side_name(enum emu_side side)
{
	return side == EMU_SOURCE ? "source" : "destination";
}

void
emu_tunnel_touch(struct emu_tunnel *t)
{
	t->updated_at = emu_now();
}

static void
free_token(struct emu_tside *s)
{
	if (s->token) {
		OPENSSL_cleanse(s->token, strlen(s->token));
		free(s->token);
		s->token = NULL;
	}
}

/*
 * A fresh access token: "AQGAA" like AWS's, then base64url randomness,
 * about 520 characters in all (AWS's are several hundred long).
 */
static int
new_token(struct emu_tside *s)
{
	size_t cap = 8 + 4 * ((EMU_TOKEN_RAND + 2) / 3) + 1;
	char *tok = malloc(cap);

	if (!tok)
		return -1;
	memcpy(tok, "AQGAA", 5);
	if (emu_random_b64url(tok + 5, cap - 5, EMU_TOKEN_RAND) != 0) {
		free(tok);
		return -1;
	}
	free_token(s);
	s->token = tok;
	s->spent = false;
	s->client_token[0] = '\0';
	return 0;
}

void
emu_tunnel_expire(struct emu_tunnel *t)
{
	emu_tunnel_close(t, "maximum lifetime reached");
}

static void
on_expiry(lws_sorted_usec_list_t *sul)
{
	emu_tunnel_expire(lws_container_of(sul, struct emu_tunnel,
	    expiry_sul));
}

int
emu_tunnel_new(struct emu *emu, struct emu_tunnel **out)
{
	struct emu_tunnel *t;
	char arn[512];
	int i;

	t = calloc(1, sizeof(*t));
	if (!t)
		return IST_ERR_NOMEM;
	t->emu = emu;
	t->seq = emu->next_seq++;
	emu_uuid(t->id);
	snprintf(arn, sizeof(arn), "arn:aws:iot:%s:%s:tunnel/%s",
	    emu->region, emu->account, t->id);
	t->arn = strdup(arn);
	t->open = true;
	t->timeout_min = 720;
	t->created_at = t->updated_at = emu_now();
	for (i = 0; i < 2; i++) {
		t->side[i].state_at = t->created_at;
		if (new_token(&t->side[i]) != 0)
			goto fail;
	}
	if (!t->arn)
		goto fail;
	t->next = emu->tunnels;
	emu->tunnels = t;
	*out = t;
	return 0;
fail:
	free_token(&t->side[0]);
	free_token(&t->side[1]);
	free(t->arn);
	free(t);
	return IST_ERR_NOMEM;
}

void
emu_tunnel_arm(struct emu_tunnel *t)
{
	lws_sul_schedule(t->emu->ctx, 0, &t->expiry_sul, on_expiry,
	    (lws_usec_t)t->timeout_min * t->emu->minute_secs *
	    LWS_US_PER_SEC);
}

struct emu_tunnel *
emu_tunnel_find(struct emu *emu, const char *id)
{
	struct emu_tunnel *t;

	for (t = emu->tunnels; t; t = t->next)
		if (!strcmp(t->id, id))
			return t;
	return NULL;
}

struct emu_tunnel *
emu_tunnel_by_token(struct emu *emu, const char *token, enum emu_side *side)
{
	struct emu_tunnel *t, *found = NULL;
	size_t n = strlen(token);
	int i;

	/* Look at every token so that timing says nothing about them. */
	for (t = emu->tunnels; t; t = t->next) {
		for (i = 0; i < 2; i++) {
			const char *v = t->side[i].token;

			if (v && strlen(v) == n &&
			    CRYPTO_memcmp(v, token, n) == 0) {
				found = t;
				*side = (enum emu_side)i;
			}
		}
	}
	return found;
}

int
emu_tunnel_rotate(struct emu_tunnel *t, enum emu_side side)
{
	if (new_token(&t->side[side]) != 0)
		return IST_ERR_NOMEM;
	/*
	 * The old token is revoked: so is the connection made with it, at
	 * once, so that the new token can connect right away.
	 */
	emu_relay_retire(t, side, IST_WS_CLOSE_POLICY,
	    "access token rotated");
	emu_tunnel_touch(t);
	return 0;
}

void
emu_tunnel_close(struct emu_tunnel *t, const char *why)
{
	int i;

	if (!t->open)
		return;
	ist_info("tunnel %s: closed (%s)", t->id, why);
	t->open = false;
	lws_sul_cancel(&t->expiry_sul);
	for (i = 0; i < 2; i++) {
		emu_relay_drop(t, (enum emu_side)i, false,
		    IST_WS_CLOSE_NORMAL, "tunnel closed");
		emu_queue_clear(&t->side[i].q);
		/* Tokens of a closed tunnel are worthless. */
		free_token(&t->side[i]);
	}
	emu_tunnel_touch(t);
}

static void
tunnel_free(struct emu_tunnel *t)
{
	size_t i;

	lws_sul_cancel(&t->expiry_sul);
	emu_relay_detach(t);
	for (i = 0; i < 2; i++) {
		emu_queue_clear(&t->side[i].q);
		free_token(&t->side[i]);
	}
	for (i = 0; i < t->n_services; i++)
		free(t->services[i]);
	free(t->description);
	free(t->thing);
	free(t->arn);
	cJSON_Delete(t->tags);
	free(t);
}

void
emu_tunnel_delete(struct emu_tunnel *t)
{
	struct emu_tunnel **pp;

	for (pp = &t->emu->tunnels; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	ist_info("tunnel %s: deleted", t->id);
	tunnel_free(t);
}

void
emu_tunnel_free_all(struct emu *emu)
{
	struct emu_tunnel *t, *next;

	for (t = emu->tunnels; t; t = next) {
		next = t->next;
		tunnel_free(t);
	}
	emu->tunnels = NULL;
}

size_t
emu_tunnel_count_open(struct emu *emu)
{
	struct emu_tunnel *t;
	size_t n = 0;

	for (t = emu->tunnels; t; t = t->next)
		if (t->open)
			n++;
	return n;
}
