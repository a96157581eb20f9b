/*
 * hooks_json.c: the OpenTunnel request between cJSON and Lua tables.
 *
 * JSON objects become tables with string keys, lists become sequences
 * marked with HOOKS_ARRAY_MT. Back: a table whose keys are exactly 1..n
 * is a list; an empty table is a list when marked or when it is "tags" or
 * "services" (the request's lists), an object otherwise; an empty "tags"
 * is left out (AWS wants 1..200 tags or none). Fields are named as in
 * the JSON, lists counted from 0, like the API check does. Only raw
 * access is used, so no metamethod runs during a conversion.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "hooks_int.h"

#define MAX_DEPTH 32

static void
push(lua_State *L, const cJSON *j, int depth)
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
			push(L, c, depth + 1);
			lua_rawset(L, -3);
		}
	} else if (cJSON_IsArray(j)) {
		lua_createtable(L, cJSON_GetArraySize(j), 0);
		luaL_setmetatable(L, HOOKS_ARRAY_MT);
		i = 1;
		cJSON_ArrayForEach(c, j) {
			push(L, c, depth + 1);
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
path_push(struct hooks_json *c, const char *key, lua_Integer i)
{
	size_t n = strlen(c->path);

	if (key)
		snprintf(c->path + n, sizeof(c->path) - n, ".%s", key);
	else
		snprintf(c->path + n, sizeof(c->path) - n, "[%lld]",
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
 * (so that an error part-way leaks nothing: the caller frees c->root). Raises an error naming the field on values JSON cannot
 * carry.
 */
static cJSON *
to_json(lua_State *L, struct hooks_json *c, cJSON *parent, int idx,
    const char *key, int depth)
{
	cJSON *v;
	size_t len;
	const char *s;

	idx = lua_absindex(L, idx);
	if (depth > MAX_DEPTH)
		luaL_error(L, "%s: nested deeper than %d (a cycle?)", c->path,
		    MAX_DEPTH);
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if (strlen(s) != len)
			luaL_error(L, "%s: string holds a NUL byte", c->path);
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
				    c->path);
			return new_node(L, parent, key,
			    cJSON_CreateNumber(d));
		}
	case LUA_TTABLE:
		break;
	default:
		luaL_error(L, "%s: a %s cannot be sent to AWS", c->path,
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
			    "sent to AWS", c->path, luaL_typename(L, -1));
		}
	}
	bool array;

	/* AWS refuses an empty tag list; an empty one means "no tags". */
	if (count == 0 && depth == 1 && key && strcmp(key, "tags") == 0)
		return NULL;
	if (count == 0) {
		array = is_array_key(key);
		if (lua_getmetatable(L, idx)) {
			luaL_getmetatable(L, HOOKS_ARRAY_MT);
			array = array || lua_rawequal(L, -1, -2);
			lua_pop(L, 2);
		}
	} else if (named) {
		if (max > 0)
			luaL_error(L, "%s: a table mixes list items and "
			    "named fields", c->path);
		array = false;
	} else {
		if (max != count)
			luaL_error(L, "%s: a list with holes (%I items, "
			    "highest index %I)", c->path, (LUAI_UACINT)count,
			    (LUAI_UACINT)max);
		array = true;
	}

	v = new_node(L, parent, key,
	    array ? cJSON_CreateArray() : cJSON_CreateObject());
	if (!parent)
		c->root = v;
	if (array) {
		for (lua_Integer i = 1; i <= max; i++) {
			size_t n = path_push(c, NULL, i - 1);

			lua_rawgeti(L, idx, i);
			to_json(L, c, v, -1, NULL, depth + 1);
			lua_pop(L, 1);
			c->path[n] = '\0';
		}
		return v;
	}
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		const char *k = lua_tostring(L, -2);
		size_t n = path_push(c, k, 0);

		to_json(L, c, v, -1, k, depth + 1);
		lua_pop(L, 1);
		c->path[n] = '\0';
	}
	return v;
}

void
hooks_json_push(lua_State *L, const cJSON *j)
{
	push(L, j, 0);
}

void
hooks_json_build(lua_State *L, int idx, struct hooks_json *c)
{
	c->root = NULL;
	snprintf(c->path, sizeof(c->path), "request");
	to_json(L, c, NULL, idx, NULL, 0);
}
