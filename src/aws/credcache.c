/*
 * credcache.c: the AWS CLI's credential cache, shared with it.
 *
 * ~/.aws/cli/cache/<key>.json holds an AssumeRole answer (or, for SSO,
 * {"ProviderType": "sso", "Credentials": {...}}). The key is the SHA-1
 * of the call's arguments serialized as Python's json.dumps does
 * (sort_keys; ", " and ": " for assume-role, "," and ":" for SSO), so
 * the text must match byte for byte: ensure_ascii escapes included.
 * Files are written to a temporary name in the same folder, mode 0600,
 * and renamed; folders others could write are refused.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/sha.h>

#include "aws_int.h"
#include "ist/safepath.h"

#define CACHE_FILE_MAX (256 * 1024)

void
aws_sha1_hex(const char *s, char out[41])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)s, strlen(s), md);
	for (size_t i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[40] = '\0';
}

/* One UTF-8 sequence at p (n bytes left): its length, or 0 if invalid. */
static size_t
utf8_seq(const unsigned char *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c, min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		c = p[0] & 0x1f;
		min = 0x80;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		c = p[0] & 0x0f;
		min = 0x800;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		c = p[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* A JSON string as Python's json.dumps writes it (ensure_ascii=True). */
static int
py_json_str(struct dstr *d, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	dstr_addc(d, '"');
	while (n > 0) {
		uint32_t c;
		size_t l = utf8_seq(p, n, &c);

		if (l == 0)
			return -1; /* Python could not have read it either */
		p += l;
		n -= l;
		switch (c) {
		case '"':
			dstr_add(d, "\\\"");
			continue;
		case '\\':
			dstr_add(d, "\\\\");
			continue;
		case '\n':
			dstr_add(d, "\\n");
			continue;
		case '\r':
			dstr_add(d, "\\r");
			continue;
		case '\t':
			dstr_add(d, "\\t");
			continue;
		case '\b':
			dstr_add(d, "\\b");
			continue;
		case '\f':
			dstr_add(d, "\\f");
			continue;
		default:
			break;
		}
		if (c >= 0x20 && c < 0x7f) {
			dstr_addc(d, (char)c);
		} else if (c < 0x10000) {
			dstr_addf(d, "\\u%04x", (unsigned)c);
		} else {
			c -= 0x10000;
			dstr_addf(d, "\\u%04x\\u%04x",
			    (unsigned)(0xd800 | (c >> 10)),
			    (unsigned)(0xdc00 | (c & 0x3ff)));
		}
	}
	dstr_addc(d, '"');
	return 0;
}

/* Appends "key<colon>value" with the separator before it when not first. */
static int
py_pair(struct dstr *d, bool *first, const char *sep, const char *colon,
    const char *key, const char *value)
{
	if (!*first)
		dstr_add(d, sep);
	*first = false;
	if (py_json_str(d, key) < 0)
		return -1;
	dstr_add(d, colon);
	return py_json_str(d, value);
}

static int
hash_key(struct dstr *d, char out[41])
{
	char *s = dstr_take(d);

	if (!s)
		return -1;
	aws_sha1_hex(s, out);
	free(s);
	return 0;
}

int
aws_cache_key_assume(const struct sts_args *a, bool with_name, char out[41])
{
	struct dstr d;
	bool first = true;
	int r = 0;

	/* Sorted: DurationSeconds, ExternalId, RoleArn, RoleSessionName,
	 * SerialNumber (the generated session name is left out). */
	dstr_init(&d, 16384);
	dstr_addc(&d, '{');
	if (a->duration > 0) {
		dstr_addf(&d, "\"DurationSeconds\": %ld", a->duration);
		first = false;
	}
	if (a->external_id)
		r |= py_pair(&d, &first, ", ", ": ", "ExternalId",
		    a->external_id);
	r |= py_pair(&d, &first, ", ", ": ", "RoleArn", a->role_arn);
	if (with_name)
		r |= py_pair(&d, &first, ", ", ": ", "RoleSessionName",
		    a->session_name);
	if (a->serial)
		r |= py_pair(&d, &first, ", ", ": ", "SerialNumber",
		    a->serial);
	dstr_addc(&d, '}');
	if (r != 0) {
		dstr_free(&d);
		return -1;
	}
	return hash_key(&d, out);
}

int
aws_cache_key_sso(const char *account, const char *role, const char *session,
    const char *start_url, char out[41])
{
	struct dstr d;
	bool first = true;
	int r = 0;

	dstr_init(&d, 16384);
	dstr_addc(&d, '{');
	r |= py_pair(&d, &first, ",", ":", "accountId", account);
	r |= py_pair(&d, &first, ",", ":", "roleName", role);
	if (session)
		r |= py_pair(&d, &first, ",", ":", "sessionName", session);
	else
		r |= py_pair(&d, &first, ",", ":", "startUrl", start_url);
	dstr_addc(&d, '}');
	if (r != 0) {
		dstr_free(&d);
		return -1;
	}
	return hash_key(&d, out);
}

char *
aws_home_file(const char *dir, const char *name)
{
	char rel[512];
	int n = snprintf(rel, sizeof(rel), "/%s/%s.json", dir, name);

	return n > 0 && (size_t)n < sizeof(rel) ? aws_home_path(rel) : NULL;
}

/* botocore writes "…UTC" (strftime %Z), the SDKs "Z" or "+00:00". */
static int
cache_time(const char *s, time_t *t)
{
	char buf[64];
	size_t n = strlen(s);

	if (n > 3 && n < sizeof(buf) && strcmp(s + n - 3, "UTC") == 0) {
		memcpy(buf, s, n - 3);
		buf[n - 3] = '\0';
		return aws_parse_time(buf, t);
	}
	return aws_parse_time(s, t);
}

const char *
aws_json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static void
json_wipe(cJSON *j)
{
	for (cJSON *c = j; c; c = c->next) {
		if (cJSON_IsString(c) && c->valuestring)
			explicit_bzero(c->valuestring, strlen(c->valuestring));
		if (c->child)
			json_wipe(c->child);
	}
}

void
aws_json_free_secret(cJSON *j)
{
	if (!j)
		return;
	json_wipe(j);
	cJSON_Delete(j);
}

int
aws_cache_read(const char *path, time_t margin, struct ist_creds *c,
    struct ist_err *e)
{
	cJSON *j = NULL;
	const cJSON *cr;
	const char *akid, *secret, *token, *exp;
	char *text = NULL;
	size_t len;
	time_t t = 0;
	int r;

	r = ist_safepath_read(path, CACHE_FILE_MAX, &text, &len, e);
	if (r <= 0) {
		if (r == IST_ERR_IO) {
			ist_verbose("cache %s: %s: ignored", path, e->msg);
			return 0;
		}
		return r;
	}
	j = cJSON_Parse(text);
	aws_free_secret(text);
	cr = cJSON_GetObjectItemCaseSensitive(j, "Credentials");
	akid = aws_json_str(cr, "AccessKeyId");
	secret = aws_json_str(cr, "SecretAccessKey");
	token = aws_json_str(cr, "SessionToken");
	exp = aws_json_str(cr, "Expiration");
	if (!akid || !secret || !token || !exp || cache_time(exp, &t) < 0 ||
	    strlen(akid) > AWS_AKID_MAX || strlen(secret) > AWS_SECRET_MAX ||
	    strlen(token) > AWS_TOKEN_MAX) {
		ist_verbose("cache %s: not a credentials entry: ignored", path);
		r = 0;
		goto out;
	}
	if (t - time(NULL) <= margin) {
		ist_verbose("cache %s: expires at %s: refreshing", path, exp);
		r = 0;
		goto out;
	}
	c->access_key_id = strdup(akid);
	c->secret_access_key = strdup(secret);
	c->session_token = strdup(token);
	c->expiration = t;
	if (!c->access_key_id || !c->secret_access_key || !c->session_token) {
		ist_creds_clear(c);
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = 1;
out:
	aws_json_free_secret(j);
	return r;
}

/* mkdir -p of the folder of path, mode 0700 for what it makes. */
static int
make_dirs(const char *path, struct ist_err *e)
{
	char *d = strdup(path);
	char *slash;
	int r = 0;

	if (!d)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	slash = strrchr(d, '/');
	if (slash && slash != d) {
		*slash = '\0';
		for (char *p = d + 1; *p; p++) {
			if (*p != '/')
				continue;
			*p = '\0';
			if (mkdir(d, 0700) != 0 && errno != EEXIST)
				r = -1;
			*p = '/';
		}
		if (r == 0 && mkdir(d, 0700) != 0 && errno != EEXIST)
			r = -1;
	}
	if (r < 0)
		r = ist_err_set(e, IST_ERR_IO, "cannot make folder %s: %s", d,
		    strerror(errno));
	free(d);
	return r;
}

int
aws_file_write_atomic(const char *path, const char *text, struct ist_err *e)
{
	struct dstr d;
	char *tmp;
	size_t len = strlen(text), off = 0;
	int fd, r;

	if ((r = make_dirs(path, e)) < 0)
		return r;
	dstr_init(&d, 8192);
	dstr_addf(&d, "%s.XXXXXX", path);
	tmp = dstr_take(&d);
	if (!tmp)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0) {
		r = ist_err_set(e, IST_ERR_IO, "cannot write in the folder of "
		    "%s: %s", path, strerror(errno));
		free(tmp);
		return r;
	}
	/* The folders above must be the user's alone, as for the shared
	 * files: anyone else could swap the entry for other keys. */
	r = ist_safepath_check(tmp, getuid(), NULL, e);
	while (r == 0 && off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = ist_err_set(e, IST_ERR_IO, "%s: write: %s", tmp,
			    strerror(errno));
		else
			off += (size_t)n;
	}
	if (r == 0 && fsync(fd) != 0)
		r = ist_err_set(e, IST_ERR_IO, "%s: fsync: %s", tmp,
		    strerror(errno));
	if (close(fd) != 0 && r == 0)
		r = ist_err_set(e, IST_ERR_IO, "%s: close: %s", tmp,
		    strerror(errno));
	if (r == 0 && rename(tmp, path) != 0)
		r = ist_err_set(e, IST_ERR_IO, "cannot rename %s to %s: %s",
		    tmp, path, strerror(errno));
	if (r < 0)
		unlink(tmp);
	free(tmp);
	return r;
}

int
aws_cache_write(const char *path, const struct ist_creds *c,
    const struct sts_result *sr, struct ist_err *e)
{
	cJSON *j = cJSON_CreateObject(), *cr = NULL, *u = NULL, *m = NULL;
	char exp[40];
	char *text = NULL;
	struct tm tm;
	int r = IST_ERR_NOMEM;

	gmtime_r(&c->expiration, &tm);
	/* botocore writes what it read: "+00:00" for STS, "Z" for SSO. */
	strftime(exp, sizeof(exp), sr ? "%Y-%m-%dT%H:%M:%S+00:00" :
	    "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!j || (!sr && !cJSON_AddStringToObject(j, "ProviderType", "sso")))
		goto out;
	cr = cJSON_AddObjectToObject(j, "Credentials");
	if (!cr || !cJSON_AddStringToObject(cr, "AccessKeyId",
	    c->access_key_id) ||
	    !cJSON_AddStringToObject(cr, "SecretAccessKey",
	    c->secret_access_key) ||
	    !cJSON_AddStringToObject(cr, "SessionToken", c->session_token) ||
	    !cJSON_AddStringToObject(cr, "Expiration", exp))
		goto out;
	if (sr && sr->arn && sr->assumed_role_id) {
		u = cJSON_AddObjectToObject(j, "AssumedRoleUser");
		if (!u || !cJSON_AddStringToObject(u, "AssumedRoleId",
		    sr->assumed_role_id) ||
		    !cJSON_AddStringToObject(u, "Arn", sr->arn))
			goto out;
	}
	if (sr && sr->request_id) {
		m = cJSON_AddObjectToObject(j, "ResponseMetadata");
		if (!m || !cJSON_AddStringToObject(m, "RequestId",
		    sr->request_id))
			goto out;
	}
	text = cJSON_PrintUnformatted(j);
	if (!text)
		goto out;
	r = aws_file_write_atomic(path, text, e);
	if (r == 0)
		ist_debug("credentials cached in %s", path);
out:
	if (r == IST_ERR_NOMEM)
		ist_err_set(e, r, "out of memory");
	aws_free_secret(text);
	aws_json_free_secret(j);
	return r;
}
