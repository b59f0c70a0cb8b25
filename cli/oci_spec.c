/* config.json (the OCI runtime spec) into a nook VM, and the process
 * objects of config.json and exec's process.json. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nook/parse.h>

#include "cli/oci.h"

/* The smallest VM nook-init and a busybox shell are comfortable in, and
 * the default when the config sets no limit (nook run's). */
#define OCI_MIN_MEMORY_MIB 256
#define OCI_DEFAULT_MEMORY_MIB 512
#define OCI_MAX_VCPUS 64

json_object *oci_json_file(const char *path)
{
	json_object *o = json_object_from_file(path);
	if (!o)
		oci_fail("%s: %s", path, json_util_get_last_err() ? json_util_get_last_err() : "unreadable");
	return o;
}

/* The member `key` of `o` when it has type `type`; NULL when absent; *bad
 * set (after saying why) when it is there with another type. */
static json_object *member(json_object *o, const char *key, json_type type, const char *what,
			   bool *bad)
{
	json_object *v;
	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	if (json_object_is_type(v, type))
		return v;
	oci_fail("%s: \"%s\" has the wrong type (expected %s)", what, key, json_type_to_name(type));
	*bad = true;
	return NULL;
}

/* A JSON array of strings into a NULL-terminated array (borrowed strings). */
static int string_array(json_object *a, const char *what, const char *key, const char ***out,
			size_t *n)
{
	size_t len = a ? json_object_array_length(a) : 0;
	const char **v = calloc(len + 1, sizeof(*v));
	if (!v)
		return oci_fail("out of memory");
	for (size_t i = 0; i < len; i++) {
		json_object *s = json_object_array_get_idx(a, i);
		if (!json_object_is_type(s, json_type_string)) {
			free(v);
			return oci_fail("%s: %s[%zu] is not a string", what, key, i);
		}
		v[i] = json_object_get_string(s);
	}
	*out = v;
	if (n)
		*n = len;
	return 0;
}

int oci_process_parse(json_object *process, const char *what, struct oci_process *p)
{
	*p = (struct oci_process){0};
	bool bad = false;
	json_object *args = member(process, "args", json_type_array, what, &bad);
	json_object *env = member(process, "env", json_type_array, what, &bad);
	json_object *cwd = member(process, "cwd", json_type_string, what, &bad);
	json_object *user = member(process, "user", json_type_object, what, &bad);
	json_object *rlimits = member(process, "rlimits", json_type_array, what, &bad);
	json_object *terminal = member(process, "terminal", json_type_boolean, what, &bad);
	if (bad)
		return 1;
	if (!args || json_object_array_length(args) == 0)
		return oci_fail("%s: process.args is missing or empty", what);
	if (string_array(args, what, "process.args", &p->argv, NULL) ||
	    string_array(env, what, "process.env", &p->env, &p->nenv)) {
		oci_process_free(p);
		return 1;
	}
	for (size_t i = 0; i < p->nenv; i++)
		if (!strchr(p->env[i], '=') || p->env[i][0] == '=') {
			oci_fail("%s: process.env \"%s\": expected KEY=VALUE", what, p->env[i]);
			oci_process_free(p);
			return 1;
		}
	p->cwd = cwd ? json_object_get_string(cwd) : NULL;
	if (p->cwd && p->cwd[0] != '/') {
		oci_fail("%s: process.cwd \"%s\": expected an absolute path", what, p->cwd);
		oci_process_free(p);
		return 1;
	}
	p->terminal = terminal && json_object_get_boolean(terminal);
	json_object *uid = member(user, "uid", json_type_int, what, &bad);
	json_object *gid = member(user, "gid", json_type_int, what, &bad);
	if (!bad && (uid || gid)) {
		int64_t u = uid ? json_object_get_int64(uid) : 0, g = gid ? json_object_get_int64(gid) : 0;
		if (u < 0 || u >= UINT32_MAX || g < 0 || g >= UINT32_MAX)
			bad = oci_fail("%s: process.user: uid and gid must be 0 to 4294967294", what);
		snprintf(p->user_buf, sizeof(p->user_buf), "%u:%u", (unsigned)u, (unsigned)g);
		p->user = u || g ? p->user_buf : NULL;
	}
	size_t nr = rlimits ? json_object_array_length(rlimits) : 0;
	if (!bad && nr && !(p->rlimits = calloc(nr, sizeof(*p->rlimits))))
		bad = oci_fail("out of memory");
	for (size_t i = 0; !bad && i < nr; i++) {
		json_object *r = json_object_array_get_idx(rlimits, i);
		json_object *type = member(r, "type", json_type_string, what, &bad);
		json_object *soft = member(r, "soft", json_type_int, what, &bad);
		json_object *hard = member(r, "hard", json_type_int, what, &bad);
		nook_error *err = NULL;
		struct nook_rlimit *l = &p->rlimits[p->nrlimits];
		if (bad)
			break;
		if (!type || !soft || !hard) {
			bad = oci_fail("%s: process.rlimits[%zu]: expected type, soft and hard", what, i);
		} else if (nook_parse_rlimit_resource(json_object_get_string(type), &l->resource, &err) < 0) {
			bad = oci_fail("%s: process.rlimits[%zu]: %s", what, i, nook_error_message(err));
			nook_error_free(err);
		} else {
			/* RLIM_INFINITY is 2^64-1, beyond int64. */
			l->soft = json_object_get_uint64(soft);
			l->hard = json_object_get_uint64(hard);
			if (l->soft > l->hard)
				bad = oci_fail("%s: process.rlimits[%zu]: soft above hard", what, i);
			p->nrlimits++;
		}
	}
	if (bad)
		oci_process_free(p);
	return bad;
}

