/*
 * creds.c: the AWS credential chain, in the order of the AWS SDKs
 * (botocore's create_credential_resolver):
 *
 *  1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 *     AWS_SESSION_TOKEN; skipped when the profile is given as an option,
 *     as the SDKs skip it for an explicit profile;
 *  2. the profile: role_arn (AssumeRole, sts.c; source_profile chains,
 *     credential_source; MFA from /dev/tty), web identity (the profile's
 *     or the environment's), SSO (sso.c), the shared credentials file's
 *     keys, credential_process, the config file's keys. Assumed-role
 *     credentials go through the AWS CLI's cache (credcache.c). A
 *     profile named by --profile or AWS_PROFILE that yields nothing is
 *     an error: never another identity from 3 or 4;
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
#include <termios.h>
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

/*
 * The names of a source's three values, for the limit messages: a value
 * over its limit is refused here, by name, rather than failing later as
 * a header that does not fit.
 */
struct cred_names {
	const char *akid, *secret, *token;
};

static const struct cred_names env_names = { "AWS_ACCESS_KEY_ID",
	"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN" };
static const struct cred_names file_names = { "aws_access_key_id",
	"aws_secret_access_key", "aws_session_token" };
static const struct cred_names json_names = { "AccessKeyId",
	"SecretAccessKey", "SessionToken" };

static int
check_lengths(const char *akid, const char *secret, const char *token,
    const struct cred_names *n, const char *where, struct ist_err *e)
{
	const char *name = NULL;
	size_t len = 0;
	int max = 0;

	if (strlen(akid) > AWS_AKID_MAX) {
		name = n->akid;
		len = strlen(akid);
		max = AWS_AKID_MAX;
	} else if (strlen(secret) > AWS_SECRET_MAX) {
		name = n->secret;
		len = strlen(secret);
		max = AWS_SECRET_MAX;
	} else if (token && strlen(token) > AWS_TOKEN_MAX) {
		name = n->token;
		len = strlen(token);
		max = AWS_TOKEN_MAX;
	}
	if (!name)
		return 0;
	return ist_err_set(e, IST_ERR_CREDS, "%s%s%s has %zu bytes, over the "
	    "limit of %d: check the value", where, *where ? ": " : "", name,
	    len, max);
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
	r = check_lengths(akid, secret, aws_getenv("AWS_SESSION_TOKEN"),
	    &env_names, "environment", e);
	if (r == 0)
		r = set_creds(c, akid, secret, aws_getenv("AWS_SESSION_TOKEN"),
		    0, e);
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
	{
		char where[600];

		snprintf(where, sizeof(where), "%s:%d: [%.100s]", ini->path,
		    s->line, s->name);
		r = check_lengths(akid, secret, ini_get(s, "aws_session_token"),
		    &file_names, where, e);
	}
	if (r == 0)
		r = set_creds(c, akid, secret, ini_get(s, "aws_session_token"),
		    0, e);
	if (r < 0)
		return r;
	snprintf(c->source, sizeof(c->source), "%s (%.60s)", label, s->name);
	return 1;
}

/*
 * Waits for the child within what is left of the deadline: a process
 * that closes its stdout and goes on running (a daemon it forked, a
 * helper that hangs after printing) is killed, with its group, at the
 * documented limit, as one that never closes it.
 */
static int
wait_child(pid_t pid, const struct timespec *start, int *st,
    const char *what, struct ist_err *e)
{
	long step = 1;

	for (;;) {
		pid_t w = waitpid(pid, st, WNOHANG);
		struct timespec ts;

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return ist_err_set(e, IST_ERR_IO, "%s: waitpid: %s",
			    what, strerror(errno));
		if (aws_ms_since(start) >= PROCESS_TIMEOUT_MS) {
			kill(-pid, SIGKILL);
			while (waitpid(pid, st, 0) < 0 && errno == EINTR)
				;
			return ist_err_set(e, IST_ERR_TIMEOUT, "%s closed its "
			    "output but did not exit in %d s: killed it", what,
			    PROCESS_TIMEOUT_MS / 1000);
		}
		ts.tv_sec = 0;
		ts.tv_nsec = step * 1000000;
		nanosleep(&ts, NULL);
		if (step < 50)
			step *= 2;
	}
}

