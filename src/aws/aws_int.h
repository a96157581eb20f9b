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
/* Milliseconds of CLOCK_MONOTONIC since start. */
long aws_ms_since(const struct timespec *start);
/* The standard retry mode's wait before attempt + 1 (full jitter, at
 * most 20 s, at most left_ms). */
void aws_backoff(int attempt, long left_ms);

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
	size_t cap_kv;
};

struct ini {
	char *path;
	struct ini_section *sec;
	size_t nsec;
	size_t cap_sec;
};

int ini_load(const char *path, struct ini **out, struct ist_err *e);
const struct ini_section *ini_section(const struct ini *ini,
    const char *name);
const char *ini_get(const struct ini_section *s, const char *key);
/* The setting itself (its line, for messages), or NULL. */
const struct ini_kv *ini_get_kv(const struct ini_section *s,
    const char *key);
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

/*
 * awsconf.c's URL splitter: "scheme://host[:port][/path]" or, when the
 * scheme is absent and bare_ok, "host[:port]". plain and tls_scheme are
 * the accepted schemes ("http", "https"); IPv6 hosts in brackets. No
 * query string; trailing '/' dropped from the path. what names the
 * setting in messages. IST_ERR_CONFIG when it does not parse.
 */
int aws_parse_url(const char *url, const char *plain, const char *tls_scheme,
    bool bare_ok, const char *what, struct ist_endpoint *ep,
    struct ist_err *e);

/* sigv4.c: percent-decodes p[0..n) into a new string (NULL: no
 * memory); a bad escape stays as is. */
char *aws_uri_decode(const char *p, size_t n);
/* URI-encodes every byte of p but the unreserved ones (RFC 3986: letters,
 * digits, "-_.~"), and '/' too when keep_slash, as SigV4 and AWS's query
 * protocol want it. */
void aws_uri_encode(struct dstr *d, const char *p, size_t n,
    bool keep_slash);
/* Copies s for a message: printable ASCII only ('?' for the rest), at
 * most n bytes with the NUL. s may be NULL. */
void aws_clean_copy(char *dst, size_t n, const char *s);

/*
 * httpresp.c: an HTTP/1.1 response parser without I/O, for http.c (and
 * the unit tests and fuzzer). Feed it the bytes as they come; it skips
 * 1xx answers and reads the body by Content-Length, chunked transfer
 * coding, or until the connection closes (http_parser_eof).
 */
#define HTTP_HEAD_MAX (16 * 1024) /* status line, headers and trailers */
#define HTTP_LINE_MAX 4096	  /* one chunk-size line */
#define HTTP_BODY_MAX (1024 * 1024)

struct http_parser {
	int state;
	bool head_only; /* the answer to CONNECT: no body follows */
	bool got_any;
	bool chunked;
	bool te_seen;
	long status;
	long long clen; /* Content-Length, or -1 */
	size_t left;	/* body or chunk bytes still to come */
	size_t head_used;
	size_t line_len;
	char line[HTTP_HEAD_MAX];
	struct dstr body; /* may hold secrets: wiped by http_parser_free */
	/* Called for each header of the final answer (not trailers). */
	void (*on_header)(void *ud, const char *name, size_t name_len,
	    const char *value, size_t value_len);
	void *ud;
};

void http_parser_init(struct http_parser *p, bool head_only);
/*
 * Consumes up to n bytes; *used (may be NULL) gets how many, fewer than n
 * only once the answer is complete (what follows is not its). Returns 1
 * when complete, 0 when it wants more, or IST_ERR_NET (not HTTP),
 * IST_ERR_TOOBIG (over a cap) or IST_ERR_NOMEM with e filled.
 */
int http_parser_feed(struct http_parser *p, const char *b, size_t n,
    size_t *used, struct ist_err *e);
/* The peer closed: 1 when that ends the answer, or IST_ERR_NET. */
int http_parser_eof(struct http_parser *p, struct ist_err *e);
bool http_parser_done(const struct http_parser *p);
/* Wipes the line buffer and the body (not freed if taken). */
void http_parser_free(struct http_parser *p);

/* One HTTP/1.1 exchange over a socket and OpenSSL (http.c). */
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
	int max_attempts; /* AWS_MAX_ATTEMPTS / max_attempts, or 3 */
};

/* Limits on values from the environment and the files, named in errors. */
#define AWS_AKID_MAX 128	/* AccessKeyId: 16 to 128 in the STS model */
#define AWS_SECRET_MAX 1024
#define AWS_TOKEN_MAX 16000	/* X-Amz-Security-Token: fits one 16 KiB line */
#define AWS_NAME_MAX 1024	/* profile names, ARNs, session names */
#define AWS_URL_MAX 4000	/* endpoint, proxy and container URLs */

/*
 * Where and how the credential sources beyond the files talk to AWS
 * (STS, the SSO portal, SSO-OIDC): the extra CA file, the proxy, the
 * region of the profile being resolved and the retry budget.
 */
