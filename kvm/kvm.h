/* The KVM machine: /dev/kvm, the VM fd, guest memory, the I/O buses that
 * devices register on, and vCPU threads. Nothing here knows the guest's
 * architecture: x86/ lays out memory, creates the interrupt controllers and
 * sets up the vCPUs (x86/machine.h); kvm/arch.h is what an architecture
 * provides to this layer. */
#ifndef NOOK_KVM_KVM_H
#define NOOK_KVM_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/bus.h"
#include "kvm/memory.h"
#include "util/clock.h"
#include "util/error.h"

/* Why the guest stopped running. */
enum machine_stop_reason {
	MACHINE_RUNNING = 0,
	MACHINE_STOP_EXIT_STATUS, /* nook-init reported the program's status */
	MACHINE_STOP_INIT_FAILED, /* nook-init reported that it could not set up */
	MACHINE_STOP_RESET,       /* reboot request (i8042, KVM system event) */
	MACHINE_STOP_SHUTDOWN,    /* power off (KVM system event) */
	MACHINE_STOP_TRIPLE_FAULT,
	MACHINE_STOP_ERROR,       /* KVM or emulation failure; see the message */
	MACHINE_STOP_REQUESTED,   /* the host asked (nook_vm_stop) */
};

struct machine;

/* An interrupt line a device raises through an irqfd: writing to `fd`
 * raises it; asserted(opaque) says whether the device still wants service
 * (for level semantics and for a pin unmasked while its device waits). */
struct irq_line {
	int fd;
	bool (*asserted)(void *opaque);
	void *opaque;
};

/* Interrupt pins emulated in user space (x86: the split irqchip's IOAPIC):
 * it learns of each line a device connects, and of a vCPU's EOI of a
 * vector it asked to hear about (KVM_EXIT_IOAPIC_EOI, vCPU thread). */
struct user_irqchip {
	uint32_t pins; /* GSIs 0..pins-1 are its pins */
	int (*connect)(struct user_irqchip *chip, uint32_t gsi, const struct irq_line *line);
	void (*eoi)(struct user_irqchip *chip, uint8_t vector);
};

/* The exits that reach user space, by kind (the order of nook/vm.h's
 * enum nook_exit_kind). */
enum vcpu_exit_kind { VCPU_EXIT_IO, VCPU_EXIT_MMIO, VCPU_EXIT_INTR, VCPU_EXIT_OTHER, VCPU_EXIT_KINDS };

struct vcpu {
	struct machine *machine;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	_Atomic bool thread_started; /* read by kick_vcpus() on other threads */
	/* Metrics: written by the vCPU thread only, read by anyone. */
	atomic_uint_least64_t exits[VCPU_EXIT_KINDS];
	atomic_uint_least64_t cpu_ns_at_end; /* its CPU time once it has ended */
	atomic_bool ended;
};

struct machine {
	int kvm_fd;
	int vm_fd;
	int run_size;
	bool pvm; /* accommodations for PVM hosts are on */
	bool confine; /* threads are confined to their role (util/thread.h) */
	int threads_per_core; /* CPUID topology: 1, or 2 with hyperthreading */
	bool nested;          /* VMX/SVM offered to the guest */
	bool metrics;         /* count exits and device traffic (vcpu.c, virtio) */
	/* Device memory the machine will have, registered with RAM when the
	 * architecture creates the machine (set before), and handed out in
	 * this order by machine_add_device_memory(). */
	const uint64_t *device_memory_sizes;
	size_t ndevice_memory_sizes;
	int device_memory_taken;
	struct guest_memory mem;
	struct io_bus pio;
	struct io_bus mmio;
	struct user_irqchip *user_irqchip; /* NULL: the kernel's irqchip */
	struct vcpu *vcpus;
	int nvcpus;
	/* Where the kernel's symbols are, for reporting emulation failures. */
	char *system_map_path;
	/* Set by the architecture: describes a KVM internal error (an
	 * instruction KVM could not emulate) on a vCPU into buf. */
	void (*describe_internal_error)(struct vcpu *v, char *buf, size_t len);

