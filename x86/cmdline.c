/* The x86 part of the kernel command line. */
#include "x86/machine.h"

#include <sys/ioctl.h>

/* The guest's TSC frequency in kHz (KVM_GET_TSC_KHZ), 0 if unknown. */
static uint32_t tsc_khz(const struct machine *m)
{
	if (m->nvcpus == 0)
		return 0;
	int khz = ioctl(m->vcpus[0].fd, KVM_GET_TSC_KHZ, 0);
	return khz > 0 ? (uint32_t)khz : 0;
}

void x86_cmdline_append(struct strbuf *b, const struct machine *m, const struct x86_kernel *k,
			bool serial_console)
{
	/* No i8042 probing, no timer IRQ check, no PIT calibration, reboot
	 * through the i8042 reset line, which ends the VM. */
	strbuf_printf(b, "%s reboot=k i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd "
			 "no_timer_check io_delay=none tsc=reliable",
		      serial_console ? "console=ttyS0" : "quiet");
	uint32_t khz = tsc_khz(m);
	if (khz) {
		/* The boot CPU derives its delay loop from the TSC rate and its
		 * own HZ; the other CPUs calibrate unless lpj is preset, which
		 * needs the kernel's HZ (from its config, when it has one). */
		strbuf_printf(b, " tsc_early_khz=%u", khz);
		if (k->hz)
			strbuf_printf(b, " lpj=%llu", (unsigned long long)khz * 1000 / k->hz);
	}
	/* PVM hosts cannot emulate XSAVE, POPCNT, CLAC/STAC in guest kernel
	 * mode and ignore CPUID masks, so the kernel is told to do without;
	 * nor LSL, which the NMI/#DB entry uses to find its CPU when the
	 * kernel uses FSGSBASE (measured: an emulation failure in
	 * paranoid_entry on a 2-vCPU guest), nor CMPXCHG16B (an emulation
	 * failure in SLUB, which takes a lock without it). Without ERMS and
	 * FSRM the kernel copies and clears memory with REP MOVSQ/STOSQ
	 * instead of byte-wise REP MOVSB/STOSB: the emulator pays per
	 * iteration, so an 8-byte step makes the guest's read() of cached
	 * data 4 times and its page allocation 2 times faster there. A
	 * restored guest's clock jumps ahead by the snapshot's age there (KVM
	 * cannot offset PVM's TSC): a grace period that was running at the
	 * snapshot then looks stalled, and RCU's report of it (stack dumps,
	 * formatted in emulated kernel code) cost such a warm run about
	 * 0.4 s; it is not reported.
	 * nook.pvm turns on the guest kernel's patches (guest/kernel). */
	if (m->pvm)
		strbuf_printf(b, " nook.pvm no-kvmclock noxsave nofsgsbase "
				 "clearcpuid=popcnt,smap,smep,erms,fsrm,cx16 "
				 "rcupdate.rcu_cpu_stall_suppress=1");
}
