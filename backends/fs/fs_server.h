/* FUSE passthrough server: serves host directories (and single files) to a
 * FUSE client, independent of the transport (virtio-fs queues or /dev/fuse).
 *
 * Every host object is reached from an export's root by one name at a time
 * through O_PATH file descriptors, never by path and never following
 * symlinks, so a client cannot leave an export. Node ids and file handles
 * are table indexes with a generation, validated on every use.
 *
 * Host credentials: when the process runs as root, each request runs with
 * the caller's uid/gid as the thread's fsuid/fsgid (and no supplementary
 * groups), so ownership and permission checks happen as for that user.
 * On its first request a thread's fs attributes are unshared (CLONE_FS) and
 * its umask set to 0, since the client already applied its umask.
 * The server holds one O_PATH descriptor per inode the client knows; raise
 * RLIMIT_NOFILE accordingly.
 *
 * No request waits on something the guest controls: FIFOs and device nodes
 * are never opened (CREATE of a name that holds one fails), and every open
 * is O_NONBLOCK (the client's blocking mode is restored on the descriptor),
 * so a host lease cannot hold a worker either.
 *
 * Not implemented (ENOSYS): POSIX/BSD locks (not negotiated, so the client
 * kernel keeps locks local), DAX mappings (SETUPMAPPING/REMOVEMAPPING),
 * IOCTL, POLL, BMAP; FLUSH (nothing is buffered: the client then stops
 * sending it). Device nodes other than the overlayfs whiteout (char
 * 0/0) cannot be created (EPERM), so a client cannot plant e.g. a /dev/mem
 * node in a host directory.
 */
#ifndef NOOK_BACKENDS_FS_SERVER_H
#define NOOK_BACKENDS_FS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <nook/error.h>

struct fs_server;

struct fs_export {
	const char *name;      /* entry in the synthetic root; NULL: the root */
	const char *host_path; /* a host directory or a single host file */
	bool read_only;        /* every modifying request gets EROFS */
};

struct fs_server_options {
	/* With one export whose name is NULL, that directory (or file) is the
	 * root. Otherwise the root is a synthetic read-only directory whose
	 * entries are the named exports. */
	const struct fs_export *exports;
	size_t nexports;
	/* A name that is invisible and cannot be created, renamed to or from,
	 * linked or removed in the top directory of any export (the overlay
	 * work dir), or NULL. */
	const char *hidden_name;
	/* Transport limit on the WRITE payload (negotiated max_write, clamped
	 * to 4 KiB..1 MiB; 0: 1 MiB). */
	uint32_t max_write;
};

int fs_server_create(const struct fs_server_options *opt, struct fs_server **out,
		     nook_error **err);

/* Same signature as struct nook_fs_backend.request in include/nook/vm.h:
 * `in` holds one request (fuse_in_header + args [+ write data]) split across
 * iovecs arbitrarily, in memory the client may change concurrently (the
 * header and arguments are copied once before validation; WRITE data is
 * consumed in place); `out` are the reply buffers. Returns the reply length
 * written into `out` (== fuse_out_header.len), 0 when the request takes no
 * reply (FORGET, BATCH_FORGET, INTERRUPT), or a negative errno only when no
 * reply can be formed at all (`in` shorter than a fuse_in_header, `out`
 * smaller than a fuse_out_header). Callable concurrently from several
 * threads. */
ssize_t fs_server_handle(void *server, const struct iovec *in, size_t nin,
			 const struct iovec *out, size_t nout);

void fs_server_destroy(struct fs_server *s);

#endif
