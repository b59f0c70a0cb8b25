/* Setters of the public nook_vm_config; checking happens in nook_vm_build(). */
#include "vm/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "backends/vsock/unix.h"
#include "guest/protocol.h"
#include "devices/virtio/console.h"
#include "kvm/kvm.h"

/* Below this the default kernel does not boot with room for a program. */
#define MIN_MEMORY_MIB 64
/* One APIC id space of 8 bits, shared with the IOAPIC. */
#define MAX_VCPUS 254
/* Console port names with this prefix are nook's own (stdio). */
#define RESERVED_PORT_PREFIX "nook."

static void disk_defaults(struct vm_disk *d)
{
	*d = (struct vm_disk){
		.format = NOOK_DISK_FORMAT_RAW,
		.cache = NOOK_DISK_CACHE_WRITEBACK,
		.sync = NOOK_DISK_SYNC_FULL,
	};
}

nook_vm_config *nook_vm_config_new(void)
{
	nook_vm_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->vcpus = NOOK_DEFAULT_VCPUS;
	cfg->memory_mib = NOOK_DEFAULT_MEMORY_MIB;
	cfg->pvm = NOOK_PVM_AUTO;
	cfg->balloon = true;
	cfg->balloon_stats_ms = NOOK_DEFAULT_BALLOON_STATS_MS;
	cfg->rng = true;
	cfg->metrics = true;
	cfg->confine = true;
	cfg->stdio[0] = 0;
	cfg->stdio[1] = 1;
	cfg->stdio[2] = 2;
	disk_defaults(&cfg->disk_next);
	return cfg;
}

void nook_vm_config_free(nook_vm_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->cmdline);
	free(cfg->kernel_path);
	free(cfg->initramfs_path);
	free(cfg->init_path);
	free(cfg->snapshot_dir);
	for (size_t i = 0; i < cfg->nfs; i++) {
		free(cfg->fs[i].tag);
		free(cfg->fs[i].path);
		free(cfg->fs[i].mount_point);
	}
	free(cfg->fs);
	free(cfg->fs_next.tag);
	free(cfg->fs_next.mount_point);
	for (size_t i = 0; i < cfg->nnet; i++)
		free(cfg->net[i].path);
	free(cfg->net);
	free(cfg->net_ports);
	free(cfg->console_output);
	free(cfg->kernel_log);
	free(cfg->vsock_path);
	for (size_t i = 0; i < cfg->nports; i++)
		free(cfg->ports[i].name);
	free(cfg->ports);
	free(cfg->exec_path);
	strv_free(&cfg->args);
	strv_free(&cfg->env);
	free(cfg->workdir);
	free(cfg->user);
	free(cfg->hostname);
	free(cfg->rlimits);
	for (size_t i = 0; i < cfg->ndisks; i++) {
		free(cfg->disks[i].path);
		free(cfg->disks[i].id);
	}
	free(cfg->disks);
	free(cfg->disk_next.id);
	free(cfg);
}

/* arr (n elements of size bytes) with room for one more; NULL when out of
 * memory (arr is then unchanged). */
static void *grow(void *arr, size_t n, size_t size)
{
	return realloc(arr, (n + 1) * size);
}

/* ---- machine ---- */

void nook_vm_config_set_vcpus(nook_vm_config *cfg, unsigned vcpus)
{
	cfg->vcpus = vcpus;
}

void nook_vm_config_set_memory_mib(nook_vm_config *cfg, uint64_t mib)
{
	cfg->memory_mib = mib;
}

void nook_vm_config_set_pvm_mode(nook_vm_config *cfg, enum nook_pvm_mode mode)
{
	cfg->pvm = mode;
}

void nook_vm_config_set_hyperthreading(nook_vm_config *cfg, bool on)
{
	cfg->hyperthreading = on;
}

void nook_vm_config_set_nested_virt(nook_vm_config *cfg, bool on)
{
	cfg->nested_virt = on;
}

void nook_vm_config_set_split_irqchip(nook_vm_config *cfg, bool on)
{
	cfg->split_irqchip = on;
}

void nook_vm_config_set_vsock(nook_vm_config *cfg, bool on)
{
	cfg->vsock = on;
}

int nook_vm_config_set_vsock_path(nook_vm_config *cfg, const char *path)
{
	int r = str_replace(&cfg->vsock_path, path);
	if (r == 0 && path)
		cfg->vsock = true;
	return r;
}

void nook_vm_config_set_balloon(nook_vm_config *cfg, bool on)
{
	cfg->balloon = on;
}

void nook_vm_config_set_balloon_stats_interval_ms(nook_vm_config *cfg, uint64_t ms)
{
	cfg->balloon_stats_ms = ms;
}

void nook_vm_config_set_rng(nook_vm_config *cfg, bool on)
{
	cfg->rng = on;
}

void nook_vm_config_set_metrics(nook_vm_config *cfg, bool on)
{
	cfg->metrics = on;
}

void nook_vm_config_set_inet_hijack(nook_vm_config *cfg, bool on)
{
	cfg->inet_hijack = on;
}

void nook_vm_config_set_seccomp(nook_vm_config *cfg, bool on)
{
	cfg->confine = on;
}

void nook_vm_config_set_snapshot_mode(nook_vm_config *cfg, enum nook_snapshot_mode mode)
{
	cfg->snapshot_mode = mode;
}

int nook_vm_config_set_snapshot_dir(nook_vm_config *cfg, const char *dir)
{
	return str_replace(&cfg->snapshot_dir, dir);
}

/* ---- kernel ---- */

int nook_vm_config_append_cmdline(nook_vm_config *cfg, const char *text)
{
	if (!cfg->cmdline)
		return str_replace(&cfg->cmdline, text);
	char *joined;
	if (asprintf(&joined, "%s %s", cfg->cmdline, text) < 0)
		return -ENOMEM;
	free(cfg->cmdline);
	cfg->cmdline = joined;
	return 0;
}

int nook_vm_config_set_kernel_path(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->kernel_path, path);
}

int nook_vm_config_set_initramfs_path(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->initramfs_path, path);
}

int nook_vm_config_set_init_path(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->init_path, path);
}

/* ---- fs ---- */

