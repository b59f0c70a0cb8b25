/* nook/confine.h: which confinement a process gets, and in what order. */
#include "confine/confine.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nook/confine.h>

#include "util/error.h"
#include "util/log.h"
#include "util/seccomp.h"
#include "util/thread.h"
#include "vm/snapshot_cache.h"

struct nook_confine {
	bool jail;
	bool ids_set;
	uid_t uid;
	gid_t gid;
	bool entered, sealed;
	bool seccomp; /* the configuration's nook_vm_config_set_seccomp() */
	char thread_name[16];
};

void confine_log(const struct confine_log *log, enum nook_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmessage(log->level, log->fn, log->userdata, level, fmt, ap);
	va_end(ap);
}

nook_confine *nook_confine_new(void)
{
	nook_confine *c = calloc(1, sizeof(*c));
	if (c)
		c->jail = true;
	return c;
}

void nook_confine_free(nook_confine *c)
{
	free(c);
}

void nook_confine_set_jail(nook_confine *c, bool on)
{
	c->jail = on;
}

int nook_confine_set_jail_ids(nook_confine *c, uid_t uid, gid_t gid)
{
	if (gid == (gid_t)-1) {
		struct passwd *pw = getpwuid(uid);
		gid = pw ? pw->pw_gid : (gid_t)uid;
	}
	if (uid == 0 || gid == 0 || uid == (uid_t)-1)
		return -EINVAL;
	c->uid = uid;
	c->gid = gid;
	c->ids_set = true;
	return 0;
}

static bool parse_id(const char *text, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = text ? strtoul(text, &end, 10) : 0;
	if (!text || !*text || *end || errno || v == 0 || v >= (uid_t)-1)
		return false;
	*out = (unsigned)v;
	return true;
}

/* The jail's identity unless the caller chose one (nook/confine.h). */
static void default_ids(nook_confine *c)
{
	unsigned uid, gid;
	struct passwd *pw;
	if (c->ids_set)
		return;
	if (parse_id(getenv("SUDO_UID"), &uid) && parse_id(getenv("SUDO_GID"), &gid)) {
		c->uid = uid;
		c->gid = gid;
	} else if ((pw = getpwnam("nook")) && pw->pw_uid && pw->pw_gid) {
		c->uid = pw->pw_uid;
		c->gid = pw->pw_gid;
	} else {
		c->uid = c->gid = NOOK_JAIL_DEFAULT_ID;
	}
}

/* The build creates the console output file and the kernel log; made
 * now, the jail and Landlock can grant them like any other file, and in the
 * jail they belong to the identity that writes them. Errors are the
 * build's to report. */
static void make_output_file(const char *path, bool jail, const nook_confine *c)
{
	if (!path)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (jail && fchown(fd, c->uid, c->gid) < 0) {
		/* Still writable there with DAC_OVERRIDE. */
	}
	close(fd);
}

/* A jailed process gives up, after the build, the capabilities that let
 * it write in root's cache: it keeps its snapshots in a directory of the
 * jail's identity within the cache (vm/snapshot_cache.h), made here as
 * root and granted instead of the whole cache. Returns its path, or NULL
 * without a cache. */
static int jail_cache(struct confine_plan *p, uid_t uid, gid_t gid, char **out, nook_error **err)
{
	*out = NULL;
	if (!p->cache_dir)
		return 0;
	char *dir;
	if (asprintf(&dir, "%s/" SNAPSHOT_JAIL_PREFIX "%u", p->cache_dir, (unsigned)uid) < 0)
		return error_set(err, ENOMEM, "out of memory");
	int fd = mkdir(dir, 0700) == 0 || errno == EEXIST
			 ? open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			 : -1;
	if (fd < 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, 0700) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		error_set(err, e, "jail: snapshot cache %s: %s", dir, strerror(e));
		free(dir);
		return -e;
	}
	close(fd);
	for (size_t i = 0; i < p->npaths; i++)
		if (!strcmp(p->paths[i].path, p->cache_dir)) {
			free(p->paths[i].path);
			if (!(p->paths[i].path = strdup(dir))) {
				free(dir);
				return error_set(err, ENOMEM, "out of memory");
			}
		}
	*out = dir;
	return 0;
}

/* The calling thread's filter, named as /proc shows the thread. */
static int confine_caller(nook_confine *c, enum thread_role role)
{
	if (!c->seccomp)
		return 0;
	int r = seccomp_prepare();
	if (r == 0)
		r = seccomp_confine_thread(role, c->thread_name);
	if (r == 0)
		seccomp_debug_violation(role, c->thread_name);
	return r;
}

int nook_confine_enter(nook_confine *c, const nook_vm_config *cfg, int *status, nook_error **err)
{
	*status = 0;
	if (c->entered)
		return error_set(err, EALREADY, "confine: the process is confined already");
	c->entered = true;
	c->seccomp = cfg->confine;
	prctl(PR_GET_NAME, c->thread_name, 0, 0, 0);
	const struct confine_log log = {cfg->log_level, cfg->log_fn, cfg->log_userdata};
	struct confine_plan p;
	int r = confine_plan_make(cfg, &p, err);
	if (r < 0)
		return r;
	bool jail = c->jail && geteuid() == 0;
	if (jail)
		default_ids(c);
	make_output_file(p.console_output, jail, c);
	make_output_file(p.kernel_log, jail, c);
	/* glibc loads libgcc_s to unwind a thread that pthread_cancel() or
	 * pthread_exit() ends; neither the jail nor Landlock offers it later. */
	dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NODELETE);
	if (jail) {
		confine_log(&log, NOOK_LOG_INFO, "jail: running as %u:%u", (unsigned)c->uid,
			    (unsigned)c->gid);
		char *cache = NULL;
		r = jail_cache(&p, c->uid, c->gid, &cache, err);
		if (r == 0)
			r = jail_enter(&p, c->uid, c->gid, &log, status, err);
		/* The child's own (nook_confine_enter() runs single-threaded). */
		if (r == NOOK_CONFINE_RUN && cache && setenv("NOOK_CACHE_DIR", cache, 1) < 0)
			r = error_set(err, errno, "jail: %s", strerror(errno));
		free(cache);
	}
	if (r == NOOK_CONFINE_RUN && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r = error_set(err, errno, "confine: no_new_privs: %s", strerror(errno));
	if (r == NOOK_CONFINE_RUN && !jail)
		r = landlock_apply(&p, &log, err);
	if (r == NOOK_CONFINE_RUN && (r = confine_caller(c, THREAD_ROLE_BUILDER)) < 0)
		error_set(err, -r, "confine: seccomp: %s", strerror(-r));
	confine_plan_free(&p);
	return r;
}

int nook_confine_seal(nook_confine *c, nook_error **err)
{
	if (!c->entered || c->sealed)
		return error_set(err, EINVAL, "confine: seal without enter, or twice");
	c->sealed = true;
	cap_t none = cap_init();
	int r = none && cap_set_proc(none) == 0 ? 0 : -errno;
	cap_free(none);
	if (r < 0)
		return error_set(err, -r, "confine: drop capabilities: %s", strerror(-r));
	if ((r = confine_caller(c, THREAD_ROLE_CONTROLLER)) < 0)
		error_set(err, -r, "confine: seccomp: %s", strerror(-r));
	return r;
}
