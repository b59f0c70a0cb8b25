/* The x86 machine around the KVM layer: where RAM goes (below the device
 * hole, the rest above 4 GiB), the interrupt controllers and PIT,
 * and the kernel command-line parameters that only an x86 guest needs. */
#ifndef NOOK_X86_MACHINE_H
#define NOOK_X86_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/kvm.h"
#include "util/strbuf.h"
#include "x86/boot.h"

/* Creates the VM with `memory` bytes of RAM, the kernel's PIC, IOAPIC and
 * PIT. */
int x86_machine_create(struct machine *m, uint64_t memory, bool pvm, nook_error **err);
/* The same with a split irqchip: the local APICs in the kernel, an IOAPIC
 * of `ioapic_pins` pins in user space (GSIs 0..ioapic_pins-1; the caller
 * makes it the machine's user_irqchip before booting, devices/ioapic.h),
 * no PIC and no PIT. */
int x86_machine_create_split(struct machine *m, uint64_t memory, bool pvm, uint32_t ioapic_pins,
			     nook_error **err);

/* Appends the x86 part of the kernel command line for kernel `k`: the
 * serial console or quiet, the i8042 reset line as the reboot path, the TSC
 * rate (so the kernel calibrates nothing), and on PVM hosts the flags of the
 * guest kernel's PVM patches. */
void x86_cmdline_append(struct strbuf *b, const struct machine *m, const struct x86_kernel *k,
			bool serial_console);

#endif
