/*
 * aws_testutil.h: helpers for the AWS unit tests: a temporary HOME, a
 * clean AWS environment, and tests/data/aws/fakeaws.py (a real local HTTP
 * server: IMDSv2, container credentials, the tunnel API) started and
 * stopped by PID.
 */
#ifndef IST_AWS_TESTUTIL_H
#define IST_AWS_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define tu_snprintf(buf, size, ...) \
	assert_true(snprintf(buf, size, __VA_ARGS__) < (int)(size))

static const char *const tu_aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_USE_FIPS_ENDPOINT",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IOTSECURETUNNELING",
	"AWSIOT_TUNNEL_ENDPOINT", "AWS_CA_BUNDLE", "HTTPS_PROXY",
	"https_proxy", "NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy",
	"ALL_PROXY", "all_proxy", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL_STS",
	"AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL_SSO_OIDC",
	"AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_STS_REGIONAL_ENDPOINTS",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_DEFAULT_PROFILE",
};

static char tu_home[256];

struct tu_server {
	pid_t pid;
	int port;
	char log[300];
	char url[64];
};

/* The running server, stopped by tu_teardown even when a test fails. */
static struct tu_server *tu_running;

static inline void
tu_clear_env(void)
{
	for (size_t i = 0; i < sizeof(tu_aws_vars) / sizeof(tu_aws_vars[0]);
	    i++)
		unsetenv(tu_aws_vars[i]);
	/* Never wait for the real 169.254.169.254 in a test. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

static inline void
tu_write(const char *rel, const char *text, mode_t mode)
{
	char path[512];
	FILE *fp;

	tu_snprintf(path, sizeof(path), "%s/%s", tu_home, rel);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static inline int
tu_rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

/* A fresh HOME with an empty ~/.aws, and a clean environment. */
static inline int
tu_setup(void **state)
{
	char path[300];

	(void)state;
	tu_snprintf(tu_home, sizeof(tu_home), "/tmp/ist-aws-XXXXXX");
	assert_non_null(mkdtemp(tu_home));
	tu_snprintf(path, sizeof(path), "%s/.aws", tu_home);
	assert_int_equal(mkdir(path, 0700), 0);
	tu_clear_env();
	setenv("HOME", tu_home, 1);
	return 0;
}

static inline void
tu_server_stop(struct tu_server *s)
{
	int st;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
	tu_running = NULL;
}

static inline int
tu_teardown(void **state)
{
	(void)state;
	if (tu_running)
		tu_server_stop(tu_running);
	nftw(tu_home, tu_rm, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}


/* Starts fakeaws.py with extra args (NULL-terminated) and waits for it. */
static inline void
tu_server_start(struct tu_server *s, const char *const *extra)
{
	const char *data = getenv("IST_TESTDATA");
	char script[512], portfile[300];
	char *argv[16];
	int n = 0;
	FILE *fp;

	assert_non_null(data);
	tu_snprintf(script, sizeof(script), "%s/aws/fakeaws.py", data);
	tu_snprintf(portfile, sizeof(portfile), "%s/port", tu_home);
	tu_snprintf(s->log, sizeof(s->log), "%s/server.log", tu_home);
	unlink(portfile);
	unlink(s->log);
	argv[n++] = "python3";
	argv[n++] = script;
	argv[n++] = portfile;
	argv[n++] = s->log;
	for (; extra && *extra && n < 15; extra++)
		argv[n++] = (char *)*extra;
	argv[n] = NULL;
	/* The system python3: it has botocore (python3-botocore). */
	assert_int_equal(posix_spawn(&s->pid, "/usr/bin/python3", NULL, NULL,
	    argv, environ), 0);
	tu_running = s;
	for (int i = 0; i < 1000; i++) {
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		int st;

		fp = fopen(portfile, "r");
		if (fp)
			break;
		assert_int_equal(waitpid(s->pid, &st, WNOHANG), 0);
		nanosleep(&ts, NULL);
	}
	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%d", &s->port), 1);
	fclose(fp);
	tu_snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
}

/* The server's request log (JSON lines); free() it. */
static inline char *
tu_server_log(const struct tu_server *s)
{
	FILE *fp = fopen(s->log, "r");
	char *buf;
	long n;

	if (!fp)
		return strdup("");
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	return buf;
}

static inline int
tu_count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Every log line at every level, kept for the secrecy checks. */
struct tu_capture {
	char *buf;
	size_t len;
};

static inline void
tu_capture_hook(int level, const char *msg, void *ud)
{
	struct tu_capture *c = ud;
	size_t n = strlen(msg);
	char *nb = realloc(c->buf, c->len + n + 2);

	(void)level;
	assert_non_null(nb);
	c->buf = nb;
	memcpy(c->buf + c->len, msg, n);
	c->len += n;
	c->buf[c->len++] = '\n';
	c->buf[c->len] = '\0';
}

#endif
