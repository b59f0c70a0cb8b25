/* The host side of virtio-vsock as UNIX stream sockets, the way Firecracker
 * does it, for a path PATH:
 *   - the guest connects to the host (CID 2) port P: nook connects to the
 *     socket PATH_P (PATH, '_', P in decimal); failing that, the guest
 *     gets RST;
 *   - nook listens on PATH (mode 0600): a host client connects and writes
 *     "CONNECT P\n"; the guest's port P gets a REQUEST; when the guest
 *     accepts, the client reads "OK <host port>\n" and from then on the
 *     socket carries the connection's bytes both ways; when it refuses, the
 *     client's socket is closed. A line longer than VSOCK_UNIX_LINE_MAX, or
 *     not finished within VSOCK_UNIX_LINE_MS, or not of that form, closes
 *     it too; so does a guest whose driver is not up yet.
 * PATH may exist only as a stale socket (one nobody listens on), which is
 * replaced; a live one or anything else is refused. PATH stays after the
 * VM (the next run replaces it). */
#ifndef NOOK_BACKENDS_VSOCK_UNIX_H
#define NOOK_BACKENDS_VSOCK_UNIX_H

#include "devices/virtio/vsock.h"
#include "util/error.h"
#include "util/event_loop.h"

#define VSOCK_UNIX_LINE_MAX 32
#define VSOCK_UNIX_LINE_MS 5000
/* Clients still writing their CONNECT line; more are refused. */
#define VSOCK_UNIX_PENDING_MAX 32
/* Room in a socket path for '_' and a port. */
#define VSOCK_UNIX_SUFFIX_MAX 11

struct vsock_unix;

/* Checks PATH and listens on it; nothing is served before
 * vsock_unix_start(). Errors name the path. */
int vsock_unix_open(const char *path, struct event_loop *loop, struct vsock_unix **out,
		    nook_error **err);
/* The device's host side (connect, accepted) for `u`. */
void vsock_unix_host(struct vsock_unix *u, struct virtio_vsock_host *host);
/* Serves host clients into `dev` from the event loop. */
int vsock_unix_start(struct vsock_unix *u, struct virtio_vsock *dev, nook_error **err);
/* Closes the listener and the clients still in their CONNECT line. */
void vsock_unix_destroy(struct vsock_unix *u);

/* "CONNECT P\n" (without its newline, `len` bytes): P, or -EINVAL. */
int64_t vsock_unix_parse_connect(const char *line, size_t len);

#endif
