#include "vm/snapshot_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nook/vm.h>

#include "util/sha256.h"
#include "x86/cpu.h"

/* Snapshots made by another format never match a key. */
#define KEY_DOMAIN "nook-snapshot"

int snapshot_cache_root(char *buf, size_t len, nook_error **err)
{
	const char *dir = getenv("NOOK_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n = dir && *dir   ? snprintf(buf, len, "%s", dir)
		: xdg && *xdg ? snprintf(buf, len, "%s/nook", xdg)
			      : snprintf(buf, len, "%s/.cache/nook", home && *home ? home : "/root");
	if (n < 0 || (size_t)n >= len)
		return error_set(err, ENAMETOOLONG, "cache directory: path too long");
	/* mkdir -p, each level private when made here. */
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		int r = mkdir(buf, 0700);
		*p = c;
		if (r < 0 && errno != EEXIST)
			return error_set(err, errno, "cache directory %s: %s", buf, strerror(errno));
		if (c == '\0')
			break;
	}
	return 0;
}

bool snapshot_cache_usable(void)
{
	char root[PATH_MAX];
	nook_error *err = NULL;
	bool usable = snapshot_cache_root(root, sizeof(root), &err) == 0 &&
		      access(root, W_OK | X_OK) == 0;
	nook_error_free(err);
	return usable;
}

/* The file's identity: what must be unchanged for a cached hash to hold. */
static int file_identity(int fd, char *buf, size_t len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	snprintf(buf, len, "%llu %llu %lld %lld.%09ld %lld.%09ld", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	return 0;
}

/* The SHA-256 of the file at `path`, from <root>/hashes when its identity
 * has not changed since it was hashed. */
static int hash_file(const char *root, const char *path, uint8_t out[SHA256_SIZE],
		     nook_error **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char identity[160], record[PATH_MAX], line[256], hex[2 * SHA256_SIZE + 1];
	if (fd < 0 || file_identity(fd, identity, sizeof(identity)) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, e, "snapshot key: %s: %s", path, strerror(e));
	}
	uint8_t name[SHA256_SIZE];
	struct sha256 h;
	if (sha256_init(&h) < 0) {
		close(fd);
		return error_set(err, ENOMEM, "snapshot key: out of memory");
	}
	sha256_update(&h, path, strlen(path));
	sha256_final(&h, name);
	hex_encode(name, sizeof(name), hex);
	snprintf(record, sizeof(record), "%s/hashes/%s", root, hex);
	FILE *f = fopen(record, "re");
	bool cached = f && fgets(line, sizeof(line), f) && strlen(line) > 2 * SHA256_SIZE + 1 &&
		      strncmp(line + 2 * SHA256_SIZE + 1, identity, strlen(identity)) == 0 &&
		      line[2 * SHA256_SIZE + 1 + strlen(identity)] == '\n';
	if (f)
		fclose(f);
	if (cached) {
		for (int i = 0; i < SHA256_SIZE; i++) {
			unsigned v;
			if (sscanf(line + 2 * i, "%2x", &v) != 1)
				cached = false;
			out[i] = (uint8_t)v;
		}
	}
	if (!cached) {
		int r = sha256_fd(fd, out);
		if (r < 0) {
			close(fd);
			return error_set(err, -r, "snapshot key: %s: %s", path, strerror(-r));
		}
		/* Best effort: a cache that cannot be written only costs time. */
		char dir[PATH_MAX], tmp[PATH_MAX + 16];
		snprintf(dir, sizeof(dir), "%s/hashes", root);
		mkdir(dir, 0700);
		snprintf(tmp, sizeof(tmp), "%s.%d", record, (int)getpid());
		hex_encode(out, SHA256_SIZE, hex);
		int tfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		f = tfd >= 0 ? fdopen(tfd, "w") : NULL;
		if (tfd >= 0 && !f)
			close(tfd);
		bool done = f && fprintf(f, "%s %s\n", hex, identity) > 0;
		if (f && fclose(f) != 0)
			done = false;
		if (!done || rename(tmp, record) < 0)
			unlink(tmp);
	}
	close(fd);
	return 0;
}

static void hash_str(struct sha256 *h, const char *label, const char *value)
{
	sha256_update(h, label, strlen(label) + 1);
	sha256_update(h, value, strlen(value) + 1);
}

