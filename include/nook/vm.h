/* nook: the low-level VM API.
 *
 * A nook_vm_config collects what the VM should be; nook_vm_build() checks it
 * and assembles the VM (kernel loaded, devices created, nothing running);
 * nook_vm_start() runs it on its own threads and returns; nook_vm_wait()
 * waits for the guest program's exit status; nook_vm_free() releases it,
 * stopping it first if needed. Several VMs may live in one process. The
 * library never exits the process and prints nothing unless a log level or
 * callback asks for it.
 *
 * Threads and signals: each VM runs one thread per vCPU plus an I/O thread;
 * libnook interrupts vCPU threads with signal SIGRTMIN+7, for which it
 * installs an empty handler.
 */
#ifndef NOOK_VM_H
#define NOOK_VM_H

#include <stdint.h>

#include <nook/error.h>
#include <nook/log.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nook_vm_config nook_vm_config;
typedef struct nook_vm nook_vm;

/* Whether to turn on the accommodations for PVM hosts (CPUID masking and the
 * guest kernel's nook.pvm flag). AUTO: when /sys/module/kvm_pvm exists. */
enum nook_pvm_mode { NOOK_PVM_AUTO, NOOK_PVM_ON, NOOK_PVM_OFF };

/* Defaults: 1 vCPU, 512 MiB, the built-in kernel and rootfs, no program. */
nook_vm_config *nook_vm_config_new(void);
void nook_vm_config_free(nook_vm_config *cfg);

/* Machine. Values are checked by nook_vm_build(). */
void nook_vm_config_set_vcpus(nook_vm_config *cfg, unsigned vcpus);
void nook_vm_config_set_memory_mib(nook_vm_config *cfg, uint64_t mib);
void nook_vm_config_set_pvm_mode(nook_vm_config *cfg, enum nook_pvm_mode mode);

/* Kernel. append_cmdline adds to the command line, separated by a space.
 * The initramfs replaces the built-in rootfs archive (a cpio "newc"
 * archive); nook-init is added to it. init_path makes the kernel start
 * that program as PID 1 instead of nook-init (default /init.nook). */
int nook_vm_config_append_cmdline(nook_vm_config *cfg, const char *text);
int nook_vm_config_set_kernel_path(nook_vm_config *cfg, const char *path);
int nook_vm_config_set_initramfs_path(nook_vm_config *cfg, const char *path);
int nook_vm_config_set_init_path(nook_vm_config *cfg, const char *path);

/* Exec: the program nook-init runs. The path is absolute or a name looked up
 * in the guest's PATH. env entries are "KEY=VALUE". rlimit resources are
 * RLIMIT_* numbers; UINT64_MAX means unlimited. */
int nook_vm_config_set_exec_path(nook_vm_config *cfg, const char *path);
int nook_vm_config_add_arg(nook_vm_config *cfg, const char *arg);
int nook_vm_config_add_env(nook_vm_config *cfg, const char *key_value);
int nook_vm_config_set_workdir(nook_vm_config *cfg, const char *dir);
int nook_vm_config_add_rlimit(nook_vm_config *cfg, int resource, uint64_t soft, uint64_t hard);

/* Console. The kernel log goes to console_output (a file, created or
 * truncated) or nowhere. The program's stdin, stdout and stderr are these
 * host fds (default 0, 1, 2; -1: none); the VM does not close them. */
int nook_vm_config_set_console_output(nook_vm_config *cfg, const char *path);
void nook_vm_config_set_stdio(nook_vm_config *cfg, int in_fd, int out_fd, int err_fd);

/* Logging: messages at or above `level` go to `fn` (or stderr if NULL). */
void nook_vm_config_set_log(nook_vm_config *cfg, enum nook_log_level level, nook_log_fn fn,
			    void *userdata);

/* Checks the configuration and assembles the VM. */
int nook_vm_build(const nook_vm_config *cfg, nook_vm **vm, nook_error **err);
/* Starts the vCPUs and the I/O thread; returns at once. */
int nook_vm_start(nook_vm *vm, nook_error **err);
/* Waits until the VM ends. Returns the program's exit status (0..255; 128+N
 * when killed by signal N), or a negative errno with *err set when the VM
 * ended any other way (guest crash, reboot, KVM error, init failure). */
int nook_vm_wait(nook_vm *vm, nook_error **err);
/* Asks the VM to end; nook_vm_wait() then returns -ECANCELED. */
void nook_vm_stop(nook_vm *vm);
void nook_vm_free(nook_vm *vm);

/* Milliseconds from nook_vm_build() to each boot phase; negative when the
 * phase was not reached. first_run_ns is the CLOCK_MONOTONIC time of the
 * first KVM_RUN, for measuring from outside the process. */
struct nook_boot_times {
	double first_kvm_run_ms; /* VMM set up, guest starts */
	double userspace_ms;     /* kernel booted, nook-init runs */
	double program_ms;       /* nook-init set up, the program starts */
	double exit_ms;          /* the program exited */
	uint64_t first_run_ns;
};
void nook_vm_get_boot_times(const nook_vm *vm, struct nook_boot_times *times);

#ifdef __cplusplus
}
#endif
#endif
