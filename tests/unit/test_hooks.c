/*
 * test_hooks.c: the Lua hook host with real scripts written to a temp
 * folder: denials, edits, limits, stdout isolation, file safety, search
 * order, the bundled library and the examples in examples/hooks/.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "ist/hooks.h"

#ifndef IST_SOURCE_DIR
#error IST_SOURCE_DIR must name the source tree
#endif


static const char base_request[] =
	"{\"description\":\"iot-ssh-proxy kiosk-17\","
	"\"destinationConfig\":{\"thingName\":\"kiosk-17\","
	"\"services\":[\"SSH\"]},"
	"\"timeoutConfig\":{\"maxLifetimeTimeoutMinutes\":720}}";

struct fx {
	char dir[64];
	char path[128];		/* dir/hooks.lua */
	struct ist_hooks *h;
	struct ist_hook_target t;
	cJSON *req;
	struct ist_err e;
};

/* Log lines, captured through ist_log's hook. */
static char logbuf[4096];

static void
capture_log(int level, const char *msg, void *ud)
{
	size_t n = strlen(logbuf);

	(void)level;
	(void)ud;
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ist_hooks.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/hooks.lua", f->dir);
	f->t.host = "kiosk-17";
	f->t.port = 22;
	f->t.user = "pi";
	snprintf(f->t.thing, sizeof(f->t.thing), "kiosk-17");
	snprintf(f->t.region, sizeof(f->t.region), "us-east-1");
	snprintf(f->t.service, sizeof(f->t.service), "SSH");
	f->req = cJSON_Parse(base_request);
	assert_non_null(f->req);
	logbuf[0] = '\0';
	ist_log_set_hook(capture_log, NULL);
	ist_log_set_level(IST_LOG_INFO);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	ist_hooks_close(f->h);
	cJSON_Delete(f->req);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	ist_log_set_hook(NULL, NULL);
	free(f);
	return 0;
}

static void
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0644), 0);
}

/* Writes the script and opens it with the given limits. */
static int
load_lim(struct fx *f, const char *script, unsigned int time_ms,
    size_t mem_bytes)
{
	struct ist_hooks_limits lim = { .time_ms = time_ms,
	    .mem_bytes = mem_bytes };

	write_text(f->path, script);
	ist_hooks_close(f->h);
	f->h = NULL;
	return ist_hooks_open(&f->h, f->path, false, &lim, &f->e);
}

/*
 * A time limit no sane hook reaches even on a loaded machine (only the
 * runaway tests use a small one), and a small heap.
 */
static int
load(struct fx *f, const char *script)
{
	return load_lim(f, script, 60000, 8u << 20);
}

static void
load_ok_lim(struct fx *f, const char *script, unsigned int time_ms)
{
	if (load_lim(f, script, time_ms, 8u << 20) != 0)
		fail_msg("load: %s", f->e.msg);
	assert_non_null(f->h);
}

static void
load_ok(struct fx *f, const char *script)
{
	int r = load(f, script);

	if (r != 0)
		fail_msg("load: %s", f->e.msg);
	assert_non_null(f->h);
}

static char *
read_text(const char *path)
{
	static char buf[8192];
	FILE *fp = fopen(path, "r");
	size_t n;

	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" not in \"%s\"", needle, hay);
}

static const char *
tag_value(const cJSON *req, const char *key)
{
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(req, "tags");
	const cJSON *t;

	cJSON_ArrayForEach(t, tags) {
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(t, "key");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, "value");

		if (cJSON_IsString(k) && strcmp(k->valuestring, key) == 0)
			return cJSON_IsString(v) ? v->valuestring : NULL;
	}
	return NULL;
}

static double
lifetime(const cJSON *req)
{
	const cJSON *tc = cJSON_GetObjectItemCaseSensitive(req,
	    "timeoutConfig");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(tc,
	    "maxLifetimeTimeoutMinutes");

	assert_true(cJSON_IsNumber(m));
	return m->valuedouble;
}

/* ---- no hooks ---- */

static void
test_disabled_and_null(void **state)
{
	struct fx *f = *state;

	write_text(f->path, "error('must not run')\n");
	assert_int_equal(ist_hooks_open(&f->h, f->path, true, NULL, &f->e), 0);
	assert_null(f->h);
	assert_int_equal(ist_hooks_on_resolve(NULL, &f->t, &f->e), 0);
	assert_int_equal(ist_hooks_on_open_tunnel(NULL, &f->req, &f->t,
	    &f->e), 0);
	assert_int_equal(ist_hooks_on_tunnel_opened(NULL, "id", "arn", "r",
	    &f->t), 0);
	assert_null(ist_hooks_path(NULL));
}

static void
test_explicit_missing(void **state)
{
	struct fx *f = *state;
	char p[160];

	snprintf(p, sizeof(p), "%s/nope.lua", f->dir);
	assert_int_equal(ist_hooks_open(&f->h, p, false, NULL, &f->e),
	    IST_ERR_NOTFOUND);
	assert_null(f->h);
	assert_contains(f->e.msg, p);
}

