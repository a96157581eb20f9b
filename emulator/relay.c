/* relay.c: data plane (not yet). */
#include "emu.h"

static int
ws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols emu_ws_protocols[3] = {
	{ .name = "aws.iot.securetunneling-3.0", .callback = ws_cb },
	{ .name = "aws.iot.securetunneling-2.0", .callback = ws_cb },
	{ .name = "aws.iot.securetunneling-1.0", .callback = ws_cb },
};

void emu_relay_drop(struct emu_tunnel *t, enum emu_side side, bool abrupt,
    int status, const char *why) { (void)t; (void)side; (void)abrupt; (void)status; (void)why; }
void emu_relay_detach(struct emu_tunnel *t) { (void)t; }
void emu_queue_clear(struct emu_queue *q) { (void)q; }
int emu_relay_confirm_upgrade(struct emu *emu, struct lws *wsi)
{
	(void)emu;
	lws_return_http_status(wsi, 501, "not yet");
	return 1;
}
