/* nook run: one VM, in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nook/confine.h>

#include "cli/cli.h"
#include "cli/group.h"
#include "cli/sandbox_dir.h"

static const char usage_run[] =
	"Usage: nook run [OPTIONS] [--] PROGRAM [ARG...]\n"
	"       nook run -d --name NAME [OPTIONS] [--] [PROGRAM [ARG...]]\n"
	"       nook run -it [OPTIONS] [--] PROGRAM [ARG...]\n"
	"\n"
	"Start a microVM with the built-in kernel and root filesystem (busybox, with\n"
	"the guest's changes kept in guest memory) and run PROGRAM in it. Its stdin,\n"
	"stdout and stderr are nook's; nook exits with its exit status (128+N when\n"
	"killed by signal N), or 125 when nook fails. The first run of a machine\n"
	"shape boots the kernel and saves a snapshot; later runs start from it.\n"
	"\n"
	"With -d the sandbox runs detached, in the background, until PROGRAM ends or\n"
	"'nook stop' (without PROGRAM: until stopped); 'nook exec' runs more programs\n"
	"in it, 'nook logs' shows PROGRAM's output ('nook create --help').\n"
	"\n"
	"Options:\n"
	"  -d, --detach             run in the background as sandbox --name\n"
	"  --name NAME              the sandbox's name (with -d): 1-64 of a-z A-Z 0-9 _ . -,\n"
	"                           starting with a letter or digit\n"
	"  -i, --interactive        with -t: keep stdin open (without -t stdin is always\n"
	"                           passed on)\n"
	"  -t, --tty                run PROGRAM on a pseudo-terminal in the guest, with\n"
	"                           this terminal in raw mode while it runs\n"
	"  --cpus N                 virtual CPUs (default 1)\n"
	"  --memory MIB             guest memory in MiB (default 512)\n"
	"  --hyperthreading         present the vCPUs as cores of 2 threads (needs an\n"
	"                           even --cpus; default: one thread per core)\n"
	"  --nested-virt            offer VMX/SVM to the guest, if the host's KVM can\n"
	"                           nest (PVM hosts cannot)\n"
	"  --split-irqchip          emulate the IOAPIC in nook (64 pins): up to 48 virtio\n"
	"                           devices instead of 19 (shares, disks, ports...)\n"
	"  --kernel PATH            kernel: vmlinux (ELF) or bzImage (default: built-in)\n"
	"  --rootfs DIR             root filesystem: host directory DIR, read-write\n"
	"  --overlay DIR            root filesystem layer (repeatable, lowest first); the\n"
	"                           last one receives the guest's writes, the others\n"
	"                           are never changed\n"
	"  --image REF              root filesystem, program, environment, working\n"
	"                           directory and user from a container image\n"
	"                           (oci:DIR[:TAG], docker-archive:FILE,\n"
	"                           docker://NAME[:TAG]; pulled if missing); the guest's\n"
	"                           writes go to a private layer removed after the run\n"
	"                           (a sandbox's stays with it). PROGRAM ARGS replace\n"
	"                           its Cmd\n"
	"  --entrypoint PROG        with --image: run PROG instead of its Entrypoint and\n"
	"                           Cmd (ARGS still follow)\n"
	"  -v, --volume HOST:GUEST[:ro]\n"
	"                           share a host directory or file at GUEST (repeatable);\n"
	"                           :ro makes it read-only, enforced by the host\n"
	"  --dax-window MIB         give the next -v a DAX window of MIB MiB (a multiple\n"
	"                           of 2): the guest maps its files from the host's page\n"
	"                           cache instead of copying them (mount -o dax=always)\n"
	"  --initramfs PATH         root filesystem as a cpio newc archive instead\n"
	"  --disk PATH[,format=raw|qcow2|vmdk|auto][,id=ID][,ro][,cache=writeback|unsafe]\n"
	"        [,direct][,sync=none|relaxed|full][,backing=on]\n"
	"                           a virtio-blk disk (repeatable); the guest sees it as\n"
	"                           /dev/vdX and /dev/disk/by-id/virtio-ID (default ID:\n"
	"                           vda, vdb, ...). format defaults to raw; auto probes the\n"
	"                           image (only for trusted images); vmdk needs ro.\n"
	"                           cache=unsafe and sync=none ignore the guest's flushes;\n"
	"                           sync=relaxed flushes data (fdatasync), full (default)\n"
	"                           everything (fsync); direct bypasses the host page cache;\n"
	"                           backing=on lets a qcow2 image use its backing file (or\n"
	"                           a vmdk its extents) beneath the image's own directory\n"
	"  --init PATH              PID 1 inside the guest instead of nook-init\n"
	"  --cmdline TEXT           append TEXT to the kernel command line\n"
	"  -e, --env KEY=VALUE      set an environment variable (repeatable)\n"
	"  -w, --workdir DIR        working directory of the program (absolute)\n"
	"  -u, --user USER[:GROUP]  run the program as USER (a name in the guest's\n"
	"                           /etc/passwd or an id; default root)\n"
	"  --rlimit NAME=SOFT:HARD  resource limit, e.g. RLIMIT_NOFILE=1024:2048 (repeatable)\n"
	"  --console-output FILE    also write what the program writes to stdout and\n"
	"                           stderr to FILE (a copy, both streams in one file)\n"
	"  --kernel-log FILE        write the kernel's log (serial console) to FILE\n"
	"  --console-port NAME=PATH a named port, /dev/virtio-ports/NAME in the guest\n"
	"                           (repeatable): PATH a UNIX socket is connected, both\n"
	"                           ways; otherwise the guest's output is appended to PATH\n"
	"                           (created if missing; a FIFO waits for its reader).\n"
	"                           NAME=in:PATH: the guest reads PATH (a file or FIFO)\n"
	"                           and then end of file. NAME: 1-63 bytes, no '/', unique,\n"
	"                           not starting with \"nook.\"\n"
	"  --disable-implicit-console\n"
	"                           no stdin, stdout and stderr ports in the guest: the\n"
	"                           program's are /dev/null (use --console-port instead)\n"
	"  --log-level LEVEL        off, error, warn, info, debug or trace (default warn)\n"
	"  --snapshot auto|off|refresh\n"
	"                           warm start: restore this machine shape's snapshot or\n"
	"                           make it (auto, the default), boot cold (off), or boot\n"
	"                           cold and replace the snapshot (refresh)\n"
	"  --boot-time              print the boot phases to stderr when the program exits\n"
	"  --metrics on|off         count exits, device requests, FUSE and network\n"
	"                           traffic (default on)\n"
	"  --stats                  print those counters to stderr when the program exits\n"
	"  --pvm auto|on|off        PVM host accommodations (default auto)\n"
	"  --balloon on|off         virtio-balloon (default on): memory the guest frees\n"
	"                           goes back to the host\n"
	"  --balloon-stats-interval MS\n"
	"                           how often the guest reports its memory statistics to\n"
	"                           the balloon, in milliseconds (default 1000; 0: never)\n"
	"  --net none|user|tap:NAME|unixstream:PATH|unixgram:PATH[,vfkit]|vde:URL\n"
	"                           a network device (repeatable): user-mode NAT with\n"
	"                           DHCP and DNS, a host TAP interface, a socket of\n"
	"                           passt (stream) or gvproxy/vfkit (datagram), or a port\n"
	"                           of a VDE switch (vde:///path/of/switch)\n"
	"  --group NAME             (a sandbox: -d or create) join the group's network, a\n"
	"                           switch of its own (a subnet 10.77.N.0/24): members reach\n"
	"                           each other by address and by name, nobody else does;\n"
	"                           with --scope public or any the sandbox also gets\n"
	"                           user-mode NAT to the outside (default scope: group)\n"
	"  --hostname NAME          the guest's host name (default: a sandbox's name)\n"
	"  --mac XX:XX:XX:XX:XX:XX  MAC address of the next --net (default random)\n"
	"  --vsock PATH             a virtio-vsock device bridged to UNIX sockets: the\n"
	"                           guest's connections to CID 2 port P go to PATH_P;\n"
	"                           host clients connect to PATH and write \"CONNECT P\\n\"\n"
	"  --scope none|group|public|any\n"
	"                           where the guest may send: nothing, its subnet only,\n"
	"                           public addresses only, anywhere (default group)\n"
	"  --ip A.B.C.D             the guest's address (default 10.0.2.15 with --net user)\n"
	"  --subnet A.B.C.D/N       the guest's subnet (default 10.0.2.0/24, or the /24\n"
	"                           around --ip on a tap, unixstream or unixgram network)\n"
	"  -p, --publish [HOST_IP:]HOST_PORT:GUEST_PORT[/udp]\n"
	"                           publish a guest port on the host (repeatable; needs\n"
	"                           --net user; HOST_IP defaults to 127.0.0.1)\n"
	"  --allow-host-loopback    let the guest reach the host's loopback services through\n"
	"                           the gateway (user mode; scope any allows it too)\n"
	"  --no-jail                started as root, do not run the VM in a jail (new\n"
	"                           namespaces, an empty root with only the VM's files, an\n"
	"                           unprivileged user); for debugging\n"
	"  --jail-uid UID[:GID]     the jail's user and group (default: SUDO_UID:SUDO_GID\n"
	"                           under sudo, else the nook account, else 65533)\n"
	"  --no-seccomp             no seccomp filters on nook's threads; for debugging\n"
	"  -h, --help               show this help\n";

/* SIGINT, SIGTERM and SIGHUP stop the program; nook then exits with its
 * status, or with 128+N when the VM had to be ended by force. A sandbox's
 * monitor sends the SANDBOX_SIG_* signals. */
