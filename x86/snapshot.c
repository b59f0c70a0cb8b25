#include "x86/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* The MSRs a running Linux guest depends on and KVM keeps per vCPU: the
 * TSC (with hardware KVM the guest's clocks go on from where they were; a
 * PVM guest reads the host's TSC, so its clocks jump ahead by the
 * snapshot's age), the system call entry points, the kernel GS base, PAT
 * and MTRRs, the TSC deadline timer, and KVM's paravirtual clock,
 * steal-time and async page fault areas. Those this host's KVM does not
 * know are left out (KVM_GET_MSR_INDEX_LIST). KVM_SET_MSRS applies them in
 * this order, which matters for one pair: the async page fault vector
 * comes before the enable. Enabling sends the guest a wake-up on that
 * vector and holds every later "page ready" until the guest acknowledges
 * it; sent on vector 0 it never arrives, and the first guest task that
 * waits for a page the host reads from disk waits forever (the restored
 * guest idles, its program never runs). */
static const uint32_t saved_msrs[] = {
	0x10,       /* IA32_TSC */
	0x3b,       /* IA32_TSC_ADJUST */
	0x174, 0x175, 0x176, /* SYSENTER_CS, _ESP, _EIP */
	0x1a0,      /* IA32_MISC_ENABLE */
	0x277,      /* IA32_PAT */
	0x2ff,      /* MTRRdefType */
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207, /* MTRR physbase/mask 0-3 */
	0x250, 0x258, 0x259, /* fixed MTRRs */
	0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
	0x6e0,      /* IA32_TSC_DEADLINE */
	0xc0000081, /* STAR */
	0xc0000082, /* LSTAR */
	0xc0000083, /* CSTAR */
	0xc0000084, /* SFMASK */
	0xc0000102, /* KERNEL_GS_BASE */
	0xc0000103, /* TSC_AUX */
	0x4b564d00, /* KVM wall clock */
	0x4b564d01, /* KVM system time */
	0x4b564d06, /* KVM async page fault vector: before the enable */
	0x4b564d02, /* KVM async page faults */
	0x4b564d03, /* KVM steal time */
	0x4b564d04, /* KVM PV EOI */
	0x4b564d05, /* KVM poll control */
};
#define NSAVED_MSRS (sizeof(saved_msrs) / sizeof(saved_msrs[0]))

/* One vCPU in the file's layout. The KVM structures are kernel ABI. */
struct x86_vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xsave xsave;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	uint32_t has_xsave, has_xcrs;
	uint32_t nmsrs, pad;
	struct kvm_msr_entry msrs[NSAVED_MSRS];
};

