/* nook: the command line. It uses only the public libnook API; every flag
 * maps onto one nook_vm_config call (README, "CLI and API"). Exit status:
 * the guest program's, or 125 when nook itself fails (as docker run does). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nook/confine.h>
#include <nook/parse.h>
#include <nook/vm.h>

#define EXIT_NOOK_FAILED 125

static const char usage_main[] =
	"Usage: nook COMMAND [OPTIONS]\n"
	"\n"
	"Run a program in its own lightweight Linux virtual machine.\n"
	"\n"
	"Commands:\n"
	"  run       Start a microVM and run a program in it\n"
	"  snapshot  List or empty the cache of warm-start snapshots\n"
	"  version   Print the version\n"
	"\n"
	"Run 'nook run --help' for the options of run.\n";

static const char usage_snapshot[] =
	"Usage: nook snapshot list\n"
	"       nook snapshot prune\n"
	"\n"
	"The first run of each machine shape (kernel, command line, memory, vCPUs)\n"
	"boots the kernel and saves a snapshot of the booted guest; later runs\n"
	"restore it instead. They live in $NOOK_CACHE_DIR (else ~/.cache/nook).\n"
	"  list   one line per snapshot: key, memory, disk space, age, what it is for\n"
	"  prune  remove them all (running sandboxes are not affected)\n";

static const char usage_run[] =
	"Usage: nook run [OPTIONS] [--] PROGRAM [ARG...]\n"
	"\n"
	"Start a microVM with the built-in kernel and root filesystem (busybox, with\n"
	"the guest's changes kept in guest memory) and run PROGRAM in it. Its stdin,\n"
	"stdout and stderr are nook's; nook exits with its exit status (128+N when\n"
	"killed by signal N), or 125 when nook fails. The first run of a machine\n"
	"shape boots the kernel and saves a snapshot; later runs start from it.\n"
	"\n"
	"Options:\n"
	"  --cpus N                 virtual CPUs (default 1)\n"
	"  --memory MIB             guest memory in MiB (default 512)\n"
	"  --hyperthreading         present the vCPUs as cores of 2 threads (needs an\n"
	"                           even --cpus; default: one thread per core)\n"
	"  --nested-virt            offer VMX/SVM to the guest, if the host's KVM can\n"
	"                           nest (PVM hosts cannot)\n"
	"  --kernel PATH            kernel: vmlinux (ELF) or bzImage (default: built-in)\n"
	"  --rootfs DIR             root filesystem: host directory DIR, read-write\n"
	"  --overlay DIR            root filesystem layer (repeatable, lowest first); the\n"
	"                           last one receives the guest's writes, the others\n"
	"                           are never changed\n"
	"  -v, --volume HOST:GUEST[:ro]\n"
	"                           share a host directory or file at GUEST (repeatable);\n"
	"                           :ro makes it read-only, enforced by the host\n"
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
	"  --net none|user|tap:NAME|unixstream:PATH|unixgram:PATH[,vfkit]\n"
	"                           a network device (repeatable): user-mode NAT with\n"
	"                           DHCP and DNS, a host TAP interface, or a socket of\n"
	"                           passt (stream) or gvproxy/vfkit (datagram)\n"
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

static uint64_t monotonic_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int fail(const char *fmt, const char *arg, const char *detail)
{
	fprintf(stderr, "nook: ");
	fprintf(stderr, fmt, arg, detail);
	fprintf(stderr, "\n");
	return EXIT_NOOK_FAILED;
}

static int fail_error(nook_error *err)
{
	fprintf(stderr, "nook: %s\n", nook_error_message(err));
	nook_error_free(err);
	return EXIT_NOOK_FAILED;
}

static int parse_on_off(const char *flag, const char *arg, bool *on)
{
	if (strcmp(arg, "on") == 0 || strcmp(arg, "off") == 0) {
		*on = arg[1] == 'n';
		return 0;
	}
	fprintf(stderr, "nook: %s \"%s\": expected on or off\n", flag, arg);
	return -EINVAL;
}

static int parse_count(const char *flag, const char *text, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (!*text || *end || errno || text[0] == '-' || v > max) {
		fprintf(stderr, "nook: %s \"%s\": expected a whole number up to %" PRIu64 "\n", flag,
			text, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* " name=X ms" for the phase from a to b, when both happened. */
