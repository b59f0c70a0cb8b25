/* Unit tests for the low-level VM configuration (vm/config.c): defaults equal
 * to the reference builder's, what each setter records (including the
 * "applies to the next mount/device/disk" state), disk ids, and every error
 * of the checks nook_vm_build() runs. No VM is built or started; the checks
 * open /dev/kvm only to ask for the vCPU limit (skipped without it).
 * Set NOOK_TEST_VERBOSE=1 to print every error message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nook/parse.h>
#include <nook/vm.h>

#include "vm/config.h"

static bool verbose;
static char tmp_dir[64];     /* a directory of our own */
static char tmp_root[128];   /* tmp_dir/root: a directory */
static char tmp_file[128];   /* tmp_dir/file: a regular file */
static char tmp_disk2[128];  /* tmp_dir/disk2: another one */
#define MISSING "/nonexistent-nook-test/missing"

static int group_setup(void **state)
{
	(void)state;
	verbose = getenv("NOOK_TEST_VERBOSE") != NULL;
	strcpy(tmp_dir, "/tmp/nook-test-vmcfg-XXXXXX");
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(tmp_root, sizeof(tmp_root), "%s/root", tmp_dir);
	snprintf(tmp_file, sizeof(tmp_file), "%s/file", tmp_dir);
	snprintf(tmp_disk2, sizeof(tmp_disk2), "%s/disk2", tmp_dir);
	if (mkdir(tmp_root, 0755) < 0)
		return -1;
	const char *files[] = {tmp_file, tmp_disk2};
	for (size_t i = 0; i < 2; i++) {
		int fd = open(files[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, "x", 1) != 1)
			return -1;
		close(fd);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(tmp_file);
	unlink(tmp_disk2);
	rmdir(tmp_root);
	rmdir(tmp_dir);
	return 0;
}

static nook_vm_config *new_config(void)
{
	nook_vm_config *cfg = nook_vm_config_new();
	assert_non_null(cfg);
	return cfg;
}

/* A configuration that passes every check: a program to run. */
static nook_vm_config *valid_config(void)
{
	nook_vm_config *cfg = new_config();
	assert_int_equal(nook_vm_config_set_exec_path(cfg, "/bin/true"), 0);
	return cfg;
}

static void skip_without_kvm(void)
{
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		skip();
}

/* ------------------------------------------------------------------------
 * Defaults and setters
 * ------------------------------------------------------------------------ */

static void test_defaults(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	/* machine, as the reference MachineBuilder::new() */
	assert_int_equal(cfg->vcpus, 1);
	assert_int_equal(cfg->memory_mib, 512);
	assert_false(cfg->hyperthreading);
	assert_false(cfg->nested_virt);
	assert_false(cfg->split_irqchip);
	assert_false(cfg->vsock);
	assert_true(cfg->balloon);
	assert_int_equal(cfg->balloon_stats_ms, 1000);
	assert_true(cfg->rng);
	assert_true(cfg->metrics);
	assert_false(cfg->inet_hijack);
	assert_int_equal(cfg->pvm, NOOK_PVM_AUTO);
	/* kernel, exec */
	assert_null(cfg->cmdline);
	assert_null(cfg->kernel_path);
	assert_null(cfg->initramfs_path);
	assert_null(cfg->init_path);
	assert_null(cfg->exec_path);
	assert_int_equal(cfg->args.n, 0);
	assert_int_equal(cfg->env.n, 0);
	assert_null(cfg->workdir);
	assert_int_equal(cfg->nrlimits, 0);
	/* fs, net, console, disk */
	assert_int_equal(cfg->nfs, 0);
	assert_false(cfg->fs_next_set);
	assert_int_equal(cfg->nnet, 0);
	assert_false(cfg->net_next_set);
	assert_false(cfg->disk_next_set);
	assert_null(cfg->console_output);
	assert_int_equal(cfg->nports, 0);
	assert_false(cfg->implicit_console_disabled);
	assert_int_equal(cfg->stdio[0], 0);
	assert_int_equal(cfg->stdio[1], 1);
	assert_int_equal(cfg->stdio[2], 2);
	assert_int_equal(cfg->ndisks, 0);
	assert_int_equal(cfg->log_level, NOOK_LOG_OFF);
	nook_vm_config_free(cfg);
	nook_vm_config_free(NULL);
}

/* The reference's own test: the metrics device defaults on and toggles. */
static void test_metrics_toggle(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	assert_true(cfg->metrics);
	nook_vm_config_set_metrics(cfg, false);
	assert_false(cfg->metrics);
	nook_vm_config_set_metrics(cfg, true);
	assert_true(cfg->metrics);
	nook_vm_config_free(cfg);
}

static void test_machine_setters(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	nook_vm_config_set_vcpus(cfg, 4);
	nook_vm_config_set_memory_mib(cfg, 2048);
	nook_vm_config_set_hyperthreading(cfg, true);
	nook_vm_config_set_nested_virt(cfg, true);
	nook_vm_config_set_split_irqchip(cfg, true);
	nook_vm_config_set_vsock(cfg, true);
	nook_vm_config_set_balloon(cfg, false);
	nook_vm_config_set_balloon_stats_interval_ms(cfg, 0);
	nook_vm_config_set_rng(cfg, false);
	nook_vm_config_set_inet_hijack(cfg, true);
	nook_vm_config_set_pvm_mode(cfg, NOOK_PVM_OFF);
	assert_int_equal(cfg->vcpus, 4);
	assert_int_equal(cfg->memory_mib, 2048);
	assert_true(cfg->hyperthreading && cfg->nested_virt && cfg->split_irqchip && cfg->vsock);
	assert_false(cfg->balloon);
	assert_int_equal(cfg->balloon_stats_ms, 0);
	assert_false(cfg->rng);
	assert_true(cfg->inet_hijack);
	assert_int_equal(cfg->pvm, NOOK_PVM_OFF);
	nook_vm_config_free(cfg);
}

static void test_kernel_setters(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	assert_int_equal(nook_vm_config_append_cmdline(cfg, "debug"), 0);
	assert_string_equal(cfg->cmdline, "debug");
	assert_int_equal(nook_vm_config_append_cmdline(cfg, "quiet loglevel=3"), 0);
	assert_string_equal(cfg->cmdline, "debug quiet loglevel=3");
	assert_int_equal(nook_vm_config_set_kernel_path(cfg, "/k/vmlinux"), 0);
	assert_int_equal(nook_vm_config_set_initramfs_path(cfg, "/k/initrd"), 0);
	assert_int_equal(nook_vm_config_set_init_path(cfg, "/sbin/init"), 0);
	assert_string_equal(cfg->kernel_path, "/k/vmlinux");
	assert_string_equal(cfg->initramfs_path, "/k/initrd");
	assert_string_equal(cfg->init_path, "/sbin/init");
	nook_vm_config_free(cfg);
}

static ssize_t fs_request(void *opaque, const struct iovec *in, size_t nin,
			  const struct iovec *out, size_t nout)
{
	(void)opaque, (void)in, (void)nin, (void)out, (void)nout;
	return -ENOSYS;
}

static void test_fs_root_and_auto_tags(void **state)
{
	(void)state;
	/* Untagged mounts are named after their position: fs0, fs1, ... */
	nook_vm_config *cfg = new_config();
	assert_int_equal(nook_vm_config_add_fs_path(cfg, "/a"), 0);
	assert_int_equal(nook_vm_config_add_fs_path(cfg, "/b"), 0);
	assert_int_equal(nook_vm_config_set_fs_tag(cfg, "data"), 0);
	assert_int_equal(nook_vm_config_add_fs_path(cfg, "/c"), 0);
	assert_int_equal(nook_vm_config_add_fs_path(cfg, "/d"), 0);
	assert_int_equal(cfg->nfs, 4);
	const char *tags[] = {"fs0", "fs1", "data", "fs3"};
	const char *paths[] = {"/a", "/b", "/c", "/d"};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(cfg->fs[i].kind, VM_FS_PATH);
		assert_string_equal(cfg->fs[i].tag, tags[i]);
		assert_string_equal(cfg->fs[i].path, paths[i]);
		assert_int_equal(cfg->fs[i].shm_size, 0);
	}
	nook_vm_config_free(cfg);

	/* The root is "/dev/root", counts as an entry, and leaves the pending
	 * tag for the next mount. */
	cfg = new_config();
	assert_int_equal(nook_vm_config_set_fs_tag(cfg, "logs"), 0);
	assert_int_equal(nook_vm_config_add_fs_root(cfg, "/rootfs"), 0);
	assert_int_equal(nook_vm_config_add_fs_path(cfg, "/host/logs"), 0);
	assert_int_equal(nook_vm_config_add_fs_path(cfg, "/host/other"), 0);
	assert_string_equal(cfg->fs[0].tag, "/dev/root");
	assert_string_equal(cfg->fs[0].path, "/rootfs");
	assert_string_equal(cfg->fs[1].tag, "logs");
	assert_string_equal(cfg->fs[2].tag, "fs2");
	nook_vm_config_free(cfg);
}

