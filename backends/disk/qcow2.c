/* qcow2 images (versions 2 and 3, 16-bit refcounts), read-write.
 *
 * Metadata is written through as soon as it changes, in an order that a
 * crash (of nook or of the host, between flushes: of nook) can only leave
 * leaked clusters, never a pointer to a cluster whose refcount says free:
 * new clusters are taken at the end of the file, their refcounts are written
 * before their contents, and their contents before the L1/L2 entry that
 * points at them; clusters are freed only after nothing points at them.
 * Clusters freed are never reused (their space is punched out of the file).
 *
 * Every offset read from the image is checked against the file before it
 * is used: clusters must be aligned, past the header and before the
 * allocation point, and must not overlap the L1 or refcount table; the L2
 * tables and refcount blocks are checked when the image is opened and no
 * two of them may share a cluster; a data cluster (compressed ones
 * included) may not be one of them. So no write or discard of guest data
 * ever lands on the image's metadata. An L2 table as found in the image may
 * not point past the end of the file, where new clusters will go (checked
 * when it is first used): a stale pointer there would later alias data or
 * tables written by nook. */
#include "backends/disk/disk.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define QCOW2_MAGIC 0x514649fbu
#define HEADER_V2_LEN 72
#define HEADER_V3_LEN 104

#define INCOMPAT_DIRTY (1u << 0)
#define INCOMPAT_CORRUPT (1u << 1)
#define INCOMPAT_DATA_FILE (1u << 2)
#define INCOMPAT_COMPRESSION (1u << 3)
#define INCOMPAT_EXTL2 (1u << 4)

#define EXT_END 0
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_NAMES 0x6803f857u
#define EXT_DATA_FILE 0x44415441u
#define EXT_CRYPTO 0x0537be77u

#define L1E_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define L2E_OFFSET_MASK UINT64_C(0x00fffffffffffe00)
#define RTE_OFFSET_MASK UINT64_C(0xfffffffffffffe00)
#define OFLAG_COPIED (UINT64_C(1) << 63)
#define OFLAG_COMPRESSED (UINT64_C(1) << 62)
#define OFLAG_ZERO UINT64_C(1)

#define MAX_L1_BYTES (32u << 20)
#define MAX_RT_BYTES (8u << 20)
#define MAX_CHAIN 16
#define CACHE_BYTES (16u << 20)

enum cluster_kind {
	KIND_UNALLOC,    /* reads from the backing file, or zeroes */
	KIND_ZERO,       /* reads as zeroes, no host cluster */
	KIND_ZERO_ALLOC, /* reads as zeroes, host cluster kept */
	KIND_NORMAL,     /* data at a host cluster */
	KIND_COMPRESSED,
};

/* A direct-mapped cache of cluster-sized tables (L2 tables, refcount
 * blocks), written through by the code that changes them. */
struct table_cache {
	unsigned nslots;
	uint64_t *offset; /* 0: empty slot */
	uint8_t **data;
};

struct qcow2 {
	struct disk disk;
	struct disk_file file;
	char *path;
	uint32_t version;
	unsigned cluster_bits, l2_bits, rb_bits;
	uint64_t cluster_size;
	uint64_t l1_offset;
	uint64_t l1_disk_len; /* bytes of the table in the file */
	uint32_t l1_size;     /* entries in l1: those the virtual size needs */
	uint64_t *l1;         /* host byte order */
	uint64_t rt_offset;
	uint64_t rt_entries;
	uint64_t *rt;    /* host byte order */
	uint64_t rt_disk_len; /* bytes of the table in the file */
	bool rt_staging; /* growing the table: entries not written one by one */
	uint64_t alloc_next; /* where the next new cluster goes */
	uint64_t file_end;   /* alloc_next at open: the clusters past it are nook's */
	uint8_t *l2_checked; /* a bit per L1 entry: its L2 table passed check_l2 */
	/* Where the L2 tables and refcount blocks are, sorted. */
	uint64_t *tables;
	size_t ntables, tables_cap;
	struct disk *backing;
	struct disk_chain link; /* this image in its backing chain */
	struct table_cache l2_cache, rb_cache;
	/* The last compressed cluster read, decompressed (allocated at the
	 * first one). */
	uint64_t zcluster_entry;
	uint8_t *zcluster, *zbuf;
	z_stream zs;
	bool zs_ready;
	uint8_t *head, *tail; /* copy-on-write edges, a cluster each (read-write only) */
};

static int cache_init(struct table_cache *c, uint64_t cluster_size)
{
	uint64_t n = CACHE_BYTES / cluster_size;
	c->nslots = n < 4 ? 4 : n > 4096 ? 4096 : (unsigned)n;
	c->offset = calloc(c->nslots, sizeof(*c->offset));
	c->data = calloc(c->nslots, sizeof(*c->data));
	return c->offset && c->data ? 0 : -ENOMEM;
}

static void cache_free(struct table_cache *c)
{
	for (unsigned i = 0; c->data && i < c->nslots; i++)
		free(c->data[i]);
	free(c->data);
	free(c->offset);
}

/* Whether [off, off+len) is a place where a cluster may live. */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static bool valid_cluster(const struct qcow2 *q, uint64_t off)
{
	uint64_t cs = q->cluster_size;
	return off % cs == 0 && off >= cs && off < q->alloc_next && q->alloc_next - off >= cs &&
	       !overlaps(off, cs, q->l1_offset, q->l1_disk_len) &&
	       !overlaps(off, cs, q->rt_offset, q->rt_disk_len);
}

