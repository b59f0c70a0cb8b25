/* A `docker save` tarball: manifest.json lists, per image, its config
 * ("<hex>.json", or "blobs/sha256/<hex>" since Docker 25) and its layer
 * tars ("<id>/layer.tar", podman's "<hex>.tar", or "blobs/sha256/<hex>").
 * Those members are
 * copied out into a private directory, then checked: the config against
 * the SHA-256 its name gives, each layer against the config's diff_ids
 * (or its blob name) while it is unpacked. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "util/error.h"

/* A member bigger than a layer may be (the layer limit's default). */
#define MEMBER_MAX (64ull << 30)

static struct archive *open_archive(const char *file, nook_error **err)
{
	struct archive *a = archive_read_new();
	if (!a) {
		error_set(err, ENOMEM, "docker archive %s: out of memory", file);
		return NULL;
	}
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK) {
		error_set(err, archive_errno(a) > 0 ? archive_errno(a) : EINVAL,
			  "docker archive %s: %s", file, archive_error_string(a));
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* The member name without a leading "./". */
static const char *member(struct archive_entry *e)
{
	const char *p = archive_entry_pathname(e);
	while (p && p[0] == '.' && p[1] == '/')
		p += 2;
	return p ? p : "";
}

static bool hex64(const char *s, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* A member name the manifest may use: blobs/sha256/<hex>, or <hex> then
 * one of `suffixes` (NULL-terminated). *hex_out: the hex a blob name
 * gives, else NULL. */
static bool member_valid(const char *name, const char *const *suffixes, const char **hex_out)
{
	*hex_out = NULL;
	size_t n = strlen(name);
	if (n == 13 + 64 && !strncmp(name, "blobs/sha256/", 13) && hex64(name + 13, 64)) {
		*hex_out = name + 13;
		return true;
	}
	for (; *suffixes; suffixes++)
		if (n == 64 + strlen(*suffixes) && hex64(name, 64) && !strcmp(name + 64, *suffixes))
			return true;
	return false;
}

/* Copies the data of the current entry into dirfd/name. */
static int copy_out(struct archive *a, int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r, e = 0;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
		if (off < 0 || (uint64_t)off + len > MEMBER_MAX) {
			e = -EFBIG;
			break;
		} else if (pwrite(fd, buf, len, off) != (ssize_t)len) {
			e = errno ? -errno : -EIO;
			break;
		}
	if (e == 0 && r != ARCHIVE_EOF)
		e = archive_errno(a) > 0 ? -archive_errno(a) : -EIO;
	close(fd);
	return e;
}

static int read_manifest(const char *file, char **text, nook_error **err)
{
	struct archive *a = open_archive(file, err);
	if (!a)
		return -EINVAL;
	struct archive_entry *e;
	int r, found = -ENOENT;
	while (found == -ENOENT && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (strcmp(member(e), "manifest.json") != 0)
			continue;
		int64_t size = archive_entry_size(e);
		if (size < 0 || size > IMAGE_JSON_MAX) {
			found = error_set(err, EFBIG, "docker archive %s: manifest.json too big", file);
			break;
		}
		char *buf = malloc((size_t)size + 1);
		la_ssize_t n = buf ? archive_read_data(a, buf, (size_t)size) : -1;
		if (n != size) {
			free(buf);
			found = error_set(err, EIO, "docker archive %s: manifest.json: %s", file,
					  buf ? archive_error_string(a) : "out of memory");
			break;
		}
		buf[size] = '\0';
		*text = buf;
		found = 0;
	}
	if (found == -ENOENT)
		found = error_set(err, r == ARCHIVE_EOF ? ENOENT : EINVAL,
				  "docker archive %s: %s", file,
				  r == ARCHIVE_EOF ? "no manifest.json: not a docker save archive"
						   : archive_error_string(a));
	archive_read_free(a);
	return found;
}

/* Copies every member listed in `wanted` (names[0..n)) to dirfd/<index>. */
static int copy_members(const char *file, int dirfd, const char *const *names, size_t n,
			nook_error **err)
{
	struct archive *a = open_archive(file, err);
	if (!a)
		return -EINVAL;
	bool *seen = calloc(n, sizeof(*seen));
	struct archive_entry *e;
	int r = seen ? 0 : error_set(err, ENOMEM, "docker archive %s: out of memory", file);
	int h = ARCHIVE_OK;
	while (r == 0 && (h = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		for (size_t i = 0; r == 0 && i < n; i++) {
			if (strcmp(member(e), names[i]) != 0)
				continue;
			char out[32];
			snprintf(out, sizeof(out), "%zu", i);
			int c = copy_out(a, dirfd, out);
			if (c < 0)
				r = error_set(err, -c, "docker archive %s: %s: %s", file, names[i],
					      strerror(-c));
			seen[i] = true;
			break;
		}
	}
	if (r == 0 && h != ARCHIVE_EOF)
		r = error_set(err, EINVAL, "docker archive %s: %s", file, archive_error_string(a));
	for (size_t i = 0; r == 0 && i < n; i++)
		if (!seen[i])
			r = error_set(err, ENOENT, "docker archive %s: no member %s, which manifest.json "
				      "names", file, names[i]);
	free(seen);
	archive_read_free(a);
	return r;
}

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

int docker_archive_open(const char *file, const char *tmp_parent, struct image_source *out,
			nook_error **err)
{
	*out = (struct image_source){0};
	char *text = NULL;
	int r = read_manifest(file, &text, err);
	json_object *manifest = r == 0 ? json_tokener_parse(text) : NULL, *layers = NULL;
	free(text);
	json_object *image = manifest && json_object_is_type(manifest, json_type_array) &&
					     json_object_array_length(manifest) == 1
				     ? json_object_array_get_idx(manifest, 0)
				     : NULL;
	const char *config = image ? get_string(image, "Config") : NULL;
	if (r == 0 && (!config || !json_object_object_get_ex(image, "Layers", &layers) ||
		       !json_object_is_type(layers, json_type_array)))
		r = error_set(err, EINVAL, "docker archive %s: manifest.json is not a list of one "
			      "image with Config and Layers", file);
	size_t n = r == 0 ? json_object_array_length(layers) : 0;
	const char **names = r == 0 ? calloc(n + 1, sizeof(*names)) : NULL;
	const char **hexes = r == 0 ? calloc(n + 1, sizeof(*hexes)) : NULL;
	if (r == 0 && (!names || !hexes))
		r = error_set(err, ENOMEM, "docker archive %s: out of memory", file);
	for (size_t i = 0; r == 0 && i <= n; i++) {
		json_object *l = i ? json_object_array_get_idx(layers, i - 1) : NULL;
		names[i] = i ? (json_object_is_type(l, json_type_string) ? json_object_get_string(l)
									  : "")
			     : config;
		/* Docker's <id>/layer.tar, podman's <diff id>.tar. */
		static const char *const layer_names[] = {"/layer.tar", ".tar", NULL};
		static const char *const config_names[] = {".json", NULL};
		if (!member_valid(names[i], i ? layer_names : config_names, &hexes[i]))
			r = error_set(err, EINVAL, "docker archive %s: member name \"%.100s\" is not "
				      "blobs/sha256/<64 hex>%s", file, names[i],
				      i ? ", <64 hex>/layer.tar or <64 hex>.tar" : " or <64 hex>.json");
	}
	if (r == 0 && (!(out->tmpdir = malloc(strlen(tmp_parent) + 32)) ||
		       (sprintf(out->tmpdir, "%s/archive-XXXXXX", tmp_parent),
			!mkdtemp(out->tmpdir)))) {
		free(out->tmpdir);
		out->tmpdir = NULL;
		r = error_set(err, errno ? errno : ENOMEM, "docker archive %s: temporary directory: %s",
			      file, strerror(errno ? errno : ENOMEM));
	}
	int dirfd = r == 0 ? open(out->tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (r == 0 && dirfd < 0)
		r = error_set(err, errno, "%s: %s", out->tmpdir, strerror(errno));
	if (r == 0)
		r = copy_members(file, dirfd, names, n + 1, err);
	/* The config's name is its digest. */
	char digest[IMAGE_DIGEST_LEN + 1];
	if (r == 0) {
		snprintf(digest, sizeof(digest), "sha256:%.64s", hexes[0] ? hexes[0] : config);
		strcpy(out->id, digest);
		r = image_blob_read(dirfd, "0", digest, -1, IMAGE_JSON_MAX, &out->config,
				    &out->config_len, "docker archive config", err);
	}
	struct image_config parsed = {0};
	if (r == 0)
		r = image_config_parse(out->config, out->config_len, &parsed, err);
	if (r == 0 && parsed.diff_ids.n != n)
		r = error_set(err, EINVAL, "docker archive %s: %zu layers but %zu diff_ids", file, n,
			      parsed.diff_ids.n);
	if (r == 0 && !(out->layers = calloc(n ? n : 1, sizeof(*out->layers))))
		r = error_set(err, ENOMEM, "docker archive %s: out of memory", file);
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct image_blob *b = &out->layers[i];
		if (hexes[i + 1])
			snprintf(b->digest, sizeof(b->digest), "sha256:%s", hexes[i + 1]);
		else if (image_digest_valid(parsed.diff_ids.items[i]))
			strcpy(b->digest, parsed.diff_ids.items[i]);
		else
			r = error_set(err, EINVAL, "docker archive %s: diff_id \"%.80s\" is not "
				      "sha256:<64 hex digits>", file, parsed.diff_ids.items[i]);
		b->size = -1;
		if (r == 0 && asprintf(&b->path, "%s/%zu", out->tmpdir, i + 1) < 0) {
			b->path = NULL;
			r = error_set(err, ENOMEM, "docker archive %s: out of memory", file);
		}
		b->name_off = strlen(out->tmpdir) + 1;
		if (r == 0)
			out->nlayers++;
	}
	image_config_clear(&parsed);
	if (dirfd >= 0)
		close(dirfd);
	free(names);
	free(hexes);
	json_object_put(manifest);
	if (r < 0)
		image_source_clear(out);
	return r;
}
