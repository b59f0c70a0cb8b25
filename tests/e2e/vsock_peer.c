/* Both ends of tests/e2e/test_e2e_vsock.sh: built static with musl for the
 * guest (AF_VSOCK) and natively for the host (UNIX sockets, Firecracker's
 * "CONNECT P\n" handshake). Every connection runs one exchange:
 *   client -> server  header: bytes up (8), bytes down (8), seed (8)
 *   client -> server  `up` bytes of pattern(seed)
 *   server -> client  FNV-1a hash of what it read (8)
 *   server -> client  `down` bytes of pattern(~seed)
 *   client -> server  FNV-1a hash of what it read (8)
 *   server -> client  'Y' when that hash is the one it sent, else 'N'
 * Each side checks what it read against the pattern it expects and the
 * hash the other side reports, so corruption, loss or reordering in either
 * direction fails on both sides. Little-endian integers.
 *
 *   vsock_peer serve vsock:PORT | unix:PATH      accept and serve forever
 *   vsock_peer wait vsock:PORT                   accept one connection, exit
 *   vsock_peer client ADDR UP DOWN SEED          one exchange
 *   vsock_peer clients ADDR COUNT UP DOWN        COUNT at once, seeds 1..COUNT
 *   vsock_peer refused vsock:CID:PORT            connect must fail, not hang
 *   vsock_peer knock unix:PATH:PORT              connect (CONNECT, OK), close
 *   vsock_peer stall unix:PATH                   half a CONNECT line, then wait
 *                                                for nook to close the socket
 * ADDR: vsock:CID:PORT (guest) or unix:PATH:PORT (host, via CONNECT; retried
 * for up to RETRY_S while the guest is not listening yet). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../guest/vsock_addr.h"


#define CHUNK (64 * 1024)
#define RETRY_S 60

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	printf("vsock_peer FAIL: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

struct pattern {
	uint64_t state;
};

static void pattern_fill(struct pattern *p, uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		p->state ^= p->state << 13;
		p->state ^= p->state >> 7;
		p->state ^= p->state << 17;
		uint64_t v = p->state * 0x2545f4914f6cdd1dULL;
		memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
	}
}

static uint64_t fnv(uint64_t h, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ buf[i]) * 0x100000001b3ULL;
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static int read_full(int fd, void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* Sends `len` bytes of pattern(seed); its hash. */
static int send_pattern(int fd, uint64_t len, uint64_t seed, uint64_t *hash)
{
	uint8_t buf[CHUNK];
	struct pattern p = {seed | 1};
	int r = 0;
	*hash = FNV_INIT;
	for (uint64_t left = len; r == 0 && left;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		pattern_fill(&p, buf, n);
		*hash = fnv(*hash, buf, n);
		r = write_full(fd, buf, n);
		left -= n;
	}
	return r;
}

/* Reads `len` bytes; its hash, and whether they are pattern(seed). */
static int recv_pattern(int fd, uint64_t len, uint64_t seed, uint64_t *hash, int *match)
{
	uint8_t buf[CHUNK], want[CHUNK];
	struct pattern p = {seed | 1};
	int r = 0;
	*hash = FNV_INIT;
	*match = 1;
	for (uint64_t left = len; r == 0 && left;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		if (read_full(fd, buf, n) < 0) {
			r = -1;
			break;
		}
		pattern_fill(&p, want, n);
		*match &= memcmp(buf, want, n) == 0;
		*hash = fnv(*hash, buf, n);
		left -= n;
	}
	return r;
}

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static int serve_one(int fd)
{
	uint64_t hdr[3], hash, sent, theirs;
	int match;
	if (read_full(fd, hdr, sizeof(hdr)) < 0 || recv_pattern(fd, hdr[0], hdr[2], &hash, &match) < 0)
		return -1;
	if (write_full(fd, &hash, 8) < 0 || send_pattern(fd, hdr[1], ~hdr[2], &sent) < 0 ||
	    read_full(fd, &theirs, 8) < 0)
		return -1;
	char verdict = theirs == sent && match ? 'Y' : 'N';
	if (write_full(fd, &verdict, 1) < 0)
		return -1;
	pthread_mutex_lock(&out_lock);
	if (verdict != 'Y')
		printf("vsock_peer FAIL: server: seed %llu: data %s, client's hash %s\n",
		       (unsigned long long)hdr[2], match ? "ok" : "WRONG",
		       theirs == sent ? "ok" : "WRONG");
	else if (hdr[0] >= (1 << 20))
		printf("vsock_peer server ok: %llu bytes in, %llu out\n", (unsigned long long)hdr[0],
		       (unsigned long long)hdr[1]);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	return verdict == 'Y' ? 0 : -1;
}

