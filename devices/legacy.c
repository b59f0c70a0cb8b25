#include "devices/legacy.h"

#include <errno.h>
#include <time.h>

#define I8042_DATA 0x60
#define I8042_COMMAND 0x64
#define I8042_CMD_RESET 0xfe
#define CMOS_INDEX 0x70
#define POST_PORT 0x80

static void i8042_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	/* Status: output buffer empty, input buffer empty. */
	for (uint32_t i = 0; i < len; i++)
		data[i] = 0;
}

static void i8042_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct legacy_devices *d = opaque;
	if (offset == I8042_COMMAND - I8042_DATA && len == 1 && data[0] == I8042_CMD_RESET)
		machine_request_stop(d->machine, MACHINE_STOP_RESET, 0, "guest rebooted");
}

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* The registers of an MC146818 with the host's UTC time, 24-hour, BCD. */
static uint8_t cmos_register(uint8_t index)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	switch (index) {
	case 0x00: return bcd(tm.tm_sec);
	case 0x02: return bcd(tm.tm_min);
	case 0x04: return bcd(tm.tm_hour);
	case 0x06: return bcd(tm.tm_wday + 1);
	case 0x07: return bcd(tm.tm_mday);
	case 0x08: return bcd(tm.tm_mon + 1);
	case 0x09: return bcd(tm.tm_year % 100);
	case 0x32: return bcd(19 + tm.tm_year / 100);
	case 0x0a: return 0x26;  /* no update in progress, 32.768 kHz base */
	case 0x0b: return 0x02;  /* 24-hour, BCD */
	case 0x0d: return 0x80;  /* battery good */
	default: return 0;
	}
}

static void cmos_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct legacy_devices *d = opaque;
	pthread_mutex_lock(&d->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = offset + i == 1 ? cmos_register(d->cmos_index & 0x7f) : d->cmos_index;
	pthread_mutex_unlock(&d->lock);
}

static void cmos_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct legacy_devices *d = opaque;
	pthread_mutex_lock(&d->lock);
	if (offset == 0 && len >= 1)
		d->cmos_index = data[0];
	pthread_mutex_unlock(&d->lock);
}

static void ignore_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)len;
}

int legacy_devices_register(struct legacy_devices *d, struct machine *m)
{
	d->machine = m;
	d->cmos_index = 0;
	pthread_mutex_init(&d->lock, NULL);
	struct io_handler i8042 = {.read = i8042_read, .write = i8042_write, .opaque = d};
	struct io_handler cmos = {.read = cmos_read, .write = cmos_write, .opaque = d};
	struct io_handler post = {.write = ignore_write};
	int r = io_bus_register(&m->pio, I8042_DATA, 5, &i8042);
	if (r == 0)
		r = io_bus_register(&m->pio, CMOS_INDEX, 2, &cmos);
	if (r == 0)
		r = io_bus_register(&m->pio, POST_PORT, 1, &post);
	return r;
}

void legacy_devices_destroy(struct legacy_devices *d)
{
	pthread_mutex_destroy(&d->lock);
}

int legacy_devices_save(struct legacy_devices *d, struct bytes *out)
{
	pthread_mutex_lock(&d->lock);
	uint8_t index = d->cmos_index;
	pthread_mutex_unlock(&d->lock);
	return state_put(out, "legacy", 1, &index, sizeof(index));
}

int legacy_devices_restore(struct legacy_devices *d, const void *state, size_t len)
{
	if (len != 1)
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	d->cmos_index = *(const uint8_t *)state;
	pthread_mutex_unlock(&d->lock);
	return 0;
}
