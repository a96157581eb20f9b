/*
 * awsini.c: the AWS shared config and credentials files, read the way
 * botocore reads them (configparser, strict): a malformed line, a
 * duplicate section or key is an error naming the file and the line.
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
#include <unistd.h>

#include "aws_int.h"
#include "ist/safepath.h"

#define INI_MAX_SIZE (1024 * 1024)

static char *
trimmed(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

void
ini_free(struct ini *ini)
{
	if (!ini)
		return;
	for (size_t i = 0; i < ini->nsec; i++) {
		struct ini_section *s = &ini->sec[i];

		for (size_t j = 0; j < s->nkv; j++) {
			free(s->kv[j].key);
			aws_free_secret(s->kv[j].value);
		}
		free(s->kv);
		free(s->name);
	}
	free(ini->sec);
	free(ini->path);
	free(ini);
}

const struct ini_section *
ini_section(const struct ini *ini, const char *name)
{
	if (!ini)
		return NULL;
	for (size_t i = 0; i < ini->nsec; i++)
		if (strcmp(ini->sec[i].name, name) == 0)
			return &ini->sec[i];
	return NULL;
}

const struct ini_kv *
ini_get_kv(const struct ini_section *s, const char *key)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->nkv; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return &s->kv[i];
	return NULL;
}

const char *
ini_get(const struct ini_section *s, const char *key)
{
	const struct ini_kv *kv = ini_get_kv(s, key);

	return kv ? kv->value : NULL;
}

/*
 * The names seen so far, for the duplicate checks: an open-addressing
 * table of (section index, name), so that a file of 60000 sections or
 * keys is checked in linear time, not quadratic. Section names use
 * SIZE_MAX as their section index.
 */
struct seen_ent {
	const char *name; /* NULL: empty slot; owned by the ini */
	size_t sec;
	int line;
};

struct seen {
	struct seen_ent *t;
	size_t cap; /* a power of two */
	size_t n;
};

static size_t
seen_hash(const char *s, size_t sec)
{
	uint64_t h = 1469598103934665603ULL ^ (uint64_t)sec;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29));
}

static int
seen_grow(struct seen *st)
{
	size_t ncap = st->cap ? st->cap * 2 : 64;
	struct seen_ent *nt = calloc(ncap, sizeof(*nt));

	if (!nt)
		return -1;
	for (size_t i = 0; i < st->cap; i++) {
		const struct seen_ent *o = &st->t[i];
		size_t j;

		if (!o->name)
			continue;
		j = seen_hash(o->name, o->sec) & (ncap - 1);
		while (nt[j].name)
			j = (j + 1) & (ncap - 1);
		nt[j] = *o;
	}
	free(st->t);
	st->t = nt;
	st->cap = ncap;
	return 0;
}

/*
 * Adds (sec, name) unless present. Returns 0 added, 1 present (*line:
 * where it was first), -1 out of memory.
 */
static int
seen_add(struct seen *st, const char *name, size_t sec, int line,
    int *first)
{
	size_t j;

	if ((st->n + 1) * 2 > st->cap && seen_grow(st) < 0)
		return -1;
	j = seen_hash(name, sec) & (st->cap - 1);
	while (st->t[j].name) {
		if (st->t[j].sec == sec && strcmp(st->t[j].name, name) == 0) {
			*first = st->t[j].line;
			return 1;
		}
		j = (j + 1) & (st->cap - 1);
	}
	st->t[j].name = name;
	st->t[j].sec = sec;
	st->t[j].line = line;
	st->n++;
	return 0;
}

/* Room for one more element in an array grown by doubling. */
static int
grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / elem)
		return -1;
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int
add_section(struct ini *ini, struct seen *st, char *name, int line,
    struct ist_err *e)
{
	struct ini_section *n;
	int first = 0, r;

	r = seen_add(st, name, SIZE_MAX, line, &first);
	if (r == 1) {
		ist_err_set(e, IST_ERR_CONFIG, "%s:%d: section [%s] repeats "
		    "the one at line %d: merge them", ini->path, line, name,
		    first);
		free(name);
		return IST_ERR_CONFIG;
	}
	if (r < 0 || grow((void **)&ini->sec, &ini->cap_sec, ini->nsec,
	    sizeof(*n)) < 0) {
		/* The table may point at name: the parse ends now, and the
		 * table is freed without being read again. */
		free(name);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	n = ini->sec;
	memset(&n[ini->nsec], 0, sizeof(n[0]));
	n[ini->nsec].name = name;
	n[ini->nsec].line = line;
	ini->nsec++;
	return 0;
}

static int
add_kv(struct ini *ini, struct seen *st, char *key, char *value, int line,
    struct ist_err *e)
{
	struct ini_section *s = &ini->sec[ini->nsec - 1];
	int first = 0, r;

