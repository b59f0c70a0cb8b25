/* One message to a configuration's log (nook_vm_config_set_log()), or to
 * stderr as "nook: MESSAGE" when it has no callback. */
#ifndef NOOK_UTIL_LOG_H
#define NOOK_UTIL_LOG_H

#include <stdarg.h>

#include <nook/log.h>

void log_vmessage(enum nook_log_level max, nook_log_fn fn, void *userdata,
		  enum nook_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 5, 0)));

#endif
