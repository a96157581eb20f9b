/*
 * creds.c: the AWS credential chain, in the order of the AWS SDKs
 * (botocore's create_credential_resolver, less the sources we do not
 * support: assume-role, web identity, SSO):
 *
 *  1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *     AWS_SESSION_TOKEN; skipped when the profile is given as an option,
 *     as the SDKs skip it for an explicit profile;
 *  2. the shared credentials file's profile, then its credential_process,
 *     then static keys in the config file's profile;
 *  3. container credentials (ECS, EKS Pod Identity);
 *  4. EC2 instance metadata, IMDSv2 only.
 *
 * A source that is configured but fails (a credential_process that
 * exits 1, a container endpoint that answers 500) ends the search with
 * its own error, as in the SDKs; a source that is absent is skipped and
 * listed in the final "none found" message.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "aws_int.h"
#include "ist/aws.h"

extern char **environ;

#define PROCESS_TIMEOUT_MS 60000
#define PROCESS_OUT_MAX (64 * 1024)
#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_TIMEOUT_MS 1000
#define CONTAINER_TIMEOUT_MS 2000
/* Renew credentials this long before they expire, as the SDKs do. */
#define CREDS_REFRESH_MARGIN 300

/* "2026-11-26T01:00:00Z", with optional fraction and "+00:00". */
int
aws_parse_time(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, n = 0;
	const char *p;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
	    &sec, &n) != 6 || n == 0)
		return -1;
	p = s + n;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0 &&
	    strcmp(p, "+0000") != 0 && strcmp(p, "") != 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60 || y < 1970)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return *out == (time_t)-1 ? -1 : 0;
}

static int
set_creds(struct ist_creds *c, const char *akid, const char *secret,
    const char *token, time_t exp, struct ist_err *e)
{
	c->access_key_id = strdup(akid);
	c->secret_access_key = strdup(secret);
	c->session_token = token && *token ? strdup(token) : NULL;
	c->expiration = exp;
	if (!c->access_key_id || !c->secret_access_key ||
	    (token && *token && !c->session_token)) {
		ist_creds_clear(c);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* 1: environment. Returns 1 when found, 0 when absent. */
static int
from_env(struct ist_creds *c, struct ist_err *e)
{
	const char *akid = aws_getenv("AWS_ACCESS_KEY_ID");
	const char *secret = aws_getenv("AWS_SECRET_ACCESS_KEY");
	int r;

	if (!akid && !secret)
		return 0;
	if (!akid || !secret)
		return ist_err_set(e, IST_ERR_CREDS, "environment: %s is set "
		    "but %s is not: set both, or neither",
		    akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		    akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
	r = set_creds(c, akid, secret, aws_getenv("AWS_SESSION_TOKEN"), 0, e);
	if (r < 0)
		return r;
	snprintf(c->source, sizeof(c->source), "environment");
	return 1;
}

/* Static keys of one section of one shared file. */
static int
from_section(struct ist_creds *c, const struct ini *ini,
    const struct ini_section *s, const char *label, struct ist_err *e)
{
	const char *akid = ini_get(s, "aws_access_key_id");
	const char *secret = ini_get(s, "aws_secret_access_key");
	int r;

	if (!akid && !secret)
		return 0;
	if (!akid || !*akid || !secret || !*secret)
		return ist_err_set(e, IST_ERR_CONFIG, "%s:%d: [%s] has %s but "
		    "no %s", ini->path, s->line, s->name,
		    akid ? "aws_access_key_id" : "aws_secret_access_key",
		    akid ? "aws_secret_access_key" : "aws_access_key_id");
	r = set_creds(c, akid, secret, ini_get(s, "aws_session_token"), 0, e);
	if (r < 0)
		return r;
	snprintf(c->source, sizeof(c->source), "%s (%.60s)", label, s->name);
	return 1;
}

/* Reads the child's stdout until EOF, the cap, or the deadline. */
static int
read_child(int fd, pid_t pid, struct dstr *d, const char *what,
    struct ist_err *e)
{
	struct timespec start, now;
	char buf[4096];

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t n;
		int pr;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = PROCESS_TIMEOUT_MS -
		    ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0) {
			kill(-pid, SIGKILL);
			return ist_err_set(e, IST_ERR_TIMEOUT, "%s did not "
			    "finish in %d s: killed it", what,
			    PROCESS_TIMEOUT_MS / 1000);
		}
		pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return ist_err_set(e, IST_ERR_IO, "%s: poll: %s", what,
			    strerror(errno));
		if (pr == 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ist_err_set(e, IST_ERR_IO, "%s: read: %s", what,
			    strerror(errno));
		if (n == 0)
			return 0;
		dstr_addn(d, buf, (size_t)n);
		explicit_bzero(buf, sizeof(buf));
		if (!dstr_ok(d)) {
			kill(-pid, SIGKILL);
			return ist_err_set(e, IST_ERR_TOOBIG, "%s printed over "
			    "%d bytes: killed it", what, PROCESS_OUT_MAX);
		}
	}
}

static const char *
json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/*
 * The JSON credential_process prints (Version 1) and, with a different
 * key set, the container and IMDS answers: AccessKeyId, SecretAccessKey,
 * Token or SessionToken, Expiration. Never quotes the text back.
 */
int
aws_creds_parse_json(struct ist_creds *c, const char *text, bool want_version,
    const char *what, struct ist_err *e)
{
	cJSON *j = cJSON_Parse(text);
	const cJSON *ver;
	const char *akid, *secret, *token, *exp;
	time_t t = 0;
	int r;

	if (!cJSON_IsObject(j)) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s: the output is not a JSON "
		    "object", what);
		goto out;
	}
	ver = cJSON_GetObjectItemCaseSensitive(j, "Version");
	if (want_version && (!cJSON_IsNumber(ver) || ver->valuedouble != 1)) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s: the output needs "
		    "\"Version\": 1", what);
		goto out;
	}
	akid = json_str(j, "AccessKeyId");
	secret = json_str(j, "SecretAccessKey");
	token = json_str(j, want_version ? "SessionToken" : "Token");
	exp = json_str(j, "Expiration");
	if (!akid || !*akid || !secret || !*secret) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s: the output lacks %s", what,
		    !akid || !*akid ? "AccessKeyId" : "SecretAccessKey");
		goto out;
	}
	if (exp && aws_parse_time(exp, &t) < 0) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s: Expiration is not an "
		    "ISO 8601 time such as 2026-01-01T00:00:00Z", what);
		goto out;
	}
	if (exp && t <= time(NULL)) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s: the credentials expired "
		    "at %s", what, exp);
		goto out;
	}
	r = set_creds(c, akid, secret, token, t, e);
