/*
 * iot-tunnel-agent: the destination side of AWS IoT Secure Tunneling on a
 * device. Listens for tunnel notifications over MQTT
 * ($aws/things/NAME/tunnels/notify) and bridges each tunnel to local
 * services (SSH = 127.0.0.1:22 by default), several tunnels at once in
 * one libwebsockets loop. Or, without MQTT, joins one tunnel whose
 * destination token is given in a file, on stdin or in the environment.
 *
 * MQTT runs in the same loop: a 50 ms lws timer calls mosquitto_loop()
 * with a zero timeout. That keeps one thread (no locks between the MQTT
 * callbacks and the tunnels) at the cost of up to 50 ms before a notify
 * is seen, which is nothing next to a tunnel's setup.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/crypto.h>

#include "ist/aws.h"
#include "ist/ws.h"
#include "notify.h"
#include "tunnel.h"

#define PROG "iot-tunnel-agent"
#define MQTT_POLL_US (50 * LWS_US_PER_MS)
/*
 * The MQTT v5 Maximum Packet Size the agent asks for in CONNECT: a notify
 * of AGENT_NOTIFY_MAX bytes, its topic (a thing name is at most 128) and the
 * PUBLISH header fit. libmosquitto reads a whole packet before it hands
 * it over, so only the broker can keep a huge publish away from us; a
 * compliant one drops what is larger for this client.
 */
#define MQTT_MAX_PACKET (AGENT_NOTIFY_MAX + 1024)
#define MAX_TUNNELS 64
#define UNUSED_REGION "us-east-1"	/* see tunnel_region() */
#define TLS_HINT " (TLS: check --mqtt-ca, --mqtt-cert, --mqtt-key and that " \
	"the certificate is active in AWS IoT)"

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_DATA = 5,
	EXIT_CLOSED = 6,
};

static volatile sig_atomic_t got_signal;
/* Set once before the handlers are installed; read by them only. */
static struct lws_context *signal_ctx;

struct agent {
	const char *thing;
	const char *mqtt_host_arg;
	char mqtt_host[256];
	int mqtt_port;
	const char *mqtt_ca, *mqtt_cert, *mqtt_key, *client_id;
	const char *token_file;
	const char *region, *proxy_endpoint, *ca_file;
	struct agent_service svcs[AGENT_MAX_SERVICES];
	size_t nsvcs;

	struct lws_context *ctx;
	struct mosquitto *mosq;
	bool mqtt_up;
	lws_sorted_usec_list_t sul_mqtt;
	lws_usec_t next_reconnect;
	unsigned backoff_s;
	char topic[256];

	struct agent_tunnel *tunnels[MAX_TUNNELS];
	unsigned long counter;
	bool oneshot;
	int exit_code;
	bool done;
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " --thing NAME --mqtt-endpoint HOST[:PORT]\n"
"           [--mqtt-ca FILE --mqtt-cert FILE --mqtt-key FILE]\n"
"           [--service NAME=HOST:PORT ...] [options]\n"
"       " PROG " --token-file FILE|- [--service ...] [options]\n"
"\n"
"Joins AWS IoT Secure Tunneling tunnels as the destination and connects\n"
"them to local services. With --mqtt-endpoint it waits for tunnel\n"
"notifications on $aws/things/NAME/tunnels/notify (mutual TLS on 8883\n"
"for AWS IoT Core when --mqtt-cert/--mqtt-key are given, plain MQTT on\n"
"1883 otherwise). Without it, it joins one tunnel with the destination\n"
"token from --token-file (- for stdin) or AWSIOT_TUNNEL_ACCESS_TOKEN.\n"
"\n"
"  --thing NAME            this device's thing name\n"
"  --client-id ID          MQTT client id (default: the thing name)\n"
"  --service NAME=HOST:PORT  where a tunnel service goes (repeatable;\n"
"                          default SSH=127.0.0.1:22)\n"
"  --region REGION         data-plane region (default: the notify's)\n"
"  --proxy-endpoint EP     data-plane endpoint override (host[:port],\n"
"                          wss:// or ws:// URL)\n"
"  --ca-file FILE          extra CAs to trust for the data plane\n"
"  --syslog                log to syslog instead of stderr\n"
"  -v                      more logging (repeatable)\n"
"  --version, --help\n"
"\n"
"Exit: 0 stopped by a signal, or (one tunnel) closed by the service;\n"
"1 usage or configuration error; 5 data-plane error (one tunnel).\n");
}

