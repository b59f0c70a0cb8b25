/* What a VM built from a configuration will touch on the host, worked out
 * before it is built: the files and directories it opens, the descriptors
 * it holds, the network it needs. The jail (confine/jail.c) and Landlock
 * (confine/landlock.c) grant exactly this. */
#ifndef NOOK_CONFINE_PLAN_H
#define NOOK_CONFINE_PLAN_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/config.h"

enum plan_access {
	PLAN_READ,   /* read-only */
	PLAN_WRITE,  /* read and write (for a directory: everything in it) */
	PLAN_DEVICE, /* a device node, read, write and ioctl */
};

struct plan_path {
	char *path; /* absolute, the way the build will name it */
	enum plan_access access;
};

struct confine_plan {
	struct plan_path *paths;
	size_t npaths;
	int *fds; /* descriptors the configuration holds (stdio, sockets) */
	size_t nfds;
	/* The files the build creates, the console output and the kernel log
	 * (confine.c makes them beforehand, so that they can be granted like
	 * the others); NULL: none. */
	const char *console_output, *kernel_log;
	/* The snapshot cache (vm/snapshot_cache.h), when the VM may use it:
	 * read for a warm start, written after a cold one. confine.c points a
	 * jailed process at a directory of the jail's identity within it. */
	char *cache_dir;
	bool user_net;     /* libslirp: sockets to anywhere, the host's network */
	bool tap;          /* a TAP device: the host's network, CAP_NET_ADMIN */
	bool low_port;     /* a published host port below 1024 */
	uint16_t *tcp_ports; /* published TCP host ports */
	size_t ntcp_ports;
	char cwd[PATH_MAX]; /* where relative paths start */
	unsigned vcpus;
	uint64_t memory_mib;
	size_t nthreads; /* how many threads the VM starts, at most */
};

int confine_plan_make(const nook_vm_config *cfg, struct confine_plan *p, nook_error **err);
void confine_plan_free(struct confine_plan *p);

#endif
