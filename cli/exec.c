/* nook exec: another program in a running sandbox, through nook-init's
 * agent (nook/exec.h); with -t on a pseudo-terminal in the guest while
 * this terminal is in raw mode. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <nook/exec.h>
#include <nook/parse.h>

#include "cli/cli.h"
#include "cli/sandbox_dir.h"

static const char usage_exec[] =
	"Usage: nook exec [OPTIONS] NAME [--] PROGRAM [ARG...]\n"
	"\n"
	"Run PROGRAM in the running sandbox NAME, next to what runs there already.\n"
	"Its stdout and stderr are nook's; nook exits with its exit status (127: not\n"
	"found, 126: not executable, 128+N: killed by signal N; 125: nook failed).\n"
	"SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to nook go on to it.\n"
	"\n"
	"Options:\n"
	"  -i, --interactive        pass nook's stdin on (default: PROGRAM reads end of file)\n"
	"  -t, --tty                a pseudo-terminal in the guest; this terminal is in raw\n"
	"                           mode until PROGRAM ends, and its size follows\n"
	"  -e, --env KEY=VALUE      an environment variable (repeatable; default: PATH only)\n"
	"  -w, --workdir DIR        working directory (absolute; default /)\n"
	"  -u, --user USER[:GROUP]  user and group, names or ids (default root)\n"
	"  --rlimit NAME=SOFT:HARD  resource limit, e.g. RLIMIT_NOFILE=1024:2048 (repeatable)\n"
	"  -h, --help               show this help\n";

/* ---- the terminal ---- */

static struct termios saved_termios;
static volatile sig_atomic_t raw_fd = -1;

static void terminal_restore(void)
{
	if (raw_fd >= 0)
		tcsetattr(raw_fd, TCSAFLUSH, &saved_termios);
	raw_fd = -1;
}

/* A fatal signal still puts the terminal back. */
static void restore_and_die(int sig)
{
	terminal_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void terminal_raw(int fd)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
	struct termios raw;
	if (tcgetattr(fd, &saved_termios) < 0)
		return;
	raw = saved_termios;
	/* The guest's pseudo-terminal does the line editing and echo. */
	cfmakeraw(&raw);
	raw_fd = fd;
	atexit(terminal_restore);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], restore_and_die);
	if (tcsetattr(fd, TCSAFLUSH, &raw) < 0)
		raw_fd = -1;
}

static void window_size(unsigned short *rows, unsigned short *cols)
{
	struct winsize ws;
	for (int fd = 0; fd <= 2; fd++)
		if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
			*rows = ws.ws_row;
			*cols = ws.ws_col;
			return;
		}
}

/* ---- signals ---- */

/* Signals to nook go on to the program; SIGWINCH resizes its terminal. */
struct exec_signals {
	sigset_t set;
	nook_process *process;
	bool done; /* then a SIGWINCH ends the thread */
};

static void *signal_thread(void *arg)
{
	struct exec_signals *s = arg;
	for (;;) {
		int sig;
		if (sigwait(&s->set, &sig) != 0 || __atomic_load_n(&s->done, __ATOMIC_SEQ_CST))
			return NULL;
		if (sig == SIGWINCH) {
			unsigned short rows = 0, cols = 0;
			window_size(&rows, &cols);
			if (rows)
				nook_process_resize(s->process, rows, cols);
		} else {
			nook_process_signal(s->process, sig);
		}
	}
}

int exec_in_sandbox(const char *name, const char *dir, const struct exec_request *given)
{
	if (!sandbox_monitor(dir))
		return fail("sandbox %s is not running%s", name, "");
	/* The sandbox's defaults under the exec's own -e, -w and -u (a
	 * sandbox of an older nook has none). */
	int n = 0;
	char **defaults = strings_read(dir, SANDBOX_EXEC_DEFAULTS, &n);
	const char **env = calloc((size_t)n / 2 + given->nenv + 1, sizeof(*env));
	if (!env) {
		free(defaults);
		return fail("%s%s", "out of memory", "");
	}
	struct exec_request req = *given;
	req.nenv = 0;
	for (int i = 0; defaults && i + 1 < n; i += 2) {
		const char *opt = defaults[i], *value = defaults[i + 1];
		if (!strcmp(opt, "-e") && !env_has_key(given->env, given->nenv, value))
			env[req.nenv++] = value;
		else if (!strcmp(opt, "-w") && !req.workdir)
			req.workdir = value;
		else if (!strcmp(opt, "-u") && !req.user)
			req.user = value;
	}
	for (size_t i = 0; i < given->nenv; i++)
		env[req.nenv++] = given->env[i];
	req.env = env;
	char path[4200];
	snprintf(path, sizeof(path), "%s/" SANDBOX_VSOCK, dir);
	int r = exec_relay(path, &req);
	free(env);
	free(defaults);
	return r;
}

