/*
 * mqtt.c: publishes destination access tokens the way AWS IoT does, to
 * $aws/things/{thing}/tunnels/notify (QoS 1), PROTOCOL.md section 1.
 *
 * libmosquitto runs its network loop in its own thread
 * (mosquitto_loop_start); the lws thread only calls mosquitto_publish,
 * which libmosquitto makes thread-safe. The one piece of state both
 * threads touch, "connected", is guarded by a mutex.
 *
 * libmosquitto 2.0.11's thread reconnects after a lost connection, but
 * not when the very first connect failed (seen here: a broker started
 * later was never reached). So the first connect is retried from an lws
 * timer, and the thread starts once a connect got under way.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "emu.h"
#include "ist/num.h"

#define CONNECT_WAIT_SECS 5
#define MAX_HELD 64 /* notifications kept while the broker is away */

/* A notification waiting for the broker. */
struct held {
	struct held *next;
	char *topic;
	char *payload; /* holds a token: cleared before it is freed */
};

struct emu_mqtt {
	struct mosquitto *mosq;
	struct lws_context *ctx;
	lws_sorted_usec_list_t retry_sul;
	int retry_secs;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool connected;
	bool loop_started;
	struct held *held; /* guarded by lock */
	size_t n_held;
	char host[256];
	int port;
};

static void
free_held(struct held *h)
{
	struct held *next;

	for (; h; h = next) {
		next = h->next;
		if (h->payload) {
			memset(h->payload, 0, strlen(h->payload));
			free(h->payload);
		}
		free(h->topic);
		free(h);
	}
}

/*
 * Runs in libmosquitto's thread. Publishes what waited for the broker.
 * ist_log is not thread-safe in general, but only writes one line with
 * one fprintf, which is.
 */
static void
on_connect(struct mosquitto *mosq, void *ud, int rc)
{
	struct emu_mqtt *m = ud;
	struct held *h, *held;
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	m->connected = rc == 0;
	held = rc == 0 ? m->held : NULL;
	if (rc == 0) {
		m->held = NULL;
		m->n_held = 0;
	}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (rc != 0) {
		ist_error("MQTT: %s:%d refused the connection: %s", m->host,
		    m->port, mosquitto_connack_string(rc));
		return;
	}
	ist_verbose("MQTT: connected to %s:%d", m->host, m->port);
	for (h = held; h; h = h->next) {
		if (mosquitto_publish(mosq, NULL, h->topic,
		    (int)strlen(h->payload), h->payload, 1, false) ==
		    MOSQ_ERR_SUCCESS)
			n++;
	}
	if (held)
		ist_info("MQTT: published %zu held notification%s", n,
		    n == 1 ? "" : "s");
	free_held(held);
}

static void
on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
	struct emu_mqtt *m = ud;

	(void)mosq;
	pthread_mutex_lock(&m->lock);
	m->connected = false;
	pthread_mutex_unlock(&m->lock);
	if (rc != 0)
		ist_error("MQTT: lost %s:%d; reconnecting", m->host, m->port);
}

/* Starts a connect, and the network thread once one is under way. */
static int
try_connect(struct emu_mqtt *m)
{
	int rc = mosquitto_connect_async(m->mosq, m->host, m->port, 30);

	if (rc != MOSQ_ERR_SUCCESS)
		return -1;
	if (!m->loop_started) {
		rc = mosquitto_loop_start(m->mosq);
		if (rc != MOSQ_ERR_SUCCESS) {
			ist_error("MQTT: mosquitto_loop_start: %s",
			    mosquitto_strerror(rc));
			return -1;
		}
		m->loop_started = true;
	}
	return 0;
}

static void
on_retry(lws_sorted_usec_list_t *sul)
{
	struct emu_mqtt *m = lws_container_of(sul, struct emu_mqtt,
	    retry_sul);

	if (try_connect(m) == 0) {
		ist_verbose("MQTT: connecting to %s:%d", m->host, m->port);
		return;
	}
	if (m->retry_secs < 10)
		m->retry_secs *= 2;
	lws_sul_schedule(m->ctx, 0, &m->retry_sul, on_retry,
	    (lws_usec_t)m->retry_secs * LWS_US_PER_SEC);
}

int
emu_mqtt_start(struct lws_context *ctx, const char *hostport,
    struct emu_mqtt **out, struct ist_err *e)
{
	struct emu_mqtt *m = NULL;
	const char *colon = strrchr(hostport, ':');
	struct timespec until;
	char id[64];
	long port;
	int r = IST_ERR_CONFIG;

