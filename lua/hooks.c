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
#include <errno.h>
#include <fcntl.h>
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
#include <lualib.h>

#include "ist/hooks.h"
#include "ist/safepath.h"

#if defined(__has_include)
#if __has_include("ist/api.h")
#include "ist/api.h"
#define HAVE_IST_API_H 1
#endif
#endif
#ifndef HAVE_IST_API_H
/* Declared in include/ist/api.h on branch aws; until that is merged. */
int ist_api_check_open_tunnel(const cJSON *req, struct ist_err *e);
#endif

#ifndef IST_LUA_BUILD_DIR
#define IST_LUA_BUILD_DIR ""
#endif
#ifndef IST_LUA_INSTALL_DIR
#define IST_LUA_INSTALL_DIR "/usr/local/share/iot-ssh-proxy/lua"
#endif

#define ETC_DIR "/etc/iot-ssh-proxy"
#define HOOKS_NAME "iot-ssh-proxy/hooks.lua"
#define MAX_SCRIPT (1024 * 1024)	/* a policy file, not a program */
#define HOOK_COUNT 1000
#define MAX_DEPTH 32			/* JSON <-> Lua nesting */
#define ARRAY_MT "iot_ssh_proxy.array"

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
	cJSON *req_out;			/* K_OPEN: built from the result */
	const char *tunnel_id, *tunnel_arn, *region;
	const struct ist_hook_summary *sum;
	bool absent;			/* the script has no such hook */
	bool converting;		/* errors now come from our checks */
	int verdict;			/* 0, IST_ERR_DENIED or IST_ERR_HOOK */
	int line;			/* line for verdict */
	char reason[320];
	char jpath[160];		/* field being converted */
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

static int
l_log(lua_State *L)
{
	static const char *const names[] = {
		"error", "info", "verbose", "debug", "debug1", "debug2",
		"debug3", NULL
	};
	static const int levels[] = {
		IST_LOG_ERROR, IST_LOG_INFO, IST_LOG_VERBOSE, IST_LOG_DEBUG1,
		IST_LOG_DEBUG1, IST_LOG_DEBUG2, IST_LOG_DEBUG3
	};
	int level;
	const char *msg;

	if (lua_type(L, 1) == LUA_TNUMBER) {
		lua_Integer n = luaL_checkinteger(L, 1);

		luaL_argcheck(L, n >= IST_LOG_ERROR && n <= IST_LOG_DEBUG3, 1,
		    "level out of range 1..6");
		level = (int)n;
	} else {
		level = levels[luaL_checkoption(L, 1, NULL, names)];
	}
	msg = luaL_checkstring(L, 2);
	ist_log(level, "hooks: %s", msg);
	return 0;
}

static int
l_username(lua_State *L)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *u;

	if (pw && pw->pw_name)
		lua_pushstring(L, pw->pw_name);
	else if ((u = getenv("USER")) != NULL)
		lua_pushstring(L, u);
	else
		lua_pushfstring(L, "uid%d", (int)geteuid());
	return 1;
}

static int
l_hostname(lua_State *L)
{
	char buf[256];

	if (gethostname(buf, sizeof(buf)) != 0)
		return luaL_error(L, "gethostname: %s", strerror(errno));
	buf[sizeof(buf) - 1] = '\0';
	lua_pushstring(L, buf);
	return 1;
}