static int run_client(int fd, uint64_t up, uint64_t down, uint64_t seed, int quiet)
{
	uint64_t hdr[3] = {up, down, seed}, sent, theirs, got;
	int match;
	char verdict;
	double t0 = now_s();
	if (write_full(fd, hdr, sizeof(hdr)) < 0 || send_pattern(fd, up, seed, &sent) < 0 ||
	    read_full(fd, &theirs, 8) < 0)
		return -1;
	double t1 = now_s();
	if (recv_pattern(fd, down, ~seed, &got, &match) < 0 || write_full(fd, &got, 8) < 0 ||
	    read_full(fd, &verdict, 1) < 0)
		return -1;
	double t2 = now_s();
	int ok = theirs == sent && match && verdict == 'Y';
	pthread_mutex_lock(&out_lock);
	if (!ok)
		printf("vsock_peer FAIL: client: seed %llu: server's hash %s, data %s, verdict %c\n",
		       (unsigned long long)seed, theirs == sent ? "ok" : "WRONG",
		       match ? "ok" : "WRONG", verdict);
	else if (!quiet)
		printf("vsock_peer client ok: %llu bytes up in %.2f s (%.1f MiB/s), %llu down in "
		       "%.2f s (%.1f MiB/s)\n",
		       (unsigned long long)up, t1 - t0, (double)up / (1 << 20) / (t1 - t0),
		       (unsigned long long)down, t2 - t1, (double)down / (1 << 20) / (t2 - t1));
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	return ok ? 0 : -1;
}

/* "vsock:CID:PORT", "vsock:PORT" (listening), "unix:PATH[:PORT]". */
static int parse(const char *addr, int *vsock, char *path, size_t pathlen, unsigned *cid,
		 unsigned *port)
{
	*vsock = strncmp(addr, "vsock:", 6) == 0;
	if (*vsock) {
		const char *colon = strchr(addr + 6, ':');
		*cid = colon ? (unsigned)strtoul(addr + 6, NULL, 10) : VMADDR_CID_ANY;
		*port = (unsigned)strtoul(colon ? colon + 1 : addr + 6, NULL, 10);
		return 0;
	}
	if (strncmp(addr, "unix:", 5) != 0)
		return -1;
	snprintf(path, pathlen, "%s", addr + 5);
	char *colon = strrchr(path, ':');
	*port = 0;
	if (colon) {
		*colon = 0;
		*port = (unsigned)strtoul(colon + 1, NULL, 10);
	}
	return 0;
}

static int connect_addr(const char *addr)
{
	int vsock;
	char path[108];
	unsigned cid, port;
	if (parse(addr, &vsock, path, sizeof(path), &cid, &port) < 0)
		return -1;
	if (vsock) {
		int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
		struct vsock_addr sa = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = cid};
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	/* Through nook's listener: CONNECT, then OK or a closed socket while
	 * the guest does not listen yet. */
	for (double end = now_s() + RETRY_S; now_s() < end; usleep(200 * 1000)) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		char line[32], c;
		int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
		size_t got = 0;
		if (write_full(fd, line, (size_t)n) == 0)
			while (got < sizeof(line) - 1 && read(fd, &c, 1) == 1 && c != '\n')
				line[got++] = c;
		line[got] = 0;
		if (strncmp(line, "OK ", 3) == 0)
			return fd;
		close(fd);
	}
	errno = ETIMEDOUT;
	return -1;
}

