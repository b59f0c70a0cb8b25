/* Assembling a VM from its configuration, and its lifecycle. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "devices/boot_port.h"
#include "devices/legacy.h"
#include "devices/serial.h"
#include "devices/virtio/console.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/fs.h"
#include "devices/virtio/rng.h"
#include "vm/net.h"
#include "guest/protocol.h"
#include "util/event_loop.h"
#include "kvm/kvm.h"
#include "vm/config.h"
#include "vm/initramfs.h"
#include "vm/shares.h"
#include "x86/boot.h"
#include "util/strbuf.h"
#include "x86/cpu.h"
#include "x86/layout.h"
#include "x86/machine.h"

enum vm_state { VM_BUILT, VM_RUNNING, VM_ENDED };

struct nook_vm {
	enum vm_state state;
	bool custom_init;
	enum nook_log_level log_level;
	nook_log_fn log_fn;
	void *log_userdata;
	uint64_t t_build;

	struct machine machine;
	struct event_loop loop;
	struct serial serial;
	int console_out_fd;
	struct legacy_devices legacy;
	struct boot_port boot_port;
	struct virtio_console console;
	bool console_created;
	struct virtio_rng rng;
	bool rng_created;
	struct vm_net_devices net;
	/* nook_vm_stop(): signal numbers go to nook-init's control port
	 * through this pipe; the timer ends the VM by force. */
	int control_pipe[2];
	struct event_source stop_timer;
	/* virtio-fs shares: the built-in root (if used), then the config's. */
	char builtin_root_dir[PATH_MAX];
	struct vm_fs builtin_root;
	const struct vm_fs **share_cfg; /* during nook_vm_build() only */
	struct vm_share {
		struct virtio_fs dev;
		struct fs_server *server;
	} *shares;
	size_t nshares;
	struct virtio_blk *disks; /* one per configured disk */
	size_t ndisks;
	/* Virtio devices in the order of their MMIO windows and IRQs. */
	const struct virtio_mmio_device *virtio[LAYOUT_LAST_DEVICE_IRQ - LAYOUT_FIRST_DEVICE_IRQ + 1];
	unsigned nvirtio;
};

