/* virtio-balloon (virtio 1.x, 5.5): the host asks the guest for memory
 * back (inflate), the guest reports the pages it does not use (free page
 * reporting) and its memory statistics. Pages given back are released on
 * the host, so the VMM's resident memory follows what the guest uses.
 *
 * Queues, in the order the driver finds them (a queue whose feature is not
 * negotiated takes no index): inflate, deflate, then stats
 * (VIRTIO_BALLOON_F_STATS_VQ, offered when the statistics interval is not
 * 0) and free page reporting (VIRTIO_BALLOON_F_REPORTING). Also offered:
 * VIRTIO_BALLOON_F_DEFLATE_ON_OOM (the guest may take pages back from the
 * balloon rather than kill a process). Not offered: PAGE_POISON (a Linux
 * guest with init_on_free or page poisoning then turns reporting off
 * itself, since a released page does not keep its contents) and
 * FREE_PAGE_HINT (for migration).
 *
 * Snapshots: the guest probes the balloon at boot, with the console and
 * rng (vm/assemble.c), so a restored guest has it bound already. Whether
 * there is one, and whether it has statistics (its features), are
 * part of the snapshot's key; the interval is the host's alone. The save
 * op keeps the targets and the stats buffer the host holds (version 1, in
 * the mmio section after the transport's): struct virtio_balloon_state
 * below. */
#ifndef NOOK_DEVICES_VIRTIO_BALLOON_H
#define NOOK_DEVICES_VIRTIO_BALLOON_H

#include "devices/virtio/mmio.h"

/* The statistics the guest reports (VIRTIO_BALLOON_S_*); a value it has not
 * reported is UINT64_MAX. */
enum {
	BALLOON_STAT_SWAP_IN,
	BALLOON_STAT_SWAP_OUT,
	BALLOON_STAT_MAJFLT,
	BALLOON_STAT_MINFLT,
	BALLOON_STAT_MEMFREE,
	BALLOON_STAT_MEMTOT,
	BALLOON_STAT_AVAIL,
	BALLOON_STAT_CACHES,
	BALLOON_STAT_HTLB_PGALLOC,
	BALLOON_STAT_HTLB_PGFAIL,
	BALLOON_STATS, /* the tags nook keeps; others are ignored */
};

struct virtio_balloon_stats {
	uint32_t num_pages, actual; /* target and guest's balloon, 4 KiB pages */
	uint64_t values[BALLOON_STATS];
	uint64_t updated_ns; /* monotonic time of the last report; 0: none */
	/* What the host did with what the guest gave: bytes released, and
	 * pages or ranges refused (outside guest RAM). */
	uint64_t released_bytes;
	uint64_t refused;
};

struct virtio_balloon {
	struct virtio_mmio_device mmio;
	struct virtio_device_ops ops; /* its features depend on the interval */
	struct event_loop *loop;
	struct event_source stats_timer; /* fd -1 without statistics */
	struct virtio_balloon_stats stats;
	/* The guest's stats buffer, held until the next tick asks for fresh
	 * numbers by handing it back; valid for one queue generation. */
	bool stats_held;
	uint16_t stats_head;
	uint32_t stats_generation;
	struct virtq_chain chain; /* scratch, used under the device lock */
};

/* The device state a snapshot keeps (little-endian host, as the rest of
 * the state file). */
struct virtio_balloon_state {
	uint32_t version; /* 1 */
	uint32_t num_pages, actual;
	uint16_t stats_head;
	uint8_t stats_held;
	uint8_t pad;
};

/* stats_interval_ms 0: no statistics queue. */
int virtio_balloon_init(struct virtio_balloon *b, struct machine *m, struct event_loop *loop,
			uint64_t stats_interval_ms, uint64_t base, uint32_t irq, nook_error **err);
void virtio_balloon_destroy(struct virtio_balloon *b);

/* Sets the target size of the balloon, in 4 KiB pages (at most guest RAM;
 * -EINVAL otherwise), and tells a driver that is running. Any thread. */
int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t pages);
/* A copy of the current numbers. Any thread. */
void virtio_balloon_get_stats(struct virtio_balloon *b, struct virtio_balloon_stats *out);

/* The stats timer's tick: hands the held buffer back (I/O thread). */
void virtio_balloon_request_stats(struct virtio_balloon *b);

#endif
