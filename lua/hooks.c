/*
 * hooks.c: the Lua 5.4 hook host (include/ist/hooks.h).
 *
 * Every piece of work on the Lua state, including pushing arguments and
 * converting results, runs inside lua_pcall(): with a memory limit any
 * allocation may raise, and an unprotected error would abort the program.
 *
 * Limits: a count hook every HOOK_COUNT instructions compares the
 * monotonic clock with the call's deadline; the allocator refuses to grow
 * the heap past mem_limit. Once the deadline has passed the hook fires on
 * every instruction, so a script that catches the error with pcall() is
 * stopped again at once.
 */
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <lua.h>

#include "ist/api.h"
#include "ist/hooks.h"
#include "hooks_int.h"

#define ETC_DIR "/etc/iot-ssh-proxy"
#define HOOKS_NAME "iot-ssh-proxy/hooks.lua"
#define HOOK_COUNT 1000

struct ist_hooks {
	lua_State *L;
	char *path;
	char *chunkname;	/* "@" path, as Lua sees the source */
	unsigned int time_ms;
	size_t mem_limit;
	size_t mem_used;
	bool mem_hit;		/* an allocation was refused */
	bool time_hit;		/* the deadline passed */
	struct timespec deadline;
	int ret_line;		/* line of the hook's own return */
};

enum hook_kind { K_RESOLVE, K_OPEN, K_OPENED, K_CLOSED };

static const char *const hook_names[] = {
	"on_resolve", "on_open_tunnel", "on_tunnel_opened", "on_tunnel_closed"
};

/* One hook call: inputs, outputs, and what went wrong. */
struct call {
	struct ist_hooks *h;
	enum hook_kind kind;
	const struct ist_hook_target *t;
	struct ist_hook_target out;	/* K_RESOLVE: the changed target */
	const cJSON *req_in;
	struct hooks_json req_out;	/* K_OPEN: built from the result */
	const char *tunnel_id, *tunnel_arn, *region;
	const struct ist_hook_summary *sum;
	bool absent;			/* the script has no such hook */
	bool converting;		/* errors now come from our checks */
	int verdict;			/* 0, IST_ERR_DENIED or IST_ERR_HOOK */
	int line;			/* line for verdict */
	char reason[320];
};

/* ---- limits ---- */

static void *
l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct ist_hooks *h = ud;
	size_t old = ptr ? osize : 0;
	void *p;

	if (nsize == 0) {
		free(ptr);
		h->mem_used -= old;
		return NULL;
	}
	if (nsize > old && nsize - old > h->mem_limit - h->mem_used) {
		h->mem_hit = true;
		return NULL;
	}
	p = realloc(ptr, nsize);
	if (!p)
		return NULL;
	h->mem_used = h->mem_used - old + nsize;
	return p;
}

static bool
past(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec != t->tv_sec)
		return now.tv_sec > t->tv_sec;
	return now.tv_nsec > t->tv_nsec;
}

static void
set_deadline(struct ist_hooks *h)
{
	clock_gettime(CLOCK_MONOTONIC, &h->deadline);
	h->deadline.tv_sec += (time_t)(h->time_ms / 1000);
	h->deadline.tv_nsec += (long)(h->time_ms % 1000) * 1000000L;
	if (h->deadline.tv_nsec >= 1000000000L) {
		h->deadline.tv_sec++;
		h->deadline.tv_nsec -= 1000000000L;
	}
	h->time_hit = false;
	h->mem_hit = false;
	h->ret_line = 0;
}

static void
l_hook(lua_State *L, lua_Debug *ar)
{
	struct ist_hooks *h;
	lua_Debug up;

	lua_getallocf(L, (void **)&h);
	if (ar->event == LUA_HOOKRET) {
		/* Remember where the hook itself returns: level 1 is our
		 * trampoline and there is nothing above it. */
		if (L != h->L || lua_getstack(L, 2, &up) ||
		    !lua_getstack(L, 1, &up))
			return;
		if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0 &&
		    strcmp(ar->source, h->chunkname) == 0)
			h->ret_line = ar->currentline;
		return;
	}
	if (!h->time_hit && !past(&h->deadline))
		return;
	h->time_hit = true;
	lua_sethook(L, l_hook, LUA_MASKCOUNT | LUA_MASKRET, 1);
	lua_getinfo(L, "Sl", ar);
	luaL_error(L, "%s:%d: time limit of %d ms exceeded", ar->short_src,
	    ar->currentline, (int)h->time_ms);
}

