/*
 * mqtt.c: publishes destination access tokens the way AWS IoT does, to
 * $aws/things/{thing}/tunnels/notify (QoS 1), PROTOCOL.md section 1.
 *
 * libmosquitto runs its network loop in its own thread
 * (mosquitto_loop_start); the lws thread only calls mosquitto_publish,
 * which libmosquitto makes thread-safe. The one piece of state both
 * threads touch, "connected", is guarded by a mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>

#include "emu.h"

#define CONNECT_WAIT_SECS 5

struct emu_mqtt {
	struct mosquitto *mosq;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool connected;
	bool loop_started;
	char host[256];
	int port;
};

static void
on_connect(struct mosquitto *mosq, void *ud, int rc)
{
	struct emu_mqtt *m = ud;

	(void)mosq;
	/* ist_log is not thread-safe in general, but only writes a line
	 * to stderr with one fprintf, which is. */
	pthread_mutex_lock(&m->lock);
	m->connected = rc == 0;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (rc == 0)
		ist_verbose("MQTT: connected to %s:%d", m->host, m->port);
	else
		ist_error("MQTT: %s:%d refused the connection: %s", m->host,
		    m->port, mosquitto_connack_string(rc));
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

int
emu_mqtt_start(const char *hostport, struct emu_mqtt **out,
    struct ist_err *e)
{
	struct emu_mqtt *m = NULL;
	const char *colon = strrchr(hostport, ':');
	struct timespec until;
	char id[64], *end;
	long port;
	int rc, r = IST_ERR_CONFIG;

	*out = NULL;
	if (!colon || colon == hostport ||
	    (size_t)(colon - hostport) >= sizeof(m->host)) {
		return ist_err_set(e, IST_ERR_CONFIG, "want HOST:PORT");
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return ist_err_set(e, IST_ERR_CONFIG, "bad port");
	m = calloc(1, sizeof(*m));
	if (!m)
		return ist_err_set(e, IST_ERR_NOMEM, "out of memory");
	memcpy(m->host, hostport, (size_t)(colon - hostport));
	m->port = (int)port;
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
	rc = mosquitto_connect_async(m->mosq, m->host, m->port, 30);
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO) {
		r = ist_err_set(e, IST_ERR_NET, "%s", mosquitto_strerror(rc));
		goto fail;
	}
	rc = mosquitto_loop_start(m->mosq);
	if (rc != MOSQ_ERR_SUCCESS) {
		r = ist_err_set(e, IST_ERR_CONFIG, "mosquitto_loop_start: %s",
		    mosquitto_strerror(rc));
		goto fail;
	}
	m->loop_started = true;

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
	if (m->mosq) {
		mosquitto_disconnect(m->mosq);
		if (m->loop_started)
			mosquitto_loop_stop(m->mosq, false);
		mosquitto_destroy(m->mosq);
	}
	mosquitto_lib_cleanup();
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
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
	if (rc != MOSQ_ERR_SUCCESS) {
		ist_error("tunnel %s: MQTT publish to %s failed: %s", t->id,
		    topic, mosquitto_strerror(rc));
		r = IST_ERR_NET;
		goto out;
	}
	ist_info("tunnel %s: destination token published to %s", t->id,
	    topic);
	r = 0;
out:
	if (payload) {
		memset(payload, 0, strlen(payload));
		free(payload);
	}
	cJSON_Delete(o);
	return r;
}
