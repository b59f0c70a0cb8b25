/* What the files of the nook command line share. */
#ifndef NOOK_CLI_H
#define NOOK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <nook/vm.h>

/* Exit status when nook itself fails (as docker run does). */
#define EXIT_NOOK_FAILED 125

/* ---- common.c ---- */
uint64_t monotonic_now_ns(void);
/* Prints "nook: " and fmt (with two string arguments) to stderr; returns
 * EXIT_NOOK_FAILED. */
int fail(const char *fmt, const char *arg, const char *detail);
/* Prints the error's message and frees it; returns EXIT_NOOK_FAILED. */
int fail_error(nook_error *err);
int parse_on_off(const char *flag, const char *arg, bool *on);
int parse_count(const char *flag, const char *text, uint64_t max, uint64_t *out);
/* `s` as a JSON string, quoted and escaped. */
void json_string(FILE *f, const char *s);
/* Whether env[0..n) has the KEY of `kv` (KEY=VALUE or a bare KEY). */
bool env_has_key(const char *const *env, size_t n, const char *kv);
/* A UNIX stream socket connected to `path`, or -1 with errno. */
int connect_unix(const char *path);

/* ---- run_options.c ---- */
/* getopt_long's short options of run and create ('+': options end at
 * PROGRAM, whose own options are its business). */
#define RUN_SHORT_OPTIONS "+he:w:u:v:p:dit"
extern const struct option run_options[];

/* What the options gather besides the config. */
struct run_state {
	bool boot_time;
	bool stats;
	bool rootfs;          /* a --rootfs */
	const char **overlay; /* --overlay layers, lowest first */
	size_t noverlay;
	const char *dax_window; /* a --dax-window for the next -v, as given */
	uint64_t dax_window_mib;
	bool net, scope; /* a --net device, a --scope */
	enum nook_network_scope scope_value;
	const char *group; /* --group */
	bool hostname;     /* a --hostname */
	bool no_jail;
	const char *jail_ids; /* --jail-uid */
	int *port_fds; /* --console-port's, closed once the VM has its copies */
	size_t nport_fds;
	bool vsock; /* a --vsock of the user's */
	/* -e and -w as given, for an exec that runs the program (-t) */
	const char **env;
	size_t nenv;
	const char *workdir;
	const char *user; /* -u */
	/* Sandboxes (sandbox.c): --name, -d, -i, -t */
	const char *name;
	bool detach, interactive, tty;
	/* The VMM of a sandbox (its monitor passes --sandbox-dir): the
	 * sandbox's directory. */
	const char *sandbox_dir;
	/* --image, --entrypoint (image.c) */
	const char *image, *entrypoint;
	struct nook_image *image_handle;
	struct nook_image_store *image_store;
	struct nook_image_lease *image_lease;
	char *upper_temp; /* a run's own upper layer */
	pid_t image_pid;  /* the process that made both */
};
/* Parses run's (or create's) arguments into `cfg` and `st`; optind is then
 * PROGRAM's index (argc when there is none). 0; -1 after printing `usage`
 * for -h; EXIT_NOOK_FAILED after printing why. */
int parse_run_args(int argc, char **argv, const char *usage, nook_vm_config *cfg,
		   struct run_state *st);
/* Runs the VM that `cfg` and `st` describe (from the signal watch and the
 * confinement to the end), taking both (cfg freed, st's run_state_free'd);
 * the program's exit status, or EXIT_NOOK_FAILED after printing why. */
int run_config(nook_vm_config *cfg, struct run_state *st, uint64_t t_main);
/* Applies one option to `cfg` and `st`; 0, or EXIT_NOOK_FAILED after
 * printing why. */
int apply_option(nook_vm_config *cfg, int opt, const char *arg, struct run_state *st);
void run_state_free(struct run_state *st);

/* ---- run_report.c ---- */
void print_boot_times(const nook_vm *vm, uint64_t t_main);
void print_metrics(nook_vm *vm);
struct boot_progress;
/* On a terminal, while a first boot saves its snapshot; NULL otherwise. */
struct boot_progress *boot_progress_start(const nook_vm *vm);
void boot_progress_stop(struct boot_progress *p);

/* ---- sandbox_dir.c, sandbox.c: long-lived sandboxes ---- */
/* In a sandbox's directory: the vsock socket of nook-init's agent. */
#define SANDBOX_VSOCK "vsock.sock"
/* A monitor asks its VMM (nook run --sandbox-dir) with real-time signals
 * whose value says more: a signal for the program, or the milliseconds
 * the program gets after SIGTERM before the VM is ended by force. */
#define SANDBOX_SIG_SIGNAL (SIGRTMIN + 2)
#define SANDBOX_SIG_STOP (SIGRTMIN + 3)
/* 0 for a valid sandbox name, else -EINVAL after printing why. */
int sandbox_name_check(const char *name);
/* nook run with -d, -t or --name: argv[1..prog) are run's options,
 * argv[prog..argc) the program. */
int run_in_sandbox(int argc, char **argv, int prog, const struct run_state *st);

/* ---- image.c ---- */
/* In a sandbox's directory: the upper layer of its --image root. */
#define SANDBOX_UPPER "upper"
/* --image: the image (pulled if missing) into st, its Env added to
 * st's under -e, its WorkingDir and User unless -w and -u; 0 or an exit
 * status after printing why. */
int run_image_open(struct run_state *st);
/* The image's program (args: PROGRAM ARGS if given), NULL-terminated, in
 * *argv (free() it); 0 or an exit status after printing why. */
int run_image_program(const struct run_state *st, char **args, size_t nargs,
		      const char ***argv);
/* The overlay root of the image's layers and an upper layer. */
int run_image_root(nook_vm_config *cfg, struct run_state *st);
/* After the run: the run's own upper layer removed. */
void run_image_done(struct run_state *st);
/* The image let go (run_state_free()). */
void run_image_free(struct run_state *st);

/* ---- exec.c ---- */
struct exec_request {
	const char *const *argv; /* NULL-terminated */
	const char *const *env;  /* nenv KEY=VALUE */
	size_t nenv;
	const char *workdir;
	const char *user; /* USER[:GROUP] or NULL */
	bool interactive, tty;
	const struct nook_rlimit *rlimits;
	size_t nrlimits;
};
/* Runs a program in the running sandbox `dir` with this process's stdio
 * (the terminal raw while -t): its exit status, or EXIT_NOOK_FAILED. */
int exec_in_sandbox(const char *name, const char *dir, const struct exec_request *req);
/* The same through the agent's vsock socket `vsock_path`. */
int exec_relay(const char *vsock_path, const struct exec_request *req);

/* ---- commands ---- */
int cmd_run(int argc, char **argv, uint64_t t_main);
int cmd_snapshot(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_rmi(int argc, char **argv);
int cmd_image(int argc, char **argv);

#endif
