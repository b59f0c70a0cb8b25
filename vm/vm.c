/* The VM's lifecycle: build (plan, assemble, then boot cold or restore),
 * start, wait, stop, free. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "guest/protocol.h"
#include "vm/snapshot_cache.h"
#include "vm/vm.h"
#include "util/log.h"
#include "x86/cpu.h"
#include "x86/machine.h"

void vm_log(struct nook_vm *vm, enum nook_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmessage(vm->log_level, vm->log_fn, vm->log_userdata, level, fmt, ap);
	va_end(ap);
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

static bool want_pvm(enum nook_pvm_mode mode)
{
	return mode == NOOK_PVM_ON || (mode == NOOK_PVM_AUTO && kvm_host_is_pvm());
}

/* What is decided once: the kernel, nook-init, the shares (the built-in
 * root when the config has no root, then the config's own). */
static int plan_vm(const nook_vm_config *cfg, struct vm_plan *plan, nook_error **err)
{
	default_artifact("vmlinux", NOOK_KERNEL_DIR "/vmlinux", plan->kernel_path,
			 sizeof(plan->kernel_path));
	if (cfg->kernel_path)
		snprintf(plan->kernel_path, sizeof(plan->kernel_path), "%s", cfg->kernel_path);
	else if (access(plan->kernel_path, R_OK) != 0)
		return error_set(err, ENOENT,
				 "built-in kernel %s is missing: build it with "
				 "guest/kernel/build-kernel.sh (or pass a kernel path)",
				 plan->kernel_path);
	default_artifact("nook-init", NOOK_INIT_BINARY, plan->init_path, sizeof(plan->init_path));
	plan->shares = calloc(cfg->nfs + 1, sizeof(*plan->shares));
	plan->dax_windows = calloc(cfg->nfs + 1, sizeof(*plan->dax_windows));
	if (!plan->shares || !plan->dax_windows)
		return error_set(err, ENOMEM, "out of memory");
	/* In memory only for a snapshot: without a cache (say, a home that is
	 * not writable) unpacking it would cost the cold boot for nothing. */
	if (vm_shares_root_in_memory(cfg) && (cfg->snapshot_dir || snapshot_cache_usable())) {
		default_artifact("rootfs.cpio", NOOK_ROOTFS_ARCHIVE, plan->root_archive,
				 sizeof(plan->root_archive));
		if (access(plan->root_archive, R_OK) != 0)
			return error_set(err, ENOENT,
					 "built-in rootfs archive %s is missing (build nook, or give "
					 "a rootfs)",
					 plan->root_archive);
	} else if (vm_shares_use_builtin_root(cfg)) {
		default_artifact("rootfs", NOOK_ROOTFS_DIR, plan->builtin_root_dir,
				 sizeof(plan->builtin_root_dir));
		struct stat st;
		if (stat(plan->builtin_root_dir, &st) < 0 || !S_ISDIR(st.st_mode))
			return error_set(err, ENOENT,
					 "built-in rootfs %s is missing (build nook, or give a rootfs)",
					 plan->builtin_root_dir);
		plan->builtin_root = vm_shares_builtin_root(plan->builtin_root_dir);
		plan->shares[plan->nshares++] = vm_share_plan_of(&plan->builtin_root, 1);
	}
	for (size_t i = 0; i < cfg->nfs;) {
		struct vm_share_plan share = vm_share_plan_of(&cfg->fs[i], cfg->nfs - i);
		plan->shares[plan->nshares++] = share;
		i += share.nlowers ? share.nlowers : 1;
	}
	for (size_t i = 0; i < plan->nshares; i++)
		if (plan->shares[i].fs->shm_size)
			plan->dax_windows[plan->ndax_windows++] = plan->shares[i].fs->shm_size;
	return 0;
}

static nook_vm *vm_new(const nook_vm_config *cfg)
{
	nook_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	vm->t_build = monotonic_ns();
	vm->ready_point = !cfg->init_path;
	vm->boot = NOOK_VM_BOOT_COLD;
	vm->log_level = cfg->log_level;
	vm->log_fn = cfg->log_fn;
	vm->log_userdata = cfg->log_userdata;
	vm->loop.epoll_fd = vm->loop.wake_fd = -1;
	vm->kernel_log_fd = -1;
	vm->control_pipe[0] = vm->control_pipe[1] = vm->stop_timer.fd = vm->ready.fd = -1;
	vm->restore_watchdog.fd = -1;
	pthread_mutex_init(&vm->snapshot_lock, NULL);
	pthread_cond_init(&vm->snapshot_cond, NULL);
	machine_init(&vm->machine);
	return vm;
}

