/* The VM configuration behind the public nook_vm_config handle. */
#ifndef NOOK_VM_CONFIG_H
#define NOOK_VM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <nook/types.h>
#include <nook/vm.h>

#include "util/error.h"
#include "util/strv.h"

struct vm_rlimit {
	int resource;
	uint64_t soft, hard;
};

/* The virtio-fs tag of the root file system. */
#define VM_FS_ROOT_TAG "/dev/root"
#define VM_DISK_ID_SIZE 12

enum vm_fs_kind { VM_FS_PATH, VM_FS_CUSTOM };

/* What the guest does with a share: nothing (the program mounts it by its
 * tag), mount it at mount_point, or use it as a layer of an overlay root. */
enum vm_fs_role { VM_FS_PLAIN, VM_FS_ROOT_LOWER, VM_FS_ROOT_UPPER };

struct vm_fs {
	enum vm_fs_kind kind;
	enum vm_fs_role role;
	char *tag;
	char *path;        /* VM_FS_PATH */
	char *mount_point; /* absolute guest path, or NULL */
	bool read_only;    /* VM_FS_PATH: enforced by the host */
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
	VM_NET_VDE,
	VM_NET_CUSTOM,
	VM_NET_USER, /* user-mode networking (libslirp) */
};

struct vm_net {
	enum vm_net_kind kind;
	bool has_mac;
	uint8_t mac[6];
	int fd;           /* *_FD */
	char *path;       /* *_PATH: socket path; TAP: interface name; VDE: URL */
	bool vfkit_magic; /* UNIXGRAM_PATH */
	/* A segment (nook_vm_config_set_net_segment): this address in this
	 * subnet, no route, frames only within the subnet. */
	bool has_segment;
	struct in_addr segment_ip;
	struct nook_ipv4_subnet segment;
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
	bool allow_backing; /* backing files / extents beside the image */
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
	char *vsock_path; /* the host side's UNIX sockets (backends/vsock/unix.h) */
	/* On by default as in the reference builder. */
	bool balloon;
	uint64_t balloon_stats_ms; /* 0: no statistics */
	bool rng;
	bool metrics;
	bool inet_hijack;
	bool confine; /* seccomp for the VM's threads (default on) */

	/* warm start */
	enum nook_snapshot_mode snapshot_mode;
	char *snapshot_dir; /* instead of the cache */

	/* kernel */
	char *cmdline; /* user's additions */
	char *kernel_path;
	char *initramfs_path;
	char *init_path;

	/* fs: settings for the next add_fs_path/add_fs_custom (vm.h) */
	struct vm_fs *fs;
	size_t nfs;
	struct vm_fs fs_next;
	bool fs_next_set;

	/* net: settings for the next add_net_* (vm.h) */
	struct vm_net *net;
	size_t nnet;
	struct vm_net net_next;
	bool net_next_set;
	/* The sandbox network: scope (default any), the guest's address and
	 * subnet (on the first device) and the published ports (user mode). */
	enum nook_network_scope net_scope;
	bool net_scope_set;
	bool has_net_ip, has_net_subnet;
	struct in_addr net_ip;
	struct nook_ipv4_subnet net_subnet;
	struct nook_port_pair *net_ports;
	size_t nnet_ports;
	bool net_allow_host_loopback;

	/* console */
	char *console_output; /* a copy of the program's stdout and stderr */
	char *kernel_log;     /* the serial console */
	int stdio[3];
	struct vm_console_port *ports;
	size_t nports;
	bool implicit_console_disabled;

	/* exec */
	char *exec_path;
	struct strv args;
	struct strv env;
	char *workdir;
	char *user; /* "USER[:GROUP]" or NULL */
	char *hostname;
	struct vm_rlimit *rlimits;
	size_t nrlimits;

	/* disk: settings for the next add_disk (vm.h) */
	struct vm_disk *disks;
	size_t ndisks;
	struct vm_disk disk_next;
	bool disk_next_set;

	enum nook_log_level log_level;
	nook_log_fn log_fn;
	void *log_userdata;
};

/* The id of a disk: the caller's or the automatic one. */
static inline const char *vm_disk_id(const struct vm_disk *d)
{
	return d->id ? d->id : d->auto_id;
}

/* The sandbox subnet when none is set (libslirp's usual one), and the
 * hosts of a user-mode subnet: the gateway (the host), DNS, the guest. */
#define VM_NET_DEFAULT_NETWORK 0x0a000200u /* 10.0.2.0, host byte order */
#define VM_NET_DEFAULT_PREFIX 24
#define VM_NET_USER_MAX_PREFIX 28
#define VM_NET_GATEWAY_HOST 2
#define VM_NET_DNS_HOST 3
#define VM_NET_GUEST_HOST 15

/* The first network device's subnet (host byte order): the one set, else
 * the default one for a user-mode network, else (an address on a network
 * nook does not run: tap, passt, gvproxy) the /24 around the address set. */
void vm_net_first_subnet(const nook_vm_config *cfg, uint32_t *network, unsigned *prefix);

/* A user to run as, "USER[:GROUP]" (nook_vm_config_set_user): 0, or
 * -EINVAL with a message naming it. */
int vm_check_user(const char *user, nook_error **err);
/* Checks the values (ranges, paths, duplicates), what nook_vm_build()
 * calls before it touches KVM. The error names the option and the value. */
int vm_config_validate(const nook_vm_config *cfg, nook_error **err);

/* DAX windows (check_dax in config.c). */
#define VM_FS_DAX_UNIT (2ULL << 20)
#define VM_FS_DAX_TOTAL_MAX (32ULL << 30)

#define NOOK_DEFAULT_VCPUS 1
#define NOOK_DEFAULT_MEMORY_MIB 512
#define NOOK_DEFAULT_BALLOON_STATS_MS 1000

#endif
