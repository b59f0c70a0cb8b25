#include "guest/init/init_control.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "guest/protocol.h"

/* 1 when all `len` bytes were read, 0 at end of file before any, -errno. */
static int read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return got ? -EPROTO : 0;
		got += (size_t)n;
	}
	return 1;
}

int init_control_read(int fd, uint32_t *type, void **payload, size_t *len)
{
	struct nook_msg_header h;
	int r = read_exact(fd, &h, sizeof(h));

	if (r <= 0)
		return r;
	if (h.length > NOOK_MSG_MAX)
		return -EPROTO;
	void *buf = malloc(h.length ? h.length : 1);
	if (!buf)
		return -ENOMEM;
	r = h.length ? read_exact(fd, buf, h.length) : 1;
	if (r <= 0) {
		free(buf);
		return r < 0 ? r : -EPROTO;
	}
	*type = h.type;
	*payload = buf;
	*len = h.length;
	return 1;
}
