#include "guest/init/init_links.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/protocol.h"

/* The list is nook's own build output; this bounds what a stray file of
 * that name can make PID 1 allocate. */
#define LINKS_MAX (1u << 20)

/* The list's name beneath the root. */
#define LIST_NAME (NOOK_ROOT_SYMLINKS + 1)

static char *read_list(int root, size_t *len)
{
	int fd = openat(root, LIST_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0)
		return NULL;
	char *buf = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (size_t)st.st_size <= LINKS_MAX && (buf = malloc((size_t)st.st_size + 1))) {
		*len = 0;
		ssize_t n;
		while (*len < (size_t)st.st_size &&
		       (n = read(fd, buf + *len, (size_t)st.st_size - *len)) > 0)
			*len += (size_t)n;
		buf[*len] = '\0';
	}
	close(fd);
	return buf;
}

/* A relative path without "..": it names something beneath the root. */
static bool beneath(const char *path)
{
	if (path[0] == '/')
		return false;
	for (const char *c = path; c; c = strchr(c, '/')) {
		c += *c == '/';
		if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
			return false;
	}
	return true;
}

/* The first problem goes to `err`; returns 1 to count it. */
static int skipped(char *err, size_t errlen, int nskipped, const char *path, const char *why)
{
	if (nskipped == 0)
		snprintf(err, errlen, "%s: /%s: %s", NOOK_ROOT_SYMLINKS, path, why);
	return 1;
}

int init_root_links(int root, char *err, size_t errlen)
{
	size_t len = 0;
	int nskipped = 0;
	char *list = read_list(root, &len);
	if (!list)
		return 0;
	/* Pairs of NUL-terminated strings: the link's path beneath the root,
	 * then its target. A directory's fd serves the links in it, which
	 * come together (the list is sorted): one lookup of a name each. */
	char dir[256] = "";
	int dfd = -1;
	for (size_t pos = 0; pos < len;) {
		const char *path = list + pos;
		size_t plen = strlen(path);
		if (pos + plen + 1 >= len) {
			nskipped += skipped(err, errlen, nskipped, path, "no target");
			break;
		}
		const char *target = path + plen + 1;
		pos += plen + 1 + strlen(target) + 1;
		const char *slash = strrchr(path, '/');
		size_t dlen = slash ? (size_t)(slash - path) : 0;
		if (dlen >= sizeof(dir) || !target[0] || !path[dlen + (slash != NULL)] ||
		    !beneath(path)) {
			nskipped += skipped(err, errlen, nskipped, path, "not a link entry");
			continue;
		}
		if (dfd < 0 || strncmp(dir, path, dlen) != 0 || dir[dlen] != '\0') {
			if (dfd >= 0)
				close(dfd);
			memcpy(dir, path, dlen);
			dir[dlen] = '\0';
			dfd = openat(root, dlen ? dir : ".", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		const char *name = slash ? slash + 1 : path;
		if (dfd < 0 || symlinkat(target, dfd, name) < 0)
			nskipped += skipped(err, errlen, nskipped, path, strerror(errno));
	}
	if (dfd >= 0)
		close(dfd);
	free(list);
	unlinkat(root, LIST_NAME, 0);
	return nskipped;
}
