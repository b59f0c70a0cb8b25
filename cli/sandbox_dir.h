/* Where long-lived sandboxes keep their state: one directory per sandbox
 * in the user's runtime directory ($XDG_RUNTIME_DIR/nook, /run/nook for
 * root, else /tmp/nook-UID), mode 0700, so that users never see each
 * other's sandboxes. A sandbox's directory holds:
 *   spec       nook run's arguments it was created with, NUL-separated
 *   exec-defaults  exec's options that every exec starts from (the -e, -w
 *              and -u of its program, with an image's Env, WorkingDir and
 *              User), NUL-separated; written by the VMM as it starts
 *   state      key=value lines (struct sandbox_state), replaced atomically
 *   monitor.lock  locked (fcntl) by the sandbox's monitor while it lives
 *   log        the program's stdout and stderr
 *   vmm.log    what nook itself said (warnings, why it failed)
 *   vsock.sock the agent's vsock socket (and vsock.sock_P for the guest's
 *              connections to the host) */
#ifndef NOOK_CLI_SANDBOX_DIR_H
#define NOOK_CLI_SANDBOX_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SANDBOX_NAME_MAX 64

struct sandbox_state {
	char status[16];   /* "created", "running", "exited", "dead" */
	long long created; /* seconds since the epoch; 0: not yet */
	long long started, finished;
	long pid;          /* the VMM's, while running */
	int exit_code;     /* the program's, once exited; -1 before */
	char error[512];   /* why it ended badly, or "" */
};

/* The runtime directory, created 0700 if missing and checked to be the
 * user's own. 0, or EXIT_NOOK_FAILED after printing why. */
int runtime_dir(char *out, size_t len);
/* The directory of sandbox `name` (not checked to exist). 0, or
 * EXIT_NOOK_FAILED after printing why. */
int sandbox_path(const char *name, char *out, size_t len);
/* Like sandbox_path, for a sandbox that must exist. */
int sandbox_find(const char *name, char *out, size_t len);

int state_read(const char *dir, struct sandbox_state *st);
int state_write(const char *dir, const struct sandbox_state *st);
/* The pid of the monitor holding the sandbox's lock, or 0 when none. */
pid_t sandbox_monitor(const char *dir);
/* The status to show: a "running" sandbox whose monitor is gone is dead
 * (with a reason in st->error). */
void state_effective(const char *dir, struct sandbox_state *st);

#define SANDBOX_EXEC_DEFAULTS "exec-defaults"

/* The spec and exec-defaults files: argc strings, replaced atomically.
 * strings_read returns a NULL-terminated array in one allocation (free()
 * it), or NULL with errno. */
int strings_write(const char *dir, const char *file, int argc, const char *const *argv);
char **strings_read(const char *dir, const char *file, int *argc);

/* Removes the sandbox's directory and the files nook puts in it; -errno
 * (ENOTEMPTY when something else is in it). */
int sandbox_remove_dir(const char *dir);

#endif
