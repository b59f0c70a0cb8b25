#include "guest/init/init_run.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
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

/* What the child needs, worked out by the parent: the child of vfork()
 * shares the parent's memory, so it must not allocate or read files. */
struct spawn_plan {
	char **envp;
	const char *path;        /* PATH's value, for a program given by name */
	bool set_user;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[64];
	char error[512];         /* a failure to report as the program's (status 125) */
};

__attribute__((format(printf, 2, 3)))
static void plan_error(struct spawn_plan *p, const char *fmt, ...)
{
	va_list ap;

	if (p->error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
}

/* execvp() without its fallback of handing a file that is not in an
 * executable format to /bin/sh, so that a program found in PATH fails the
 * same way as one given by path. Returns with errno set. */
static void exec_in_path(char *const argv[], const char *dir, char *const envp[])
{
	const char *file = argv[0];
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
			execve(path, argv, envp);
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

/* "USER[:GROUP]" (NOOK_TAG_USER_NAME), resolved in the new root's
 * /etc/passwd and /etc/group; an error names what is missing. */
static void plan_user(struct spawn_plan *p, const char *spec)
{
	char user[NOOK_USER_NAME_MAX + 1];
	snprintf(user, sizeof(user), "%s", spec);
	char *group = strchr(user, ':');
	if (group)
		*group++ = '\0';
	if (!user[0] || (group && !group[0])) {
		plan_error(p, "user \"%s\": expected USER[:GROUP]", spec);
		return;
	}

	long long id = parse_id(user);
	struct passwd *pw = id >= 0 ? getpwuid((uid_t)id) : getpwnam(user);
	if (id < 0 && !pw) {
		plan_error(p, "user \"%s\": no such user in /etc/passwd", user);
		return;
	}
	p->uid = pw ? pw->pw_uid : (uid_t)id;
	p->gid = pw ? pw->pw_gid : 0;
	if (group) {
		long long g = parse_id(group);
		struct group *gr = g < 0 ? getgrnam(group) : NULL;
		if (g < 0 && !gr) {
			plan_error(p, "group \"%s\": no such group in /etc/group", group);
			return;
		}
		p->gid = gr ? gr->gr_gid : (gid_t)g;
	}
	p->ngroups = 0;
	if (pw && !group) {
		p->ngroups = (int)(sizeof(p->groups) / sizeof(p->groups[0]));
		if (getgrouplist(pw->pw_name, p->gid, p->groups, &p->ngroups) < 0)
			p->ngroups = (int)(sizeof(p->groups) / sizeof(p->groups[0])); /* the first 64 */
	}
	p->set_user = true;
}

static bool same_key(const char *a, const char *b)
{
	size_t n = strcspn(a, "=");
	return strncmp(a, b, n + 1) == 0;
}

/* The config's environment as putenv() one entry at a time would leave it
 * (a repeated KEY keeps its first place and takes its last value), and
 * Docker's PATH when it sets none. */
static void plan_environment(struct spawn_plan *p, const struct init_config *cfg)
{
	static char default_path[] = "PATH=" DEFAULT_PATH;
	size_t n = 0;

	p->envp = calloc(cfg->envc + 2, sizeof(*p->envp));
	if (!p->envp) {
		plan_error(p, "environment: %s", strerror(ENOMEM));
		return;
	}
	for (size_t i = 0; i < cfg->envc; i++) {
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = same_key(cfg->env[j], cfg->env[i]);
		if (seen)
			continue;
		char *last = cfg->env[i];
		for (size_t j = i + 1; j < cfg->envc; j++)
			if (same_key(cfg->env[j], last))
				last = cfg->env[j];
		p->envp[n++] = last;
		if (same_key(last, default_path))
			p->path = last + 5;
	}
	if (!p->path) {
		p->envp[n++] = default_path;
		p->path = DEFAULT_PATH;
	}
}

/* The child, between vfork() and exec: system calls on its own process
 * state only (fds, session, limits, credentials, directory). */
static _Noreturn void exec_child(const struct init_config *cfg, const int stdio[3],
				 const sigset_t *mask, const struct spawn_plan *p)
{
	/* PID 1's access to the paravirtual port is inherited across fork
	 * and exec; the program must not report events in nook-init's name. */
	ioperm(NOOK_PORT, 4, 0);
	sigprocmask(SIG_SETMASK, mask, NULL);
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
	if (p->error[0])
		die(NOOK_INIT_EXIT_SETUP, "%s", p->error);

	/* After the rlimits (raising one needs root), before the workdir (the
	 * user must be able to enter it). */
	if (p->set_user && (setgroups((size_t)p->ngroups, p->groups) < 0 || setgid(p->gid) < 0 ||
			    setuid(p->uid) < 0))
		die(NOOK_INIT_EXIT_SETUP, "user %u:%u: %s", (unsigned)p->uid, (unsigned)p->gid,
		    strerror(errno));

	if (cfg->workdir && chdir(cfg->workdir) < 0)
		die(NOOK_INIT_EXIT_SETUP, "workdir %s: %s", cfg->workdir, strerror(errno));

	if (strchr(cfg->exec_path, '/'))
		execve(cfg->exec_path, cfg->argv, p->envp);
	else
		exec_in_path(cfg->argv, p->path, p->envp);
	if (errno == ENOENT)
		die(NOOK_INIT_EXIT_NOT_FOUND, "%s: not found", cfg->exec_path);
	die(NOOK_INIT_EXIT_CANNOT_EXEC, "%s: %s", cfg->exec_path, strerror(errno));
}

pid_t init_spawn(const struct init_config *cfg, const int stdio[3], const sigset_t *mask)
{
	struct spawn_plan plan = { 0 };

	plan_environment(&plan, cfg);
	if (cfg->user)
		plan_user(&plan, cfg->user);
	/* vfork: no copy of the parent's page tables, which costs a fork
	 * hundreds of milliseconds where guest kernel code is emulated. */
	pid_t pid = vfork();
	if (pid == 0)
		exec_child(cfg, stdio, mask, &plan);
	int e = errno;
	free(plan.envp);
	return pid < 0 ? -e : pid;
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
