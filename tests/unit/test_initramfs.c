/* Unit tests for the generated initramfs (vm/initramfs.c) and the parts of
 * nook-init that need no VM (guest/init/init_config.c, init_run.c):
 * - cpio archives are checked byte by byte for the newc layout, then
 *   unpacked with the real GNU cpio;
 * - configs are encoded by the VMM's encoder and decoded by nook-init's own
 *   parser; malformed ones are built by hand;
 * - the program launch runs for real in a forked child, with pipes for its
 *   stdio. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/io.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/agent_protocol.h"
#include "guest/init/init_config.h"
#include "guest/init/init_run.h"
#include "vm/guest_config.h"
#include "vm/initramfs.h"

/* --- helpers --- */

static char *make_tmpdir(void)
{
	char *dir = strdup("/tmp/nook-test-initramfs-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void remove_tree(char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Reads a whole file (NUL-terminated for convenience); returns its length. */
static size_t read_file(const char *path, char **out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*out = malloc((size_t)st.st_size + 1);
	assert_non_null(*out);
	assert_int_equal(read(fd, *out, (size_t)st.st_size), st.st_size);
	(*out)[st.st_size] = '\0';
	close(fd);
	return (size_t)st.st_size;
}

/* Unpacks `archive` into a new temporary directory with GNU cpio. */
static char *extract(const struct bytes *archive)
{
	char *dir = make_tmpdir(), path[512], cmd[1024];

	snprintf(path, sizeof(path), "%s.cpio", dir);
	write_file(path, archive->data, archive->len, 0600);
	snprintf(cmd, sizeof(cmd), "cd '%s' && cpio -idm --quiet < '%s'", dir, path);
	assert_int_equal(system(cmd), 0);
	unlink(path);
	return dir;
}

static void check_file(const char *dir, const char *name, mode_t mode, const void *data, size_t len)
{
	char path[512], *got;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, mode);
	assert_int_equal(st.st_mtime, 0);
	assert_int_equal(read_file(path, &got), len);
	assert_memory_equal(got, data, len);
	free(got);
}

static uint32_t hex8(const uint8_t *p)
{
	char s[9];

	memcpy(s, p, 8);
	s[8] = '\0';
	for (int i = 0; i < 8; i++)
		assert_true(s[i] && strchr("0123456789abcdefABCDEF", s[i]));
	return (uint32_t)strtoul(s, NULL, 16);
}

struct entry {
	uint32_t ino, mode, uid, gid, nlink, mtime, size, namesize;
	const char *name;
	const uint8_t *data;
};

/* Walks a newc archive, checking its layout; returns the number of entries
 * (trailer included) stored into `e`. */
static size_t walk_newc(const struct bytes *a, struct entry *e, size_t max)
{
	size_t off = 0, n = 0;

	assert_int_equal(a->len % 4, 0);
	while (off < a->len) {
		assert_true(n < max);
		assert_true(a->len - off >= 110);
		assert_int_equal(off % 4, 0);
		assert_memory_equal(a->data + off, "070701", 6);
		const uint8_t *f = a->data + off + 6;
		e[n] = (struct entry){
			.ino = hex8(f), .mode = hex8(f + 8), .uid = hex8(f + 16), .gid = hex8(f + 24),
			.nlink = hex8(f + 32), .mtime = hex8(f + 40), .size = hex8(f + 48),
			.namesize = hex8(f + 88), .name = (const char *)a->data + off + 110,
		};
		for (int k = 56; k <= 96; k += k == 80 ? 16 : 8) /* dev, rdev, check */
			assert_int_equal(hex8(f + k), 0);
		assert_true(e[n].namesize >= 1 && off + 110 + e[n].namesize <= a->len);
		assert_int_equal(e[n].name[e[n].namesize - 1], '\0');
		assert_int_equal(strlen(e[n].name) + 1, e[n].namesize);
		size_t end = off + 110 + e[n].namesize; /* then zeros up to a multiple of 4 */
		for (off = end; off % 4; off++)
			assert_true(off < a->len && a->data[off] == 0);
		e[n].data = a->data + off;
		assert_true(e[n].size <= a->len - off);
		for (off += e[n].size; off % 4; off++)
			assert_true(off < a->len && a->data[off] == 0);
		n++;
		if (strcmp(e[n - 1].name, "TRAILER!!!") == 0)
			break;
	}
	assert_true(n > 0);
	assert_string_equal(e[n - 1].name, "TRAILER!!!");
	assert_int_equal(off, a->len); /* nothing after the trailer */
	return n;
}

/* --- cpio writer --- */

static const uint8_t binary[] = { 0x7f, 'E', 'L', 'F', 0, 1, 2, 0xff, '\n', 0 };

/* Names and sizes chosen so that every padding length 0..3 occurs. */
static void build_sample(struct cpio *c)
{
	assert_int_equal(cpio_add_dir(c, "d", 0755), 0);
	assert_int_equal(cpio_add_dir(c, "d/sub", 0700), 0);
	assert_int_equal(cpio_add_file(c, "d/empty", 0644, NULL, 0), 0);
	assert_int_equal(cpio_add_file(c, "d/bin", 04755, binary, sizeof(binary)), 0);
	assert_int_equal(cpio_add_file(c, "d/sub/a", 0600, "x", 1), 0);
	assert_int_equal(cpio_add_file(c, "d/sub/ab", 0640, "xy", 2), 0);
	assert_int_equal(cpio_add_file(c, "d/sub/abc", 0444, "xyz", 3), 0);
	assert_int_equal(cpio_add_symlink(c, "d/link", "sub/abc"), 0);
	assert_int_equal(cpio_add_symlink(c, "abs", "/d/bin"), 0);
	assert_int_equal(cpio_finish(c), 0);
}

static void test_cpio_layout(void **state)
{
	struct cpio c = { 0 };
	struct entry e[16];

	build_sample(&c);
	size_t n = walk_newc(&c.buf, e, 16);
	assert_int_equal(n, 10);

	static const struct {
		const char *name;
		uint32_t mode, nlink;
	} want[] = {
		{ "d", S_IFDIR | 0755, 2 },        { "d/sub", S_IFDIR | 0700, 2 },
		{ "d/empty", S_IFREG | 0644, 1 },  { "d/bin", S_IFREG | 04755, 1 },
		{ "d/sub/a", S_IFREG | 0600, 1 },  { "d/sub/ab", S_IFREG | 0640, 1 },
		{ "d/sub/abc", S_IFREG | 0444, 1 }, { "d/link", S_IFLNK | 0777, 1 },
		{ "abs", S_IFLNK | 0777, 1 },
	};
	for (size_t i = 0; i < 9; i++) {
		assert_string_equal(e[i].name, want[i].name);
		assert_int_equal(e[i].mode, want[i].mode);
		assert_int_equal(e[i].nlink, want[i].nlink);
		assert_int_equal(e[i].ino, i + 1);
		assert_int_equal(e[i].uid, 0);
		assert_int_equal(e[i].gid, 0);
		assert_int_equal(e[i].mtime, 0);
	}
	assert_int_equal(e[3].size, sizeof(binary));
	assert_memory_equal(e[3].data, binary, sizeof(binary));
	assert_int_equal(e[7].size, 7);
	assert_memory_equal(e[7].data, "sub/abc", 7);
	assert_int_equal(e[9].ino, 0);
	assert_int_equal(e[9].size, 0);
	bytes_free(&c.buf);
}

static void test_cpio_extract(void **state)
{
	struct cpio c = { 0 };
	char path[512], target[64];
	struct stat st;

	build_sample(&c);
	char *dir = extract(&c.buf);

	static const struct {
		const char *name;
		mode_t mode;
	} dirs[] = { { "d", 0755 }, { "d/sub", 0700 } };
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dirs[i].name);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 07777, dirs[i].mode);
	}
	check_file(dir, "d/empty", 0644, "", 0);
	check_file(dir, "d/bin", 04755, binary, sizeof(binary));
	check_file(dir, "d/sub/a", 0600, "x", 1);
	check_file(dir, "d/sub/ab", 0640, "xy", 2);
	check_file(dir, "d/sub/abc", 0444, "xyz", 3);

	static const char *const links[][2] = { { "d/link", "sub/abc" }, { "abs", "/d/bin" } };
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, links[i][0]);
		ssize_t n = readlink(path, target, sizeof(target));
		assert_int_equal(n, strlen(links[i][1]));
		assert_memory_equal(target, links[i][1], (size_t)n);
	}
	remove_tree(dir);
	bytes_free(&c.buf);
}

