/*
 * api.h: the IoT Secure Tunneling control-plane API (service
 * "iotsecuretunneling", version 2018-10-05) over AWS JSON 1.1, signed
 * with SigV4, over our HTTP/1.1 client (src/aws/http.c; docs/protocol.md
 * section 1).
 *
 * Each call validates its input against the API model's constraints
 * first (IST_ERR_INVAL naming the field), then POSTs with at most 3
 * attempts (exponential backoff with jitter, on throttling, 5xx and
 * network errors only), 5 s connect and 30 s whole-call timeouts.
 *
 * Errors: IST_ERR_INVAL (bad input), IST_ERR_CREDS (no credentials, or
 * the service rejected them: ExpiredToken, UnrecognizedClient,
 * InvalidSignature), IST_ERR_NOTFOUND (ResourceNotFoundException),
 * IST_ERR_AWS (any other service error; the message reads
 * "<Operation> failed: <Type>: <message>" plus a hint), IST_ERR_NET,
 * IST_ERR_TLS, IST_ERR_TIMEOUT, IST_ERR_NOMEM.
 * Tokens never reach logs or error messages.
 */
#ifndef IST_API_H
#define IST_API_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "ist/aws.h"

/* The secret parts of OpenTunnel / RotateTunnelAccessToken answers. */
struct ist_tunnel_tokens {
	char *tunnel_id;		/* NULL from Rotate */
	char *tunnel_arn;
	char *source_access_token;	/* NULL when not returned */
	char *destination_access_token; /* NULL when not returned */
};

/* Wipes (explicit_bzero) and frees the strings; t may be NULL. */
void ist_tunnel_tokens_clear(struct ist_tunnel_tokens *t);

/*
 * Checks an OpenTunnel request, in the API (boto3) shape
 * {description, tags:[{key,value}], destinationConfig:{thingName,
 * services:[...]}, timeoutConfig:{maxLifetimeTimeoutMinutes}}, against
 * the model. Returns 0 or IST_ERR_INVAL with the field named in e.
 */
int ist_api_check_open_tunnel(const cJSON *req, struct ist_err *e);

/*
 * Checks a tunnel id against the model ([a-zA-Z0-9_-+=:]{1,128}); op
 * names the caller in e ("--tunnel-id"). A bad id is shown in e with its
 * non-printable bytes as '?'. Every call taking a tunnel id checks it,
 * and ist_api_open_tunnel checks the one it returns (IST_ERR_AWS).
 */
int ist_api_check_tunnel_id(const char *op, const char *id,
    struct ist_err *e);

int ist_api_open_tunnel(struct ist_aws *a, const cJSON *req,
    struct ist_tunnel_tokens *out, struct ist_err *e);

/* *tunnel: the response's "tunnel" object; the caller cJSON_Delete()s it. */
int ist_api_describe_tunnel(struct ist_aws *a, const char *tunnel_id,
    cJSON **tunnel, struct ist_err *e);

int ist_api_close_tunnel(struct ist_aws *a, const char *tunnel_id,
    bool del, struct ist_err *e);

/* client_mode: "SOURCE", "DESTINATION" or "ALL"; dest_config may be NULL. */
int ist_api_rotate_tunnel_access_token(struct ist_aws *a,
    const char *tunnel_id, const char *client_mode,
    const cJSON *dest_config, struct ist_tunnel_tokens *out,
    struct ist_err *e);

/*
 * thing and next_token may be NULL, max_results 0 means unset.
 * *out: the whole response {tunnelSummaries:[...], nextToken?}; the
 * caller cJSON_Delete()s it.
 */
int ist_api_list_tunnels(struct ist_aws *a, const char *thing,
    int max_results, const char *next_token, cJSON **out,
    struct ist_err *e);

#endif
