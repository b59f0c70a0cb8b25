/* nook snapshot list|prune. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
static const char usage_snapshot[] =
	"Usage: nook snapshot list\n"
	"       nook snapshot prune\n"
	"\n"
	"The first run of each machine shape (kernel, command line, memory, vCPUs)\n"
	"boots the kernel and saves a snapshot of the booted guest; later runs\n"
	"restore it instead. They live in $NOOK_CACHE_DIR (else ~/.cache/nook).\n"
	"  list   one line per snapshot: key, memory, disk space, age, what it is for\n"
	"  prune  remove them all (running sandboxes are not affected)\n";


static void print_snapshot(const struct nook_snapshot_info *s, void *userdata)
{
	++*(unsigned *)userdata;
	long long age = s->created ? (long long)(time(NULL) - (time_t)s->created) : -1;
	printf("%.12s  %6llu MiB  %6llu MiB  %5lld h  %s%s\n", s->key,
	       (unsigned long long)(s->memory_bytes >> 20), (unsigned long long)(s->disk_bytes >> 20),
	       age >= 0 ? age / 3600 : -1, s->valid ? "" : "NOT VALID: ", s->about);
}

int cmd_snapshot(int argc, char **argv)
{
	nook_error *err = NULL;
	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		unsigned n = 0;
		printf("%-12s  %10s  %10s  %7s  %s\n", "KEY", "MEMORY", "ON DISK", "AGE", "ABOUT");
		if (nook_snapshot_list(print_snapshot, &n, &err) < 0)
			return fail_error(err);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "prune") == 0) {
		unsigned removed;
		if (nook_snapshot_prune(&removed, &err) < 0)
			return fail_error(err);
		printf("removed %u snapshot%s\n", removed, removed == 1 ? "" : "s");
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_snapshot, stdout);
		return 0;
	}
	fputs(usage_snapshot, stderr);
	return EXIT_NOOK_FAILED;
}
