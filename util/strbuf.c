#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
	if (b->overflow)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->buf[b->len] = '\0';
		b->overflow = true;
		return;
	}
	b->len += (size_t)n;
}
