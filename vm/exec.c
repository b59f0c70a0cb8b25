/* The host side of exec (nook/exec.h): the request, the connection to the
 * guest's agent through the vsock UNIX socket, and a relay thread per
 * process between the caller's fds and the connection
 * (guest/agent_protocol.h). Everything read from the connection comes
 * from the guest and is checked. */
#include <nook/exec.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "guest/agent_protocol.h"
#include "util/bytes.h"
#include "util/clock.h"
#include "util/error.h"
#include "vm/config.h"
#include "vm/guest_config.h"
#include "vm/vm.h"

#define HDR sizeof(struct nook_agent_frame)
/* The vsock backend's answer to "CONNECT P\n": the guest kernel accepts
 * on the agent's behalf, so it comes soon unless the guest is stuck. */
#define CONNECT_TIMEOUT_MS 30000
#define CONNECT_LINE_MAX 32
/* Signal and resize frames waiting for the relay. */
#define CONTROL_QUEUE 16
#define CONTROL_FRAME (HDR + 4)
/* The largest frame payload the guest may send. */
#define RX_MAX NOOK_AGENT_DATA_MAX
/* Frames read in a row before the relay looks at its other fds: a guest
 * streaming empty frames cannot keep it from nook_process_free(). */
#define RX_FRAMES_PER_TURN 64
_Static_assert(NOOK_AGENT_ERROR_MAX <= RX_MAX, "an ERROR text fits the receive buffer");

struct nook_process {
	pthread_t thread;
	bool started, joined;
	pthread_mutex_t lock;
	/* Under lock: signals and resizes for the relay; over: the relay ended. */
	unsigned char control[CONTROL_QUEUE * CONTROL_FRAME];
	size_t control_len;
	bool stdin_close, cancel, over;

	bool tty;
	int sock;        /* the connection, non-blocking */
	int wake;        /* eventfd: control frames, close_stdin, free */
	int stop_fd;     /* the VM's stop eventfd (nook_vm_exec), or -1 */
	int in_src;      /* the relay reads the program's stdin here; -1: none */
	int out_dst[2];  /* and writes its stdout, stderr here; -1: discarded */
	int caller_fd[3];/* the caller's pipe ends (nook_process_*_fd) */
	struct bytes request; /* the EXEC frame, sent first */
	char *path;      /* for messages */

	int status;      /* the result: 0..255, or -errno with error */
	nook_error *error;
};

void nook_exec_options_init(struct nook_exec_options *o)
{
	*o = (struct nook_exec_options){
		.rows = 24, .cols = 80,
		.stdin_fd = NOOK_EXEC_PIPE, .stdout_fd = NOOK_EXEC_PIPE, .stderr_fd = NOOK_EXEC_PIPE,
	};
}

/* ---- the request ---- */