/* Index of the first table at or after `off`. */
static size_t table_index(const struct qcow2 *q, uint64_t off)
{
	size_t lo = 0, hi = q->ntables;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->tables[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool is_table(const struct qcow2 *q, uint64_t off)
{
	size_t i = table_index(q, off);
	return i < q->ntables && q->tables[i] == off;
}

/* Records a new L2 table or refcount block. */
static int add_table(struct qcow2 *q, uint64_t off)
{
	if (q->ntables == q->tables_cap) {
		size_t cap = q->tables_cap ? q->tables_cap * 2 : 64;
		uint64_t *t = realloc(q->tables, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		q->tables = t;
		q->tables_cap = cap;
	}
	size_t i = table_index(q, off);
	memmove(q->tables + i + 1, q->tables + i, (q->ntables - i) * sizeof(*q->tables));
	q->tables[i] = off;
	q->ntables++;
	return 0;
}

/* Whether the cluster at `off` may hold guest data. */
static bool data_cluster(const struct qcow2 *q, uint64_t off)
{
	return valid_cluster(q, off) && !is_table(q, off);
}

/* The cached copy of the table at `off`; loaded from the file, or zeroed
 * when `fresh` (a table just allocated). */
static int cache_get(struct qcow2 *q, struct table_cache *c, uint64_t off, bool fresh,
		     uint8_t **table)
{
	if (!valid_cluster(q, off))
		return -EIO;
	unsigned slot = (unsigned)((off >> q->cluster_bits) % c->nslots);
	if (!c->data[slot]) {
		c->data[slot] = aligned_alloc(4096, q->cluster_size < 4096 ? 4096 : q->cluster_size);
		if (!c->data[slot])
			return -ENOMEM;
	} else if (c->offset[slot] == off && !fresh) {
		*table = c->data[slot];
		return 0;
	}
	c->offset[slot] = 0;
	if (fresh) {
		memset(c->data[slot], 0, q->cluster_size);
	} else {
		int r = disk_file_pread(&q->file, c->data[slot], q->cluster_size, off);
		if (r < 0)
			return r;
	}
	c->offset[slot] = off;
	*table = c->data[slot];
	return 0;
}

/* ---- refcounts ---- */

static int get_refcount(struct qcow2 *q, uint64_t cluster, uint16_t *rc)
{
	uint64_t rt_i = cluster >> q->rb_bits;
	*rc = 0;
	if (rt_i >= q->rt_entries || !(q->rt[rt_i] & RTE_OFFSET_MASK))
		return 0;
	uint8_t *block;
	int r = cache_get(q, &q->rb_cache, q->rt[rt_i] & RTE_OFFSET_MASK, false, &block);
	if (r < 0)
		return r;
	uint64_t i = cluster & ((UINT64_C(1) << q->rb_bits) - 1);
	*rc = (uint16_t)(block[2 * i] << 8 | block[2 * i + 1]);
	return 0;
}

static int set_refcounts(struct qcow2 *q, uint64_t first, uint64_t count, uint16_t value,
			 unsigned depth);

static int write_rt_entry(struct qcow2 *q, uint64_t rt_i)
{
	if (q->rt_staging)
		return 0;
	uint64_t be = htobe64(q->rt[rt_i]);
	return disk_file_pwrite(&q->file, &be, 8, q->rt_offset + rt_i * 8);
}

/* Takes `n` clusters at the end of the file for the caller to fill; their
 * refcounts are not set. */
static int reserve_clusters(struct qcow2 *q, uint64_t n, uint64_t *off)
{
	if (n > (DISK_MAX_SIZE >> q->cluster_bits) || q->alloc_next > DISK_MAX_SIZE * 2)
		return -ENOSPC;
	*off = q->alloc_next;
	q->alloc_next += n << q->cluster_bits;
	return 0;
}

/* A new refcount block for refcount table entry rt_i. */
static int alloc_refcount_block(struct qcow2 *q, uint64_t rt_i, unsigned depth)
{
	uint64_t off;
	int r = reserve_clusters(q, 1, &off);
	if (r < 0)
		return r;
	if ((r = add_table(q, off)) < 0)
		return r;
	uint64_t self = off >> q->cluster_bits;
	bool self_covered = (self >> q->rb_bits) == rt_i;
	if (!self_covered && (r = set_refcounts(q, self, 1, 1, depth + 1)) < 0)
		return r;
	uint8_t *block;
	if ((r = cache_get(q, &q->rb_cache, off, true, &block)) < 0)
		return r;
	if (self_covered) {
		uint64_t i = self & ((UINT64_C(1) << q->rb_bits) - 1);
		block[2 * i + 1] = 1;
	}
	if ((r = disk_file_pwrite(&q->file, block, q->cluster_size, off)) < 0)
		return r;
	q->rt[rt_i] = off;
	return write_rt_entry(q, rt_i);
}

/* Moves the refcount table to a bigger one at the end of the file. */
static int grow_refcount_table(struct qcow2 *q, uint64_t min_entries, unsigned depth)
{
	uint64_t per_cluster = q->cluster_size / 8;
	uint64_t entries = q->rt_entries * 2 > min_entries ? q->rt_entries * 2 : min_entries;
	entries = (entries + per_cluster - 1) / per_cluster * per_cluster;
	if (entries * 8 > MAX_RT_BYTES || q->rt_staging)
		return -ENOSPC;
	uint64_t clusters = entries / per_cluster;
	uint64_t *rt = calloc(entries, 8);
	if (!rt)
		return -ENOMEM;
	memcpy(rt, q->rt, q->rt_entries * 8);
	uint64_t old_offset = q->rt_offset, old_clusters = q->rt_entries / per_cluster;
	uint64_t *old = q->rt;
	uint64_t off;
	int r = reserve_clusters(q, clusters, &off);
	if (r < 0) {
		free(rt);
		return r;
	}
	/* The new blocks go into the new table only (staging); the old table
	 * stays valid until the header switches over. */
	q->rt = rt;
	q->rt_entries = entries;
	q->rt_staging = true;
	r = set_refcounts(q, off >> q->cluster_bits, clusters, 1, depth + 1);
	q->rt_staging = false;
	uint64_t *be = r == 0 ? malloc(entries * 8) : NULL;
	if (r == 0 && !be)
		r = -ENOMEM;
	if (r == 0) {
		for (uint64_t i = 0; i < entries; i++)
			be[i] = htobe64(rt[i]);
		r = disk_file_pwrite(&q->file, be, entries * 8, off);
		free(be);
	}
	if (r == 0) {
		uint8_t hdr[12];
		uint64_t o = htobe64(off);
		uint32_t c = htobe32((uint32_t)clusters);
		memcpy(hdr, &o, 8);
		memcpy(hdr + 8, &c, 4);
		r = disk_file_pwrite(&q->file, hdr, sizeof(hdr), 48);
	}
	if (r < 0) {
		/* Still on the old table: what was allocated leaks. */
		q->rt = old;
		q->rt_entries = old_clusters * per_cluster;
		free(rt);
		return r;
	}
	free(old);
	q->rt_offset = off;
	q->rt_disk_len = entries * 8;
	return set_refcounts(q, old_offset >> q->cluster_bits, old_clusters, 0, depth + 1);
}

/* Sets the refcounts of clusters [first, first+count), allocating refcount
 * blocks (and a bigger table) as needed. */
static int set_refcounts(struct qcow2 *q, uint64_t first, uint64_t count, uint16_t value,
			 unsigned depth)
{
	/* Each level of nesting is a block describing a block: a few at most. */
	if (depth > 4)
		return -EIO;
	uint64_t per_block = UINT64_C(1) << q->rb_bits;
	while (count > 0) {
		uint64_t rt_i = first >> q->rb_bits;
		int r = 0;
		if (rt_i >= q->rt_entries && (r = grow_refcount_table(q, rt_i + 1, depth)) < 0)
			return r;
		if (!(q->rt[rt_i] & RTE_OFFSET_MASK) && (r = alloc_refcount_block(q, rt_i, depth)) < 0)
			return r;
		uint8_t *block;
		uint64_t block_off = q->rt[rt_i] & RTE_OFFSET_MASK;
		if ((r = cache_get(q, &q->rb_cache, block_off, false, &block)) < 0)
			return r;
		uint64_t i = first & (per_block - 1);
		uint64_t n = per_block - i < count ? per_block - i : count;
		for (uint64_t k = i; k < i + n; k++) {
			block[2 * k] = (uint8_t)(value >> 8);
			block[2 * k + 1] = (uint8_t)value;
		}
		if ((r = disk_file_pwrite(&q->file, block + 2 * i, 2 * n, block_off + 2 * i)) < 0) {
			q->rb_cache.offset[(block_off >> q->cluster_bits) % q->rb_cache.nslots] = 0;
			return r;
		}
		first += n;
		count -= n;
	}
	return 0;
}

static int alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *off)
{
	int r = reserve_clusters(q, n, off);
	return r < 0 ? r : set_refcounts(q, *off >> q->cluster_bits, n, 1, 0);
}

/* Drops one reference to the host clusters [off, off+len). */
static int release_clusters(struct qcow2 *q, uint64_t off, uint64_t len)
{
	uint64_t first = off >> q->cluster_bits;
	uint64_t last = (off + len - 1) >> q->cluster_bits;
	for (uint64_t c = first; c <= last; c++) {
		uint16_t rc;
		int r = get_refcount(q, c, &rc);
		if (r < 0)
			return r;
		if (rc == 0)
			return -EIO;
		if ((r = set_refcounts(q, c, 1, rc - 1, 0)) < 0)
			return r;
		if (rc == 1)
			disk_file_punch(&q->file, c << q->cluster_bits, q->cluster_size);
	}
	return 0;
}

/* ---- L1/L2 ---- */

static uint64_t compressed_offset(const struct qcow2 *q, uint64_t entry)
{
	unsigned x = 62 - (q->cluster_bits - 8);
	return entry & ((UINT64_C(1) << x) - 1);
}

static uint64_t compressed_length(const struct qcow2 *q, uint64_t entry)
{
	unsigned x = 62 - (q->cluster_bits - 8);
	uint64_t sectors = ((entry & ~(OFLAG_COPIED | OFLAG_COMPRESSED)) >> x) + 1;
	return sectors * 512 - (compressed_offset(q, entry) & 511);
}

/* Whether a compressed cluster's bytes lie in data clusters of the file. */
static bool valid_compressed(const struct qcow2 *q, uint64_t entry)
{
	uint64_t cs = q->cluster_size;
	uint64_t off = compressed_offset(q, entry), end = off + compressed_length(q, entry);
	if (end > q->file_end) /* nook writes no compressed clusters */
		return false;
	for (uint64_t c = off & ~(cs - 1); c < end; c += cs)
		if (!data_cluster(q, c))
			return false;
	return true;
}

static enum cluster_kind classify(const struct qcow2 *q, uint64_t entry)
{
	if (entry & OFLAG_COMPRESSED)
		return KIND_COMPRESSED;
	uint64_t off = entry & L2E_OFFSET_MASK;
	if (entry & OFLAG_ZERO)
		return off ? KIND_ZERO_ALLOC : KIND_ZERO;
	return off ? KIND_NORMAL : KIND_UNALLOC;
}

/* An L2 table as the image has it (not yet changed by nook) may not point
 * past the end of the file. */
static int check_l2(const struct qcow2 *q, const uint8_t *table)
{
	const uint64_t *entries = (const uint64_t *)table;
	for (uint64_t i = 0; i < UINT64_C(1) << q->l2_bits; i++) {
		uint64_t entry = be64toh(entries[i]);
		if (!(entry & OFLAG_COMPRESSED) && (entry & L2E_OFFSET_MASK) >= q->file_end)
			return -EIO;
	}
	return 0;
}

static bool l2_checked(const struct qcow2 *q, uint64_t l1_i)
{
	return q->l2_checked[l1_i / 8] & (1u << (l1_i % 8));
}

static void set_l2_checked(struct qcow2 *q, uint64_t l1_i)
{
	q->l2_checked[l1_i / 8] |= (uint8_t)(1u << (l1_i % 8));
}

/* The L2 table for L1 index l1_i: NULL in *table when there is none and
 * `alloc` is false. */
static int get_l2(struct qcow2 *q, uint64_t l1_i, bool alloc, uint8_t **table)
{
	uint64_t off = q->l1[l1_i] & L1E_OFFSET_MASK;
	*table = NULL;
	if (off) {
		int r = cache_get(q, &q->l2_cache, off, false, table);
		if (r == 0 && !l2_checked(q, l1_i) && (r = check_l2(q, *table)) == 0)
			set_l2_checked(q, l1_i);
		if (r < 0)
			*table = NULL;
		return r;
	}
	if (!alloc)
		return 0;
	set_l2_checked(q, l1_i);
	int r = alloc_clusters(q, 1, &off);
	if (r == 0)
		r = add_table(q, off);
	if (r == 0)
		r = cache_get(q, &q->l2_cache, off, true, table);
	if (r == 0)
		r = disk_file_pwrite(&q->file, *table, q->cluster_size, off);
	if (r < 0) {
		*table = NULL;
		return r;
	}
	q->l1[l1_i] = off | OFLAG_COPIED;
	uint64_t be = htobe64(q->l1[l1_i]);
	return disk_file_pwrite(&q->file, &be, 8, q->l1_offset + l1_i * 8);
}

struct extent {
	enum cluster_kind kind;
	uint64_t entry;     /* the first cluster's L2 entry */
	uint64_t host;      /* KIND_NORMAL, KIND_ZERO_ALLOC: host offset of `guest` */
	uint64_t len;       /* bytes from `guest` with the same kind (contiguous host) */
	uint8_t *l2;        /* the L2 table (NULL: none) */
	uint64_t l2_off;    /* its offset in the file */
	uint64_t l2_i;      /* index of the first cluster in it */
};

/* Describes the guest bytes at `guest` (at most `max` of them, within one L2
 * table): their kind and how many follow with the same kind. */
static int lookup(struct qcow2 *q, uint64_t guest, uint64_t max, bool alloc_l2, struct extent *e)
{
	uint64_t cs = q->cluster_size;
	uint64_t l2_entries = UINT64_C(1) << q->l2_bits;
	uint64_t l1_i = guest >> (q->cluster_bits + q->l2_bits);
	uint64_t l2_i = (guest >> q->cluster_bits) & (l2_entries - 1);
	uint64_t in_cluster = guest & (cs - 1);
	if (l1_i >= q->l1_size)
		return -EIO;
	int r = get_l2(q, l1_i, alloc_l2, &e->l2);
	if (r < 0)
		return r;
	e->l2_off = q->l1[l1_i] & L1E_OFFSET_MASK;
	uint64_t room = (l2_entries - l2_i) * cs - in_cluster;
	if (max > room)
		max = room;
	e->l2_i = l2_i;
	if (!e->l2) {
		*e = (struct extent){.kind = KIND_UNALLOC, .len = max, .l2_i = l2_i};
		return 0;
	}
	const uint64_t *entries = (const uint64_t *)e->l2;
	e->entry = be64toh(entries[l2_i]);
	e->kind = classify(q, e->entry);
	e->host = 0;
	if (e->kind == KIND_NORMAL || e->kind == KIND_ZERO_ALLOC) {
		uint64_t off = e->entry & L2E_OFFSET_MASK;
		if (!data_cluster(q, off) || (e->entry & 0x1fe))
			return -EIO;
		e->host = off + in_cluster;
	}
	if (e->kind == KIND_COMPRESSED && !valid_compressed(q, e->entry))
		return -EIO;
	if ((e->entry & OFLAG_ZERO) && !(e->entry & OFLAG_COMPRESSED) && q->version < 3)
		return -EIO;
	uint64_t len = cs - in_cluster;
	if (e->kind != KIND_COMPRESSED && e->kind != KIND_ZERO_ALLOC) {
		uint64_t expect = (e->entry & L2E_OFFSET_MASK) + (len + in_cluster);
		for (uint64_t i = l2_i + 1; len < max; i++) {
			uint64_t next = be64toh(entries[i]);
			if (classify(q, next) != e->kind)
				break;
			if (e->kind == KIND_NORMAL) {
				uint64_t off = next & L2E_OFFSET_MASK;
				if (off != expect || !data_cluster(q, off) || (next & 0x1fe))
					break;
				expect += cs;
			}
			len += cs;
		}
	}
	e->len = len < max ? len : max;
	return 0;
}

static int decompress_cluster(struct qcow2 *q, uint64_t entry)
{
	if (entry == q->zcluster_entry)
		return 0;
	uint64_t off = compressed_offset(q, entry), len = compressed_length(q, entry);
	if (!q->zbuf) {
		if (!q->zcluster && !(q->zcluster = malloc(q->cluster_size)))
			return -ENOMEM;
		if (!(q->zbuf = malloc(2 * q->cluster_size)))
			return -ENOMEM;
	}
	int64_t got = disk_file_pread_upto(&q->file, q->zbuf, len, off);
	if (got < 0)
		return (int)got;
	if (!q->zs_ready) {
		if (inflateInit2(&q->zs, -15) != Z_OK)
			return -ENOMEM;
		q->zs_ready = true;
	} else if (inflateReset(&q->zs) != Z_OK) {
		return -EIO;
	}
	q->zs.next_in = q->zbuf;
	q->zs.avail_in = (uInt)got;
	q->zs.next_out = q->zcluster;
	q->zs.avail_out = (uInt)q->cluster_size;
	int zr = inflate(&q->zs, Z_FINISH);
	q->zcluster_entry = 0;
	/* The stream may end early or carry trailing bytes; a full cluster is
	 * what counts. */
	if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR && zr != Z_OK) || q->zs.avail_out != 0)
		return -EIO;
	q->zcluster_entry = entry;
	return 0;
}

