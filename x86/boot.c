#include "x86/boot.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "x86/cpu.h"
#include "x86/layout.h"
#include "x86/mptable.h"

/* From Xen's public headers (the x86/HVM direct boot ABI). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#define E820_RAM 1
#define MAX_MEMMAP 4

static int read_exact(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

/* Scans a PT_NOTE segment for Xen's PVH entry note. */
static int find_pvh_entry(int fd, const Elf64_Phdr *ph, uint64_t *entry)
{
	if (ph->p_filesz > 1 << 20)
		return -EINVAL;
	uint8_t *buf = malloc(ph->p_filesz ? ph->p_filesz : 1);
	if (!buf)
		return -ENOMEM;
	int found = 0;
	if (read_exact(fd, buf, ph->p_filesz, (off_t)ph->p_offset) == 0) {
		uint64_t off = 0;
		while (!found && off + sizeof(Elf64_Nhdr) <= ph->p_filesz) {
			Elf64_Nhdr nh;
			memcpy(&nh, buf + off, sizeof(nh));
			uint64_t name_off = off + sizeof(nh);
			uint64_t desc_off = name_off + ((nh.n_namesz + 3ULL) & ~3ULL);
			uint64_t next = desc_off + ((nh.n_descsz + 3ULL) & ~3ULL);
			if (next > ph->p_filesz)
				break;
			if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
			    memcmp(buf + name_off, "Xen", 4) == 0 &&
			    (nh.n_descsz == 4 || nh.n_descsz == 8)) {
				uint64_t v = 0;
				memcpy(&v, buf + desc_off, nh.n_descsz);
				*entry = v;
				found = 1;
			}
			off = next;
		}
	}
	free(buf);
	return found;
}

static int load_elf(struct guest_memory *mem, int fd, const char *path, uint64_t file_size,
		    struct x86_kernel *k, nook_error **err)
{
	Elf64_Ehdr eh;
	if (read_exact(fd, &eh, sizeof(eh), 0) < 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_machine != EM_X86_64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum > 64)
		return error_set(err, ENOEXEC, "kernel %s: not an x86_64 ELF kernel", path);
	Elf64_Phdr ph[64];
	if (read_exact(fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff) < 0)
		return error_set(err, ENOEXEC, "kernel %s: truncated ELF program headers", path);

	uint64_t pvh_entry = 0;
	bool pvh = false;
	int loaded = 0;
	k->end = 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_NOTE && !pvh)
			pvh = find_pvh_entry(fd, &ph[i], &pvh_entry) > 0;
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_filesz > ph[i].p_memsz || ph[i].p_offset > file_size ||
		    ph[i].p_filesz > file_size - ph[i].p_offset)
			return error_set(err, ENOEXEC, "kernel %s: segment %d lies outside the file",
					      path, i);
		if (!guest_memory_ptr(mem, ph[i].p_paddr, ph[i].p_memsz) ||
		    ph[i].p_paddr < LAYOUT_HIMEM)
			return error_set(err, ENOMEM,
					      "kernel %s: segment at 0x%llx (%llu KiB) does not fit in "
					      "guest memory; give the VM more memory",
					      path, (unsigned long long)ph[i].p_paddr,
					      (unsigned long long)(ph[i].p_memsz >> 10));
		/* Fresh guest memory is zero, so the bss needs no clearing. */
		if (guest_memory_load_file(mem, ph[i].p_paddr, fd, ph[i].p_offset, ph[i].p_filesz) < 0)
			return error_set(err, EIO, "kernel %s: read failed", path);
		if (ph[i].p_paddr + ph[i].p_memsz > k->end)
			k->end = ph[i].p_paddr + ph[i].p_memsz;
		loaded++;
	}
	if (!loaded)
		return error_set(err, ENOEXEC, "kernel %s: ELF file has no loadable segment", path);
	k->protocol = pvh ? X86_BOOT_PVH : X86_BOOT_LINUX64;
	k->entry = pvh ? pvh_entry : eh.e_entry;
	k->initrd_addr_max = LAYOUT_MMIO_GAP_START - 1;
	k->setup_header_len = 0;
	return 0;
}

