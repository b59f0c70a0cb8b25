/* The work of a virtio-fs worker and of a virtio-blk worker, on threads
 * that util/thread.c starts confined or not, for bench/confine. With
 * --confine the process first takes the builder's filter, as the nook
 * command line does, so the workers' filters stack on it as they do there.
 *
 *   confine_ops fsd SHARED_DIR MOUNTPOINT [--confine]
 *       serves SHARED_DIR at MOUNTPOINT through /dev/fuse with nook's FUSE
 *       server on two fs worker threads (as a virtio-fs device has) until
 *       SIGTERM; the caller unmounts.
 *   confine_ops blk FORMAT IMAGE read|write BS COUNT STEP RUNS
 *       COUNT transfers of BS bytes, each STEP bytes after the last (modulo
 *       the disk size), on a confined and an unconfined blk worker thread
 *       in turns, RUNS times; prints "CONFINED UNCONFINED" seconds a run.
 * Build: cc -I. -Iinclude bench/confine_ops.c build/libnook.a + pkg-config
 * flags of slirp, zlib, libseccomp, libcap (bench/confine does it). */
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
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

/* One blk worker's runs: it waits for its turn, does the transfers, and
 * hands the turn back. */
struct blk_worker {
	struct disk *disk;
	bool write;
	size_t bs;
	uint64_t count, step;
	sem_t go, done;
	bool quit;
	double seconds;
	int error;
};

static void *blk_worker(void *arg)
{
	struct blk_worker *b = arg;
	uint8_t *buf = aligned_alloc(4096, b->bs);
	if (!buf)
		b->error = ENOMEM;
	else
		memset(buf, 0x5a, b->bs);
	for (;;) {
		sem_wait(&b->go);
		if (b->quit)
			break;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		uint64_t off = 0;
		for (uint64_t i = 0; i < b->count && !b->error; i++) {
			struct iovec v = {buf, b->bs};
			if (off + b->bs > b->disk->size)
				off = 0;
			int r = b->write ? disk_pwritev(b->disk, &v, 1, off)
					 : disk_preadv(b->disk, &v, 1, off);
			b->error = r < 0 ? -r : 0;
			off = (off + b->step) % b->disk->size;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		b->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		sem_post(&b->done);
	}
	free(buf);
	return NULL;
}

static double blk_turn(struct blk_worker *b)
{
	sem_post(&b->go);
	sem_wait(&b->done);
	return b->seconds;
}

/* Both sides in one process, so that they share the image's page cache
 * and the process's placement: the unconfined worker starts before the
 * builder's filter (so it has none), the confined one after. */
static int cmd_blk(const char *format, const char *image, char **args)
{
	struct blk_worker w[2];
	struct disk *disk;
	const bool write = !strcmp(args[0], "write");
	const struct disk_options o = {
		.format = !strcmp(format, "qcow2") ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW,
		.read_only = !write,
	};
	nook_error *err = NULL;
	if (disk_open(image, &o, &disk, &err) < 0) {
		fprintf(stderr, "confine_ops: %s\n", nook_error_message(err));
		return 1;
	}
	const int runs = atoi(args[4]);
	pthread_t t[2];
	int r = 0;
	for (int on = 0; on < 2 && r == 0; on++) {
		w[on] = (struct blk_worker){.disk = disk, .write = write,
					    .bs = strtoull(args[1], NULL, 0),
					    .count = strtoull(args[2], NULL, 0),
					    .step = strtoull(args[3], NULL, 0)};
		sem_init(&w[on].go, 0, 0);
		sem_init(&w[on].done, 0, 0);
		confine = on;
		r = confine_builder();
		if (r == 0)
			r = thread_start(&t[on], THREAD_ROLE_BLK_WORKER, "blk", on, blk_worker, &w[on]);
	}
	if (r < 0)
		return fail("worker threads", -r);
	/* "confined unconfined" seconds per run, the side going first alternating. */
	for (int i = 0; i < runs && !w[0].error && !w[1].error; i++) {
		double s[2];
		s[i % 2] = blk_turn(&w[i % 2]);
		s[!(i % 2)] = blk_turn(&w[!(i % 2)]);
		printf("%.6f %.6f\n", s[1], s[0]);
	}
	for (int on = 0; on < 2; on++) {
		w[on].quit = true;
		sem_post(&w[on].go);
		pthread_join(t[on], NULL);
	}
	if (w[0].error || w[1].error)
		return fail("I/O", w[0].error ? w[0].error : w[1].error);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 9 && !strcmp(argv[1], "blk"))
		return cmd_blk(argv[2], argv[3], argv + 4);
	confine = !strcmp(argv[argc - 1], "--confine");
	if (argc - confine == 4 && !strcmp(argv[1], "fsd"))
		return cmd_fsd(argv[2], argv[3]);
	fprintf(stderr, "usage: see bench/confine_ops.c\n");
	return 2;
}
