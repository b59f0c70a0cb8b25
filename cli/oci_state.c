/* nook-runtime's containers on disk (oci.h) and their status. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/oci.h"

int oci_id_check(const char *id)
{
	/* runc's rule: letters, digits, '_', '+', '-', '.'; never "." or "..". */
	size_t len = strlen(id);
	bool ok = len >= 1 && len < sizeof(((struct oci_container *)0)->id) &&
		  strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
	for (size_t i = 0; ok && i < len; i++) {
		char c = id[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		     c == '_' || c == '+' || c == '-' || c == '.';
	}
	return ok ? 0 : oci_fail("container ID \"%s\": expected 1 to 255 letters, digits, "
				 "'_', '+', '-' or '.'", id);
}

static int container_path(const char *root, const char *id, struct oci_container *c)
{
	*c = (struct oci_container){0};
	if (oci_id_check(id))
		return 1;
	snprintf(c->id, sizeof(c->id), "%s", id);
	int n = snprintf(c->dir, sizeof(c->dir), "%s/%s", root, id);
	if (n < 0 || (size_t)n >= sizeof(c->dir))
		return oci_fail("container %s: its state directory in %s is too long", id, root);
	/* Room for the vsock socket's guest connections (_PORT) in a
	 * sockaddr_un; else a directory named by the state directory's
	 * FNV-1a hash (a clash is refused by mkdir). */
	if ((size_t)n + sizeof("/" OCI_VSOCK "_4294967295") <= 108) {
		memcpy(c->sock_dir, c->dir, (size_t)n + 1);
		return 0;
	}
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const char *p = c->dir; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	snprintf(c->sock_dir, sizeof(c->sock_dir), OCI_SOCKET_ROOT "/%016llx", (unsigned long long)h);
	return 0;
}

/* `path` and its missing parents (0700), as runc makes its --root. */
static int make_dirs(const char *path)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = 0;
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			return -errno;
		if (!s)
			return 0;
		*s = '/';
	}
}

/* The socket directory of a new container, holding the name of its state
 * directory (OCI_SOCKET_OWNER). One that exists already is taken over only
 * when it names the same state directory: a runtime killed before delete
 * left it (with a stale socket); a different name is a hash clash
 * (-EEXIST). */
static int make_sock_dir(const struct oci_container *c)
{
	int r = make_dirs(OCI_SOCKET_ROOT);
	if (r < 0)
		return r;
	char path[4200], owner[sizeof(c->dir)] = "";
	snprintf(path, sizeof(path), "%s/" OCI_SOCKET_OWNER, c->sock_dir);
	if (mkdir(c->sock_dir, 0700) < 0) {
		if (errno != EEXIST)
			return -errno;
		FILE *f = fopen(path, "re");
		size_t n = f ? fread(owner, 1, sizeof(owner) - 1, f) : 0;
		if (f)
			fclose(f);
		owner[n] = 0;
		if (strcmp(owner, c->dir) != 0)
			return -EEXIST;
		snprintf(path, sizeof(path), "%s/" OCI_VSOCK, c->sock_dir);
		unlink(path);
		return 0;
	}
	FILE *f = fopen(path, "we");
	if (!f || fputs(c->dir, f) < 0 || fclose(f) != 0) {
		r = -errno;
		unlink(path);
		rmdir(c->sock_dir);
		return r;
	}
	return 0;
}

