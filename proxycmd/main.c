/*
 * iot-ssh-proxy: an OpenSSH ProxyCommand that carries ssh's byte stream
 * over an AWS IoT Secure Tunneling tunnel opened on demand.
 *
 *   ProxyCommand iot-ssh-proxy --user %r %h %p
 *
 * Flow: resolve the target (options, then the Lua on_resolve hook), open
 * the tunnel (on_open_tunnel may shape or deny the request), join its
 * WebSocket as source, wait for SERVICE_IDS, wait for the device to join
 * (DescribeTunnel), STREAM_START, pump stdin/stdout, and close the tunnel
 * (CloseTunnel) at the end, on SIGINT, SIGTERM and SIGHUP too.
 *
 * One lws loop carries the WebSocket and fds 0/1. DescribeTunnel is a
 * blocking HTTP call made from an lws timer before STREAM_START: at
 * that point stdin is not read yet and the only other work is a ping
 * every 20 s, so a call of a few hundred ms (30 s at worst, the API
 * client's cap, well inside the service's 60 s idle limit) delays nothing
 * that matters. A helper thread would need locking around the AWS client
 * and a wake-up path into the loop, for no gain.
 *
 * stdout carries only tunnel data; every message goes to stderr (or
 * --log-file) as "iot-ssh-proxy: ...".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "ist/api.h"
#include "ist/aws.h"
#include "ist/hooks.h"
#include "ist/num.h"
#include "ist/session.h"
#include "ist/ws.h"
#include "stdio_pump.h"
#include "tags.h"

#define PROG "iot-ssh-proxy"
#define PROGRESS_AFTER_MS 2000
#define POLL_FIRST_MS 100	/* DescribeTunnel interval, first second */
#define POLL_FAST_MS 250	/* DescribeTunnel interval, up to 5 s */
#define POLL_MS 1000
#define STOP_GRACE_US (3 * LWS_US_PER_SEC)

/* Exit codes: README "Exit codes" and --help list the same. */
enum {
	EXIT_OK = 0,		/* session ended normally */
	EXIT_USAGE = 1,		/* usage or configuration error */
	EXIT_AWS = 2,		/* AWS API error */
	EXIT_HOOK = 3,		/* denied by a hook, or a hook failed */
	EXIT_WAIT = 4,		/* the destination did not join in time */
	EXIT_DATA = 5,		/* data-plane error */
	EXIT_CLOSED = 6,	/* tunnel closed by the service meanwhile */
};

enum phase {
	PH_CONNECTING,	/* WebSocket handshake */
	PH_WAIT_IDS,	/* waiting for SERVICE_IDS */
	PH_WAIT_DEST,	/* polling DescribeTunnel */
	PH_STREAMING,
	PH_CLOSING,
};

static volatile sig_atomic_t got_signal;
/* Set once before the handlers are installed; read by them only. */
static struct lws_context *signal_ctx;

struct opts {
	const char *host;
	int port;
	const char *user;
	const char *thing, *region, *profile, *service, *description;
	long timeout_min;
	cJSON *tags;
	const char *hooks_file;
	bool no_hooks;
	long wait_s;
	bool keep;
	const char *tunnel_id, *token_file;
	bool rotate;
	int dct;
	const char *api_endpoint, *proxy_endpoint, *ca_file;
	int verbose;
	bool quiet;
	const char *log_file;
};

struct proxy {
	struct opts o;
	struct ist_hooks *hooks;
	struct ist_hook_target target;
	struct ist_aws *aws;
	enum ist_format format;
	char tunnel_id[129];	/* the model's 128 at most, checked */
	char tunnel_arn[256];
	bool opened;		/* by us: close it at the end */

	struct lws_context *ctx;
	struct ist_ws *ws;
	struct stdio_pump *pump;
	enum phase phase;
	lws_sorted_usec_list_t sul_poll;
	lws_sorted_usec_list_t sul_stop;
	struct timespec t_open;
	bool progress_shown;
	bool no_describe;	/* no credentials: cannot poll */
	bool signal_seen;
	bool finished;
	/* Bytes the device sent, queued or written: whether it sent
	 * anything, even when its reset arrives before stdout was written. */
	uint64_t bytes_from_device;

