/* A command-line driver of the disk backends for the tests (and the crash
 * test, which kills it with SIGKILL):
 *
 *   disk_driver [--backing] COMMAND ...
 *
 * --backing lets images use the files they name (a qcow2 backing file, vmdk
 * extents), as `--disk PATH,backing=on` does. Commands:
 *
 *   disk_driver open   FMT IMG [ro|rw]           open, print the error if any
 *   disk_driver dump   FMT IMG OUT [direct]      read the whole disk into OUT
 *   disk_driver random FMT IMG REF SEED N [direct]
 *                      N random writes / write-zeroes / flushes, each mirrored
 *                      into the raw file REF (which starts equal to the disk)
 *   disk_driver crash  FMT IMG STATE SEED        random 4 KiB-block writes
 *                      forever; after each flush STATE holds the generation
 *                      of every block (atomically replaced)
 *   disk_driver verify RAW STATE                 every block of RAW holds at
 *                      least the generation STATE says was flushed
 *   disk_driver write  FMT IMG OFF LEN           write LEN bytes of 0x5a at OFF
 *   disk_driver discard FMT IMG OFF LEN          discard [OFF, OFF+LEN)
 *   disk_driver bench  FMT IMG read|write BS COUNT STEP
 *                      COUNT transfers of BS bytes at offsets 0, STEP, 2*STEP,
 *                      ... modulo the disk size (as qemu-img bench does);
 *                      prints the seconds taken
 *
 * FMT is raw, qcow2, vmdk or auto. Exit status 0 on success, 1 on failure. */
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/disk/disk.h"

#define BLOCK 4096

static bool allow_backing;

static int parse_format(const char *s, enum disk_format *f)
{
	static const char *names[] = {"raw", "qcow2", "vmdk", "auto"};
	for (int i = 0; i < 4; i++)
		if (strcmp(s, names[i]) == 0) {
			*f = (enum disk_format)i;
			return 0;
		}
	fprintf(stderr, "unknown format %s\n", s);
	return -1;
}

static struct disk *open_disk(const char *fmt, const char *path, bool ro, bool direct)
{
	struct disk_options o = {.read_only = ro, .direct = direct, .allow_backing = allow_backing};
	if (parse_format(fmt, &o.format) < 0)
		return NULL;
	nook_error *err = NULL;
	struct disk *d;
	if (disk_open(path, &o, &d, &err) < 0) {
		fprintf(stderr, "%s\n", nook_error_message(err));
		nook_error_free(err);
		return NULL;
	}
	return d;
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "%s: %s\n", what, strerror(-r));
	return 1;
}

static int cmd_dump(struct disk *d, const char *out)
{
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return fail(out, -errno);
	/* Odd-sized, unaligned pieces exercise the iovec and bounce paths. */
	size_t chunk = 1 << 20;
	uint8_t *buf = malloc(chunk + 7);
	int rc = 0;
	for (uint64_t off = 0; off < d->size && rc == 0; off += chunk) {
		size_t n = d->size - off < chunk ? (size_t)(d->size - off) : chunk;
		size_t split = n > 4096 ? 1536 + 1 : n / 2;
		struct iovec v[2] = {{buf + 3, split}, {buf + 3 + split, n - split}};
		int r = disk_preadv(d, v, 2, off);
		if (r < 0)
			rc = fail("read", r);
		else if (pwrite(fd, buf + 3, n, (off_t)off) != (ssize_t)n)
			rc = fail(out, -errno);
	}
	free(buf);
	close(fd);
	return rc;
}