static int check_options(const struct nook_exec_options *o, nook_error **err)
{
	if (!o || !o->argv || !o->argv[0] || !o->argv[0][0])
		return error_set(err, EINVAL, "exec: no program (argv[0] missing or empty)");
	for (size_t i = 0; o->env && o->env[i]; i++) {
		const char *eq = strchr(o->env[i], '=');
		if (!eq || eq == o->env[i])
			return error_set(err, EINVAL, "exec: env \"%s\": expected KEY=VALUE", o->env[i]);
	}
	if (o->workdir && o->workdir[0] != '/')
		return error_set(err, EINVAL, "exec: workdir \"%s\": must be an absolute path",
				 o->workdir);
	for (size_t i = 0; i < o->nrlimits; i++) {
		const struct nook_rlimit *r = &o->rlimits[i];
		if (r->resource < 0 || r->resource >= RLIM_NLIMITS || r->soft > r->hard)
			return error_set(err, EINVAL,
					 "exec: rlimit %d=%llu:%llu: unknown resource or soft above hard",
					 r->resource, (unsigned long long)r->soft,
					 (unsigned long long)r->hard);
	}
	const int fds[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
	static const char *const names[3] = {"stdin", "stdout", "stderr"};
	for (int i = 0; i < 3; i++)
		if (fds[i] < NOOK_EXEC_NULL || (fds[i] >= 0 && fcntl(fds[i], F_GETFD) < 0))
			return error_set(err, EINVAL,
					 "exec: %s fd %d: not an open fd, NOOK_EXEC_PIPE or "
					 "NOOK_EXEC_NULL",
					 names[i], fds[i]);
	return 0;
}

/* The EXEC frame: the records of guest/protocol.h. */
static int encode_request(const struct nook_exec_options *o, struct bytes *out, nook_error **err)
{
	if (o->user && vm_check_user(o->user, err) < 0)
		return -EINVAL;
	struct bytes b = {0};
	int r = guest_config_add_string(&b, NOOK_TAG_EXEC_PATH, o->argv[0]);
	for (size_t i = 1; r == 0 && o->argv[i]; i++)
		r = guest_config_add_string(&b, NOOK_TAG_ARG, o->argv[i]);
	for (size_t i = 0; r == 0 && o->env && o->env[i]; i++)
		r = guest_config_add_string(&b, NOOK_TAG_ENV, o->env[i]);
	if (r == 0 && o->workdir)
		r = guest_config_add_string(&b, NOOK_TAG_WORKDIR, o->workdir);
	for (size_t i = 0; r == 0 && i < o->nrlimits; i++)
		r = guest_config_add_rlimit(&b, (uint32_t)o->rlimits[i].resource, o->rlimits[i].soft,
					    o->rlimits[i].hard);
	if (r == 0 && o->user)
		r = guest_config_add_string(&b, NOOK_TAG_USER, o->user);
	if (r == 0 && o->tty)
		r = guest_config_add_tty(&b, o->rows, o->cols);
	if (r == 0 && b.len > NOOK_AGENT_EXEC_MAX)
		r = -E2BIG;
	if (r == 0)
		r = bytes_reserve(out, HDR + b.len);
	if (r == 0) {
		struct nook_agent_frame h = {.type = NOOK_AGENT_EXEC, .length = (uint32_t)b.len};
		bytes_put(out, &h, sizeof(h));
		bytes_put(out, b.data, b.len);
	}
	size_t len = b.len;
	bytes_free(&b);
	if (r == -E2BIG)
		return error_set(err, E2BIG, "exec: the request (arguments, environment) is %zu "
				 "bytes, at most %u", len, NOOK_AGENT_EXEC_MAX);
	if (r < 0)
		return error_set(err, -r, "exec: request: %s", strerror(-r));
	return 0;
}

/* ---- the connection ---- */

/* Text from the other end (the guest's ERROR, an answer to CONNECT) made
 * printable for a message: control bytes become '?'. */
static void printable(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			s[i] = '?';
	s[len] = '\0';
}

/* "OK <port>\n" from the vsock backend, read a byte at a time so that no
 * byte of the agent's is taken. */
static int read_connect_reply(int fd, int stop_fd, const char *path, int timeout_ms,
			      nook_error **err)
{
	char line[CONNECT_LINE_MAX + 1];
	size_t len = 0;
	uint64_t deadline = monotonic_ns() + (uint64_t)timeout_ms * 1000000;
	for (;;) {
		uint64_t now = monotonic_ns();
		if (now >= deadline)
			return error_set(err, ETIMEDOUT,
					 "exec: vsock socket %s: the guest did not answer within %d ms",
					 path, timeout_ms);
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};
		int n = poll(p, 2, (int)((deadline - now) / 1000000) + 1);
		if (n < 0 && errno != EINTR)
			return error_set(err, errno, "exec: poll: %s", strerror(errno));
		if (p[1].revents)
			return error_set(err, ESRCH, "exec: the sandbox has ended");
		if (n <= 0)
			continue;
		ssize_t got = read(fd, line + len, 1);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got == 0 || (got < 0 && errno == ECONNRESET))
			return error_set(err, ECONNREFUSED,
					 "exec: vsock socket %s: no agent is listening in the guest "
					 "(was the sandbox made with vsock?)",
					 path);
		if (got < 0)
			return error_set(err, errno, "exec: vsock socket %s: %s", path, strerror(errno));
		if (line[len] == '\n')
			break;
		if (++len == CONNECT_LINE_MAX)
			return error_set(err, EPROTO, "exec: vsock socket %s: answer too long", path);
	}
	printable(line, len);
	unsigned port;
	char extra;
	if (sscanf(line, "OK %u%c", &port, &extra) != 1)
		return error_set(err, EPROTO, "exec: vsock socket %s: unexpected answer \"%s\"", path,
				 line);
	return 0;
}

