/*
 * emu.h: iot-tunnel-emulator internals, shared by its modules only.
 *
 * One lws context, one vhost, one thread (plus libmosquitto's network
 * thread, which only ever touches its own handle). Every struct below is
 * owned by the lws thread. lws is the transport only: its vhost hands
 * every accepted connection (TLS or not) to conn.c as a raw socket, and
 * the HTTP and WebSocket protocols are ours (libist's wsframe and
 * wshandshake codecs).
 *
 *   main.c    options, context, loop, signals
 *   conn.c    the one lws protocol: a connection's reads and writes
 *   http.c    HTTP/1.1 requests: API, admin, keep-alive, upgrade routing
 *   api.c     the operations, SigV4 verification, AWS error shapes
 *   tunnel.c  tunnel table, tokens, expiry
 *   relay.c   data plane: handshake checks, WebSocket frames, relaying
 *   mqtt.c    MQTT notify of destination tokens
 *   admin.c   fault injection
 */
#ifndef EMU_H
#define EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <libwebsockets.h>

#include "ist/frame.h"
#include "ist/ist.h"
#include "ist/sigv4.h"
#include "ist/wsframe.h"

#define EMU_PROG "iot-tunnel-emulator"
#define EMU_MAX_REQ_BODY (512u * 1024u)	/* API request body cap */
#define EMU_MAX_HANDSHAKE 4096u		/* data-plane request cap */
#define EMU_MAX_HEAD 16384u		/* any request head (line + headers) */
#define EMU_MAX_HEADERS 64u		/* header lines per request */
#define EMU_TOKEN_RAND 384u		/* random bytes per access token */
#define EMU_QUEUE_PAUSE 8u		/* pause a sender at this depth */
#define EMU_QUEUE_RESUME 4u		/* resume it below this one */
#define EMU_QUEUE_ENTRY_MAX 65536u	/* coalesce frames up to this */
#define EMU_QUEUE_SPARES 4u		/* emptied entries kept per queue */

enum emu_side {
	EMU_SOURCE = 0,
	EMU_DEST = 1,
};

struct emu_cred {
	char *akid;
	char *secret;
	char *session_token; /* NULL: none */
	double expires;	     /* emu_now() after which it is refused; 0 never */
};

/* Fault-injection state; admin.c sets it, the planes consume it. */
struct emu_faults {
	int fail_count;		/* next API calls to fail */
	int fail_status;	/* 500 or 400 */
	char fail_type[64];	/* __type of the failure */
	int delay_count;	/* next API answers to delay (-1: all) */
	int delay_ms;
	char fail_op[64];	/* only this operation; "" any */
	char delay_op[64];
	int hs_fail_count;	/* next data-plane handshakes to refuse */
	int hs_fail_status;	/* with this HTTP status */
	int hs_fail_side;	/* only this enum emu_side; -1 any */
	int ids_hold_count;	/* next connections sent no SERVICE_IDS */
	int ids_hold_side;	/* only this enum emu_side; -1 any */
};

/* Does a fault limited to operation op ("" any) apply to X-Amz-Target? */
bool emu_fault_applies(const char *op, const char *target);

enum emu_qkind {
	EMU_Q_BINARY = 0, /* a binary message of tunnel frames */
	EMU_Q_TEXT = 1,	  /* a text message (fault injection) */
	EMU_Q_RAW = 2,	  /* bytes sent as they are (fault injection) */
};

/* Room before a queued message for its WebSocket frame header, so that
 * header and payload go out in one write. */
#define EMU_QHEAD IST_WSFRAME_MAX_HEADER

/* One outgoing WebSocket message. */
struct emu_qent {
	struct emu_qent *next;
	size_t len, cap;
	enum emu_qkind kind;
	uint8_t *buf; /* EMU_QHEAD + cap bytes; data at buf + EMU_QHEAD */
};

struct emu_queue {
	struct emu_qent *head, *tail;
	size_t n;
	size_t bytes;
	struct emu_qent *spare; /* emptied entries kept for reuse */
	size_t n_spare;
};

struct emu_active {
	char service[IST_MAX_SERVICE_ID + 1]; /* "" in the V1 format */
	int32_t stream_id;		       /* 0: slot unused */
};

enum emu_conn_phase {
	EMU_CONN_HTTP = 0, /* reading HTTP requests */
	EMU_CONN_WS,	   /* an accepted data-plane WebSocket */
	EMU_CONN_DONE,	   /* writing what is left, then closing */
};

