/* The event loop's quiet registrations (events 0): epoll reports a hang-up
 * or an error whatever the mask, and a quiet fd must report it once, not
 * on every wait, or the I/O thread spins (found by fuzz/console: a
 * console port whose host input ended while the guest had it closed).
 * The loop's thread is not started: the test waits on its epoll fd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/event_loop.h"

static void nothing(void *opaque, uint32_t events)
{
}

/* The events ready now, without waiting. */
static int ready(struct event_loop *l)
{
	struct epoll_event ev[4];
	return epoll_wait(l->epoll_fd, ev, 4, 0);
}

/* `fd` is hung up (its peer closed): reported at most once while quiet,
 * on every wait once watched for `watch`. */
static void check_quiet(int fd, uint32_t watch)
{
	struct event_loop l;
	assert_int_equal(event_loop_init(&l), 0);
	struct event_source s = {.fd = fd, .fn = nothing};
	assert_int_equal(event_loop_add(&l, &s, 0), 0);
	assert_true(ready(&l) <= 1);
	assert_int_equal(ready(&l), 0);
	assert_int_equal(ready(&l), 0);
	/* Watched: level-triggered as asked. */
	assert_int_equal(event_loop_modify(&l, &s, watch), 0);
	assert_int_equal(ready(&l), 1);
	assert_int_equal(ready(&l), 1);
	/* Quiet again. */
	assert_int_equal(event_loop_modify(&l, &s, 0), 0);
	assert_true(ready(&l) <= 1);
	assert_int_equal(ready(&l), 0);
	event_loop_remove(&l, &s);
	event_loop_destroy(&l);
}

static void test_quiet_reader_of_a_closed_pipe(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[1]); /* EPOLLHUP on the reader */
	check_quiet(p[0], EPOLLIN);
	close(p[0]);
}

static void test_quiet_writer_of_a_closed_pipe(void **state)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]); /* EPOLLERR on the writer */
	check_quiet(p[1], EPOLLOUT);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet_reader_of_a_closed_pipe),
		cmocka_unit_test(test_quiet_writer_of_a_closed_pipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
