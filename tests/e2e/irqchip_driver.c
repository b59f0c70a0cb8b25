/* A small `nook run` through the public API, for test_e2e_irqchip.sh until
 * the CLI has --split-irqchip:
 *   irqchip_driver [-s] [-r] [-k KERNEL_LOG] [-d DISK]... [-v HOST:GUEST]...
 *                  -- PROGRAM [ARG]...
 * -s turns the split irqchip on; -r boots cold and replaces the machine's
 * snapshot (else a snapshot is used as usual); disks are raw and
 * read-only, volumes read-only. The program's stdio is this process's. Exits with the
 * program's status, or 125 (with the error on stderr) when the VM cannot
 * be built, 1 when it ends any other way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nook/vm.h>

static int fail(nook_vm_config *cfg, nook_error *err, const char *what, int status)
{
	fprintf(stderr, "irqchip_driver: %s: %s\n", what, err ? nook_error_message(err) : "bad option");
	nook_error_free(err);
	nook_vm_config_free(cfg);
	return status;
}

int main(int argc, char **argv)
{
	nook_vm_config *cfg = nook_vm_config_new();
	nook_error *err = NULL;
	int opt;
	if (!cfg)
		return 1;
	while ((opt = getopt(argc, argv, "srk:d:v:")) != -1) {
		int r = 0;
		char *colon;
		switch (opt) {
		case 's':
			nook_vm_config_set_split_irqchip(cfg, true);
			break;
		case 'r':
			nook_vm_config_set_snapshot_mode(cfg, NOOK_SNAPSHOT_REFRESH);
			break;
		case 'k':
			r = nook_vm_config_set_kernel_log(cfg, optarg);
			break;
		case 'd':
			nook_vm_config_set_disk_read_only(cfg, true);
			r = nook_vm_config_add_disk(cfg, optarg);
			break;
		case 'v':
			if (!(colon = strchr(optarg, ':')))
				return fail(cfg, NULL, optarg, 125);
			*colon = '\0';
			r = nook_vm_config_add_fs_volume(cfg, optarg, colon + 1, true);
			break;
		default:
			return fail(cfg, NULL, "usage", 125);
		}
		if (r < 0)
			return fail(cfg, NULL, optarg, 125);
	}
	if (optind >= argc)
		return fail(cfg, NULL, "no program", 125);
	nook_vm_config_set_exec_path(cfg, argv[optind]);
	nook_vm_config_set_args(cfg, (const char *const *)argv + optind + 1);
	nook_vm_config_set_stdio(cfg, 0, 1, 2);
	nook_vm_config_set_log(cfg, NOOK_LOG_INFO, NULL, NULL);
	nook_vm *vm = NULL;
	if (nook_vm_build(cfg, &vm, &err) < 0)
		return fail(cfg, err, "build", 125);
	int status = nook_vm_start(vm, &err);
	if (status == 0)
		status = nook_vm_wait(vm, &err);
	if (status < 0) {
		fprintf(stderr, "irqchip_driver: %s\n", nook_error_message(err));
		nook_error_free(err);
		status = 1;
	}
	nook_vm_free(vm);
	nook_vm_config_free(cfg);
	return status;
}
