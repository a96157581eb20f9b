/*
 * fuzz_notify.c: hostile MQTT tunnel notifications (agent/notify.c), any
 * payload a broker may deliver on the agent's topic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_notify n;
	struct ist_err e;

	ist_err_clear(&e);
	if (agent_notify_parse(data, size, &n, &e) == 0) {
		/* What it hands out is what it checked. */
		if (!n.token || !*n.token)
			abort();
		if (n.region && strspn(n.region, "abcdefghijklmnopqrstuvwxyz"
		    "0123456789-") != strlen(n.region))
			abort();
		agent_notify_free(&n);
	} else if (n.json || n.token) {
		abort();
	}
	return 0;
}
