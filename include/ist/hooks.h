/*
 * hooks.h: the Lua 5.4 hook host of iot-ssh-proxy (library isthooks).
 *
 * A user's script shapes each tunnel before anything goes to AWS. Every
 * hook is an optional global function of the script:
 *
 *   on_resolve(target)               may change thing, region, profile,
 *                                    service, destination_client_type
 *   on_open_tunnel(request, target)  request is the OpenTunnel request in
 *                                    boto3's open_tunnel shape; edit it in
 *                                    place or return a new table
 *   on_tunnel_opened(tunnel, target) {tunnelId, tunnelArn, region}: audit
 *   on_tunnel_closed(summary, target) {tunnelId, reason, duration_s,
 *                                    bytes_sent, bytes_received}
 *
 * A hook denies with `return false, "reason"` (IST_ERR_DENIED) or by
 * raising an error (IST_ERR_HOOK); the message names the hook, the file,
 * the line and the reason. on_resolve and on_open_tunnel fail closed;
 * errors in on_tunnel_opened/on_tunnel_closed are logged and ignored.
 * Each call is bounded in wall-clock time and the Lua heap in size: a
 * hook over a limit is stopped and that counts as IST_ERR_HOOK.
 *
 * Nothing a hook does reaches file descriptor 1 (the SSH stream): print,
 * io.write and io.stdout write to stderr. See README "Hooks".
 *
 * A struct ist_hooks is used from one thread at a time.
 */
#ifndef IST_HOOKS_H
#define IST_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ist/ist.h"

struct cJSON;
struct ist_hooks;

/* Sizes of the fields a hook may change, terminating NUL included. */
#define IST_HOOK_THING_LEN 129		/* AWS: thingName is 1..128 */
#define IST_HOOK_REGION_LEN 64
#define IST_HOOK_PROFILE_LEN 256
#define IST_HOOK_SERVICE_LEN 129	/* AWS: [a-zA-Z0-9:_-]{1,128} */
#define IST_HOOK_DCT_LEN 8		/* "V1", "V2", "V3" */

/*
 * What ssh asked for and where it will go. host, port and user come from
 * ssh (%h %p %r) and are read-only to hooks: on_resolve changing them is
 * an error (IST_ERR_HOOK). The arrays are the caller's, filled before
 * ist_hooks_on_resolve() and updated by it. An empty field means "not
 * set" (nil in Lua); a hook may unset profile and destination_client_type
 * but not thing, region or service. Values are checked: thing and service
 * [A-Za-z0-9:_-], region [A-Za-z0-9-], destination_client_type V1/V2/V3,
 * no control characters anywhere.
 */
struct ist_hook_target {
	const char *host;	/* never NULL */
	int port;
	const char *user;	/* may be NULL */
	char thing[IST_HOOK_THING_LEN];
	char region[IST_HOOK_REGION_LEN];
	char profile[IST_HOOK_PROFILE_LEN];
	char service[IST_HOOK_SERVICE_LEN];
	char destination_client_type[IST_HOOK_DCT_LEN];
};

/* Passed to on_tunnel_closed. */
struct ist_hook_summary {
	const char *tunnel_id;
	const char *reason;	/* e.g. "ssh closed", "tunnel closed" */
	double duration_s;
	uint64_t bytes_sent;	/* to the device */
	uint64_t bytes_received;	/* from the device */
};

/* Limits per hook call; 0 in a field means its default. */
#define IST_HOOKS_DEFAULT_TIME_MS 2000u
#define IST_HOOKS_DEFAULT_MEM_BYTES ((size_t)64 << 20)
struct ist_hooks_limits {
	unsigned int time_ms;	/* wall clock per call (and for loading) */
	size_t mem_bytes;	/* the whole Lua heap of the script */
};

/*
 * Finds the hooks file when none is named: $XDG_CONFIG_HOME/iot-ssh-proxy/
 * hooks.lua (when XDG_CONFIG_HOME is set to an absolute path), else
 * ~/.config/iot-ssh-proxy/hooks.lua, else <etcdir>/hooks.lua. etcdir NULL
 * means "/etc/iot-ssh-proxy" (tests pass their own). The first existing
 * file is written to buf. Returns 0, IST_ERR_NOTFOUND when none exists, or
 * IST_ERR_TOOBIG when a path does not fit in len.
 */
int ist_hooks_find(const char *etcdir, char *buf, size_t len,
    struct ist_err *e);

/*
 * Loads the script and runs its top level (under the limits).
 * path: the --hooks FILE (must exist: IST_ERR_NOTFOUND otherwise), or NULL
 * to search with ist_hooks_find(NULL, ...). disabled (--no-hooks): no
 * hooks, nothing is read. lim may be NULL for the defaults.
 * On success *hp is the hooks, or NULL when there are none (disabled, or
 * no file found by the search); every other function accepts NULL.
 * Errors: IST_ERR_UNSAFE (file or a folder above it writable by others or
 * owned by another user; the program exits 3), IST_ERR_NOTFOUND, IST_ERR_IO,
 * IST_ERR_HOOK (syntax error, error or limit at the top level; the message
 * has the file and line), IST_ERR_NOMEM.
 */
int ist_hooks_open(struct ist_hooks **hp, const char *path, bool disabled,
    const struct ist_hooks_limits *lim, struct ist_err *e);

/* The file in use, or NULL for h == NULL. Valid until ist_hooks_close. */
const char *ist_hooks_path(const struct ist_hooks *h);

/*
 * Runs on_resolve(target) if defined, and copies the changed fields back
 * into t. Returns 0, IST_ERR_DENIED, or IST_ERR_HOOK (error, limit, bad
 * return value, a read-only field changed, a value of the wrong type or
 * too long). t is unchanged unless 0 is returned.
 */
int ist_hooks_on_resolve(struct ist_hooks *h, struct ist_hook_target *t,
    struct ist_err *e);

/*
 * Runs on_open_tunnel(request, target) if defined. *req is the OpenTunnel
 * request (the AWS JSON body, owned by the caller). On success *req may
 * have been replaced by a new object (the old one is freed) holding the
 * hook's edits; it has passed ist_api_check_open_tunnel(). Returns 0,
 * IST_ERR_DENIED, or IST_ERR_HOOK (error, limit, bad return value, or a
 * request that AWS would refuse: the message names the field). On error
 * *req is unchanged.
 */
int ist_hooks_on_open_tunnel(struct ist_hooks *h, struct cJSON **req,
    const struct ist_hook_target *t, struct ist_err *e);

/*
 * Audit hooks. A failure is logged at error level and returned
 * (IST_ERR_HOOK) only for tests: the caller carries on either way.
 */
int ist_hooks_on_tunnel_opened(struct ist_hooks *h, const char *tunnel_id,
    const char *tunnel_arn, const char *region,
    const struct ist_hook_target *t);
int ist_hooks_on_tunnel_closed(struct ist_hooks *h,
    const struct ist_hook_summary *s, const struct ist_hook_target *t);

/* Frees everything; accepts NULL. */
void ist_hooks_close(struct ist_hooks *h);

#endif