/* ---- helpers for the Lua world ---- */

/* Replaces control characters so a reason cannot play with a terminal. */
static void
copy_clean(char *dst, size_t len, const char *src, size_t n)
{
	size_t i;

	if (len == 0)
		return;
	if (n > len - 1)
		n = len - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[n] = '\0';
}

/* ---- calling a hook ---- */

static void
push_str_or_nil(lua_State *L, const char *s)
{
	if (s && *s)
		lua_pushstring(L, s);
	else
		lua_pushnil(L);
}

static void
push_target(lua_State *L, const struct ist_hook_target *t)
{
	lua_createtable(L, 0, 8);
	lua_pushstring(L, t->host ? t->host : "");
	lua_setfield(L, -2, "host");
	lua_pushinteger(L, t->port);
	lua_setfield(L, -2, "port");
	push_str_or_nil(L, t->user);
	lua_setfield(L, -2, "user");
	push_str_or_nil(L, t->thing);
	lua_setfield(L, -2, "thing");
	push_str_or_nil(L, t->region);
	lua_setfield(L, -2, "region");
	push_str_or_nil(L, t->profile);
	lua_setfield(L, -2, "profile");
	push_str_or_nil(L, t->service);
	lua_setfield(L, -2, "service");
	push_str_or_nil(L, t->destination_client_type);
	lua_setfield(L, -2, "destination_client_type");
}

/* Sets c->verdict to IST_ERR_HOOK with a message; returns false. */
static bool
bad(struct call *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool
bad(struct call *c, const char *fmt, ...)
{
	va_list ap;

	c->verdict = IST_ERR_HOOK;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	return false;
}

static bool
name_chars_ok(const char *s, const char *extra)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(extra, ch)))
			return false;
	}
	return true;
}

/*
 * Reads target[field] back into dst, which holds the value the hook was
 * given. required: nil is refused, unless it was empty already. chars:
 * the allowed punctuation besides letters and digits, or NULL for any
 * printable text.
 */
static bool
get_field(lua_State *L, struct call *c, int tidx, const char *field,
    char *dst, size_t len, bool required, const char *chars)
{
	const char *s;
	size_t n;
	bool ok = true;

	lua_getfield(L, tidx, field);
	/* nil: unset, which a required field may stay but not become */
	if (lua_isnil(L, -1) && (!required || dst[0] == '\0')) {
		dst[0] = '\0';
		lua_pop(L, 1);
		return true;
	}
	if (lua_type(L, -1) != LUA_TSTRING) {
		ok = bad(c, "target.%s must be a string, not a %s", field,
		    luaL_typename(L, -1));
		goto out;
	}
	s = lua_tolstring(L, -1, &n);
	if (n == 0 || n >= len) {
		ok = bad(c, "target.%s must have 1 to %zu characters, "
		    "not %zu", field, len - 1, n);
		goto out;
	}
	if (strlen(s) != n) {
		ok = bad(c, "target.%s holds a NUL byte", field);
		goto out;
	}
	if (chars ? !name_chars_ok(s, chars) : false) {
		ok = bad(c, "target.%s \"%.64s\" may only hold letters, "
		    "digits and \"%s\"", field, s, chars);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
			ok = bad(c, "target.%s holds a control character",
			    field);
			goto out;
		}
	memcpy(dst, s, n + 1);
out:
	lua_pop(L, 1);
	return ok;
}

static bool
unchanged_str(lua_State *L, int tidx, const char *field, const char *orig)
{
	bool same;

	lua_getfield(L, tidx, field);
	if (!orig || !*orig)
		same = lua_isnil(L, -1);
	else
		same = lua_type(L, -1) == LUA_TSTRING &&
		    strcmp(lua_tostring(L, -1), orig) == 0;
	lua_pop(L, 1);
	return same;
}

