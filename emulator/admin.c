/* admin.c: not yet. */
#include <string.h>
#include "emu.h"
void emu_admin_handle(struct emu *emu, const char *path, const uint8_t *body,
    size_t len, int *status, char **out)
{ (void)emu; (void)path; (void)body; (void)len; *status = 404; *out = emu_api_error("NotFound", "no admin yet"); }
