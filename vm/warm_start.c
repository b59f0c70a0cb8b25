/* The ready point: snapshots of a guest waiting there, restoring one, and
 * handing the run to nook-init (guest/protocol.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent_protocol.h"
#include "guest/protocol.h"
#include "util/sha256.h"
#include "util/state.h"
#include "vm/guest_config.h"
#include "vm/snapshot_cache.h"
#include "vm/vm.h"
#include "x86/diagnose.h"
#include "x86/snapshot.h"

/* Entropy for the guest's pool at each run: twice the minimum. */
#define CONFIG_ENTROPY (2 * NOOK_ENTROPY_MIN)
/* The control pipe holds the config at once, with room for signals. */
#define CONTROL_PIPE_SLACK 4096

int vm_encode_config(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
		     nook_error **err)
{
	struct bytes *b = &vm->config;
	/* No program: an idle sandbox. */
	int r = cfg->exec_path ? guest_config_add_string(b, NOOK_TAG_EXEC_PATH, cfg->exec_path) : 0;
	for (size_t i = 0; r == 0 && i < cfg->args.n; i++)
		r = guest_config_add_string(b, NOOK_TAG_ARG, cfg->args.items[i]);
	for (size_t i = 0; r == 0 && i < cfg->env.n; i++)
		r = guest_config_add_string(b, NOOK_TAG_ENV, cfg->env.items[i]);
	if (r == 0 && cfg->workdir)
		r = guest_config_add_string(b, NOOK_TAG_WORKDIR, cfg->workdir);
	if (r == 0 && cfg->user)
		r = guest_config_add_string(b, NOOK_TAG_USER, cfg->user);
	if (r == 0 && cfg->hostname)
		r = guest_config_add_string(b, NOOK_TAG_HOSTNAME, cfg->hostname);
	for (size_t i = 0; r == 0 && i < cfg->nrlimits; i++)
		r = guest_config_add_rlimit(b, (uint32_t)cfg->rlimits[i].resource,
					    cfg->rlimits[i].soft, cfg->rlimits[i].hard);
	/* The hidden slots, bound in order: shares, disks, network, console
	 * ports, vsock. */
	for (unsigned i = vm->nvisible; r == 0 && i < vm->nslots; i++)
		if (vm->slots[i])
			r = guest_config_add_slot(b, i);
	if (r == 0)
		r = vm_shares_encode(plan->shares, plan->nshares, b);
	for (size_t i = 0; r == 0 && i < cfg->nports; i++)
		r = guest_config_add_string(b, NOOK_TAG_PORT, cfg->ports[i].name);
	if (r == 0)
		r = vm_net_encode_guest_config(&vm->net, b);
	/* The exec agent, reachable only through the vsock UNIX socket. */
	if (r == 0 && cfg->vsock_path)
		r = guest_config_add_agent(b, NOOK_AGENT_PORT);
	if (r < 0)
		return error_set(err, -r, "guest configuration: %s", strerror(-r));
	/* The message, its clock and entropy must fit the control pipe. */
	size_t need = b->len + 2 * sizeof(struct nook_record_header) +
		      sizeof(struct nook_record_clock) + CONFIG_ENTROPY +
		      sizeof(struct nook_msg_header) + CONTROL_PIPE_SLACK;
	if (need - CONTROL_PIPE_SLACK > NOOK_MSG_MAX ||
	    (need > 65536 && fcntl(vm->control_pipe[1], F_SETPIPE_SZ, (int)need) < 0))
		return error_set(err, E2BIG,
				 "guest configuration of %zu bytes (program, arguments, environment): "
				 "at most %u",
				 b->len, NOOK_MSG_MAX - 1024);
	return 0;
}