static void test_cpio_rejects(void **state)
{
	struct cpio c = { 0 };

	assert_int_equal(cpio_add_dir(&c, "ok", 0755), 0);
	size_t len = c.buf.len;
	assert_int_equal(cpio_add_dir(&c, "", 0755), -EINVAL);
	assert_int_equal(cpio_add_dir(&c, "/abs", 0755), -EINVAL);
	assert_int_equal(cpio_add_dir(&c, "TRAILER!!!", 0755), -EINVAL);
	assert_int_equal(cpio_add_dir(&c, "d", S_IFDIR | 0755), -EINVAL);
	assert_int_equal(cpio_add_file(&c, "f", 010644, "x", 1), -EINVAL);
	assert_int_equal(cpio_add_symlink(&c, "l", ""), -EINVAL);
	assert_int_equal(cpio_add_file(&c, "huge", 0644, "x", (size_t)UINT32_MAX + 1), -E2BIG);
	assert_int_equal(c.buf.len, len);
	assert_int_equal(c.last_ino, 1);
	bytes_free(&c.buf);
}

static void test_initramfs_build(void **state)
{
	struct bytes archive = { 0 };

	/* nook-init only: its configuration comes at the ready point. */
	assert_int_equal(initramfs_build(&archive, binary, sizeof(binary)), 0);
	struct entry e[8];
	assert_int_equal(walk_newc(&archive, e, 8), 3);
	assert_string_equal(e[0].name, "nook");
	assert_string_equal(e[1].name, NOOK_INIT_PATH + 1);
	char *dir = extract(&archive);
	check_file(dir, NOOK_INIT_PATH, 0755, binary, sizeof(binary));
	remove_tree(dir);
	bytes_free(&archive);
}