static void
on_signal(int sig)
{
	got_signal = sig;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static void
syslog_hook(int level, const char *msg, void *ud)
{
	int prio = level <= IST_LOG_ERROR ? LOG_ERR :
	    level == IST_LOG_INFO ? LOG_INFO : LOG_DEBUG;

	(void)ud;
	syslog(prio, "%s", msg);
}

static int
slot_of(struct agent *ag, struct agent_tunnel *t)
{
	int i;

	for (i = 0; i < MAX_TUNNELS; i++)
		if (ag->tunnels[i] == t)
			return i;
	return -1;
}

static void
tunnel_end(struct agent_tunnel *t, int code, const struct ist_err *e,
    void *ud)
{
	struct agent *ag = ud;
	int i = slot_of(ag, t);

	if (code == IST_ERR_CLOSED || code == 0)
		ist_info("%s: ended (%s)", agent_tunnel_name(t),
		    code ? e->msg : "closed");
	else
		ist_error("%s: ended: %s", agent_tunnel_name(t), e->msg);
	if (ag->oneshot) {
		ag->exit_code = code == 0 || code == IST_ERR_CLOSED ?
		    EXIT_OK : EXIT_DATA;
		ag->done = true;
		/* From a timer callback, lws_service() would next return
		 * only at the next event or timer (a ping, 20 s on): wake
		 * it so that the loop sees done now. */
		lws_cancel_service(ag->ctx);
	}
	if (i >= 0)
		ag->tunnels[i] = NULL;
	agent_tunnel_free(t);
}

/*
 * The region for a tunnel's ist_aws: --region, else the notify's, else
 * (NULL) AWS_REGION or the profile. With the data plane overridden
 * (--proxy-endpoint, AWSIOT_TUNNEL_ENDPOINT) the region names nothing:
 * the override wins over it and the agent makes no API calls. Then any
 * valid name will do, so that the one-shot agent does not demand one.
 */
static const char *
tunnel_region(const struct agent *ag, const char *notified)
{
	const char *env = getenv("AWSIOT_TUNNEL_ENDPOINT");

	if (ag->region)
		return ag->region;
	if (notified)
		return notified;
	if ((ag->proxy_endpoint && *ag->proxy_endpoint) || (env && *env)) {
		env = getenv("AWS_REGION");
		if (!env || !*env)
			env = getenv("AWS_DEFAULT_REGION");
		return env && *env ? NULL : UNUSED_REGION;
	}
	return NULL;
}

/* Starts a tunnel with token, for region (NULL: --region / default). */
static int
start_tunnel(struct agent *ag, const char *token, const char *region,
    struct ist_err *e)
{
	struct ist_aws_opts ao;
	struct ist_aws *a = NULL;
	struct ist_endpoint ep;
	struct agent_tunnel *t = NULL;
	char name[64];
	int i, r;

	for (i = 0; i < MAX_TUNNELS && ag->tunnels[i]; i++)
		;
	if (i == MAX_TUNNELS)
		return ist_err_set(e, IST_ERR_TOOBIG, "already %d tunnels "
		    "open; ignoring this one", MAX_TUNNELS);
	memset(&ao, 0, sizeof(ao));
	ao.region = tunnel_region(ag, region);
	ao.proxy_endpoint = ag->proxy_endpoint;
	ao.ca_file = ag->ca_file;
	r = ist_aws_new(&a, &ao, e);
	if (r < 0)
		goto out;
	r = ist_aws_data_endpoint(a, NULL, &ep, e);
	if (r < 0)
		goto out;
	ag->counter++;
	snprintf(name, sizeof(name), "tunnel %lu", ag->counter);
	ist_info("%s: joining as destination via %s:%d", name, ep.host,
	    ep.port);
	r = agent_tunnel_new(&t, ag->ctx, name, &ep, token, ag->svcs,
	    ag->nsvcs, tunnel_end, ag, e);
	if (r < 0)
		goto out;
	ag->tunnels[i] = t;
out:
	ist_aws_free(a);
	return r;
}

static void
handle_notify(struct agent *ag, const void *payload, int len)
{
	struct agent_notify n;
	struct ist_err e;

	ist_err_clear(&e);
	if (len < 0 || agent_notify_parse(payload, (size_t)len, &n, &e) < 0) {
		ist_error("tunnel notify: %s", len < 0 ? "bad length" : e.msg);
		return;
	}
	ist_err_clear(&e);
	if (start_tunnel(ag, n.token, n.region, &e) < 0)
		ist_error("tunnel notify: %s", e.msg);
	agent_notify_free(&n);
}

/* What went wrong with the broker, with a hint when TLS is in play. */
static void
mqtt_error(struct agent *ag, int rc, const char *then)
{
	int err = errno;
	bool tls = ag->mqtt_cert || ag->mqtt_key || ag->mqtt_ca;

	/* A refused handshake shows as EPROTO through MOSQ_ERR_ERRNO. */
	ist_error("MQTT broker %s:%d: %s%s; %s", ag->mqtt_host, ag->mqtt_port,
	    rc == MOSQ_ERR_ERRNO ? strerror(err) : mosquitto_strerror(rc),
	    tls && (rc == MOSQ_ERR_TLS || rc == MOSQ_ERR_PROTOCOL ||
	    rc == MOSQ_ERR_CONN_LOST ||
	    (rc == MOSQ_ERR_ERRNO && err == EPROTO)) ? TLS_HINT : "", then);
}

static void
mqtt_on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct agent *ag = ud;

	if (rc) {
		/* MQTT v5: rc is a reason code. */
		ist_error("MQTT broker %s:%d refused the connection: %s%s",
		    ag->mqtt_host, ag->mqtt_port, mosquitto_reason_string(rc),
		    rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION ? " (the agent "
		    "speaks MQTT 5, as AWS IoT Core and mosquitto 1.6+ do)" :
		    "");
		return;
	}
	ag->mqtt_up = true;
	ag->backoff_s = 0;
	rc = mosquitto_subscribe(m, NULL, ag->topic, 1);
	if (rc != MOSQ_ERR_SUCCESS)
		ist_error("MQTT subscribe to %s: %s", ag->topic,
		    mosquitto_strerror(rc));
	else
		ist_verbose("MQTT connected to %s:%d; subscribing to %s",
		    ag->mqtt_host, ag->mqtt_port, ag->topic);
}

