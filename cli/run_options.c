/* nook run's options (usage_run in run.c): each maps onto nook_vm_config
 * calls or into struct run_state. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nook/parse.h>

#include "cli/cli.h"

enum {
	OPT_CPUS = 256,
	OPT_MEMORY,
	OPT_HYPERTHREADING,
	OPT_NESTED_VIRT,
	OPT_SPLIT_IRQCHIP,
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
	OPT_NAME,
	OPT_SANDBOX_DIR,
	OPT_GROUP,
	OPT_HOSTNAME,
	OPT_IMAGE,
	OPT_ENTRYPOINT,
	OPT_DAX_WINDOW,
};

const struct option run_options[] = {
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"hyperthreading", no_argument, NULL, OPT_HYPERTHREADING},
	{"nested-virt", no_argument, NULL, OPT_NESTED_VIRT},
	{"split-irqchip", no_argument, NULL, OPT_SPLIT_IRQCHIP},
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"initramfs", required_argument, NULL, OPT_INITRAMFS},
	{"init", required_argument, NULL, OPT_INIT},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"env", required_argument, NULL, 'e'},
	{"workdir", required_argument, NULL, 'w'},
	{"user", required_argument, NULL, 'u'},
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
	{"image", required_argument, NULL, OPT_IMAGE},
	{"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
	{"net", required_argument, NULL, OPT_NET},
	{"mac", required_argument, NULL, OPT_MAC},
	{"vsock", required_argument, NULL, OPT_VSOCK},
	{"scope", required_argument, NULL, OPT_SCOPE},
	{"ip", required_argument, NULL, OPT_IP},
	{"subnet", required_argument, NULL, OPT_SUBNET},
	{"publish", required_argument, NULL, 'p'},
	{"volume", required_argument, NULL, 'v'},
	{"dax-window", required_argument, NULL, OPT_DAX_WINDOW},
	{"disk", required_argument, NULL, OPT_DISK},
	{"allow-host-loopback", no_argument, NULL, OPT_ALLOW_HOST_LOOPBACK},
	{"snapshot", required_argument, NULL, OPT_SNAPSHOT},
	{"no-jail", no_argument, NULL, OPT_NO_JAIL},
	{"jail-uid", required_argument, NULL, OPT_JAIL_UID},
	{"no-seccomp", no_argument, NULL, OPT_NO_SECCOMP},
	{"balloon", required_argument, NULL, OPT_BALLOON},
	{"balloon-stats-interval", required_argument, NULL, OPT_BALLOON_STATS_INTERVAL},
	{"name", required_argument, NULL, OPT_NAME},
	{"group", required_argument, NULL, OPT_GROUP},
	{"hostname", required_argument, NULL, OPT_HOSTNAME},
	{"detach", no_argument, NULL, 'd'},
	{"interactive", no_argument, NULL, 'i'},
	{"tty", no_argument, NULL, 't'},
	/* Internal: how a sandbox's monitor starts its VMM (sandbox.c). */
	{"sandbox-dir", required_argument, NULL, OPT_SANDBOX_DIR},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};


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
	} else if (colon && *rest && kind_len == 3 && strncmp(arg, "vde", 3) == 0) {
		r = nook_vm_config_add_net_vde(cfg, rest);
	} else if (colon && *rest && kind_len == 8 && strncmp(arg, "unixgram", 8) == 0) {
		size_t len = strlen(rest);
		bool vfkit = len > 6 && strcmp(rest + len - 6, ",vfkit") == 0;
		char *path = strndup(rest, vfkit ? len - 6 : len);
		r = path ? nook_vm_config_add_net_unixgram_path(cfg, path, vfkit) : -ENOMEM;
		free(path);
	} else {
		return fail("--net \"%s\": expected none, user, tap:NAME, unixstream:PATH, "
			    "unixgram:PATH[,vfkit] or vde:URL%s", arg, "");
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
int apply_option(nook_vm_config *cfg, int opt, const char *arg, struct run_state *st)
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
	case OPT_SPLIT_IRQCHIP:
		nook_vm_config_set_split_irqchip(cfg, true);
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
		const char **list = realloc(st->env, (st->nenv + 1) * sizeof(*list));
		if (!list)
			return fail("%s%s", "out of memory", "");
		st->env = list;
		st->env[st->nenv++] = arg;
		break;
	}
	case 'w':
		st->workdir = arg;
		break;
	case 'u':
		st->user = arg;
		break;
	case OPT_NAME:
		if (sandbox_name_check(arg) < 0)
			return EXIT_NOOK_FAILED;
		st->name = arg;
		break;
	case 'd':
		st->detach = true;
		break;
	case 'i':
		st->interactive = true;
		break;
	case 't':
		st->tty = true;
		break;
	case OPT_GROUP:
		if (sandbox_name_check(arg) < 0)
			return EXIT_NOOK_FAILED;
		st->group = arg;
		break;
	case OPT_HOSTNAME:
		st->hostname = true;
		r = nook_vm_config_set_hostname(cfg, arg);
		break;
	case OPT_SANDBOX_DIR:
		st->sandbox_dir = arg;
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
		st->vsock = true;
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
		st->rootfs = true;
		break;
	case OPT_OVERLAY: {
		const char **layers = realloc(st->overlay, (st->noverlay + 1) * sizeof(*layers));
		if (!layers)
			return fail("%s%s", "out of memory", "");
		st->overlay = layers;
		st->overlay[st->noverlay++] = arg;
		break;
	}
	case OPT_DAX_WINDOW:
		if (parse_count("--dax-window", arg, UINT64_MAX >> 20, &n) < 0)
			return EXIT_NOOK_FAILED;
		st->dax_window = arg;
		st->dax_window_mib = n;
		break;
	case 'v': {
		struct nook_path_pair pair;
		if (nook_parse_path_pair(arg, &pair, &err) < 0)
			return fail_error(err);
		/* A volume is a share with a mount point; --dax-window goes with
		 * the -v after it and no other share. */
		if (st->dax_window)
			nook_vm_config_set_fs_shm_size(cfg, st->dax_window_mib << 20);
		st->dax_window = NULL;
		nook_vm_config_set_fs_read_only(cfg, pair.read_only);
		r = nook_vm_config_set_fs_mount_point(cfg, pair.guest);
		if (r == 0)
			r = nook_vm_config_add_fs_path(cfg, pair.host);
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
		st->scope_value = scope;
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
	case OPT_IMAGE:
		st->image = arg;
		break;
	case OPT_ENTRYPOINT:
		st->entrypoint = arg;
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