int oci_container_make(const char *root, const char *id, struct oci_container *c)
{
	if (container_path(root, id, c))
		return 1;
	int r = make_dirs(root);
	if (r < 0)
		return oci_fail("--root %s: %s", root, strerror(-r));
	if (mkdir(c->dir, 0700) < 0)
		return errno == EEXIST ? oci_fail("container %s exists already", id)
				       : oci_fail("container %s: %s: %s", id, c->dir, strerror(errno));
	if (strcmp(c->sock_dir, c->dir) != 0 && (r = make_sock_dir(c)) < 0) {
		rmdir(c->dir);
		return oci_fail("container %s: %s: %s", id, c->sock_dir,
				r == -EEXIST ? "in use by another container (a hash clash)"
					     : strerror(-r));
	}
	time_t now = time(NULL);
	struct tm tm;
	strftime(c->created, sizeof(c->created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	return 0;
}

int oci_container_save(const struct oci_container *c)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_string(c->id));
	json_object_object_add(o, "bundle", json_object_new_string(c->bundle));
	json_object_object_add(o, "pid", json_object_new_int(c->pid));
	json_object_object_add(o, "pidStart", json_object_new_uint64(c->pid_start));
	json_object_object_add(o, "created", json_object_new_string(c->created));
	json_object_object_add(o, "terminal", json_object_new_boolean(c->terminal));
	if (c->annotations)
		json_object_object_add(o, "annotations", json_object_get(c->annotations));
	char path[4200], tmp[4300];
	snprintf(path, sizeof(path), "%s/" OCI_STATE_FILE, c->dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int r = json_object_to_file_ext(tmp, o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	json_object_put(o);
	if (r < 0 || rename(tmp, path) < 0)
		return oci_fail("container %s: writing %s: %s", c->id, path, strerror(errno));
	return 0;
}

int oci_container_load(const char *root, const char *id, struct oci_container *c)
{
	if (container_path(root, id, c))
		return 1;
	char path[4200];
	snprintf(path, sizeof(path), "%s/" OCI_STATE_FILE, c->dir);
	if (access(c->dir, F_OK) < 0)
		return oci_fail("container %s does not exist", id);
	json_object *o = json_object_from_file(path), *v;
	if (!o) /* create died between its mkdir and its first save */
		return 0;
	if (json_object_object_get_ex(o, "bundle", &v))
		snprintf(c->bundle, sizeof(c->bundle), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "pid", &v))
		c->pid = json_object_get_int(v);
	if (json_object_object_get_ex(o, "pidStart", &v))
		c->pid_start = json_object_get_uint64(v);
	if (json_object_object_get_ex(o, "created", &v))
		snprintf(c->created, sizeof(c->created), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "terminal", &v))
		c->terminal = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "annotations", &v))
		c->annotations = json_object_get(v);
	json_object_put(o);
	return 0;
}

void oci_container_free(struct oci_container *c)
{
	json_object_put(c->annotations);
	c->annotations = NULL;
}

int oci_container_remove(const struct oci_container *c)
{
	static const char *const files[] = {OCI_STATE_FILE, OCI_STATE_FILE ".tmp", OCI_START_FIFO};
	char path[4200];
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/" OCI_VSOCK, c->sock_dir);
	unlink(path);
	if (strcmp(c->sock_dir, c->dir) != 0) {
		snprintf(path, sizeof(path), "%s/" OCI_SOCKET_OWNER, c->sock_dir);
		unlink(path);
		rmdir(c->sock_dir);
	}
	if (rmdir(c->dir) < 0 && errno != ENOENT)
		return oci_fail("container %s: removing %s: %s", c->id, c->dir, strerror(errno));
	return 0;
}

unsigned long long oci_pid_start(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* After the command's ")": state is field 3, starttime field 22. */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return 0;
	p += 2;
	for (int field = 3; field < 22 && p; field++)
		if ((p = strchr(p, ' ')))
			p++;
	return p ? strtoull(p, NULL, 10) : 0;
}

bool oci_pid_is(pid_t pid, unsigned long long start)
{
	return pid > 0 && start && oci_pid_start(pid) == start;
}

int oci_pid_file(const char *path, pid_t pid)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.nook-tmp", path);
	FILE *f = fopen(tmp, "we");
	if (!f)
		return oci_fail("--pid-file %s: %s", path, strerror(errno));
	fprintf(f, "%d", (int)pid);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return oci_fail("--pid-file %s: %s", path, strerror(e));
	}
	return 0;
}

enum oci_status oci_status(const struct oci_container *c)
{
	if (c->pid == 0)
		return OCI_CREATING;
	if (!oci_pid_is(c->pid, c->pid_start))
		return OCI_STOPPED;
	char fifo[4200];
	snprintf(fifo, sizeof(fifo), "%s/" OCI_START_FIFO, c->dir);
	return access(fifo, F_OK) == 0 ? OCI_CREATED : OCI_RUNNING;
}

const char *oci_status_name(enum oci_status s)
{
	static const char *const names[] = {"creating", "created", "running", "stopped"};
	return names[s];
}

json_object *oci_state_json(const struct oci_container *c, enum oci_status s)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ociVersion", json_object_new_string(OCI_VERSION));
	json_object_object_add(o, "id", json_object_new_string(c->id));
	json_object_object_add(o, "status", json_object_new_string(oci_status_name(s)));
	/* runc shows the pid while the process lives, 0 after. */
	json_object_object_add(o, "pid", json_object_new_int(s == OCI_STOPPED ? 0 : c->pid));
	json_object_object_add(o, "bundle", json_object_new_string(c->bundle));
	json_object_object_add(o, "created", json_object_new_string(c->created));
	json_object_object_add(o, "annotations",
			       c->annotations ? json_object_get(c->annotations) : json_object_new_object());
	return o;
}
