/* The VM's virtio-fs shares: which host directories and files the guest
 * gets, how nook's passthrough server exports each one, and what nook-init
 * is told to mount where. */
#ifndef NOOK_VM_SHARES_H
#define NOOK_VM_SHARES_H

#include "backends/fs/fs_server.h"
#include "util/bytes.h"
#include "vm/config.h"

/* The overlay work directory inside the top layer, hidden from the guest. */
#define VM_OVERLAY_WORK_NAME ".nook-overlay-work"

/* Whether the guest's root is nook's built-in rootfs: no root share and
 * no initramfs of the caller's. */
bool vm_shares_use_builtin_root(const nook_vm_config *cfg);

/* Whether the built-in rootfs goes into guest memory (its archive is the
 * initramfs) instead of being shared: when the run may make or use a
 * snapshot. The snapshot then holds the unpacked root, so a warm run
 * neither mounts a share nor pages its programs in over FUSE (on PVM hosts
 * 1.0 s of a 1.5 s warm `/bin/true`); unpacking costs a cold boot about
 * 2 s there, which `--snapshot off` runs do not pay. */
bool vm_shares_root_in_memory(const nook_vm_config *cfg);

/* The built-in rootfs as a share: read-only, under a tmpfs overlay. */
struct vm_fs vm_shares_builtin_root(char *dir);

/* A share of this VM, with what was decided about it once, at build. */
struct vm_share_plan {
	const struct vm_fs *fs;
	bool is_file; /* a single regular file shared at its mount point */
	/* The lower layers of an overlay root, fs[0..nlowers), all served by
	 * one device (its root's entry "I" is layer I, bottom first), so that
	 * many layers take one device slot; 0 for other shares. */
	size_t nlowers;
};

/* Decides what the share fs[0] is (of n shares from fs on; consecutive
 * root lowers make one share). The next share is fs[max(nlowers, 1)]. */
struct vm_share_plan vm_share_plan_of(const struct vm_fs *fs, size_t n);

/* How many of `shares`, from the first, make up the root (a plain root,
 * an overlay's lower layers and its top): the guest probes those at boot,
 * before the ready point (vm/assemble.c). */
size_t vm_shares_root_count(const struct vm_share_plan *shares, size_t n);

/* What the guest sees of the root's shares when it probes them (their tags
 * and DAX window sizes), for the snapshot's key; -ENOSPC if it does not fit. */
int vm_shares_describe_root(const struct vm_share_plan *shares, size_t n, char *buf,
			    size_t len);

/* Starts the passthrough server of a VM_FS_PATH share with the options
 * `common` (or none) gives beyond its exports: op_counts, the DAX window. */
int vm_share_open_server(const struct vm_share_plan *share, const struct fs_server_options *common,
			 struct fs_server **out, nook_error **err);

/* Tells nook-init about the root and the mounts of `shares`. */
int vm_shares_encode(const struct vm_share_plan *shares, size_t n, struct bytes *config);

#endif
