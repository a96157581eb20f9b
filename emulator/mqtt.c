/* mqtt.c: not yet. */
#include "emu.h"
int emu_mqtt_start(const char *hostport, struct emu_mqtt **out, struct ist_err *e)
{ (void)hostport; *out = NULL; return ist_err_set(e, IST_ERR_UNSUPPORTED, "not yet"); }
void emu_mqtt_stop(struct emu_mqtt *m) { (void)m; }
int emu_mqtt_notify(struct emu *emu, struct emu_tunnel *t) { (void)emu; (void)t; return 0; }