/* What the guest bytes [guest, guest+len) of an extent held before it is
 * written: into iov at iov_off. */
static int read_old(struct qcow2 *q, const struct extent *e, uint64_t guest, uint64_t len,
		    const struct iovec *iov, int iovcnt, size_t iov_off)
{
	struct iovec part[DISK_IOV_MAX];
	int n;
	switch (e->kind) {
	case KIND_COMPRESSED: {
		int r = decompress_cluster(q, e->entry);
		if (r == 0)
			iov_from_buf(iov, iovcnt, iov_off, q->zcluster + (guest & (q->cluster_size - 1)),
				     len);
		return r;
	}
	case KIND_UNALLOC:
		if (q->backing && guest < q->backing->size) {
			uint64_t have = q->backing->size - guest < len ? q->backing->size - guest : len;
			n = iov_slice(iov, iovcnt, iov_off, have, part, DISK_IOV_MAX);
			int r = disk_preadv(q->backing, part, n, guest);
			if (r < 0)
				return r;
			iov_memset(iov, iovcnt, iov_off + have, 0, len - have);
			return 0;
		}
		/* fall through */
	case KIND_ZERO:
	case KIND_ZERO_ALLOC:
		iov_memset(iov, iovcnt, iov_off, 0, len);
		return 0;
	case KIND_NORMAL:
		break; /* read in place by the caller */
	}
	return -EIO;
}

