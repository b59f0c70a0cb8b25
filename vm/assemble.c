/* The machine's devices, each in its slot. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "guest/protocol.h"
#include "vm/vm.h"

/* The implicit console's queues (its size is in the snapshots). */
#define CONSOLE_QUEUE_SIZE 256

/* Each virtio device gets the next MMIO window and IRQ. */
static int next_slot(struct nook_vm *vm, struct virtio_mmio_device *dev, uint64_t *base,
		     uint32_t *irq, nook_error **err)
{
	*base = LAYOUT_VIRTIO_MMIO_BASE + vm->nslots * LAYOUT_VIRTIO_MMIO_SIZE;
	*irq = LAYOUT_FIRST_DEVICE_IRQ + vm->nslots;
	if (vm->nslots == VM_SLOTS && !vm->split_irqchip)
		return error_set(err, ENOSPC,
				 "too many devices: the VM has more than %d virtio devices (console, "
				 "rng, shares, disks, network, ports, vsock, balloon), the most the "
				 "kernel's IOAPIC has IRQs for; the split irqchip (--split-irqchip) "
				 "allows %d", VM_SLOTS, VM_SPLIT_SLOTS);
	if (vm->nslots == VM_SPLIT_SLOTS)
		return error_set(err, ENOSPC,
				 "too many devices: the VM has more than %d virtio devices (console, "
				 "rng, shares, disks, network, ports, vsock, balloon), the most the "
				 "kernel command line can declare", VM_SPLIT_SLOTS);
	vm->slots[vm->nslots++] = dev;
	return 0;
}

static int net_slot(void *vm, const struct virtio_mmio_device *dev, uint64_t *base,
		    uint32_t *irq, nook_error **err)
{
	return next_slot(vm, (struct virtio_mmio_device *)dev, base, irq, err);
}