/* What every CONFIG message carries besides the program. */
static void add_clock_and_entropy(struct bytes *b)
{
	static const uint8_t entropy[NOOK_ENTROPY_MIN] = { 1, 2, 3 };
	struct timespec now = { .tv_sec = 1790000000, .tv_nsec = 123456789 };

	assert_int_equal(guest_config_add_clock(b, &now), 0);
	assert_int_equal(guest_config_add_entropy(b, entropy, sizeof(entropy)), 0);
}

/* --- config encoder and nook-init's parser --- */

static const char *const tricky_args[] = {
	"hello world", "it's \"quoted\" \\ $HOME `x`", "line1\nline2\r\n", "", " \t ", "--flag=a=b",
};

static void test_config_roundtrip(void **state)
{
	struct bytes b = { 0 };
	struct init_config cfg;
	char err[256], (*env)[1100] = calloc(100, sizeof(*env));

	assert_non_null(env);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, "FIRST=1"), 0);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_EXEC_PATH, "my prog"), 0);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ARG, tricky_args[i]), 0);
	for (int i = 0; i < 100; i++) {
		int n = snprintf(env[i], sizeof(env[i]), "VAR_%03d=", i);
		for (int j = 0; j < 1024; j++)
			env[i][n + j] = (char)(' ' + (i + j) % 95); /* printable, '=' included */
		env[i][n + 1024] = '\0';
		assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, env[i]), 0);
	}
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_WORKDIR, "/work dir/ü"), 0);
	assert_int_equal(guest_config_add_rlimit(&b, RLIMIT_NOFILE, 1024, 2048), 0);
	assert_int_equal(guest_config_add_rlimit(&b, RLIMIT_CORE, 0, UINT64_MAX), 0);
	assert_int_equal(guest_config_add_rlimit(&b, 0xfedcba98, 1ull << 40, 0x0123456789abcdefull),
			 0);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_HOSTNAME, "box"), 0);
	assert_int_equal(guest_config_add_slot(&b, 7), 0);
	assert_int_equal(guest_config_add_slot(&b, 3), 0);
	add_clock_and_entropy(&b);

	assert_int_equal(init_config_parse(b.data, b.len, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.exec_path, "my prog");
	assert_int_equal(cfg.argc, 7);
	assert_string_equal(cfg.argv[0], "my prog");
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(cfg.argv[i + 1], tricky_args[i]);
	assert_null(cfg.argv[7]);
	assert_int_equal(cfg.envc, 101);
	assert_string_equal(cfg.env[0], "FIRST=1");
	for (int i = 0; i < 100; i++)
		assert_string_equal(cfg.env[i + 1], env[i]);
	assert_null(cfg.env[101]);
	assert_string_equal(cfg.workdir, "/work dir/ü");
	assert_int_equal(cfg.nrlimits, 3);
	assert_int_equal(cfg.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(cfg.rlimits[0].soft, 1024);
	assert_int_equal(cfg.rlimits[0].hard, 2048);
	assert_int_equal(cfg.rlimits[1].resource, RLIMIT_CORE);
	assert_int_equal(cfg.rlimits[1].soft, 0);
	assert_true(cfg.rlimits[1].hard == UINT64_MAX);
	assert_int_equal(cfg.rlimits[2].resource, 0xfedcba98);
	assert_true(cfg.rlimits[2].soft == 1ull << 40);
	assert_true(cfg.rlimits[2].hard == 0x0123456789abcdefull);
	assert_string_equal(cfg.hostname, "box");
	assert_int_equal(cfg.nslots, 2);
	assert_int_equal(cfg.slots[0], 7);
	assert_int_equal(cfg.slots[1], 3);
	assert_int_equal(cfg.clock_sec, 1790000000);
	assert_int_equal(cfg.clock_nsec, 123456789);
	assert_int_equal(cfg.entropy_len, NOOK_ENTROPY_MIN);
	assert_int_equal(cfg.entropy[2], 3);
	init_config_free(&cfg);

	/* The smallest config, and the wire format itself. */
	struct bytes m = { 0 };
	static const uint8_t wire[] = { 1, 0, 0, 0, 2, 0, 0, 0, 's', 'h' };
	assert_int_equal(guest_config_add_string(&m, NOOK_TAG_EXEC_PATH, "sh"), 0);
	assert_int_equal(m.len, sizeof(wire));
	assert_memory_equal(m.data, wire, sizeof(wire));
	add_clock_and_entropy(&m);
	assert_int_equal(init_config_parse(m.data, m.len, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.argc, 1);
	assert_int_equal(cfg.envc, 0);
	assert_null(cfg.workdir);
	assert_int_equal(cfg.nrlimits, 0);
	init_config_free(&cfg);

	bytes_free(&m);
	bytes_free(&b);
	free(env);
}

static void test_config_encoder_rejects(void **state)
{
	struct bytes b = { 0 };

	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_EXEC_PATH, "x"), 0);
	size_t len = b.len;
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_EXEC_PATH, ""), -EINVAL);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_WORKDIR, ""), -EINVAL);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, "NOVALUE"), -EINVAL);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, "=x"), -EINVAL);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, ""), -EINVAL);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_RLIMIT, "x"), -EINVAL);
	assert_int_equal(guest_config_add_string(&b, 42, "x"), -EINVAL);
	assert_int_equal(b.len, len);
	bytes_free(&b);
}

