#include "util/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct thread_start_args {
	enum thread_role role;
	bool confine;
	char name[16];
	void *(*fn)(void *);
	void *arg;
};

static void *thread_main(void *p)
{
	struct thread_start_args a = *(struct thread_start_args *)p;
	free(p);
	pthread_setname_np(pthread_self(), a.name);
	return a.fn(a.arg);
}

int thread_start(pthread_t *thread, enum thread_role role, const char *name, bool confine,
		 void *(*fn)(void *), void *arg)
{
	struct thread_start_args *a = malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	*a = (struct thread_start_args){.role = role, .confine = confine, .fn = fn, .arg = arg};
	strncpy(a->name, name, sizeof(a->name) - 1);
	int r = pthread_create(thread, NULL, thread_main, a);
	if (r != 0)
		free(a);
	return -r;
}
