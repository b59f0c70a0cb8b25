/* The VM's I/O thread: epoll over device eventfds and host fds. */
#ifndef NOOK_UTIL_EVENT_LOOP_H
#define NOOK_UTIL_EVENT_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*event_fn)(void *opaque, uint32_t events);

/* Lives as long as its fd is registered. */
struct event_source {
	int fd;
	event_fn fn;
	void *opaque;
};

struct event_loop {
	int epoll_fd;
	int wake_fd;
	bool stop;
	pthread_t thread;
	bool running;
};

int event_loop_init(struct event_loop *l);
void event_loop_destroy(struct event_loop *l);
/* `events` are EPOLLIN/EPOLLOUT...; 0 keeps the fd registered but quiet:
 * a hang-up or error on it is reported once, not for as long as it lasts. */
int event_loop_add(struct event_loop *l, struct event_source *s, uint32_t events);
int event_loop_modify(struct event_loop *l, struct event_source *s, uint32_t events);
void event_loop_remove(struct event_loop *l, struct event_source *s);
/* Starts the I/O thread, confined (util/thread.h) when `confine`. */
int event_loop_start(struct event_loop *l, bool confine);
/* Asks the thread to stop and joins it. */
void event_loop_stop(struct event_loop *l);

#endif