void oci_process_free(struct oci_process *p)
{
	free(p->argv);
	free(p->env);
	free(p->rlimits);
	*p = (struct oci_process){0};
}

/* root.path, relative to the bundle or absolute. */
static int apply_root(json_object *config, const char *bundle, nook_vm_config *cfg)
{
	bool bad = false;
	json_object *root = member(config, "root", json_type_object, "config.json", &bad);
	json_object *path = member(root, "path", json_type_string, "config.json", &bad);
	json_object *ro = member(root, "readonly", json_type_boolean, "config.json", &bad);
	if (bad)
		return 1;
	if (!path)
		return oci_fail("config.json: root.path is missing");
	char dir[PATH_MAX];
	const char *p = json_object_get_string(path);
	int n = p[0] == '/' ? snprintf(dir, sizeof(dir), "%s", p)
			    : snprintf(dir, sizeof(dir), "%s/%s", bundle, p);
	struct stat st;
	if (n < 0 || (size_t)n >= sizeof(dir) || stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return oci_fail("config.json: root.path %s: not a directory", dir);
	int r;
	if (ro && json_object_get_boolean(ro)) {
		/* The root's tag on a read-only share (settings come first). */
		nook_vm_config_set_fs_read_only(cfg, true);
		r = nook_vm_config_set_fs_tag(cfg, "/dev/root");
		if (r == 0)
			r = nook_vm_config_add_fs_path(cfg, dir);
	} else {
		r = nook_vm_config_add_fs_root(cfg, dir);
	}
	return r < 0 ? oci_fail("config.json: root.path %s: %s", dir, strerror(-r)) : 0;
}

static bool has_option(json_object *options, const char *name)
{
	size_t n = options ? json_object_array_length(options) : 0;
	for (size_t i = 0; i < n; i++) {
		const char *o = json_object_get_string(json_object_array_get_idx(options, i));
		if (o && strcmp(o, name) == 0)
			return true;
	}
	return false;
}

/* Bind mounts of directories and files become shares (volumes); the
 * guest makes its own proc, sysfs, tmpfs, devpts, mqueue and cgroup
 * mounts, and a VM has no use for the host's device nodes. */
static int apply_mounts(json_object *config, nook_vm_config *cfg, size_t *nshares)
{
	bool bad = false;
	json_object *mounts = member(config, "mounts", json_type_array, "config.json", &bad);
	size_t n = mounts ? json_object_array_length(mounts) : 0;
	for (size_t i = 0; !bad && i < n; i++) {
		json_object *m = json_object_array_get_idx(mounts, i);
		json_object *dst = member(m, "destination", json_type_string, "config.json mounts", &bad);
		json_object *type = member(m, "type", json_type_string, "config.json mounts", &bad);
		json_object *src = member(m, "source", json_type_string, "config.json mounts", &bad);
		json_object *opts = member(m, "options", json_type_array, "config.json mounts", &bad);
		if (bad)
			return 1;
		if (!dst)
			return oci_fail("config.json: mounts[%zu] has no destination", i);
		const char *d = json_object_get_string(dst);
		bool bind = (type && strcmp(json_object_get_string(type), "bind") == 0) ||
			    has_option(opts, "bind") || has_option(opts, "rbind");
		if (!bind) {
			oci_debug("mount %s (%s): made by the guest", d,
				  type ? json_object_get_string(type) : "no type");
			continue;
		}
		if (!src)
			return oci_fail("config.json: mounts[%zu] (%s): a bind mount without a source", i, d);
		const char *s = json_object_get_string(src);
		struct stat st;
		if (stat(s, &st) < 0)
			return oci_fail("config.json: mount %s: source %s: %s", d, s, strerror(errno));
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
			oci_debug("mount %s: source %s is neither a directory nor a file: skipped", d, s);
			continue;
		}
		int r = nook_vm_config_add_fs_volume(cfg, s, d, has_option(opts, "ro"));
		if (r < 0)
			return oci_fail("config.json: mount %s from %s: %s", d, s, strerror(-r));
		(*nshares)++;
	}
	return bad;
}