static int qcow2_preadv(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct qcow2 *q = (struct qcow2 *)d;
	size_t total = iov_total(iov, iovcnt, NULL), pos = 0;
	while (pos < total) {
		struct extent e;
		int r = lookup(q, off + pos, total - pos, false, &e);
		if (r < 0)
			return r;
		if (e.kind == KIND_NORMAL) {
			struct iovec part[DISK_IOV_MAX];
			int n = iov_slice(iov, iovcnt, pos, e.len, part, DISK_IOV_MAX);
			r = disk_file_preadv(&q->file, part, n, e.host);
		} else {
			r = read_old(q, &e, off + pos, e.len, iov, iovcnt, pos);
		}
		if (r < 0)
			return r;
		pos += e.len;
	}
	return 0;
}

/* Points entries [l2_i, l2_i+n) of an L2 table at `value`, `value` +
 * cluster, ... (step 0: all the same). */
static int set_l2_entries(struct qcow2 *q, const struct extent *e, uint64_t n, uint64_t value,
			  uint64_t step)
{
	uint64_t *entries = (uint64_t *)e->l2;
	for (uint64_t i = 0; i < n; i++)
		entries[e->l2_i + i] = htobe64(value + i * step);
	return disk_file_pwrite(&q->file, e->l2 + e->l2_i * 8, n * 8, e->l2_off + e->l2_i * 8);
}

