/*
 * token.c: ist_ws_forget_env_token (include/ist/ws.h), apart from ws.c:
 * both programs take the token out of their environment once read.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ist/ws.h"

void
ist_ws_forget_env_token(void)
{
	char *v = getenv("AWSIOT_TUNNEL_ACCESS_TOKEN");

	/* Wiped in place first: /proc/PID/environ shows the block the
	 * process started with, which unsetenv leaves as it is. */
	if (v)
		OPENSSL_cleanse(v, strlen(v));
	(void)unsetenv("AWSIOT_TUNNEL_ACCESS_TOKEN");
}