/* A client connection: lws's per-session data of conn.c's protocol. */
struct emu_conn {
	struct emu *emu;
	struct lws *wsi;
	enum emu_conn_phase phase;
	/* HTTP (http.c): request bytes not handled yet, and the answer */
	uint8_t *in;
	size_t in_len, in_cap;
	size_t scanned;	 /* bytes of in searched for the head's end */
	char *out;	 /* an answer (or 101) to write whole, or NULL */
	size_t out_len;
	bool busy;	 /* an answer is pending: no next request yet */
	bool close_after; /* close once out is written */
	bool continued;	 /* "100 Continue" sent for this request */
	bool delayed;	 /* the answer waits for delay_sul */
	lws_sorted_usec_list_t delay_sul;
	/* data plane (relay.c) */
	struct emu_tunnel *t; /* NULL: not, or no longer, in a tunnel */
	enum emu_side side;
	int version; /* 1, 2 or 3, from the subprotocol */
	char channel_id[37];
	struct ist_wsframe_decoder *wsd;
	struct ist_frame_decoder *dec;
	/* Frames for the other side's queue, gathered here first: the
	 * checked ones (asm_e->len bytes), then fr_have bytes of the next. */
	struct emu_qent *asm_e;
	size_t fr_have;
	bool closing;	/* a close frame is due, or sent */
	bool close_sent;
	bool abrupt;	/* no close frame: just drop the connection */
	uint16_t close_status;
	char close_reason[IST_WSFRAME_MAX_REASON + 1];
	uint8_t pong[IST_WSFRAME_MAX_CONTROL];
	size_t pong_len;
	bool pong_due;
	bool want_paused, paused;
	lws_sorted_usec_list_t flow_sul;
	lws_sorted_usec_list_t kick_sul;
	lws_sorted_usec_list_t close_sul;
};

struct emu_tside {
	char *token;	       /* current access token; never logged */
	bool spent;	       /* used by a handshake without client token */
	char client_token[129]; /* bound by the first handshake, "" none */
	struct emu_conn *conn; /* connected client, or NULL */
	double state_at;       /* connection state lastUpdatedAt */
	struct emu_queue q;    /* messages waiting to go to this side */
	bool sender_paused;    /* the other side is paused because of q */
	/* Handshakes refused by fault injection since the last accepted
	 * one, and the client token of the last of them (never logged:
	 * only compared, so that tests see a retry keep its token). */
	int hs_refused;
	char hs_client_token[129];
};

struct emu_tunnel {
	struct emu_tunnel *next;
	struct emu *emu;
	uint64_t seq;
	char id[40];
	char *arn;
	bool open;
	char *description; /* NULL: none */
	char *thing;	   /* NULL: none */
	char *services[IST_MAX_SERVICES];
	size_t n_services;
	bool has_dest_config;
	int timeout_min;
	cJSON *tags; /* array of {key,value}, or NULL */
	double created_at, updated_at;
	struct emu_tside side[2];
	struct emu_active active[IST_MAX_SERVICES + 1];
	lws_sorted_usec_list_t expiry_sul;
	/* faults */
	int64_t stall_until; /* lws_now_usecs() */
	uint64_t bw_bps;     /* 0: uncapped */
	double bw_budget;
	int64_t bw_at;
};

struct emu {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	const char *region;
	const char *account;
	struct emu_cred *creds;
	size_t n_creds;
	int max_open;
	int minute_secs; /* a lifetime minute lasts this long (60) */
	bool admin;
	bool plain;
	struct emu_tunnel *tunnels;
	uint64_t next_seq;
	struct emu_faults faults;
	struct emu_mqtt *mqtt; /* NULL without --mqtt */
	struct emu_sso *sso;   /* SSO tokens (sso.c) */
};

/* util (main.c) */
double emu_now(void);
int emu_random_b64url(char *out, size_t outsz, size_t nbytes);
void emu_uuid(char out[37]);
bool emu_is_loopback(struct lws *wsi);

/* tunnel.c */
int emu_tunnel_new(struct emu *emu, struct emu_tunnel **out);
/* Starts the lifetime timer; call once timeout_min is final. */
void emu_tunnel_arm(struct emu_tunnel *t);
struct emu_tunnel *emu_tunnel_find(struct emu *emu, const char *id);
/* Finds the tunnel and side owning an access token (constant-time). */
struct emu_tunnel *emu_tunnel_by_token(struct emu *emu, const char *token,
    enum emu_side *side);
int emu_tunnel_rotate(struct emu_tunnel *t, enum emu_side side);
void emu_tunnel_close(struct emu_tunnel *t, const char *why);
/* What the lifetime timer does, now (fault injection). */
void emu_tunnel_expire(struct emu_tunnel *t);
void emu_tunnel_delete(struct emu_tunnel *t);
void emu_tunnel_free_all(struct emu *emu);
size_t emu_tunnel_count_open(struct emu *emu);
void emu_tunnel_touch(struct emu_tunnel *t);
const char *emu_side_name(enum emu_side side);

/*
 * api.c: fills *status, *body (malloc'd) and *content_type (preset to
 * "application/x-amz-json-1.1"; the handler may point it at another
 * static string) for one request: http.c sends it every request that is
 * neither admin nor a WebSocket upgrade, any method, any path.
 */
struct emu_req {
	const char *target;   /* X-Amz-Target, or NULL */
	const char *auth;     /* Authorization, or NULL */
	const char *amz_date; /* X-Amz-Date, or NULL */
	const char *sec_token; /* X-Amz-Security-Token, or NULL */
	/* Every request header, in order: names lowercase, values trimmed
	 * (a repeated header appears as often as it was sent). */
	const struct ist_header *headers;
	size_t n_headers;
	const char *method;
	const char *path;  /* without the query */
	const char *query; /* raw, without '?'; "" when none */
	const uint8_t *body;
	size_t body_len;
};
/*
 * Every API request (any method and path but /admin/ and /tunnel).
 * *content_type is preset to "application/x-amz-json-1.1"; set to
 * another static string where AWS answers otherwise (STS: text/xml).
 */
