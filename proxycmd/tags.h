/*
 * tags.h: --tag KEY=VALUE into the OpenTunnel request's tags array, apart
 * from main.c so that fuzz/fuzz_cli.c can link it.
 */
#ifndef PROXY_TAGS_H
#define PROXY_TAGS_H

#include <cjson/cJSON.h>

#include "ist/ist.h"

/*
 * Appends {key, value} from "KEY=VALUE" to *tags (created when NULL).
 * IST_ERR_INVAL without '=', with an empty key or one over 128 bytes;
 * IST_ERR_NOMEM. The API's own rules (characters, lengths, count) are
 * checked with the whole request (ist_api_check_open_tunnel).
 */
int proxy_tag_add(cJSON **tags, const char *arg, struct ist_err *e);

#endif
