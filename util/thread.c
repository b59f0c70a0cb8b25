#include "util/thread.h"

#include <errno.h>
#include <semaphore.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "util/seccomp.h"

static const char *const role_names[THREAD_ROLES] = {
	[THREAD_ROLE_IO] = "io",
	[THREAD_ROLE_VCPU] = "vcpu",
	[THREAD_ROLE_BLK_WORKER] = "blk",
	[THREAD_ROLE_FS_WORKER] = "fs",
	[THREAD_ROLE_NET_SLIRP] = "slirp",
	[THREAD_ROLE_BUILDER] = "builder",
	[THREAD_ROLE_CONTROLLER] = "controller",
};

const char *thread_role_name(enum thread_role role)
{
	return role_names[role];
}

/* The capabilities an fs worker keeps, of those its creator holds: it
 * serves the shares on the guest's behalf. When nook runs as root without
 * the jail, the FUSE server takes each caller's uid/gid as the thread's
 * fs ids (SETUID, SETGID), and the guest's root may change owners (CHOWN),
 * modes and times of files it does not own (FOWNER, FSETID), create
 * overlayfs whiteouts (MKNOD on kernels before 5.8) and reach every file
 * of the share (DAC_OVERRIDE, DAC_READ_SEARCH). In the jail the process
 * holds only the last two and CHOWN, FOWNER, FSETID (confine/jail.c says
 * why). Every other role needs none: they work on descriptors opened
 * while building. */
static const cap_value_t fs_worker_caps[] = {
	CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
	CAP_FSETID, CAP_SETUID, CAP_SETGID, CAP_MKNOD,
};

/* Keeps, of the calling thread's capabilities, only those of its role.
 * Capabilities are per thread: the others keep theirs. */
static int drop_capabilities(enum thread_role role)
{
	cap_t held = cap_get_proc();
	cap_t kept = cap_init();
	int r = held && kept ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && role == THREAD_ROLE_FS_WORKER &&
			   i < sizeof(fs_worker_caps) / sizeof(fs_worker_caps[0]);
	     i++) {
		cap_flag_value_t permitted, effective;
		cap_get_flag(held, fs_worker_caps[i], CAP_PERMITTED, &permitted);
		cap_get_flag(held, fs_worker_caps[i], CAP_EFFECTIVE, &effective);
		cap_set_flag(kept, CAP_PERMITTED, 1, &fs_worker_caps[i], permitted);
		cap_set_flag(kept, CAP_EFFECTIVE, 1, &fs_worker_caps[i], effective);
	}
	if (r == 0 && cap_compare(held, kept) != 0 && cap_set_proc(kept) < 0)
		r = -errno;
	cap_free(held);
	cap_free(kept);
	return r;
}

struct thread_start_args {
	enum thread_role role;
	bool confine;
	char name[16];
	void *(*fn)(void *);
	void *arg;
	/* The new thread's confinement result, posted before fn runs. */
	int result;
	sem_t confined;
};

static void *thread_main(void *p)
{
	struct thread_start_args *a = p;
	enum thread_role role = a->role;
	bool confine = a->confine;
	char name[sizeof(a->name)];
	memcpy(name, a->name, sizeof(name));
	void *(*fn)(void *) = a->fn;
	void *arg = a->arg;
	pthread_setname_np(pthread_self(), name);
	int r = confine ? drop_capabilities(role) : 0;
	if (r == 0 && confine)
		r = seccomp_confine_thread(role, name);
	a->result = r;
	sem_post(&a->confined); /* `a` is the creator's again */
	if (r < 0)
		return NULL;
	if (confine)
		seccomp_debug_violation(role, name);
	return fn(arg);
}

int thread_start(pthread_t *thread, enum thread_role role, const char *name, bool confine,
		 void *(*fn)(void *), void *arg)
{
	struct thread_start_args a = {.role = role, .confine = confine, .fn = fn, .arg = arg};
	strncpy(a.name, name, sizeof(a.name) - 1);
	int r = confine ? seccomp_prepare() : 0;
	if (r < 0)
		return r;
	sem_init(&a.confined, 0, 0);
	r = -pthread_create(thread, NULL, thread_main, &a);
	while (r == 0 && sem_wait(&a.confined) < 0)
		; /* EINTR */
	if (r == 0 && a.result < 0) {
		pthread_join(*thread, NULL);
		r = a.result;
	}
	sem_destroy(&a.confined);
	return r;
}
