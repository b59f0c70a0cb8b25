/* The guest's side of the DAX tests (tests/e2e/test_e2e_dax.sh), built
 * static with musl and run from a share; the host runs it too, for bench/fs.
 *
 *   dax_peer share FILE SECONDS
 *                          FILE (3 pages, the host wrote "host-1" at 0):
 *                          maps it MAP_SHARED and touches every page, prints
 *                          what page 0 says, creates FILE.ready, stores
 *                          "guest-2" at page 1 (no msync, no write) and
 *                          waits up to SECONDS for the host's "host-3" at
 *                          page 2 to appear in the mapping. Only a mapping
 *                          of the host's own page cache sees both at once.
 *   dax_peer bench FILE MIB
 *                          writes MIB MiB with write() in 1 MiB blocks and
 *                          fsync, reads them back with read(), then the same
 *                          through a MAP_SHARED mapping (msync); prints
 *                          "<test> MiB/s" lines.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define BLOCK (1 << 20)

static int die(const char *what)
{
	perror(what);
	return 1;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* FILE's first 3 pages mapped MAP_SHARED and each touched, so that each
 * is in the guest's hands (its page cache, or the window) before the host
 * changes it; NULL on failure. */
static volatile char *map_touched(const char *path)
{
	int fd = open(path, O_RDWR);
	if (fd < 0) {
		perror(path);
		return NULL;
	}
	volatile char *m = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		perror("mmap");
		return NULL;
	}
	for (int i = 0; i < 3; i++)
		(void)m[i * PAGE];
	return m;
}

static int share(const char *path, int seconds)
{
	volatile char *m = map_touched(path);
	if (!m)
		return 1;
	char seen[8] = {0};
	for (int i = 0; i < 6; i++)
		seen[i] = m[i];
	printf("page0=%s\n", seen);
	char ready[4096];
	snprintf(ready, sizeof(ready), "%s.ready", path);
	int fd = open(ready, O_WRONLY | O_CREAT, 0644);
	if (fd < 0)
		return die(ready);
	close(fd);
	memcpy((char *)m + PAGE, "guest-2", 7);
	printf("wrote-page1\n");
	fflush(stdout);
	for (int i = 0; i < seconds * 100; i++) {
		if (memcmp((const char *)m + 2 * PAGE, "host-3", 6) == 0) {
			printf("page2=host-3 after %d ms\n", i * 10);
			return 0;
		}
		usleep(10000);
	}
	printf("page2: no host-3 in %d s\n", seconds);
	return 1;
}

static void report(const char *test, double mib, double t0)
{
	printf("%s %.2f MiB/s\n", test, mib / (now() - t0));
}

static int bench(const char *path, long mib)
{
	char *buf = malloc(BLOCK);
	if (!buf)
		return die("malloc");
	memset(buf, 0x5a, BLOCK);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return die(path);
	double t0 = now();
	for (long i = 0; i < mib; i++)
		if (write(fd, buf, BLOCK) != BLOCK)
			return die("write");
	if (fsync(fd) < 0)
		return die("fsync");
	report("write", mib, t0);
	t0 = now();
	if (lseek(fd, 0, SEEK_SET) < 0)
		return die("lseek");
	for (long i = 0; i < mib; i++)
		if (read(fd, buf, BLOCK) != BLOCK)
			return die("read");
	report("read", mib, t0);
	size_t size = (size_t)mib << 20;
	char *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return die("mmap");
	t0 = now();
	for (size_t off = 0; off < size; off += BLOCK)
		memset(m + off, (int)(off >> 20), BLOCK);
	if (msync(m, size, MS_SYNC) < 0)
		return die("msync");
	report("mmap-write", mib, t0);
	t0 = now();
	uint64_t sum = 0;
	for (size_t off = 0; off < size; off += 64)
		sum += (unsigned char)m[off];
	report("mmap-read", mib, t0);
	printf("sum %llu\n", (unsigned long long)sum);
	munmap(m, size);
	close(fd);
	return unlink(path) < 0 ? die("unlink") : 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "share") == 0)
		return share(argv[2], atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "bench") == 0)
		return bench(argv[2], atol(argv[3]));
	fprintf(stderr, "usage: dax_peer share FILE SECONDS | bench FILE MIB\n");
	return 2;
}
