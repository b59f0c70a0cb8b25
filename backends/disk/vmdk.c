/* VMDK images, read-only: monolithicSparse and streamOptimized (a sparse
 * extent in the same file, grains plain or zlib-compressed), and text
 * descriptors (monolithicFlat and friends) whose extents are FLAT, ZERO or
 * SPARSE files next to the descriptor. Parent (delta) images are refused. */
#include "backends/disk/disk.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SPARSE_MAGIC 0x564d444bu /* "KDMV" */
#define GD_AT_END UINT64_C(0xffffffffffffffff)
#define FLAG_COMPRESSED (1u << 16)
#define FLAG_MARKERS (1u << 17)
#define SECTOR 512
#define MAX_EXTENTS 64
#define MAX_GD_BYTES (16u << 20) /* all the grain directories of an image */
#define MAX_DESCRIPTOR (64u << 10)

enum extent_kind { EXTENT_FLAT, EXTENT_ZERO, EXTENT_SPARSE };

struct extent {
	enum extent_kind kind;
	uint64_t start, sectors; /* in the disk, in sectors */
	struct disk_file file;
	uint64_t flat_offset; /* EXTENT_FLAT: bytes into the file */
	/* EXTENT_SPARSE */
	uint64_t grain_sectors;
	uint32_t gtes;          /* entries per grain table */
	uint32_t *gd;           /* grain directory: sector of each grain table */
	uint64_t ngd;
	bool compressed;
	uint32_t *gt;           /* the cached grain table */
	uint64_t gt_index;      /* which one (UINT64_MAX: none) */
	uint8_t *grain, *zbuf;  /* compressed: a decompressed grain; its compressed form */
	uint64_t grain_cached;  /* sector of the cached grain (0: none) */
	uint64_t file_size;
};

struct vmdk {
	struct disk disk;
	uint64_t gd_bytes; /* of all the sparse extents so far */
	unsigned nextents;
	struct extent ext[MAX_EXTENTS];
};

#define FAIL(...) error_set(err, __VA_ARGS__)

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Opens the sparse extent whose header is at the start of x->file; its
 * grain directory counts into *gd_bytes. */
static int sparse_open(struct extent *x, const char *path, uint64_t *gd_bytes, nook_error **err)
{
	uint8_t h[512];
	int r = disk_file_size(&x->file, &x->file_size);
	if (r == 0)
		r = disk_file_pread(&x->file, h, sizeof(h), 0);
	if (r < 0 || le32(h) != SPARSE_MAGIC)
		return FAIL(EINVAL, "disk %s: not a vmdk sparse extent (bad magic)", path);
	uint32_t version = le32(h + 4), flags = le32(h + 8);
	if (version < 1 || version > 3)
		return FAIL(ENOTSUP, "disk %s: vmdk version %u is not supported", path, version);
	uint64_t gd_offset = le64(h + 56);
	if (gd_offset == GD_AT_END) {
		/* streamOptimized: the real header is in the footer. */
		if (x->file_size < 1536 ||
		    disk_file_pread(&x->file, h, sizeof(h), x->file_size - 1024) < 0 ||
		    le32(h) != SPARSE_MAGIC)
			return FAIL(EINVAL, "disk %s: vmdk footer missing", path);
		flags = le32(h + 8);
		gd_offset = le64(h + 56);
	}
	x->sectors = le64(h + 12);
	x->grain_sectors = le64(h + 20);
	x->gtes = le32(h + 44);
	x->compressed = flags & FLAG_COMPRESSED;
	if (x->compressed && le16(h + 77) != 1)
		return FAIL(ENOTSUP, "disk %s: vmdk compression %u is not supported", path,
			    le16(h + 77));
	if (!pow2(x->grain_sectors) || x->grain_sectors > 2048 || !pow2(x->gtes) ||
	    x->gtes > 65536)
		return FAIL(EINVAL, "disk %s: bad vmdk grain size or grain table size", path);
	if (x->sectors > DISK_MAX_SIZE / SECTOR)
		return FAIL(EINVAL, "disk %s: vmdk capacity too large", path);
	uint64_t per_gt = x->grain_sectors * x->gtes;
	x->ngd = (x->sectors + per_gt - 1) / per_gt;
	if (x->ngd * 4 > MAX_GD_BYTES || gd_offset > x->file_size / SECTOR ||
	    x->ngd * 4 > x->file_size - gd_offset * SECTOR)
		return FAIL(EINVAL, "disk %s: bad vmdk grain directory", path);
	*gd_bytes += x->ngd * 4;
	if (*gd_bytes > MAX_GD_BYTES)
		return FAIL(EINVAL, "disk %s: the vmdk grain directories are larger than %u MiB in "
				    "total", path, MAX_GD_BYTES >> 20);
	x->gd = malloc(x->ngd * 4 + 4);
	x->gt = malloc((size_t)x->gtes * 4);
	if (x->compressed) {
		x->grain = malloc(x->grain_sectors * SECTOR);
		/* A compressed grain may be a little larger than the grain. */
		x->zbuf = malloc(x->grain_sectors * SECTOR * 2 + 4096);
	}
	if (!x->gd || !x->gt || (x->compressed && (!x->grain || !x->zbuf)))
		return FAIL(ENOMEM, "disk %s: out of memory", path);
	if (disk_file_pread(&x->file, x->gd, x->ngd * 4, gd_offset * SECTOR) < 0)
		return FAIL(EIO, "disk %s: cannot read the vmdk grain directory", path);
	for (uint64_t i = 0; i < x->ngd; i++)
		x->gd[i] = le32toh(x->gd[i]);
	x->gt_index = UINT64_MAX;
	return 0;
}