/* Appends a record by hand, with a length that may lie. */
static void raw(struct bytes *b, uint32_t tag, uint32_t len, const void *val, size_t n)
{
	uint8_t *p = realloc(b->data, b->len + 8 + n);

	assert_non_null(p);
	b->data = p;
	for (int i = 0; i < 4; i++) {
		p[b->len + i] = (uint8_t)(tag >> (8 * i));
		p[b->len + 4 + i] = (uint8_t)(len >> (8 * i));
	}
	if (n)
		memcpy(p + b->len + 8, val, n);
	b->len += 8 + n;
}

static void test_config_malformed(void **state)
{
	static const uint8_t rl16[16], rl20[20];
	static const struct {
		const char *what, *msg;
	} cases[] = {
		{ "no clock or entropy", "no clock or no entropy" },
		{ "short entropy", "fewer than 32 bytes" },
		{ "two clocks", "second or malformed clock" },
		{ "clock nsec out of range", "second or malformed clock" },
		{ "slot of 2 bytes", "slot of 2 bytes" },
		{ "truncated header", "truncated header" },
		{ "length past the end", "past the end" },
		{ "unknown tag", "unknown tag 99" },
		{ "arguments without an exec path", "without an exec path" },
		{ "empty config", "no clock or no entropy" },
		{ "rlimit of 16 bytes", "rlimit of 16 bytes" },
		{ "rlimit of 21 bytes", "rlimit of 21 bytes" },
		{ "two exec paths", "second exec path" },
		{ "two workdirs", "second workdir" },
		{ "empty exec path", "empty exec path" },
		{ "NUL in a string", "NUL" },
		{ "env without =", "KEY=VALUE" },
		{ "env with empty key", "KEY=VALUE" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bytes b = { 0 };
		struct init_config cfg, untouched;
		char err[256] = "";
		uint8_t rl21[21] = { 0 }, few[NOOK_ENTROPY_MIN - 1] = { 0 };
		struct nook_record_clock bad_clock = { .sec = 1, .nsec = 1000000000 };
		size_t c = i - 5; /* the cases that need a valid clock and entropy */

		/* The first five are about the clock, entropy and slots. */
		if (i >= 5 || i == 2 || i == 4) {
			if (c != 4 && c != 9)
				raw(&b, NOOK_TAG_EXEC_PATH, 2, "sh", 2);
			if (i < 5 || c != 4)
				add_clock_and_entropy(&b);
		}
		if (i == 1) {
			raw(&b, NOOK_TAG_EXEC_PATH, 2, "sh", 2);
			raw(&b, NOOK_TAG_ENTROPY, sizeof(few), few, sizeof(few));
		}
		if (i == 3) {
			raw(&b, NOOK_TAG_EXEC_PATH, 2, "sh", 2);
			raw(&b, NOOK_TAG_CLOCK, sizeof(bad_clock), &bad_clock, sizeof(bad_clock));
		}
		switch (i < 5 ? (size_t)-1 : c) {
		case 0: raw(&b, NOOK_TAG_ARG, 1, "x", 1); b.len -= 4; break;
		case 1: raw(&b, NOOK_TAG_ARG, 100, "abc", 3); break;
		case 2: raw(&b, 99, 1, "x", 1); break;
		case 3: b.len = 0; add_clock_and_entropy(&b); raw(&b, NOOK_TAG_ARG, 1, "x", 1); break;
		case 4: break;
		case 5: raw(&b, NOOK_TAG_RLIMIT, 16, rl16, 16); break;
		case 6: raw(&b, NOOK_TAG_RLIMIT, 21, rl21, 21); raw(&b, NOOK_TAG_RLIMIT, 20, rl20, 20); break;
		case 7: raw(&b, NOOK_TAG_EXEC_PATH, 2, "sh", 2); break;
		case 8: raw(&b, NOOK_TAG_WORKDIR, 1, "/", 1); raw(&b, NOOK_TAG_WORKDIR, 1, "/", 1); break;
		case 9: raw(&b, NOOK_TAG_EXEC_PATH, 0, NULL, 0); break;
		case 10: raw(&b, NOOK_TAG_ARG, 3, "a\0b", 3); break;
		case 11: raw(&b, NOOK_TAG_ENV, 3, "FOO", 3); break;
		case 12: raw(&b, NOOK_TAG_ENV, 4, "=FOO", 4); break;
		}
		if (i == 0)
			raw(&b, NOOK_TAG_EXEC_PATH, 2, "sh", 2);
		if (i == 2)
			add_clock_and_entropy(&b);
		if (i == 4)
			raw(&b, NOOK_TAG_SLOT, 2, "ab", 2);
		memset(&cfg, 0xa5, sizeof(cfg));
		untouched = cfg;
		int r = init_config_parse(b.data, b.len, &cfg, err, sizeof(err));
		if (getenv("NOOK_TEST_VERBOSE"))
			print_message("%s: %s\n", cases[i].what, err);
		if (r != -EINVAL || !strstr(err, cases[i].msg))
			fail_msg("%s: returned %d, message \"%s\", expected -EINVAL and \"%s\"",
				 cases[i].what, r, err, cases[i].msg);
		assert_memory_equal(&cfg, &untouched, sizeof(cfg));
		bytes_free(&b);
	}
}

/* An idle sandbox's CONFIG (no program) with the agent's port; the agent
 * record is refused twice, of the wrong size, or with port 0. */
static void test_config_idle_and_agent(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	struct init_config cfg;
	char err[256] = "";

	add_clock_and_entropy(&b);
	assert_int_equal(guest_config_add_agent(&b, NOOK_AGENT_PORT), 0);
	assert_int_equal(init_config_parse(b.data, b.len, &cfg, err, sizeof(err)), 0);
	assert_null(cfg.exec_path);
	assert_null(cfg.argv);
	assert_int_equal(cfg.envc, 0);
	assert_int_equal(cfg.agent_port, NOOK_AGENT_PORT);
	assert_false(cfg.tty);
	assert_null(cfg.user);
	init_config_free(&cfg);

	static const struct {
		uint32_t tag, len, value;
		const char *msg;
	} bad[] = {
		{ NOOK_TAG_AGENT, 4, NOOK_AGENT_PORT, "second agent port" },
		{ NOOK_TAG_AGENT, 2, 1, "agent port of 2 bytes" },
		{ NOOK_TAG_AGENT, 4, 0, "agent port 0" },
		{ NOOK_TAG_USER, 4, 0x30303031, "or user without an exec path" },
		{ NOOK_TAG_TTY, 4, 0, "does not belong in a run configuration" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bytes c = { 0 };
		uint8_t val[8] = { 0 };

		memcpy(val, &bad[i].value, 4);
		add_clock_and_entropy(&c);
		if (i == 0)
			assert_int_equal(guest_config_add_agent(&c, NOOK_AGENT_PORT), 0);
		raw(&c, bad[i].tag, bad[i].len, val, bad[i].len);
		int r = init_config_parse(c.data, c.len, &cfg, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, bad[i].msg))
			fail_msg("case %zu: returned %d, \"%s\", expected \"%s\"", i, r, err, bad[i].msg);
		bytes_free(&c);
	}
	bytes_free(&b);
}

/* An agent's EXEC request as vm/exec.c builds it, parsed back. */
static void test_exec_request_roundtrip(void **state)
{
	(void)state;
	struct bytes b = { 0 };
	struct init_config cfg;
	char err[256] = "";

	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_EXEC_PATH, "ls"), 0);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ARG, "-l"), 0);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, "A=b=c"), 0);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_WORKDIR, "/tmp"), 0);
	assert_int_equal(guest_config_add_rlimit(&b, 7, 10, 20), 0);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_USER, "app:100"), 0);
	assert_int_equal(guest_config_add_tty(&b, 50, 132), 0);
	assert_int_equal(init_exec_request_parse(b.data, b.len, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.exec_path, "ls");
	assert_int_equal(cfg.argc, 2);
	assert_string_equal(cfg.argv[1], "-l");
	assert_null(cfg.argv[2]);
	assert_string_equal(cfg.env[0], "A=b=c");
	assert_string_equal(cfg.workdir, "/tmp");
	assert_int_equal(cfg.nrlimits, 1);
	assert_string_equal(cfg.user, "app:100");
	assert_true(cfg.tty);
	assert_int_equal(cfg.rows, 50);
	assert_int_equal(cfg.cols, 132);
	init_config_free(&cfg);
	bytes_free(&b);
}