/*
 * SUBACK: only from here on does the broker deliver notifications (it
 * keeps none for a topic nobody subscribed to), so only now is the agent
 * waiting; saying so at CONNACK let a notify published in between look
 * delivered when it was dropped.
 */
static void
mqtt_on_subscribe(struct mosquitto *m, void *ud, int mid, int n,
    const int *granted)
{
	struct agent *ag = ud;

	(void)m;
	(void)mid;
	if (n < 1 || granted[0] > 2) {
		ist_error("MQTT broker %s:%d refused the subscription to %s "
		    "(check the broker's ACL for this client)",
		    ag->mqtt_host, ag->mqtt_port, ag->topic);
		return;
	}
	ist_info("MQTT connected to %s:%d; waiting on %s", ag->mqtt_host,
	    ag->mqtt_port, ag->topic);
}

static void
mqtt_on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	struct agent *ag = ud;
	bool tls = ag->mqtt_cert || ag->mqtt_key || ag->mqtt_ca;

	(void)m;
	if (!rc) {
		ag->mqtt_up = false;
		return;
	}
	/* Closed before CONNACK: with TLS 1.3 a refused client
	 * certificate shows only here. */
	if (!ag->mqtt_up)
		ist_error("MQTT broker %s:%d closed the connection before "
		    "accepting it%s", ag->mqtt_host, ag->mqtt_port,
		    tls ? TLS_HINT : "");
	else
		ist_error("MQTT connection to %s:%d lost", ag->mqtt_host,
		    ag->mqtt_port);
	ag->mqtt_up = false;
}

