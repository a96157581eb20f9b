/*
 * tags.c: --tag KEY=VALUE (proxycmd/tags.h).
 */
#include <string.h>

#include "tags.h"

int
proxy_tag_add(cJSON **tags, const char *arg, struct ist_err *e)
{
	const char *eq = strchr(arg, '=');
	cJSON *t;
	char key[129];
	size_t n;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(key))
		return ist_err_set(e, IST_ERR_INVAL, "expected KEY=VALUE "
		    "(a key of 1 to 128 characters)");
	n = (size_t)(eq - arg);
	memcpy(key, arg, n);
	key[n] = '\0';
	if (!*tags)
		*tags = cJSON_CreateArray();
	t = cJSON_CreateObject();
	if (!*tags || !t || !cJSON_AddStringToObject(t, "key", key) ||
	    !cJSON_AddStringToObject(t, "value", eq + 1)) {
		cJSON_Delete(t);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	cJSON_AddItemToArray(*tags, t);
	return 0;
}