/* Writes [guest, guest+len) of an extent that has no cluster of its own
 * (or only a zeroed one): new clusters get the old contents around the
 * write, then the L2 entries point at them. */
static int write_new_clusters(struct qcow2 *q, struct extent *e, uint64_t guest, uint64_t len,
			      const struct iovec *iov, int iovcnt, size_t iov_off)
{
	uint64_t cs = q->cluster_size;
	uint64_t in_cluster = guest & (cs - 1);
	uint64_t nclusters = (in_cluster + len + cs - 1) >> q->cluster_bits;
	uint64_t head = in_cluster, tail = nclusters * cs - in_cluster - len;
	uint64_t host;
	int r;
	if (e->kind == KIND_ZERO_ALLOC)
		host = e->host - in_cluster; /* one cluster, reused */
	else if ((r = alloc_clusters(q, nclusters, &host)) < 0)
		return r;
	struct iovec v[DISK_IOV_MAX];
	int n = 0;
	if (head) {
		struct iovec h = {q->head, head};
		if ((r = read_old(q, e, guest - head, head, &h, 1, 0)) < 0)
			return r;
		v[n++] = h;
	}
	n += iov_slice(iov, iovcnt, iov_off, len, v + n, DISK_IOV_MAX - 2);
	if (tail) {
		struct iovec t = {q->tail, tail};
		if ((r = read_old(q, e, guest + len, tail, &t, 1, 0)) < 0)
			return r;
		v[n++] = t;
	}
	if ((r = disk_file_pwritev(&q->file, v, n, host)) < 0)
		return r;
	if ((r = set_l2_entries(q, e, nclusters, host | OFLAG_COPIED, cs)) < 0)
		return r;
	if (e->kind == KIND_COMPRESSED) {
		q->zcluster_entry = 0;
		return release_clusters(q, compressed_offset(q, e->entry),
					compressed_length(q, e->entry));
	}
	return 0;
}

static int qcow2_pwritev(struct disk *d, const struct iovec *iov, int iovcnt, uint64_t off)
{
	struct qcow2 *q = (struct qcow2 *)d;
	size_t total = iov_total(iov, iovcnt, NULL), pos = 0;
	while (pos < total) {
		struct extent e;
		int r = lookup(q, off + pos, total - pos, false, &e);
		if (r == 0 && e.kind != KIND_NORMAL && !e.l2)
			r = lookup(q, off + pos, total - pos, true, &e);
		if (r < 0)
			return r;
		if (e.kind == KIND_NORMAL) {
			struct iovec part[DISK_IOV_MAX];
			int n = iov_slice(iov, iovcnt, pos, e.len, part, DISK_IOV_MAX);
			r = disk_file_pwritev(&q->file, part, n, e.host);
		} else {
			r = write_new_clusters(q, &e, off + pos, e.len, iov, iovcnt, pos);
		}
		if (r < 0)
			return r;
		pos += e.len;
	}
	return 0;
}

/* Deallocates the whole clusters of [off, off+len): they read as zeroes
 * afterwards when `zero`, else as zeroes or as the backing file. Returns
 * -ENOTSUP when the image cannot express that (a v2 image with a backing
 * file). */
static int drop_clusters(struct qcow2 *q, uint64_t off, uint64_t len, bool zero)
{
	uint64_t new_entry;
	if (q->version >= 3 && (zero || q->backing))
		new_entry = OFLAG_ZERO;
	else if (!q->backing)
		new_entry = 0;
	else
		return -ENOTSUP;
	uint64_t pos = 0;
	while (pos < len) {
		struct extent e;
		int r = lookup(q, off + pos, len - pos, false, &e);
		/* No L2 table reads as zeroes, or as the backing file. */
		if (r == 0 && !e.l2 && new_entry && q->backing)
			r = lookup(q, off + pos, len - pos, true, &e);
		if (r < 0)
			return r;
		uint64_t n = e.len >> q->cluster_bits;
		if (e.l2 && !(e.kind == KIND_ZERO && new_entry == OFLAG_ZERO) &&
		    !(e.kind == KIND_UNALLOC && new_entry == 0)) {
			if ((r = set_l2_entries(q, &e, n, new_entry, 0)) < 0)
				return r;
			if (e.kind == KIND_NORMAL || e.kind == KIND_ZERO_ALLOC)
				r = release_clusters(q, e.host, e.len);
			else if (e.kind == KIND_COMPRESSED)
				r = release_clusters(q, compressed_offset(q, e.entry),
						     compressed_length(q, e.entry));
			if (r < 0)
				return r;
			q->zcluster_entry = 0;
		}
		pos += e.len;
	}
	return 0;
}

/* Splits [off, off+len) into the whole clusters in the middle and the
 * partial ones at the edges. */
static void cluster_span(const struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *first,
			 uint64_t *end)
{
	uint64_t cs = q->cluster_size;
	*first = (off + cs - 1) & ~(cs - 1);
	*end = (off + len) & ~(cs - 1);
	if (*end < *first)
		*end = *first;
}

