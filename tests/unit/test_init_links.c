/* nook-init's list of the root's links (guest/init/init_links.c), on a
 * scratch directory standing for the root: the links it names are made
 * there and the list is removed; entries that are not links beneath the
 * root (absolute, "..", no name or target, a truncated pair) and lists
 * that are not regular files are refused, never followed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/init/init_links.h"
#include "guest/protocol.h"

static char root_path[] = "/tmp/nook-test-links-XXXXXX";
static int root = -1;

static int setup(void **state)
{
	memcpy(root_path + sizeof(root_path) - 7, "XXXXXX", 6);
	if (!mkdtemp(root_path))
		return -1;
	root = open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return root < 0 || mkdirat(root, "bin", 0755) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root_path);
	close(root);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_list(const char *bytes, size_t len)
{
	int fd = openat(root, NOOK_ROOT_SYMLINKS + 1, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, len), (ssize_t)len);
	close(fd);
}

static char *link_of(const char *path)
{
	static char buf[256];
	ssize_t n = readlinkat(root, path, buf, sizeof(buf) - 1);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static void test_makes_the_links_and_removes_the_list(void **state)
{
	static const char list[] = "bin/ls\0/bin/busybox\0bin/sh\0/bin/busybox\0top\0bin\0";
	write_list(list, sizeof(list) - 1);
	char err[256] = "";
	assert_int_equal(init_root_links(root, err, sizeof(err)), 0);
	assert_string_equal(link_of("bin/ls"), "/bin/busybox");
	assert_string_equal(link_of("bin/sh"), "/bin/busybox");
	assert_string_equal(link_of("top"), "bin");
	assert_int_equal(faccessat(root, NOOK_ROOT_SYMLINKS + 1, F_OK, AT_SYMLINK_NOFOLLOW), -1);
	/* No list: nothing to do. */
	assert_int_equal(init_root_links(root, err, sizeof(err)), 0);
}

static void test_refuses_what_is_not_a_link_beneath_the_root(void **state)
{
	/* Absolute, "..", an empty name, an empty target, a missing
	 * directory, then a good one, then a pair cut short. */
	static const char list[] = "/abs\0x\0"
				   "../up\0x\0"
				   "bin/../../up2\0x\0"
				   "..\0x\0"
				   "bin/\0x\0"
				   "bin/empty\0\0"
				   "nodir/x\0x\0"
				   "bin/ok\0target\0"
				   "bin/cut";
	write_list(list, sizeof(list) - 1);
	char err[256] = "";
	assert_int_equal(init_root_links(root, err, sizeof(err)), 8);
	assert_non_null(strstr(err, "/abs: not a link entry"));
	assert_string_equal(link_of("bin/ok"), "target");
	assert_null(link_of("bin/empty"));
	assert_null(link_of("bin/cut"));
	char outside[sizeof(root_path) + 8];
	snprintf(outside, sizeof(outside), "%s/../up", root_path);
	assert_int_equal(access(outside, F_OK), -1);
	assert_int_equal(faccessat(root, "up2", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(faccessat(root, NOOK_ROOT_SYMLINKS + 1, F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

/* A list that is a symlink (to a file outside) or a directory is not read. */
static void test_list_must_be_a_regular_file(void **state)
{
	char outside[sizeof(root_path) + 16];
	snprintf(outside, sizeof(outside), "%s.list", root_path);
	FILE *f = fopen(outside, "w");
	assert_non_null(f);
	fwrite("bin/ls\0/x\0", 1, 10, f);
	fclose(f);
	assert_int_equal(symlinkat(outside, root, NOOK_ROOT_SYMLINKS + 1), 0);
	char err[256] = "";
	assert_int_equal(init_root_links(root, err, sizeof(err)), 0);
	assert_null(link_of("bin/ls"));
	unlink(outside);
	assert_int_equal(unlinkat(root, NOOK_ROOT_SYMLINKS + 1, 0), 0);
	assert_int_equal(mkdirat(root, NOOK_ROOT_SYMLINKS + 1, 0755), 0);
	assert_int_equal(init_root_links(root, err, sizeof(err)), 0);
	assert_null(link_of("bin/ls"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_makes_the_links_and_removes_the_list),
		T(test_refuses_what_is_not_a_link_beneath_the_root),
		T(test_list_must_be_a_regular_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
