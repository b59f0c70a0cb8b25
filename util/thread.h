/* Every thread libnook starts is started here, with the role it plays, so
 * that what a thread may do is decided in one place before it runs. */
#ifndef NOOK_UTIL_THREAD_H
#define NOOK_UTIL_THREAD_H

#include <pthread.h>
#include <stdbool.h>

enum thread_role {
	THREAD_ROLE_IO,         /* the VM's event loop (util/event_loop.c) */
	THREAD_ROLE_VCPU,       /* KVM_RUN and exit dispatch (kvm/vcpu.c) */
	THREAD_ROLE_BLK_WORKER, /* disk image I/O (devices/virtio/blk.c) */
	THREAD_ROLE_FS_WORKER,  /* FUSE requests on the host (devices/virtio/fs.c) */
	THREAD_ROLE_NET_SLIRP,  /* user-mode networking (backends/net/slirp.c) */
};

/* pthread_create() of fn(arg) under `name` (at most 15 bytes, shown in
 * /proc/PID/task/TID/comm); with `confine`, the thread is confined to what
 * its role needs before fn runs. 0 or a negative errno. */
int thread_start(pthread_t *thread, enum thread_role role, const char *name, bool confine,
		 void *(*fn)(void *), void *arg);

#endif