/* A number from an annotation, or from the config's resources. */
static int annotation_number(json_object *annotations, const char *key, uint64_t max, uint64_t *out)
{
	json_object *v;
	if (!annotations || !json_object_object_get_ex(annotations, key, &v))
		return 0;
	const char *s = json_object_get_string(v);
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s ? s : "", &end, 10);
	if (!s || !*s || *end || errno || n == 0 || n > max || s[0] == '-')
		return oci_fail("config.json: annotation %s \"%s\": expected a number from 1 to %llu",
				key, s ? s : "", (unsigned long long)max);
	*out = n;
	return 0;
}

/* linux.resources memory.limit and cpu quota/period size the VM;
 * annotations nook.memory_mib and nook.cpus override them. */
static int apply_size(json_object *config, json_object *annotations, nook_vm_config *cfg)
{
	bool bad = false;
	json_object *linux_ = member(config, "linux", json_type_object, "config.json", &bad);
	json_object *res = member(linux_, "resources", json_type_object, "config.json linux", &bad);
	json_object *mem = member(res, "memory", json_type_object, "config.json resources", &bad);
	json_object *limit = member(mem, "limit", json_type_int, "config.json memory", &bad);
	json_object *cpu = member(res, "cpu", json_type_object, "config.json resources", &bad);
	json_object *quota = member(cpu, "quota", json_type_int, "config.json cpu", &bad);
	json_object *period = member(cpu, "period", json_type_int, "config.json cpu", &bad);
	if (bad)
		return 1;
	uint64_t mib = OCI_DEFAULT_MEMORY_MIB, cpus = 1;
	if (limit && json_object_get_int64(limit) > 0) {
		mib = (uint64_t)json_object_get_int64(limit) >> 20;
		if (mib < OCI_MIN_MEMORY_MIB)
			mib = OCI_MIN_MEMORY_MIB;
	}
	if (quota && json_object_get_int64(quota) > 0) {
		int64_t q = json_object_get_int64(quota);
		int64_t p = period && json_object_get_int64(period) > 0 ? json_object_get_int64(period)
									 : 100000;
		cpus = (uint64_t)((q + p - 1) / p);
		if (cpus > OCI_MAX_VCPUS)
			cpus = OCI_MAX_VCPUS;
	}
	if (annotation_number(annotations, "nook.memory_mib", 1 << 20, &mib) ||
	    annotation_number(annotations, "nook.cpus", OCI_MAX_VCPUS, &cpus))
		return 1;
	if (mib < OCI_MIN_MEMORY_MIB)
		return oci_fail("config.json: annotation nook.memory_mib %llu: at least %d",
				(unsigned long long)mib, OCI_MIN_MEMORY_MIB);
	nook_vm_config_set_memory_mib(cfg, mib);
	nook_vm_config_set_vcpus(cfg, (unsigned)cpus);
	return 0;
}

