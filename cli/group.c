/* Sandbox groups (group.h). */
#include "cli/group.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nook/parse.h>

#include "cli/cli.h"
#include "cli/sandbox_dir.h"

/* The switch's process checks this often whether a member still runs, and
 * ends after this many checks without one. */
#define SWITCH_CHECK_MS 5000
#define SWITCH_IDLE_CHECKS 3
/* The program that runs the switch. */
#define VDE_PLUG "vde_plug"
/* How long a member waits for a new switch's control socket. */
#define SWITCH_START_MS 5000

static int group_dir(const char *group, char *out, size_t len)
{
	if (sandbox_name_check(group) < 0)
		return EXIT_NOOK_FAILED;
	char base[4096];
	int r = runtime_dir(base, sizeof(base));
	if (r)
		return r;
	if (snprintf(out, len, "%s/.groups", base) >= (int)len)
		return fail("group %s: %s", group, "path too long");
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return fail("group %s: %s", out, strerror(errno));
	if (snprintf(out, len, "%s/.groups/%s", base, group) >= (int)len)
		return fail("group %s: %s", group, "path too long");
	if (mkdir(out, 0700) < 0 && errno != EEXIST)
		return fail("group %s: %s", out, strerror(errno));
	char members[4300];
	snprintf(members, sizeof(members), "%s/members", out);
	if (mkdir(members, 0700) < 0 && errno != EEXIST)
		return fail("group %s: %s", members, strerror(errno));
	return 0;
}

/* Whether a member of the group runs: its sandbox's monitor lives. The
 * sandboxes are in the runtime directory, two levels above the group's. */
static bool member_runs(const char *dir)
{
	char members[4300], sandbox[4400];
	snprintf(members, sizeof(members), "%s/members", dir);
	DIR *d = opendir(members);
	if (!d)
		return false;
	bool runs = false;
	struct dirent *e;
	while (!runs && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(sandbox, sizeof(sandbox), "%s/../../%s", dir, e->d_name);
		runs = sandbox_monitor(sandbox) != 0;
	}
	closedir(d);
	return runs;
}

/* The switch: libvdeplug4's switch module in `vde_plug null:// switch://`
 * (Debian's vdeplug), under this process, which ends it once no member has
 * run for SWITCH_IDLE_CHECKS checks. */
static _Noreturn void switch_main(const char *dir)
{
	char path[4300], url[4400];
	close_range(3, ~0u, 0);
	snprintf(path, sizeof(path), "%s/switch.lock", dir);
	int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0)
		_exit(0); /* another one runs */
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	snprintf(url, sizeof(url), "switch://%s/switch", dir);
	pid_t plug = fork();
	if (plug == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execlp(VDE_PLUG, VDE_PLUG, "null://", url, (char *)NULL);
		_exit(127);
	}
	for (unsigned idle = 0; plug > 0 && idle < SWITCH_IDLE_CHECKS;) {
		nanosleep(&(struct timespec){.tv_sec = SWITCH_CHECK_MS / 1000}, NULL);
		if (waitpid(plug, NULL, WNOHANG) == plug)
			_exit(1);
		idle = member_runs(dir) ? 0 : idle + 1;
	}
	if (plug > 0) {
		kill(plug, SIGTERM);
		waitpid(plug, NULL, 0);
	}
	_exit(0);
}

/* Whether `prog` is in PATH. */
static bool in_path(const char *prog)
{
	const char *p = getenv("PATH");
	char file[4200];
	for (p = p ? p : "/usr/bin:/bin"; *p;) {
		size_t len = strcspn(p, ":");
		snprintf(file, sizeof(file), "%.*s/%s", (int)len, p, prog);
		if (len && access(file, X_OK) == 0)
			return true;
		p += len + (p[len] == ':');
	}
	return false;
}

/* Starts the switch unless it runs; waits for its control socket. */
static int ensure_switch(const char *group, const char *dir)
{
	char lock[4300], ctl[4300];
	snprintf(lock, sizeof(lock), "%s/switch.lock", dir);
	snprintf(ctl, sizeof(ctl), "%s/switch/ctl", dir);
	if (!in_path(VDE_PLUG))
		return fail("group %s: its switch needs " VDE_PLUG " (Debian package vdeplug) in "
			    "PATH%s", group, "");
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail("group %s: %s", lock, strerror(errno));
	bool runs = flock(fd, LOCK_EX | LOCK_NB) < 0;
	close(fd);
	if (!runs) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			if (setsid() < 0 || fork() != 0)
				_exit(0);
			switch_main(dir);
		}
		if (pid < 0)
			return fail("group %s: cannot start its switch: %s", group, strerror(errno));
		waitpid(pid, NULL, 0);
	}
	struct stat st;
	for (int waited = 0; stat(ctl, &st) < 0; waited += 20) {
		if (waited >= SWITCH_START_MS)
			return fail("group %s: its switch did not start (%s)", group, ctl);
		nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
	}
	return 0;
}

/* Writes the hosts file from the members: in place, so that the file the
 * members' guests have stays the same file. */
static void write_hosts(const char *dir)
{
	char members[4300], path[4300];
	snprintf(members, sizeof(members), "%s/members", dir);
	snprintf(path, sizeof(path), "%s/hosts", dir);
	FILE *out = fopen(path, "we");
	DIR *d = opendir(members);
	if (!out || !d) {
		if (out)
			fclose(out);
		if (d)
			closedir(d);
		return;
	}
	fprintf(out, "127.0.0.1\tlocalhost\n");
	struct dirent *e;
	while ((e = readdir(d))) {
		char file[4600], ip[INET_ADDRSTRLEN] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", members, e->d_name);
		FILE *f = fopen(file, "re");
		if (f && fgets(ip, sizeof(ip), f))
			fprintf(out, "%s\t%s\n", strtok(ip, "\n"), e->d_name);
		if (f)
			fclose(f);
	}
	closedir(d);
	fclose(out);
}

