/* Setters of the public nook_vm_config; checking happens in nook_vm_build(). */
#include "vm/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nook_vm_config *nook_vm_config_new(void)
{
	nook_vm_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->vcpus = NOOK_DEFAULT_VCPUS;
	cfg->memory_mib = NOOK_DEFAULT_MEMORY_MIB;
	cfg->pvm = NOOK_PVM_AUTO;
	cfg->stdio[0] = 0;
	cfg->stdio[1] = 1;
	cfg->stdio[2] = 2;
	return cfg;
}

void nook_vm_config_free(nook_vm_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->cmdline);
	free(cfg->kernel_path);
	free(cfg->initramfs_path);
	free(cfg->init_path);
	free(cfg->exec_path);
	strv_free(&cfg->args);
	strv_free(&cfg->env);
	free(cfg->workdir);
	free(cfg->rlimits);
	free(cfg->console_output);
	free(cfg);
}

void nook_vm_config_set_vcpus(nook_vm_config *cfg, unsigned vcpus)
{
	cfg->vcpus = vcpus;
}

void nook_vm_config_set_memory_mib(nook_vm_config *cfg, uint64_t mib)
{
	cfg->memory_mib = mib;
}

void nook_vm_config_set_pvm_mode(nook_vm_config *cfg, enum nook_pvm_mode mode)
{
	cfg->pvm = mode;
}

int nook_vm_config_append_cmdline(nook_vm_config *cfg, const char *text)
{
	if (!cfg->cmdline)
		return str_replace(&cfg->cmdline, text);
	char *joined;
	if (asprintf(&joined, "%s %s", cfg->cmdline, text) < 0)
		return -ENOMEM;
	free(cfg->cmdline);
	cfg->cmdline = joined;
	return 0;
}

int nook_vm_config_set_kernel_path(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->kernel_path, path);
}

int nook_vm_config_set_initramfs_path(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->initramfs_path, path);
}

int nook_vm_config_set_init_path(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->init_path, path);
}

int nook_vm_config_set_exec_path(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->exec_path, path);
}

int nook_vm_config_add_arg(nook_vm_config *cfg, const char *arg)
{
	return strv_push(&cfg->args, arg);
}

int nook_vm_config_add_env(nook_vm_config *cfg, const char *key_value)
{
	return strv_push(&cfg->env, key_value);
}

int nook_vm_config_set_workdir(nook_vm_config *cfg, const char *dir)
{
	return str_replace(&cfg->workdir, dir);
}

int nook_vm_config_add_rlimit(nook_vm_config *cfg, int resource, uint64_t soft, uint64_t hard)
{
	struct vm_rlimit *r = realloc(cfg->rlimits, (cfg->nrlimits + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	cfg->rlimits = r;
	r[cfg->nrlimits++] = (struct vm_rlimit){resource, soft, hard};
	return 0;
}

int nook_vm_config_set_console_output(nook_vm_config *cfg, const char *path)
{
	return str_replace(&cfg->console_output, path);
}

void nook_vm_config_set_stdio(nook_vm_config *cfg, int in_fd, int out_fd, int err_fd)
{
	cfg->stdio[0] = in_fd;
	cfg->stdio[1] = out_fd;
	cfg->stdio[2] = err_fd;
}

void nook_vm_config_set_log(nook_vm_config *cfg, enum nook_log_level level, nook_log_fn fn,
			    void *userdata)
{
	cfg->log_level = level;
	cfg->log_fn = fn;
	cfg->log_userdata = userdata;
}
