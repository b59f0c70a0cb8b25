/* The generated part of the guest's initramfs: nook-init and its config, as
 * a cpio "newc" archive that the VMM places right after the rootfs archive
 * (the kernel unpacks concatenated archives; each must start 4-byte
 * aligned). All functions return 0 or a negative errno; on error the
 * buffer keeps what it held before the call. */
#ifndef NOOK_VM_INITRAMFS_H
#define NOOK_VM_INITRAMFS_H

#include <stddef.h>
#include <stdint.h>

#include "guest/protocol.h"

/* A growable byte buffer; zero-initialise it, release it with _free(). */
struct initramfs_buf {
	uint8_t *data;
	size_t len, cap;
};

void initramfs_buf_free(struct initramfs_buf *buf);

/* cpio newc writer: entries have uid/gid 0, mtime 0 and increasing inode
 * numbers. Names are relative ("nook/config", no leading '/'); modes are
 * permission bits only. Zero-initialise, add entries, then _finish(). */
struct cpio {
	struct initramfs_buf buf;
	uint32_t last_ino;
};

int cpio_add_dir(struct cpio *cpio, const char *name, uint32_t mode);
int cpio_add_file(struct cpio *cpio, const char *name, uint32_t mode,
		       const void *data, size_t len);
int cpio_add_symlink(struct cpio *cpio, const char *name, const char *target);
/* Appends the "TRAILER!!!" entry; the archive is then cpio->buf. */
int cpio_finish(struct cpio *cpio);

/* Config encoder (format in guest/protocol.h). A string record is one of
 * NOOK_TAG_EXEC_PATH, _ARG, _ENV ("KEY=VALUE"), _WORKDIR or _ROOT*; the
 * order of ARG and ENV records is that of argv and environ. -EINVAL for a
 * value nook-init would reject (empty exec path, workdir or tag, ENV without
 * a key). */
int init_config_add_string(struct initramfs_buf *buf, enum nook_init_tag tag,
				const char *value);
/* A share: NOOK_MOUNT_* flags, its tag, the absolute guest path. */
int init_config_add_mount(struct initramfs_buf *buf, uint32_t flags, const char *tag,
			       const char *path);
/* RLIM_INFINITY is UINT64_MAX. */
int init_config_add_rlimit(struct initramfs_buf *buf, uint32_t resource,
				uint64_t soft, uint64_t hard);
/* A network interface record (NOOK_TAG_NET), already encoded. */
int init_config_add_net(struct initramfs_buf *buf,
			     const uint8_t value[NOOK_NET_RECORD_SIZE]);

/* Builds the whole archive into `out` (zero-initialised): directory "nook",
 * NOOK_INIT_PATH (mode 0755) holding `init` and NOOK_INIT_CONFIG_PATH
 * (mode 0600) holding `config`. */
int initramfs_build(struct initramfs_buf *out, const void *init, size_t init_len,
			 const void *config, size_t config_len);

#endif
