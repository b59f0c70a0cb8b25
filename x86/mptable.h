/* Intel MultiProcessor table: how a kernel without ACPI finds the CPUs and
 * the IOAPIC. */
#ifndef NOOK_X86_MPTABLE_H
#define NOOK_X86_MPTABLE_H

#include <stdint.h>

#include "kvm/memory.h"

/* Writes the floating pointer and configuration table at `gpa` for `ncpus`
 * CPUs (APIC ids 0..ncpus-1), an ISA bus and one IOAPIC with `ioapic_pins`
 * pins (24 for KVM's own, more for a split irqchip's), each pin n wired to
 * ISA IRQ n: Linux maps a pin only when the table names it. */
int mptable_write(struct guest_memory *mem, uint64_t gpa, int ncpus, int ioapic_pins);

/* Bytes the table takes. */
uint64_t mptable_size(int ncpus, int ioapic_pins);

#endif
