/* Snapshot files and keys without a guest (vm/snapshot.c, vm/snapshot_cache.c,
 * util/state.c, the virtio-mmio transport's restore): a written snapshot
 * opens again; a truncated, foreign, corrupted or mismatched one is refused
 * with a message saying what is wrong; a saved queue pointing outside
 * guest memory is refused on restore; every input of the key changes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <nook/vm.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/virtio/console.h"
#include "util/state.h"
#include "vm/snapshot.h"
#include "vm/snapshot_cache.h"
#include "x86/layout.h"
#include "x86/machine.h"

#define MEM_SIZE (1 << 20)

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/nook-snapshot-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	snapshot_remove_dir(dir);
	return 0;
}

/* A snapshot of 1 MiB of memory (a pattern in one page) and two sections,
 * into `where`. */
static void write_sample_to(const char *where)
{
	static const uint8_t key[SNAPSHOT_KEY_SIZE] = {42};
	struct guest_memory mem = {0};
	assert_int_equal(guest_memory_add(&mem, -1, 0, MEM_SIZE, NULL), 0);
	memset(mem.regions[0].hva + 8192, 0x5a, 4096);
	struct bytes st = {0};
	assert_int_equal(state_put(&st, "serial", 1, "12345678", 8), 0);
	assert_int_equal(state_put(&st, "legacy", 1, "x", 1), 0);
	nook_error *err = NULL;
	assert_int_equal(snapshot_write(where, key, 1, "sample", &st, &mem, &err), 0);
	bytes_free(&st);
	guest_memory_destroy(&mem);
}

static void write_sample(void)
{
	write_sample_to(dir);
}

static void test_roundtrip(void **state)
{
	write_sample();
	struct snapshot s;
	nook_error *err = NULL;
	assert_int_equal(snapshot_open(dir, &s, &err), 0);
	assert_int_equal(s.header.key[0], 42);
	assert_string_equal(s.header.info, "sample");
	struct state_section sec;
	assert_int_equal(state_find(s.state, s.header.state_size, "legacy", &sec), 0);
	assert_int_equal(sec.len, 1);
	/* The memory file is sparse: only the touched page takes space. */
	struct stat st;
	assert_int_equal(fstat(s.memory_fd, &st), 0);
	assert_int_equal(st.st_size, MEM_SIZE);
	assert_true(st.st_blocks * 512 < MEM_SIZE / 4);
	struct guest_memory mem = {0};
	assert_int_equal(guest_memory_add(&mem, -1, 0, MEM_SIZE, NULL), 0);
	assert_int_equal(guest_memory_map_file(&mem, s.memory_fd), 0);
	assert_int_equal(mem.regions[0].hva[8192 + 17], 0x5a);
	assert_int_equal(mem.regions[0].hva[4096], 0);
	/* Copy-on-write: the guest's writes never reach the file. */
	mem.regions[0].hva[8192] = 1;
	uint8_t b;
	assert_int_equal(pread(s.memory_fd, &b, 1, 8192), 1);
	assert_int_equal(b, 0x5a);
	guest_memory_destroy(&mem);
	snapshot_close(&s);
}

/* Overwrites `len` bytes at `off` of one of the files, or cuts it there. */
static void damage(const char *file, off_t off, const void *data, size_t len)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	if (data)
		assert_int_equal(pwrite(fd, data, len, off), (ssize_t)len);
	else
		assert_int_equal(ftruncate(fd, off), 0);
	close(fd);
}

static void expect_refused(const char *why)
{
	struct snapshot s;
	nook_error *err = NULL;
	assert_int_equal(snapshot_open(dir, &s, &err), -EINVAL);
	if (!strstr(nook_error_message(err), why))
		fail_msg("\"%s\" does not say \"%s\"", nook_error_message(err), why);
	nook_error_free(err);
}

