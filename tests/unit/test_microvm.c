/* Unit tests for the MicroVm layer (sandbox/microvm.c): defaults equal to the
 * reference builder's, what its setters record, and the errors of
 * nook_microvm_build(), in order: real mistakes before options nook does
 * not support yet. No VM is started: with today's VMM every build fails
 * before it touches KVM (a native rootfs needs virtio-fs). Cases that reach
 * the low-level checks open /dev/kvm for the vCPU limit (skipped without it).
 * Set NOOK_TEST_VERBOSE=1 to print every error message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nook/microvm.h>

static bool verbose;
static char tmp_dir[64];    /* a directory of our own */
static char tmp_layer[128]; /* tmp_dir/layer: another directory */
static char tmp_file[128];  /* tmp_dir/file: a regular file */
#define MISSING "/nonexistent-nook-test/missing"

static int group_setup(void **state)
{
	(void)state;
	verbose = getenv("NOOK_TEST_VERBOSE") != NULL;
	strcpy(tmp_dir, "/tmp/nook-test-microvm-XXXXXX");
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(tmp_layer, sizeof(tmp_layer), "%s/layer", tmp_dir);
	snprintf(tmp_file, sizeof(tmp_file), "%s/file", tmp_dir);
	if (mkdir(tmp_layer, 0755) < 0)
		return -1;
	int fd = open(tmp_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(tmp_file);
	rmdir(tmp_layer);
	rmdir(tmp_dir);
	return 0;
}

static nook_microvm_config *new_config(void)
{
	nook_microvm_config *cfg = nook_microvm_config_new();
	assert_non_null(cfg);
	return cfg;
}

static void ok(int r, nook_error *err)
{
	if (r != 0)
		fail_msg("returned %d: %s", r, err ? nook_error_message(err) : "no error object");
	assert_null(err);
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

/* The reference's minimal builder test: a rootfs and an exec path, the
 * rest at its defaults. */
static void test_defaults(void **state)
{
	(void)state;
	nook_microvm_config *cfg = new_config();
	assert_int_equal(nook_microvm_config_set_rootfs_native(cfg, "/tmp"), 0);
	assert_int_equal(nook_microvm_config_set_exec_path(cfg, "/bin/echo"), 0);
	struct nook_microvm_settings s;
	nook_microvm_config_get(cfg, &s);
	assert_string_equal(s.rootfs_native, "/tmp");
	assert_int_equal(s.nrootfs_layers, 0);
	assert_int_equal(s.memory_mib, 1024);
	assert_int_equal(s.memory_mib, NOOK_MICROVM_DEFAULT_MEMORY_MIB);
	assert_int_equal(s.log_level, NOOK_LOG_OFF);
	assert_int_equal(s.vcpus, 1);
	assert_int_equal(s.vcpus, NOOK_MICROVM_DEFAULT_VCPUS);
	assert_int_equal(s.nmapped_dirs, 0);
	assert_int_equal(s.nports, 0);
	assert_int_equal(s.scope, NOOK_NETWORK_SCOPE_GROUP);
	assert_false(s.has_ip);
	assert_false(s.has_subnet);
	assert_int_equal(s.nrlimits, 0);
	assert_null(s.workdir);
	assert_string_equal(s.exec_path, "/bin/echo");
	assert_int_equal(s.nargs, 0);
	assert_int_equal(s.nenv, 0);
	assert_null(s.console_output);
	nook_microvm_config_free(cfg);
	nook_microvm_config_free(NULL);

	/* Nothing set: no rootfs, no program. */
	cfg = new_config();
	nook_microvm_config_get(cfg, &s);
	assert_null(s.rootfs_native);
	assert_int_equal(s.nrootfs_layers, 0);
	assert_null(s.exec_path);
	nook_microvm_config_free(cfg);
}

/* The reference's full builder test: every option recorded as given. */
static void test_all_options(void **state)
{
	(void)state;
	nook_microvm_config *cfg = new_config();
	nook_error *err = NULL;
	const char *layers[] = {"/tmp"};
	nook_microvm_config_set_log_level(cfg, NOOK_LOG_DEBUG);
	assert_int_equal(nook_microvm_config_set_rootfs_overlay(cfg, layers, 1), 0);
	nook_microvm_config_set_vcpus(cfg, 2);
	nook_microvm_config_set_memory_mib(cfg, 1024);
	ok(nook_microvm_config_add_mapped_dir(cfg, "/guest/mount:/host/mount", &err), err);
	ok(nook_microvm_config_add_port(cfg, "8080:80", &err), err);
	nook_microvm_config_set_scope(cfg, NOOK_NETWORK_SCOPE_PUBLIC);
	ok(nook_microvm_config_set_ip(cfg, "192.168.1.100", &err), err);
	ok(nook_microvm_config_set_subnet(cfg, "192.168.1.0/24", &err), err);
	ok(nook_microvm_config_add_rlimit(cfg, "RLIMIT_NOFILE=1024:1024", &err), err);
	assert_int_equal(nook_microvm_config_set_workdir(cfg, "/workdir"), 0);
	assert_int_equal(nook_microvm_config_set_exec_path(cfg, "/bin/example"), 0);
	assert_int_equal(nook_microvm_config_add_arg(cfg, "arg1"), 0);
	assert_int_equal(nook_microvm_config_add_arg(cfg, "arg2"), 0);
	ok(nook_microvm_config_add_env(cfg, "KEY1=VALUE1", &err), err);
	ok(nook_microvm_config_add_env(cfg, "KEY2=VALUE2", &err), err);
	assert_int_equal(nook_microvm_config_set_console_output(cfg, "/tmp/console.log"), 0);

	struct nook_microvm_settings s;
	nook_microvm_config_get(cfg, &s);
	assert_int_equal(s.log_level, NOOK_LOG_DEBUG);
	assert_null(s.rootfs_native);
	assert_int_equal(s.nrootfs_layers, 1);
	assert_string_equal(s.rootfs_layers[0], "/tmp");
	assert_int_equal(s.vcpus, 2);
	assert_int_equal(s.memory_mib, 1024);
	assert_int_equal(s.nmapped_dirs, 1);
	assert_string_equal(s.mapped_dirs[0].host, "/guest/mount");
	assert_string_equal(s.mapped_dirs[0].guest, "/host/mount");
	assert_false(s.mapped_dirs[0].read_only);
	assert_int_equal(s.nports, 1);
	assert_int_equal(s.ports[0].host_port, 8080);
	assert_int_equal(s.ports[0].guest_port, 80);
	assert_int_equal(s.ports[0].protocol, NOOK_PORT_PROTOCOL_TCP);
	assert_int_equal(s.ports[0].host_ip.s_addr, htonl(NOOK_PORT_DEFAULT_HOST_IP));
	assert_int_equal(s.scope, NOOK_NETWORK_SCOPE_PUBLIC);
	assert_true(s.has_ip);
	assert_int_equal(s.ip.s_addr, ip4("192.168.1.100"));
	assert_true(s.has_subnet);
	assert_int_equal(s.subnet.network.s_addr, ip4("192.168.1.0"));
	assert_int_equal(s.subnet.prefix, 24);
	assert_int_equal(s.nrlimits, 1);
	assert_int_equal(s.rlimits[0].resource, RLIMIT_NOFILE);
	assert_int_equal(s.rlimits[0].soft, 1024);
	assert_int_equal(s.rlimits[0].hard, 1024);
	assert_string_equal(s.workdir, "/workdir");
	assert_string_equal(s.exec_path, "/bin/example");
	assert_int_equal(s.nargs, 2);
	assert_string_equal(s.args[0], "arg1");
	assert_string_equal(s.args[1], "arg2");
	assert_int_equal(s.nenv, 2);
	assert_string_equal(s.env[0].key, "KEY1");
	assert_string_equal(s.env[0].value, "VALUE1");
	assert_string_equal(s.env[1].key, "KEY2");
	assert_string_equal(s.env[1].value, "VALUE2");
	assert_string_equal(s.console_output, "/tmp/console.log");
	nook_microvm_config_free(cfg);
}

/* Each rootfs call replaces the previous one; layers keep their order. */
static void test_rootfs_replace(void **state)
{
	(void)state;
	nook_microvm_config *cfg = new_config();
	struct nook_microvm_settings s;
	const char *layers[] = {"/base", "/middle", "/top"};
	assert_int_equal(nook_microvm_config_set_rootfs_native(cfg, "/native"), 0);
	assert_int_equal(nook_microvm_config_set_rootfs_overlay(cfg, layers, 3), 0);
	nook_microvm_config_get(cfg, &s);
	assert_null(s.rootfs_native);
	assert_int_equal(s.nrootfs_layers, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(s.rootfs_layers[i], layers[i]);
	assert_int_equal(nook_microvm_config_set_rootfs_native(cfg, "/again"), 0);
	nook_microvm_config_get(cfg, &s);
	assert_string_equal(s.rootfs_native, "/again");
	assert_int_equal(s.nrootfs_layers, 0);
	nook_microvm_config_free(cfg);
}

/* The list setters replace the whole list, as the reference builder's do;
 * a list with a bad entry leaves the old one; an empty list clears it. */
static void test_list_setters_replace(void **state)
{
	(void)state;
	nook_microvm_config *cfg = new_config();
	struct nook_microvm_settings s;
	nook_error *err = NULL;
	ok(nook_microvm_config_add_mapped_dir(cfg, "/a:/a", &err), err);
	ok(nook_microvm_config_add_port(cfg, "8080:80", &err), err);
	ok(nook_microvm_config_add_rlimit(cfg, "RLIMIT_NOFILE=1:2", &err), err);
	ok(nook_microvm_config_add_arg(cfg, "old"), NULL);
	ok(nook_microvm_config_add_env(cfg, "OLD=1", &err), err);

	const char *dirs[] = {"/b:/b", "/c:/c:ro", NULL};
	const char *ports[] = {"9090:90", NULL};
	const char *rlimits[] = {"7=10:20", "RLIMIT_CORE=0:0", NULL};
	const char *args[] = {"x", "", "y z", NULL};
	const char *envs[] = {"A=1", "B=", NULL};
	ok(nook_microvm_config_set_mapped_dirs(cfg, dirs, &err), err);
	ok(nook_microvm_config_set_ports(cfg, ports, &err), err);
	ok(nook_microvm_config_set_rlimits(cfg, rlimits, &err), err);
	ok(nook_microvm_config_set_args(cfg, args, &err), err);
	ok(nook_microvm_config_set_envs(cfg, envs, &err), err);
	nook_microvm_config_get(cfg, &s);
	assert_int_equal(s.nmapped_dirs, 2);
	assert_string_equal(s.mapped_dirs[0].host, "/b");
	assert_string_equal(s.mapped_dirs[1].guest, "/c");
	assert_int_equal(s.nports, 1);
	assert_int_equal(s.ports[0].host_port, 9090);
	assert_int_equal(s.nrlimits, 2);
	assert_int_equal(s.rlimits[0].resource, 7);
	assert_int_equal(s.rlimits[0].soft, 10);
	assert_int_equal(s.nargs, 3);
	assert_string_equal(s.args[0], "x");
	assert_string_equal(s.args[1], "");
	assert_string_equal(s.args[2], "y z");
	assert_int_equal(s.nenv, 2);
	assert_string_equal(s.env[0].key, "A");
	assert_string_equal(s.env[1].value, "");

	/* A bad entry anywhere: an error naming it, the lists unchanged. */
	const char *bad_ports[] = {"1:1", "70000:1", NULL};
	const char *bad_envs[] = {"C=3", "=oops", NULL};
	assert_int_equal(nook_microvm_config_set_ports(cfg, bad_ports, &err), -ERANGE);
	assert_non_null(strstr(nook_error_message(err), "70000"));
	nook_error_free(err);
	err = NULL;
	assert_int_equal(nook_microvm_config_set_envs(cfg, bad_envs, &err), -EINVAL);
	nook_error_free(err);
	err = NULL;
	nook_microvm_config_get(cfg, &s);
	assert_int_equal(s.nports, 1);
	assert_int_equal(s.ports[0].host_port, 9090);
	assert_int_equal(s.nenv, 2);
	assert_string_equal(s.env[0].key, "A");

	/* Empty and NULL lists clear. */
	const char *none[] = {NULL};
	ok(nook_microvm_config_set_mapped_dirs(cfg, none, &err), err);
	ok(nook_microvm_config_set_args(cfg, NULL, &err), err);
	nook_microvm_config_get(cfg, &s);
	assert_int_equal(s.nmapped_dirs, 0);
	assert_int_equal(s.nargs, 0);
	nook_microvm_config_free(cfg);
}

/* String setters fail like the parsers, quote the input and leave the
 * configuration as it was. */
static void test_setter_parse_errors(void **state)
{
	(void)state;
	static const struct {
		const char *what;
		const char *input;
	} cases[] = {
		{"mapped dir", "/a:relative"}, {"mapped dir", ""},	  {"port", "8080:0"},
		{"port", "http"},	       {"ip", "10.0.0"},	  {"ip", "010.0.0.1"},
		{"subnet", "10.0.0.0"},	       {"subnet", "10.0.0.0/33"}, {"rlimit", "NOFILE=5"},
		{"rlimit", "RLIMIT_BOGUS=1:2"}, {"env", "=value"},	  {"env", "NOEQUALS"},
	};
	nook_microvm_config *cfg = new_config();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		nook_error *err = NULL;
		const char *in = cases[i].input, *what = cases[i].what;
		int r;
		if (strcmp(what, "mapped dir") == 0)
			r = nook_microvm_config_add_mapped_dir(cfg, in, &err);
		else if (strcmp(what, "port") == 0)
			r = nook_microvm_config_add_port(cfg, in, &err);
		else if (strcmp(what, "ip") == 0)
			r = nook_microvm_config_set_ip(cfg, in, &err);
		else if (strcmp(what, "subnet") == 0)
			r = nook_microvm_config_set_subnet(cfg, in, &err);
		else if (strcmp(what, "rlimit") == 0)
			r = nook_microvm_config_add_rlimit(cfg, in, &err);
		else
			r = nook_microvm_config_add_env(cfg, in, &err);
		if (r >= 0 || !err)
			fail_msg("%s \"%s\": accepted", what, in);
		char quoted[64];
		snprintf(quoted, sizeof(quoted), "\"%s\"", in);
		if (!strstr(nook_error_message(err), quoted))
			fail_msg("%s \"%s\": message does not quote it: %s", what, in,
				 nook_error_message(err));
		if (verbose)
			print_message("    %s\n", nook_error_message(err));
		nook_error_free(err);
	}
	struct nook_microvm_settings s;
	nook_microvm_config_get(cfg, &s);
	assert_int_equal(s.nmapped_dirs + s.nports + s.nrlimits + s.nenv, 0);
	assert_false(s.has_ip);
	assert_false(s.has_subnet);
	nook_microvm_config_free(cfg);
}

/* ------------------------------------------------------------------------
 * nook_microvm_build() errors
 * ------------------------------------------------------------------------ */

static void add_dir(nook_microvm_config *c, const char *spec)
{
	nook_error *err = NULL;
	ok(nook_microvm_config_add_mapped_dir(c, spec, &err), err);
}

static void add_port(nook_microvm_config *c, const char *spec)
{
	nook_error *err = NULL;
	ok(nook_microvm_config_add_port(c, spec, &err), err);
}

static void set_ip(nook_microvm_config *c, const char *ip)
{
	nook_error *err = NULL;
	ok(nook_microvm_config_set_ip(c, ip, &err), err);
}

static void set_subnet(nook_microvm_config *c, const char *cidr)
{
	nook_error *err = NULL;
	ok(nook_microvm_config_set_subnet(c, cidr, &err), err);
}

/* Each case starts from a valid configuration: native rootfs tmp_dir and
 * exec path /bin/echo. */
static void no_rootfs(nook_microvm_config *c) { (void)c; } /* handled in the loop */
static void rootfs_missing(nook_microvm_config *c)
{
	nook_microvm_config_set_rootfs_native(c, MISSING "/rootfs");
}
static void rootfs_a_file(nook_microvm_config *c) { nook_microvm_config_set_rootfs_native(c, tmp_file); }
static void overlay_empty(nook_microvm_config *c) { nook_microvm_config_set_rootfs_overlay(c, NULL, 0); }
static void overlay_layer_missing(nook_microvm_config *c)
{
	const char *layers[] = {tmp_layer, MISSING "/layer2"};
	nook_microvm_config_set_rootfs_overlay(c, layers, 2);
}
static void no_exec(nook_microvm_config *c) { nook_microvm_config_set_exec_path(c, NULL); }
static void memory_0(nook_microvm_config *c) { nook_microvm_config_set_memory_mib(c, 0); }
static void memory_huge(nook_microvm_config *c)
{
	nook_microvm_config_set_memory_mib(c, UINT64_C(1) << 40);
}
static void vcpus_0(nook_microvm_config *c) { nook_microvm_config_set_vcpus(c, 0); }
static void vcpus_huge(nook_microvm_config *c) { nook_microvm_config_set_vcpus(c, 100000); }
static void workdir_relative(nook_microvm_config *c) { nook_microvm_config_set_workdir(c, "rel"); }
static void dir_host_missing(nook_microvm_config *c) { add_dir(c, MISSING "/data:/data"); }
static void dir_dup_guest(nook_microvm_config *c)
{
	add_dir(c, "/tmp:/data");
	add_dir(c, "/:/mnt");
	add_dir(c, "/tmp://data/");
}
static void dir_guest_root(nook_microvm_config *c) { add_dir(c, "/tmp:/"); }
static void port_dup(nook_microvm_config *c)
{
	add_port(c, "8080:80");
	add_port(c, "9090:90");
	add_port(c, "8080:81");
}
static void port_dup_any_ip(nook_microvm_config *c)
{
	add_port(c, "127.0.0.1:8080:80");
	add_port(c, "0.0.0.0:8080:81");
}
static void ip_outside_subnet(nook_microvm_config *c)
{
	set_ip(c, "10.0.1.5");
	set_subnet(c, "10.0.0.0/24");
}
static void dup_port_and_overlay(nook_microvm_config *c)
{
	overlay_layer_missing(c);
	const char *layers[] = {tmp_layer};
	nook_microvm_config_set_rootfs_overlay(c, layers, 1);
	port_dup(c);
}
static void ip_gateway(nook_microvm_config *c)
{
	set_ip(c, "10.0.0.2");
	set_subnet(c, "10.0.0.0/24");
}
static void overlay_ok(nook_microvm_config *c)
{
	const char *layers[] = {tmp_layer, tmp_dir};
	nook_microvm_config_set_rootfs_overlay(c, layers, 2);
}
static void dir_ok(nook_microvm_config *c) { add_dir(c, "/tmp:/data:ro"); }
static void port_ok(nook_microvm_config *c)
{
	/* Bound on the host's loopback when the VM is built. */
	add_port(c, "47913:80");
	add_port(c, "47913:80/udp"); /* another protocol: no clash */
}
static void scope_public(nook_microvm_config *c)
{
	nook_microvm_config_set_scope(c, NOOK_NETWORK_SCOPE_PUBLIC);
}
static void scope_group(nook_microvm_config *c)
{
	nook_microvm_config_set_scope(c, NOOK_NETWORK_SCOPE_GROUP);
}
static void ip_ok(nook_microvm_config *c)
{
	set_ip(c, "10.0.0.5");
	set_subnet(c, "10.0.0.0/24");
}
static void subnet_ok(nook_microvm_config *c) { set_subnet(c, "10.1.2.3/16"); }
static void nothing(nook_microvm_config *c) { (void)c; }
static void scope_none_and_all(nook_microvm_config *c)
{
	nook_error *err = NULL;
	nook_microvm_config_set_scope(c, NOOK_NETWORK_SCOPE_NONE);
	nook_microvm_config_set_log_level(c, NOOK_LOG_WARN);
	nook_microvm_config_set_vcpus(c, 1);
	nook_microvm_config_set_memory_mib(c, 256);
	nook_microvm_config_set_workdir(c, "/");
	nook_microvm_config_add_arg(c, "hi");
	ok(nook_microvm_config_add_env(c, "A=b=c", &err), err);
	ok(nook_microvm_config_add_rlimit(c, "NOFILE=10:20", &err), err);
	nook_microvm_config_set_console_output(c, "/dev/null");
}

static const struct build_case {
	const char *name;
	void (*set)(nook_microvm_config *c);
	bool needs_kvm; /* reaches the low-level checks */
	int code;
	const char *needles[3];
} build_cases[] = {
	{"no rootfs", no_rootfs, false, EINVAL, {"rootfs", "not set"}},
	{"overlay without layers", overlay_empty, false, EINVAL, {"overlay", "no layers"}},
	{"no exec path", no_exec, false, EINVAL, {"exec path", "not set"}},
	/* The rest is the VM configuration's validation, prefixed. */
	{"rootfs missing", rootfs_missing, true, ENOENT, {"microvm: fs root " MISSING "/rootfs", "No such file"}},
	{"rootfs a file", rootfs_a_file, true, ENOTDIR, {"microvm: fs root", "@FILE", "not a directory"}},
	{"overlay layer missing", overlay_layer_missing, true, ENOENT, {"overlay layer", MISSING "/layer2"}},
	{"mapped host missing", dir_host_missing, true, ENOENT, {"microvm: ", MISSING "/data", "No such file"}},
	{"duplicate guest path", dir_dup_guest, true, EEXIST, {"mount point //data/", "two shares", "/tmp"}},
	{"guest path is root", dir_guest_root, true, EINVAL, {"mount point \"/\"", "other than /"}},
	{"duplicate host port", port_dup, true, EEXIST, {"microvm: published port", "8080/tcp", "published twice"}},
	{"duplicate port any ip", port_dup_any_ip, true, EEXIST, {"published port 0.0.0.0:8080", "published twice"}},
	{"ip outside subnet", ip_outside_subnet, true, EINVAL, {"ip", "10.0.1.5", "10.0.0.0/24"}},
	{"real error first", dup_port_and_overlay, true, EEXIST, {"published twice"}},
	{"memory 0", memory_0, true, EINVAL, {"memory 0 MiB"}},
	{"memory over host", memory_huge, true, EINVAL, {"memory 1099511627776 MiB"}},
	{"vcpus 0", vcpus_0, true, EINVAL, {"vcpus 0"}},
	{"vcpus over limit", vcpus_huge, true, EINVAL, {"vcpus 100000"}},
	{"workdir relative", workdir_relative, true, EINVAL, {"workdir \"rel\""}},
	{"ip is the gateway", ip_gateway, true, EINVAL, {"ip 10.0.0.2", "gateway"}},
};

static const char *expand(const char *needle)
{
	if (strcmp(needle, "@DIR") == 0)
		return tmp_dir;
	if (strcmp(needle, "@FILE") == 0)
		return tmp_file;
	return needle;
}

static void test_build_errors(void **state)
{
	(void)state;
	bool have_kvm = access("/dev/kvm", R_OK | W_OK) == 0;
	for (size_t i = 0; i < sizeof(build_cases) / sizeof(build_cases[0]); i++) {
		const struct build_case *tc = &build_cases[i];
		if (tc->needs_kvm && !have_kvm)
			continue;
		nook_microvm_config *cfg = new_config();
		if (tc->set == no_rootfs) {
			assert_int_equal(nook_microvm_config_set_exec_path(cfg, "/bin/echo"), 0);
		} else {
			assert_int_equal(nook_microvm_config_set_rootfs_native(cfg, tmp_dir), 0);
			assert_int_equal(nook_microvm_config_set_exec_path(cfg, "/bin/echo"), 0);
			tc->set(cfg);
		}
		nook_vm *vm = (nook_vm *)&vm;
		nook_error *err = NULL;
		int r = nook_microvm_build(cfg, &vm, &err);
		if (r != -tc->code || !err || nook_error_code(err) != tc->code)
			fail_msg("%s: returned %d (expected %d): %s", tc->name, r, -tc->code,
				 err ? nook_error_message(err) : "no error object");
		assert_null(vm);
		const char *msg = nook_error_message(err);
		for (size_t k = 0; k < 3 && tc->needles[k]; k++)
			if (!strstr(msg, expand(tc->needles[k])))
				fail_msg("%s: message lacks \"%s\": %s", tc->name,
					 expand(tc->needles[k]), msg);
		if (verbose)
			print_message("    %-24s %s\n", tc->name, msg);
		nook_error_free(err);
		nook_microvm_config_free(cfg);
	}
	if (!have_kvm)
		skip();
}

/* What the low-level VM can do builds into a VM (not started): a native
 * or overlay rootfs, mapped dirs, every other supported option. */
static void test_build_ok(void **state)
{
	(void)state;
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		skip();
	void (*cases[])(nook_microvm_config *) = {nothing,      overlay_ok,   dir_ok,
						  scope_none_and_all, port_ok, scope_public,
						  scope_group,  ip_ok,	      subnet_ok};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		nook_microvm_config *cfg = new_config();
		assert_int_equal(nook_microvm_config_set_rootfs_native(cfg, tmp_dir), 0);
		assert_int_equal(nook_microvm_config_set_exec_path(cfg, "/bin/echo"), 0);
		cases[i](cfg);
		nook_vm *vm = NULL;
		nook_error *err = NULL;
		if (nook_microvm_build(cfg, &vm, &err) != 0)
			fail_msg("case %zu: %s", i, nook_error_message(err));
		assert_non_null(vm);
		nook_vm_free(vm);
		nook_microvm_config_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_rootfs_replace),
		cmocka_unit_test(test_list_setters_replace),
		cmocka_unit_test(test_setter_parse_errors),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_build_ok),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
