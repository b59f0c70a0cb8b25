/* The VM configuration behind the public nook_vm_config handle. */
#ifndef NOOK_VM_CONFIG_H
#define NOOK_VM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <nook/vm.h>

#include "util/error.h"
#include "util/strv.h"

struct vm_rlimit {
	int resource;
	uint64_t soft, hard;
};

/* The virtio-fs tag of the root file system. */
#define VM_FS_ROOT_TAG "/dev/root"
/* virtio-fs config space: tag[36], not NUL-terminated when full. */
#define VM_FS_TAG_MAX 36
/* virtio-blk serial (VIRTIO_BLK_ID_BYTES). */
#define VM_DISK_ID_MAX 20
#define VM_DISK_ID_SIZE 12

enum vm_fs_kind { VM_FS_PATH, VM_FS_CUSTOM };

struct vm_fs {
	enum vm_fs_kind kind;
	char *tag;
	char *path;        /* VM_FS_PATH */
	uint64_t shm_size; /* VM_FS_PATH: DAX window in bytes, 0: none */
	struct nook_fs_backend backend; /* VM_FS_CUSTOM */
	void *opaque;
};

enum vm_net_kind {
	VM_NET_UNIXGRAM_FD,
	VM_NET_UNIXGRAM_PATH,
	VM_NET_UNIXSTREAM_FD,
	VM_NET_UNIXSTREAM_PATH,
	VM_NET_TAP,
	VM_NET_CUSTOM,
};

struct vm_net {
	enum vm_net_kind kind;
	bool has_mac;
	uint8_t mac[6];
	int fd;           /* *_FD */
	char *path;       /* *_PATH: socket path; TAP: interface name */
	bool vfkit_magic; /* UNIXGRAM_PATH */
	struct nook_net_backend backend; /* CUSTOM */
	void *opaque;
};

enum vm_port_kind { VM_PORT_FDS, VM_PORT_TTY, VM_PORT_CUSTOM };

struct vm_console_port {
	enum vm_port_kind kind;
	char *name;
	int in_fd, out_fd; /* FDS: either may be -1; TTY: both the tty fd */
	struct nook_console_port_backend backend; /* CUSTOM */
	void *opaque;
};

struct vm_disk {
	char *path;
	char *id; /* given by the caller, or NULL: auto_id */
	char auto_id[VM_DISK_ID_SIZE];
	bool read_only;
	enum nook_disk_format format;
	enum nook_disk_cache cache;
	bool direct_io;
	enum nook_disk_sync sync;
};

struct nook_vm_config {
	/* machine */
	unsigned vcpus;
	uint64_t memory_mib;
	enum nook_pvm_mode pvm;
	bool hyperthreading;
	bool nested_virt;
	bool split_irqchip;
	bool vsock;
	/* On by default as in the reference builder. nook has no balloon and no
	 * metrics device: *_set records an explicit call, and only then does
	 * one left on fail validation. rng_set is kept for symmetry. */
	bool balloon, balloon_set;
	uint64_t balloon_stats_ms; /* 0: no statistics */
	bool balloon_stats_set;
	bool rng, rng_set;
	bool metrics, metrics_set;
	bool inet_hijack;

	/* kernel */
	char *cmdline; /* user's additions */
	char *kernel_path;
	char *initramfs_path;
	char *init_path;

	/* fs: the next mount's tag and DAX size apply once */
	struct vm_fs *fs;
	size_t nfs;
	char *fs_next_tag;
	uint64_t fs_next_shm_size;

	/* net: the next device's MAC applies once */
	struct vm_net *net;
	size_t nnet;
	bool net_next_has_mac;
	uint8_t net_next_mac[6];

	/* console */
	char *console_output;
	int stdio[3];
	struct vm_console_port *ports;
	size_t nports;
	bool implicit_console_disabled;

	/* exec */
	char *exec_path;
	struct strv args;
	struct strv env;
	char *workdir;
	struct vm_rlimit *rlimits;
	size_t nrlimits;

	/* disk: settings before the first add_disk go to disk_first */
	struct vm_disk *disks;
	size_t ndisks;
	struct vm_disk disk_first;

	enum nook_log_level log_level;
	nook_log_fn log_fn;
	void *log_userdata;
};

/* The id of a disk: the caller's or the automatic one. */
static inline const char *vm_disk_id(const struct vm_disk *d)
{
	return d->id ? d->id : d->auto_id;
}

/* Checks the values (ranges, paths, duplicates): everything that would be
 * wrong whatever nook implements. The error names the option and the
 * value. */
int vm_config_check(const nook_vm_config *cfg, nook_error **err);
/* Fails with "not supported yet: <option>" (ENOTSUP) for the first option
 * set whose device nook does not implement. */
int vm_config_check_supported(const nook_vm_config *cfg, nook_error **err);
/* Both, in that order: what nook_vm_build() calls before it touches KVM. */
int vm_config_validate(const nook_vm_config *cfg, nook_error **err);

#define NOOK_DEFAULT_VCPUS 1
#define NOOK_DEFAULT_MEMORY_MIB 512
#define NOOK_DEFAULT_BALLOON_STATS_MS 1000

#endif