/* Malformed EXEC requests: each refused with a message, `out` untouched. */
static void test_exec_request_malformed(void **state)
{
	(void)state;
	static const uint8_t zero[32];
	static const struct {
		uint32_t tag, len;
		const char *msg;
	} cases[] = {
		{ 0, 0, "no exec path" },                              /* empty request */
		{ NOOK_TAG_ARG, 1, "no exec path" },                   /* args only */
		{ NOOK_TAG_CLOCK, 12, "does not belong in an exec request" },
		{ NOOK_TAG_ENTROPY, 32, "does not belong in an exec request" },
		{ NOOK_TAG_ROOT, 1, "does not belong in an exec request" },
		{ NOOK_TAG_SLOT, 4, "does not belong in an exec request" },
		{ NOOK_TAG_AGENT, 4, "does not belong in an exec request" },
		{ 99, 1, "does not belong in an exec request" },
		{ NOOK_TAG_USER, 8, "contains a NUL byte" },
		{ NOOK_TAG_USER, 1, "second user" },
		{ NOOK_TAG_TTY, 5, "tty of 5 bytes" },
		{ NOOK_TAG_TTY, 4, "second tty" },
		{ NOOK_TAG_EXEC_PATH, 0, "empty exec path" },
		{ NOOK_TAG_RLIMIT, 19, "rlimit of 19 bytes" },
		{ NOOK_TAG_ENV, 3, "KEY=VALUE" },
		{ NOOK_TAG_ARG, 0xffff, "past the end" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bytes b = { 0 };
		struct init_config cfg, untouched;
		char err[256] = "";
		bool no_path = i == 0 || i == 1 || i == 12;

		if (!no_path)
			raw(&b, NOOK_TAG_EXEC_PATH, 2, "sh", 2);
		if (cases[i].tag == NOOK_TAG_USER && cases[i].len == 1)
			raw(&b, NOOK_TAG_USER, 1, "u", 1);
		if (cases[i].tag == NOOK_TAG_TTY && cases[i].len == 4)
			raw(&b, NOOK_TAG_TTY, 4, zero, 4);
		if (i == 12)
			raw(&b, NOOK_TAG_EXEC_PATH, 0, NULL, 0);
		else if (i == 15)
			raw(&b, NOOK_TAG_ARG, 0xffff, "abc", 3);
		else if (cases[i].tag == NOOK_TAG_ENV)
			raw(&b, NOOK_TAG_ENV, 3, "FOO", 3);
		else if (cases[i].tag == NOOK_TAG_ROOT || cases[i].tag == 99 || cases[i].tag == NOOK_TAG_ARG ||
			 (cases[i].tag == NOOK_TAG_USER && cases[i].len == 1))
			raw(&b, cases[i].tag, 1, "x", 1);
		else if (i != 0)
			raw(&b, cases[i].tag, cases[i].len, zero, cases[i].len);
		memset(&cfg, 0xa5, sizeof(cfg));
		untouched = cfg;
		int r = init_exec_request_parse(b.data, b.len, &cfg, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, cases[i].msg))
			fail_msg("case %zu: returned %d, message \"%s\", expected -EINVAL and \"%s\"", i, r,
				 err, cases[i].msg);
		assert_memory_equal(&cfg, &untouched, sizeof(cfg));
		bytes_free(&b);
	}
}