static void print_phase(const char *name, double a, double b)
{
	if (a >= 0 && b >= 0)
		fprintf(stderr, " %s=%.1f ms", name, b - a);
}

static void print_boot_times(const nook_vm *vm, uint64_t t_main)
{
	static const char *const kinds[] = {
		[NOOK_VM_BOOT_COLD] = "cold",
		[NOOK_VM_BOOT_COLD_SNAPSHOT] = "cold+snapshot",
		[NOOK_VM_BOOT_RESTORED] = "restored",
	};
	struct nook_boot_times t;
	nook_vm_get_boot_times(vm, &t);
	double vmm = t.first_run_ns ? (double)(t.first_run_ns - t_main) / 1e6 : -1;
	/* From main(): the phases count from nook_vm_build(). */
	double offset = vmm - t.first_kvm_run_ms;
	fprintf(stderr, "nook: boot-time: boot=%s vmm-start=%.2f ms", kinds[nook_vm_get_boot_kind(vm)],
		vmm);
	print_phase("kernel", t.first_kvm_run_ms, t.userspace_ms);
	print_phase("ready", t.userspace_ms, t.ready_ms);
	print_phase("snapshot", t.ready_ms, t.config_ms);
	print_phase("init", t.config_ms, t.program_ms);
	print_phase("program", t.program_ms, t.exit_ms);
	if (t.exit_ms >= 0)
		fprintf(stderr, " total=%.1f ms", t.exit_ms + offset);
	fprintf(stderr, " first-kvm-run-ns=%" PRIu64 "\n", t.first_run_ns);
}

static void print_metrics(nook_vm *vm)
{
	static const char *const exit_kinds[] = {"io", "mmio", "intr", "other"};
	struct nook_vm_metrics *m;
	nook_error *err = NULL;
	if (nook_vm_get_metrics(vm, &m, &err) < 0) {
		fprintf(stderr, "nook: stats: %s\n", nook_error_message(err));
		nook_error_free(err);
		return;
	}
	for (size_t i = 0; i < m->nvcpus; i++) {
		fprintf(stderr, "nook: stats: vcpu %zu cpu=%.3f s exits:", i,
			(double)m->vcpus[i].cpu_ns / 1e9);
		for (int k = 0; k < NOOK_EXIT_KINDS; k++)
			fprintf(stderr, " %s=%" PRIu64, exit_kinds[k], m->vcpus[i].exits[k]);
		fputc('\n', stderr);
	}
	for (size_t i = 0; i < m->ndevices; i++) {
		const struct nook_device_metrics *d = &m->devices[i];
		fprintf(stderr,
			"nook: stats: %s requests=%" PRIu64 " bytes-from-guest=%" PRIu64
			" bytes-to-guest=%" PRIu64,
			d->name, d->requests, d->bytes_from_guest, d->bytes_to_guest);
		if (strncmp(d->name, "net ", 4) == 0)
			fprintf(stderr,
				" frames-from-guest=%" PRIu64 " frames-to-guest=%" PRIu64
				" filtered=%" PRIu64 " dropped=%" PRIu64,
				d->frames_from_guest, d->frames_to_guest, d->frames_filtered,
				d->frames_dropped);
		fputc('\n', stderr);
	}
	fprintf(stderr, "nook: stats: fuse");
	for (unsigned op = 0; op < NOOK_FUSE_OPCODE_SLOTS; op++) {
		if (!m->fuse_ops[op])
			continue;
		const char *name = nook_fuse_opcode_name(op);
		if (name)
			fprintf(stderr, " %s=%" PRIu64, name, m->fuse_ops[op]);
		else
			fprintf(stderr, " op%u=%" PRIu64, op, m->fuse_ops[op]);
	}
	fputc('\n', stderr);
	nook_vm_metrics_free(m);
}

/* On a terminal, the first run of a machine shape says what takes so long
 * until its snapshot is saved. */
