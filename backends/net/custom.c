/* A network served by the caller through struct nook_net_backend. */
#include <errno.h>
#include <stdlib.h>

#include "backends/net/backend.h"

struct custom_backend {
	struct net_backend base;
	struct nook_net_backend cb;
	void *opaque;
};

static int custom_send(struct net_backend *b, const struct iovec *frames, unsigned n)
{
	struct custom_backend *c = (struct custom_backend *)b;
	for (unsigned i = 0; c->cb.send && i < n; i++) {
		int r = c->cb.send(c->opaque, frames[i].iov_base, frames[i].iov_len);
		if (r < 0)
			return i ? (int)i : r;
	}
	return (int)n;
}

static ssize_t custom_recv(struct net_backend *b, void *buf, size_t size)
{
	struct custom_backend *c = (struct custom_backend *)b;
	return c->cb.recv ? c->cb.recv(c->opaque, buf, size) : -EAGAIN;
}

static void custom_destroy(struct net_backend *b)
{
	free(b);
}

static const struct net_backend_ops custom_ops = {
	.send = custom_send,
	.recv = custom_recv,
	.destroy = custom_destroy,
};

int net_custom_open(const struct nook_net_backend *cb, void *opaque, struct net_backend **out,
		    nook_error **err)
{
	*out = NULL;
	struct custom_backend *c = calloc(1, sizeof(*c));
	if (!c)
		return error_set(err, ENOMEM, "out of memory");
	c->cb = *cb;
	c->opaque = opaque;
	c->base = (struct net_backend){.ops = &custom_ops, .name = "custom",
				       .poll_fd = cb->poll_fd ? cb->poll_fd(opaque) : -1};
	*out = &c->base;
	return 0;
}