void emu_api_handle(struct emu *emu, const struct emu_req *r, int *status,
    char **body, const char **content_type);
/* A SigV4 failure: AWS's error type and message. */
struct emu_sigerr {
	char type[64];
	char msg[600];
};
int emu_api_verify(struct emu *emu, const struct emu_req *r,
    const char *service, const char *display, int *status,
    struct emu_sigerr *se, const struct emu_cred **cred);
/* A header of r by lowercase name, or NULL. */
const char *emu_req_header(const struct emu_req *r, const char *name);

/* sts.c: STS AssumeRole and AssumeRoleWithWebIdentity (query protocol). */
bool emu_sts_wants(const struct emu_req *r);
void emu_sts_handle(struct emu *emu, const struct emu_req *r, int *status,
    char **body, const char **content_type);
/* Issues temporary credentials the tunnel API accepts until expiry. */
int emu_sts_issue(struct emu *emu, long seconds, const struct emu_cred **out);

/* sso.c: the SSO portal's GetRoleCredentials and SSO-OIDC CreateToken. */
bool emu_sso_wants(const struct emu_req *r);
void emu_sso_handle(struct emu *emu, const struct emu_req *r, int *status,
    char **body, const char **content_type);
/* admin "sso-token": registers a token as "aws sso login" would get. */
char *emu_sso_admin(struct emu *emu, const cJSON *in, int *status);
/* A JSON error body {"__type","message"}; malloc'd or NULL. */
char *emu_api_error(const char *type, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* conn.c */
extern const struct lws_protocols emu_conn_protocol;
/* Asks for a WRITEABLE callback of c (also from inside one: on a
 * raw-skt connection lws 4.1.6 keeps that request, unlike BUG A). */
void emu_conn_want_write(struct emu_conn *c);
/* Writes len bytes on c's connection; 0 or -1 (then close it). */
int emu_conn_write(struct emu_conn *c, uint8_t *buf, size_t len);

/* http.c */
/* Bytes read on a connection in the HTTP phase; -1: close it. */
int emu_http_rx(struct emu_conn *c, const uint8_t *in, size_t len);
/* Writes a pending answer: 1 if it wrote, 0 if none, -1 to close. */
int emu_http_writeable(struct emu_conn *c);
/* Sets the answer c writes next (takes the malloc'd out). */
void emu_http_set_answer(struct emu_conn *c, char *out, size_t len,
    bool close_after);
void emu_http_closed(struct emu_conn *c);
/* Value of a header in a parsed head (lowercase name), or NULL; count
 * (may be NULL) gets how often it appears. */
const char *emu_http_header(const struct ist_header *h, size_t n,
    const char *name, size_t *count);

/* relay.c */
/*
 * A WebSocket upgrade request (head: its bytes, the end CRLFCRLF
 * included): checks it and sets c's answer (101 or a refusal). 0, or -1
 * to close the connection at once.
 */
int emu_relay_handshake(struct emu_conn *c, const uint8_t *head,
    size_t head_len, const struct ist_header *h, size_t n_headers);
/* WebSocket bytes from the client (unmasked in place); -1: close. */
int emu_relay_rx(struct emu_conn *c, uint8_t *in, size_t len);
/* 0 or -1 (close the connection). */
int emu_relay_writeable(struct emu_conn *c);
void emu_relay_closed(struct emu_conn *c);
/* Closes the side's WebSocket (if any) with a close frame or abruptly. */
void emu_relay_drop(struct emu_tunnel *t, enum emu_side side, bool abrupt,
    int status, const char *why);
/* The side's connection leaves the tunnel now, and is closed. */
void emu_relay_retire(struct emu_tunnel *t, enum emu_side side, int status,
    const char *why);
/* Called when a tunnel goes away: detach connections from it. */
void emu_relay_detach(struct emu_tunnel *t);
/* Queues a WebSocket message, or raw bytes, for a side (fault
 * injection). */
int emu_relay_inject(struct emu_tunnel *t, enum emu_side side,
    const uint8_t *data, size_t len, enum emu_qkind kind);
void emu_relay_kick(struct emu_tunnel *t);
void emu_queue_clear(struct emu_queue *q);

/* mqtt.c */
struct emu_mqtt;
/* Needs the lws context: a first connect that fails is retried on a
 * timer. */
int emu_mqtt_start(struct lws_context *ctx, const char *hostport,
    struct emu_mqtt **out, struct ist_err *e);
void emu_mqtt_stop(struct emu_mqtt *m);
/* Publishes the destination token notify for t (QoS 1). */
int emu_mqtt_notify(struct emu *emu, struct emu_tunnel *t);

/* admin.c */
void emu_admin_handle(struct emu *emu, const char *path, const uint8_t *body,
    size_t len, int *status, char **out);

#endif