	*out = NULL;
	if (!colon || colon == hostport ||
	    (size_t)(colon - hostport) >= sizeof(m->host)) {
		return ist_err_set(e, IST_ERR_CONFIG, "want HOST:PORT");
	}
	if (ist_num_parse_long(colon + 1, 1, 65535, &port) < 0)
		return ist_err_set(e, IST_ERR_CONFIG, "bad port");
	m = calloc(1, sizeof(*m));
	if (!m)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	memcpy(m->host, hostport, (size_t)(colon - hostport));
	m->port = (int)port;
	m->ctx = ctx;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);

	mosquitto_lib_init();
	snprintf(id, sizeof(id), "iot-tunnel-emulator-%ld", (long)getpid());
	m->mosq = mosquitto_new(id, true, m);
	if (!m->mosq) {
		r = ist_err_set(e, IST_ERR_NOMEM, "mosquitto_new failed");
		goto fail;
	}
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_reconnect_delay_set(m->mosq, 1, 10, true);
	if (try_connect(m) != 0) {
		ist_error("MQTT: cannot reach %s:%d yet; retrying", m->host,
		    m->port);
		m->retry_secs = 1;
		lws_sul_schedule(m->ctx, 0, &m->retry_sul, on_retry,
		    LWS_US_PER_SEC);
		*out = m;
		return 0;
	}

	/* Give the broker a moment, so that the first OpenTunnel is not
	 * published into a connection still being made. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CONNECT_WAIT_SECS;
	pthread_mutex_lock(&m->lock);
	while (!m->connected &&
	    pthread_cond_timedwait(&m->cond, &m->lock, &until) == 0)
		;
	if (!m->connected)
		ist_error("MQTT: not connected to %s:%d yet; notifications "
		    "wait for the connection", m->host, m->port);
	pthread_mutex_unlock(&m->lock);
	*out = m;
	return 0;
fail:
	emu_mqtt_stop(m);
	return r;
}

void
emu_mqtt_stop(struct emu_mqtt *m)
{
	if (!m)
		return;
	lws_sul_cancel(&m->retry_sul);
	if (m->mosq) {
		mosquitto_disconnect(m->mosq);
		if (m->loop_started)
			mosquitto_loop_stop(m->mosq, false);
		mosquitto_destroy(m->mosq);
	}
	mosquitto_lib_cleanup();
	free_held(m->held);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* Keeps a notification for on_connect; takes payload on success. */
static int
hold(struct emu_mqtt *m, const char *topic, char *payload)
{
	struct held *h, **pp;
	bool connected;

	h = calloc(1, sizeof(*h));
	if (!h || !(h->topic = strdup(topic))) {
		free(h);
		return IST_ERR_NOMEM;
	}
	pthread_mutex_lock(&m->lock);
	connected = m->connected;
	if (!connected && m->n_held < MAX_HELD) {
		h->payload = payload;
		for (pp = &m->held; *pp; pp = &(*pp)->next)
			;
		*pp = h;
		m->n_held++;
		h = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	if (h) {
		free(h->topic);
		free(h);
		/* Connected meanwhile: publish it now instead. */
		return connected ? IST_ERR_AGAIN : IST_ERR_TOOBIG;
	}
	return 0;
}

int
emu_mqtt_notify(struct emu *emu, struct emu_tunnel *t)
{
	struct emu_mqtt *m = emu->mqtt;
	char topic[256];
	cJSON *o = NULL, *svcs;
	char *payload = NULL;
	size_t i;
	int mid = 0, rc, r = IST_ERR_NOMEM;

	if (!m || !t->thing || !t->side[EMU_DEST].token)
		return 0;
	snprintf(topic, sizeof(topic), "$aws/things/%s/tunnels/notify",
	    t->thing);
	o = cJSON_CreateObject();
	if (!o)
		goto out;
	cJSON_AddStringToObject(o, "clientAccessToken",
	    t->side[EMU_DEST].token);
	cJSON_AddStringToObject(o, "clientMode", "destination");
	cJSON_AddStringToObject(o, "region", emu->region);
	svcs = cJSON_AddArrayToObject(o, "services");
	for (i = 0; svcs && i < t->n_services; i++)
		cJSON_AddItemToArray(svcs, cJSON_CreateString(t->services[i]));
	payload = cJSON_PrintUnformatted(o);
	if (!payload)
		goto out;
	rc = mosquitto_publish(m->mosq, &mid, topic, (int)strlen(payload),
	    payload, 1, false);
	if (rc == MOSQ_ERR_SUCCESS) {
		ist_info("tunnel %s: destination token published to %s",
		    t->id, topic);
		r = 0;
		goto out;
	}
	/* No broker now: keep it for the next connection (bounded). */
	r = hold(m, topic, payload);
	if (r == 0)
		payload = NULL; /* hold took it */
	if (r == IST_ERR_AGAIN) {
		rc = mosquitto_publish(m->mosq, &mid, topic,
		    (int)strlen(payload), payload, 1, false);
		r = rc == MOSQ_ERR_SUCCESS ? 0 : IST_ERR_NET;
	}
	if (r == 0 && !payload) {
		ist_error("tunnel %s: MQTT broker not connected (%s); the "
		    "notification to %s waits for it", t->id,
		    mosquitto_strerror(rc), topic);
	} else if (r == 0) {
		ist_info("tunnel %s: destination token published to %s",
		    t->id, topic);
	} else {
		ist_error("tunnel %s: MQTT publish to %s failed: %s", t->id,
		    topic, mosquitto_strerror(rc));
	}
out:
	if (payload) {
		memset(payload, 0, strlen(payload));
		free(payload);
	}
	cJSON_Delete(o);
	return r;
}
