/*
 * fuzz_cli.c: the command-line values the programs parse: the agent's
 * --service NAME=HOST:PORT and --mqtt-endpoint HOST[:PORT], the proxy's
 * --tag KEY=VALUE (then the OpenTunnel request they make, checked as the
 * API would), --tunnel-id, numbers (--wait, --timeout, ports), and the
 * endpoint overrides (--api-endpoint, --proxy-endpoint) as ist_aws_new
 * takes them, and an HTTPS_PROXY value (then the CONNECT request made
 * with it). Byte 0 picks which; the rest is the value (NUL-cut), or for
 * tags several lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ist/api.h"
#include "ist/aws.h"
#include "ist/httpproxy.h"
#include "ist/num.h"
#include "tags.h"
#include "tunnel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_tags(char *text)
{
	cJSON *req = cJSON_Parse("{\"destinationConfig\":{\"thingName\":"
	    "\"kiosk\",\"services\":[\"SSH\"]}}");
	cJSON *tags = NULL;
	struct ist_err e;
	char *line, *next = text;

	if (!req)
		return;
	while ((line = next) != NULL) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		ist_err_clear(&e);
		(void)proxy_tag_add(&tags, line, &e);
	}
	if (tags)
		cJSON_AddItemToObject(req, "tags", tags);
	ist_err_clear(&e);
	(void)ist_api_check_open_tunnel(req, &e);
	cJSON_Delete(req);
}

static void
fuzz_endpoint(const char *v, int which)
{
	struct ist_aws_opts o;
	struct ist_aws *a = NULL;
	struct ist_endpoint ep;
	struct ist_err e;

	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	if (which)
		o.proxy_endpoint = v;
	else
		o.api_endpoint = v;
	ist_err_clear(&e);
	if (ist_aws_new(&a, &o, &e) == 0) {
		if (ist_aws_data_endpoint(a, NULL, &ep, &e) == 0 &&
		    (ep.port < 1 || ep.port > 65535))
			abort();
		(void)ist_aws_proxy_for(a, ep.host);
		ist_aws_free(a);
	}
}

static void
fuzz_https_proxy(const char *v)
{
	struct ist_httpproxy px;
	struct ist_err e;
	char req[IST_HTTPPROXY_REQUEST_MAX];
	size_t len = 0;

	memset(&px, 0, sizeof(px));
	if (ist_httpproxy_parse(&px, v, &e) == 0) {
		if (!px.host[0] || px.port < 1 || px.port > 65535 ||
		    strpbrk(px.host, "\r\n") || strpbrk(px.basic, "\r\n"))
			abort();
		/* The request through it must be one head, nothing after. */
		if (ist_httpproxy_connect_request(&px, px.host, px.port, NULL,
		    req, sizeof(req), &len, &e) == 0 &&
		    (len >= sizeof(req) || len < 4 ||
		    memcmp(req + len - 4, "\r\n\r\n", 4) != 0 ||
		    strstr(req, "\r\n\r\n") != req + len - 4))
			abort();
	} else {
		/* The message never depends on the user name and password:
		 * the same value with other letters in their place (the
		 * authority's last '@' stays where it is) fails alike. */
		const char *sep = strstr(v, "://"), *from = sep ? sep + 3 : v;
		size_t auth = strcspn(from, "/?#"), at = 0, i;
		struct ist_err e2;
		char *w;

		for (i = 0; i < auth; i++)
			if (from[i] == '@')
				at = i;
		if (at && (w = strdup(v)) != NULL) {
			memset(w + (from - v), 'u', at);
			ist_err_clear(&e2);
			ist_httpproxy_clear(&px);
			(void)ist_httpproxy_parse(&px, w, &e2);
			if (strcmp(e.msg, e2.msg) != 0)
				abort();
			free(w);
		}
	}
	ist_httpproxy_clear(&px);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct agent_service svc;
	struct ist_err e;
	char host[256];
	char *v;
	long n;
	int port;

	if (!init) {
		/* No shared files, no proxy from the caller's environment. */
		setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
		setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds", 1);
		unsetenv("AWS_ENDPOINT_URL");
		unsetenv("AWS_ENDPOINT_URL_IOTSECURETUNNELING");
		unsetenv("AWSIOT_TUNNEL_ENDPOINT");
		unsetenv("HTTPS_PROXY");
		unsetenv("https_proxy");
		init = 1;
	}
	if (size < 1)
		return 0;
	v = malloc(size);
	if (!v)
		return 0;
	memcpy(v, data + 1, size - 1);
	v[size - 1] = '\0';
	ist_err_clear(&e);
	/* 0xf0 and up: added later, so that the other values keep the
	 * meaning the seeds were made with. */
	if (data[0] >= 0xf0) {
		fuzz_https_proxy(v);
		free(v);
		return 0;
	}
	switch (data[0] % 7) {
	case 0:
		if (agent_service_parse(v, &svc, &e) == 0 &&
		    (svc.port < 1 || svc.port > 65535 || !svc.name[0] ||
		    !svc.host[0]))
			abort();
		break;
	case 1:
		port = 1883;
		if (agent_parse_hostport(v, host, sizeof(host), &port, &e) ==
		    0 && (port < 1 || port > 65535 || !host[0]))
			abort();
		break;
	case 2:
		fuzz_tags(v);
		break;
	case 3:
		if (ist_api_check_tunnel_id("--tunnel-id", v, &e) == 0 &&
		    (strlen(v) > 128 || !*v))
			abort();
		break;
	case 4:
		if (ist_num_parse_long(v, 1, 86400, &n) == 0 &&
		    (n < 1 || n > 86400))
			abort();
		break;
	default:
		fuzz_endpoint(v, data[0] % 7 == 6);
		break;
	}
	free(v);
	return 0;
}
