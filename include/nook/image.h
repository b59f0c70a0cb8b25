/* nook: container images.
 *
 * An image store is a directory (by default <cache>/images, the cache
 * being $NOOK_CACHE_DIR, else $XDG_CACHE_HOME/nook or ~/.cache/nook):
 *   layers/<hex>/   one unpacked layer, named by the SHA-256 of its blob
 *                   (the compressed blob of an OCI layout, the layer tar of
 *                   a docker save archive); stored once, shared by every
 *                   image that has it, never changed after it appears
 *   records/<hex>.json  one pulled image (hex: the SHA-256 of its name):
 *                   its name, id, layer list and the config values below
 *   uppers/         private writable upper layers of runs
 *   leases/         the layers of images being run (nook_image_lease_take)
 *   tmp/            layers being unpacked; renamed into layers/ when whole
 * Files are made 0600 and directories 0700 (the layers' contents keep
 * their own permission bits, never an s-bit).
 *
 * References (REF):
 *   oci:DIR[:TAG]        an OCI image layout; without TAG, its only image
 *   docker-archive:FILE  a `docker save` (or `podman save`) tarball
 *   docker://NAME[:TAG]  a registry image, copied with skopeo into a
 *                        temporary OCI layout first
 * An image's name is its REF with DIR or FILE made absolute.
 *
 * Every blob is checked against its digest (and size, when the manifest
 * gives one) before anything of it is used; layers are hostile input:
 * entries are kept inside the layer directory (no "..", absolute names
 * or symlinked parents; hard links only to earlier entries), and owners,
 * s-bits, device nodes, FIFOs and sockets are not made on the host but
 * recorded in the xattr user.containers.override_stat (UID:GID:MODE:TYPE)
 * that nook's file server shows the guest, as for the guest's own files
 * in a share. OCI whiteouts become overlayfs whiteouts (a character
 * device 0/0) and opaque directories carry user.overlay.opaque=y, which
 * the guest's overlay reads (it mounts with userxattr). A layer that
 * fails any check leaves nothing in layers/.
 */
#ifndef NOOK_IMAGE_H
#define NOOK_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <nook/api.h>
#include <nook/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nook_image_store nook_image_store;
typedef struct nook_image nook_image;
typedef struct nook_image_lease nook_image_lease;

/* Opens (making it if missing) the store in `dir`, or the default one
 * when dir is NULL. */
NOOK_API int nook_image_store_open(const char *dir, nook_image_store **out, nook_error **err);
NOOK_API void nook_image_store_close(nook_image_store *store);
/* Limits on one layer (defaults: 64 GiB of file data, 1000000 entries);
 * a layer over them fails, naming the layer and the entry. */
NOOK_API void nook_image_store_set_layer_limits(nook_image_store *store, uint64_t max_bytes,
						uint64_t max_entries);

/* What a pull is doing, for a progress display: layer `layer` (from 1)
 * of `nlayers`, `bytes` of its blob read so far out of `total` (0 when
 * unknown); `cached` when the layer was already in the store. */
struct nook_image_progress {
	const char *digest; /* "sha256:<hex>" */
	size_t layer, nlayers;
	uint64_t bytes, total;
	int cached;
};
typedef void (*nook_image_progress_fn)(const struct nook_image_progress *p, void *opaque);

/* Fetches REF into the store (layers already there are not unpacked
 * again) and records it under its name, replacing an older record of
 * that name. *out (when out is not NULL) is the image. */
NOOK_API int nook_image_pull(nook_image_store *store, const char *ref, nook_image_progress_fn fn,
			     void *opaque, nook_image **out, nook_error **err);
/* The image REF names, if it was pulled: -ENOENT (with a message) when
 * not. */
NOOK_API int nook_image_open(nook_image_store *store, const char *ref, nook_image **out,
			     nook_error **err);
NOOK_API void nook_image_free(nook_image *image);
/* Every pulled image, sorted by name; free each and the array. */
NOOK_API int nook_image_list(nook_image_store *store, nook_image ***out, size_t *n,
			     nook_error **err);
/* Forgets the image REF names (-ENOENT when there is none); its layers
 * stay until nook_image_prune(). */
NOOK_API int nook_image_remove(nook_image_store *store, const char *ref, nook_error **err);
/* Removes every layer that neither an image nor a lease refers to, and
 * leftovers of interrupted pulls; *freed_bytes: the size of the files removed. Waits for pulls in
 * progress. Returns the number of layers removed. */
NOOK_API int nook_image_prune(nook_image_store *store, uint64_t *freed_bytes, nook_error **err);

/* The image's name and id ("sha256:<hex>": its manifest's digest, or for
 * a docker archive its config's). */
NOOK_API const char *nook_image_name(const nook_image *image);
NOOK_API const char *nook_image_id(const nook_image *image);
/* Its layers, bottom first: host directories for
 * nook_vm_config_set_fs_root_overlay() (below a private upper one: they
 * must never be written), and their file data sizes. */
NOOK_API size_t nook_image_layer_count(const nook_image *image);
NOOK_API const char *nook_image_layer_path(const nook_image *image, size_t i);
NOOK_API uint64_t nook_image_layer_size(const nook_image *image, size_t i);
/* The config's Entrypoint, Cmd and Env (NULL-terminated; NULL when the
 * image has none), WorkingDir and User (NULL when unset). */
NOOK_API const char *const *nook_image_entrypoint(const nook_image *image);
NOOK_API const char *const *nook_image_cmd(const nook_image *image);
NOOK_API const char *const *nook_image_env(const nook_image *image);
NOOK_API const char *nook_image_workdir(const nook_image *image);
NOOK_API const char *nook_image_user(const nook_image *image);

/* Keeps the image's layers in the store while it runs: prune leaves
 * them, even after rmi of the image, until the lease is released or the
 * process that took it ends. Fails (-ENOENT, naming the layer) when a
 * layer of the image was removed since it was opened. Take it before
 * the VM is built and release it after the VM ends, in the same process
 * (a forked child's release only frees its copy). */
NOOK_API int nook_image_lease_take(nook_image_store *store, const nook_image *image,
				   nook_image_lease **out, nook_error **err);
NOOK_API void nook_image_lease_release(nook_image_lease *lease);

/* A new empty directory for the writable upper layer of one run
 * (uppers/XXXXXX in the store; 0755, the guest's / being its root);
 * *path is the caller's to free. */
NOOK_API int nook_image_upper_new(nook_image_store *store, char **path, nook_error **err);
/* Removes a directory and everything in it (an upper layer after its
 * run), never following a symlink. */
NOOK_API int nook_image_remove_dir(const char *path, nook_error **err);

#ifdef __cplusplus
}
#endif
#endif