static int qcow2_discard(struct disk *d, uint64_t off, uint64_t len)
{
	struct qcow2 *q = (struct qcow2 *)d;
	uint64_t first, end;
	cluster_span(q, off, len, &first, &end);
	if (end <= first)
		return 0;
	int r = drop_clusters(q, first, end - first, false);
	return r == -ENOTSUP ? 0 : r;
}

static int write_zero_bytes(struct qcow2 *q, uint64_t off, uint64_t len)
{
	static const uint8_t zero[4096];
	while (len > 0) {
		struct iovec v[64];
		int n = 0;
		uint64_t chunk = 0;
		while (n < 64 && chunk < len) {
			uint64_t take = len - chunk < sizeof(zero) ? len - chunk : sizeof(zero);
			v[n++] = (struct iovec){(void *)zero, take};
			chunk += take;
		}
		int r = qcow2_pwritev(&q->disk, v, n, off);
		if (r < 0)
			return r;
		off += chunk;
		len -= chunk;
	}
	return 0;
}

static int qcow2_write_zeroes(struct disk *d, uint64_t off, uint64_t len)
{
	struct qcow2 *q = (struct qcow2 *)d;
	uint64_t first, end;
	cluster_span(q, off, len, &first, &end);
	int r = 0;
	if (end > first && (r = drop_clusters(q, first, end - first, true)) == -ENOTSUP)
		return write_zero_bytes(q, off, len);
	if (r < 0)
		return r;
	if (end <= first)
		return write_zero_bytes(q, off, len);
	if (first > off && (r = write_zero_bytes(q, off, first - off)) < 0)
		return r;
	return end < off + len ? write_zero_bytes(q, end, off + len - end) : 0;
}

static int qcow2_flush(struct disk *d, bool data_only)
{
	struct qcow2 *q = (struct qcow2 *)d;
	return disk_file_sync(&q->file, data_only);
}

static void qcow2_close(struct disk *d)
{
	struct qcow2 *q = (struct qcow2 *)d;
	disk_close(q->backing);
	disk_file_close(&q->file);
	cache_free(&q->l2_cache);
	cache_free(&q->rb_cache);
	if (q->zs_ready)
		inflateEnd(&q->zs);
	free(q->zcluster);
	free(q->zbuf);
	free(q->head);
	free(q->tail);
	free(q->l1);
	free(q->rt);
	free(q->tables);
	free(q->l2_checked);
	free(q->path);
	free(q);
}

static const struct disk_ops qcow2_ops = {
	.name = "qcow2",
	.preadv = qcow2_preadv,
	.pwritev = qcow2_pwritev,
	.discard = qcow2_discard,
	.write_zeroes = qcow2_write_zeroes,
	.flush = qcow2_flush,
	.close = qcow2_close,
};

/* ---- opening ---- */

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* The name the feature table gives an incompatible feature bit, if any. */
static void feature_name(const uint8_t *table, uint32_t len, unsigned bit, char *name, size_t size)
{
	snprintf(name, size, "bit %u", bit);
	for (uint32_t i = 0; table && i + 48 <= len; i += 48)
		if (table[i] == 0 && table[i + 1] == bit)
			snprintf(name, size, "bit %u (%.46s)", bit, (const char *)table + i + 2);
}

static int load_table(struct qcow2 *q, uint64_t offset, uint64_t entries, uint64_t file_size,
		      uint64_t **table)
{
	if (offset > file_size || entries * 8 > file_size - offset)
		return -EIO;
	*table = calloc(entries ? entries : 1, 8);
	if (!*table)
		return -ENOMEM;
	int r = disk_file_pread(&q->file, *table, entries * 8, offset);
	for (uint64_t i = 0; r == 0 && i < entries; i++)
		(*table)[i] = be64toh((*table)[i]);
	return r;
}

#define FAIL(code, ...) (r = error_set(err, code, __VA_ARGS__))