struct signal_watch {
	sigset_t set;
	nook_vm *vm;
	int signal;
};

/* The first signal goes on to the program, which gets some time to end;
 * a second one ends the VM at once. */
static void *signal_thread(void *arg)
{
	struct signal_watch *w = arg;
	unsigned timeout = NOOK_VM_STOP_TIMEOUT_MS;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&w->set, &si);
		if (sig < 0 && errno == EINTR)
			continue;
		if (sig < 0)
			return NULL;
		if (sig == SANDBOX_SIG_SIGNAL) {
			nook_vm_signal(w->vm, si.si_value.sival_int);
			continue;
		}
		if (sig == SANDBOX_SIG_STOP) {
			/* Ended by force: as if killed (docker stop's 137). */
			__atomic_store_n(&w->signal, SIGKILL, __ATOMIC_SEQ_CST);
			nook_vm_stop(w->vm, SIGTERM, (unsigned)si.si_value.sival_int);
			continue;
		}
		__atomic_store_n(&w->signal, sig, __ATOMIC_SEQ_CST);
		nook_vm_stop(w->vm, sig, timeout);
		timeout = 0;
	}
}

static int run_vm(nook_vm *vm, struct signal_watch *w, nook_error **err)
{
	pthread_t t;
	w->vm = vm;
	if (pthread_create(&t, NULL, signal_thread, w) != 0)
		return -EAGAIN;
	struct boot_progress *progress = boot_progress_start(vm);
	int r = nook_vm_start(vm, err);
	if (r == 0)
		r = nook_vm_wait(vm, err);
	boot_progress_stop(progress);
	pthread_cancel(t);
	pthread_join(t, NULL);
	int sig = __atomic_load_n(&w->signal, __ATOMIC_SEQ_CST);
	if (sig && r == -ECANCELED) {
		nook_error_free(*err);
		*err = NULL;
		return 128 + sig;
	}
	return r;
}

