/* Per-vCPU x86 state: CPUID, MSRs, FPU, local APIC, and the registers the
 * boot vCPU starts the kernel with. */
#ifndef NOOK_X86_CPU_H
#define NOOK_X86_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/kvm.h"

/* What the host's KVM can offer a guest (KVM_GET_SUPPORTED_CPUID); the
 * caller frees it. A snapshot is only good on a host that offers the same. */
struct kvm_cpuid2 *x86_supported_cpuid(int kvm_fd, nook_error **err);

/* Whether this host can run a hypervisor inside a guest (kvm_intel or
 * kvm_amd with nested=1); -ENOTSUP with a message naming the host's
 * limitation otherwise. */
int x86_check_nested(nook_error **err);

/* CPUID, MSRs, FPU and LAPIC of every vCPU, for the machine's topology
 * (m->threads_per_core) and nested virtualization (m->nested, which the
 * caller has checked with x86_check_nested()). */
int x86_setup_vcpus(struct machine *m, nook_error **err);

/* Points vCPU 0 at `entry`: 32-bit protected mode with %ebx = `info` (PVH),
 * or long mode on identity-mapped page tables with %rsi = `info`. */
int x86_setup_boot_cpu(struct machine *m, bool pvh, uint64_t entry, uint64_t info,
		       nook_error **err);

#endif