static int listen_addr(const char *addr)
{
	int vsock;
	char path[108];
	unsigned cid, port;
	if (parse(addr, &vsock, path, sizeof(path), &cid, &port) < 0)
		return -1;
	int fd = socket(vsock ? AF_VSOCK : AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int r;
	if (vsock) {
		struct vsock_addr sa = {.svm_family = AF_VSOCK, .svm_port = port, .svm_cid = cid};
		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
		unlink(path);
		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	return r < 0 || listen(fd, 128) < 0 ? -1 : fd;
}

/* A thread per connection, its buffers on its stack: every system call
 * is dear in a guest whose kernel is emulated, a fork most of all. */
struct job {
	int fd;
	uint64_t up, down, seed;
	int result;
};

static void *serve_thread(void *arg)
{
	struct job *j = arg;
	serve_one(j->fd);
	close(j->fd);
	free(j);
	return NULL;
}

static void *client_thread(void *arg)
{
	struct job *j = arg;
	j->result = run_client(j->fd, j->up, j->down, j->seed, 1);
	close(j->fd);
	return NULL;
}

static pthread_attr_t thread_attr(void)
{
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 4 * CHUNK);
	return a;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	const char *cmd = argc > 2 ? argv[1] : "";
	if (!strcmp(cmd, "serve") || !strcmp(cmd, "wait")) {
		int l = listen_addr(argv[2]);
		if (l < 0)
			die(argv[2]);
		printf("vsock_peer listening on %s\n", argv[2]);
		fflush(stdout);
		pthread_attr_t a = thread_attr();
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		for (;;) {
			int fd = accept(l, NULL, NULL);
			if (fd < 0 && errno == EINTR)
				continue;
			if (fd < 0)
				die("accept");
			if (!strcmp(cmd, "wait"))
				return 0;
			struct job *j = malloc(sizeof(*j));
			pthread_t t;
			if (!j)
				die("malloc");
			j->fd = fd;
			if (pthread_create(&t, &a, serve_thread, j) != 0)
				die("pthread_create");
		}
	}
	if (!strcmp(cmd, "client") && argc == 6) {
		int fd = connect_addr(argv[2]);
		if (fd < 0)
			die(argv[2]);
		return run_client(fd, strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
				  strtoull(argv[5], NULL, 0), 0) == 0 ? 0 : 1;
	}
	if (!strcmp(cmd, "clients") && argc == 6) {
		int count = atoi(argv[3]), failed = 0;
		uint64_t up = strtoull(argv[4], NULL, 0), down = strtoull(argv[5], NULL, 0);
		double t0 = now_s();
		/* Every connection opens before any exchange starts: they are
		 * all live at once. */
		struct job *jobs = calloc((size_t)count, sizeof(*jobs));
		pthread_t *threads = calloc((size_t)count, sizeof(*threads));
		pthread_attr_t a = thread_attr();
		if (!jobs || !threads)
			die("calloc");
		for (int i = 0; i < count; i++) {
			jobs[i] = (struct job){.up = up, .down = down, .seed = (uint64_t)i + 1};
			if ((jobs[i].fd = connect_addr(argv[2])) < 0)
				die(argv[2]);
		}
		for (int i = 0; i < count; i++)
			if (pthread_create(&threads[i], &a, client_thread, &jobs[i]) != 0)
				die("pthread_create");
		for (int i = 0; i < count; i++) {
			pthread_join(threads[i], NULL);
			failed += jobs[i].result != 0;
		}
		printf("vsock_peer clients: %d of %d ok in %.2f s\n", count - failed, count,
		       now_s() - t0);
		/* Freed: under LeakSanitizer a leak ends the process before
		 * stdout is flushed. */
		free(jobs);
		free(threads);
		pthread_attr_destroy(&a);
		return failed ? 1 : 0;
	}
	if (!strcmp(cmd, "refused")) {
		double t0 = now_s();
		int fd = connect_addr(argv[2]);
		int e = errno;
		if (fd >= 0)
			printf("vsock_peer FAIL: %s: connected\n", argv[2]);
		else
			printf("vsock_peer refused ok: %s: %s after %.2f s\n", argv[2], strerror(e),
			       now_s() - t0);
		return fd < 0 ? 0 : 1;
	}
	if (!strcmp(cmd, "knock")) {
		int fd = connect_addr(argv[2]);
		if (fd < 0)
			die(argv[2]);
		close(fd);
		return 0;
	}
	if (!strcmp(cmd, "stall")) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[2] + 5);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		char c;
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    write_full(fd, "CONN", 4) < 0)
			die(argv[2]);
		double t0 = now_s();
		ssize_t n = read(fd, &c, 1);
		/* Closed with our bytes unread, the socket may report a reset. */
		printf("vsock_peer stall: closed by nook after %.1f s (%s)\n", now_s() - t0,
		       n == 0 ? "end of file" : n < 0 ? strerror(errno) : "data");
		return n <= 0 ? 0 : 1;
	}
	fprintf(stderr, "usage: see tests/e2e/vsock_peer.c\n");
	return 2;
}
