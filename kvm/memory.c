#include "kvm/memory.h"

#include <errno.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int guest_memory_add(struct guest_memory *mem, int vm_fd, uint64_t gpa, uint64_t size,
		     nook_error **err)
{
	if (mem->nregions == GUEST_MEMORY_MAX_REGIONS)
		return error_set(err, ENOSPC, "guest memory: more than %d regions",
				      GUEST_MEMORY_MAX_REGIONS);
	void *hva = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			 -1, 0);
	if (hva == MAP_FAILED)
		return error_set(err, errno, "guest memory: cannot map %llu MiB: %s",
				      (unsigned long long)(size >> 20), strerror(errno));
	/* Guest RAM is never in a core dump and never shared with children;
	 * huge pages make loading the kernel a few faults instead of
	 * thousands, and the guest's TLB misses cheaper. */
	madvise(hva, size, MADV_DONTDUMP);
	madvise(hva, size, MADV_DONTFORK);
	madvise(hva, size, MADV_HUGEPAGE);
	int slot = mem->nregions;
	mem->regions[slot] = (struct guest_region){.gpa = gpa, .size = size, .hva = hva};
	mem->nregions++;
	mem->size += size;
	if (vm_fd < 0)
		return 0;
	struct kvm_userspace_memory_region r = {
		.slot = (uint32_t)slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return error_set(err, errno, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	return 0;
}

#define DEVICE_MEMORY_ALIGN (1ULL << 30)

int guest_memory_add_device(struct guest_memory *mem, int vm_fd, uint64_t size,
			    struct guest_region *out, nook_error **err)
{
	uint64_t gpa = (mem->device_next + DEVICE_MEMORY_ALIGN - 1) & ~(DEVICE_MEMORY_ALIGN - 1);
	if (!size || size % (2u << 20) || gpa + size < gpa)
		return error_set(err, EINVAL, "device memory: bad size %llu",
				 (unsigned long long)size);
	struct guest_region *arr = realloc(mem->devices, (mem->ndevices + 1) * sizeof(*arr));
	if (!arr)
		return error_set(err, ENOMEM, "device memory: out of memory");
	mem->devices = arr;
	void *hva = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hva == MAP_FAILED)
		return error_set(err, errno, "device memory: cannot reserve %llu MiB: %s",
				 (unsigned long long)(size >> 20), strerror(errno));
	madvise(hva, size, MADV_DONTDUMP);
	madvise(hva, size, MADV_DONTFORK);
	/* Slots after RAM's, one per device region. */
	uint32_t slot = GUEST_MEMORY_MAX_REGIONS + (uint32_t)mem->ndevices;
	arr[mem->ndevices++] = (struct guest_region){.gpa = gpa, .size = size, .hva = hva};
	mem->device_next = gpa + size;
	*out = arr[mem->ndevices - 1];
	if (vm_fd < 0)
		return 0;
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return error_set(err, errno, "KVM_SET_USER_MEMORY_REGION (device memory at %#llx): %s",
				 (unsigned long long)gpa, strerror(errno));
	return 0;
}

void guest_memory_destroy(struct guest_memory *mem)
{
	for (int i = 0; i < mem->nregions; i++)
		munmap(mem->regions[i].hva, mem->regions[i].size);
	for (int i = 0; i < mem->ndevices; i++)
		munmap(mem->devices[i].hva, mem->devices[i].size);
	free(mem->devices);
	mem->devices = NULL;
	mem->ndevices = 0;
	mem->nregions = 0;
	mem->size = 0;
}

void *guest_memory_ptr(const struct guest_memory *mem, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[4096];
	return memcmp(p, zero, sizeof(zero)) == 0;
}

static int pwrite_all(int fd, const uint8_t *p, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

int guest_memory_save(const struct guest_memory *mem, int fd)
{
	if (ftruncate(fd, (off_t)mem->size) < 0)
		return -errno;
	uint64_t file_off = 0;
	for (int i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		for (uint64_t off = 0; off < r->size;) {
			while (off < r->size && page_is_zero(r->hva + off))
				off += 4096;
			uint64_t start = off;
			while (off < r->size && off - start < (64u << 20) && !page_is_zero(r->hva + off))
				off += 4096;
			int e = off > start ? pwrite_all(fd, r->hva + start, off - start, file_off + start)
					    : 0;
			if (e < 0)
				return e;
		}
		file_off += r->size;
	}
	return 0;
}

int guest_memory_map_file(struct guest_memory *mem, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != mem->size)
		return -EINVAL;
	uint64_t file_off = 0;
	for (int i = 0; i < mem->nregions; i++) {
		struct guest_region *r = &mem->regions[i];
		if (mmap(r->hva, r->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
			 (off_t)file_off) == MAP_FAILED)
			return -errno;
		madvise(r->hva, r->size, MADV_DONTDUMP);
		madvise(r->hva, r->size, MADV_DONTFORK);
		file_off += r->size;
	}
	return 0;
}

uint64_t guest_memory_end_below(const struct guest_memory *mem, uint64_t limit)
{
	uint64_t end = 0;
	for (int i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		uint64_t e = r->gpa + r->size;
		if (r->gpa < limit)
			end = e < limit ? e : limit;
	}
	return end;
}

int guest_memory_load_file(struct guest_memory *mem, uint64_t gpa, int fd, uint64_t offset,
			   uint64_t len)
{
	uint8_t *dst = guest_memory_ptr(mem, gpa, len);
	if (!dst)
		return -EFAULT;
	uint64_t whole = len & ~0xfffULL;
	if (whole && (gpa & 0xfff) == 0 && (offset & 0xfff) == 0) {
		if (mmap(dst, whole, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
			 (off_t)offset) == MAP_FAILED)
			return -errno;
		madvise(dst, whole, MADV_DONTDUMP);
		madvise(dst, whole, MADV_DONTFORK);
		dst += whole;
		offset += whole;
		len -= whole;
	}
	while (len) {
		ssize_t n = pread(fd, dst, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		dst += n;
		offset += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}