static void test_fs_shm_next_mount_only(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	nook_vm_config_set_fs_shm_size(cfg, 1 << 30);
	/* The next share, custom or not, takes every pending setting. */
	assert_int_equal(nook_vm_config_set_fs_tag(cfg, "myfs"), 0);
	struct nook_fs_backend be = {.request = fs_request};
	int token;
	assert_int_equal(nook_vm_config_add_fs_custom(cfg, &be, &token), 0);
	assert_int_equal(nook_vm_config_add_fs_path(cfg, "/data"), 0);
	assert_int_equal(nook_vm_config_add_fs_path(cfg, "/more"), 0);
	assert_int_equal(cfg->nfs, 3);
	assert_int_equal(cfg->fs[0].kind, VM_FS_CUSTOM);
	assert_string_equal(cfg->fs[0].tag, "myfs");
	assert_ptr_equal(cfg->fs[0].backend.request, fs_request);
	assert_ptr_equal(cfg->fs[0].opaque, &token);
	assert_int_equal(cfg->fs[0].shm_size, 1 << 30);
	assert_string_equal(cfg->fs[1].tag, "fs1");
	assert_int_equal(cfg->fs[1].shm_size, 0);
	assert_int_equal(cfg->fs[2].shm_size, 0);
	assert_false(cfg->fs_next_set);
	nook_vm_config_free(cfg);
}

static int net_send(void *opaque, const void *frame, size_t len)
{
	(void)opaque, (void)frame, (void)len;
	return 0;
}

static ssize_t net_recv(void *opaque, void *buf, size_t size)
{
	(void)opaque, (void)buf, (void)size;
	return -EAGAIN;
}

static int net_poll_fd(void *opaque)
{
	(void)opaque;
	return -1;
}

