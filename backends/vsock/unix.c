#include "backends/vsock/unix.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/clock.h"

/* A host client that has not finished its CONNECT line. The slot outlives
 * the client (an event for a closed one may still be on the loop's list). */
struct pending_client {
	struct vsock_unix *u;
	struct event_source source; /* fd -1: a free slot */
	uint64_t deadline_ns;
};

struct vsock_unix {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct event_loop *loop;
	struct virtio_vsock *dev;
	struct event_source listener, timer;
	bool listening, timing;
	struct pending_client pending[VSOCK_UNIX_PENDING_MAX];
};

static int unix_address(const char *path, struct sockaddr_un *sa)
{
	*sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, len + 1);
	return 0;
}

/* The guest connects to host port `port`: PATH_port. */
static int connect_host(void *opaque, uint32_t port)
{
	struct vsock_unix *u = opaque;
	char path[sizeof(u->path) + VSOCK_UNIX_SUFFIX_MAX];
	struct sockaddr_un sa;
	snprintf(path, sizeof(path), "%s_%u", u->path, port);
	if (unix_address(path, &sa) < 0)
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A UNIX stream connect completes at once or fails (EAGAIN: the
	 * listener's backlog is full), never in progress. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* The guest accepted a host client: "OK <host port>\n". The client has
 * been sent nothing before, so its socket takes these few bytes at once. */
static int accepted(void *opaque, int fd, uint32_t host_port)
{
	char line[24];
	int n = snprintf(line, sizeof(line), "OK %u\n", host_port);
	ssize_t w = send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	return w == n ? 0 : w < 0 ? -errno : -EIO;
}

void vsock_unix_host(struct vsock_unix *u, struct virtio_vsock_host *host)
{
	*host = (struct virtio_vsock_host){.connect = connect_host, .accepted = accepted,
					   .opaque = u};
}

int64_t vsock_unix_parse_connect(const char *line, size_t len)
{
	static const char verb[] = "CONNECT ";
	const size_t vlen = sizeof(verb) - 1;
	if (len <= vlen || len > vlen + 10 || memcmp(line, verb, vlen) != 0)
		return -EINVAL;
	int64_t port = 0;
	for (size_t i = vlen; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EINVAL;
		port = port * 10 + (line[i] - '0');
	}
	/* -1 is VMADDR_PORT_ANY, no port to connect to. */
	return port >= UINT32_MAX ? -EINVAL : port;
}

static void client_close(struct pending_client *p)
{
	event_loop_remove(p->u->loop, &p->source);
	close(p->source.fd);
	p->source.fd = -1;
}

/* The timer for the earliest deadline of a client still pending. */
static void arm_timer(struct vsock_unix *u)
{
	if (!u->timing)
		return;
	uint64_t first = 0;
	for (unsigned i = 0; i < VSOCK_UNIX_PENDING_MAX; i++)
		if (u->pending[i].source.fd >= 0 && (!first || u->pending[i].deadline_ns < first))
			first = u->pending[i].deadline_ns;
	struct itimerspec its = {0};
	if (first) {
		uint64_t now = monotonic_ns(), wait = first > now ? first - now : 1;
		its.it_value = (struct timespec){(time_t)(wait / 1000000000u),
						 (long)(wait % 1000000000u)};
	}
	timerfd_settime(u->timer.fd, 0, &its, NULL);
}

/* Reads the client's line, leaving whatever follows it in the socket. */
static void on_client(void *opaque, uint32_t events)
{
	struct pending_client *p = opaque;
	if (p->source.fd < 0)
		return;
	char line[VSOCK_UNIX_LINE_MAX];
	ssize_t n = recv(p->source.fd, line, sizeof(line), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	const char *nl = n > 0 ? memchr(line, '\n', (size_t)n) : NULL;
	/* More to come (edge-triggered: the next bytes wake us), unless the
	 * client hung up mid-line: then no more comes. */
	if (!nl && n > 0 && (size_t)n < sizeof(line) && !(events & (EPOLLRDHUP | EPOLLHUP)))
		return;
	int64_t port = nl ? vsock_unix_parse_connect(line, (size_t)(nl - line)) : -EINVAL;
	if (port >= 0 && recv(p->source.fd, line, (size_t)(nl - line + 1), MSG_DONTWAIT) !=
				 nl - line + 1)
		port = -EIO;
	if (port < 0) {
		client_close(p);
	} else {
		int fd = p->source.fd;
		event_loop_remove(p->u->loop, &p->source);
		p->source.fd = -1;
		/* The device owns fd from here, also when it refuses. */
		virtio_vsock_connect_guest(p->u->dev, fd, (uint32_t)port);
	}
	arm_timer(p->u);
}

static void on_listener(void *opaque, uint32_t events)
{
	struct vsock_unix *u = opaque;
	for (;;) {
		int fd = accept4(u->listener.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			break; /* EAGAIN, or a client gone before we took it */
		struct pending_client *p = NULL;
		for (unsigned i = 0; !p && i < VSOCK_UNIX_PENDING_MAX; i++)
			if (u->pending[i].source.fd < 0)
				p = &u->pending[i];
		if (!p) {
			close(fd); /* too many half-open clients */
			continue;
		}
		p->source.fd = fd;
		p->deadline_ns = monotonic_ns() + (uint64_t)VSOCK_UNIX_LINE_MS * 1000000u;
		if (event_loop_add(u->loop, &p->source, EPOLLIN | EPOLLRDHUP | EPOLLET) < 0) {
			close(fd);
			p->source.fd = -1;
			continue;
		}
		/* Its line may be there already. */
		on_client(p, EPOLLIN);
	}
	arm_timer(u);
}

static void on_timer(void *opaque, uint32_t events)
{
	struct vsock_unix *u = opaque;
	uint64_t expirations;
	if (read(u->timer.fd, &expirations, sizeof(expirations)) < 0) {
		/* Not due after all (re-armed meanwhile). */
	}
	uint64_t now = monotonic_ns();
	for (unsigned i = 0; i < VSOCK_UNIX_PENDING_MAX; i++)
		if (u->pending[i].source.fd >= 0 && u->pending[i].deadline_ns <= now)
			client_close(&u->pending[i]);
	arm_timer(u);
}

/* A socket at `path` that nobody listens on: left by an earlier run. */
static bool stale_socket(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool stale = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 &&
		     errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int listen_on(struct vsock_unix *u, nook_error **err)
{
	const char *path = u->path;
	struct sockaddr_un sa;
	unix_address(path, &sa);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return error_set(err, EEXIST, "vsock %s: exists and is not a socket", path);
		if (!stale_socket(&sa))
			return error_set(err, EADDRINUSE,
					 "vsock %s: a socket that is in use (another VM?)", path);
		if (unlink(path) < 0)
			return error_set(err, errno, "vsock %s: removing the stale socket: %s", path,
					 strerror(errno));
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "vsock %s: socket: %s", path, strerror(errno));
	/* Linux gives the socket file the socket's own mode: only its owner
	 * may connect. */
	const char *step = "fchmod";
	int r = fchmod(fd, 0600);
	if (r == 0) {
		step = "bind";
		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (r == 0) {
		step = "listen";
		r = listen(fd, SOMAXCONN);
	}
	if (r < 0) {
		int e = errno;
		close(fd);
		return error_set(err, e, "vsock %s: %s: %s", path, step, strerror(e));
	}
	u->listener = (struct event_source){.fd = fd, .fn = on_listener, .opaque = u};
	return 0;
}

int vsock_unix_open(const char *path, struct event_loop *loop, struct vsock_unix **out,
		    nook_error **err)
{
	*out = NULL;
	struct vsock_unix *u = calloc(1, sizeof(*u));
	if (!u)
		return error_set(err, ENOMEM, "out of memory");
	*u = (struct vsock_unix){.loop = loop, .listener = {.fd = -1}, .timer = {.fd = -1}};
	for (unsigned i = 0; i < VSOCK_UNIX_PENDING_MAX; i++)
		u->pending[i] = (struct pending_client){
			.u = u, .source = {.fd = -1, .fn = on_client, .opaque = &u->pending[i]}};
	int r = 0;
	if (strlen(path) + VSOCK_UNIX_SUFFIX_MAX >= sizeof(u->path))
		r = error_set(err, ENAMETOOLONG,
			      "vsock %s: path too long (at most %zu bytes, to leave room for _PORT)",
			      path, sizeof(u->path) - 1 - VSOCK_UNIX_SUFFIX_MAX);
	else
		snprintf(u->path, sizeof(u->path), "%s", path);
	if (r == 0)
		r = listen_on(u, err);
	if (r == 0) {
		u->timer = (struct event_source){
			.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK),
			.fn = on_timer, .opaque = u};
		if (u->timer.fd < 0)
			r = error_set(err, errno, "vsock %s: timer: %s", path, strerror(errno));
	}
	if (r < 0) {
		vsock_unix_destroy(u);
		return r;
	}
	*out = u;
	return 0;
}

int vsock_unix_start(struct vsock_unix *u, struct virtio_vsock *dev, nook_error **err)
{
	u->dev = dev;
	int r = event_loop_add(u->loop, &u->timer, EPOLLIN);
	u->timing = r == 0;
	if (r == 0)
		r = event_loop_add(u->loop, &u->listener, EPOLLIN);
	u->listening = r == 0;
	if (r < 0)
		return error_set(err, -r, "vsock %s: %s", u->path, strerror(-r));
	return 0;
}

void vsock_unix_destroy(struct vsock_unix *u)
{
	if (!u)
		return;
	for (unsigned i = 0; i < VSOCK_UNIX_PENDING_MAX; i++)
		if (u->pending[i].source.fd >= 0)
			client_close(&u->pending[i]);
	if (u->listening)
		event_loop_remove(u->loop, &u->listener);
	if (u->timing)
		event_loop_remove(u->loop, &u->timer);
	if (u->listener.fd >= 0)
		close(u->listener.fd);
	if (u->timer.fd >= 0)
		close(u->timer.fd);
	free(u);
}
