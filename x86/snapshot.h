/* The x86 part of a snapshot: every vCPU's registers, FPU/XSAVE state,
 * MSRs, local APIC, pending events, MP state and debug registers, and the
 * VM's PIC, IOAPIC, PIT and kvm-clock, through KVM's state ioctls. The
 * machine must be paused (machine_pause()). Sections "vcpu.<n>" and
 * "x86-vm" (PIC, IOAPIC, PIT, clock), version 1. With a split irqchip the
 * kernel has no PIC, IOAPIC or PIT: those fields of "x86-vm" are zero (the
 * user-space IOAPIC saves itself, devices/ioapic.h). */
#ifndef NOOK_X86_SNAPSHOT_H
#define NOOK_X86_SNAPSHOT_H

#include "kvm/kvm.h"
#include "util/bytes.h"
#include "util/state.h"

int x86_machine_save(struct machine *m, struct bytes *out, nook_error **err);
/* Onto a machine made like the saved one (same memory, vCPUs set up by
 * x86_setup_vcpus()); `state` is a checked section buffer (state_check()). */
int x86_machine_restore(struct machine *m, const void *state, size_t len, nook_error **err);

#endif