	int exit_code;
	bool exit_set;
	const char *reason;	/* for on_tunnel_closed */
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [options] HOST [PORT]\n"
"\n"
"An OpenSSH ProxyCommand that reaches HOST (a thing) through an AWS IoT\n"
"Secure Tunneling tunnel opened on demand, e.g. in ~/.ssh/config:\n"
"  ProxyCommand " PROG " --user %%r %%h %%p\n"
"\n"
"  --thing NAME            thing name (default: HOST)\n"
"  --user USER             ssh's %%r, for the hooks and the description\n"
"  --region REGION         AWS region (default: AWS_REGION, profile)\n"
"  --profile NAME          AWS profile for credentials and region\n"
"  --service ID            tunnel service (default SSH)\n"
"  --timeout MINUTES       tunnel lifetime, 1..720 (AWS default 720)\n"
"  --tag KEY=VALUE         tag the tunnel (repeatable)\n"
"  --description TEXT      tunnel description (default: who and what)\n"
"  --hooks FILE            Lua hooks file (default: searched)\n"
"  --no-hooks              run no hooks\n"
"  --wait SECONDS          how long the device may take to join (60)\n"
"  --keep-tunnel           leave the tunnel open at the end\n"
"  --tunnel-id ID          use this open tunnel instead of opening one;\n"
"                          source token from --token-file FILE or\n"
"                          AWSIOT_TUNNEL_ACCESS_TOKEN, or --rotate\n"
"  --rotate                get a fresh source token (RotateTunnelAccessToken)\n"
"  --destination-client-type v1|v2|v3  the device's message format (v3);\n"
"                          v1 for AWS IoT Device Client and localproxy V1\n"
"  --api-endpoint URL      IoT Secure Tunneling API endpoint override\n"
"  --proxy-endpoint EP     data-plane endpoint override (host[:port])\n"
"  --ca-file FILE          extra CAs to trust (default: AWS_CA_BUNDLE)\n"
"  -v                      more messages (repeatable, up to -vvvv;\n"
"                          or IOT_SSH_PROXY_VERBOSE=N, as N times -v)\n"
"  -q                      quiet: errors only, no progress line\n"
"  --log-file FILE         messages to FILE instead of stderr\n"
"  --version, --help\n"
"\n"
"Environment: IOT_SSH_PROXY_VERBOSE=N raises the verbosity without\n"
"editing ssh_config (IOT_SSH_PROXY_VERBOSE=2 ssh HOST); AWS_PROFILE,\n"
"AWS_REGION, AWS_CA_BUNDLE, HTTPS_PROXY, NO_PROXY and\n"
"AWSIOT_TUNNEL_ACCESS_TOKEN as described in iot-ssh-proxy(1).\n"
"\n"
"Exit codes:\n"
"  0  the session ended normally (also on SIGHUP from ssh, SIGINT, SIGTERM)\n"
"  1  usage or configuration error\n"
"  2  AWS API error (OpenTunnel, DescribeTunnel, CloseTunnel, credentials)\n"
"  3  denied by a hook, or a hook failed\n"
"  4  the device did not join the tunnel within --wait\n"
"  5  data-plane error (handshake refused, connection lost, protocol\n"
"     violation by the peer)\n"
"  6  the tunnel was closed or expired by the service during the session\n");
}

