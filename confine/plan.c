#include "confine/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio/worker.h"
#include "vm/shares.h"
#include "vm/snapshot_cache.h"

/* Threads beside the VM's own: the caller's, and one to watch signals. */
#define CALLER_THREADS 2

static int add(struct confine_plan *p, const char *path, enum plan_access access)
{
	if (!path)
		return 0;
	struct plan_path *paths = realloc(p->paths, (p->npaths + 1) * sizeof(*paths));
	if (!paths)
		return -ENOMEM;
	p->paths = paths;
	char *abs;
	int n = path[0] == '/' ? asprintf(&abs, "%s", path)
			       : asprintf(&abs, "%s/%s", strcmp(p->cwd, "/") ? p->cwd : "", path);
	if (n < 0)
		return -ENOMEM;
	p->paths[p->npaths++] = (struct plan_path){abs, access};
	return 0;
}

/* `name` beside the file at `path`, as x86/boot.c looks for the kernel's
 * System.map and config. */
static int add_beside_as(struct confine_plan *p, const char *path, const char *name,
			 enum plan_access access)
{
	const char *slash = strrchr(path, '/');
	char *beside;
	if (asprintf(&beside, "%.*s/%s", slash ? (int)(slash - path) : 1, slash ? path : ".",
		     name) < 0)
		return -ENOMEM;
	int r = add(p, beside, access);
	free(beside);
	return r;
}

static int add_beside(struct confine_plan *p, const char *path, const char *name)
{
	return add_beside_as(p, path, name, PLAN_READ);
}

/* The directory of a disk image, where its backing files must lie. */
static int add_dir_of(struct confine_plan *p, const char *path)
{
	return add_beside(p, path, ".");
}

static int add_fd(struct confine_plan *p, int fd)
{
	if (fd < 0)
		return 0;
	int *fds = realloc(p->fds, (p->nfds + 1) * sizeof(*fds));
	if (!fds)
		return -ENOMEM;
	p->fds = fds;
	p->fds[p->nfds++] = fd;
	return 0;
}

/* The built-in kernel, rootfs and nook-init, where nook_vm_build() looks
 * for them (vm/vm.c: default_artifact). */
static void builtin(const char *name, const char *build_path, char *out, size_t len)
{
	const char *dir = getenv("NOOK_DATA_DIR");
	if (dir && *dir) {
		snprintf(out, len, "%s/%s", dir, name);
		return;
	}
	snprintf(out, len, "%s/%s", NOOK_INSTALL_DATA_DIR, name);
	if (access(out, R_OK) != 0)
		snprintf(out, len, "%s", build_path);
}

static int add_kernel(struct confine_plan *p, const nook_vm_config *cfg)
{
	char path[PATH_MAX], init[PATH_MAX];
	builtin("vmlinux", NOOK_KERNEL_DIR "/vmlinux", path, sizeof(path));
	const char *kernel = cfg->kernel_path ? cfg->kernel_path : path;
	builtin("nook-init", NOOK_INIT_BINARY, init, sizeof(init));
	int r = add(p, kernel, PLAN_READ);
	if (r == 0)
		r = add_beside(p, kernel, "System.map");
	if (r == 0)
		r = add_beside(p, kernel, "config");
	if (r == 0)
		r = add_beside(p, kernel, ".config");
	if (r == 0)
		r = add(p, cfg->initramfs_path, PLAN_READ);
	if (r == 0 && (cfg->exec_path || !cfg->init_path))
		r = add(p, init, PLAN_READ);
	/* The archive when the root may go into guest memory; the directory
	 * too, which the VMM shares instead when it has no snapshot cache
	 * (vm/vm.c: plan_vm). */
	if (r == 0 && vm_shares_root_in_memory(cfg)) {
		builtin("rootfs.cpio", NOOK_ROOTFS_ARCHIVE, path, sizeof(path));
		r = add(p, path, PLAN_READ);
	}
	if (r == 0 && vm_shares_use_builtin_root(cfg)) {
		builtin("rootfs", NOOK_ROOTFS_DIR, path, sizeof(path));
		r = add(p, path, PLAN_READ);
	}
	return r;
}