/* Reads the child's stdout until EOF, the cap, or the deadline. */
static int
read_child(int fd, pid_t pid, const struct timespec *startp,
    struct dstr *d, const char *what, struct ist_err *e)
{
	struct timespec start = *startp, now;
	char buf[4096];

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
	akid = aws_json_str(j, "AccessKeyId");
	secret = aws_json_str(j, "SecretAccessKey");
	token = aws_json_str(j, want_version ? "SessionToken" : "Token");
	exp = aws_json_str(j, "Expiration");
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
	r = check_lengths(akid, secret, token, &json_names, what, e);
	if (r == 0)
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
	struct timespec start;
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
	clock_gettime(CLOCK_MONOTONIC, &start);
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
	r = read_child(pfd[0], pid, &start, &out, what, e);
	close(pfd[0]);
	if (r < 0) {
		/* Killed already, or it failed reading: reap it. */
		kill(-pid, SIGKILL);
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	r = wait_child(pid, &start, &st, what, e);
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
	if (strlen(rel ? rel : full) > AWS_URL_MAX)
		return ist_err_set(e, IST_ERR_CREDS, "container credentials: "
		    "%s is over %d bytes: check it", rel ?
		    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" :
		    "AWS_CONTAINER_CREDENTIALS_FULL_URI", AWS_URL_MAX);
	if (!tok_file && tok_env && strlen(tok_env) > 16384)
		return ist_err_set(e, IST_ERR_CREDS, "container credentials: "
		    "AWS_CONTAINER_AUTHORIZATION_TOKEN is over 16384 bytes: "
		    "check it");
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
		if (rs.body)
			dstr_addf(tried, ", EC2 instance metadata (no IMDSv2 "
			    "token from %.*s: HTTP status %ld)", (int)bl, base,
			    rs.status);
		else
			dstr_addf(tried, ", EC2 instance metadata (no IMDSv2 "
			    "token from %.*s: %s)", (int)bl, base, ie.msg);
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
		const char *code = j ? aws_json_str(j, "Code") : NULL;

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

/* ---- assume role, web identity, SSO ---------------------------------- */

#define CHAIN_MAX 16

struct chain {
	struct aws_net net;
	const struct aws_profile *top; /* the loaded files */
	const char *visited[CHAIN_MAX];
	size_t nvisited;
};

/* The files' view of another profile (a shallow copy: never freed). */
static bool
profile_view(const struct aws_profile *top, const char *name,
    struct aws_profile *v)
{
	char sec[AWS_NAME_MAX + 16];

	*v = *top;
	v->name = (char *)name;
	v->cred_sec = ini_section(top->cred, name);
	snprintf(sec, sizeof(sec), "profile %s", name);
	v->config_sec = ini_section(top->config, sec);
	if (!v->config_sec && strcmp(name, "default") == 0)
		v->config_sec = ini_section(top->config, "default");
	return v->cred_sec || v->config_sec;
}

/* "file:line" of a setting of profile v, for messages. */
static void
where_of(const struct aws_profile *v, const char *key, char *out,
    size_t n)
{
	const struct ini_kv *kv = ini_get_kv(v->cred_sec, key);
	const struct ini_section *s = v->cred_sec;
	const char *path = v->cred_path;

	if (!kv) {
		kv = ini_get_kv(v->config_sec, key);
		s = v->config_sec;
		path = v->config_path;
	}
	if (kv)
		snprintf(out, n, "%s:%d", path, kv->line);
	else if (s)
		snprintf(out, n, "%s:%d", path, s->line);
	else
		snprintf(out, n, "%s", v->config_path);
}

static bool
has_static(const struct aws_profile *v)
{
	return aws_profile_get(v, "aws_access_key_id") ||
	    aws_profile_get(v, "aws_secret_access_key");
}

static bool
has_sso(const struct aws_profile *v)
{
	return aws_profile_get(v, "sso_session") ||
	    aws_profile_get(v, "sso_start_url") ||
	    aws_profile_get(v, "sso_account_id");
}

/*
 * The MFA code, read from the terminal: never stdin or stdout, which
 * are ssh's stream. Echo is off while it is typed, as getpass does.
 */
static int
read_mfa_code(const char *serial, const char *where, char code[16],
    struct ist_err *e)
{
	struct termios old, quiet;
	char line[64];
	size_t n = 0;
	bool restore = false;
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return ist_err_set(e, IST_ERR_CREDS, "mfa_serial (%s) needs "
		    "an MFA code, and there is no terminal to ask for it (%s): "
		    "run 'aws sts get-caller-identity' with this profile once "
		    "in a terminal (iot-ssh-proxy then uses the credentials "
		    "the AWS CLI cached), or run ssh from a terminal", where,
		    strerror(errno));
	if (tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	dprintf(fd, "Enter MFA code for %.200s: ", serial);
	for (;;) {
		char ch;
		ssize_t k = read(fd, &ch, 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || ch == '\n' || ch == '\r')
			break;
		if (n + 1 < sizeof(line))
			line[n++] = ch;
	}
	line[n] = '\0';
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &old);
	dprintf(fd, "\n");
	close(fd);
	if (n != 6 || strspn(line, "0123456789") != 6)
		r = ist_err_set(e, IST_ERR_CREDS, "the MFA code for %.200s "
		    "must be the 6 digits the device shows", serial);
	else
		memcpy(code, line, 7);
	explicit_bzero(line, sizeof(line));
	return r;
}

static int profile_creds(struct chain *ch, const struct aws_profile *v,
    bool env_ok, bool assume_ok, struct ist_creds *c, struct ist_err *e);

/* The credentials a role profile assumes the role with. */
static int
source_creds(struct chain *ch, const struct aws_profile *v,
    struct ist_creds *src, struct ist_err *e)
{
	const char *sp = aws_profile_get(v, "source_profile");
	const char *cs = aws_profile_get(v, "credential_source");
	struct aws_profile sv;
	char where[AWS_URL_MAX];
	int r;

	if (sp && cs) {
		where_of(v, "credential_source", where, sizeof(where));
		return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s) has both "
		    "source_profile and credential_source: keep one",
		    v->name, where);
	}
	if (!sp && !cs) {
		where_of(v, "role_arn", where, sizeof(where));
		return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s) has "
		    "role_arn but neither source_profile nor "
		    "credential_source: add one", v->name, where);
	}
	if (cs) {
		struct dstr tried;

		where_of(v, "credential_source", where, sizeof(where));
		if (strcmp(cs, "Environment") == 0) {
			r = from_env(src, e);
		} else if (strcmp(cs, "EcsContainer") == 0) {
			r = from_container(src, e);
		} else if (strcmp(cs, "Ec2InstanceMetadata") == 0) {
			dstr_init(&tried, 4096);
			r = from_imds(src, &tried, e);
			dstr_free(&tried);
		} else {
			return ist_err_set(e, IST_ERR_CREDS, "%s: "
			    "credential_source = %.64s is not one of "
			    "Environment, Ec2InstanceMetadata, EcsContainer",
			    where, cs);
		}
		if (r == 0)
			r = ist_err_set(e, IST_ERR_CREDS, "%s: "
			    "credential_source = %s found no credentials: %s",
			    where, cs, strcmp(cs, "Environment") == 0 ?
			    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" :
			    strcmp(cs, "EcsContainer") == 0 ? "set "
			    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI"
			    : "this host has no instance role");
		return r < 0 ? r : 0;
	}
	where_of(v, "source_profile", where, sizeof(where));
	if (!profile_view(ch->top, sp, &sv))
		return ist_err_set(e, IST_ERR_CREDS, "%s: source_profile = "
		    "%.200s: no such profile in %s or %s", where, sp,
		    ch->top->cred_path, ch->top->config_path);
	for (size_t i = 0; i < ch->nvisited; i++) {
		if (strcmp(ch->visited[i], sp) != 0)
			continue;
		/* A profile may be its own source for its static keys. */
		if (strcmp(sp, v->name) == 0 && has_static(&sv))
			break;
		{
			struct dstr d;
			char *path;
			int rr;

			dstr_init(&d, 8192);
			for (size_t k = 0; k < ch->nvisited; k++)
				dstr_addf(&d, "%s -> ", ch->visited[k]);
			dstr_add(&d, sp);
			path = dstr_take(&d);
			rr = ist_err_set(e, IST_ERR_CREDS, "%s: source_profile "
			    "= %.200s makes a loop (%s): break it", where, sp,
			    path ? path : "?");
			free(path);
			return rr;
		}
	}
	if (ch->nvisited == CHAIN_MAX)
		return ist_err_set(e, IST_ERR_CREDS, "%s: source_profile chain "
		    "over %d profiles", where, CHAIN_MAX);
	ch->visited[ch->nvisited++] = sp;
	/* As botocore: a source with keys (or no role) gives its own; one
	 * with only a role assumes that role first. */
	if (has_static(&sv) || !aws_profile_get(&sv, "role_arn") ||
	    strcmp(sp, v->name) == 0)
		r = profile_creds(ch, &sv, false, false, src, e);
	else
		r = profile_creds(ch, &sv, false, true, src, e);
	if (r == 0)
		r = ist_err_set(e, IST_ERR_CREDS, "%s: source_profile %.200s "
		    "has no credentials: give it keys, credential_process, or "
		    "a role of its own", where, sp);
	return r < 0 ? r : 0;
}

