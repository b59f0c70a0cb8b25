#include "x86/cpu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "x86/layout.h"

#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define KVM_CPUID_FEATURES 0x40000001
/* KVM paravirtual features that use hypercalls (linux/kvm_para.h). */
#define KVM_FEATURE_PV_TLB_FLUSH 9
#define KVM_FEATURE_PV_SEND_IPI 11
#define KVM_FEATURE_PV_SCHED_YIELD 13

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING 1
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_ENABLE_WRITEBACK ((1u << 11) | 6)

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI 0x4

struct kvm_cpuid2 *x86_supported_cpuid(int kvm_fd, nook_error **err)
{
	for (int n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)n * sizeof(c->entries[0]));
		if (!c)
			break;
		c->nent = (uint32_t)n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		int e = errno;
		free(c);
		if (e != E2BIG) {
			error_set(err, e, "KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
			return NULL;
		}
	}
	error_set(err, ENOMEM, "KVM_GET_SUPPORTED_CPUID: out of memory");
	return NULL;
}

#define CPUID1_ECX_VMX (1u << 5)
#define CPUID1_EDX_HTT (1u << 28)
#define CPUID_80000001_ECX_SVM (1u << 2)

/* ceil(log2(n)): how many APIC id bits n things need. */
static uint32_t count_order(uint32_t n)
{
	uint32_t order = 0;
	while ((1u << order) < n)
		order++;
	return order;
}

/* The topology every topology leaf describes the same way: vCPU `id` is
 * thread id % threads of core id / threads, one package, its APIC id is
 * its index. Host values would describe whichever host CPU answered
 * (measured: two vCPUs both reported core 0 but not as siblings). */
struct topology {
	uint32_t id, nvcpus, threads;
	uint32_t smt_bits, package_bits; /* APIC id bits below the core, the package */
};

/* Cache leaves (4, 0x8000001d): which CPUs share the cache in EAX[25:14]:
 * the threads of a core for L1 and L2, the whole package beyond. */
static uint32_t cache_sharing(uint32_t eax, const struct topology *t)
{
	uint32_t level = (eax >> 5) & 7;
	uint32_t sharing = level <= 2 ? t->threads : t->nvcpus;
	return (eax & ~(0xfffu << 14)) | ((sharing - 1) << 14);
}

static void set_topology_leaf(struct kvm_cpuid_entry2 *e, const struct topology *t)
{
	e->edx = t->id; /* x2APIC id */
	switch (e->index) {
	case 0: /* SMT level */
		e->eax = t->smt_bits;
		e->ebx = t->threads;
		e->ecx = (1u << 8) | 0;
		break;
	case 1: /* core level: the package */
		e->eax = t->package_bits;
		e->ebx = t->nvcpus;
		e->ecx = (2u << 8) | 1;
		break;
	default: /* no further levels */
		e->eax = e->ebx = 0;
		e->ecx = e->index & 0xff;
		break;
	}
}

/* Adapts the host's supported CPUID to one vCPU: its topology, the
 * hypervisor bit, and VMX/SVM only when nested virtualization is on. On
 * PVM hosts, a guest sending IPIs by hypercall hangs (measured: two vCPUs
 * never finish booting), so those paravirtual features are hidden. The CPU
 * features PVM cannot emulate are not masked here: PVM reports the host's
 * leaf 1 and 7 whatever KVM_SET_CPUID2 says, so the guest kernel is told on
 * its command line instead (vm/vm.c). */
static void adapt_cpuid(struct kvm_cpuid2 *c, const struct topology *t, bool pvm, bool nested)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | (t->id << 24) |
				 ((t->nvcpus > 255 ? 255 : t->nvcpus) << 16);
			e->ecx |= CPUID1_ECX_HYPERVISOR;
			if (!nested)
				e->ecx &= ~CPUID1_ECX_VMX;
			if (t->nvcpus > 1)
				e->edx |= CPUID1_EDX_HTT;
			break;
		case 4:
			if (e->eax & 0x1f) /* a cache is described */
				e->eax = (cache_sharing(e->eax, t) & 0x03ffffffu) |
					 ((t->nvcpus / t->threads - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			set_topology_leaf(e, t);
			break;
		case 0x80000001:
			if (!nested)
				e->ecx &= ~CPUID_80000001_ECX_SVM;
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xf0ffu) | (t->package_bits << 12) | (t->nvcpus - 1);
			break;
		case 0x8000001d:
			if (e->eax & 0x1f)
				e->eax = cache_sharing(e->eax, t);
			break;
		case 0x8000001e:
			e->eax = t->id;
			e->ebx = ((t->threads - 1) << 8) | (t->id / t->threads);
			e->ecx = 0; /* node 0, one node */
			break;
		case KVM_CPUID_FEATURES:
			if (pvm)
				e->eax &= ~((1u << KVM_FEATURE_PV_TLB_FLUSH) |
					    (1u << KVM_FEATURE_PV_SEND_IPI) |
					    (1u << KVM_FEATURE_PV_SCHED_YIELD));
			break;
		default:
			break;
		}
	}
}