static int load_bzimage(struct guest_memory *mem, int fd, const char *path, uint64_t file_size,
			struct x86_kernel *k, nook_error **err)
{
	uint8_t head[0x280];
	if (file_size < sizeof(head) || read_exact(fd, head, sizeof(head), 0) < 0)
		return error_set(err, ENOEXEC, "kernel %s: too small to be a kernel", path);
	struct setup_header hdr;
	memcpy(&hdr, head + 0x1f1, sizeof(hdr));
	if (hdr.header != 0x53726448 /* "HdrS" */ || hdr.boot_flag != 0xaa55)
		return error_set(err, ENOEXEC,
				      "kernel %s: not a kernel (neither an ELF vmlinux nor a bzImage)",
				      path);
	if (hdr.version < 0x020c || !(hdr.xloadflags & XLF_KERNEL_64))
		return error_set(err, ENOEXEC,
				      "kernel %s: bzImage has no 64-bit entry point (boot protocol "
				      "%u.%02u)",
				      path, hdr.version >> 8, hdr.version & 0xff);
	uint64_t setup_size = ((uint64_t)(hdr.setup_sects ? hdr.setup_sects : 4) + 1) * 512;
	if (setup_size >= file_size)
		return error_set(err, ENOEXEC, "kernel %s: truncated bzImage", path);
	uint64_t size = file_size - setup_size;
	/* The kernel decompresses itself above its load address. */
	uint64_t need = hdr.init_size > size ? hdr.init_size : size;
	void *dst = guest_memory_ptr(mem, LAYOUT_BZIMAGE_LOAD, need);
	if (!dst)
		return error_set(err, ENOMEM,
				      "kernel %s: needs %llu MiB above 1 MiB; give the VM more memory",
				      path, (unsigned long long)(need >> 20) + 1);
	if (read_exact(fd, dst, size, (off_t)setup_size) < 0)
		return error_set(err, EIO, "kernel %s: read failed", path);
	k->protocol = X86_BOOT_LINUX64;
	k->entry = LAYOUT_BZIMAGE_LOAD + 0x200;
	k->end = LAYOUT_BZIMAGE_LOAD + need;
	k->initrd_addr_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : 0x37ffffff;
	/* The header runs from 0x1f1 to the end of the jump at 0x200. */
	uint32_t len = 0x202 + head[0x201] - 0x1f1;
	if (len > sizeof(k->setup_header))
		len = sizeof(k->setup_header);
	memcpy(k->setup_header, head + 0x1f1, len);
	k->setup_header_len = len;
	return 0;
}

/* `name` in the directory of `kernel_path`, if it is readable (malloc'd). */
static char *file_beside(const char *kernel_path, const char *name)
{
	char *path;
	const char *slash = strrchr(kernel_path, '/');
	int dir_len = slash ? (int)(slash - kernel_path) : 1;
	if (asprintf(&path, "%.*s/%s", dir_len, slash ? kernel_path : ".", name) < 0)
		return NULL;
	if (access(path, R_OK) != 0) {
		free(path);
		return NULL;
	}
	return path;
}

/* CONFIG_HZ from the kernel configuration beside the kernel; 0 if none. */
static unsigned config_hz(const char *kernel_path)
{
	unsigned hz = 0;
	char *path = file_beside(kernel_path, "config");
	if (!path)
		path = file_beside(kernel_path, ".config");
	FILE *f = path ? fopen(path, "re") : NULL;
	char line[256];
	while (f && !hz && fgets(line, sizeof(line), f))
		if (sscanf(line, "CONFIG_HZ=%u", &hz) != 1 || hz > 10000)
			hz = 0;
	if (f)
		fclose(f);
	free(path);
	return hz;
}

void x86_kernel_release(struct x86_kernel *k)
{
	free(k->system_map_path);
	k->system_map_path = NULL;
}

int x86_load_kernel(struct guest_memory *mem, const char *path, struct x86_kernel *k,
		    nook_error **err)
{
	memset(k, 0, sizeof(*k));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errno, "kernel %s: %s", path, strerror(errno));
	struct stat st;
	int r;
	uint8_t magic[4] = {0};
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		r = error_set(err, EINVAL, "kernel %s: not a regular file", path);
	else if (read_exact(fd, magic, sizeof(magic), 0) < 0)
		r = error_set(err, ENOEXEC, "kernel %s: too small to be a kernel", path);
	else if (memcmp(magic, ELFMAG, SELFMAG) == 0)
		r = load_elf(mem, fd, path, (uint64_t)st.st_size, k, err);
	else
		r = load_bzimage(mem, fd, path, (uint64_t)st.st_size, k, err);
	close(fd);
	if (r == 0) {
		k->hz = config_hz(path);
		k->system_map_path = file_beside(path, "System.map");
	}
	return r;
}

int x86_place_initrd(const struct guest_memory *mem, const struct x86_kernel *k, uint64_t size,
		     uint64_t *gpa, nook_error **err)
{
	uint64_t top = guest_memory_end_below(mem, LAYOUT_MMIO_GAP_START);
	if (top > k->initrd_addr_max + 1)
		top = k->initrd_addr_max + 1;
	uint64_t addr = (top - size) & ~0xfffULL;
	if (size > top || addr < k->end)
		return error_set(err, ENOMEM,
				      "initramfs of %llu KiB does not fit in guest memory beside the "
				      "kernel; give the VM more memory",
				      (unsigned long long)(size >> 10));
	*gpa = addr;
	return 0;
}

