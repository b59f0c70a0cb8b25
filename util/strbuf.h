/* A string built by appending into a fixed buffer; an append that does not
 * fit marks it overflowed instead of truncating silently. */
#ifndef NOOK_UTIL_STRBUF_H
#define NOOK_UTIL_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
	char *buf;
	size_t cap, len;
	bool overflow;
};

static inline struct strbuf strbuf_on(char *buf, size_t cap)
{
	if (cap)
		buf[0] = '\0';
	return (struct strbuf){.buf = buf, .cap = cap};
}

/* Appends formatted text; after an overflow the contents are unchanged. */
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
