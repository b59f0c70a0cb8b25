/* nook-fsd: serves a host directory on a host mount point through
 * /dev/fuse with the same FUSE server that backs virtio-fs (debugging,
 * conformance tests, benchmarks). Must run as root (mount(2)).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "backends/fs/fs_server.h"

#define FSD_MAX_THREADS 64
#define FSD_MAX_WRITE (1u << 20)
/* A request is at most one WRITE of max_write plus headers; a reply at most
 * a READ of max_pages or a 64 KiB xattr. */
#define FSD_BUF_SIZE (FSD_MAX_WRITE + 65536)

struct fsd {
	int fuse_fd;
	struct fs_server *server;
	pthread_t main_thread;
	bool trace;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: nook-fsd SHARED_DIR MOUNTPOINT [--readonly] [--threads N] [--max-fds N]\n"
		   "                [--trace] [--metrics] [--writeback-cache]\n"
		   "Serves SHARED_DIR at MOUNTPOINT through /dev/fuse with nook's FUSE server\n"
		   "until SIGINT or SIGTERM, then unmounts. --readonly: every modifying\n"
		   "request gets EROFS from the server (the mount itself stays read-write).\n"
		   "--threads N: serve with N threads (default 4).\n"
		   "--max-fds N: host descriptors the kernel's inodes and open files may hold\n"
		   "(default: RLIMIT_NOFILE, raised to its hard limit; more get ENFILE).\n"
		   "--trace: print each request's opcode, node id and result on stderr.\n"
		   "--metrics: count the requests by opcode (as a VM does) and print the\n"
		   "counts on stderr at the end.\n"
		   "--writeback-cache: offer the kernel its writeback cache (writes gather in\n"
		   "its page cache and reach the server when written back).\n");
}

/* The kernel reads ahead 128 KiB on FUSE mounts; a request can carry
 * max_write, and fewer, larger READs are what makes sequential reads fast.
 * Best effort: only the throughput depends on it. */
