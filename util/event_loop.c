#include "util/event_loop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/thread.h"

int event_loop_init(struct event_loop *l)
{
	*l = (struct event_loop){.epoll_fd = -1, .wake_fd = -1};
	l->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epoll_fd < 0 || l->wake_fd < 0)
		return -errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	return epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0 ? -errno : 0;
}

void event_loop_destroy(struct event_loop *l)
{
	event_loop_stop(l);
	if (l->epoll_fd >= 0)
		close(l->epoll_fd);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	l->epoll_fd = l->wake_fd = -1;
}

/* epoll reports EPOLLHUP and EPOLLERR whatever the mask: a quiet fd gets
 * them edge-triggered, once per change, or a hung-up fd that nobody
 * watches would keep the I/O thread spinning. */
static uint32_t mask(uint32_t events)
{
	return events ? events : EPOLLET;
}

int event_loop_add(struct event_loop *l, struct event_source *s, uint32_t events)
{
	struct epoll_event ev = {.events = mask(events), .data.ptr = s};
	return epoll_ctl(l->epoll_fd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? -errno : 0;
}

int event_loop_modify(struct event_loop *l, struct event_source *s, uint32_t events)
{
	struct epoll_event ev = {.events = mask(events), .data.ptr = s};
	return epoll_ctl(l->epoll_fd, EPOLL_CTL_MOD, s->fd, &ev) < 0 ? -errno : 0;
}

void event_loop_remove(struct event_loop *l, struct event_source *s)
{
	epoll_ctl(l->epoll_fd, EPOLL_CTL_DEL, s->fd, NULL);
}

static void *event_loop_main(void *arg)
{
	struct event_loop *l = arg;
	struct epoll_event evs[32];
	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(l->epoll_fd, evs, 32, -1);
		for (int i = 0; i < n; i++) {
			struct event_source *s = evs[i].data.ptr;
			if (s)
				s->fn(s->opaque, evs[i].events);
		}
	}
	return NULL;
}

int event_loop_start(struct event_loop *l, bool confine)
{
	int r = thread_start(&l->thread, THREAD_ROLE_IO, "nook-io", confine, event_loop_main, l);
	if (r == 0)
		l->running = true;
	return r;
}

void event_loop_stop(struct event_loop *l)
{
	if (!l->running)
		return;
	__atomic_store_n(&l->stop, true, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (write(l->wake_fd, &one, sizeof(one)) < 0) {
		/* Only fails if the counter is saturated, which also wakes it. */
	}
	pthread_join(l->thread, NULL);
	l->running = false;
}
