/* A cold boot: nook-init's initramfs, the kernel command line, the boot
 * vCPU pointed at the kernel. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/protocol.h"
#include "util/strbuf.h"
#include "vm/initramfs.h"
#include "vm/vm.h"
#include "x86/cpu.h"
#include "x86/machine.h"

/* Opens a regular file for reading; the error names it. */
static int open_regular(const char *what, const char *path, uint64_t *size, nook_error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, e, "%s %s: %s", what, path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, EINVAL, "%s %s: not a regular file", what, path);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static int read_file(const char *what, const char *path, uint8_t **data, size_t *len,
		     nook_error **err)
{
	uint64_t size;
	int fd = open_regular(what, path, &size, err);
	if (fd < 0)
		return fd;
	*len = (size_t)size;
	*data = malloc(*len ? *len : 1);
	size_t done = 0;
	while (*data && done < *len) {
		ssize_t n = read(fd, *data + done, *len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	close(fd);
	if (!*data || done != *len) {
		free(*data);
		*data = NULL;
		return error_set(err, EIO, "%s %s: read failed", what, path);
	}
	return 0;
}

/* The initramfs is the caller's archive or the built-in rootfs's (if
 * either) followed by the generated one holding nook-init. */
static int load_initramfs(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
			  const struct x86_kernel *k, uint64_t *gpa, uint64_t *size,
			  nook_error **err)
{
	const char *rootfs_path = cfg->initramfs_path;
	const char *what = "initramfs";
	if (plan->root_archive[0]) {
		rootfs_path = plan->root_archive;
		what = "built-in rootfs archive";
	}
	uint8_t *init = NULL;
	size_t init_len = 0;
	uint64_t rootfs_len = 0;
	struct bytes generated = {0};
	int rootfs_fd = rootfs_path ? open_regular(what, rootfs_path, &rootfs_len, err) : -1;
	int r = rootfs_path && rootfs_fd < 0 ? rootfs_fd : 0;
	if (r == 0 && (cfg->exec_path || vm->ready_point)) {
		r = read_file("nook-init", plan->init_path, &init, &init_len, err);
		if (r == 0 && (r = initramfs_build(&generated, init, init_len)) < 0)
			error_set(err, -r, "initramfs: %s", strerror(-r));
	}
	/* Each archive must start 4-byte aligned; fresh guest memory is zero,
	 * so the padding between them is too. */
	uint64_t rootfs_padded = (rootfs_len + 3) & ~3ULL;
	*size = rootfs_padded + generated.len;
	if (r == 0 && *size)
		r = x86_place_initrd(&vm->machine.mem, k, *size, gpa, err);
	if (r == 0 && rootfs_fd >= 0 &&
	    (r = guest_memory_load_file(&vm->machine.mem, *gpa, rootfs_fd, 0, rootfs_len)) < 0)
		error_set(err, -r, "%s %s: %s", what, rootfs_path, strerror(-r));
	if (r == 0 && generated.len)
		memcpy(guest_memory_ptr(&vm->machine.mem, *gpa + rootfs_padded, generated.len),
		       generated.data, generated.len);
	if (rootfs_fd >= 0)
		close(rootfs_fd);
	free(init);
	bytes_free(&generated);
	return r;
}

int vm_build_cmdline(struct nook_vm *vm, const nook_vm_config *cfg, const struct x86_kernel *k,
		     char *buf, size_t len, nook_error **err)
{
	struct strbuf b = strbuf_on(buf, len);
	x86_cmdline_append(&b, &vm->machine, k, cfg->kernel_log != NULL);
	if (cfg->implicit_console_disabled)
		strbuf_printf(&b, " " NOOK_CMDLINE_NO_STDIO);
	strbuf_printf(&b, " panic=-1 cryptomgr.notests random.trust_cpu=on rdinit=%s",
		      cfg->init_path ? cfg->init_path : NOOK_INIT_PATH);
	/* A custom init and no initramfs: the kernel mounts the root share. */
	if (!vm->ready_point && !cfg->exec_path && !cfg->initramfs_path)
		strbuf_printf(&b, " rootfstype=virtiofs root=" VM_FS_ROOT_TAG " %s init=%s",
			      vm_shares_use_builtin_root(cfg) ? "ro" : "rw",
			      cfg->init_path ? cfg->init_path : "/sbin/init");
	for (unsigned i = 0; i < vm->nslots; i++)
		virtio_mmio_cmdline(LAYOUT_VIRTIO_MMIO_BASE + i * LAYOUT_VIRTIO_MMIO_SIZE,
				    LAYOUT_FIRST_DEVICE_IRQ + i, &b);
	if (cfg->cmdline)
		strbuf_printf(&b, " %s", cfg->cmdline);
	if (b.overflow)
		return error_set(err, E2BIG,
				 "kernel command line longer than %d bytes (with %u virtio devices "
				 "declared on it)",
				 LAYOUT_CMDLINE_MAX - 1, vm->nslots);
	return 0;
}

int vm_cold_boot(struct nook_vm *vm, const nook_vm_config *cfg, const struct vm_plan *plan,
		 const struct x86_kernel *k, const char *cmdline, nook_error **err)
{
	uint64_t initrd_gpa = 0, initrd_size = 0;
	int r = load_initramfs(vm, cfg, plan, k, &initrd_gpa, &initrd_size, err);
	if (r == 0)
		r = x86_setup_boot(&vm->machine, k, cmdline, initrd_gpa, initrd_size, err);
	if (r == 0)
		vm_log(vm, NOOK_LOG_DEBUG, "kernel %s (%s entry 0x%llx), command line: %s",
		       plan->kernel_path, k->protocol == X86_BOOT_PVH ? "PVH" : "64-bit",
		       (unsigned long long)k->entry, cmdline);
	return r;
}