int vm_send_config(struct nook_vm *vm, nook_error **err)
{
	if (atomic_exchange(&vm->config_sent, true))
		return 0;
	for (unsigned i = vm->nvisible; i < vm->nslots; i++)
		if (vm->slots[i])
			virtio_mmio_reveal(vm->slots[i]);
	virtio_console_release_input(&vm->console);
	struct bytes payload = {0}, msg = {0};
	uint8_t entropy[CONFIG_ENTROPY];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	int r = getrandom(entropy, sizeof(entropy), 0) == sizeof(entropy) ? 0 : -EIO;
	if (r == 0)
		r = bytes_append(&payload, vm->config.data, vm->config.len);
	if (r == 0)
		r = guest_config_add_clock(&payload, &now);
	if (r == 0)
		r = guest_config_add_entropy(&payload, entropy, sizeof(entropy));
	if (r == 0)
		r = guest_msg_append(&msg, NOOK_MSG_CONFIG, payload.data, payload.len);
	explicit_bzero(entropy, sizeof(entropy));
	if (payload.data)
		explicit_bzero(payload.data, payload.len);
	/* The pipe was sized for it: one write or a broken promise. */
	if (r == 0) {
		ssize_t n = write(vm->control_pipe[1], msg.data, msg.len);
		r = n == (ssize_t)msg.len ? 0 : n < 0 ? -errno : -EIO;
	}
	bytes_free(&payload);
	bytes_free(&msg);
	atomic_store(&vm->t_config, monotonic_ns());
	if (r < 0)
		return error_set(err, -r, "sending the guest its configuration: %s", strerror(-r));
	return 0;
}

/* "virtio-mmio.<slot>": a device's section in a snapshot. */
static void slot_section(unsigned slot, char name[STATE_NAME_MAX + 1])
{
	snprintf(name, STATE_NAME_MAX + 1, "virtio-mmio.%u", slot);
}

/* The guest state at the ready point (the VM paused) into `dir`. */
static int save_snapshot(struct nook_vm *vm, const char *dir, nook_error **err)
{
	struct bytes state = {0};
	int r = x86_machine_save(&vm->machine, &state, err);
	if (r == 0 && vm->split_irqchip && (r = ioapic_save(&vm->ioapic, &state)) < 0)
		error_set(err, -r, "snapshot: IOAPIC: %s", strerror(-r));
	if (r == 0 && ((r = serial_save(&vm->serial, &state)) < 0 ||
		       (r = legacy_devices_save(&vm->legacy, &state)) < 0))
		error_set(err, -r, "snapshot: legacy devices: %s", strerror(-r));
	for (unsigned i = 0; r == 0 && i < vm->nvisible; i++) {
		char name[STATE_NAME_MAX + 1];
		slot_section(i, name);
		pthread_mutex_lock(&vm->slots[i]->lock);
		r = virtio_mmio_save(vm->slots[i], name, &state);
		pthread_mutex_unlock(&vm->slots[i]->lock);
		if (r < 0)
			error_set(err, -r, "snapshot: virtio-%s: %s", vm->slots[i]->ops->name,
				  strerror(-r));
	}
	char info[160];
	snprintf(info, sizeof(info), "%llu MiB, %d vCPU%s, %s",
		 (unsigned long long)(vm->machine.mem.size >> 20), vm->machine.nvcpus,
		 vm->machine.nvcpus > 1 ? "s" : "", vm->machine.pvm ? "PVM host" : "hardware KVM");
	if (r == 0)
		r = snapshot_write(dir, vm->key, (unsigned)vm->machine.nvcpus, info, &state,
				   &vm->machine.mem, err);
	bytes_free(&state);
	return r;
}

/* The cache's snapshot: staged beside its place, then moved in. */
static int save_to_cache(struct nook_vm *vm, nook_error **err)
{
	char stage[PATH_MAX];
	uint64_t t0 = monotonic_ns();
	int r = snapshot_stage_begin(vm->cache_dir, stage, sizeof(stage), err);
	if (r < 0)
		return r;
	r = save_snapshot(vm, stage, err);
	if (r == 0)
		r = snapshot_stage_commit(stage, vm->cache_dir, vm->cache_replace, err);
	else
		snapshot_remove_dir(stage);
	if (r == 0)
		vm_log(vm, NOOK_LOG_INFO, "snapshot saved in %s (%.0f ms); later runs of this "
		       "machine start from it", vm->cache_dir, (double)(monotonic_ns() - t0) / 1e6);
	return r;
}

