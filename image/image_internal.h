/* What the files of image/ share (the public side is nook/image.h):
 *   reference.c      REF strings: kind, path, tag, the image's name
 *   digest.c         "sha256:<hex>" digests; checking blobs against them
 *   oci_layout.c     an OCI image layout: index -> manifest -> blobs
 *   docker_archive.c a docker save tarball: manifest.json -> blobs
 *   image_config.c   the image config JSON (Entrypoint, Cmd, Env, ...)
 *   layer_unpack.c   one layer archive into a directory, safely
 *   store.c          the store: pull, records, list, remove, prune
 */
#ifndef NOOK_IMAGE_INTERNAL_H
#define NOOK_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <nook/image.h>

#include "util/sha256.h"
#include "util/strv.h"

/* ---- reference.c ---- */
enum image_ref_kind { IMAGE_REF_OCI, IMAGE_REF_DOCKER_ARCHIVE, IMAGE_REF_DOCKER };
struct image_ref {
	enum image_ref_kind kind;
	char *path; /* the layout directory or archive (absolute), or the registry name */
	char *tag;  /* oci: the ref.name annotation wanted, or NULL */
	char *name; /* the image's name: the REF with the path made absolute */
};
int image_ref_parse(const char *ref, struct image_ref *out, nook_error **err);
void image_ref_clear(struct image_ref *r);

/* ---- digest.c ---- */
/* "sha256:" and 64 lower-case hex digits. */
#define IMAGE_DIGEST_LEN (7 + 2 * SHA256_SIZE)
bool image_digest_valid(const char *digest);
/* The hex part of a valid digest. */
static inline const char *image_digest_hex(const char *digest)
{
	return digest + 7;
}
/* "sha256:<hex>" of a buffer. */
void image_digest_of(const void *data, size_t len, char out[IMAGE_DIGEST_LEN + 1]);
/* Opens the blob `name` beneath dirfd for reading: a regular file reached
 * without a symlink (a hostile layout names only what lies in it, and no
 * FIFO to wait on), of `size` bytes when >= 0; its stat in *st. The fd,
 * or a negative errno with the error naming it. */
int image_blob_open(int dirfd, const char *name, int64_t size, const char *what,
		    struct stat *st, nook_error **err);
/* Reads the regular file `name` under dirfd (at most max bytes) into a
 * NUL-terminated buffer and checks it against `digest` (and `size` when
 * >= 0); what names the blob in errors. */
int image_blob_read(int dirfd, const char *name, const char *digest, int64_t size, size_t max,
		    char **data, size_t *len, const char *what, nook_error **err);

/* ---- the source of a pull: what oci_layout.c and docker_archive.c find ---- */
struct image_blob {
	char digest[IMAGE_DIGEST_LEN + 1];
	int64_t size; /* -1: the manifest does not say */
	char *path;   /* the host file: its directory, '/', then name_off on what
		       * lies beneath it (image_blob_open) */
	size_t name_off;
};
struct image_source {
	char id[IMAGE_DIGEST_LEN + 1];
	char *config;       /* the config JSON, checked against its digest */
	size_t config_len;
	struct image_blob *layers;
	size_t nlayers;
	char *tmpdir; /* made for this source, removed with it, or NULL */
};
void image_source_clear(struct image_source *s);
/* The manifests at most this big, configs at most this big (bytes). */
#define IMAGE_JSON_MAX (4u << 20)

/* ---- oci_layout.c ---- */
int oci_layout_open(const char *dir, const char *tag, struct image_source *out, nook_error **err);

/* ---- docker_archive.c ---- */
/* Copies what the archive's manifest names into a new directory under
 * tmp_parent. */
int docker_archive_open(const char *file, const char *tmp_parent, struct image_source *out,
			nook_error **err);

/* ---- image_config.c ---- */
struct image_config {
	struct strv entrypoint, cmd, env;
	bool has_entrypoint, has_cmd;
	char *workdir, *user;
	struct strv diff_ids; /* rootfs.diff_ids */
};
int image_config_parse(const char *json, size_t len, struct image_config *out, nook_error **err);
void image_config_clear(struct image_config *c);

/* ---- layer_unpack.c ---- */
struct layer_limits {
	uint64_t max_bytes, max_entries;
};
struct layer_unpack_progress {
	void (*fn)(void *opaque, uint64_t bytes_read);
	void *opaque;
};
/* Unpacks the archive (tar; gzip, zstd or none) read from fd into the
 * empty directory dest, checking that the SHA-256 of everything read from
 * fd is `digest` (and its size `size`, when >= 0). *bytes: the size of
 * the regular files made. `name` names the layer in errors. dest may hold
 * anything after a failure: the caller removes it. */
int layer_unpack(int fd, const char *digest, int64_t size, const char *dest,
		 const struct layer_limits *limits, const struct layer_unpack_progress *progress,
		 const char *name, uint64_t *bytes, nook_error **err);

/* ---- store.c ---- */
/* rm -rf without following symlinks; 0 or a negative errno. */
int image_remove_tree(const char *path);

#endif
