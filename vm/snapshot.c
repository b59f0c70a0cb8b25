#include "vm/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "util/state.h"

static uint32_t crc32_of(const void *p, size_t len)
{
	return (uint32_t)crc32(crc32(0, NULL, 0), p, (uInt)len);
}

static int write_all(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p = (const char *)p + n;
		len -= (size_t)n;
	}
	return 0;
}

static int create_in(const char *dir, const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", dir, name);
	return open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int snapshot_write(const char *dir, const uint8_t key[SNAPSHOT_KEY_SIZE], unsigned vcpus,
		   const char *info, const struct bytes *state, const struct guest_memory *mem,
		   nook_error **err)
{
	struct snapshot_header h = {
		.version = SNAPSHOT_VERSION, .header_size = sizeof(h), .memory_size = mem->size,
		.state_size = state->len, .state_crc32 = crc32_of(state->data, state->len),
		.vcpus = vcpus, .created = (uint64_t)time(NULL),
	};
	memcpy(h.magic, SNAPSHOT_MAGIC, sizeof(h.magic));
	memcpy(h.key, key, SNAPSHOT_KEY_SIZE);
	snprintf(h.info, sizeof(h.info), "%s", info);
	char path[PATH_MAX];
	int fd = create_in(dir, SNAPSHOT_MEMORY_FILE, path, sizeof(path)), r = 0;
	if (fd < 0 || (r = guest_memory_save(mem, fd)) < 0 || fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, -r, "snapshot %s: %s", path, strerror(-r));
	}
	close(fd);
	/* The state last: a directory with a valid state file is complete. */
	fd = create_in(dir, SNAPSHOT_STATE_FILE, path, sizeof(path));
	if (fd < 0 || (r = write_all(fd, &h, sizeof(h))) < 0 ||
	    (r = write_all(fd, state->data, state->len)) < 0 || fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, -r, "snapshot %s: %s", path, strerror(-r));
	}
	close(fd);
	return 0;
}

static int read_all(int fd, void *p, size_t len)
{
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p = (char *)p + n;
		len -= (size_t)n;
	}
	return 0;
}

/* Opens `name` in `dir` read-only, a regular file of `size` bytes (or any
 * size when size is 0, then stored in *size_out). */
static int open_part(const char *dir, const char *name, char *path, size_t len, uint64_t *size)
{
	snprintf(path, len, "%s/%s", dir, name);
	/* Not blocking on a FIFO someone put there. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int snapshot_open(const char *dir, struct snapshot *s, nook_error **err)
{
	*s = (struct snapshot){.memory_fd = -1};
	char path[PATH_MAX];
	uint64_t size = 0;
	int fd = open_part(dir, SNAPSHOT_STATE_FILE, path, sizeof(path), &size);
	if (fd < 0)
		return error_set(err, -fd, "snapshot %s: %s", path, strerror(-fd));
	struct snapshot_header *h = &s->header;
	const char *why = NULL;
	if (size < sizeof(*h) || read_all(fd, h, sizeof(*h)) < 0)
		why = "truncated header";
	else if (memcmp(h->magic, SNAPSHOT_MAGIC, sizeof(h->magic)) != 0)
		why = "not a nook snapshot (bad magic)";
	else if (h->version != SNAPSHOT_VERSION || h->header_size != sizeof(*h))
		why = "made by another version of nook";
	else if (h->state_size > SNAPSHOT_STATE_MAX || size != sizeof(*h) + h->state_size)
		why = "state size does not match the file (truncated?)";
	else if (h->info[sizeof(h->info) - 1] != '\0')
		why = "malformed header";
	if (!why && !(s->state = malloc(h->state_size ? h->state_size : 1)))
		why = "out of memory";
	if (!why && read_all(fd, s->state, h->state_size) < 0)
		why = "cannot read the state";
	if (!why && crc32_of(s->state, h->state_size) != h->state_crc32)
		why = "state checksum mismatch (corrupted)";
	if (!why && state_check(s->state, h->state_size) < 0)
		why = "malformed state sections";
	close(fd);
	if (why) {
		snapshot_close(s);
		return error_set(err, EINVAL, "snapshot %s: %s", path, why);
	}
	s->memory_fd = open_part(dir, SNAPSHOT_MEMORY_FILE, path, sizeof(path), &size);
	if (s->memory_fd < 0 || size != h->memory_size) {
		int e = s->memory_fd < 0 ? -s->memory_fd : EINVAL;
		snapshot_close(s);
		return error_set(err, e, "snapshot %s: %s", path,
				 e == EINVAL ? "size does not match the state (truncated?)" : strerror(e));
	}
	return 0;
}

void snapshot_close(struct snapshot *s)
{
	free(s->state);
	if (s->memory_fd >= 0)
		close(s->memory_fd);
	*s = (struct snapshot){.memory_fd = -1};
}