int snapshot_key(const struct snapshot_shape *shape, struct machine *m,
		 uint8_t key[SNAPSHOT_KEY_SIZE], nook_error **err)
{
	char root[PATH_MAX];
	uint8_t kernel[SHA256_SIZE], init[SHA256_SIZE], archive[SHA256_SIZE] = {0};
	int r = snapshot_cache_root(root, sizeof(root), err);
	if (r == 0)
		r = hash_file(root, shape->kernel_path, kernel, err);
	if (r == 0)
		r = hash_file(root, shape->init_path, init, err);
	if (r == 0 && shape->root_archive_path)
		r = hash_file(root, shape->root_archive_path, archive, err);
	struct kvm_cpuid2 *cpuid = r == 0 ? x86_supported_cpuid(m->kvm_fd, err) : NULL;
	if (r < 0 || !cpuid)
		return r < 0 ? r : -EIO;
	struct sha256 h;
	if (sha256_init(&h) < 0) {
		free(cpuid);
		return error_set(err, ENOMEM, "snapshot key: out of memory");
	}
	char numbers[160];
	snprintf(numbers, sizeof(numbers),
		 "format %d memory %llu vcpus %u threads %u nested %d rng %d balloon %d stats %d "
		 "split-irqchip %d",
		 SNAPSHOT_VERSION, (unsigned long long)shape->memory_mib, shape->vcpus,
		 shape->threads_per_core, shape->nested, shape->rng, shape->balloon,
		 shape->balloon_stats, shape->split_irqchip);
	hash_str(&h, KEY_DOMAIN, NOOK_VERSION);
	hash_str(&h, "shape", numbers);
	hash_str(&h, "cmdline", shape->cmdline);
	hash_str(&h, "root shares", shape->root_shares ? shape->root_shares : "");
	sha256_update(&h, kernel, sizeof(kernel));
	sha256_update(&h, init, sizeof(init));
	hash_str(&h, "root archive", shape->root_archive_path ? "in memory" : "none");
	sha256_update(&h, archive, sizeof(archive));
	/* What the guest may use, not which host CPU answered: the APIC ids
	 * (leaf 1 EBX[31:24], leaves 0xb and 0x1f) are the current CPU's. */
	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 e = cpuid->entries[i];
		if (e.function == 0xb || e.function == 0x1f)
			continue;
		if (e.function == 1)
			e.ebx &= 0x00ffffff;
		sha256_update(&h, &e, sizeof(e));
	}
	sha256_final(&h, key);
	free(cpuid);
	return 0;
}

int snapshot_cache_dir(const uint8_t key[SNAPSHOT_KEY_SIZE], char *buf, size_t len,
		       nook_error **err)
{
	char root[PATH_MAX], hex[2 * SNAPSHOT_KEY_SIZE + 1];
	int r = snapshot_cache_root(root, sizeof(root), err);
	if (r < 0)
		return r;
	hex_encode(key, SNAPSHOT_KEY_SIZE, hex);
	snprintf(buf, len, "%s/snapshots", root);
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return error_set(err, errno, "snapshot cache %s: %s", buf, strerror(errno));
	if ((size_t)snprintf(buf, len, "%s/snapshots/%s", root, hex) >= len)
		return error_set(err, ENAMETOOLONG, "snapshot cache: path too long");
	return 0;
}

int snapshot_stage_begin(const char *final_dir, char *stage, size_t len, nook_error **err)
{
	if ((size_t)snprintf(stage, len, "%s.new-XXXXXX", final_dir) >= len)
		return error_set(err, ENAMETOOLONG, "snapshot %s: path too long", final_dir);
	if (!mkdtemp(stage))
		return error_set(err, errno, "snapshot %s: %s", stage, strerror(errno));
	return 0;
}