static void vm_log(struct nook_vm *vm, enum nook_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void vm_log(struct nook_vm *vm, enum nook_log_level level, const char *fmt, ...)
{
	if (level > vm->log_level || level == NOOK_LOG_OFF)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (vm->log_fn)
		vm->log_fn(level, msg, vm->log_userdata);
	else
		fprintf(stderr, "nook: %s\n", msg);
}

/* Opens a regular file for reading; the error names it. */
static int open_regular(const char *what, const char *path, uint64_t *size, nook_error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, e, "%s %s: %s", what, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, EINVAL, "%s %s: not a regular file", what, path);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static int read_file(const char *what, const char *path, uint8_t **data, size_t *len,
		     nook_error **err)
{
	uint64_t size;
	int fd = open_regular(what, path, &size, err);
	if (fd < 0)
		return fd;
	*len = (size_t)size;
	*data = malloc(*len ? *len : 1);
	size_t done = 0;
	while (*data && done < *len) {
		ssize_t n = read(fd, *data + done, *len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	if (!*data || done != *len) {
		free(*data);
		*data = NULL;
		return error_set(err, EIO, "%s %s: read failed", what, path);
	}
	return 0;
}

/* Where the built-in kernel, rootfs and nook-init are: $NOOK_DATA_DIR if
 * set, else the installed data directory if `meson install` put them
 * there, else the build tree (the kernel: its per-machine cache). */
static void default_artifact(const char *name, const char *build_path, char *out, size_t len)
{
	const char *dir = getenv("NOOK_DATA_DIR");
	if (!dir || !*dir) {
		snprintf(out, len, "%s/%s", NOOK_INSTALL_DATA_DIR, name);
		if (access(out, R_OK) == 0)
			return;
		snprintf(out, len, "%s", build_path);
		return;
	}
	snprintf(out, len, "%s/%s", dir, name);
}

static int encode_init_config(const struct nook_vm *vm, const nook_vm_config *cfg,
			      struct initramfs_buf *buf)
{
	int r = init_config_add_string(buf, NOOK_TAG_EXEC_PATH, cfg->exec_path);
	if (r == 0)
		r = vm_shares_encode(vm->share_cfg, vm->nshares, buf);
	for (size_t i = 0; r == 0 && i < cfg->args.n; i++)
		r = init_config_add_string(buf, NOOK_TAG_ARG, cfg->args.items[i]);
	for (size_t i = 0; r == 0 && i < cfg->env.n; i++)
		r = init_config_add_string(buf, NOOK_TAG_ENV, cfg->env.items[i]);
	if (r == 0 && cfg->workdir)
		r = init_config_add_string(buf, NOOK_TAG_WORKDIR, cfg->workdir);
	for (size_t i = 0; r == 0 && i < cfg->nrlimits; i++)
		r = init_config_add_rlimit(buf, (uint32_t)cfg->rlimits[i].resource,
						cfg->rlimits[i].soft, cfg->rlimits[i].hard);
	if (r == 0)
		r = vm_net_encode_init_config(&vm->net, buf);
	return r;
}

/* The initramfs is the caller's archive (if any) followed by the generated
 * archive holding nook-init and its config. */
static int load_initramfs(struct nook_vm *vm, const nook_vm_config *cfg,
			  const struct x86_kernel *k, uint64_t *gpa, uint64_t *size,
			  nook_error **err)
{
	char init_path[PATH_MAX];
	default_artifact("nook-init", NOOK_INIT_BINARY, init_path, sizeof(init_path));
	const char *rootfs_path = cfg->initramfs_path;
	uint8_t *init = NULL;
	size_t init_len = 0;
	uint64_t rootfs_len = 0;
	struct initramfs_buf config = {0}, generated = {0};
	int rootfs_fd = rootfs_path ? open_regular("initramfs", rootfs_path, &rootfs_len, err) : -1;
	int r = rootfs_path && rootfs_fd < 0 ? rootfs_fd : 0;
	if (r == 0 && cfg->exec_path) {
		r = read_file("nook-init", init_path, &init, &init_len, err);
		if (r == 0 && (r = encode_init_config(vm, cfg, &config)) < 0)
			error_set(err, -r, "guest config: %s", strerror(-r));
		if (r == 0 && (r = initramfs_build(&generated, init, init_len, config.data,
							config.len)) < 0)
			error_set(err, -r, "initramfs: %s", strerror(-r));
	}
	/* Each archive must start 4-byte aligned; fresh guest memory is zero,
	 * so the padding between them is too. */
	uint64_t rootfs_padded = (rootfs_len + 3) & ~3ULL;
	*size = rootfs_padded + generated.len;
	if (r == 0 && *size)
		r = x86_place_initrd(&vm->machine.mem, k, *size, gpa, err);
	if (r == 0 && rootfs_fd >= 0 && (r = guest_memory_load_file(&vm->machine.mem, *gpa, rootfs_fd, 0,
						  rootfs_len)) < 0)
		error_set(err, -r, "initramfs %s: %s", rootfs_path, strerror(-r));
	if (r == 0 && generated.len)
		memcpy(guest_memory_ptr(&vm->machine.mem, *gpa + rootfs_padded, generated.len),
		       generated.data, generated.len);
	if (rootfs_fd >= 0)
		close(rootfs_fd);
	free(init);
	initramfs_buf_free(&config);
	initramfs_buf_free(&generated);
	return r;
}

static int build_cmdline(struct nook_vm *vm, const nook_vm_config *cfg, const struct x86_kernel *k,
			 char *buf, size_t len, nook_error **err)
{
	struct strbuf b = strbuf_on(buf, len);
	x86_cmdline_append(&b, &vm->machine, k, cfg->console_output != NULL);
	strbuf_printf(&b, " panic=-1 cryptomgr.notests random.trust_cpu=on rdinit=%s",
		      cfg->init_path ? cfg->init_path : NOOK_INIT_PATH);
	/* A custom init and no initramfs: the kernel mounts the root share. */
	if (!cfg->exec_path && !cfg->initramfs_path)
		strbuf_printf(&b, " rootfstype=virtiofs root=" VM_FS_ROOT_TAG " %s init=%s",
			      vm->builtin_root.path ? "ro" : "rw",
			      cfg->init_path ? cfg->init_path : "/sbin/init");
	for (unsigned i = 0; i < vm->nvirtio; i++) {
		char dev[128];
		virtio_mmio_cmdline(vm->virtio[i], dev, sizeof(dev));
		strbuf_printf(&b, " %s", dev);
	}
	if (cfg->cmdline)
		strbuf_printf(&b, " %s", cfg->cmdline);
	if (b.overflow)
		return error_set(err, E2BIG, "kernel command line longer than %d bytes",
				      LAYOUT_CMDLINE_MAX - 1);
	return 0;
}

static bool want_pvm(enum nook_pvm_mode mode)
{
	return mode == NOOK_PVM_ON || (mode == NOOK_PVM_AUTO && kvm_host_is_pvm());
}

/* Each virtio device gets the next MMIO window and IRQ; `dev` is recorded
 * for the kernel command line. */
static int next_virtio_slot(struct nook_vm *vm, const struct virtio_mmio_device *dev,
			    uint64_t *base, uint32_t *irq, nook_error **err)
{
	const unsigned max = sizeof(vm->virtio) / sizeof(vm->virtio[0]);
	*base = 0;
	*irq = 0;
	if (vm->nvirtio == max)
		return error_set(err, ENOSPC, "too many devices: at most %u virtio devices",
				      max);
	*base = LAYOUT_VIRTIO_MMIO_BASE + vm->nvirtio * LAYOUT_VIRTIO_MMIO_SIZE;
	*irq = LAYOUT_FIRST_DEVICE_IRQ + vm->nvirtio;
	vm->virtio[vm->nvirtio++] = dev;
	return 0;
}

static void on_stop_timer(void *opaque, uint32_t events)
{
	struct nook_vm *vm = opaque;
	uint64_t expirations;
	if (read(vm->stop_timer.fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		machine_request_stop(&vm->machine, MACHINE_STOP_REQUESTED, 0, NULL);
}

static int add_share(struct nook_vm *vm, struct vm_share *share, const struct vm_fs *fs,
		     nook_error **err)
{
	struct nook_fs_backend backend = fs->backend;
	void *opaque = fs->opaque;
	if (fs->kind == VM_FS_PATH) {
		int r = vm_share_open_server(fs, &share->server, err);
		if (r < 0)
			return r;
		backend.request = fs_server_handle;
		opaque = share->server;
	}
	uint64_t base;
	uint32_t irq;
	int r = next_virtio_slot(vm, &share->dev.mmio, &base, &irq, err);
	if (r == 0)
		r = virtio_fs_init(&share->dev, &vm->machine, &vm->loop, fs->tag, &backend, opaque,
				   base, irq, err);
	return r;
}

/* The shares: the built-in root when the config has no root, then the
 * config's own. */
static int plan_shares(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	bool builtin = vm_shares_use_builtin_root(cfg);
	vm->share_cfg = calloc(cfg->nfs + 1, sizeof(*vm->share_cfg));
	vm->shares = calloc(cfg->nfs + 1, sizeof(*vm->shares));
	if (!vm->share_cfg || !vm->shares)
		return error_set(err, ENOMEM, "out of memory");
	if (builtin) {
		default_artifact("rootfs", NOOK_ROOTFS_DIR, vm->builtin_root_dir,
				 sizeof(vm->builtin_root_dir));
		struct stat st;
		if (stat(vm->builtin_root_dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return error_set(err, ENOENT,
					      "built-in rootfs %s is missing (build nook, or give a "
					      "rootfs)",
					      vm->builtin_root_dir);
		vm->builtin_root = vm_shares_builtin_root(vm->builtin_root_dir);
		vm->share_cfg[vm->nshares++] = &vm->builtin_root;
	}
	for (size_t i = 0; i < cfg->nfs; i++)
		vm->share_cfg[vm->nshares++] = &cfg->fs[i];
	return 0;
}

static int net_slot(void *vm, const struct virtio_mmio_device *dev, uint64_t *base,
		    uint32_t *irq, nook_error **err)
{
	return next_virtio_slot(vm, dev, base, irq, err);
}

static int add_devices(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	struct machine *m = &vm->machine;
	if (cfg->console_output) {
		vm->console_out_fd = open(cfg->console_output,
					  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (vm->console_out_fd < 0)
			return error_set(err, errno, "console output %s: %s", cfg->console_output,
					      strerror(errno));
	}
	serial_init(&vm->serial, vm->console_out_fd);
	struct io_handler serial = serial_io_handler(&vm->serial);
	int r = io_bus_register(&m->pio, SERIAL_COM1_BASE, SERIAL_PORTS, &serial);
	if (r == 0)
		r = legacy_devices_register(&vm->legacy, m);
	if (r == 0)
		r = boot_port_register(&vm->boot_port, m);
	if (r < 0)
		return error_set(err, -r, "legacy devices: %s", strerror(-r));

	if (pipe2(vm->control_pipe, O_CLOEXEC) < 0 ||
	    fcntl(vm->control_pipe[1], F_SETFL, O_NONBLOCK) < 0)
		return error_set(err, errno, "control pipe: %s", strerror(errno));
	vm->stop_timer = (struct event_source){
		.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.fn = on_stop_timer,
		.opaque = vm,
	};
	if (vm->stop_timer.fd < 0 || (r = event_loop_add(&vm->loop, &vm->stop_timer, EPOLLIN)) < 0)
		return error_set(err, errno, "stop timer: %s", strerror(errno));
	const struct virtio_console_port_config ports[] = {
		{NOOK_PORT_NAME_STDIN, cfg->stdio[0], -1},
		{NOOK_PORT_NAME_STDOUT, -1, cfg->stdio[1]},
		{NOOK_PORT_NAME_STDERR, -1, cfg->stdio[2]},
		{NOOK_PORT_NAME_CONTROL, vm->control_pipe[0], -1},
	};
	uint64_t base;
	uint32_t irq;
	r = next_virtio_slot(vm, &vm->console.mmio, &base, &irq, err);
	if (r < 0)
		return r;
	vm->console_created = true;
	r = virtio_console_init(&vm->console, m, &vm->loop, ports, 4, base, irq, err);
	if (r == 0 && cfg->rng && (r = next_virtio_slot(vm, &vm->rng.mmio, &base, &irq, err)) == 0) {
		vm->rng_created = true;
		r = virtio_rng_init(&vm->rng, m, &vm->loop, base, irq, err);
	}
	for (size_t i = 0; r == 0 && i < vm->nshares; i++)
		r = add_share(vm, &vm->shares[i], vm->share_cfg[i], err);
	if (r == 0 && cfg->ndisks && !(vm->disks = calloc(cfg->ndisks, sizeof(*vm->disks))))
		r = error_set(err, ENOMEM, "disks: out of memory");
	for (size_t i = 0; r == 0 && i < cfg->ndisks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		const struct virtio_blk_params p = {
			.path = d->path, .id = vm_disk_id(d), .format = (enum disk_format)d->format,
			.read_only = d->read_only, .direct = d->direct_io, .cache = d->cache,
			.sync = d->sync, .allow_backing = d->allow_backing};
		if ((r = next_virtio_slot(vm, &vm->disks[i].mmio, &base, &irq, err)) == 0) {
			vm->ndisks++;
			r = virtio_blk_init(&vm->disks[i], m, &vm->loop, &p, base, irq, err);
		}
	}
	if (r == 0)
		r = vm_net_create(&vm->net, cfg, m, &vm->loop, net_slot, vm, err);
	if (cfg->balloon && !cfg->balloon_set)
		vm_log(vm, NOOK_LOG_WARN, "no virtio-balloon: nook does not have one yet");
	if (cfg->metrics && !cfg->metrics_set)
		vm_log(vm, NOOK_LOG_WARN, "no metrics device: nook does not have one yet");
	return r;
}

static int assemble(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	char builtin_kernel[PATH_MAX];
	default_artifact("vmlinux", NOOK_KERNEL_DIR "/vmlinux", builtin_kernel, sizeof(builtin_kernel));
	const char *kernel = cfg->kernel_path ? cfg->kernel_path : builtin_kernel;
	if (!cfg->kernel_path && access(kernel, R_OK) != 0)
		return error_set(err, ENOENT,
				      "built-in kernel %s is missing: build it with "
				      "guest/kernel/build-kernel.sh (or pass a kernel path)",
				      kernel);
	struct machine *m = &vm->machine;
	m->confine = cfg->confine;
	int r = x86_machine_create(m, cfg->memory_mib << 20, want_pvm(cfg->pvm), err);
	if (r == 0)
		r = machine_create_vcpus(m, (int)cfg->vcpus, err);
	if (r == 0 && (r = event_loop_init(&vm->loop)) < 0)
		error_set(err, -r, "event loop: %s", strerror(-r));
	if (r == 0)
		r = plan_shares(vm, cfg, err);
	if (r == 0)
		r = add_devices(vm, cfg, err);
	struct x86_kernel k = {0};
	if (r == 0)
		r = x86_load_kernel(&m->mem, kernel, &k, err);
	m->system_map_path = k.system_map_path;
	k.system_map_path = NULL;

	uint64_t initrd_gpa = 0, initrd_size = 0;
	if (r == 0)
		r = load_initramfs(vm, cfg, &k, &initrd_gpa, &initrd_size, err);
	char cmdline[LAYOUT_CMDLINE_MAX];
	if (r == 0)
		r = build_cmdline(vm, cfg, &k, cmdline, sizeof(cmdline), err);
	if (r == 0)
		r = x86_setup_vcpus(m, err);
	if (r == 0)
		r = x86_setup_boot(m, &k, cmdline, initrd_gpa, initrd_size, err);
	if (r == 0)
		vm_log(vm, NOOK_LOG_DEBUG, "kernel %s (%s entry 0x%llx), command line: %s", kernel,
		       k.protocol == X86_BOOT_PVH ? "PVH" : "64-bit", (unsigned long long)k.entry,
		       cmdline);
	x86_kernel_release(&k);
	return r;
}

int nook_vm_build(const nook_vm_config *cfg, nook_vm **out, nook_error **err)
{
	*out = NULL;
	int r = vm_config_validate(cfg, err);
	if (r < 0)
		return r;
	nook_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return error_set(err, ENOMEM, "out of memory");
	vm->t_build = monotonic_ns();
	vm->custom_init = cfg->init_path != NULL;
	vm->log_level = cfg->log_level;
	vm->log_fn = cfg->log_fn;
	vm->log_userdata = cfg->log_userdata;
	vm->loop.epoll_fd = vm->loop.wake_fd = -1;
	vm->console_out_fd = -1;
	vm->control_pipe[0] = vm->control_pipe[1] = vm->stop_timer.fd = -1;
	machine_init(&vm->machine);
	r = assemble(vm, cfg, err);
	free(vm->share_cfg); /* points into cfg */
	vm->share_cfg = NULL;
	if (r < 0) {
		nook_vm_free(vm);
		return r;
	}
	*out = vm;
	return 0;
}

int nook_vm_start(nook_vm *vm, nook_error **err)
{
	if (vm->state != VM_BUILT)
		return error_set(err, EALREADY, "the VM was already started");
	int r = event_loop_start(&vm->loop, vm->machine.confine);
	if (r < 0)
		return error_set(err, -r, "cannot start the I/O thread: %s", strerror(-r));
	r = machine_start_vcpus(&vm->machine, err);
	vm->state = VM_RUNNING;
	return r;
}

/* Joins every thread of a stopping VM and writes out queued output. */
static void finish(struct nook_vm *vm)
{
	if (vm->state != VM_RUNNING)
		return;
	machine_request_stop(&vm->machine, MACHINE_STOP_REQUESTED, 0, NULL);
	for (int i = 0; i < vm->machine.nvcpus; i++) {
		struct vcpu *v = &vm->machine.vcpus[i];
		if (v->thread_started)
			pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
	event_loop_stop(&vm->loop);
	if (vm->console_created)
		virtio_console_drain(&vm->console);
	vm->state = VM_ENDED;
}

int nook_vm_wait(nook_vm *vm, nook_error **err)
{
	if (vm->state == VM_BUILT)
		return error_set(err, EINVAL, "the VM was not started");
	struct machine *m = &vm->machine;
	while (!machine_stopping(m)) {
		struct pollfd pfd = {.fd = m->stop_fd, .events = POLLIN};
		poll(&pfd, 1, -1);
	}
	finish(vm);
	const char *msg = m->stop_message ? m->stop_message : "";
	switch ((enum machine_stop_reason)atomic_load(&m->stop_reason)) {
	case MACHINE_STOP_EXIT_STATUS:
		return m->stop_arg;
	case MACHINE_STOP_RESET:
	case MACHINE_STOP_SHUTDOWN:
		if (vm->custom_init)
			return 0;
		return error_set(err, EIO,
				      "%s before nook-init reported an exit status (kernel panic? "
				      "--console-output FILE shows the kernel log)",
				      msg);
	case MACHINE_STOP_REQUESTED:
		return error_set(err, ECANCELED, "the VM was stopped");
	case MACHINE_STOP_INIT_FAILED:
	case MACHINE_STOP_TRIPLE_FAULT:
	case MACHINE_STOP_ERROR:
	default:
		return error_set(err, EIO, "%s", msg);
	}
}

int nook_vm_signal(nook_vm *vm, int signo)
{
	if (signo < 1 || signo > 64)
		return -EINVAL;
	if (vm->state != VM_RUNNING || machine_stopping(&vm->machine))
		return -ESRCH;
	unsigned char byte = (unsigned char)signo;
	return write(vm->control_pipe[1], &byte, 1) == 1 ? 0 : -EAGAIN;
}

void nook_vm_stop(nook_vm *vm, int signo, unsigned timeout_ms)
{
	if (timeout_ms == 0 || nook_vm_signal(vm, signo) < 0) {
		machine_request_stop(&vm->machine, MACHINE_STOP_REQUESTED, 0, NULL);
		return;
	}
	/* Keep an earlier deadline. */
	struct itimerspec now, t = {
		.it_value = {.tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000},
	};
	if (timerfd_gettime(vm->stop_timer.fd, &now) == 0 &&
	    (now.it_value.tv_sec || now.it_value.tv_nsec) &&
	    (now.it_value.tv_sec < t.it_value.tv_sec ||
	     (now.it_value.tv_sec == t.it_value.tv_sec && now.it_value.tv_nsec <= t.it_value.tv_nsec)))
		return;
	if (timerfd_settime(vm->stop_timer.fd, 0, &t, NULL) < 0)
		machine_request_stop(&vm->machine, MACHINE_STOP_REQUESTED, 0, NULL);
}

void nook_vm_free(nook_vm *vm)
{
	if (!vm)
		return;
	finish(vm);
	if (vm->console_created)
		virtio_console_destroy(&vm->console);
	if (vm->rng_created)
		virtio_rng_destroy(&vm->rng);
	vm_net_destroy(&vm->net);
	for (size_t i = 0; vm->shares && i < vm->nshares; i++) {
		virtio_fs_destroy(&vm->shares[i].dev);
		if (vm->shares[i].server)
			fs_server_destroy(vm->shares[i].server);
	}
	free(vm->shares);
	for (size_t i = 0; i < vm->ndisks; i++)
		virtio_blk_destroy(&vm->disks[i]);
	free(vm->disks);
	machine_destroy(&vm->machine);
	event_loop_destroy(&vm->loop);
	serial_destroy(&vm->serial);
	legacy_devices_destroy(&vm->legacy);
	if (vm->console_out_fd >= 0)
		close(vm->console_out_fd);
	for (int i = 0; i < 2; i++)
		if (vm->control_pipe[i] >= 0)
			close(vm->control_pipe[i]);
	if (vm->stop_timer.fd >= 0)
		close(vm->stop_timer.fd);
	free(vm);
}

static double since_build_ms(const struct nook_vm *vm, uint64_t t)
{
	return t ? (double)(int64_t)(t - vm->t_build) / 1e6 : -1.0;
}

void nook_vm_get_boot_times(const nook_vm *vm, struct nook_boot_times *t)
{
	uint64_t first = atomic_load(&vm->machine.t_first_run);
	t->first_kvm_run_ms = since_build_ms(vm, first);
	t->userspace_ms = since_build_ms(vm, atomic_load(&vm->boot_port.t_userspace));
	t->program_ms = since_build_ms(vm, atomic_load(&vm->boot_port.t_program));
	t->exit_ms = since_build_ms(vm, atomic_load(&vm->boot_port.t_exit));
	t->first_run_ns = first;
}