/* The guest's RAM map, shared by the e820 table and the PVH memory map. */
static int memory_map(const struct guest_memory *mem, struct hvm_memmap_entry *map)
{
	int n = 0;
	map[n++] = (struct hvm_memmap_entry){0, LAYOUT_EBDA, E820_RAM, 0};
	for (int i = 0; i < mem->nregions; i++) {
		const struct guest_region *r = &mem->regions[i];
		uint64_t start = r->gpa < LAYOUT_HIMEM ? LAYOUT_HIMEM : r->gpa;
		if (r->gpa + r->size > start)
			map[n++] = (struct hvm_memmap_entry){start, r->gpa + r->size - start, E820_RAM, 0};
	}
	return n;
}

static int write_pvh_start_info(struct guest_memory *mem, uint64_t initrd_gpa,
				uint64_t initrd_size)
{
	struct hvm_start_info *si = guest_memory_ptr(mem, LAYOUT_PVH_START_INFO, 0x1000);
	if (!si)
		return -ENOMEM;
	struct hvm_modlist_entry *mod = (struct hvm_modlist_entry *)(si + 1);
	struct hvm_memmap_entry *map = (struct hvm_memmap_entry *)(mod + 1);
	memset(si, 0, 0x1000);
	si->magic = HVM_START_MAGIC;
	si->version = 1;
	si->cmdline_paddr = LAYOUT_CMDLINE;
	if (initrd_size) {
		mod->paddr = initrd_gpa;
		mod->size = initrd_size;
		si->nr_modules = 1;
		si->modlist_paddr = LAYOUT_PVH_START_INFO + sizeof(*si);
	}
	si->memmap_paddr = LAYOUT_PVH_START_INFO + sizeof(*si) + sizeof(*mod);
	si->memmap_entries = (uint32_t)memory_map(mem, map);
	return 0;
}

static int write_boot_params(struct guest_memory *mem, const struct x86_kernel *k,
			     size_t cmdline_len, uint64_t initrd_gpa, uint64_t initrd_size)
{
	struct boot_params *bp = guest_memory_ptr(mem, LAYOUT_BOOT_PARAMS, sizeof(*bp));
	if (!bp)
		return -ENOMEM;
	memset(bp, 0, sizeof(*bp));
	if (k->setup_header_len)
		memcpy(&bp->hdr, k->setup_header, k->setup_header_len);
	else {
		bp->hdr.boot_flag = 0xaa55;
		bp->hdr.header = 0x53726448;
		bp->hdr.kernel_alignment = 0x1000000;
	}
	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags |= CAN_USE_HEAP | LOADED_HIGH;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.cmd_line_ptr = LAYOUT_CMDLINE;
	bp->hdr.cmdline_size = (uint32_t)cmdline_len;
	bp->hdr.ramdisk_image = (uint32_t)initrd_gpa;
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
	struct hvm_memmap_entry map[MAX_MEMMAP];
	int n = memory_map(mem, map);
	for (int i = 0; i < n; i++)
		bp->e820_table[i] = (struct boot_e820_entry){map[i].addr, map[i].size, map[i].type};
	bp->e820_entries = (uint8_t)n;
	return 0;
}

int x86_setup_boot(struct machine *m, const struct x86_kernel *k, const char *cmdline,
		   uint64_t initrd_gpa, uint64_t initrd_size, nook_error **err)
{
	size_t len = strlen(cmdline);
	if (len >= LAYOUT_CMDLINE_MAX)
		return error_set(err, E2BIG,
				      "kernel command line is %zu bytes; the limit is %d", len,
				      LAYOUT_CMDLINE_MAX - 1);
	char *dst = guest_memory_ptr(&m->mem, LAYOUT_CMDLINE, LAYOUT_CMDLINE_MAX);
	if (!dst)
		return error_set(err, ENOMEM, "guest memory too small for the command line");
	memcpy(dst, cmdline, len + 1);

	int r = k->protocol == X86_BOOT_PVH ? write_pvh_start_info(&m->mem, initrd_gpa, initrd_size)
					    : write_boot_params(&m->mem, k, len, initrd_gpa, initrd_size);
	if (r == 0)
		r = mptable_write(&m->mem, LAYOUT_EBDA, m->nvcpus,
				  m->user_irqchip ? (int)m->user_irqchip->pins : KVM_IOAPIC_NUM_PINS);
	if (r < 0)
		return error_set(err, -r, "guest memory too small for the boot tables");
	return x86_setup_boot_cpu(m, k->protocol == X86_BOOT_PVH, k->entry,
				  k->protocol == X86_BOOT_PVH ? LAYOUT_PVH_START_INFO
							      : LAYOUT_BOOT_PARAMS,
				  err);
}
