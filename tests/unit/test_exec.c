/* Exec without a VM: the host client (vm/exec.c, nook/exec.h) against a
 * fake vsock backend on a UNIX socket that answers "CONNECT P\n" like
 * backends/vsock/unix.c and then plays the guest:
 *   - scripted hostile guests: malformed and oversized frames, unknown
 *     types, data after EXIT, EXIT twice, a status out of range, an ERROR,
 *     a connection that ends without EXIT, one that never answers, no
 *     agent at all;
 *   - nook-init's real agent handler (guest/init/init_agent.c) in a forked
 *     process, running real programs on this host: separate stdout and
 *     stderr, stdin with end of file, exit statuses, signals, a terminal
 *     and its size, a program flooding output that never reads its stdin
 *     while the host writes to it, a background child holding stdout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nook/exec.h>

#include "guest/agent_protocol.h"
#include "guest/init/init_agent.h"
#include "guest/init/init_config.h"
#include "util/bytes.h"

enum mode { SCRIPT, NO_AGENT, AGENT, ANSWER };

struct server {
	char dir[64], path[108];
	int lfd;
	enum mode mode;
	const void *script; /* SCRIPT: sent after the request; ANSWER: the answer */
	size_t script_len;
	int hold_ms;        /* then the connection stays open this long */
	pthread_t thread;
	bool joined;
	struct bytes request; /* the EXEC frame's payload */
	uint32_t request_type;
};

static void read_exact(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return;
		got += (size_t)n;
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int c = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return NULL;
	char line[32];
	size_t len = 0;
	while (len < sizeof(line) - 1 && read(c, line + len, 1) == 1 && line[len] != '\n')
		len++;
	line[len] = '\0';
	if (s->mode == NO_AGENT || strcmp(line, "CONNECT 1852796779") != 0) {
		close(c);
		return NULL;
	}
	if (s->mode == ANSWER) {
		(void)!write(c, s->script, s->script_len);
		close(c);
		return NULL;
	}
	(void)!write(c, "OK 1024\n", 8);
	if (s->mode == AGENT) {
		pid_t pid = fork();
		if (pid == 0) {
			/* As in the guest: the agent's handlers run with SIGCHLD blocked. */
			sigset_t chld;
			sigemptyset(&chld);
			sigaddset(&chld, SIGCHLD);
			sigprocmask(SIG_BLOCK, &chld, NULL);
			/* Like the guest, it holds none of the test's fds (the
			 * caller's pipe ends would never see end of file). */
			for (int fd = 3; fd < 1024; fd++)
				if (fd != c)
					close(fd);
			init_agent_serve(c);
		}
		close(c);
		waitpid(pid, NULL, 0);
		return NULL;
	}
	struct nook_agent_frame h = {0};
	read_exact(c, &h, sizeof(h));
	s->request_type = h.type;
	if (h.length <= NOOK_AGENT_EXEC_MAX && bytes_reserve(&s->request, h.length) == 0) {
		read_exact(c, s->request.data, h.length);
		s->request.len = h.length;
	}
	if (s->script_len)
		(void)!send(c, s->script, s->script_len, MSG_NOSIGNAL);
	if (s->hold_ms) {
		struct pollfd p = {.fd = c, .events = POLLIN};
		char drop[4096];
		while (poll(&p, 1, s->hold_ms) > 0 && read(c, drop, sizeof(drop)) > 0)
			;
	}
	close(c);
	return NULL;
}

static void server_start(struct server *s, enum mode mode)
{
	s->mode = mode;
	snprintf(s->dir, sizeof(s->dir), "/tmp/nook-test-exec-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/v.sock", s->dir);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->lfd, 4), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_join(struct server *s)
{
	if (!s->joined)
		pthread_join(s->thread, NULL);
	s->joined = true;
}

static void server_stop(struct server *s)
{
	server_join(s);
	close(s->lfd);
	unlink(s->path);
	rmdir(s->dir);
	bytes_free(&s->request);
}

