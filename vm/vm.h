/* The VM behind the public nook_vm handle, shared by the files of vm/:
 *   vm.c          the lifecycle (build, start, wait, stop, free)
 *   assemble.c    the machine and its devices, in their slots
 *   cold_boot.c   the kernel, nook-init's initramfs, the command line
 *   warm_start.c  the ready point: snapshots, restore, the run's config */
#ifndef NOOK_VM_VM_H
#define NOOK_VM_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <limits.h>

#include <nook/vm.h>

#include "devices/boot_port.h"
#include "devices/ioapic.h"
#include "devices/legacy.h"
#include "devices/serial.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/fs.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "backends/vsock/unix.h"
#include "kvm/kvm.h"
#include "util/bytes.h"
#include "util/event_loop.h"
#include "vm/config.h"
#include "vm/console_ports.h"
#include "vm/net.h"
#include "vm/shares.h"
#include "vm/snapshot.h"
#include "x86/boot.h"
#include "x86/layout.h"

/* MMIO windows for virtio devices, one per device IRQ: KVM's IOAPIC has
 * IRQs for VM_SLOTS, all declared on the command line when the guest has a
 * ready point (so that one snapshot fits any number of hidden devices). A
 * split irqchip's IOAPIC (devices/ioapic.h) has IRQs for VM_SPLIT_SLOTS;
 * the windows past VM_SLOTS are declared only as far as devices use them,
 * and the command line's 2047 bytes are what limits them (36 bytes each). */
#define VM_SLOTS (LAYOUT_LAST_DEVICE_IRQ - LAYOUT_FIRST_DEVICE_IRQ + 1)
#define VM_SPLIT_SLOTS 48
_Static_assert(LAYOUT_FIRST_DEVICE_IRQ + VM_SPLIT_SLOTS <= IOAPIC_PINS,
	       "every split-irqchip slot has an IOAPIC pin");

enum vm_state { VM_BUILT, VM_RUNNING, VM_ENDED };

struct vm_share {
	struct virtio_fs dev;
	struct fs_server *server;
};

/* What nook_vm_build() decides once and passes along. */
struct vm_plan {
	char builtin_root_dir[PATH_MAX];
	struct vm_fs builtin_root;
	/* The built-in rootfs's archive when the root is in guest memory
	 * (vm_shares_root_in_memory), else empty. */
	char root_archive[PATH_MAX];
	struct vm_share_plan *shares; /* the built-in root (if used), then the config's */
	size_t nshares;
	uint64_t *dax_windows; /* the shares' DAX window sizes, those that have one */
	size_t ndax_windows;
	char kernel_path[PATH_MAX];
	char init_path[PATH_MAX];
};

struct nook_vm {
	enum vm_state state;
	/* PID 1 is nook-init: the guest has a ready point, devices beyond the
	 * console, rng, balloon and root's shares wait in hidden slots until
	 * after it. */
	bool ready_point;
	enum nook_vm_boot boot;
	enum nook_log_level log_level;
	nook_log_fn log_fn;
	void *log_userdata;
	uint64_t t_build;

	struct machine machine;
	struct ioapic ioapic; /* with a split irqchip only */
	bool split_irqchip;
	struct event_loop loop;
	struct serial serial;
	int kernel_log_fd;
	struct legacy_devices legacy;
	struct boot_port boot_port;
	struct virtio_console console;
	bool console_created;
	struct vm_console_ports ports; /* the user's named ports */
	struct virtio_rng rng;
	bool rng_created;
	struct vm_net_devices net;
	struct vm_share *shares;
	size_t nshares;
	struct virtio_blk *disks;
	size_t ndisks;
	/* The shares' requests by FUSE opcode (metrics). */
	atomic_uint_least64_t fuse_ops[FS_SERVER_OPCODE_SLOTS];
	struct virtio_vsock vsock;
	bool vsock_created;
	struct vsock_unix *vsock_host; /* its UNIX sockets, when it has a path */
	char *vsock_path;              /* that path, for nook_vm_exec() */
	struct virtio_balloon balloon;
	bool balloon_created;

	/* Device windows in command-line order (NULL: an empty placeholder):
	 * the first `nvisible` are probed at boot, the rest are hidden until
	 * the run's config is sent. */
	struct virtio_mmio_device *slots[VM_SPLIT_SLOTS];
	unsigned nslots, nvisible;

	/* Host -> guest messages of the control port go through this pipe. */
	int control_pipe[2];
	/* nook_vm_stop(): ends the VM by force when it fires. */
	struct event_source stop_timer;
	/* The boot port's ready-point eventfd, served on the I/O thread. */
	struct event_source ready;

	/* The run for nook-init, less the clock and entropy taken when sent. */
	struct bytes config;
	atomic_bool config_sent;
	atomic_uint_least64_t t_config;

	/* Snapshots to save at the ready point: the cache's (made when the
	 * cold boot began) and one asked for by nook_vm_snapshot(). */
	uint8_t key[SNAPSHOT_KEY_SIZE];
	char *cache_dir;    /* save into the cache here, or NULL */
	bool cache_replace; /* over an existing (broken or refreshed) one */
	pthread_mutex_t snapshot_lock;
	pthread_cond_t snapshot_cond;
	char *request_dir; /* nook_vm_snapshot()'s, until done */
	bool request_done;
	int request_result;
	nook_error *request_err;
	/* A restored guest that has not started its program when this fires
	 * is described in the log, and the cache's snapshot it came from
	 * (restored_from) is removed. */
	struct event_source restore_watchdog;
	char *restored_from;
};

void vm_log(struct nook_vm *vm, enum nook_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* assemble.c: the machine, the legacy devices, the console, rng, balloon
 * and the root's shares, then the other shares, disks, network, ports and
 * vsock devices in their slots (hidden when the guest has a ready point)
 * and placeholders in the rest. */
int vm_assemble_devices(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
			nook_error **err);
void vm_destroy_devices(struct nook_vm *vm);

/* cold_boot.c */
int vm_build_cmdline(struct nook_vm *vm, const nook_vm_config *cfg, const struct x86_kernel *k,
		     char *buf, size_t len, nook_error **err);
/* Loads the initramfs (the caller's, then nook-init) and sets up the boot
 * vCPU to start the kernel `k` with `cmdline`. */
int vm_cold_boot(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
		 const struct x86_kernel *k, const char *cmdline, nook_error **err);

/* warm_start.c */
/* The run's configuration for nook-init, kept in vm->config. */
int vm_encode_config(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
		     nook_error **err);
/* Decides between restore and cold boot, and does the restore: 1 when the
 * VM was restored, 0 when it must boot cold (a snapshot may then be due at
 * the ready point), -ESTALE when a restore failed half-way (the VM must be
 * rebuilt cold; *err says why), another negative errno on error. */
int vm_try_restore(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
		   const char *cmdline, bool allow_restore, nook_error **err);
/* The ready point of a cold boot (I/O thread). */
void vm_on_ready(void *opaque, uint32_t events);
/* Sends the run's config: reveals the hidden slots, lets the run's input
 * flow, then the message. A restored VM gets it at its start (its guest
 * waits past the ready point), a cold one at the ready point. */
int vm_send_config(struct nook_vm *vm, nook_error **err);

#endif