/* After on_resolve: read the target table at tidx into c->out. */
static void
read_target(lua_State *L, struct call *c, int tidx)
{
	struct ist_hook_target *o = &c->out;
	const char *ro = NULL;
	bool port_same;

	lua_getfield(L, tidx, "port");
	port_same = lua_isinteger(L, -1) && lua_tointeger(L, -1) == c->t->port;
	lua_pop(L, 1);
	if (!unchanged_str(L, tidx, "host", c->t->host))
		ro = "host";
	else if (!port_same)
		ro = "port";
	else if (!unchanged_str(L, tidx, "user", c->t->user))
		ro = "user";
	if (ro) {
		bad(c, "target.%s is read-only (it is what ssh asked for); "
		    "change thing, region, profile, service or "
		    "destination_client_type instead", ro);
		return;
	}
	*o = *c->t;
	if (!get_field(L, c, tidx, "thing", o->thing, sizeof(o->thing), true,
	    ":_-") ||
	    !get_field(L, c, tidx, "region", o->region, sizeof(o->region),
	    true, "-") ||
	    !get_field(L, c, tidx, "profile", o->profile, sizeof(o->profile),
	    false, NULL) ||
	    !get_field(L, c, tidx, "service", o->service, sizeof(o->service),
	    true, ":_-") ||
	    !get_field(L, c, tidx, "destination_client_type",
	    o->destination_client_type, sizeof(o->destination_client_type),
	    false, ""))
		return;
	if (o->destination_client_type[0] &&
	    strcmp(o->destination_client_type, "V1") != 0 &&
	    strcmp(o->destination_client_type, "V2") != 0 &&
	    strcmp(o->destination_client_type, "V3") != 0)
		bad(c, "target.destination_client_type must be \"V1\", "
		    "\"V2\", \"V3\" or nil, not \"%s\"",
		    o->destination_client_type);
}

/*
 * Protected trampoline: push the arguments, call the hook, judge what it
 * returned. Stack: 1 function, 2 first argument, 3 target, 4.. results.
 */
static int
l_call(lua_State *L)
{
	struct call *c = lua_touserdata(L, 1);
	int nres, ok;

	lua_settop(L, 0);
	lua_pushglobaltable(L);
	lua_pushstring(L, hook_names[c->kind]);
	lua_rawget(L, -2);
	lua_remove(L, 1);
	if (!lua_isfunction(L, 1)) {
		c->absent = true;
		return 0;
	}
	{
		lua_Debug ar;

		lua_pushvalue(L, 1);
		lua_getinfo(L, ">S", &ar);
		c->line = ar.linedefined;
	}
	switch (c->kind) {
	case K_RESOLVE:
		push_target(L, c->t);
		lua_pushnil(L);
		break;
	case K_OPEN:
		hooks_json_push(L, c->req_in);
		push_target(L, c->t);
		break;
	case K_OPENED:
		lua_createtable(L, 0, 3);
		push_str_or_nil(L, c->tunnel_id);
		lua_setfield(L, -2, "tunnelId");
		push_str_or_nil(L, c->tunnel_arn);
		lua_setfield(L, -2, "tunnelArn");
		push_str_or_nil(L, c->region);
		lua_setfield(L, -2, "region");
		push_target(L, c->t);
		break;
	case K_CLOSED:
		lua_createtable(L, 0, 5);
		push_str_or_nil(L, c->sum->tunnel_id);
		lua_setfield(L, -2, "tunnelId");
		push_str_or_nil(L, c->sum->reason);
		lua_setfield(L, -2, "reason");
		lua_pushnumber(L, c->sum->duration_s);
		lua_setfield(L, -2, "duration_s");
		lua_pushinteger(L, (lua_Integer)c->sum->bytes_sent);
		lua_setfield(L, -2, "bytes_sent");
		lua_pushinteger(L, (lua_Integer)c->sum->bytes_received);
		lua_setfield(L, -2, "bytes_received");
		push_target(L, c->t);
		break;
	}
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	if (c->kind != K_RESOLVE)
		lua_pushvalue(L, 3);
	lua_call(L, c->kind == K_RESOLVE ? 1 : 2, LUA_MULTRET);
	nres = lua_gettop(L) - 3;
	if (c->h->ret_line > 0)
		c->line = c->h->ret_line;
	if (c->kind == K_OPENED || c->kind == K_CLOSED)
		return 0;

	/* nothing, nil or true: go on; false[, reason]: deny. */
	ok = nres == 0 || lua_isnil(L, 4) ||
	    (lua_isboolean(L, 4) && lua_toboolean(L, 4));
	if (nres > 0 && lua_isboolean(L, 4) && !lua_toboolean(L, 4)) {
		size_t n;
		const char *s;

		c->verdict = IST_ERR_DENIED;
		if (nres > 1 && (lua_type(L, 5) == LUA_TSTRING ||
		    lua_type(L, 5) == LUA_TNUMBER)) {
			s = lua_tolstring(L, 5, &n);
			copy_clean(c->reason, sizeof(c->reason), s, n);
		} else {
			copy_clean(c->reason, sizeof(c->reason),
			    "no reason given", 15);
		}
		return 0;
	}
	if (c->kind == K_OPEN && nres > 0 && lua_istable(L, 4)) {
		lua_replace(L, 2);	/* a new request */
		ok = 1;
	}
	if (!ok) {
		bad(c, "returned a %s; return nothing or true to go on, or "
		    "false and a reason to deny%s", luaL_typename(L, 4),
		    c->kind == K_OPEN ? " (or a new request table)" : "");
		return 0;
	}
	c->converting = true;
	if (c->kind == K_RESOLVE) {
		read_target(L, c, 2);
		return 0;
	}
	hooks_json_build(L, 2, &c->req_out);
	return 0;
}

