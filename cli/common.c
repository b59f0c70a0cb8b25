/* What every nook command uses: errors, numbers, sockets. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
uint64_t monotonic_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int fail(const char *fmt, const char *arg, const char *detail)
{
	fprintf(stderr, "nook: ");
	fprintf(stderr, fmt, arg, detail);
	fprintf(stderr, "\n");
	return EXIT_NOOK_FAILED;
}

int fail_error(nook_error *err)
{
	fprintf(stderr, "nook: %s\n", nook_error_message(err));
	nook_error_free(err);
	return EXIT_NOOK_FAILED;
}

int parse_on_off(const char *flag, const char *arg, bool *on)
{
	if (strcmp(arg, "on") == 0 || strcmp(arg, "off") == 0) {
		*on = arg[1] == 'n';
		return 0;
	}
	fprintf(stderr, "nook: %s \"%s\": expected on or off\n", flag, arg);
	return -EINVAL;
}

int parse_count(const char *flag, const char *text, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (!*text || *end || errno || text[0] == '-' || v > max) {
		fprintf(stderr, "nook: %s \"%s\": expected a whole number up to %" PRIu64 "\n", flag,
			text, max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}


/* A UNIX stream socket connected to `path`, or -1 with errno. */
int connect_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

bool env_has_key(const char *const *env, size_t n, const char *kv)
{
	size_t klen = strcspn(kv, "=");
	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], kv, klen) == 0 && (env[i][klen] == '=' || env[i][klen] == '\0'))
			return true;
	return false;
}
