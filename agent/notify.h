/*
 * notify.h: the tunnel notification an agent gets over MQTT
 * ($aws/things/NAME/tunnels/notify), parsed apart from MQTT so that the
 * parser can be fuzzed (fuzz/fuzz_notify.c).
 */
#ifndef AGENT_NOTIFY_H
#define AGENT_NOTIFY_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "ist/ist.h"

/* The largest payload taken; a larger one is refused unread. */
#define AGENT_NOTIFY_MAX 16384

/* token and region point into json; valid until agent_notify_free. */
struct agent_notify {
	cJSON *json;
	const char *token;	/* clientAccessToken, never empty */
	const char *region;	/* NULL when absent */
};

/*
 * Parses {"clientAccessToken", "clientMode": "destination", "region"?,
 * "services"?}. Returns 0, or IST_ERR_TOOBIG (over AGENT_NOTIFY_MAX or
 * empty) or IST_ERR_INVAL with what is wrong in e; the message never
 * quotes the payload. n is cleared on error.
 */
int agent_notify_parse(const void *payload, size_t len,
    struct agent_notify *n, struct ist_err *e);
/* Wipes the token and frees; n may be zeroed or already freed. */
void agent_notify_free(struct agent_notify *n);

#endif
