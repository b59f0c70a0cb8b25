/* The high-level MicroVm API: a sandbox described the way microsandbox does
 * (rootfs, mapped directories, ports, network scope, limits), checked by
 * nook_microvm_build(). It prints the settings and what building says; it
 * starts nothing.
 *   microvm_config ROOTFS_DIR */
#include <stdio.h>

#include <nook/microvm.h>

static int fail(const char *what, nook_error *err)
{
	fprintf(stderr, "microvm_config: %s: %s\n", what, nook_error_message(err));
	nook_error_free(err);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: microvm_config ROOTFS_DIR\n");
		return 2;
	}
	nook_microvm_config *cfg = nook_microvm_config_new();
	nook_error *err = NULL;
	if (!cfg)
		return 1;
	nook_microvm_config_set_rootfs_native(cfg, argv[1]);
	nook_microvm_config_set_vcpus(cfg, 2);
	nook_microvm_config_set_memory_mib(cfg, 512);
	nook_microvm_config_set_exec_path(cfg, "/bin/sh");
	nook_microvm_config_add_arg(cfg, "-c");
	nook_microvm_config_add_arg(cfg, "echo hi");
	if (nook_microvm_config_add_env(cfg, "GREETING=hello", &err) < 0)
		return fail("env", err);
	if (nook_microvm_config_add_rlimit(cfg, "RLIMIT_NOFILE=1024:2048", &err) < 0)
		return fail("rlimit", err);
	if (nook_microvm_config_add_port(cfg, "8080:80", &err) < 0)
		return fail("port", err);

	struct nook_microvm_settings s;
	nook_microvm_config_get(cfg, &s);
	printf("vcpus=%u memory=%llu MiB scope=%s ports=%zu rlimits=%zu\n", s.vcpus,
	       (unsigned long long)s.memory_mib, nook_network_scope_name(s.scope), s.nports,
	       s.nrlimits);

	nook_vm *vm = NULL;
	if (nook_microvm_build(cfg, &vm, &err) == 0) {
		printf("built\n");
		nook_vm_free(vm);
	} else {
		printf("build: %s\n", nook_error_message(err));
		nook_error_free(err);
	}
	nook_microvm_config_free(cfg);
	return 0;
}
