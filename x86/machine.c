#include "x86/machine.h"

#include <errno.h>
#include <linux/kvm.h>

#include "x86/diagnose.h"
#include "x86/layout.h"

#define FOUR_GIB (1ULL << 32)

/* ioapic_pins 0: the kernel's irqchip. */
static int create(struct machine *m, uint64_t memory, bool pvm, uint32_t ioapic_pins,
		  nook_error **err)
{
	int r = machine_create(m, pvm, err);
	m->describe_internal_error = x86_describe_internal_error;
	/* Guest memory first: registered after the irqchip, each memslot
	 * update waits for an SRCU grace period (6-8 ms, measured). */
	uint64_t low = memory < LAYOUT_MMIO_GAP_START ? memory : LAYOUT_MMIO_GAP_START;
	if (r == 0)
		r = machine_add_memory(m, 0, low, err);
	if (r == 0 && memory > low)
		r = machine_add_memory(m, FOUR_GIB, memory - low, err);
	/* Device memory (DAX windows) above RAM and the 32-bit device hole,
	 * registered before the irqchip as RAM is. */
	m->mem.device_next = FOUR_GIB + (memory - low);
	if (r == 0)
		r = machine_reserve_device_memory(m, err);
	if (r == 0)
		r = machine_vm_ioctl(m, KVM_SET_TSS_ADDR, (void *)(uintptr_t)LAYOUT_KVM_TSS,
				     "KVM_SET_TSS_ADDR", err);
	uint64_t identity = LAYOUT_KVM_IDENTITY_MAP;
	if (r == 0)
		r = machine_vm_ioctl(m, KVM_SET_IDENTITY_MAP_ADDR, &identity,
				     "KVM_SET_IDENTITY_MAP_ADDR", err);
	struct kvm_enable_cap split = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {ioapic_pins}};
	if (r < 0 || ioapic_pins)
		return r < 0 ? r : machine_vm_ioctl(m, KVM_ENABLE_CAP, &split,
						    "KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)", err);
	r = machine_vm_ioctl(m, KVM_CREATE_IRQCHIP, NULL, "KVM_CREATE_IRQCHIP", err);
	/* The kernel still uses the PIT early on (and checks the timer IRQ).
	 * KVM has none without its PIC: a split irqchip's guest goes without
	 * (the TSC-deadline timer needs no calibration against it). */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	if (r == 0)
		r = machine_vm_ioctl(m, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2", err);
	return r;
}

int x86_machine_create(struct machine *m, uint64_t memory, bool pvm, nook_error **err)
{
	return create(m, memory, pvm, 0, err);
}

int x86_machine_create_split(struct machine *m, uint64_t memory, bool pvm, uint32_t ioapic_pins,
			     nook_error **err)
{
	if (ioapic_pins == 0)
		return error_set(err, EINVAL, "split irqchip: an IOAPIC with no pins");
	return create(m, memory, pvm, ioapic_pins, err);
}