/* array(t): marks t as a JSON array, so that an empty t is sent as []. */
static int
l_array(lua_State *L)
{
	if (lua_isnoneornil(L, 1))
		lua_newtable(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	luaL_setmetatable(L, ARRAY_MT);
	return 1;
}

/* is_stdout(file): whether an io file handle is open on fd 1's file. */
static int
l_is_stdout(lua_State *L)
{
	luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
	struct stat a, b;
	int fd;

	if (!p->f || (fd = fileno(p->f)) < 0 || fstat(fd, &a) != 0 ||
	    fstat(STDOUT_FILENO, &b) != 0) {
		lua_pushboolean(L, 0);
		return 1;
	}
	lua_pushboolean(L, fd == STDOUT_FILENO ||
	    (a.st_dev == b.st_dev && a.st_ino == b.st_ino));
	return 1;
}

static int
luaopen_core(lua_State *L)
{
	static const luaL_Reg fns[] = {
		{ "log", l_log },
		{ "username", l_username },
		{ "hostname", l_hostname },
		{ "array", l_array },
		{ "is_stdout", l_is_stdout },
		{ NULL, NULL }
	};

	luaL_newlib(L, fns);
	lua_pushliteral(L, IST_VERSION);
	lua_setfield(L, -2, "version");
	return 1;
}

/*
 * The world a script sees: standard libraries, but fd 1 is the SSH
 * stream and fd 0 its other half, so output goes to stderr, input comes
 * from /dev/null, and children get the same. os.exit would end the
 * session and debug.sethook would lift the limits: both raise an error.
 */
static const char world_lua[] =
"local core = ...\n"
"local stderr = io.stderr\n"
"local devnull = assert(io.open('/dev/null', 'r'))\n"
"io.stdout = stderr\n"
"io.output(stderr)\n"
"io.stdin = devnull\n"
"io.input(devnull)\n"
"local tostring, select = tostring, select\n"
"print = function(...)\n"
"  local n = select('#', ...)\n"
"  for i = 1, n do\n"
"    if i > 1 then stderr:write('\\t') end\n"
"    stderr:write(tostring((select(i, ...))))\n"
"  end\n"
"  stderr:write('\\n')\n"
"end\n"
"local open, output, is_stdout = io.open, io.output, core.is_stdout\n"
"io.open = function(name, mode)\n"
"  local f, err, code = open(name, mode)\n"
"  if f and mode and mode:find('[wa+]') and is_stdout(f) then\n"
"    f:close()\n"
"    return nil, tostring(name) ..\n"
"      ': is the SSH stream (stdout); hooks may not write to it', 1\n"
"  end\n"
"  return f, err, code\n"
"end\n"
"io.output = function(file)\n"
"  if type(file) == 'string' then\n"
"    file = assert(io.open(file, 'w'))\n"
"  end\n"
"  if file == nil then return output() end\n"
"  return output(file)\n"
"end\n"
"local shell_prefix = 'exec 1>&2 </dev/null\\n'\n"
"local execute, popen = os.execute, io.popen\n"
"os.execute = function(cmd)\n"
"  if cmd == nil then return execute() end\n"
"  return execute(shell_prefix .. cmd)\n"
"end\n"
"io.popen = function(cmd, mode)\n"
"  if mode ~= nil and tostring(mode):sub(1, 1) == 'w' then\n"
"    return popen('exec 1>&2\\n' .. cmd, mode)\n"
"  end\n"
"  return popen('exec </dev/null\\n' .. cmd, mode)\n"
"end\n"
"os.exit = function()\n"
"  error('os.exit would end the ssh session; deny with: ' ..\n"
"    'return false, \"reason\"', 2)\n"
"end\n"
"debug.sethook = function()\n"
"  error('debug.sethook is not available to hooks', 2)\n"
"end\n";

/* Reads a checked file into a malloc'd buffer (caller frees). */
static int
read_checked(const char *path, char **bufp, size_t *lenp, struct ist_err *e)
{
	struct stat want, got;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1;
	int r;

	*bufp = NULL;
	if ((r = ist_safepath_check(path, geteuid(), &want, e)) != 0)
		return r;
	if (want.st_size > MAX_SCRIPT)
		return ist_err_set(e, IST_ERR_TOOBIG,
		    "%s: %lld bytes, more than the %d a hooks file may have",
		    path, (long long)want.st_size, MAX_SCRIPT);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ist_err_set(e, IST_ERR_IO, "cannot open %s: %s", path,
		    strerror(errno));
	/* Read what was checked, not what was put there since. */
	if (fstat(fd, &got) != 0 || got.st_dev != want.st_dev ||
	    got.st_ino != want.st_ino) {
		r = ist_err_set(e, IST_ERR_UNSAFE,
		    "%s changed while it was being checked", path);
		goto out;
	}
	if (!(buf = malloc(MAX_SCRIPT + 1))) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, MAX_SCRIPT + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = ist_err_set(e, IST_ERR_IO, "cannot read %s: %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > MAX_SCRIPT) {
			r = ist_err_set(e, IST_ERR_TOOBIG,
			    "%s: more than the %d bytes a hooks file may have",
			    path, MAX_SCRIPT);
			goto out;
		}
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

/*
 * package.searchers entry for "iot_ssh_proxy.*": the library bundled with
 * the program, from the source tree (for tests and developers) or the
 * install folder, refused like a hooks file when others could write it.
 */
static int
l_search_lib(lua_State *L)
{
	static const char *const dirs[] = {
		IST_LUA_BUILD_DIR, IST_LUA_INSTALL_DIR
	};
	const char *name = luaL_checkstring(L, 1);
	char path[1024], file[256];
	struct ist_err e;
	size_t i, len;
	char *buf;
	int r, n;

	if (strcmp(name, "iot_ssh_proxy") != 0 &&
	    strncmp(name, "iot_ssh_proxy.", 14) != 0)
		return 0;
	n = snprintf(file, sizeof(file), "%s.lua", name);
	if (n < 0 || (size_t)n >= sizeof(file))
		return 0;
	for (i = 0; file[i] != '\0'; i++)
		if (file[i] == '.' && strcmp(file + i, ".lua") != 0)
			file[i] = '/';
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (dirs[i][0] == '\0')
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dirs[i], file);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		ist_err_clear(&e);
		r = read_checked(path, &buf, &len, &e);
		if (r == IST_ERR_NOTFOUND)
			continue;
		if (r != 0)	/* do not fall back to another copy */
			return luaL_error(L, "%s", e.msg);
		lua_pushfstring(L, "@%s", path);
		r = luaL_loadbufferx(L, buf, len, lua_tostring(L, -1), "t");
		free(buf);
		if (r != LUA_OK)
			return lua_error(L);
		lua_pushstring(L, path);
		return 2;
	}
	lua_pushfstring(L, "\n\tno file '%s' in %s or %s", file,
	    IST_LUA_BUILD_DIR, IST_LUA_INSTALL_DIR);
	return 1;
}

