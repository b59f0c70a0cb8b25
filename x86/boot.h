/* Loading a Linux kernel into guest memory and the boot structures it reads:
 * vmlinux ELF (PVH entry when it has the note, else the 64-bit entry) and
 * bzImage (64-bit boot protocol). */
#ifndef NOOK_X86_BOOT_H
#define NOOK_X86_BOOT_H

#include <stdint.h>

#include "kvm/kvm.h"

enum x86_boot_protocol {
	X86_BOOT_PVH,     /* 32-bit protected mode, %ebx = hvm_start_info */
	X86_BOOT_LINUX64, /* long mode, %rsi = boot_params */
};

struct x86_kernel {
	enum x86_boot_protocol protocol;
	uint64_t entry;
	uint64_t end;              /* first byte after the loaded image */
	uint64_t initrd_addr_max;  /* highest address the initrd may end at */
	uint8_t setup_header[0x80]; /* bzImage's header, copied into boot_params */
	uint32_t setup_header_len;
	/* From the files a kernel build leaves beside the image: the kernel's
	 * HZ (its "config" or ".config"; 0: unknown) and its System.map (for
	 * naming the function of a guest fault; NULL: none). */
	unsigned hz;
	char *system_map_path;
};

/* Loads the kernel at `path`; the error names the path and the problem.
 * x86_kernel_release() frees what it allocated. */
int x86_load_kernel(struct guest_memory *mem, const char *path, struct x86_kernel *k,
		    nook_error **err);

void x86_kernel_release(struct x86_kernel *k);

/* Where an initrd of `size` bytes goes: page-aligned, as high as allowed
 * below the MMIO hole and above the kernel. */
int x86_place_initrd(const struct guest_memory *mem, const struct x86_kernel *k, uint64_t size,
		     uint64_t *gpa, nook_error **err);

/* Writes the command line, memory map, boot_params or hvm_start_info, GDT,
 * page tables and MP table, and points the boot vCPU at the kernel. */
int x86_setup_boot(struct machine *m, const struct x86_kernel *k, const char *cmdline,
		   uint64_t initrd_gpa, uint64_t initrd_size, nook_error **err);

#endif