static void test_broken_files_are_refused(void **state)
{
	static const struct {
		const char *file;
		off_t off; /* -1: cut the file at 10 bytes */
		const char *bytes;
		const char *why;
	} cases[] = {
		{SNAPSHOT_STATE_FILE, -1, NULL, "truncated header"},
		{SNAPSHOT_STATE_FILE, 0, "XOOKSNAP", "bad magic"},
		{SNAPSHOT_STATE_FILE, offsetof(struct snapshot_header, version), "\x09", "another version"},
		{SNAPSHOT_STATE_FILE, offsetof(struct snapshot_header, state_size), "\xff", "state size"},
		{SNAPSHOT_STATE_FILE, sizeof(struct snapshot_header) + 40, "\x01", "checksum"},
		{SNAPSHOT_MEMORY_FILE, -1, NULL, "size does not match"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_sample();
		if (cases[i].off < 0)
			damage(cases[i].file, 10, NULL, 0);
		else
			damage(cases[i].file, cases[i].off, cases[i].bytes, strlen(cases[i].bytes));
		expect_refused(cases[i].why);
		snapshot_remove_dir(dir);
		assert_int_equal(mkdir(dir, 0700), 0);
	}
}

/* A section that claims more bytes than there are, with a checksum that
 * matches: refused by the section check, not read past the end. */
static void test_malformed_sections_are_refused(void **state)
{
	static const uint8_t key[SNAPSHOT_KEY_SIZE];
	struct guest_memory mem = {0};
	assert_int_equal(guest_memory_add(&mem, -1, 0, MEM_SIZE, NULL), 0);
	struct bytes st = {0};
	assert_int_equal(state_put(&st, "serial", 1, "12345678", 8), 0);
	st.len -= 4;
	assert_int_equal(snapshot_write(dir, key, 1, "bad", &st, &mem, NULL), 0);
	expect_refused("malformed state sections");
	snapshot_remove_dir(dir);
	/* Two sections of one name. */
	assert_int_equal(mkdir(dir, 0700), 0);
	st.len = 0;
	assert_int_equal(state_put(&st, "serial", 1, "a", 1), 0);
	assert_int_equal(state_put(&st, "serial", 1, "b", 1), 0);
	assert_int_equal(snapshot_write(dir, key, 1, "dup", &st, &mem, NULL), 0);
	expect_refused("malformed state sections");
	bytes_free(&st);
	guest_memory_destroy(&mem);
}

/* A console saved with its queues, then one whose ring lies past guest
 * memory: the restore refuses it. */
static void test_queue_outside_memory_is_refused(void **state)
{
	struct machine m;
	struct event_loop loop;
	struct virtio_console c;
	machine_init(&m);
	nook_error *err = NULL;
	if (x86_machine_create(&m, MEM_SIZE * 4, kvm_host_is_pvm(), &err) < 0) {
		nook_error_free(err);
		skip();
	}
	assert_int_equal(event_loop_init(&loop), 0);
	const struct virtio_console_port_config ports[] = {{.name = "p", .in_fd = -1, .out_fd = -1}};
	assert_int_equal(virtio_console_init(&c, &m, &loop, ports, 1, 256, LAYOUT_VIRTIO_MMIO_BASE,
					     LAYOUT_FIRST_DEVICE_IRQ, &err),
			 0);
	struct virtq *q = &c.mmio.queues[0];
	q->size = 16;
	q->desc_gpa = 0x10000;
	q->avail_gpa = 0x11000;
	q->used_gpa = 0x12000;
	assert_int_equal(virtq_activate(q), 0);
	struct bytes saved = {0};
	assert_int_equal(virtio_mmio_save(&c.mmio, "virtio-mmio.0", &saved), 0);
	struct state_section sec;
	assert_int_equal(state_find(saved.data, saved.len, "virtio-mmio.0", &sec), 0);
	assert_int_equal(virtio_mmio_restore(&c.mmio, sec.data, sec.len), 0);
	assert_true(c.mmio.queues[0].ready);

	/* A cut section. */
	assert_int_equal(virtio_mmio_restore(&c.mmio, sec.data, sec.len - 1), -EINVAL);
	/* A used ring far past guest memory, as a doctored file would say. */
	c.mmio.queues[0].used_gpa = 64ULL << 30;
	struct bytes bad = {0};
	assert_int_equal(virtio_mmio_save(&c.mmio, "virtio-mmio.0", &bad), 0);
	assert_int_equal(state_find(bad.data, bad.len, "virtio-mmio.0", &sec), 0);
	assert_int_equal(virtio_mmio_restore(&c.mmio, sec.data, sec.len), -EINVAL);
	assert_false(c.mmio.queues[0].ready);
	bytes_free(&bad);
	bytes_free(&saved);
	virtio_console_destroy(&c);
	event_loop_destroy(&loop);
	machine_destroy(&m);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_key_changes_with_every_input(void **state)
{
	struct machine m;
	machine_init(&m);
	nook_error *err = NULL;
	if (machine_create(&m, false, &err) < 0) {
		nook_error_free(err);
		skip();
	}
	char kernel[128], init[128], cache[128];
	snprintf(kernel, sizeof(kernel), "%s/kernel", dir);
	snprintf(init, sizeof(init), "%s/init", dir);
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	setenv("NOOK_CACHE_DIR", cache, 1);
	write_file(kernel, "kernel one");
	write_file(init, "init");
	struct snapshot_shape shape = {.kernel_path = kernel, .init_path = init,
				       .cmdline = "quiet", .memory_mib = 512, .vcpus = 1,
				       .threads_per_core = 1, .rng = true};
	uint8_t base[SNAPSHOT_KEY_SIZE], again[SNAPSHOT_KEY_SIZE], other[SNAPSHOT_KEY_SIZE];
	assert_int_equal(snapshot_key(&shape, &m, base, &err), 0);
	assert_int_equal(snapshot_key(&shape, &m, again, &err), 0);
	assert_memory_equal(base, again, sizeof(base));

	struct snapshot_shape s = shape;
	s.cmdline = "quiet console=ttyS0";
	assert_int_equal(snapshot_key(&s, &m, other, &err), 0);
	assert_memory_not_equal(base, other, sizeof(base));
	s = shape;
	s.memory_mib = 1024;
	assert_int_equal(snapshot_key(&s, &m, other, &err), 0);
	assert_memory_not_equal(base, other, sizeof(base));
	s = shape;
	s.vcpus = 2;
	assert_int_equal(snapshot_key(&s, &m, other, &err), 0);
	assert_memory_not_equal(base, other, sizeof(base));
	s = shape;
	s.rng = false;
	assert_int_equal(snapshot_key(&s, &m, other, &err), 0);
	assert_memory_not_equal(base, other, sizeof(base));
	/* The balloon is probed before the ready point, with its features. */
	s = shape;
	s.balloon = true;
	uint8_t balloon[SNAPSHOT_KEY_SIZE];
	assert_int_equal(snapshot_key(&s, &m, balloon, &err), 0);
	assert_memory_not_equal(base, balloon, sizeof(base));
	s.balloon_stats = true;
	assert_int_equal(snapshot_key(&s, &m, other, &err), 0);
	assert_memory_not_equal(balloon, other, sizeof(balloon));
	s = shape;
	s.vcpus = 2;
	s.threads_per_core = 2;
	uint8_t two[SNAPSHOT_KEY_SIZE];
	assert_int_equal(snapshot_key(&s, &m, two, &err), 0);
	s.threads_per_core = 1;
	assert_int_equal(snapshot_key(&s, &m, other, &err), 0);
	assert_memory_not_equal(two, other, sizeof(two));
	s = shape;
	s.nested = true;
	assert_int_equal(snapshot_key(&s, &m, other, &err), 0);
	assert_memory_not_equal(base, other, sizeof(base));
	/* New kernel bytes: the cached hash of the old ones must not be used. */
	write_file(kernel, "kernel two");
	assert_int_equal(snapshot_key(&shape, &m, other, &err), 0);
	assert_memory_not_equal(base, other, sizeof(base));
	write_file(kernel, "kernel one");
	write_file(init, "init 2");
	assert_int_equal(snapshot_key(&shape, &m, other, &err), 0);
	assert_memory_not_equal(base, other, sizeof(base));
	write_file(init, "init");
	/* A root in guest memory: its archive's bytes are the snapshot's. */
	char archive[128];
	snprintf(archive, sizeof(archive), "%s/rootfs.cpio", dir);
	write_file(archive, "root one");
	s = shape;
	s.root_archive_path = archive;
	uint8_t in_memory[SNAPSHOT_KEY_SIZE];
	assert_int_equal(snapshot_key(&s, &m, in_memory, &err), 0);
	assert_memory_not_equal(base, in_memory, sizeof(base));
	write_file(archive, "root two");
	assert_int_equal(snapshot_key(&s, &m, other, &err), 0);
	assert_memory_not_equal(in_memory, other, sizeof(in_memory));

	unlink(archive);
	unlink(kernel);
	unlink(init);
	unsigned removed;
	assert_int_equal(nook_snapshot_prune(&removed, &err), 0);
	char path[192];
	snprintf(path, sizeof(path), "%s/hashes", cache);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/snapshots", cache);
	rmdir(path);
	rmdir(cache);
	machine_destroy(&m);
}

static void count_listed(const struct nook_snapshot_info *info, void *userdata)
{
	++*(int *)userdata;
	assert_true(info->valid == !strcmp(info->key, "key"));
}

/* List and prune cover the jailed VMMs' caches (jail-UID) and follow no
 * symlink a jail's identity may have planted there. */
static void test_list_and_prune_within_jail_caches(void **state)
{
	char cache[128], path[256], victim[128];
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	setenv("NOOK_CACHE_DIR", cache, 1);
	mkdir(cache, 0700);
	mkdir(victim, 0700);
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_STATE_FILE, victim);
	write_file(path, "root's file, not a snapshot");
	snprintf(path, sizeof(path), "%s/jail-4242", cache);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/jail-4242/snapshots", cache);
	mkdir(path, 0700);
	/* A real snapshot in the jail's cache, a planted link beside it. */
	char real[256];
	snprintf(real, sizeof(real), "%s/jail-4242/snapshots/key", cache);
	mkdir(real, 0700);
	write_sample_to(real);
	snprintf(path, sizeof(path), "%s/jail-4242/snapshots/planted", cache);
	assert_int_equal(symlink(victim, path), 0);
	snprintf(path, sizeof(path), "%s/jail-4242/snapshots/fifo", cache);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/jail-4242/snapshots/fifo/" SNAPSHOT_STATE_FILE, cache);
	assert_int_equal(mkfifo(path, 0600), 0);

	nook_error *err = NULL;
	int listed = 0;
	assert_int_equal(nook_snapshot_list(count_listed, &listed, &err), 0);
	assert_int_equal(listed, 2);
	/* Another jail's cache whose tables are links: to a directory holding
	 * the victim (as snapshots) and to the victim itself (as hashes). */
	snprintf(path, sizeof(path), "%s/jail-4343", cache);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/jail-4343/snapshots", cache);
	assert_int_equal(symlink(dir, path), 0);
	snprintf(path, sizeof(path), "%s/jail-4343/hashes", cache);
	assert_int_equal(symlink(victim, path), 0);
	unsigned removed;
	assert_int_equal(nook_snapshot_prune(&removed, &err), -ENOTDIR);
	assert_non_null(strstr(nook_error_message(err), "jail-4343/snapshots: not a directory"));
	nook_error_free(err);
	assert_int_equal(removed, 2);
	assert_int_equal(access(real, F_OK), -1);
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_STATE_FILE, victim);
	assert_int_equal(access(path, F_OK), 0);
	char rm[1024];
	snprintf(rm, sizeof(rm), "rm -rf -- %s %s", cache, victim);
	assert_int_equal(system(rm), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_files_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_sections_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_outside_memory_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_changes_with_every_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_and_prune_within_jail_caches, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