/* The role_session_name, or a name of our own, as botocore's default. */
static void
session_name(const struct aws_profile *v, bool env_ok, char *buf, size_t n,
    const char **out, bool *configured)
{
	const char *s = aws_profile_get(v, "role_session_name");

	if (!s && env_ok)
		s = aws_getenv("AWS_ROLE_SESSION_NAME");
	*configured = s != NULL;
	if (!s) {
		snprintf(buf, n, "iot-ssh-proxy-%lld", (long long)time(NULL));
		s = buf;
	}
	*out = s;
}

/* Cached credentials for key, or 0. */
static int
cache_lookup(const char *key, char **path, struct ist_creds *c,
    struct ist_err *e)
{
	*path = aws_home_file(".aws/cli/cache", key);
	if (!*path)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	return aws_cache_read(*path, CREDS_REFRESH_MARGIN, c, e);
}

static int
assume_role(struct chain *ch, const struct aws_profile *v,
    struct ist_creds *c, struct ist_err *e)
{
	struct sts_args args = { 0 };
	struct sts_result res = { 0 };
	struct ist_creds src = { 0 };
	char where[AWS_URL_MAX], namebuf[64], key[41], code[16] = "";
	const char *dur;
	char *path = NULL;
	bool named;
	int r;

	args.role_arn = aws_profile_get(v, "role_arn");
	args.external_id = aws_profile_get(v, "external_id");
	args.serial = aws_profile_get(v, "mfa_serial");
	session_name(v, false, namebuf, sizeof(namebuf), &args.session_name,
	    &named);
	where_of(v, "role_arn", where, sizeof(where));
	if (!*args.role_arn || strlen(args.role_arn) > AWS_NAME_MAX ||
	    strlen(args.session_name) > 64)
		return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s): "
		    "role_arn must be an ARN, role_session_name 2 to 64 "
		    "characters", v->name, where);
	dur = aws_profile_get(v, "duration_seconds");
	if (dur) {
		char *end;

		errno = 0;
		args.duration = strtol(dur, &end, 10);
		if (errno || end == dur || *end || args.duration < 900 ||
		    args.duration > 43200) {
			where_of(v, "duration_seconds", where, sizeof(where));
			return ist_err_set(e, IST_ERR_CREDS, "%s: "
			    "duration_seconds = %.20s: give 900 to 43200",
			    where, dur);
		}
	}
	if (aws_cache_key_assume(&args, named, key) < 0)
		return ist_err_set(e, IST_ERR_CREDS, "profile %s (%s): a "
		    "setting is not valid UTF-8", v->name, where);
	r = cache_lookup(key, &path, c, e);
	if (r != 0) {
		if (r > 0)
			snprintf(c->source, sizeof(c->source), "assumed role "
			    "(profile %.40s, cached)", v->name);
		goto out;
	}
	if ((r = source_creds(ch, v, &src, e)) < 0)
		goto out;
	if (args.serial) {
		char mw[AWS_URL_MAX];

		where_of(v, "mfa_serial", mw, sizeof(mw));
		if ((r = read_mfa_code(args.serial, mw, code, e)) < 0)
			goto out;
		args.token_code = code;
	}
	ist_verbose("profile %s: assuming role %.200s (source: %s)", v->name,
	    args.role_arn, src.source);
	r = aws_sts_assume(&ch->net, ch->top, &args, &src, &res, e);
	explicit_bzero(code, sizeof(code));
	if (r < 0)
		goto out;
	if (aws_cache_write(path, &res.creds, &res, e) < 0)
		ist_error("assumed-role credentials not cached: %s", e->msg);
	*c = res.creds;
	memset(&res.creds, 0, sizeof(res.creds));
	snprintf(c->source, sizeof(c->source), "assumed role (profile "
	    "%.40s)", v->name);
	r = 1;
