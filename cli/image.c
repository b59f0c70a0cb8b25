/* Container images: nook pull, images, rmi, image prune, and what
 * run --image takes from an image (nook/image.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nook/image.h>

#include "cli/cli.h"

static const char usage_image[] =
	"Usage: nook pull REF\n"
	"       nook images [--format json]\n"
	"       nook rmi REF...\n"
	"       nook image prune\n"
	"       nook run --image REF [--entrypoint PROG] [OPTIONS] [-- ARG...]\n"
	"\n"
	"Container images. REF is oci:DIR[:TAG] (an OCI image layout), docker-archive:FILE\n"
	"(a docker save tarball) or docker://NAME[:TAG] (a registry, through skopeo).\n"
	"Layers are checked against their digests and unpacked once into the store in\n"
	"$NOOK_CACHE_DIR/images (else ~/.cache/nook/images), shared by every image that\n"
	"has them. rmi forgets an image; image prune removes the layers no image uses.\n"
	"run --image pulls REF if needed and runs its layers as the root, under a\n"
	"private writable layer removed after the run (a sandbox's stays with it).\n";

/* ---- progress on a terminal ---- */

struct progress {
	bool tty;
	uint64_t last_ns;
};

static void show_progress(const struct nook_image_progress *p, void *opaque)
{
	struct progress *pr = opaque;
	uint64_t now = monotonic_now_ns();
	bool done = p->cached || (p->total && p->bytes >= p->total);
	if (!pr->tty || (!done && now - pr->last_ns < 100000000))
		return;
	pr->last_ns = now;
	if (p->cached)
		fprintf(stderr, "\rlayer %zu/%zu %.19s: already in the store\033[K\n", p->layer,
			p->nlayers, p->digest);
	else
		fprintf(stderr, "\rlayer %zu/%zu %.19s: %.1f/%.1f MiB\033[K%s", p->layer, p->nlayers,
			p->digest, (double)p->bytes / 1048576, (double)p->total / 1048576,
			done ? "\n" : "");
}

static int open_store(nook_image_store **s)
{
	nook_error *err = NULL;
	return nook_image_store_open(NULL, s, &err) < 0 ? fail_error(err) : 0;
}

static int pull(nook_image_store *s, const char *ref, nook_image **img)
{
	struct progress pr = {.tty = isatty(STDERR_FILENO)};
	nook_error *err = NULL;
	if (nook_image_pull(s, ref, show_progress, &pr, img, &err) < 0)
		return fail_error(err);
	return 0;
}

int cmd_pull(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		bool help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
		fputs(usage_image, help ? stdout : stderr);
		return help ? 0 : EXIT_NOOK_FAILED;
	}
	nook_image_store *s;
	nook_image *img = NULL;
	int status = open_store(&s);
	if (status == 0)
		status = pull(s, argv[1], &img);
	if (status == 0)
		printf("%s %s\n", nook_image_name(img), nook_image_id(img));
	nook_image_free(img);
	nook_image_store_close(s);
	return status;
}

static uint64_t image_size(const nook_image *img)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < nook_image_layer_count(img); i++)
		sum += nook_image_layer_size(img, i);
	return sum;
}

static void print_json(nook_image *const *list, size_t n)
{
	putchar('[');
	for (size_t i = 0; i < n; i++) {
		printf("%s{\"name\":", i ? "," : "");
		json_string(stdout, nook_image_name(list[i]));
		printf(",\"id\":\"%s\",\"size\":%" PRIu64 ",\"layers\":[", nook_image_id(list[i]),
		       image_size(list[i]));
		for (size_t j = 0; j < nook_image_layer_count(list[i]); j++) {
			printf("%s{\"path\":", j ? "," : "");
			json_string(stdout, nook_image_layer_path(list[i], j));
			printf(",\"size\":%" PRIu64 "}", nook_image_layer_size(list[i], j));
		}
		printf("]}");
	}
	printf("]\n");
}

