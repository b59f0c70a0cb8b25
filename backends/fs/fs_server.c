/* FUSE passthrough server: creation and destruction. See fs_server.h for
 * the model and fs_internal.h for where the rest lives. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"
#include "util/error.h"

#define FS_MAX_WRITE_LIMIT (1u << 20)
#define FS_MIN_FDS 64

/* The descriptor budget and reserve (fs_server.h, max_fds). */
static void set_fd_budget(struct fs_server *s, uint32_t max_fds)
{
	struct rlimit rl;
	rlim_t soft = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
	if (soft > INT_MAX)
		soft = INT_MAX;
	s->fd_reserve_from = (unsigned)(soft - soft / 8);
	if (!max_fds)
		max_fds = soft / 2 > FS_MIN_FDS ? (uint32_t)(soft / 2) : FS_MIN_FDS;
	s->max_fds = max_fds;
}

static int export_open(struct fs_server *s, size_t i, const struct fs_export *ex, nook_error **err)
{
	int fd = open(ex->host_path, O_PATH | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return error_set(err, e, "%s: %s", ex->host_path, strerror(e));
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(err, EINVAL, "%s: not a directory or regular file",
				      ex->host_path);
	}
	int r = fs_node_make_root(s, fd, &st, (int)i, &s->exports[i].root);
	if (r < 0)
		return error_set(err, -r, "%s: %s", ex->host_path, strerror(-r));
	return 0;
}

static int check_options(const struct fs_server_options *opt, bool synthetic, nook_error **err)
{
	if (!opt->nexports)
		return error_set(err, EINVAL, "file system server: no exports");
	for (size_t i = 0; i < opt->nexports; i++) {
		const char *name = opt->exports[i].name;
		if (!opt->exports[i].host_path)
			return error_set(err, EINVAL, "file system export %zu: no host path", i);
		if (synthetic && (!name || !name[0] || strchr(name, '/') || !strcmp(name, ".") ||
				  !strcmp(name, "..") || strlen(name) > NAME_MAX))
			return error_set(err, EINVAL, "file system export %s: invalid name \"%s\"",
					      opt->exports[i].host_path, name ? name : "(null)");
		for (size_t j = 0; synthetic && j < i; j++)
			if (!strcmp(opt->exports[j].name, name))
				return error_set(err, EINVAL,
						      "file system export \"%s\": name used twice", name);
	}
	if (opt->hidden_name && (!opt->hidden_name[0] || strchr(opt->hidden_name, '/')))
		return error_set(err, EINVAL, "hidden name \"%s\": not a file name",
				      opt->hidden_name);
	return 0;
}

int fs_server_create(const struct fs_server_options *opt, struct fs_server **out,
		     nook_error **err)
{
	bool synthetic = !(opt->nexports == 1 && !opt->exports[0].name);
	int r = check_options(opt, synthetic, err);
	if (r < 0)
		return r;
	struct fs_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->exports = calloc(opt->nexports, sizeof(*s->exports))) ||
	    (opt->hidden_name && !(s->hidden_name = strdup(opt->hidden_name)))) {
		if (s)
			free(s->exports);
		free(s);
		return error_set(err, ENOMEM, "out of memory");
	}
	pthread_mutex_init(&s->lock, NULL);
	s->nexports = opt->nexports;
	s->op_counts = opt->op_counts;
	s->writeback_cache = opt->writeback_cache;
	s->dax_window = opt->dax_window;
	s->dax_window_size = opt->dax_window ? opt->dax_window_size & ~(FS_DAX_UNIT - 1) : 0;
	s->dax_broken = opt->dax_broken;
	s->dax_opaque = opt->dax_opaque;
	s->max_write = opt->max_write ? opt->max_write : FS_MAX_WRITE_LIMIT;
	if (s->max_write > FS_MAX_WRITE_LIMIT)
		s->max_write = FS_MAX_WRITE_LIMIT;
	if (s->max_write < 4096)
		s->max_write = 4096;
	s->max_write &= ~4095u;
	set_fd_budget(s, opt->max_fds);
	clock_gettime(CLOCK_REALTIME, &s->created);
	for (size_t i = 0; i < opt->nexports && r == 0; i++) {
		s->exports[i].read_only = opt->exports[i].read_only;
		if (synthetic && !(s->exports[i].name = strdup(opt->exports[i].name)))
			r = error_set(err, ENOMEM, "out of memory");
		else
			r = export_open(s, i, &opt->exports[i], err);
	}
	if (r == 0 && fs_tables_set_root(s, synthetic) < 0)
		r = error_set(err, ENOMEM, "out of memory");
	if (r < 0) {
		fs_server_destroy(s);
		return r;
	}
	*out = s;
	return 0;
}

void fs_server_destroy(struct fs_server *s)
{
	if (!s)
		return;
	fs_tables_free(s);
	for (size_t i = 0; i < s->nexports; i++)
		free(s->exports[i].name);
	free(s->exports);
	free(s->hidden_name);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
