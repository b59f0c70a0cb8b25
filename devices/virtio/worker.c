#include "devices/virtio/worker.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <stdio.h>
#include <string.h>

/* Takes the next chain from the first queue that has one. Lock held. */
static struct virtq *pop_next(struct virtio_mmio_device *dev, struct virtq_chain *chain)
{
	if (!(dev->status & VIRTIO_CONFIG_S_DRIVER_OK) || (dev->status & VIRTIO_CONFIG_S_NEEDS_RESET))
		return NULL;
	for (uint16_t i = 0; i < dev->ops->num_queues; i++) {
		struct virtq *q = &dev->queues[i];
		int r = virtq_pop(q, chain);
		if (r < 0) {
			virtio_mmio_fail(dev);
			return NULL;
		}
		if (r > 0)
			return q;
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct virtio_worker *t = arg;
	struct virtio_workers *w = t->pool;
	struct virtio_mmio_device *dev = w->dev;
	pthread_mutex_lock(&dev->lock);
	while (!w->stopping) {
		struct virtq *q = pop_next(dev, &t->chain);
		if (!q) {
			pthread_cond_wait(&w->wake, &dev->lock);
			continue;
		}
		uint32_t generation = q->generation;
		pthread_mutex_unlock(&dev->lock);
		int64_t written = w->handle(dev, &t->chain);
		pthread_mutex_lock(&dev->lock);
		if (generation != q->generation)
			continue; /* the queue was reset while we worked */
		if (written < 0 || written > UINT32_MAX) {
			virtio_mmio_fail(dev);
			continue;
		}
		virtq_push(q, t->chain.head, (uint32_t)written);
		virtio_mmio_notify_used(dev, q);
	}
	pthread_mutex_unlock(&dev->lock);
	return NULL;
}

int virtio_workers_start(struct virtio_workers *w, struct virtio_mmio_device *dev,
			 virtio_worker_handle_fn handle, unsigned n, enum thread_role role,
			 const char *name, nook_error **err)
{
	*w = (struct virtio_workers){.dev = dev, .handle = handle,
				     .n = n > VIRTIO_WORKERS_MAX ? VIRTIO_WORKERS_MAX : n};
	pthread_cond_init(&w->wake, NULL);
	for (unsigned i = 0; i < w->n; i++) {
		struct virtio_worker *t = &w->threads[i];
		char thread_name[32];
		snprintf(thread_name, sizeof(thread_name), "%.12s-%u", name, i);
		t->pool = w;
		int r = thread_start(&t->thread, role, thread_name, dev->machine->confine, worker_main,
				     t);
		if (r < 0)
			return error_set(err, -r, "virtio-%s: worker thread: %s", dev->ops->name,
					 strerror(-r));
		t->started = true;
	}
	return 0;
}

void virtio_workers_wake(struct virtio_workers *w)
{
	pthread_cond_broadcast(&w->wake);
}

void virtio_workers_stop(struct virtio_workers *w)
{
	if (!w->dev)
		return;
	pthread_mutex_lock(&w->dev->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->dev->lock);
	for (unsigned i = 0; i < w->n; i++) {
		if (w->threads[i].started)
			pthread_join(w->threads[i].thread, NULL);
		w->threads[i].started = false;
	}
	pthread_cond_destroy(&w->wake);
	w->dev = NULL;
}