static void set_readahead(const char *mnt)
{
	struct stat st;
	char path[96];
	if (stat(mnt, &st) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char kb[16];
	int n = snprintf(kb, sizeof(kb), "%u", FSD_MAX_WRITE / 1024);
	if (write(fd, kb, (size_t)n) < 0)
		fprintf(stderr, "nook-fsd: %s: %s\n", path, strerror(errno));
	close(fd);
}

static void *fsd_worker(void *arg)
{
	struct fsd *d = arg;
	uint8_t *in = malloc(FSD_BUF_SIZE), *out = malloc(FSD_BUF_SIZE);
	while (in && out) {
		ssize_t n = read(d->fuse_fd, in, FSD_BUF_SIZE);
		if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN))
			continue; /* ENOENT: the request was interrupted */
		if (n <= 0) {
			if (n < 0 && errno != ENODEV)
				fprintf(stderr, "nook-fsd: reading /dev/fuse: %s\n", strerror(errno));
			break;
		}
		struct iovec iin = {in, (size_t)n}, iout = {out, FSD_BUF_SIZE};
		ssize_t len = fs_server_handle(d->server, &iin, 1, &iout, 1);
		if (d->trace) {
			const struct fuse_in_header *h = (const void *)in;
			const struct fuse_out_header *o = (const void *)out;
			fprintf(stderr, "nook-fsd: op %u node %#llx -> %zd error %d\n", h->opcode,
				(unsigned long long)h->nodeid, len, len > 0 ? o->error : 0);
		}
		/* ENOENT: the kernel gave up on the request (interrupted). */
		if (len > 0 && write(d->fuse_fd, out, (size_t)len) < 0 && errno != ENOENT) {
			if (errno == ENODEV)
				break;
			fprintf(stderr, "nook-fsd: writing /dev/fuse: %s\n", strerror(errno));
		}
	}
	free(in);
	free(out);
	/* The connection is gone (unmounted elsewhere): stop the whole server. */
	pthread_kill(d->main_thread, SIGTERM);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *mnt = NULL;
	bool read_only = false, trace = false, metrics = false, writeback = false;
	int nthreads_wanted = 4;
	uint32_t max_fds = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--readonly")) {
			read_only = true;
		} else if (!strcmp(argv[i], "--trace")) {
			trace = true;
		} else if (!strcmp(argv[i], "--metrics")) {
			metrics = true;
		} else if (!strcmp(argv[i], "--writeback-cache")) {
			writeback = true;
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || v < 1 || v > FSD_MAX_THREADS) {
				fprintf(stderr, "nook-fsd: --threads %s: not a number from 1 to %d\n",
					argv[i], FSD_MAX_THREADS);
				return 2;
			}
			nthreads_wanted = (int)v;
		} else if (!strcmp(argv[i], "--max-fds") && i + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (*end || end == argv[i] || argv[i][0] == '-' || v < 1 || v > INT_MAX) {
				fprintf(stderr, "nook-fsd: --max-fds %s: not a positive number\n",
					argv[i]);
				return 2;
			}
			max_fds = (uint32_t)v;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "nook-fsd: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (!dir) {
			dir = argv[i];
		} else if (!mnt) {
			mnt = argv[i];
		} else {
			fprintf(stderr, "nook-fsd: unexpected argument %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (!dir || !mnt) {
		usage(stderr);
		return 2;
	}
	struct stat dst, mst;
	if (stat(dir, &dst) < 0) {
		fprintf(stderr, "nook-fsd: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(dst.st_mode)) {
		fprintf(stderr, "nook-fsd: %s: not a directory\n", dir);
		return 1;
	}
	if (stat(mnt, &mst) < 0) {
		fprintf(stderr, "nook-fsd: mount point %s: %s\n", mnt, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(mst.st_mode)) {
		fprintf(stderr, "nook-fsd: mount point %s: not a directory\n", mnt);
		return 1;
	}
	/* From here on SIGINT/SIGTERM wait for sigwait(), so they always unmount. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	/* One O_PATH descriptor per inode the kernel caches: the only server in
	 * the process may have them all (but its reserve, see fs_server.h). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (!max_fds)
			max_fds = rl.rlim_cur > INT_MAX ? INT_MAX : (uint32_t)rl.rlim_cur;
	}

	struct fs_export ex = {.host_path = dir, .read_only = read_only};
	static atomic_uint_least64_t op_counts[FS_SERVER_OPCODE_SLOTS];
	struct fs_server_options opt = {.exports = &ex, .nexports = 1, .max_write = FSD_MAX_WRITE,
					.max_fds = max_fds, .op_counts = metrics ? op_counts : NULL,
					.writeback_cache = writeback};
	struct fsd d = {.main_thread = pthread_self(), .trace = trace};
	nook_error *err = NULL;
	if (fs_server_create(&opt, &d.server, &err) < 0) {
		fprintf(stderr, "nook-fsd: %s\n", nook_error_message(err));
		nook_error_free(err);
		return 1;
	}
	d.fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (d.fuse_fd < 0) {
		fprintf(stderr, "nook-fsd: /dev/fuse: %s\n", strerror(errno));
		fs_server_destroy(d.server);
		return 1;
	}
	char opts[256];
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=%o,user_id=%u,group_id=%u,allow_other,default_permissions",
		 d.fuse_fd, (unsigned)(dst.st_mode & S_IFMT), (unsigned)getuid(), (unsigned)getgid());
	if (mount("nook-fsd", mnt, "fuse.nook-fsd", MS_NOSUID | MS_NODEV, opts) < 0) {
		fprintf(stderr, "nook-fsd: mounting on %s: %s\n", mnt, strerror(errno));
		close(d.fuse_fd);
		fs_server_destroy(d.server);
		return 1;
	}

	pthread_t threads[FSD_MAX_THREADS];
	int nthreads = 0;
	for (; nthreads < nthreads_wanted; nthreads++)
		if (pthread_create(&threads[nthreads], NULL, fsd_worker, &d) != 0)
			break;
	int status = 0;
	if (nthreads == 0) {
		fprintf(stderr, "nook-fsd: cannot start threads\n");
		status = 1;
	} else {
		set_readahead(mnt);
		int sig;
		sigwait(&set, &sig);
	}
	/* An idle mount goes at once and its connection ends, which wakes the
	 * workers with ENODEV. A busy one is detached; the connection then
	 * lives as long as its users, so exit without waiting: closing
	 * /dev/fuse at exit aborts it (open files then get ENOTCONN). */
	if (umount2(mnt, 0) < 0 && errno != EINVAL /* unmounted by someone else */) {
		if (errno != EBUSY || umount2(mnt, MNT_DETACH) < 0)
			fprintf(stderr, "nook-fsd: unmounting %s: %s\n", mnt, strerror(errno));
		else
			fprintf(stderr, "nook-fsd: %s was busy: detached\n", mnt);
		_exit(status);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	close(d.fuse_fd);
	fs_server_destroy(d.server);
	for (uint32_t op = 0; metrics && op < FS_SERVER_OPCODE_SLOTS; op++) {
		uint64_t count = op_counts[op];
		const char *name = fs_server_opcode_name(op);
		if (count && name)
			fprintf(stderr, "nook-fsd: %s requests: %" PRIu64 "\n", name, count);
		else if (count)
			fprintf(stderr, "nook-fsd: opcode %u requests: %" PRIu64 "\n", op, count);
	}
	return status;
}