static void
test_no_hook_functions(void **state)
{
	struct fx *f = *state;
	char *before = cJSON_PrintUnformatted(f->req);
	char *after;

	load_ok(f, "x = 1\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), 0);
	after = cJSON_PrintUnformatted(f->req);
	assert_string_equal(before, after);
	assert_string_equal(f->t.thing, "kiosk-17");
	free(before);
	free(after);
}

/* ---- on_resolve ---- */

static void
test_resolve_edits(void **state)
{
	struct fx *f = *state;

	load_ok(f,
	    "function on_resolve(t)\n"
	    "  assert(t.host == 'kiosk-17' and t.port == 22 and\n"
	    "    t.user == 'pi' and t.profile == nil)\n"
	    "  t.thing = 'thing-' .. t.host\n"
	    "  t.region = 'eu-west-1'\n"
	    "  t.profile = 'fleet'\n"
	    "  t.service = 'SSH2'\n"
	    "  t.destination_client_type = 'V1'\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_string_equal(f->t.thing, "thing-kiosk-17");
	assert_string_equal(f->t.region, "eu-west-1");
	assert_string_equal(f->t.profile, "fleet");
	assert_string_equal(f->t.service, "SSH2");
	assert_string_equal(f->t.destination_client_type, "V1");
	assert_string_equal(f->t.host, "kiosk-17");
}

static void
test_resolve_unset_fields(void **state)
{
	struct fx *f = *state;

	/* a field the program left empty may stay so (nil in Lua) */
	f->t.region[0] = '\0';
	f->t.user = NULL;
	load_ok(f,
	    "function on_resolve(t)\n"
	    "  assert(t.region == nil and t.user == nil)\n"
	    "  t.profile = 'p'\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_string_equal(f->t.region, "");
	assert_string_equal(f->t.profile, "p");
	load_ok(f, "function on_resolve(t) t.region = 'eu-west-1' end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_string_equal(f->t.region, "eu-west-1");
	/* but once set, a required one cannot be unset */
	load_ok(f, "function on_resolve(t) t.region = nil end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "target.region must be a string, not a nil");
}

static void
test_resolve_readonly(void **state)
{
	struct fx *f = *state;

	load_ok(f, "function on_resolve(t)\n  t.host = 'elsewhere'\nend\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "target.host is read-only");
	assert_contains(f->e.msg, "on_resolve");
	assert_contains(f->e.msg, f->path);

	load_ok(f, "function on_resolve(t) t.port = 2222 end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "target.port");
}

static void
test_resolve_bad_values(void **state)
{
	struct fx *f = *state;
	static const char *const cases[][2] = {
		{ "t.thing = 17", "target.thing must be a string" },
		{ "t.thing = nil", "target.thing must be a string" },
		{ "t.thing = ''", "target.thing must have 1 to 128" },
		{ "t.thing = ('x'):rep(129)", "target.thing must have 1 to" },
		{ "t.thing = 'a b'", "target.thing \"a b\" may only hold" },
		{ "t.region = 'evil.example/'", "target.region" },
		{ "t.destination_client_type = 'V9'", "\"V1\", \"V2\"" },
		{ "t.profile = 'a\\nb'", "control character" },
	};
	char script[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(script, sizeof(script),
		    "function on_resolve(t) %s end\n", cases[i][0]);
		load_ok(f, script);
		assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
		    IST_ERR_HOOK);
		assert_contains(f->e.msg, cases[i][1]);
		/* the target is untouched on failure */
		assert_string_equal(f->t.thing, "kiosk-17");
		assert_string_equal(f->t.region, "us-east-1");
	}
}

/* ---- denials ---- */

static void
test_deny_false_reason(void **state)
{
	struct fx *f = *state;
	char want[200];

	load_ok(f,
	    "function on_resolve(t)\n"
	    "  if t.host == 'kiosk-17' then\n"
	    "    return false, 'kiosk-17 is in maintenance'\n"
	    "  end\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_DENIED);
	snprintf(want, sizeof(want), "%s:3: on_resolve denied the tunnel: "
	    "kiosk-17 is in maintenance", f->path);
	assert_string_equal(f->e.msg, want);
	assert_int_equal(f->e.code, IST_ERR_DENIED);
}

static void
test_deny_without_reason(void **state)
{
	struct fx *f = *state;

	load_ok(f, "function on_open_tunnel(r, t)\n  return false\nend\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_DENIED);
	assert_contains(f->e.msg, "hooks.lua:2: on_open_tunnel denied");
	assert_contains(f->e.msg, "no reason given");
}

static void
test_deny_by_error(void **state)
{
	struct fx *f = *state;
	char want[200];

	load_ok(f,
	    "function on_open_tunnel(r, t)\n"
	    "  local x = 1\n"
	    "  error('no tunnels today')\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	snprintf(want, sizeof(want), "on_open_tunnel failed: %s:3: "
	    "no tunnels today", f->path);
	assert_string_equal(f->e.msg, want);
	/* a runtime error names its line too */
	load_ok(f, "function on_resolve(t)\n\n  return t.nope.x\nend\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "hooks.lua:3:");
	/* an error value that is not a string */
	load_ok(f, "function on_resolve(t)\n  error({})\nend\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "error object of type table");
}

static void
test_bad_return_type(void **state)
{
	struct fx *f = *state;
	char *before = cJSON_PrintUnformatted(f->req);
	char *after;

	load_ok(f, "function on_resolve(t)\n  return 'yes'\nend\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "hooks.lua:2: on_resolve returned a string");

	load_ok(f, "function on_open_tunnel(r)\n  return 42\nend\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	assert_contains(f->e.msg, "on_open_tunnel returned a number");
	after = cJSON_PrintUnformatted(f->req);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_deny_through_library(void **state)
{
	struct fx *f = *state;

	/* a tail call into the library: the hook's line is still named */
	load_ok(f,
	    "local isp = require 'iot_ssh_proxy'\n"
	    "function on_resolve(t)\n"
	    "  return isp.allow_hosts(t, {'gateway-*', '!kiosk-*'})\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_DENIED);
	assert_contains(f->e.msg, "hooks.lua:2: on_resolve denied the "
	    "tunnel: host kiosk-17 is not in the allowed hosts");
}

static void
test_long_path_and_escapes(void **state)
{
	struct fx *f = *state;
	char dir[256], path[300];

	/* Lua shortens file names over 60 characters in its messages */
	snprintf(dir, sizeof(dir), "%s/a-rather-long-folder-name-for-hooks"
	    "-so-that-lua-shortens-it", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/hooks.lua", dir);
	write_text(path, "function on_resolve(t)\n  error('boom')\nend\n");
	assert_int_equal(ist_hooks_open(&f->h, path, false, NULL, &f->e), 0);
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, path);
	assert_contains(f->e.msg, "hooks.lua:2: boom");

	/* no terminal escapes from a reason or an error */
	load_ok(f, "function on_resolve(t) return false, 'a\\27[31mb' end\n"
	    "function on_open_tunnel(r) error('c\\27]0;x\\7d') end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_DENIED);
	assert_contains(f->e.msg, "denied the tunnel: a?[31mb");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	assert_contains(f->e.msg, "c?]0;x?d");
}

/* ---- on_open_tunnel ---- */

static void
test_open_edits_in_place(void **state)
{
	struct fx *f = *state;
	const cJSON *d, *dc, *svc;

	load_ok(f,
	    "function on_open_tunnel(r, t)\n"
	    "  assert(r.destinationConfig.thingName == t.thing)\n"
	    "  assert(r.destinationConfig.services[1] == 'SSH')\n"
	    "  assert(math.type(r.timeoutConfig.maxLifetimeTimeoutMinutes)\n"
	    "    == 'integer')\n"
	    "  r.description = 'ticket OPS-1 for ' .. t.host\n"
	    "  r.tags = { { key = 'ticket', value = 'OPS-1' } }\n"
	    "  table.insert(r.tags, { key = 'team', value = 'ops' })\n"
	    "  r.timeoutConfig.maxLifetimeTimeoutMinutes = 30\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), 0);
	d = cJSON_GetObjectItemCaseSensitive(f->req, "description");
	assert_true(cJSON_IsString(d));
	assert_string_equal(d->valuestring, "ticket OPS-1 for kiosk-17");
	assert_string_equal(tag_value(f->req, "ticket"), "OPS-1");
	assert_string_equal(tag_value(f->req, "team"), "ops");
	assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(f->req,
	    "tags")));
	assert_true(lifetime(f->req) == 30.0);
	dc = cJSON_GetObjectItemCaseSensitive(f->req, "destinationConfig");
	svc = cJSON_GetObjectItemCaseSensitive(dc, "services");
	assert_true(cJSON_IsArray(svc));
	assert_int_equal(cJSON_GetArraySize(svc), 1);
}

static void
test_open_returns_new_table(void **state)
{
	struct fx *f = *state;
	const cJSON *dc, *svc;
	char *s;

	load_ok(f,
	    "function on_open_tunnel(r, t)\n"
	    "  return { destinationConfig = { thingName = 'other',\n"
	    "    services = { 'SSH', 'VNC' } }, tags = {} }\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), 0);
	dc = cJSON_GetObjectItemCaseSensitive(f->req, "destinationConfig");
	svc = cJSON_GetObjectItemCaseSensitive(dc, "services");
	assert_int_equal(cJSON_GetArraySize(svc), 2);
	assert_null(cJSON_GetObjectItemCaseSensitive(f->req, "description"));
	/* AWS wants 1..200 tags or none: an empty list is left out */
	assert_null(cJSON_GetObjectItemCaseSensitive(f->req, "tags"));
	assert_int_equal(cJSON_GetArraySize(f->req), 1);
	s = cJSON_PrintUnformatted(svc);
	assert_string_equal(s, "[\"SSH\",\"VNC\"]");
	free(s);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(dc,
	    "thingName")->valuestring, "other");
}

static void
test_open_refused_request(void **state)
{
	struct fx *f = *state;
	char *before = cJSON_PrintUnformatted(f->req);
	char *after;

	load_ok(f,
	    "function on_open_tunnel(r, t)\n"
	    "  r.timeoutConfig.maxLifetimeTimeoutMinutes = 10000\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	assert_contains(f->e.msg, "AWS would refuse");
	assert_contains(f->e.msg, "maxLifetimeTimeoutMinutes");
	after = cJSON_PrintUnformatted(f->req);
	assert_string_equal(before, after);
	free(after);

	load_ok(f,
	    "function on_open_tunnel(r, t)\n"
	    "  r.destinationConfig.services = {}\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	assert_contains(f->e.msg, "services");
	after = cJSON_PrintUnformatted(f->req);
	assert_string_equal(before, after);
	free(after);
	free(before);

	/* the field is named as in the JSON request */
	load_ok(f,
	    "function on_open_tunnel(r, t)\n"
	    "  r.tags = { { key = 'ok', value = 'v' },\n"
	    "    { key = 'no!', value = 'v' } }\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	assert_contains(f->e.msg, "tags[1].key");
	load_ok(f,
	    "function on_open_tunnel(r, t)\n"
	    "  r.description = ('d'):rep(2049)\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	assert_contains(f->e.msg, "description");
	load_ok(f, "function on_open_tunnel(r, t) r.extra = 1 end\n");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	assert_contains(f->e.msg, "extra");
}

static void
test_open_unconvertible(void **state)
{
	struct fx *f = *state;
	static const char *const cases[][2] = {
		{ "r.description = print", "request.description: a function" },
		{ "r.tags = { { key = 'k', value = {} , x = io.stderr } }",
		    "request.tags[0].x: a userdata" },
		{ "r.x = { 1, 2, y = 3 }", "request.x: a table mixes" },
		{ "r.x = { [1] = 1, [3] = 3 }", "request.x: a list with holes" },
		{ "r.x = r", "nested deeper" },
		{ "r.x = 0/0", "request.x: not a finite number" },
		{ "r[true] = 1", "a table key of type boolean" },
	};
	char script[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(script, sizeof(script),
		    "function on_open_tunnel(r, t)\n  %s\nend\n", cases[i][0]);
		load_ok(f, script);
		assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
		    &f->e), IST_ERR_HOOK);
		assert_contains(f->e.msg, "returned a request that cannot be "
		    "sent");
		assert_contains(f->e.msg, cases[i][1]);
	}
}

/* ---- limits ---- */

static void
test_runaway_loop(void **state)
{
	struct fx *f = *state;

	load_ok_lim(f, "function on_resolve(t)\n  while true do end\nend\n",
	    200);
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "on_resolve stopped");
	assert_contains(f->e.msg, "hooks.lua:2: time limit of 200 ms");

	/* catching the error does not help, nor does removing the hook */
	load_ok_lim(f,
	    "function on_resolve(t)\n"
	    "  pcall(debug.sethook)\n"
	    "  while true do pcall(function() while true do end end) end\n"
	    "end\n", 200);
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "time limit of 200 ms exceeded");

	/* in a coroutine too */
	load_ok_lim(f,
	    "function on_resolve(t)\n"
	    "  coroutine.wrap(function() while true do end end)()\n"
	    "end\n", 200);
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "time limit");

	/* and at the top level of the file */
	assert_int_equal(load_lim(f, "while true do end\n", 200, 8u << 20),
	    IST_ERR_HOOK);
	assert_null(f->h);
	assert_contains(f->e.msg, "time limit");
}

/*
 * Runs fn(f) in a child; fails unless the child ends well within secs (a
 * deadline: a hang here used to last for ever).
 */
static void
in_child_within(struct fx *f, void (*fn)(struct fx *), int secs)
{
	pid_t pid = fork();
	int st = 0, i;

	assert_true(pid >= 0);
	if (pid == 0) {
		fn(f);
		_exit(0);
	}
	for (i = 0; i < secs * 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		usleep(100000);
	}
	if (i == secs * 10) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		fail_msg("still running after %d s", secs);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
close_hooks(struct fx *f)
{
	ist_hooks_close(f->h);
	f->h = NULL;
}

static void
resolve_then_close(struct fx *f)
{
	(void)ist_hooks_on_resolve(f->h, &f->t, &f->e);
	close_hooks(f);
}

/*
 * Bug "a __gc finalizer that loops hangs the proxy for ever": Lua runs
 * finalizers with debug hooks off, so the time limit never fired in one,
 * neither at lua_close nor in a collection during a hook call. Now each
 * finalizer a script sets runs under the limit, and nothing a script
 * does makes a hook call or closing the hooks hang.
 */
static void
test_bug_gc_finalizer_loops(void **state)
{
	struct fx *f = *state;
	char script[512];

	/* Set at the top level, due at close. */
	load_ok_lim(f, "keep = setmetatable({}, {__gc = function()\n"
	    "  while true do end end})\n"
	    "debug.setmetatable({}, {__gc = function()\n"
	    "  while true do end end})\n", 200);
	in_child_within(f, close_hooks, 10);

	/* In a hook, with a collection forced while it is due. */
	load_ok_lim(f, "function on_resolve(t)\n"
	    "  setmetatable({}, {__gc = function()\n"
	    "    while true do end end})\n"
	    "  collectgarbage()\n"
	    "end\n", 200);
	in_child_within(f, resolve_then_close, 10);

	/* A finalizer that ends still runs, with its object, once even
	 * when its metatable is used twice. */
	snprintf(script, sizeof(script),
	    "local mt = {__gc = function(o)\n"
	    "  local f = io.open('%s/gc.txt', 'a')\n"
	    "  f:write(o.name, '\\n')\n"
	    "  f:close()\n"
	    "end}\n"
	    "function on_resolve(t)\n"
	    "  setmetatable({name = 'one'}, mt)\n"
	    "  setmetatable({name = 'two'}, mt)\n"
	    "  collectgarbage()\n"
	    "end\n", f->dir);
	load_ok(f, script);
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	snprintf(script, sizeof(script), "%s/gc.txt", f->dir);
	assert_true(strcmp(read_text(script), "two\none\n") == 0 ||
	    strcmp(read_text(script), "one\ntwo\n") == 0);
}

static void
test_runaway_alloc(void **state)
{
	struct fx *f = *state;

	/* a time limit the allocations cannot reach first, even slowed
	 * down by sanitizers or a busy machine */
	assert_int_equal(load_lim(f,
	    "function on_open_tunnel(r, t)\n"
	    "  local t = {}\n"
	    "  for i = 1, 1e9 do t[i] = ('x'):rep(4096) .. i end\n"
	    "end\n"
	    "function on_resolve(t) t.thing = 'after' end\n",
	    600000, 8u << 20), 0);
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_HOOK);
	assert_contains(f->e.msg, "on_open_tunnel");
	assert_contains(f->e.msg, "Lua heap reached its limit of 8388608");
	/* the state is still usable afterwards */
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_string_equal(f->t.thing, "after");

	/* one big allocation, even when caught */
	load_ok(f,
	    "function on_resolve(t)\n"
	    "  local ok = pcall(string.rep, 'x', 100 * 1024 * 1024)\n"
	    "  return false, tostring(ok)\n"
	    "end\n");
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_DENIED);
	assert_contains(f->e.msg, "denied the tunnel: false");
}

static void
test_default_limits(void **state)
{
	struct fx *f = *state;

	write_text(f->path, "function on_resolve(t) t.thing = 'x' end\n");
	assert_int_equal(ist_hooks_open(&f->h, f->path, false, NULL, &f->e),
	    0);
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_string_equal(f->t.thing, "x");
}

/*
 * Every allocation can fail: raise the heap limit from 4 KiB step by step
 * until opening and a hook both work; each failure before that must be a
 * clean error (ASan/UBSan builds check for leaks and crashes).
 */
static void
test_alloc_failure_sweep(void **state)
{
	struct fx *f = *state;
	struct ist_hooks_limits lim = { .time_ms = 60000 };
	int ok_runs = 0, fails = 0, r;

	write_text(f->path,
	    "local isp = require 'iot_ssh_proxy'\n"
	    "function on_open_tunnel(r, t)\n"
	    "  isp.tag_with_user(r)\n"
	    "  isp.cap_lifetime(r, 60)\n"
	    "end\n");
	for (lim.mem_bytes = 4096; ok_runs < 3 && lim.mem_bytes < (4u << 20);
	    lim.mem_bytes += 512) {
		cJSON *req = cJSON_Parse(base_request);

		assert_non_null(req);
		r = ist_hooks_open(&f->h, f->path, false, &lim, &f->e);
		if (r == 0)
			r = ist_hooks_on_open_tunnel(f->h, &req, &f->t, &f->e);
		if (r == 0) {
			assert_true(lifetime(req) == 60.0);
			ok_runs++;
		} else {
			assert_true(r == IST_ERR_HOOK || r == IST_ERR_NOMEM);
			assert_true(f->e.msg[0] != '\0');
			fails++;
		}
		ist_hooks_close(f->h);
		f->h = NULL;
		cJSON_Delete(req);
	}
	assert_int_equal(ok_runs, 3);
	assert_true(fails > 50);
}

/* ---- loading ---- */

static void
test_syntax_error(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "function on_resolve(t)\n\n  x = = 1\nend\n"),
	    IST_ERR_HOOK);
	assert_null(f->h);
	assert_contains(f->e.msg, f->path);
	assert_contains(f->e.msg, "hooks.lua:3:");
	assert_contains(f->e.msg, "unexpected symbol");
}

static void
test_top_level_error_and_bad_globals(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "local x = 1\nerror('bad config')\n"),
	    IST_ERR_HOOK);
	assert_contains(f->e.msg, "hooks.lua:2: bad config");
	assert_int_equal(load(f, "on_resolve = 'oops'\n"), IST_ERR_HOOK);
	assert_contains(f->e.msg, "on_resolve is a string, not a function");
	/* binary chunks are refused */
	assert_int_equal(load(f, "\x1bLua\x54"), IST_ERR_HOOK);
	assert_contains(f->e.msg, "binary");
}

/* ---- the world: fd 1 is the SSH stream ---- */

static int
redirect(int fd, const char *path)
{
	int saved, n;

	fflush(stdout);
	fflush(stderr);
	saved = dup(fd);
	assert_true(saved >= 0);
	n = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(n >= 0);
	assert_int_equal(dup2(n, fd), fd);
	close(n);
	return saved;
}

static void
restore(int fd, int saved)
{
	fflush(stdout);
	fflush(stderr);
	assert_int_equal(dup2(saved, fd), fd);
	close(saved);
}

static void
test_stdout_untouched(void **state)
{
	struct fx *f = *state;
	char out[160], err[160];
	int s1, s2, r1, r2;
	char *text;

	load_ok(f,
	    "function on_resolve(t)\n"
	    "  print('P-print', 1, nil)\n"
	    "  io.write('P-iowrite\\n')\n"
	    "  io.stdout:write('P-stdout\\n')\n"
	    "  io.output():write('P-output\\n')\n"
	    "  io.output(io.stdout); io.write('P-again\\n')\n"
	    "  os.execute('echo P-execute; echo P-execute-err >&2')\n"
	    "  local p = io.popen('cat', 'w'); p:write('P-popen\\n'); p:close()\n"
	    "  local r = io.popen('echo P-read'); local got = r:read('l')\n"
	    "  r:close(); print(got .. '-back')\n"
	    "  assert(io.read('a') == '')\n"
	    "  assert(io.open('/dev/stdout', 'w') == nil)\n"
	    "  assert(io.open('/proc/self/fd/1', 'a') == nil)\n"
	    "  assert(not pcall(io.output, '/dev/stdout'))\n"
	    "  assert(not pcall(os.exit, 0))\n"
	    "end\n"
	    "function on_tunnel_closed(s) print('P-closed') end\n");
	snprintf(out, sizeof(out), "%s/stdout", f->dir);
	snprintf(err, sizeof(err), "%s/stderr", f->dir);
	s1 = redirect(STDOUT_FILENO, out);
	s2 = redirect(STDERR_FILENO, err);
	r1 = ist_hooks_on_resolve(f->h, &f->t, &f->e);
	r2 = ist_hooks_on_tunnel_closed(f->h, &(struct ist_hook_summary){
	    .tunnel_id = "t" }, &f->t);
	restore(STDERR_FILENO, s2);
	restore(STDOUT_FILENO, s1);
	if (r1 != 0)
		fail_msg("on_resolve: %s", f->e.msg);
	assert_int_equal(r2, 0);
	assert_string_equal(read_text(out), "");
	text = read_text(err);
	assert_contains(text, "P-print\t1\tnil\n");
	assert_contains(text, "P-iowrite\n");
	assert_contains(text, "P-stdout\n");
	assert_contains(text, "P-output\n");
	assert_contains(text, "P-again\n");
	assert_contains(text, "P-execute\n");
	assert_contains(text, "P-execute-err\n");
	assert_contains(text, "P-popen\n");
	assert_contains(text, "P-read-back\n");
	assert_contains(text, "P-closed\n");
}

/* ---- audit hooks ---- */

static void
test_audit_hooks(void **state)
{
	struct fx *f = *state;
	char audit[160], script[1024];
	struct ist_hook_summary s = { .tunnel_id = "tid-1",
	    .reason = "ssh closed", .duration_s = 12.5, .bytes_sent = 1000,
	    .bytes_received = 5000000000ull };

	snprintf(audit, sizeof(audit), "%s/audit.log", f->dir);
	snprintf(script, sizeof(script),
	    "local f = assert(io.open('%s', 'a'))\n"
	    "function on_tunnel_opened(tn, t)\n"
	    "  f:write(tn.tunnelId, ' ', tn.tunnelArn, ' ', tn.region, ' ',\n"
	    "    t.thing, '\\n'); f:flush()\n"
	    "  return false, 'ignored'\n"
	    "end\n"
	    "function on_tunnel_closed(s, t)\n"
	    "  f:write(s.tunnelId, ' ', s.reason, ' ', s.duration_s, ' ',\n"
	    "    s.bytes_sent, ' ', s.bytes_received, '\\n'); f:flush()\n"
	    "end\n", audit);
	load_ok(f, script);
	assert_int_equal(ist_hooks_on_tunnel_opened(f->h, "tid-1",
	    "arn:aws:iot:us-east-1:1:tunnel/tid-1", "us-east-1", &f->t), 0);
	assert_int_equal(ist_hooks_on_tunnel_closed(f->h, &s, &f->t), 0);
	assert_string_equal(read_text(audit),
	    "tid-1 arn:aws:iot:us-east-1:1:tunnel/tid-1 us-east-1 kiosk-17\n"
	    "tid-1 ssh closed 12.5 1000 5000000000\n");
}

static void
test_audit_errors_logged(void **state)
{
	struct fx *f = *state;
	struct ist_hook_summary s = { .tunnel_id = "tid-1" };

	load_ok_lim(f,
	    "function on_tunnel_opened(tn, t)\n  error('audit down')\nend\n"
	    "function on_tunnel_closed(s, t)\n  while true do end\nend\n",
	    200);
	assert_int_equal(ist_hooks_on_tunnel_opened(f->h, "tid-1", "arn",
	    "us-east-1", &f->t), IST_ERR_HOOK);
	assert_contains(logbuf, "on_tunnel_opened failed:");
	assert_contains(logbuf, "hooks.lua:2: audit down");
	assert_contains(logbuf, "ignored");
	assert_int_equal(ist_hooks_on_tunnel_closed(f->h, &s, &f->t),
	    IST_ERR_HOOK);
	assert_contains(logbuf, "on_tunnel_closed");
	assert_contains(logbuf, "stopped");
}

/* ---- file safety ---- */

static void
test_unsafe_file_refused(void **state)
{
	struct fx *f = *state;

	write_text(f->path, "function on_resolve(t) end\n");
	assert_int_equal(chmod(f->path, 0664), 0);
	assert_int_equal(ist_hooks_open(&f->h, f->path, false, NULL, &f->e),
	    IST_ERR_UNSAFE);
	assert_null(f->h);
	assert_contains(f->e.msg, "refusing hooks file");
	assert_contains(f->e.msg, "0664");

	assert_int_equal(chmod(f->path, 0644), 0);
	assert_int_equal(chown(f->path, 65534, 65534), 0);
	assert_int_equal(ist_hooks_open(&f->h, f->path, false, NULL, &f->e),
	    IST_ERR_UNSAFE);
	assert_contains(f->e.msg, "owned by uid 65534");
}

static void
test_unsafe_parent_refused(void **state)
{
	struct fx *f = *state;

	write_text(f->path, "function on_resolve(t) end\n");
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(ist_hooks_open(&f->h, f->path, false, NULL, &f->e),
	    IST_ERR_UNSAFE);
	assert_contains(f->e.msg, f->dir);
	assert_int_equal(chmod(f->dir, 0700), 0);
	assert_int_equal(ist_hooks_open(&f->h, f->path, false, NULL, &f->e),
	    0);
	assert_non_null(f->h);
}

/* ---- search order ---- */

static void
mkdirs(const char *base, const char *rel)
{
	char p[256], *s;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	for (s = p + strlen(base) + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
}

static void
test_search_order(void **state)
{
	struct fx *f = *state;
	char etc[160], xdg[160], home[160], buf[256], want[256];

	snprintf(etc, sizeof(etc), "%s/etc/iot-ssh-proxy", f->dir);
	snprintf(xdg, sizeof(xdg), "%s/xdg", f->dir);
	snprintf(home, sizeof(home), "%s/home", f->dir);
	mkdirs(f->dir, "etc/iot-ssh-proxy");
	mkdirs(f->dir, "xdg/iot-ssh-proxy");
	mkdirs(f->dir, "home/.config/iot-ssh-proxy");
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");

	assert_int_equal(ist_hooks_find(etc, buf, sizeof(buf), &f->e),
	    IST_ERR_NOTFOUND);

	snprintf(want, sizeof(want), "%s/hooks.lua", etc);
	write_text(want, "-- etc\n");
	assert_int_equal(ist_hooks_find(etc, buf, sizeof(buf), &f->e), 0);
	assert_string_equal(buf, want);

	snprintf(want, sizeof(want), "%s/.config/iot-ssh-proxy/hooks.lua",
	    home);
	write_text(want, "-- home\n");
	assert_int_equal(ist_hooks_find(etc, buf, sizeof(buf), &f->e), 0);
	assert_string_equal(buf, want);

	/* XDG_CONFIG_HOME replaces ~/.config: without a file there, /etc */
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_int_equal(ist_hooks_find(etc, buf, sizeof(buf), &f->e), 0);
	snprintf(want, sizeof(want), "%s/hooks.lua", etc);
	assert_string_equal(buf, want);

	snprintf(want, sizeof(want), "%s/iot-ssh-proxy/hooks.lua", xdg);
	write_text(want, "function on_resolve(t) t.thing = 'from-xdg' end\n");
	assert_int_equal(ist_hooks_find(etc, buf, sizeof(buf), &f->e), 0);
	assert_string_equal(buf, want);

	/* a relative XDG_CONFIG_HOME is ignored, as the XDG spec says */
	setenv("XDG_CONFIG_HOME", "relative/dir", 1);
	assert_int_equal(ist_hooks_find(etc, buf, sizeof(buf), &f->e), 0);
	assert_contains(buf, "/home/.config/");

	/* ist_hooks_open without a path searches the same way */
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_int_equal(ist_hooks_open(&f->h, NULL, false, NULL, &f->e), 0);
	assert_non_null(f->h);
	assert_string_equal(ist_hooks_path(f->h), want);
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_string_equal(f->t.thing, "from-xdg");
	ist_hooks_close(f->h);
	f->h = NULL;

	/* found but unsafe is an error, not "no hooks" */
	assert_int_equal(chmod(want, 0666), 0);
	assert_int_equal(ist_hooks_open(&f->h, NULL, false, NULL, &f->e),
	    IST_ERR_UNSAFE);
	assert_null(f->h);

	/* nothing found: no hooks, no error (unless /etc has one) */
	setenv("XDG_CONFIG_HOME", etc, 1);
	setenv("HOME", etc, 1);
	if (access("/etc/iot-ssh-proxy/hooks.lua", F_OK) != 0) {
		assert_int_equal(ist_hooks_open(&f->h, NULL, false, NULL,
		    &f->e), 0);
		assert_null(f->h);
	}
	unsetenv("XDG_CONFIG_HOME");
}

/* ---- the library ---- */

static void
test_library_helpers(void **state)
{
	struct fx *f = *state;

	setenv("IST_TEST_TICKET", "OPS-42", 1);
	unsetenv("IST_TEST_UNSET");
	load_ok(f,
	    "local isp = require 'iot_ssh_proxy'\n"
	    "assert(isp.version == '" IST_VERSION "')\n"
	    "assert(isp.glob('Kiosk-17', 'kiosk-*'))\n"
	    "assert(isp.glob('a.b', 'a.b') and not isp.glob('axb', 'a.b'))\n"
	    "assert(isp.glob('k7', 'k?') and not isp.glob('k77', 'k?'))\n"
	    "assert(isp.host_matches('kiosk-1', 'gw-*, kiosk-*'))\n"
	    "assert(not isp.host_matches('kiosk-test', {'kiosk-*', '!*-test'}))\n"
	    "assert(not isp.host_matches('x', {}))\n"
	    "local ok, why = isp.deny_hosts({host = 'db-1'}, {'db-*'})\n"
	    "assert(ok == false and why:find('db%-1'))\n"
	    "assert(isp.deny_hosts({host = 'web'}, {'db-*'}) == true)\n"
	    "local r = { timeoutConfig = { maxLifetimeTimeoutMinutes = 30 } }\n"
	    "isp.cap_lifetime(r, 60)\n"
	    "assert(r.timeoutConfig.maxLifetimeTimeoutMinutes == 30)\n"
	    "r = {}\n"
	    "isp.cap_lifetime(r, 60)\n"
	    "assert(r.timeoutConfig.maxLifetimeTimeoutMinutes == 60)\n"
	    "assert(not pcall(isp.cap_lifetime, r, 0))\n"
	    "assert(not pcall(isp.cap_lifetime, r, 1.5))\n"
	    "isp.set_tag(r, 'a', 1); isp.set_tag(r, 'a', 2)\n"
	    "assert(#r.tags == 1 and isp.get_tag(r, 'a') == '2')\n"
	    "assert(not pcall(isp.set_tag, r, 'aws:x', 'v'))\n"
	    "assert(not pcall(isp.set_tag, r, ('k'):rep(129), 'v'))\n"
	    "assert(not pcall(isp.set_tag, r, 'k', ('v'):rep(257)))\n"
	    "assert(isp.require_env('IST_TEST_TICKET') == 'OPS-42')\n"
	    "local v, w = isp.require_env('IST_TEST_UNSET')\n"
	    "assert(v == nil and w:find('set IST_TEST_UNSET'))\n"
	    "v, w = isp.require_env('IST_TEST_TICKET', '^%d+$')\n"
	    "assert(v == nil and w:find('does not match'))\n"
	    "assert(isp.tag_from_env(r, 'IST_TEST_TICKET', 'ticket'))\n"
	    "assert(isp.get_tag(r, 'ticket') == 'OPS-42')\n"
	    "assert(isp.tag_from_env(r, 'IST_TEST_UNSET') == false)\n"
	    "isp.tag_with_user(r)\n"
	    "assert(isp.get_tag(r, 'iot-ssh-proxy:user') == isp.username())\n"
	    "assert(isp.get_tag(r, 'iot-ssh-proxy:host') == isp.hostname())\n"
	    "assert(#isp.hostname() > 0 and #isp.username() > 0)\n"
	    "isp.log('info', 'hello from lua')\n"
	    "isp.log('debug3', 'not shown')\n"
	    "assert(not pcall(isp.log, 'loud', 'x'))\n"
	    "local a = isp.array()\n"
	    "assert(next(a) == nil and getmetatable(a) ~= nil)\n");
	assert_contains(logbuf, "hooks: hello from lua\n");
	assert_null(strstr(logbuf, "not shown"));
}

/* ---- the examples ---- */

static void
load_example(struct fx *f, const char *name)
{
	char src[512], cmd[1024];

	snprintf(src, sizeof(src), "%s/examples/hooks/%s", IST_SOURCE_DIR,
	    name);
	/* copied, so the test does not depend on the checkout's modes */
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && chmod 644 '%s'", src,
	    f->path, f->path);
	assert_int_equal(system(cmd), 0);
	ist_hooks_close(f->h);
	f->h = NULL;
	if (ist_hooks_open(&f->h, f->path, false, NULL, &f->e) != 0)
		fail_msg("%s: %s", name, f->e.msg);
}

static void
test_example_tag_with_user(void **state)
{
	struct fx *f = *state;

	load_example(f, "tag-with-user.lua");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), 0);
	assert_non_null(tag_value(f->req, "iot-ssh-proxy:user"));
	assert_non_null(tag_value(f->req, "iot-ssh-proxy:host"));
	assert_string_equal(tag_value(f->req, "iot-ssh-proxy:ssh-host"),
	    "kiosk-17");
	assert_int_equal(ist_hooks_on_tunnel_opened(f->h, "tid-9", "arn",
	    "us-east-1", &f->t), 0);
	assert_contains(logbuf, "tunnel tid-9 to kiosk-17 opened by");
}

static void
test_example_cap_timeout(void **state)
{
	struct fx *f = *state;

	load_example(f, "cap-timeout.lua");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), 0);
	assert_true(lifetime(f->req) == 60.0);
	snprintf(f->t.thing, sizeof(f->t.thing), "pump-prod-3");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), 0);
	assert_true(lifetime(f->req) == 15.0);
}

static void
test_example_map_host_to_thing(void **state)
{
	struct fx *f = *state;

	load_example(f, "map-host-to-thing.lua");
	f->t.host = "kiosk-17.eu";
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_string_equal(f->t.thing, "kiosk-17");
	assert_string_equal(f->t.region, "eu-west-1");
	assert_string_equal(f->t.destination_client_type, "");

	f->t.host = "gateway-v1-2.ap";
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e), 0);
	assert_string_equal(f->t.thing, "gateway-v1-2");
	assert_string_equal(f->t.region, "ap-southeast-2");
	assert_string_equal(f->t.destination_client_type, "V1");

	f->t.host = "db-1.us";
	assert_int_equal(ist_hooks_on_resolve(f->h, &f->t, &f->e),
	    IST_ERR_DENIED);
	assert_contains(f->e.msg, "db-1 is not a kiosk or a gateway");
}

