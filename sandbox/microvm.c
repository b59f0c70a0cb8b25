/* The MicroVm layer: a sandbox configuration in user terms, checked and
 * turned into a low-level nook_vm_config; see nook/microvm.h. */
#include <nook/microvm.h>
#include <nook/parse.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/strv.h"
#include "vm/config.h"

struct nook_microvm_config {
	enum nook_log_level log_level;
	bool rootfs_set;
	char *rootfs_native; /* NULL: overlay of layers */
	struct strv layers;
	unsigned vcpus;
	uint64_t memory_mib;
	/* Parsed options, with the caller's strings for messages. */
	struct nook_path_pair *dirs;
	struct strv dir_specs;
	struct nook_port_pair *ports;
	struct strv port_specs;
	enum nook_network_scope scope;
	bool scope_set;
	bool has_ip;
	struct in_addr ip;
	bool has_subnet;
	struct nook_ipv4_subnet subnet;
	struct nook_rlimit *rlimits;
	size_t nrlimits;
	char *workdir;
	char *exec_path;
	struct strv args;
	struct nook_env_pair *env;
	size_t nenv;
	char *console_output;
};

nook_microvm_config *nook_microvm_config_new(void)
{
	nook_microvm_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->log_level = NOOK_LOG_LEVEL_DEFAULT;
	cfg->vcpus = NOOK_MICROVM_DEFAULT_VCPUS;
	cfg->memory_mib = NOOK_MICROVM_DEFAULT_MEMORY_MIB;
	cfg->scope = NOOK_NETWORK_SCOPE_DEFAULT;
	return cfg;
}

void nook_microvm_config_free(nook_microvm_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->rootfs_native);
	strv_free(&cfg->layers);
	for (size_t i = 0; i < cfg->dir_specs.n; i++)
		nook_path_pair_clear(&cfg->dirs[i]);
	free(cfg->dirs);
	strv_free(&cfg->dir_specs);
	free(cfg->ports);
	strv_free(&cfg->port_specs);
	free(cfg->rlimits);
	free(cfg->workdir);
	free(cfg->exec_path);
	strv_free(&cfg->args);
	for (size_t i = 0; i < cfg->nenv; i++)
		nook_env_pair_clear(&cfg->env[i]);
	free(cfg->env);
	free(cfg->console_output);
	free(cfg);
}

void nook_microvm_config_set_log_level(nook_microvm_config *cfg, enum nook_log_level level)
{
	cfg->log_level = level;
}

int nook_microvm_config_set_rootfs_native(nook_microvm_config *cfg, const char *dir)
{
	int r = str_replace(&cfg->rootfs_native, dir ? dir : "");
	if (r == 0) {
		strv_free(&cfg->layers);
		cfg->rootfs_set = true;
	}
	return r;
}

int nook_microvm_config_set_rootfs_overlay(nook_microvm_config *cfg, const char *const *layers,
					   size_t nlayers)
{
	struct strv v = {0};
	for (size_t i = 0; i < nlayers; i++) {
		if (strv_push(&v, layers[i] ? layers[i] : "") < 0) {
			strv_free(&v);
			return -ENOMEM;
		}
	}
	strv_free(&cfg->layers);
	cfg->layers = v;
	free(cfg->rootfs_native);
	cfg->rootfs_native = NULL;
	cfg->rootfs_set = true;
	return 0;
}

void nook_microvm_config_set_vcpus(nook_microvm_config *cfg, unsigned vcpus)
{
	cfg->vcpus = vcpus;
}

void nook_microvm_config_set_memory_mib(nook_microvm_config *cfg, uint64_t mib)
{
	cfg->memory_mib = mib;
}

int nook_microvm_config_add_mapped_dir(nook_microvm_config *cfg, const char *spec,
				       nook_error **err)
{
	struct nook_path_pair pair;
	int r = nook_parse_path_pair(spec, &pair, err);
	if (r < 0)
		return r;
	size_t n = cfg->dir_specs.n;
	struct nook_path_pair *dirs = realloc(cfg->dirs, (n + 1) * sizeof(*dirs));
	if (dirs)
		cfg->dirs = dirs;
	if (!dirs || strv_push(&cfg->dir_specs, spec) < 0) {
		nook_path_pair_clear(&pair);
		return error_set(err, ENOMEM, "out of memory");
	}
	dirs[n] = pair;
	return 0;
}

