/* The IOAPIC of a split irqchip (KVM_CAP_SPLIT_IRQCHIP): the local APICs
 * stay in the kernel, the IOAPIC's registers are emulated here, with more
 * pins than the kernel's 24 so that a VM can have many virtio devices.
 *
 * Device interrupts still bypass the VMM: each pin's GSI has a KVM MSI
 * route made from its redirection entry (KVM_SET_GSI_ROUTING), and the
 * device's irqfd on that GSI reaches the local APIC in the kernel. A guest
 * write to a redirection entry rewrites the routes. A masked pin has no
 * route: an edge raised meanwhile is dropped, as on an 82093AA, but a pin
 * whose device still waits when it is unmasked is raised again, so no
 * interrupt is lost across a mask. A level-triggered pin's route asks KVM
 * for the EOI of its vector (KVM_EXIT_IOAPIC_EOI): the pin is raised again
 * if its device still waits (on a PVM host KVM reports the EOI at the
 * vCPU's next exit, not at once: measured with a probe). Linux's virtio
 * pins are edge-triggered (the MP table's ISA defaults), so the guest's
 * EOIs cost no exit. Remote IRR and delivery status read as 0.
 *
 * Hostile registers: indices past the table read as 0 and ignore writes;
 * an entry with a vector below 16 or a delivery mode other than fixed,
 * lowest priority or NMI gets no route (the pin stays silent); every
 * destination is KVM's to match, which drops one that names no vCPU. */
#ifndef NOOK_DEVICES_IOAPIC_H
#define NOOK_DEVICES_IOAPIC_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>

#include "kvm/kvm.h"
#include "util/bytes.h"

/* GSIs 0..IOAPIC_PINS-1 are its pins. */
#define IOAPIC_PINS 64
#define IOAPIC_WINDOW 0x1000
/* Register offsets in the window, and indices behind IOWIN. */
#define IOAPIC_IOREGSEL 0x00
#define IOAPIC_IOWIN 0x10
#define IOAPIC_REG_ID 0x00
#define IOAPIC_REG_VERSION 0x01
#define IOAPIC_REG_ARBITRATION 0x02
#define IOAPIC_REG_REDIR 0x10 /* pin n: low dword at 0x10 + 2n, high at 0x11 + 2n */

struct ioapic {
	struct user_irqchip chip; /* first: the machine's user_irqchip */
	struct machine *machine;
	pthread_mutex_t lock;
	uint32_t id;    /* the ID register */
	uint32_t index; /* IOREGSEL */
	uint64_t redir[IOAPIC_PINS];
	struct irq_line lines[IOAPIC_PINS]; /* fd -1: nothing connected */
	struct {
		struct kvm_irq_routing h;
		struct kvm_irq_routing_entry e[IOAPIC_PINS];
	} routes;
	/* The last KVM_SET_GSI_ROUTING failure (negative errno), or 0. */
	int route_error;
};

/* On a machine made with a split irqchip of IOAPIC_PINS pins
 * (x86_machine_create_split()): registers the IOAPIC's window at `base`
 * and makes it the machine's user irqchip, before any device connects its
 * line. Every pin starts masked. */
int ioapic_init(struct ioapic *io, struct machine *m, uint64_t base, nook_error **err);
void ioapic_destroy(struct ioapic *io);

/* The KVM route pin `pin` has now: false when it has none. */
bool ioapic_route(struct ioapic *io, uint32_t pin, struct kvm_irq_routing_entry *out);

/* Snapshot section "ioapic", version 1: uint32 pins, id, index, then
 * uint32 zero, then the pins' redirection entries as uint64 (host order,
 * like every section). Restore checks the pin count and rebuilds the routes.
 * The machine must be paused. */
int ioapic_save(struct ioapic *io, struct bytes *out);
int ioapic_restore(struct ioapic *io, const void *state, size_t len);

#endif