	r = seen_add(st, key, ini->nsec - 1, line, &first);
	if (r == 1) {
		ist_err_set(e, IST_ERR_CONFIG, "%s:%d: key '%s' repeats "
		    "line %d in section [%s]", ini->path, line, key, first,
		    s->name);
		free(key);
		aws_free_secret(value);
		return IST_ERR_CONFIG;
	}
	if (r < 0 || grow((void **)&s->kv, &s->cap_kv, s->nkv,
	    sizeof(*s->kv)) < 0) {
		free(key);
		aws_free_secret(value);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	s->kv[s->nkv].key = key;
	s->kv[s->nkv].value = value;
	s->kv[s->nkv].line = line;
	s->nkv++;
	return 0;
}

/* Appends an indented continuation line to the last value. */
static int
continue_value(struct ini *ini, const char *text, size_t n, int line,
    struct ist_err *e)
{
	struct ini_section *s;
	struct ini_kv *kv;
	struct dstr d;
	char *t;

	if (ini->nsec == 0 || ini->sec[ini->nsec - 1].nkv == 0)
		return ist_err_set(e, IST_ERR_CONFIG, "%s:%d: indented line "
		    "with no setting above it: remove the indentation",
		    ini->path, line);
	s = &ini->sec[ini->nsec - 1];
	kv = &s->kv[s->nkv - 1];
	t = trimmed(text, n);
	dstr_init(&d, INI_MAX_SIZE);
	dstr_add(&d, kv->value);
	if (*kv->value)
		dstr_addc(&d, '\n');
	if (t)
		dstr_add(&d, t);
	aws_free_secret(t);
	t = dstr_take(&d);
	if (!t)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	aws_free_secret(kv->value);
	kv->value = t;
	return 0;
}

static int
parse_line(struct ini *ini, struct seen *st, const char *p, size_t n,
    int line, struct ist_err *e)
{
	const char *sep;
	char *key, *value;
	size_t i = 0;

	while (i < n && isspace((unsigned char)p[i]))
		i++;
	if (i == n || p[i] == '#' || p[i] == ';')
		return 0;
	if (i > 0)
		return continue_value(ini, p, n, line, e);
	if (p[0] == '[') {
		const char *close = memchr(p, ']', n);
		char *name;

		if (!close)
			return ist_err_set(e, IST_ERR_CONFIG, "%s:%d: section "
			    "header without ']'", ini->path, line);
		name = trimmed(p + 1, (size_t)(close - p - 1));
		if (!name)
			return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		return add_section(ini, st, name, line, e);
	}
	if (ini->nsec == 0)
		return ist_err_set(e, IST_ERR_CONFIG, "%s:%d: setting before "
		    "any [section] header", ini->path, line);
	sep = NULL;
	for (size_t j = 0; j < n && !sep; j++)
		if (p[j] == '=' || p[j] == ':')
			sep = p + j;
	if (!sep || sep == p)
		return ist_err_set(e, IST_ERR_CONFIG, "%s:%d: expected "
		    "'key = value'", ini->path, line);
	key = trimmed(p, (size_t)(sep - p));
	value = trimmed(sep + 1, n - (size_t)(sep - p) - 1);
	if (!key || !value) {
		free(key);
		aws_free_secret(value);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	for (char *k = key; *k; k++)
		*k = (char)tolower((unsigned char)*k);
	return add_kv(ini, st, key, value, line, e);
}

int
ini_parse(const char *path, const char *text, size_t len, struct ini **out,
    struct ist_err *e)
{
	struct seen st = { 0 };
	struct ini *ini;
	size_t pos = 0;
	int line = 0, r = 0;

	*out = NULL;
	ini = calloc(1, sizeof(*ini));
	if (!ini || !(ini->path = strdup(path))) {
		free(ini);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	while (pos < len && r == 0) {
		const char *p = text + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - p) : len - pos;

		line++;
		pos += n + (nl ? 1 : 0);
		if (memchr(p, '\0', n)) {
			r = ist_err_set(e, IST_ERR_CONFIG, "%s:%d: NUL byte: "
			    "this is not a text file", path, line);
			break;
		}
		r = parse_line(ini, &st, p, n, line, e);
	}
	free(st.t);
	if (r < 0) {
		ini_free(ini);
		return r;
	}
	*out = ini;
	return 0;
}

int
ini_load(const char *path, struct ini **out, struct ist_err *e)
{
	char *text;
	size_t len;
	int r;

	*out = NULL;
	/*
	 * Refuse a file others could have written: it holds keys and, in
	 * credential_process, a command we run. The SDKs do not check this;
	 * OpenSSH does, for the same reasons.
	 */
	r = ist_safepath_read(path, INI_MAX_SIZE, &text, &len, e);
	if (r == IST_ERR_IO && e)
		e->code = r = IST_ERR_CONFIG;
	else if (r == IST_ERR_IO)
		r = IST_ERR_CONFIG;
	if (r <= 0)
		return r;
	r = ini_parse(path, text, len, out, e);
	explicit_bzero(text, len);
	free(text);
	return r;
}

char *
aws_home_path(const char *rel)
{
	const char *home = getenv("HOME");
	struct dstr d;

	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw ? pw->pw_dir : "/";
	}
	dstr_init(&d, 8192);
	dstr_add(&d, home);
	dstr_add(&d, rel);
	return dstr_take(&d);
}

/* A path from the environment, "~/" expanded as the SDKs do. */
static char *
file_path(const char *env, const char *deflt)
{
	const char *v = aws_getenv(env);

	if (v && strlen(v) > 4096)
		return NULL;
	if (!v)
		return aws_home_path(deflt);
	if (v[0] == '~' && v[1] == '/')
		return aws_home_path(v + 1);
	return strdup(v);
}

int
aws_profile_load(struct aws_profile *p, const char *opt, struct ist_err *e)
{
	const char *name = opt;
	char *sec = NULL;
	struct dstr d;
	int r;

	memset(p, 0, sizeof(*p));
	if (name && *name) {
		p->explicit_opt = true;
	} else {
		name = aws_getenv("AWS_PROFILE");
		p->explicit_env = name != NULL;
		if (!name)
			name = "default";
	}
	if (strlen(name) > AWS_NAME_MAX) {
		r = ist_err_set(e, IST_ERR_CONFIG, "the AWS profile name (from "
		    "%s) is over %d bytes: check it", p->explicit_opt ?
		    "the profile option" : "AWS_PROFILE", AWS_NAME_MAX);
		goto out;
	}
	p->name = strdup(name);
	if ((aws_getenv("AWS_SHARED_CREDENTIALS_FILE") &&
	    strlen(aws_getenv("AWS_SHARED_CREDENTIALS_FILE")) > 4096) ||
	    (aws_getenv("AWS_CONFIG_FILE") &&
	    strlen(aws_getenv("AWS_CONFIG_FILE")) > 4096)) {
		r = ist_err_set(e, IST_ERR_CONFIG, "AWS_SHARED_CREDENTIALS_FILE "
		    "or AWS_CONFIG_FILE is over 4096 bytes: check it");
		goto out;
	}
	p->cred_path = file_path("AWS_SHARED_CREDENTIALS_FILE",
	    "/.aws/credentials");
	p->config_path = file_path("AWS_CONFIG_FILE", "/.aws/config");
	if (!p->name || !p->cred_path || !p->config_path) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((r = ini_load(p->cred_path, &p->cred, e)) < 0 ||
	    (r = ini_load(p->config_path, &p->config, e)) < 0)
		goto out;
	p->cred_sec = ini_section(p->cred, p->name);
	/* In config, "[profile x]"; the default may also be "[default]". */
	dstr_init(&d, 8192);
	dstr_addf(&d, "profile %s", p->name);
	sec = dstr_take(&d);
	if (!sec) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	p->config_sec = ini_section(p->config, sec);
	if (!p->config_sec && strcmp(p->name, "default") == 0)
		p->config_sec = ini_section(p->config, "default");
	if ((p->explicit_opt || p->explicit_env) && !p->cred_sec &&
	    !p->config_sec) {
		r = ist_err_set(e, IST_ERR_CONFIG, "AWS profile '%s' (from %s) "
		    "is in neither %s ([%s]) nor %s ([profile %s])", p->name,
		    p->explicit_opt ? "the profile option" : "AWS_PROFILE",
		    p->cred_path, p->name, p->config_path, p->name);
		goto out;
	}
	r = 0;
out:
	free(sec);
	if (r < 0)
		aws_profile_free(p);
	return r;
}

const char *
aws_profile_get(const struct aws_profile *p, const char *key)
{
	const char *v = ini_get(p->cred_sec, key);

	return v ? v : ini_get(p->config_sec, key);
}

void
aws_profile_free(struct aws_profile *p)
{
	if (!p)
		return;
	free(p->name);
	free(p->cred_path);
	free(p->config_path);
	ini_free(p->cred);
	ini_free(p->config);
	memset(p, 0, sizeof(*p));
}
