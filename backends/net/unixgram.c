/* One datagram per frame over a unix datagram socket (vfkit, gvproxy). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/net/backend.h"

/* A socket connected to path, bound to an abstract address of the
 * kernel's choosing so the peer has somewhere to send its frames. */
static int connect_path(const char *path, bool vfkit_magic, nook_error **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(err, ENAMETOOLONG, "net unixgram \"%s\": path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "net unixgram \"%s\": socket: %s", path,
				      strerror(errno));
	sa_family_t autobind = AF_UNIX;
	const char *step = "bind";
	int r = bind(fd, (struct sockaddr *)&autobind, sizeof(autobind));
	if (r == 0) {
		step = "connect";
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (r == 0 && vfkit_magic) {
		step = "sending VFKT";
		r = send(fd, "VFKT", 4, 0) == 4 ? 0 : -1;
	}
	if (r < 0) {
		int e = errno;
		close(fd);
		return error_set(err, e, "net unixgram \"%s\": %s: %s%s", path, step, strerror(e),
				      e == ECONNREFUSED || e == ENOENT ? " (nothing listens there)" : "");
	}
	return fd;
}

int net_unixgram_open(int fd, const char *path, bool vfkit_magic, struct net_backend **out,
		      nook_error **err)
{
	*out = NULL;
	bool owns = fd < 0;
	if (owns && (fd = connect_path(path, vfkit_magic, err)) < 0)
		return fd;
	int r = net_set_nonblocking(fd);
	if (r < 0) {
		if (owns)
			close(fd);
		return error_set(err, -r, "net unixgram fd %d: %s", fd, strerror(-r));
	}
	struct net_fd_backend *b = net_fd_backend_new(sizeof(*b), "unixgram", fd, owns);
	if (!b) {
		if (owns)
			close(fd);
		return error_set(err, ENOMEM, "out of memory");
	}
	*out = &b->base;
	return 0;
}
