/* Scatter-gather buffers (struct iovec arrays): lengths, slices, copies. The
 * buffers may be guest memory; nothing here reads a length twice. */
#ifndef NOOK_UTIL_IOV_H
#define NOOK_UTIL_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* The total length; SIZE_MAX and *overflow set (when given) if it does not
 * fit a size_t. */
size_t iov_total(const struct iovec *iov, size_t n, bool *overflow);
/* Points `dst` (at most `max` entries) at [off, off+len) of `iov`; returns
 * the entry count. */
int iov_slice(const struct iovec *iov, size_t n, size_t off, size_t len, struct iovec *dst,
	      int max);
/* Copy `len` bytes between `buf` and `iov` from `off` on, or fill them with
 * `c`; each returns the bytes done (less when `iov` ends first). */
size_t iov_to_buf(const struct iovec *iov, size_t n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, size_t n, size_t off, const void *buf, size_t len);
size_t iov_memset(const struct iovec *iov, size_t n, size_t off, int c, size_t len);

#endif