static void
on_signal(int sig)
{
	got_signal = sig;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* The first verdict wins; later ones are only logged. */
static void
set_exit(struct proxy *p, int code, const char *reason, const char *msg)
{
	if (p->exit_set) {
		if (msg && *msg)
			ist_verbose("%s", msg);
		return;
	}
	p->exit_set = true;
	p->exit_code = code;
	p->reason = reason;
	if (msg && *msg) {
		if (code == EXIT_OK)
			ist_verbose("%s", msg);
		else
			ist_error("%s", msg);
	}
}

static int
exit_for(int code)
{
	switch (code) {
	case IST_ERR_CONFIG:
	case IST_ERR_INVAL:
	case IST_ERR_NOTFOUND:
		return EXIT_USAGE;
	case IST_ERR_DENIED:
	case IST_ERR_HOOK:
	case IST_ERR_UNSAFE:
		return EXIT_HOOK;
	default:
		return EXIT_AWS;
	}
}

static void
stop_loop(struct proxy *p)
{
	p->finished = true;
	lws_sul_cancel(&p->sul_poll);
	lws_cancel_service(p->ctx);
}

static void
close_ws(struct proxy *p)
{
	p->phase = PH_CLOSING;
	lws_sul_cancel(&p->sul_poll);
	if (p->ws)
		ist_ws_close(p->ws);
	else
		stop_loop(p);
}

static const char *
svc_arg(const struct proxy *p)
{
	return p->format == IST_FORMAT_V1 ? NULL : p->o.service;
}

static void
start_stream(struct proxy *p)
{
	struct ist_session *s = ist_ws_session(p->ws);
	struct ist_err e;
	uint32_t cid = 0;
	char m[600];

	ist_err_clear(&e);
	if (ist_session_start_stream(s, svc_arg(p), &cid, &e) < 0 ||
	    stdio_pump_start(p->pump, p->ws, svc_arg(p), cid, &e) < 0) {
		snprintf(m, sizeof(m), "cannot start the stream: %s", e.msg);
		set_exit(p, EXIT_DATA, "error", m);
		close_ws(p);
		return;
	}
	ist_ws_flush(p->ws);
	/* From here a drop loses ssh's stream: no reconnecting. */
	ist_ws_set_reconnect(p->ws, false);
	p->phase = PH_STREAMING;
	ist_verbose("stream to %s started (tunnel %s)",
	    p->o.service, p->tunnel_id);
}

/* Blocking DescribeTunnel: see the comment at the top. */
static int
describe(struct proxy *p, char *state, size_t n, char *dest, size_t dn,
    struct ist_err *e)
{
	cJSON *t = NULL, *st, *dcs, *ds;
	int r;

	r = ist_api_describe_tunnel(p->aws, p->tunnel_id, &t, e);
	if (r < 0)
		return r;
	st = cJSON_GetObjectItemCaseSensitive(t, "status");
	dcs = cJSON_GetObjectItemCaseSensitive(t,
	    "destinationConnectionState");
	ds = dcs ? cJSON_GetObjectItemCaseSensitive(dcs, "status") : NULL;
	snprintf(state, n, "%s", cJSON_IsString(st) ? st->valuestring : "");
	snprintf(dest, dn, "%s", cJSON_IsString(ds) ? ds->valuestring : "");
	cJSON_Delete(t);
	return 0;
}

static void
poll_cb(lws_sorted_usec_list_t *sul)
{
	struct proxy *p = lws_container_of(sul, struct proxy, sul_poll);
	char state[32], dest[32], m[1024];
	struct ist_err e;
	long waited;
	int r;

	if (p->phase != PH_WAIT_DEST && p->phase != PH_WAIT_IDS)
		return;
	state[0] = '\0';
	dest[0] = '\0';
	waited = ms_since(&p->t_open);
	if (p->phase == PH_WAIT_DEST && !p->no_describe) {
		ist_err_clear(&e);
		r = describe(p, state, sizeof(state), dest, sizeof(dest), &e);
		if ((r == IST_ERR_CREDS || r == IST_ERR_AWS) && !p->opened) {
			/* --tunnel-id with a token and no AWS credentials
			 * (or no right to describe it): nothing to poll
			 * with, so go ahead. */
			ist_verbose("cannot check whether the device joined "
			    "(%s); starting the stream", e.msg);
			p->no_describe = true;
		} else if (r < 0 && r != IST_ERR_NET &&
		    r != IST_ERR_TIMEOUT) {
			set_exit(p, EXIT_AWS, "error", e.msg);
			close_ws(p);
			return;
		} else if (r < 0) {
			ist_verbose("%s (will retry)", e.msg);
		} else if (!strcmp(state, "CLOSED")) {
			snprintf(m, sizeof(m), "tunnel %s was closed before "
			    "the device joined", p->tunnel_id);
			set_exit(p, EXIT_CLOSED, "tunnel closed", m);
			close_ws(p);
			return;
		} else if (!strcmp(dest, "CONNECTED")) {
			ist_verbose("thing %s joined after %ld ms",
			    p->target.thing, waited);
			start_stream(p);
			return;
		}
		ist_debug("tunnel %s: status %s, destination %s",
		    p->tunnel_id, state, dest[0] ? dest : "unknown");
	}
	if (p->phase == PH_WAIT_DEST && p->no_describe) {
		start_stream(p);
		return;
	}
	waited = ms_since(&p->t_open);
	if (waited >= p->o.wait_s * 1000) {
		snprintf(m, sizeof(m), "thing %s did not join tunnel %s "
		    "within %ld s: is iot-tunnel-agent (or the AWS IoT "
		    "Device Client) running on the device and connected to "
		    "AWS IoT? (--wait SECONDS to wait longer)",
		    p->target.thing, p->tunnel_id, p->o.wait_s);
		set_exit(p, EXIT_WAIT, "device did not join", m);
		close_ws(p);
		return;
	}
	if (waited >= PROGRESS_AFTER_MS && !p->progress_shown) {
		p->progress_shown = true;
		if (!p->o.quiet)
			fprintf(stderr, PROG ": waiting for thing %s to join "
			    "tunnel %s (up to %ld s)...\n", p->target.thing,
			    p->tunnel_id, p->o.wait_s);
	}
	/* A device on MQTT usually joins within a second, and every poll
	 * it misses by adds to ssh's setup time: look often at first, then
	 * settle to once a second (AWS throttles DescribeTunnel). */
	lws_sul_schedule(p->ctx, 0, &p->sul_poll, poll_cb,
	    (lws_usec_t)(waited < 1000 ? POLL_FIRST_MS :
	    waited < 5000 ? POLL_FAST_MS : POLL_MS) * LWS_US_PER_MS);
}

/* --- tunnel session callbacks --- */

static void
on_service_ids(struct ist_session *s, const char *const *ids, size_t n,
    void *ud)
{
	struct proxy *p = ud;
	size_t i;
	bool found = p->format == IST_FORMAT_V1;
	char m[600];

	(void)s;
	for (i = 0; i < n; i++) {
		ist_debug("tunnel service: %s", ids[i]);
		if (!strcmp(ids[i], p->o.service))
			found = true;
	}
	if (p->phase != PH_WAIT_IDS)
		return;
	if (!found) {
		snprintf(m, sizeof(m), "tunnel %s does not carry service %s "
		    "(%zu service%s offered): check --service",
		    p->tunnel_id, p->o.service, n, n == 1 ? "" : "s");
		set_exit(p, EXIT_USAGE, "error", m);
		close_ws(p);
		return;
	}
	p->phase = PH_WAIT_DEST;
	lws_sul_schedule(p->ctx, 0, &p->sul_poll, poll_cb, 1);
}

static int
on_connection_start(struct ist_session *s, const char *svc, uint32_t id,
    void *ud)
{
	(void)s;
	(void)svc;
	(void)id;
	(void)ud;
	return IST_ERR_ROLE;	/* the session refuses this for a source */
}

static void
on_data(struct ist_session *s, const char *svc, uint32_t id,
    const uint8_t *data, size_t len, void *ud)
{
	struct proxy *p = ud;

	(void)s;
	(void)svc;
	(void)id;
	if (p->phase == PH_STREAMING) {
		p->bytes_from_device += (uint64_t)len;
		stdio_pump_data(p->pump, data, len);
	}
}

static void
on_connection_end(struct ist_session *s, const char *svc, uint32_t id,
    enum ist_end_reason why, void *ud)
{
	struct proxy *p = ud;

	(void)s;
	(void)svc;
	(void)id;
	if (p->phase != PH_STREAMING)
		return;
	if (why == IST_END_SESSION_RESET)
		set_exit(p, EXIT_DATA, "session reset", "the tunnel service "
		    "reset the session (SESSION_RESET)");
	else if (why == IST_END_FORMAT)
		set_exit(p, EXIT_DATA, "format mismatch", "the device uses "
		    "another message format (for the AWS IoT Device Client "
		    "use --destination-client-type v1)");
	else if (!p->bytes_from_device)
		set_exit(p, EXIT_DATA, "refused by the device",
		    "the device ended the connection before sending "
		    "anything: is the service running there (sshd) and "
		    "does its agent map it?");
	else
		set_exit(p, EXIT_OK, "device closed", "the device closed "
		    "the connection");
	stdio_pump_peer_end(p->pump);
}

static void
on_open(struct ist_ws *ws, const char *channel_id, void *ud)
{
	struct proxy *p = ud;

	(void)ws;
	ist_debug("joined tunnel %s as source (channel-id %s)",
	    p->tunnel_id, channel_id && *channel_id ? channel_id : "none");
	if (p->phase == PH_CONNECTING)
		p->phase = PH_WAIT_IDS;
	/* Until SERVICE_IDS, poll_cb only watches the --wait deadline. */
	lws_sul_schedule(p->ctx, 0, &p->sul_poll, poll_cb,
	    (lws_usec_t)POLL_MS * LWS_US_PER_MS);
}

/* A drop before STREAM_START: ist_ws connects again; start over. */
static void
on_drop(struct ist_ws *ws, const struct ist_err *e, void *ud)
{
	struct proxy *p = ud;

	(void)ws;
	ist_verbose("tunnel %s: %s; joining again", p->tunnel_id, e->msg);
	lws_sul_cancel(&p->sul_poll);
	if (p->phase == PH_WAIT_IDS || p->phase == PH_WAIT_DEST)
		p->phase = PH_CONNECTING;
}

static void
on_writable(struct ist_ws *ws, void *ud)
{
	struct proxy *p = ud;

	(void)ws;
	if (p->phase == PH_STREAMING || p->phase == PH_CLOSING)
		stdio_pump_writable(p->pump);
}

static void
on_end(struct ist_ws *ws, int code, const struct ist_err *e, void *ud)
{
	struct proxy *p = ud;
	char state[32], dest[32], m[1024];
	struct ist_err e2;

	(void)ws;
	stdio_pump_detach(p->pump);
	if (code == 0) {
		set_exit(p, EXIT_OK, "closed", NULL);
	} else if (code == IST_ERR_CLOSED) {
		snprintf(m, sizeof(m), "tunnel %s was closed during the "
		    "session (CloseTunnel, or the end of its lifetime): %s",
		    p->tunnel_id, e->msg);
		set_exit(p, EXIT_CLOSED, "tunnel closed", m);
	} else {
		/* A drop after CloseTunnel or expiry is still a close. */
		ist_err_clear(&e2);
		if (!p->exit_set && !p->no_describe &&
		    describe(p, state, sizeof(state), dest, sizeof(dest),
		    &e2) == 0 && !strcmp(state, "CLOSED")) {
			snprintf(m, sizeof(m), "tunnel %s was closed during "
			    "the session (%s)", p->tunnel_id, e->msg);
			set_exit(p, EXIT_CLOSED, "tunnel closed", m);
		} else {
			snprintf(m, sizeof(m), "tunnel %s: %s", p->tunnel_id,
			    e->msg);
			set_exit(p, EXIT_DATA, "connection lost", m);
		}
	}
	stop_loop(p);
}

static void
pump_done(enum stdio_end why, const struct ist_err *e, void *ud)
{
	struct proxy *p = ud;
	struct ist_session *s;
	struct ist_err e2;

	switch (why) {
	case STDIO_END_STDIN_EOF:
		set_exit(p, EXIT_OK, "ssh closed", "ssh closed the stream");
		break;
	case STDIO_END_STDOUT_GONE:
		s = p->ws ? ist_ws_session(p->ws) : NULL;
		if (s && p->phase == PH_STREAMING) {
			ist_err_clear(&e2);
			(void)ist_session_end_connection(s, svc_arg(p), 1,
			    &e2);
		}
		set_exit(p, EXIT_OK, "ssh closed", "ssh stopped reading");
		break;
	case STDIO_END_PEER:
		set_exit(p, EXIT_OK, "device closed", NULL);
		break;
	case STDIO_END_ERROR:
		set_exit(p, EXIT_DATA, "error", e->msg);
		break;
	}
	close_ws(p);
}

static void
stop_cb(lws_sorted_usec_list_t *sul)
{
	struct proxy *p = lws_container_of(sul, struct proxy, sul_stop);

	ist_verbose("closing took too long; stopping");
	stop_loop(p);
}

static void
handle_signal(struct proxy *p)
{
	struct ist_session *s;
	struct ist_err e;

	if (p->signal_seen)
		return;
	p->signal_seen = true;
	ist_verbose("signal %d: ending the session", (int)got_signal);
	set_exit(p, EXIT_OK, got_signal == SIGHUP ? "ssh closed" :
	    "interrupted", NULL);
	s = p->ws ? ist_ws_session(p->ws) : NULL;
	if (s && p->phase == PH_STREAMING) {
		ist_err_clear(&e);
		(void)ist_session_end_connection(s, svc_arg(p), 1, &e);
	}
	lws_sul_schedule(p->ctx, 0, &p->sul_stop, stop_cb, STOP_GRACE_US);
	close_ws(p);
}

/* --- setup --- */

static int
add_tag(struct opts *o, const char *arg)
{
	struct ist_err e;

	ist_err_clear(&e);
	if (proxy_tag_add(&o->tags, arg, &e) < 0) {
		/* The value may be a secret someone typed by mistake: not
		 * quoted back. */
		fprintf(stderr, PROG ": --tag: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int
parse_args(struct opts *o, int argc, char **argv)
{
	enum {
		O_THING = 256, O_REGION, O_PROFILE, O_SERVICE, O_TIMEOUT,
		O_TAG, O_DESC, O_HOOKS, O_NOHOOKS, O_WAIT, O_KEEP, O_TID,
		O_TOKFILE, O_ROTATE, O_DCT, O_API, O_PROXY, O_CA, O_LOG,
		O_VERSION, O_USER,
	};
	static const struct option longopts[] = {
		{ "thing", required_argument, NULL, O_THING },
		{ "user", required_argument, NULL, O_USER },
		{ "region", required_argument, NULL, O_REGION },
		{ "profile", required_argument, NULL, O_PROFILE },
		{ "service", required_argument, NULL, O_SERVICE },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "tag", required_argument, NULL, O_TAG },
		{ "description", required_argument, NULL, O_DESC },
		{ "hooks", required_argument, NULL, O_HOOKS },
		{ "no-hooks", no_argument, NULL, O_NOHOOKS },
		{ "wait", required_argument, NULL, O_WAIT },
		{ "keep-tunnel", no_argument, NULL, O_KEEP },
		{ "tunnel-id", required_argument, NULL, O_TID },
		{ "token-file", required_argument, NULL, O_TOKFILE },
		{ "rotate", no_argument, NULL, O_ROTATE },
		{ "destination-client-type", required_argument, NULL, O_DCT },
		{ "api-endpoint", required_argument, NULL, O_API },
		{ "proxy-endpoint", required_argument, NULL, O_PROXY },
		{ "ca-file", required_argument, NULL, O_CA },
		{ "log-file", required_argument, NULL, O_LOG },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long v;
	int c;

	o->service = "SSH";
	o->wait_s = 60;
	o->dct = 3;
	o->port = 22;
	while ((c = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
		switch (c) {
		case O_THING: o->thing = optarg; break;
		case O_USER: o->user = optarg; break;
		case O_REGION: o->region = optarg; break;
		case O_PROFILE: o->profile = optarg; break;
		case O_SERVICE: o->service = optarg; break;
		case O_DESC: o->description = optarg; break;
		case O_HOOKS: o->hooks_file = optarg; break;
		case O_NOHOOKS: o->no_hooks = true; break;
		case O_KEEP: o->keep = true; break;
		case O_TID: o->tunnel_id = optarg; break;
		case O_TOKFILE: o->token_file = optarg; break;
		case O_ROTATE: o->rotate = true; break;
		case O_API: o->api_endpoint = optarg; break;
		case O_PROXY: o->proxy_endpoint = optarg; break;
		case O_CA: o->ca_file = optarg; break;
		case O_LOG: o->log_file = optarg; break;
		case 'v': o->verbose++; break;
		case 'q': o->quiet = true; break;
		case O_TAG:
			if (add_tag(o, optarg) < 0)
				return -1;
			break;
		case O_TIMEOUT:
			if (ist_num_parse_long(optarg, 1, 720, &o->timeout_min) < 0) {
				fprintf(stderr, PROG ": --timeout %s: expected "
				    "minutes, 1 to 720\n", optarg);
				return -1;
			}
			break;
		case O_WAIT:
			if (ist_num_parse_long(optarg, 1, 86400, &o->wait_s) < 0) {
				fprintf(stderr, PROG ": --wait %s: expected "
				    "seconds, 1 to 86400\n", optarg);
				return -1;
			}
			break;
		case O_DCT:
			if (!strcmp(optarg, "v1") || !strcmp(optarg, "V1"))
				o->dct = 1;
			else if (!strcmp(optarg, "v2") ||
			    !strcmp(optarg, "V2"))
				o->dct = 2;
			else if (!strcmp(optarg, "v3") ||
			    !strcmp(optarg, "V3"))
				o->dct = 3;
			else {
				fprintf(stderr, PROG ": "
				    "--destination-client-type %s: expected "
				    "v1, v2 or v3\n", optarg);
				return -1;
			}
			break;
		case O_VERSION:
			printf(PROG " " IST_VERSION "\n");
			exit(EXIT_OK);
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind >= argc || argc - optind > 2) {
		fprintf(stderr, PROG ": expected HOST [PORT] (ssh's %%h %%p)"
		    "\n");
		usage(stderr);
		return -1;
	}
	o->host = argv[optind];
	if (optind + 1 < argc) {
		if (ist_num_parse_long(argv[optind + 1], 1, 65535, &v) < 0) {
			fprintf(stderr, PROG ": bad port %s\n",
			    argv[optind + 1]);
			return -1;
		}
		o->port = (int)v;
	}
	if (!*o->host) {
		fprintf(stderr, PROG ": empty HOST\n");
		return -1;
	}
	if (o->rotate && !o->tunnel_id) {
		fprintf(stderr, PROG ": --rotate needs --tunnel-id\n");
		return -1;
	}
	if (o->rotate && o->token_file) {
		fprintf(stderr, PROG ": --rotate and --token-file exclude "
		    "each other\n");
		return -1;
	}
	if (o->token_file && !o->tunnel_id) {
		fprintf(stderr, PROG ": --token-file needs --tunnel-id\n");
		return -1;
	}
	/* Refused, not cut: a cut id names another tunnel. */
	if (o->tunnel_id) {
		struct ist_err e;

		ist_err_clear(&e);
		if (ist_api_check_tunnel_id("--tunnel-id", o->tunnel_id,
		    &e) < 0) {
			fprintf(stderr, PROG ": %s: give the tunnelId "
			    "as open-tunnel printed it\n", e.msg);
			return -1;
		}
	}
	return 0;
}

static int
copy_field(char *dst, size_t n, const char *src, const char *what)
{
	if (strlen(src) >= n) {
		fprintf(stderr, PROG ": %s too long\n", what);
		return -1;
	}
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* Options and on_resolve: what to open, where, as whom. */
static int
resolve(struct proxy *p, struct ist_err *e)
{
	struct ist_hook_target *t = &p->target;
	static const char *const dct[] = { "", "V1", "V2", "V3" };
	int r;

	t->host = p->o.host;
	t->port = p->o.port;
	t->user = p->o.user;
	if (copy_field(t->thing, sizeof(t->thing),
	    p->o.thing ? p->o.thing : p->o.host, "thing name") < 0 ||
	    copy_field(t->region, sizeof(t->region),
	    p->o.region ? p->o.region : "", "region") < 0 ||
	    copy_field(t->profile, sizeof(t->profile),
	    p->o.profile ? p->o.profile : "", "profile") < 0 ||
	    copy_field(t->service, sizeof(t->service), p->o.service,
	    "service") < 0)
		return ist_err_set(e, IST_ERR_CONFIG, "bad option");
	snprintf(t->destination_client_type,
	    sizeof(t->destination_client_type), "%s", dct[p->o.dct]);
	r = ist_hooks_open(&p->hooks, p->o.hooks_file, p->o.no_hooks, NULL,
	    e);
	if (r < 0)
		return r;
	if (p->hooks)
		ist_verbose("hooks: %s", ist_hooks_path(p->hooks));
	r = ist_hooks_on_resolve(p->hooks, t, e);
	if (r < 0)
		return r;
	p->o.service = t->service;
	if (!strcmp(t->destination_client_type, "V1") ||
	    !strcmp(t->destination_client_type, "v1"))
		p->format = IST_FORMAT_V1;
	else if (!strcmp(t->destination_client_type, "V2") ||
	    !strcmp(t->destination_client_type, "v2"))
		p->format = IST_FORMAT_V2;
	else
		p->format = IST_FORMAT_V3;
	ist_verbose("target: thing %s, service %s, format V%d", t->thing,
	    t->service, (int)p->format);
	return 0;
}

static cJSON *
open_request(struct proxy *p)
{
	cJSON *req = cJSON_CreateObject(), *dc, *svcs, *tc;
	char desc[600];

	if (!req)
		return NULL;
	if (p->o.description)
		snprintf(desc, sizeof(desc), "%s", p->o.description);
	else if (p->o.user)
		snprintf(desc, sizeof(desc), "ssh %s@%s via " PROG,
		    p->o.user, p->o.host);
	else
		snprintf(desc, sizeof(desc), "ssh %s via " PROG, p->o.host);
	if (!cJSON_AddStringToObject(req, "description", desc))
		goto fail;
	if (p->o.tags) {
		cJSON *dup = cJSON_Duplicate(p->o.tags, 1);

		if (!dup)
			goto fail;
		cJSON_AddItemToObject(req, "tags", dup);
	}
	dc = cJSON_AddObjectToObject(req, "destinationConfig");
	if (!dc || !cJSON_AddStringToObject(dc, "thingName", p->target.thing))
		goto fail;
	svcs = cJSON_AddArrayToObject(dc, "services");
	if (!svcs)
		goto fail;
	cJSON_AddItemToArray(svcs, cJSON_CreateString(p->o.service));
	if (p->o.timeout_min) {
		tc = cJSON_AddObjectToObject(req, "timeoutConfig");
		if (!tc || !cJSON_AddNumberToObject(tc,
		    "maxLifetimeTimeoutMinutes", (double)p->o.timeout_min))
			goto fail;
	}
	return req;
fail:
	cJSON_Delete(req);
	return NULL;
}

/* Opens the tunnel (or takes --tunnel-id); *token is the source token
 * (with --tunnel-id and no --rotate, the one main() read: left as is). */
static int
get_tunnel(struct proxy *p, char **token, struct ist_err *e)
{
	struct ist_tunnel_tokens tok;
	cJSON *req = NULL;
	int r;

	memset(&tok, 0, sizeof(tok));
	if (p->o.tunnel_id) {
		snprintf(p->tunnel_id, sizeof(p->tunnel_id), "%s",
		    p->o.tunnel_id);
		if (!p->o.rotate)
			return 0;	/* *token was read in main() */
		r = ist_api_rotate_tunnel_access_token(p->aws, p->tunnel_id,
		    "SOURCE", NULL, &tok, e);
		if (r < 0)
			goto out;
		if (!tok.source_access_token) {
			r = ist_err_set(e, IST_ERR_AWS,
			    "RotateTunnelAccessToken returned no source token");
			goto out;
		}
		ist_verbose("rotated the source token of tunnel %s",
		    p->tunnel_id);
		*token = tok.source_access_token;
		tok.source_access_token = NULL;
		r = 0;
		goto out;
	}
	req = open_request(p);
	if (!req) {
		r = ist_err_set(e, IST_ERR_NOMEM, "out of memory");
		goto out;
	}
	r = ist_hooks_on_open_tunnel(p->hooks, &req, &p->target, e);
	if (r < 0)
		goto out;
	r = ist_api_open_tunnel(p->aws, req, &tok, e);
	if (r < 0)
		goto out;
	if (!tok.tunnel_id || !tok.source_access_token) {
		r = ist_err_set(e, IST_ERR_AWS, "OpenTunnel returned no tunnel "
		    "id or source token");
		goto out;
	}
	p->opened = true;
	snprintf(p->tunnel_id, sizeof(p->tunnel_id), "%s", tok.tunnel_id);
	snprintf(p->tunnel_arn, sizeof(p->tunnel_arn), "%s",
	    tok.tunnel_arn ? tok.tunnel_arn : "");
	ist_debug("opened tunnel %s to thing %s", p->tunnel_id,
	    p->target.thing);
	(void)ist_hooks_on_tunnel_opened(p->hooks, p->tunnel_id,
	    p->tunnel_arn, ist_aws_region(p->aws), &p->target);
	*token = tok.source_access_token;
	tok.source_access_token = NULL;
	r = 0;
out:
	ist_tunnel_tokens_clear(&tok);
	cJSON_Delete(req);
	return r;
}

static int
run_session(struct proxy *p, const char *token)
{
	const struct lws_protocols protocols[] = {
		stdio_pump_protocol,
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	struct ist_ws_context_options co;
	struct ist_ws_callbacks cb;
	struct ist_ws_options wo;
	struct ist_endpoint ep;
	struct ist_err e;
	int r;

	ist_err_clear(&e);
	r = ist_aws_data_endpoint(p->aws, NULL, &ep, &e);
	if (r < 0) {
		set_exit(p, EXIT_USAGE, "error", e.msg);
		return r;
	}
	memset(&co, 0, sizeof(co));
	co.ca_file = ist_aws_ca_file(p->aws);
	co.http_proxy = ist_aws_proxy_for(p->aws, ep.host);
	co.protocols = protocols;
	co.user = p;
	r = ist_ws_context_new(&p->ctx, &co, &e);
	if (r < 0) {
		set_exit(p, EXIT_USAGE, "error", e.msg);
		return r;
	}
	signal_ctx = p->ctx;

	r = stdio_pump_new(&p->pump, p->ctx, pump_done, p, &e);
	if (r < 0) {
		set_exit(p, EXIT_USAGE, "error", e.msg);
		return r;
	}
	memset(&cb, 0, sizeof(cb));
	cb.session.on_service_ids = on_service_ids;
	cb.session.on_connection_start = on_connection_start;
	cb.session.on_data = on_data;
	cb.session.on_connection_end = on_connection_end;
	cb.on_open = on_open;
	cb.on_drop = on_drop;
	cb.on_writable = on_writable;
	cb.on_end = on_end;
	memset(&wo, 0, sizeof(wo));
	wo.host = ep.host;
	wo.port = ep.port;
	wo.tls = ep.tls;
	wo.role = IST_ROLE_SOURCE;
	wo.format = p->format;
	/* Stream ids must not repeat within a tunnel's life: in a tunnel
	 * someone else opened, earlier sources may have used low ones. The
	 * seed keeps them within IST_MAX_ID (include/ist/session.h). */
	if (!p->opened)
		wo.last_stream_id = ist_session_stream_id_seed(
		    (int64_t)time(NULL));
	wo.access_token = token;
	wo.reconnect = true;	/* until STREAM_START */
	r = ist_ws_new(&p->ws, p->ctx, &wo, &cb, p, &e);
	if (r < 0) {
		set_exit(p, EXIT_DATA, "error", e.msg);
		return r;
	}
	p->phase = PH_CONNECTING;
	while (!p->finished) {
		if (got_signal)
			handle_signal(p);
		if (lws_service(p->ctx, 0) < 0)
			break;
	}
	return 0;
}

/*
 * -v count, or IOT_SSH_PROXY_VERBOSE=N when that is more: ssh runs us
 * from ssh_config, and a user debugging one connection should not have
 * to edit it.
 */
static void
log_setup(struct proxy *p, struct ist_log_sink *sink)
{
	const char *env = getenv("IOT_SSH_PROXY_VERBOSE");
	int level = IST_LOG_ERROR;
	long n;

	if (env && *env) {
		if (ist_num_parse_long(env, 0, 4, &n) < 0)
			fprintf(sink->fp ? sink->fp : stderr, PROG ": "
			    "IOT_SSH_PROXY_VERBOSE=%.16s ignored: expected "
			    "0 to 4 (as many as -v)\n", env);
		else if (n > p->o.verbose)
			p->o.verbose = (int)n;
	}
	if (p->o.verbose)
		level = IST_LOG_INFO + p->o.verbose;
	ist_log_set_level(level);
	ist_log_set_hook(ist_log_sink_hook, sink);
}

int
main(int argc, char **argv)
{
	struct ist_log_sink sink = { PROG, NULL };
	struct ist_hook_summary sum;
	struct ist_aws_opts ao;
	struct sigaction sa;
	struct proxy p;
	struct timespec t0;
	struct ist_err e, e_aws;
	char region0[IST_HOOK_REGION_LEN];
	char *token = NULL;
	FILE *logf = NULL;
	int r;

	memset(&p, 0, sizeof(p));
	ist_err_clear(&e);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* From the start: a signal while OpenTunnel runs must still lead to
	 * CloseTunnel, not leave a tunnel open for hours. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (parse_args(&p.o, argc, argv) < 0) {
		cJSON_Delete(p.o.tags);
		return EXIT_USAGE;
	}
	/* Run by hand from a shell, we would open a billed tunnel and
	 * feed keystrokes to sshd: say what this program is instead. */
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, PROG ": stdin is a terminal: this is an "
		    "OpenSSH ProxyCommand, run by ssh, not by hand (no tunnel "
		    "was opened). Put in ~/.ssh/config:\n"
		    "    Host %s\n"
		    "        ProxyCommand " PROG " --user %%r %%h %%p\n"
		    "then run: ssh %s (see man iot-ssh-proxy)\n",
		    p.o.host, p.o.host);
		cJSON_Delete(p.o.tags);
		return EXIT_USAGE;
	}
	if (p.o.log_file) {
		logf = fopen(p.o.log_file, "a");
		if (!logf) {
			fprintf(stderr, PROG ": cannot open log file %s: %s\n",
			    p.o.log_file, strerror(errno));
			cJSON_Delete(p.o.tags);
			return EXIT_USAGE;
		}
		sink.fp = logf;
	}
	log_setup(&p, &sink);
	/*
	 * The token is read before anything can start a child (hooks,
	 * credential_process) and then taken out of the environment, which
	 * every child would inherit.
	 */
	if (p.o.tunnel_id && !p.o.rotate)
		r = ist_ws_read_token(p.o.token_file, &token, &e);
	else
		r = 0;
	ist_ws_forget_env_token();
	if (r < 0) {
		set_exit(&p, EXIT_USAGE, "error", e.msg);
		goto out;
	}

	/* The region the hooks see is the one that would be used (options,
	 * environment, profile); they may change it and the profile, and
	 * then AWS is set up again with what they chose. */
	memset(&ao, 0, sizeof(ao));
	ao.profile = p.o.profile;
	ao.region = p.o.region;
	ao.api_endpoint = p.o.api_endpoint;
	ao.proxy_endpoint = p.o.proxy_endpoint;
	ao.ca_file = p.o.ca_file;
	ist_err_clear(&e_aws);
	if (ist_aws_new(&p.aws, &ao, &e_aws) == 0 && !p.o.region) {
		snprintf(region0, sizeof(region0), "%s",
		    ist_aws_region(p.aws));
		p.o.region = region0;
	}
	r = resolve(&p, &e);
	if (r < 0) {
		set_exit(&p, exit_for(r), "error", e.msg);
		goto out;
	}
	if (!p.aws || strcmp(p.target.region, ist_aws_region(p.aws)) != 0 ||
	    strcmp(p.target.profile, p.o.profile ? p.o.profile : "") != 0) {
		ao.profile = p.target.profile[0] ? p.target.profile : NULL;
		ao.region = p.target.region[0] ? p.target.region : NULL;
		ist_aws_free(p.aws);
		p.aws = NULL;
		r = ist_aws_new(&p.aws, &ao, &e);
		if (r < 0) {
			set_exit(&p, EXIT_USAGE, "error", e.msg);
			goto out;
		}
	}
	r = get_tunnel(&p, &token, &e);
	if (r < 0) {
		set_exit(&p, p.o.tunnel_id && !p.o.rotate ? EXIT_USAGE :
		    exit_for(r), "error", e.msg);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &p.t_open);
	if (got_signal) {
		set_exit(&p, EXIT_OK, "interrupted", "signal before the "
		    "session started");
		goto out;
	}
	(void)run_session(&p, token);
out:
	if (token) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	/* The pump goes first: it must not reach the ws from the close
	 * callbacks that destroying the context delivers. */
	memset(&sum, 0, sizeof(sum));
	sum.bytes_sent = p.pump ? stdio_pump_bytes_in(p.pump) : 0;
	sum.bytes_received = p.pump ? stdio_pump_bytes_out(p.pump) : 0;
	stdio_pump_free(p.pump);
	p.pump = NULL;
	ist_ws_free(p.ws);
	p.ws = NULL;
	if (p.ctx) {
		lws_sul_cancel(&p.sul_stop);
		lws_sul_cancel(&p.sul_poll);
	}
	signal_ctx = NULL;
	ist_ws_context_free(p.ctx);
	if (p.tunnel_id[0]) {
		sum.tunnel_id = p.tunnel_id;
		sum.reason = p.reason ? p.reason : "ended";
		sum.duration_s = (double)ms_since(&t0) / 1000.0;
		ist_verbose("session: %llu bytes to the device, %llu from it",
		    (unsigned long long)sum.bytes_sent,
		    (unsigned long long)sum.bytes_received);
	}
	if (p.opened && !p.o.keep) {
		ist_err_clear(&e);
		if (ist_api_close_tunnel(p.aws, p.tunnel_id, false, &e) < 0) {
			ist_error("could not close tunnel %s: %s (it stays "
			    "open until its timeout)", p.tunnel_id, e.msg);
			if (p.exit_code == EXIT_OK)
				p.exit_code = EXIT_AWS;
		} else {
			ist_debug("closed tunnel %s", p.tunnel_id);
		}
	} else if (p.opened) {
		ist_info("tunnel %s left open (--keep-tunnel)", p.tunnel_id);
	}
	if (p.tunnel_id[0])
		(void)ist_hooks_on_tunnel_closed(p.hooks, &sum, &p.target);
	ist_hooks_close(p.hooks);
	ist_aws_free(p.aws);
	cJSON_Delete(p.o.tags);
	if (logf)
		fclose(logf);
	return p.exit_code;
}