/* nook_vm_snapshot()'s: into a directory of its own making. */
static int save_requested(struct nook_vm *vm, const char *dir, nook_error **err)
{
	if (mkdir(dir, 0700) < 0)
		return error_set(err, errno, "snapshot %s: %s", dir, strerror(errno));
	int r = save_snapshot(vm, dir, err);
	if (r < 0)
		snapshot_remove_dir(dir);
	return r;
}

void vm_on_ready(void *opaque, uint32_t events)
{
	struct nook_vm *vm = opaque;
	uint64_t count;
	if (read(vm->ready.fd, &count, sizeof(count)) != sizeof(count))
		return;
	pthread_mutex_lock(&vm->snapshot_lock);
	char *request = vm->request_dir;
	pthread_mutex_unlock(&vm->snapshot_lock);
	nook_error *err = NULL;
	if ((vm->cache_dir || request) && machine_pause(&vm->machine) == 0) {
		/* A snapshot that cannot be saved costs only the next run's
		 * time; this run goes on. */
		if (vm->cache_dir && save_to_cache(vm, &err) < 0) {
			vm_log(vm, NOOK_LOG_WARN, "no snapshot: %s", nook_error_message(err));
			nook_error_free(err);
			err = NULL;
		}
		int r = request ? save_requested(vm, request, &err) : 0;
		machine_resume(&vm->machine);
		if (request) {
			pthread_mutex_lock(&vm->snapshot_lock);
			vm->request_result = r;
			vm->request_err = err;
			vm->request_done = true;
			pthread_cond_broadcast(&vm->snapshot_cond);
			pthread_mutex_unlock(&vm->snapshot_lock);
			err = NULL;
		}
	}
	if (vm_send_config(vm, &err) < 0) {
		machine_request_stop(&vm->machine, MACHINE_STOP_ERROR, 0, "%s",
				     nook_error_message(err));
		nook_error_free(err);
	}
}

int nook_vm_snapshot(nook_vm *vm, const char *dir, nook_error **err)
{
	if (!vm->ready_point)
		return error_set(err, ENOTSUP, "snapshot: the VM has no ready point (its PID 1 is "
				 "not nook-init)");
	pthread_mutex_lock(&vm->snapshot_lock);
	int r = 0;
	if (atomic_load(&vm->config_sent) || vm->boot == NOOK_VM_BOOT_RESTORED || vm->request_dir)
		r = error_set(err, EBUSY, "snapshot %s: the VM is past its ready point", dir);
	else if (!(vm->request_dir = strdup(dir)))
		r = error_set(err, ENOMEM, "out of memory");
	while (r == 0 && !vm->request_done && !machine_stopping(&vm->machine))
		pthread_cond_wait(&vm->snapshot_cond, &vm->snapshot_lock);
	if (r == 0 && !vm->request_done)
		r = error_set(err, ECANCELED, "snapshot %s: the VM stopped first", dir);
	else if (r == 0 && (r = vm->request_result) < 0) {
		error_set(err, nook_error_code(vm->request_err), "%s",
			  nook_error_message(vm->request_err));
	}
	nook_error_free(vm->request_err);
	vm->request_err = NULL;
	pthread_mutex_unlock(&vm->snapshot_lock);
	return r;
}