/* linux.namespaces' network entry: with a path, the VMM joins it and its
 * user-mode network runs there (the container's network, as CNI or
 * podman set it up); without one, a new namespace, which has nothing but
 * loopback: no network device. */
static int find_netns(json_object *config, struct oci_spec *spec)
{
	bool bad = false;
	json_object *linux_ = member(config, "linux", json_type_object, "config.json", &bad);
	json_object *ns = member(linux_, "namespaces", json_type_array, "config.json linux", &bad);
	size_t n = ns ? json_object_array_length(ns) : 0;
	for (size_t i = 0; !bad && i < n; i++) {
		json_object *e = json_object_array_get_idx(ns, i);
		json_object *type = member(e, "type", json_type_string, "config.json namespaces", &bad);
		json_object *path = member(e, "path", json_type_string, "config.json namespaces", &bad);
		if (bad || !type || strcmp(json_object_get_string(type), "network") != 0)
			continue;
		spec->netns = path ? json_object_get_string(path) : NULL;
		spec->netns_private = !path;
	}
	return bad;
}

/* Annotation nook.publish, "PORT[/PROTO],...", or each as -p takes it:
 * ports of the guest forwarded from the container's network namespace,
 * from all its addresses unless one is given (the runtime spec has no
 * ports: podman -p and CNI's portmap send the traffic to the namespace's
 * own address). */
static int apply_publish(json_object *annotations, bool network, nook_vm_config *cfg)
{
	json_object *v;
	if (!annotations || !json_object_object_get_ex(annotations, "nook.publish", &v))
		return 0;
	if (!network)
		return oci_fail("config.json: annotation nook.publish: the container has no network "
				"(a new network namespace without a path)");
	char *list = strdup(json_object_get_string(v) ? json_object_get_string(v) : ""), *save;
	if (!list)
		return oci_fail("out of memory");
	int status = 0;
	for (char *e = strtok_r(list, ", ", &save); e && !status; e = strtok_r(NULL, ", ", &save)) {
		struct nook_port_pair pair;
		nook_error *err = NULL;
		if (nook_parse_port_pair(e, &pair, &err) < 0) {
			status = oci_fail("config.json: annotation nook.publish: %s", nook_error_message(err));
			nook_error_free(err);
			break;
		}
		const char *colon = strchr(e, ':');
		if (!colon || !strchr(colon + 1, ':'))
			pair.host_ip.s_addr = htonl(INADDR_ANY);
		int r = nook_vm_config_add_net_port(cfg, &pair);
		if (r < 0)
			status = oci_fail("config.json: annotation nook.publish \"%s\": %s", e, strerror(-r));
	}
	free(list);
	return status;
}