/* Protected: libraries, the world, the library searcher. */
static int
l_setup(lua_State *L)
{
	luaL_openlibs(L);
	luaL_newmetatable(L, ARRAY_MT);
	lua_pop(L, 1);
	luaL_requiref(L, "iot_ssh_proxy.core", luaopen_core, 0);
	if (luaL_loadbufferx(L, world_lua, sizeof(world_lua) - 1, "=world",
	    "t") != LUA_OK)
		return lua_error(L);
	lua_insert(L, -2);
	lua_call(L, 1, 0);
	/* package.searchers: insert ours right after the preload one. */
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchers");
	lua_Integer n = (lua_Integer)luaL_len(L, -1);
	for (lua_Integer i = n; i >= 2; i--) {
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushcfunction(L, l_search_lib);
	lua_rawseti(L, -2, 2);
	lua_pop(L, 2);
	return 0;
}

/* ---- JSON <-> Lua ---- */

static void
json_to_lua(lua_State *L, const cJSON *j, int depth)
{
	const cJSON *c;
	lua_Integer i;

	if (depth > MAX_DEPTH)
		luaL_error(L, "request nested deeper than %d", MAX_DEPTH);
	luaL_checkstack(L, 4, "request too deep");
	if (cJSON_IsObject(j)) {
		lua_createtable(L, 0, cJSON_GetArraySize(j));
		cJSON_ArrayForEach(c, j) {
			lua_pushstring(L, c->string ? c->string : "");
			json_to_lua(L, c, depth + 1);
			lua_rawset(L, -3);
		}
	} else if (cJSON_IsArray(j)) {
		lua_createtable(L, cJSON_GetArraySize(j), 0);
		luaL_setmetatable(L, ARRAY_MT);
		i = 1;
		cJSON_ArrayForEach(c, j) {
			json_to_lua(L, c, depth + 1);
			lua_rawseti(L, -2, i++);
		}
	} else if (cJSON_IsString(j)) {
		lua_pushstring(L, j->valuestring);
	} else if (cJSON_IsNumber(j)) {
		double d = j->valuedouble;

		if (d >= -9007199254740992.0 && d <= 9007199254740992.0 &&
		    d == (double)(lua_Integer)d)
			lua_pushinteger(L, (lua_Integer)d);
		else
			lua_pushnumber(L, d);
	} else if (cJSON_IsBool(j)) {
		lua_pushboolean(L, cJSON_IsTrue(j));
	} else {
		lua_pushnil(L);
	}
}

/* Appends ".key" or "[i]" to the error path; returns the old length. */
static size_t
path_push(struct call *c, const char *key, lua_Integer i)
{
	size_t n = strlen(c->jpath);

	if (key)
		snprintf(c->jpath + n, sizeof(c->jpath) - n, ".%s", key);
	else
		snprintf(c->jpath + n, sizeof(c->jpath) - n, "[%lld]",
		    (long long)i);
	return n;
}

static bool
is_array_key(const char *key)
{
	/* The request's lists, so that "tags = {}" means no tags. */
	return key && (strcmp(key, "tags") == 0 ||
	    strcmp(key, "services") == 0);
}

static cJSON *
new_node(lua_State *L, cJSON *parent, const char *key, cJSON *v)
{
	if (!v)
		luaL_error(L, "out of memory");
	if (!parent)
		return v;
	if (key ? !cJSON_AddItemToObject(parent, key, v) :
	    !cJSON_AddItemToArray(parent, v)) {
		cJSON_Delete(v);
		luaL_error(L, "out of memory");
	}
	return v;
}

/*
 * Converts the Lua value at idx into a node attached to parent at once
 * (so that an error part-way leaks nothing: the caller frees the root,
 * c->req_out). Raises an error naming the field on values JSON cannot
 * carry.
 */
static cJSON *
to_json(lua_State *L, struct call *c, cJSON *parent, int idx,
    const char *key, int depth)
{
	cJSON *v;
	size_t len;
	const char *s;

	idx = lua_absindex(L, idx);
	if (depth > MAX_DEPTH)
		luaL_error(L, "%s: nested deeper than %d (a cycle?)", c->jpath,
		    MAX_DEPTH);
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if (strlen(s) != len)
			luaL_error(L, "%s: string holds a NUL byte", c->jpath);
		return new_node(L, parent, key, cJSON_CreateString(s));
	case LUA_TBOOLEAN:
		return new_node(L, parent, key,
		    cJSON_CreateBool(lua_toboolean(L, idx)));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return new_node(L, parent, key, cJSON_CreateNumber(
			    (double)lua_tointeger(L, idx)));
		{
			double d = lua_tonumber(L, idx);

			if (d != d || d - d != 0)
				luaL_error(L, "%s: not a finite number",
				    c->jpath);
			return new_node(L, parent, key,
			    cJSON_CreateNumber(d));
		}
	case LUA_TTABLE:
		break;
	default:
		luaL_error(L, "%s: a %s cannot be sent to AWS", c->jpath,
		    luaL_typename(L, idx));
	}

	/* A table: an array when its keys are exactly 1..n, or when it is
	 * empty and marked (array()) or named like a list. */
	lua_Integer count = 0, max = 0;
	bool named = false;

	luaL_checkstack(L, 6, "request too deep");
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		count++;
		if (lua_type(L, -1) == LUA_TSTRING) {
			named = true;
		} else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) > 0) {
			if (lua_tointeger(L, -1) > max)
				max = lua_tointeger(L, -1);
		} else {
			luaL_error(L, "%s: a table key of type %s cannot be "
			    "sent to AWS", c->jpath, luaL_typename(L, -1));
		}
	}
	bool array;

	if (count == 0) {
		array = is_array_key(key);
		if (lua_getmetatable(L, idx)) {
			luaL_getmetatable(L, ARRAY_MT);
			array = array || lua_rawequal(L, -1, -2);
			lua_pop(L, 2);
		}
	} else if (named) {
		if (max > 0)
			luaL_error(L, "%s: a table mixes list items and "
			    "named fields", c->jpath);
		array = false;
	} else {
		if (max != count)
			luaL_error(L, "%s: a list with holes (%I items, "
			    "highest index %I)", c->jpath, (LUAI_UACINT)count,
			    (LUAI_UACINT)max);
		array = true;
	}

	v = new_node(L, parent, key,
	    array ? cJSON_CreateArray() : cJSON_CreateObject());
	if (!parent)
		c->req_out = v;
	if (array) {
		for (lua_Integer i = 1; i <= max; i++) {
			size_t n = path_push(c, NULL, i - 1);

			lua_rawgeti(L, idx, i);
			to_json(L, c, v, -1, NULL, depth + 1);
			lua_pop(L, 1);
			c->jpath[n] = '\0';
		}
		return v;
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		const char *k = lua_tostring(L, -2);
		size_t n = path_push(c, k, 0);

		to_json(L, c, v, -1, k, depth + 1);
		lua_pop(L, 1);
		c->jpath[n] = '\0';
	}
	return v;
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
 * Reads target[field] back into dst. required: nil is refused. chars:
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
	if (lua_isnil(L, -1) && !required) {
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
		json_to_lua(L, c->req_in, 0);
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
	snprintf(c->jpath, sizeof(c->jpath), "request");
	to_json(L, c, NULL, 2, NULL, 0);
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
	const char *msg;
	int status;

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
	if (status == LUA_OK && c->verdict == IST_ERR_DENIED)
		return ist_err_set(e, IST_ERR_DENIED,
		    "%s:%d: %s denied the tunnel: %s", h->path, c->line, name,
		    c->reason);
	if (status == LUA_OK)
		return ist_err_set(e, IST_ERR_HOOK, "%s:%d: %s %s", h->path,
		    c->line, name, c->reason);
	if (status == LUA_ERRMEM || (h->mem_hit && !h->time_hit)) {
		lua_settop(L, 0);
		return ist_err_set(e, IST_ERR_HOOK,
		    "%s: %s (defined at line %d) stopped: the Lua heap "
		    "reached its limit of %zu bytes", h->path, name, c->line,
		    h->mem_limit);
	}
	msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
	if (c->converting && msg)
		status = ist_err_set(e, IST_ERR_HOOK,
		    "%s:%d: %s returned a request that cannot be sent: %s",
		    h->path, c->line, name, msg);
	else if (h->time_hit)
		status = ist_err_set(e, IST_ERR_HOOK, "%s stopped: %s", name,
		    msg ? msg : "time limit exceeded");
	else if (msg)
		status = ist_err_set(e, IST_ERR_HOOK, "%s failed: %s", name,
		    msg);
	else
		status = ist_err_set(e, IST_ERR_HOOK,
		    "%s:%d: %s failed with an error object of type %s",
		    h->path, c->line, name, luaL_typename(L, -1));
	lua_settop(L, 0);
	return status;
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
	if ((r = read_checked(path, &buf, &len, e)) != 0) {
		if (r == IST_ERR_NOTFOUND)
			ist_err_set(e, r, "hooks file %s does not exist", path);
		else if (r == IST_ERR_UNSAFE)
			ist_err_prefix(e, "refusing hooks file %s", path);
		return r;
	}
	if (!(h = calloc(1, sizeof(*h))) || !(h->path = strdup(path)) ||
	    !(h->chunkname = malloc(strlen(path) + 2))) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	h->chunkname[0] = '@';
	memcpy(h->chunkname + 1, path, strlen(path) + 1);
	h->time_ms = lim && lim->time_ms ? lim->time_ms :
	    IST_HOOKS_DEFAULT_TIME_MS;
	h->mem_limit = lim && lim->mem_bytes ? lim->mem_bytes :
	    IST_HOOKS_DEFAULT_MEM_BYTES;
	if (!(h->L = lua_newstate(l_alloc, h))) {
		r = ist_err_set(e, IST_ERR_NOMEM,
		    "cannot create the Lua state (memory limit %zu bytes)",
		    h->mem_limit);
		goto out;
	}
	set_deadline(h);
	lua_sethook(h->L, l_hook, LUA_MASKCOUNT | LUA_MASKRET, HOOK_COUNT);
	lua_pushcfunction(h->L, l_setup);
	if ((status = lua_pcall(h->L, 0, 0, 0)) != LUA_OK) {
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
	if ((status = lua_pcall(h->L, 0, 1, 0)) != LUA_OK ||
	    !lua_isnil(h->L, -1)) {
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
	if ((r = run_hook(h, &c, e)) != 0 || c.absent)
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
	if ((r = run_hook(h, &c, e)) != 0 || c.absent)
		goto out;
	ist_err_clear(&ce);
	if (ist_api_check_open_tunnel(c.req_out, &ce) != 0) {
		r = ist_err_set(e, IST_ERR_HOOK, "%s:%d: on_open_tunnel made "
		    "a request AWS would refuse: %s", h->path, c.line, ce.msg);
		goto out;
	}
	cJSON_Delete(*req);
	*req = c.req_out;
	c.req_out = NULL;
out:
	cJSON_Delete(c.req_out);
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
	if ((r = run_hook(h, &c, &e)) != 0)
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
	if ((r = run_hook(h, &c, &e)) != 0)
		ist_error("hooks: %s (ignored)", e.msg);
	return r;
}

void
ist_hooks_close(struct ist_hooks *h)
{
	if (!h)
		return;
	if (h->L)
		lua_close(h->L);
	free(h->path);
	free(h->chunkname);
	free(h);
}
