/* Seccomp filters, one allow-list per thread role (util/thread.h), built
 * with libseccomp. A system call outside a thread's list ends the process:
 * the SIGSYS handler writes
 *   nook: seccomp: thread "vcpu-0" (vcpu) made a forbidden system call: NAME (NR)
 * to stderr and exits with status 159 (128 + SIGSYS, as if the kernel had
 * killed it), without a core dump.
 *
 * Filters stack: a thread keeps those of its creator and adds its own. The
 * threads of a process confined by nook/confine.h are created under the
 * builder's list (fs and blk workers, slirp) or the controller's (I/O and
 * vCPU threads), so each of those lists holds what the lists of the
 * roles started under it allow (seccomp.c adds them when it builds it).
 *
 * NOOK_DEBUG_SECCOMP_VIOLATION=WHO (a thread name such as "vcpu-0", or a
 * role name such as "fs") makes that thread, once confined, call
 * personality(2), which no list allows: a test can watch the report. */
#ifndef NOOK_UTIL_SECCOMP_H
#define NOOK_UTIL_SECCOMP_H

#include "util/thread.h"

/* Builds every role's filter and installs the SIGSYS handler; again only
 * in a new process (a filter names its process's pid). 0 or -errno. */
int seccomp_prepare(void);
/* Installs `role`'s filter on the calling thread, after no_new_privs,
 * naming the thread `name` in reports. 0 or -errno. */
int seccomp_confine_thread(enum thread_role role, const char *name);
/* The test hook above, for a thread just confined. */
void seccomp_debug_violation(enum thread_role role, const char *name);

#endif
