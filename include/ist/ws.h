/*
 * ws.h: the client side of one tunnel WebSocket, shared by iot-ssh-proxy
 * (source) and iot-tunnel-agent (destination). The WebSocket protocol is
 * ours (ist/wsframe.h, ist/wshandshake.h); libwebsockets carries the
 * bytes (loop, name lookup, TCP, timers) and OpenSSL does TLS.
 *
 * An ist_ws owns one wss connection to the tunnel service's data plane and
 * the struct ist_session that speaks the tunnel protocol over it. The
 * program owns the lws context (made with ist_ws_context_new() so that
 * TLS, proxy and buffer sizes are right) and the event loop; it adds its
 * own protocols (stdio, local raw sockets) to the same context.
 *
 * Handshake (docs/protocol.md section 2.1): access-token and client-token
 * headers, subprotocol aws.iot.securetunneling-3.0 checked in the reply, channel-id kept for
 * the logs. A refused handshake is retried with backoff on 5xx and network
 * failures (same client token, an unanswered handshake ends after 20 s),
 * never on 4xx, a wrong subprotocol or an answer that is not HTTP/1.1.
 * Frames and messages from the service are limited to IST_MAX_WS_MESSAGE
 * bytes; anything over it, or any WebSocket fault, ends the session with
 * IST_ERR_PROTO and a message naming it.
 *
 * Every callback runs on the loop thread. Secrets given in the options are
 * copied and wiped at ist_ws_free(); they are never logged.
 */
#ifndef IST_WS_H
#define IST_WS_H

#include <stdbool.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "ist/ist.h"
#include "ist/session.h"

#define IST_WS_SUBPROTOCOL "aws.iot.securetunneling-3.0"

struct ist_ws;

struct ist_ws_context_options {
	/* PEM CA bundle to trust instead of the OS store, or NULL. */
	const char *ca_file;
	/* HTTP CONNECT proxy "[user:pass@]host:port" (no scheme), as
	 * ist_aws_proxy_for() gives it, or NULL. The CONNECT is ours
	 * (lws 4.1.6 cannot do it for a raw connection). */
	const char *http_proxy;
	/* The program's own protocols, ended by a zeroed entry, or NULL.
	 * Must outlive the context. */
	const struct lws_protocols *protocols;
	/* Returned by ist_ws_context_user(). */
	void *user;
};

/*
 * Makes a client-only lws context (pt_serv_buf_size 65536: raw reads of
 * up to 64 KiB), the tunnel's raw protocol as protocols[0] then the
 * program's, and the TLS client context (the system's CAs plus ca_file,
 * TLS 1.2 or later, ALPN http/1.1). Unsets the lowercase http_proxy
 * variable, which lws would otherwise apply by itself to every client
 * connection (docs/libwebsockets.md).
 */
int ist_ws_context_new(struct lws_context **out,
    const struct ist_ws_context_options *o, struct ist_err *e);
/* Destroys the context (closing every wsi) and frees what it owned. */
void ist_ws_context_free(struct lws_context *ctx);
void *ist_ws_context_user(struct lws_context *ctx);

struct ist_ws_options {
	/* The data plane (see ist_aws_data_endpoint()): a name or an
	 * address (IPv6 without brackets), a port, and whether to use TLS
	 * (always, except a ws:// override for tests). */
	const char *host;
	int port;
	bool tls;
	enum ist_role role;
	enum ist_format format;	/* source: the format to send */
	int32_t last_stream_id;	/* source: see ist_session_options */
	const char *access_token;	/* copied, wiped at free */
	const char *client_token;	/* NULL: a random one is made */
	/* Handshake attempts on 5xx or network failure; 0 means 4. */
	int max_attempts;
	/* After a dropped connection, connect again (same client token,
	 * backoff) instead of ending; see ist_ws_set_reconnect(). */
	bool reconnect;
};

struct ist_ws_callbacks {
	/* Given to each session with the ist_ws ud; ist_ws_session() is the
	 * session they are called for. */
	struct ist_session_callbacks session;
	/* Handshake done; a fresh session is ready. */
	void (*on_open)(struct ist_ws *ws, const char *channel_id, void *ud);
	/* The connection dropped and ist_ws is connecting again (reconnect
	 * only): every tunnel connection of the old session is gone. */
	void (*on_drop)(struct ist_ws *ws, const struct ist_err *e, void *ud);
	/* Output was written: ist_session_send_room() may have grown. */
	void (*on_writable)(struct ist_ws *ws, void *ud);
	/*
	 * The end. code 0: closed by us (ist_ws_close); IST_ERR_CLOSED: the
	 * service closed the WebSocket (tunnel closed or expired); any other
	 * code (IST_ERR_NET, IST_ERR_TLS, IST_ERR_PROTO, ...) with e saying
	 * why. The ws may be freed from inside this callback.
	 */
	void (*on_end)(struct ist_ws *ws, int code, const struct ist_err *e,
	    void *ud);
};

/* Starts connecting. Callbacks come from the loop. */
int ist_ws_new(struct ist_ws **out, struct lws_context *ctx,
    const struct ist_ws_options *o, const struct ist_ws_callbacks *cb,
    void *ud, struct ist_err *e);
/* Closes without callbacks and frees; NULL is fine. */
void ist_ws_free(struct ist_ws *ws);

/* The current session, NULL before the first handshake. */
struct ist_session *ist_ws_session(struct ist_ws *ws);
/* True between on_open and the end or a drop. */
bool ist_ws_is_open(const struct ist_ws *ws);
/* The channel-id header of the last handshake ("" if none). */
const char *ist_ws_channel_id(const struct ist_ws *ws);

/* Asks for a write: call after queuing into the session. */
void ist_ws_flush(struct ist_ws *ws);
/*
 * Stops or restarts reading from the WebSocket (back-pressure). Safe from
 * any callback, including one inside the session's on_data: no more
 * messages are handed over once it returns (the rest of what was read
 * waits in ist_ws), and the socket stops being read.
 */
void ist_ws_pause_rx(struct ist_ws *ws, bool pause);
/* Turns reconnecting after a drop on or off (a source may reconnect
 * only while no stream has started: an SSH byte stream cannot resume). */
void ist_ws_set_reconnect(struct ist_ws *ws, bool on);
/* Sends pending output, then a normal close; on_end(0) follows. */
void ist_ws_close(struct ist_ws *ws);

/*
 * Reads a tunnel access token: from path ("-" is stdin), or when path is
 * NULL from AWSIOT_TUNNEL_ACCESS_TOKEN. Surrounding white space is
 * dropped. *out is malloc'd; wipe it (OPENSSL_cleanse) and free it.
 * IST_ERR_CONFIG when there is none, it is empty or not one line of
 * printable ASCII; IST_ERR_IO when the file cannot be read.
 */
int ist_ws_read_token(const char *path, char **out, struct ist_err *e);

/*
 * Wipes and unsets AWSIOT_TUNNEL_ACCESS_TOKEN, so that no child (hooks,
 * credential_process) inherits it and /proc no longer shows it: call it
 * once the token is read, before anything can start a child.
 */
void ist_ws_forget_env_token(void);

#endif