out:
	aws_sts_result_free(&res);
	ist_creds_clear(&src);
	free(path);
	return r;
}

/* Web identity: the profile's settings, or the environment's. */
static int
web_identity(struct chain *ch, const struct aws_profile *v, bool env_ok,
    struct ist_creds *c, struct ist_err *e)
{
	const char *file = aws_profile_get(v, "web_identity_token_file");
	const char *arn = aws_profile_get(v, "role_arn");
	struct sts_args args = { 0 };
	struct sts_result res = { 0 };
	char where[AWS_URL_MAX], namebuf[64], key[41];
	char *path = NULL, *tok = NULL;
	bool from_env = false, named;
	int r;

	if (!file && env_ok) {
		file = aws_getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
		from_env = file != NULL;
	}
	if (!file)
		return 0;
	if (!arn && env_ok)
		arn = aws_getenv("AWS_ROLE_ARN");
	if (from_env)
		snprintf(where, sizeof(where), "AWS_WEB_IDENTITY_TOKEN_FILE");
	else
		where_of(v, "web_identity_token_file", where, sizeof(where));
	if (!arn || strlen(arn) > AWS_NAME_MAX)
		return ist_err_set(e, IST_ERR_CREDS, "%s: a web identity token "
		    "file needs a role ARN: set %s", where, from_env ?
		    "AWS_ROLE_ARN" : "role_arn in the profile");
	args.role_arn = arn;
	session_name(v, env_ok, namebuf, sizeof(namebuf), &args.session_name,
	    &named);
	if (strlen(args.session_name) > 64)
		return ist_err_set(e, IST_ERR_CREDS, "%s: the role session name "
		    "is over 64 characters", where);
	if (aws_cache_key_assume(&args, named, key) < 0)
		return ist_err_set(e, IST_ERR_CREDS, "%s: a setting is not "
		    "valid UTF-8", where);
	r = cache_lookup(key, &path, c, e);
	if (r != 0) {
		if (r > 0)
			snprintf(c->source, sizeof(c->source), "web identity "
			    "(cached)");
		goto out;
	}
	{
		/* The token file is written by the platform (EKS, CI): it
		 * need not be in a folder of ours, but it must be readable. */
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		struct dstr d;
		char buf[4096];
		ssize_t k;

		if (fd < 0) {
			r = ist_err_set(e, IST_ERR_CREDS, "%s: cannot read the "
			    "web identity token file %.200s: %s", where, file,
			    strerror(errno));
			goto out;
		}
		dstr_init(&d, 32768);
		while ((k = read(fd, buf, sizeof(buf))) > 0)
			dstr_addn(&d, buf, (size_t)k);
		explicit_bzero(buf, sizeof(buf));
		close(fd);
		tok = dstr_take(&d);
		if (!tok || !*tok) {
			r = ist_err_set(e, IST_ERR_CREDS, "%s: the web identity "
			    "token file %.200s is %s", where, file, tok ?
			    "empty" : "over 32 KiB");
			goto out;
		}
		for (size_t n = strlen(tok); n > 0 &&
		    isspace((unsigned char)tok[n - 1]); n--)
			tok[n - 1] = '\0';
	}
	args.web_identity = tok;
	ist_verbose("web identity: assuming role %.200s", arn);
	r = aws_sts_assume(&ch->net, ch->top, &args, NULL, &res, e);
	if (r < 0)
		goto out;
	if (aws_cache_write(path, &res.creds, &res, e) < 0)
		ist_error("web identity credentials not cached: %s", e->msg);
	*c = res.creds;
	memset(&res.creds, 0, sizeof(res.creds));
	snprintf(c->source, sizeof(c->source), "web identity (role %.80s)",
	    arn);
	r = 1;
out:
	aws_sts_result_free(&res);
	aws_free_secret(tok);
	free(path);
	return r;
}