int cmd_images(int argc, char **argv)
{
	bool json = argc == 3 && !strcmp(argv[1], "--format") && !strcmp(argv[2], "json");
	if (argc != 1 && !json) {
		bool help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
		fputs(usage_image, help ? stdout : stderr);
		return help ? 0 : EXIT_NOOK_FAILED;
	}
	nook_image_store *s;
	int status = open_store(&s);
	if (status)
		return status;
	nook_image **list = NULL;
	size_t n = 0;
	nook_error *err = NULL;
	if (nook_image_list(s, &list, &n, &err) < 0)
		status = fail_error(err);
	else if (json)
		print_json(list, n);
	else
		printf("%-19s  %6s  %10s  %s\n", "ID", "LAYERS", "SIZE", "NAME");
	for (size_t i = 0; !json && i < n; i++)
		printf("%.19s  %6zu  %6.1f MiB  %s\n", nook_image_id(list[i]),
		       nook_image_layer_count(list[i]), (double)image_size(list[i]) / 1048576,
		       nook_image_name(list[i]));
	for (size_t i = 0; i < n; i++)
		nook_image_free(list[i]);
	free(list);
	nook_image_store_close(s);
	return status;
}

int cmd_rmi(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-') {
		bool help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
		fputs(usage_image, help ? stdout : stderr);
		return help ? 0 : EXIT_NOOK_FAILED;
	}
	nook_image_store *s;
	int status = open_store(&s);
	for (int i = 1; status == 0 && i < argc; i++) {
		nook_error *err = NULL;
		if (nook_image_remove(s, argv[i], &err) < 0)
			status = fail_error(err);
		else
			printf("removed %s\n", argv[i]);
	}
	nook_image_store_close(s);
	return status;
}

int cmd_image(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "pull"))
		return cmd_pull(argc - 1, argv + 1);
	if (argc >= 2 && (!strcmp(argv[1], "ls") || !strcmp(argv[1], "list")))
		return cmd_images(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "rm"))
		return cmd_rmi(argc - 1, argv + 1);
	if (argc == 2 && !strcmp(argv[1], "prune")) {
		nook_image_store *s;
		int status = open_store(&s);
		nook_error *err = NULL;
		uint64_t freed;
		int n = status ? 0 : nook_image_prune(s, &freed, &err);
		if (!status && n < 0)
			status = fail_error(err);
		else if (!status)
			printf("removed %d layer%s, %.1f MiB\n", n, n == 1 ? "" : "s",
			       (double)freed / 1048576);
		nook_image_store_close(s);
		return status;
	}
	bool help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
	fputs(usage_image, help ? stdout : stderr);
	return help ? 0 : EXIT_NOOK_FAILED;
}

/* ---- run --image ---- */

/* The program, as docker runs it: Entrypoint then Cmd; PROGRAM ARGS
 * replace Cmd; --entrypoint replaces Entrypoint and drops Cmd. A
 * NULL-terminated array (free() it) of strings of the image and args. */
int run_image_program(const struct run_state *st, char **args, size_t nargs,
		      const char ***argv)
{
	const nook_image *img = st->image_handle;
	const char *ep_flag[] = {st->entrypoint, NULL};
	const char *const *ep = st->entrypoint ? ep_flag : nook_image_entrypoint(img);
	const char *const *cmd = st->entrypoint || nargs ? NULL : nook_image_cmd(img);
	size_t nep = 0, ncmd = 0;
	while (ep && ep[nep])
		nep++;
	while (cmd && cmd[ncmd])
		ncmd++;
	size_t total = nep + (nargs ? nargs : ncmd);
	const char *prog = !total ? NULL : nep ? ep[0] : nargs ? args[0] : cmd[0];
	if (!prog || !*prog)
		return fail("--image %s: no PROGRAM given and the image has no Entrypoint or Cmd%s",
			    st->image, "");
	const char **v = calloc(total + 1, sizeof(*v));
	if (!v)
		return fail("%s%s", "out of memory", "");
	for (size_t i = 0; i < total; i++)
		v[i] = i < nep ? ep[i] : nargs ? args[i - nep] : cmd[i - nep];
	*argv = v;
	return 0;
}

