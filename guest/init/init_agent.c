#include "guest/init/init_agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "guest/agent_protocol.h"
#include "guest/init/init_config.h"
#include "guest/init/init_control.h"
#include "guest/init/init_run.h"
#include "guest/protocol.h"
#include "guest/vsock_addr.h"

/* The EXEC request is read like a control message: same framing, same
 * bound. */
_Static_assert(sizeof(struct nook_agent_frame) == sizeof(struct nook_msg_header),
	       "agent frames are framed like control messages");
_Static_assert(NOOK_AGENT_EXEC_MAX == NOOK_MSG_MAX, "EXEC requests are bounded like CONFIG");


#define LISTEN_BACKLOG 64
/* How long accept() rests after running out of fds or memory. */
#define ACCEPT_RETRY_MS 100
/* How long a handler waits for the host to close after the EXIT frame. */
#define CLOSE_WAIT_MS 1000

#define HDR sizeof(struct nook_agent_frame)
/* The relay's bounded buffers: one frame from the host, two frames of
 * stdin, two frames of output. */
#define RX_CAP (HDR + NOOK_AGENT_DATA_MAX)
#define STDIN_CAP (2 * NOOK_AGENT_DATA_MAX)
#define TX_CAP (2 * (HDR + NOOK_AGENT_DATA_MAX))

