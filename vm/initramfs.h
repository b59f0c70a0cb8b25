/* The generated part of the guest's initramfs: nook-init, as a cpio "newc"
 * archive that the VMM places right after the caller's rootfs archive, if
 * any (the kernel unpacks concatenated archives; each must start 4-byte
 * aligned). All functions return 0 or a negative errno; on error the
 * buffer keeps what it held before the call. */
#ifndef NOOK_VM_INITRAMFS_H
#define NOOK_VM_INITRAMFS_H

#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"

/* cpio newc writer: entries have uid/gid 0, mtime 0 and increasing inode
 * numbers. Names are relative ("nook/init", no leading '/'); modes are
 * permission bits only. Zero-initialise, add entries, then _finish(). */
struct cpio {
	struct bytes buf;
	uint32_t last_ino;
};

int cpio_add_dir(struct cpio *cpio, const char *name, uint32_t mode);
int cpio_add_file(struct cpio *cpio, const char *name, uint32_t mode,
		  const void *data, size_t len);
int cpio_add_symlink(struct cpio *cpio, const char *name, const char *target);
/* Appends the "TRAILER!!!" entry; the archive is then cpio->buf. */
int cpio_finish(struct cpio *cpio);

/* Builds the whole archive into `out` (zero-initialised): directory "nook"
 * and NOOK_INIT_PATH (mode 0755) holding `init`. */
int initramfs_build(struct bytes *out, const void *init, size_t init_len);

#endif
