/* Host-side network backends of virtio-net: what a device hands the
 * guest's frames to and takes the guest's frames from. Each backend is in a
 * file of its own (slirp.c, tap.c, unixstream.c, unixgram.c, custom.c); the
 * device sees only this interface. Backends are used by one thread at a
 * time (the VM's I/O thread, with the device lock held). */
#ifndef NOOK_BACKENDS_NET_BACKEND_H
#define NOOK_BACKENDS_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <nook/types.h>
#include <nook/devices.h>

#include "util/error.h"

/* The largest Ethernet frame (without FCS) any backend passes: a 64 KiB IP
 * packet and its header, as passt's stream framing allows. */
#define NET_FRAME_MAX (65535 + 14)
/* The most frames handed to a backend at once: the device gathers what
 * the guest queued, and a backend moves them with one system call where
 * it can (sendmmsg). */
#define NET_SEND_BATCH 32

struct net_backend;

struct net_backend_ops {
	/* Frames from the guest, n <= NET_SEND_BATCH, in order: how many were
	 * taken, from the first on (the others are dropped, as a full NIC
	 * would drop them), or a negative errno when none was. */
	int (*send)(struct net_backend *b, const struct iovec *frames, unsigned n);
	/* One frame for the guest into buf (NET_FRAME_MAX bytes): its length,
	 * -EAGAIN when none is waiting, another negative errno when the
	 * backend has ended (its peer went away). */
	ssize_t (*recv)(struct net_backend *b, void *buf, size_t size);
	void (*destroy)(struct net_backend *b);
};

struct net_backend {
	const struct net_backend_ops *ops;
	const char *name;     /* for messages: "slirp", "tap", ... */
	int poll_fd;          /* readable when recv() may have a frame */
	bool checksums_valid; /* frames for the guest carry correct checksums */
};

static inline void net_backend_destroy(struct net_backend *b)
{
	if (b)
		b->ops->destroy(b);
}

/* User-mode networking (libslirp): NAT to the host's sockets, DHCP, DNS
 * and the published ports. Addresses in host byte order. */
struct net_slirp_config {
	uint32_t network, netmask;
	uint32_t gateway; /* the host as the guest sees it (its loopback) */
	uint32_t dns;     /* forwards to the host's resolver */
	uint32_t guest;   /* the address DHCP hands out */
	const struct nook_port_pair *ports; /* published: host -> guest */
	size_t nports;
	/* Whether the gateway leads to the host's loopback services. */
	bool allow_host_loopback;
	bool confine; /* the slirp thread is confined (util/thread.h) */
};
int net_slirp_open(const struct net_slirp_config *cfg, struct net_backend **out,
		   nook_error **err);

/* An existing TAP interface by name. */
int net_tap_open(const char *ifname, struct net_backend **out, nook_error **err);
/* 4-byte big-endian length before each frame, over a unix stream socket:
 * the caller's fd (fd >= 0, not closed) or a connection to path. */
int net_unixstream_open(int fd, const char *path, struct net_backend **out, nook_error **err);
/* One datagram per frame over a unix datagram socket: the caller's
 * connected fd, or connected to path, with "VFKT" first if vfkit_magic. */
int net_unixgram_open(int fd, const char *path, bool vfkit_magic, struct net_backend **out,
		      nook_error **err);
/* A port of a VDE switch (vde:///path/of/switch or the path: its control
 * directory), one frame per datagram. */
int net_vde_open(const char *url, struct net_backend **out, nook_error **err);

/* The caller's callback table. */
int net_custom_open(const struct nook_net_backend *cb, void *opaque, struct net_backend **out,
		    nook_error **err);

/* A backend that moves one frame per read()/write() on a non-blocking fd:
 * the shared part of tap and unixgram. owns_fd closes fd on destroy; a
 * datagram socket sends a batch of frames with one sendmmsg(). */
struct net_fd_backend {
	struct net_backend base;
	int fd;
	bool owns_fd;
	bool datagram_socket;
	/* Called on destroy, for what the fd belongs to (a VDE connection). */
	void (*release)(void *arg);
	void *release_arg;
};
struct net_fd_backend *net_fd_backend_new(const char *name, int fd, bool owns_fd,
					  bool datagram_socket);

/* A unix socket of `type` (SOCK_STREAM or SOCK_DGRAM) connected to path,
 * for the backend named `backend` (its errors name both): the fd, or a
 * negative errno. A datagram socket is bound first to an address of the
 * kernel's choosing, so that its peer has somewhere to send frames. */
int net_unix_connect(const char *backend, const char *path, int type, nook_error **err);

/* Makes fd non-blocking; 0 or a negative errno. */
int net_set_nonblocking(int fd);

#endif