static void test_net_devices_and_mac(void **state)
{
	(void)state;
	static const uint8_t mac1[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	static const uint8_t mac2[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
	nook_vm_config *cfg = new_config();
	nook_vm_config_set_net_mac(cfg, mac1);
	assert_int_equal(nook_vm_config_add_net_unixgram_fd(cfg, 7), 0);
	assert_int_equal(nook_vm_config_add_net_unixgram_path(cfg, "/run/gv.sock", true), 0);
	nook_vm_config_set_net_mac(cfg, mac2);
	assert_int_equal(nook_vm_config_add_net_unixstream_fd(cfg, 8), 0);
	assert_int_equal(nook_vm_config_add_net_unixstream_path(cfg, "/run/passt.sock"), 0);
	assert_int_equal(nook_vm_config_add_net_tap(cfg, "tap0"), 0);
	struct nook_net_backend be = {net_send, net_recv, net_poll_fd};
	int token;
	assert_int_equal(nook_vm_config_add_net_custom(cfg, &be, &token), 0);
	assert_int_equal(cfg->nnet, 6);

	static const struct {
		enum vm_net_kind kind;
		int fd;
		const char *path;
		bool vfkit;
		const uint8_t *mac;
	} want[] = {
		{VM_NET_UNIXGRAM_FD, 7, NULL, false, mac1},
		{VM_NET_UNIXGRAM_PATH, -1, "/run/gv.sock", true, NULL},
		{VM_NET_UNIXSTREAM_FD, 8, NULL, false, mac2},
		{VM_NET_UNIXSTREAM_PATH, -1, "/run/passt.sock", false, NULL},
		{VM_NET_TAP, -1, "tap0", false, NULL},
		{VM_NET_CUSTOM, -1, NULL, false, NULL},
	};
	for (size_t i = 0; i < 6; i++) {
		const struct vm_net *n = &cfg->net[i];
		assert_int_equal(n->kind, want[i].kind);
		assert_int_equal(n->fd, want[i].fd);
		if (want[i].path)
			assert_string_equal(n->path, want[i].path);
		else
			assert_null(n->path);
		assert_int_equal(n->vfkit_magic, want[i].vfkit);
		/* The MAC applies to the next device only. */
		assert_int_equal(n->has_mac, want[i].mac != NULL);
		if (want[i].mac)
			assert_memory_equal(n->mac, want[i].mac, 6);
	}
	assert_ptr_equal(cfg->net[5].backend.send, net_send);
	assert_ptr_equal(cfg->net[5].backend.recv, net_recv);
	assert_ptr_equal(cfg->net[5].backend.poll_fd, net_poll_fd);
	assert_ptr_equal(cfg->net[5].opaque, &token);
	assert_false(cfg->net_next_set);
	nook_vm_config_free(cfg);
}

static ssize_t port_read(void *opaque, void *buf, size_t size)
{
	(void)opaque, (void)buf, (void)size;
	return 0;
}

static ssize_t port_write(void *opaque, const void *buf, size_t len)
{
	(void)opaque, (void)buf;
	return (ssize_t)len;
}

static void test_console_setters(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	assert_int_equal(nook_vm_config_set_console_output(cfg, "/tmp/vm.log"), 0);
	assert_int_equal(nook_vm_config_add_console_port(cfg, "agent", 5, 6), 0);
	assert_int_equal(nook_vm_config_add_console_tty(cfg, "shell", 9), 0);
	struct nook_console_port_backend be = {port_read, port_write};
	int token;
	assert_int_equal(nook_vm_config_add_console_custom(cfg, "rpc", &be, &token), 0);
	nook_vm_config_disable_implicit_console(cfg);
	nook_vm_config_set_stdio(cfg, -1, 4, 5);

	assert_string_equal(cfg->console_output, "/tmp/vm.log");
	assert_int_equal(cfg->nports, 3);
	assert_int_equal(cfg->ports[0].kind, VM_PORT_FDS);
	assert_string_equal(cfg->ports[0].name, "agent");
	assert_int_equal(cfg->ports[0].in_fd, 5);
	assert_int_equal(cfg->ports[0].out_fd, 6);
	assert_int_equal(cfg->ports[1].kind, VM_PORT_TTY);
	assert_string_equal(cfg->ports[1].name, "shell");
	assert_int_equal(cfg->ports[1].in_fd, 9);
	assert_int_equal(cfg->ports[2].kind, VM_PORT_CUSTOM);
	assert_ptr_equal(cfg->ports[2].backend.read, port_read);
	assert_ptr_equal(cfg->ports[2].backend.write, port_write);
	assert_ptr_equal(cfg->ports[2].opaque, &token);
	assert_true(cfg->implicit_console_disabled);
	assert_int_equal(cfg->stdio[0], -1);
	assert_int_equal(cfg->stdio[1], 4);
	assert_int_equal(cfg->stdio[2], 5);
	nook_vm_config_free(cfg);
}

static void test_exec_setters(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	assert_int_equal(nook_vm_config_set_exec_path(cfg, "/bin/myapp"), 0);
	assert_int_equal(nook_vm_config_add_arg(cfg, "old"), 0);
	const char *args[] = {"--flag", "value", NULL};
	assert_int_equal(nook_vm_config_set_args(cfg, args), 0);
	assert_int_equal(nook_vm_config_add_arg(cfg, "last"), 0);
	assert_int_equal(nook_vm_config_add_env_pair(cfg, "HOME", "/root"), 0);
	assert_int_equal(nook_vm_config_add_env(cfg, "LANG=en_US.UTF-8"), 0);
	const char *envs[] = {"A=1", "B=", NULL};
	assert_int_equal(nook_vm_config_add_envs(cfg, envs), 0);
	assert_int_equal(nook_vm_config_add_env_pair(cfg, "EMPTY", NULL), 0);
	assert_int_equal(nook_vm_config_add_env_pair(cfg, "", "x"), -EINVAL);
	assert_int_equal(nook_vm_config_add_env_pair(cfg, "A=B", "x"), -EINVAL);
	assert_int_equal(nook_vm_config_set_workdir(cfg, "/app"), 0);
	assert_int_equal(nook_vm_config_add_rlimit(cfg, RLIMIT_NOFILE, 1024, 4096), 0);
	assert_int_equal(nook_vm_config_add_rlimit(cfg, RLIMIT_CORE, 0, UINT64_MAX), 0);

	assert_string_equal(cfg->exec_path, "/bin/myapp");
	const char *want_args[] = {"--flag", "value", "last"};
	assert_int_equal(cfg->args.n, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(cfg->args.items[i], want_args[i]);
	assert_null(cfg->args.items[3]);
	const char *want_env[] = {"HOME=/root", "LANG=en_US.UTF-8", "A=1", "B=", "EMPTY="};
	assert_int_equal(cfg->env.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(cfg->env.items[i], want_env[i]);
	assert_string_equal(cfg->workdir, "/app");
	assert_int_equal(cfg->nrlimits, 2);
	assert_int_equal(cfg->rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(cfg->rlimits[0].soft, 1024);
	assert_int_equal(cfg->rlimits[0].hard, 4096);
	assert_true(cfg->rlimits[1].hard == UINT64_MAX);
	/* set_args(NULL) clears. */
	assert_int_equal(nook_vm_config_set_args(cfg, NULL), 0);
	assert_int_equal(cfg->args.n, 0);
	nook_vm_config_free(cfg);
}

static void assert_disk(const struct vm_disk *d, const char *path, const char *id, bool ro,
			enum nook_disk_format format, enum nook_disk_cache cache, bool direct,
			enum nook_disk_sync sync)
{
	assert_string_equal(d->path, path);
	assert_string_equal(vm_disk_id(d), id);
	assert_int_equal(d->read_only, ro);
	assert_int_equal(d->format, format);
	assert_int_equal(d->cache, cache);
	assert_int_equal(d->direct_io, direct);
	assert_int_equal(d->sync, sync);
}

static void test_disk_settings_reset(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	/* Settings apply to the next disk added. */
	nook_vm_config_set_disk_format(cfg, NOOK_DISK_FORMAT_QCOW2);
	assert_int_equal(nook_vm_config_set_disk_id(cfg, "system"), 0);
	nook_vm_config_set_disk_read_only(cfg, true);
	nook_vm_config_set_disk_cache(cfg, NOOK_DISK_CACHE_UNSAFE);
	nook_vm_config_set_disk_direct_io(cfg, true);
	nook_vm_config_set_disk_sync(cfg, NOOK_DISK_SYNC_NONE);
	assert_true(cfg->disk_next_set);
	assert_int_equal(nook_vm_config_add_disk(cfg, "/img/a.qcow2"), 0);
	assert_false(cfg->disk_next_set);
	/* A new disk starts from the defaults. */
	assert_int_equal(nook_vm_config_add_disk(cfg, "/img/b.raw"), 0);
	nook_vm_config_set_disk_format(cfg, NOOK_DISK_FORMAT_VMDK);
	nook_vm_config_set_disk_read_only(cfg, true);
	nook_vm_config_set_disk_sync(cfg, NOOK_DISK_SYNC_RELAXED);
	assert_int_equal(nook_vm_config_add_disk(cfg, "/img/c.vmdk"), 0);
	assert_int_equal(nook_vm_config_add_disk(cfg, "/img/d.raw"), 0);
	assert_int_equal(cfg->ndisks, 4);
	assert_disk(&cfg->disks[0], "/img/a.qcow2", "system", true, NOOK_DISK_FORMAT_QCOW2,
		    NOOK_DISK_CACHE_UNSAFE, true, NOOK_DISK_SYNC_NONE);
	assert_disk(&cfg->disks[1], "/img/b.raw", "vdb", false, NOOK_DISK_FORMAT_RAW,
		    NOOK_DISK_CACHE_WRITEBACK, false, NOOK_DISK_SYNC_FULL);
	assert_disk(&cfg->disks[2], "/img/c.vmdk", "vdc", true, NOOK_DISK_FORMAT_VMDK,
		    NOOK_DISK_CACHE_WRITEBACK, false, NOOK_DISK_SYNC_RELAXED);
	assert_disk(&cfg->disks[3], "/img/d.raw", "vdd", false, NOOK_DISK_FORMAT_RAW,
		    NOOK_DISK_CACHE_WRITEBACK, false, NOOK_DISK_SYNC_FULL);
	nook_vm_config_free(cfg);
}

static void test_disk_auto_ids(void **state)
{
	(void)state;
	nook_vm_config *cfg = new_config();
	for (unsigned i = 0; i < 28; i++) {
		/* An explicit id replaces the automatic one of that disk only. */
		if (i == 27)
			assert_int_equal(nook_vm_config_set_disk_id(cfg, "data"), 0);
		assert_int_equal(nook_vm_config_add_disk(cfg, "/img/x"), 0);
	}
	assert_string_equal(vm_disk_id(&cfg->disks[0]), "vda");
	assert_string_equal(vm_disk_id(&cfg->disks[25]), "vdz");
	assert_string_equal(vm_disk_id(&cfg->disks[26]), "vdaa");
	assert_string_equal(vm_disk_id(&cfg->disks[27]), "data");
	nook_vm_config_free(cfg);
}

static void test_disk_id_for_index(void **state)
{
	(void)state;
	static const struct {
		unsigned index;
		const char *id;
	} cases[] = {
		{0, "vda"},	   {1, "vdb"},	     {25, "vdz"},	 {26, "vdaa"},
		{27, "vdab"},	   {51, "vdaz"},     {52, "vdba"},	 {701, "vdzz"},
		{702, "vdaaa"},   {703, "vdaab"},   {18277, "vdzzz"},	 {18278, "vdaaaa"},
		{UINT_MAX, "vdmwlqkwv"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[12];
		memset(buf, 0x5a, sizeof(buf));
		assert_int_equal(nook_disk_id_for_index(cases[i].index, buf, sizeof(buf)), 0);
		if (strcmp(buf, cases[i].id) != 0)
			fail_msg("index %u: \"%s\", expected \"%s\"", cases[i].index, buf, cases[i].id);
	}
	/* Exactly enough room, and one byte short. */
	char small[5];
	assert_int_equal(nook_disk_id_for_index(26, small, 5), 0);
	assert_string_equal(small, "vdaa");
	assert_int_equal(nook_disk_id_for_index(26, small, 4), -ERANGE);
	assert_int_equal(nook_disk_id_for_index(0, small, 0), -ERANGE);
}

/* ------------------------------------------------------------------------
 * Validation: one table of configurations that must fail, with the error
 * code and words the message must contain (the offending value first).
 * ------------------------------------------------------------------------ */

static void set_vcpus_0(nook_vm_config *c) { nook_vm_config_set_vcpus(c, 0); }
static void set_vcpus_huge(nook_vm_config *c) { nook_vm_config_set_vcpus(c, 100000); }
static void set_memory_0(nook_vm_config *c) { nook_vm_config_set_memory_mib(c, 0); }
static void set_memory_huge(nook_vm_config *c)
{
	nook_vm_config_set_memory_mib(c, UINT64_C(1) << 40);
}
static void set_kernel_missing(nook_vm_config *c)
{
	nook_vm_config_set_kernel_path(c, MISSING "/vmlinux");
}
static void set_kernel_dir(nook_vm_config *c) { nook_vm_config_set_kernel_path(c, tmp_root); }
static void set_initramfs_missing(nook_vm_config *c)
{
	nook_vm_config_set_initramfs_path(c, MISSING "/initrd");
}
/* No program: an idle sandbox, valid; but not with what only a program uses. */
static void set_no_exec(nook_vm_config *c) { nook_vm_config_set_exec_path(c, NULL); }
static void set_no_exec_args(nook_vm_config *c)
{
	set_no_exec(c);
	nook_vm_config_add_arg(c, "x");
}
static void set_no_exec_env(nook_vm_config *c)
{
	set_no_exec(c);
	nook_vm_config_add_env(c, "A=1");
}
static void set_empty_exec(nook_vm_config *c) { nook_vm_config_set_exec_path(c, ""); }
static void set_workdir_rel(nook_vm_config *c) { nook_vm_config_set_workdir(c, "app"); }
static void set_env_bad(nook_vm_config *c) { nook_vm_config_add_env(c, "=x"); }
static void set_rlimit_bad(nook_vm_config *c) { nook_vm_config_add_rlimit(c, 7, 10, 5); }
static void set_fs_root_missing(nook_vm_config *c) { nook_vm_config_add_fs_root(c, MISSING "/root"); }
static void set_fs_path_file(nook_vm_config *c) { nook_vm_config_add_fs_path(c, tmp_file); }
static void set_fs_dup_tag(nook_vm_config *c)
{
	nook_vm_config_set_fs_tag(c, "data");
	nook_vm_config_add_fs_path(c, tmp_root);
	nook_vm_config_set_fs_tag(c, "data");
	nook_vm_config_add_fs_path(c, tmp_root);
}
static void set_fs_dup_auto_tag(nook_vm_config *c)
{
	nook_vm_config_set_fs_tag(c, "fs1");
	nook_vm_config_add_fs_path(c, tmp_root);
	nook_vm_config_add_fs_path(c, tmp_root); /* auto: fs1 */
}
static void set_fs_dup_root(nook_vm_config *c)
{
	nook_vm_config_add_fs_root(c, tmp_root);
	nook_vm_config_add_fs_root(c, tmp_root);
}
static void set_fs_long_tag(nook_vm_config *c)
{
	nook_vm_config_set_fs_tag(c, "a-tag-that-is-longer-than-36-bytes-xx");
	nook_vm_config_add_fs_path(c, tmp_root);
}
static void set_fs_custom_empty(nook_vm_config *c)
{
	struct nook_fs_backend be = {0};
	nook_vm_config_set_fs_tag(c, "mine");
	nook_vm_config_add_fs_custom(c, &be, NULL);
}
static void set_net_multicast(nook_vm_config *c)
{
	static const uint8_t mac[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
	nook_vm_config_set_net_mac(c, mac);
	nook_vm_config_add_net_tap(c, "tap0");
}
static void set_net_dup_mac(nook_vm_config *c)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x01};
	nook_vm_config_set_net_mac(c, mac);
	nook_vm_config_add_net_tap(c, "tap0");
	nook_vm_config_set_net_mac(c, mac);
	nook_vm_config_add_net_tap(c, "tap1");
}
static void set_net_bad_fd(nook_vm_config *c) { nook_vm_config_add_net_unixgram_fd(c, -1); }
static void set_net_empty_path(nook_vm_config *c)
{
	nook_vm_config_add_net_unixstream_path(c, "");
}
static void set_net_long_tap(nook_vm_config *c)
{
	nook_vm_config_add_net_tap(c, "a-very-long-tap-name");
}
static void set_net_custom_empty(nook_vm_config *c)
{
	struct nook_net_backend be = {.send = net_send};
	nook_vm_config_add_net_custom(c, &be, NULL);
}
static void set_port_dup(nook_vm_config *c)
{
	nook_vm_config_add_console_port(c, "agent", 0, 1);
	nook_vm_config_add_console_port(c, "agent", 0, 1);
}
static void set_port_reserved(nook_vm_config *c)
{
	nook_vm_config_add_console_port(c, "nook.stdout", -1, 1);
}
static void set_port_empty_name(nook_vm_config *c) { nook_vm_config_add_console_port(c, "", 0, 1); }
static void set_port_bad_fd(nook_vm_config *c) { nook_vm_config_add_console_port(c, "p", -5, 1); }
static int devnull = -1;
static void set_port_tty_not_tty(nook_vm_config *c)
{
	nook_vm_config_add_console_tty(c, "shell", devnull);
}
static void set_port_custom_empty(nook_vm_config *c)
{
	struct nook_console_port_backend be = {0};
	nook_vm_config_add_console_custom(c, "rpc", &be, NULL);
}
static void set_disk_missing(nook_vm_config *c) { nook_vm_config_add_disk(c, MISSING "/disk.img"); }
static void set_disk_dir(nook_vm_config *c) { nook_vm_config_add_disk(c, tmp_root); }
static void set_disk_dup_id(nook_vm_config *c)
{
	nook_vm_config_set_disk_id(c, "data");
	nook_vm_config_add_disk(c, tmp_file);
	nook_vm_config_set_disk_id(c, "data");
	nook_vm_config_add_disk(c, tmp_disk2);
}
static void set_disk_dup_auto_id(nook_vm_config *c)
{
	nook_vm_config_set_disk_id(c, "vdb");
	nook_vm_config_add_disk(c, tmp_file);
	nook_vm_config_add_disk(c, tmp_disk2); /* auto: vdb */
}
static void set_disk_long_id(nook_vm_config *c)
{
	nook_vm_config_set_disk_id(c, "an-id-longer-than-20-bytes");
	nook_vm_config_add_disk(c, tmp_file);
}
static void set_disk_vmdk_rw(nook_vm_config *c)
{
	nook_vm_config_set_disk_format(c, NOOK_DISK_FORMAT_VMDK);
	nook_vm_config_add_disk(c, tmp_file);
}
static void set_disk_bad_format(nook_vm_config *c)
{
	nook_vm_config_set_disk_format(c, (enum nook_disk_format)42);
	nook_vm_config_add_disk(c, tmp_file);
}

static void set_disk_bad_cache(nook_vm_config *c)
{
	nook_vm_config_set_disk_cache(c, (enum nook_disk_cache)7);
	nook_vm_config_add_disk(c, tmp_file);
}
static void set_disk_bad_sync(nook_vm_config *c)
{
	nook_vm_config_set_disk_sync(c, (enum nook_disk_sync)-1);
	nook_vm_config_add_disk(c, tmp_file);
}

/* Settings with no add after them are an error, not a silent drop. */
static void set_disk_pending(nook_vm_config *c)
{
	nook_vm_config_add_disk(c, tmp_file);
	nook_vm_config_set_disk_read_only(c, true);
}
static void set_fs_pending(nook_vm_config *c)
{
	nook_vm_config_add_fs_path(c, tmp_root);
	nook_vm_config_set_fs_read_only(c, true);
}
static void set_net_pending(nook_vm_config *c)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0, 0, 0, 9};
	nook_vm_config_add_net_user(c);
	nook_vm_config_set_net_mac(c, mac);
}
static void add_segment(nook_vm_config *c, const char *ip, const char *subnet)
{
	struct nook_ipv4_subnet sub;
	struct in_addr addr;
	assert_int_equal(nook_parse_ipv4_subnet(subnet, &sub, NULL), 0);
	assert_int_equal(inet_pton(AF_INET, ip, &addr), 1);
	nook_vm_config_set_net_segment(c, addr, &sub);
	nook_vm_config_add_net_vde(c, "/sw");
}
static void set_segment_outside(nook_vm_config *c)
{
	add_segment(c, "10.78.0.2", "10.77.0.0/24");
}
static void set_segment_network(nook_vm_config *c)
{
	add_segment(c, "10.77.0.0", "10.77.0.0/24");
}
static void set_segment_31(nook_vm_config *c)
{
	add_segment(c, "10.77.0.1", "10.77.0.0/31");
}
static void set_vde_empty(nook_vm_config *c)
{
	nook_vm_config_add_net_vde(c, "");
}
static void set_hostname_bad(nook_vm_config *c)
{
	nook_vm_config_set_hostname(c, "a b");
}
static void set_fs_custom_read_only(nook_vm_config *c)
{
	struct nook_fs_backend be = {.request = fs_request};
	nook_vm_config_set_fs_read_only(c, true);
	nook_vm_config_add_fs_custom(c, &be, NULL);
}

static struct nook_port_pair port_pair(const char *spec)
{
	struct nook_port_pair p;
	assert_int_equal(nook_parse_port_pair(spec, &p, NULL), 0);
	return p;
}
static void set_net_port0(nook_vm_config *c)
{
	/* The parser refuses port 0; the API must too. */
	struct nook_port_pair p = port_pair("8080:80");
	p.host_port = 0;
	nook_vm_config_add_net_user(c);
	nook_vm_config_add_net_port(c, &p);
}
static void set_net_port_twice(nook_vm_config *c)
{
	struct nook_port_pair a = port_pair("8080:80"), b = port_pair("0.0.0.0:8080:81");
	nook_vm_config_add_net_user(c);
	nook_vm_config_add_net_port(c, &a);
	nook_vm_config_add_net_port(c, &b);
}
static void set_net_port_tap(nook_vm_config *c)
{
	struct nook_port_pair p = port_pair("8080:80");
	nook_vm_config_add_net_tap(c, "tap0");
	nook_vm_config_add_net_port(c, &p);
}
static void set_net_ip(nook_vm_config *c, const char *ip)
{
	struct in_addr a;
	assert_int_equal(nook_parse_ipv4(ip, &a, NULL), 0);
	nook_vm_config_set_net_ipv4(c, a);
}
static void set_net_ip_outside(nook_vm_config *c)
{
	nook_vm_config_add_net_user(c);
	set_net_ip(c, "10.0.3.5");
}
static void set_net_ip_gateway(nook_vm_config *c)
{
	nook_vm_config_add_net_user(c);
	set_net_ip(c, "10.0.2.2");
}
static void set_net_ip_bcast(nook_vm_config *c)
{
	nook_vm_config_add_net_user(c);
	set_net_ip(c, "10.0.2.255");
}
static void set_net_ip_no_nic(nook_vm_config *c) { set_net_ip(c, "10.0.2.9"); }
static void set_net_subnet_small(nook_vm_config *c)
{
	struct nook_ipv4_subnet s;
	assert_int_equal(nook_parse_ipv4_subnet("10.9.0.0/30", &s, NULL), 0);
	nook_vm_config_add_net_user(c);
	nook_vm_config_set_net_subnet(c, &s);
}
static void set_net_scope_bad(nook_vm_config *c)
{
	nook_vm_config_set_net_scope(c, (enum nook_network_scope)9);
}

static void set_vsock_empty(nook_vm_config *c) { nook_vm_config_set_vsock_path(c, ""); }
static void set_vsock_long(nook_vm_config *c)
{
	char path[120];
	memset(path, 'v', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = 0;
	nook_vm_config_set_vsock_path(c, path);
}

/* Not supported yet. */
static void set_ht(nook_vm_config *c) { nook_vm_config_set_hyperthreading(c, true); }
static void set_balloon_on(nook_vm_config *c) { nook_vm_config_set_balloon(c, true); }
static void set_balloon_stats(nook_vm_config *c)
{
	nook_vm_config_set_balloon_stats_interval_ms(c, 2000);
}
static void set_balloon_no_stats(nook_vm_config *c)
{
	nook_vm_config_set_balloon(c, true);
	nook_vm_config_set_balloon_stats_interval_ms(c, 0);
}

static void set_rng_on(nook_vm_config *c) { nook_vm_config_set_rng(c, true); }
static void set_hijack(nook_vm_config *c) { nook_vm_config_set_inet_hijack(c, true); }
static void set_fs_root_ok(nook_vm_config *c) { nook_vm_config_add_fs_root(c, tmp_root); }
static void set_fs_dax(nook_vm_config *c)
{
	nook_vm_config_set_fs_shm_size(c, 1 << 20);
	nook_vm_config_add_fs_path(c, tmp_root);
}
static void set_fs_dax_ok(nook_vm_config *c)
{
	nook_vm_config_set_fs_shm_size(c, 2 << 20);
	nook_vm_config_set_fs_mount_point(c, "/data");
	nook_vm_config_add_fs_path(c, tmp_root);
	nook_vm_config_set_fs_shm_size(c, 1ULL << 30);
	nook_vm_config_add_fs_path(c, tmp_root);
}
static void set_fs_dax_custom(nook_vm_config *c)
{
	struct nook_fs_backend be = {.request = fs_request};
	nook_vm_config_set_fs_shm_size(c, 2 << 20);
	nook_vm_config_add_fs_custom(c, &be, NULL);
}
static void set_fs_dax_root(nook_vm_config *c)
{
	nook_vm_config_set_fs_tag(c, "/dev/root");
	nook_vm_config_set_fs_shm_size(c, 2 << 20);
	nook_vm_config_add_fs_path(c, tmp_root);
}
/* 512 MiB of memory allows 8 GiB of windows in all. */
static void set_fs_dax_too_much(nook_vm_config *c)
{
	nook_vm_config_set_memory_mib(c, 512);
	nook_vm_config_set_fs_shm_size(c, 6ULL << 30);
	nook_vm_config_add_fs_path(c, tmp_root);
	nook_vm_config_set_fs_shm_size(c, 4ULL << 30);
	nook_vm_config_add_fs_path(c, tmp_root);
}
static void set_fs_dax_huge(nook_vm_config *c)
{
	nook_vm_config_set_memory_mib(c, 4096);
	nook_vm_config_set_fs_shm_size(c, 1ULL << 62);
	nook_vm_config_add_fs_path(c, tmp_root);
}
static void set_fs_shares_ok(nook_vm_config *c)
{
	const char *layers[] = {tmp_root, tmp_root};
	nook_vm_config_set_fs_root_overlay(c, layers, 2);
	nook_vm_config_set_fs_mount_point(c, "/data");
	nook_vm_config_set_fs_read_only(c, true);
	nook_vm_config_add_fs_path(c, tmp_root);
	nook_vm_config_set_fs_mount_point(c, "/etc/one-file");
	nook_vm_config_add_fs_path(c, tmp_file);
	nook_vm_config_add_fs_path(c, tmp_root); /* the guest mounts it itself */
}
static void set_fs_file_unmounted(nook_vm_config *c) { nook_vm_config_add_fs_path(c, tmp_file); }
static void set_fs_relative_mount(nook_vm_config *c)
{
	nook_vm_config_set_fs_mount_point(c, "data");
	nook_vm_config_add_fs_path(c, tmp_root);
}
static void set_fs_root_mount(nook_vm_config *c)
{
	nook_vm_config_set_fs_mount_point(c, "//");
	nook_vm_config_add_fs_path(c, tmp_root);
}
static void set_fs_dup_mount(nook_vm_config *c)
{
	nook_vm_config_set_fs_mount_point(c, "/data/");
	nook_vm_config_add_fs_path(c, tmp_root);
	nook_vm_config_set_fs_mount_point(c, "//data");
	nook_vm_config_add_fs_path(c, tmp_file);
}
static void set_fs_layer_missing(nook_vm_config *c)
{
	const char *layers[] = {MISSING "/lower", tmp_root};
	nook_vm_config_set_fs_root_overlay(c, layers, 2);
}
static void set_fs_root_and_overlay(nook_vm_config *c)
{
	const char *layers[] = {tmp_root};
	nook_vm_config_add_fs_root(c, tmp_root);
	nook_vm_config_set_fs_root_overlay(c, layers, 1);
}
static void set_fs_custom_ok(nook_vm_config *c)
{
	struct nook_fs_backend be = {.request = fs_request};
	nook_vm_config_add_fs_custom(c, &be, NULL);
}
static void set_net_gram_fd(nook_vm_config *c) { nook_vm_config_add_net_unixgram_fd(c, 3); }
static void set_net_gram_path(nook_vm_config *c)
{
	nook_vm_config_add_net_unixgram_path(c, "/run/gv.sock", true);
}
static void set_net_stream_fd(nook_vm_config *c) { nook_vm_config_add_net_unixstream_fd(c, 4); }
static void set_net_stream_path(nook_vm_config *c)
{
	nook_vm_config_add_net_unixstream_path(c, "/run/passt.sock");
}
static void set_net_tap(nook_vm_config *c) { nook_vm_config_add_net_tap(c, "tap0"); }
static void set_net_custom_ok(nook_vm_config *c)
{
	struct nook_net_backend be = {net_send, net_recv, net_poll_fd};
	nook_vm_config_add_net_custom(c, &be, NULL);
}
static void set_port_ok(nook_vm_config *c) { nook_vm_config_add_console_port(c, "agent", 0, 1); }
static int pty = -1;
static void set_port_tty_ok(nook_vm_config *c) { nook_vm_config_add_console_tty(c, "shell", pty); }
static void set_port_custom_ok(nook_vm_config *c)
{
	struct nook_console_port_backend be = {.write = port_write};
	nook_vm_config_add_console_custom(c, "rpc", &be, NULL);
}
static void set_no_implicit(nook_vm_config *c) { nook_vm_config_disable_implicit_console(c); }
static void set_port_slash(nook_vm_config *c) { nook_vm_config_add_console_port(c, "a/b", 0, 1); }
static void set_port_dotdot(nook_vm_config *c) { nook_vm_config_add_console_port(c, "..", 0, 1); }
static void set_port_long(nook_vm_config *c)
{
	char name[65];
	memset(name, 'n', 64);
	name[64] = 0;
	nook_vm_config_add_console_port(c, name, 0, 1);
}
static void set_ports_too_many(nook_vm_config *c)
{
	for (int i = 0; i < 32; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		nook_vm_config_add_console_port(c, name, 0, 1);
	}
}
static void set_output_no_implicit(nook_vm_config *c)
{
	nook_vm_config_disable_implicit_console(c);
	nook_vm_config_set_console_output(c, "/tmp/out");
}
/* Every kind of named port, and no implicit console. */
static void set_console_all_ok(nook_vm_config *c)
{
	set_port_ok(c);
	set_port_tty_ok(c);
	set_port_custom_ok(c);
	set_no_implicit(c);
	nook_vm_config_set_kernel_log(c, "/tmp/kernel.log");
}
static void set_disk_ok(nook_vm_config *c)
{
	nook_vm_config_set_disk_format(c, NOOK_DISK_FORMAT_QCOW2);
	nook_vm_config_add_disk(c, tmp_file);
}
static void set_ht_odd(nook_vm_config *c)
{
	nook_vm_config_set_vcpus(c, 3);
	set_ht(c);
}
/* "@ROOT", "@FILE" in a needle stand for the temporary paths. */
static const char *expand(const char *needle, char *buf, size_t len)
{
	if (strcmp(needle, "@ROOT") == 0)
		return tmp_root;
	if (strcmp(needle, "@FILE") == 0)
		return tmp_file;
	if (strcmp(needle, "@DISK2") == 0)
		return tmp_disk2;
	snprintf(buf, len, "%s", needle);
	return buf;
}

static const struct invalid_case {
	const char *name;
	void (*set)(nook_vm_config *c);
	int code;
	const char *needles[3];
} invalid_cases[] = {
	{"vcpus 0", set_vcpus_0, EINVAL, {"vcpus 0", "at least 1"}},
	{"vcpus over limit", set_vcpus_huge, EINVAL, {"vcpus 100000", "on this host"}},
	{"memory 0", set_memory_0, EINVAL, {"memory 0 MiB"}},
	{"memory over host", set_memory_huge, EINVAL, {"memory 1099511627776 MiB", "host"}},
	{"kernel missing", set_kernel_missing, ENOENT, {"kernel " MISSING "/vmlinux", "No such file"}},
	{"kernel a directory", set_kernel_dir, EINVAL, {"kernel", "@ROOT", "not a regular file"}},
	{"initramfs missing", set_initramfs_missing, ENOENT, {"initramfs " MISSING "/initrd"}},
	{"args without exec path", set_no_exec_args, EINVAL, {"without a program", "exec path"}},
	{"env without exec path", set_no_exec_env, EINVAL, {"without a program", "exec path"}},
	{"empty exec path", set_empty_exec, EINVAL, {"exec path \"\"", "empty"}},
	{"workdir relative", set_workdir_rel, EINVAL, {"workdir \"app\"", "absolute"}},
	{"env without key", set_env_bad, EINVAL, {"env \"=x\""}},
	{"rlimit soft above hard", set_rlimit_bad, EINVAL, {"rlimit 7=10:5"}},
	{"fs root missing", set_fs_root_missing, ENOENT, {"fs root " MISSING "/root", "No such file"}},
	{"fs path a file", set_fs_path_file, ENOTDIR, {"fs tag \"fs0\"", "@FILE", "not a directory"}},
	{"fs duplicate tag", set_fs_dup_tag, EEXIST, {"fs tag \"data\"", "two mounts"}},
	{"fs duplicate auto tag", set_fs_dup_auto_tag, EEXIST, {"fs tag \"fs1\"", "two mounts"}},
	{"fs duplicate root", set_fs_dup_root, EEXIST, {"fs tag \"/dev/root\"", "two root file systems"}},
	{"fs tag too long", set_fs_long_tag, EINVAL, {"a-tag-that-is-longer-than-36-bytes-xx", "36"}},
	{"fs custom no callback", set_fs_custom_empty, EINVAL, {"fs tag \"mine\"", "request"}},
	{"net multicast mac", set_net_multicast, EINVAL, {"mac 01:00:5e:00:00:01", "multicast"}},
	{"net duplicate mac", set_net_dup_mac, EEXIST, {"net tap \"tap1\"", "52:54:00:00:00:01"}},
	{"net bad fd", set_net_bad_fd, EBADF, {"net unixgram fd -1"}},
	{"net empty path", set_net_empty_path, EINVAL, {"net unixstream path \"\"", "empty"}},
	{"net tap name too long", set_net_long_tap, EINVAL, {"net tap \"a-very-long-tap-name\""}},
	{"net custom incomplete", set_net_custom_empty, EINVAL, {"net custom backend", "recv"}},
	{"console duplicate port", set_port_dup, EEXIST, {"console port \"agent\"", "two ports"}},
	{"console reserved name", set_port_reserved, EINVAL, {"\"nook.stdout\"", "reserved"}},
	{"console empty name", set_port_empty_name, EINVAL, {"console port \"\""}},
	{"console bad fd", set_port_bad_fd, EBADF, {"console port \"p\"", "-5"}},
	{"console tty not a tty", set_port_tty_not_tty, ENOTTY, {"console port \"shell\"", "terminal"}},
	{"console custom empty", set_port_custom_empty, EINVAL, {"console port \"rpc\"", "callback"}},
	{"fs file without mount point", set_fs_file_unmounted, ENOTDIR, {"fs tag \"fs0\"", "@FILE", "not a directory"}},
	{"fs relative mount point", set_fs_relative_mount, EINVAL, {"mount point \"data\"", "absolute"}},
	{"fs mount point /", set_fs_root_mount, EINVAL, {"mount point \"//\"", "other than /"}},
	{"fs duplicate mount point", set_fs_dup_mount, EEXIST, {"mount point //data", "two shares", "@FILE"}},
	{"fs overlay layer missing", set_fs_layer_missing, ENOENT, {"overlay layer " MISSING "/lower"}},
	{"fs root and overlay", set_fs_root_and_overlay, EEXIST, {"/dev/root", "two root file systems"}},
	{"disk missing", set_disk_missing, ENOENT, {"disk " MISSING "/disk.img", "No such file"}},
	{"disk a directory", set_disk_dir, EINVAL, {"disk", "@ROOT", "block device"}},
	{"disk duplicate id", set_disk_dup_id, EEXIST, {"id \"data\"", "@DISK2", "@FILE"}},
	{"disk duplicate auto id", set_disk_dup_auto_id, EEXIST, {"id \"vdb\"", "@DISK2"}},
	{"disk id too long", set_disk_long_id, EINVAL, {"\"an-id-longer-than-20-bytes\"", "20"}},
	{"disk vmdk writable", set_disk_vmdk_rw, EINVAL, {"@FILE", "vmdk", "read-only"}},
	{"disk bad format", set_disk_bad_format, EINVAL, {"@FILE", "unknown format 42"}},
	{"disk bad cache", set_disk_bad_cache, EINVAL, {"@FILE", "unknown cache mode 7"}},
	{"disk bad sync", set_disk_bad_sync, EINVAL, {"@FILE", "unknown sync mode -1"}},
	{"disk settings pending", set_disk_pending, EINVAL, {"disk settings", "no disk added after"}},
	{"fs settings pending", set_fs_pending, EINVAL, {"fs settings", "no share added after"}},
	{"net settings pending", set_net_pending, EINVAL, {"net settings (mac, segment)", "no network device"}},
	{"net segment address outside", set_segment_outside, EINVAL, {"net vde \"/sw\"", "10.78.0.2", "10.77.0.0/24"}},
	{"net segment network address", set_segment_network, EINVAL, {"net vde \"/sw\"", "10.77.0.0", "network or broadcast"}},
	{"net segment prefix 31", set_segment_31, EINVAL, {"net vde \"/sw\"", "segment 10.77.0.0/31", "8 to 30"}},
	{"net vde empty url", set_vde_empty, EINVAL, {"net vde \"\"", "empty"}},
	{"hostname bad", set_hostname_bad, EINVAL, {"hostname \"a b\"", "letters"}},
	{"fs custom read-only", set_fs_custom_read_only, EINVAL, {"fs tag \"fs0\"", "custom backend"}},
	{"hyperthreading odd vcpus", set_ht_odd, EINVAL, {"hyperthreading: 3 vCPUs", "even number"}},

	{"vsock path empty", set_vsock_empty, EINVAL, {"vsock path \"\"", "empty"}},
	{"vsock path too long", set_vsock_long, ENAMETOOLONG, {"vsock path \"/vvv", "at most 96 bytes"}},
	{"fs DAX unit", set_fs_dax, EINVAL, {"fs tag \"fs0\": DAX window of 1048576 bytes", "multiple of 2 MiB"}},
	{"fs DAX custom", set_fs_dax_custom, EINVAL, {"fs tag \"fs0\": DAX window", "custom backend"}},
	{"fs DAX root", set_fs_dax_root, EINVAL, {"fs tag \"/dev/root\": DAX window", "not to the root"}},
	{"fs DAX too much", set_fs_dax_too_much, EINVAL, {"fs tag \"fs1\": DAX windows of more than 8192 MiB", "512 MiB of memory"}},
	{"fs DAX huge", set_fs_dax_huge, EINVAL, {"fs tag \"fs0\": DAX windows of more than 32768 MiB", "at most 32768 MiB"}},
	{"net port 0", set_net_port0, ERANGE, {"published port 127.0.0.1:0:80/tcp", "out of range"}},
	{"net port twice", set_net_port_twice, EEXIST, {"published port 0.0.0.0:8080/tcp", "twice"}},
	{"net port no user", set_net_port_tap, EINVAL, {"needs a user-mode network"}},
	{"net ip outside", set_net_ip_outside, EINVAL, {"ip", "10.0.3.5", "10.0.2.0/24"}},
	{"net ip gateway", set_net_ip_gateway, EINVAL, {"ip 10.0.2.2", "gateway"}},
	{"net ip broadcast", set_net_ip_bcast, EINVAL, {"ip 10.0.2.255", "broadcast"}},
	{"net ip no nic", set_net_ip_no_nic, EINVAL, {"ip 10.0.2.9", "no network device"}},
	{"net subnet small", set_net_subnet_small, EINVAL, {"subnet 10.9.0.0/30", "too small"}},
	{"net scope bad", set_net_scope_bad, EINVAL, {"network scope 9"}},
	{"console slash name", set_port_slash, EINVAL, {"console port \"a/b\"", "'/'"}},
	{"console dot-dot name", set_port_dotdot, EINVAL, {"console port \"..\""}},
	{"console long name", set_port_long, EINVAL, {"1 to 63 bytes"}},
	{"console too many ports", set_ports_too_many, E2BIG, {"32 console ports", "at most 31"}},
	{"console output, no implicit", set_output_no_implicit, EINVAL,
	 {"console output /tmp/out", "disabled"}},
};

static void test_validation_errors(void **state)
{
	(void)state;
	skip_without_kvm();
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(devnull >= 0);
	pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC); /* a terminal of our own */
	assert_true(pty >= 0);
	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		const struct invalid_case *tc = &invalid_cases[i];
		nook_vm_config *cfg = valid_config();
		tc->set(cfg);
		nook_error *err = NULL;
		int r = vm_config_validate(cfg, &err);
		if (r != -tc->code || !err || nook_error_code(err) != tc->code)
			fail_msg("%s: returned %d (expected %d): %s", tc->name, r, -tc->code,
				 err ? nook_error_message(err) : "no error object");
		const char *msg = nook_error_message(err);
		for (size_t k = 0; k < 3 && tc->needles[k]; k++) {
			char buf[256];
			const char *needle = expand(tc->needles[k], buf, sizeof(buf));
			if (!strstr(msg, needle))
				fail_msg("%s: message lacks \"%s\": %s", tc->name, needle, msg);
		}
		if (verbose)
			print_message("    %-24s %s\n", tc->name, msg);
		nook_error_free(err);
		nook_vm_config_free(cfg);
	}
	close(devnull);
	close(pty);
}

/* Seed defaults (balloon, rng, metrics on) and explicitly turning those
 * devices off must not fail, nor turning virtio-rng or the balloon (which
 * nook has) on, with or without statistics. */
static void set_nothing(nook_vm_config *c) { (void)c; }
static void set_devices_off(nook_vm_config *c)
{
	nook_vm_config_set_balloon(c, false);
	nook_vm_config_set_balloon_stats_interval_ms(c, 5000);
	nook_vm_config_set_rng(c, false);
	nook_vm_config_set_metrics(c, false);
	nook_vm_config_set_hyperthreading(c, false);
}
static void set_exec_options(nook_vm_config *c)
{
	nook_vm_config_set_workdir(c, "/tmp");
	nook_vm_config_add_env_pair(c, "A", "b=c");
	nook_vm_config_add_rlimit(c, RLIMIT_NOFILE, 1, 2);
	nook_vm_config_set_kernel_path(c, tmp_file);
	nook_vm_config_set_initramfs_path(c, tmp_disk2);
	nook_vm_config_append_cmdline(c, "quiet");
}

/* Every backend, inet hijack, and a full sandbox network. */
static void set_net_all_ok(nook_vm_config *c)
{
	set_net_gram_fd(c);
	set_net_gram_path(c);
	set_net_stream_fd(c);
	set_net_stream_path(c);
	set_net_tap(c);
	set_net_custom_ok(c);
	nook_vm_config_set_inet_hijack(c, true);
}
static void set_net_sandbox_ok(nook_vm_config *c)
{
	struct nook_ipv4_subnet s;
	struct nook_port_pair a = port_pair("8080:80"), b = port_pair("8080:80/udp");
	assert_int_equal(nook_parse_ipv4_subnet("192.168.50.0/24", &s, NULL), 0);
	nook_vm_config_add_net_user(c);
	nook_vm_config_set_net_subnet(c, &s);
	set_net_ip(c, "192.168.50.20");
	nook_vm_config_set_net_scope(c, NOOK_NETWORK_SCOPE_PUBLIC);
	nook_vm_config_add_net_port(c, &a);
	nook_vm_config_add_net_port(c, &b);
}
static void set_hijack_only(nook_vm_config *c)
{
	struct nook_port_pair p = port_pair("8080:80");
	set_hijack(c);
	nook_vm_config_add_net_port(c, &p);
}

/* An address without a subnet on a network nook does not run lies in the
 * /24 around it, not in the user-mode network's default subnet. */
static void test_ip_without_subnet(void **state)
{
	(void)state;
	skip_without_kvm();
	static const char *const kinds[] = {"tap", "unixstream", "unixgram"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		nook_vm_config *cfg = valid_config();
		if (i == 0)
			nook_vm_config_add_net_tap(cfg, "nook-test0");
		else if (i == 1)
			nook_vm_config_add_net_unixstream_path(cfg, "/run/passt.socket");
		else
			nook_vm_config_add_net_unixgram_path(cfg, "/run/gvproxy.sock", false);
		set_net_ip(cfg, "192.168.7.20");
		nook_error *err = NULL;
		if (vm_config_validate(cfg, &err) != 0)
			fail_msg("%s: %s", kinds[i], nook_error_message(err));
		uint32_t network;
		unsigned prefix;
		vm_net_first_subnet(cfg, &network, &prefix);
		assert_int_equal(network, 0xc0a80700u);
		assert_int_equal(prefix, 24);
		nook_vm_config_free(cfg);
	}
	/* The user-mode network keeps its subnet: the address must be in it. */
	nook_vm_config *cfg = valid_config();
	set_net_ip_outside(cfg);
	uint32_t network;
	unsigned prefix;
	vm_net_first_subnet(cfg, &network, &prefix);
	assert_int_equal(network, VM_NET_DEFAULT_NETWORK);
	nook_vm_config_free(cfg);
}

static void test_validation_ok(void **state)
{
	(void)state;
	skip_without_kvm();
	void (*cases[])(nook_vm_config *) = {set_nothing, set_devices_off, set_rng_on,
					     set_balloon_on, set_balloon_stats,
					     set_balloon_no_stats, set_exec_options,
					     set_fs_root_ok, set_fs_shares_ok, set_fs_custom_ok, set_fs_dax_ok,
					     set_disk_ok, set_net_all_ok, set_net_sandbox_ok,
					     set_hijack_only, set_console_all_ok, set_no_exec};
	pty = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	assert_true(pty >= 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		nook_vm_config *cfg = valid_config();
		cases[i](cfg);
		nook_error *err = NULL;
		int r = vm_config_validate(cfg, &err);
		if (r != 0)
			fail_msg("case %zu: %s", i, nook_error_message(err));
		assert_null(err);
		nook_vm_config_free(cfg);
	}
	close(pty);
}

/* nook_vm_build() runs the same checks and builds nothing on failure. */
static void test_build_fails_before_kvm(void **state)
{
	(void)state;
	skip_without_kvm();
	nook_vm_config *cfg = valid_config();
	set_fs_dax(cfg);
	nook_vm *vm = (nook_vm *)&vm;
	nook_error *err = NULL;
	assert_int_equal(nook_vm_build(cfg, &vm, &err), -EINVAL);
	assert_null(vm);
	assert_non_null(strstr(nook_error_message(err), "fs tag \"fs0\": DAX window"));
	nook_error_free(err);
	nook_vm_config_free(cfg);
}

/* A PVM host cannot nest: the build says so instead of starting a guest
 * whose hypervisor would fail. */
static void test_nested_on_pvm_host(void **state)
{
	(void)state;
	skip_without_kvm();
	if (access("/sys/module/kvm_pvm", F_OK) != 0)
		skip();
	nook_vm_config *cfg = valid_config();
	nook_vm_config_set_nested_virt(cfg, true);
	nook_vm *vm = (nook_vm *)&vm;
	nook_error *err = NULL;
	assert_int_equal(nook_vm_build(cfg, &vm, &err), -ENOTSUP);
	assert_null(vm);
	const char *msg = nook_error_message(err);
	assert_non_null(strstr(msg, "nested virtualization"));
	assert_non_null(strstr(msg, "PVM"));
	nook_error_free(err);
	nook_vm_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_metrics_toggle),
		cmocka_unit_test(test_machine_setters),
		cmocka_unit_test(test_kernel_setters),
		cmocka_unit_test(test_fs_root_and_auto_tags),
		cmocka_unit_test(test_fs_shm_next_mount_only),
		cmocka_unit_test(test_net_devices_and_mac),
		cmocka_unit_test(test_console_setters),
		cmocka_unit_test(test_exec_setters),
		cmocka_unit_test(test_disk_settings_reset),
		cmocka_unit_test(test_disk_auto_ids),
		cmocka_unit_test(test_disk_id_for_index),
		cmocka_unit_test(test_validation_errors),
		cmocka_unit_test(test_validation_ok),
		cmocka_unit_test(test_ip_without_subnet),
		cmocka_unit_test(test_build_fails_before_kvm),
		cmocka_unit_test(test_nested_on_pvm_host),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