/* The machine, its devices, then its guest: restored or booted. */
static int assemble(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
		    bool allow_restore, nook_error **err)
{
	struct machine *m = &vm->machine;
	m->confine = cfg->confine;
	m->threads_per_core = cfg->hyperthreading ? 2 : 1;
	m->nested = cfg->nested_virt;
	m->metrics = cfg->metrics;
	m->device_memory_sizes = plan->dax_windows;
	m->ndevice_memory_sizes = plan->ndax_windows;
	vm->split_irqchip = cfg->split_irqchip;
	int r = m->nested ? x86_check_nested(err) : 0;
	if (r == 0)
		r = vm->split_irqchip ? x86_machine_create_split(m, cfg->memory_mib << 20,
								 want_pvm(cfg->pvm), IOAPIC_PINS, err)
				      : x86_machine_create(m, cfg->memory_mib << 20, want_pvm(cfg->pvm),
							   err);
	m->device_memory_sizes = NULL; /* the plan's, gone after the build */
	if (r == 0 && vm->split_irqchip)
		r = ioapic_init(&vm->ioapic, m, LAYOUT_IOAPIC, err);
	if (r == 0)
		r = machine_create_vcpus(m, (int)cfg->vcpus, err);
	if (r == 0 && (r = event_loop_init(&vm->loop)) < 0)
		error_set(err, -r, "event loop: %s", strerror(-r));
	if (r == 0)
		r = vm_assemble_devices(vm, cfg, plan, err);
	struct x86_kernel k = {0};
	if (r == 0)
		r = x86_load_kernel(&m->mem, plan->kernel_path, &k, err);
	m->system_map_path = k.system_map_path;
	k.system_map_path = NULL;
	char cmdline[LAYOUT_CMDLINE_MAX];
	if (r == 0)
		r = vm_build_cmdline(vm, cfg, &k, cmdline, sizeof(cmdline), err);
	if (r == 0)
		r = x86_setup_vcpus(m, err);
	if (r == 0 && vm->ready_point)
		r = vm_encode_config(vm, cfg, plan, err);
	if (r == 0)
		r = vm_try_restore(vm, cfg, plan, cmdline, allow_restore, err);
	if (r == 0)
		r = vm_cold_boot(vm, cfg, plan, &k, cmdline, err);
	x86_kernel_release(&k);
	return r < 0 ? r : 0;
}

static int build(const nook_vm_config *cfg, const struct vm_plan *plan, bool allow_restore,
		 nook_vm **out, nook_error **err)
{
	nook_vm *vm = vm_new(cfg);
	if (!vm)
		return error_set(err, ENOMEM, "out of memory");
	int r = assemble(vm, cfg, plan, allow_restore, err);
	if (r < 0) {
		nook_vm_free(vm);
		return r;
	}
	*out = vm;
	return 0;
}

int nook_vm_build(const nook_vm_config *cfg, nook_vm **out, nook_error **err)
{
	*out = NULL;
	struct vm_plan plan = {0};
	int r = vm_config_validate(cfg, err);
	if (r == 0)
		r = plan_vm(cfg, &plan, err);
	nook_error *restore_err = NULL;
	if (r == 0) {
		r = build(cfg, &plan, true, out, &restore_err);
		if (r == -ESTALE) {
			/* A snapshot that does not fit is replaced, never half-used. */
			struct nook_vm tmp = {.log_level = cfg->log_level, .log_fn = cfg->log_fn,
					      .log_userdata = cfg->log_userdata};
			vm_log(&tmp, NOOK_LOG_WARN, "%s; booting cold and making a new one",
			       nook_error_message(restore_err));
			r = build(cfg, &plan, false, out, err);
		} else if (r < 0) {
			error_set(err, nook_error_code(restore_err), "%s",
				  nook_error_message(restore_err));
		}
	}
	nook_error_free(restore_err);
	free(plan.shares);
	free(plan.dax_windows);
	return r;
}

