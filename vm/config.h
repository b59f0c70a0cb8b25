/* The VM configuration behind the public nook_vm_config handle. */
#ifndef NOOK_VM_CONFIG_H
#define NOOK_VM_CONFIG_H

#include <stdint.h>

#include <nook/vm.h>

#include "util/strv.h"

struct vm_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct nook_vm_config {
	unsigned vcpus;
	uint64_t memory_mib;
	enum nook_pvm_mode pvm;

	char *cmdline; /* user's additions */
	char *kernel_path;
	char *initramfs_path;
	char *init_path;

	char *exec_path;
	struct strv args;
	struct strv env;
	char *workdir;
	struct vm_rlimit *rlimits;
	size_t nrlimits;

	char *console_output;
	int stdio[3];

	enum nook_log_level log_level;
	nook_log_fn log_fn;
	void *log_userdata;
};

#define NOOK_DEFAULT_VCPUS 1
#define NOOK_DEFAULT_MEMORY_MIB 512

#endif