static int cmd_random(struct disk *d, const char *ref, unsigned n)
{
	int fd = open(ref, O_RDWR);
	if (fd < 0)
		return fail(ref, -errno);
	size_t max = 3 << 20;
	uint8_t *buf = malloc(max + 1);
	uint8_t *zero = calloc(1, max);
	for (unsigned i = 0; i < n; i++) {
		unsigned op = (unsigned)(rnd() % 10);
		/* Mostly small, sometimes large; sector granular like a guest. */
		uint64_t len = (rnd() % 4 == 0 ? rnd() % (max / 512) : rnd() % 64 + 1) * 512;
		if (len == 0)
			len = 512;
		if (len > d->size)
			len = d->size;
		uint64_t off = rnd() % ((d->size - len) / 512 + 1) * 512;
		int r;
		if (op < 7) {
			uint8_t v = (uint8_t)rnd();
			for (uint64_t k = 0; k < len; k++)
				buf[k + 1] = (uint8_t)(v + k / 512 + (k & 7));
			size_t a = len > 1000 ? (size_t)(rnd() % 1000) : 0;
			struct iovec iov[2] = {{buf + 1, a}, {buf + 1 + a, len - a}};
			r = disk_pwritev(d, iov, 2, off);
			if (r == 0 && pwrite(fd, buf + 1, len, (off_t)off) != (ssize_t)len)
				r = -errno;
		} else if (op < 9) {
			r = disk_write_zeroes(d, off, len);
			if (r == 0 && pwrite(fd, zero, len, (off_t)off) != (ssize_t)len)
				r = -errno;
		} else {
			r = disk_flush(d, rnd() % 2);
		}
		if (r < 0) {
			fprintf(stderr, "op %u (%u at %llu+%llu): %s\n", i, op, (unsigned long long)off,
				(unsigned long long)len, strerror(-r));
			return 1;
		}
	}
	free(buf);
	free(zero);
	close(fd);
	return disk_flush(d, false) < 0;
}

/* Block b at generation g: each 512-byte sector starts with b and g (a
 * killed write may leave a block torn at sector or cluster boundaries, with
 * sectors of different generations), the rest follows from them. */
static void fill_sector(uint8_t *p, uint64_t b, uint64_t g, size_t sector)
{
	memcpy(p, &b, 8);
	memcpy(p + 8, &g, 8);
	for (size_t i = 16; i < 512; i++)
		p[i] = (uint8_t)(b * 31 + g * 7 + sector * 13 + i);
}

static void fill_block(uint8_t *p, uint64_t b, uint64_t g)
{
	for (size_t s = 0; s < BLOCK / 512; s++)
		fill_sector(p + s * 512, b, g, s);
}

static int save_state(const char *state, const uint64_t *gen, uint64_t nblocks)
{
	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", state);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fwrite(gen, 8, nblocks, f);
	fflush(f);
	fsync(fileno(f));
	fclose(f);
	return rename(tmp, state) < 0 ? -errno : 0;
}

static uint64_t *load_state(const char *state, uint64_t nblocks)
{
	uint64_t *gen = calloc(nblocks, 8);
	FILE *f = fopen(state, "r");
	if (f) {
		if (fread(gen, 8, nblocks, f) != nblocks)
			memset(gen, 0, nblocks * 8);
		fclose(f);
	}
	return gen;
}

static int cmd_crash(struct disk *d, const char *state)
{
	uint64_t nblocks = d->size / BLOCK;
	uint64_t *gen = load_state(state, nblocks);
	uint64_t *flushed = malloc(nblocks * 8);
	memcpy(flushed, gen, nblocks * 8);
	size_t maxb = 64;
	uint8_t *buf = malloc(maxb * BLOCK);
	for (;;) {
		for (int i = 0; i < 50; i++) {
			uint64_t n = rnd() % 4 == 0 ? rnd() % maxb + 1 : 1;
			if (n > nblocks)
				n = nblocks;
			uint64_t b = rnd() % (nblocks - n + 1);
			for (uint64_t k = 0; k < n; k++)
				fill_block(buf + k * BLOCK, b + k, ++gen[b + k]);
			struct iovec v = {buf, n * BLOCK};
			int r = disk_pwritev(d, &v, 1, b * BLOCK);
			if (r < 0)
				return fail("write", r);
		}
		int r = disk_flush(d, true);
		if (r < 0)
			return fail("flush", r);
		if ((r = save_state(state, gen, nblocks)) < 0)
			return fail(state, r);
	}
}

