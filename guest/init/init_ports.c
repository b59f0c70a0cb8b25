#include "guest/init/init_ports.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The kernel adds the ports of a device just bound, and learns their
 * names, in a work queue: they come a little after the bind. */
#define PORT_WAIT_MS 5000
#define PORT_POLL_MS 10
#define LINK_DIR "/dev/virtio-ports"

bool init_port_name(DIR *dir, const char *entry, char *name, size_t size)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/name", entry);
	int fd = openat(dirfd(dir), path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, name, size - 1);
	close(fd);
	if (n <= 0)
		return false;
	name[n] = '\0';
	name[strcspn(name, "\n")] = '\0';
	return name[0] != '\0';
}

/* Links the ports of cfg->ports that have come; returns how many are
 * linked in all. */
static size_t link_ports(const struct init_config *cfg, bool *linked)
{
	DIR *dir = opendir("/sys/class/virtio-ports");
	struct dirent *e;
	char name[128], target[300], link[sizeof(LINK_DIR) + 128];
	size_t n = 0;

	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.' || !init_port_name(dir, e->d_name, name, sizeof(name)))
			continue;
		for (size_t i = 0; i < cfg->nports; i++) {
			if (linked[i] || strcmp(name, cfg->ports[i]) != 0)
				continue;
			snprintf(target, sizeof(target), "../%s", e->d_name);
			snprintf(link, sizeof(link), LINK_DIR "/%s", name);
			linked[i] = symlink(target, link) == 0 || errno == EEXIST;
		}
	}
	if (dir)
		closedir(dir);
	for (size_t i = 0; i < cfg->nports; i++)
		n += linked[i];
	return n;
}

int init_port_links(const struct init_config *cfg, char *err, size_t errlen)
{
	if (!cfg->nports)
		return 0;
	bool *linked = calloc(cfg->nports, sizeof(*linked));
	if (!linked) {
		snprintf(err, errlen, "console ports: out of memory");
		return -ENOMEM;
	}
	mkdir(LINK_DIR, 0755);
	for (int waited = 0; link_ports(cfg, linked) < cfg->nports; waited += PORT_POLL_MS) {
		if (waited >= PORT_WAIT_MS) {
			size_t i = 0;
			while (linked[i])
				i++;
			snprintf(err, errlen, "console port %s did not appear in %d ms", cfg->ports[i],
				 PORT_WAIT_MS);
			free(linked);
			return -ENODEV;
		}
		nanosleep(&(struct timespec){ .tv_nsec = PORT_POLL_MS * 1000000L }, NULL);
	}
	free(linked);
	return 0;
}
