/* The work of a virtio-fs worker and of a virtio-blk worker, on threads
 * that util/thread.c starts confined or not, for bench/confine. With
 * --confine the process first takes the builder's filter, as the nook
 * command line does, so the workers' filters stack on it as they do there.
 *
 *   confine_ops fsd SHARED_DIR MOUNTPOINT [--confine]
 *       serves SHARED_DIR at MOUNTPOINT through /dev/fuse with nook's FUSE
 *       server on two fs worker threads (as a virtio-fs device has) until
 *       SIGTERM; the caller unmounts.
 *   confine_ops blk FORMAT IMAGE read|write BS COUNT STEP [--confine]
 *       COUNT transfers of BS bytes, each STEP bytes after the last (modulo
 *       the disk size), on one blk worker thread; prints the seconds.
 * Build: cc -I. -Iinclude bench/confine_ops.c build/libnook.a + pkg-config
 * flags of slirp, zlib, libseccomp, libcap (bench/confine does it). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/disk/disk.h"
#include "backends/fs/fs_server.h"
#include "util/seccomp.h"
#include "util/thread.h"

#define FSD_THREADS 2
#define FSD_BUF_SIZE ((1u << 20) + 65536)

static bool confine;

static int fail(const char *what, int e)
{
	fprintf(stderr, "confine_ops: %s: %s\n", what, strerror(e));
	return 1;
}

/* The builder's filter on the calling thread (see the top). */
static int confine_builder(void)
{
	int r = confine ? seccomp_prepare() : 0;
	if (r == 0 && confine)
		r = seccomp_confine_thread(THREAD_ROLE_BUILDER, "confine_ops");
	return r;
}

struct fsd {
	int fuse_fd;
	struct fs_server *server;
};

static void *fsd_worker(void *arg)
{
	struct fsd *d = arg;
	uint8_t *in = malloc(FSD_BUF_SIZE), *out = malloc(FSD_BUF_SIZE);
	while (in && out) {
		ssize_t n = read(d->fuse_fd, in, FSD_BUF_SIZE);
		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		struct iovec iin = {in, (size_t)n}, iout = {out, FSD_BUF_SIZE};
		ssize_t len = fs_server_handle(d->server, &iin, 1, &iout, 1);
		if (len > 0 && write(d->fuse_fd, out, (size_t)len) < 0 && errno == ENODEV)
			break;
	}
	free(in);
	free(out);
	return NULL;
}

static int cmd_fsd(const char *dir, const char *mnt)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct fsd d = {.fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)};
	if (d.fuse_fd < 0)
		return fail("/dev/fuse", errno);
	nook_error *err = NULL;
	const struct fs_export export = {NULL, dir, false};
	const struct fs_server_options options = {.exports = &export, .nexports = 1};
	if (fs_server_create(&options, &d.server, &err) < 0) {
		fprintf(stderr, "confine_ops: %s\n", nook_error_message(err));
		return 1;
	}
	char opts[128];
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other",
		 d.fuse_fd);
	if (mount("confine_ops", mnt, "fuse.confine_ops", MS_NOSUID | MS_NODEV, opts) < 0)
		return fail(mnt, errno);
	int r = confine_builder();
	pthread_t threads[FSD_THREADS];
	for (int i = 0; r == 0 && i < FSD_THREADS; i++)
		r = thread_start(&threads[i], THREAD_ROLE_FS_WORKER, "fs", confine, fsd_worker, &d);
	if (r < 0)
		return fail("worker threads", -r);
	int sig;
	sigwait(&set, &sig);
	/* Exiting closes /dev/fuse; the caller unmounts. */
	return 0;
}

struct blk_run {
	struct disk *disk;
	bool write;
	size_t bs;
	uint64_t count, step;
	double seconds;
	int error;
};

static void *blk_worker(void *arg)
{
	struct blk_run *b = arg;
	uint8_t *buf = aligned_alloc(4096, b->bs);
	if (!buf) {
		b->error = ENOMEM;
		return NULL;
	}
	memset(buf, 0x5a, b->bs);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t off = 0;
	for (uint64_t i = 0; i < b->count && !b->error; i++) {
		struct iovec v = {buf, b->bs};
		if (off + b->bs > b->disk->size)
			off = 0;
		int r = b->write ? disk_pwritev(b->disk, &v, 1, off) : disk_preadv(b->disk, &v, 1, off);
		b->error = r < 0 ? -r : 0;
		off = (off + b->step) % b->disk->size;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	b->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	free(buf);
	return NULL;
}

static int cmd_blk(const char *format, const char *image, char **args)
{
	struct blk_run b = {.write = !strcmp(args[0], "write"),
			    .bs = strtoull(args[1], NULL, 0),
			    .count = strtoull(args[2], NULL, 0),
			    .step = strtoull(args[3], NULL, 0)};
	const struct disk_options o = {
		.format = !strcmp(format, "qcow2") ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW,
		.read_only = !b.write,
	};
	nook_error *err = NULL;
	if (disk_open(image, &o, &b.disk, &err) < 0) {
		fprintf(stderr, "confine_ops: %s\n", nook_error_message(err));
		return 1;
	}
	int r = confine_builder();
	pthread_t t;
	if (r == 0)
		r = thread_start(&t, THREAD_ROLE_BLK_WORKER, "blk", confine, blk_worker, &b);
	if (r < 0)
		return fail("worker thread", -r);
	pthread_join(t, NULL);
	if (b.error)
		return fail("I/O", b.error);
	printf("%.6f\n", b.seconds);
	return 0;
}

int main(int argc, char **argv)
{
	confine = !strcmp(argv[argc - 1], "--confine");
	int n = argc - confine;
	if (n == 4 && !strcmp(argv[1], "fsd"))
		return cmd_fsd(argv[2], argv[3]);
	if (n == 8 && !strcmp(argv[1], "blk"))
		return cmd_blk(argv[2], argv[3], argv + 4);
	fprintf(stderr, "usage: see bench/confine_ops.c\n");
	return 2;
}