/* Reads a kvm_intel/kvm_amd "nested" parameter: 1 on, 0 off, -1 no module. */
static int module_nested(const char *module)
{
	char path[96], value[8] = "";
	snprintf(path, sizeof(path), "/sys/module/%s/parameters/nested", module);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	bool got = fgets(value, sizeof(value), f) != NULL;
	fclose(f);
	return got && (value[0] == 'Y' || value[0] == 'y' || value[0] == '1');
}

int x86_check_nested(nook_error **err)
{
	if (kvm_host_is_pvm())
		return error_set(err, ENOTSUP,
				 "nested virtualization: this host's /dev/kvm is PVM (the kvm_pvm "
				 "module), which cannot run a hypervisor inside its guests");
	static const char *const modules[] = {"kvm_intel", "kvm_amd"};
	for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
		int on = module_nested(modules[i]);
		if (on == 1)
			return 0;
		if (on == 0)
			return error_set(err, ENOTSUP,
					 "nested virtualization: the host's %s module has nested "
					 "off (load it with nested=1)",
					 modules[i]);
	}
	return error_set(err, ENOTSUP,
			 "nested virtualization: the host has neither kvm_intel nor kvm_amd "
			 "loaded, so it cannot offer nested guests");
}

static int set_msrs(struct vcpu *v)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[2];
	} msrs = {
		.hdr.nmsrs = 2,
		.entries = {
			{.index = MSR_IA32_MISC_ENABLE, .data = MSR_IA32_MISC_ENABLE_FAST_STRING},
			{.index = MSR_MTRR_DEF_TYPE, .data = MTRR_ENABLE_WRITEBACK},
		},
	};
	int n = ioctl(v->fd, KVM_SET_MSRS, &msrs);
	return n < 0 ? -errno : 0;
}