static void
test_example_require_ticket(void **state)
{
	struct fx *f = *state;
	const cJSON *d;

	load_example(f, "require-ticket.lua");
	unsetenv("TICKET");
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_DENIED);
	assert_contains(f->e.msg, "set TICKET first");
	setenv("TICKET", "not a ticket", 1);
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), IST_ERR_DENIED);
	assert_contains(f->e.msg, "does not match");
	setenv("TICKET", "OPS-1234", 1);
	assert_int_equal(ist_hooks_on_open_tunnel(f->h, &f->req, &f->t,
	    &f->e), 0);
	assert_string_equal(tag_value(f->req, "ticket"), "OPS-1234");
	d = cJSON_GetObjectItemCaseSensitive(f->req, "description");
	assert_true(cJSON_IsString(d));
	assert_contains(d->valuestring, "OPS-1234: ssh kiosk-17 by ");
	unsetenv("TICKET");
}

/*
 * The bundled library comes from ../share/iot-ssh-proxy/lua next to the
 * running program (here the test binary in build/bin), from nowhere else;
 * a missing module's error names that full path and is not cut short
 * (bug: Lua's list of every package.path entry filled the message, which
 * was cut mid-word, and ./iot_ssh_proxy.lua in the current folder would
 * have been loaded).
 */
