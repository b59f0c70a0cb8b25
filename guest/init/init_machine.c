#include "guest/init/init_machine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* <linux/random.h>, which musl's headers do not carry: a stable ABI. */
struct rand_pool_info {
	int entropy_count; /* bits */
	int buf_size;      /* bytes */
	unsigned char buf[];
};
#define RNDADDENTROPY _IOW('R', 0x03, int[2])
#define RNDRESEEDCRNG _IO('R', 0x07)

/* The kernel names the devices of virtio_mmio.device= "virtio-mmio.<n>". */
#define BIND_PATH "/sys/bus/platform/drivers/virtio-mmio/bind"

static int fail(int errnum, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errnum));
	return -errnum;
}

int init_set_clock(const struct init_config *cfg, char *err, size_t errlen)
{
	struct timespec ts = { .tv_sec = (time_t)cfg->clock_sec, .tv_nsec = cfg->clock_nsec };

	return clock_settime(CLOCK_REALTIME, &ts) < 0 ? fail(errno, err, errlen, "clock") : 0;
}

int init_add_entropy(const struct init_config *cfg, char *err, size_t errlen)
{
	struct rand_pool_info *info = malloc(sizeof(*info) + cfg->entropy_len);
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC), r = 0;

	if (!info || fd < 0) {
		r = fail(info ? errno : ENOMEM, err, errlen, "entropy");
	} else {
		info->entropy_count = (int)(cfg->entropy_len * 8);
		info->buf_size = (int)cfg->entropy_len;
		memcpy(info->buf, cfg->entropy, cfg->entropy_len);
		/* Credited, then used at once: a restored guest must not go on
		 * with the random state of its snapshot. */
		if (ioctl(fd, RNDADDENTROPY, info) < 0 || ioctl(fd, RNDRESEEDCRNG) < 0)
			r = fail(errno, err, errlen, "entropy");
		explicit_bzero(info->buf, cfg->entropy_len);
	}
	if (fd >= 0)
		close(fd);
	free(info);
	return r;
}

int init_set_hostname(const struct init_config *cfg, char *err, size_t errlen)
{
	if (cfg->hostname && sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
		return fail(errno, err, errlen, "hostname");
	return 0;
}

int init_bind_slots(const struct init_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->nslots; i++) {
		char name[32];
		int fd = open(BIND_PATH, O_WRONLY | O_CLOEXEC);
		int n = snprintf(name, sizeof(name), "virtio-mmio.%u", cfg->slots[i]);

		if (fd < 0)
			return fail(errno, err, errlen, BIND_PATH);
		/* Probing happens inside the write: the device is there after it. */
		ssize_t w = write(fd, name, (size_t)n);
		int e = errno;
		close(fd);
		if (w != n) {
			snprintf(err, errlen, "device %s: %s", name, strerror(w < 0 ? e : EIO));
			return w < 0 ? -e : -EIO;
		}
	}
	return 0;
}
