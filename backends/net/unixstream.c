/* Frames over a unix stream socket, each after its length as a 4-byte
 * big-endian number: the framing of passt and QEMU's "stream" netdev. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net/backend.h"

#define LEN_SIZE 4

struct unixstream_backend {
	struct net_backend base;
	int fd;
	bool owns_fd;
	size_t have; /* bytes in rx */
	uint8_t rx[LEN_SIZE + NET_FRAME_MAX];
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int unixstream_send(struct net_backend *b, const void *frame, size_t len)
{
	struct unixstream_backend *s = (struct unixstream_backend *)b;
	uint8_t hdr[LEN_SIZE] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
				 (uint8_t)len};
	struct iovec iov[2] = {{hdr, LEN_SIZE}, {(void *)frame, len}};
	size_t total = LEN_SIZE + len, done = 0;
	/* A frame is written whole or the stream loses its framing: wait for
	 * room once it has started. */
	while (done < total) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
		size_t skip = done;
		for (int i = 0; i < 2; i++) {
			size_t take = skip < iov[i].iov_len ? skip : iov[i].iov_len;
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
			iov[i].iov_len -= take;
			skip -= take;
		}
		ssize_t n = sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (done == 0)
				return -EAGAIN; /* nothing sent: drop it, as a full NIC would */
			struct pollfd p = {.fd = s->fd, .events = POLLOUT};
			poll(&p, 1, -1);
			continue;
		}
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

static ssize_t unixstream_recv(struct net_backend *b, void *buf, size_t size)
{
	struct unixstream_backend *s = (struct unixstream_backend *)b;
	for (;;) {
		if (s->have >= LEN_SIZE) {
			uint32_t len = be32(s->rx);
			if (len > NET_FRAME_MAX || len > size)
				return -EPROTO; /* the peer broke the framing */
			if (s->have >= LEN_SIZE + len) {
				memcpy(buf, s->rx + LEN_SIZE, len);
				s->have -= LEN_SIZE + len;
				memmove(s->rx, s->rx + LEN_SIZE + len, s->have);
				return len;
			}
		}
		ssize_t n = recv(s->fd, s->rx + s->have, sizeof(s->rx) - s->have, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		if (n == 0)
			return -EPIPE;
		s->have += (size_t)n;
	}
}

static void unixstream_destroy(struct net_backend *b)
{
	struct unixstream_backend *s = (struct unixstream_backend *)b;
	if (s->owns_fd)
		close(s->fd);
	free(s);
}

static const struct net_backend_ops unixstream_ops = {
	.send = unixstream_send,
	.recv = unixstream_recv,
	.destroy = unixstream_destroy,
};

int net_unixstream_open(int fd, const char *path, struct net_backend **out, nook_error **err)
{
	*out = NULL;
	bool owns = fd < 0;
	if (owns && (fd = net_unix_connect("unixstream", path, SOCK_STREAM, err)) < 0)
		return fd;
	struct unixstream_backend *s = calloc(1, sizeof(*s));
	if (!s) {
		if (owns)
			close(fd);
		return error_set(err, ENOMEM, "out of memory");
	}
	*s = (struct unixstream_backend){
		.base = {.ops = &unixstream_ops, .name = "unixstream", .poll_fd = fd,
			 .checksums_valid = true},
		.fd = fd,
		.owns_fd = owns,
	};
	*out = &s->base;
	return 0;
}
