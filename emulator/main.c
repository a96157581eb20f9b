/*
 * iot-tunnel-emulator: a local stand-in for AWS IoT Secure Tunneling.
 * Serves the API (POST /) and the data plane (/tunnel) on one port.
 * See README.md "iot-tunnel-emulator".
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "emu.h"
#include "ist/num.h"

static volatile sig_atomic_t stop;
static struct lws_context *sig_ctx;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (sig_ctx)
		lws_cancel_service(sig_ctx);
}

double
emu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
}

/* nbytes of randomness as unpadded base64url into out. */
int
emu_random_b64url(char *out, size_t outsz, size_t nbytes)
{
	uint8_t raw[512];
	char *b64 = NULL;
	size_t i, n, enc_len = 4 * ((nbytes + 2) / 3) + 1;
	int r = -1;

	if (nbytes > sizeof(raw) || outsz < enc_len)
		return -1;
	if (RAND_bytes(raw, (int)nbytes) != 1)
		return -1;
	b64 = malloc(enc_len);
	if (!b64)
		return -1;
	n = (size_t)EVP_EncodeBlock((unsigned char *)b64, raw, (int)nbytes);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	for (i = 0; i < n; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	memcpy(out, b64, n);
	out[n] = '\0';
	r = 0;
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b64, enc_len);
	free(b64);
	return r;
}

void
emu_uuid(char out[37])
{
	uint8_t b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		memset(b, 0x5a, sizeof(b)); /* ids are not secrets */
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
	    b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool
emu_is_loopback(struct lws *wsi)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	lws_sockfd_type fd = lws_get_socket_fd(wsi);

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&ss;

		return (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&ss;

		if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		    s6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: " EMU_PROG " [options]\n"
	    "  --listen HOST:PORT      address to serve on (127.0.0.1:0;"
	    " port 0 picks one)\n"
	    "  --tls-cert FILE         server certificate (PEM)\n"
	    "  --tls-key FILE          its private key (PEM)\n"
	    "  --plain                 serve http:// and ws:// (no TLS)\n"
	    "  --region REGION         region of the service (us-east-1)\n"
	    "  --account ID            account in ARNs (123456789012)\n"
	    "  --credentials-file FILE lines of AKID:SECRET[:SESSION_TOKEN]\n"
	    "  --credentials AKID:SECRET  one key (repeatable; prefer the"
	    " file)\n"
	    "  --max-open-tunnels N    OpenTunnel limit (LimitExceeded)\n"
	    "  --mqtt HOST:PORT        publish destination tokens there\n"
	    "  --admin                 enable fault injection (POST /admin/*"
	    " from loopback)\n"
	    "  --seconds-per-minute N  (tests) a lifetime minute lasts N s\n"
	    "  -v                      more logging (repeatable)\n"
	    "  -V, --version           print the version\n"
	    "  -h, --help              this text\n");
}

static int
add_cred(struct emu *emu, const char *spec, const char *where)
{
	struct emu_cred *c, *n;
	const char *colon = strchr(spec, ':'), *colon2;

	if (!colon || colon == spec || !colon[1]) {
		/* Never echo spec: it holds a secret. */
		ist_error("%s: a credential must be AKID:SECRET", where);
		return -1;
	}
	n = realloc(emu->creds, (emu->n_creds + 1) * sizeof(*n));
	if (!n)
		return -1;
	emu->creds = n;
	c = &n[emu->n_creds];
	memset(c, 0, sizeof(*c));
	colon2 = strchr(colon + 1, ':');
	c->akid = strndup(spec, (size_t)(colon - spec));
	if (colon2) {
		c->secret = strndup(colon + 1, (size_t)(colon2 - colon - 1));
		c->session_token = strdup(colon2 + 1);
	} else {
		c->secret = strdup(colon + 1);
	}
	if (!c->akid || !c->secret || (colon2 && !c->session_token)) {
		free(c->akid);
		free(c->secret);
		free(c->session_token);
		return -1;
	}
	emu->n_creds++;
	return 0;
}

