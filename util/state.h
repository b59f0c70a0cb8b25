/* The sections a snapshot's state is made of: each piece of the machine (a
 * vCPU, the interrupt controllers, a device) saves itself as a named,
 * versioned section and finds its section again on restore. A reader checks
 * every length against the buffer: the file is input like any other. */
#ifndef NOOK_UTIL_STATE_H
#define NOOK_UTIL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"

#define STATE_NAME_MAX 31

struct state_section {
	char name[STATE_NAME_MAX + 1];
	uint32_t version;
	const void *data;
	size_t len;
};

/* Appends a section; -EINVAL for a name longer than STATE_NAME_MAX. */
int state_put(struct bytes *b, const char *name, uint32_t version, const void *data, size_t len);

/* Checks that `len` bytes at `p` are a sequence of well-formed sections
 * with distinct names; 0 or -EINVAL. */
int state_check(const void *p, size_t len);
/* The section called `name` of a checked buffer: 0, or -ENOENT. */
int state_find(const void *p, size_t len, const char *name, struct state_section *out);

/* For restore functions: 0 when the section has this version and exactly
 * this size, else -EINVAL. */
int state_expect(const struct state_section *s, uint32_t version, size_t len);

#endif
