/* A port of a VDE switch through libvdeplug: its data socket carries one
 * frame per datagram, like unixgram; the connection (the switch's control
 * socket) lives as long as the backend, since the switch drops the port
 * when it closes. */
#include <dlfcn.h>
#include <errno.h>
#include <libvdeplug.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "backends/net/backend.h"

static void release_conn(void *arg)
{
	vde_close(arg);
}

int net_vde_open(const char *url, struct net_backend **out, nook_error **err)
{
	*out = NULL;
	char copy[PATH_MAX], descr[] = "nook";
	if (snprintf(copy, sizeof(copy), "%s", url) >= (int)sizeof(copy))
		return error_set(err, ENAMETOOLONG, "net vde \"%s\": too long", url);
	/* 0600 sockets: only this user's processes (and root) join. */
	struct vde_open_args args = {.port = 0, .mode = 0600};
	errno = 0;
	VDECONN *conn = vde_open(copy, descr, &args);
	if (!conn) {
		int e = errno ? errno : ECONNREFUSED;
		return error_set(err, e, "net vde \"%s\": cannot join the switch: %s", url,
				 strerror(e));
	}
	int fd = vde_datafd(conn);
	int r = net_set_nonblocking(fd);
	struct net_fd_backend *b = r == 0 ? net_fd_backend_new("vde", fd, false, true) : NULL;
	if (!b) {
		vde_close(conn);
		return error_set(err, r < 0 ? -r : ENOMEM, "net vde \"%s\": %s", url,
				 strerror(r < 0 ? -r : ENOMEM));
	}
	b->release = release_conn;
	b->release_arg = conn;
	*out = &b->base;
	return 0;
}

void net_vde_preload(void)
{
	/* Where libvdeplug looks first: "vdeplug/" beside itself. Loaded
	 * here, its later dlopen() of the same path needs no file. */
	Dl_info info;
	char path[PATH_MAX];
	if (!dladdr((void *)vde_datafd, &info) || !info.dli_fname || !strrchr(info.dli_fname, '/'))
		return;
	int len = (int)(strrchr(info.dli_fname, '/') - info.dli_fname);
	snprintf(path, sizeof(path), "%.*s/vdeplug/libvdeplug_vde.so", len, info.dli_fname);
	dlopen(path, RTLD_NOW | RTLD_NODELETE | RTLD_DEEPBIND);
}
