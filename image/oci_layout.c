/* An OCI image layout (image-spec's image-layout.md): oci-layout,
 * index.json, and blobs/sha256/<hex> for everything else. Only blob names
 * made from checked digests are ever opened. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "util/error.h"

#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

static const char *get_string(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* A descriptor's digest and size, checked. */
static int descriptor(json_object *d, const char *what, const char *dir, struct image_blob *out,
		      nook_error **err)
{
	const char *digest = json_object_is_type(d, json_type_object) ? get_string(d, "digest") : NULL;
	json_object *size;
	if (!digest || !json_object_object_get_ex(d, "size", &size) ||
	    !json_object_is_type(size, json_type_int) || json_object_get_int64(size) < 0)
		return error_set(err, EINVAL, "OCI layout %s: %s: a descriptor without digest or size",
				 dir, what);
	if (!image_digest_valid(digest))
		return error_set(err, EINVAL, "OCI layout %s: %s: digest \"%.80s\" is not "
				 "sha256:<64 hex digits>", dir, what, digest);
	strcpy(out->digest, digest);
	out->size = json_object_get_int64(size);
	return 0;
}

static void blob_name(const char *digest, char name[IMAGE_DIGEST_LEN + 16])
{
	snprintf(name, IMAGE_DIGEST_LEN + 16, "blobs/sha256/%s", image_digest_hex(digest));
}

/* Reads and parses a JSON blob checked against its descriptor. */
static int read_json(int dirfd, const char *dir, const struct image_blob *b, const char *what,
		     json_object **out, char **text, size_t *len, nook_error **err)
{
	char name[IMAGE_DIGEST_LEN + 16], label[256];
	char *data;
	size_t n;
	blob_name(b->digest, name);
	snprintf(label, sizeof(label), "OCI layout %s: %s", dir, what);
	int r = image_blob_read(dirfd, name, b->digest, b->size, IMAGE_JSON_MAX, &data, &n, label,
				err);
	if (r < 0)
		return r;
	*out = json_tokener_parse(data);
	if (!*out || !json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		free(data);
		return error_set(err, EINVAL, "%s: not a JSON object", label);
	}
	if (text) {
		*text = data;
		*len = n;
	} else {
		free(data);
	}
	return 0;
}

/* The entry of an index's "manifests" that `tag` names, or its only one,
 * or (platform-specific entries) the one for linux/amd64. */
static int choose(json_object *index, const char *tag, const char *dir, json_object **out,
		  nook_error **err)
{
	json_object *list;
	if (!json_object_object_get_ex(index, "manifests", &list) ||
	    !json_object_is_type(list, json_type_array))
		return error_set(err, EINVAL, "OCI layout %s: index without a manifests list", dir);
	size_t n = json_object_array_length(list);
	json_object *found = NULL;
	size_t matches = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(list, i), *ann, *platform;
		if (!json_object_is_type(m, json_type_object))
			continue;
		if (tag) {
			const char *name = json_object_object_get_ex(m, "annotations", &ann)
						   ? get_string(ann, "org.opencontainers.image.ref.name")
						   : NULL;
			if (!name || strcmp(name, tag) != 0)
				continue;
		} else if (n > 1 && json_object_object_get_ex(m, "platform", &platform)) {
			const char *os = get_string(platform, "os"), *arch = get_string(platform, "architecture");
			if (!os || !arch || strcmp(os, "linux") || strcmp(arch, "amd64"))
				continue;
		} else if (n > 1) {
			continue;
		}
		found = m;
		matches++;
	}
	if (matches == 1) {
		*out = found;
		return 0;
	}
	if (tag)
		return error_set(err, ENOENT, "OCI layout %s: %s image tagged \"%s\"", dir,
				 matches ? "more than one" : "no", tag);
	return error_set(err, n ? EINVAL : ENOENT, "OCI layout %s: %s", dir,
			 n ? "several images: name one, oci:DIR:TAG" : "no image in index.json");
}