static int parse_header(struct qcow2 *q, const uint8_t *h, size_t hlen, char *backing,
			char *backing_format, nook_error **err)
{
	const char *path = q->path;
	int r = 0;
	if (hlen < HEADER_V2_LEN || get32(h) != QCOW2_MAGIC)
		return FAIL(EINVAL, "disk %s: not a qcow2 image (bad magic)", path);
	q->version = get32(h + 4);
	if (q->version != 2 && q->version != 3)
		return FAIL(ENOTSUP, "disk %s: qcow2 version %u is not supported", path, q->version);
	uint64_t backing_offset = get64(h + 8);
	uint32_t backing_len = get32(h + 16);
	q->cluster_bits = get32(h + 20);
	if (q->cluster_bits < 9 || q->cluster_bits > 21)
		return FAIL(EINVAL, "disk %s: cluster size 2^%u is outside 512 B to 2 MiB", path,
			    q->cluster_bits);
	q->cluster_size = UINT64_C(1) << q->cluster_bits;
	q->l2_bits = q->cluster_bits - 3;
	q->rb_bits = q->cluster_bits - 1;
	q->disk.size = get64(h + 24);
	if (q->disk.size > DISK_MAX_SIZE)
		return FAIL(EINVAL, "disk %s: virtual size %llu is too large", path,
			    (unsigned long long)q->disk.size);
	if (get32(h + 32) != 0)
		return FAIL(ENOTSUP, "disk %s: encrypted qcow2 images are not supported", path);
	uint32_t l1_entries = get32(h + 36);
	q->l1_offset = get64(h + 40);
	q->rt_offset = get64(h + 48);
	uint32_t rt_clusters = get32(h + 56);
	uint32_t nb_snapshots = get32(h + 60);
	uint64_t incompat = 0, autoclear = 0;
	size_t header_len = HEADER_V2_LEN;
	if (q->version == 3) {
		if (hlen < HEADER_V3_LEN)
			return FAIL(EINVAL, "disk %s: truncated qcow2 header", path);
		incompat = get64(h + 72);
		autoclear = get64(h + 88);
		uint32_t order = get32(h + 96);
		if (order != 4)
			return FAIL(ENOTSUP, "disk %s: %u-bit refcounts are not supported (only 16)",
				    path, 1u << (order < 31 ? order : 31));
		header_len = get32(h + 100);
		if (header_len < HEADER_V3_LEN || header_len > hlen || header_len % 8)
			return FAIL(EINVAL, "disk %s: bad qcow2 header length %zu", path, header_len);
	}
	/* Header extensions, up to the end of the first cluster. */
	const uint8_t *features = NULL;
	uint32_t features_len = 0;
	bool data_file = false;
	backing_format[0] = 0;
	for (size_t pos = header_len; pos + 8 <= hlen;) {
		uint32_t type = get32(h + pos), len = get32(h + pos + 4);
		if (type == EXT_END)
			break;
		if (len > hlen - pos - 8)
			return FAIL(EINVAL, "disk %s: qcow2 header extension 0x%x runs past the header",
				    path, type);
		const uint8_t *data = h + pos + 8;
		if (type == EXT_BACKING_FORMAT) {
			if (len >= 16)
				return FAIL(EINVAL, "disk %s: bad backing format", path);
			memcpy(backing_format, data, len);
			backing_format[len] = 0;
		} else if (type == EXT_FEATURE_NAMES) {
			features = data;
			features_len = len;
		} else if (type == EXT_DATA_FILE) {
			data_file = true;
		} else if (type == EXT_CRYPTO) {
			return FAIL(ENOTSUP, "disk %s: encrypted qcow2 images are not supported", path);
		}
		pos += 8 + ((uint64_t)len + 7) / 8 * 8;
	}
	if (incompat & INCOMPAT_CORRUPT)
		return FAIL(EINVAL,
			    "disk %s: the image is marked corrupt; repair it with "
			    "qemu-img check -r all",
			    path);
	if ((incompat & INCOMPAT_DATA_FILE) || data_file)
		return FAIL(ENOTSUP, "disk %s: qcow2 external data files are not supported", path);
	if ((incompat & INCOMPAT_COMPRESSION) && (header_len <= 104 || h[104] != 0))
		return FAIL(ENOTSUP, "disk %s: qcow2 compression types other than zlib are not "
				     "supported", path);
	if (incompat & INCOMPAT_EXTL2)
		return FAIL(ENOTSUP, "disk %s: qcow2 extended L2 entries are not supported", path);
	uint64_t unknown = incompat & ~(uint64_t)(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION);
	if (unknown) {
		char name[80];
		feature_name(features, features_len, (unsigned)__builtin_ctzll(unknown), name,
			     sizeof(name));
		return FAIL(ENOTSUP, "disk %s: unknown incompatible qcow2 feature %s", path, name);
	}
	if (!q->disk.read_only && (incompat & INCOMPAT_DIRTY))
		return FAIL(EINVAL,
			    "disk %s: the image is marked dirty (not closed cleanly); repair it "
			    "with qemu-img check -r all, or open it read-only",
			    path);
	if (!q->disk.read_only && nb_snapshots)
		return FAIL(ENOTSUP, "disk %s: writing to qcow2 images with internal snapshots is "
				     "not supported; open it read-only",
			    path);
	/* Tables. */
	uint64_t l2_span = q->cluster_size << q->l2_bits;
	uint64_t need_l1 = (q->disk.size + l2_span - 1) / l2_span;
	if ((uint64_t)l1_entries * 8 > MAX_L1_BYTES || l1_entries < need_l1)
		return FAIL(EINVAL, "disk %s: bad L1 table size %u", path, l1_entries);
	if (q->l1_offset % q->cluster_size || (l1_entries && q->l1_offset == 0))
		return FAIL(EINVAL, "disk %s: bad L1 table offset", path);
	/* Entries past those the virtual size needs are never used. */
	q->l1_size = (uint32_t)need_l1;
	q->l1_disk_len = (uint64_t)l1_entries * 8;
	if (q->rt_offset % q->cluster_size || q->rt_offset == 0 || rt_clusters == 0 ||
	    (uint64_t)rt_clusters * q->cluster_size > MAX_RT_BYTES)
		return FAIL(EINVAL, "disk %s: bad refcount table", path);
	q->rt_entries = (uint64_t)rt_clusters * q->cluster_size / 8;
	q->rt_disk_len = q->rt_entries * 8;
	if (overlaps(q->l1_offset, q->l1_disk_len, q->rt_offset, q->rt_disk_len))
		return FAIL(EINVAL, "disk %s: the L1 and refcount tables overlap", path);
	/* Backing file. */
	backing[0] = 0;
	if (backing_offset || backing_len) {
		if (backing_len == 0 || backing_len > 1023 || backing_offset > hlen ||
		    backing_len > hlen - backing_offset || backing_offset < header_len)
			return FAIL(EINVAL, "disk %s: bad backing file name", path);
		memcpy(backing, h + backing_offset, backing_len);
		backing[backing_len] = 0;
		if (strlen(backing) != backing_len)
			return FAIL(EINVAL, "disk %s: bad backing file name", path);
	}
	/* A writer that does not know an autoclear feature must clear it. */
	if (!q->disk.read_only && autoclear) {
		static const uint8_t zero[8];
		if ((r = disk_file_pwrite(&q->file, zero, 8, 88)) < 0)
			return FAIL(-r, "disk %s: %s", path, strerror(-r));
	}
	return 0;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Checks where the L2 tables and refcount blocks are, and records it. */
static int index_tables(struct qcow2 *q, nook_error **err)
{
	size_t n = 1;
	for (uint32_t i = 0; i < q->l1_size; i++)
		n += (q->l1[i] & L1E_OFFSET_MASK) != 0;
	for (uint64_t i = 0; i < q->rt_entries; i++)
		n += (q->rt[i] & RTE_OFFSET_MASK) != 0;
	if (!(q->tables = malloc(n * sizeof(*q->tables))))
		return error_set(err, ENOMEM, "disk %s: out of memory", q->path);
	q->tables_cap = n;
	for (uint32_t i = 0; i < q->l1_size; i++) {
		uint64_t off = q->l1[i] & L1E_OFFSET_MASK;
		if ((q->l1[i] & ~(L1E_OFFSET_MASK | OFLAG_COPIED)) || (off && !valid_cluster(q, off)))
			return error_set(err, EINVAL, "disk %s: bad L2 table offset 0x%llx (L1 entry %u)",
					      q->path, (unsigned long long)q->l1[i], i);
		if (off)
			q->tables[q->ntables++] = off;
	}
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		uint64_t off = q->rt[i] & RTE_OFFSET_MASK;
		if ((q->rt[i] & ~RTE_OFFSET_MASK) || (off && !valid_cluster(q, off)))
			return error_set(err, EINVAL, "disk %s: bad refcount block offset 0x%llx "
						      "(refcount table entry %llu)",
					      q->path, (unsigned long long)q->rt[i], (unsigned long long)i);
		if (off)
			q->tables[q->ntables++] = off;
	}
	qsort(q->tables, q->ntables, sizeof(*q->tables), compare_u64);
	for (size_t i = 1; i < q->ntables; i++)
		if (q->tables[i] == q->tables[i - 1])
			return error_set(err, EINVAL, "disk %s: two qcow2 tables share the cluster at "
						      "0x%llx",
					      q->path, (unsigned long long)q->tables[i]);
	return 0;
}

