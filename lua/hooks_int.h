/*
 * hooks_int.h: internals of isthooks shared by hooks.c (state, limits,
 * calls), hooks_world.c (what a script sees) and hooks_json.c (the
 * OpenTunnel request between cJSON and Lua).
 */
#ifndef IST_HOOKS_INT_H
#define IST_HOOKS_INT_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <lua.h>

#include "ist/ist.h"

/* Metatable marking a Lua table as a JSON list (isp.array()). */
#define HOOKS_ARRAY_MT "iot_ssh_proxy.array"
/* A policy file, not a program. */
#define HOOKS_MAX_FILE (1024 * 1024)

/*
 * Reads path after ist_safepath_check() for the effective uid, making
 * sure the file read is the file checked. *bufp is malloc'd (caller
 * frees). Returns 0 or IST_ERR_UNSAFE, IST_ERR_NOTFOUND, IST_ERR_IO,
 * IST_ERR_TOOBIG, IST_ERR_NOMEM with e set.
 */
int hooks_read_file(const char *path, char **bufp, size_t *lenp,
    struct ist_err *e);

/*
 * lua_CFunction, run with lua_pcall on a fresh state: opens the standard
 * libraries, the iot_ssh_proxy.core module and the library searcher, and
 * makes the world safe for fd 0 and 1 (README "Hooks").
 */
int hooks_world_setup(lua_State *L);

/* Pushes j as Lua values: objects and lists become tables, lists marked
 * with HOOKS_ARRAY_MT. Raises a Lua error when nested too deep. */
void hooks_json_push(lua_State *L, const cJSON *j);

/*
 * Builds JSON from the table at idx. Raises a Lua error naming the field
 * (path, e.g. "request.tags[2].value") for values JSON cannot carry; the
 * tree built so far is always reachable from *root, which the caller
 * frees whether or not an error was raised.
 */
struct hooks_json {
	cJSON *root;
	char path[160];
};
void hooks_json_build(lua_State *L, int idx, struct hooks_json *j);

#endif
