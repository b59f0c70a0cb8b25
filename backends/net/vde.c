/* A port of a VDE switch: vde_switch's control protocol (version 3, which
 * libvdeplug4's switch module and vde_plug speak too), then one frame per
 * datagram on the data socket, like unixgram. The control connection lives
 * as long as the backend: the switch drops the port when it closes. Spoken
 * here rather than through libvdeplug, whose dlopen() of its modules
 * (RTLD_DEEPBIND) neither a jail nor AddressSanitizer allows. */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/net/backend.h"

#define VDE_SWITCH_MAGIC 0xfeedface
#define VDE_REQUEST_VERSION 3
#define VDE_REQ_NEW_CONTROL 0
#define VDE_DESCRIPTION_MAX 128
/* How long the switch may take to answer the request. */
#define VDE_ANSWER_MS 5000

struct vde_request {
	uint32_t magic, version, type;
	struct sockaddr_un sock; /* where the switch sends this port's frames */
	char description[VDE_DESCRIPTION_MAX];
} __attribute__((packed));

static void close_control(void *arg)
{
	close((int)(intptr_t)arg);
}

/* path/name into a sockaddr_un; false when too long. */
static bool unix_addr(struct sockaddr_un *sa, const char *path, const char *name)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", path, name);
	return n > 0 && (size_t)n < sizeof(sa->sun_path);
}

/* Asks the switch at `dir` for a port; the data socket `data` is bound to
 * `own` and connected to the switch's end of the port. */
static int request_port(const char *url, int ctl, int data, const struct sockaddr_un *own,
			nook_error **err)
{
	struct vde_request req = {.magic = VDE_SWITCH_MAGIC, .version = VDE_REQUEST_VERSION,
				  .type = VDE_REQ_NEW_CONTROL, .sock = *own};
	snprintf(req.description, sizeof(req.description), "nook pid %d", (int)getpid());
	size_t len = offsetof(struct vde_request, description) + strlen(req.description);
	if (send(ctl, &req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return error_set(err, errno ? errno : EIO, "net vde \"%s\": request: %s", url,
				 strerror(errno ? errno : EIO));
	struct pollfd p = {.fd = ctl, .events = POLLIN};
	struct sockaddr_un port;
	if (poll(&p, 1, VDE_ANSWER_MS) <= 0)
		return error_set(err, ETIMEDOUT, "net vde \"%s\": the switch did not answer", url);
	ssize_t n = recv(ctl, &port, sizeof(port), 0);
	if (n != (ssize_t)sizeof(port) || port.sun_family != AF_UNIX ||
	    !memchr(port.sun_path, '\0', sizeof(port.sun_path)))
		return error_set(err, EPROTO, "net vde \"%s\": the switch refused the port", url);
	if (connect(data, (struct sockaddr *)&port, sizeof(port)) < 0)
		return error_set(err, errno, "net vde \"%s\": its port %s: %s", url, port.sun_path,
				 strerror(errno));
	return 0;
}

int net_vde_open(const char *url, struct net_backend **out, nook_error **err)
{
	*out = NULL;
	/* vde:///path or the path: the switch's directory, with its ctl. */
	const char *dir = strncmp(url, "vde://", 6) == 0 ? url + 6 : url;
	struct sockaddr_un ctl_addr, own;
	if (dir[0] != '/')
		return error_set(err, EINVAL, "net vde \"%s\": expected an absolute path", url);
	if (!unix_addr(&ctl_addr, dir, "ctl"))
		return error_set(err, ENAMETOOLONG, "net vde \"%s\": path too long", url);
	int ctl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int data = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int r = 0;
	if (ctl < 0 || data < 0)
		r = error_set(err, errno, "net vde \"%s\": socket: %s", url, strerror(errno));
	else if (connect(ctl, (struct sockaddr *)&ctl_addr, sizeof(ctl_addr)) < 0)
		r = error_set(err, errno, "net vde \"%s\": no switch: %s", url, strerror(errno));
	/* This port's socket, in the switch's directory as libvdeplug puts it. */
	for (unsigned i = 0; r == 0; i++) {
		char name[64];
		snprintf(name, sizeof(name), ".nook-%d-%u", (int)getpid(), i);
		if (!unix_addr(&own, dir, name))
			r = error_set(err, ENAMETOOLONG, "net vde \"%s\": path too long", url);
		else if (bind(data, (struct sockaddr *)&own, sizeof(own)) == 0)
			break;
		else if (errno != EADDRINUSE || i == 100)
			r = error_set(err, errno, "net vde \"%s\": %s: %s", url, own.sun_path,
				      strerror(errno));
	}
	bool bound = r == 0;
	if (r == 0)
		r = request_port(url, ctl, data, &own, err);
	/* Connected, the name is no longer needed. */
	if (bound)
		unlink(own.sun_path);
	if (r == 0 && (r = net_set_nonblocking(data)) < 0)
		error_set(err, -r, "net vde \"%s\": %s", url, strerror(-r));
	struct net_fd_backend *b = r == 0 ? net_fd_backend_new("vde", data, true, true) : NULL;
	if (r == 0 && !b)
		r = error_set(err, ENOMEM, "out of memory");
	if (r < 0) {
		if (ctl >= 0)
			close(ctl);
		if (data >= 0)
			close(data);
		return r;
	}
	b->release = close_control;
	b->release_arg = (void *)(intptr_t)ctl;
	*out = &b->base;
	return 0;
}
