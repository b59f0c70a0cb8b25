/* The low-level VM API: boot the built-in kernel and rootfs, run one
 * command, and exit with its status.
 *   vm_hello [PROGRAM [ARG...]]      (default: echo hello from a microVM) */
#include <stdio.h>

#include <nook/vm.h>

int main(int argc, char **argv)
{
	nook_vm_config *cfg = nook_vm_config_new();
	if (!cfg)
		return 125;
	nook_vm_config_set_vcpus(cfg, 1);
	nook_vm_config_set_memory_mib(cfg, 256);
	if (argc > 1) {
		nook_vm_config_set_exec_path(cfg, argv[1]);
		for (int i = 2; i < argc; i++)
			nook_vm_config_add_arg(cfg, argv[i]);
	} else {
		nook_vm_config_set_exec_path(cfg, "/bin/echo");
		nook_vm_config_add_arg(cfg, "hello from a microVM");
	}

	nook_error *err = NULL;
	nook_vm *vm = NULL;
	int status = nook_vm_build(cfg, &vm, &err);
	nook_vm_config_free(cfg);
	if (status == 0)
		status = nook_vm_start(vm, &err);
	if (status == 0)
		status = nook_vm_wait(vm, &err);
	nook_vm_free(vm);
	if (status < 0) {
		fprintf(stderr, "vm_hello: %s\n", nook_error_message(err));
		nook_error_free(err);
		return 125;
	}
	return status;
}