int nook_microvm_config_add_port(nook_microvm_config *cfg, const char *spec, nook_error **err)
{
	struct nook_port_pair pair;
	int r = nook_parse_port_pair(spec, &pair, err);
	if (r < 0)
		return r;
	size_t n = cfg->port_specs.n;
	struct nook_port_pair *ports = realloc(cfg->ports, (n + 1) * sizeof(*ports));
	if (ports)
		cfg->ports = ports;
	if (!ports || strv_push(&cfg->port_specs, spec) < 0)
		return error_set(err, ENOMEM, "out of memory");
	ports[n] = pair;
	return 0;
}

void nook_microvm_config_set_scope(nook_microvm_config *cfg, enum nook_network_scope scope)
{
	cfg->scope = scope;
	cfg->scope_set = true;
}

int nook_microvm_config_set_ip(nook_microvm_config *cfg, const char *ip, nook_error **err)
{
	int r = nook_parse_ipv4(ip, &cfg->ip, err);
	if (r == 0)
		cfg->has_ip = true;
	return r;
}

int nook_microvm_config_set_subnet(nook_microvm_config *cfg, const char *cidr, nook_error **err)
{
	int r = nook_parse_ipv4_subnet(cidr, &cfg->subnet, err);
	if (r == 0)
		cfg->has_subnet = true;
	return r;
}

int nook_microvm_config_add_rlimit(nook_microvm_config *cfg, const char *spec, nook_error **err)
{
	struct nook_rlimit rl;
	int r = nook_parse_rlimit(spec, &rl, err);
	if (r < 0)
		return r;
	struct nook_rlimit *rlimits = realloc(cfg->rlimits, (cfg->nrlimits + 1) * sizeof(*rlimits));
	if (!rlimits)
		return error_set(err, ENOMEM, "out of memory");
	cfg->rlimits = rlimits;
	rlimits[cfg->nrlimits++] = rl;
	return 0;
}

int nook_microvm_config_set_workdir(nook_microvm_config *cfg, const char *dir)
{
	return str_replace(&cfg->workdir, dir);
}

int nook_microvm_config_set_exec_path(nook_microvm_config *cfg, const char *path)
{
	return str_replace(&cfg->exec_path, path);
}

int nook_microvm_config_add_arg(nook_microvm_config *cfg, const char *arg)
{
	return strv_push(&cfg->args, arg ? arg : "");
}

int nook_microvm_config_add_env(nook_microvm_config *cfg, const char *spec, nook_error **err)
{
	struct nook_env_pair pair;
	int r = nook_parse_env_pair(spec, &pair, err);
	if (r < 0)
		return r;
	struct nook_env_pair *env = realloc(cfg->env, (cfg->nenv + 1) * sizeof(*env));
	if (!env) {
		nook_env_pair_clear(&pair);
		return error_set(err, ENOMEM, "out of memory");
	}
	cfg->env = env;
	env[cfg->nenv++] = pair;
	return 0;
}

/* The lists the seed's builder replaces as a whole. */
enum microvm_list { LIST_MAPPED_DIRS, LIST_PORTS, LIST_RLIMITS, LIST_ARGS, LIST_ENV };

#define SWAP(a, b)                     \
	do {                               \
		__typeof__(a) tmp_ = (a);      \
		(a) = (b);                     \
		(b) = tmp_;                    \
	} while (0)

static void swap_list(nook_microvm_config *a, nook_microvm_config *b, enum microvm_list which)
{
	switch (which) {
	case LIST_MAPPED_DIRS:
		SWAP(a->dirs, b->dirs);
		SWAP(a->dir_specs, b->dir_specs);
		break;
	case LIST_PORTS:
		SWAP(a->ports, b->ports);
		SWAP(a->port_specs, b->port_specs);
		break;
	case LIST_RLIMITS:
		SWAP(a->rlimits, b->rlimits);
		SWAP(a->nrlimits, b->nrlimits);
		break;
	case LIST_ARGS:
		SWAP(a->args, b->args);
		break;
	case LIST_ENV:
		SWAP(a->env, b->env);
		SWAP(a->nenv, b->nenv);
		break;
	}
}

