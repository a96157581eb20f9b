/*
 * hooks_api_stub.c: TEMPORARY, only until branch aws lands src/api.c.
 * A stand-in for ist_api_check_open_tunnel() (include/ist/api.h) covering
 * just what tests/unit/test_hooks.c violates, linked into the hooks tests
 * only while src/api.c is absent (tests/CMakeLists.txt). Delete it then.
 */
#include <cjson/cJSON.h>

#include "ist/ist.h"

int ist_api_check_open_tunnel(const cJSON *req, struct ist_err *e);

int
ist_api_check_open_tunnel(const cJSON *req, struct ist_err *e)
{
	const cJSON *tc = cJSON_GetObjectItemCaseSensitive(req,
	    "timeoutConfig");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(tc,
	    "maxLifetimeTimeoutMinutes");
	const cJSON *dc = cJSON_GetObjectItemCaseSensitive(req,
	    "destinationConfig");
	const cJSON *sv = cJSON_GetObjectItemCaseSensitive(dc, "services");

	if (m && (!cJSON_IsNumber(m) || m->valuedouble < 1 ||
	    m->valuedouble > 720))
		return ist_err_set(e, IST_ERR_INVAL, "timeoutConfig."
		    "maxLifetimeTimeoutMinutes must be 1..720");
	if (sv && (!cJSON_IsArray(sv) || cJSON_GetArraySize(sv) < 1 ||
	    cJSON_GetArraySize(sv) > 3))
		return ist_err_set(e, IST_ERR_INVAL,
		    "destinationConfig.services must list 1 to 3 services");
	return 0;
}