/*
 * Runs one hook. Returns 0 (also when the script has no such hook),
 * IST_ERR_DENIED or IST_ERR_HOOK with the message in e.
 */
static int
run_hook(struct ist_hooks *h, struct call *c, struct ist_err *e)
{
	lua_State *L = h->L;
	const char *name = hook_names[c->kind];
	const char *msg, *where;
	int status, r;

	c->h = h;
	set_deadline(h);
	lua_sethook(L, l_hook, LUA_MASKCOUNT | LUA_MASKRET, HOOK_COUNT);
	lua_settop(L, 0);
	lua_pushcfunction(L, l_call);
	lua_pushlightuserdata(L, c);
	status = lua_pcall(L, 1, 0, 0);
	if (status == LUA_OK && !c->absent)
		ist_debug("hooks: %s returned after %zu bytes of Lua heap",
		    name, h->mem_used);
	if (status == LUA_OK && c->verdict == 0)
		return 0;
	msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	/* Lua shortens long file names in its messages: add the full one. */
	where = msg && !strstr(msg, h->path) ? h->path : NULL;
	if (status == LUA_OK && c->verdict == IST_ERR_DENIED)
		r = ist_err_set(e, IST_ERR_DENIED,
		    "%s:%d: %s denied the tunnel: %s", h->path, c->line, name,
		    c->reason);
	else if (status == LUA_OK)
		r = ist_err_set(e, IST_ERR_HOOK, "%s:%d: %s %s", h->path,
		    c->line, name, c->reason);
	else if (status == LUA_ERRMEM || (h->mem_hit && !h->time_hit))
		r = ist_err_set(e, IST_ERR_HOOK,
		    "%s: %s (defined at line %d) stopped: the Lua heap "
		    "reached its limit of %zu bytes", h->path, name, c->line,
		    h->mem_limit);
	else if (c->converting && msg)
		r = ist_err_set(e, IST_ERR_HOOK, "%s:%d: %s %s: %s", h->path,
		    c->line, name, c->kind == K_RESOLVE ?
		    "left a target that cannot be read" :
		    "returned a request that cannot be sent", msg);
	else if (msg)
		r = ist_err_set(e, IST_ERR_HOOK, "%s%s%s %s: %s", name,
		    where ? " in " : "", where ? where : "",
		    h->time_hit ? "stopped" : "failed", msg);
	else
		r = ist_err_set(e, IST_ERR_HOOK,
		    "%s:%d: %s failed with an error object of type %s",
		    h->path, c->line, name, luaL_typename(L, -1));
	lua_settop(L, 0);
	if (e) {
		/* The text reaches a terminal: no escape sequences. */
		for (char *p = e->msg; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return r;
}

/* Protected: returns nil, or a message when a hook name is not a function. */
static int
l_check_globals(lua_State *L)
{
	lua_pushglobaltable(L);
	for (size_t i = 0; i < sizeof(hook_names) / sizeof(hook_names[0]);
	    i++) {
		int t;

		lua_pushstring(L, hook_names[i]);
		t = lua_rawget(L, 1);
		lua_pop(L, 1);
		if (t != LUA_TNIL && t != LUA_TFUNCTION) {
			lua_pushfstring(L, "%s is a %s, not a function",
			    hook_names[i], lua_typename(L, t));
			return 1;
		}
	}
	lua_pushnil(L);
	return 1;
}

/* ---- public API ---- */

int
ist_hooks_find(const char *etcdir, char *buf, size_t len, struct ist_err *e)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;
	struct stat st;
	int n;

	if (!home || !*home) {
		pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, len, "%s/%s", xdg, HOOKS_NAME);
	else if (home && *home)
		n = snprintf(buf, len, "%s/.config/%s", home, HOOKS_NAME);
	else
		n = 0;
	if (n < 0 || (size_t)n >= len)
		return ist_err_set(e, IST_ERR_TOOBIG, "hooks path too long");
	if (n > 0 && stat(buf, &st) == 0)
		return 0;
	n = snprintf(buf, len, "%s/hooks.lua", etcdir ? etcdir : ETC_DIR);
	if (n < 0 || (size_t)n >= len)
		return ist_err_set(e, IST_ERR_TOOBIG, "hooks path too long");
	if (stat(buf, &st) == 0)
		return 0;
	buf[0] = '\0';
	return ist_err_set(e, IST_ERR_NOTFOUND, "no hooks file");
}

int
ist_hooks_open(struct ist_hooks **hp, const char *path, bool disabled,
    const struct ist_hooks_limits *lim, struct ist_err *e)
{
	struct ist_hooks *h = NULL;
	char found[1024];
	char *buf = NULL;
	size_t len = 0;
	int r, status;

	*hp = NULL;
	if (disabled)
		return 0;
	if (!path) {
		r = ist_hooks_find(NULL, found, sizeof(found), e);
		if (r == IST_ERR_NOTFOUND) {
			ist_err_clear(e);
			ist_debug("hooks: no hooks file found");
			return 0;
		}
		if (r != 0)
			return r;
		path = found;
	}
	r = hooks_read_file(path, &buf, &len, e);
	if (r != 0) {
		if (r == IST_ERR_NOTFOUND)
			ist_err_set(e, r, "hooks file %s does not exist", path);
		else if (r == IST_ERR_UNSAFE)
			ist_err_prefix(e, "refusing hooks file %s", path);
		return r;
	}
	h = calloc(1, sizeof(*h));
	if (h) {
		h->path = strdup(path);
		h->chunkname = malloc(strlen(path) + 2);
	}
	if (!h || !h->path || !h->chunkname) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	h->chunkname[0] = '@';
	memcpy(h->chunkname + 1, path, strlen(path) + 1);
	h->time_ms = lim && lim->time_ms ? lim->time_ms :
	    IST_HOOKS_DEFAULT_TIME_MS;
	h->mem_limit = lim && lim->mem_bytes ? lim->mem_bytes :
	    IST_HOOKS_DEFAULT_MEM_BYTES;
	h->L = lua_newstate(l_alloc, h);
	if (!h->L) {
		r = ist_err_set(e, IST_ERR_NOMEM,
		    "cannot create the Lua state (memory limit %zu bytes)",
		    h->mem_limit);
		goto out;
	}
	set_deadline(h);
	lua_sethook(h->L, l_hook, LUA_MASKCOUNT | LUA_MASKRET, HOOK_COUNT);
	lua_pushcfunction(h->L, hooks_world_setup);
	status = lua_pcall(h->L, 0, 0, 0);
	if (status != LUA_OK) {
		r = ist_err_set(e, IST_ERR_HOOK, "cannot set up Lua for %s: %s",
		    path, status == LUA_ERRMEM ? "memory limit too small" :
		    lua_type(h->L, -1) == LUA_TSTRING ?
		    lua_tostring(h->L, -1) : "error");
		goto out;
	}
	status = luaL_loadbufferx(h->L, buf, len, h->chunkname, "t");
	if (status == LUA_OK) {
		set_deadline(h);
		status = lua_pcall(h->L, 0, 0, 0);
	}
	if (status != LUA_OK) {
		const char *m = lua_type(h->L, -1) == LUA_TSTRING ?
		    lua_tostring(h->L, -1) : NULL;

		if (status == LUA_ERRMEM)
			r = ist_err_set(e, IST_ERR_HOOK, "%s: the Lua heap "
			    "reached its limit of %zu bytes", path,
			    h->mem_limit);
		else
			r = ist_err_set(e, IST_ERR_HOOK, "hooks file %s: %s",
			    path, m ? m : "error object is not a string");
		goto out;
	}
	/* A global of a hook's name that is not a function is a mistake. */
	lua_pushcfunction(h->L, l_check_globals);
	status = lua_pcall(h->L, 0, 1, 0);
	if (status != LUA_OK || !lua_isnil(h->L, -1)) {
		r = ist_err_set(e, IST_ERR_HOOK, "hooks file %s: %s", path,
		    status == LUA_ERRMEM ? "memory limit reached" :
		    lua_type(h->L, -1) == LUA_TSTRING ?
		    lua_tostring(h->L, -1) : "error");
		goto out;
	}
	lua_settop(h->L, 0);
	ist_verbose("hooks: loaded %s", path);
	*hp = h;
	h = NULL;
	r = 0;
out:
	free(buf);
	ist_hooks_close(h);
	return r;
}

const char *
ist_hooks_path(const struct ist_hooks *h)
{
	return h ? h->path : NULL;
}

int
ist_hooks_on_resolve(struct ist_hooks *h, struct ist_hook_target *t,
    struct ist_err *e)
{
	struct call c;
	int r;

	if (!h)
		return 0;
	memset(&c, 0, sizeof(c));
	c.kind = K_RESOLVE;
	c.t = t;
	r = run_hook(h, &c, e);
	if (r != 0 || c.absent)
		return r;
	*t = c.out;
	return 0;
}

int
ist_hooks_on_open_tunnel(struct ist_hooks *h, cJSON **req,
    const struct ist_hook_target *t, struct ist_err *e)
{
	struct ist_err ce;
	struct call c;
	int r;

	if (!h)
		return 0;
	memset(&c, 0, sizeof(c));
	c.kind = K_OPEN;
	c.t = t;
	c.req_in = *req;
	r = run_hook(h, &c, e);
	if (r != 0 || c.absent)
		goto out;
	ist_err_clear(&ce);
	if (ist_api_check_open_tunnel(c.req_out.root, &ce) != 0) {
		r = ist_err_set(e, IST_ERR_HOOK, "%s:%d: on_open_tunnel made "
		    "a request AWS would refuse: %s", h->path, c.line, ce.msg);
		goto out;
	}
	cJSON_Delete(*req);
	*req = c.req_out.root;
	c.req_out.root = NULL;
out:
	cJSON_Delete(c.req_out.root);
	return r;
}

int
ist_hooks_on_tunnel_opened(struct ist_hooks *h, const char *tunnel_id,
    const char *tunnel_arn, const char *region,
    const struct ist_hook_target *t)
{
	struct ist_err e;
	struct call c;
	int r;

	if (!h)
		return 0;
	memset(&c, 0, sizeof(c));
	c.kind = K_OPENED;
	c.t = t;
	c.tunnel_id = tunnel_id;
	c.tunnel_arn = tunnel_arn;
	c.region = region;
	ist_err_clear(&e);
	r = run_hook(h, &c, &e);
	if (r != 0)
		ist_error("hooks: %s (ignored: the tunnel is open)", e.msg);
	return r;
}

int
ist_hooks_on_tunnel_closed(struct ist_hooks *h,
    const struct ist_hook_summary *s, const struct ist_hook_target *t)
{
	struct ist_err e;
	struct call c;
	int r;

	if (!h)
		return 0;
	memset(&c, 0, sizeof(c));
	c.kind = K_CLOSED;
	c.t = t;
	c.sum = s;
	ist_err_clear(&e);
	r = run_hook(h, &c, &e);
	if (r != 0)
		ist_error("hooks: %s (ignored)", e.msg);
	return r;
}

void
ist_hooks_close(struct ist_hooks *h)
{
	if (!h)
		return;
	/* lua_close runs the pending finalizers: they get a time limit of
	 * their own (world_lua runs each in a coroutine, which the count
	 * hook reaches). */
	if (h->L) {
		set_deadline(h);
		lua_sethook(h->L, l_hook, LUA_MASKCOUNT | LUA_MASKRET,
		    HOOK_COUNT);
		lua_close(h->L);
	}
	free(h->path);
	free(h->chunkname);
	free(h);
}
