/* nook: what the VM configuration (nook/vm.h) and the devices that carry
 * it out share: the tables of backends the caller serves itself (a file
 * system, a network, a console port), the disk settings, and the limits
 * the guest's view of the devices sets. */
#ifndef NOOK_DEVICES_H
#define NOOK_DEVICES_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NOOK_FS_TAG_MAX 36 /* virtio-fs config space: tag[36] */
#define NOOK_DISK_ID_MAX 20 /* the serial a virtio-blk guest reads */

/* A file system served by the caller: the VMM hands over each FUSE request
 * from the guest. `in` holds the request (struct fuse_in_header and its
 * arguments), `out` the guest's reply buffers; request() writes the reply
 * (struct fuse_out_header and its data) into `out` and returns its length,
 * or a negative errno to fail the request. Called from the VMM's threads,
 * possibly concurrently. */
struct nook_fs_backend {
	ssize_t (*request)(void *opaque, const struct iovec *in, size_t nin,
			   const struct iovec *out, size_t nout);
};

/* A network served by the caller. send() takes one frame from the guest
 * (0, or a negative errno to drop it). recv() copies one frame for the
 * guest into buf and returns its length, or -EAGAIN when none is waiting;
 * the VMM calls it when poll_fd() (asked once) is readable. */
struct nook_net_backend {
	int (*send)(void *opaque, const void *frame, size_t len);
	ssize_t (*recv)(void *opaque, void *buf, size_t size);
	int (*poll_fd)(void *opaque);
};

/* A port served by the caller. Each callback is called on a thread of its
 * own that the VM starts at nook_vm_start() (under the I/O thread's
 * seccomp list when the VM is confined), one call at a time:
 *   read() waits for bytes for the guest, copies up to `size` of them into
 *     buf and returns their count; 0 at end of input (the guest reads end of
 *     file) or a negative errno, after which it is not called again.
 *   write() takes bytes from the guest and returns how many it consumed,
 *     at least 1 (it is called again with the rest), or a negative errno
 *     (the port's output is then dropped). A call with len 0 (buf NULL) tells the end
 *     of the guest's output: the guest closed the port, or the VM ended;
 *     no call follows it.
 * The guest's writes wait while write() does: back-pressure, no loss.
 * nook_vm_free() waits for a read() in progress to return: a read() that
 * may block must be made to return (0 or an error) before the VM is freed,
 * e.g. by ending the caller's input. Either callback may be NULL: the port
 * then has no input (the guest's reads wait, as on a port whose host side
 * only takes output), or its output is dropped. */
struct nook_console_port_backend {
	ssize_t (*read)(void *opaque, void *buf, size_t size);
	ssize_t (*write)(void *opaque, const void *buf, size_t len);
};

enum nook_disk_format {
	NOOK_DISK_FORMAT_RAW,
	NOOK_DISK_FORMAT_QCOW2,
	NOOK_DISK_FORMAT_VMDK, /* read-only */
	NOOK_DISK_FORMAT_AUTO, /* probed from the header: only for trusted images */
};
/* WRITEBACK honours the guest's flushes with fsync; UNSAFE ignores them. */
enum nook_disk_cache { NOOK_DISK_CACHE_WRITEBACK, NOOK_DISK_CACHE_UNSAFE };
/* NONE: no host sync; RELAXED: flushes without strict hardware sync;
 * FULL: strict hardware flush. */
enum nook_disk_sync { NOOK_DISK_SYNC_NONE, NOOK_DISK_SYNC_RELAXED, NOOK_DISK_SYNC_FULL };

#ifdef __cplusplus
}
#endif
#endif
