/* The parts of nook/confine.h: the jail for a process started as root,
 * Landlock for the others. */
#ifndef NOOK_CONFINE_CONFINE_H
#define NOOK_CONFINE_CONFINE_H

#include <stdbool.h>
#include <sys/types.h>

#include <nook/log.h>

#include "confine/plan.h"

/* The configuration's log (nook_vm_config_set_log()). */
struct confine_log {
	enum nook_log_level level;
	nook_log_fn fn;
	void *userdata;
};
void confine_log(const struct confine_log *log, enum nook_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Forks into the jail (nook/confine.h). In the parent, which waits for
 * the child, returns NOOK_CONFINE_WAITED with the child's *status; in the
 * child, returns NOOK_CONFINE_RUN once it runs as uid:gid in its empty
 * root, or a negative errno. */
int jail_enter(const struct confine_plan *p, uid_t uid, gid_t gid, const struct confine_log *log,
	       int *status, nook_error **err);
/* Limits the calling process's file (and TCP) access to the plan's; a
 * kernel without Landlock is logged, not an error. Needs no_new_privs. */
int landlock_apply(const struct confine_plan *p, const struct confine_log *log, nook_error **err);

#endif