struct aws_net {
	const struct ist_aws *a; /* for ist_aws_proxy_for; may be NULL */
	const char *ca_file;	 /* NULL: the system's store only */
	const char *region;	 /* NULL: none configured */
	int max_attempts;	 /* max_attempts / AWS_MAX_ATTEMPTS, 1..10 */
};

/*
 * The endpoint of service ("sts", "sso", "sso_oidc") as botocore finds
 * it: AWS_ENDPOINT_URL_<SERVICE>, the profile's [services] section,
 * AWS_ENDPOINT_URL, the profile's endpoint_url, else dflt. *out is
 * malloc'd, without a trailing '/'. Returns 0 or IST_ERR_CONFIG.
 */
int aws_service_endpoint(const struct aws_profile *p, const char *service,
    const char *dflt, char **out, struct ist_err *e);

/*
 * max_attempts as botocore reads it: AWS_MAX_ATTEMPTS, the profile's
 * max_attempts, else 3 (retry_mode standard) or 5 (legacy). 1 to 10.
 */
int aws_max_attempts(const struct aws_profile *p, int *out,
    struct ist_err *e);

/* Splits "scheme://host[:port]/path" into the Host header (default port
 * left out) and the path ("/" when none). Returns 0 or -1. */
int aws_url_host_path(const char *url, char *host, size_t hsz,
    const char **path);

/* The HTTPS proxy for the host of url (NO_PROXY honoured), or NULL. */
const char *aws_proxy_for_url(const struct aws_net *n, const char *url);

/* One HTTP exchange with the retries of the "standard" mode. */
int aws_http_retry(const struct aws_net *n, const struct http_req *rq,
    struct http_resp *rs, const char *what, struct ist_err *e);

/* sts.c: AssumeRole (signed with src) and AssumeRoleWithWebIdentity. */
struct sts_args {
	const char *role_arn;
	const char *session_name;
	const char *external_id;  /* NULL: none */
	const char *serial;	  /* mfa_serial, NULL: none */
	const char *token_code;	  /* the MFA code, with serial */
	const char *web_identity; /* the token, for the web identity call */
	long duration;		  /* 0: the service's default */
};

/* The answer kept as the AWS CLI caches it. */
struct sts_result {
	struct ist_creds creds;
	char *assumed_role_id;
	char *arn;
	char *request_id;
};

int aws_sts_assume(const struct aws_net *n, const struct aws_profile *p,
    const struct sts_args *args, const struct ist_creds *src,
    struct sts_result *out, struct ist_err *e);
void aws_sts_result_free(struct sts_result *r);

/*
 * A strict reader of the XML that STS answers: the text of the element
 * at path (e.g. {"AssumeRoleResult", "Credentials", "AccessKeyId"}),
 * entities decoded, malloc'd; NULL when absent or malformed.
 */
char *aws_xml_text(const char *doc, size_t len, const char *const *path,
    size_t depth);

/* credcache.c: the AWS CLI's credential cache (~/.aws/cli/cache). */
/* The file name (without ".json") of an AssumeRole entry, as botocore. */
int aws_cache_key_assume(const struct sts_args *args, bool with_name,
    char out[41]);
/* The same for an SSO role: sessionName, or startUrl when it is NULL. */
int aws_cache_key_sso(const char *account, const char *role,
    const char *session, const char *start_url, char out[41]);
/* SHA-1 hex of s: the SSO token cache's file names. */
void aws_sha1_hex(const char *s, char out[41]);
/* dir/name.json, dir under HOME; malloc'd or NULL. */
char *aws_home_file(const char *dir, const char *name);
/* $HOME (or the passwd entry's home) followed by rel ("/.aws/config"). */
char *aws_home_path(const char *rel);
/*
 * Reads cached credentials (Credentials.AccessKeyId ...) from path.
 * Returns 1 and fills c when present and valid until more than margin
 * seconds from now, 0 when absent, expired or unreadable (logged), or
 * IST_ERR_UNSAFE when others could have written the file.
 */
int aws_cache_read(const char *path, time_t margin, struct ist_creds *c,
    struct ist_err *e);
/* A string member of a cJSON object, or NULL (cjson/cJSON.h first). */
struct cJSON;
const char *aws_json_str(const struct cJSON *o, const char *key);
/* Wipes every string of j (secrets) and frees it; NULL is fine. */
void aws_json_free_secret(struct cJSON *j);
/* Writes an entry as the CLI does (sr NULL: an SSO role's). */
int aws_cache_write(const char *path, const struct ist_creds *c,
    const struct sts_result *sr, struct ist_err *e);
/* Writes text to path atomically, mode 0600, in a safe folder (made). */
int aws_file_write_atomic(const char *path, const char *text,
    struct ist_err *e);

/* sso.c: IAM Identity Center role credentials for profile p. */
int aws_sso_creds(const struct aws_net *n, const struct aws_profile *p,
    const char *profile, struct ist_creds *out, struct ist_err *e);

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
