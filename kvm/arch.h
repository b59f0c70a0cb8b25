/* What an architecture (x86/) provides to the architecture-neutral KVM
 * layer. */
#ifndef NOOK_KVM_ARCH_H
#define NOOK_KVM_ARCH_H

#include <stddef.h>

struct vcpu;

/* Describes a KVM internal error (an instruction KVM could not emulate)
 * on vCPU `v` into `buf`, so that the message names the guest's fault. */
void arch_describe_internal_error(struct vcpu *v, char *buf, size_t len);

#endif