static void
mqtt_on_message(struct mosquitto *m, void *ud,
    const struct mosquitto_message *msg)
{
	struct agent *ag = ud;

	(void)m;
	if (!msg->topic || strcmp(msg->topic, ag->topic) != 0)
		return;
	ist_info("tunnel notify received");
	handle_notify(ag, msg->payload, msg->payloadlen);
}

static void
mqtt_poll_cb(lws_sorted_usec_list_t *sul)
{
	struct agent *ag = lws_container_of(sul, struct agent, sul_mqtt);
	lws_usec_t now = lws_now_usecs();
	int rc;

	rc = mosquitto_loop(ag->mosq, 0, 1);
	if (rc != MOSQ_ERR_SUCCESS && now >= ag->next_reconnect) {
		ag->backoff_s = ag->backoff_s ? ag->backoff_s * 2 : 1;
		if (ag->backoff_s > 60)
			ag->backoff_s = 60;
		ag->next_reconnect = now +
		    (lws_usec_t)ag->backoff_s * LWS_US_PER_SEC;
		ist_verbose("MQTT: %s; reconnecting to %s:%d",
		    mosquitto_strerror(rc), ag->mqtt_host, ag->mqtt_port);
		rc = mosquitto_reconnect(ag->mosq);
		if (rc != MOSQ_ERR_SUCCESS)
			mqtt_error(ag, rc, "will try again");
	}
	lws_sul_schedule(ag->ctx, 0, &ag->sul_mqtt, mqtt_poll_cb,
	    MQTT_POLL_US);
}