/* Frames of a script. */
static void frame(struct bytes *b, uint32_t type, const void *data, uint32_t len)
{
	struct nook_agent_frame h = {.type = type, .length = len};
	assert_int_equal(bytes_append(b, &h, sizeof(h)), 0);
	if (len)
		assert_int_equal(bytes_append(b, data, len), 0);
}

static void frame_u32(struct bytes *b, uint32_t type, uint32_t v)
{
	frame(b, type, &v, 4);
}

/* All of fd until end of file, NUL-terminated in buf. */
static size_t read_all(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;
	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	return got;
}

static const char *const sh_argv[] = {"/bin/sh", "-c", "exit 0", NULL};

/* The exec's result against a scripted guest; stdout into out. */
static int run_script(const struct bytes *script, int hold_ms, char *out, size_t outlen,
		      nook_error **err)
{
	struct server s = {.script = script->data, .script_len = script->len, .hold_ms = hold_ms};
	server_start(&s, SCRIPT);
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = sh_argv;
	o.stdin_fd = NOOK_EXEC_NULL;
	nook_process *p = NULL;
	assert_int_equal(nook_exec(s.path, &o, &p, err), 0);
	read_all(nook_process_stdout_fd(p), out, outlen);
	int r = nook_process_wait(p, err);
	nook_process_free(p);
	server_stop(&s);
	return r;
}

static void expect_error(const struct bytes *script, int code, const char *needle)
{
	char out[256];
	nook_error *err = NULL;
	int r = run_script(script, 0, out, sizeof(out), &err);
	if (r != -code || !err || !strstr(nook_error_message(err), needle))
		fail_msg("returned %d (%s), expected %d and \"%s\"", r,
			 err ? nook_error_message(err) : "no error", -code, needle);
	nook_error_free(err);
}

/* The normal path against a scripted guest, and the request it received. */
static void test_script_normal(void **state)
{
	(void)state;
	struct bytes script = {0};
	frame(&script, NOOK_AGENT_STDOUT, "hello ", 6);
	frame(&script, NOOK_AGENT_STDERR, "oops", 4);
	frame(&script, NOOK_AGENT_STDOUT, NULL, 0);
	frame(&script, NOOK_AGENT_STDOUT, "world", 5);
	frame_u32(&script, NOOK_AGENT_EXIT, 3);
	struct server s = {.script = script.data, .script_len = script.len};
	server_start(&s, SCRIPT);

	static const char *const argv[] = {"ls", "-l", "a b", NULL};
	static const char *const env[] = {"A=1", "B=x=y", NULL};
	static const struct nook_rlimit rl = {.resource = 7, .soft = 64, .hard = 128};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	o.env = env;
	o.workdir = "/srv";
	o.user = "1000:50";
	o.tty = false;
	o.rlimits = &rl;
	o.nrlimits = 1;
	nook_process *p = NULL;
	nook_error *err = NULL;
	assert_int_equal(nook_exec(s.path, &o, &p, &err), 0);
	assert_true(nook_process_stdin_fd(p) >= 0);
	assert_int_equal(nook_process_close_stdin(p), 0);
	char out[64], errtext[64];
	read_all(nook_process_stdout_fd(p), out, sizeof(out));
	read_all(nook_process_stderr_fd(p), errtext, sizeof(errtext));
	assert_int_equal(nook_process_wait(p, &err), 3);
	assert_int_equal(nook_process_wait(p, &err), 3); /* again: the same */
	assert_null(err);
	assert_string_equal(out, "hello world");
	assert_string_equal(errtext, "oops");
	assert_int_equal(nook_process_signal(p, SIGTERM), -ESRCH);
	assert_int_equal(nook_process_resize(p, 10, 10), -ENOTTY);
	nook_process_free(p);
	server_stop(&s);
	bytes_free(&script);
}

