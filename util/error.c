#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nook_error {
	int code;
	char *message;
};

const char *nook_error_message(const nook_error *err)
{
	return err ? err->message : "no error";
}

int nook_error_code(const nook_error *err)
{
	return err ? err->code : 0;
}

/* Used when even the error object cannot be allocated. */
static nook_error out_of_memory = {ENOMEM, "out of memory"};

void nook_error_free(nook_error *err)
{
	if (!err || err == &out_of_memory)
		return;
	free(err->message);
	free(err);
}

int error_set(nook_error **err, int code, const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (!err || *err)
		return -code;
	nook_error *e = calloc(1, sizeof(*e));
	va_list ap;
	va_start(ap, fmt);
	int n = e ? vasprintf(&e->message, fmt, ap) : -1;
	va_end(ap);
	if (n < 0) {
		free(e);
		*err = &out_of_memory;
		return -code;
	}
	e->code = code;
	*err = e;
	return -code;
}

void error_prefix(nook_error **err, const char *fmt, ...)
{
	if (!err || !*err || *err == &out_of_memory)
		return;
	char *prefix, *joined;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&prefix, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (asprintf(&joined, "%s: %s", prefix, (*err)->message) >= 0) {
		free((*err)->message);
		(*err)->message = joined;
	}
	free(prefix);
}
