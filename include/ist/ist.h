/*
 * ist.h: errors, logging and version of libist, the shared core of
 * iot-ssh-proxy, iot-tunnel-agent and iot-tunnel-emulator.
 *
 * Conventions (see README "Hacking"):
 *  - fallible functions return 0 or a negative IST_ERR_* and, when given a
 *    struct ist_err, leave a message there saying what happened and what to
 *    do about it;
 *  - codes are never renumbered: retire one by leaving a gap;
 *  - the library never exits and never prints: it logs through a hook.
 */
#ifndef IST_IST_H
#define IST_IST_H

#include <stddef.h>

#define IST_VERSION "0.1.0"

enum ist_error {
	IST_OK = 0,
	IST_ERR_NOMEM = -1,	/* an allocation failed */
	IST_ERR_INVAL = -2,	/* bad argument or input from the caller */
	IST_ERR_PROTO = -3,	/* the peer broke the tunnel protocol */
	IST_ERR_TOOBIG = -4,	/* a length over its limit */
	IST_ERR_DECODE = -5,	/* bytes that do not parse as a Message */
	IST_ERR_ROLE = -6,	/* a message the peer's role must never send */
	IST_ERR_STATE = -7,	/* call not valid in the current state */
	IST_ERR_AGAIN = -8,	/* no room now: retry when output drained */
	IST_ERR_IO = -9,	/* a local read/write/file failed */
	IST_ERR_CONFIG = -10,	/* bad configuration or usage */
	IST_ERR_CREDS = -11,	/* no usable AWS credentials */
	IST_ERR_AWS = -12,	/* the AWS API answered with an error */
	IST_ERR_NET = -13,	/* could not reach a server */
	IST_ERR_TLS = -14,	/* TLS handshake or verification failed */
	IST_ERR_DENIED = -15,	/* a hook denied the tunnel */
	IST_ERR_HOOK = -16,	/* a hook failed (error, limit, bad result) */
	IST_ERR_TIMEOUT = -17,	/* something did not happen in time */
	IST_ERR_CLOSED = -18,	/* the tunnel was closed by the service */
	IST_ERR_UNSAFE = -19,	/* a file others can write or own */
	IST_ERR_NOTFOUND = -20,	/* the thing asked for does not exist */
	IST_ERR_UNSUPPORTED = -21, /* valid, but not implemented here */
};

/* Caller-owned error detail. code mirrors the return value. */
struct ist_err {
	int code;
	char msg[512];
};

/* Fills e (may be NULL) and returns code, so: return ist_err_set(e, ...); */
int ist_err_set(struct ist_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefixes e->msg with "<fmt>: " keeping the code; returns e->code. */
int ist_err_prefix(struct ist_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ist_err_clear(struct ist_err *e);
/* Static text for a code ("protocol violation by the peer", ...). */
const char *ist_strerror(int code);

/*
 * Logging, with OpenSSH's levels: each -v raises the level by one.
 * The library calls the hook; programs install one that writes
 * "iot-ssh-proxy: ..." to stderr. Without a hook nothing is written.
 * Secrets (keys, session and tunnel tokens) are never passed to ist_log.
 */
enum ist_log_level {
	IST_LOG_QUIET = 0,
	IST_LOG_ERROR = 1,
	IST_LOG_INFO = 2,
	IST_LOG_VERBOSE = 3,
	IST_LOG_DEBUG1 = 4,
	IST_LOG_DEBUG2 = 5,
	IST_LOG_DEBUG3 = 6,
};

typedef void (*ist_log_hook_fn)(int level, const char *msg, void *ud);

void ist_log_set_hook(ist_log_hook_fn hook, void *ud);
void ist_log_set_level(int level);
int ist_log_get_level(void);
void ist_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define ist_error(...) ist_log(IST_LOG_ERROR, __VA_ARGS__)
#define ist_info(...) ist_log(IST_LOG_INFO, __VA_ARGS__)
#define ist_verbose(...) ist_log(IST_LOG_VERBOSE, __VA_ARGS__)
#define ist_debug(...) ist_log(IST_LOG_DEBUG1, __VA_ARGS__)
#define ist_debug2(...) ist_log(IST_LOG_DEBUG2, __VA_ARGS__)
#define ist_debug3(...) ist_log(IST_LOG_DEBUG3, __VA_ARGS__)

/*
 * A hook that writes "<prog>: <msg>\n" to a stream: stderr by default, or
 * the file set with ist_log_stderr_open(). ud is a struct ist_log_sink.
 */
struct ist_log_sink {
	const char *prog;
	void *fp; /* FILE *; NULL means stderr */
};
void ist_log_sink_hook(int level, const char *msg, void *ud);

#endif