static int
mqtt_start(struct agent *ag, struct ist_err *e)
{
	mosquitto_property *props = NULL;
	int rc;
	bool tls = ag->mqtt_cert || ag->mqtt_key || ag->mqtt_ca;

	ag->mqtt_port = tls ? 8883 : 1883;
	rc = agent_parse_hostport(ag->mqtt_host_arg, ag->mqtt_host,
	    sizeof(ag->mqtt_host), &ag->mqtt_port, e);
	if (rc < 0)
		return ist_err_prefix(e, "--mqtt-endpoint");
	if ((ag->mqtt_cert != NULL) != (ag->mqtt_key != NULL))
		return ist_err_set(e, IST_ERR_CONFIG, "--mqtt-cert and "
		    "--mqtt-key go together");
	snprintf(ag->topic, sizeof(ag->topic), "$aws/things/%s/tunnels/notify",
	    ag->thing);
	mosquitto_lib_init();
	ag->mosq = mosquitto_new(ag->client_id ? ag->client_id : ag->thing,
	    true, ag);
	if (!ag->mosq)
		return ist_err_set(e, IST_ERR_NOMEM, "mosquitto_new failed");
	if (tls) {
		rc = mosquitto_tls_set(ag->mosq, ag->mqtt_ca, NULL,
		    ag->mqtt_cert, ag->mqtt_key, NULL);
		if (rc != MOSQ_ERR_SUCCESS)
			return ist_err_set(e, IST_ERR_CONFIG, "MQTT TLS setup "
			    "(--mqtt-ca/--mqtt-cert/--mqtt-key): %s",
			    mosquitto_strerror(rc));
		if (!ag->mqtt_ca)
			mosquitto_int_option(ag->mosq,
			    MOSQ_OPT_TLS_USE_OS_CERTS, 1);
	}
	mosquitto_connect_callback_set(ag->mosq, mqtt_on_connect);
	mosquitto_disconnect_callback_set(ag->mosq, mqtt_on_disconnect);
	mosquitto_message_callback_set(ag->mosq, mqtt_on_message);
	mosquitto_subscribe_callback_set(ag->mosq, mqtt_on_subscribe);
	/* MQTT v5 for its Maximum Packet Size (see MQTT_MAX_PACKET); the
	 * properties are kept by libmosquitto for every reconnect. */
	rc = mosquitto_int_option(ag->mosq, MOSQ_OPT_PROTOCOL_VERSION,
	    MQTT_PROTOCOL_V5);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_property_add_int32(&props,
		    MQTT_PROP_MAXIMUM_PACKET_SIZE, MQTT_MAX_PACKET);
	if (rc != MOSQ_ERR_SUCCESS)
		return ist_err_set(e, IST_ERR_NOMEM, "MQTT setup: %s",
		    mosquitto_strerror(rc));
	rc = mosquitto_connect_bind_v5(ag->mosq, ag->mqtt_host, ag->mqtt_port,
	    60, NULL, props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS) {
		/* Not fatal: a device often boots before its network. */
		mqtt_error(ag, rc, "will keep trying");
		ag->backoff_s = 1;
		ag->next_reconnect = lws_now_usecs() + LWS_US_PER_SEC;
	}
	lws_sul_schedule(ag->ctx, 0, &ag->sul_mqtt, mqtt_poll_cb, 1);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "thing", required_argument, NULL, 't' },
		{ "mqtt-endpoint", required_argument, NULL, 'm' },
		{ "mqtt-ca", required_argument, NULL, 'A' },
		{ "mqtt-cert", required_argument, NULL, 'C' },
		{ "mqtt-key", required_argument, NULL, 'K' },
		{ "client-id", required_argument, NULL, 'I' },
		{ "service", required_argument, NULL, 's' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "region", required_argument, NULL, 'r' },
		{ "proxy-endpoint", required_argument, NULL, 'P' },
		{ "ca-file", required_argument, NULL, 'c' },
		{ "syslog", no_argument, NULL, 'S' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct lws_protocols protocols[] = {
		agent_local_protocol,
		{ NULL, NULL, 0, 0, 0, NULL, 0 },
	};
	struct ist_log_sink sink = { PROG, NULL };
	struct ist_ws_context_options co;
	struct lws_context_creation_info vi;
	struct ist_aws_opts ao;
	struct ist_aws *base = NULL;
	struct ist_endpoint ep;
	const char *http_proxy = NULL;
	struct ist_err e2;
	struct agent ag;
	struct sigaction sa;
	struct ist_err e;
	char *token = NULL;
	bool use_syslog = false;
	int c, verbose = 0, i, rc = EXIT_USAGE;

	memset(&ag, 0, sizeof(ag));
	ist_err_clear(&e);
	ist_log_set_hook(ist_log_sink_hook, &sink);
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 't': ag.thing = optarg; break;
		case 'm': ag.mqtt_host_arg = optarg; break;
		case 'A': ag.mqtt_ca = optarg; break;
		case 'C': ag.mqtt_cert = optarg; break;
		case 'K': ag.mqtt_key = optarg; break;
		case 'I': ag.client_id = optarg; break;
		case 'T': ag.token_file = optarg; break;
		case 'r': ag.region = optarg; break;
		case 'P': ag.proxy_endpoint = optarg; break;
		case 'c': ag.ca_file = optarg; break;
		case 'S': use_syslog = true; break;
		case 'v': verbose++; break;
		case 's':
			if (ag.nsvcs == AGENT_MAX_SERVICES) {
				fprintf(stderr, PROG ": at most %d --service\n",
				    AGENT_MAX_SERVICES);
				return EXIT_USAGE;
			}
			if (agent_service_parse(optarg, &ag.svcs[ag.nsvcs],
			    &e) < 0) {
				fprintf(stderr, PROG ": %s\n", e.msg);
				return EXIT_USAGE;
			}
			ag.nsvcs++;
			break;
		case 'V':
			printf(PROG " " IST_VERSION "\n");
			return EXIT_OK;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": unexpected argument %s\n",
		    argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	ist_log_set_level(verbose ? IST_LOG_INFO + verbose - 1 :
	    IST_LOG_INFO);
	if (use_syslog) {
		openlog(PROG, LOG_PID, LOG_DAEMON);
		ist_log_set_hook(syslog_hook, NULL);
	}
	if (!ag.nsvcs) {
		snprintf(ag.svcs[0].name, sizeof(ag.svcs[0].name), "SSH");
		snprintf(ag.svcs[0].host, sizeof(ag.svcs[0].host),
		    "127.0.0.1");
		ag.svcs[0].port = 22;
		ag.nsvcs = 1;
	}
	if (ag.mqtt_host_arg) {
		if (!ag.thing) {
			fprintf(stderr, PROG ": --mqtt-endpoint needs "
			    "--thing NAME\n");
			return EXIT_USAGE;
		}
		/* What the systemd unit passes when its settings file was
		 * not filled in. */
		if (!*ag.thing || !*ag.mqtt_host_arg) {
			fprintf(stderr, PROG ": %s is empty: give %s (for "
			    "the systemd unit: %s in "
			    "/etc/default/iot-tunnel-agent)\n",
			    !*ag.thing ? "--thing" : "--mqtt-endpoint",
			    !*ag.thing ? "this device's thing name" :
			    "the AWS IoT data endpoint, HOST[:PORT]",
			    !*ag.thing ? "THING_NAME" : "MQTT_ENDPOINT");
			return EXIT_USAGE;
		}
		if (strlen(ag.thing) > 128 || !*ag.thing ||
		    strpbrk(ag.thing, "#+/")) {
			fprintf(stderr, PROG ": --thing %s: not a thing "
			    "name\n", ag.thing);
			return EXIT_USAGE;
		}
		if (ag.token_file) {
			fprintf(stderr, PROG ": --token-file is for the "
			    "one-shot mode, without --mqtt-endpoint\n");
			return EXIT_USAGE;
		}
	} else {
		ag.oneshot = true;
		if (ist_ws_read_token(ag.token_file, &token, &e) < 0) {
			ist_error("%s (or use --mqtt-endpoint)", e.msg);
			return EXIT_USAGE;
		}
	}
	/* Read (or not needed): no child may inherit a token. */
	ist_ws_forget_env_token();

	/* HTTPS_PROXY / NO_PROXY for the data plane, when the endpoint is
	 * known before any notify (--region, AWS_REGION, a profile). */
	memset(&ao, 0, sizeof(ao));
	ao.region = tunnel_region(&ag, NULL);
	ao.proxy_endpoint = ag.proxy_endpoint;
	ao.ca_file = ag.ca_file;
	ist_err_clear(&e2);
	if (ist_aws_new(&base, &ao, &e2) == 0 &&
	    ist_aws_data_endpoint(base, NULL, &ep, &e2) == 0)
		http_proxy = ist_aws_proxy_for(base, ep.host);
	else
		ist_verbose("no HTTPS proxy for the data plane (%s)", e2.msg);
	memset(&co, 0, sizeof(co));
	co.http_proxy = http_proxy;
	co.ca_file = ag.ca_file ? ag.ca_file : getenv("AWS_CA_BUNDLE");
	co.protocols = protocols;
	co.user = &ag;
	if (ist_ws_context_new(&ag.ctx, &co, &e) < 0) {
		ist_error("%s", e.msg);
		goto out;
	}
	/* Local connections get a vhost of their own: lws would send them
	 * through the data plane's HTTP proxy too. */
	memset(&vi, 0, sizeof(vi));
	vi.port = CONTEXT_PORT_NO_LISTEN;
	vi.vhost_name = AGENT_LOCAL_VHOST;
	vi.protocols = protocols;
	if (!lws_create_vhost(ag.ctx, &vi)) {
		ist_error("cannot set up local connections (lws vhost)");
		goto out;
	}
	signal_ctx = ag.ctx;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (ag.oneshot) {
		if (start_tunnel(&ag, token, NULL, &e) < 0) {
			ist_error("%s", e.msg);
			goto out;
		}
	} else if (mqtt_start(&ag, &e) < 0) {
		ist_error("%s", e.msg);
		goto out;
	}
	if (token) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
		token = NULL;
	}
	ag.exit_code = EXIT_OK;
	while (!got_signal && !ag.done)
		if (lws_service(ag.ctx, 0) < 0)
			break;
	if (got_signal)
		ist_info("signal %d: stopping", (int)got_signal);
	rc = ag.exit_code;
out:
	for (i = 0; i < MAX_TUNNELS; i++)
		agent_tunnel_free(ag.tunnels[i]);
	if (ag.ctx)
		lws_sul_cancel(&ag.sul_mqtt);
	if (ag.mosq) {
		mosquitto_disconnect(ag.mosq);
		mosquitto_destroy(ag.mosq);
		mosquitto_lib_cleanup();
	}
	signal_ctx = NULL;
	ist_ws_context_free(ag.ctx);
	ist_aws_free(base);
	if (token) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	return rc;
}