/* The backing file, beneath the image's directory, in the format the image
 * records. */
static int open_backing(struct qcow2 *q, const struct disk_path *p, const struct disk_options *opt,
			const char *name, const char *format, nook_error **err)
{
	struct disk_ref ref;
	int r = disk_ref_resolve(&ref, p, name, "backing file", opt->allow_backing, err);
	struct disk_options bo = {.read_only = true, .direct = opt->direct, .allow_backing = true,
				  .above = &q->link};
	if (r == 0 && !format[0])
		r = error_set(err, EINVAL, "disk %s: backing file \"%s\": its format is not "
					     "recorded in the image, and it is never guessed; record it "
					     "with qemu-img rebase -u -b NAME -F FORMAT",
				   q->path, name);
	else if (r == 0 && strcmp(format, "raw") == 0)
		bo.format = DISK_FORMAT_RAW;
	else if (r == 0 && strcmp(format, "qcow2") == 0)
		bo.format = DISK_FORMAT_QCOW2;
	else if (r == 0 && strcmp(format, "vmdk") == 0)
		bo.format = DISK_FORMAT_VMDK;
	else if (r == 0)
		r = error_set(err, ENOTSUP, "disk %s: backing file format \"%s\" is not supported",
				   q->path, format);
	if (r == 0 && (r = disk_open_path(&ref.path, &bo, &q->backing, err)) < 0)
		error_prefix(err, "disk %s: backing file", q->path);
	disk_ref_close(&ref);
	return r;
}

/* Where this image is in its backing chain: a loop or too long a chain is
 * refused. */
static int join_chain(struct qcow2 *q, const struct disk_options *opt, nook_error **err)
{
	struct stat st;
	if (fstat(q->file.fd, &st) < 0)
		return error_set(err, errno, "disk %s: %s", q->path, strerror(errno));
	q->link = (struct disk_chain){.dev = st.st_dev, .ino = st.st_ino, .above = opt->above};
	unsigned depth = 0;
	for (const struct disk_chain *c = opt->above; c; c = c->above, depth++)
		if (c->dev == st.st_dev && c->ino == st.st_ino)
			return error_set(err, ELOOP, "disk %s: backing file loop", q->path);
	if (depth > MAX_CHAIN)
		return error_set(err, ELOOP, "disk %s: backing chain longer than %d files", q->path,
				      MAX_CHAIN);
	return 0;
}

int qcow2_open(const struct disk_path *p, const struct disk_options *opt, struct disk **out,
	       nook_error **err)
{
	const char *path = p->shown;
	struct qcow2 *q = calloc(1, sizeof(*q));
	if (!q || !(q->path = strdup(path))) {
		free(q);
		return error_set(err, ENOMEM, "disk %s: out of memory", path);
	}
	q->disk = (struct disk){.ops = &qcow2_ops, .read_only = opt->read_only};
	q->file.fd = -1;
	int r = disk_file_open(&q->file, p, opt->read_only, opt->direct, err);
	if (r == 0)
		r = join_chain(q, opt, err);
	uint64_t file_size = 0;
	/* The header and its extensions live in the first cluster (at most
	 * 2 MiB); read 64 KiB of it, enough for any real image. */
	size_t hcap = 65536;
	uint8_t *h = r == 0 ? aligned_alloc(4096, hcap) : NULL;
	if (r == 0 && !h)
		FAIL(ENOMEM, "disk %s: out of memory", path);
	int64_t hlen = 0;
	if (r == 0 && ((hlen = disk_file_pread_upto(&q->file, h, hcap, 0)) < 0 ||
		       (r = disk_file_size(&q->file, &file_size)) < 0))
		FAIL(EIO, "disk %s: cannot read the header", path);
	char backing[1024], backing_format[16];
	if (r == 0) {
		size_t limit = (size_t)hlen;
		/* Extensions end with the first cluster. */
		if (hlen >= 24) {
			uint32_t cb = get32(h + 20);
			if (cb >= 9 && cb <= 21 && (UINT64_C(1) << cb) < limit)
				limit = (size_t)(UINT64_C(1) << cb);
		}
		r = parse_header(q, h, limit, backing, backing_format, err);
	}
	free(h);
	if (r == 0) {
		q->alloc_next = (file_size + q->cluster_size - 1) & ~(q->cluster_size - 1);
		q->file_end = q->alloc_next;
		if ((r = load_table(q, q->l1_offset, q->l1_size, file_size, &q->l1)) < 0 ||
		    (r = load_table(q, q->rt_offset, q->rt_entries, file_size, &q->rt)) < 0)
			FAIL(EIO, "disk %s: the L1 or refcount table lies past the end of the file",
				 path);
	}
	if (r == 0)
		r = index_tables(q, err);
	size_t edge = q->cluster_size < 4096 ? 4096 : q->cluster_size;
	if (r == 0 && (!(q->l2_checked = calloc(q->l1_size / 8 + 1, 1)) ||
		       cache_init(&q->l2_cache, q->cluster_size) < 0 ||
		       cache_init(&q->rb_cache, q->cluster_size) < 0 ||
		       (!opt->read_only && (!(q->head = aligned_alloc(4096, edge)) ||
					     !(q->tail = aligned_alloc(4096, edge))))))
		FAIL(ENOMEM, "disk %s: out of memory", path);
	if (r == 0 && backing[0])
		r = open_backing(q, p, opt, backing, backing_format, err);
	if (r < 0) {
		qcow2_close(&q->disk);
		return r;
	}
	*out = &q->disk;
	return 0;
}