/* Appends a share: `fs` holds the kind, path and backend; the tag is the
 * given one, else the pending one, else "fs<N>"; the other pending settings
 * (mount point, read-only, DAX size) go with it. */
static int add_fs(nook_vm_config *cfg, struct vm_fs fs, const char *tag, struct vm_fs **out)
{
	struct vm_fs *arr = grow(cfg->fs, cfg->nfs, sizeof(*arr));
	if (arr)
		cfg->fs = arr;
	const char *next_tag = cfg->fs_next.tag;
	if (tag)
		fs.tag = strdup(tag);
	else if (next_tag)
		fs.tag = strdup(next_tag);
	else if (asprintf(&fs.tag, "fs%zu", cfg->nfs) < 0)
		fs.tag = NULL;
	if (fs.path)
		fs.path = strdup(fs.path);
	if (!arr || !fs.tag || (fs.kind == VM_FS_PATH && !fs.path)) {
		free(fs.tag);
		free(fs.path);
		return -ENOMEM;
	}
	if (!tag) {
		fs.mount_point = cfg->fs_next.mount_point;
		fs.read_only |= cfg->fs_next.read_only;
		fs.shm_size = cfg->fs_next.shm_size;
		free(cfg->fs_next.tag);
		cfg->fs_next = (struct vm_fs){0};
		cfg->fs_next_set = false;
	}
	cfg->fs[cfg->nfs] = fs;
	*out = &cfg->fs[cfg->nfs++];
	return 0;
}

static struct vm_fs path_share(const char *path, enum vm_fs_role role, bool read_only)
{
	return (struct vm_fs){.kind = VM_FS_PATH, .role = role, .path = (char *)(path ? path : ""),
			      .read_only = read_only};
}

int nook_vm_config_add_fs_root(nook_vm_config *cfg, const char *dir)
{
	struct vm_fs *fs;
	return add_fs(cfg, path_share(dir, VM_FS_PLAIN, false), VM_FS_ROOT_TAG, &fs);
}

int nook_vm_config_set_fs_root_overlay(nook_vm_config *cfg, const char *const *layers,
				       size_t nlayers)
{
	if (nlayers == 0)
		return -EINVAL;
	for (size_t i = 0; i < nlayers; i++) {
		char tag[NOOK_FS_TAG_MAX + 1];
		bool top = i == nlayers - 1;
		if (!top)
			snprintf(tag, sizeof(tag), VM_FS_ROOT_TAG ".%zu", i);
		struct vm_fs *fs;
		int r = add_fs(cfg,
			       path_share(layers[i], top ? VM_FS_ROOT_UPPER : VM_FS_ROOT_LOWER, !top),
			       top ? VM_FS_ROOT_TAG : tag, &fs);
		if (r < 0)
			return r;
	}
	return 0;
}

int nook_vm_config_set_fs_mount_point(nook_vm_config *cfg, const char *guest_path)
{
	cfg->fs_next_set = true;
	return str_replace(&cfg->fs_next.mount_point, guest_path);
}

void nook_vm_config_set_fs_read_only(nook_vm_config *cfg, bool read_only)
{
	cfg->fs_next.read_only = read_only;
	cfg->fs_next_set = true;
}

int nook_vm_config_set_fs_tag(nook_vm_config *cfg, const char *tag)
{
	cfg->fs_next_set = true;
	return str_replace(&cfg->fs_next.tag, tag);
}

void nook_vm_config_set_fs_shm_size(nook_vm_config *cfg, uint64_t bytes)
{
	cfg->fs_next.shm_size = bytes;
	cfg->fs_next_set = true;
}

int nook_vm_config_add_fs_path(nook_vm_config *cfg, const char *dir)
{
	struct vm_fs *fs;
	return add_fs(cfg, path_share(dir, VM_FS_PLAIN, false), NULL, &fs);
}

int nook_vm_config_add_fs_volume(nook_vm_config *cfg, const char *host_path,
				 const char *guest_path, bool read_only)
{
	if (!guest_path)
		return -EINVAL;
	struct vm_fs fs = path_share(host_path, VM_FS_PLAIN, read_only);
	if (!(fs.mount_point = strdup(guest_path)))
		return -ENOMEM;
	struct vm_fs *added;
	char tag[32];
	snprintf(tag, sizeof(tag), "fs%zu", cfg->nfs);
	int r = add_fs(cfg, fs, tag, &added);
	if (r < 0)
		free(fs.mount_point);
	return r;
}

int nook_vm_config_add_fs_custom(nook_vm_config *cfg, const struct nook_fs_backend *backend,
				 void *opaque)
{
	struct vm_fs fs = {.kind = VM_FS_CUSTOM, .opaque = opaque};
	if (backend)
		fs.backend = *backend;
	struct vm_fs *added;
	return add_fs(cfg, fs, NULL, &added);
}

/* ---- net ---- */

void nook_vm_config_set_net_mac(nook_vm_config *cfg, const uint8_t mac[6])
{
	memcpy(cfg->net_next.mac, mac, 6);
	cfg->net_next.has_mac = true;
	cfg->net_next_set = true;
}

/* Appends a device of the given kind, taking the pending MAC address. */
static int add_net(nook_vm_config *cfg, enum vm_net_kind kind, int fd, const char *path,
		   struct vm_net **out)
{
	struct vm_net net = {.kind = kind, .fd = fd};
	if (path && !(net.path = strdup(path)))
		return -ENOMEM;
	struct vm_net *arr = grow(cfg->net, cfg->nnet, sizeof(*arr));
	if (!arr) {
		free(net.path);
		return -ENOMEM;
	}
	cfg->net = arr;
	net.has_mac = cfg->net_next.has_mac;
	memcpy(net.mac, cfg->net_next.mac, 6);
	net.has_segment = cfg->net_next.has_segment;
	net.segment_ip = cfg->net_next.segment_ip;
	net.segment = cfg->net_next.segment;
	cfg->net_next = (struct vm_net){0};
	cfg->net_next_set = false;
	cfg->net[cfg->nnet] = net;
	*out = &cfg->net[cfg->nnet++];
	return 0;
}

int nook_vm_config_add_net_unixgram_fd(nook_vm_config *cfg, int fd)
{
	struct vm_net *net;
	return add_net(cfg, VM_NET_UNIXGRAM_FD, fd, NULL, &net);
}

