/* One datagram per frame over a unix datagram socket (vfkit, gvproxy). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/net/backend.h"

/* A socket connected to path that greets its peer with "VFKT" if asked. */
static int connect_path(const char *path, bool vfkit_magic, nook_error **err)
{
	int fd = net_unix_connect("unixgram", path, SOCK_DGRAM, err);
	if (fd < 0 || !vfkit_magic)
		return fd;
	if (send(fd, "VFKT", 4, 0) != 4) {
		int e = errno;
		close(fd);
		return error_set(err, e, "net unixgram \"%s\": sending VFKT: %s", path, strerror(e));
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
	struct net_fd_backend *b = net_fd_backend_new("unixgram", fd, owns, true);
	if (!b) {
		if (owns)
			close(fd);
		return error_set(err, ENOMEM, "out of memory");
	}
	*out = &b->base;
	return 0;
}
