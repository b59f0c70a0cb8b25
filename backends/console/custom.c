#include "backends/console/custom.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/thread.h"

#define BUF_SIZE 65536

struct console_custom {
	char name[64];
	struct nook_console_port_backend backend;
	void *opaque;
	int fd; /* the threads' end of the pair */
	pthread_t reader, writer;
	bool reader_started, writer_started;
};

/* The caller's input into the socket, until read() ends it or the device's
 * end is gone; then the device reads end of file. */
static void *reader_main(void *arg)
{
	struct console_custom *cc = arg;
	char *buf = malloc(BUF_SIZE);
	for (ssize_t n; buf && (n = cc->backend.read(cc->opaque, buf, BUF_SIZE)) > 0;) {
		if (n > BUF_SIZE)
			break; /* a backend that wrote past buf: stop trusting it */
		for (ssize_t off = 0, w; off < n; off += w) {
			do
				w = send(cc->fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			while (w < 0 && errno == EINTR);
			if (w <= 0)
				goto out;
		}
	}
out:
	shutdown(cc->fd, SHUT_WR);
	free(buf);
	return NULL;
}

/* The guest's output to write(), until the device's end is shut or
 * closed; then write() is told. */
static void *writer_main(void *arg)
{
	struct console_custom *cc = arg;
	char *buf = malloc(BUF_SIZE);
	for (ssize_t n; buf;) {
		do
			n = recv(cc->fd, buf, BUF_SIZE, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			break;
		for (ssize_t off = 0, w; off < n; off += w) {
			w = cc->backend.write(cc->opaque, buf + off, (size_t)(n - off));
			if (w <= 0 || w > n - off) {
				/* The backend refuses it: the device's writes fail
				 * from now on and it drops the output. */
				shutdown(cc->fd, SHUT_RD);
				free(buf);
				return NULL;
			}
		}
	}
	free(buf);
	cc->backend.write(cc->opaque, NULL, 0);
	return NULL;
}

int console_custom_create(const struct nook_console_port_backend *backend, void *opaque,
			  const char *name, int *fd, struct console_custom **out, nook_error **err)
{
	int pair[2];
	struct console_custom *cc = calloc(1, sizeof(*cc));
	if (!cc)
		return error_set(err, ENOMEM, "console port %s: out of memory", name);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		free(cc);
		return error_set(err, errno, "console port %s: socket pair: %s", name,
				 strerror(errno));
	}
	snprintf(cc->name, sizeof(cc->name), "%s", name);
	cc->backend = *backend;
	cc->opaque = opaque;
	cc->fd = pair[1];
	*fd = pair[0];
	*out = cc;
	return 0;
}

int console_custom_start(struct console_custom *cc, bool confine, nook_error **err)
{
	/* Without a callback the device does not use that direction
	 * (vm/console_ports.c). */
	int r = 0;
	if (cc->backend.read && (r = thread_start(&cc->reader, THREAD_ROLE_IO, "nook-port-in",
						  confine, reader_main, cc)) == 0)
		cc->reader_started = true;
	if (r == 0 && cc->backend.write &&
	    (r = thread_start(&cc->writer, THREAD_ROLE_IO, "nook-port-out", confine, writer_main,
			      cc)) == 0)
		cc->writer_started = true;
	if (r < 0)
		return error_set(err, -r, "console port %s: thread: %s", cc->name, strerror(-r));
	return 0;
}

void console_custom_stop(struct console_custom *cc)
{
	if (!cc)
		return;
	/* Wakes a thread waiting on the socket; the writer then tells write()
	 * the output ended. */
	shutdown(cc->fd, SHUT_RDWR);
	if (cc->writer_started)
		pthread_join(cc->writer, NULL);
	if (cc->reader_started)
		pthread_join(cc->reader, NULL);
	close(cc->fd);
	free(cc);
}
