/* A snapshot on disk: a directory holding two files.
 *
 *   state   struct snapshot_header, then the state sections (util/state.h):
 *           "vcpu.<n>", "x86-vm" (x86/snapshot.h), "ioapic" with a split
 *           irqchip (devices/ioapic.h), "serial", "legacy" and
 *           "virtio-mmio.<slot>" for each device the guest had probed
 *           (devices/virtio/mmio.h and each device's save op). Devices that
 *           were still hidden at the ready point (shares other than the
 *           root's, disks, network, ports, vsock) are not in it: the guest had never seen them.
 *   memory  guest RAM, the regions one after the other, sparse.
 *
 * The header's magic, version, sizes and CRC-32 of the sections are all
 * checked before anything is loaded, and every section is checked again by
 * the part that restores it; a file that fails any check is refused. */
#ifndef NOOK_VM_SNAPSHOT_H
#define NOOK_VM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/memory.h"
#include "util/bytes.h"
#include "util/error.h"

#define SNAPSHOT_MAGIC "NOOKSNAP"
/* Bump when the layout of any section changes. */
#define SNAPSHOT_VERSION 3
#define SNAPSHOT_STATE_FILE "state"
#define SNAPSHOT_MEMORY_FILE "memory"
#define SNAPSHOT_KEY_SIZE 32
/* Sections beyond this are not a state nook wrote. */
#define SNAPSHOT_STATE_MAX (16u << 20)

struct snapshot_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint8_t key[SNAPSHOT_KEY_SIZE]; /* the machine shape it was made for */
	uint64_t memory_size;
	uint64_t state_size;
	uint32_t state_crc32;
	uint32_t vcpus;
	uint64_t created; /* CLOCK_REALTIME seconds */
	char info[160];   /* for people: what it was made from */
};

/* Writes `state` and guest memory into the existing empty directory
 * `dir`, files 0600, synced. */
int snapshot_write(const char *dir, const uint8_t key[SNAPSHOT_KEY_SIZE], unsigned vcpus,
		   const char *info, const struct bytes *state, const struct guest_memory *mem,
		   nook_error **err);

struct snapshot {
	struct snapshot_header header;
	void *state; /* header.state_size bytes of checked sections */
	int memory_fd;
};

/* Opens and checks the snapshot in `dir`: the error says what is wrong
 * with which file. */
int snapshot_open(const char *dir, struct snapshot *s, nook_error **err);
void snapshot_close(struct snapshot *s);

#endif