/* The request itself, captured by the scripted guest and parsed by
 * nook-init's parser. */
static void test_script_request_parses(void **state)
{
	(void)state;
	struct bytes script = {0};
	frame_u32(&script, NOOK_AGENT_EXIT, 0);
	struct server s = {.script = script.data, .script_len = script.len};
	server_start(&s, SCRIPT);
	static const char *const argv[] = {"ls", "-l", "a b", NULL};
	static const char *const env[] = {"A=1", "B=x=y", NULL};
	static const struct nook_rlimit rl = {.resource = 7, .soft = 64, .hard = 128};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	o.env = env;
	o.workdir = "/srv";
	o.user = "1000:50";
	o.tty = true;
	o.rows = 33;
	o.cols = 101;
	o.rlimits = &rl;
	o.nrlimits = 1;
	o.stdin_fd = o.stdout_fd = o.stderr_fd = NOOK_EXEC_NULL;
	nook_process *p = NULL;
	nook_error *err = NULL;
	assert_int_equal(nook_exec(s.path, &o, &p, &err), 0);
	assert_int_equal(nook_process_stdin_fd(p), -1);
	assert_int_equal(nook_process_stdout_fd(p), -1);
	assert_int_equal(nook_process_wait(p, &err), 0);
	nook_process_free(p);
	server_join(&s);
	struct init_config cfg;
	char perr[256];
	assert_int_equal(s.request_type, NOOK_AGENT_EXEC);
	if (init_exec_request_parse(s.request.data, s.request.len, &cfg, perr, sizeof(perr)) < 0)
		fail_msg("%s", perr);
	assert_string_equal(cfg.exec_path, "ls");
	assert_int_equal(cfg.argc, 3);
	assert_string_equal(cfg.argv[2], "a b");
	assert_int_equal(cfg.envc, 2);
	assert_string_equal(cfg.env[1], "B=x=y");
	assert_string_equal(cfg.workdir, "/srv");
	assert_int_equal(cfg.nrlimits, 1);
	assert_int_equal(cfg.rlimits[0].soft, 64);
	assert_string_equal(cfg.user, "1000:50");
	assert_true(cfg.tty && cfg.rows == 33 && cfg.cols == 101);
	init_config_free(&cfg);
	server_stop(&s);
	bytes_free(&script);
}

static void test_script_hostile(void **state)
{
	(void)state;
	static char big[NOOK_AGENT_DATA_MAX + 1];
	struct bytes b = {0};

	/* An output frame over the limit: refused from its header. */
	frame(&b, NOOK_AGENT_STDOUT, big, sizeof(big));
	expect_error(&b, EPROTO, "malformed frame (type 16, 65537 bytes)");
	b.len = 0;
	frame(&b, 99, "x", 1);
	expect_error(&b, EPROTO, "malformed frame (type 99");
	b.len = 0;
	frame(&b, NOOK_AGENT_STDIN, "x", 1); /* a host->guest type */
	expect_error(&b, EPROTO, "malformed frame (type 2");
	b.len = 0;
	frame(&b, NOOK_AGENT_EXIT, "abc", 3);
	expect_error(&b, EPROTO, "malformed frame (type 18, 3 bytes)");
	b.len = 0;
	frame(&b, NOOK_AGENT_ERROR, big, NOOK_AGENT_ERROR_MAX + 1);
	expect_error(&b, EPROTO, "malformed frame (type 19");
	b.len = 0;
	frame_u32(&b, NOOK_AGENT_EXIT, 256);
	expect_error(&b, EPROTO, "exit status 256, out of range");
	b.len = 0;
	frame(&b, NOOK_AGENT_STDOUT, "x", 1);
	expect_error(&b, EPIPE, "the sandbox ended the exec without an exit status");
	b.len = 0;
	expect_error(&b, EPIPE, "the sandbox ended the exec without an exit status");
	/* A header cut short, then the end. */
	frame_u32(&b, NOOK_AGENT_EXIT, 1);
	b.len = 5;
	expect_error(&b, EPIPE, "without an exit status");
	b.len = 0;
	frame(&b, NOOK_AGENT_ERROR, "no\x01such\nthing", 13);
	expect_error(&b, EIO, "could not start the program: no?such?thing");
	bytes_free(&b);
}