/* Where grain `g` of a sparse extent is: its sector in the file, 0 for
 * none (reads as zeroes). */
static int grain_sector(struct extent *x, uint64_t g, uint64_t *sector)
{
	uint64_t t = g / x->gtes;
	*sector = 0;
	if (t >= x->ngd)
		return -EIO;
	if (x->gd[t] == 0)
		return 0;
	if (x->gt_index != t) {
		x->gt_index = UINT64_MAX;
		int r = disk_file_pread(&x->file, x->gt, (size_t)x->gtes * 4,
					(uint64_t)x->gd[t] * SECTOR);
		if (r < 0)
			return r;
		x->gt_index = t;
	}
	uint32_t s = le32toh(x->gt[g % x->gtes]);
	*sector = s == 1 ? 0 : s; /* 1: a zeroed grain */
	return 0;
}

/* A compressed grain: marker (lba u64, size u32), then zlib data. */
static int read_compressed_grain(struct extent *x, uint64_t sector)
{
	if (x->grain_cached == sector)
		return 0;
	x->grain_cached = 0;
	uint64_t cap = x->grain_sectors * SECTOR * 2 + 4096;
	int64_t got = disk_file_pread_upto(&x->file, x->zbuf, cap, sector * SECTOR);
	if (got < 12)
		return -EIO;
	uint32_t size = le32(x->zbuf + 8);
	if (size > (uint64_t)got - 12)
		return -EIO;
	uLongf out = x->grain_sectors * SECTOR;
	int zr = uncompress(x->grain, &out, x->zbuf + 12, size);
	if ((zr != Z_OK && zr != Z_BUF_ERROR) || out != x->grain_sectors * SECTOR)
		return -EIO;
	x->grain_cached = sector;
	return 0;
}

/* Reads [off, off+len) bytes of the extent into iov at iov_off. */
static int extent_read(struct extent *x, uint64_t off, uint64_t len, const struct iovec *iov,
		       int iovcnt, size_t iov_off)
{
	struct iovec part[DISK_IOV_MAX];
	if (x->kind == EXTENT_ZERO) {
		iov_memset(iov, iovcnt, iov_off, 0, len);
		return 0;
	}
	if (x->kind == EXTENT_FLAT) {
		int n = iov_slice(iov, iovcnt, iov_off, len, part, DISK_IOV_MAX);
		return disk_file_preadv(&x->file, part, n, x->flat_offset + off);
	}
	uint64_t grain_bytes = x->grain_sectors * SECTOR;
	while (len > 0) {
		uint64_t in = off % grain_bytes;
		uint64_t n = grain_bytes - in < len ? grain_bytes - in : len;
		uint64_t sector;
		int r = grain_sector(x, off / grain_bytes, &sector);
		if (r < 0)
			return r;
		if (sector == 0) {
			iov_memset(iov, iovcnt, iov_off, 0, n);
		} else if (sector > x->file_size / SECTOR) {
			return -EIO;
		} else if (x->compressed) {
			if ((r = read_compressed_grain(x, sector)) < 0)
				return r;
			iov_from_buf(iov, iovcnt, iov_off, x->grain + in, n);
		} else {
			int k = iov_slice(iov, iovcnt, iov_off, n, part, DISK_IOV_MAX);
			if ((r = disk_file_preadv(&x->file, part, k, sector * SECTOR + in)) < 0)
				return r;
		}
		off += n;
		len -= n;
		iov_off += n;
	}
	return 0;
}

static int vmdk_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct vmdk *v = (struct vmdk *)d;
	size_t total = iov_total(iov, iovcnt, NULL), pos = 0;
	for (unsigned i = 0; i < v->nextents && pos < total; i++) {
		struct extent *x = &v->ext[i];
		uint64_t start = x->start * SECTOR, end = start + x->sectors * SECTOR;
		uint64_t at = off + pos;
		if (at >= end)
			continue;
		uint64_t n = end - at < total - pos ? end - at : total - pos;
		int r = extent_read(x, at - start, n, iov, iovcnt, pos);
		if (r < 0)
			return r;
		pos += n;
	}
	return pos == total ? 0 : -EIO;
}

static int vmdk_unwritable(struct disk *d, uint64_t off, uint64_t len)
{
	return -EROFS;
}

static int vmdk_flush(struct disk *d, bool data_only)
{
	return 0;
}

