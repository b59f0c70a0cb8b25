#include "fuzz/disk/scratch.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[PATH_MAX];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void remove_dir(void)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what)
{
	perror(what);
	abort();
}

/* snprintf that aborts rather than cut a path or command short. */
#define FORMAT(buf, ...)                                                   \
	do {                                                               \
		if ((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) >= sizeof(buf)) \
			abort();                                           \
	} while (0)

const char *scratch_dir(void)
{
	if (!dir[0]) {
		/* In memory where there is room: on a disk file system the
		 * fallocate calls of every input cost milliseconds. */
		const char *tmp = getenv("TMPDIR");
		if (!tmp)
			tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		FORMAT(dir, "%s/nook-fuzz-disk-XXXXXX", tmp);
		if (!mkdtemp(dir))
			die(dir);
		atexit(remove_dir);
	}
	return dir;
}

const char *scratch_path(const char *name)
{
	static char path[PATH_MAX];
	FORMAT(path, "%s/%s", scratch_dir(), name);
	return path;
}

void scratch_write(const char *name, const void *data, size_t len)
{
	const char *path = scratch_path(name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) < 0)
		die(path);
}

void scratch_run(const char *command)
{
	char line[4096];
	FORMAT(line, "cd '%s' && { %s; } >/dev/null", scratch_dir(), command);
	if (system(line) != 0) {
		fprintf(stderr, "fuzz setup failed: %s\n", command);
		abort();
	}
}
