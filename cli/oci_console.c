/* --console-socket: a pseudo-terminal whose master goes to the caller's
 * UNIX socket (conmon, containerd's shim) with SCM_RIGHTS, as runc sends
 * it; the slave is the VMM's (or the exec relay's) terminal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/oci.h"

int oci_console_send(const char *path, int *slave)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
		int e = errno;
		if (master >= 0)
			close(master);
		return oci_fail("--console-socket: a pseudo-terminal: %s", strerror(e));
	}
	char name[64];
	if (ptsname_r(master, name, sizeof(name)) != 0 ||
	    (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		int e = errno;
		close(master);
		return oci_fail("--console-socket: opening the terminal: %s", strerror(e));
	}
	int sock = connect_unix(path);
	if (sock < 0) {
		int e = errno;
		close(master);
		close(*slave);
		return oci_fail("--console-socket %s: %s", path, strerror(e));
	}
	/* runc sends the terminal's name as the payload. */
	struct iovec iov = {.iov_base = name, .iov_len = strlen(name)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &master, sizeof(int));
	ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	int e = errno;
	close(sock);
	close(master);
	if (n < 0) {
		close(*slave);
		return oci_fail("--console-socket %s: sending the terminal: %s", path, strerror(e));
	}
	return 0;
}

int oci_console_attach(int slave)
{
	if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
		return -errno;
	for (int fd = 0; fd <= 2; fd++)
		if (dup2(slave, fd) < 0)
			return -errno;
	if (slave > 2)
		close(slave);
	return 0;
}
