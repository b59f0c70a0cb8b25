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

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static int unixstream_send(struct net_backend *b, const struct iovec *frames, unsigned n)
{
	struct unixstream_backend *s = (struct unixstream_backend *)b;
	/* Each frame after its length, all in one sendmsg() when there is room. */
	uint8_t lens[NET_SEND_BATCH][LEN_SIZE];
	struct iovec iov[2 * NET_SEND_BATCH];
	size_t ends[NET_SEND_BATCH], total = 0; /* where each frame ends in the stream */
	for (unsigned i = 0; i < n; i++) {
		size_t len = frames[i].iov_len;
		put_be32(lens[i], (uint32_t)len);
		iov[2 * i] = (struct iovec){lens[i], LEN_SIZE};
		iov[2 * i + 1] = frames[i];
		total += LEN_SIZE + len;
		ends[i] = total;
	}
	size_t done = 0;
	unsigned first = 0, whole = 0; /* first iov not written out; frames written */
	while (done < total) {
		struct msghdr m = {.msg_iov = iov + first, .msg_iovlen = 2 * n - first};
		ssize_t w = sendmsg(s->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			/* Between frames: drop the rest, as a full NIC would. In the
			 * middle of one: finish it, or the stream loses its framing. */
			if (done == (whole ? ends[whole - 1] : 0))
				return whole ? (int)whole : -EAGAIN;
			struct pollfd p = {.fd = s->fd, .events = POLLOUT};
			poll(&p, 1, -1);
			continue;
		}
		if (w < 0)
			return whole ? (int)whole : -errno;
		done += (size_t)w;
		while (whole < n && ends[whole] <= done)
			whole++;
		for (size_t left = (size_t)w; left;) {
			size_t take = left < iov[first].iov_len ? left : iov[first].iov_len;
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + take;
			iov[first].iov_len -= take;
			left -= take;
			if (!iov[first].iov_len)
				first++;
		}
	}
	return (int)n;
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