struct x86_vm_state {
	struct kvm_irqchip chips[3]; /* PIC master, PIC slave, IOAPIC */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* The saved MSRs this host's KVM knows. */
static int known_msrs(struct machine *m, uint32_t *out, uint32_t *n)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (ioctl(m->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	struct kvm_msr_list *list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list)
		return -ENOMEM;
	list->nmsrs = probe.nmsrs;
	int r = ioctl(m->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0 ? -errno : 0;
	*n = 0;
	for (size_t i = 0; r == 0 && i < NSAVED_MSRS; i++)
		for (uint32_t j = 0; j < list->nmsrs; j++)
			if (list->indices[j] == saved_msrs[i]) {
				out[(*n)++] = saved_msrs[i];
				break;
			}
	free(list);
	return r;
}

/* A vCPU ioctl whose failure names the vCPU and the call. */
#define VCPU_IOCTL(v, req, arg, err)                                                        \
	(ioctl((v)->fd, req, arg) < 0                                                        \
		 ? error_set(err, errno, "snapshot: vCPU %d: %s: %s", (v)->id, #req, strerror(errno)) \
		 : 0)

static int save_vcpu(struct vcpu *v, const uint32_t *msrs, uint32_t nmsrs, bool xsave,
		     struct bytes *out, nook_error **err)
{
	struct x86_vcpu_state *st = calloc(1, sizeof(*st));
	if (!st)
		return error_set(err, ENOMEM, "snapshot: out of memory");
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[NSAVED_MSRS];
	} m = {.h.nmsrs = nmsrs};
	for (uint32_t i = 0; i < nmsrs; i++)
		m.e[i].index = msrs[i];
	int r = VCPU_IOCTL(v, KVM_GET_REGS, &st->regs, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_GET_SREGS, &st->sregs, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_GET_FPU, &st->fpu, err);
	if (r == 0 && xsave && (r = VCPU_IOCTL(v, KVM_GET_XSAVE, &st->xsave, err)) == 0)
		st->has_xsave = 1;
	if (r == 0 && xsave && ioctl(v->fd, KVM_GET_XCRS, &st->xcrs) == 0)
		st->has_xcrs = 1;
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_GET_LAPIC, &st->lapic, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_GET_VCPU_EVENTS, &st->events, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_GET_MP_STATE, &st->mp_state, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_GET_DEBUGREGS, &st->debugregs, err);
	if (r == 0) {
		int n = ioctl(v->fd, KVM_GET_MSRS, &m);
		if (n != (int)nmsrs)
			r = error_set(err, n < 0 ? errno : EIO, "snapshot: vCPU %d: KVM_GET_MSRS: %d of %u",
				      v->id, n, nmsrs);
	}
	if (r == 0) {
		st->nmsrs = nmsrs;
		memcpy(st->msrs, m.e, nmsrs * sizeof(m.e[0]));
		char name[STATE_NAME_MAX + 1];
		snprintf(name, sizeof(name), "vcpu.%d", v->id);
		if ((r = state_put(out, name, 1, st, sizeof(*st))) < 0)
			error_set(err, -r, "snapshot: %s", strerror(-r));
	}
	free(st);
	return r;
}

int x86_machine_save(struct machine *m, struct bytes *out, nook_error **err)
{
	uint32_t msrs[NSAVED_MSRS], nmsrs = 0;
	int r = known_msrs(m, msrs, &nmsrs);
	if (r < 0)
		return error_set(err, -r, "snapshot: KVM_GET_MSR_INDEX_LIST: %s", strerror(-r));
	bool xsave = ioctl(m->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
	for (int i = 0; r == 0 && i < m->nvcpus; i++)
		r = save_vcpu(&m->vcpus[i], msrs, nmsrs, xsave, out, err);
	struct x86_vm_state vs = {0};
	/* A split irqchip has no PIC, IOAPIC or PIT in the kernel: their
	 * fields stay zero (its IOAPIC saves itself). */
	bool split = m->user_irqchip != NULL;
	for (uint32_t i = 0; r == 0 && !split && i < 3; i++) {
		vs.chips[i].chip_id = i;
		r = machine_vm_ioctl(m, KVM_GET_IRQCHIP, &vs.chips[i], "snapshot: KVM_GET_IRQCHIP", err);
	}
	if (r == 0 && !split)
		r = machine_vm_ioctl(m, KVM_GET_PIT2, &vs.pit, "snapshot: KVM_GET_PIT2", err);
	if (r == 0)
		r = machine_vm_ioctl(m, KVM_GET_CLOCK, &vs.clock, "snapshot: KVM_GET_CLOCK", err);
	if (r == 0 && (r = state_put(out, "x86-vm", 1, &vs, sizeof(vs))) < 0)
		error_set(err, -r, "snapshot: %s", strerror(-r));
	return r;
}

/* In Firecracker's order: the MP state first, the MSRs (the TSC) after the
 * registers, the pending events last. */
static int restore_vcpu(struct vcpu *v, const struct x86_vcpu_state *st, nook_error **err)
{
	if (st->nmsrs > NSAVED_MSRS)
		return error_set(err, EINVAL, "snapshot: vCPU %d: %u MSRs", v->id, st->nmsrs);
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[NSAVED_MSRS];
	} m = {.h.nmsrs = st->nmsrs};
	memcpy(m.e, st->msrs, st->nmsrs * sizeof(m.e[0]));
	int r = VCPU_IOCTL(v, KVM_SET_MP_STATE, &st->mp_state, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_SET_REGS, &st->regs, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_SET_SREGS, &st->sregs, err);
	if (r == 0)
		r = st->has_xsave ? VCPU_IOCTL(v, KVM_SET_XSAVE, &st->xsave, err)
				  : VCPU_IOCTL(v, KVM_SET_FPU, &st->fpu, err);
	if (r == 0 && st->has_xcrs)
		r = VCPU_IOCTL(v, KVM_SET_XCRS, &st->xcrs, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_SET_DEBUGREGS, &st->debugregs, err);
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_SET_LAPIC, &st->lapic, err);
	if (r == 0) {
		int n = ioctl(v->fd, KVM_SET_MSRS, &m);
		if (n != (int)st->nmsrs)
			r = error_set(err, n < 0 ? errno : EINVAL,
				      "snapshot: vCPU %d: KVM_SET_MSRS: %d of %u", v->id, n, st->nmsrs);
	}
	if (r == 0)
		r = VCPU_IOCTL(v, KVM_SET_VCPU_EVENTS, &st->events, err);
	return r;
}

int x86_machine_restore(struct machine *m, const void *state, size_t len, nook_error **err)
{
	struct state_section s;
	int r = 0;
	for (int i = 0; r == 0 && i < m->nvcpus; i++) {
		char name[STATE_NAME_MAX + 1];
		snprintf(name, sizeof(name), "vcpu.%d", i);
		if (state_find(state, len, name, &s) < 0 ||
		    state_expect(&s, 1, sizeof(struct x86_vcpu_state)) < 0)
			return error_set(err, EINVAL, "snapshot: no valid %s section", name);
		struct x86_vcpu_state *st = malloc(sizeof(*st));
		if (!st)
			return error_set(err, ENOMEM, "snapshot: out of memory");
		memcpy(st, s.data, sizeof(*st));
		r = restore_vcpu(&m->vcpus[i], st, err);
		free(st);
	}
	if (r < 0)
		return r;
	struct x86_vm_state vs;
	if (state_find(state, len, "x86-vm", &s) < 0 || state_expect(&s, 1, sizeof(vs)) < 0)
		return error_set(err, EINVAL, "snapshot: no valid x86-vm section");
	memcpy(&vs, s.data, sizeof(vs));
	bool split = m->user_irqchip != NULL;
	for (uint32_t i = 0; r == 0 && !split && i < 3; i++) {
		if (vs.chips[i].chip_id != i)
			return error_set(err, EINVAL, "snapshot: irqchip %u is chip %u", i,
					 vs.chips[i].chip_id);
		r = machine_vm_ioctl(m, KVM_SET_IRQCHIP, &vs.chips[i], "snapshot: KVM_SET_IRQCHIP", err);
	}
	if (r == 0 && !split)
		r = machine_vm_ioctl(m, KVM_SET_PIT2, &vs.pit, "snapshot: KVM_SET_PIT2", err);
	/* Only the clock's value: the flags describe the host it was read on. */
	struct kvm_clock_data clock = {.clock = vs.clock.clock};
	if (r == 0)
		r = machine_vm_ioctl(m, KVM_SET_CLOCK, &clock, "snapshot: KVM_SET_CLOCK", err);
	return r;
}
