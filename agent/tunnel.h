/*
 * tunnel.h: one destination tunnel of iot-tunnel-agent: its WebSocket
 * (ist_ws, reconnecting with its client token) and one local TCP
 * connection per tunnel connection (STREAM_START / CONNECTION_START), all
 * in the agent's single lws loop.
 *
 * Local connections are lws raw client sockets ("RAW" method). Memory is
 * bounded per connection: 1 MiB queued toward the local service (the
 * WebSocket pauses above 256 KiB on any connection), and what the session
 * could not take from the local socket (that socket pauses meanwhile).
 */
#ifndef AGENT_TUNNEL_H
#define AGENT_TUNNEL_H

#include <stdint.h>

#include <libwebsockets.h>

#include "ist/aws.h"
#include "ist/ist.h"

#define AGENT_MAX_SERVICES 8

/* --service NAME=HOST:PORT */
struct agent_service {
	char name[129];
	char host[256];
	int port;
};

struct agent_tunnel;

/* The tunnel ended (code as ist_ws on_end); t may be freed from here. */
typedef void (*agent_tunnel_end_fn)(struct agent_tunnel *t, int code,
    const struct ist_err *e, void *ud);

/* The lws vhost (no HTTP proxy) local connections are made on; the agent
 * creates it with agent_local_protocol. */
#define AGENT_LOCAL_VHOST "local"

/* The lws protocol entry "ist-local", for ist_ws_context_options. */
extern const struct lws_protocols agent_local_protocol;

/*
 * Joins the tunnel as destination with token (copied, wiped at free).
 * name labels the logs (never the token).
 */
int agent_tunnel_new(struct agent_tunnel **out, struct lws_context *ctx,
    const char *name, const struct ist_endpoint *ep, const char *token,
    const struct agent_service *svcs, size_t nsvcs, agent_tunnel_end_fn fn,
    void *ud, struct ist_err *e);
/* Closes every local connection and the WebSocket; NULL is fine. */
void agent_tunnel_free(struct agent_tunnel *t);
/* Closes the WebSocket normally (end callback with 0 follows). */
void agent_tunnel_close(struct agent_tunnel *t);
const char *agent_tunnel_name(const struct agent_tunnel *t);

/*
 * Parses "HOST[:PORT]", "[V6]:PORT" or a bare IPv6 address into host;
 * *port is set only when a port is given.
 */
int agent_parse_hostport(const char *s, char *host, size_t hostlen,
    int *port, struct ist_err *e);

/* Parses "NAME=HOST:PORT" ("[v6]:PORT" too). */
int agent_service_parse(const char *arg, struct agent_service *out,
    struct ist_err *e);

#endif