	/* First stop wins; stop_fd (an eventfd) wakes whoever waits. */
	pthread_mutex_t stop_lock;
	atomic_int stop_reason;
	int stop_arg;
	char *stop_message;
	int stop_fd;
	/* Monotonic timestamps (ns) of boot phases; 0 = not reached. */
	atomic_uint_least64_t t_first_run;

	/* machine_pause(): the vCPU threads park outside KVM_RUN. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_requested;
	int paused;
};

/* Whether this host's /dev/kvm is PVM (kvm_pvm module loaded). */
bool kvm_host_is_pvm(void);

/* Makes `m` safe to pass to machine_destroy(), whatever happens next. */
void machine_init(struct machine *m);

/* Opens /dev/kvm and creates an empty VM (no memory, no vCPUs). */
int machine_create(struct machine *m, bool pvm, nook_error **err);
/* Adds `size` bytes of RAM at guest physical address `gpa`. */
int machine_add_memory(struct machine *m, uint64_t gpa, uint64_t size, nook_error **err);
/* Registers the device memory of machine.device_memory_sizes where the
 * layout has room for it; the architecture calls it with RAM, before the
 * irqchip (x86/machine.c says why). */
int machine_reserve_device_memory(struct machine *m, nook_error **err);
/* Device memory (kvm/memory.h) of `size` bytes: the next one reserved, or
 * else added now; *out gets its address and host mapping. */
int machine_add_device_memory(struct machine *m, uint64_t size, struct guest_region *out,
			      nook_error **err);
/* A VM ioctl whose failure is reported as "<name>: <strerror>". */
int machine_vm_ioctl(struct machine *m, unsigned long req, void *arg, const char *name,
		     nook_error **err);
/* Stops and joins the vCPU threads and frees everything. */
void machine_destroy(struct machine *m);

/* The largest vCPU count this host allows (KVM_CAP_MAX_VCPUS). */
int kvm_max_vcpus(nook_error **err);

/* Creates the vCPU fds (not yet running). */
int machine_create_vcpus(struct machine *m, int n, nook_error **err);
/* Starts one thread per vCPU, running KVM_RUN until the machine stops. */
int machine_start_vcpus(struct machine *m, nook_error **err);

/* CPU time (ns) the vCPU's thread has used so far: in KVM_RUN, which on a
 * PVM host includes emulating the guest kernel, and handling its exits. */
uint64_t vcpu_cpu_ns(struct vcpu *v);

/* A vCPU thread's body (kvm/vcpu.c). */
void *vcpu_thread_main(void *vcpu);

/* Records why the machine stops (first caller wins) and kicks every vCPU
 * out of KVM_RUN. Safe from any thread. */
void machine_request_stop(struct machine *m, enum machine_stop_reason reason, int arg,
			  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
bool machine_stopping(const struct machine *m);

/* Stops every vCPU outside KVM_RUN with its pending I/O completed, so that
 * its state can be read or written consistently; returns once all are
 * parked (or the machine stops: then -ECANCELED). Not from a vCPU thread. */
int machine_pause(struct machine *m);
void machine_resume(struct machine *m);
/* A vCPU thread's side of machine_pause() (kvm/vcpu.c). */
void vcpu_park(struct vcpu *v);

/* irqfd: writing to line->fd raises `gsi` (through the user irqchip's
 * routes when there is one; it also learns of the line). ioeventfd: a
 * guest write of `len` bytes at MMIO `addr` (with value `datamatch` when
 * match is set) signals fd without a VM exit to user space. */
int machine_connect_irq(struct machine *m, uint32_t gsi, const struct irq_line *line);
int machine_add_ioeventfd(struct machine *m, int fd, uint64_t addr, uint32_t len, bool match,
			  uint64_t datamatch);

#endif
