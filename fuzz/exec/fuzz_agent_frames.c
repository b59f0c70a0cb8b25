/* Fuzz target for the host side of exec (vm/exec.c): what the "guest"
 * sends on the agent connection (guest/agent_protocol.h), any bytes,
 * reaches the real relay through the public API. nook_exec() connects to a
 * UNIX socket of the target's in a temporary directory, as to a VM's vsock
 * socket; a thread of the target plays the vsock backend and the guest's
 * agent: it takes the "CONNECT P" line, answers (the input's answer or
 * "OK 1"), sends the input's byte stream (frames of any type and length,
 * truncated ones, EXIT twice, ERROR text with control bytes), ends its
 * side and reads what the relay sends until the relay closes. The caller
 * reads its output pipes to their end, or has the output discarded, then
 * waits for the exit status; every run ends by the relay's own rules (end
 * of stream, a malformed frame, EXIT, ERROR), never a timer.
 *
 * What must hold: no crash, leak, hang or sanitizer report; the status is
 * 0..255 or an error whose message is printable; after nook_process_free()
 * the process has the fds it had before.
 *
 * Input: byte 0: bits 0-1 stdout and bits 2-3 stderr (0 a pipe the caller
 * reads, 1 NOOK_EXEC_NULL, 2 /dev/null, 3 a pipe the caller reads), bit 4
 * a terminal, bit 5 the caller signals and resizes while it runs, bit 6
 * stdin is a pipe the caller closes at once (else NOOK_EXEC_NULL), bit 7
 * the answer to CONNECT is the input's up to its first newline (at most 40
 * bytes); the rest is the guest's stream. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <nook/exec.h>

#include "fuzz/fake_guest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[96];
static int listener;

struct guest {
	const uint8_t *reply, *stream;
	size_t reply_len, stream_len;
};

static void remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

static void set_up(void)
{
	snprintf(dir, sizeof(dir), "/tmp/nook-fuzz-exec-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
	snprintf(path, sizeof(path), "%s/v.sock", dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listener, 4) < 0)
		abort();
}

static void send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* the relay ended and closed */
		p += n;
		len -= (size_t)n;
	}
}

/* The vsock backend and the agent, on the connection nook_exec() makes. */
static void *guest_main(void *arg)
{
	const struct guest *gu = arg;
	int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		abort();
	char line[64];
	size_t len = 0;
	while (len < sizeof(line) && recv(fd, line + len, 1, 0) == 1 && line[len++] != '\n')
		;
	send_all(fd, gu->reply, gu->reply_len);
	send_all(fd, gu->stream, gu->stream_len);
	shutdown(fd, SHUT_WR);
	/* What the relay sends (the request, stdin), until it closes. */
	while (recv(fd, line, sizeof(line), 0) > 0)
		;
	close(fd);
	return NULL;
}

static int output_fd(unsigned how, int null_fd)
{
	return how == 1 ? NOOK_EXEC_NULL : how == 2 ? null_fd : NOOK_EXEC_PIPE;
}

/* The caller reads its output pipes to their end (the relay's end). */
static void read_outputs(nook_process *p)
{
	struct pollfd pfd[2] = {{.fd = nook_process_stdout_fd(p), .events = POLLIN},
				{.fd = nook_process_stderr_fd(p), .events = POLLIN}};
	char buf[4096];
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			abort();
		for (int i = 0; i < 2; i++)
			if (pfd[i].revents && read(pfd[i].fd, buf, sizeof(buf)) <= 0)
				pfd[i].fd = -1;
	}
}

static void check_message(const char *msg)
{
	for (const char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) {
			fprintf(stderr, "fuzz_agent_frames: unprintable error: %s\n", msg);
			abort();
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		set_up();
		ready = true;
	}
	if (size < 1)
		return 0;
	uint8_t how = data[0];
	struct guest gu = {.reply = (const uint8_t *)"OK 1\n", .reply_len = 5,
			   .stream = data + 1, .stream_len = size - 1};
	if (how & 0x80) {
		const uint8_t *nl = memchr(data + 1, '\n', size - 1 < 40 ? size - 1 : 40);
		gu.reply = data + 1;
		gu.reply_len = nl ? (size_t)(nl - gu.reply) + 1 : (size - 1 < 40 ? size - 1 : 40);
		gu.stream = gu.reply + gu.reply_len;
		gu.stream_len = size - 1 - gu.reply_len;
	}
	/* Counted per input: libFuzzer's symbolizer opens fds of its own between
	 * inputs. */
	unsigned base_fds = fake_guest_open_fds(false);
	int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0)
		abort();
	static const char *const argv[] = {"/bin/true", NULL};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	o.tty = how & 0x10;
	o.stdin_fd = how & 0x40 ? NOOK_EXEC_PIPE : NOOK_EXEC_NULL;
	o.stdout_fd = output_fd(how & 3, null_fd);
	o.stderr_fd = output_fd((how >> 2) & 3, null_fd);

	pthread_t guest;
	if (pthread_create(&guest, NULL, guest_main, &gu) != 0)
		abort();
	nook_process *p = NULL;
	nook_error *err = NULL;
	if (nook_exec(path, &o, &p, &err) < 0) {
		/* A refused answer: the guest saw its connection closed. */
		check_message(nook_error_message(err));
		nook_error_free(err);
	} else {
		if (how & 0x20) {
			nook_process_signal(p, 15);
			nook_process_resize(p, 50, 132);
		}
		if (how & 0x40)
			nook_process_close_stdin(p);
		read_outputs(p);
		int status = nook_process_wait(p, &err);
		if (status > 255 || (status < 0 && !err))
			abort();
		if (err)
			check_message(nook_error_message(err));
		nook_error_free(err);
		nook_process_free(p);
	}
	pthread_join(guest, NULL);
	close(null_fd);
	if (fake_guest_open_fds(false) != base_fds) {
		fprintf(stderr, "fuzz_agent_frames: fds left (%u before):\n", base_fds);
		fake_guest_open_fds(true);
		abort();
	}
	return 0;
}