int nook_vm_start(nook_vm *vm, nook_error **err)
{
	if (vm->state != VM_BUILT)
		return error_set(err, EALREADY, "the VM was already started");
	int r = event_loop_start(&vm->loop, vm->machine.confine);
	if (r < 0)
		return error_set(err, -r, "cannot start the I/O thread: %s", strerror(-r));
	vm->state = VM_RUNNING;
	if ((r = vm_console_ports_start(&vm->ports, vm->machine.confine, err)) < 0 ||
	    (vm->boot == NOOK_VM_BOOT_RESTORED && (r = vm_send_config(vm, err)) < 0)) {
		machine_request_stop(&vm->machine, MACHINE_STOP_ERROR, 0, "%s",
				     nook_error_message(*err));
		return r;
	}
	return machine_start_vcpus(&vm->machine, err);
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
	if (vm->ports.dev_created)
		virtio_console_drain(&vm->ports.dev);
	/* A nook_vm_snapshot() still waiting learns the VM stopped. */
	pthread_mutex_lock(&vm->snapshot_lock);
	pthread_cond_broadcast(&vm->snapshot_cond);
	pthread_mutex_unlock(&vm->snapshot_lock);
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
		if (!vm->ready_point)
			return 0;
		return error_set(err, EIO,
				 "%s before nook-init reported an exit status (kernel panic? "
				 "--kernel-log FILE shows the kernel log)",
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
	struct {
		struct nook_msg_header h;
		struct nook_msg_signal s;
	} msg = {{NOOK_MSG_SIGNAL, sizeof(struct nook_msg_signal)}, {(uint32_t)signo}};
	/* Below PIPE_BUF: written whole or not at all. */
	return write(vm->control_pipe[1], &msg, sizeof(msg)) == sizeof(msg) ? 0 : -EAGAIN;
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
	vm_destroy_devices(vm);
	machine_destroy(&vm->machine);
	if (vm->split_irqchip)
		ioapic_destroy(&vm->ioapic);
	event_loop_destroy(&vm->loop);
	bytes_free(&vm->config);
	free(vm->cache_dir);
	free(vm->request_dir);
	free(vm->restored_from);
	free(vm->vsock_path);
	nook_error_free(vm->request_err);
	pthread_mutex_destroy(&vm->snapshot_lock);
	pthread_cond_destroy(&vm->snapshot_cond);
	free(vm);
}

#define BALLOON_PAGES_PER_MIB 256 /* 4 KiB pages */

int nook_vm_set_balloon_mib(nook_vm *vm, uint64_t mib)
{
	if (!vm->balloon_created)
		return -ENODEV;
	if (mib > vm->machine.mem.size >> 20)
		return -EINVAL;
	return virtio_balloon_set_target(&vm->balloon, mib * BALLOON_PAGES_PER_MIB);
}

int nook_vm_get_balloon_stats(nook_vm *vm, struct nook_balloon_stats *out)
{
	if (!vm->balloon_created)
		return -ENODEV;
	struct virtio_balloon_stats s;
	virtio_balloon_get_stats(&vm->balloon, &s);
	const uint64_t *v = s.values;
	*out = (struct nook_balloon_stats){
		.target_mib = s.num_pages / BALLOON_PAGES_PER_MIB,
		.actual_mib = s.actual / BALLOON_PAGES_PER_MIB,
		.total_memory = v[BALLOON_STAT_MEMTOT],
		.free_memory = v[BALLOON_STAT_MEMFREE],
		.available_memory = v[BALLOON_STAT_AVAIL],
		.disk_caches = v[BALLOON_STAT_CACHES],
		.swap_in = v[BALLOON_STAT_SWAP_IN],
		.swap_out = v[BALLOON_STAT_SWAP_OUT],
		.major_faults = v[BALLOON_STAT_MAJFLT],
		.minor_faults = v[BALLOON_STAT_MINFLT],
		.hugetlb_allocations = v[BALLOON_STAT_HTLB_PGALLOC],
		.hugetlb_failures = v[BALLOON_STAT_HTLB_PGFAIL],
		.age_ms = s.updated_ns ? (int64_t)((monotonic_ns() - s.updated_ns) / 1000000) : -1,
		.released_bytes = s.released_bytes,
		.refused = s.refused,
	};
	return 0;
}

enum nook_vm_boot nook_vm_get_boot_kind(const nook_vm *vm)
{
	return vm->boot;
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
	t->ready_ms = since_build_ms(vm, atomic_load(&vm->boot_port.t_ready));
	t->config_ms = since_build_ms(vm, atomic_load(&vm->t_config));
	t->program_ms = since_build_ms(vm, atomic_load(&vm->boot_port.t_program));
	t->exit_ms = since_build_ms(vm, atomic_load(&vm->boot_port.t_exit));
	t->first_run_ns = first;
}