int nook_vm_config_add_net_unixgram_path(nook_vm_config *cfg, const char *path,
					 bool send_vfkit_magic)
{
	struct vm_net *net;
	int r = add_net(cfg, VM_NET_UNIXGRAM_PATH, -1, path ? path : "", &net);
	if (r == 0)
		net->vfkit_magic = send_vfkit_magic;
	return r;
}

int nook_vm_config_add_net_unixstream_fd(nook_vm_config *cfg, int fd)
{
	struct vm_net *net;
	return add_net(cfg, VM_NET_UNIXSTREAM_FD, fd, NULL, &net);
}

int nook_vm_config_add_net_unixstream_path(nook_vm_config *cfg, const char *path)
{
	struct vm_net *net;
	return add_net(cfg, VM_NET_UNIXSTREAM_PATH, -1, path ? path : "", &net);
}

int nook_vm_config_add_net_tap(nook_vm_config *cfg, const char *ifname)
{
	struct vm_net *net;
	return add_net(cfg, VM_NET_TAP, -1, ifname ? ifname : "", &net);
}

int nook_vm_config_add_net_vde(nook_vm_config *cfg, const char *url)
{
	struct vm_net *net;
	return add_net(cfg, VM_NET_VDE, -1, url ? url : "", &net);
}

void nook_vm_config_set_net_segment(nook_vm_config *cfg, struct in_addr ip,
				    const struct nook_ipv4_subnet *subnet)
{
	cfg->net_next.has_segment = true;
	cfg->net_next.segment_ip = ip;
	cfg->net_next.segment = *subnet;
	cfg->net_next_set = true;
}

int nook_vm_config_add_net_user(nook_vm_config *cfg)
{
	struct vm_net *net;
	return add_net(cfg, VM_NET_USER, -1, NULL, &net);
}

void nook_vm_config_set_net_scope(nook_vm_config *cfg, enum nook_network_scope scope)
{
	cfg->net_scope = scope;
	cfg->net_scope_set = true;
}

void nook_vm_config_set_net_ipv4(nook_vm_config *cfg, struct in_addr ip)
{
	cfg->net_ip = ip;
	cfg->has_net_ip = true;
}

void nook_vm_config_set_net_subnet(nook_vm_config *cfg, const struct nook_ipv4_subnet *subnet)
{
	cfg->net_subnet = *subnet;
	cfg->has_net_subnet = true;
}

void nook_vm_config_set_net_allow_host_loopback(nook_vm_config *cfg, bool allow)
{
	cfg->net_allow_host_loopback = allow;
}

int nook_vm_config_add_net_port(nook_vm_config *cfg, const struct nook_port_pair *port)
{
	struct nook_port_pair *arr = grow(cfg->net_ports, cfg->nnet_ports, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	cfg->net_ports = arr;
	cfg->net_ports[cfg->nnet_ports++] = *port;
	return 0;
}

int nook_vm_config_add_net_custom(nook_vm_config *cfg, const struct nook_net_backend *backend,
				  void *opaque)
{
	struct vm_net *net;
	int r = add_net(cfg, VM_NET_CUSTOM, -1, NULL, &net);
	if (r == 0) {
		if (backend)
			net->backend = *backend;
		net->opaque = opaque;
	}
	return r;
}

/* ---- console ---- */

int nook_vm_config_set_console_output(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->console_output, path);
}

int nook_vm_config_set_kernel_log(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->kernel_log, path);
}

void nook_vm_config_set_stdio(nook_vm_config *cfg, int in_fd, int out_fd, int err_fd)
{
	cfg->stdio[0] = in_fd;
	cfg->stdio[1] = out_fd;
	cfg->stdio[2] = err_fd;
}

static int add_port(nook_vm_config *cfg, enum vm_port_kind kind, const char *name, int in_fd,
		    int out_fd, struct vm_console_port **out)
{
	struct vm_console_port port = {.kind = kind, .in_fd = in_fd, .out_fd = out_fd};
	if (!(port.name = strdup(name ? name : "")))
		return -ENOMEM;
	struct vm_console_port *arr = grow(cfg->ports, cfg->nports, sizeof(*arr));
	if (!arr) {
		free(port.name);
		return -ENOMEM;
	}
	cfg->ports = arr;
	cfg->ports[cfg->nports] = port;
	*out = &cfg->ports[cfg->nports++];
	return 0;
}

int nook_vm_config_add_console_port(nook_vm_config *cfg, const char *name, int input_fd,
				    int output_fd)
{
	struct vm_console_port *port;
	return add_port(cfg, VM_PORT_FDS, name, input_fd, output_fd, &port);
}

int nook_vm_config_add_console_tty(nook_vm_config *cfg, const char *name, int tty_fd)
{
	struct vm_console_port *port;
	return add_port(cfg, VM_PORT_TTY, name, tty_fd, tty_fd, &port);
}

int nook_vm_config_add_console_custom(nook_vm_config *cfg, const char *name,
				      const struct nook_console_port_backend *backend,
				      void *opaque)
{
	struct vm_console_port *port;
	int r = add_port(cfg, VM_PORT_CUSTOM, name, -1, -1, &port);
	if (r == 0) {
		if (backend)
			port->backend = *backend;
		port->opaque = opaque;
	}
	return r;
}

void nook_vm_config_disable_implicit_console(nook_vm_config *cfg)
{
	cfg->implicit_console_disabled = true;
}

/* ---- exec ---- */

int nook_vm_config_set_exec_path(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->exec_path, path);
}

int nook_vm_config_add_arg(nook_vm_config *cfg, const char *arg)
{
	return strv_push(&cfg->args, arg);
}

int nook_vm_config_set_args(nook_vm_config *cfg, const char *const *args)
{
	struct strv v = {0};
	for (size_t i = 0; args && args[i]; i++) {
		if (strv_push(&v, args[i]) < 0) {
			strv_free(&v);
			return -ENOMEM;
		}
	}
	strv_free(&cfg->args);
	cfg->args = v;
	return 0;
}

int nook_vm_config_add_env(nook_vm_config *cfg, const char *key_value)
{
	return strv_push(&cfg->env, key_value);
}

