#include "util/iov.h"

#include <stdint.h>
#include <string.h>

size_t iov_total(const struct iovec *iov, size_t n, bool *overflow)
{
	size_t t = 0;
	for (size_t i = 0; i < n; i++) {
		if (iov[i].iov_len > SIZE_MAX - t) {
			if (overflow)
				*overflow = true;
			return SIZE_MAX;
		}
		t += iov[i].iov_len;
	}
	return t;
}

int iov_slice(const struct iovec *iov, size_t n, size_t off, size_t len, struct iovec *dst,
	      int max)
{
	int k = 0;
	for (size_t i = 0; i < n && len && k < max; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t c = iov[i].iov_len - off;
		if (c > len)
			c = len;
		dst[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		dst[k].iov_len = c;
		k++;
		len -= c;
		off = 0;
	}
	return k;
}

enum iov_op { IOV_TO_BUF, IOV_FROM_BUF, IOV_FILL };

static size_t iov_walk(const struct iovec *iov, size_t n, size_t off, size_t len, enum iov_op op,
		       uint8_t *buf, int c)
{
	size_t done = 0;
	for (size_t i = 0; i < n && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t chunk = iov[i].iov_len - off;
		if (chunk > len - done)
			chunk = len - done;
		uint8_t *piece = (uint8_t *)iov[i].iov_base + off;
		if (op == IOV_TO_BUF)
			memcpy(buf + done, piece, chunk);
		else if (op == IOV_FROM_BUF)
			memcpy(piece, buf + done, chunk);
		else
			memset(piece, c, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, size_t n, size_t off, void *buf, size_t len)
{
	return iov_walk(iov, n, off, len, IOV_TO_BUF, buf, 0);
}

size_t iov_from_buf(const struct iovec *iov, size_t n, size_t off, const void *buf, size_t len)
{
	return iov_walk(iov, n, off, len, IOV_FROM_BUF, (uint8_t *)buf, 0);
}

size_t iov_memset(const struct iovec *iov, size_t n, size_t off, int c, size_t len)
{
	return iov_walk(iov, n, off, len, IOV_FILL, NULL, c);
}