static void on_stop_timer(void *opaque, uint32_t events)
{
	struct nook_vm *vm = opaque;
	uint64_t expirations;
	if (read(vm->stop_timer.fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		machine_request_stop(&vm->machine, MACHINE_STOP_REQUESTED, 0, NULL);
}

/* The serial port (kernel log), i8042 and CMOS, the boot port. */
static int add_legacy(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	struct machine *m = &vm->machine;
	if (cfg->kernel_log) {
		vm->kernel_log_fd = open(cfg->kernel_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
					 0644);
		if (vm->kernel_log_fd < 0)
			return error_set(err, errno, "kernel log %s: %s", cfg->kernel_log,
					 strerror(errno));
	}
	serial_init(&vm->serial, vm->kernel_log_fd);
	struct io_handler serial = serial_io_handler(&vm->serial);
	vm->ready = (struct event_source){.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
					  .fn = vm_on_ready, .opaque = vm};
	if (vm->ready.fd < 0 || event_loop_add(&vm->loop, &vm->ready, EPOLLIN) < 0)
		return error_set(err, errno, "ready point: %s", strerror(errno));
	int r = io_bus_register(&m->pio, SERIAL_COM1_BASE, SERIAL_PORTS, &serial);
	if (r == 0)
		r = legacy_devices_register(&vm->legacy, m);
	if (r == 0)
		r = boot_port_register(&vm->boot_port, m, vm->ready.fd);
	if (r < 0)
		return error_set(err, -r, "legacy devices: %s", strerror(-r));
	return 0;
}

/* The implicit console (the program's stdio, unless disabled) and the
 * control port. The control pipe holds the run's whole config at once (the
 * I/O thread that writes it is also the one that drains it into the
 * guest). console_output gets a copy of stdout and stderr. */
static int add_console(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	if (pipe2(vm->control_pipe, O_CLOEXEC) < 0 ||
	    fcntl(vm->control_pipe[1], F_SETFL, O_NONBLOCK) < 0)
		return error_set(err, errno, "control pipe: %s", strerror(errno));
	vm->stop_timer = (struct event_source){
		.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
		.fn = on_stop_timer,
		.opaque = vm,
	};
	if (vm->stop_timer.fd < 0 || event_loop_add(&vm->loop, &vm->stop_timer, EPOLLIN) < 0)
		return error_set(err, errno, "stop timer: %s", strerror(errno));
	const struct virtio_console_port_config ports[] = {
		{.name = NOOK_PORT_NAME_STDIN, .in_fd = cfg->stdio[0], .out_fd = -1},
		{.name = NOOK_PORT_NAME_STDOUT, .in_fd = -1, .out_fd = cfg->stdio[1],
		 .copy_output = true},
		{.name = NOOK_PORT_NAME_STDERR, .in_fd = -1, .out_fd = cfg->stdio[2],
		 .copy_output = true},
		{.name = NOOK_PORT_NAME_CONTROL, .in_fd = vm->control_pipe[0], .out_fd = -1},
	};
	/* Disabled, the guest has the control port alone. */
	bool implicit = !cfg->implicit_console_disabled;
	uint64_t base;
	uint32_t irq;
	int r = next_slot(vm, &vm->console.mmio, &base, &irq, err);
	if (r < 0)
		return r;
	vm->console_created = true;
	r = virtio_console_init(&vm->console, &vm->machine, &vm->loop, implicit ? ports : ports + 3,
				implicit ? 4 : 1, CONSOLE_QUEUE_SIZE, base, irq, err);
	/* The run's input (the config on the control port too) comes after
	 * the ready point: vm_send_config(). */
	if (r == 0 && vm->ready_point)
		virtio_console_hold_input(&vm->console);
	if (r == 0 && cfg->console_output) {
		int fd = open(cfg->console_output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return error_set(err, errno, "console output %s: %s", cfg->console_output,
					 strerror(errno));
		r = virtio_console_copy_output(&vm->console, fd, err);
		close(fd);
	}
	if (r == 0 && cfg->rng && (r = next_slot(vm, &vm->rng.mmio, &base, &irq, err)) == 0) {
		vm->rng_created = true;
		r = virtio_rng_init(&vm->rng, &vm->machine, &vm->loop, base, irq, err);
	}
	return r;
}

/* The user's named ports: a device of their own, hidden like the shares. */
static int add_named_ports(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	uint64_t base;
	uint32_t irq;
	if (!cfg->nports)
		return 0;
	int r = next_slot(vm, &vm->ports.dev.mmio, &base, &irq, err);
	return r < 0 ? r : vm_console_ports_create(&vm->ports, cfg, &vm->machine, &vm->loop, base,
						   irq, err);
}

/* A DAX window the server could not close again may leave a hole in guest
 * memory (backends/fs/fs_dax.c): the guest must not run on. */
static void on_dax_broken(void *opaque, int e)
{
	struct vm_share *share = opaque;
	machine_request_stop(share->dev.mmio.machine, MACHINE_STOP_ERROR,
			     0, "fs tag \"%s\": DAX window: cannot unmap a range: %s", share->dev.tag,
			     strerror(-e));
}

static int add_share(struct nook_vm *vm, struct vm_share *share, const struct vm_share_plan *plan,
		     nook_error **err)
{
	const struct vm_fs *fs = plan->fs;
	struct nook_fs_backend backend = fs->backend;
	void *opaque = fs->opaque;
	struct guest_region window = {0};
	int r = fs->shm_size ? machine_add_device_memory(&vm->machine, fs->shm_size, &window, err)
			     : 0;
	if (r < 0) {
		error_prefix(err, "fs tag \"%s\": DAX window: ", fs->tag);
		return r;
	}
	if (fs->kind == VM_FS_PATH) {
		const struct fs_server_options common = {
			.op_counts = vm->machine.metrics ? vm->fuse_ops : NULL,
			.dax_window = window.hva, .dax_window_size = window.size,
			.dax_broken = on_dax_broken, .dax_opaque = share,
		};
		if ((r = vm_share_open_server(plan, &common, &share->server, err)) < 0)
			return r;
		backend.request = fs_server_handle;
		opaque = share->server;
	}
	uint64_t base;
	uint32_t irq;
	r = next_slot(vm, &share->dev.mmio, &base, &irq, err);
	if (r == 0)
		r = virtio_fs_init(&share->dev, &vm->machine, &vm->loop, fs->tag, &backend, opaque,
				   &window, base, irq, err);
	return r;
}

static int add_disks(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	if (cfg->ndisks && !(vm->disks = calloc(cfg->ndisks, sizeof(*vm->disks))))
		return error_set(err, ENOMEM, "disks: out of memory");
	int r = 0;
	for (size_t i = 0; r == 0 && i < cfg->ndisks; i++) {
		const struct vm_disk *d = &cfg->disks[i];
		const struct virtio_blk_params p = {
			.path = d->path, .id = vm_disk_id(d), .format = (enum disk_format)d->format,
			.read_only = d->read_only, .direct = d->direct_io, .cache = d->cache,
			.sync = d->sync, .allow_backing = d->allow_backing};
		uint64_t base;
		uint32_t irq;
		if ((r = next_slot(vm, &vm->disks[i].mmio, &base, &irq, err)) == 0) {
			vm->ndisks++;
			r = virtio_blk_init(&vm->disks[i], &vm->machine, &vm->loop, &p, base, irq, err);
		}
	}
	return r;
}

/* Late like the shares: the guest never has a vsock connection in a
 * snapshot (devices/virtio/vsock.h). */
static int add_vsock(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	if (!cfg->vsock)
		return 0;
	struct virtio_vsock_host host = {0};
	int r = 0;
	if (cfg->vsock_path &&
	    (r = vsock_unix_open(cfg->vsock_path, &vm->loop, &vm->vsock_host, err)) < 0)
		return r;
	if (cfg->vsock_path && !(vm->vsock_path = strdup(cfg->vsock_path)))
		return error_set(err, ENOMEM, "out of memory");
	if (vm->vsock_host)
		vsock_unix_host(vm->vsock_host, &host);
	uint64_t base;
	uint32_t irq;
	if ((r = next_slot(vm, &vm->vsock.mmio, &base, &irq, err)) < 0)
		return r;
	vm->vsock_created = true;
	r = virtio_vsock_init(&vm->vsock, &vm->machine, &vm->loop, &host, base, irq, err);
	if (r == 0 && vm->vsock_host)
		r = vsock_unix_start(vm->vsock_host, &vm->vsock, err);
	return r;
}

/* Probed at boot with the console and rng, so a snapshot has it bound
 * (see devices/virtio/balloon.h). */
static int add_balloon(struct nook_vm *vm, const nook_vm_config *cfg, nook_error **err)
{
	uint64_t base;
	uint32_t irq;
	int r = next_slot(vm, &vm->balloon.mmio, &base, &irq, err);
	if (r < 0)
		return r;
	vm->balloon_created = true;
	return virtio_balloon_init(&vm->balloon, &vm->machine, &vm->loop, cfg->balloon_stats_ms,
				   base, irq, err);
}

int vm_assemble_devices(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
			nook_error **err)
{
	int r = add_legacy(vm, cfg, err);
	if (r == 0)
		r = add_console(vm, cfg, err);
	if (r == 0 && cfg->balloon)
		r = add_balloon(vm, cfg, err);
	if (r == 0 && plan->nshares && !(vm->shares = calloc(plan->nshares, sizeof(*vm->shares))))
		r = error_set(err, ENOMEM, "shares: out of memory");
	/* The root's shares are probed at boot too, so that a restored guest
	 * has them bound already; only mounting them waits for the run. */
	size_t nroot = vm_shares_root_count(plan->shares, plan->nshares);
	for (size_t i = 0; r == 0 && i < plan->nshares; i++) {
		if (i == nroot)
			vm->nvisible = vm->nslots;
		r = add_share(vm, &vm->shares[i], &plan->shares[i], err);
		vm->nshares = i + 1;
	}
	if (nroot == plan->nshares)
		vm->nvisible = vm->nslots;
	if (r == 0)
		r = add_disks(vm, cfg, err);
	if (r == 0)
		r = vm_net_create(&vm->net, cfg, &vm->machine, &vm->loop, net_slot, vm, err);
	if (r == 0)
		r = add_named_ports(vm, cfg, err);
	if (r == 0)
		r = add_vsock(vm, cfg, err);
	if (r < 0 || !vm->ready_point)
		return r;
	/* The guest meets these only after the ready point; every other
	 * window is declared too, so that one snapshot fits any number of
	 * them. */
	for (unsigned i = vm->nvisible; i < vm->nslots; i++)
		vm->slots[i]->hidden = true;
	while (r == 0 && vm->nslots < VM_SLOTS)
		r = virtio_mmio_register_placeholder(
			&vm->machine, LAYOUT_VIRTIO_MMIO_BASE + vm->nslots++ * LAYOUT_VIRTIO_MMIO_SIZE,
			err);
	return r;
}

void vm_destroy_devices(struct nook_vm *vm)
{
	if (vm->console_created)
		virtio_console_destroy(&vm->console);
	vm_console_ports_destroy(&vm->ports);
	if (vm->rng_created)
		virtio_rng_destroy(&vm->rng);
	vm_net_destroy(&vm->net);
	/* The host side first: it hands its clients to the device. */
	vsock_unix_destroy(vm->vsock_host);
	if (vm->vsock_created)
		virtio_vsock_destroy(&vm->vsock);
	if (vm->balloon_created)
		virtio_balloon_destroy(&vm->balloon);
	for (size_t i = 0; vm->shares && i < vm->nshares; i++) {
		virtio_fs_destroy(&vm->shares[i].dev);
		if (vm->shares[i].server)
			fs_server_destroy(vm->shares[i].server);
	}
	free(vm->shares);
	for (size_t i = 0; i < vm->ndisks; i++)
		virtio_blk_destroy(&vm->disks[i]);
	free(vm->disks);
	serial_destroy(&vm->serial);
	legacy_devices_destroy(&vm->legacy);
	if (vm->kernel_log_fd >= 0)
		close(vm->kernel_log_fd);
	for (int i = 0; i < 2; i++)
		if (vm->control_pipe[i] >= 0)
			close(vm->control_pipe[i]);
	if (vm->stop_timer.fd >= 0)
		close(vm->stop_timer.fd);
	if (vm->ready.fd >= 0)
		close(vm->ready.fd);
	if (vm->restore_watchdog.fd >= 0)
		close(vm->restore_watchdog.fd);
}
