/* The fs, disk and net parts of the low-level VM API: share a host
 * directory read-only at /data, attach a disk image read-only, give the
 * guest user-mode networking with guest port 80 published on host port
 * 8080, and run a shell command that looks at all three.
 *   vm_devices DIR DISK_IMAGE */
#include <stdio.h>

#include <nook/parse.h>
#include <nook/vm.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: vm_devices DIR DISK_IMAGE\n");
		return 2;
	}
	nook_vm_config *cfg = nook_vm_config_new();
	if (!cfg)
		return 125;
	nook_error *err = NULL;
	struct nook_port_pair port;
	if (nook_parse_port_pair("8080:80", &port, &err) < 0) {
		fprintf(stderr, "vm_devices: %s\n", nook_error_message(err));
		nook_error_free(err);
		return 125;
	}
	int status = 0;

	/* Fs: the share's settings come first, then the share they apply to. */
	status |= nook_vm_config_set_fs_mount_point(cfg, "/data");
	nook_vm_config_set_fs_read_only(cfg, true);
	status |= nook_vm_config_add_fs_path(cfg, argv[1]);

	/* Disk: add it, then set its id and options. */
	status |= nook_vm_config_add_disk(cfg, argv[2]);
	status |= nook_vm_config_set_disk_id(cfg, "data");
	nook_vm_config_set_disk_read_only(cfg, true);
	nook_vm_config_set_disk_format(cfg, NOOK_DISK_FORMAT_RAW);

	/* Net: libslirp NAT, public destinations only, one published port. */
	status |= nook_vm_config_add_net_user(cfg);
	nook_vm_config_set_net_scope(cfg, NOOK_NETWORK_SCOPE_PUBLIC);
	status |= nook_vm_config_add_net_port(cfg, &port);

	status |= nook_vm_config_set_exec_path(cfg, "/bin/sh");
	status |= nook_vm_config_add_arg(cfg, "-c");
	status |= nook_vm_config_add_arg(cfg, "ls /data; ls /dev/disk/by-id; ip addr show eth0");
	/* The setters fail only for out-of-memory or malformed values (all
	 * negative errnos, so any failure leaves status negative). */
	if (status < 0) {
		fprintf(stderr, "vm_devices: cannot configure the VM\n");
		nook_vm_config_free(cfg);
		return 125;
	}

	nook_vm *vm = NULL;
	status = nook_vm_build(cfg, &vm, &err);
	nook_vm_config_free(cfg);
	if (status == 0)
		status = nook_vm_start(vm, &err);
	if (status == 0)
		status = nook_vm_wait(vm, &err);
	nook_vm_free(vm);
	if (status < 0) {
		fprintf(stderr, "vm_devices: %s\n", nook_error_message(err));
		nook_error_free(err);
		return 125;
	}
	return status;
}
