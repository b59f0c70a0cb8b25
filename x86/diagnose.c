#include "x86/diagnose.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define PTE_PRESENT 1ULL
#define PTE_LARGE (1ULL << 7)
#define PTE_ADDR 0x000ffffffffff000ULL

int x86_translate(const struct guest_memory *mem, const struct kvm_sregs *sregs, uint64_t va,
		  uint64_t *pa)
{
	if (!(sregs->cr0 & 0x80000000ULL)) {
		*pa = va;
		return 0;
	}
	uint64_t table = sregs->cr3 & PTE_ADDR;
	for (int level = 3; level >= 0; level--) {
		unsigned shift = 12 + 9 * (unsigned)level;
		const uint64_t *entry = guest_memory_ptr(mem, table + ((va >> shift) & 511) * 8, 8);
		if (!entry || !(*entry & PTE_PRESENT))
			return -EFAULT;
		if (level == 0 || (level <= 2 && (*entry & PTE_LARGE))) {
			uint64_t page_mask = (1ULL << shift) - 1;
			*pa = (*entry & PTE_ADDR & ~page_mask) | (va & page_mask);
			return 0;
		}
		table = *entry & PTE_ADDR;
	}
	return -EFAULT;
}

int system_map_lookup(const char *path, uint64_t addr, char *out, size_t len)
{
	FILE *f = path ? fopen(path, "re") : NULL;
	if (!f)
		return -ENOENT;
	char line[512], best[256] = "";
	uint64_t best_addr = 0;
	while (fgets(line, sizeof(line), f)) {
		uint64_t a;
		char type, name[256];
		if (sscanf(line, "%" SCNx64 " %c %255s", &a, &type, name) == 3 && a <= addr &&
		    a >= best_addr && (type == 't' || type == 'T' || type == 'w' || type == 'W')) {
			best_addr = a;
			snprintf(best, sizeof(best), "%s", name);
		}
	}
	fclose(f);
	if (!best[0])
		return -ENOENT;
	snprintf(out, len, "%s+0x%" PRIx64, best, addr - best_addr);
	return 0;
}

void x86_describe_internal_error(struct vcpu *v, char *buf, size_t len)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	bool have_regs = ioctl(v->fd, KVM_GET_REGS, &regs) == 0 &&
			 ioctl(v->fd, KVM_GET_SREGS, &sregs) == 0;
	const char *what = run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
				   ? "emulation failure"
				   : "internal error";
	int n = snprintf(buf, len, "KVM %s (suberror %u) on vCPU %d", what, run->internal.suberror,
			 v->id);
	if (!have_regs || n < 0 || (size_t)n >= len)
		return;
	uint64_t rip = regs.rip + (sregs.cr0 & 0x80000000ULL ? 0 : sregs.cs.base);
	n += snprintf(buf + n, len - (size_t)n, " at rip 0x%llx", (unsigned long long)rip);

	uint8_t bytes[16];
	size_t nbytes = 0;
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		nbytes = run->emulation_failure.insn_size;
		if (nbytes > sizeof(run->emulation_failure.insn_bytes))
			nbytes = sizeof(run->emulation_failure.insn_bytes);
		memcpy(bytes, run->emulation_failure.insn_bytes, nbytes);
	} else {
		uint64_t pa;
		const uint8_t *p;
		if (x86_translate(&v->machine->mem, &sregs, rip, &pa) == 0 &&
		    (p = guest_memory_ptr(&v->machine->mem, pa, 15)) != NULL) {
			memcpy(bytes, p, 15);
			nbytes = 15;
		}
	}
	if (nbytes && (size_t)n < len) {
		n += snprintf(buf + n, len - (size_t)n, ", instruction bytes");
		for (size_t i = 0; i < nbytes && (size_t)n < len; i++)
			n += snprintf(buf + n, len - (size_t)n, " %02x", bytes[i]);
	}
	char sym[300];
	if ((size_t)n < len && system_map_lookup(v->machine->system_map_path, rip, sym, sizeof(sym)) == 0)
		snprintf(buf + n, len - (size_t)n, ", in %s", sym);
}

/* The highest vector set in one of the LAPIC's 256-bit registers (eight
 * 32-bit words 16 bytes apart), or -1. */
static int lapic_highest(const struct kvm_lapic_state *l, unsigned offset)
{
	for (int w = 7; w >= 0; w--) {
		uint32_t v;
		memcpy(&v, l->regs + offset + (unsigned)w * 16, sizeof(v));
		if (v)
			return w * 32 + 31 - __builtin_clz(v);
	}
	return -1;
}

void x86_describe_stall(struct vcpu *v, char *buf, size_t len)
{
	struct kvm_regs regs;
	struct kvm_vcpu_events ev;
	struct kvm_mp_state mp;
	struct kvm_lapic_state lapic;
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0 ||
	    ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0 || ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0) {
		snprintf(buf, len, "vCPU %d: its state cannot be read: %s", v->id, strerror(errno));
		return;
	}
	uint32_t tpr, ppr;
	memcpy(&tpr, lapic.regs + 0x80, sizeof(tpr));
	memcpy(&ppr, lapic.regs + 0xa0, sizeof(ppr));
	snprintf(buf, len,
		 "vCPU %d at rip 0x%llx, IF %d, interrupt shadow %u, mp_state %u, "
		 "injected interrupt %s%u, pending exception %u, NMI pending %u masked %u, "
		 "LAPIC TPR 0x%x PPR 0x%x highest IRR %d ISR %d",
		 v->id, (unsigned long long)regs.rip, (regs.rflags & 0x200) != 0,
		 ev.interrupt.shadow, mp.mp_state, ev.interrupt.injected ? "" : "none/",
		 ev.interrupt.nr, ev.exception.pending, ev.nmi.pending, ev.nmi.masked, tpr, ppr,
		 lapic_highest(&lapic, 0x200), lapic_highest(&lapic, 0x100));
}