/* The member's address: the one it had, or the lowest free host. */
static int member_address(const char *dir, const char *sandbox, const struct nook_ipv4_subnet *net,
			  struct in_addr *ip)
{
	char members[4300], file[4400];
	snprintf(members, sizeof(members), "%s/members", dir);
	snprintf(file, sizeof(file), "%s/%s", members, sandbox);
	char text[INET_ADDRSTRLEN] = "";
	FILE *f = fopen(file, "re");
	if (f) {
		bool ok = fgets(text, sizeof(text), f) && inet_pton(AF_INET, strtok(text, "\n"), ip) == 1;
		fclose(f);
		if (ok)
			return 0;
	}
	uint32_t first = ntohl(net->network.s_addr), hosts = ~ntohl(net->netmask.s_addr);
	/* .1 stays free, for a gateway to come. */
	for (uint32_t h = 2; h < hosts; h++) {
		struct in_addr cand = {htonl(first + h)};
		bool used = false;
		DIR *d = opendir(members);
		struct dirent *e;
		while (d && !used && (e = readdir(d))) {
			char other[4600], t[INET_ADDRSTRLEN] = "";
			struct in_addr a;
			if (e->d_name[0] == '.')
				continue;
			snprintf(other, sizeof(other), "%s/%s", members, e->d_name);
			FILE *o = fopen(other, "re");
			used = o && fgets(t, sizeof(t), o) && inet_pton(AF_INET, strtok(t, "\n"), &a) == 1 &&
			       a.s_addr == cand.s_addr;
			if (o)
				fclose(o);
		}
		if (d)
			closedir(d);
		if (used)
			continue;
		if (!(f = fopen(file, "we")))
			return -errno;
		inet_ntop(AF_INET, &cand, text, sizeof(text));
		fprintf(f, "%s\n", text);
		if (fclose(f) != 0)
			return -errno;
		*ip = cand;
		return 0;
	}
	return -ENOSPC;
}

/* The group's subnet, 10.77.N.0/24 with N recorded in its file "subnet":
 * the lowest N no other group of the user has, so that a member's address
 * names one sandbox whichever group it is in. Under .groups/lock. */
static int group_subnet(const char *dir, struct nook_ipv4_subnet *out)
{
	char groups[4300], lock[4400], file[4400], text[64];
	snprintf(groups, sizeof(groups), "%s/..", dir);
	snprintf(lock, sizeof(lock), "%s/lock", groups);
	snprintf(file, sizeof(file), "%s/subnet", dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	int r = -ENOSPC;
	FILE *f = fopen(file, "re");
	if (f) {
		r = fgets(text, sizeof(text), f) && nook_parse_ipv4_subnet(strtok(text, "\n"), out, NULL) == 0
			    ? 0 : -EINVAL;
		fclose(f);
	}
	for (unsigned n = 0; r == -ENOSPC && n < GROUP_SUBNETS; n++) {
		bool used = false;
		DIR *d = opendir(groups);
		struct dirent *e;
		snprintf(text, sizeof(text), GROUP_SUBNET_FMT "\n", n);
		while (d && !used && (e = readdir(d))) {
			char other[4600], t[64];
			if (e->d_name[0] == '.')
				continue;
			snprintf(other, sizeof(other), "%s/%s/subnet", groups, e->d_name);
			FILE *o = fopen(other, "re");
			used = o && fgets(t, sizeof(t), o) && strcmp(t, text) == 0;
			if (o)
				fclose(o);
		}
		if (d)
			closedir(d);
		if (used)
			continue;
		if (!(f = fopen(file, "we")) || fputs(text, f) < 0 || fclose(f) != 0) {
			r = -errno;
			break;
		}
		r = nook_parse_ipv4_subnet(strtok(text, "\n"), out, NULL) == 0 ? 0 : -EINVAL;
	}
	close(fd);
	return r;
}

int group_join(const char *group, const char *sandbox, struct group_member *out)
{
	char dir[4096], lock[4300];
	int r = group_dir(group, dir, sizeof(dir));
	if (r)
		return r;
	if ((r = group_subnet(dir, &out->subnet)) < 0)
		return fail("group %s: its subnet: %s", group,
			    r == -ENOSPC ? "every one of 10.77.0-255.0/24 is taken" : strerror(-r));
	snprintf(lock, sizeof(lock), "%s/lock", dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		r = fail("group %s: %s", lock, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	r = member_address(dir, sandbox, &out->subnet, &out->ip);
	if (r == 0)
		write_hosts(dir);
	close(fd);
	if (r < 0)
		return fail("group %s: no address for a new member: %s", group,
			    r == -ENOSPC ? "the subnet is full" : strerror(-r));
	snprintf(out->switch_url, sizeof(out->switch_url), "vde://%s/switch", dir);
	snprintf(out->hosts, sizeof(out->hosts), "%s/hosts", dir);
	return ensure_switch(group, dir);
}

void group_leave(const char *group, const char *sandbox)
{
	char dir[4096], lock[4300], file[4400];
	if (group_dir(group, dir, sizeof(dir)))
		return;
	snprintf(lock, sizeof(lock), "%s/lock", dir);
	snprintf(file, sizeof(file), "%s/members/%s", dir, sandbox);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0 && flock(fd, LOCK_EX) == 0) {
		unlink(file);
		write_hosts(dir);
	}
	if (fd >= 0)
		close(fd);
}
