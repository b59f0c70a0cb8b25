/* Port-I/O and MMIO dispatch: an address range per device. The ranges are
 * fixed before the vCPUs start, so lookups need no lock; handlers lock their
 * own state. */
#ifndef NOOK_KVM_BUS_H
#define NOOK_KVM_BUS_H

#include <stdbool.h>
#include <stdint.h>

#define IO_BUS_MAX_RANGES 64

struct io_handler {
	/* `offset` is relative to the range's base; len is 1..8. */
	void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
	void *opaque;
};

struct io_range {
	uint64_t base, len;
	struct io_handler handler;
};

struct io_bus {
	struct io_range ranges[IO_BUS_MAX_RANGES];
	int n;
};

/* -EEXIST when the range overlaps one already there, -ENOSPC when full. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_handler *h);

/* Dispatches an access; false when no device claims the whole range (reads
 * then see all ones, as on an empty bus). */
bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		   bool is_write);

/* Little-endian helpers for register files. */
static inline uint64_t io_data_get(const uint8_t *data, uint32_t len)
{
	uint64_t v = 0;
	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)data[i] << (8 * i);
	return v;
}

static inline void io_data_put(uint8_t *data, uint32_t len, uint64_t v)
{
	for (uint32_t i = 0; i < len && i < 8; i++)
		data[i] = (uint8_t)(v >> (8 * i));
}

#endif
