/* err.c: error codes, their text, and struct ist_err helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ist/ist.h"

int
ist_err_set(struct ist_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int
ist_err_prefix(struct ist_err *e, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	size_t n;
	va_list ap;

	if (!e)
		return IST_ERR_INVAL;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	/* Truncation of a long message is fine: it stays a C string. */
	if (n + 3 < sizeof(e->msg)) {
		memcpy(e->msg + n, ": ", 2);
		n += 2;
		strncpy(e->msg + n, old, sizeof(e->msg) - n - 1);
		e->msg[sizeof(e->msg) - 1] = '\0';
	}
	return e->code;
}

void
ist_err_clear(struct ist_err *e)
{
	if (!e)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}

const char *
ist_strerror(int code)
{
	switch (code) {
	case IST_OK: return "success";
	case IST_ERR_NOMEM: return "out of memory";
	case IST_ERR_INVAL: return "invalid argument";
	case IST_ERR_PROTO: return "protocol violation by the peer";
	case IST_ERR_TOOBIG: return "length over its limit";
	case IST_ERR_DECODE: return "message does not parse";
	case IST_ERR_ROLE: return "message not allowed from the peer's role";
	case IST_ERR_STATE: return "not valid in the current state";
	case IST_ERR_AGAIN: return "no room now, try again";
	case IST_ERR_IO: return "local I/O error";
	case IST_ERR_CONFIG: return "configuration error";
	case IST_ERR_CREDS: return "no usable AWS credentials";
	case IST_ERR_AWS: return "AWS API error";
	case IST_ERR_NET: return "network error";
	case IST_ERR_TLS: return "TLS error";
	case IST_ERR_DENIED: return "denied by a hook";
	case IST_ERR_HOOK: return "hook failed";
	case IST_ERR_TIMEOUT: return "timed out";
	case IST_ERR_CLOSED: return "tunnel closed by the service";
	case IST_ERR_UNSAFE: return "unsafe file permissions";
	case IST_ERR_NOTFOUND: return "not found";
	case IST_ERR_UNSUPPORTED: return "not supported";
	}
	return "unknown error";
}