/* --- running the program (init_run.c) --- */

struct run {
	int status;
	char out[4096], err[4096];
};

static void read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while ((n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
}

/* Runs `b` through nook-init's parser and launcher in a forked child, with
 * `in` as its stdin and pipes as its stdout and stderr. Returns the child's pid. */
static pid_t run_config(const struct bytes *b, const char *in, struct run *res)
{
	struct init_config cfg;
	char err[256];
	int out[2], errp[2], stdio[3];

	assert_int_equal(init_config_parse(b->data, b->len, &cfg, err, sizeof(err)), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	stdio[0] = open(in ? in : "/dev/null", O_RDONLY | O_CLOEXEC);
	stdio[1] = out[1];
	stdio[2] = errp[1];
	for (int i = 0; i < 3; i++)
		assert_true(stdio[i] >= 3);

	sigset_t none;
	sigemptyset(&none);
	pid_t pid = init_spawn(&cfg, stdio, &none);
	assert_true(pid > 0);
	for (int i = 0; i < 3; i++)
		close(stdio[i]);
	read_all(out[0], res->out, sizeof(res->out));
	read_all(errp[0], res->err, sizeof(res->err));
	int wstatus;
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	res->status = init_exit_status(wstatus);
	init_config_free(&cfg);
	return pid;
}

/* A config running `exec_path` with `args` (NULL-terminated). */
static void simple_config(struct bytes *b, const char *exec_path,
			  const char *const *args)
{
	assert_int_equal(guest_config_add_string(b, NOOK_TAG_EXEC_PATH, exec_path), 0);
	for (; args && *args; args++)
		assert_int_equal(guest_config_add_string(b, NOOK_TAG_ARG, *args), 0);
	add_clock_and_entropy(b);
}

static void test_exec_program(void **state)
{
	struct bytes b = { 0 };
	struct run res;
	char *dir = make_tmpdir(), want[1024], in[512];
	static const char *const args[] = {
		"-c",
		"tr '\\0' '\\n' < /proc/$$/cmdline | head -n 1;"
		" echo \"$0|$1|$PATH|$FOO|${HOME-nohome}\"; pwd; ulimit -n;"
		" read -r a b c d e sid rest < /proc/$$/stat; echo $sid; cat; exit 7",
		"zero", "arg one",
		NULL,
	};

	snprintf(in, sizeof(in), "%s/stdin", dir);
	write_file(in, "from stdin\n", 11, 0644);
	/* "sh" is looked up in the default PATH; dash sets PWD itself. */
	simple_config(&b, "sh", args);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, "FOO=a b"), 0);
	assert_int_equal(guest_config_add_string(&b, NOOK_TAG_WORKDIR, dir), 0);
	assert_int_equal(guest_config_add_rlimit(&b, RLIMIT_NOFILE, 64, 64), 0);

	pid_t pid = run_config(&b, in, &res);
	snprintf(want, sizeof(want),
		 "sh\nzero|arg one|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|a b|nohome\n"
		 "%s\n64\n%d\nfrom stdin\n", dir, (int)pid);
	assert_string_equal(res.out, want);
	assert_string_equal(res.err, "");
	assert_int_equal(res.status, 7);
	bytes_free(&b);
	remove_tree(dir);
}