int nook_vm_config_add_env_pair(nook_vm_config *cfg, const char *key, const char *value)
{
	if (!key || !*key || strchr(key, '='))
		return -EINVAL;
	char *kv;
	if (asprintf(&kv, "%s=%s", key, value ? value : "") < 0)
		return -ENOMEM;
	int r = strv_push(&cfg->env, kv);
	free(kv);
	return r;
}

int nook_vm_config_add_envs(nook_vm_config *cfg, const char *const *key_values)
{
	size_t n = cfg->env.n;
	for (size_t i = 0; key_values && key_values[i]; i++) {
		if (strv_push(&cfg->env, key_values[i]) < 0) {
			/* All or nothing. */
			while (cfg->env.n > n)
				free(cfg->env.items[--cfg->env.n]);
			if (cfg->env.items)
				cfg->env.items[n] = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

int nook_vm_config_set_workdir(nook_vm_config *cfg, const char *dir)
{
	return str_replace(&cfg->workdir, dir);
}

int nook_vm_config_set_user(nook_vm_config *cfg, const char *user)
{
	return str_replace(&cfg->user, user);
}

int nook_vm_config_set_hostname(nook_vm_config *cfg, const char *name)
{
	return str_replace(&cfg->hostname, name);
}

int nook_vm_config_add_rlimit(nook_vm_config *cfg, int resource, uint64_t soft, uint64_t hard)
{
	struct vm_rlimit *arr = grow(cfg->rlimits, cfg->nrlimits, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	cfg->rlimits = arr;
	cfg->rlimits[cfg->nrlimits++] = (struct vm_rlimit){resource, soft, hard};
	return 0;
}

/* ---- disk ---- */

int nook_disk_id_for_index(unsigned index, char *buf, size_t len)
{
	/* Bijective base 26: digits a..z stand for 1..26, least significant
	 * last, so 26 -> "aa" (not "ba"). */
	char rev[16];
	size_t n = 0;
	unsigned long long v = (unsigned long long)index + 1;
	while (v > 0) {
		v--;
		rev[n++] = (char)('a' + v % 26);
		v /= 26;
	}
	if (len < n + 3)
		return -ERANGE;
	buf[0] = 'v';
	buf[1] = 'd';
	for (size_t i = 0; i < n; i++)
		buf[2 + i] = rev[n - 1 - i];
	buf[2 + n] = '\0';
	return 0;
}

int nook_vm_config_add_disk(nook_vm_config *cfg, const char *path)
{
	char *copy = strdup(path ? path : "");
	struct vm_disk *arr = copy ? grow(cfg->disks, cfg->ndisks, sizeof(*arr)) : NULL;
	if (!arr) {
		free(copy);
		return -ENOMEM;
	}
	cfg->disks = arr;
	struct vm_disk *d = &cfg->disks[cfg->ndisks];
	*d = cfg->disk_next;
	d->path = copy;
	nook_disk_id_for_index((unsigned)cfg->ndisks, d->auto_id, sizeof(d->auto_id));
	cfg->ndisks++;
	disk_defaults(&cfg->disk_next);
	cfg->disk_next_set = false;
	return 0;
}

/* The settings of the next disk. */
static struct vm_disk *next_disk(nook_vm_config *cfg)
{
	cfg->disk_next_set = true;
	return &cfg->disk_next;
}

int nook_vm_config_set_disk_id(nook_vm_config *cfg, const char *id)
{
	return str_replace(&next_disk(cfg)->id, id);
}

void nook_vm_config_set_disk_read_only(nook_vm_config *cfg, bool read_only)
{
	next_disk(cfg)->read_only = read_only;
}

void nook_vm_config_set_disk_format(nook_vm_config *cfg, enum nook_disk_format format)
{
	next_disk(cfg)->format = format;
}

void nook_vm_config_set_disk_cache(nook_vm_config *cfg, enum nook_disk_cache cache)
{
	next_disk(cfg)->cache = cache;
}

void nook_vm_config_set_disk_direct_io(nook_vm_config *cfg, bool direct_io)
{
	next_disk(cfg)->direct_io = direct_io;
}

void nook_vm_config_set_disk_sync(nook_vm_config *cfg, enum nook_disk_sync sync)
{
	next_disk(cfg)->sync = sync;
}

void nook_vm_config_set_disk_allow_backing(nook_vm_config *cfg, bool allow)
{
	next_disk(cfg)->allow_backing = allow;
}

/* ---- logging ---- */

void nook_vm_config_set_log(nook_vm_config *cfg, enum nook_log_level level, nook_log_fn fn,
			    void *userdata)
{
	cfg->log_level = level;
	cfg->log_fn = fn;
	cfg->log_userdata = userdata;
}

/* ---- validation ---- */

enum file_kind {
	FILE_REGULAR,
	FILE_DIR,
	FILE_IMAGE,     /* regular or block device */
	FILE_DIR_OR_REG /* a share mounted by nook-init: a directory or one file */
};

/* 0 if path exists and has the right type; else an error "<what> <path>: ...". */
static int check_path(const char *what, const char *path, enum file_kind kind, nook_error **err)
{
	struct stat st;
	if (!*path)
		return error_set(err, EINVAL, "%s \"\": empty path", what);
	if (stat(path, &st) < 0)
		return error_set(err, errno, "%s %s: %s", what, path, strerror(errno));
	bool ok = S_ISDIR(st.st_mode) ? kind == FILE_DIR || kind == FILE_DIR_OR_REG
		  : S_ISREG(st.st_mode) ? kind != FILE_DIR
					: kind == FILE_IMAGE && S_ISBLK(st.st_mode);
	if (!ok)
		return error_set(err, kind == FILE_DIR ? ENOTDIR : EINVAL, "%s %s: %s", what, path,
				      kind == FILE_DIR	      ? "not a directory"
				      : kind == FILE_REGULAR  ? "not a regular file"
				      : kind == FILE_IMAGE    ? "not a regular file or block device"
							      : "not a directory or a regular file");
	return 0;
}

static int check_machine(const nook_vm_config *cfg, nook_error **err)
{
	if (cfg->vcpus < 1)
		return error_set(err, EINVAL, "vcpus %u: must be at least 1", cfg->vcpus);
	int max = kvm_max_vcpus(err);
	if (max < 0)
		return max;
	if (max > MAX_VCPUS)
		max = MAX_VCPUS;
	if (cfg->vcpus > (unsigned)max)
		return error_set(err, EINVAL, "vcpus %u: must be between 1 and %d on this host",
				      cfg->vcpus, max);
	uint64_t host_mib = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE) >> 20;
	if (cfg->memory_mib < MIN_MEMORY_MIB || cfg->memory_mib > host_mib)
		return error_set(err, EINVAL,
				      "memory %llu MiB: must be between %d MiB and the host's %llu MiB",
				      (unsigned long long)cfg->memory_mib, MIN_MEMORY_MIB,
				      (unsigned long long)host_mib);
	if (cfg->hyperthreading && cfg->vcpus % 2)
		return error_set(err, EINVAL,
				 "hyperthreading: %u vCPUs do not make cores of 2 threads; give an "
				 "even number of vCPUs",
				 cfg->vcpus);
	return 0;
}

static int check_kernel(const nook_vm_config *cfg, nook_error **err)
{
	int r = 0;
	if (cfg->kernel_path)
		r = check_path("kernel", cfg->kernel_path, FILE_REGULAR, err);
	if (r == 0 && cfg->initramfs_path)
		r = check_path("initramfs", cfg->initramfs_path, FILE_REGULAR, err);
	return r;
}

int vm_check_user(const char *user, nook_error **err)
{
	const char *colon = strchr(user, ':');
	size_t len = strlen(user);
	if (len == 0 || len > NOOK_USER_NAME_MAX || colon == user || (colon && !colon[1]) ||
	    (colon && strchr(colon + 1, ':')) || strpbrk(user, "\n/"))
		return error_set(err, EINVAL, "user \"%s\": expected USER[:GROUP], each a name or "
				 "a decimal id", user);
	return 0;
}

static int check_exec(const nook_vm_config *cfg, nook_error **err)
{
	/* Without a program the sandbox is idle (nook-init stays up until
	 * stopped); what only a program uses would be dropped, so it fails. */
	if (cfg->exec_path && !*cfg->exec_path)
		return error_set(err, EINVAL, "exec path \"\": empty");
	if (!cfg->init_path && !cfg->exec_path &&
	    (cfg->args.n || cfg->env.n || cfg->workdir || cfg->nrlimits || cfg->user))
		return error_set(err, EINVAL, "arguments, env, workdir, rlimits or user without a "
				 "program: set an exec path");
	if (cfg->user && vm_check_user(cfg->user, err) < 0)
		return -EINVAL;
	if (cfg->workdir && cfg->workdir[0] != '/')
		return error_set(err, EINVAL, "workdir \"%s\": must be an absolute path",
				      cfg->workdir);
	if (cfg->hostname) {
		size_t len = strlen(cfg->hostname);
		bool ok = len >= 1 && len <= 64;
		for (size_t i = 0; ok && i < len; i++)
			ok = isalnum((unsigned char)cfg->hostname[i]) || strchr("-._", cfg->hostname[i]);
		if (!ok)
			return error_set(err, EINVAL, "hostname \"%s\": expected 1 to 64 letters, "
					 "digits, '-', '.' or '_'", cfg->hostname);
	}
	for (size_t i = 0; i < cfg->env.n; i++) {
		const char *eq = strchr(cfg->env.items[i], '=');
		if (!eq || eq == cfg->env.items[i])
			return error_set(err, EINVAL, "env \"%s\": expected KEY=VALUE",
					      cfg->env.items[i]);
	}
	for (size_t i = 0; i < cfg->nrlimits; i++) {
		const struct vm_rlimit *r = &cfg->rlimits[i];
		if (r->resource < 0 || r->resource >= RLIM_NLIMITS || r->soft > r->hard)
			return error_set(err, EINVAL,
					      "rlimit %d=%llu:%llu: unknown resource or soft above hard",
					      r->resource, (unsigned long long)r->soft,
					      (unsigned long long)r->hard);
	}
	return 0;
}

/* Whether two absolute guest paths name the same place, ignoring repeated
 * and trailing slashes. */
static bool same_guest_path(const char *a, const char *b)
{
	for (;;) {
		while (*a == '/' && (a[1] == '/' || a[1] == '\0'))
			a++;
		while (*b == '/' && (b[1] == '/' || b[1] == '\0'))
			b++;
		if (*a != *b)
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* nook-init mounts shares at absolute paths, one share per path, and never
 * over the root. */
static int check_mount_points(const nook_vm_config *cfg, nook_error **err)
{
	for (size_t i = 0; i < cfg->nfs; i++) {
		const char *mp = cfg->fs[i].mount_point;
		if (!mp)
			continue;
		if (mp[0] != '/' || strspn(mp, "/") == strlen(mp))
			return error_set(err, EINVAL,
					      "mount point \"%s\" of %s: must be an absolute path "
					      "other than /",
					      mp, cfg->fs[i].path ? cfg->fs[i].path : cfg->fs[i].tag);
		for (size_t j = 0; j < i; j++)
			if (cfg->fs[j].mount_point && same_guest_path(cfg->fs[j].mount_point, mp))
				return error_set(err, EEXIST,
						      "mount point %s: used by two shares (%s and %s)",
						      mp, cfg->fs[j].path ? cfg->fs[j].path : cfg->fs[j].tag,
						      cfg->fs[i].path ? cfg->fs[i].path : cfg->fs[i].tag);
	}
	return 0;
}

/* DAX windows: whole 2 MiB units (the guest maps in those); together at
 * most VM_FS_DAX_TOTAL_MAX (each unit can be a host mapping of its own, and
 * a process has at most 65530) and at most 16 times the guest's memory
 * (the guest needs 1/64 of a window for its page structures). */
static int check_dax(const nook_vm_config *cfg, nook_error **err)
{
	uint64_t limit_mib = cfg->memory_mib * 16;
	if (limit_mib > VM_FS_DAX_TOTAL_MAX >> 20)
		limit_mib = VM_FS_DAX_TOTAL_MAX >> 20;
	uint64_t total_mib = 0;
	for (size_t i = 0; i < cfg->nfs; i++) {
		const struct vm_fs *fs = &cfg->fs[i];
		if (!fs->shm_size)
			continue;
		const char *why = NULL;
		if (fs->kind == VM_FS_CUSTOM)
			why = "needs nook's own file server, not a custom backend";
		else if (fs->role != VM_FS_PLAIN || strcmp(fs->tag, VM_FS_ROOT_TAG) == 0)
			why = "applies to shares, not to the root file system";
		else if (fs->shm_size % VM_FS_DAX_UNIT)
			why = "must be a multiple of 2 MiB";
		if (why)
			return error_set(err, EINVAL, "fs tag \"%s\": DAX window of %llu bytes: %s",
					 fs->tag, (unsigned long long)fs->shm_size, why);
		total_mib += fs->shm_size >> 20;
		if (fs->shm_size >> 20 > limit_mib || total_mib > limit_mib)
			return error_set(err, EINVAL,
					 "fs tag \"%s\": DAX windows of more than %llu MiB in all (16 "
					 "times the VM's %llu MiB of memory, and at most %llu MiB)",
					 fs->tag, (unsigned long long)limit_mib,
					 (unsigned long long)cfg->memory_mib,
					 (unsigned long long)(VM_FS_DAX_TOTAL_MAX >> 20));
	}
	return 0;
}

static int check_fs(const nook_vm_config *cfg, nook_error **err)
{
	for (size_t i = 0; i < cfg->nfs; i++) {
		const struct vm_fs *fs = &cfg->fs[i];
		size_t len = strlen(fs->tag);
		if (len == 0 || len > NOOK_FS_TAG_MAX)
			return error_set(err, EINVAL, "fs tag \"%s\": must be 1 to %d bytes",
					      fs->tag, NOOK_FS_TAG_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->fs[j].tag, fs->tag) == 0)
				return error_set(err, EEXIST,
						      strcmp(fs->tag, VM_FS_ROOT_TAG) == 0
							      ? "fs tag \"%s\": two root file systems "
								"(a root directory and overlay layers?)"
							      : "fs tag \"%s\": used by two mounts",
						      fs->tag);
		if (fs->kind == VM_FS_CUSTOM) {
			if (!fs->backend.request)
				return error_set(err, EINVAL,
						      "fs tag \"%s\": custom backend without a "
						      "request callback",
						      fs->tag);
			if (fs->read_only)
				return error_set(err, EINVAL,
						 "fs tag \"%s\": read-only applies to nook's own "
						 "server; a custom backend enforces its own",
						 fs->tag);
			continue;
		}
		char what[64];
		if (fs->role != VM_FS_PLAIN)
			snprintf(what, sizeof(what), "overlay layer");
		else if (strcmp(fs->tag, VM_FS_ROOT_TAG) == 0)
			snprintf(what, sizeof(what), "fs root");
		else
			snprintf(what, sizeof(what), "fs tag \"%s\"", fs->tag);
		int r = check_path(what, fs->path, fs->mount_point ? FILE_DIR_OR_REG : FILE_DIR, err);
		if (r < 0)
			return r;
	}
	int r = check_mount_points(cfg, err);
	return r < 0 ? r : check_dax(cfg, err);
}

static const char *net_kind_name(enum vm_net_kind kind)
{
	switch (kind) {
	case VM_NET_UNIXGRAM_FD: return "unixgram fd";
	case VM_NET_UNIXGRAM_PATH: return "unixgram path";
	case VM_NET_UNIXSTREAM_FD: return "unixstream fd";
	case VM_NET_UNIXSTREAM_PATH: return "unixstream path";
	case VM_NET_TAP: return "tap";
	case VM_NET_VDE: return "vde";
	case VM_NET_CUSTOM: return "custom backend";
	case VM_NET_USER: return "user";
	}
	return "?";
}

/* "net unixgram fd 5", "net tap \"tap0\"", ... into buf. */
static const char *net_label(const struct vm_net *net, char *buf, size_t len)
{
	if (net->kind == VM_NET_UNIXGRAM_FD || net->kind == VM_NET_UNIXSTREAM_FD)
		snprintf(buf, len, "net %s %d", net_kind_name(net->kind), net->fd);
	else if (net->path)
		snprintf(buf, len, "net %s \"%s\"", net_kind_name(net->kind), net->path);
	else
		snprintf(buf, len, "net %s", net_kind_name(net->kind));
	return buf;
}

/* Scope, address, subnet and published ports. */
void vm_net_first_subnet(const nook_vm_config *cfg, uint32_t *network, unsigned *prefix)
{
	bool user_first = cfg->nnet ? cfg->net[0].kind == VM_NET_USER : cfg->inet_hijack;
	if (cfg->has_net_subnet) {
		*network = ntohl(cfg->net_subnet.network.s_addr);
		*prefix = cfg->net_subnet.prefix;
	} else if (!user_first && cfg->has_net_ip) {
		*prefix = VM_NET_DEFAULT_PREFIX;
		*network = ntohl(cfg->net_ip.s_addr) & (~0u << (32 - VM_NET_DEFAULT_PREFIX));
	} else {
		*network = VM_NET_DEFAULT_NETWORK;
		*prefix = VM_NET_DEFAULT_PREFIX;
	}
}

static int check_net_sandbox(const nook_vm_config *cfg, nook_error **err)
{
	bool has_nic = cfg->nnet || cfg->inet_hijack;
	bool user_first = cfg->nnet ? cfg->net[0].kind == VM_NET_USER : cfg->inet_hijack;
	bool has_user = !cfg->nnet && cfg->inet_hijack;
	for (size_t i = 0; i < cfg->nnet; i++)
		has_user |= cfg->net[i].kind == VM_NET_USER;
	if (cfg->net_scope_set && (unsigned)cfg->net_scope > NOOK_NETWORK_SCOPE_ANY)
		return error_set(err, EINVAL, "network scope %d: unknown", (int)cfg->net_scope);
	for (size_t i = 0; i < cfg->nnet_ports; i++) {
		const struct nook_port_pair *p = &cfg->net_ports[i];
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &p->host_ip, ip, sizeof(ip));
		const char *proto = nook_port_protocol_name(p->protocol);
		if (!proto)
			return error_set(err, EINVAL, "published port %s:%u: unknown protocol %d",
					      ip, p->host_port, (int)p->protocol);
		if (!p->host_port || !p->guest_port)
			return error_set(err, ERANGE,
					      "published port %s:%u:%u/%s: port 0 is out of range 1..65535",
					      ip, p->host_port, p->guest_port, proto);
		if (!has_user)
			return error_set(err, EINVAL,
					      "published port %s:%u/%s: needs a user-mode network device",
					      ip, p->host_port, proto);
		for (size_t j = 0; j < i; j++) {
			const struct nook_port_pair *q = &cfg->net_ports[j];
			if (q->host_port == p->host_port && q->protocol == p->protocol &&
			    (q->host_ip.s_addr == p->host_ip.s_addr || !q->host_ip.s_addr ||
			     !p->host_ip.s_addr))
				return error_set(err, EEXIST,
						      "published port %s:%u/%s: host port published twice",
						      ip, p->host_port, proto);
		}
	}
	struct nook_ipv4_subnet subnet = cfg->net_subnet;
	if (!cfg->has_net_subnet) {
		uint32_t network;
		unsigned prefix;
		vm_net_first_subnet(cfg, &network, &prefix);
		subnet.network.s_addr = htonl(network);
		subnet.netmask.s_addr = htonl(~0u << (32 - prefix));
		subnet.prefix = prefix;
	}
	char net[INET_ADDRSTRLEN], ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &subnet.network, net, sizeof(net));
	inet_ntop(AF_INET, &cfg->net_ip, ip, sizeof(ip));
	if ((cfg->has_net_ip || cfg->has_net_subnet) && !has_nic)
		return error_set(err, EINVAL, "%s %s: there is no network device",
				      cfg->has_net_ip ? "ip" : "subnet", cfg->has_net_ip ? ip : net);
	if (user_first && subnet.prefix > VM_NET_USER_MAX_PREFIX)
		return error_set(err, EINVAL,
				      "subnet %s/%u: too small for user-mode networking (at most /%d)",
				      net, subnet.prefix, VM_NET_USER_MAX_PREFIX);
	if (cfg->has_net_ip) {
		int r = nook_ipv4_check_in_subnet(cfg->net_ip, &subnet, err);
		if (r < 0) {
			error_prefix(err, "ip");
			return r;
		}
		uint32_t host = ntohl(cfg->net_ip.s_addr) & ~ntohl(subnet.netmask.s_addr);
		uint32_t bcast = ~ntohl(subnet.netmask.s_addr);
		if (subnet.prefix < 31 && (host == 0 || host == bcast))
			return error_set(err, EINVAL,
					      "ip %s: the network or broadcast address of %s/%u", ip,
					      net, subnet.prefix);
		if (user_first && (host == VM_NET_GATEWAY_HOST || host == VM_NET_DNS_HOST))
			return error_set(err, EINVAL,
					      "ip %s: taken by the user-mode network's %s", ip,
					      host == VM_NET_GATEWAY_HOST ? "gateway" : "DNS server");
	}
	return 0;
}

/* A segment's address: inside its subnet, a host of it. */
static int check_segment(const struct vm_net *net, const char *label, nook_error **err)
{
	const struct nook_ipv4_subnet *sub = &net->segment;
	char ip[INET_ADDRSTRLEN], network[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &net->segment_ip, ip, sizeof(ip));
	inet_ntop(AF_INET, &sub->network, network, sizeof(network));
	if (sub->prefix < 8 || sub->prefix > 30)
		return error_set(err, EINVAL, "%s: segment %s/%u: expected a prefix of 8 to 30",
				 label, network, sub->prefix);
	if (nook_ipv4_check_in_subnet(net->segment_ip, sub, err) < 0) {
		error_prefix(err, "%s", label);
		return -EINVAL;
	}
	uint32_t host = ntohl(net->segment_ip.s_addr) & ~ntohl(sub->netmask.s_addr);
	if (host == 0 || host == ~ntohl(sub->netmask.s_addr))
		return error_set(err, EINVAL, "%s: segment address %s: the network or broadcast "
				 "address of %s/%u", label, ip, network, sub->prefix);
	return 0;
}

static int check_net(const nook_vm_config *cfg, nook_error **err)
{
	char label[PATH_MAX + 64];
	for (size_t i = 0; i < cfg->nnet; i++) {
		const struct vm_net *net = &cfg->net[i];
		net_label(net, label, sizeof(label));
		if (net->has_segment && check_segment(net, label, err) < 0)
			return -EINVAL;
		if (net->has_mac) {
			const uint8_t *m = net->mac;
			char mac[18];
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
				 m[3], m[4], m[5]);
			if (m[0] & 1)
				return error_set(err, EINVAL,
						      "%s: mac %s is a multicast address", label, mac);
			for (size_t j = 0; j < i; j++)
				if (cfg->net[j].has_mac && memcmp(cfg->net[j].mac, m, 6) == 0)
					return error_set(err, EEXIST,
							      "%s: mac %s is used by two devices",
							      label, mac);
		}
		switch (net->kind) {
		case VM_NET_UNIXGRAM_FD:
		case VM_NET_UNIXSTREAM_FD:
			if (net->fd < 0)
				return error_set(err, EBADF, "%s: not a file descriptor", label);
			break;
		case VM_NET_UNIXGRAM_PATH:
		case VM_NET_UNIXSTREAM_PATH:
		case VM_NET_VDE:
			if (!*net->path)
				return error_set(err, EINVAL, "%s: empty socket path", label);
			break;
		case VM_NET_TAP:
			if (!*net->path || strlen(net->path) >= IFNAMSIZ)
				return error_set(err, EINVAL,
						      "%s: interface names are 1 to %d bytes", label,
						      IFNAMSIZ - 1);
			break;
		case VM_NET_CUSTOM:
			if (!net->backend.send || !net->backend.recv || !net->backend.poll_fd)
				return error_set(err, EINVAL,
						      "%s: send, recv and poll_fd are all required",
						      label);
			break;
		case VM_NET_USER:
			break;
		}
	}
	return check_net_sandbox(cfg, err);
}

/* Its sockets' names: PATH, and PATH_P for every port P. */
static int check_vsock(const nook_vm_config *cfg, nook_error **err)
{
	const char *path = cfg->vsock_path;
	if (!path)
		return 0;
	if (!*path)
		return error_set(err, EINVAL, "vsock path \"\": empty");
	if (strlen(path) + VSOCK_UNIX_SUFFIX_MAX >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return error_set(err, ENAMETOOLONG,
				 "vsock path \"%s\": too long for a UNIX socket with a _PORT "
				 "suffix (at most %zu bytes)",
				 path,
				 sizeof(((struct sockaddr_un *)0)->sun_path) - 1 - VSOCK_UNIX_SUFFIX_MAX);
	return 0;
}

static int check_console(const nook_vm_config *cfg, nook_error **err)
{
	if (cfg->implicit_console_disabled && cfg->console_output)
		return error_set(err, EINVAL,
				 "console output %s: it copies the program's stdout and stderr, "
				 "which the implicit console carries, and that is disabled",
				 cfg->console_output);
	if (cfg->nports > VIRTIO_CONSOLE_MAX_PORTS)
		return error_set(err, E2BIG, "%zu console ports: at most %d", cfg->nports,
				 VIRTIO_CONSOLE_MAX_PORTS);
	for (size_t i = 0; i < cfg->nports; i++) {
		const struct vm_console_port *p = &cfg->ports[i];
		size_t len = strlen(p->name);
		if (len == 0 || len >= VIRTIO_CONSOLE_NAME_MAX)
			return error_set(err, EINVAL, "console port \"%s\": names are 1 to %d bytes",
					      p->name, VIRTIO_CONSOLE_NAME_MAX - 1);
		/* The guest links it as /dev/virtio-ports/<name>. */
		if (strchr(p->name, '/') || strcmp(p->name, ".") == 0 || strcmp(p->name, "..") == 0)
			return error_set(err, EINVAL,
					 "console port \"%s\": a name is a file name (no '/', not . "
					 "or ..)",
					 p->name);
		if (strncmp(p->name, RESERVED_PORT_PREFIX, strlen(RESERVED_PORT_PREFIX)) == 0)
			return error_set(err, EINVAL,
					      "console port \"%s\": the prefix \"%s\" is reserved",
					      p->name, RESERVED_PORT_PREFIX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->ports[j].name, p->name) == 0)
				return error_set(err, EEXIST,
						      "console port \"%s\": used by two ports", p->name);
		switch (p->kind) {
		case VM_PORT_FDS:
			if (p->in_fd < -1 || p->out_fd < -1)
				return error_set(err, EBADF,
						      "console port \"%s\": fds %d, %d: use -1 for none",
						      p->name, p->in_fd, p->out_fd);
			break;
		case VM_PORT_TTY:
			if (!isatty(p->in_fd))
				return error_set(err, ENOTTY,
						      "console port \"%s\": fd %d is not a terminal",
						      p->name, p->in_fd);
			break;
		case VM_PORT_CUSTOM:
			if (!p->backend.read && !p->backend.write)
				return error_set(err, EINVAL,
						      "console port \"%s\": custom backend without "
						      "read or write callback",
						      p->name);
			break;
		}
	}
	return 0;
}

static int check_disks(const nook_vm_config *cfg, nook_error **err)
{
	for (size_t i = 0; i < cfg->ndisks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		const char *id = vm_disk_id(d);
		int r = check_path("disk", d->path, FILE_IMAGE, err);
		if (r < 0)
			return r;
		if ((unsigned)d->format > NOOK_DISK_FORMAT_AUTO)
			return error_set(err, EINVAL, "disk %s: unknown format %d", d->path,
					      (int)d->format);
		if ((unsigned)d->cache > NOOK_DISK_CACHE_UNSAFE)
			return error_set(err, EINVAL, "disk %s: unknown cache mode %d", d->path,
					      (int)d->cache);
		if ((unsigned)d->sync > NOOK_DISK_SYNC_FULL)
			return error_set(err, EINVAL, "disk %s: unknown sync mode %d", d->path,
					      (int)d->sync);
		if (d->format == NOOK_DISK_FORMAT_VMDK && !d->read_only)
			return error_set(err, EINVAL,
					      "disk %s: vmdk images are read-only: set the disk "
					      "read-only",
					      d->path);
		size_t len = strlen(id);
		if (len == 0 || len > NOOK_DISK_ID_MAX)
			return error_set(err, EINVAL, "disk %s: id \"%s\" must be 1 to %d bytes",
					      d->path, id, NOOK_DISK_ID_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(vm_disk_id(&cfg->disks[j]), id) == 0)
				return error_set(err, EEXIST,
						      "disk %s: id \"%s\" is already used by disk %s",
						      d->path, id, cfg->disks[j].path);
	}
	return 0;
}

/* Settings for a next fs share, net device or disk that no add call took
 * would be silently lost. */
static int check_pending(const nook_vm_config *cfg, nook_error **err)
{
	if (cfg->fs_next_set)
		return error_set(err, EINVAL,
				 "fs settings (tag, mount point, read-only or DAX size) given with "
				 "no share added after them: they apply to the next "
				 "nook_vm_config_add_fs_path() or _add_fs_custom()");
	if (cfg->net_next_set)
		return error_set(err, EINVAL,
				 "net settings (mac, segment) given with no network device added after "
				 "them: they apply to the next nook_vm_config_add_net_*()");
	if (cfg->disk_next_set)
		return error_set(err, EINVAL,
				 "disk settings given with no disk added after them: they apply "
				 "to the next nook_vm_config_add_disk()");
	return 0;
}

int vm_config_validate(const nook_vm_config *cfg, nook_error **err)
{
	int r = check_pending(cfg, err);
	if (r == 0)
		r = check_machine(cfg, err);
	if (r == 0)
		r = check_kernel(cfg, err);
	if (r == 0)
		r = check_exec(cfg, err);
	if (r == 0)
		r = check_fs(cfg, err);
	if (r == 0)
		r = check_net(cfg, err);
	if (r == 0)
		r = check_console(cfg, err);
	if (r == 0)
		r = check_disks(cfg, err);
	if (r == 0)
		r = check_vsock(cfg, err);
	return r;
}

