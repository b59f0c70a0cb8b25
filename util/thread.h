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
	/* Not started here: the caller's own threads in a process confined
	 * with nook/confine.h, before and after nook_vm_build(). */
	THREAD_ROLE_BUILDER,
	THREAD_ROLE_CONTROLLER,
};
#define THREAD_ROLES (THREAD_ROLE_CONTROLLER + 1)

/* A short name of the role ("vcpu", "fs", ...), as the seccomp report and
 * NOOK_DEBUG_SECCOMP_VIOLATION (util/seccomp.h) spell it. */
const char *thread_role_name(enum thread_role role);

/* pthread_create() of fn(arg) under `name` (at most 15 bytes, shown in
 * /proc/PID/task/TID/comm). With `confine`, the new thread first gives up
 * the capabilities its role does not need (only fs workers keep some: see
 * thread.c) and installs its role's seccomp filter with no_new_privs; fn
 * runs only once that worked. Returns 0 or a negative errno, also when the
 * thread could not confine itself (it then ends without running fn). */
int thread_start(pthread_t *thread, enum thread_role role, const char *name, bool confine,
		 void *(*fn)(void *), void *arg);

#endif
