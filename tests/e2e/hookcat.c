/*
 * hookcat.c: a test-only ProxyCommand that runs the hooks as
 * iot-ssh-proxy does, then relays stdin/stdout to a local TCP port
 * instead of a tunnel. It lets tests/e2e/hooks_ssh.sh show with a real
 * ssh and sshd that hooks never write into the SSH stream, even in the
 * middle of it, until the proxy program is there to do the same.
 *
 *   hookcat [--hooks FILE | --no-hooks] [--open] HOST PORT USER TCP_PORT
 *
 * stderr gets "hookcat: request: <the OpenTunnel JSON after the hooks>".
 * --open sends that request to OpenTunnel (endpoint, region, credentials
 * from the environment, as ist_aws_new() finds them) and reports
 * "hookcat: opened <tunnelId>". TCP_PORT 0: no relay.
 * Exit: 0 done, 1 error, 3 unsafe hooks file, 4 denied by a hook.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "ist/api.h"
#include "ist/hooks.h"

static int
to_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > 65535)
		return -1;
	*out = (int)v;
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
connect_local(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
exit_code(int r)
{
	if (r == IST_ERR_UNSAFE)
		return 3;
	if (r == IST_ERR_DENIED)
		return 4;
	return 1;
}

int
main(int argc, char **argv)
{
	struct ist_log_sink sink = { .prog = "hookcat", .fp = NULL };
	struct ist_hook_target t;
	struct ist_hook_summary sum;
	struct ist_hooks *h = NULL;
	struct ist_err e = { 0 };
	const char *file = NULL;
	struct ist_tunnel_tokens tok = { 0 };
	struct ist_aws *aws = NULL;
	bool off = false, open = false, opened = false;
	cJSON *req = NULL;
	struct timespec t0, t1;
	uint64_t sent = 0, recvd = 0;
	char buf[32768], *json;
	int port, tcp, fd = -1, r, rc = 1;

	/* ssh sends SIGHUP at the end; let on_tunnel_closed run. */
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	ist_log_set_hook(ist_log_sink_hook, &sink);
	ist_log_set_level(IST_LOG_INFO);
	for (;;) {
		if (argc > 2 && strcmp(argv[1], "--hooks") == 0) {
			file = argv[2];
			argv += 2;
			argc -= 2;
		} else if (argc > 1 && strcmp(argv[1], "--no-hooks") == 0) {
			off = true;
			argv++;
			argc--;
		} else if (argc > 1 && strcmp(argv[1], "--open") == 0) {
			open = true;
			argv++;
			argc--;
		} else {
			break;
		}
	}
	if (argc != 5 || to_int(argv[2], &port) || to_int(argv[4], &tcp)) {
		fprintf(stderr, "usage: hookcat [--hooks FILE | --no-hooks] "
		    "[--open] HOST PORT USER TCP_PORT\n");
		return 1;
	}
	memset(&t, 0, sizeof(t));
	t.host = argv[1];
	t.port = port;
	t.user = argv[3];
	snprintf(t.thing, sizeof(t.thing), "%s", argv[1]);
	snprintf(t.region, sizeof(t.region), "us-east-1");
	snprintf(t.service, sizeof(t.service), "SSH");

	r = ist_hooks_open(&h, file, off, NULL, &e);
	if (r == 0)
		r = ist_hooks_on_resolve(h, &t, &e);
	if (r == 0) {
		req = cJSON_CreateObject();
		cJSON *dc = cJSON_AddObjectToObject(req, "destinationConfig");
		cJSON *svc = cJSON_AddArrayToObject(dc, "services");
		cJSON *tc = cJSON_AddObjectToObject(req, "timeoutConfig");

		if (!cJSON_AddStringToObject(dc, "thingName", t.thing) ||
		    !svc || !cJSON_AddItemToArray(svc,
		    cJSON_CreateString(t.service)) ||
		    !cJSON_AddNumberToObject(tc, "maxLifetimeTimeoutMinutes",
		    720)) {
			fprintf(stderr, "hookcat: out of memory\n");
			goto out;
		}
		r = ist_hooks_on_open_tunnel(h, &req, &t, &e);
	}
	if (r != 0) {
		fprintf(stderr, "hookcat: %s\n", e.msg);
		rc = exit_code(r);
		goto out;
	}
	json = cJSON_PrintUnformatted(req);
	fprintf(stderr, "hookcat: target: %s %s %s\n", t.thing, t.region,
	    t.destination_client_type[0] ? t.destination_client_type : "-");
	fprintf(stderr, "hookcat: request: %s\n", json ? json : "?");
	free(json);
	if (open) {
		struct ist_aws_opts o = { .region = t.region,
		    .profile = t.profile[0] ? t.profile : NULL };

		r = ist_aws_new(&aws, &o, &e);
		if (r == 0)
			r = ist_api_open_tunnel(aws, req, &tok, &e);
		if (r != 0) {
			fprintf(stderr, "hookcat: %s\n", e.msg);
			goto out;
		}
		fprintf(stderr, "hookcat: opened %s\n", tok.tunnel_id);
		ist_hooks_on_tunnel_opened(h, tok.tunnel_id, tok.tunnel_arn,
		    ist_aws_region(aws), &t);
		opened = true;
	}
	if (tcp == 0) {
		rc = 0;
		goto out;
	}

	fd = connect_local(tcp);
	if (fd < 0) {
		fprintf(stderr, "hookcat: connect to port %d: %s\n", tcp,
		    strerror(errno));
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = fd, .events = POLLIN },
		};
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0 || write_all(fd, buf, (size_t)n) != 0)
				break;
			sent += (uint64_t)n;
		}
		if (p[1].revents) {
			n = read(fd, buf, sizeof(buf));
			if (n <= 0 || write_all(STDOUT_FILENO, buf,
			    (size_t)n) != 0)
				break;
			recvd += (uint64_t)n;
			/* Mid-stream, as the proxy's tunnel-opened event may
			 * be: anything a hook put on fd 1 now breaks ssh. */
			if (!opened) {
				opened = true;
				ist_hooks_on_tunnel_opened(h, "tid-e2e",
				    "arn:aws:iot:us-east-1:0:tunnel/tid-e2e",
				    t.region, &t);
			}
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	memset(&sum, 0, sizeof(sum));
	sum.tunnel_id = "tid-e2e";
	sum.reason = "ssh closed";
	sum.duration_s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	sum.bytes_sent = sent;
	sum.bytes_received = recvd;
	ist_hooks_on_tunnel_closed(h, &sum, &t);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	ist_tunnel_tokens_clear(&tok);
	ist_aws_free(aws);
	cJSON_Delete(req);
	ist_hooks_close(h);
	return rc;
}
