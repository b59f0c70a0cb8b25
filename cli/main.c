/* nook: the command line. It uses only the public libnook API; every run
 * flag maps onto one nook_vm_config call (README, "CLI and API"). Exit
 * status: the guest program's, or 125 when nook itself fails (as docker run
 * does). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "cli/cli.h"

static const char usage_main[] =
	"Usage: nook COMMAND [OPTIONS]\n"
	"\n"
	"Run a program in its own lightweight Linux virtual machine.\n"
	"\n"
	"Commands:\n"
	"  run       Start a microVM and run a program in it\n"
	"  create    Create a long-lived sandbox (started by start, or run -d)\n"
	"  start     Start a created or stopped sandbox\n"
	"  exec      Run another program in a running sandbox\n"
	"  ps        List the sandboxes\n"
	"  logs      Show a sandbox's program output\n"
	"  stop      Stop a sandbox (SIGTERM, then the VM ends)\n"
	"  kill      Send a signal to a sandbox's program\n"
	"  rm        Remove a sandbox\n"
	"  inspect   Everything about a sandbox, as JSON\n"
	"  snapshot  List or empty the cache of warm-start snapshots\n"
	"  pull      Fetch a container image into the image store\n"
	"  images    List the images in the store\n"
	"  rmi       Forget an image\n"
	"  image     prune: remove the layers no image uses\n"
	"  version   Print the version\n"
	"\n"
	"Run 'nook run --help' for the options of run, 'nook create --help' for\n"
	"long-lived sandboxes, 'nook exec --help' for exec.\n";

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{"snapshot", cmd_snapshot}, {"create", cmd_create}, {"start", cmd_start},
	{"exec", cmd_exec},         {"ps", cmd_ps},         {"logs", cmd_logs},
	{"stop", cmd_stop},         {"kill", cmd_kill},     {"rm", cmd_rm},
	{"inspect", cmd_inspect},
	{"pull", cmd_pull},         {"images", cmd_images}, {"rmi", cmd_rmi},
	{"image", cmd_image},
};

int main(int argc, char **argv)
{
	uint64_t t_main = monotonic_now_ns();
	/* A closed stdout must not kill nook with SIGPIPE while a guest runs. */
	signal(SIGPIPE, SIG_IGN);
	/* The file system server holds a descriptor per guest-known inode. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_NOOK_FAILED;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("nook %s\n", NOOK_VERSION);
		return 0;
	}
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1, t_main);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "nook: unknown command \"%s\"\n%s", cmd, usage_main);
	return EXIT_NOOK_FAILED;
}
