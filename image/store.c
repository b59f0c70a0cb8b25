/* The image store (layout in nook/image.h). Concurrency: a pull holds a
 * shared lock on <store>/lock from before it looks at layers/ until its
 * record is written, prune an exclusive one, so prune never takes a layer
 * a pull is about to refer to. Two pulls of one layer each unpack into a
 * temporary directory of their own and rename() it into place: the first
 * wins, the other throws its copy away, and nobody ever sees a partial
 * layer. Records are written to a temporary file and renamed too. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "util/error.h"
#include "vm/snapshot_cache.h"

extern char **environ;

#define DEFAULT_MAX_BYTES (64ull << 30)
#define DEFAULT_MAX_ENTRIES 1000000ull

struct nook_image_store {
	char *dir;
	int lock_fd;
	struct layer_limits limits;
};

struct image_layer {
	char digest[IMAGE_DIGEST_LEN + 1];
	char *path;
	uint64_t size;
};

struct nook_image {
	char *name;
	char id[IMAGE_DIGEST_LEN + 1];
	struct image_layer *layers;
	size_t nlayers;
	struct image_config config;
};

static const char *const subdirs[] = {"layers", "records", "uppers", "tmp", "leases"};

/* A lease: leases/XXXXXX, the hex names of an image's layers, one per
 * line, flock'ed shared by the process running the image for as long as
 * it does. Prune keeps those layers; a lease it can lock exclusively has
 * no holder left (its process ended) and goes. */
struct nook_image_lease {
	char *path;
	int fd;
	pid_t pid;
};

/* ---- removing trees ---- */

static _Thread_local uint64_t tree_bytes;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		tree_bytes += (uint64_t)st->st_size;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Also counts the regular files' bytes into tree_bytes. */
int image_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	return nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) < 0 ? -errno : 0;
}

int nook_image_remove_dir(const char *path, nook_error **err)
{
	int r = image_remove_tree(path);
	return r < 0 ? error_set(err, -r, "removing %s: %s", path, strerror(-r)) : 0;
}

/* ---- the store ---- */

