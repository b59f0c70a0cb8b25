#include "guest/init/init_run.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/protocol.h"

/* Docker's default, used when the config sets no PATH. */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

__attribute__((format(printf, 2, 3)))
static _Noreturn void die(int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n = snprintf(msg, sizeof(msg), "nook-init: ");

	va_start(ap, fmt);
	n += vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';
	(void)!write(STDERR_FILENO, msg, (size_t)n);
	_exit(status);
}

/* execvp() without its fallback of handing a file that is not in an
 * executable format to /bin/sh, so that a program found in PATH fails the
 * same way as one given by path. Returns with errno set. */
static void exec_in_path(char *const argv[])
{
	const char *file = argv[0], *dir = getenv("PATH");
	size_t flen = strlen(file);
	int err = ENOENT;
	char path[PATH_MAX];

	for (;;) {
		const char *end = strchrnul(dir, ':');
		size_t dlen = (size_t)(end - dir);

		/* An empty entry means the current directory. */
		const char *d = dlen ? dir : ".";
		size_t n = dlen ? dlen : 1;

		if (n + 1 + flen < sizeof(path)) {
			memcpy(path, d, n);
			path[n] = '/';
			memcpy(path + n + 1, file, flen + 1);
			execve(path, argv, environ);
			if (errno == EACCES)
				err = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				return;
		}
		if (*end == '\0')
			break;
		dir = end + 1;
	}
	errno = err;
}

/* A decimal id, or -1. */
static long long parse_id(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v >= UINT32_MAX)
		return -1;
	return (long long)v;
}

/* Runs as "USER[:GROUP]" (NOOK_TAG_USER_NAME), resolved in the new root's
 * /etc/passwd and /etc/group; dies naming what is missing. */
static void become_user(const char *spec)
{
	char user[NOOK_USER_NAME_MAX + 1];
	snprintf(user, sizeof(user), "%s", spec);
	char *group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	if (!user[0] || (group && !group[0]))
		die(NOOK_INIT_EXIT_SETUP, "user \"%s\": expected USER[:GROUP]", spec);

	long long id = parse_id(user);
	struct passwd *pw = id >= 0 ? getpwuid((uid_t)id) : getpwnam(user);
	if (id < 0 && !pw)
		die(NOOK_INIT_EXIT_SETUP, "user \"%s\": no such user in /etc/passwd", user);
	uid_t uid = pw ? pw->pw_uid : (uid_t)id;
	gid_t gid = pw ? pw->pw_gid : 0;
	if (group) {
		long long g = parse_id(group);
		struct group *gr = g < 0 ? getgrnam(group) : NULL;
		if (g < 0 && !gr)
			die(NOOK_INIT_EXIT_SETUP, "group \"%s\": no such group in /etc/group", group);
		gid = gr ? gr->gr_gid : (gid_t)g;
	}
	gid_t groups[64];
	int ngroups = 0;
	if (pw && !group) {
		ngroups = (int)(sizeof(groups) / sizeof(groups[0]));
		if (getgrouplist(pw->pw_name, gid, groups, &ngroups) < 0)
			ngroups = (int)(sizeof(groups) / sizeof(groups[0])); /* the first 64 */
	}
	if (setgroups((size_t)ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		die(NOOK_INIT_EXIT_SETUP, "user %u:%u: %s", (unsigned)uid, (unsigned)gid, strerror(errno));
}

_Noreturn void init_exec(const struct init_config *cfg, const int stdio[3])
{
	/* PID 1's access to the paravirtual port is inherited across fork
	 * and exec; the program must not report events in nook-init's name. */
	ioperm(NOOK_PORT, 4, 0);
	for (int fd = 0; fd < 3; fd++)
		if (dup2(stdio[fd], fd) < 0)
			_exit(NOOK_INIT_EXIT_SETUP); /* no stderr to tell */
	setsid();
	/* A terminal becomes the new session's controlling terminal, so that
	 * ^C, job control and SIGWINCH reach the program. */
	if (cfg->tty && ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
		die(NOOK_INIT_EXIT_SETUP, "controlling terminal: %s", strerror(errno));

	for (size_t i = 0; i < cfg->nrlimits; i++) {
		const struct init_rlimit *r = &cfg->rlimits[i];
		struct rlimit rl = { .rlim_cur = r->soft, .rlim_max = r->hard };

		if (setrlimit(r->resource, &rl) < 0)
			die(NOOK_INIT_EXIT_SETUP, "rlimit %u=%llu:%llu: %s", r->resource,
			    (unsigned long long)r->soft, (unsigned long long)r->hard, strerror(errno));
	}

	/* After the rlimits (raising one needs root), before the workdir (the
	 * user must be able to enter it). */
	if (cfg->user)
		become_user(cfg->user);

	clearenv();
	for (size_t i = 0; i < cfg->envc; i++)
		if (putenv(cfg->env[i]) != 0)
			die(NOOK_INIT_EXIT_SETUP, "environment: %s", strerror(errno));
	if (!getenv("PATH") && setenv("PATH", DEFAULT_PATH, 1) < 0)
		die(NOOK_INIT_EXIT_SETUP, "environment: %s", strerror(errno));

	if (cfg->workdir && chdir(cfg->workdir) < 0)
		die(NOOK_INIT_EXIT_SETUP, "workdir %s: %s", cfg->workdir, strerror(errno));

	if (strchr(cfg->exec_path, '/'))
		execve(cfg->exec_path, cfg->argv, environ);
	else
		exec_in_path(cfg->argv);
	if (errno == ENOENT)
		die(NOOK_INIT_EXIT_NOT_FOUND, "%s: not found", cfg->exec_path);
	die(NOOK_INIT_EXIT_CANNOT_EXEC, "%s: %s", cfg->exec_path, strerror(errno));
}

int init_exit_status(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}

int init_reap(pid_t main_pid)
{
	for (;;) {
		int wstatus;
		pid_t pid = waitpid(-1, &wstatus, 0);

		if (pid == main_pid)
			return init_exit_status(wstatus);
		if (pid < 0 && errno != EINTR)
			return -errno;
	}
}