/*
 * One profile's credentials, in botocore's order: assume-role, web
 * identity, SSO, then the keys and credential_process of the files.
 * Returns 1 found, 0 none configured, or an error.
 */
static int
profile_creds(struct chain *ch, const struct aws_profile *v, bool env_ok,
    bool assume_ok, struct ist_creds *c, struct ist_err *e)
{
	int r;

	if (assume_ok && aws_profile_get(v, "role_arn") &&
	    !aws_profile_get(v, "web_identity_token_file"))
		return assume_role(ch, v, c, e);
	r = web_identity(ch, v, env_ok, c, e);
	if (r != 0)
		return r;
	if (has_sso(v)) {
		r = aws_sso_creds(&ch->net, v, v->name, c, e);
		return r < 0 ? r : 1;
	}
	return from_profile(c, v, e);
}

static int
net_setup(struct aws_net *n, const struct ist_aws *a,
    const struct aws_profile *p, struct ist_err *e)
{
	memset(n, 0, sizeof(*n));
	n->a = a;
	n->ca_file = a ? ist_aws_ca_file(a) : aws_getenv("AWS_CA_BUNDLE");
	if (!n->ca_file)
		n->ca_file = aws_profile_get(p, "ca_bundle");
	n->region = a ? ist_aws_region(a) : aws_getenv("AWS_REGION");
	if (!n->region)
		n->region = aws_getenv("AWS_DEFAULT_REGION");
	if (!n->region)
		n->region = aws_profile_get(p, "region");
	if (a) {
		n->max_attempts = a->max_attempts;
		return 0;
	}
	return aws_max_attempts(p, &n->max_attempts, e);
}

