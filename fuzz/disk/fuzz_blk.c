/* Fuzz target for virtio-blk requests: the input is a disk choice and a
 * series of request chains (type, sector, how the header is split, the
 * lengths of the data and in-buffers, the first bytes of the data), served
 * by the device's request handler over a qcow2 image and, side by side,
 * over a raw copy of its contents. Both must answer every request alike
 * (return value, status byte, bytes read) until a discard makes the
 * contents differ (discarded bytes are undefined), then alike in status.
 * The qcow2 images are made by qemu-img/qemu-io at the start: 4 KiB
 * clusters over a raw backing file; 512-byte clusters, version 2, over the
 * same backing file; 64 KiB clusters alone; each with data, compressed,
 * zero and unallocated clusters.
 *
 * Input: byte 0 picks the image (% 3), read-only (bit 2) and whether
 * flushes sync (bit 3). Then per request: type (% 8: in, out, flush,
 * get-id, discard, write-zeroes, a raw 32-bit type, in), sector form (% 4:
 * 8-bit, 16-bit, 64-bit, counted back from the end), where the header
 * splits into two buffers (% 17), the number of data buffers (% 4) with a
 * 16-bit length each, the number of in-buffers (% 5) with a 16-bit length
 * each, then up to 16 bytes that start the data. Missing input reads as 0. */
#include <linux/virtio_blk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/blk.h"
#include "fuzz/disk/scratch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DISK_SIZE (256u << 10)
#define BASE_SIZE (192u << 10)
#define MAX_REQUESTS 32
#define MAX_DATA 3
#define MAX_IN 4
#define ARENA (16 + (MAX_DATA + MAX_IN) * 65535 + 64)

struct image {
	const char *qcow2, *raw;
	uint8_t *qcow2_bytes, *raw_bytes;
	size_t qcow2_len, raw_len;
};

static struct image images[3] = {
	{.qcow2 = "c4k.qcow2", .raw = "c4k.raw"},
	{.qcow2 = "c512.qcow2", .raw = "c512.raw"},
	{.qcow2 = "c64k.qcow2", .raw = "c64k.raw"},
};

/* What the data buffers hold after the input's bytes. */
static uint8_t pattern[MAX_DATA * 65535];

static uint8_t *load(const char *name, size_t *len)
{
	FILE *f = fopen(scratch_path(name), "rb");
	if (!f || fseek(f, 0, SEEK_END) < 0)
		abort();
	*len = (size_t)ftell(f);
	uint8_t *p = malloc(*len);
	rewind(f);
	if (!p || fread(p, 1, *len, f) != *len)
		abort();
	fclose(f);
	return p;
}

static void setup(void)
{
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 31 + i / 512);
	static uint8_t base[BASE_SIZE];
	for (size_t i = 0; i < sizeof(base); i++)
		base[i] = (uint8_t)(i / 512 * 13 + i);
	scratch_write("base.raw", base, sizeof(base));
	scratch_run("qemu-img create -q -f qcow2 -o cluster_size=4096 -b base.raw -F raw c4k.qcow2 256K && "
		    "qemu-io -c 'write -P 0x21 0 8k' -c 'write -c -P 0x22 16k 4k' "
		    "-c 'write -c -P 0x23 20k 8k' -c 'write -z 40k 4k' -c 'write -P 0x24 64k 8k' "
		    "-c 'write -z 64k 4k' -c 'write -z -u 68k 4k' -c 'write -P 0x25 180k 24k' "
		    "-c 'discard 100k 4k' c4k.qcow2");
	scratch_run("qemu-img create -q -f qcow2 -o cluster_size=512,compat=0.10 -b base.raw -F raw "
		    "c512.qcow2 256K && "
		    "qemu-io -c 'write -P 0x31 0 3k' -c 'write -c -P 0x32 4k 512' "
		    "-c 'write -c -P 0x33 5k 1k' -c 'write -P 0x34 100k 30k' "
		    "-c 'write -P 0x35 250k 6k' c512.qcow2");
	scratch_run("qemu-img create -q -f qcow2 c64k.qcow2 256K && "
		    "qemu-io -c 'write -P 0x41 0 64k' -c 'write -c -P 0x42 64k 64k' "
		    "-c 'write -z 128k 64k' -c 'write -P 0x43 200k 4k' c64k.qcow2");
	for (unsigned i = 0; i < 3; i++) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "qemu-img convert -O raw %s %s", images[i].qcow2,
			 images[i].raw);
		scratch_run(cmd);
		images[i].qcow2_bytes = load(images[i].qcow2, &images[i].qcow2_len);
		images[i].raw_bytes = load(images[i].raw, &images[i].raw_len);
	}
}

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct reader *r, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++, r->n -= r->n > 0)
		v |= (uint64_t)(r->n ? *r->p++ : 0) << (8 * i);
	return v;
}

/* One side: a device and the guest memory its chains point into. */
struct side {
	struct virtio_blk blk;
	struct virtq_chain chain;
	uint8_t arena[ARENA];
};

static struct side sides[2]; /* raw, qcow2 */

/* Builds the next request's chain on both sides (same layout, same
 * out-bytes); false when the input is used up. */