/* The program must not inherit nook-init's access to the paravirtual
 * port (needs CAP_SYS_RAWIO to grant it here, as PID 1 has in the guest). */
static void test_exec_drops_port_access(void **state)
{
	struct bytes b = { 0 };
	struct run res;

	if (ioperm(NOOK_PORT, 4, 1) < 0)
		skip();
	simple_config(&b, PORT_PROBE, NULL);
	run_config(&b, NULL, &res);
	assert_int_equal(ioperm(NOOK_PORT, 4, 0), 0);
	assert_int_equal(res.status, 128 + SIGSEGV);
	bytes_free(&b);
}

/* The environment as putenv() one entry at a time would leave it: a
 * repeated KEY keeps its first place and takes its last value; Docker's
 * PATH comes last unless the config sets one. The child shares nook-init's
 * memory until it execs (vfork), so the caller's own environment and
 * directory must stay as they were. */
static void test_exec_environment(void **state)
{
	static const struct {
		const char *env[4], *out;
	} cases[] = {
		{ { "A=1", "B=2", "A=3", NULL },
		  "A=3\nB=2\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" },
		{ { "PATH=/usr/bin:/bin", "C=x=y", "PATH=/bin", NULL }, "PATH=/bin\nC=x=y\n" },
	};
	char cwd[PATH_MAX], *dir = make_tmpdir();

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(setenv("NOOK_TEST_PARENT", "kept", 1), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bytes b = { 0 };
		struct run res;

		simple_config(&b, "env", NULL);
		for (const char *const *e = cases[i].env; *e; e++)
			assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, *e), 0);
		assert_int_equal(guest_config_add_string(&b, NOOK_TAG_WORKDIR, dir), 0);
		run_config(&b, NULL, &res);
		assert_string_equal(res.err, "");
		assert_int_equal(res.status, 0);
		assert_string_equal(res.out, cases[i].out);
		bytes_free(&b);
	}
	char now[PATH_MAX];
	assert_non_null(getcwd(now, sizeof(now)));
	assert_string_equal(now, cwd);
	assert_string_equal(getenv("NOOK_TEST_PARENT"), "kept");
	unsetenv("NOOK_TEST_PARENT");
	remove_tree(dir);
}

