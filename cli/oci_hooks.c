/* The config's hooks, run as the runtime spec says: path, args (argv[0]
 * included), env, timeout in seconds, the container's state on stdin; a
 * failing or late hook is an error. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/oci.h"

/* Without a timeout, a hook still may not hold the runtime forever. */
#define HOOK_DEFAULT_TIMEOUT_S 120

static int run_hook(json_object *hook, const char *kind, size_t i, const char *state)
{
	json_object *path, *args = NULL, *env = NULL, *timeout = NULL;
	if (!json_object_object_get_ex(hook, "path", &path) ||
	    !json_object_is_type(path, json_type_string))
		return oci_fail("config.json: hooks.%s[%zu]: no path", kind, i);
	json_object_object_get_ex(hook, "args", &args);
	json_object_object_get_ex(hook, "env", &env);
	json_object_object_get_ex(hook, "timeout", &timeout);
	const char *p = json_object_get_string(path);
	size_t nargs = json_object_is_type(args, json_type_array) ? json_object_array_length(args) : 0;
	size_t nenv = json_object_is_type(env, json_type_array) ? json_object_array_length(env) : 0;
	char **argv = calloc(nargs + 2, sizeof(*argv)), **envp = calloc(nenv + 1, sizeof(*envp));
	if (!argv || !envp) {
		free(argv);
		free(envp);
		return oci_fail("out of memory");
	}
	for (size_t k = 0; k < nargs; k++)
		argv[k] = (char *)json_object_get_string(json_object_array_get_idx(args, k));
	if (!nargs)
		argv[0] = (char *)p;
	for (size_t k = 0; k < nenv; k++)
		envp[k] = (char *)json_object_get_string(json_object_array_get_idx(env, k));
	long limit = timeout ? json_object_get_int64(timeout) : HOOK_DEFAULT_TIMEOUT_S;
	if (limit <= 0)
		limit = HOOK_DEFAULT_TIMEOUT_S;

	int in[2];
	if (pipe2(in, O_CLOEXEC) < 0) {
		free(argv);
		free(envp);
		return oci_fail("hooks.%s[%zu] %s: %s", kind, i, p, strerror(errno));
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		execve(p, argv, envp);
		_exit(127);
	}
	free(argv);
	free(envp);
	close(in[0]);
	if (pid < 0) {
		close(in[1]);
		return oci_fail("hooks.%s[%zu] %s: %s", kind, i, p, strerror(errno));
	}
	/* A hook that does not read its stdin does not block us: the state
	 * fits a pipe's buffer (and main() ignores SIGPIPE). */
	if (write(in[1], state, strlen(state)) < 0 && errno != EPIPE)
		oci_debug("hooks.%s[%zu]: writing the state: %s", kind, i, strerror(errno));
	close(in[1]);
	int status = 0;
	for (long waited = 0;; waited++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return oci_fail("hooks.%s[%zu] %s: %s", kind, i, p, strerror(errno));
		if (waited >= limit * 10) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return oci_fail("hooks.%s[%zu] %s: still running after %ld s: killed", kind, i,
					p, limit);
		}
		nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return oci_fail("hooks.%s[%zu] %s: exit status %d", kind, i, p, WEXITSTATUS(status));
	return oci_fail("hooks.%s[%zu] %s: killed by signal %d", kind, i, p, WTERMSIG(status));
}

int oci_hooks_run(json_object *hooks, const char *kind, json_object *state)
{
	json_object *list;
	if (!hooks || !json_object_object_get_ex(hooks, kind, &list) ||
	    !json_object_is_type(list, json_type_array))
		return 0;
	const char *text = json_object_to_json_string_ext(
		state, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		int r = run_hook(json_object_array_get_idx(list, i), kind, i, text);
		if (r)
			return r;
	}
	return 0;
}