int run_image_open(struct run_state *st)
{
	nook_image_store *s;
	int status = open_store(&s);
	if (status)
		return status;
	nook_error *err = NULL;
	nook_image *img = NULL;
	int r = nook_image_open(s, st->image, &img, &err);
	if (r == -ENOENT) {
		nook_error_free(err);
		status = pull(s, st->image, &img);
	} else if (r < 0) {
		status = fail_error(err);
	}
	if (status) {
		nook_image_store_close(s);
		return status;
	}
	st->image_handle = img;
	st->image_store = s;
	/* The image's Env under -e (which stays last), WorkingDir and User
	 * unless -w and -u. */
	const char *const *env = nook_image_env(img);
	size_t n = 0, given = st->nenv;
	while (env && env[n])
		n++;
	const char **list = calloc(given + n + 1, sizeof(*list));
	if (!list)
		return fail("%s%s", "out of memory", "");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!env_has_key(st->env, given, env[i]))
			list[k++] = env[i];
	if (given)
		memcpy(list + k, st->env, given * sizeof(*list));
	free(st->env);
	st->env = list;
	st->nenv = k + given;
	if (!st->workdir)
		st->workdir = nook_image_workdir(img);
	if (!st->user && nook_image_user(img) && *nook_image_user(img))
		st->user = nook_image_user(img);
	return 0;
}

/* The overlay root: the image's layers under a writable upper one, the
 * sandbox's own or a new one removed after the run. */
int run_image_root(nook_vm_config *cfg, struct run_state *st)
{
	nook_image *img = st->image_handle;
	nook_error *err = NULL;
	char *upper = NULL;
	if (st->sandbox_dir) {
		if (asprintf(&upper, "%s/" SANDBOX_UPPER, st->sandbox_dir) < 0)
			return fail("%s%s", "out of memory", "");
		/* 0755 as nook_image_upper_new() makes it (the sandbox's
		 * directory is 0700). */
		if ((mkdir(upper, 0755) < 0 && errno != EEXIST) || chmod(upper, 0755) < 0) {
			int e = errno;
			free(upper);
			return fail("sandbox upper layer: %s", strerror(e), "");
		}
	} else if (nook_image_upper_new(st->image_store, &upper, &err) < 0) {
		return fail_error(err);
	} else {
		st->upper_temp = upper;
	}
	st->image_pid = getpid();
	size_t n = nook_image_layer_count(img);
	const char **layers = calloc(n + 1, sizeof(*layers));
	int status = layers ? 0 : fail("%s%s", "out of memory", "");
	if (status == 0 && nook_image_lease_take(st->image_store, img, &st->image_lease, &err) < 0)
		status = fail_error(err);
	if (status) {
		free(layers);
		if (!st->upper_temp)
			free(upper);
		return status;
	}
	for (size_t i = 0; i < n; i++)
		layers[i] = nook_image_layer_path(img, i);
	layers[n] = upper;
	int r = nook_vm_config_set_fs_root_overlay(cfg, layers, n + 1);
	free(layers);
	if (!st->upper_temp)
		free(upper);
	/* Nothing of the store stays open: a jail closes what the
	 * configuration does not hold. */
	run_image_free(st);
	return r < 0 ? fail("--image %s: %s", st->image, strerror(-r)) : 0;
}

/* Removes a run's own upper layer and lets its layers go, in the process
 * that made it (not in a jailed child of it). */
void run_image_done(struct run_state *st)
{
	nook_image_lease_release(st->image_lease);
	st->image_lease = NULL;
	if (st->upper_temp && st->image_pid == getpid()) {
		nook_error *err = NULL;
		if (nook_image_remove_dir(st->upper_temp, &err) < 0)
			fail_error(err);
	}
	free(st->upper_temp);
	st->upper_temp = NULL;
}

void run_image_free(struct run_state *st)
{
	nook_image_free(st->image_handle);
	nook_image_store_close(st->image_store);
	st->image_handle = NULL;
	st->image_store = NULL;
}