static bool next_request(struct reader *r, uint32_t *type_out)
{
	if (r->n == 0)
		return false;
	static const uint32_t types[] = {VIRTIO_BLK_T_IN,      VIRTIO_BLK_T_OUT,
					 VIRTIO_BLK_T_FLUSH,   VIRTIO_BLK_T_GET_ID,
					 VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES};
	unsigned pick = (unsigned)take(r, 1) % 8;
	uint32_t type = pick < 6 ? types[pick] : pick == 6 ? (uint32_t)take(r, 4) : VIRTIO_BLK_T_IN;
	uint64_t sector;
	switch (take(r, 1) % 4) {
	case 0: sector = take(r, 1); break;
	case 1: sector = take(r, 2); break;
	case 2: sector = take(r, 8); break;
	default: sector = DISK_SIZE / 512 - take(r, 1); break;
	}
	struct virtio_blk_outhdr h = {.type = type, .sector = sector};
	*type_out = type;
	unsigned split = (unsigned)take(r, 1) % 17;
	unsigned ndata = (unsigned)take(r, 1) % (MAX_DATA + 1);
	size_t data_len[MAX_DATA], in_len[MAX_IN];
	for (unsigned i = 0; i < ndata; i++)
		data_len[i] = (size_t)take(r, 2);
	unsigned nin = (unsigned)take(r, 1) % (MAX_IN + 1);
	for (unsigned i = 0; i < nin; i++)
		in_len[i] = (size_t)take(r, 2);
	uint8_t head[16];
	for (unsigned i = 0; i < sizeof(head); i++)
		head[i] = (uint8_t)take(r, 1);
	size_t out_len = 16, in_total = 0;
	for (unsigned i = 0; i < ndata; i++)
		out_len += data_len[i];
	for (unsigned i = 0; i < nin; i++)
		in_total += in_len[i];
	for (unsigned s = 0; s < 2; s++) {
		struct virtq_chain *c = &sides[s].chain;
		uint8_t *p = sides[s].arena;
		memset(c, 0, sizeof(*c));
		memcpy(p, &h, sizeof(h));
		memcpy(p + 16, pattern, out_len - 16);
		memcpy(p + 16, head, out_len - 16 < sizeof(head) ? out_len - 16 : sizeof(head));
		memset(p + out_len, 0xee, in_total);
		if (split == 0 || split == 16) {
			c->out[c->nout++] = (struct iovec){p, 16};
		} else {
			c->out[c->nout++] = (struct iovec){p, split};
			c->out[c->nout++] = (struct iovec){p + split, 16 - split};
		}
		p += 16;
		for (unsigned i = 0; i < ndata; i++) {
			c->out[c->nout++] = (struct iovec){p, data_len[i]};
			p += data_len[i];
		}
		for (unsigned i = 0; i < nin; i++) {
			c->in[c->nin++] = (struct iovec){p, in_len[i]};
			p += in_len[i];
		}
		c->out_len = out_len;
		c->in_len = in_total;
	}
	return true;
}

static void mismatch(const char *what, uint32_t type, long long raw, long long qcow2)
{
	fprintf(stderr, "raw and qcow2 differ in %s for request type %u: %lld, %lld\n", what, type,
		raw, qcow2);
	abort();
}

static void open_side(struct side *s, const char *file, enum disk_format format, uint8_t config)
{
	struct virtio_blk_params p = {.path = scratch_path(file), .id = "fuzz", .format = format,
				      .read_only = config & 4, .allow_backing = true,
				      .sync = config & 8 ? NOOK_DISK_SYNC_RELAXED : NOOK_DISK_SYNC_NONE};
	memset(&s->blk, 0, sizeof(s->blk));
	nook_error *err = NULL;
	if (virtio_blk_open(&s->blk, &p, &err) < 0) {
		fprintf(stderr, "%s\n", nook_error_message(err));
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		setup();
		ready = true;
	}
	struct reader r = {data, size};
	uint8_t config = (uint8_t)take(&r, 1);
	struct image *im = &images[config % 3];
	scratch_write("disk.qcow2", im->qcow2_bytes, im->qcow2_len);
	scratch_write("disk.raw", im->raw_bytes, im->raw_len);
	open_side(&sides[0], "disk.raw", DISK_FORMAT_RAW, config);
	open_side(&sides[1], "disk.qcow2", DISK_FORMAT_QCOW2, config);
	bool same_contents = true;
	uint32_t type;
	for (unsigned n = 0; n < MAX_REQUESTS && next_request(&r, &type); n++) {
		struct virtq_chain *a = &sides[0].chain, *b = &sides[1].chain;
		int64_t ra = virtio_blk_serve(&sides[0].blk, a);
		int64_t rb = virtio_blk_serve(&sides[1].blk, b);
		if (ra != rb)
			mismatch("return value", type, ra, rb);
		if (ra < 0)
			continue;
		if (ra > (int64_t)a->in_len)
			mismatch("bytes written past the in-buffers", type, ra, (long long)a->in_len);
		uint8_t sa = 0, sb = 0;
		iov_to_buf(a->in, a->nin, a->in_len - 1, &sa, 1);
		iov_to_buf(b->in, b->nin, b->in_len - 1, &sb, 1);
		if (sa != sb)
			mismatch("status", type, sa, sb);
		for (unsigned i = 0; same_contents && i < a->nin; i++)
			if (memcmp(a->in[i].iov_base, b->in[i].iov_base, a->in[i].iov_len) != 0)
				mismatch("bytes read", type, i, -1);
		if (type == VIRTIO_BLK_T_DISCARD && sa == VIRTIO_BLK_S_OK)
			same_contents = false;
	}
	virtio_blk_destroy(&sides[0].blk);
	virtio_blk_destroy(&sides[1].blk);
	return 0;
}