int init_agent_listen(uint32_t port)
{
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	struct vsock_addr sa = { .svm_family = AF_VSOCK, .svm_port = port, .svm_cid = VMADDR_CID_ANY };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

static void rest_ms(long ms)
{
	nanosleep(&(struct timespec){ .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L }, NULL);
}

static void reap_all(int sfd)
{
	struct signalfd_siginfo si;

	while (sfd >= 0 && read(sfd, &si, sizeof(si)) == sizeof(si))
		;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

_Noreturn void init_agent_main(int listen_fd)
{
	/* PID 1's access to the paravirtual port is inherited; the agent and
	 * what it runs must not report events in nook-init's name. */
	ioperm(NOOK_PORT, 4, 0);
	/* SIGCHLD stays blocked (all are, from PID 1) and comes through here;
	 * without a signalfd the loop polls for dead handlers every second. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

	for (;;) {
		struct pollfd p[2] = { { .fd = listen_fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };

		poll(p, 2, sfd < 0 ? 1000 : -1);
		reap_all(sfd);
		if (!(p[0].revents & POLLIN))
			continue;
		int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)
				rest_ms(ACCEPT_RETRY_MS);
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			close(listen_fd);
			if (sfd >= 0)
				close(sfd);
			init_agent_serve(c);
		}
		close(c);
	}
}

/* ---- the handler ---- */

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Before the program started: an ERROR frame, and the end. */
__attribute__((format(printf, 2, 3)))
static _Noreturn void refuse(int sock, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	struct nook_agent_frame h = { .type = NOOK_AGENT_ERROR, .length = (uint32_t)n };
	write_all(sock, &h, sizeof(h));
	write_all(sock, msg, (size_t)n);
	_exit(1);
}

struct relay {
	int sock;
	pid_t pid;         /* the program, and its process group */
	bool tty;
	int master;        /* the terminal's master (for its size), or -1 */
	int in_fd;         /* where the program's stdin is written; -1: closed */
	int out_fd[2];     /* its stdout and stderr (a terminal: one); -1: closed */
	bool in_eof;       /* the host sent end of file */
	bool host_gone;    /* closed, failed or broke the protocol */
	bool exited;
	int status;
	uint64_t deadline; /* ms: exited, the output gets until then */
	size_t rx_len, in_len, tx_len;
	unsigned char rx[RX_CAP], in[STDIN_CAP], tx[TX_CAP];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void nonblocking(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* The host's frames, in order, as far as they can be taken. */
static void take_frames(struct relay *r)
{
	while (r->rx_len >= HDR && !r->host_gone) {
		struct nook_agent_frame h;

		memcpy(&h, r->rx, HDR);
		bool ok = (h.type == NOOK_AGENT_STDIN && h.length <= NOOK_AGENT_DATA_MAX) ||
			  ((h.type == NOOK_AGENT_SIGNAL || h.type == NOOK_AGENT_WINSIZE) && h.length == 4);
		if (!ok) {
			r->host_gone = true;
			return;
		}
		if (r->rx_len < HDR + h.length)
			return;
		const unsigned char *v = r->rx + HDR;
		if (h.type == NOOK_AGENT_STDIN) {
			if (h.length == 0) {
				r->in_eof = true;
			} else if (r->in_fd >= 0 && !r->in_eof) {
				if (r->in_len + h.length > STDIN_CAP)
					return; /* until the program reads */
				memcpy(r->in + r->in_len, v, h.length);
				r->in_len += h.length;
			}
		} else if (h.type == NOOK_AGENT_SIGNAL) {
			uint32_t signo;

			memcpy(&signo, v, 4);
			if (signo > 0 && signo < NSIG)
				kill(-r->pid, (int)signo);
		} else if (r->master >= 0) {
			struct nook_agent_winsize w;

			memcpy(&w, v, 4);
			ioctl(r->master, TIOCSWINSZ, &(struct winsize){ .ws_row = w.rows, .ws_col = w.cols });
		}
		r->rx_len -= HDR + h.length;
		memmove(r->rx, r->rx + HDR + h.length, r->rx_len);
	}
}

static void read_host(struct relay *r)
{
	ssize_t n = recv(r->sock, r->rx + r->rx_len, RX_CAP - r->rx_len, MSG_DONTWAIT);

	if (n > 0)
		r->rx_len += (size_t)n;
	else if (n == 0 || (errno != EAGAIN && errno != EINTR))
		r->host_gone = true;
}

static void write_host(struct relay *r)
{
	ssize_t n = send(r->sock, r->tx, r->tx_len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n > 0) {
		r->tx_len -= (size_t)n;
		memmove(r->tx, r->tx + n, r->tx_len);
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		r->host_gone = true;
	}
}

static void write_stdin(struct relay *r)
{
	if (r->in_len == 0) {
		/* End of file: a pipe closes; a terminal gets its EOF character. */
		if (r->tty && write(r->in_fd, "\x04", 1) < 0 && errno == EAGAIN)
			return;
		close_fd(&r->in_fd);
		return;
	}
	ssize_t n = write(r->in_fd, r->in, r->in_len);
	if (n > 0) {
		r->in_len -= (size_t)n;
		memmove(r->in, r->in + n, r->in_len);
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		/* The program closed its stdin: what comes for it is dropped. */
		close_fd(&r->in_fd);
		r->in_len = 0;
	}
}

static void read_output(struct relay *r, int i)
{
	size_t room = TX_CAP - r->tx_len - HDR;

	if (room > NOOK_AGENT_DATA_MAX)
		room = NOOK_AGENT_DATA_MAX;
	ssize_t n = read(r->out_fd[i], r->tx + r->tx_len + HDR, room);
	if (n > 0) {
		struct nook_agent_frame h = { .type = i ? NOOK_AGENT_STDERR : NOOK_AGENT_STDOUT,
					      .length = (uint32_t)n };
		memcpy(r->tx + r->tx_len, &h, HDR);
		r->tx_len += HDR + (size_t)n;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		/* End of file, or EIO from a terminal whose every slave is closed. */
		close_fd(&r->out_fd[i]);
	}
}

static void reap_program(struct relay *r, int sfd)
{
	struct signalfd_siginfo si;
	int wstatus;

	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		;
	if (r->exited || waitpid(r->pid, &wstatus, WNOHANG) != r->pid)
		return;
	r->exited = true;
	r->status = init_exit_status(wstatus);
	r->deadline = now_ms() + NOOK_AGENT_DRAIN_MS;
	/* Nobody reads stdin any more (children left behind are not the exec). */
	close_fd(&r->in_fd);
	r->in_len = 0;
}

/* Moves bytes until the program has exited and its output ended (or its
 * drain time passed), or the host is gone. */
static void relay(struct relay *r, int sfd)
{
	enum { SOCK, IN, OUT, ERR, SIG, N };

	for (;;) {
		take_frames(r);
		if (r->host_gone)
			return;
		uint64_t now = now_ms();
		if (r->exited && ((r->out_fd[0] < 0 && r->out_fd[1] < 0) || now >= r->deadline))
			return;
		bool out_room = TX_CAP - r->tx_len > HDR;
		bool want_in = r->in_fd >= 0 && (r->in_len || r->in_eof);
		struct pollfd p[N] = {
			[SOCK] = { .fd = r->sock,
				   .events = (short)((r->rx_len < RX_CAP ? POLLIN : 0) |
						     (r->tx_len ? POLLOUT : 0)) },
			[IN] = { .fd = want_in ? r->in_fd : -1, .events = POLLOUT },
			[OUT] = { .fd = out_room ? r->out_fd[0] : -1, .events = POLLIN },
			[ERR] = { .fd = out_room ? r->out_fd[1] : -1, .events = POLLIN },
			[SIG] = { .fd = sfd, .events = POLLIN },
		};
		int timeout = r->exited ? (int)(r->deadline - now) : -1;
		if (poll(p, N, timeout) < 0)
			continue;
		if (p[SIG].revents)
			reap_program(r, sfd);
		if (p[SOCK].revents & (POLLHUP | POLLERR) && !(p[SOCK].events & POLLIN)) {
			r->host_gone = true;
			return;
		}
		if (p[SOCK].revents & (POLLIN | POLLHUP | POLLERR))
			read_host(r);
		if (p[SOCK].revents & POLLOUT)
			write_host(r);
		if (p[IN].revents && r->in_fd >= 0)
			write_stdin(r);
		for (int i = 0; i < 2; i++)
			if (p[OUT + i].revents && r->out_fd[i] >= 0)
				read_output(r, i);
	}
}

/* What is left in tx, blocking; false when the host is gone. */
static bool flush_host(struct relay *r)
{
	while (r->tx_len && !r->host_gone) {
		struct pollfd p = { .fd = r->sock, .events = POLLOUT };

		if (poll(&p, 1, -1) > 0)
			write_host(r);
	}
	return !r->host_gone;
}

static struct relay relay_state;

_Noreturn void init_agent_serve(int sock)
{
	struct relay *r = &relay_state;
	uint32_t type;
	void *msg;
	size_t len;
	char err[256];
	struct init_config cfg;

	int rc = init_control_read(sock, &type, &msg, &len);
	if (rc == -EPROTO)
		refuse(sock, "exec request: cut short or longer than %u bytes", NOOK_AGENT_EXEC_MAX);
	if (rc <= 0)
		_exit(1);
	if (type != NOOK_AGENT_EXEC)
		refuse(sock, "expected an exec request first, got a frame of type %u", type);
	if (init_exec_request_parse(msg, len, &cfg, err, sizeof(err)) < 0)
		refuse(sock, "exec request: %s", err);
	free(msg);

	*r = (struct relay){ .sock = sock, .master = -1, .in_fd = -1, .out_fd = { -1, -1 },
			     .tty = cfg.tty };
	int stdio[3];
	if (cfg.tty) {
		int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		const char *name = m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0 ? ptsname(m) : NULL;
		int s = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
		if (s < 0)
			refuse(sock, "terminal: %s", strerror(errno));
		if (cfg.rows || cfg.cols)
			ioctl(m, TIOCSWINSZ, &(struct winsize){ .ws_row = cfg.rows, .ws_col = cfg.cols });
		stdio[0] = stdio[1] = stdio[2] = s;
		r->master = m;
		r->in_fd = fcntl(m, F_DUPFD_CLOEXEC, 3);
		r->out_fd[0] = fcntl(m, F_DUPFD_CLOEXEC, 3);
		if (r->in_fd < 0 || r->out_fd[0] < 0)
			refuse(sock, "terminal: %s", strerror(errno));
	} else {
		int in[2], out[2], errp[2];

		if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
			refuse(sock, "pipes: %s", strerror(errno));
		stdio[0] = in[0];
		stdio[1] = out[1];
		stdio[2] = errp[1];
		r->in_fd = in[1];
		r->out_fd[0] = out[0];
		r->out_fd[1] = errp[0];
	}
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		refuse(sock, "signalfd: %s", strerror(errno));

	sigset_t none;
	sigemptyset(&none);
	r->pid = init_spawn(&cfg, stdio, &none);
	if (r->pid < 0)
		refuse(sock, "starting the program: %s", strerror((int)-r->pid));
	close(stdio[0]);
	if (!cfg.tty) {
		close(stdio[1]);
		close(stdio[2]);
	}
	init_config_free(&cfg);
	nonblocking(sock);
	nonblocking(r->in_fd);
	nonblocking(r->out_fd[0]);
	nonblocking(r->out_fd[1]);

	relay(r, sfd);
	if (r->host_gone) {
		/* Nobody wants the program any more. */
		kill(-r->pid, SIGKILL);
		if (!r->exited)
			waitpid(r->pid, NULL, 0);
		_exit(0);
	}
	close_fd(&r->out_fd[0]);
	close_fd(&r->out_fd[1]);
	struct nook_agent_frame h = { .type = NOOK_AGENT_EXIT, .length = 4 };
	uint32_t status = (uint32_t)r->status;
	if (flush_host(r)) {
		memcpy(r->tx, &h, HDR);
		memcpy(r->tx + HDR, &status, 4);
		r->tx_len = HDR + 4;
		if (flush_host(r)) {
			/* The host closes once it has the status; waiting for that
			 * keeps the last bytes from racing the close. */
			shutdown(sock, SHUT_WR);
			uint64_t end = now_ms() + CLOSE_WAIT_MS;
			for (uint64_t now; (now = now_ms()) < end;) {
				struct pollfd p = { .fd = sock, .events = POLLIN };
				char drop[256];

				if (poll(&p, 1, (int)(end - now)) <= 0 || recv(sock, drop, sizeof(drop), 0) <= 0)
					break;
			}
		}
	}
	_exit(0);
}
