/* Guest physical memory: anonymous host mappings registered with KVM, RAM
 * and device memory. */
#ifndef NOOK_KVM_MEMORY_H
#define NOOK_KVM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define GUEST_MEMORY_MAX_REGIONS 2

struct guest_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_memory {
	struct guest_region regions[GUEST_MEMORY_MAX_REGIONS];
	int nregions;
	uint64_t size; /* total bytes of RAM */
	/* Device memory (below), placed from device_next on (set by the
	 * architecture's layout, above RAM), aligned to 1 GiB each. */
	struct guest_region *devices;
	int ndevices;
	uint64_t device_next;
};

/* Maps `size` bytes of RAM at `gpa` and registers them with the VM
 * (vm_fd < 0: no KVM, for tests). Regions are added in address order. */
int guest_memory_add(struct guest_memory *mem, int vm_fd, uint64_t gpa, uint64_t size,
		     nook_error **err);
void guest_memory_destroy(struct guest_memory *mem);

/* Device memory: a guest physical range that is not RAM and whose host
 * mapping a device changes while the guest runs (a virtio shared-memory
 * region: virtio-fs's DAX window). It starts inaccessible (PROT_NONE): a
 * guest access to a part the device has not mapped fails its vCPU's
 * KVM_RUN with EFAULT, which ends the VM. Never reached through
 * guest_memory_ptr(), so no device ever reads or writes it on the guest's
 * behalf, and never in a snapshot. `size` is a multiple of 2 MiB; *out
 * gets its address and host mapping (freed by guest_memory_destroy). */
int guest_memory_add_device(struct guest_memory *mem, int vm_fd, uint64_t size,
			    struct guest_region *out, nook_error **err);

/* Host address of [gpa, gpa + len), or NULL unless the whole range lies in
 * one RAM region. Every guest-supplied address goes through here. */
void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len);

/* Puts `len` bytes of `fd` from `offset` into guest memory at `gpa`. Whole
 * pages are mapped copy-on-write from the page cache instead of copied:
 * booting then reads only the pages the guest touches, and VMs share them.
 * The mapping replaces part of the guest-memory mapping in place, so the
 * KVM memslot (which holds host addresses) stays valid. -EFAULT when the
 * range is not guest RAM. */
int guest_memory_load_file(struct guest_memory *mem, uint64_t gpa, int fd, uint64_t offset,
			   uint64_t len);

/* Guest RAM as a file, the regions one after the other: what a snapshot
 * keeps. Pages of zeroes are left as holes (the file is sparse), so the file
 * holds only what the guest touched. 0 or a negative errno. */
int guest_memory_save(const struct guest_memory *mem, int fd);
/* Maps such a file over guest RAM, copy-on-write and loaded lazily: many
 * VMs restored from one file share its pages through the page cache. The
 * file must be exactly mem->size bytes (-EINVAL otherwise). */
int guest_memory_map_file(struct guest_memory *mem, int fd);

/* The highest RAM address + 1 that lies below `limit`. */
uint64_t guest_memory_end_below(const struct guest_memory *mem, uint64_t limit);

#endif