struct boot_progress {
	const nook_vm *vm;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void *boot_progress_thread(void *arg)
{
	struct boot_progress *p = arg;
	uint64_t start = monotonic_now_ns();
	struct nook_boot_times t;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		nook_vm_get_boot_times(p->vm, &t);
		if (p->done || t.config_ms >= 0)
			break;
		fprintf(stderr, "\rnook: first run of this machine: booting the kernel to save a "
			"snapshot for later runs... %.0f s",
			(double)(monotonic_now_ns() - start) / 1e9);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&p->cond, &p->lock, &until);
	}
	pthread_mutex_unlock(&p->lock);
	fprintf(stderr, "\r\033[K");
	if (t.config_ms >= 0)
		fprintf(stderr, "nook: snapshot saved after %.0f s of boot; later runs start from it\n",
			(double)(monotonic_now_ns() - start) / 1e9);
	return NULL;
}

enum {
	OPT_CPUS = 256,
	OPT_MEMORY,
	OPT_HYPERTHREADING,
	OPT_NESTED_VIRT,
	OPT_KERNEL,
	OPT_INITRAMFS,
	OPT_INIT,
	OPT_CMDLINE,
	OPT_RLIMIT,
	OPT_CONSOLE_OUTPUT,
	OPT_KERNEL_LOG,
	OPT_CONSOLE_PORT,
	OPT_NO_IMPLICIT_CONSOLE,
	OPT_LOG_LEVEL,
	OPT_BOOT_TIME,
	OPT_METRICS,
	OPT_STATS,
	OPT_PVM,
	OPT_ROOTFS,
	OPT_OVERLAY,
	OPT_NET,
	OPT_MAC,
	OPT_SCOPE,
	OPT_IP,
	OPT_SUBNET,
	OPT_DISK,
	OPT_ALLOW_HOST_LOOPBACK,
	OPT_SNAPSHOT,
	OPT_NO_JAIL,
	OPT_JAIL_UID,
	OPT_NO_SECCOMP,
	OPT_VSOCK,
	OPT_BALLOON,
	OPT_BALLOON_STATS_INTERVAL,
};

static const struct option run_options[] = {
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"hyperthreading", no_argument, NULL, OPT_HYPERTHREADING},
	{"nested-virt", no_argument, NULL, OPT_NESTED_VIRT},
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initramfs", required_argument, NULL, OPT_INITRAMFS},
	{"init", required_argument, NULL, OPT_INIT},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"env", required_argument, NULL, 'e'},
	{"workdir", required_argument, NULL, 'w'},
	{"rlimit", required_argument, NULL, OPT_RLIMIT},
	{"console-output", required_argument, NULL, OPT_CONSOLE_OUTPUT},
	{"kernel-log", required_argument, NULL, OPT_KERNEL_LOG},
	{"console-port", required_argument, NULL, OPT_CONSOLE_PORT},
	{"disable-implicit-console", no_argument, NULL, OPT_NO_IMPLICIT_CONSOLE},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"boot-time", no_argument, NULL, OPT_BOOT_TIME},
	{"metrics", required_argument, NULL, OPT_METRICS},
	{"stats", no_argument, NULL, OPT_STATS},
	{"pvm", required_argument, NULL, OPT_PVM},
	{"rootfs", required_argument, NULL, OPT_ROOTFS},
	{"overlay", required_argument, NULL, OPT_OVERLAY},
	{"net", required_argument, NULL, OPT_NET},
	{"mac", required_argument, NULL, OPT_MAC},
	{"vsock", required_argument, NULL, OPT_VSOCK},
	{"scope", required_argument, NULL, OPT_SCOPE},
	{"ip", required_argument, NULL, OPT_IP},
	{"subnet", required_argument, NULL, OPT_SUBNET},
	{"publish", required_argument, NULL, 'p'},
	{"volume", required_argument, NULL, 'v'},
	{"disk", required_argument, NULL, OPT_DISK},
	{"allow-host-loopback", no_argument, NULL, OPT_ALLOW_HOST_LOOPBACK},
	{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
	{"no-jail", no_argument, NULL, OPT_NO_JAIL},
	{"jail-uid", required_argument, NULL, OPT_JAIL_UID},
	{"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
	{"balloon", required_argument, NULL, OPT_BALLOON},
	{"balloon-stats-interval", required_argument, NULL, OPT_BALLOON_STATS_INTERVAL},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* What the options gather before they go into the config. */
struct run_state {
	bool boot_time;
	bool stats;
	const char **overlay; /* --overlay layers, lowest first */
	size_t noverlay;
	bool net, scope; /* a --net device, a --scope */
	bool no_jail;
	const char *jail_ids; /* --jail-uid */
	int *port_fds; /* --console-port's, closed once the VM has its copies */
	size_t nport_fds;
};

/* A UNIX stream socket connected to `path`, or -1 with errno. */
static int connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* --console-port NAME=PATH | NAME=in:PATH (see usage_run). The fds are
 * opened here, as a shell's redirections would be: a FIFO waits for its
 * other end. */
static int add_console_port(nook_vm_config *cfg, const char *arg, struct run_state *st)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg || !eq[1])
		return fail("--console-port \"%s\": expected NAME=PATH or NAME=in:PATH%s", arg, "");
	char *name = strndup(arg, (size_t)(eq - arg));
	int *fds = realloc(st->port_fds, (st->nport_fds + 1) * sizeof(*fds));
	if (!name || !fds) {
		free(name);
		return fail("%s%s", "out of memory", "");
	}
	st->port_fds = fds;
	const char *path = eq + 1;
	bool input = strncmp(path, "in:", 3) == 0;
	struct stat sb;
	int fd, in_fd = -1, out_fd = -1;
	if (input) {
		path += 3;
		fd = in_fd = open(path, O_RDONLY | O_CLOEXEC);
	} else if (stat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
		fd = in_fd = out_fd = connect_unix(path);
	} else {
		fd = out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	}
	if (fd < 0) {
		int e = errno;
		free(name);
		return fail("--console-port %s: %s", arg, strerror(e));
	}
	st->port_fds[st->nport_fds++] = fd;
	int r = nook_vm_config_add_console_port(cfg, name, in_fd, out_fd);
	free(name);
	return r < 0 ? fail("--console-port %s: %s", arg, strerror(-r)) : 0;
}

