/* Console ports the CLI cannot make, through the public API, in one boot
 * (TAP lines without numbers, which test_e2e_console.sh numbers):
 *   ports_driver BYTES
 * A terminal port on a pseudo-terminal (nook_vm_config_add_console_tty):
 * raw while the VM exists, restored after; the guest reads a line from it
 * and answers on it. Two ports of a custom backend
 * (nook_vm_config_add_console_custom): the guest copies what "cin"'s read
 * callback gives (BYTES of a pattern, then end of file) to "cout", whose
 * write callback checks it. Every wait has a deadline. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <nook/devices.h>
#include <nook/vm.h>

#include "driver_tap.h"

static const char guest_script[] =
	"read l </dev/virtio-ports/tty && echo \"pong:$l\" >/dev/virtio-ports/tty\n"
	"cat /dev/virtio-ports/cin >/dev/virtio-ports/cout\n";


static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

/* cin: the pattern, in pieces of at most 1000 bytes, then end of file. */
struct source {
	size_t total, sent;
};

static ssize_t source_read(void *opaque, void *buf, size_t size)
{
	struct source *s = opaque;
	size_t n = s->total - s->sent;
	if (n > size)
		n = size;
	if (n > 1000)
		n = 1000;
	for (size_t i = 0; i < n; i++)
		((unsigned char *)buf)[i] = pattern(s->sent + i);
	s->sent += n;
	return (ssize_t)n;
}

/* cout: counts what matches the pattern, in order. */
struct sink {
	pthread_mutex_t lock;
	size_t got, bad;
};

static ssize_t sink_write(void *opaque, const void *buf, size_t len)
{
	struct sink *s = opaque;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < len; i++)
		s->bad += ((const unsigned char *)buf)[i] != pattern(s->got + i);
	s->got += len;
	pthread_mutex_unlock(&s->lock);
	return (ssize_t)len;
}

static bool cooked(int fd)
{
	struct termios t;
	return tcgetattr(fd, &t) == 0 && (t.c_lflag & ICANON) && (t.c_lflag & ECHO);
}

/* Reads the master side until `want` shows up or timeout_s passes. */
static bool read_until(int fd, const char *want, double timeout_s, char *buf, size_t size)
{
	size_t len = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	buf[0] = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		double left = timeout_s - (double)(t.tv_sec - t0.tv_sec) -
			      (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			return false;
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, want))
			return true;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ports_driver BYTES\n");
		return 125;
	}
	signal(SIGPIPE, SIG_IGN);
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	int slave = -1;
	if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0)
		slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		printf("Bail out! no pseudo-terminal: %s\n", strerror(errno));
		return 125;
	}
	check(cooked(slave), "the terminal starts cooked (canonical, echo)");
	struct source src = {.total = (size_t)atol(argv[1])};
	struct sink snk = {.lock = PTHREAD_MUTEX_INITIALIZER};
	const struct nook_console_port_backend in = {.read = source_read};
	const struct nook_console_port_backend out = {.write = sink_write};
	nook_vm_config *cfg = nook_vm_config_new();
	nook_vm_config_add_console_tty(cfg, "tty", slave);
	nook_vm_config_add_console_custom(cfg, "cin", &in, &src);
	nook_vm_config_add_console_custom(cfg, "cout", &out, &snk);
	nook_vm_config_set_exec_path(cfg, "/bin/sh");
	nook_vm_config_add_arg(cfg, "-c");
	nook_vm_config_add_arg(cfg, guest_script);
	nook_vm_config_set_log(cfg, NOOK_LOG_INFO, NULL, NULL);
	nook_vm *vm = driver_start(cfg);
	if (!vm)
		return 125;
	struct termios t;
	check(tcgetattr(slave, &t) == 0 && !(t.c_lflag & (ICANON | ECHO)),
	      "the terminal is raw while the VM exists");
	/* Input waits in the terminal until the guest opens the port. */
	check(write(master, "ping\n", 5) == 5, "a line typed on the terminal");
	char buf[4096];
	bool answered = read_until(master, "pong:ping", 600, buf, sizeof(buf));
	check(answered, "the guest read the line from its terminal port and answered on it");
	if (!answered)
		printf("# the terminal showed: %s\n", buf);
	check(!strstr(buf, "ping\r\n") && !strstr(buf, "ping\npong"),
	      "raw: the terminal did not echo the line");
	nook_error *err = NULL;
	int r = nook_vm_wait(vm, &err);
	check(r == 0, "the guest program exited 0 (%d%s%s)", r, r < 0 ? ": " : "",
	      r < 0 ? nook_error_message(err) : "");
	nook_error_free(err);
	check(src.sent == src.total, "custom backend: the guest read all %zu bytes of cin", src.total);
	pthread_mutex_lock(&snk.lock);
	check(snk.got == src.total && snk.bad == 0,
	      "custom backend: cout got them back in order (%zu bytes, %zu wrong)", snk.got,
	      snk.bad);
	pthread_mutex_unlock(&snk.lock);
	nook_vm_free(vm);
	check(cooked(slave), "the terminal is cooked again after the VM");
	close(slave);
	close(master);
	return failures ? 1 : 0;
}
