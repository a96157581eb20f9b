/*
 * aws_int.h: internals shared by the AWS modules (sigv4.c, creds.c,
 * awsconf.c, http.c, api.c). Not installed.
 */
#ifndef IST_AWS_INT_H
#define IST_AWS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ist/aws.h"
#include "ist/ist.h"

/*
 * A growable NUL-terminated string with a hard size cap. Once an append
 * fails (cap or allocation), the string stays failed: check dstr_ok() or
 * the result of dstr_take() once at the end instead of after every append.
 */
struct dstr {
	char *s;
	size_t len;
	size_t cap;
	size_t max;
	bool failed;
};

void dstr_init(struct dstr *d, size_t max);
void dstr_addn(struct dstr *d, const char *p, size_t n);
void dstr_add(struct dstr *d, const char *p);
void dstr_addc(struct dstr *d, char c);
void dstr_addf(struct dstr *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
bool dstr_ok(const struct dstr *d);
/* Returns the malloc'd string (NULL when failed) and resets d. */
char *dstr_take(struct dstr *d);
/* Frees; wipes the bytes first, since it may have held a secret. */
void dstr_free(struct dstr *d);

/* strdup that wipes nothing but checks for NULL input (returns NULL). */
char *aws_strdup(const char *s);
/* explicit_bzero + free of a C string; NULL is fine. */
void aws_free_secret(char *s);
/* Case-insensitive "true" (as the SDKs read boolean settings). */
bool aws_is_true(const char *v);
/* getenv that treats "" as unset. */
const char *aws_getenv(const char *name);

/*
 * The AWS shared config/credentials file format (INI as botocore reads
 * it): "[section]", "key = value" or "key: value", '#' and ';' comment
 * lines, indented lines continuing the previous value. Keys are
 * lowercased. A missing file is not an error (*out = NULL).
 */
struct ini_kv {
	char *key;
	char *value;
	int line;
};

struct ini_section {
	char *name;
	int line;
	struct ini_kv *kv;
	size_t nkv;
};

struct ini {
	char *path;
	struct ini_section *sec;
	size_t nsec;
};

int ini_load(const char *path, struct ini **out, struct ist_err *e);
const struct ini_section *ini_section(const struct ini *ini,
    const char *name);
const char *ini_get(const struct ini_section *s, const char *key);
void ini_free(struct ini *ini);
/* Parses a whole file held in memory; path is only for messages. */
int ini_parse(const char *path, const char *text, size_t len,
    struct ini **out, struct ist_err *e);

/*
 * One profile of the shared files, merged as botocore merges them: a
 * key in the credentials file ("[name]") wins over the config file
 * ("[profile name]", or "[default]").
 */
struct aws_profile {
	char *name;
	bool explicit_opt; /* given as an option (--profile) */
	bool explicit_env; /* given by AWS_PROFILE */
	char *cred_path;
	char *config_path;
	struct ini *cred;
	struct ini *config;
	const struct ini_section *cred_sec;
	const struct ini_section *config_sec;
};

/*
 * Loads the shared files for profile opt (NULL: AWS_PROFILE, "default").
 * A profile named explicitly but found in neither file is IST_ERR_CONFIG.
 */
int aws_profile_load(struct aws_profile *p, const char *opt,
    struct ist_err *e);
const char *aws_profile_get(const struct aws_profile *p, const char *key);
void aws_profile_free(struct aws_profile *p);

/* An HTTP exchange over libcurl (http.c). */
struct http_req {
	const char *method; /* "GET", "PUT", "POST" */
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated */
	const char *body;
	size_t body_len;
	long connect_timeout_ms;
	long timeout_ms;
	const char *ca_file; /* extra trust, or NULL */
	const char *proxy;   /* "[user:pass@]host:port", or NULL: direct */
};

struct http_resp {
	long status;
	char *body; /* NUL-terminated; may hold secrets: aws_free_secret */
	size_t body_len;
};

/*
 * Performs one request. Returns 0 when an HTTP answer came (any status),
 * or IST_ERR_NET / IST_ERR_TLS / IST_ERR_TIMEOUT / IST_ERR_TOOBIG (body
 * over 1 MiB) / IST_ERR_NOMEM with a message naming what failed.
 */
int http_do(const struct http_req *rq, struct http_resp *rs,
    struct ist_err *e);
void http_resp_free(struct http_resp *rs);

/* Resolved by awsconf.c; the credentials are filled by creds.c. */
struct ist_aws {
	char *profile;
	bool profile_opt; /* given as an option: skips env credentials */
	char *region;
	char *api_endpoint;
	struct ist_endpoint api; /* api_endpoint, split */
	char *data_override;
	char *ca_file;
	char *proxy;	 /* "[user:pass@]host:port" or NULL */
	char *no_proxy;	 /* as in NO_PROXY, or NULL */
	struct ist_creds creds;
	bool have_creds;
};

/* The API endpoint of a, split into host, port, TLS and path. */
const struct ist_endpoint *aws_api_ep(const struct ist_aws *a);

/* Parses an ISO 8601 UTC time as the credential sources give it. */
int aws_parse_time(const char *s, time_t *out);

/*
 * The parsers of peer answers, for fuzz/fuzz_api.c. aws_api_answer: what
 * api.c makes of one answer to op (2xx: the JSON and, for OpenTunnel and
 * RotateTunnelAccessToken, its tokens and tunnel id; else the service
 * error); returns its code. aws_creds_parse_json (creds.c): the JSON of
 * credential_process (want_version) and of the container and IMDS
 * endpoints, into c.
 */
int aws_api_answer(const char *op, long status, const char *body,
    struct ist_err *e);
int aws_creds_parse_json(struct ist_creds *c, const char *text,
    bool want_version, const char *what, struct ist_err *e);

#endif