static int cmd_verify(const char *raw, const char *state)
{
	int fd = open(raw, O_RDONLY);
	if (fd < 0)
		return fail(raw, -errno);
	off_t size = lseek(fd, 0, SEEK_END);
	uint64_t nblocks = (uint64_t)size / BLOCK;
	uint64_t *gen = load_state(state, nblocks);
	uint8_t blk[BLOCK], want[512], zero[512] = {0};
	unsigned bad = 0;
	for (uint64_t b = 0; b < nblocks; b++) {
		if (pread(fd, blk, BLOCK, (off_t)(b * BLOCK)) != BLOCK)
			return fail(raw, -EIO);
		uint64_t oldest = UINT64_MAX;
		for (size_t s = 0; s < BLOCK / 512; s++) {
			const uint8_t *sec = blk + s * 512;
			uint64_t g;
			memcpy(&g, sec + 8, 8);
			bool empty = memcmp(sec, zero, 512) == 0;
			if (!empty)
				fill_sector(want, b, g, s);
			bool ok = empty ? gen[b] == 0 : memcmp(sec, want, 512) == 0 && g >= gen[b];
			if (!ok && bad++ < 10)
				fprintf(stderr, "block %llu sector %zu: found generation %llu, flushed %llu%s\n",
					(unsigned long long)b, s, (unsigned long long)(empty ? 0 : g),
					(unsigned long long)gen[b], empty ? " (zeroes)" : "");
			if ((empty ? 0 : g) < oldest)
				oldest = empty ? 0 : g;
		}
		/* The next run starts from what every sector has at least. */
		gen[b] = oldest;
	}
	close(fd);
	int r = save_state(state, gen, nblocks);
	free(gen);
	return r < 0 || bad != 0;
}

static int cmd_write(struct disk *d, uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	memset(buf, 0x5a, len);
	struct iovec v = {buf, len};
	int r = disk_pwritev(d, &v, 1, off);
	free(buf);
	return r < 0 ? fail("write", r) : 0;
}

static int cmd_bench(struct disk *d, bool write, size_t bs, uint64_t count, uint64_t step)
{
	uint8_t *buf = aligned_alloc(4096, bs);
	memset(buf, 0x5a, bs);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t off = 0;
	for (uint64_t i = 0; i < count; i++) {
		struct iovec v = {buf, bs};
		if (off + bs > d->size)
			off = 0;
		int r = write ? disk_pwritev(d, &v, 1, off) : disk_preadv(d, &v, 1, off);
		if (r < 0)
			return fail("bench", r);
		off = (off + step) % d->size;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--backing") == 0) {
		allow_backing = true;
		argv++;
		argc--;
	}
	if (argc >= 4 && strcmp(argv[1], "verify") == 0)
		return cmd_verify(argv[2], argv[3]);
	if (argc < 4) {
		fprintf(stderr, "usage: see the comment in disk_driver.c\n");
		return 2;
	}
	const char *cmd = argv[1], *fmt = argv[2], *img = argv[3];
	bool direct = strcmp(argv[argc - 1], "direct") == 0;
	if (strcmp(cmd, "open") == 0) {
		bool ro = argc < 5 || strcmp(argv[4], "rw") != 0;
		struct disk *d = open_disk(fmt, img, ro, false);
		disk_close(d);
		return d ? 0 : 1;
	}
	bool ro = strcmp(cmd, "dump") == 0 || (strcmp(cmd, "bench") == 0 && argc >= 5 &&
						   strcmp(argv[4], "read") == 0);
	struct disk *d = open_disk(fmt, img, ro, direct);
	if (!d)
		return 1;
	int rc = 2;
	if (strcmp(cmd, "dump") == 0 && argc >= 5) {
		rc = cmd_dump(d, argv[4]);
	} else if (strcmp(cmd, "random") == 0 && argc >= 7) {
		rng_state = strtoull(argv[5], NULL, 0) | 1;
		rc = cmd_random(d, argv[4], (unsigned)strtoul(argv[6], NULL, 0));
	} else if (strcmp(cmd, "bench") == 0 && argc >= 8) {
		rc = cmd_bench(d, strcmp(argv[4], "write") == 0, strtoull(argv[5], NULL, 0),
			       strtoull(argv[6], NULL, 0), strtoull(argv[7], NULL, 0));
	} else if (strcmp(cmd, "write") == 0 && argc >= 6) {
		rc = cmd_write(d, strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0));
	} else if (strcmp(cmd, "discard") == 0 && argc >= 6) {
		int r = disk_discard(d, strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0));
		rc = r < 0 ? fail("discard", r) : 0;
	} else if (strcmp(cmd, "crash") == 0 && argc >= 6) {
		rng_state = strtoull(argv[5], NULL, 0) | 1;
		rc = cmd_crash(d, argv[4]);
	}
	disk_close(d);
	return rc;
}