/* Loads what the snapshot holds into the VM just assembled. */
static int restore(struct nook_vm *vm, const struct snapshot *s, nook_error **err)
{
	const void *state = s->state;
	size_t len = s->header.state_size;
	if (s->header.vcpus != (unsigned)vm->machine.nvcpus ||
	    s->header.memory_size != vm->machine.mem.size)
		return error_set(err, EINVAL, "snapshot: made for another machine size");
	int r = guest_memory_map_file(&vm->machine.mem, s->memory_fd);
	if (r < 0)
		return error_set(err, -r, "snapshot memory: %s", strerror(-r));
	r = x86_machine_restore(&vm->machine, state, len, err);
	struct state_section sec;
	if (r == 0 && vm->split_irqchip &&
	    (state_find(state, len, "ioapic", &sec) < 0 || sec.version != 1 ||
	     ioapic_restore(&vm->ioapic, sec.data, sec.len) < 0))
		r = error_set(err, EINVAL, "snapshot: no valid ioapic section");
	if (r == 0 && (state_find(state, len, "serial", &sec) < 0 ||
		       serial_restore(&vm->serial, sec.data, sec.len) < 0 || sec.version != 1))
		r = error_set(err, EINVAL, "snapshot: no valid serial section");
	if (r == 0 && (state_find(state, len, "legacy", &sec) < 0 ||
		       legacy_devices_restore(&vm->legacy, sec.data, sec.len) < 0 || sec.version != 1))
		r = error_set(err, EINVAL, "snapshot: no valid legacy section");
	for (unsigned i = 0; r == 0 && i < vm->nslots; i++) {
		char name[STATE_NAME_MAX + 1];
		slot_section(i, name);
		bool saved = state_find(state, len, name, &sec) == 0;
		/* The guest probed exactly the visible slots. */
		if (saved != (i < vm->nvisible) ||
		    (saved && (sec.version != VIRTIO_MMIO_STATE_VERSION ||
			       virtio_mmio_restore(vm->slots[i], sec.data, sec.len) < 0)))
			r = error_set(err, EINVAL, "snapshot: slot %u does not match the machine", i);
	}
	return r;
}

/* Seconds from the restore: a warm start takes 10-30 s on a PVM host
 * (its kernel code is emulated), minutes with ten at once on two cores. */
#define RESTORE_WATCHDOG_S 240

/* A restored guest that stalls stalls again on every restore of the same
 * snapshot (seen on PVM hosts: it idles with an interrupt pending), so the
 * snapshot goes and the next run makes a new one, and what the vCPU was
 * doing goes to the log. */
static void on_restore_watchdog(void *opaque, uint32_t events)
{
	struct nook_vm *vm = opaque;
	uint64_t expirations;
	if (read(vm->restore_watchdog.fd, &expirations, sizeof(expirations)) !=
		    sizeof(expirations) ||
	    atomic_load(&vm->boot_port.t_program) || machine_pause(&vm->machine) < 0)
		return;
	char state[512];
	x86_describe_stall(&vm->machine.vcpus[0], state, sizeof(state));
	machine_resume(&vm->machine);
	vm_log(vm, NOOK_LOG_WARN, "the restored guest has not started its program yet (%s)", state);
	if (vm->restored_from) {
		snapshot_remove_dir(vm->restored_from);
		vm_log(vm, NOOK_LOG_WARN, "removed the snapshot %s: the next run of this machine "
		       "shape boots cold and makes a new one", vm->restored_from);
	}
}

static int arm_restore_watchdog(struct nook_vm *vm, const char *dir, bool cached,
				nook_error **err)
{
	struct itimerspec t = {.it_value = {.tv_sec = RESTORE_WATCHDOG_S}};
	/* The tests' way to fire it at a healthy guest. */
	const char *debug = getenv("NOOK_DEBUG_RESTORE_WATCHDOG_MS");
	int ms = debug ? atoi(debug) : 0;
	if (ms > 0)
		t.it_value = (struct timespec){ms / 1000, ms % 1000 * 1000000L};
	vm->restore_watchdog = (struct event_source){
		.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.fn = on_restore_watchdog,
		.opaque = vm,
	};
	if (cached && !(vm->restored_from = strdup(dir)))
		return error_set(err, ENOMEM, "out of memory");
	if (vm->restore_watchdog.fd < 0 ||
	    event_loop_add(&vm->loop, &vm->restore_watchdog, EPOLLIN) < 0 ||
	    timerfd_settime(vm->restore_watchdog.fd, 0, &t, NULL) < 0)
		return error_set(err, errno, "restore watchdog: %s", strerror(errno));
	return 0;
}

