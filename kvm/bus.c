#include "kvm/bus.h"

#include <errno.h>
#include <string.h>

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_handler *h)
{
	if (len == 0 || base + len < base)
		return -EINVAL;
	for (int i = 0; i < bus->n; i++) {
		const struct io_range *r = &bus->ranges[i];
		if (base < r->base + r->len && r->base < base + len)
			return -EEXIST;
	}
	if (bus->n == IO_BUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->n++] = (struct io_range){.base = base, .len = len, .handler = *h};
	return 0;
}

bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
		   bool is_write)
{
	for (int i = 0; i < bus->n; i++) {
		const struct io_range *r = &bus->ranges[i];
		if (addr < r->base || addr - r->base >= r->len || len > r->len - (addr - r->base))
			continue;
		if (is_write) {
			if (r->handler.write)
				r->handler.write(r->handler.opaque, addr - r->base, data, len);
		} else if (r->handler.read) {
			r->handler.read(r->handler.opaque, addr - r->base, data, len);
		} else {
			memset(data, 0xff, len);
		}
		return true;
	}
	if (!is_write)
		memset(data, 0xff, len);
	return false;
}
