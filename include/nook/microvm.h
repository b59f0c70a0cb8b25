/* nook: the high-level MicroVm API.
 *
 * A nook_microvm_config describes a sandbox the way a user does: a root
 * file system (a host directory, or overlay layers), resources, shared
 * directories, port forwards, network policy and the program to run, with
 * options in their usual string forms ("/data:/mnt/data", "8080:80",
 * "KEY=VALUE", "RLIMIT_NOFILE=1024:2048"; see nook/parse.h).
 * nook_microvm_build() checks it and turns it into a nook_vm (nook/vm.h),
 * ready for nook_vm_start().
 *
 * Setters taking a string parse it at once and fail like the parsers in
 * nook/parse.h (-EINVAL / -ERANGE with *err saying what is wrong). Every
 * other check happens in nook_microvm_build(). The add_* setters append,
 * in call order; the set_* list setters (mapped dirs, ports, rlimits, args,
 * env) replace the whole list, as the reference builder's list methods do:
 * the new list is taken only when every entry parses (otherwise the old one
 * stays), and an empty or NULL list clears it.
 *
 * Defaults: log level off, 1 vCPU, 1024 MiB (the reference builder's; the
 * low-level nook_vm_config's is 512 MiB), network scope "group", no rootfs
 * and no program (both required).
 *
 * The rootfs and mapped directories are shared with the guest over
 * virtio-fs (nook_vm_config_add_fs_root, _set_fs_root_overlay and
 * _set_fs_mount_point in nook/vm.h).
 *
 * Network: a scope other than "none" set explicitly, an ip, a subnet or a
 * port forward gives the guest a user-mode network device
 * (nook_vm_config_add_net_user), its frames filtered by the scope; without
 * any of them the guest has no network.
 */
#ifndef NOOK_MICROVM_H
#define NOOK_MICROVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nook/api.h>
#include <nook/error.h>
#include <nook/log.h>
#include <nook/types.h>
#include <nook/vm.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nook_microvm_config nook_microvm_config;

#define NOOK_MICROVM_DEFAULT_VCPUS 1
#define NOOK_MICROVM_DEFAULT_MEMORY_MIB 1024

NOOK_API nook_microvm_config *nook_microvm_config_new(void);
NOOK_API void nook_microvm_config_free(nook_microvm_config *cfg);

/* Log level of the VM (messages go to stderr). */
NOOK_API void nook_microvm_config_set_log_level(nook_microvm_config *cfg, enum nook_log_level level);

/* Rootfs: a host directory used as the guest's root as is, or overlay
 * layers (host directories), the first at the bottom and each later one on
 * top. Each call replaces the rootfs. */
NOOK_API int nook_microvm_config_set_rootfs_native(nook_microvm_config *cfg, const char *dir);
NOOK_API int nook_microvm_config_set_rootfs_overlay(nook_microvm_config *cfg, const char *const *layers,
					   size_t nlayers);

NOOK_API void nook_microvm_config_set_vcpus(nook_microvm_config *cfg, unsigned vcpus);
NOOK_API void nook_microvm_config_set_memory_mib(nook_microvm_config *cfg, uint64_t mib);

/* "HOST:GUEST[:ro|:rw]" or "PATH": a host directory shared at a guest path.
 * Host directories must exist and guest paths be unique when building. */
NOOK_API int nook_microvm_config_add_mapped_dir(nook_microvm_config *cfg, const char *spec,
				       nook_error **err);
/* "[HOST_IP:]HOST_PORT:GUEST_PORT[/PROTO]" or "PORT": a port forward; a host
 * port may be used once per protocol. */
NOOK_API int nook_microvm_config_add_port(nook_microvm_config *cfg, const char *spec, nook_error **err);

/* Replace the lists: NULL-terminated arrays of the same specs. */
NOOK_API int nook_microvm_config_set_mapped_dirs(nook_microvm_config *cfg, const char *const *specs,
						 nook_error **err);