out:
	if (j) {
		/* Wipe the secrets cJSON copied before freeing them. */
		const char *keys[] = { "SecretAccessKey", "Token",
			"SessionToken" };

		for (size_t i = 0; i < 3; i++) {
			cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i]);

			if (cJSON_IsString(v) && v->valuestring)
				explicit_bzero(v->valuestring,
				    strlen(v->valuestring));
		}
		cJSON_Delete(j);
	}
	return r;
}

/*
 * Runs credential_process as the SDKs do: "/bin/sh -c <command>", our
 * environment, stdout captured, stderr passed through. The command comes
 * from the user's own config; no secret is ever put on a command line.
 */
static int
run_process(struct ist_creds *c, const char *cmd, const char *profile,
    struct ist_err *e)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	char what[160];
	struct dstr out;
	int pfd[2] = { -1, -1 }, st = 0, r;
	pid_t pid = -1;

	snprintf(what, sizeof(what), "credential_process of profile %s",
	    profile);
	dstr_init(&out, PROCESS_OUT_MAX);
	if (pipe(pfd) != 0)
		return ist_err_set(e, IST_ERR_IO, "%s: pipe: %s", what,
		    strerror(errno));
	/* Other children of ours must not hold the pipe open. */
	fcntl(pfd[0], F_SETFD, FD_CLOEXEC);
	fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
	if (posix_spawn_file_actions_init(&fa) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	if (posix_spawnattr_init(&attr) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		close(pfd[0]);
		close(pfd[1]);
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	}
	/* Its own process group, so that a timeout kills its children too. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	r = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pfd[1]);
	if (r != 0) {
		close(pfd[0]);
		return ist_err_set(e, IST_ERR_CREDS, "%s: cannot run /bin/sh: "
		    "%s", what, strerror(r));
	}
	ist_debug("running the %s", what);
	r = read_child(pfd[0], pid, &out, what, e);
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		goto out;
	if (WIFSIGNALED(st)) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s was killed by signal %d",
		    what, WTERMSIG(st));
		goto out;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		r = ist_err_set(e, IST_ERR_CREDS, "%s failed with exit status "
		    "%d (its own messages, if any, are above)", what,
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		goto out;
	}
	r = aws_creds_parse_json(c, out.s ? out.s : "", true, what, e);
	if (r == 0)
		snprintf(c->source, sizeof(c->source), "credential_process "
		    "(%.60s)", profile);
out:
	dstr_free(&out);
	return r < 0 ? r : 1;
}

/* 2: the shared files. Returns 1 found, 0 absent, <0 error. */
static int
from_profile(struct ist_creds *c, const struct aws_profile *p,
    struct ist_err *e)
{
	const char *cmd;
	int r;

	r = from_section(c, p->cred, p->cred_sec, "shared credentials file",
	    e);
	if (r != 0)
		return r;
	cmd = aws_profile_get(p, "credential_process");
	if (cmd && *cmd)
		return run_process(c, cmd, p->name, e);
	return from_section(c, p->config, p->config_sec, "shared config file",
	    e);
}

static bool
allowed_http_host(const char *url)
{
	static const char *const ok[] = {
		"http://127.", "http://localhost:", "http://localhost/",
		"http://[::1]", "http://169.254.170.2:", "http://169.254.170.2/",
		"http://169.254.170.23:", "http://169.254.170.23/",
		"http://[fd00:ec2::23]",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strncasecmp(url, ok[i], strlen(ok[i])) == 0)
			return true;
	return strcasecmp(url, "http://localhost") == 0;
}

/* Reads a token file, trimmed; the token is a secret. */
static char *
read_token_file(const char *path, struct ist_err *e)
{
	struct dstr d;
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *t, *s;

	if (fd < 0) {
		ist_err_set(e, IST_ERR_CREDS, "container credentials: cannot "
		    "read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	dstr_init(&d, 16384);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		dstr_addn(&d, buf, (size_t)n);
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	t = dstr_take(&d);
	if (!t) {
		ist_err_set(e, IST_ERR_CREDS, "container credentials: %s is "
		    "too big", path);
		return NULL;
	}
	for (s = t + strlen(t); s > t && isspace((unsigned char)s[-1]); s--)
		s[-1] = '\0';
	return t;
}

/* 3: container credentials. */
static int
from_container(struct ist_creds *c, struct ist_err *e)
{
	const char *rel = aws_getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = aws_getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tok_file =
	    aws_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
	const char *tok_env = aws_getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
	const char *hdrs[2] = { NULL, NULL };
	struct http_req rq = { .method = "GET",
		.connect_timeout_ms = CONTAINER_TIMEOUT_MS,
		.timeout_ms = CONTAINER_TIMEOUT_MS };
	struct http_resp rs = { 0 };
	struct dstr url, auth;
	char *token = NULL;
	int r;

	if (!rel && !full)
		return 0;
	dstr_init(&url, 8192);
	dstr_init(&auth, 32768);
	if (rel) {
		dstr_add(&url, CONTAINER_HOST);
		if (rel[0] != '/')
			dstr_addc(&url, '/');
		dstr_add(&url, rel);
	} else {
		if (strncasecmp(full, "https://", 8) != 0 &&
		    !(strncasecmp(full, "http://", 7) == 0 &&
		    allowed_http_host(full))) {
			r = ist_err_set(e, IST_ERR_CREDS, "container "
			    "credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI "
			    "must be https://, or http:// to a loopback or the "
			    "ECS/EKS agent address");
			goto out;
		}
		dstr_add(&url, full);
	}
	if (tok_file) {
		token = read_token_file(tok_file, e);
		if (!token) {
			r = e ? e->code : IST_ERR_CREDS;
			goto out;
		}
	} else if (tok_env) {
		token = strdup(tok_env);
	}
	if (token) {
		if (strpbrk(token, "\r\n")) {
			r = ist_err_set(e, IST_ERR_CREDS, "container "
			    "credentials: the authorization token has a line "
			    "break");
			goto out;
		}
		dstr_add(&auth, "Authorization: ");
		dstr_add(&auth, token);
		hdrs[0] = auth.s;
	}
	if (!dstr_ok(&url) || !dstr_ok(&auth)) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	rq.url = url.s;
	rq.headers = hdrs;
	ist_debug("container credentials: GET %s", url.s);
	r = http_do(&rq, &rs, e);
	if (r < 0) {
		ist_err_prefix(e, "container credentials");
		r = IST_ERR_CREDS;
		if (e)
			e->code = r;
		goto out;
	}
	if (rs.status != 200) {
		r = ist_err_set(e, IST_ERR_CREDS, "container credentials: GET "
		    "%s answered HTTP %ld", url.s, rs.status);
		goto out;
	}
	r = aws_creds_parse_json(c, rs.body, false, "container credentials", e);
	if (r == 0)
		snprintf(c->source, sizeof(c->source), "container credentials");
out:
	http_resp_free(&rs);
	aws_free_secret(token);
	dstr_free(&url);
	dstr_free(&auth);
	return r < 0 ? r : 1;
}

/* A failed instance-metadata GET (r < 0: no answer) as IST_ERR_CREDS. */
static int
imds_failed(struct ist_err *e, int r, const char *url, long status)
{
	if (r == 0)
		ist_err_set(e, IST_ERR_CREDS, "EC2 instance metadata: GET %s "
		    "answered HTTP %ld", url, status);
	else
		ist_err_prefix(e, "EC2 instance metadata");
	if (e)
		e->code = IST_ERR_CREDS;
	return IST_ERR_CREDS;
}

/* 4: EC2 instance metadata, IMDSv2 (a session token first) only. */
static int
from_imds(struct ist_creds *c, struct dstr *tried, struct ist_err *e)
{
	const char *base = aws_getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
	const char *ttl_hdr[] = { "X-aws-ec2-metadata-token-ttl-seconds: 21600",
		NULL };
	const char *tok_hdr[] = { NULL, NULL };
	struct http_req rq = { .connect_timeout_ms = IMDS_TIMEOUT_MS,
		.timeout_ms = IMDS_TIMEOUT_MS };
	struct http_resp rs = { 0 };
	struct ist_err ie;
	struct dstr url, th;
	char *role = NULL;
	size_t bl;
	int r;

	if (aws_is_true(aws_getenv("AWS_EC2_METADATA_DISABLED"))) {
		dstr_add(tried, ", EC2 instance metadata (disabled by "
		    "AWS_EC2_METADATA_DISABLED)");
		return 0;
	}
	if (!base)
		base = IMDS_DEFAULT;
	ist_err_clear(&ie);
	bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	dstr_init(&url, 8192);
	dstr_init(&th, 8192);

	dstr_addf(&url, "%.*s/latest/api/token", (int)bl, base);
	rq.method = "PUT";
	rq.url = url.s;
	rq.headers = ttl_hdr;
	ist_debug("EC2 instance metadata: PUT %s", url.s);
	if (!dstr_ok(&url) || http_do(&rq, &rs, &ie) < 0 ||
	    rs.status != 200 || rs.body_len == 0 ||
	    strpbrk(rs.body, "\r\n")) {
		/* Not on EC2 (or IMDSv2 off): a miss, not an error. */
		dstr_addf(tried, ", EC2 instance metadata (no IMDSv2 token "
		    "from %.*s: %s)", (int)bl, base, rs.body ?
		    "HTTP status" : ie.msg);
		if (rs.body)
			dstr_addf(tried, " %ld", rs.status);
		r = 0;
		goto out;
	}
	dstr_addf(&th, "X-aws-ec2-metadata-token: %s", rs.body);
	http_resp_free(&rs);
	tok_hdr[0] = th.s;

	dstr_free(&url);
	dstr_init(&url, 8192);
	dstr_addf(&url, "%.*s/latest/meta-data/iam/security-credentials/",
	    (int)bl, base);
	rq.method = "GET";
	rq.url = url.s;
	rq.headers = tok_hdr;
	if (!dstr_ok(&url) || !dstr_ok(&th)) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = http_do(&rq, &rs, e);
	if (r == 0 && rs.status == 404) {
		dstr_add(tried, ", EC2 instance metadata (no IAM role attached "
		    "to the instance)");
		r = 0;
		goto out;
	}
	if (r < 0 || rs.status != 200 || rs.body_len == 0) {
		r = imds_failed(e, r, url.s, rs.status);
		goto out;
	}
	role = strndup(rs.body, strcspn(rs.body, "\r\n"));
	http_resp_free(&rs);
	if (!role || !*role || strchr(role, '/')) {
		r = ist_err_set(e, IST_ERR_CREDS, "EC2 instance metadata: bad "
		    "role name");
		goto out;
	}
	dstr_add(&url, role);
	rq.url = url.s;
	r = http_do(&rq, &rs, e);
	if (r < 0 || rs.status != 200) {
		r = imds_failed(e, r, url.s, rs.status);
		goto out;
	}
	{
		cJSON *j = cJSON_Parse(rs.body);
		const char *code = j ? json_str(j, "Code") : NULL;

		if (code && strcmp(code, "Success") != 0) {
			r = ist_err_set(e, IST_ERR_CREDS, "EC2 instance "
			    "metadata: role %s: Code %.40s", role, code);
			cJSON_Delete(j);
			goto out;
		}
		cJSON_Delete(j);
	}
	r = aws_creds_parse_json(c, rs.body, false, "EC2 instance metadata", e);
	if (r == 0) {
		snprintf(c->source, sizeof(c->source), "EC2 instance metadata "
		    "(role %.60s)", role);
		r = 1;
	}
out:
	http_resp_free(&rs);
	free(role);
	dstr_free(&url);
	dstr_free(&th);
	return r;
}

int
ist_creds_resolve(const char *profile, struct ist_creds *out,
    struct ist_err *e)
{
	struct aws_profile p;
	struct dstr tried;
	bool have_profile = false;
	int r;

	memset(out, 0, sizeof(*out));
	dstr_init(&tried, 4096);
	if (!(profile && *profile)) {
		r = from_env(out, e);
		if (r != 0)
			goto out;
		dstr_add(&tried, "environment (AWS_ACCESS_KEY_ID)");
	} else {
		dstr_add(&tried, "environment (skipped: a profile was given)");
	}

	r = aws_profile_load(&p, profile, e);
	if (r < 0)
		goto out;
	have_profile = true;
	r = from_profile(out, &p, e);
	if (r != 0)
		goto out;
	dstr_addf(&tried, ", profile %s in %s and %s", p.name, p.cred_path,
	    p.config_path);

	r = from_container(out, e);
	if (r != 0)
		goto out;
	dstr_add(&tried, ", container credentials "
	    "(AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI unset)");

	r = from_imds(out, &tried, e);
	if (r != 0)
		goto out;
	r = ist_err_set(e, IST_ERR_CREDS, "no AWS credentials found; tried: "
	    "%s. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run "
	    "'aws configure'", tried.s ? tried.s : "nothing");
out:
	if (have_profile)
		aws_profile_free(&p);
	dstr_free(&tried);
	if (r > 0) {
		ist_verbose("AWS credentials from %s (access key id %.4s...)",
		    out->source, out->access_key_id);
		return 0;
	}
	ist_creds_clear(out);
	return r;
}

int
ist_aws_creds(struct ist_aws *a, const struct ist_creds **out,
    struct ist_err *e)
{
	int r;

	*out = NULL;
	if (a->have_creds && (a->creds.expiration == 0 ||
	    a->creds.expiration - time(NULL) > CREDS_REFRESH_MARGIN)) {
		*out = &a->creds;
		return 0;
	}
	if (a->have_creds)
		ist_verbose("AWS credentials from %s expire soon: refreshing",
		    a->creds.source);
	ist_creds_clear(&a->creds);
	a->have_creds = false;
	r = ist_creds_resolve(a->profile_opt ? a->profile : NULL, &a->creds,
	    e);
	if (r < 0)
		return r;
	a->have_creds = true;
	*out = &a->creds;
	return 0;
}
