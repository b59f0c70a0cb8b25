/* FUSE passthrough server: serves host directories (and single files) to a
 * FUSE client, independent of the transport (virtio-fs queues or /dev/fuse).
 *
 * Every host object is reached from an export's root by one name at a time
 * through O_PATH file descriptors, never by path and never following
 * symlinks, so a client cannot leave an export. Node ids and file handles
 * are table indexes with a generation, validated on every use.
 *
 * Identity (the guest is never host root, whoever runs the server):
 * - Which identity touches host files: the server process's own, for every
 *   request. The uid/gid a request carries only say whose the guest's new
 *   files are; the client checks permissions itself against the attributes
 *   the server reports (virtio-fs mounts always use default_permissions;
 *   nook-fsd mounts with it), so the server checks none.
 * - What the host sees: objects made by the guest belong to the server's
 *   uid (and the gid the host gives them); the guest never changes a host
 *   owner or group, never sets a setuid, setgid or sticky bit on the host
 *   (the host mode holds the guest's permission bits, plus the owner's
 *   read/write (and search) that the server needs), never sets a host
 *   security.* or trusted.* attribute, and never makes a device node on the
 *   host: its FIFOs, sockets and device nodes are empty regular files.
 *   Only an overlayfs whiteout (char 0/0) is made as one. A file the host
 *   made setuid or setgid loses those bits on the host (they move into
 *   the guest's view) before the guest changes its data, so no setuid
 *   host file ever holds content the guest wrote.
 * - What the guest sees: the host's attributes, except where a regular file
 *   or directory carries the xattr user.containers.override_stat
 *   ("UID:GID:MODE:TYPE", the rootless-containers convention, also read in
 *   its 3-field form): then owner, group, mode with its s-bits, type and
 *   device number are the record's. The server writes the record when the
 *   guest's view of a file differs from the host's (so a share the guest
 *   only uses as the host shows it stays free of them) and removes it when
 *   they agree again. Guest security.* and trusted.* attributes are kept as
 *   user.nook.<name> and shown under their own names; the host's own
 *   security.*, trusted.* and system.* attributes are not shown. The guest
 *   can neither read nor change the record or user.nook.* directly
 *   (hidden from LISTXATTR, ENODATA to read, EPERM to change). A setuid
 *   binary the host owns keeps working in the guest (it has no record).
 * - Objects that cannot hold a user.* xattr (symlinks, and FIFOs, sockets
 *   and device nodes the host made) show the host's owner: a guest chown
 *   of one is accepted and not kept, as with fuse-overlayfs; s-bits on one
 *   are dropped. A host file system without user xattrs shows the guest
 *   the host's owners and modes.
 * - HANDLE_KILLPRIV_V2 is honoured in the guest's view: a write, truncate,
 *   O_TRUNC open or chown the client flags drops setuid, setgid (when
 *   group-executable) and security.capability.
 * On its first request a thread's fs attributes are unshared (CLONE_FS) and
 * its umask set to 0, since the client already applied its umask.
 *
 * The server holds one O_PATH descriptor per inode the client knows and
 * one per open file, within a budget (max_fds below), so that a client
 * that never forgets runs out of its own descriptors, not the process's.
 *
 * No request waits on something the guest controls: FIFOs and device nodes
 * are never opened (CREATE of a name that holds one fails), and every open
 * is O_NONBLOCK (the client's blocking mode is restored on the descriptor),
 * so a host lease cannot hold a worker either.
 *
 * DAX: with a window (below), SETUPMAPPING and REMOVEMAPPING map ranges
 * of the exports' regular files into it and out again (fs_dax.c).
 *
 * Not implemented (ENOSYS): POSIX/BSD locks (not negotiated, so the client
 * kernel keeps locks local), IOCTL, POLL, BMAP; FLUSH (nothing is buffered:
 * the client then stops sending it); SETUPMAPPING and REMOVEMAPPING without
 * a window.
 */