static int
resolve(const struct ist_aws *a, const char *profile, struct ist_creds *out,
    struct ist_err *e)
{
	struct aws_profile p;
	struct chain ch;
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
	memset(&ch, 0, sizeof(ch));
	if ((r = net_setup(&ch.net, a, &p, e)) < 0)
		goto out;
	ch.top = &p;
	ch.visited[ch.nvisited++] = p.name;
	r = profile_creds(&ch, &p, true, true, out, e);
	if (r != 0)
		goto out;
	if (p.explicit_opt || p.explicit_env) {
		/* A profile chosen by name is authoritative: never another
		 * identity from the container or the instance. */
		const struct ini_section *s = p.config_sec ? p.config_sec :
		    p.cred_sec;

		r = ist_err_set(e, IST_ERR_CREDS, "AWS profile %s (%s:%d, from "
		    "%s) has no credentials: give it aws_access_key_id and "
		    "aws_secret_access_key, credential_process, role_arn with "
		    "source_profile or credential_source, "
		    "web_identity_token_file, or sso_session; container and "
		    "instance credentials are not used for a named profile",
		    p.name, p.config_sec ? p.config_path : p.cred_path,
		    s ? s->line : 0, p.explicit_opt ? "the profile option" :
		    "AWS_PROFILE");
		goto out;
	}
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
ist_creds_resolve(const char *profile, struct ist_creds *out,
    struct ist_err *e)
{
	struct ist_err local;

	if (!e) {
		ist_err_clear(&local);
		e = &local;
	}
	return resolve(NULL, profile, out, e);
}

int
ist_aws_creds(struct ist_aws *a, const struct ist_creds **out,
    struct ist_err *e)
{
	struct ist_err local;
	int r;

	*out = NULL;
	if (!e) {
		ist_err_clear(&local);
		e = &local;
	}
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
	r = resolve(a, a->profile_opt ? a->profile : NULL, &a->creds, e);
	if (r < 0)
		return r;
	a->have_creds = true;
	*out = &a->creds;
	return 0;
}