static int add_net(struct confine_plan *p, const nook_vm_config *cfg)
{
	int r = 0;
	p->user_net = !cfg->nnet && cfg->inet_hijack;
	for (size_t i = 0; r == 0 && i < cfg->nnet; i++) {
		const struct vm_net *n = &cfg->net[i];
		switch (n->kind) {
		case VM_NET_USER:
			p->user_net = true;
			break;
		case VM_NET_TAP:
			p->tap = true;
			r = add(p, "/dev/net/tun", PLAN_DEVICE);
			break;
		case VM_NET_UNIXSTREAM_PATH:
		case VM_NET_UNIXGRAM_PATH:
			r = add(p, n->path, PLAN_WRITE);
			break;
		case VM_NET_UNIXSTREAM_FD:
		case VM_NET_UNIXGRAM_FD:
			r = add_fd(p, n->fd);
			break;
		case VM_NET_VDE: {
			/* The switch's directory: the port's socket is made
			 * there. */
			const char *dir = strncmp(n->path, "vde://", 6) == 0 ? n->path + 6 : n->path;
			char *copy = strndup(dir, strcspn(dir, "["));
			r = copy ? add(p, copy, PLAN_WRITE) : -ENOMEM;
			free(copy);
			break;
		}
		case VM_NET_CUSTOM:
			break;
		}
	}
	/* libslirp forwards the guest's DNS queries to the host's resolver;
	 * glib, under it, seeds its random numbers from /dev/urandom. */
	if (r == 0 && p->user_net)
		r = add(p, "/etc/resolv.conf", PLAN_READ);
	if (r == 0 && p->user_net)
		r = add(p, "/dev/urandom", PLAN_READ);
	for (size_t i = 0; r == 0 && p->user_net && i < cfg->nnet_ports; i++) {
		const struct nook_port_pair *port = &cfg->net_ports[i];
		p->low_port |= port->host_port < 1024;
		if (port->protocol != NOOK_PORT_PROTOCOL_TCP)
			continue;
		uint16_t *ports = realloc(p->tcp_ports, (p->ntcp_ports + 1) * sizeof(*ports));
		if (!ports)
			return -ENOMEM;
		p->tcp_ports = ports;
		p->tcp_ports[p->ntcp_ports++] = port->host_port;
	}
	return r;
}

/* Where vm/warm_start.c looks for a snapshot and saves one: a directory
 * the configuration names (made beside it), else the cache. */
static int add_snapshots(struct confine_plan *p, const nook_vm_config *cfg)
{
	if (cfg->snapshot_mode == NOOK_SNAPSHOT_OFF || cfg->initramfs_path || cfg->init_path)
		return 0;
	if (cfg->snapshot_dir)
		return add_beside_as(p, cfg->snapshot_dir, ".", PLAN_WRITE);
	char root[PATH_MAX];
	nook_error *err = NULL;
	/* Without a cache the build boots cold and says why. */
	if (snapshot_cache_root(root, sizeof(root), &err) < 0) {
		nook_error_free(err);
		return 0;
	}
	int r = add(p, root, PLAN_WRITE);
	if (r == 0 && !(p->cache_dir = strdup(p->paths[p->npaths - 1].path)))
		r = -ENOMEM;
	return r;
}

static int make(const nook_vm_config *cfg, struct confine_plan *p)
{
	int r = add(p, "/dev/kvm", PLAN_DEVICE);
	if (r == 0)
		r = add_kernel(p, cfg);
	for (size_t i = 0; r == 0 && i < cfg->nfs; i++)
		if (cfg->fs[i].kind == VM_FS_PATH)
			r = add(p, cfg->fs[i].path, cfg->fs[i].read_only ? PLAN_READ : PLAN_WRITE);
	for (size_t i = 0; r == 0 && i < cfg->ndisks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		if (d->allow_backing)
			r = add_dir_of(p, d->path);
		if (r == 0)
			r = add(p, d->path, d->read_only ? PLAN_READ : PLAN_WRITE);
	}
	p->console_output = cfg->console_output;
	p->kernel_log = cfg->kernel_log;
	if (r == 0)
		r = add(p, cfg->console_output, PLAN_WRITE);
	if (r == 0)
		r = add(p, cfg->kernel_log, PLAN_WRITE);
	for (int i = 0; r == 0 && i < 3; i++)
		r = add_fd(p, cfg->stdio[i]);
	for (size_t i = 0; r == 0 && i < cfg->nports; i++) {
		r = add_fd(p, cfg->ports[i].in_fd);
		if (r == 0)
			r = add_fd(p, cfg->ports[i].out_fd);
	}
	if (r == 0)
		r = add_net(p, cfg);
	/* vsock: PATH is made there, and PATH_P connected to for any P. */
	if (r == 0 && cfg->vsock_path)
		r = add_beside_as(p, cfg->vsock_path, ".", PLAN_WRITE);
	if (r == 0)
		r = add_snapshots(p, cfg);
	p->vcpus = cfg->vcpus;
	p->memory_mib = cfg->memory_mib;
	p->nthreads = CALLER_THREADS + 1 + cfg->vcpus + (cfg->nfs + 1 + cfg->ndisks) * VIRTIO_WORKERS_MAX +
		      cfg->nnet + 1;
	return r;
}

int confine_plan_make(const nook_vm_config *cfg, struct confine_plan *p, nook_error **err)
{
	*p = (struct confine_plan){0};
	if (!getcwd(p->cwd, sizeof(p->cwd)))
		return error_set(err, errno, "confine: working directory: %s", strerror(errno));
	int r = make(cfg, p);
	if (r < 0) {
		confine_plan_free(p);
		return error_set(err, -r, "confine: %s", strerror(-r));
	}
	return 0;
}

void confine_plan_free(struct confine_plan *p)
{
	for (size_t i = 0; i < p->npaths; i++)
		free(p->paths[i].path);
	free(p->paths);
	free(p->fds);
	free(p->tcp_ports);
	free(p->cache_dir);
	*p = (struct confine_plan){0};
}