int nook_image_store_open(const char *dir, nook_image_store **out, nook_error **err)
{
	char root[4096];
	if (!dir) {
		int r = snapshot_cache_root(root, sizeof(root) - 16, err);
		if (r < 0)
			return r;
		strcat(root, "/images");
		dir = root;
	}
	nook_image_store *s = calloc(1, sizeof(*s));
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return error_set(err, ENOMEM, "image store: out of memory");
	}
	s->lock_fd = -1;
	s->limits = (struct layer_limits){DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES};
	char path[4200];
	int r = 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		r = error_set(err, errno, "image store %s: %s", dir, strerror(errno));
	for (size_t i = 0; r == 0 && i < sizeof(subdirs) / sizeof(*subdirs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			r = error_set(err, errno, "image store %s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/lock", dir);
	if (r == 0 && (s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		r = error_set(err, errno, "image store %s: %s", path, strerror(errno));
	if (r < 0) {
		nook_image_store_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void nook_image_store_close(nook_image_store *s)
{
	if (!s)
		return;
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->dir);
	free(s);
}

void nook_image_store_set_layer_limits(nook_image_store *s, uint64_t max_bytes,
				       uint64_t max_entries)
{
	s->limits = (struct layer_limits){max_bytes, max_entries};
}

static int lock(nook_image_store *s, int how)
{
	while (flock(s->lock_fd, how) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

static void record_path(const nook_image_store *s, const char *name, char *out, size_t len)
{
	char digest[IMAGE_DIGEST_LEN + 1];
	image_digest_of(name, strlen(name), digest);
	snprintf(out, len, "%s/records/%s.json", s->dir, image_digest_hex(digest));
}

/* ---- images ---- */

void nook_image_free(nook_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->nlayers; i++)
		free(img->layers[i].path);
	free(img->layers);
	free(img->name);
	image_config_clear(&img->config);
	free(img);
}

static json_object *strv_json(const struct strv *v, bool present)
{
	if (!present)
		return NULL;
	json_object *a = json_object_new_array();
	for (size_t i = 0; a && i < v->n; i++)
		json_object_array_add(a, json_object_new_string(v->items[i]));
	return a;
}

/* Writes the record atomically. */
static int record_write(nook_image_store *s, const nook_image *img, nook_error **err)
{
	json_object *o = json_object_new_object(), *layers = json_object_new_array();
	json_object_object_add(o, "name", json_object_new_string(img->name));
	json_object_object_add(o, "id", json_object_new_string(img->id));
	for (size_t i = 0; i < img->nlayers; i++) {
		json_object *l = json_object_new_object();
		json_object_object_add(l, "digest", json_object_new_string(img->layers[i].digest));
		json_object_object_add(l, "size", json_object_new_int64((int64_t)img->layers[i].size));
		json_object_array_add(layers, l);
	}
	json_object_object_add(o, "layers", layers);
	/* The config's own form, so that image_config_parse() reads it back. */
	json_object *cfg = json_object_new_object();
	const struct image_config *c = &img->config;
	json_object_object_add(cfg, "Entrypoint", strv_json(&c->entrypoint, c->has_entrypoint));
	json_object_object_add(cfg, "Cmd", strv_json(&c->cmd, c->has_cmd));
	json_object_object_add(cfg, "Env", strv_json(&c->env, true));
	if (c->workdir)
		json_object_object_add(cfg, "WorkingDir", json_object_new_string(c->workdir));
	if (c->user)
		json_object_object_add(cfg, "User", json_object_new_string(c->user));
	json_object_object_add(o, "config", cfg);
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	char path[4200], tmp[4300];
	record_path(s, img->name, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s/tmp/record-XXXXXX", s->dir);
	int fd = text ? mkostemp(tmp, O_CLOEXEC) : -1;
	size_t len = text ? strlen(text) : 0;
	int r = 0;
	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		r = error_set(err, errno ? errno : ENOMEM, "image %s: writing its record %s: %s",
			      img->name, path, strerror(errno ? errno : ENOMEM));
		if (fd >= 0)
			unlink(tmp);
	}
	if (fd >= 0)
		close(fd);
	json_object_put(o);
	return r;
}

/* Reads a record; -ENOENT when there is none (or a layer is gone). */
static int record_read(nook_image_store *s, const char *path, nook_image **out, nook_error **err)
{
	char *text = NULL;
	size_t len;
	nook_error *why = NULL;
	/* Records are read like blobs, beneath their directory. */
	const char *base = strrchr(path, '/') + 1;
	char *dir = strndup(path, (size_t)(base - 1 - path));
	int dirfd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	int r = dirfd < 0 ? error_set(&why, dir ? errno : ENOMEM, "image records %s: %s",
				      dir ? dir : path, strerror(dir ? errno : ENOMEM))
			  : image_blob_read(dirfd, base, NULL, -1, IMAGE_JSON_MAX, &text, &len,
					    "image record", &why);
	free(dir);
	if (dirfd >= 0)
		close(dirfd);
	if (r < 0) {
		if (r == -ENOENT)
			nook_error_free(why);
		else if (err && !*err)
			*err = why;
		else
			nook_error_free(why);
		return r;
	}
	json_object *o = json_tokener_parse(text), *layers = NULL, *cfg = NULL, *v;
	nook_image *img = calloc(1, sizeof(*img));
	r = img ? 0 : -ENOMEM;
	const char *name = NULL, *id = NULL;
	if (o && json_object_object_get_ex(o, "name", &v))
		name = json_object_get_string(v);
	if (o && json_object_object_get_ex(o, "id", &v))
		id = json_object_get_string(v);
	if (r == 0 && (!name || !id || !image_digest_valid(id) ||
		       !json_object_object_get_ex(o, "layers", &layers) ||
		       !json_object_is_type(layers, json_type_array) ||
		       !json_object_object_get_ex(o, "config", &cfg)))
		r = -EINVAL;
	size_t n = r == 0 ? json_object_array_length(layers) : 0;
	if (r == 0) {
		img->name = strdup(name);
		strcpy(img->id, id);
		img->layers = calloc(n ? n : 1, sizeof(*img->layers));
		if (!img->name || !img->layers)
			r = -ENOMEM;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_object *l = json_object_array_get_idx(layers, i), *d, *sz;
		struct image_layer *ly = &img->layers[i];
		const char *digest = json_object_object_get_ex(l, "digest", &d)
					     ? json_object_get_string(d)
					     : NULL;
		if (!digest || !image_digest_valid(digest) ||
		    !json_object_object_get_ex(l, "size", &sz)) {
			r = -EINVAL;
			break;
		}
		strcpy(ly->digest, digest);
		ly->size = (uint64_t)json_object_get_int64(sz);
		struct stat st;
		if (asprintf(&ly->path, "%s/layers/%s", s->dir, image_digest_hex(digest)) < 0) {
			ly->path = NULL;
			r = -ENOMEM;
		} else if (lstat(ly->path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			r = -ENOENT;
		}
		img->nlayers = i + 1;
	}
	if (r == 0) {
		const char *cfg_text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		/* The record is the config's own form with extra keys. */
		r = image_config_parse(cfg_text, strlen(cfg_text), &img->config, NULL) < 0 ? -EINVAL : 0;
	}
	json_object_put(o);
	free(text);
	if (r < 0) {
		nook_image_free(img);
		if (r == -EINVAL)
			return error_set(err, EINVAL, "image record %s: malformed", path);
		if (r == -ENOMEM)
			return error_set(err, ENOMEM, "image record %s: out of memory", path);
		return r;
	}
	*out = img;
	return 0;
}

int nook_image_open(nook_image_store *s, const char *ref, nook_image **out, nook_error **err)
{
	struct image_ref parsed;
	int r = image_ref_parse(ref, &parsed, err);
	if (r < 0)
		return r;
	char path[4200];
	record_path(s, parsed.name, path, sizeof(path));
	r = record_read(s, path, out, err);
	if (r == -ENOENT)
		r = error_set(err, ENOENT, "image %s: not pulled", parsed.name);
	image_ref_clear(&parsed);
	return r;
}

/* ---- pull ---- */

/* skopeo copy docker://NAME into an OCI layout in a new temporary
 * directory (its output kept in a log there for the error message). */
static int skopeo_copy(nook_image_store *s, const struct image_ref *ref,
		       struct image_source *src, nook_error **err)
{
	char tmpdir[4200];
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp/registry-XXXXXX", s->dir);
	if (!mkdtemp(tmpdir))
		return error_set(err, errno, "%s: %s", tmpdir, strerror(errno));
	char log[4300], dest[4300], source[600];
	snprintf(log, sizeof(log), "%s/skopeo.log", tmpdir);
	snprintf(dest, sizeof(dest), "oci:%s/layout:latest", tmpdir);
	snprintf(source, sizeof(source), "docker://%s", ref->path);
	char *argv[] = {"skopeo", "copy", "--quiet", source, dest, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	pid_t pid;
	int r = posix_spawnp(&pid, "skopeo", &fa, NULL, argv, environ), status = 0;
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		image_remove_tree(tmpdir);
		return error_set(err, r, "image %s: running skopeo: %s", ref->name, strerror(r));
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char line[512] = "", buf[512];
		FILE *f = fopen(log, "re");
		while (f && fgets(buf, sizeof(buf), f))
			if (buf[0] != '\n')
				strcpy(line, buf);
		if (f)
			fclose(f);
		line[strcspn(line, "\n")] = '\0';
		image_remove_tree(tmpdir);
		return error_set(err, EIO, "image %s: skopeo copy failed: %s", ref->name, line);
	}
	char layout[4300];
	snprintf(layout, sizeof(layout), "%s/layout", tmpdir);
	r = oci_layout_open(layout, "latest", src, err);
	if (r < 0 || !(src->tmpdir = strdup(tmpdir))) {
		image_remove_tree(tmpdir);
		return r < 0 ? r : error_set(err, ENOMEM, "out of memory");
	}
	return 0;
}

struct pull_progress {
	nook_image_progress_fn fn;
	void *opaque;
	struct nook_image_progress p;
};

static void on_read(void *opaque, uint64_t bytes)
{
	struct pull_progress *pp = opaque;
	pp->p.bytes = bytes;
	pp->fn(&pp->p, pp->opaque);
}

static void size_path(const nook_image_store *s, const char *digest, char *out, size_t len)
{
	snprintf(out, len, "%s/layers/%s.size", s->dir, image_digest_hex(digest));
}

static uint64_t layer_size_read(const nook_image_store *s, const char *digest)
{
	char path[4200];
	unsigned long long v = 0;
	size_path(s, digest, path, sizeof(path));
	FILE *f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* Unpacks one layer into layers/<hex> unless it is there. */
static int pull_layer(nook_image_store *s, const struct image_blob *b, struct pull_progress *pp,
		      uint64_t *size, nook_error **err)
{
	char final[4200], tmp[4200], short_name[24];
	snprintf(final, sizeof(final), "%s/layers/%s", s->dir, image_digest_hex(b->digest));
	snprintf(short_name, sizeof(short_name), "%.19s", b->digest);
	struct stat st;
	if (lstat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
		*size = layer_size_read(s, b->digest);
		pp->p.cached = 1;
		if (pp->fn)
			pp->fn(&pp->p, pp->opaque);
		return 0;
	}
	char *dir = strndup(b->path, b->name_off - 1);
	int dirfd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	int fd = dirfd < 0 ? error_set(err, dir ? errno : ENOMEM, "layer %s: %s: %s", b->digest,
				       dir ? dir : b->path, strerror(dir ? errno : ENOMEM))
			   : image_blob_open(dirfd, b->path + b->name_off, b->size, "layer blob",
					     &st, err);
	free(dir);
	if (dirfd >= 0)
		close(dirfd);
	if (fd < 0)
		return fd;
	pp->p.total = (uint64_t)st.st_size;
	snprintf(tmp, sizeof(tmp), "%s/tmp/layer-XXXXXX", s->dir);
	if (!mkdtemp(tmp)) {
		int e = errno;
		close(fd);
		return error_set(err, e, "%s: %s", tmp, strerror(e));
	}
	/* The layer's root, unless the archive says otherwise. */
	chmod(tmp, 0755);
	const struct layer_unpack_progress prog = {pp->fn ? on_read : NULL, pp};
	int r = layer_unpack(fd, b->digest, b->size, tmp, &s->limits, &prog, short_name, size, err);
	close(fd);
	if (r == 0) {
		/* The size first: a layer in layers/ always has one. */
		char sp[4300], stmp[4300];
		size_path(s, b->digest, sp, sizeof(sp));
		snprintf(stmp, sizeof(stmp), "%s.size", tmp);
		FILE *f = fopen(stmp, "wxe");
		if (!f || fprintf(f, "%llu\n", (unsigned long long)*size) < 0 || fclose(f) != 0 ||
		    rename(stmp, sp) < 0)
			r = error_set(err, errno ? errno : EIO, "layer %s: %s: %s", b->digest, sp,
				      strerror(errno ? errno : EIO));
	}
	if (r == 0 && rename(tmp, final) < 0) {
		/* Another pull put the same layer there first. */
		if (errno != EEXIST && errno != ENOTEMPTY)
			r = error_set(err, errno, "layer %s: %s: %s", b->digest, final,
				      strerror(errno));
	}
	image_remove_tree(tmp);
	return r;
}

int nook_image_pull(nook_image_store *s, const char *ref_text, nook_image_progress_fn fn,
		    void *opaque, nook_image **out, nook_error **err)
{
	struct image_ref ref;
	int r = image_ref_parse(ref_text, &ref, err);
	if (r < 0)
		return r;
	struct image_source src = {0};
	char tmp_parent[4200];
	snprintf(tmp_parent, sizeof(tmp_parent), "%s/tmp", s->dir);
	switch (ref.kind) {
	case IMAGE_REF_OCI:
		r = oci_layout_open(ref.path, ref.tag, &src, err);
		break;
	case IMAGE_REF_DOCKER_ARCHIVE:
		r = docker_archive_open(ref.path, tmp_parent, &src, err);
		break;
	case IMAGE_REF_DOCKER:
		r = skopeo_copy(s, &ref, &src, err);
		break;
	}
	nook_image *img = r == 0 ? calloc(1, sizeof(*img)) : NULL;
	if (r == 0 && (!img || !(img->name = strdup(ref.name)) ||
		       !(img->layers = calloc(src.nlayers ? src.nlayers : 1, sizeof(*img->layers)))))
		r = error_set(err, ENOMEM, "image %s: out of memory", ref.name);
	if (r == 0) {
		strcpy(img->id, src.id);
		r = image_config_parse(src.config, src.config_len, &img->config, err);
	}
	bool locked = r == 0 && lock(s, LOCK_SH) == 0;
	struct pull_progress pp = {fn, opaque, {.nlayers = src.nlayers}};
	for (size_t i = 0; r == 0 && i < src.nlayers; i++) {
		struct image_layer *l = &img->layers[i];
		pp.p = (struct nook_image_progress){.digest = src.layers[i].digest,
						    .layer = i + 1, .nlayers = src.nlayers};
		r = pull_layer(s, &src.layers[i], &pp, &l->size, err);
		strcpy(l->digest, src.layers[i].digest);
		if (r == 0 && asprintf(&l->path, "%s/layers/%s", s->dir,
				       image_digest_hex(l->digest)) < 0) {
			l->path = NULL;
			r = error_set(err, ENOMEM, "out of memory");
		}
		img->nlayers = i + 1;
	}
	if (r == 0)
		r = record_write(s, img, err);
	if (locked)
		flock(s->lock_fd, LOCK_UN);
	if (r < 0)
		error_prefix(err, "pull %s", ref.name);
	image_source_clear(&src);
	image_ref_clear(&ref);
	if (r < 0 || !out)
		nook_image_free(img);
	else
		*out = img;
	return r;
}

/* ---- list, remove, prune ---- */

static int by_name(const void *a, const void *b)
{
	return strcmp((*(nook_image *const *)a)->name, (*(nook_image *const *)b)->name);
}

int nook_image_list(nook_image_store *s, nook_image ***out, size_t *n, nook_error **err)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/records", s->dir);
	DIR *d = opendir(dir);
	if (!d)
		return error_set(err, errno, "image store %s: %s", dir, strerror(errno));
	nook_image **list = NULL;
	size_t count = 0;
	int r = 0;
	for (struct dirent *e; r == 0 && (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		char path[4500];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		nook_image *img;
		/* A record whose layers are gone is not an image any more. */
		int q = record_read(s, path, &img, err);
		if (q == -ENOENT)
			continue;
		if ((r = q) < 0)
			break;
		nook_image **grown = realloc(list, (count + 1) * sizeof(*list));
		if (!grown) {
			nook_image_free(img);
			r = error_set(err, ENOMEM, "out of memory");
			break;
		}
		list = grown;
		list[count++] = img;
	}
	closedir(d);
	if (r < 0) {
		for (size_t i = 0; i < count; i++)
			nook_image_free(list[i]);
		free(list);
		return r;
	}
	if (count)
		qsort(list, count, sizeof(*list), by_name);
	*out = list;
	*n = count;
	return 0;
}

int nook_image_remove(nook_image_store *s, const char *ref, nook_error **err)
{
	struct image_ref parsed;
	int r = image_ref_parse(ref, &parsed, err);
	if (r < 0)
		return r;
	char path[4200];
	record_path(s, parsed.name, path, sizeof(path));
	if (unlink(path) < 0)
		r = error_set(err, errno, "image %s: %s", parsed.name,
			      errno == ENOENT ? "no such image" : strerror(errno));
	image_ref_clear(&parsed);
	return r;
}

static bool referenced(nook_image *const *list, size_t n, const struct strv *leased,
		       const char *hex)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < list[i]->nlayers; j++)
			if (!strcmp(image_digest_hex(list[i]->layers[j].digest), hex))
				return true;
	for (size_t i = 0; i < leased->n; i++)
		if (!strcmp(leased->items[i], hex))
			return true;
	return false;
}

/* The layers of the leases still held, into *leased; the others removed.
 * Under the store's exclusive lock: no lease is being written. */
static int leases_scan(nook_image_store *s, struct strv *leased, nook_error **err)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/leases", s->dir);
	DIR *d = opendir(dir);
	if (!d)
		return error_set(err, errno, "image store %s: %s", dir, strerror(errno));
	int r = 0;
	for (struct dirent *e; r == 0 && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlinkat(dirfd(d), e->d_name, 0);
			close(fd);
			continue;
		}
		FILE *f = fdopen(fd, "r");
		char line[80];
		while (r == 0 && f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (strlen(line) == 2 * SHA256_SIZE && strv_push(leased, line) < 0)
				r = error_set(err, ENOMEM, "out of memory");
		}
		if (f)
			fclose(f);
		else
			close(fd);
	}
	closedir(d);
	return r;
}

int nook_image_prune(nook_image_store *s, uint64_t *freed, nook_error **err)
{
	*freed = 0;
	int r = lock(s, LOCK_EX);
	if (r < 0)
		return error_set(err, -r, "image store %s: lock: %s", s->dir, strerror(-r));
	nook_image **list = NULL;
	size_t n = 0;
	struct strv leased = {0};
	r = nook_image_list(s, &list, &n, err);
	if (r == 0)
		r = leases_scan(s, &leased, err);
	char dir[4200], path[4500];
	int removed = 0;
	tree_bytes = 0;
	snprintf(dir, sizeof(dir), "%s/layers", s->dir);
	DIR *d = r == 0 ? opendir(dir) : NULL;
	if (r == 0 && !d)
		r = error_set(err, errno, "image store %s: %s", dir, strerror(errno));
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char hex[65];
		snprintf(hex, sizeof(hex), "%.64s", e->d_name);
		if (referenced(list, n, &leased, hex))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		bool is_layer = strlen(e->d_name) == 64;
		int q = image_remove_tree(path);
		if (q < 0 && r == 0)
			r = error_set(err, -q, "removing %s: %s", path, strerror(-q));
		else if (q == 0 && is_layer)
			removed++;
	}
	if (d)
		closedir(d);
	/* Interrupted pulls (none runs now: the lock is ours). */
	snprintf(dir, sizeof(dir), "%s/tmp", s->dir);
	d = r == 0 ? opendir(dir) : NULL;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		image_remove_tree(path);
	}
	if (d)
		closedir(d);
	*freed = tree_bytes;
	strv_free(&leased);
	for (size_t i = 0; i < n; i++)
		nook_image_free(list[i]);
	free(list);
	flock(s->lock_fd, LOCK_UN);
	return r < 0 ? r : removed;
}

int nook_image_upper_new(nook_image_store *s, char **path, nook_error **err)
{
	if (asprintf(path, "%s/uppers/run-XXXXXX", s->dir) < 0)
		return error_set(err, ENOMEM, "out of memory");
	/* The guest's / is the upper layer's root: 0755 like an image's, so
	 * that a User other than root reaches the rest (uppers/ is 0700). */
	bool made = mkdtemp(*path) != NULL;
	if (!made || chmod(*path, 0755) < 0) {
		int e = errno;
		if (made)
			rmdir(*path);
		free(*path);
		*path = NULL;
		return error_set(err, e, "image store %s: upper directory: %s", s->dir, strerror(e));
	}
	return 0;
}

void nook_image_lease_release(nook_image_lease *l)
{
	if (!l)
		return;
	/* Another process's copy (a forked child): the fd may be gone or
	 * be something else by now, and the lease is not its to end. */
	if (l->pid == getpid()) {
		unlink(l->path);
		close(l->fd);
	}
	free(l->path);
	free(l);
}

int nook_image_lease_take(nook_image_store *s, const nook_image *img, nook_image_lease **out,
			  nook_error **err)
{
	nook_image_lease *l = calloc(1, sizeof(*l));
	if (!l || asprintf(&l->path, "%s/leases/XXXXXX", s->dir) < 0) {
		free(l);
		return error_set(err, ENOMEM, "out of memory");
	}
	l->pid = getpid();
	/* Under the store's lock: prune sees whole leases, and layers it
	 * removed before are noticed here. */
	int r = lock(s, LOCK_SH);
	if (r < 0) {
		error_set(err, -r, "image store %s: lock: %s", s->dir, strerror(-r));
		free(l->path);
		free(l);
		return r;
	}
	l->fd = mkostemp(l->path, O_CLOEXEC);
	if (l->fd < 0)
		r = error_set(err, errno, "image store %s: lease: %s", s->dir, strerror(errno));
	else if (flock(l->fd, LOCK_SH) < 0)
		r = error_set(err, errno, "image store %s: lease: %s", s->dir, strerror(errno));
	for (size_t i = 0; r == 0 && i < img->nlayers; i++) {
		struct stat st;
		if (stat(img->layers[i].path, &st) < 0)
			r = error_set(err, ENOENT, "image %s: layer %s is gone from the store (image "
				      "prune?); pull the image again", img->name, img->layers[i].digest);
		else if (dprintf(l->fd, "%s\n", image_digest_hex(img->layers[i].digest)) < 0)
			r = error_set(err, errno, "image store %s: lease: %s", s->dir, strerror(errno));
	}
	flock(s->lock_fd, LOCK_UN);
	if (r < 0) {
		if (l->fd < 0)
			l->pid = 0; /* no file of its own to remove */
		nook_image_lease_release(l);
		return r;
	}
	*out = l;
	return 0;
}

/* ---- getters ---- */

const char *nook_image_name(const nook_image *img) { return img->name; }
const char *nook_image_id(const nook_image *img) { return img->id; }
size_t nook_image_layer_count(const nook_image *img) { return img->nlayers; }
const char *nook_image_layer_path(const nook_image *img, size_t i)
{
	return i < img->nlayers ? img->layers[i].path : NULL;
}
uint64_t nook_image_layer_size(const nook_image *img, size_t i)
{
	return i < img->nlayers ? img->layers[i].size : 0;
}
const char *const *nook_image_entrypoint(const nook_image *img)
{
	return img->config.has_entrypoint ? (const char *const *)img->config.entrypoint.items
					  : NULL;
}
const char *const *nook_image_cmd(const nook_image *img)
{
	return img->config.has_cmd ? (const char *const *)img->config.cmd.items : NULL;
}
const char *const *nook_image_env(const nook_image *img)
{
	return img->config.env.n ? (const char *const *)img->config.env.items : NULL;
}
const char *nook_image_workdir(const nook_image *img) { return img->config.workdir; }
const char *nook_image_user(const nook_image *img) { return img->config.user; }
