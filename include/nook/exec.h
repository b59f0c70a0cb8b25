/* nook: running more programs in a running sandbox (exec).
 *
 * A VM with vsock and a host path (nook_vm_config_set_vsock_path) gets an
 * exec agent: nook-init starts it in the guest, after the run is set up and
 * before it reports the program started, listening on the vsock port
 * NOOK_AGENT_PORT (guest/agent_protocol.h). nook_exec() connects to it
 * through the VM's vsock UNIX socket, also from another process;
 * nook_vm_exec() does so for a VM of this process. A VM built without an
 * exec path is idle: it runs nothing of its own and stays up for execs
 * until nook_vm_stop().
 *
 * Each exec is one connection and one program, in a session and process
 * group of its own, started like the VM's program (environment, PATH
 * lookup, workdir, rlimits; exit statuses 127 not found, 126 not
 * executable, 125 a setup failure in the guest such as a missing workdir,
 * 128 + N killed by signal N). A relay thread per process moves the
 * program's stdin, stdout and stderr between the caller's fds and the
 * connection, with bounded buffers both ways: output the caller does not
 * take holds up the program (and its exit status), never memory.
 *
 * Everything the guest sends is checked: a malformed or oversized frame,
 * an exit status out of range or a connection that ends without one ends
 * the exec with an error; nook_process_wait() returns when the connection
 * or the VM (nook_vm_exec) ends, whatever the guest does.
 *
 * Threads: the functions on one nook_process are not for concurrent use,
 * but nook_process_signal() and nook_process_resize() may be called from
 * any thread while another waits.
 */
#ifndef NOOK_EXEC_H
#define NOOK_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nook/api.h>
#include <nook/error.h>
#include <nook/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nook_process nook_process;

/* For stdin_fd, stdout_fd, stderr_fd. */
#define NOOK_EXEC_PIPE (-1) /* a pipe; its other end from nook_process_*_fd() */
#define NOOK_EXEC_NULL (-2) /* stdin at EOF / output discarded */

struct nook_exec_options {
	const char *const *argv; /* required; argv[0] a path or a name in PATH */
	const char *const *env;  /* KEY=VALUE, NULL-terminated; NULL: none (PATH defaults to
				  * the usual directories) */
	const char *workdir;     /* absolute; NULL: / */
	/* "USER[:GROUP]" as nook_vm_config_set_user() (nook/vm.h) takes it;
	 * NULL: root */
	const char *user;
	/* A terminal (a pseudo-terminal in the guest, its controlling terminal)
	 * of rows x cols: the program's stdin, stdout and stderr are all on it,
	 * and its output comes on stdout only. */
	bool tty;
	unsigned short rows, cols;
	/* The caller's fds (the exec works on duplicates: the caller may close
	 * its own after nook_exec() returns), or NOOK_EXEC_PIPE or
	 * NOOK_EXEC_NULL. The relay writes output to them with blocking
	 * writes of at most PIPE_BUF bytes after poll() said they could take
	 * some; as for the VM's stdio (nook/vm.h), ignore SIGPIPE. */
	int stdin_fd, stdout_fd, stderr_fd;
	const struct nook_rlimit *rlimits; /* nook/types.h */
	size_t nrlimits;
};

/* Zero, then pipes for all three, no terminal, 24 rows x 80 columns. */
NOOK_API void nook_exec_options_init(struct nook_exec_options *o);

/* Another process's sandbox: connects to the vsock UNIX socket
 * `vsock_path` (the VM's nook_vm_config_set_vsock_path), asks the agent
 * to run the program and returns once the request is on its way (a program
 * that cannot start shows in nook_process_wait()). Errors name the input
 * ("exec: vsock socket PATH: ..."), bad options included (-EINVAL). Until
 * the guest is set up (its program-started event) the VM refuses the
 * connection like a guest without an agent: -ECONNREFUSED, "no agent is
 * listening in the guest"; a caller that just started the sandbox tries
 * again. */
NOOK_API int nook_exec(const char *vsock_path, const struct nook_exec_options *o,
		       nook_process **out, nook_error **err);
/* This process's VM (started, with a vsock path): waits until the agent is
 * up (the program-started event) or the VM ended, then nook_exec(). The
 * exec also ends when the VM does. The VM must outlive the process
 * (nook_process_free() first). Not from a thread confined by
 * nook/confine.h (its filter allows no sockets or threads): a confined
 * VMM's sandbox is reached with nook_exec() from another process. */
NOOK_API int nook_vm_exec(nook_vm *vm, const struct nook_exec_options *o, nook_process **out,
			  nook_error **err);

/* Whether the agent answers on `vsock_path` (a sandbox ready for execs):
 * 0, or a negative errno (-ENOENT: no socket yet, -ECONNREFUSED: the guest
 * is not listening yet, -ETIMEDOUT: no answer within 2 s). Costs the agent
 * nothing: the connection closes before any request. */
NOOK_API int nook_exec_ping(const char *vsock_path);

/* The caller's ends of the NOOK_EXEC_PIPE pipes (stdin: the write end,
 * output: the read ends, which see end of file after the program's last
 * output), owned by the process (closed by nook_process_free()); -1 for
 * the others. */
NOOK_API int nook_process_stdin_fd(const nook_process *p);
NOOK_API int nook_process_stdout_fd(const nook_process *p);
NOOK_API int nook_process_stderr_fd(const nook_process *p);
/* End of file for the program's stdin once what was written before has
 * reached it (closes the stdin pipe's write end). 0. */
NOOK_API int nook_process_close_stdin(nook_process *p);
/* Waits for the program's exit status 0..255 (after all of its output was
 * written to the caller's fds), or returns -errno with *err when the exec
 * failed: the program could not be started at all, the connection or the
 * VM ended first, the guest broke the protocol. Again after it returned:
 * the same result. */
NOOK_API int nook_process_wait(nook_process *p, nook_error **err);
/* Sends signal `signo` (1..64) to the program's process group. -EINVAL,
 * -ESRCH when the exec is over, -EAGAIN when too many signals and resizes
 * are still on their way. Signals travel in order with stdin: a program
 * that does not read its stdin receives them only once the stdin sent
 * before them fits the guest's buffers. */
NOOK_API int nook_process_signal(nook_process *p, int signo);
/* The terminal's new size (1..65535 each): the program gets SIGWINCH.
 * -ENOTTY without a terminal, otherwise as nook_process_signal(). */
NOOK_API int nook_process_resize(nook_process *p, unsigned rows, unsigned cols);
/* Ends the exec if it still runs (the connection closes and the agent
 * kills the program's process group), waits for the relay and closes
 * every fd of the process. */
NOOK_API void nook_process_free(nook_process *p);

#ifdef __cplusplus
}
#endif
#endif