/* --jail-uid UID[:GID]; without GID, (gid_t)-1: UID's primary group. */
static bool parse_jail_ids(const char *text, uid_t *uid, gid_t *gid)
{
	char *end;
	errno = 0;
	unsigned long u = strtoul(text, &end, 10), g = (gid_t)-1;
	if (*end == ':' && end[1])
		g = strtoul(end + 1, &end, 10);
	if (errno || *end || end == text || text[0] == '-' || u >= UINT32_MAX || g > UINT32_MAX)
		return false;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return true;
}

/* The jail (as root) or Landlock, no_new_privs and seccomp
 * (nook/confine.h). Returns false to build and run the VM in this process,
 * true to exit with *status: the jailed child's, or 125. */
static bool confine_process(const nook_vm_config *cfg, const struct run_state *st,
			    nook_confine **out, int *status)
{
	nook_confine *c = *out = nook_confine_new();
	*status = EXIT_NOOK_FAILED;
	if (!c)
		return fail("%s%s", "out of memory", "");
	nook_confine_set_jail(c, !st->no_jail);
	uid_t uid;
	gid_t gid;
	if (st->jail_ids && (!parse_jail_ids(st->jail_ids, &uid, &gid) ||
			     nook_confine_set_jail_ids(c, uid, gid) < 0))
		return fail("--jail-uid \"%s\": expected UID[:GID], numbers other than 0%s",
			    st->jail_ids, "");
	nook_error *err = NULL;
	int r = nook_confine_enter(c, cfg, status, &err);
	if (r < 0)
		*status = fail_error(err);
	return r != NOOK_CONFINE_RUN;
}

static void close_port_fds(struct run_state *st)
{
	for (size_t i = 0; i < st->nport_fds; i++)
		close(st->port_fds[i]);
	free(st->port_fds);
	st->port_fds = NULL;
	st->nport_fds = 0;
}

void run_state_free(struct run_state *st)
{
	close_port_fds(st);
	free(st->overlay);
	free(st->env);
	run_image_free(st);
	st->overlay = NULL;
	st->env = NULL;
}