static int set_lapic(struct vcpu *v)
{
	struct kvm_lapic_state lapic;
	if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	uint32_t lvt0, lvt1;
	memcpy(&lvt0, lapic.regs + APIC_LVT0, 4);
	memcpy(&lvt1, lapic.regs + APIC_LVT1, 4);
	lvt0 = (lvt0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
	lvt1 = (lvt1 & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(lapic.regs + APIC_LVT0, &lvt0, 4);
	memcpy(lapic.regs + APIC_LVT1, &lvt1, 4);
	return ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0 ? -errno : 0;
}

int x86_setup_vcpus(struct machine *m, nook_error **err)
{
	struct kvm_cpuid2 *host = x86_supported_cpuid(m->kvm_fd, err);
	if (!host)
		return -ENOMEM;
	size_t size = sizeof(*host) + host->nent * sizeof(host->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	int r = c ? 0 : error_set(err, ENOMEM, "out of memory");
	for (int i = 0; r == 0 && i < m->nvcpus; i++) {
		struct vcpu *v = &m->vcpus[i];
		uint32_t threads = m->threads_per_core ? (uint32_t)m->threads_per_core : 1;
		uint32_t smt_bits = count_order(threads);
		const struct topology t = {
			.id = (uint32_t)i, .nvcpus = (uint32_t)m->nvcpus, .threads = threads,
			.smt_bits = smt_bits,
			.package_bits = smt_bits + count_order((uint32_t)m->nvcpus / threads),
		};
		memcpy(c, host, size);
		adapt_cpuid(c, &t, m->pvm, m->nested);
		if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
			r = error_set(err, errno, "KVM_SET_CPUID2: %s", strerror(errno));
		else if ((r = set_msrs(v)) < 0)
			r = error_set(err, -r, "KVM_SET_MSRS: %s", strerror(-r));
		else if ((r = set_lapic(v)) < 0)
			r = error_set(err, -r, "KVM_SET_LAPIC: %s", strerror(-r));
		else {
			struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
			if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
				r = error_set(err, errno, "KVM_SET_FPU: %s", strerror(errno));
		}
	}
	free(c);
	free(host);
	return r;
}

/* GDT: null, code, data, TSS. The code descriptor is 64-bit or 32-bit. */
#define GDT_CODE 1
#define GDT_DATA 2
#define GDT_TSS 3

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

static struct kvm_segment segment_from_gdt(uint64_t entry, uint8_t index)
{
	uint32_t limit = (uint32_t)((entry & 0xffff) | ((entry >> 32) & 0xf0000));
	uint8_t g = (entry >> 55) & 1;
	return (struct kvm_segment){
		.base = (uint32_t)(((entry >> 16) & 0xffffff) | ((entry >> 32) & 0xff000000)),
		.limit = g ? (limit << 12) | 0xfff : limit,
		.selector = (uint16_t)(index * 8),
		.type = (entry >> 40) & 0xf,
		.present = (entry >> 47) & 1,
		.dpl = (entry >> 45) & 3,
		.db = (entry >> 54) & 1,
		.s = (entry >> 44) & 1,
		.l = (entry >> 53) & 1,
		.g = g,
		.avl = (entry >> 52) & 1,
		.unusable = !((entry >> 47) & 1),
	};
}

/* Identity-maps the first 4 GiB with 2 MiB pages. */
static int write_page_tables(struct guest_memory *mem)
{
	uint64_t *pml4 = guest_memory_ptr(mem, LAYOUT_PML4, 0x1000);
	uint64_t *pdpt = guest_memory_ptr(mem, LAYOUT_PDPT, 0x1000);
	uint64_t *pd = guest_memory_ptr(mem, LAYOUT_PD, 4 * 0x1000);
	if (!pml4 || !pdpt || !pd)
		return -ENOMEM;
	memset(pml4, 0, 0x1000);
	memset(pdpt, 0, 0x1000);
	pml4[0] = LAYOUT_PDPT | 0x3; /* present, writable */
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB page */
	return 0;
}

#define X86_CR0_PE 0x1ULL
#define X86_CR0_ET 0x10ULL
#define X86_CR0_PG 0x80000000ULL
#define X86_CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

int x86_setup_boot_cpu(struct machine *m, bool pvh, uint64_t entry, uint64_t info,
		       nook_error **err)
{
	struct vcpu *v = &m->vcpus[0];
	uint64_t gdt[4] = {
		0,
		gdt_entry(pvh ? 0xc09b : 0xa09b, 0, 0xfffff),
		gdt_entry(0xc093, 0, 0xfffff),
		gdt_entry(0x008b, 0, 0x67),
	};
	uint64_t *gdt_mem = guest_memory_ptr(&m->mem, LAYOUT_GDT, sizeof(gdt));
	if (!gdt_mem || (!pvh && write_page_tables(&m->mem) < 0))
		return error_set(err, ENOMEM, "guest memory too small for the boot tables");
	memcpy(gdt_mem, gdt, sizeof(gdt));

	struct kvm_sregs sregs;
	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return error_set(err, errno, "KVM_GET_SREGS: %s", strerror(errno));
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = sizeof(gdt) - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cs = segment_from_gdt(gdt[GDT_CODE], GDT_CODE);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
		segment_from_gdt(gdt[GDT_DATA], GDT_DATA);
	sregs.tr = segment_from_gdt(gdt[GDT_TSS], GDT_TSS);
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (!pvh) {
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 |= X86_CR4_PAE;
		sregs.cr0 |= X86_CR0_PG;
		sregs.efer |= EFER_LME | EFER_LMA;
	}
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0)
		return error_set(err, errno, "KVM_SET_SREGS: %s", strerror(errno));

	struct kvm_regs regs = {.rflags = 0x2, .rip = entry, .rsp = LAYOUT_BOOT_STACK,
				.rbp = LAYOUT_BOOT_STACK};
	if (pvh)
		regs.rbx = info;
	else
		regs.rsi = info;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return error_set(err, errno, "KVM_SET_REGS: %s", strerror(errno));
	return 0;
}