int exec_relay(const char *vsock_path, const struct exec_request *req)
{
	const char **env = calloc(req->nenv + 1, sizeof(*env));
	if (!env)
		return fail("%s%s", "out of memory", "");
	if (req->nenv)
		memcpy(env, req->env, req->nenv * sizeof(*env));
	struct nook_exec_options o;
	nook_exec_options_init(&o);
	o.argv = req->argv;
	o.env = env;
	o.workdir = req->workdir;
	o.rlimits = req->rlimits;
	o.nrlimits = req->nrlimits;
	o.user = req->user;
	o.tty = req->tty;
	if (req->tty)
		window_size(&o.rows, &o.cols);
	o.stdin_fd = req->interactive ? STDIN_FILENO : NOOK_EXEC_NULL;
	o.stdout_fd = STDOUT_FILENO;
	o.stderr_fd = STDERR_FILENO;

	struct exec_signals sigs = {0};
	sigemptyset(&sigs.set);
	static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&sigs.set, forwarded[i]);
	sigset_t old;
	pthread_sigmask(SIG_BLOCK, &sigs.set, &old);

	nook_error *err = NULL;
	int r = nook_exec(vsock_path, &o, &sigs.process, &err);
	free(env);
	if (r < 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return fail_error(err);
	}
	if (req->tty && req->interactive && isatty(STDIN_FILENO))
		terminal_raw(STDIN_FILENO);
	pthread_t t;
	bool watching = pthread_create(&t, NULL, signal_thread, &sigs) == 0;
	r = nook_process_wait(sigs.process, &err);
	if (watching) {
		__atomic_store_n(&sigs.done, true, __ATOMIC_SEQ_CST);
		pthread_kill(t, SIGWINCH);
		pthread_join(t, NULL);
	}
	terminal_restore();
	nook_process_free(sigs.process);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r < 0 ? fail_error(err) : r;
}

int cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
		{"interactive", no_argument, NULL, 'i'},
		{"tty", no_argument, NULL, 't'},
		{"env", required_argument, NULL, 'e'},
		{"workdir", required_argument, NULL, 'w'},
		{"user", required_argument, NULL, 'u'},
		{"rlimit", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct exec_request req = {0};
	const char **env = NULL;
	struct nook_rlimit *rlimits = NULL;
	int opt, status = 0;
	optind = 1;
	while (status == 0 && (opt = getopt_long(argc, argv, "+ite:w:u:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(usage_exec, stdout);
			free(env);
			free(rlimits);
			return 0;
		case 'i':
			req.interactive = true;
			break;
		case 't':
			req.tty = true;
			break;
		case 'e': {
			const char *eq = strchr(optarg, '=');
			const char **more = realloc(env, (req.nenv + 1) * sizeof(*env));
			if (!eq || eq == optarg)
				status = fail("exec -e \"%s\": expected KEY=VALUE%s", optarg, "");
			else if (!more)
				status = fail("%s%s", "out of memory", "");
			else
				(env = more)[req.nenv++] = optarg;
			break;
		}
		case 'w':
			if (optarg[0] != '/')
				status = fail("exec -w \"%s\": expected an absolute path%s", optarg, "");
			req.workdir = optarg;
			break;
		case 'R': {
			struct nook_rlimit *more = realloc(rlimits, (req.nrlimits + 1) * sizeof(*more));
			nook_error *err = NULL;
			if (!more) {
				status = fail("%s%s", "out of memory", "");
				break;
			}
			rlimits = more;
			if (nook_parse_rlimit(optarg, &rlimits[req.nrlimits], &err) < 0)
				status = fail_error(err);
			else
				req.nrlimits++;
			break;
		}
		case 'u':
			req.user = optarg;
			break;
		default:
			fputs("Run 'nook exec --help' for the options.\n", stderr);
			status = EXIT_NOOK_FAILED;
		}
	}
	if (status == 0 && argc - optind < 2)
		status = fail("exec: expected NAME and PROGRAM%s%s", "", "");
	char dir[4096];
	if (status == 0)
		status = sandbox_find(argv[optind], dir, sizeof(dir));
	if (status == 0) {
		int prog = optind + 1;
		if (strcmp(argv[prog], "--") == 0 && prog + 1 < argc)
			prog++;
		req.argv = (const char *const *)argv + prog;
		req.env = env;
		req.rlimits = rlimits;
		status = exec_in_sandbox(argv[optind], dir, &req);
	}
	free(env);
	free(rlimits);
	return status;
}
