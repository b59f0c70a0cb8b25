/* A growable NULL-terminated array of owned strings. */
#ifndef NOOK_UTIL_STRV_H
#define NOOK_UTIL_STRV_H

#include <stddef.h>

struct strv {
	char **items; /* NULL-terminated when non-empty */
	size_t n, cap;
};

int strv_push(struct strv *v, const char *s); /* copies s; -ENOMEM */
void strv_free(struct strv *v);

/* Replaces *slot with a copy of s (NULL clears it); -ENOMEM. */
int str_replace(char **slot, const char *s);

#endif
