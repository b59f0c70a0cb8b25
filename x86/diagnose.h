/* Turning a KVM internal error into a message that makes the fix obvious:
 * the guest RIP, the instruction bytes there and the kernel symbol
 * (struct machine's describe_internal_error, set by x86_machine_create()). */
#ifndef NOOK_X86_DIAGNOSE_H
#define NOOK_X86_DIAGNOSE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/kvm.h"

void x86_describe_internal_error(struct vcpu *v, char *buf, size_t len);

/* What a guest that makes no progress is doing: RIP, the interrupt flag
 * and shadow, pending events, the MP state and the local APIC's TPR, PPR
 * and highest IRR and ISR vectors. For a paused vCPU (machine_pause()). */
void x86_describe_stall(struct vcpu *v, char *buf, size_t len);

/* Guest virtual -> guest physical through the 4-level page tables at cr3;
 * returns -EFAULT when unmapped. Identity when paging is off. */
int x86_translate(const struct guest_memory *mem, const struct kvm_sregs *sregs, uint64_t va,
		  uint64_t *pa);

/* "symbol+0xoff" for `addr` from a System.map file; 0 on success. */
int system_map_lookup(const char *path, uint64_t addr, char *out, size_t len);

#endif
