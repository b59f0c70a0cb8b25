/* Running the program: the part of nook-init that needs no VM. */
#ifndef NOOK_GUEST_INIT_RUN_H
#define NOOK_GUEST_INIT_RUN_H

#include <signal.h>
#include <sys/types.h>

#include "guest/init/init_config.h"

/* Exit statuses of the child when it cannot run the program. As in a shell
 * (and docker run): 127 not found, 126 found but not executable; 125 is
 * nook-init's own failure (bad rlimit, workdir) before trying to exec. */
#define NOOK_INIT_EXIT_SETUP 125
#define NOOK_INIT_EXIT_CANNOT_EXEC 126
#define NOOK_INIT_EXIT_NOT_FOUND 127

/* Starts the config's program in a child that makes stdio[0..2] its fds
 * 0..2 (they must be >= 3), `mask` its signal mask, starts a new session
 * (with stdin as its controlling terminal when cfg->tty), applies the
 * config's rlimits, user, environment and workdir, and execs the program;
 * when it cannot, the child prints "nook-init: ..." to the new stderr and
 * exits with one of the statuses above. Returns once the child has exec'd
 * or exited (vfork): its pid, or -errno if there is no child. */
pid_t init_spawn(const struct init_config *cfg, const int stdio[3], const sigset_t *mask);

/* 0..255 for a wait() status: the exit code, or 128 + N if killed by signal N. */
int init_exit_status(int wstatus);

/* Waits until child `main_pid` ends, reaping any other child on the way.
 * Returns init_exit_status() of `main_pid`, or -errno. */
int init_reap(pid_t main_pid);

#endif