/* What comes after the first EXIT is never looked at. */
static void test_script_after_exit(void **state)
{
	(void)state;
	struct bytes b = {0};
	char out[64];
	nook_error *err = NULL;
	frame(&b, NOOK_AGENT_STDOUT, "before", 6);
	frame_u32(&b, NOOK_AGENT_EXIT, 5);
	frame(&b, NOOK_AGENT_STDOUT, "after", 5);
	frame_u32(&b, NOOK_AGENT_EXIT, 9);
	frame(&b, 1234, "junk", 4);
	assert_int_equal(run_script(&b, 200, out, sizeof(out), &err), 5);
	assert_null(err);
	assert_string_equal(out, "before");
	bytes_free(&b);
}

/* A guest that takes the request and never answers: the exec ends when
 * the connection does; nook_process_free() ends it at once. */
static void test_script_silent(void **state)
{
	(void)state;
	struct bytes b = {0};
	char out[64];
	nook_error *err = NULL;
	assert_int_equal(run_script(&b, 300, out, sizeof(out), &err), -EPIPE);
	nook_error_free(err);

	struct server s = {.hold_ms = 60000};
	server_start(&s, SCRIPT);
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = sh_argv;
	nook_process *p = NULL;
	assert_int_equal(nook_exec(s.path, &o, &p, NULL), 0);
	nook_process_free(p); /* the server sees the end and returns */
	server_stop(&s);
}

static void test_no_agent_and_bad_input(void **state)
{
	(void)state;
	struct server s = {0};
	server_start(&s, NO_AGENT);
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = sh_argv;
	nook_process *p = (nook_process *)&s;
	nook_error *err = NULL;
	assert_int_equal(nook_exec(s.path, &o, &p, &err), -ECONNREFUSED);
	assert_null(p);
	assert_non_null(strstr(nook_error_message(err), "no agent is listening in the guest"));
	assert_non_null(strstr(nook_error_message(err), s.path));
	nook_error_free(err);
	err = NULL;
	server_stop(&s);

	assert_int_equal(nook_exec("/nonexistent/v.sock", &o, &p, &err), -ENOENT);
	assert_string_equal(nook_error_message(err),
			    "exec: vsock socket /nonexistent/v.sock: No such file or directory");
	nook_error_free(err);

	static const char *const empty[] = {"", NULL};
	static const char *const bad_env[] = {"=x", NULL};
	static const struct nook_rlimit bad_rl = {.resource = 7, .soft = 2, .hard = 1};
	for (int i = 0; i < 7; i++) {
		nook_exec_options_init(&o);
		o.argv = sh_argv;
		const char *needle = NULL;
		switch (i) {
		case 0: o.argv = NULL; needle = "no program"; break;
		case 1: o.argv = empty; needle = "no program"; break;
		case 2: o.env = bad_env; needle = "env \"=x\""; break;
		case 3: o.workdir = "rel"; needle = "workdir \"rel\""; break;
		case 4: o.stdout_fd = 9999; needle = "stdout fd 9999"; break;
		case 5: o.stdin_fd = -3; needle = "stdin fd -3"; break;
		case 6: o.rlimits = &bad_rl; o.nrlimits = 1; needle = "rlimit 7=2:1"; break;
		}
		err = NULL;
		assert_int_equal(nook_exec("/nonexistent/v.sock", &o, &p, &err), -EINVAL);
		if (!strstr(nook_error_message(err), needle))
			fail_msg("case %d: \"%s\"", i, nook_error_message(err));
		nook_error_free(err);
	}
	err = NULL;
	assert_int_equal(nook_exec("", &o, &p, &err), -EINVAL);
	nook_error_free(err);
}