static int add_to_list(nook_microvm_config *cfg, enum microvm_list which, const char *spec,
		       nook_error **err)
{
	switch (which) {
	case LIST_MAPPED_DIRS:
		return nook_microvm_config_add_mapped_dir(cfg, spec, err);
	case LIST_PORTS:
		return nook_microvm_config_add_port(cfg, spec, err);
	case LIST_RLIMITS:
		return nook_microvm_config_add_rlimit(cfg, spec, err);
	case LIST_ENV:
		return nook_microvm_config_add_env(cfg, spec, err);
	case LIST_ARGS:
		break;
	}
	int r = nook_microvm_config_add_arg(cfg, spec);
	return r < 0 ? error_set(err, -r, "out of memory") : 0;
}

/* Builds the new list aside and swaps it in only when every entry parsed,
 * so a bad entry leaves the old list as it was. */
static int replace_list(nook_microvm_config *cfg, enum microvm_list which,
			const char *const *specs, nook_error **err)
{
	nook_microvm_config *aside = nook_microvm_config_new();
	if (!aside)
		return error_set(err, ENOMEM, "out of memory");
	int r = 0;
	for (size_t i = 0; r == 0 && specs && specs[i]; i++)
		r = add_to_list(aside, which, specs[i], err);
	if (r == 0)
		swap_list(cfg, aside, which);
	nook_microvm_config_free(aside);
	return r;
}

int nook_microvm_config_set_mapped_dirs(nook_microvm_config *cfg, const char *const *specs,
					nook_error **err)
{
	return replace_list(cfg, LIST_MAPPED_DIRS, specs, err);
}

int nook_microvm_config_set_ports(nook_microvm_config *cfg, const char *const *specs,
				  nook_error **err)
{
	return replace_list(cfg, LIST_PORTS, specs, err);
}

int nook_microvm_config_set_rlimits(nook_microvm_config *cfg, const char *const *specs,
				    nook_error **err)
{
	return replace_list(cfg, LIST_RLIMITS, specs, err);
}

int nook_microvm_config_set_args(nook_microvm_config *cfg, const char *const *args,
				 nook_error **err)
{
	return replace_list(cfg, LIST_ARGS, args, err);
}

int nook_microvm_config_set_envs(nook_microvm_config *cfg, const char *const *specs,
				 nook_error **err)
{
	return replace_list(cfg, LIST_ENV, specs, err);
}

int nook_microvm_config_set_console_output(nook_microvm_config *cfg, const char *path)
{
	return str_replace(&cfg->console_output, path);
}

void nook_microvm_config_get(const nook_microvm_config *cfg, struct nook_microvm_settings *out)
{
	*out = (struct nook_microvm_settings){
		.log_level = cfg->log_level,
		.rootfs_native = cfg->rootfs_native,
		.rootfs_layers = (const char *const *)cfg->layers.items,
		.nrootfs_layers = cfg->layers.n,
		.vcpus = cfg->vcpus,
		.memory_mib = cfg->memory_mib,
		.mapped_dirs = cfg->dirs,
		.nmapped_dirs = cfg->dir_specs.n,
		.ports = cfg->ports,
		.nports = cfg->port_specs.n,
		.scope = cfg->scope,
		.has_ip = cfg->has_ip,
		.ip = cfg->ip,
		.has_subnet = cfg->has_subnet,
		.subnet = cfg->subnet,
		.rlimits = cfg->rlimits,
		.nrlimits = cfg->nrlimits,
		.workdir = cfg->workdir,
		.exec_path = cfg->exec_path,
		.args = (const char *const *)cfg->args.items,
		.nargs = cfg->args.n,
		.env = cfg->env,
		.nenv = cfg->nenv,
		.console_output = cfg->console_output,
	};
}

/* ---- building ---- */

/* What only this layer requires: the low-level VM has a built-in rootfs
 * and would report a missing program in its own terms. Everything else is
 * checked once, by the VM configuration's validation. */