static int connect_agent(const char *path, int stop_fd, int timeout_ms, int *out,
			 nook_error **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(err, ENAMETOOLONG, "exec: vsock socket %s: path too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, errno, "exec: socket: %s", strerror(errno));
	char line[CONNECT_LINE_MAX];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", NOOK_AGENT_PORT);
	int r = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		r = error_set(err, errno, "exec: vsock socket %s: %s", path, strerror(errno));
	else if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		r = error_set(err, errno ? errno : EIO, "exec: vsock socket %s: %s", path,
			      strerror(errno ? errno : EIO));
	if (r == 0)
		r = read_connect_reply(fd, stop_fd, path, timeout_ms, err);
	if (r == 0 && fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		r = error_set(err, errno, "exec: %s", strerror(errno));
	if (r < 0) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* ---- the relay ---- */

struct relay {
	struct nook_process *p;
	size_t request_off;
	/* host -> guest: STDIN frames and control frames */
	unsigned char tx[HDR + NOOK_AGENT_DATA_MAX + CONTROL_QUEUE * CONTROL_FRAME];
	size_t tx_len;
	enum { STDIN_OPEN, STDIN_EOF_DUE, STDIN_EOF_SENT } stdin_state;
	/* guest -> host: the frame being read, and output being written */
	struct nook_agent_frame h;
	size_t rx_len; /* header and payload bytes read of the current frame */
	unsigned char rx[RX_MAX];
	size_t out_off;  /* of the payload written out; rx holds it until done */
	bool out_pending;
	bool vm_ended;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

__attribute__((format(printf, 3, 4)))
static int end_with(struct relay *r, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->p->status = error_set(&r->p->error, code, "%s", msg);
	return 1;
}

/* A whole frame from the guest. 1 when the exec is over. */
static int take_frame(struct relay *r)
{
	struct nook_process *p = r->p;
	switch (r->h.type) {
	case NOOK_AGENT_STDOUT:
	case NOOK_AGENT_STDERR:
		r->out_off = 0;
		r->out_pending = r->h.length > 0;
		return 0;
	case NOOK_AGENT_EXIT: {
		uint32_t status;
		memcpy(&status, r->rx, 4);
		if (status > 255)
			return end_with(r, EPROTO, "exec: the sandbox sent exit status %u, out of range",
					status);
		p->status = (int)status;
		return 1;
	}
	default: { /* NOOK_AGENT_ERROR: checked with the header */
		char text[NOOK_AGENT_ERROR_MAX + 1];
		memcpy(text, r->rx, r->h.length);
		printable(text, r->h.length);
		return end_with(r, EIO, "exec %s: the sandbox could not start the program: %s",
				p->path, text);
	}
	}
}

/* Reads the current frame on. 1 when the exec is over. */
static int read_guest(struct relay *r)
{
	struct nook_process *p = r->p;
	for (int frames = 0; frames < RX_FRAMES_PER_TURN;) {
		bool in_header = r->rx_len < HDR;
		size_t want = in_header ? HDR - r->rx_len : HDR + r->h.length - r->rx_len;
		void *dst = in_header ? (unsigned char *)&r->h + r->rx_len : r->rx + (r->rx_len - HDR);
		ssize_t n = want ? recv(p->sock, dst, want, MSG_DONTWAIT) : 0;
		/* A reset is an end too (the guest closed with our bytes unread). */
		if (want && (n == 0 || (n < 0 && errno == ECONNRESET)))
			return end_with(r, EPIPE, "exec %s: the sandbox ended the exec without an exit "
					"status", p->path);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (r->vm_ended)
				return end_with(r, ESRCH, "exec %s: the sandbox ended before the exec's "
						"exit status", p->path);
			return 0;
		}
		if (n < 0)
			return end_with(r, errno, "exec %s: connection: %s", p->path, strerror(errno));
		r->rx_len += (size_t)n;
		if (r->rx_len == HDR) {
			uint32_t t = r->h.type, len = r->h.length;
			bool ok = ((t == NOOK_AGENT_STDOUT || t == NOOK_AGENT_STDERR) && len <= RX_MAX) ||
				  (t == NOOK_AGENT_EXIT && len == 4) ||
				  (t == NOOK_AGENT_ERROR && len <= NOOK_AGENT_ERROR_MAX);
			if (!ok)
				return end_with(r, EPROTO, "exec %s: the sandbox sent a malformed frame "
						"(type %u, %u bytes)", p->path, t, len);
		}
		if (r->rx_len == HDR + r->h.length && r->rx_len >= HDR) {
			r->rx_len = 0;
			frames++;
			int done = take_frame(r);
			if (done || r->out_pending)
				return done;
		}
	}
	return 0;
}

/* Output to the caller: at most PIPE_BUF bytes per write, which a pipe that
 * poll() said is writable takes without blocking. */
static void write_output(struct relay *r)
{
	int i = r->h.type == NOOK_AGENT_STDERR;
	int fd = r->p->out_dst[i];
	size_t left = r->h.length - r->out_off;
	if (fd >= 0) {
		ssize_t n = write(fd, r->rx + r->out_off, left < PIPE_BUF ? left : PIPE_BUF);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n < 0) /* the caller stopped reading: dropped from now on */
			close_fd(&r->p->out_dst[i]);
		else
			left = (size_t)n;
	}
	r->out_off += left;
	r->out_pending = r->out_off < r->h.length;
}

static void append_frame(struct relay *r, uint32_t type, const void *data, uint32_t len)
{
	struct nook_agent_frame h = {.type = type, .length = len};
	memcpy(r->tx + r->tx_len, &h, HDR);
	if (len)
		memcpy(r->tx + r->tx_len + HDR, data, len);
	r->tx_len += HDR + len;
}

static void read_stdin(struct relay *r)
{
	struct nook_process *p = r->p;
	ssize_t n = read(p->in_src, r->tx + HDR, NOOK_AGENT_DATA_MAX);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		struct nook_agent_frame h = {.type = NOOK_AGENT_STDIN, .length = (uint32_t)n};
		memcpy(r->tx, &h, HDR);
		r->tx_len = HDR + (size_t)n;
		return;
	}
	/* End of file, or an fd that cannot be read: the program's stdin ends. */
	close_fd(&p->in_src);
	r->stdin_state = STDIN_EOF_DUE;
}

/* What the API calls queued: 1 when the exec is to end. */
static int take_requests(struct relay *r)
{
	struct nook_process *p = r->p;
	uint64_t count;
	if (read(p->wake, &count, sizeof(count)) < 0) {
		/* not woken: nothing new */
	}
	pthread_mutex_lock(&p->lock);
	/* Whole frames only go into tx, so these go after the last one; those
	 * that do not fit wait in the queue. */
	size_t room = sizeof(r->tx) - r->tx_len;
	size_t n = p->control_len < room ? p->control_len : room - room % CONTROL_FRAME;
	memcpy(r->tx + r->tx_len, p->control, n);
	r->tx_len += n;
	p->control_len -= n;
	memmove(p->control, p->control + n, p->control_len);
	bool close_stdin = p->stdin_close, cancel = p->cancel;
	p->stdin_close = false;
	pthread_mutex_unlock(&p->lock);
	if (close_stdin && r->stdin_state == STDIN_OPEN) {
		close_fd(&p->in_src);
		r->stdin_state = STDIN_EOF_DUE;
	}
	if (cancel)
		return end_with(r, ECANCELED, "exec %s: ended by nook_process_free()", p->path);
	return 0;
}

static void send_guest(struct relay *r)
{
	struct nook_process *p = r->p;
	const unsigned char *buf = r->tx;
	size_t len = r->tx_len;
	bool request = r->request_off < p->request.len;
	if (request) {
		buf = p->request.data + r->request_off;
		len = p->request.len - r->request_off;
	}
	ssize_t n = send(p->sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n <= 0)
		return; /* a broken connection shows on the reading side */
	if (request) {
		r->request_off += (size_t)n;
		return;
	}
	r->tx_len -= (size_t)n;
	memmove(r->tx, r->tx + n, r->tx_len);
}

static void *relay_main(void *arg)
{
	struct relay *r = calloc(1, sizeof(*r));
	struct nook_process *p = arg;
	if (!r) {
		p->status = error_set(&p->error, ENOMEM, "exec: out of memory");
		goto out;
	}
	r->p = p;
	for (;;) {
		if (take_requests(r))
			break;
		bool request = r->request_off < p->request.len;
		if (r->stdin_state == STDIN_EOF_DUE && r->tx_len + HDR <= sizeof(r->tx)) {
			append_frame(r, NOOK_AGENT_STDIN, NULL, 0);
			r->stdin_state = STDIN_EOF_SENT;
		}
		enum { SOCK, IN, OUT, WAKE, STOP, N };
		int out_fd = r->out_pending ? p->out_dst[r->h.type == NOOK_AGENT_STDERR] : -1;
		struct pollfd pfd[N] = {
			[SOCK] = {.fd = p->sock,
				  .events = (short)((r->out_pending ? 0 : POLLIN) |
						    (request || r->tx_len ? POLLOUT : 0))},
			/* One STDIN frame at a time, whole, after the request. */
			[IN] = {.fd = !request && r->tx_len == 0 ? p->in_src : -1, .events = POLLIN},
			[OUT] = {.fd = out_fd, .events = POLLOUT},
			[WAKE] = {.fd = p->wake, .events = POLLIN},
			[STOP] = {.fd = r->vm_ended ? -1 : p->stop_fd, .events = POLLIN},
		};
		/* Discarded output needs no fd to be written to; after the VM's
		 * end, what the connection still holds is read without waiting. */
		int timeout = (r->out_pending && out_fd < 0) || (r->vm_ended && !r->out_pending) ? 0 : -1;
		if (poll(pfd, N, timeout) < 0 && errno != EINTR) {
			p->status = error_set(&p->error, errno, "exec: poll: %s", strerror(errno));
			break;
		}
		if (pfd[STOP].revents)
			r->vm_ended = true;
		if (pfd[SOCK].revents & POLLOUT)
			send_guest(r);
		if (pfd[IN].revents)
			read_stdin(r);
		if (r->out_pending && (out_fd < 0 || pfd[OUT].revents))
			write_output(r);
		if (!r->out_pending &&
		    ((pfd[SOCK].revents & (POLLIN | POLLHUP | POLLERR)) || r->vm_ended) &&
		    read_guest(r))
			break;
	}
out:
	free(r);
	/* The connection's end kills the program if it still runs; the
	 * output pipes' end is the caller's end of file. */
	close_fd(&p->sock);
	close_fd(&p->in_src);
	close_fd(&p->out_dst[0]);
	close_fd(&p->out_dst[1]);
	pthread_mutex_lock(&p->lock);
	p->over = true;
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* ---- the process ---- */

/* The relay's end and the caller's end of one stdio stream. */
static int set_up_stream(struct nook_process *p, int i, int fd, nook_error **err)
{
	static const char *const names[3] = {"stdin", "stdout", "stderr"};
	int *relay_fd = i == 0 ? &p->in_src : &p->out_dst[i - 1];
	if (fd == NOOK_EXEC_NULL)
		return 0;
	if (fd >= 0) {
		/* The caller's fd is read or written only after poll() says so:
		 * its O_NONBLOCK flag, shared with the caller, stays as it is. */
		if ((*relay_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
			return error_set(err, errno, "exec: %s fd %d: %s", names[i], fd, strerror(errno));
		return 0;
	}
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return error_set(err, errno, "exec: %s pipe: %s", names[i], strerror(errno));
	int ours = i == 0 ? pipefd[0] : pipefd[1];
	*relay_fd = ours;
	p->caller_fd[i] = i == 0 ? pipefd[1] : pipefd[0];
	fcntl(ours, F_SETFL, O_NONBLOCK);
	return 0;
}

static int start(const char *vsock_path, int stop_fd, const struct nook_exec_options *o,
		 nook_process **out, nook_error **err)
{
	*out = NULL;
	int r = check_options(o, err);
	if (r < 0)
		return r;
	nook_process *p = calloc(1, sizeof(*p));
	if (!p)
		return error_set(err, ENOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	p->wake = p->sock = p->in_src = p->out_dst[0] = p->out_dst[1] = -1;
	p->caller_fd[0] = p->caller_fd[1] = p->caller_fd[2] = -1;
	p->stop_fd = stop_fd;
	p->tty = o->tty;
	if (!(p->path = strdup(vsock_path)))
		r = error_set(err, ENOMEM, "out of memory");
	if (r == 0 && (p->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		r = error_set(err, errno, "exec: eventfd: %s", strerror(errno));
	const int fds[3] = {o->stdin_fd, o->stdout_fd, o->stderr_fd};
	for (int i = 0; r == 0 && i < 3; i++)
		r = set_up_stream(p, i, fds[i], err);
	if (r == 0)
		r = encode_request(o, &p->request, err);
	if (r == 0)
		r = connect_agent(vsock_path, stop_fd, CONNECT_TIMEOUT_MS, &p->sock, err);
	if (r == 0) {
		/* Without stdin the program's is at end of file at once. */
		p->stdin_close = o->stdin_fd == NOOK_EXEC_NULL;
		if ((r = -pthread_create(&p->thread, NULL, relay_main, p)) < 0)
			error_set(err, -r, "exec: thread: %s", strerror(-r));
		p->started = r == 0;
	}
	if (r < 0) {
		nook_process_free(p);
		return r;
	}
	*out = p;
	return 0;
}

int nook_exec(const char *vsock_path, const struct nook_exec_options *o, nook_process **out,
	      nook_error **err)
{
	if (!vsock_path || !*vsock_path) {
		*out = NULL;
		return error_set(err, EINVAL, "exec: no vsock socket path");
	}
	return start(vsock_path, -1, o, out, err);
}

/* How often nook_vm_exec() looks whether the agent is up yet. */
#define AGENT_POLL_MS 20

int nook_vm_exec(nook_vm *vm, const struct nook_exec_options *o, nook_process **out,
		 nook_error **err)
{
	*out = NULL;
	if (!vm->vsock_path)
		return error_set(err, ENOTSUP, "exec: the VM has no vsock socket path "
				 "(nook_vm_config_set_vsock_path)");
	if (!vm->ready_point)
		return error_set(err, ENOTSUP, "exec: the VM's PID 1 is not nook-init: no agent");
	if (vm->state == VM_BUILT)
		return error_set(err, EINVAL, "exec: the VM was not started");
	struct machine *m = &vm->machine;
	while (!atomic_load(&vm->boot_port.t_program) && !machine_stopping(m)) {
		struct pollfd pfd = {.fd = m->stop_fd, .events = POLLIN};
		poll(&pfd, 1, AGENT_POLL_MS);
	}
	if (machine_stopping(m))
		return error_set(err, ESRCH, "exec: the sandbox has ended");
	return start(vm->vsock_path, m->stop_fd, o, out, err);
}

/* A guest whose agent listens answers at once; one that is still
 * booting has its connection closed (or reset) at once. */
#define PING_TIMEOUT_MS 2000

int nook_exec_ping(const char *vsock_path)
{
	int fd;
	nook_error *err = NULL;
	int r = connect_agent(vsock_path, -1, PING_TIMEOUT_MS, &fd, &err);
	nook_error_free(err);
	if (r == 0)
		close(fd);
	return r;
}

int nook_process_stdin_fd(const nook_process *p)
{
	return p->caller_fd[0];
}

int nook_process_stdout_fd(const nook_process *p)
{
	return p->caller_fd[1];
}

int nook_process_stderr_fd(const nook_process *p)
{
	return p->caller_fd[2];
}

static void wake(nook_process *p)
{
	uint64_t one = 1;
	if (write(p->wake, &one, sizeof(one)) < 0) {
		/* the counter is far from full: the relay wakes anyway */
	}
}

int nook_process_close_stdin(nook_process *p)
{
	if (p->caller_fd[0] >= 0) {
		/* The relay reads what was written, then end of file. */
		close_fd(&p->caller_fd[0]);
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	p->stdin_close = true;
	pthread_mutex_unlock(&p->lock);
	wake(p);
	return 0;
}

static int queue_control(nook_process *p, uint32_t type, const void *payload)
{
	pthread_mutex_lock(&p->lock);
	int r = 0;
	if (p->over)
		r = -ESRCH;
	else if (p->control_len + CONTROL_FRAME > sizeof(p->control))
		r = -EAGAIN;
	if (r == 0) {
		struct nook_agent_frame h = {.type = type, .length = 4};
		memcpy(p->control + p->control_len, &h, HDR);
		memcpy(p->control + p->control_len + HDR, payload, 4);
		p->control_len += CONTROL_FRAME;
	}
	pthread_mutex_unlock(&p->lock);
	if (r == 0)
		wake(p);
	return r;
}

int nook_process_signal(nook_process *p, int signo)
{
	if (signo < 1 || signo > 64)
		return -EINVAL;
	uint32_t s = (uint32_t)signo;
	return queue_control(p, NOOK_AGENT_SIGNAL, &s);
}

int nook_process_resize(nook_process *p, unsigned rows, unsigned cols)
{
	if (!p->tty)
		return -ENOTTY;
	if (rows < 1 || rows > UINT16_MAX || cols < 1 || cols > UINT16_MAX)
		return -EINVAL;
	struct nook_agent_winsize w = {.rows = (uint16_t)rows, .cols = (uint16_t)cols};
	return queue_control(p, NOOK_AGENT_WINSIZE, &w);
}

int nook_process_wait(nook_process *p, nook_error **err)
{
	if (p->started && !p->joined) {
		pthread_join(p->thread, NULL);
		p->joined = true;
	}
	if (p->status < 0)
		return error_set(err, nook_error_code(p->error), "%s", nook_error_message(p->error));
	return p->status;
}

void nook_process_free(nook_process *p)
{
	if (!p)
		return;
	if (p->started && !p->joined) {
		pthread_mutex_lock(&p->lock);
		p->cancel = true;
		pthread_mutex_unlock(&p->lock);
		wake(p);
		pthread_join(p->thread, NULL);
	}
	close_fd(&p->sock);
	close_fd(&p->in_src);
	close_fd(&p->out_dst[0]);
	close_fd(&p->out_dst[1]);
	for (int i = 0; i < 3; i++)
		close_fd(&p->caller_fd[i]);
	close_fd(&p->wake);
	bytes_free(&p->request);
	nook_error_free(p->error);
	free(p->path);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