/* --net none|user|tap:NAME|unixstream:PATH|unixgram:PATH[,vfkit] */
static int add_net(nook_vm_config *cfg, const char *arg, struct run_state *st)
{
	const char *colon = strchr(arg, ':');
	size_t kind_len = colon ? (size_t)(colon - arg) : strlen(arg);
	const char *rest = colon ? colon + 1 : "";
	int r;
	if (strcmp(arg, "none") == 0)
		return 0;
	if (strcmp(arg, "user") == 0) {
		r = nook_vm_config_add_net_user(cfg);
	} else if (colon && *rest && kind_len == 3 && strncmp(arg, "tap", 3) == 0) {
		r = nook_vm_config_add_net_tap(cfg, rest);
	} else if (colon && *rest && kind_len == 10 && strncmp(arg, "unixstream", 10) == 0) {
		r = nook_vm_config_add_net_unixstream_path(cfg, rest);
	} else if (colon && *rest && kind_len == 8 && strncmp(arg, "unixgram", 8) == 0) {
		size_t len = strlen(rest);
		bool vfkit = len > 6 && strcmp(rest + len - 6, ",vfkit") == 0;
		char *path = strndup(rest, vfkit ? len - 6 : len);
		r = path ? nook_vm_config_add_net_unixgram_path(cfg, path, vfkit) : -ENOMEM;
		free(path);
	} else {
		return fail("--net \"%s\": expected none, user, tap:NAME, unixstream:PATH or "
			    "unixgram:PATH[,vfkit]%s", arg, "");
	}
	st->net = true;
	return r < 0 ? fail("--net %s: %s", arg, strerror(-r)) : 0;
}

