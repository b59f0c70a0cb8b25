/* The image store against hostile input: layers built here with
 * libarchive's writer, put into real OCI layouts and docker archives, and
 * pulled through the public API into a store in a temporary directory.
 * Every refused layer must leave nothing in layers/ or tmp/. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include <nook/image.h>

#include "util/sha256.h"

/* ---- building layers ---- */

struct entry {
	const char *name;
	mode_t type; /* AE_IF* */
	mode_t perm;
	const char *data;   /* regular files */
	const char *target; /* symlinks */
	const char *hardlink;
	unsigned uid, gid;
	dev_t rdev;
	const char *const *xattrs; /* name, value, ..., NULL */
};

#define FILE_E(n, d) {.name = (n), .type = AE_IFREG, .perm = 0644, .data = (d)}
#define DIR_E(n) {.name = (n), .type = AE_IFDIR, .perm = 0755}

struct blob {
	unsigned char *data;
	size_t len;
};

static struct blob tar_of(const struct entry *e, size_t n, bool gzip)
{
	size_t cap = 1 << 20;
	struct blob b = {malloc(cap), 0};
	/* Names written as UTF-8 (pax); nook reads them in the C locale. */
	locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	assert_non_null(utf8);
	locale_t old = uselocale(utf8);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	archive_write_set_bytes_in_last_block(a, 1);
	assert_int_equal(archive_write_open_memory(a, b.data, cap, &b.len), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_filetype(ae, e[i].hardlink ? AE_IFREG : e[i].type);
		archive_entry_set_perm(ae, e[i].perm);
		archive_entry_set_uid(ae, e[i].uid);
		archive_entry_set_gid(ae, e[i].gid);
		archive_entry_set_mtime(ae, 1700000000, 0);
		if (e[i].target)
			archive_entry_set_symlink(ae, e[i].target);
		if (e[i].hardlink)
			archive_entry_set_hardlink(ae, e[i].hardlink);
		if (e[i].rdev)
			archive_entry_set_rdev(ae, e[i].rdev);
		for (size_t x = 0; e[i].xattrs && e[i].xattrs[x]; x += 2)
			archive_entry_xattr_add_entry(ae, e[i].xattrs[x], e[i].xattrs[x + 1],
						      strlen(e[i].xattrs[x + 1]));
		size_t len = e[i].data ? strlen(e[i].data) : 0;
		archive_entry_set_size(ae, len);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (len)
			assert_int_equal(archive_write_data(a, e[i].data, len), (la_ssize_t)len);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	uselocale(old);
	freelocale(utf8);
	return b;
}

static void digest_of(const struct blob *b, char out[72])
{
	uint8_t sum[SHA256_SIZE];
	struct sha256 h;
	assert_int_equal(sha256_init(&h), 0);
	sha256_update(&h, b->data, b->len);
	sha256_final(&h, sum);
	strcpy(out, "sha256:");
	hex_encode(sum, SHA256_SIZE, out + 7);
}

/* ---- the scratch directory: layouts and a store ---- */

static char scratch[] = "/tmp/nook-test-image-XXXXXX";
static char store_dir[256];

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void write_blob(const char *layout, const char *digest, const struct blob *b)
{
	char name[128];
	snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
	write_file(layout, name, b->data, b->len);
}

/* An OCI layout `name` in the scratch directory with these layers
 * (already compressed or not) and config; a layer's descriptor digest is
 * `fake_digest` when given (its blob is stored under that name). */
static void layout_make(const char *name, const struct blob *layers, size_t n,
			const char *config_json, const char *fake_digest, const char *index_json)
{
	char dir[512], path[600];
	snprintf(dir, sizeof(dir), "%s/%s", scratch, name);
	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/blobs", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	mkdir(path, 0755);
	write_file(dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	char manifest[8192], digest[72];
	int pos = 0;
	struct blob cfg = {(unsigned char *)config_json, strlen(config_json)};
	digest_of(&cfg, digest);
	write_blob(dir, digest, &cfg);
	pos += snprintf(manifest + pos, sizeof(manifest) - pos,
			"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image."
			"config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[",
			digest, cfg.len);
	for (size_t i = 0; i < n; i++) {
		if (fake_digest && i == n - 1)
			strcpy(digest, fake_digest);
		else
			digest_of(&layers[i], digest);
		write_blob(dir, digest, &layers[i]);
		pos += snprintf(manifest + pos, sizeof(manifest) - pos,
				"%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
				"\"digest\":\"%s\",\"size\":%zu}",
				i ? "," : "", digest, layers[i].len);
	}
	pos += snprintf(manifest + pos, sizeof(manifest) - pos, "]}");
	struct blob m = {(unsigned char *)manifest, (size_t)pos};
	digest_of(&m, digest);
	write_blob(dir, digest, &m);
	char index[1024];
	int len = snprintf(index, sizeof(index),
			   "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd."
			   "oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%d}]}",
			   digest, pos);
	if (index_json)
		write_file(dir, "index.json", index_json, strlen(index_json));
	else
		write_file(dir, "index.json", index, (size_t)len);
}

static const char plain_config[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"],"
	"\"Env\":[\"A=1\"],\"WorkingDir\":\"/w\",\"User\":\"1000:1000\"}}";

static size_t count_entries(const char *sub)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", store_dir, sub);
	size_t n = 0;
	DIR *d = opendir(path);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static nook_image_store *store_open(void)
{
	nook_image_store *s;
	nook_error *err = NULL;
	assert_int_equal(nook_image_store_open(store_dir, &s, &err), 0);
	return s;
}

/* Pulls layout `name` and expects it to fail with `message` in its
 * message, leaving no layer behind. */
static void expect_refused(const char *ref_name, const char *message, uint64_t max_bytes)
{
	nook_image_store *s = store_open();
	if (max_bytes)
		nook_image_store_set_layer_limits(s, max_bytes, 1000);
	char ref[600];
	if (strchr(ref_name, ':'))
		snprintf(ref, sizeof(ref), "%s", ref_name);
	else
		snprintf(ref, sizeof(ref), "oci:%s/%s", scratch, ref_name);
	nook_error *err = NULL;
	nook_image *img = NULL;
	int r = nook_image_pull(s, ref, NULL, NULL, &img, &err);
	assert_true(r < 0);
	assert_null(img);
	if (!strstr(nook_error_message(err), message))
		fail_msg("pull %s: \"%s\" lacks \"%s\"", ref, nook_error_message(err), message);
	nook_error_free(err);
	assert_int_equal(count_entries("layers"), 0);
	assert_int_equal(count_entries("tmp"), 0);
	assert_int_equal(count_entries("records"), 0);
	nook_image_store_close(s);
}

static void refused_layer(const char *name, const struct entry *e, size_t n, const char *message)
{
	struct blob b = tar_of(e, n, false);
	layout_make(name, &b, 1, plain_config, NULL, NULL);
	free(b.data);
	expect_refused(name, message, 0);
}

/* ---- hostile layers ---- */

static void test_dotdot(void **state)
{
	(void)state;
	const struct entry e[] = {FILE_E("../escaped", "x")};
	refused_layer("dotdot", e, 1, "\"..\" leaves the layer");
	const struct entry e2[] = {DIR_E("a"), FILE_E("a/../../escaped", "x")};
	refused_layer("dotdot2", e2, 2, "\"..\" leaves the layer");
	char path[512];
	snprintf(path, sizeof(path), "%s/escaped", scratch);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_symlinked_parent(void **state)
{
	(void)state;
	char outside[512];
	snprintf(outside, sizeof(outside), "%s/outside", scratch);
	mkdir(outside, 0755);
	const struct entry e[] = {
		{.name = "link", .type = AE_IFLNK, .perm = 0777, .target = outside},
		FILE_E("link/planted", "x"),
	};
	refused_layer("symlinked", e, 2, "its parent link is a symlink or not a directory");
	const struct entry e2[] = {
		{.name = "up", .type = AE_IFLNK, .perm = 0777, .target = ".."},
		FILE_E("up/planted", "x"),
	};
	refused_layer("symlinked2", e2, 2, "its parent up is a symlink");
	char path[600];
	snprintf(path, sizeof(path), "%s/planted", outside);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_hardlinks(void **state)
{
	(void)state;
	const struct entry out[] = {{.name = "h", .hardlink = "../../../etc/passwd"}};
	refused_layer("hardout", out, 1, "\"..\" leaves the layer");
	const struct entry abs[] = {{.name = "h", .hardlink = "/etc/passwd"}};
	refused_layer("hardabs", abs, 1, "is not an earlier entry of this layer");
	const struct entry later[] = {{.name = "h", .hardlink = "later"}, FILE_E("later", "x")};
	refused_layer("hardlater", later, 2, "which is not an earlier entry of this layer");
	const struct entry via[] = {
		{.name = "l", .type = AE_IFLNK, .perm = 0777, .target = "/etc"},
		{.name = "h", .hardlink = "l/passwd"},
	};
	refused_layer("hardvia", via, 2, "its parent l is a symlink");
}

static void test_limits(void **state)
{
	(void)state;
	char longname[400];
	memset(longname, 'n', 300);
	longname[300] = 0;
	const struct entry e[] = {FILE_E(longname, "x")};
	refused_layer("longname", e, 1, "a name longer than 255 bytes");

	/* Over the entry limit (1000 in expect_refused with a byte limit). */
	static struct entry many[1001];
	static char names[1001][16];
	for (int i = 0; i < 1001; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		many[i] = (struct entry)FILE_E(names[i], "");
	}
	struct blob b = tar_of(many, 1001, false);
	layout_make("entries", &b, 1, plain_config, NULL, NULL);
	free(b.data);
	expect_refused("entries", "more than the layer's limit of 1000 entries", 1 << 20);

	/* Data over the byte limit. */
	static char big[4096];
	memset(big, 'b', sizeof(big) - 1);
	const struct entry bigf[] = {FILE_E("big", big)};
	b = tar_of(bigf, 1, false);
	layout_make("bytes", &b, 1, plain_config, NULL, NULL);
	free(b.data);
	expect_refused("bytes", "more than the layer's limit of 1024", 1024);
}

/* A ustar header whose size field claims 8 GiB with no data behind it. */
static void test_huge_declared_size(void **state)
{
	(void)state;
	struct blob b = {calloc(1, 4096), 2048};
	unsigned char *h = b.data;
	strcpy((char *)h, "huge");
	memcpy(h + 100, "0000644", 8);
	memcpy(h + 108, "0000000", 8);
	memcpy(h + 116, "0000000", 8);
	memcpy(h + 124, "77777777777", 12);
	memcpy(h + 136, "14000000000", 12);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	layout_make("huge", &b, 1, plain_config, NULL, NULL);
	free(b.data);
	expect_refused("huge", "declares 8589934591 bytes, more than the layer's limit", 1 << 30);
}

static void test_truncated_gzip(void **state)
{
	(void)state;
	static char data[200000];
	for (size_t i = 0; i < sizeof(data) - 1; i++)
		data[i] = (char)('a' + (i * 7919) % 26);
	const struct entry e[] = {FILE_E("file", data)};
	struct blob b = tar_of(e, 1, true);
	b.len /= 2;
	layout_make("truncated", &b, 1, plain_config, NULL, NULL);
	free(b.data);
	expect_refused("truncated", "layer sha256:", 0);
}

static void test_digest_mismatch(void **state)
{
	(void)state;
	const struct entry e[] = {FILE_E("file", "x")};
	struct blob b = tar_of(e, 1, false);
	layout_make("mismatch", &b, 1, plain_config,
		    "sha256:0000000000000000000000000000000000000000000000000000000000000000",
		    NULL);
	free(b.data);
	expect_refused("mismatch", "digest mismatch", 0);
}

static void test_bad_layouts(void **state)
{
	(void)state;
	const struct entry e[] = {FILE_E("file", "x")};
	struct blob b = tar_of(e, 1, false);
	layout_make("badindex", &b, 1, plain_config, NULL, "{not json");
	expect_refused("badindex", "index.json is not a JSON object", 0);
	layout_make("dotdotblob", &b, 1, plain_config, NULL,
		    "{\"manifests\":[{\"digest\":\"sha256:../../../../etc/passwd\",\"size\":1}]}");
	expect_refused("dotdotblob", "is not sha256:<64 hex digits>", 0);
	layout_make("md5", &b, 1, plain_config, NULL,
		    "{\"manifests\":[{\"digest\":\"md5:d41d8cd98f00b204e9800998ecf8427e\",\"size\":1}]}");
	expect_refused("md5", "is not sha256:<64 hex digits>", 0);
	expect_refused("oci:/nonexistent-layout", "/nonexistent-layout", 0);

	/* Layer blobs that are a FIFO (an open would wait for a writer) or a
	 * symlink to a host file whose digest the manifest names: refused,
	 * neither waited on nor read. */
	char digest[72], blob[700];
	digest_of(&b, digest);
	layout_make("fifoblob", &b, 1, plain_config, NULL, NULL);
	snprintf(blob, sizeof(blob), "%s/fifoblob/blobs/sha256/%s", scratch, digest + 7);
	assert_int_equal(unlink(blob), 0);
	assert_int_equal(mkfifo(blob, 0600), 0);
	expect_refused("fifoblob", "not a regular file", 0);
	char host_file[600];
	snprintf(host_file, sizeof(host_file), "%s/outside.tar", scratch);
	write_file(scratch, "outside.tar", b.data, b.len);
	layout_make("linkblob", &b, 1, plain_config, NULL, NULL);
	snprintf(blob, sizeof(blob), "%s/linkblob/blobs/sha256/%s", scratch, digest + 7);
	assert_int_equal(unlink(blob), 0);
	assert_int_equal(symlink(host_file, blob), 0);
	expect_refused("linkblob", "a symlink or outside its directory", 0);
	free(b.data);

	/* A docker archive whose manifest names a member outside. */
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/dockerbad", scratch);
	mkdir(dir, 0755);
	const char manifest[] = "[{\"Config\":\"../../config.json\",\"Layers\":[\"../x/layer.tar\"]}]";
	const struct entry arch[] = {FILE_E("manifest.json", manifest)};
	struct blob t = tar_of(arch, 1, false);
	write_file(dir, "archive.tar", t.data, t.len);
	free(t.data);
	char ref[600];
	snprintf(ref, sizeof(ref), "docker-archive:%s/archive.tar", dir);
	expect_refused(ref, "is not blobs/sha256/<64 hex>", 0);
}

/* ---- what a good layer becomes ---- */

static char *layer_dir(nook_image *img, size_t i)
{
	return strdup(nook_image_layer_path(img, i));
}

static void xattr_equals(const char *path, const char *name, const char *want)
{
	char buf[128];
	ssize_t n = lgetxattr(path, name, buf, sizeof(buf) - 1);
	if (n < 0)
		fail_msg("%s: no %s: %s", path, name, strerror(errno));
	buf[n] = 0;
	assert_string_equal(buf, want);
}

static void test_unpacked_form(void **state)
{
	(void)state;
	const struct entry base[] = {
		DIR_E("./"),
		DIR_E("etc"),
		FILE_E("etc/gone", "gone"),
		FILE_E("etc/kept", "kept"),
		/* UTF-8 in a pax header, whatever the locale. */
		FILE_E("etc/h\xc3\xa9llo", "utf-8"),
		DIR_E("opaque"),
		FILE_E("opaque/old", "old"),
		{.name = "/abs/name", .type = AE_IFREG, .perm = 0600, .data = "abs"},
		{.name = "bin/su", .type = AE_IFREG, .perm = 04755, .data = "su"},
		{.name = "home/u", .type = AE_IFREG, .perm = 0640, .data = "u", .uid = 1000, .gid = 100},
		{.name = "dev/null", .type = AE_IFCHR, .perm = 0666, .rdev = makedev(1, 3)},
		{.name = "run/fifo", .type = AE_IFIFO, .perm = 0600},
		{.name = "etc/link", .type = AE_IFLNK, .perm = 0777, .target = "/etc/kept"},
		{.name = "etc/hard", .hardlink = "./etc/kept"},
	};
	const struct entry top[] = {
		FILE_E("etc/.wh.gone", ""),
		DIR_E("opaque"),
		FILE_E("opaque/.wh..wh..opq", ""),
		FILE_E("opaque/new", "new"),
	};
	struct blob layers[2] = {tar_of(base, sizeof(base) / sizeof(*base), true),
				 tar_of(top, sizeof(top) / sizeof(*top), false)};
	layout_make("good", layers, 2, plain_config, NULL, NULL);
	free(layers[0].data);
	free(layers[1].data);

	nook_image_store *s = store_open();
	nook_error *err = NULL;
	nook_image *img = NULL;
	char ref[600];
	snprintf(ref, sizeof(ref), "oci:%s/good", scratch);
	if (nook_image_pull(s, ref, NULL, NULL, &img, &err) < 0)
		fail_msg("%s", nook_error_message(err));
	assert_int_equal(nook_image_layer_count(img), 2);
	assert_string_equal(nook_image_cmd(img)[0], "/bin/sh");
	assert_null(nook_image_entrypoint(img));
	assert_string_equal(nook_image_env(img)[0], "A=1");
	assert_string_equal(nook_image_workdir(img), "/w");
	assert_string_equal(nook_image_user(img), "1000:1000");
	char *l0 = layer_dir(img, 0), *l1 = layer_dir(img, 1), p[700];
	struct stat st;

	snprintf(p, sizeof(p), "%s/etc/h\xc3\xa9llo", l0);
	assert_int_equal(lstat(p, &st), 0);
	/* An absolute name lands inside. */
	snprintf(p, sizeof(p), "%s/abs/name", l0);
	assert_int_equal(lstat(p, &st), 0);
	/* No s-bit on the host; the record has it. */
	snprintf(p, sizeof(p), "%s/bin/su", l0);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	char want[64];
	snprintf(want, sizeof(want), "%u:%u:4755:file", (unsigned)getuid(), (unsigned)getgid());
	xattr_equals(p, "user.containers.override_stat", want);
	snprintf(p, sizeof(p), "%s/home/u", l0);
	xattr_equals(p, "user.containers.override_stat", "1000:100:0640:file");
	/* A device and a FIFO are plain files on the host. */
	snprintf(p, sizeof(p), "%s/dev/null", l0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0666);
	snprintf(want, sizeof(want), "%u:%u:0666:char-1-3", (unsigned)getuid(), (unsigned)getgid());
	xattr_equals(p, "user.containers.override_stat", want);
	snprintf(p, sizeof(p), "%s/run/fifo", l0);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	snprintf(want, sizeof(want), "%u:%u:0600:pipe", (unsigned)getuid(), (unsigned)getgid());
	xattr_equals(p, "user.containers.override_stat", want);
	/* A hard link is one file. */
	struct stat a, b;
	snprintf(p, sizeof(p), "%s/etc/hard", l0);
	assert_int_equal(lstat(p, &a), 0);
	snprintf(p, sizeof(p), "%s/etc/kept", l0);
	assert_int_equal(lstat(p, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	/* Whiteout and opaque directory, as overlayfs has them. */
	snprintf(p, sizeof(p), "%s/etc/gone", l1);
	assert_int_equal(lstat(p, &st), 0);
	if (S_ISCHR(st.st_mode))
		assert_int_equal(st.st_rdev, makedev(0, 0));
	else
		xattr_equals(p, "user.containers.override_stat", "0:0:0000:char-0-0");
	snprintf(p, sizeof(p), "%s/etc/.wh.gone", l1);
	assert_int_equal(lstat(p, &st), -1);
	snprintf(p, sizeof(p), "%s/opaque", l1);
	xattr_equals(p, "user.overlay.opaque", "y");

	/* The host's own overlayfs reads them the same way, where this
	 * process may mount (in a mount namespace of its own). */
	pid_t pid = fork();
	if (pid == 0) {
		char mnt[600], opts[2400], upper[600], work[600];
		snprintf(mnt, sizeof(mnt), "%s/mnt", scratch);
		snprintf(upper, sizeof(upper), "%s/ovl-upper", scratch);
		snprintf(work, sizeof(work), "%s/ovl-work", scratch);
		mkdir(mnt, 0755);
		mkdir(upper, 0755);
		mkdir(work, 0755);
		if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(77);
		snprintf(opts, sizeof(opts), "lowerdir=%s:%s,upperdir=%s,workdir=%s,userxattr", l1, l0,
			 upper, work);
		if (mount("overlay", mnt, "overlay", 0, opts) < 0)
			_exit(77);
		char q[700];
		snprintf(q, sizeof(q), "%s/etc/gone", mnt);
		int hidden = access(q, F_OK) < 0;
		snprintf(q, sizeof(q), "%s/etc/kept", mnt);
		int kept = access(q, F_OK) == 0;
		snprintf(q, sizeof(q), "%s/opaque/old", mnt);
		int opaque = access(q, F_OK) < 0;
		snprintf(q, sizeof(q), "%s/opaque/new", mnt);
		int upper_seen = access(q, F_OK) == 0;
		_exit(hidden && kept && opaque && upper_seen ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WEXITSTATUS(status) == 77)
		print_message("(host overlay mount not allowed here: on-disk form checked only)\n");
	else
		assert_int_equal(WEXITSTATUS(status), 0);
	free(l0);
	free(l1);
	nook_image_free(img);

	/* Opened again from its record. */
	assert_int_equal(nook_image_open(s, ref, &img, &err), 0);
	assert_int_equal(nook_image_layer_count(img), 2);
	assert_string_equal(nook_image_workdir(img), "/w");
	nook_image_free(img);
	assert_int_equal(nook_image_remove(s, ref, &err), 0);
	assert_int_equal(nook_image_open(s, ref, &img, &err), -ENOENT);
	nook_error_free(err);
	err = NULL;
	uint64_t freed;
	assert_int_equal(nook_image_prune(s, &freed, &err), 2);
	nook_image_store_close(s);
}

static void xattr_absent(const char *path, const char *name)
{
	char buf[128];
	if (lgetxattr(path, name, buf, sizeof(buf)) >= 0 || errno != ENODATA)
		fail_msg("%s: %s should not be there", path, name);
}

/* A layer's xattrs as the file server shows them; the names it keeps for
 * itself, overlay's and other namespaces are not taken from a layer. */
static void test_layer_xattrs(void **state)
{
	(void)state;
	static const char *const ping_x[] = {
		"security.capability", "cap-bytes", "user.mime", "text/plain",
		"trusted.t", "tv", "user.containers.override_stat", "0:0:0104755",
		"user.nook.security.capability", "forged", NULL};
	static const char *const dir_x[] = {"user.overlay.opaque", "y", "user.d", "dv", NULL};
	const struct entry e[] = {
		{.name = "bin/ping", .type = AE_IFREG, .perm = 0644, .data = "p", .xattrs = ping_x},
		{.name = "d", .type = AE_IFDIR, .perm = 0755, .xattrs = dir_x},
	};
	struct blob b = tar_of(e, 2, true);
	layout_make("img-x", &b, 1, plain_config, NULL, NULL);
	free(b.data);
	nook_image_store *s = store_open();
	nook_error *err = NULL;
	char ref[600], path[700];
	snprintf(ref, sizeof(ref), "oci:%s/img-x", scratch);
	nook_image *img;
	assert_int_equal(nook_image_pull(s, ref, NULL, NULL, &img, &err), 0);
	snprintf(path, sizeof(path), "%s/bin/ping", nook_image_layer_path(img, 0));
	xattr_equals(path, "user.nook.security.capability", "cap-bytes");
	xattr_equals(path, "user.mime", "text/plain");
	xattr_equals(path, "user.nook.trusted.t", "tv");
	/* Root's 0644 file needs no record: a forged one would show. */
	xattr_absent(path, "user.containers.override_stat");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	snprintf(path, sizeof(path), "%s/d", nook_image_layer_path(img, 0));
	xattr_equals(path, "user.d", "dv");
	xattr_absent(path, "user.overlay.opaque");
	nook_image_free(img);
	assert_int_equal(nook_image_remove(s, ref, &err), 0);
	uint64_t freed;
	assert_int_equal(nook_image_prune(s, &freed, &err), 1);
	nook_image_store_close(s);

	/* Xattr values count toward the layer's bytes (compressed zeros
	 * would be a cheap way round the limit). */
	static char big[2000];
	memset(big, 'z', sizeof(big) - 1);
	const char *const big_x[] = {"user.big", big, NULL};
	const struct entry bomb[] = {
		{.name = "a", .type = AE_IFREG, .perm = 0644, .data = "", .xattrs = big_x},
	};
	b = tar_of(bomb, 1, true);
	layout_make("img-xbomb", &b, 1, plain_config, NULL, NULL);
	free(b.data);
	expect_refused("img-xbomb", "more than the layer's limit of 1000 bytes", 1000);
}

/* Two images with a common layer: stored once; prune keeps what an image
 * still uses. */
static void test_shared_and_prune(void **state)
{
	(void)state;
	const struct entry common[] = {FILE_E("common", "shared by both")};
	const struct entry only_a[] = {FILE_E("a", "only in a, 17 b")};
	const struct entry only_b[] = {FILE_E("b", "b")};
	struct blob c = tar_of(common, 1, true), a = tar_of(only_a, 1, false),
		    b = tar_of(only_b, 1, false);
	struct blob la[] = {c, a}, lb[] = {c, b};
	layout_make("img-a", la, 2, plain_config, NULL, NULL);
	layout_make("img-b", lb, 2, "{\"config\":{\"Entrypoint\":[\"/b\"]}}", NULL, NULL);
	free(c.data);
	free(a.data);
	free(b.data);
	nook_image_store *s = store_open();
	nook_error *err = NULL;
	char ra[600], rb[600];
	snprintf(ra, sizeof(ra), "oci:%s/img-a", scratch);
	snprintf(rb, sizeof(rb), "oci:%s/img-b", scratch);
	assert_int_equal(nook_image_pull(s, ra, NULL, NULL, NULL, &err), 0);
	assert_int_equal(nook_image_pull(s, rb, NULL, NULL, NULL, &err), 0);
	/* Three layers, each with its size file. */
	assert_int_equal(count_entries("layers"), 6);
	nook_image **list;
	size_t n;
	assert_int_equal(nook_image_list(s, &list, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(nook_image_layer_path(list[0], 0), nook_image_layer_path(list[1], 0));
	for (size_t i = 0; i < n; i++)
		nook_image_free(list[i]);
	free(list);
	uint64_t freed;
	assert_int_equal(nook_image_prune(s, &freed, &err), 0);
	assert_int_equal(nook_image_remove(s, ra, &err), 0);
	assert_int_equal(nook_image_remove(s, ra, &err), -ENOENT);
	nook_error_free(err);
	err = NULL;
	assert_int_equal(nook_image_prune(s, &freed, &err), 1);
	assert_int_equal(freed, 15); /* the file "a" */
	assert_int_equal(count_entries("layers"), 4);
	nook_image *img;
	assert_int_equal(nook_image_open(s, rb, &img, &err), 0);
	assert_string_equal(nook_image_entrypoint(img)[0], "/b");
	nook_image_free(img);
	assert_int_equal(nook_image_remove(s, rb, &err), 0);
	assert_int_equal(nook_image_prune(s, &freed, &err), 2);
	assert_int_equal(count_entries("layers"), 0);
	nook_image_store_close(s);
}

/* A lease keeps a running image's layers from prune, even after rmi; one
 * whose process ended does not; a lease of layers pruned already fails. */
static void test_leases(void **state)
{
	(void)state;
	const struct entry e[] = {FILE_E("leased", "leased")};
	struct blob b = tar_of(e, 1, false);
	layout_make("img-l", &b, 1, plain_config, NULL, NULL);
	free(b.data);
	nook_image_store *s = store_open();
	nook_error *err = NULL;
	char ref[600];
	snprintf(ref, sizeof(ref), "oci:%s/img-l", scratch);
	nook_image *img;
	nook_image_lease *lease;
	uint64_t freed;
	assert_int_equal(nook_image_pull(s, ref, NULL, NULL, &img, &err), 0);
	assert_int_equal(nook_image_lease_take(s, img, &lease, &err), 0);
	assert_int_equal(count_entries("leases"), 1);
	assert_int_equal(nook_image_remove(s, ref, &err), 0);
	assert_int_equal(nook_image_prune(s, &freed, &err), 0);
	assert_int_equal(count_entries("layers"), 2);
	nook_image_lease_release(lease);
	assert_int_equal(count_entries("leases"), 0);
	assert_int_equal(nook_image_prune(s, &freed, &err), 1);
	nook_image_free(img);

	/* A holder that ended without releasing it (killed, say). */
	assert_int_equal(nook_image_pull(s, ref, NULL, NULL, &img, &err), 0);
	pid_t pid = fork();
	if (pid == 0)
		_exit(nook_image_lease_take(s, img, &lease, &err) == 0 ? 0 : 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_int_equal(count_entries("leases"), 1);
	assert_int_equal(nook_image_remove(s, ref, &err), 0);
	assert_int_equal(nook_image_prune(s, &freed, &err), 1);
	assert_int_equal(count_entries("leases"), 0);

	/* The image was opened before its layers were pruned. */
	assert_int_equal(nook_image_lease_take(s, img, &lease, &err), -ENOENT);
	assert_non_null(strstr(nook_error_message(err), "gone from the store"));
	nook_error_free(err);
	assert_int_equal(count_entries("leases"), 0);
	nook_image_free(img);
	nook_image_store_close(s);
}

/* Several processes pull one image into one store at once. */
static void test_concurrent_pulls(void **state)
{
	(void)state;
	static char data[300000];
	memset(data, 'c', sizeof(data) - 1);
	const struct entry e[] = {FILE_E("big", data), FILE_E("small", "s")};
	struct blob b = tar_of(e, 2, true);
	layout_make("concurrent", &b, 1, plain_config, NULL, NULL);
	free(b.data);
	char ref[600];
	snprintf(ref, sizeof(ref), "oci:%s/concurrent", scratch);
	pid_t pids[4];
	for (int i = 0; i < 4; i++) {
		if ((pids[i] = fork()) == 0) {
			nook_image_store *s;
			nook_error *err = NULL;
			int r = nook_image_store_open(store_dir, &s, &err) ||
				nook_image_pull(s, ref, NULL, NULL, NULL, &err);
			_exit(r ? 1 : 0);
		}
	}
	for (int i = 0; i < 4; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_int_equal(status, 0);
	}
	assert_int_equal(count_entries("layers"), 2);
	assert_int_equal(count_entries("tmp"), 0);
	nook_image_store *s = store_open();
	nook_image *img;
	nook_error *err = NULL;
	assert_int_equal(nook_image_open(s, ref, &img, &err), 0);
	char p[700];
	struct stat st;
	snprintf(p, sizeof(p), "%s/big", nook_image_layer_path(img, 0));
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, sizeof(data) - 1);
	assert_int_equal(nook_image_layer_size(img, 0), sizeof(data));
	nook_image_free(img);
	assert_int_equal(nook_image_remove(s, ref, &err), 0);
	uint64_t freed;
	assert_int_equal(nook_image_prune(s, &freed, &err), 1);
	nook_image_store_close(s);
}

static void test_bad_references(void **state)
{
	(void)state;
	nook_image_store *s = store_open();
	const char *bad[] = {"busybox", "oci:", "docker://-rf", "docker://a b", "oci:/x:bad tag",
			     "docker-archive:"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		nook_error *err = NULL;
		assert_int_equal(nook_image_pull(s, bad[i], NULL, NULL, NULL, &err), -EINVAL);
		assert_non_null(strstr(nook_error_message(err), "image reference"));
		nook_error_free(err);
	}
	nook_image_store_close(s);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(scratch))
		return -1;
	snprintf(store_dir, sizeof(store_dir), "%s/store", scratch);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_references),
		cmocka_unit_test(test_dotdot),
		cmocka_unit_test(test_symlinked_parent),
		cmocka_unit_test(test_hardlinks),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_huge_declared_size),
		cmocka_unit_test(test_truncated_gzip),
		cmocka_unit_test(test_digest_mismatch),
		cmocka_unit_test(test_bad_layouts),
		cmocka_unit_test(test_unpacked_form),
		cmocka_unit_test(test_layer_xattrs),
		cmocka_unit_test(test_shared_and_prune),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_concurrent_pulls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
