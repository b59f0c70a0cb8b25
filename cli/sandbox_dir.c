/* The state of long-lived sandboxes on disk (sandbox_dir.h). */
#include "cli/sandbox_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nook/image.h>

#include "cli/cli.h"

int sandbox_name_check(const char *name)
{
	size_t len = strlen(name);
	bool ok = len >= 1 && len <= SANDBOX_NAME_MAX;
	for (size_t i = 0; ok && i < len; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		ok = alnum || (i > 0 && (c == '_' || c == '.' || c == '-'));
	}
	if (ok)
		return 0;
	fprintf(stderr, "nook: sandbox name \"%s\": expected 1 to %d letters, digits, '_', '.' "
		"or '-', starting with a letter or digit\n", name, SANDBOX_NAME_MAX);
	return -EINVAL;
}

/* `path` made 0700 if missing; it must be a directory of ours that
 * nobody else may write. */
static int own_dir(const char *path)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return fail("runtime directory %s: %s", path, strerror(errno));
	struct stat st;
	if (lstat(path, &st) < 0)
		return fail("runtime directory %s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return fail("runtime directory %s: %s", path,
			    "not a directory of this user's that only it may write");
	return 0;
}

int runtime_dir(char *out, size_t len)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(out, len, "%s/nook", xdg);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/run/nook");
	else
		n = snprintf(out, len, "/tmp/nook-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= len)
		return fail("runtime directory %s: %s", xdg ? xdg : "", "path too long");
	return own_dir(out);
}

int sandbox_path(const char *name, char *out, size_t len)
{
	if (sandbox_name_check(name) < 0)
		return EXIT_NOOK_FAILED;
	char base[4096];
	int r = runtime_dir(base, sizeof(base));
	if (r)
		return r;
	/* Room for the longest file name inside, with a vsock port. */
	int n = snprintf(out, len, "%s/%s", base, name);
	if (n < 0 || (size_t)n + sizeof("/" SANDBOX_VSOCK "_4294967295") > len)
		return fail("sandbox %s: %s", name, "its directory's path is too long");
	return 0;
}

int sandbox_find(const char *name, char *out, size_t len)
{
	int r = sandbox_path(name, out, len);
	if (r)
		return r;
	struct stat st;
	if (lstat(out, &st) < 0 || !S_ISDIR(st.st_mode))
		return fail("no sandbox named \"%s\"%s", name, "");
	return 0;
}

static void file_path(char *out, size_t len, const char *dir, const char *file)
{
	snprintf(out, len, "%s/%s", dir, file);
}

int state_read(const char *dir, struct sandbox_state *st)
{
	*st = (struct sandbox_state){.exit_code = -1};
	char path[4200], line[1024];
	file_path(path, sizeof(path), dir, "state");
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *v = strchr(line, '=');
		if (!v)
			continue;
		*v++ = '\0';
		if (strcmp(line, "status") == 0)
			snprintf(st->status, sizeof(st->status), "%s", v);
		else if (strcmp(line, "created") == 0)
			st->created = atoll(v);
		else if (strcmp(line, "started") == 0)
			st->started = atoll(v);
		else if (strcmp(line, "finished") == 0)
			st->finished = atoll(v);
		else if (strcmp(line, "pid") == 0)
			st->pid = atol(v);
		else if (strcmp(line, "exit_code") == 0)
			st->exit_code = atoi(v);
		else if (strcmp(line, "error") == 0)
			snprintf(st->error, sizeof(st->error), "%s", v);
	}
	fclose(f);
	return 0;
}

int state_write(const char *dir, const struct sandbox_state *st)
{
	char path[4200], tmp[4240];
	file_path(path, sizeof(path), dir, "state");
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -errno;
	/* One line per value: a message's newlines would start a new key. */
	char error[sizeof(st->error)];
	snprintf(error, sizeof(error), "%s", st->error);
	for (char *p = error; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fprintf(f, "status=%s\ncreated=%lld\nstarted=%lld\nfinished=%lld\npid=%ld\nexit_code=%d\nerror=%s\n",
		st->status, st->created, st->started, st->finished, st->pid, st->exit_code, error);
	int r = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

pid_t sandbox_monitor(const char *dir)
{
	char path[4200];
	file_path(path, sizeof(path), dir, "monitor.lock");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	pid_t pid = fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK ? l.l_pid : 0;
	close(fd);
	return pid;
}

void state_effective(const char *dir, struct sandbox_state *st)
{
	if (strcmp(st->status, "running") == 0 && !sandbox_monitor(dir)) {
		snprintf(st->status, sizeof(st->status), "dead");
		snprintf(st->error, sizeof(st->error),
			 "its monitor process ended without recording how the sandbox ended "
			 "(killed?)");
	}
}

int strings_write(const char *dir, const char *file, int argc, const char *const *argv)
{
	char path[4200], tmp[4300];
	file_path(path, sizeof(path), dir, file);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return -errno;
	for (int i = 0; i < argc; i++)
		fwrite(argv[i], 1, strlen(argv[i]) + 1, f);
	int r = fflush(f) == 0 ? 0 : -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

char **strings_read(const char *dir, const char *file, int *argc)
{
	char path[4200];
	file_path(path, sizeof(path), dir, file);
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *text = NULL;
	size_t len = 0, cap = 0;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (len + n > cap) {
			cap = (len + n) * 2;
			char *t = realloc(text, cap);
			if (!t) {
				free(text);
				fclose(f);
				errno = ENOMEM;
				return NULL;
			}
			text = t;
		}
		memcpy(text + len, buf, n);
		len += n;
	}
	fclose(f);
	size_t count = 0;
	for (size_t i = 0; i < len; i++)
		count += text[i] == '\0';
	if (len && text[len - 1] != '\0') {
		free(text);
		errno = EINVAL;
		return NULL;
	}
	/* The pointers, then the strings, in one block. */
	char **v = malloc((count + 1) * sizeof(*v) + len + 1);
	if (!v) {
		free(text);
		errno = ENOMEM;
		return NULL;
	}
	char *s = (char *)(v + count + 1);
	if (len)
		memcpy(s, text, len);
	free(text);
	for (size_t i = 0, at = 0; i < count; i++) {
		v[i] = s + at;
		at += strlen(s + at) + 1;
	}
	v[count] = NULL;
	*argc = (int)count;
	return v;
}

/* Only what nook makes there is removed; anything else makes rmdir fail. */
static bool nook_file(const char *name)
{
	static const char *const files[] = {"spec", "spec.tmp", SANDBOX_EXEC_DEFAULTS,
					    SANDBOX_EXEC_DEFAULTS ".tmp", "state", "monitor.lock",
					    "log", "vmm.log", SANDBOX_VSOCK};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(name, files[i]) == 0)
			return true;
	return strncmp(name, "state.", 6) == 0 || strncmp(name, SANDBOX_VSOCK "_", sizeof(SANDBOX_VSOCK)) == 0;
}

int sandbox_remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)))
		if (nook_file(e->d_name))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	/* The guest's writes to an --image root. */
	char upper[4200];
	snprintf(upper, sizeof(upper), "%s/" SANDBOX_UPPER, dir);
	nook_error *err = NULL;
	if (nook_image_remove_dir(upper, &err) < 0)
		nook_error_free(err);
	return rmdir(dir) < 0 ? -errno : 0;
}