static void vmdk_close(struct disk *d)
{
	struct vmdk *v = (struct vmdk *)d;
	for (unsigned i = 0; i < MAX_EXTENTS; i++) {
		struct extent *x = &v->ext[i];
		disk_file_close(&x->file);
		free(x->gd);
		free(x->gt);
		free(x->grain);
		free(x->zbuf);
	}
	free(v);
}

static const struct disk_ops vmdk_ops = {
	.name = "vmdk",
	.preadv = vmdk_preadv,
	.write_zeroes = vmdk_unwritable,
	.flush = vmdk_flush,
	.close = vmdk_close,
};

/* Parses a text descriptor's extent lines, opening their files. */
static int parse_descriptor(struct vmdk *v, const struct disk_path *p, char *text,
			    const struct disk_options *opt, nook_error **err)
{
	const char *path = p->shown;
	uint64_t start = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "parentCID", 9) == 0 && !strstr(line, "ffffffff"))
			return FAIL(ENOTSUP, "disk %s: vmdk images with a parent are not supported",
				    path);
		char access[16], type[16], file[1024] = "";
		unsigned long long sectors, offset = 0;
		int fields = sscanf(line, "%15s %llu %15s \"%1023[^\"]\" %llu", access, &sectors, type,
				    file, &offset);
		if (fields < 3 || (strcmp(access, "RW") && strcmp(access, "RDONLY") &&
				   strcmp(access, "NOACCESS")))
			continue;
		if (v->nextents == MAX_EXTENTS || sectors > DISK_MAX_SIZE / SECTOR - start)
			return FAIL(EINVAL, "disk %s: too many or too large vmdk extents", path);
		struct extent *x = &v->ext[v->nextents++];
		x->start = start;
		x->sectors = sectors;
		if (strcmp(type, "ZERO") == 0) {
			x->kind = EXTENT_ZERO;
		} else if (fields >= 4 && (strcmp(type, "FLAT") == 0 || strcmp(type, "SPARSE") == 0)) {
			struct disk_ref ref;
			int r = disk_ref_resolve(&ref, p, file, "extent", opt->allow_backing, err);
			if (r == 0)
				r = disk_file_open(&x->file, &ref.path, true, opt->direct, err);
			if (r == 0 && strcmp(type, "FLAT") == 0) {
				x->kind = EXTENT_FLAT;
				if (offset > DISK_MAX_SIZE / SECTOR)
					r = FAIL(EINVAL, "disk %s: bad vmdk extent offset", path);
				x->flat_offset = offset * SECTOR;
			} else if (r == 0) {
				x->kind = EXTENT_SPARSE;
				uint64_t want = x->sectors;
				if ((r = sparse_open(x, ref.shown, &v->gd_bytes, err)) == 0 &&
				    x->sectors < want)
					r = FAIL(EINVAL, "disk %s: vmdk extent %s is smaller than the "
							 "descriptor says", path, file);
				x->sectors = want;
			}
			disk_ref_close(&ref);
			if (r < 0)
				return r;
		} else {
			return FAIL(ENOTSUP, "disk %s: vmdk extent type %s is not supported", path,
				    type);
		}
		start += sectors;
	}
	if (v->nextents == 0)
		return FAIL(EINVAL, "disk %s: the vmdk descriptor has no extents", path);
	v->disk.size = start * SECTOR;
	return 0;
}

int vmdk_open(const struct disk_path *p, const struct disk_options *opt, struct disk **out,
	      nook_error **err)
{
	const char *path = p->shown;
	struct vmdk *v = calloc(1, sizeof(*v));
	if (!v)
		return FAIL(ENOMEM, "disk %s: out of memory", path);
	for (unsigned i = 0; i < MAX_EXTENTS; i++)
		v->ext[i].file.fd = -1;
	v->disk = (struct disk){.ops = &vmdk_ops, .read_only = true};
	struct extent *x = &v->ext[0];
	int r = disk_file_open(&x->file, p, true, opt->direct, err);
	char *text = NULL;
	if (r == 0) {
		uint8_t magic[4] = {0};
		disk_file_pread_upto(&x->file, magic, 4, 0);
		if (le32(magic) == SPARSE_MAGIC) {
			x->kind = EXTENT_SPARSE;
			v->nextents = 1;
			r = sparse_open(x, path, &v->gd_bytes, err);
			v->disk.size = x->sectors * SECTOR;
		} else if (!(text = calloc(1, MAX_DESCRIPTOR + 1))) {
			r = FAIL(ENOMEM, "disk %s: out of memory", path);
		} else {
			int64_t n = disk_file_pread_upto(&x->file, text, MAX_DESCRIPTOR, 0);
			disk_file_close(&x->file);
			/* The text ends at the first NUL (qemu pads with them). */
			if (n < 0 || memcmp(text, "# Disk DescriptorFile", 21) != 0)
				r = FAIL(EINVAL, "disk %s: not a vmdk image (bad magic)", path);
			else
				r = parse_descriptor(v, p, text, opt, err);
		}
	}
	free(text);
	if (r < 0) {
		vmdk_close(&v->disk);
		return r;
	}
	*out = &v->disk;
	return 0;
}