static int read_manifest(int dirfd, const char *dir, json_object *manifest,
			 struct image_source *out, nook_error **err)
{
	json_object *config, *layers;
	if (!json_object_object_get_ex(manifest, "config", &config) ||
	    !json_object_object_get_ex(manifest, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array))
		return error_set(err, EINVAL, "OCI layout %s: manifest %s without config or layers",
				 dir, out->id);
	struct image_blob cfg = {0};
	int r = descriptor(config, "config", dir, &cfg, err);
	json_object *parsed = NULL;
	if (r == 0)
		r = read_json(dirfd, dir, &cfg, "config", &parsed, &out->config, &out->config_len, err);
	json_object_put(parsed);
	size_t n = json_object_array_length(layers);
	if (r == 0 && !(out->layers = calloc(n ? n : 1, sizeof(*out->layers))))
		r = error_set(err, ENOMEM, "OCI layout %s: out of memory", dir);
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_object *d = json_object_array_get_idx(layers, i), *urls;
		char what[32], name[IMAGE_DIGEST_LEN + 16];
		snprintf(what, sizeof(what), "layer %zu", i + 1);
		struct image_blob *b = &out->layers[i];
		r = descriptor(d, what, dir, b, err);
		const char *media = r == 0 ? get_string(d, "mediaType") : NULL;
		if (r == 0 && (json_object_object_get_ex(d, "urls", &urls) ||
			       (media && !strstr(media, "tar"))))
			r = error_set(err, ENOTSUP, "OCI layout %s: %s: media type %s is not a "
				      "local layer archive", dir, what, media ? media : "(foreign)");
		blob_name(b->digest, name);
		if (r == 0 && asprintf(&b->path, "%s/%s", dir, name) < 0) {
			b->path = NULL;
			r = error_set(err, ENOMEM, "OCI layout %s: out of memory", dir);
		}
		b->name_off = strlen(dir) + 1;
		if (r == 0)
			out->nlayers++;
	}
	return r;
}

int oci_layout_open(const char *dir, const char *tag, struct image_source *out, nook_error **err)
{
	*out = (struct image_source){0};
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return error_set(err, errno, "OCI layout %s: %s", dir, strerror(errno));
	char *text = NULL;
	size_t len;
	json_object *index = NULL, *entry = NULL;
	int r = faccessat(dirfd, "oci-layout", F_OK, 0) < 0
			? error_set(err, ENOENT, "OCI layout %s: no oci-layout file: not an OCI "
				    "image layout", dir)
			: image_blob_read(dirfd, "index.json", NULL, -1, IMAGE_JSON_MAX, &text, &len,
					  "OCI layout index", err);
	if (r == 0 && (!(index = json_tokener_parse(text)) ||
		       !json_object_is_type(index, json_type_object)))
		r = error_set(err, EINVAL, "OCI layout %s: index.json is not a JSON object", dir);
	free(text);
	/* An index may name an index (a multi-platform image): one level. */
	json_object *current = index, *nested = NULL;
	struct image_blob m = {0};
	for (int depth = 0; r == 0; depth++) {
		r = choose(current, depth ? NULL : tag, dir, &entry, err);
		if (r == 0)
			r = descriptor(entry, "manifest", dir, &m, err);
		const char *media = r == 0 ? get_string(entry, "mediaType") : NULL;
		json_object *next = NULL;
		if (r == 0)
			r = read_json(dirfd, dir, &m, "manifest", &next, NULL, NULL, err);
		if (r < 0)
			break;
		const char *inner = get_string(next, "mediaType");
		bool is_index = (media && (!strcmp(media, MEDIA_OCI_INDEX) ||
					   !strcmp(media, MEDIA_DOCKER_LIST))) ||
				(inner && (!strcmp(inner, MEDIA_OCI_INDEX) ||
					   !strcmp(inner, MEDIA_DOCKER_LIST)));
		/* entry and media live in the previous document. */
		json_object_put(nested);
		nested = next;
		if (!is_index) {
			strcpy(out->id, m.digest);
			r = read_manifest(dirfd, dir, next, out, err);
			break;
		}
		if (depth == 1) {
			r = error_set(err, EINVAL, "OCI layout %s: indexes nested too deep", dir);
			break;
		}
		current = next;
	}
	json_object_put(nested);
	json_object_put(index);
	close(dirfd);
	if (r < 0)
		image_source_clear(out);
	return r;
}
