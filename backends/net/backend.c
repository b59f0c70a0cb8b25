#include "backends/net/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int net_set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int net_unix_connect(const char *backend, const char *path, int type, nook_error **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return error_set(err, ENAMETOOLONG, "net %s \"%s\": path too long (at most %zu bytes)",
				 backend, path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, len + 1);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "net %s \"%s\": socket: %s", backend, path,
				 strerror(errno));
	const char *step = "connect";
	int r = 0;
	if (type == SOCK_DGRAM) {
		/* Autobind: a datagram peer answers to the sender's address. */
		sa_family_t autobind = AF_UNIX;
		step = "bind";
		r = bind(fd, (struct sockaddr *)&autobind, sizeof(autobind));
	}
	if (r == 0) {
		step = "connect";
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (r < 0) {
		int e = errno;
		close(fd);
		return error_set(err, e, "net %s \"%s\": %s: %s%s", backend, path, step, strerror(e),
				 e == ECONNREFUSED || e == ENOENT ? " (nothing listens there)" : "");
	}
	return fd;
}

static struct net_fd_backend *fd_backend(struct net_backend *b)
{
	return (struct net_fd_backend *)b;
}

static int fd_send(struct net_backend *b, const struct iovec *frames, unsigned n)
{
	struct net_fd_backend *f = fd_backend(b);
	struct mmsghdr msgs[NET_SEND_BATCH];
	for (unsigned i = 0; f->datagram_socket && i < n; i++)
		msgs[i] = (struct mmsghdr){
			.msg_hdr = {.msg_iov = (struct iovec *)&frames[i], .msg_iovlen = 1}};
	unsigned sent = 0;
	while (sent < n) {
		int r;
		if (f->datagram_socket)
			r = sendmmsg(f->fd, msgs + sent, n - sent, MSG_DONTWAIT);
		else /* a TAP device: one frame per write() */
			r = write(f->fd, frames[sent].iov_base, frames[sent].iov_len) < 0 ? -1 : 1;
		if (r < 0 && errno == EINTR)
			continue;
		/* A full queue drops the rest, as a full NIC would. */
		if (r < 0)
			return sent ? (int)sent : -errno;
		sent += (unsigned)r;
	}
	return (int)n;
}

static ssize_t fd_recv(struct net_backend *b, void *buf, size_t size)
{
	ssize_t n;
	do
		n = read(fd_backend(b)->fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n;
}

static void fd_destroy(struct net_backend *b)
{
	struct net_fd_backend *f = fd_backend(b);
	if (f->owns_fd && f->fd >= 0)
		close(f->fd);
	if (f->release)
		f->release(f->release_arg);
	free(f);
}

static const struct net_backend_ops fd_ops = {
	.send = fd_send,
	.recv = fd_recv,
	.destroy = fd_destroy,
};

struct net_fd_backend *net_fd_backend_new(const char *name, int fd, bool owns_fd,
					  bool datagram_socket)
{
	struct net_fd_backend *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->base = (struct net_backend){.ops = &fd_ops, .name = name, .poll_fd = fd};
	f->fd = fd;
	f->owns_fd = owns_fd;
	f->datagram_socket = datagram_socket;
	return f;
}