/* An unexpected answer to CONNECT is quoted in the error with its control
 * bytes made '?' (found by fuzz/exec: terminal escapes went through). */
static void test_bad_answer_printable(void **state)
{
	(void)state;
	static const char answer[] = "OK \x1b[2J\x07\x7f\n";
	struct server s = {.script = answer, .script_len = sizeof(answer) - 1};
	server_start(&s, ANSWER);
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = sh_argv;
	nook_process *p = NULL;
	nook_error *err = NULL;
	assert_int_equal(nook_exec(s.path, &o, &p, &err), -EPROTO);
	assert_null(p);
	assert_non_null(strstr(nook_error_message(err), "unexpected answer \"OK ?[2J??\""));
	nook_error_free(err);
	server_stop(&s);
}

/* ---- nook-init's real handler ---- */

struct agent_exec {
	struct server s;
	nook_process *p;
};

static void agent_start(struct agent_exec *a, struct nook_exec_options *o)
{
	memset(&a->s, 0, sizeof(a->s));
	server_start(&a->s, AGENT);
	nook_error *err = NULL;
	if (nook_exec(a->s.path, o, &a->p, &err) < 0)
		fail_msg("%s", nook_error_message(err));
}

static int agent_finish(struct agent_exec *a)
{
	nook_error *err = NULL;
	int r = nook_process_wait(a->p, &err);
	if (r < 0)
		print_message("exec: %s\n", nook_error_message(err));
	nook_error_free(err);
	nook_process_free(a->p);
	server_stop(&a->s);
	return r;
}

static int agent_run(const char *script, char *out, size_t outlen, char *errtext, size_t errlen)
{
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	o.stdin_fd = NOOK_EXEC_NULL;
	struct agent_exec a;
	agent_start(&a, &o);
	read_all(nook_process_stdout_fd(a.p), out, outlen);
	read_all(nook_process_stderr_fd(a.p), errtext, errlen);
	return agent_finish(&a);
}

static void test_agent_statuses(void **state)
{
	(void)state;
	char out[256], err[256];
	assert_int_equal(agent_run("echo out; echo err >&2; exit 3", out, sizeof(out), err,
				   sizeof(err)), 3);
	assert_string_equal(out, "out\n");
	assert_string_equal(err, "err\n");
	assert_int_equal(agent_run("kill -TERM $$", out, sizeof(out), err, sizeof(err)), 128 + 15);

	const char *argv[] = {"/nonexistent/program", NULL};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	o.stdout_fd = NOOK_EXEC_NULL;
	struct agent_exec a;
	agent_start(&a, &o);
	read_all(nook_process_stderr_fd(a.p), err, sizeof(err));
	assert_int_equal(agent_finish(&a), 127);
	assert_non_null(strstr(err, "not found"));
	argv[0] = "/etc/passwd";
	agent_start(&a, &o);
	assert_int_equal(agent_finish(&a), 126);
	argv[0] = "/bin/true";
	o.workdir = "/nonexistent";
	agent_start(&a, &o);
	read_all(nook_process_stderr_fd(a.p), err, sizeof(err));
	assert_int_equal(agent_finish(&a), 125);
	assert_non_null(strstr(err, "workdir /nonexistent"));
}

struct writer {
	int fd;
	size_t len;
	ssize_t written;
};

static void *write_stdin(void *arg)
{
	struct writer *w = arg;
	static char chunk[65536];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (char)(i * 7 + i / 251);
	w->written = 0;
	while ((size_t)w->written < w->len) {
		size_t n = w->len - (size_t)w->written;
		ssize_t r = write(w->fd, chunk, n < sizeof(chunk) ? n : sizeof(chunk));
		if (r <= 0)
			break;
		w->written += r;
	}
	close(w->fd);
	return NULL;
}

