/*
 * hooks_world.c: the world a hooks script runs in.
 *
 * Standard libraries, except that fd 1 carries the SSH stream to ssh and
 * fd 0 the stream from it: output goes to stderr, input comes from
 * /dev/null, children get the same. Plus the module iot_ssh_proxy.core
 * and a searcher that finds the bundled iot_ssh_proxy library only where
 * the program put it, and only when nobody else can write it.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "ist/safepath.h"
#include "hooks_int.h"

/* From the program's folder (bin/) to the Lua library: lua/CMakeLists.txt */
#ifndef IST_LUA_REL_DIR
#define IST_LUA_REL_DIR "../share/iot-ssh-proxy/lua"
#endif

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
	const char *u = getenv("USER");

	if (pw && pw->pw_name)
		lua_pushstring(L, pw->pw_name);
	else if (u)
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
	luaL_setmetatable(L, HOOKS_ARRAY_MT);
	return 1;
}

/* is_stdout(file): whether an io file handle is open on fd 1's file. */
static int
l_is_stdout(lua_State *L)
{
	luaL_Stream *p = luaL_checkudata(L, 1, LUA_FILEHANDLE);
	struct stat a, b;
	int fd = p->f ? fileno(p->f) : -1;

	if (fd < 0 || fstat(fd, &a) != 0 || fstat(STDOUT_FILENO, &b) != 0) {
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
"end\n"
/*
 * Lua runs __gc finalizers with debug hooks off on the collecting
 * thread, so the time limit never fires in one and a finalizer that
 * loops hangs the program. A coroutine has hooks of its own (copied
 * from its creator): each finalizer a script sets is run in a fresh
 * one, under the limit. Its errors (the limit included) go to stderr.
 */
"local rawget, rawset, type = rawget, rawset, type\n"
"local create, resume = coroutine.create, coroutine.resume\n"
"local setmt, dsetmt = setmetatable, debug.setmetatable\n"
"local bounded = setmt({}, {__mode = 'k'})\n"
"local function bound_gc(mt)\n"
"  if type(mt) ~= 'table' then return end\n"
"  local gc = rawget(mt, '__gc')\n"
"  if type(gc) ~= 'function' or bounded[gc] then return end\n"
"  local function run(o)\n"
"    local ok, err = resume(create(gc), o)\n"
"    if not ok then\n"
"      pcall(stderr.write, stderr, 'iot-ssh-proxy: hooks: a __gc ' ..\n"
"        'finalizer failed: ' .. tostring(err) .. '\\n')\n"
"    end\n"
"  end\n"
"  bounded[run] = true\n"
"  rawset(mt, '__gc', run)\n"
"end\n"
"setmetatable = function(t, mt)\n"
"  bound_gc(mt)\n"
"  return setmt(t, mt)\n"
"end\n"
"debug.setmetatable = function(v, mt)\n"
"  bound_gc(mt)\n"
"  return dsetmt(v, mt)\n"
"end\n";

int
hooks_read_file(const char *path, char **bufp, size_t *lenp, struct ist_err *e)
{
	struct stat want, got;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1;
	int r;

	*bufp = NULL;
	r = ist_safepath_check(path, geteuid(), &want, e);
	if (r != 0)
		return r;
	if (want.st_size > HOOKS_MAX_FILE)
		return ist_err_set(e, IST_ERR_TOOBIG,
		    "%s: %lld bytes, more than the %d a hooks file may have",
		    path, (long long)want.st_size, HOOKS_MAX_FILE);
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
	buf = malloc(HOOKS_MAX_FILE + 1);
	if (!buf) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, HOOKS_MAX_FILE + 1 - len);
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
		if (len > HOOKS_MAX_FILE) {
			r = ist_err_set(e, IST_ERR_TOOBIG,
			    "%s: more than the %d bytes a hooks file may have",
			    path, HOOKS_MAX_FILE);
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
 * Where the bundled library lives: IST_LUA_REL_DIR from the folder of the
 * running program, so an installed tree works wherever it is copied or
 * moved (the build tree has the same layout: bin/ and share/). Never a
 * path into the source tree, nor Lua's package.path. 0, or -1 with the
 * reason in why.
 */
static int
lib_dir(char *dir, size_t n, char *exe, size_t en, char *why, size_t wn)
{
	const char *rel = IST_LUA_REL_DIR;
	ssize_t k;
	char *slash;
	int m;

	k = readlink("/proc/self/exe", exe, en - 1);
	if (k < 0 || (size_t)k >= en - 1) {
		snprintf(why, wn, "cannot find this program's own path "
		    "(/proc/self/exe: %s), next to which the library is "
		    "installed", k < 0 ? strerror(errno) : "too long");
		return -1;
	}
	exe[k] = '\0';
	m = snprintf(dir, n, "%s", exe);
	if (m < 0 || (size_t)m >= n)
		goto toolong;
	slash = strrchr(dir, '/');
	if (!slash)
		goto toolong;
	*slash = '\0';
	/* "../" climbs out of bin/: say /usr/share/..., not /usr/bin/../ */
	while (strncmp(rel, "../", 3) == 0 && (slash = strrchr(dir, '/'))) {
		*slash = '\0';
		rel += 3;
	}
	m = snprintf(dir + strlen(dir), n - strlen(dir), "/%s", rel);
	if (m < 0 || (size_t)m >= n - strlen(dir))
		goto toolong;
	return 0;
toolong:
	snprintf(why, wn, "the path of this program (%s) is too long", exe);
	return -1;
}

/* "file:line: " of the innermost Lua caller (require is a C function). */
static void
push_where(lua_State *L)
{
	lua_Debug ar;

	for (int lv = 1; lua_getstack(L, lv, &ar); lv++) {
		if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
			lua_pushfstring(L, "%s:%d: ", ar.short_src,
			    ar.currentline);
			return;
		}
	}
	lua_pushliteral(L, "");
}

/*
 * package.searchers entry for "iot_ssh_proxy.*": the library installed
 * with the program (lib_dir), refused like a hooks file when others could
 * write it. These names are reserved: when the file is missing this
 * raises an error naming the one place it looked, rather than letting
 * Lua's own searchers take an iot_ssh_proxy.lua from the current folder.
 */
static int
l_search_lib(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	char dir[PATH_MAX], exe[PATH_MAX], path[PATH_MAX + 256];
	char file[256], why[PATH_MAX + 128];
	struct ist_err e;
	size_t i, len;
	char *buf;
	int r, n;

	if (strcmp(name, "iot_ssh_proxy") != 0 &&
	    strncmp(name, "iot_ssh_proxy.", 14) != 0)
		return 0;
	n = snprintf(file, sizeof(file), "%s.lua", name);
	if (n < 0 || (size_t)n >= sizeof(file))
		return luaL_error(L, "module name '%s' too long", name);
	for (i = 0; file[i] != '\0'; i++)
		if (file[i] == '.' && strcmp(file + i, ".lua") != 0)
			file[i] = '/';
	if (lib_dir(dir, sizeof(dir), exe, sizeof(exe), why,
	    sizeof(why)) < 0) {
		push_where(L);
		lua_pushfstring(L, "module '%s' not found: %s", name, why);
		lua_concat(L, 2);
		return lua_error(L);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	/* Before reading: nothing may raise while buf is held. */
	lua_pushfstring(L, "@%s", path);
	ist_err_clear(&e);
	r = hooks_read_file(path, &buf, &len, &e);
	if (r == IST_ERR_NOTFOUND) {
		push_where(L);
		lua_pushfstring(L, "module '%s' not found: no file %s (the "
		    "library installed with %s; reinstall it, or keep the "
		    "program's bin/ and share/ folders together)", name, path,
		    exe);
		lua_concat(L, 2);
		return lua_error(L);
	}
	if (r != 0)
		return luaL_error(L, "%s", e.msg);
	r = luaL_loadbufferx(L, buf, len, lua_tostring(L, -1), "t");
	free(buf);
	if (r != LUA_OK)
		return lua_error(L);
	lua_pushstring(L, path);
	return 2;
}

int
hooks_world_setup(lua_State *L)
{
	luaL_openlibs(L);
	luaL_newmetatable(L, HOOKS_ARRAY_MT);
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