#ifndef NOOK_BACKENDS_FS_SERVER_H
#define NOOK_BACKENDS_FS_SERVER_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <nook/error.h>

struct fs_server;
struct stat;

/* The ownership record (fs_owner.c), for code that makes host files for
 * the guest to see through the server (image layers): the xattr on a host
 * regular file or directory that holds the guest's view of it, its text
 * for a view (uid, gid, st_mode with type, st_rdev; the length), and the
 * host mode for an object of host type `type` the guest sees with `mode`
 * (no s-bits, always readable and writable by the server). */
#define FS_RECORD_XATTR "user.containers.override_stat"
int fs_record_format(char *buf, size_t size, const struct stat *guest);
mode_t fs_host_mode(mode_t type, mode_t mode);
/* The host name under which the guest sees xattr `name` (`change`: to set
 * it): 0 with *host; -EPERM/-ENODATA for the server's own records,
 * -EOPNOTSUPP for namespaces not served, -ERANGE when too long. */
int fs_xattr_host_name(const char *name, bool change, char host[XATTR_NAME_MAX + 1]);

struct fs_export {
	const char *name;      /* entry in the synthetic root; NULL: the root */
	const char *host_path; /* a host directory or a single host file */
	bool read_only;        /* every modifying request gets EROFS */
};

#define FS_SERVER_OPCODE_SLOTS 64

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
	/* Where to count the requests by FUSE opcode (FS_SERVER_OPCODE_SLOTS
	 * counters; opcodes beyond the last slot count in slot 0, which no
	 * opcode uses), or NULL. Several servers may share one array. */
	atomic_uint_least64_t *op_counts;
	/* Offer the client its writeback cache (FUSE_WRITEBACK_CACHE): writes
	 * gather in the client's page cache and reach the host when the client
	 * writes them back (fsync, memory pressure, its dirty-page timeout,
	 * unmount), in larger requests. fsync keeps its guarantee; data not
	 * yet written back is lost if the client dies without syncing. */
	bool writeback_cache;
	/* Transport limit on the WRITE payload (negotiated max_write, clamped
	 * to 4 KiB..1 MiB; 0: 1 MiB). */
	uint32_t max_write;
	/* The budget of host descriptors the client can make the server hold:
	 * one per node (an inode the client looked up and has not forgotten;
	 * export roots aside) and one per open file or directory. Once it is
	 * spent, LOOKUP (and every request that makes a node or a handle)
	 * gets ENFILE while everything else keeps working, and FORGET and
	 * RELEASE give back. Whatever the budgets, the top eighth of
	 * RLIMIT_NOFILE's soft limit (at creation) stays for the rest of the
	 * process: a descriptor numbered that high is not kept (ENFILE), so
	 * however many servers a process has, its own descriptors (eventfds,
	 * disks, sockets) never run out because of them. 0: half that limit,
	 * at least 64, so that one server cannot take all that its siblings
	 * (an overlay root has one per layer, a VM one per share) may use. */
	uint32_t max_fds;
	/* The DAX window (virtio-fs's shared memory region, kvm/memory.h's
	 * device memory), or NULL: host memory the guest reaches as its own,
	 * into which SETUPMAPPING maps ranges of files, MAP_SHARED. It must be
	 * PROT_NONE wherever nothing is mapped; its size is a multiple of 2 MiB.
	 * Emptied at each INIT and DESTROY. dax_broken(dax_opaque, -errno) is
	 * called (once) if a part of it could not be made PROT_NONE again:
	 * the caller must stop the guest, whose memory may now have a hole. */
	uint8_t *dax_window;
	uint64_t dax_window_size;
	void (*dax_broken)(void *opaque, int err);
	void *dax_opaque;
};

int fs_server_create(const struct fs_server_options *opt, struct fs_server **out,
		     nook_error **err);

/* Same signature as struct nook_fs_backend.request in include/nook/devices.h:
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

/* The name of a FUSE opcode the server answers ("LOOKUP"), or NULL. */
const char *fs_server_opcode_name(uint32_t opcode);

#endif
