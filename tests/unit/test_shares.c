/* vm/shares.c: the overlay upper layer's hidden work directory. A symlink
 * planted under its name (by a hostile layer, say) must not be followed to
 * export whatever it points at; a real directory is used, a missing one is
 * made. The lower layers of an overlay root make one share (one device),
 * and nook-init is told its tag and the layers' directories in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/protocol.h"
#include "vm/shares.h"

static char dir[64], upper[128], work[192], outside[128];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/nook-shares-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(upper, sizeof(upper), "%s/upper", dir);
	snprintf(outside, sizeof(outside), "%s/outside", dir);
	snprintf(work, sizeof(work), "%s/" VM_OVERLAY_WORK_NAME, upper);
	assert_int_equal(mkdir(upper, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct vm_fs upper_layer(void)
{
	return (struct vm_fs){.kind = VM_FS_PATH, .role = VM_FS_ROOT_UPPER, .tag = "/dev/root",
			      .path = upper};
}

static void test_planted_symlink_is_refused(void **state)
{
	assert_int_equal(symlink(outside, work), 0);
	struct vm_fs fs = upper_layer();
	struct vm_share_plan share = vm_share_plan_of(&fs, 1);
	struct fs_server *server = NULL;
	nook_error *err = NULL;
	assert_int_equal(vm_share_open_server(&share, NULL, &server, &err), -ENOTDIR);
	assert_null(server);
	assert_non_null(strstr(nook_error_message(err), upper));
	assert_non_null(strstr(nook_error_message(err), "not a directory"));
	nook_error_free(err);
}

static void test_work_dir_is_made_or_reused(void **state)
{
	struct vm_fs fs = upper_layer();
	struct vm_share_plan share = vm_share_plan_of(&fs, 1);
	for (int i = 0; i < 2; i++) {
		struct fs_server *server = NULL;
		assert_int_equal(vm_share_open_server(&share, NULL, &server, NULL), 0);
		fs_server_destroy(server);
		struct stat st;
		assert_int_equal(lstat(work, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
}

static void test_lowers_are_one_share(void **state)
{
	struct vm_fs fs[] = {
		{.kind = VM_FS_PATH, .role = VM_FS_ROOT_LOWER, .tag = "/dev/root.0", .path = outside,
		 .read_only = true},
		{.kind = VM_FS_PATH, .role = VM_FS_ROOT_LOWER, .tag = "/dev/root.1", .path = dir,
		 .read_only = true},
		upper_layer(),
	};
	struct vm_share_plan plans[3];
	size_t n = 0;
	for (size_t i = 0; i < 3; n++) {
		plans[n] = vm_share_plan_of(&fs[i], 3 - i);
		i += plans[n].nlowers ? plans[n].nlowers : 1;
	}
	assert_int_equal(n, 2);
	assert_int_equal(plans[0].nlowers, 2);
	assert_int_equal(plans[1].nlowers, 0);
	struct fs_server *server = NULL;
	assert_int_equal(vm_share_open_server(&plans[0], NULL, &server, NULL), 0);
	fs_server_destroy(server);

	struct bytes b = {0};
	assert_int_equal(vm_shares_encode(plans, n, &b), 0);
	const struct {
		uint32_t tag;
		const char *value;
	} want[] = {{NOOK_TAG_ROOT_LOWERS, "/dev/root.0"},
		    {NOOK_TAG_ROOT_LOWER, "0"},
		    {NOOK_TAG_ROOT_LOWER, "1"},
		    {NOOK_TAG_ROOT_UPPER, "/dev/root"}};
	size_t off = 0;
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		struct nook_record_header h;
		assert_true(off + sizeof(h) <= b.len);
		memcpy(&h, b.data + off, sizeof(h));
		off += sizeof(h);
		assert_int_equal(h.tag, want[i].tag);
		assert_int_equal(h.length, strlen(want[i].value));
		assert_memory_equal(b.data + off, want[i].value, h.length);
		off += h.length;
	}
	assert_int_equal(off, b.len);
	bytes_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_planted_symlink_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_work_dir_is_made_or_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lowers_are_one_share, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