/* One ,key[=value] setting of --disk. */
static int apply_disk_setting(nook_vm_config *cfg, const char *arg, const char *s)
{
	static const char *const formats[] = {"raw", "qcow2", "vmdk", "auto"};
	static const enum nook_disk_format format_values[] = {
		NOOK_DISK_FORMAT_RAW, NOOK_DISK_FORMAT_QCOW2, NOOK_DISK_FORMAT_VMDK,
		NOOK_DISK_FORMAT_AUTO};
	static const char *const syncs[] = {"none", "relaxed", "full"};
	static const enum nook_disk_sync sync_values[] = {NOOK_DISK_SYNC_NONE, NOOK_DISK_SYNC_RELAXED,
							   NOOK_DISK_SYNC_FULL};
	if (strcmp(s, "ro") == 0) {
		nook_vm_config_set_disk_read_only(cfg, true);
		return 0;
	}
	if (strcmp(s, "direct") == 0) {
		nook_vm_config_set_disk_direct_io(cfg, true);
		return 0;
	}
	if (strcmp(s, "backing=on") == 0 || strcmp(s, "backing=off") == 0) {
		nook_vm_config_set_disk_allow_backing(cfg, s[9] == 'n');
		return 0;
	}
	if (strncmp(s, "id=", 3) == 0) {
		int r = nook_vm_config_set_disk_id(cfg, s + 3);
		return r < 0 ? fail("--disk %s: %s", arg, strerror(-r)) : 0;
	}
	if (strcmp(s, "cache=writeback") == 0 || strcmp(s, "cache=unsafe") == 0) {
		nook_vm_config_set_disk_cache(cfg, s[6] == 'w' ? NOOK_DISK_CACHE_WRITEBACK
							       : NOOK_DISK_CACHE_UNSAFE);
		return 0;
	}
	for (size_t i = 0; strncmp(s, "format=", 7) == 0 && i < 4; i++)
		if (strcmp(s + 7, formats[i]) == 0) {
			nook_vm_config_set_disk_format(cfg, format_values[i]);
			return 0;
		}
	for (size_t i = 0; strncmp(s, "sync=", 5) == 0 && i < 3; i++)
		if (strcmp(s + 5, syncs[i]) == 0) {
			nook_vm_config_set_disk_sync(cfg, sync_values[i]);
			return 0;
		}
	return fail("--disk %s: unknown setting \"%s\" (expected format=raw|qcow2|vmdk|auto, id=ID, "
		    "ro, cache=writeback|unsafe, direct, sync=none|relaxed|full or backing=on|off)",
		    arg, s);
}

/* --disk PATH[,setting...] */
static int add_disk(nook_vm_config *cfg, const char *arg)
{
	char *copy = strdup(arg);
	if (!copy)
		return fail("%s%s", "out of memory", "");
	char *save = NULL;
	char *path = strtok_r(copy, ",", &save);
	int status = 0;
	if (!path || arg[0] == ',')
		status = fail("--disk \"%s\": expected PATH[,settings]%s", arg, "");
	/* The settings go with the disk added after them. */
	for (char *s; status == 0 && (s = strtok_r(NULL, ",", &save));)
		status = apply_disk_setting(cfg, arg, s);
	int r = status == 0 ? nook_vm_config_add_disk(cfg, path) : 0;
	if (r < 0)
		status = fail("--disk %s: %s", arg, strerror(-r));
	free(copy);
	return status;
}