static void
test_bug_require_message_cut(void **state)
{
	struct fx *f = *state;
	char exe[512], lib[600], want[1600], sub[200], cwd[1024];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(lib, sizeof(lib), "%s", exe);
	slash = strrchr(lib, '/');		/* .../bin/test_hooks */
	assert_non_null(slash);
	*slash = '\0';
	slash = strrchr(lib, '/');		/* .../bin */
	assert_non_null(slash);
	snprintf(slash, sizeof(lib) - (size_t)(slash - lib),
	    "/share/iot-ssh-proxy/lua");

	/* found there: the library the hook gets is that file */
	load_ok(f, "local isp = require 'iot_ssh_proxy'\n"
	    "isp.log('info', 'lib ' .. debug.getinfo(isp.glob, 'S').source)\n");
	snprintf(want, sizeof(want), "hooks: lib @%s/iot_ssh_proxy.lua", lib);
	assert_contains(logbuf, want);

	/* a decoy in the current folder is never taken */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(sub, sizeof(sub), "%s/iot_ssh_proxy", f->dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(sub, sizeof(sub), "%s/iot_ssh_proxy/nope.lua", f->dir);
	write_text(sub, "return {}\n");
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(load(f, "-- line 1\nrequire 'iot_ssh_proxy.nope'\n"),
	    IST_ERR_HOOK);
	assert_int_equal(chdir(cwd), 0);
	snprintf(want, sizeof(want), "hooks.lua:2: module 'iot_ssh_proxy.nope' "
	    "not found: no file %s/iot_ssh_proxy/nope.lua (the library "
	    "installed with %s; reinstall it, or keep the program's bin/ and "
	    "share/ folders together)", lib, exe);
	assert_contains(f->e.msg, want);
	assert_null(strstr(f->e.msg, "no field package.preload"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_disabled_and_null),
		T(test_explicit_missing),
		T(test_no_hook_functions),
		T(test_resolve_edits),
		T(test_resolve_unset_fields),
		T(test_resolve_readonly),
		T(test_resolve_bad_values),
		T(test_deny_false_reason),
		T(test_deny_without_reason),
		T(test_deny_by_error),
		T(test_bad_return_type),
		T(test_deny_through_library),
		T(test_long_path_and_escapes),
		T(test_open_edits_in_place),
		T(test_open_returns_new_table),
		T(test_open_refused_request),
		T(test_open_unconvertible),
		T(test_bug_gc_finalizer_loops),
		T(test_runaway_loop),
		T(test_runaway_alloc),
		T(test_default_limits),
		T(test_alloc_failure_sweep),
		T(test_syntax_error),
		T(test_top_level_error_and_bad_globals),
		T(test_stdout_untouched),
		T(test_audit_hooks),
		T(test_audit_errors_logged),
		T(test_unsafe_file_refused),
		T(test_unsafe_parent_refused),
		T(test_search_order),
		T(test_library_helpers),
		T(test_bug_require_message_cut),
		T(test_example_tag_with_user),
		T(test_example_cap_timeout),
		T(test_example_map_host_to_thing),
		T(test_example_require_ticket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
