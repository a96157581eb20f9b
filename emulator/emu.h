/*
 * emu.h: iot-tunnel-emulator internals, shared by its modules only.
 *
 * One lws context, one vhost, one thread (plus libmosquitto's network
 * thread, which only ever touches its own handle). Every struct below is
 * owned by the lws thread.
 *
 *   main.c    options, context, loop, signals
 *   http.c    protocols[0]: API requests (POST /), admin, upgrade checks
 *   api.c     the five operations, SigV4 verification, AWS error shapes
 *   tunnel.c  tunnel table, tokens, expiry
 *   relay.c   data plane: WebSocket sessions, frame checks, relaying
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

#define EMU_PROG "iot-tunnel-emulator"
#define EMU_MAX_REQ_BODY (512u * 1024u)	/* API request body cap */
#define EMU_MAX_HANDSHAKE 4096u		/* data-plane request cap */
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
};

/* Does a fault limited to operation op ("" any) apply to X-Amz-Target? */
bool emu_fault_applies(const char *op, const char *target);

/* One outgoing WebSocket message (binary tunnel frames, or text). */
struct emu_qent {
	struct emu_qent *next;
	size_t len, cap;
	bool text;
	uint8_t *buf; /* LWS_PRE + cap bytes; data at buf + LWS_PRE */
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

struct emu_conn;

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

/* A handshake accepted in CONFIRM_UPGRADE, waiting for ESTABLISHED. */
struct emu_pending {
	struct lws *wsi;
	struct emu_tunnel *t;
	enum emu_side side;
	char channel_id[37];
	char client_token[129];
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
	struct emu_pending pending;
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

/* api.c: fills *status and *body (malloc'd JSON) for one API request. */
struct emu_req {
	const char *target;   /* X-Amz-Target, or NULL */
	const char *auth;     /* Authorization, or NULL */
	const char *amz_date; /* X-Amz-Date, or NULL */
	const char *sec_token; /* X-Amz-Security-Token, or NULL */
	const struct ist_header *headers; /* the signed ones, lowercase */
	size_t n_headers;
	const char *method;
	const char *path;
	const char *query;
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

/* http.c */
extern const struct lws_protocols emu_http_protocol;

/* relay.c */
extern const struct lws_protocols emu_ws_protocols[3];
/* Closes the side's WebSocket (if any) with a close frame or abruptly. */
void emu_relay_drop(struct emu_tunnel *t, enum emu_side side, bool abrupt,
    int status, const char *why);
/* The side's connection leaves the tunnel now, and is closed. */
void emu_relay_retire(struct emu_tunnel *t, enum emu_side side, int status,
    const char *why);
/* Called when a tunnel goes away: detach connections from it. */
void emu_relay_detach(struct emu_tunnel *t);
/* Queues a raw WebSocket message for a side (fault injection). */
int emu_relay_inject(struct emu_tunnel *t, enum emu_side side,
    const uint8_t *data, size_t len, bool text);
void emu_relay_kick(struct emu_tunnel *t);
void emu_queue_clear(struct emu_queue *q);
/* Upgrade checks (http.c calls this from HTTP_CONFIRM_UPGRADE). */
int emu_relay_confirm_upgrade(struct emu *emu, struct lws *wsi);

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
