#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "util/error.h"

bool image_digest_valid(const char *d)
{
	if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != IMAGE_DIGEST_LEN)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void image_digest_of(const void *data, size_t len, char out[IMAGE_DIGEST_LEN + 1])
{
	uint8_t sum[SHA256_SIZE];
	struct sha256 h;
	if (sha256_init(&h) < 0) {
		/* Out of memory: a digest nothing can match. */
		strcpy(out, "sha256:?");
		return;
	}
	sha256_update(&h, data, len);
	sha256_final(&h, sum);
	memcpy(out, "sha256:", 7);
	hex_encode(sum, SHA256_SIZE, out + 7);
}

int image_blob_open(int dirfd, const char *name, int64_t size, const char *what,
		    struct stat *st, nook_error **err)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd < 0 || fstat(fd, st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, e, "%s %s: %s", what, name,
				 e == ELOOP || e == EXDEV ? "a symlink or outside its directory"
							   : strerror(e));
	}
	int r = 0;
	if (!S_ISREG(st->st_mode))
		r = error_set(err, EINVAL, "%s %s: not a regular file", what, name);
	else if (size >= 0 && st->st_size != size)
		r = error_set(err, EINVAL, "%s %s: %lld bytes where its descriptor says %lld", what,
			      name, (long long)st->st_size, (long long)size);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int image_blob_read(int dirfd, const char *name, const char *digest, int64_t size, size_t max,
		    char **data, size_t *len, const char *what, nook_error **err)
{
	*data = NULL;
	struct stat st;
	int fd = image_blob_open(dirfd, name, size, what, &st, err);
	if (fd < 0)
		return fd;
	int r = 0;
	if ((uint64_t)st.st_size > max)
		r = error_set(err, EFBIG, "%s %s: %lld bytes, more than the %zu allowed", what, name,
			      (long long)st.st_size, max);
	char *buf = r ? NULL : malloc((size_t)st.st_size + 1);
	if (r == 0 && !buf)
		r = error_set(err, ENOMEM, "%s %s: out of memory", what, name);
	size_t got = 0;
	while (r == 0 && got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			r = error_set(err, n ? errno : EIO, "%s %s: %s", what, name,
				      n ? strerror(errno) : "shorter than it was");
		else
			got += (size_t)n;
	}
	close(fd);
	if (r == 0) {
		char got_digest[IMAGE_DIGEST_LEN + 1];
		image_digest_of(buf, got, got_digest);
		if (digest && strcmp(got_digest, digest) != 0)
			r = error_set(err, EINVAL, "%s %s: digest mismatch: expected %s, got %s", what,
				      name, digest, got_digest);
	}
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

void image_source_clear(struct image_source *s)
{
	free(s->config);
	for (size_t i = 0; i < s->nlayers; i++)
		free(s->layers[i].path);
	free(s->layers);
	if (s->tmpdir)
		image_remove_tree(s->tmpdir);
	free(s->tmpdir);
	*s = (struct image_source){0};
}