void snapshot_remove_dir_at(int dfd, const char *name)
{
	/* Never through a symlink: a jailed VMM's identity owns its cache
	 * (jail-UID) and may have planted one there for root's prune. */
	int fd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	unlinkat(fd, SNAPSHOT_STATE_FILE, 0);
	unlinkat(fd, SNAPSHOT_MEMORY_FILE, 0);
	close(fd);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

void snapshot_remove_dir(const char *dir)
{
	snapshot_remove_dir_at(AT_FDCWD, dir);
}

int snapshot_stage_commit(const char *stage, const char *final_dir, bool replace,
			  nook_error **err)
{
	if (rename(stage, final_dir) == 0)
		return 0;
	int e = errno;
	/* An atomic swap: readers of the old one keep their mapping of it. */
	if ((e == EEXIST || e == ENOTEMPTY) && replace &&
	    renameat2(AT_FDCWD, stage, AT_FDCWD, final_dir, RENAME_EXCHANGE) == 0) {
		snapshot_remove_dir(stage);
		return 0;
	}
	snapshot_remove_dir(stage);
	/* Another process's snapshot of the same shape won the race. */
	if (e == EEXIST || e == ENOTEMPTY)
		return 0;
	return error_set(err, e, "snapshot %s: %s", final_dir, strerror(e));
}

/* Calls fn(dfd, dir, name) for each entry of <root>/<sub>, dfd being that
 * directory: opened without following a symlink, as are the entries (a
 * jailed VMM's identity owns its cache and may have planted links). */
static int each_entry(const char *root, const char *sub,
		      void (*fn)(int dfd, const char *dir, const char *name, void *arg), void *arg,
		      nook_error **err)
{
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/%s", root, sub) >= (int)sizeof(dir))
		return error_set(err, ENAMETOOLONG, "snapshot cache %s: path too long", root);
	int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int dfd = rfd < 0 ? -1 : openat(rfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int e = errno;
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d && dfd >= 0) {
		e = errno;
		close(dfd);
	}
	if (rfd >= 0)
		close(rfd);
	if (!d)
		return e == ENOENT ? 0 : error_set(err, e, "snapshot cache %s: %s", dir,
						    e == ENOTDIR ? "not a directory (symlinks are not followed)"
								 : strerror(e));
	struct dirent *ent;
	while ((ent = readdir(d)))
		if (ent->d_name[0] != '.' && ent->d_type != DT_LNK)
			fn(dirfd(d), dir, ent->d_name, arg);
	closedir(d);
	return 0;
}

struct list_ctx {
	nook_snapshot_fn fn;
	void *userdata;
};

static uint64_t disk_usage(const char *dir)
{
	uint64_t total = 0;
	const char *const files[] = {SNAPSHOT_STATE_FILE, SNAPSHOT_MEMORY_FILE};
	for (int i = 0; i < 2; i++) {
		char path[2 * PATH_MAX];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if (stat(path, &st) == 0)
			total += (uint64_t)st.st_blocks * 512;
	}
	return total;
}

static void list_one(int dfd, const char *dir, const char *name, void *arg)
{
	struct list_ctx *c = arg;
	char path[PATH_MAX + NAME_MAX + 2];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct snapshot s;
	nook_error *why = NULL;
	bool valid = snapshot_open(path, &s, &why) == 0;
	struct nook_snapshot_info info = {
		.path = path, .key = name, .valid = valid,
		.about = valid ? s.header.info : nook_error_message(why),
		.memory_bytes = valid ? s.header.memory_size : 0, .disk_bytes = disk_usage(path),
		.created = valid ? s.header.created : 0,
	};
	c->fn(&info, c->userdata);
	if (valid)
		snapshot_close(&s);
	nook_error_free(why);
}

/* Calls fn for the cache at `root` and for each jailed VMM's within it;
 * the first error is returned, after the other caches had their turn. */
static int each_cache(const char *root, int (*fn)(const char *root, void *arg, nook_error **err),
		      void *arg, nook_error **err)
{
	int r = fn(root, arg, err);
	DIR *d = opendir(root);
	if (!d)
		return r < 0 || errno == ENOENT
			       ? r
			       : error_set(err, errno, "snapshot cache %s: %s", root, strerror(errno));
	struct dirent *e;
	while ((e = readdir(d))) {
		char sub[PATH_MAX + NAME_MAX + 2];
		if (strncmp(e->d_name, SNAPSHOT_JAIL_PREFIX, strlen(SNAPSHOT_JAIL_PREFIX)) ||
		    e->d_type != DT_DIR)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", root, e->d_name);
		int sr = fn(sub, arg, err); /* error_set() keeps the first */
		if (r == 0)
			r = sr;
	}
	closedir(d);
	return r;
}

static int list_cache(const char *root, void *arg, nook_error **err)
{
	return each_entry(root, "snapshots", list_one, arg, err);
}

int nook_snapshot_list(nook_snapshot_fn fn, void *userdata, nook_error **err)
{
	char root[PATH_MAX];
	int r = snapshot_cache_root(root, sizeof(root), err);
	struct list_ctx c = {fn, userdata};
	return r < 0 ? r : each_cache(root, list_cache, &c, err);
}

static void remove_one(int dfd, const char *dir, const char *name, void *arg)
{
	snapshot_remove_dir_at(dfd, name);
	++*(unsigned *)arg;
}

static void remove_hash(int dfd, const char *dir, const char *name, void *arg)
{
	unlinkat(dfd, name, 0);
}

static int prune_cache(const char *root, void *removed, nook_error **err)
{
	int r = each_entry(root, "snapshots", remove_one, removed, err);
	return r < 0 ? r : each_entry(root, "hashes", remove_hash, NULL, err);
}

int nook_snapshot_prune(unsigned *removed, nook_error **err)
{
	char root[PATH_MAX];
	*removed = 0;
	int r = snapshot_cache_root(root, sizeof(root), err);
	return r < 0 ? r : each_cache(root, prune_cache, removed, err);
}
