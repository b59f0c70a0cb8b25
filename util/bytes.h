/* A growable byte buffer for building binary formats (the initramfs, the
 * guest's configuration, snapshot files). Zero-initialise it; release it
 * with bytes_free(). */
#ifndef NOOK_UTIL_BYTES_H
#define NOOK_UTIL_BYTES_H

#include <stddef.h>
#include <stdint.h>

struct bytes {
	uint8_t *data;
	size_t len, cap;
};

void bytes_free(struct bytes *b);
/* Makes room for `n` more bytes: 0 or -ENOMEM (the contents unchanged). */
int bytes_reserve(struct bytes *b, size_t n);
/* Write into room made by bytes_reserve(); they cannot fail. */
void bytes_put(struct bytes *b, const void *data, size_t len);
void bytes_put_zeros(struct bytes *b, size_t len);
/* bytes_reserve() and bytes_put() in one. */
int bytes_append(struct bytes *b, const void *data, size_t len);

#endif
