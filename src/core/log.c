/*
 * log.c: levelled logging through one hook.
 *
 * The hook and level are process-wide, as in OpenSSH's log.c: a program
 * sets them once in main() before starting any work.
 */
#include <stdarg.h>
#include <stdio.h>

#include "ist/ist.h"

static ist_log_hook_fn log_hook;
static void *log_ud;
static int log_level = IST_LOG_ERROR;

void
ist_log_set_hook(ist_log_hook_fn hook, void *ud)
{
	log_hook = hook;
	log_ud = ud;
}

void
ist_log_set_level(int level)
{
	if (level < IST_LOG_QUIET)
		level = IST_LOG_QUIET;
	if (level > IST_LOG_DEBUG3)
		level = IST_LOG_DEBUG3;
	log_level = level;
}

int
ist_log_get_level(void)
{
	return log_level;
}

void
ist_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!log_hook || level > log_level || level <= IST_LOG_QUIET)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_hook(level, msg, log_ud);
}

void
ist_log_sink_hook(int level, const char *msg, void *ud)
{
	struct ist_log_sink *sink = ud;
	FILE *fp = sink && sink->fp ? sink->fp : stderr;
	const char *prog = sink && sink->prog ? sink->prog : "ist";

	(void)level;
	fprintf(fp, "%s: %s\n", prog, msg);
	fflush(fp);
}