static int apply_process(const struct oci_process *p, nook_vm_config *cfg)
{
	int r = nook_vm_config_set_exec_path(cfg, p->argv[0]);
	for (size_t i = 1; r == 0 && p->argv[i]; i++)
		r = nook_vm_config_add_arg(cfg, p->argv[i]);
	for (size_t i = 0; r == 0 && i < p->nenv; i++)
		r = nook_vm_config_add_env(cfg, p->env[i]);
	if (r == 0 && p->cwd)
		r = nook_vm_config_set_workdir(cfg, p->cwd);
	for (size_t i = 0; r == 0 && i < p->nrlimits; i++)
		r = nook_vm_config_add_rlimit(cfg, p->rlimits[i].resource, p->rlimits[i].soft,
					      p->rlimits[i].hard);
	if (r == 0 && p->user)
		r = nook_vm_config_set_user(cfg, p->user);
	return r < 0 ? oci_fail("config.json: process: %s", strerror(-r)) : 0;
}

int oci_spec_load(const char *bundle, const char *vsock_path, struct oci_spec *spec,
		  nook_vm_config *cfg)
{
	*spec = (struct oci_spec){0};
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	if (!(spec->config = oci_json_file(path)))
		return 1;
	json_object *c = spec->config;
	bool bad = false;
	json_object *process = member(c, "process", json_type_object, "config.json", &bad);
	json_object *hostname = member(c, "hostname", json_type_string, "config.json", &bad);
	spec->hooks = member(c, "hooks", json_type_object, "config.json", &bad);
	spec->annotations = member(c, "annotations", json_type_object, "config.json", &bad);
	if (bad)
		return 1;
	if (!process)
		return oci_fail("config.json: no process (nothing to run)");
	/* They would run inside the container, which is the guest here: its
	 * root is not a host file system a host program could run in. */
	json_object *inside;
	if (spec->hooks && json_object_object_get_ex(spec->hooks, "startContainer", &inside) &&
	    json_object_is_type(inside, json_type_array) && json_object_array_length(inside))
		return oci_fail("config.json: hooks.startContainer: not supported (they run inside "
				"the container, and a nook container is a virtual machine)");
	nook_vm_config_set_log(cfg, NOOK_LOG_WARN, NULL, NULL);
	size_t nshares = 0;
	if (oci_process_parse(process, "config.json", &spec->process))
		return 1;
	/* On a terminal the process is an exec in an idle VM (oci_exec.c),
	 * which has no use for stdio. */
	if (spec->process.terminal)
		nook_vm_config_set_stdio(cfg, -1, -1, -1);
	if ((!spec->process.terminal && apply_process(&spec->process, cfg)) ||
	    apply_root(c, bundle, cfg) ||
	    apply_mounts(c, cfg, &nshares) || apply_size(c, spec->annotations, cfg) ||
	    find_netns(c, spec))
		return 1;
	/* KVM's IOAPIC has pins for 19 virtio devices: console, rng, balloon,
	 * vsock, a network and the root leave room for 13 shares. */
	if (nshares > 13)
		nook_vm_config_set_split_irqchip(cfg, true);
	int r = 0;
	if (hostname && json_object_get_string_len(hostname) &&
	    (r = nook_vm_config_set_hostname(cfg, json_object_get_string(hostname))) < 0)
		return oci_fail("config.json: hostname \"%s\": %s", json_object_get_string(hostname),
				strerror(-r));
	if (!spec->netns_private) {
		/* The namespace is the container's boundary: the VM may reach
		 * what a runc container there could. */
		r = nook_vm_config_add_net_user(cfg);
		nook_vm_config_set_net_scope(cfg, NOOK_NETWORK_SCOPE_ANY);
	}
	if (r == 0 && apply_publish(spec->annotations, !spec->netns_private, cfg))
		return 1;
	if (r == 0)
		r = nook_vm_config_set_vsock_path(cfg, vsock_path);
	return r < 0 ? oci_fail("config.json: %s", strerror(-r)) : 0;
}

void oci_spec_free(struct oci_spec *spec)
{
	oci_process_free(&spec->process);
	json_object_put(spec->config);
	*spec = (struct oci_spec){0};
}