static void test_exec_failures(void **state)
{
	char *dir = make_tmpdir(), text[512], elfish[512], path_env[600];

	snprintf(text, sizeof(text), "%s/text", dir);
	write_file(text, "#!/bin/sh\necho hi\n", 18, 0644);
	snprintf(elfish, sizeof(elfish), "%s/elfish", dir);
	write_file(elfish, binary, sizeof(binary), 0755);
	snprintf(path_env, sizeof(path_env), "PATH=/nonexistent::%s", dir);

	const struct {
		const char *exec_path, *env, *workdir, *user, *err;
		int status;
		uint64_t soft, hard;
	} cases[] = {
		{ .exec_path = "no-such-program-nook", .status = 127,
		  .err = "nook-init: no-such-program-nook: not found\n" },
		{ .exec_path = "/no/such/file", .status = 127, .err = "nook-init: /no/such/file: not found\n" },
		/* a PATH from the config is the one searched */
		{ .exec_path = "sh", .env = "PATH=/nonexistent", .status = 127,
		  .err = "nook-init: sh: not found\n" },
		{ .exec_path = text, .status = 126, .err = "Permission denied\n" },
		{ .exec_path = "/", .status = 126, .err = "nook-init: /: Permission denied\n" },
		/* no shell fallback for a file in an unknown format, by path or by PATH
		 * (where the empty entry is the workdir) */
		{ .exec_path = elfish, .status = 126, .err = "Exec format error\n" },
		{ .exec_path = "elfish", .env = path_env, .workdir = "/", .status = 126,
		  .err = "nook-init: elfish: Exec format error\n" },
		{ .exec_path = "elfish", .env = "PATH=/nonexistent::/bin", .workdir = dir, .status = 126,
		  .err = "nook-init: elfish: Exec format error\n" },
		{ .exec_path = "sh", .workdir = "/no/such/dir", .status = 125,
		  .err = "nook-init: workdir /no/such/dir: No such file or directory\n" },
		{ .exec_path = "sh", .soft = 10, .hard = 5, .status = 125,
		  .err = "nook-init: rlimit 7=10:5: Invalid argument\n" },
		/* resolved before the child starts, reported as the program's */
		{ .exec_path = "sh", .user = "no-such-user-nook", .status = 125,
		  .err = "nook-init: user \"no-such-user-nook\": no such user in /etc/passwd\n" },
		{ .exec_path = "sh", .user = "0:no-such-group-nook", .status = 125,
		  .err = "nook-init: group \"no-such-group-nook\": no such group in /etc/group\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bytes b = { 0 };
		struct run res;

		simple_config(&b, cases[i].exec_path, NULL);
		if (cases[i].env)
			assert_int_equal(guest_config_add_string(&b, NOOK_TAG_ENV, cases[i].env), 0);
		if (cases[i].workdir)
			assert_int_equal(guest_config_add_string(&b, NOOK_TAG_WORKDIR, cases[i].workdir), 0);
		if (cases[i].user)
			assert_int_equal(guest_config_add_string(&b, NOOK_TAG_USER, cases[i].user), 0);
		if (cases[i].soft)
			assert_int_equal(guest_config_add_rlimit(&b, RLIMIT_NOFILE, cases[i].soft,
								     cases[i].hard), 0);
		run_config(&b, NULL, &res);
		size_t n = strlen(res.err), m = strlen(cases[i].err);
		if (res.status != cases[i].status || n < m || strcmp(res.err + n - m, cases[i].err) != 0 ||
		    strncmp(res.err, "nook-init: ", 11) != 0 || res.out[0])
			fail_msg("case %zu (%s): status %d, stderr \"%s\"; expected %d, \"...%s\"", i,
				 cases[i].exec_path, res.status, res.err, cases[i].status, cases[i].err);
		bytes_free(&b);
	}
	remove_tree(dir);
}

static void test_exit_status_and_reap(void **state)
{
	static const struct {
		int exit_code, signal, status;
	} cases[] = {
		{ 0, 0, 0 }, { 3, 0, 3 }, { 255, 0, 255 }, { 0, SIGKILL, 137 }, { 0, SIGTERM, 143 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Another child that ends first must be reaped, not taken for the main one. */
		pid_t other = fork();
		assert_true(other >= 0);
		if (other == 0)
			_exit(42);
		pid_t main_pid = fork();
		assert_true(main_pid >= 0);
		if (main_pid == 0) {
			usleep(50 * 1000);
			if (cases[i].signal)
				kill(getpid(), cases[i].signal);
			_exit(cases[i].exit_code);
		}
		assert_int_equal(init_reap(main_pid), cases[i].status);
		assert_int_equal(waitpid(other, NULL, WNOHANG), -1);
		assert_int_equal(errno, ECHILD);
	}
	assert_int_equal(init_reap(getpid()), -ECHILD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpio_layout),
		cmocka_unit_test(test_cpio_extract),
		cmocka_unit_test(test_cpio_rejects),
		cmocka_unit_test(test_initramfs_build),
		cmocka_unit_test(test_config_roundtrip),
		cmocka_unit_test(test_config_encoder_rejects),
		cmocka_unit_test(test_config_malformed),
		cmocka_unit_test(test_config_idle_and_agent),
		cmocka_unit_test(test_exec_request_roundtrip),
		cmocka_unit_test(test_exec_request_malformed),
		cmocka_unit_test(test_exec_program),
		cmocka_unit_test(test_exec_drops_port_access),
		cmocka_unit_test(test_exec_environment),
		cmocka_unit_test(test_exec_failures),
		cmocka_unit_test(test_exit_status_and_reap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