static int check_required(const nook_microvm_config *cfg, nook_error **err)
{
	if (!cfg->rootfs_set)
		return error_set(err, EINVAL,
				 "rootfs: not set (a native directory or overlay layers)");
	if (!cfg->exec_path || !*cfg->exec_path)
		return error_set(err, EINVAL, "exec path: not set (the program to run)");
	if (!cfg->rootfs_native && cfg->layers.n == 0)
		return error_set(err, EINVAL, "rootfs overlay: no layers");
	return 0;
}

/* A user-mode network device, filtered by the scope, when the sandbox
 * asks for a network: a scope other than none set explicitly, an ip, a
 * subnet or published ports. Otherwise the guest stays air-gapped. */
static int add_network(const nook_microvm_config *cfg, nook_vm_config *vc)
{
	if (!(cfg->scope_set && cfg->scope != NOOK_NETWORK_SCOPE_NONE) && !cfg->has_ip &&
	    !cfg->has_subnet && !cfg->port_specs.n)
		return 0;
	int r = nook_vm_config_add_net_user(vc);
	nook_vm_config_set_net_scope(vc, cfg->scope);
	if (cfg->has_ip)
		nook_vm_config_set_net_ipv4(vc, cfg->ip);
	if (cfg->has_subnet)
		nook_vm_config_set_net_subnet(vc, &cfg->subnet);
	for (size_t i = 0; r == 0 && i < cfg->port_specs.n; i++)
		r = nook_vm_config_add_net_port(vc, &cfg->ports[i]);
	return r;
}

/* The low-level configuration for what it can express. */
static int to_vm_config(const nook_microvm_config *cfg, nook_vm_config **out, nook_error **err)
{
	nook_vm_config *vc = nook_vm_config_new();
	if (!vc)
		return error_set(err, ENOMEM, "out of memory");
	nook_vm_config_set_log(vc, cfg->log_level, NULL, NULL);
	nook_vm_config_set_vcpus(vc, cfg->vcpus);
	nook_vm_config_set_memory_mib(vc, cfg->memory_mib);
	int r = 0;
	if (cfg->rootfs_native)
		r = nook_vm_config_add_fs_root(vc, cfg->rootfs_native);
	else
		r = nook_vm_config_set_fs_root_overlay(vc, (const char *const *)cfg->layers.items,
						       cfg->layers.n);
	for (size_t i = 0; r == 0 && i < cfg->dir_specs.n; i++)
		r = nook_vm_config_add_fs_volume(vc, cfg->dirs[i].host, cfg->dirs[i].guest,
						 cfg->dirs[i].read_only);
	if (r == 0)
		r = nook_vm_config_set_exec_path(vc, cfg->exec_path);
	for (size_t i = 0; r == 0 && i < cfg->args.n; i++)
		r = nook_vm_config_add_arg(vc, cfg->args.items[i]);
	for (size_t i = 0; r == 0 && i < cfg->nenv; i++)
		r = nook_vm_config_add_env_pair(vc, cfg->env[i].key, cfg->env[i].value);
	if (r == 0 && cfg->workdir)
		r = nook_vm_config_set_workdir(vc, cfg->workdir);
	for (size_t i = 0; r == 0 && i < cfg->nrlimits; i++)
		r = nook_vm_config_add_rlimit(vc, cfg->rlimits[i].resource, cfg->rlimits[i].soft,
					      cfg->rlimits[i].hard);
	if (r == 0 && cfg->console_output)
		r = nook_vm_config_set_console_output(vc, cfg->console_output);
	if (r == 0)
		r = add_network(cfg, vc);
	if (r < 0) {
		nook_vm_config_free(vc);
		return error_set(err, -r, "%s", strerror(-r));
	}
	*out = vc;
	return 0;
}

int nook_microvm_build(const nook_microvm_config *cfg, nook_vm **vm, nook_error **err)
{
	*vm = NULL;
	int r = check_required(cfg, err);
	nook_vm_config *vc = NULL;
	if (r == 0)
		r = to_vm_config(cfg, &vc, err);
	if (r == 0 && (r = nook_vm_build(vc, vm, err)) < 0)
		error_prefix(err, "microvm");
	nook_vm_config_free(vc);
	return r;
}
