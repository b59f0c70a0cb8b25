#include "guest/init/init_disks.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void init_disk_links(void)
{
	/* The first virtio disk is always vda (the lowest free index); without
	 * one, skip reading the directory (~0.1 s of emulated kernel on PVM). */
	if (access("/sys/block/vda", F_OK) < 0)
		return;
	DIR *dir = opendir("/sys/block");
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (strncmp(e->d_name, "vd", 2) != 0)
			continue;
		char path[300], serial[64], link[128], target[300];
		snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, serial, sizeof(serial) - 1);
		close(fd);
		while (n > 0 && (serial[n - 1] == '\n' || serial[n - 1] == 0))
			n--;
		if (n <= 0)
			continue;
		serial[n] = 0;
		/* As udev does: nothing in the name but printable non-slashes. */
		for (ssize_t i = 0; i < n; i++)
			if (serial[i] <= ' ' || serial[i] > '~' || serial[i] == '/')
				serial[i] = '_';
		mkdir("/dev/disk", 0755);
		mkdir("/dev/disk/by-id", 0755);
		snprintf(link, sizeof(link), "/dev/disk/by-id/virtio-%s", serial);
		snprintf(target, sizeof(target), "../../%s", e->d_name);
		symlink(target, link);
	}
	closedir(dir);
}