static int parse_mac(const char *arg, uint8_t mac[6])
{
	unsigned v[6];
	char end;
	if (sscanf(arg, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6 || strlen(arg) != 17)
		return fail("--mac \"%s\": expected six hex bytes, XX:XX:XX:XX:XX:XX%s", arg, "");
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* Applies one option to the config; returns 0 or an exit status. */
static int apply_option(nook_vm_config *cfg, int opt, const char *arg, struct run_state *st)
{
	nook_error *err = NULL;
	uint64_t n;
	int r = 0;
	switch (opt) {
	case OPT_CPUS:
		if (parse_count("--cpus", arg, 4096, &n) < 0)
			return EXIT_NOOK_FAILED;
		nook_vm_config_set_vcpus(cfg, (unsigned)n);
		break;
	case OPT_MEMORY:
		if (parse_count("--memory", arg, UINT64_MAX >> 20, &n) < 0)
			return EXIT_NOOK_FAILED;
		nook_vm_config_set_memory_mib(cfg, n);
		break;
	case OPT_HYPERTHREADING:
		nook_vm_config_set_hyperthreading(cfg, true);
		break;
	case OPT_NESTED_VIRT:
		nook_vm_config_set_nested_virt(cfg, true);
		break;
	case OPT_KERNEL:
		r = nook_vm_config_set_kernel_path(cfg, arg);
		break;
	case OPT_INITRAMFS:
		r = nook_vm_config_set_initramfs_path(cfg, arg);
		break;
	case OPT_INIT:
		r = nook_vm_config_set_init_path(cfg, arg);
		break;
	case OPT_CMDLINE:
		r = nook_vm_config_append_cmdline(cfg, arg);
		break;
	case 'e': {
		struct nook_env_pair env;
		if (nook_parse_env_pair(arg, &env, &err) < 0)
			return fail_error(err);
		nook_env_pair_clear(&env);
		r = nook_vm_config_add_env(cfg, arg);
		break;
	}
	case 'w':
		r = nook_vm_config_set_workdir(cfg, arg);
		break;
	case OPT_RLIMIT: {
		struct nook_rlimit rl;
		if (nook_parse_rlimit(arg, &rl, &err) < 0)
			return fail_error(err);
		r = nook_vm_config_add_rlimit(cfg, rl.resource, rl.soft, rl.hard);
		break;
	}
	case OPT_CONSOLE_OUTPUT:
		r = nook_vm_config_set_console_output(cfg, arg);
		break;
	case OPT_KERNEL_LOG:
		r = nook_vm_config_set_kernel_log(cfg, arg);
		break;
	case OPT_CONSOLE_PORT:
		return add_console_port(cfg, arg, st);
	case OPT_NO_IMPLICIT_CONSOLE:
		nook_vm_config_disable_implicit_console(cfg);
		break;
	case OPT_VSOCK:
		r = nook_vm_config_set_vsock_path(cfg, arg);
		break;
	case OPT_LOG_LEVEL: {
		enum nook_log_level level;
		if (nook_parse_log_level(arg, &level, &err) < 0)
			return fail_error(err);
		nook_vm_config_set_log(cfg, level, NULL, NULL);
		break;
	}
	case OPT_BOOT_TIME:
		st->boot_time = true;
		break;
	case OPT_METRICS: {
		bool on;
		if (parse_on_off("--metrics", arg, &on) < 0)
			return EXIT_NOOK_FAILED;
		nook_vm_config_set_metrics(cfg, on);
		break;
	}
	case OPT_STATS:
		st->stats = true;
		break;
	case OPT_ROOTFS:
		r = nook_vm_config_add_fs_root(cfg, arg);
		break;
	case OPT_OVERLAY: {
		const char **layers = realloc(st->overlay, (st->noverlay + 1) * sizeof(*layers));
		if (!layers)
			return fail("%s%s", "out of memory", "");
		st->overlay = layers;
		st->overlay[st->noverlay++] = arg;
		break;
	}
	case 'v': {
		struct nook_path_pair pair;
		if (nook_parse_path_pair(arg, &pair, &err) < 0)
			return fail_error(err);
		r = nook_vm_config_add_fs_volume(cfg, pair.host, pair.guest, pair.read_only);
		nook_path_pair_clear(&pair);
		break;
	}
	case OPT_NET:
		return add_net(cfg, arg, st);
	case OPT_DISK:
		return add_disk(cfg, arg);
	case OPT_ALLOW_HOST_LOOPBACK:
		nook_vm_config_set_net_allow_host_loopback(cfg, true);
		break;
	case OPT_SNAPSHOT:
		if (strcmp(arg, "auto") == 0)
			nook_vm_config_set_snapshot_mode(cfg, NOOK_SNAPSHOT_AUTO);
		else if (strcmp(arg, "off") == 0)
			nook_vm_config_set_snapshot_mode(cfg, NOOK_SNAPSHOT_OFF);
		else if (strcmp(arg, "refresh") == 0)
			nook_vm_config_set_snapshot_mode(cfg, NOOK_SNAPSHOT_REFRESH);
		else
			return fail("--snapshot \"%s\": expected auto, off or refresh%s", arg, "");
		break;
	case OPT_NO_JAIL:
		st->no_jail = true;
		break;
	case OPT_JAIL_UID:
		st->jail_ids = arg;
		break;
	case OPT_NO_SECCOMP:
		nook_vm_config_set_seccomp(cfg, false);
		break;
	case OPT_MAC: {
		uint8_t mac[6];
		if (parse_mac(arg, mac) != 0)
			return EXIT_NOOK_FAILED;
		nook_vm_config_set_net_mac(cfg, mac);
		break;
	}
	case OPT_SCOPE: {
		enum nook_network_scope scope;
		if (nook_parse_network_scope(arg, &scope, &err) < 0)
			return fail_error(err);
		nook_vm_config_set_net_scope(cfg, scope);
		st->scope = true;
		break;
	}
	case OPT_IP: {
		struct in_addr ip;
		if (nook_parse_ipv4(arg, &ip, &err) < 0)
			return fail_error(err);
		nook_vm_config_set_net_ipv4(cfg, ip);
		break;
	}
	case OPT_SUBNET: {
		struct nook_ipv4_subnet subnet;
		if (nook_parse_ipv4_subnet(arg, &subnet, &err) < 0)
			return fail_error(err);
		nook_vm_config_set_net_subnet(cfg, &subnet);
		break;
	}
	case 'p': {
		struct nook_port_pair port;
		if (nook_parse_port_pair(arg, &port, &err) < 0)
			return fail_error(err);
		r = nook_vm_config_add_net_port(cfg, &port);
		break;
	}
	case OPT_PVM:
		if (strcmp(arg, "auto") == 0)
			nook_vm_config_set_pvm_mode(cfg, NOOK_PVM_AUTO);
		else if (strcmp(arg, "on") == 0)
			nook_vm_config_set_pvm_mode(cfg, NOOK_PVM_ON);
		else if (strcmp(arg, "off") == 0)
			nook_vm_config_set_pvm_mode(cfg, NOOK_PVM_OFF);
		else
			return fail("--pvm \"%s\": expected auto, on or off%s", arg, "");
		break;
	case OPT_BALLOON: {
		bool on;
		if (parse_on_off("--balloon", arg, &on) < 0)
			return EXIT_NOOK_FAILED;
		nook_vm_config_set_balloon(cfg, on);
		break;
	}
	case OPT_BALLOON_STATS_INTERVAL:
		/* A day is long enough for anyone who wants statistics. */
		if (parse_count("--balloon-stats-interval", arg, 86400000, &n) < 0)
			return EXIT_NOOK_FAILED;
		nook_vm_config_set_balloon_stats_interval_ms(cfg, n);
		break;
	default:
		fprintf(stderr, "Run 'nook run --help' for the options.\n");
		return EXIT_NOOK_FAILED;
	}
	return r < 0 ? fail("%s: %s", arg, strerror(-r)) : 0;
}

/* SIGINT, SIGTERM and SIGHUP stop the program; nook then exits with its
 * status, or with 128+N when the VM had to be ended by force. */
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
	int sig;
	for (unsigned timeout = NOOK_VM_STOP_TIMEOUT_MS; sigwait(&w->set, &sig) == 0; timeout = 0) {
		__atomic_store_n(&w->signal, sig, __ATOMIC_SEQ_CST);
		nook_vm_stop(w->vm, sig, timeout);
	}
	return NULL;
}

static int run_vm(nook_vm *vm, struct signal_watch *w, nook_error **err)
{
	pthread_t t;
	w->vm = vm;
	if (pthread_create(&t, NULL, signal_thread, w) != 0)
		return -EAGAIN;
	struct boot_progress progress = {.vm = vm, .lock = PTHREAD_MUTEX_INITIALIZER,
					 .cond = PTHREAD_COND_INITIALIZER};
	pthread_t progress_thread;
	bool show_progress = nook_vm_get_boot_kind(vm) == NOOK_VM_BOOT_COLD_SNAPSHOT &&
			     isatty(STDERR_FILENO) &&
			     pthread_create(&progress_thread, NULL, boot_progress_thread, &progress) == 0;
	int r = nook_vm_start(vm, err);
	if (r == 0)
		r = nook_vm_wait(vm, err);
	if (show_progress) {
		pthread_mutex_lock(&progress.lock);
		progress.done = true;
		pthread_cond_signal(&progress.cond);
		pthread_mutex_unlock(&progress.lock);
		pthread_join(progress_thread, NULL);
	}
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

static int cmd_run(int argc, char **argv, uint64_t t_main)
{
	nook_vm_config *cfg = nook_vm_config_new();
	if (!cfg)
		return fail("%s%s", "out of memory", "");
	/* A command line shows warnings (a snapshot replaced, say). */
	nook_vm_config_set_log(cfg, NOOK_LOG_WARN, NULL, NULL);
	struct run_state st = {0};
	int opt, status = 0;
	optind = 1;
	/* '+': options end at PROGRAM, whose own options are its business. */
	while (status == 0 && (opt = getopt_long(argc, argv, "+he:w:v:p:", run_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_run, stdout);
			nook_vm_config_free(cfg);
			free(st.overlay);
			close_port_fds(&st);
			return 0;
		}
		status = apply_option(cfg, opt, optarg, &st);
	}
	/* A sandbox network defaults to its own subnet (the low-level default
	 * is any). */
	if (st.net && !st.scope)
		nook_vm_config_set_net_scope(cfg, NOOK_NETWORK_SCOPE_DEFAULT);
	if (status == 0 && st.noverlay &&
	    nook_vm_config_set_fs_root_overlay(cfg, st.overlay, st.noverlay) < 0)
		status = fail("--overlay: %s%s", "out of memory", "");
	free(st.overlay);
	if (status == 0 && optind >= argc) {
		fprintf(stderr, "nook: run: no PROGRAM given\n%s", usage_run);
		status = EXIT_NOOK_FAILED;
	}
	if (status != 0) {
		nook_vm_config_free(cfg);
		close_port_fds(&st);
		return status;
	}
	int r = nook_vm_config_set_exec_path(cfg, argv[optind]);
	for (int i = optind + 1; r == 0 && i < argc; i++)
		r = nook_vm_config_add_arg(cfg, argv[i]);
	if (r < 0) {
		nook_vm_config_free(cfg);
		close_port_fds(&st);
		return fail("%s%s", strerror(-r), "");
	}

	/* Blocked in every thread, so that only the watcher receives them. */
	struct signal_watch watch = {0};
	sigemptyset(&watch.set);
	sigaddset(&watch.set, SIGINT);
	sigaddset(&watch.set, SIGTERM);
	sigaddset(&watch.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &watch.set, NULL);

	/* After the mask: the jail's child inherits it. */
	nook_confine *confine = NULL;
	if (confine_process(cfg, &st, &confine, &status)) {
		nook_confine_free(confine);
		nook_vm_config_free(cfg);
		close_port_fds(&st);
		return status;
	}
	nook_error *err = NULL;
	nook_vm *vm = NULL;
	r = nook_vm_build(cfg, &vm, &err);
	nook_vm_config_free(cfg);
	/* The VM has copies of its own: a reader of a port then sees end of
	 * file when the guest closes it. */
	close_port_fds(&st);
	if (r == 0)
		r = nook_confine_seal(confine, &err);
	nook_confine_free(confine);
	if (r == 0)
		r = run_vm(vm, &watch, &err);
	if (vm && st.boot_time)
		print_boot_times(vm, t_main);
	if (vm && st.stats)
		print_metrics(vm);
	nook_vm_free(vm);
	return r < 0 ? fail_error(err) : r;
}

static void print_snapshot(const struct nook_snapshot_info *s, void *userdata)
{
	++*(unsigned *)userdata;
	long long age = s->created ? (long long)(time(NULL) - (time_t)s->created) : -1;
	printf("%.12s  %6llu MiB  %6llu MiB  %5lld h  %s%s\n", s->key,
	       (unsigned long long)(s->memory_bytes >> 20), (unsigned long long)(s->disk_bytes >> 20),
	       age >= 0 ? age / 3600 : -1, s->valid ? "" : "NOT VALID: ", s->about);
}

static int cmd_snapshot(int argc, char **argv)
{
	nook_error *err = NULL;
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		unsigned n = 0;
		printf("%-12s  %10s  %10s  %7s  %s\n", "KEY", "MEMORY", "ON DISK", "AGE", "ABOUT");
		if (nook_snapshot_list(print_snapshot, &n, &err) < 0)
			return fail_error(err);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "prune") == 0) {
		unsigned removed;
		if (nook_snapshot_prune(&removed, &err) < 0)
			return fail_error(err);
		printf("removed %u snapshot%s\n", removed, removed == 1 ? "" : "s");
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_snapshot, stdout);
		return 0;
	}
	fputs(usage_snapshot, stderr);
	return EXIT_NOOK_FAILED;
}

int main(int argc, char **argv)
{
	uint64_t t_main = monotonic_now_ns();
	/* A closed stdout must not kill nook with SIGPIPE while a guest runs. */
	signal(SIGPIPE, SIG_IGN);
	/* The file system server holds a descriptor per guest-known inode. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_NOOK_FAILED;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("nook %s\n", NOOK_VERSION);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1, t_main);
	if (strcmp(cmd, "snapshot") == 0)
		return cmd_snapshot(argc - 1, argv + 1);
	fprintf(stderr, "nook: unknown command \"%s\"\n%s", cmd, usage_main);
	return EXIT_NOOK_FAILED;
}
