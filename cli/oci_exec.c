/* nook-runtime exec, and the container's own process when it runs on a
 * terminal: programs run through nook-init's agent (nook/exec.h), relayed
 * by exec.c's exec_relay(). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nook/exec.h>

#include "cli/cli.h"
#include "cli/oci.h"

/* A first boot of a machine shape here takes a minute or two (it makes the
 * snapshot); a guest whose agent is not up after this never will be. */
#define AGENT_WAIT_S 900

int oci_wait_agent(const char *vsock, pid_t pid, unsigned long long start)
{
	/* A container just started may still be booting: while its VMM lives,
	 * the agent is on its way. */
	uint64_t end = monotonic_now_ns() + AGENT_WAIT_S * 1000000000ULL;
	while (monotonic_now_ns() < end) {
		int r = nook_exec_ping(vsock);
		if (r == 0)
			return 0;
		if (!oci_pid_is(pid, start))
			return -ESRCH;
		nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
	}
	return -ETIMEDOUT;
}

static struct exec_request process_request(const struct oci_process *p, bool tty)
{
	return (struct exec_request){
		.argv = p->argv,
		.env = p->env,
		.nenv = p->nenv,
		.workdir = p->cwd,
		.user = p->user,
		.interactive = true,
		.tty = tty,
		.rlimits = p->rlimits,
		.nrlimits = p->nrlimits,
	};
}

int oci_terminal_main(nook_vm_config *cfg, struct run_state *st, const char *vsock,
		      const struct oci_process *p, uint64_t t_main)
{
	fflush(NULL);
	pid_t vmm = fork();
	if (vmm == 0) {
		/* The VM goes with its relay, whatever kills it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() == 1)
			_exit(EXIT_NOOK_FAILED);
		_exit(run_config(cfg, st, t_main));
	}
	nook_vm_config_free(cfg);
	run_state_free(st);
	if (vmm < 0)
		return fail("terminal: fork: %s%s", strerror(errno), "");
	int status = 0, r = oci_wait_agent(vsock, vmm, oci_pid_start(vmm));
	if (r == 0) {
		struct exec_request req = process_request(p, true);
		r = exec_relay(vsock, &req);
		/* The program is over: so is the VM (idle, it ends with 0). */
		sigqueue(vmm, SANDBOX_SIG_STOP, (union sigval){.sival_int = 0});
		waitpid(vmm, NULL, 0);
		return r;
	}
	/* The VMM ended before its agent answered: its status says why. */
	kill(vmm, SIGKILL);
	waitpid(vmm, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_NOOK_FAILED;
}

int oci_cmd_exec(const char *root, int argc, char **argv)
{
	static const struct option opts[] = {
		{"process", required_argument, NULL, 'p'},
		{"detach", no_argument, NULL, 'd'},
		{"pid-file", required_argument, NULL, 'P'},
		{"console-socket", required_argument, NULL, 'c'},
		{"tty", no_argument, NULL, 't'},
		{"preserve-fds", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	const char *process_file = NULL, *pid_file = NULL, *console = NULL;
	bool detach = false, tty = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+p:dt", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			process_file = optarg;
			break;
		case 'd':
			detach = true;
			break;
		case 'P':
			pid_file = optarg;
			break;
		case 'c':
			console = optarg;
			break;
		case 't':
			tty = true;
			break;
		case 'n':
			break;
		default:
			return oci_fail("exec: unknown option");
		}
	}
	if (!process_file)
		return oci_fail("exec: --process FILE is required");
	if (optind != argc - 1)
		return oci_fail("exec: expected one container ID (the program comes in --process)");
	struct oci_container c;
	int status = oci_container_load(root, argv[optind], &c);
	if (status)
		return status;
	enum oci_status s = oci_status(&c);
	json_object *process = NULL;
	struct oci_process p = {0};
	int slave = -1;
	if (s != OCI_RUNNING)
		status = oci_fail("exec %s: the container is %s, not running", c.id, oci_status_name(s));
	if (status == 0 && !(process = oci_json_file(process_file)))
		status = 1;
	if (status == 0)
		status = oci_process_parse(process, process_file, &p);
	tty = tty || p.terminal;
	if (status == 0 && tty && !console)
		status = oci_fail("exec: a terminal needs --console-socket");
	char vsock[4200];
	snprintf(vsock, sizeof(vsock), "%s/" OCI_VSOCK, c.sock_dir);
	int r = 0;
	if (status == 0 && (r = oci_wait_agent(vsock, c.pid, c.pid_start)) < 0)
		status = oci_fail("exec %s: %s", c.id,
				  r == -ETIMEDOUT ? "the guest's agent does not answer"
						  : "the container ended before its agent answered");
	if (status == 0 && tty)
		status = oci_console_send(console, &slave);
	pid_t pid = -1;
	if (status == 0) {
		fflush(NULL);
		if ((pid = fork()) < 0)
			status = oci_fail("exec: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* The relay: the exec'd program's stand-in on the host. */
		if (slave >= 0 && oci_console_attach(slave) < 0)
			_exit(EXIT_NOOK_FAILED);
		struct exec_request req = process_request(&p, tty);
		_exit(exec_relay(vsock, &req));
	}
	if (slave >= 0)
		close(slave);
	if (status == 0 && pid_file)
		status = oci_pid_file(pid_file, pid);
	if (status == 0 && !detach) {
		int w;
		while (waitpid(pid, &w, 0) < 0 && errno == EINTR)
			;
		status = WIFEXITED(w) ? WEXITSTATUS(w) : 128 + WTERMSIG(w);
	} else if (status && pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	oci_process_free(&p);
	json_object_put(process);
	oci_container_free(&c);
	return status;
}
