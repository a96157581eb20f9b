/*
 * aws.h: where and as whom to talk to AWS IoT Secure Tunneling.
 *
 * struct ist_aws holds the resolved region, API and data-plane
 * endpoints, CA file, HTTPS proxy and (lazily) the credentials, found
 * the way the AWS SDKs find them. Resolution order (strongest first):
 *
 *  region:     opts.region, AWS_REGION, AWS_DEFAULT_REGION, the
 *              profile's "region" in the config file; none is an error.
 *  API:        opts.api_endpoint, AWS_ENDPOINT_URL_IOTSECURETUNNELING,
 *              AWS_ENDPOINT_URL, then https://api.tunneling.iot.{region}.
 *              amazonaws.com (".com.cn" in cn-*; "iot-fips" when
 *              AWS_USE_FIPS_ENDPOINT or the profile's use_fips_endpoint
 *              is true). Overrides may be http:// (for local tests).
 *  data plane: opts.proxy_endpoint, AWSIOT_TUNNEL_ENDPOINT, then
 *              wss://data.tunneling.iot.{region}.amazonaws.com:443.
 *              Overrides are host[:port] (wss, port 443) or a ws:// or
 *              wss:// URL.
 *  CA file:    opts.ca_file, AWS_CA_BUNDLE; TLS is always verified.
 *  proxy:      HTTPS_PROXY / https_proxy, except hosts in NO_PROXY /
 *              no_proxy.
 *  profile:    opts.profile, AWS_PROFILE, "default".
 *  credentials (first found): AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *              (+ AWS_SESSION_TOKEN); the profile in the shared files
 *              (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials;
 *              AWS_CONFIG_FILE, default ~/.aws/config), in botocore's
 *              order: role_arn with source_profile or credential_source
 *              (STS AssumeRole, mfa_serial asked on /dev/tty), web
 *              identity (the profile's or AWS_WEB_IDENTITY_TOKEN_FILE +
 *              AWS_ROLE_ARN), IAM Identity Center (sso_session or
 *              sso_start_url), static keys, credential_process; then, only
 *              for a profile not named (--profile, AWS_PROFILE), container
 *              credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI /
 *              _FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN /
 *              _TOKEN_FILE) and EC2 IMDSv2
 *              (AWS_EC2_METADATA_SERVICE_ENDPOINT overrides
 *              http://169.254.169.254; AWS_EC2_METADATA_DISABLED=true
 *              skips it). Assumed-role and SSO credentials are cached in
 *              the AWS CLI's ~/.aws/cli/cache, shared with it.
 *
 * The environment is read by ist_aws_new() and ist_creds_resolve() only.
 */
#ifndef IST_AWS_H
#define IST_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ist/ist.h"

/* Every member may be NULL (unset). The strings are copied. */
struct ist_aws_opts {
	const char *profile;
	const char *region;
	const char *api_endpoint;
	const char *proxy_endpoint;
	const char *ca_file;
};

/* A resolved server: connect to host:port, TLS when tls is true. */
struct ist_endpoint {
	char host[256];	 /* name or address, no brackets for IPv6 */
	int port;
	bool tls;
	char path[256];	 /* path prefix without a trailing '/', or "" */
};

/* AWS credentials. The strings are malloc'd; clear with ist_creds_clear. */
struct ist_creds {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;	/* NULL when none */
	time_t expiration;	/* 0 when they do not expire */
	char source[128];	/* where they came from, for logs: no secret */
};

struct ist_aws;

/*
 * Resolves region, endpoints, CA file and proxy now; credentials are
 * resolved on first use (ist_aws_creds). Returns 0, or IST_ERR_CONFIG
 * (no region, bad endpoint, malformed profile file: name and line, a
 * profile named but absent, ...), IST_ERR_UNSAFE (a shared file another
 * user could write) or IST_ERR_NOMEM.
 */
int ist_aws_new(struct ist_aws **out, const struct ist_aws_opts *opts,
    struct ist_err *e);
void ist_aws_free(struct ist_aws *a);

const char *ist_aws_region(const struct ist_aws *a);
const char *ist_aws_profile(const struct ist_aws *a);
/* The API base URL, e.g. "https://api.tunneling.iot.us-east-1.amazonaws.com". */
const char *ist_aws_api_endpoint(const struct ist_aws *a);
/* The extra CA file, or NULL for the system's trust store only. */
const char *ist_aws_ca_file(const struct ist_aws *a);

/*
 * The data-plane endpoint for region (NULL: the resolved region). An
 * override (opts.proxy_endpoint, AWSIOT_TUNNEL_ENDPOINT) wins over any
 * region. Returns 0 or IST_ERR_CONFIG.
 */
int ist_aws_data_endpoint(const struct ist_aws *a, const char *region,
    struct ist_endpoint *out, struct ist_err *e);

/*
 * The HTTPS proxy to use to reach host, as "[user:pass@]host:port" (the
 * scheme stripped, the form libwebsockets' http_proxy_address and
 * src/aws/http.c take), or NULL for a direct connection (no
 * HTTPS_PROXY, or host matches NO_PROXY). Valid as long as a.
 */
const char *ist_aws_proxy_for(const struct ist_aws *a, const char *host);

/*
 * The credentials, resolved on the first call and again when they are
 * within 5 minutes of expiring. Returns 0 with *out valid until the next
 * call or ist_aws_free, or IST_ERR_CREDS with a message listing what was
 * tried (for a named profile that cannot be resolved: the setting, its
 * file and line, and what to do), IST_ERR_TIMEOUT (a credential_process
 * over 60 s), IST_ERR_CONFIG for a malformed file (its name and line),
 * or IST_ERR_UNSAFE for a file (or cache entry) others could write.
 */
int ist_aws_creds(struct ist_aws *a, const struct ist_creds **out,
    struct ist_err *e);

/*
 * The credential chain alone, for profile (NULL: AWS_PROFILE/default). A
 * profile given here skips the environment's keys, as an explicit
 * profile does in the SDKs; AWS_PROFILE does not.
 */
int ist_creds_resolve(const char *profile, struct ist_creds *out,
    struct ist_err *e);
/* Wipes and frees the strings; out may be NULL. */
void ist_creds_clear(struct ist_creds *c);

#endif
