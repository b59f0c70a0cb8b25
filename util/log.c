#include "util/log.h"

#include <stdio.h>

void log_vmessage(enum nook_log_level max, nook_log_fn fn, void *userdata,
		  enum nook_log_level level, const char *fmt, va_list ap)
{
	if (level > max || level == NOOK_LOG_OFF)
		return;
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (fn)
		fn(level, msg, userdata);
	else
		fprintf(stderr, "nook: %s\n", msg);
}