/* 1 MiB through cat and back, end of file included. */
static void test_agent_stdin(void **state)
{
	(void)state;
	const char *argv[] = {"cat", NULL};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	struct agent_exec a;
	agent_start(&a, &o);
	struct writer w = {.fd = dup(nook_process_stdin_fd(a.p)), .len = 1 << 20};
	assert_int_equal(nook_process_close_stdin(a.p), 0); /* w.fd is the last writer */
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, write_stdin, &w), 0);
	static char out[(1 << 20) + 1];
	size_t got = read_all(nook_process_stdout_fd(a.p), out, sizeof(out));
	pthread_join(t, NULL);
	assert_int_equal(agent_finish(&a), 0);
	assert_int_equal(w.written, 1 << 20);
	assert_int_equal(got, 1 << 20);
	for (size_t i = 0; i < got; i++)
		if (out[i] != (char)((i % 65536) * 7 + (i % 65536) / 251))
			fail_msg("byte %zu differs", i);
}

/* A program that floods its output and never reads stdin, while the host
 * writes 1 MiB to its stdin: neither side waits for the other forever. */
static void test_agent_flood_without_reading(void **state)
{
	(void)state;
	const char *argv[] = {"head", "-c", "4000000", "/dev/zero", NULL};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	struct agent_exec a;
	agent_start(&a, &o);
	struct writer w = {.fd = dup(nook_process_stdin_fd(a.p)), .len = 1 << 20};
	nook_process_close_stdin(a.p);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, write_stdin, &w), 0);
	static char out[4000001];
	size_t got = read_all(nook_process_stdout_fd(a.p), out, sizeof(out));
	assert_int_equal(agent_finish(&a), 0);
	pthread_join(t, NULL); /* its pipe's reader is gone: it ends */
	assert_int_equal(got, 4000000);
}

/* SIGKILL through nook_process_signal(); a background child holding
 * stdout does not hold the exec after its main program exits. */
static void test_agent_signal_and_background(void **state)
{
	(void)state;
	const char *argv[] = {"/bin/sh", "-c", "echo started; exec sleep 100", NULL};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	o.stdin_fd = NOOK_EXEC_NULL;
	struct agent_exec a;
	agent_start(&a, &o);
	char line[16];
	ssize_t n = read(nook_process_stdout_fd(a.p), line, sizeof(line));
	assert_int_equal(n, 8);
	assert_int_equal(nook_process_signal(a.p, SIGKILL), 0);
	assert_int_equal(nook_process_signal(a.p, 65), -EINVAL);
	assert_int_equal(agent_finish(&a), 128 + SIGKILL);

	char out[64], err[64];
	assert_int_equal(agent_run("sleep 100 & echo $!", out, sizeof(out), err, sizeof(err)), 0);
	pid_t bg = atoi(out);
	assert_true(bg > 0);
	assert_int_equal(kill(bg, 0), 0); /* still running: it did not hold the exec */
	kill(bg, SIGKILL);
}

