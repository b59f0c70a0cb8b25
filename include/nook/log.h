/* nook: log levels and the log callback. */
#ifndef NOOK_LOG_H
#define NOOK_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

enum nook_log_level {
	NOOK_LOG_OFF = 0,
	NOOK_LOG_ERROR = 1,
	NOOK_LOG_WARN = 2,
	NOOK_LOG_INFO = 3,
	NOOK_LOG_DEBUG = 4,
	NOOK_LOG_TRACE = 5,
};
#define NOOK_LOG_LEVEL_DEFAULT NOOK_LOG_OFF

typedef void (*nook_log_fn)(enum nook_log_level level, const char *message, void *userdata);

#ifdef __cplusplus
}
#endif
#endif
