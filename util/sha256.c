#include "util/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

int sha256_init(struct sha256 *h)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -ENOMEM;
	}
	h->ctx = ctx;
	return 0;
}

void sha256_update(struct sha256 *h, const void *data, size_t len)
{
	EVP_DigestUpdate(h->ctx, data, len);
}

void sha256_final(struct sha256 *h, uint8_t out[SHA256_SIZE])
{
	unsigned len = SHA256_SIZE;
	EVP_DigestFinal_ex(h->ctx, out, &len);
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int sha256_fd(int fd, uint8_t out[SHA256_SIZE])
{
	struct sha256 h;
	int r = sha256_init(&h);
	if (r < 0)
		return r;
	enum { CHUNK = 1 << 16 };
	uint8_t *buf = malloc(CHUNK);
	for (r = buf ? 0 : -ENOMEM; buf;) {
		ssize_t n = read(fd, buf, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
	}
	free(buf);
	sha256_final(&h, out);
	return r;
}

void hex_encode(const uint8_t *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	out[2 * len] = '\0';
}