int vm_try_restore(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
		   const char *cmdline, bool allow_restore, nook_error **err)
{
	if (!vm->ready_point || cfg->initramfs_path || cfg->snapshot_mode == NOOK_SNAPSHOT_OFF)
		return 0;
	char root_shares[512];
	if (vm_shares_describe_root(plan->shares, plan->nshares, root_shares,
				    sizeof(root_shares)) < 0) {
		vm_log(vm, NOOK_LOG_WARN, "snapshot key: the root's shares do not fit in one; "
		       "booting cold without a snapshot");
		return 0;
	}
	const struct snapshot_shape shape = {
		.kernel_path = plan->kernel_path, .init_path = plan->init_path, .cmdline = cmdline,
		.memory_mib = cfg->memory_mib, .vcpus = cfg->vcpus,
		.threads_per_core = (unsigned)vm->machine.threads_per_core,
		.nested = vm->machine.nested, .rng = cfg->rng, .balloon = cfg->balloon,
		.balloon_stats = cfg->balloon && cfg->balloon_stats_ms, .root_shares = root_shares,
		.root_archive_path = plan->root_archive[0] ? plan->root_archive : NULL,
		.split_irqchip = vm->split_irqchip,
	};
	char dir[PATH_MAX];
	nook_error *why = NULL;
	int r = snapshot_key(&shape, &vm->machine, vm->key, &why);
	if (r == 0 && cfg->snapshot_dir)
		snprintf(dir, sizeof(dir), "%s", cfg->snapshot_dir);
	else if (r == 0)
		r = snapshot_cache_dir(vm->key, dir, sizeof(dir), &why);
	if (r < 0) {
		/* Without a cache (say, a home that is not writable) the run
		 * only loses the warm start. */
		vm_log(vm, NOOK_LOG_WARN, "%s; booting cold without a snapshot",
		       nook_error_message(why));
		nook_error_free(why);
		return 0;
	}
	struct snapshot s;
	bool usable = false;
	if (allow_restore && cfg->snapshot_mode == NOOK_SNAPSHOT_AUTO) {
		r = snapshot_open(dir, &s, &why);
		usable = r == 0 && memcmp(s.header.key, vm->key, SNAPSHOT_KEY_SIZE) == 0;
		if (r == 0 && !usable) {
			snapshot_close(&s);
			error_set(&why, EINVAL, "snapshot %s: made for another machine shape", dir);
		}
		if (!usable && nook_error_code(why) != ENOENT)
			vm_log(vm, NOOK_LOG_WARN, "%s; booting cold and making a new one",
			       nook_error_message(why));
		vm->cache_replace = !usable && nook_error_code(why) != ENOENT;
		nook_error_free(why);
	}
	if (usable) {
		r = restore(vm, &s, err);
		snapshot_close(&s);
		if (r < 0) {
			error_prefix(err, "snapshot %s", dir);
			return -ESTALE;
		}
		if ((r = arm_restore_watchdog(vm, dir, !cfg->snapshot_dir, err)) < 0)
			return r;
		vm->boot = NOOK_VM_BOOT_RESTORED;
		vm_log(vm, NOOK_LOG_INFO, "restored from snapshot %s", dir);
		return 1;
	}
	vm->cache_replace |= cfg->snapshot_mode == NOOK_SNAPSHOT_REFRESH || !allow_restore;
	if (!(vm->cache_dir = strdup(dir)))
		return error_set(err, ENOMEM, "out of memory");
	vm->boot = NOOK_VM_BOOT_COLD_SNAPSHOT;
	vm_log(vm, NOOK_LOG_INFO, "booting cold; a snapshot of this machine shape will be saved "
	       "in %s at the guest's ready point", dir);
	return 0;
}
