/* nook-runtime: the OCI runtime interface (runc's command line) for
 * podman, containerd and Kubernetes, each container one nook microVM.
 *
 * A container's state lives in ROOT/ID (--root, default /run/nook-runtime),
 * mode 0700:
 *   state.json  what create recorded: bundle, the VMM's pid and its start
 *               time (so that a reused pid is never signalled), creation
 *               time, the config's annotations
 *   start.fifo  while the container is created: the VMM blocks opening it
 *               for writing until `start` opens it for reading (runc's
 *               exec.fifo); gone once started
 *   vsock.sock  the agent's socket, for exec (elsewhere when the path
 *               would be too long: sock_dir below)
 * The status follows: no VMM pid yet is creating, a live VMM with the FIFO
 * created, without it running, a VMM gone stopped. */
#ifndef NOOK_CLI_OCI_H
#define NOOK_CLI_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include <nook/types.h>
#include <nook/vm.h>

#include "cli/cli.h"

#define OCI_DEFAULT_ROOT "/run/nook-runtime"
#define OCI_VERSION "1.0.2"
#define OCI_STATE_FILE "state.json"
#define OCI_START_FIFO "start.fifo"
#define OCI_VSOCK "vsock.sock"
#define OCI_SOCKET_ROOT "/run/nook-runtime/sockets"
/* In a socket directory of OCI_SOCKET_ROOT: the state directory it is for. */
#define OCI_SOCKET_OWNER "owner"

/* ---- oci_log.c: --log, --log-format, --debug ---- */
void oci_log_open(const char *path, bool json, bool debug);
/* An error for the caller: on stderr and in the --log file (runc's JSON
 * lines with --log-format json, which containerd's shim reads); returns 1,
 * runc's exit status for a failed command. */
int oci_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void oci_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void oci_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- oci_state.c ---- */
enum oci_status { OCI_CREATING, OCI_CREATED, OCI_RUNNING, OCI_STOPPED };

struct oci_container {
	char id[256];
	char dir[4096];
	/* Where vsock.sock is: dir, unless that is too long for a UNIX socket
	 * (containerd's roots with 64-digit IDs), then a directory of its own
	 * named by a hash of dir in OCI_SOCKET_ROOT. */
	char sock_dir[128];
	char bundle[4096];
	pid_t pid;                   /* the VMM; 0 while creating */
	unsigned long long pid_start; /* its start time, /proc/PID/stat field 22 */
	char created[40];            /* RFC 3339 */
	bool terminal;               /* the process runs on a terminal, through a relay */
	json_object *annotations;    /* owned; NULL when none */
};

/* 0, or oci_fail()'s status for an ID runc would refuse too. */
int oci_id_check(const char *id);
/* ROOT/ID made (0700) for a new container; EEXIST is an error. */
int oci_container_make(const char *root, const char *id, struct oci_container *c);
/* An existing container's state; 1 after saying why ("does not exist"). */
int oci_container_load(const char *root, const char *id, struct oci_container *c);
int oci_container_save(const struct oci_container *c);
void oci_container_free(struct oci_container *c);
/* Removes ROOT/ID and what nook put in it. */
int oci_container_remove(const struct oci_container *c);
enum oci_status oci_status(const struct oci_container *c);
const char *oci_status_name(enum oci_status s);
/* The spec's state: ociVersion, id, status, pid, bundle, annotations. */
json_object *oci_state_json(const struct oci_container *c, enum oci_status s);
/* Whether `pid` still is the process that started at `start` (and is not a
 * zombie). */
bool oci_pid_is(pid_t pid, unsigned long long start);
unsigned long long oci_pid_start(pid_t pid);
/* Writes `pid` to `path` atomically (a file beside it, renamed). */
int oci_pid_file(const char *path, pid_t pid);

/* ---- oci_spec.c: config.json and process.json ---- */
/* A process object, its strings borrowed from the JSON. */
struct oci_process {
	const char **argv; /* NULL-terminated */
	const char **env;
	size_t nenv;
	const char *cwd;
	const char *user; /* "UID:GID" (in user_buf), or NULL for root */
	char user_buf[24];
	struct nook_rlimit *rlimits;
	size_t nrlimits;
	bool terminal;
};
int oci_process_parse(json_object *process, const char *what, struct oci_process *p);
void oci_process_free(struct oci_process *p);

struct oci_spec {
	json_object *config;     /* the whole config.json */
	struct oci_process process;
	const char *netns;       /* linux.namespaces' network path */
	bool netns_private;      /* a network namespace without a path: a new, empty one */
	json_object *hooks;      /* borrowed from config */
	json_object *annotations;
};
/* Reads BUNDLE/config.json into `spec` and `cfg` (which gets everything the
 * VM needs but the stdio); 0, or oci_fail()'s status naming the field. */
int oci_spec_load(const char *bundle, const char *vsock_path, struct oci_spec *spec,
		  nook_vm_config *cfg);
void oci_spec_free(struct oci_spec *spec);
/* A JSON file, or NULL after oci_fail(). */
json_object *oci_json_file(const char *path);

/* ---- oci_hooks.c ---- */
/* Runs the hooks of kind `kind` ("prestart", "poststart"...) in order, each
 * with the state on its stdin, within its timeout. 0; the first failure's
 * oci_fail() status. */
int oci_hooks_run(json_object *hooks, const char *kind, json_object *state);

/* ---- oci_console.c: --console-socket ---- */
/* A new pseudo-terminal whose master goes to the UNIX socket `path` with
 * SCM_RIGHTS (as runc sends it); *slave the other end. 0, or oci_fail()'s. */
int oci_console_send(const char *path, int *slave);
/* The calling process in a session of its own with `slave` as its
 * controlling terminal and stdin, stdout, stderr. */
int oci_console_attach(int slave);

/* ---- oci_exec.c ---- */
/* Waits until the agent answers on `vsock` while the process `pid` (a
 * VMM, or its relay) that started at `start` lives; 0 or -errno. */
int oci_wait_agent(const char *vsock, pid_t pid, unsigned long long start);
/* The container's process on a terminal: the VMM (an idle VM, from cfg
 * and st) runs in a child, the process is an exec on a pseudo-terminal in
 * the guest relayed to this process's terminal, and the VM ends with it.
 * Its exit status. */
int oci_terminal_main(nook_vm_config *cfg, struct run_state *st, const char *vsock,
		      const struct oci_process *p, uint64_t t_main);

/* ---- commands ---- */
int oci_cmd_create(const char *root, int argc, char **argv);
int oci_cmd_start(const char *root, int argc, char **argv);
int oci_cmd_state(const char *root, int argc, char **argv);
int oci_cmd_kill(const char *root, int argc, char **argv);
int oci_cmd_delete(const char *root, int argc, char **argv);
int oci_cmd_ps(const char *root, int argc, char **argv);
int oci_cmd_exec(const char *root, int argc, char **argv);

#endif
