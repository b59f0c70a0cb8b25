/* The per-user snapshot cache: $NOOK_CACHE_DIR (else $XDG_CACHE_HOME/nook,
 * else ~/.cache/nook) holds snapshots/<key>/, one per machine shape, made by
 * the first cold boot of that shape and restored by every later run.
 *
 * The key is a SHA-256 of everything that shapes the guest before the
 * ready point: the kernel's and nook-init's bytes, the boot command line
 * (which declares every device slot and carries the TSC rate and the PVM
 * flags), memory size, vCPU count, whether virtio-rng is there, what the
 * host's KVM offers the guest (CPUID), nook's version and the snapshot
 * format. A different key never reuses a snapshot. File hashes are cached
 * by (device, inode, size, mtime, ctime) so that a warm start does not read
 * the kernel. Directories are 0700, files 0600. */
#ifndef NOOK_VM_SNAPSHOT_CACHE_H
#define NOOK_VM_SNAPSHOT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvm/kvm.h"
#include "vm/snapshot.h"

struct snapshot_shape {
	const char *kernel_path;
	const char *init_path;
	const char *cmdline;
	uint64_t memory_mib;
	unsigned vcpus, threads_per_core;
	bool nested;
	bool rng;
	bool balloon, balloon_stats;
	const char *root_shares; /* vm_shares_describe_root() */
	const char *root_archive_path; /* the root in guest memory, or NULL */
	bool split_irqchip;
};

/* The cache's root directory, made if missing. */
int snapshot_cache_root(char *buf, size_t len, nook_error **err);
/* Whether this process can keep snapshots in the cache (its root made,
 * and writable). */
bool snapshot_cache_usable(void);
/* <root>/jail-<uid>: the cache of a VMM jailed as uid (confine/confine.c),
 * itself laid out as a root; listed and pruned with the root. */
#define SNAPSHOT_JAIL_PREFIX "jail-"
int snapshot_key(const struct snapshot_shape *shape, struct machine *m,
		 uint8_t key[SNAPSHOT_KEY_SIZE], nook_error **err);
/* <root>/snapshots/<hex key> (it may not exist). */
int snapshot_cache_dir(const uint8_t key[SNAPSHOT_KEY_SIZE], char *buf, size_t len,
		       nook_error **err);

/* Making one atomically: a fresh directory beside the final one, filled by
 * snapshot_write(), then renamed into place. When another process got
 * there first, its snapshot stays and ours is dropped; with `replace`, ours
 * takes the place of the old one. */
int snapshot_stage_begin(const char *final_dir, char *stage, size_t len, nook_error **err);
int snapshot_stage_commit(const char *stage, const char *final_dir, bool replace,
			  nook_error **err);
/* Removes a snapshot's directory (its two files), never through a symlink;
 * the _at form takes it relative to a directory fd. */
void snapshot_remove_dir(const char *dir);
void snapshot_remove_dir_at(int dfd, const char *name);

#endif
