/* nook: the command line. It uses only the public libnook API; every flag
 * maps onto one nook_vm_config call (README, "CLI and API"). Exit status:
 * the guest program's, or 125 when nook itself fails (as docker run does). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nook/parse.h>
#include <nook/vm.h>

#define EXIT_NOOK_FAILED 125

static const char usage_main[] =
	"Usage: nook COMMAND [OPTIONS]\n"
	"\n"
	"Run a program in its own lightweight Linux virtual machine.\n"
	"\n"
	"Commands:\n"
	"  run       Boot a microVM and run a program in it\n"
	"  version   Print the version\n"
	"\n"
	"Run 'nook run --help' for the options of run.\n";

static const char usage_run[] =
	"Usage: nook run [OPTIONS] [--] PROGRAM [ARG...]\n"
	"\n"
	"Boot a microVM with the built-in kernel and root filesystem (busybox) and\n"
	"run PROGRAM in it. Its stdin, stdout and stderr are nook's; nook exits with\n"
	"its exit status (128+N when killed by signal N), or 125 when nook fails.\n"
	"\n"
	"Options:\n"
	"  --cpus N                 virtual CPUs (default 1)\n"
	"  --memory MIB             guest memory in MiB (default 512)\n"
	"  --kernel PATH            kernel: vmlinux (ELF) or bzImage (default: built-in)\n"
	"  --initramfs PATH         root filesystem as a cpio newc archive (default: built-in)\n"
	"  --init PATH              PID 1 inside the guest instead of nook-init\n"
	"  --cmdline TEXT           append TEXT to the kernel command line\n"
	"  -e, --env KEY=VALUE      set an environment variable (repeatable)\n"
	"  -w, --workdir DIR        working directory of the program (absolute)\n"
	"  --rlimit NAME=SOFT:HARD  resource limit, e.g. RLIMIT_NOFILE=1024:2048 (repeatable)\n"
	"  --console-output FILE    write the kernel log to FILE\n"
	"  --log-level LEVEL        off, error, warn, info, debug or trace (default off)\n"
	"  --boot-time              print the boot phases to stderr when the program exits\n"
	"  --pvm auto|on|off        PVM host accommodations (default auto)\n"
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

static void print_boot_times(const nook_vm *vm, uint64_t t_main)
{
	struct nook_boot_times t;
	nook_vm_get_boot_times(vm, &t);
	double vmm = t.first_run_ns ? (double)(t.first_run_ns - t_main) / 1e6 : -1;
	double build = (double)(t.first_run_ns - t_main) / 1e6 - t.first_kvm_run_ms;
	fprintf(stderr,
		"nook: boot-time: vmm-start=%.2f ms kernel=%.1f ms init=%.1f ms program=%.1f ms "
		"total=%.1f ms first-kvm-run-ns=%" PRIu64 "\n",
		vmm, t.userspace_ms >= 0 ? t.userspace_ms - t.first_kvm_run_ms : -1,
		t.program_ms >= 0 ? t.program_ms - t.userspace_ms : -1,
		t.exit_ms >= 0 ? t.exit_ms - t.program_ms : -1,
		t.exit_ms >= 0 ? t.exit_ms + build : -1, t.first_run_ns);
}

enum {
	OPT_CPUS = 256,
	OPT_MEMORY,
	OPT_KERNEL,
	OPT_INITRAMFS,
	OPT_INIT,
	OPT_CMDLINE,
	OPT_RLIMIT,
	OPT_CONSOLE_OUTPUT,
	OPT_LOG_LEVEL,
	OPT_BOOT_TIME,
	OPT_PVM,
};

static const struct option run_options[] = {
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initramfs", required_argument, NULL, OPT_INITRAMFS},
	{"init", required_argument, NULL, OPT_INIT},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"env", required_argument, NULL, 'e'},
	{"workdir", required_argument, NULL, 'w'},
	{"rlimit", required_argument, NULL, OPT_RLIMIT},
	{"console-output", required_argument, NULL, OPT_CONSOLE_OUTPUT},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"boot-time", no_argument, NULL, OPT_BOOT_TIME},
	{"pvm", required_argument, NULL, OPT_PVM},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Applies one option to the config; returns 0 or an exit status. */