static int
load_creds_file(struct emu *emu, const char *path)
{
	FILE *fp = NULL;
	struct stat st;
	char line[4096];
	int lineno = 0, r = -1;

	fp = fopen(path, "r");
	if (!fp) {
		ist_error("%s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fileno(fp), &st) != 0) {
		ist_error("%s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		ist_error("%s: writable by group or others; refusing it"
		    " (chmod go-w)", path);
		goto out;
	}
	while (fgets(line, sizeof(line), fp)) {
		char *s = line, where[64];
		size_t n;

		lineno++;
		n = strcspn(s, "\r\n");
		s[n] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '#')
			continue;
		snprintf(where, sizeof(where), "credentials line %d", lineno);
		if (add_cred(emu, s, where) != 0)
			goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(line, sizeof(line));
	if (fp)
		fclose(fp);
	return r;
}

static void
lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	(void)level;
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	fprintf(stderr, EMU_PROG ": lws: %.*s\n", (int)n, line);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "plain", no_argument, NULL, 'p' },
		{ "region", required_argument, NULL, 'r' },
		{ "account", required_argument, NULL, 'a' },
		{ "credentials", required_argument, NULL, 'C' },
		{ "credentials-file", required_argument, NULL, 'F' },
		{ "max-open-tunnels", required_argument, NULL, 'm' },
		{ "mqtt", required_argument, NULL, 'M' },
		{ "admin", no_argument, NULL, 'A' },
		{ "seconds-per-minute", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ist_log_sink sink = { EMU_PROG, NULL };
	struct lws_protocols protocols[2];
	struct lws_context_creation_info info;
	struct emu emu;
	struct ist_err err;
	const char *listen = "127.0.0.1:0", *cert = NULL, *key = NULL;
	const char *mqtt = NULL;
	char host[256];
	const char *colon;
	long port = 0, v;
	int opt, verbose = 0, rc = 1;
	bool v6;
	size_t i;

	memset(&emu, 0, sizeof(emu));
	memset(&err, 0, sizeof(err));
	emu.region = "us-east-1";
	emu.account = "123456789012";
	emu.next_seq = 1;
	emu.minute_secs = 60;
	ist_log_set_hook(ist_log_sink_hook, &sink);
	ist_log_set_level(IST_LOG_INFO);

	while ((opt = getopt_long(argc, argv, "vVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l': listen = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'p': emu.plain = true; break;
		case 'r': emu.region = optarg; break;
		case 'a': emu.account = optarg; break;
		case 'C':
			if (add_cred(&emu, optarg, "--credentials") != 0)
				goto out;
			/* Keep the secret out of ps(1) from here on. */
			memset(optarg, 'x', strlen(optarg));
			break;
		case 'F':
			if (load_creds_file(&emu, optarg) != 0)
				goto out;
			break;
		case 'm':
			if (ist_num_parse_long(optarg, 0, 1000000, &v) != 0) {
				ist_error("--max-open-tunnels: want a number");
				goto out;
			}
			emu.max_open = (int)v;
			break;
		case 'M': mqtt = optarg; break;
		case 'A': emu.admin = true; break;
		case 'S':
			if (ist_num_parse_long(optarg, 1, 60, &v) != 0) {
				ist_error("--seconds-per-minute: want 1..60");
				goto out;
			}
			emu.minute_secs = (int)v;
			break;
		case 'v': verbose++; break;
		case 'V': printf(EMU_PROG " %s\n", IST_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	ist_log_set_level(IST_LOG_INFO + verbose);

	colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof(host) ||
	    ist_num_parse_long(colon + 1, 0, 65535, &port) != 0) {
		ist_error("--listen %s: want HOST:PORT", listen);
		goto out;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (host[0] == '[') { /* [::1]:0 */
		size_t hl = strlen(host);

		if (hl < 3 || host[hl - 1] != ']') {
			ist_error("--listen %s: want HOST:PORT", listen);
			goto out;
		}
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	if (!emu.plain && (!cert || !key)) {
		ist_error("TLS needs --tls-cert and --tls-key "
		    "(or use --plain)");
		goto out;
	}
	if (!emu.n_creds)
		ist_info("no credentials given: any access key is accepted"
		    " (signatures are not verified)");

	lws_set_log_level(verbose >= 3 ? LLL_ERR | LLL_WARN | LLL_NOTICE :
	    verbose >= 1 ? LLL_ERR | LLL_WARN : LLL_ERR, lws_log_emit);

	memset(protocols, 0, sizeof(protocols));
	protocols[0] = emu_conn_protocol;

	memset(&info, 0, sizeof(info));
	info.port = (int)port;
	info.iface = host[0] ? host : NULL;
	info.protocols = protocols;
	info.user = &emu;
	info.vhost_name = "default";
	/* Every connection is a raw socket of conn.c (TLS still done by
	 * lws): HTTP and WebSocket are ours. */
	info.options |= LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = emu_conn_protocol.name;
	/* The read buffer: big reads for the bulk path. */
	info.pt_serv_buf_size = 128 * 1024;
	info.server_string = EMU_PROG;
	if (!emu.plain) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cert;
		info.ssl_private_key_filepath = key;
		/* Without this curl and botocore may pick h2, where custom
		 * headers such as X-Amz-Target are not readable. */
		info.alpn = "http/1.1";
	}
	emu.ctx = lws_create_context(&info);
	if (!emu.ctx) {
		ist_error("cannot start the server on %s (address in use,"
		    " or a bad certificate or key?)", listen);
		goto out;
	}
	emu.vh = lws_get_vhost_by_name(emu.ctx, "default");
	if (!emu.vh || lws_get_vhost_listen_port(emu.vh) <= 0) {
		ist_error("cannot listen on %s", listen);
		goto out;
	}

	if (mqtt && emu_mqtt_start(emu.ctx, mqtt, &emu.mqtt, &err) != 0) {
		ist_error("--mqtt %s: %s", mqtt, err.msg);
		goto out;
	}

	sig_ctx = emu.ctx;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);

	/* The one line tests and scripts wait for. */
	v6 = strchr(host, ':') != NULL;
	printf("listening %s://%s%s%s:%d\n", emu.plain ? "http" : "https",
	    v6 ? "[" : "", host[0] ? host : "0.0.0.0", v6 ? "]" : "",
	    lws_get_vhost_listen_port(emu.vh));
	fflush(stdout);
	ist_info("serving region %s, account %s%s", emu.region, emu.account,
	    emu.admin ? ", fault injection on" : "");

	while (!stop && lws_service(emu.ctx, 0) >= 0)
		;
	ist_info("stopping");
	rc = 0;
out:
	/* Tunnels first: their timers live in the context, and the
	 * connections' CLOSED callbacks then find no tunnel to touch. */
	emu_tunnel_free_all(&emu);
	/* Before the context: its retry timer lives there. */
	emu_mqtt_stop(emu.mqtt);
	if (emu.ctx) {
		lws_context_destroy(emu.ctx);
		sig_ctx = NULL;
	}
	for (i = 0; i < emu.n_creds; i++) {
		free(emu.creds[i].akid);
		if (emu.creds[i].secret) {
			OPENSSL_cleanse(emu.creds[i].secret,
			    strlen(emu.creds[i].secret));
			free(emu.creds[i].secret);
		}
		free(emu.creds[i].session_token);
	}
	free(emu.creds);
	return rc;
}
