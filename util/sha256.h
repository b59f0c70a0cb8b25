/* SHA-256 (OpenSSL's libcrypto), for keys that name content. */
#ifndef NOOK_UTIL_SHA256_H
#define NOOK_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_SIZE 32

struct sha256 {
	void *ctx;
};

/* 0 or -ENOMEM. */
int sha256_init(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* Writes the digest and releases the context. */
void sha256_final(struct sha256 *h, uint8_t out[SHA256_SIZE]);
/* The digest of everything readable from fd: 0 or a negative errno. */
int sha256_fd(int fd, uint8_t out[SHA256_SIZE]);
/* Lower-case hex of `len` bytes into out (2 * len + 1 bytes). */
void hex_encode(const uint8_t *data, size_t len, char *out);

#endif