/* A terminal: its size from the request, then from a resize. */
static void test_agent_tty(void **state)
{
	(void)state;
	const char *argv[] = {"/bin/sh", "-c",
			      "test -t 0 && echo tty; stty size; read x; stty size", NULL};
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = argv;
	o.tty = true;
	o.rows = 33;
	o.cols = 77;
	struct agent_exec a;
	agent_start(&a, &o);
	char out[256] = "";
	size_t got = 0;
	int fd = nook_process_stdout_fd(a.p);
	while (!strstr(out, "33 77") && got < sizeof(out) - 1) {
		ssize_t n = read(fd, out + got, sizeof(out) - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
		out[got] = '\0';
	}
	assert_non_null(strstr(out, "tty"));
	assert_int_equal(nook_process_resize(a.p, 40, 100), 0);
	assert_int_equal(nook_process_resize(a.p, 0, 100), -EINVAL);
	assert_int_equal(write(nook_process_stdin_fd(a.p), "\n", 1), 1);
	got += read_all(fd, out + got, sizeof(out) - got);
	assert_int_equal(agent_finish(&a), 0);
	assert_non_null(strstr(out, "40 100"));
}

/* The handler against a host that breaks the protocol: ERROR frames
 * before anything runs, and a broken frame later ends the program. */
static void handler_errors(const void *first, size_t len, uint32_t want_type, const char *needle)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sigset_t chld;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_BLOCK, &chld, NULL);
		close(sv[0]);
		init_agent_serve(sv[1]);
	}
	close(sv[1]);
	assert_int_equal(write(sv[0], first, len), (ssize_t)len);
	shutdown(sv[0], SHUT_WR);
	static char reply[1 << 16];
	size_t got = read_all(sv[0], reply, sizeof(reply));
	close(sv[0]);
	int wstatus;
	assert_int_equal(waitpid(pid, &wstatus, 0), pid);
	struct nook_agent_frame h = {0};
	if (got >= sizeof(h))
		memcpy(&h, reply, sizeof(h));
	if (h.type != want_type || (needle && !strstr(reply + sizeof(h), needle)))
		fail_msg("reply of %zu bytes, type %u \"%s\", expected type %u \"%s\"", got, h.type,
			 got > sizeof(h) ? reply + sizeof(h) : "", want_type, needle ? needle : "");
}

static void test_agent_bad_requests(void **state)
{
	(void)state;
	struct bytes b = {0};
	frame(&b, NOOK_AGENT_STDIN, "x", 1);
	handler_errors(b.data, b.len, NOOK_AGENT_ERROR, "expected an exec request first");
	b.len = 0;
	uint8_t rec[9] = {2, 0, 0, 0, 1, 0, 0, 0, 'x'}; /* an ARG without a program */
	frame(&b, NOOK_AGENT_EXEC, rec, sizeof(rec));
	handler_errors(b.data, b.len, NOOK_AGENT_ERROR, "exec request: no exec path");
	b.len = 0;
	struct nook_agent_frame huge = {.type = NOOK_AGENT_EXEC, .length = NOOK_AGENT_EXEC_MAX + 1};
	handler_errors(&huge, sizeof(huge), NOOK_AGENT_ERROR, "longer than");
	/* A valid request, then a frame the handler does not know: the
	 * program is killed and the connection ends without EXIT. */
	uint8_t req[8 + 10] = {1, 0, 0, 0, 10, 0, 0, 0};
	memcpy(req + 8, "/bin/sleep", 10);
	uint8_t arg[8 + 3] = {2, 0, 0, 0, 3, 0, 0, 0, '1', '0', '0'};
	struct bytes r = {0};
	assert_int_equal(bytes_append(&r, req, sizeof(req)), 0);
	assert_int_equal(bytes_append(&r, arg, sizeof(arg)), 0);
	frame(&b, NOOK_AGENT_EXEC, r.data, (uint32_t)r.len);
	frame(&b, 77, "zz", 2);
	handler_errors(b.data, b.len, 0, NULL); /* returns at all: sleep 100 was killed */
	bytes_free(&r);
	bytes_free(&b);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script_normal),
		cmocka_unit_test(test_script_request_parses),
		cmocka_unit_test(test_script_hostile),
		cmocka_unit_test(test_script_after_exit),
		cmocka_unit_test(test_script_silent),
		cmocka_unit_test(test_no_agent_and_bad_input),
		cmocka_unit_test(test_bad_answer_printable),
		cmocka_unit_test(test_agent_statuses),
		cmocka_unit_test(test_agent_stdin),
		cmocka_unit_test(test_agent_flood_without_reading),
		cmocka_unit_test(test_agent_signal_and_background),
		cmocka_unit_test(test_agent_tty),
		cmocka_unit_test(test_agent_bad_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
