#include "vm/shares.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/protocol.h"
#include "vm/guest_config.h"

struct vm_share_plan vm_share_plan_of(const struct vm_fs *fs, size_t n)
{
	size_t nlowers = 0;
	while (nlowers < n && fs[nlowers].role == VM_FS_ROOT_LOWER && fs[nlowers].kind == VM_FS_PATH)
		nlowers++;
	/* A share with a mount point may be a single file. */
	struct stat st;
	bool is_file = fs->kind == VM_FS_PATH && fs->mount_point && stat(fs->path, &st) == 0 &&
		       S_ISREG(st.st_mode);
	return (struct vm_share_plan){.fs = fs, .is_file = is_file, .nlowers = nlowers};
}

static bool is_root_part(const struct vm_share_plan *share)
{
	return share->fs->role != VM_FS_PLAIN || strcmp(share->fs->tag, VM_FS_ROOT_TAG) == 0;
}

size_t vm_shares_root_count(const struct vm_share_plan *shares, size_t n)
{
	size_t i = 0;
	while (i < n && is_root_part(&shares[i]))
		i++;
	return i;
}

int vm_shares_describe_root(const struct vm_share_plan *shares, size_t n, char *buf,
			    size_t len)
{
	size_t used = 0, nroot = vm_shares_root_count(shares, n);
	buf[0] = 0;
	for (size_t i = 0; i < nroot; i++) {
		int w = snprintf(buf + used, len - used, "fs %s window %llu;", shares[i].fs->tag,
				 (unsigned long long)shares[i].fs->shm_size);
		if (w < 0 || (size_t)w >= len - used)
			return -ENOSPC;
		used += (size_t)w;
	}
	return 0;
}

bool vm_shares_use_builtin_root(const nook_vm_config *cfg)
{
	if (cfg->initramfs_path)
		return false;
	for (size_t i = 0; i < cfg->nfs; i++)
		if (strcmp(cfg->fs[i].tag, VM_FS_ROOT_TAG) == 0)
			return false;
	return true;
}

bool vm_shares_root_in_memory(const nook_vm_config *cfg)
{
	return vm_shares_use_builtin_root(cfg) && !cfg->init_path &&
	       cfg->snapshot_mode != NOOK_SNAPSHOT_OFF;
}

struct vm_fs vm_shares_builtin_root(char *dir)
{
	return (struct vm_fs){
		.kind = VM_FS_PATH,
		.role = VM_FS_ROOT_LOWER,
		.tag = VM_FS_ROOT_TAG,
		.path = dir,
		.read_only = true,
	};
}

/* The top layer of an overlay root is served as {upper, work}: overlayfs
 * needs a work directory on the same file system as, but outside, the
 * upper one. It lives in the layer, hidden from the guest. An existing one
 * is used only if it is a real directory: a symlink planted there (by a
 * hostile layer, say) must not export whatever it points at. */
static int open_overlay_upper(const struct vm_fs *fs, struct fs_server_options options,
			      struct fs_server **out, nook_error **err)
{
	int upper = open(fs->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (upper < 0)
		return error_set(err, errno, "overlay layer %s: %s", fs->path, strerror(errno));
	int work = -1, r = 0;
	if (mkdirat(upper, VM_OVERLAY_WORK_NAME, 0700) < 0 && errno != EEXIST)
		r = -errno;
	if (r == 0 && (work = openat(upper, VM_OVERLAY_WORK_NAME,
				     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		r = errno == ELOOP || errno == ENOTDIR ? -ENOTDIR : -errno;
	close(upper);
	if (r < 0)
		return error_set(err, -r, "overlay layer %s: %s: %s", fs->path, VM_OVERLAY_WORK_NAME,
				 r == -ENOTDIR ? "exists and is not a directory" : strerror(-r));
	/* The server opens what it is given by path: this one names the
	 * directory just opened, whatever happens to the name meanwhile. */
	char work_path[32];
	snprintf(work_path, sizeof(work_path), "/proc/self/fd/%d", work);
	const struct fs_export exports[] = {
		{NOOK_OVERLAY_UPPER_DIR, fs->path, false},
		{NOOK_OVERLAY_WORK_DIR, work_path, false},
	};
	options.exports = exports;
	options.nexports = 2;
	options.hidden_name = VM_OVERLAY_WORK_NAME;
	r = fs_server_create(&options, out, err);
	close(work);
	return r;
}

/* The lower layers: export "I" is layer I, read-only. */
static int open_overlay_lowers(const struct vm_share_plan *share, struct fs_server_options options,
			       struct fs_server **out, nook_error **err)
{
	struct fs_export *exports = calloc(share->nlowers, sizeof(*exports));
	char (*names)[24] = calloc(share->nlowers, sizeof(*names));
	int r = exports && names ? 0 : error_set(err, ENOMEM, "overlay layers: out of memory");
	for (size_t i = 0; r == 0 && i < share->nlowers; i++) {
		snprintf(names[i], sizeof(names[i]), "%zu", i);
		exports[i] = (struct fs_export){names[i], share->fs[i].path, true};
	}
	options.exports = exports;
	options.nexports = share->nlowers;
	if (r == 0)
		r = fs_server_create(&options, out, err);
	free(exports);
	free(names);
	return r;
}

int vm_share_open_server(const struct vm_share_plan *share, const struct fs_server_options *common,
			 struct fs_server **out, nook_error **err)
{
	const struct vm_fs *fs = share->fs;
	struct fs_server_options options = common ? *common : (struct fs_server_options){0};
	if (fs->role == VM_FS_ROOT_UPPER)
		return open_overlay_upper(fs, options, out, err);
	if (share->nlowers)
		return open_overlay_lowers(share, options, out, err);
	const struct fs_export export = {
		share->is_file ? NOOK_MOUNT_FILE_ENTRY : NULL, fs->path, fs->read_only,
	};
	options.exports = &export;
	options.nexports = 1;
	return fs_server_create(&options, out, err);
}

int vm_shares_encode(const struct vm_share_plan *shares, size_t n, struct bytes *config)
{
	int r = 0;
	/* Lower layers, bottom first: their order is the overlay's. */
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (!shares[i].nlowers)
			continue;
		r = guest_config_add_string(config, NOOK_TAG_ROOT_LOWERS, shares[i].fs->tag);
		for (size_t j = 0; r == 0 && j < shares[i].nlowers; j++) {
			char name[24];
			snprintf(name, sizeof(name), "%zu", j);
			r = guest_config_add_string(config, NOOK_TAG_ROOT_LOWER, name);
		}
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct vm_fs *fs = shares[i].fs;
		if (fs->role == VM_FS_ROOT_UPPER) {
			r = guest_config_add_string(config, NOOK_TAG_ROOT_UPPER, fs->tag);
		} else if (fs->role == VM_FS_PLAIN && is_root_part(&shares[i])) {
			r = guest_config_add_string(config, NOOK_TAG_ROOT, fs->tag);
		} else if (fs->mount_point) {
			uint32_t flags = fs->read_only ? NOOK_MOUNT_READ_ONLY : 0;
			if (shares[i].is_file)
				flags |= NOOK_MOUNT_FILE;
			if (fs->shm_size)
				flags |= NOOK_MOUNT_DAX;
			r = guest_config_add_mount(config, flags, fs->tag, fs->mount_point);
		}
	}
	return r;
}