NOOK_API int nook_microvm_config_set_ports(nook_microvm_config *cfg, const char *const *specs,
					   nook_error **err);

/* Network policy (default NOOK_NETWORK_SCOPE_GROUP), the guest's address
 * ("192.168.1.100") and its subnet ("192.168.1.0/24"); the address must
 * lie in the subnet when both are given. */
NOOK_API void nook_microvm_config_set_scope(nook_microvm_config *cfg, enum nook_network_scope scope);
NOOK_API int nook_microvm_config_set_ip(nook_microvm_config *cfg, const char *ip, nook_error **err);
NOOK_API int nook_microvm_config_set_subnet(nook_microvm_config *cfg, const char *cidr, nook_error **err);

/* "RESOURCE=SOFT:HARD" ("RLIMIT_NOFILE=1024:2048", "7=1024:2048"). */
NOOK_API int nook_microvm_config_add_rlimit(nook_microvm_config *cfg, const char *spec, nook_error **err);
/* The program: working directory (absolute), executable path (required),
 * arguments one at a time and "KEY=VALUE" environment entries. */
NOOK_API int nook_microvm_config_set_workdir(nook_microvm_config *cfg, const char *dir);
NOOK_API int nook_microvm_config_set_exec_path(nook_microvm_config *cfg, const char *path);
NOOK_API int nook_microvm_config_add_arg(nook_microvm_config *cfg, const char *arg);
NOOK_API int nook_microvm_config_add_env(nook_microvm_config *cfg, const char *spec, nook_error **err);
/* Replace the lists (NULL-terminated), as the set_* setters above. */
NOOK_API int nook_microvm_config_set_rlimits(nook_microvm_config *cfg, const char *const *specs,
					     nook_error **err);
NOOK_API int nook_microvm_config_set_args(nook_microvm_config *cfg, const char *const *args,
					  nook_error **err);
NOOK_API int nook_microvm_config_set_envs(nook_microvm_config *cfg, const char *const *specs,
					  nook_error **err);
/* A file on the host that gets a copy of what the program writes to stdout
 * and stderr, both in one file (nook_vm_config_set_console_output); the
 * program's stdio still goes where it goes. */
NOOK_API int nook_microvm_config_set_console_output(nook_microvm_config *cfg, const char *path);

/* A read-only view of a configuration, defaults included. Pointers point
 * into cfg and are valid until it is changed or freed; strings are NULL
 * when not set. */
struct nook_microvm_settings {
	enum nook_log_level log_level;
	const char *rootfs_native;         /* a native rootfs, or NULL */
	const char *const *rootfs_layers; /* overlay layers, bottom first */
	size_t nrootfs_layers;
	unsigned vcpus;
	uint64_t memory_mib;
	const struct nook_path_pair *mapped_dirs;
	size_t nmapped_dirs;
	const struct nook_port_pair *ports;
	size_t nports;
	enum nook_network_scope scope;
	bool has_ip;
	struct in_addr ip;
	bool has_subnet;
	struct nook_ipv4_subnet subnet;
	const struct nook_rlimit *rlimits;
	size_t nrlimits;
	const char *workdir;
	const char *exec_path;
	const char *const *args;
	size_t nargs;
	const struct nook_env_pair *env;
	size_t nenv;
	const char *console_output;
};
NOOK_API void nook_microvm_config_get(const nook_microvm_config *cfg, struct nook_microvm_settings *out);

/* Checks the configuration and builds the VM (not started). Fails when the
 * rootfs or the exec path is missing, a rootfs directory does not exist,
 * vcpus or memory are out of range, a mapped host directory is missing or a
 * guest path repeats, a host port repeats, the ip is outside the subnet,
 * and for the options nook does not support yet. */
NOOK_API int nook_microvm_build(const nook_microvm_config *cfg, nook_vm **vm, nook_error **err);

#ifdef __cplusplus
}
#endif
#endif