static int apply_option(nook_vm_config *cfg, int opt, const char *arg, bool *boot_time)
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
	case OPT_LOG_LEVEL: {
		enum nook_log_level level;
		if (nook_parse_log_level(arg, &level, &err) < 0)
			return fail_error(err);
		nook_vm_config_set_log(cfg, level, NULL, NULL);
		break;
	}
	case OPT_BOOT_TIME:
		*boot_time = true;
		break;
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
	default:
		fprintf(stderr, "Run 'nook run --help' for the options.\n");
		return EXIT_NOOK_FAILED;
	}
	return r < 0 ? fail("%s: %s", arg, strerror(-r)) : 0;
}

/* SIGINT, SIGTERM and SIGHUP stop the VM; nook then exits with 128+N. */
struct signal_watch {
	sigset_t set;
	nook_vm *vm;
	int signal;
};

static void *signal_thread(void *arg)
{
	struct signal_watch *w = arg;
	int sig;
	if (sigwait(&w->set, &sig) == 0) {
		__atomic_store_n(&w->signal, sig, __ATOMIC_SEQ_CST);
		nook_vm_stop(w->vm);
	}
	return NULL;
}

static int run_vm(nook_vm *vm, struct signal_watch *w, nook_error **err)
{
	pthread_t t;
	w->vm = vm;
	if (pthread_create(&t, NULL, signal_thread, w) != 0)
		return -EAGAIN;
	int r = nook_vm_start(vm, err);
	if (r == 0)
		r = nook_vm_wait(vm, err);
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

static int cmd_run(int argc, char **argv, uint64_t t_main)
{
	nook_vm_config *cfg = nook_vm_config_new();
	if (!cfg)
		return fail("%s%s", "out of memory", "");
	bool boot_time = false;
	int opt, status = 0;
	optind = 1;
	/* '+': options end at PROGRAM, whose own options are its business. */
	while (status == 0 && (opt = getopt_long(argc, argv, "+he:w:", run_options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_run, stdout);
			nook_vm_config_free(cfg);
			return 0;
		}
		status = apply_option(cfg, opt, optarg, &boot_time);
	}
	if (status == 0 && optind >= argc) {
		fprintf(stderr, "nook: run: no PROGRAM given\n%s", usage_run);
		status = EXIT_NOOK_FAILED;
	}
	if (status != 0) {
		nook_vm_config_free(cfg);
		return status;
	}
	int r = nook_vm_config_set_exec_path(cfg, argv[optind]);
	for (int i = optind + 1; r == 0 && i < argc; i++)
		r = nook_vm_config_add_arg(cfg, argv[i]);
	if (r < 0) {
		nook_vm_config_free(cfg);
		return fail("%s%s", strerror(-r), "");
	}

	/* Blocked in every thread, so that only the watcher receives them. */
	struct signal_watch watch = {0};
	sigemptyset(&watch.set);
	sigaddset(&watch.set, SIGINT);
	sigaddset(&watch.set, SIGTERM);
	sigaddset(&watch.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &watch.set, NULL);

	nook_error *err = NULL;
	nook_vm *vm = NULL;
	r = nook_vm_build(cfg, &vm, &err);
	nook_vm_config_free(cfg);
	if (r == 0)
		r = run_vm(vm, &watch, &err);
	if (vm && boot_time)
		print_boot_times(vm, t_main);
	nook_vm_free(vm);
	return r < 0 ? fail_error(err) : r;
}

int main(int argc, char **argv)
{
	uint64_t t_main = monotonic_now_ns();
	/* A closed stdout must not kill nook with SIGPIPE while a guest runs. */
	signal(SIGPIPE, SIG_IGN);
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
	fprintf(stderr, "nook: unknown command \"%s\"\n%s", cmd, usage_main);
	return EXIT_NOOK_FAILED;
}
