/* Internal helpers for building nook_error objects. */
#ifndef NOOK_UTIL_ERROR_H
#define NOOK_UTIL_ERROR_H

#include <nook/error.h>

/* Stores a formatted error in *err (if err is non-NULL and *err is NULL, so
 * the first, most specific error wins) and returns -code. */
int error_set(nook_error **err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes an existing error's message with "prefix: ". */
void error_prefix(nook_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