int parse_run_args(int argc, char **argv, const char *usage, nook_vm_config *cfg,
		   struct run_state *st)
{
	/* A command line shows warnings (a snapshot replaced, say). */
	nook_vm_config_set_log(cfg, NOOK_LOG_WARN, NULL, NULL);
	int opt, status = 0;
	optind = 1;
	while (status == 0 && (opt = getopt_long(argc, argv, RUN_SHORT_OPTIONS, run_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return -1;
		}
		status = apply_option(cfg, opt, optarg, st);
	}
	if (status)
		return status;
	if (st->dax_window)
		return fail("--dax-window %s: no -v after it (it gives the next -v a DAX window)%s",
			    st->dax_window, "");
	/* A sandbox network defaults to its own subnet (the low-level default
	 * is any). */
	if (st->net && !st->scope)
		nook_vm_config_set_net_scope(cfg, NOOK_NETWORK_SCOPE_DEFAULT);
	if (st->noverlay && nook_vm_config_set_fs_root_overlay(cfg, st->overlay, st->noverlay) < 0)
		return fail("--overlay: %s%s", "out of memory", "");
	if (st->entrypoint && !st->image)
		return fail("--entrypoint %s: only with --image%s", st->entrypoint, "");
	if (st->image && (st->noverlay || st->rootfs))
		return fail("--image %s: not with --rootfs or --overlay%s", st->image, "");
	if (st->image && (status = run_image_open(st)))
		return status;
	/* -e, -w and -u are the program's; the VMM of run -t has none (its
	 * program is an exec, which gets them). */
	bool program = (optind < argc || st->image) && !(st->tty && st->sandbox_dir);
	if (!program && !st->tty && (st->nenv || st->workdir || st->user))
		return fail("-e, -w and -u need a PROGRAM (for a sandbox's later programs, give "
			    "them to 'nook exec')%s%s", "", "");
	int r = 0;
	for (size_t i = 0; program && r == 0 && i < st->nenv; i++)
		r = nook_vm_config_add_env(cfg, st->env[i]);
	if (program && r == 0 && st->workdir)
		r = nook_vm_config_set_workdir(cfg, st->workdir);
	if (program && r == 0 && st->user)
		r = nook_vm_config_set_user(cfg, st->user);
	/* PROGRAM ARGS, or the image's */
	const char **prog = NULL;
	const char *const *args = (const char *const *)argv + optind;
	size_t nargs = program ? (size_t)(argc - optind) : 0;
	if (program && r == 0 && st->image &&
	    (status = run_image_program(st, argv + optind, nargs, &prog)))
		return status;
	if (prog)
		for (args = prog, nargs = 0; prog[nargs];)
			nargs++;
	for (size_t i = 0; r == 0 && i < nargs; i++)
		r = i ? nook_vm_config_add_arg(cfg, args[i]) : nook_vm_config_set_exec_path(cfg, args[i]);
	free(prog);
	return r < 0 ? fail("%s%s", strerror(-r), "") : 0;
}

/* A member of --group: NAT first when the scope reaches outside (the
 * first device routes), then the group's segment, its hosts file. */
static int join_group(nook_vm_config *cfg, const struct run_state *st, const char *name)
{
	struct group_member m;
	int r = group_join(st->group, name, &m);
	if (r)
		return r;
	bool outside = st->scope && (st->scope_value == NOOK_NETWORK_SCOPE_PUBLIC ||
				     st->scope_value == NOOK_NETWORK_SCOPE_ANY);
	if (outside && !st->net)
		r = nook_vm_config_add_net_user(cfg);
	if (!st->scope)
		nook_vm_config_set_net_scope(cfg, NOOK_NETWORK_SCOPE_GROUP);
	nook_vm_config_set_net_segment(cfg, m.ip, &m.subnet);
	if (r == 0)
		r = nook_vm_config_add_net_vde(cfg, m.switch_url);
	if (r == 0)
		r = nook_vm_config_add_fs_volume(cfg, m.hosts, "/etc/hosts", true);
	return r < 0 ? fail("--group %s: %s", st->group, strerror(-r)) : 0;
}

/* The VM of a sandbox (sandbox.c starts it through its monitor): the agent
 * on a vsock socket in the sandbox's directory, the program's output on
 * stdout (the sandbox's log), its stdin /dev/null, the sandbox's name as
 * the host name. */
static int prepare_sandbox_vmm(nook_vm_config *cfg, const struct run_state *st)
{
	char path[4096];
	const char *name = strrchr(st->sandbox_dir, '/') ? strrchr(st->sandbox_dir, '/') + 1
							 : st->sandbox_dir;
	int r = 0;
	if (!st->vsock) {
		snprintf(path, sizeof(path), "%s/" SANDBOX_VSOCK, st->sandbox_dir);
		r = nook_vm_config_set_vsock_path(cfg, path);
	}
	if (r == 0 && !st->hostname)
		r = nook_vm_config_set_hostname(cfg, name);
	nook_vm_config_set_stdio(cfg, STDIN_FILENO, STDOUT_FILENO, STDOUT_FILENO);
	/* Execs start from the program's -e, -w and -u (an image's Env,
	 * WorkingDir and User among them), as docker exec does. */
	const char **defaults = calloc(2 * st->nenv + 4, sizeof(*defaults));
	int n = 0;
	for (size_t i = 0; defaults && i < st->nenv; i++) {
		defaults[n++] = "-e";
		defaults[n++] = st->env[i];
	}
	if (defaults && st->workdir) {
		defaults[n++] = "-w";
		defaults[n++] = st->workdir;
	}
	if (defaults && st->user) {
		defaults[n++] = "-u";
		defaults[n++] = st->user;
	}
	if (r == 0)
		r = defaults ? strings_write(st->sandbox_dir, SANDBOX_EXEC_DEFAULTS, n, defaults)
			     : -ENOMEM;
	free(defaults);
	if (r < 0)
		return fail("sandbox %s: %s", name, strerror(-r));
	return st->group ? join_group(cfg, st, name) : 0;
}

int cmd_run(int argc, char **argv, uint64_t t_main)
{
	nook_vm_config *cfg = nook_vm_config_new();
	if (!cfg)
		return fail("%s%s", "out of memory", "");
	struct run_state st = {0};
	int status = parse_run_args(argc, argv, usage_run, cfg, &st);
	if (status == 0 && !st.sandbox_dir && (st.detach || st.tty || st.name)) {
		/* A sandbox of its own, in the background (sandbox.c). */
		nook_vm_config_free(cfg);
		status = run_in_sandbox(argc, argv, optind, &st);
		run_state_free(&st);
		return status;
	}
	if (status == 0 && st.group && !st.sandbox_dir)
		status = fail("--group %s: only for a sandbox (run -d, or create)%s", st.group, "");
	if (status == 0 && optind >= argc && !st.sandbox_dir && !st.image) {
		fprintf(stderr, "nook: run: no PROGRAM given\n%s", usage_run);
		status = EXIT_NOOK_FAILED;
	}
	if (status == 0 && st.sandbox_dir)
		status = prepare_sandbox_vmm(cfg, &st);
	if (status == 0 && st.image)
		status = run_image_root(cfg, &st);
	if (status != 0) {
		nook_vm_config_free(cfg);
		run_image_done(&st);
		run_state_free(&st);
		return status < 0 ? 0 : status;
	}
	return run_config(cfg, &st, t_main);
}

int run_config(nook_vm_config *cfg, struct run_state *st, uint64_t t_main)
{
	int status;
	/* Blocked in every thread, so that only the watcher receives them. */
	struct signal_watch watch = {0};
	sigemptyset(&watch.set);
	sigaddset(&watch.set, SIGINT);
	sigaddset(&watch.set, SIGTERM);
	sigaddset(&watch.set, SIGHUP);
	sigaddset(&watch.set, SANDBOX_SIG_SIGNAL);
	sigaddset(&watch.set, SANDBOX_SIG_STOP);
	pthread_sigmask(SIG_BLOCK, &watch.set, NULL);

	/* After the mask: the jail's child inherits it. */
	nook_confine *confine = NULL;
	if (confine_process(cfg, st, &confine, &status)) {
		nook_confine_free(confine);
		nook_vm_config_free(cfg);
		run_image_done(st);
		run_state_free(st);
		return status;
	}
	nook_error *err = NULL;
	nook_vm *vm = NULL;
	int r = nook_vm_build(cfg, &vm, &err);
	nook_vm_config_free(cfg);
	/* The VM has copies of its own: a reader of a port then sees end of
	 * file when the guest closes it. */
	run_state_free(st);
	if (r == 0)
		r = nook_confine_seal(confine, &err);
	nook_confine_free(confine);
	if (r == 0)
		r = run_vm(vm, &watch, &err);
	if (vm && st->boot_time)
		print_boot_times(vm, t_main);
	if (vm && st->stats)
		print_metrics(vm);
	nook_vm_free(vm);
	run_image_done(st);
	return r < 0 ? fail_error(err) : r;
}
