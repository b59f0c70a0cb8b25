/* nook: confining the process that runs a VM.
 *
 * By itself libnook confines only the threads it starts, when the
 * configuration asks for it (nook_vm_config_set_seccomp(), on by
 * default): each gives up the capabilities its role does not need and
 * runs under a seccomp filter that allows only its role's system calls.
 * The calls here confine the whole process, for a program that runs one
 * VM as the nook command line does. libnook never makes them on its own:
 *
 *     nook_confine *c = nook_confine_new();
 *     int status;
 *     int r = nook_confine_enter(c, cfg, &status, &err);
 *     if (r == NOOK_CONFINE_WAITED)
 *             exit(status);            // the VM ran in a child, now gone
 *     if (r == 0)
 *             r = nook_vm_build(cfg, &vm, &err);
 *     if (r == 0)
 *             r = nook_confine_seal(c, &err);
 *     ... nook_vm_start(), nook_vm_wait(), nook_vm_free() ...
 *
 * nook_confine_enter() needs a single-threaded process that has not built
 * a VM yet, and a configuration that names everything the VM will use.
 *
 * Started as root, with the jail on (the default), the process forks. The
 * parent only waits: it passes SIGINT, SIGTERM and SIGHUP sent to it on to
 * the child (not those a terminal sends to its whole foreground process
 * group, which reach the child already) and returns NOOK_CONFINE_WAITED
 * with the child's exit status (128+N when a signal N killed it). The
 * child, PID 1 of new pid, mount, IPC and UTS namespaces (and of a new
 * network namespace unless the VM uses user-mode networking or a TAP
 * device), returns 0 from an empty root file system that holds only what
 * the configuration names, at the same paths:
 *   - /dev/kvm, and /dev/net/tun with a TAP device;
 *   - the kernel (with its System.map and config beside it), the
 *     initramfs, nook-init and the built-in rootfs, read-only;
 *   - the shares (read-only ones read-only), the disk images (and with
 *     backing files the image's directory, read-only), the sockets and
 *     the console output file (created if missing), all nosuid, nodev
 *     and noexec;
 *   - /etc/resolv.conf with user-mode networking (its DNS forwarder);
 *   - a fresh /proc of the new pid namespace (the FUSE server reopens its
 *     files through /proc/self/fd), and the working directory, empty;
 * runs as an unprivileged identity (nook_confine_set_jail_ids()), holds
 * only the capabilities listed in confine/jail.c, has no other descriptor
 * open than 0-2 and those the configuration holds, has limits on open
 * files and core dumps, and runs in cgroup v2 limits for memory, pids and
 * cpu when the host delegates those controllers to it. Where its
 * bookkeeping fails, the child returns the error.
 *
 * Otherwise (not root, or the jail off) nothing forks: a Landlock ruleset
 * (Linux 5.13 or later, at the best ABI the kernel offers) limits file
 * access to what the configuration names plus the process's own /proc
 * entries, and with Landlock 4 or later TCP to the published ports (none
 * without user-mode networking); without Landlock, a warning is logged.
 *
 * Either way no_new_privs is set, and with seccomp on the calling thread
 * takes the filter of a thread that builds a VM. nook_confine_seal(),
 * after nook_vm_build(), gives up the capabilities the build needed and
 * narrows the calling thread's filter to what starting, waiting for,
 * signalling and freeing the VM needs; threads created after it inherit
 * that. Messages go to the configuration's log (nook_vm_config_set_log()).
 */
#ifndef NOOK_CONFINE_H
#define NOOK_CONFINE_H

#include <stdbool.h>
#include <sys/types.h>

#include <nook/api.h>
#include <nook/error.h>
#include <nook/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nook_confine nook_confine;

NOOK_API nook_confine *nook_confine_new(void);
NOOK_API void nook_confine_free(nook_confine *c);
/* Whether a process started as root runs the VM in the jail (default on;
 * off is for debugging: Landlock then applies, as for other users). */
NOOK_API void nook_confine_set_jail(nook_confine *c, bool on);
/* The identity the jail runs as, neither of them 0; gid (gid_t)-1 means
 * uid's primary group, or the number uid when no account has that uid.
 * Default: SUDO_UID and SUDO_GID when set (nook started through sudo),
 * else the "nook" account when there is one, else NOOK_JAIL_DEFAULT_ID. */
NOOK_API int nook_confine_set_jail_ids(nook_confine *c, uid_t uid, gid_t gid);
#define NOOK_JAIL_DEFAULT_ID 65533

/* What nook_confine_enter() returns, besides a negative errno. */
#define NOOK_CONFINE_RUN 0    /* build and run the VM here */
#define NOOK_CONFINE_WAITED 1 /* the VM ran in a child: exit with *status */
NOOK_API int nook_confine_enter(nook_confine *c, const nook_vm_config *cfg, int *status,
				nook_error **err);
/* After nook_vm_build(), before nook_vm_start(). */
NOOK_API int nook_confine_seal(nook_confine *c, nook_error **err);

#ifdef __cplusplus
}
#endif
#endif
