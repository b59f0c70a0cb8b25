/* Unit tests for the option parsers (sandbox/parse.c). Table-driven: every
 * case checks the outputs of a good input, or the return value, the error
 * code, that the message quotes the input and names the problem, and that
 * the output is left untouched for a bad one.
 * Set NOOK_TEST_VERBOSE=1 to print every error message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nook/parse.h>

static unsigned int n_cases;
static bool verbose;

/* Checks the outcome of one call: success with no error object, or the
 * expected failure with a message that quotes the input (`shown`, when the
 * input needs escaping, else `in`) and contains `extra` (when non-NULL). */
static void check_outcome(const char *fn, const char *in, int ret, nook_error *err, int want,
			  const char *shown, const char *extra)
{
	n_cases++;
	if (want == 0) {
		if (ret != 0 || err)
			fail_msg("%s(\"%s\"): expected success, got %d: %s", fn, in, ret,
				 nook_error_message(err));
		return;
	}
	if (ret != want)
		fail_msg("%s(\"%s\"): returned %d, expected %d (%s)", fn, in, ret, want,
			 err ? nook_error_message(err) : "no error object");
	if (!err)
		fail_msg("%s(\"%s\"): failed without an error object", fn, in);
	if (nook_error_code(err) != -want)
		fail_msg("%s(\"%s\"): error code %d, expected %d", fn, in, nook_error_code(err), -want);
	const char *msg = nook_error_message(err);
	char quoted[512];
	snprintf(quoted, sizeof(quoted), "\"%s\"", shown ? shown : in);
	if (!strstr(msg, quoted))
		fail_msg("%s(\"%s\"): message does not quote the input as %s: %s", fn, in, quoted,
			 msg);
	if (extra && !strstr(msg, extra))
		fail_msg("%s(\"%s\"): message lacks \"%s\": %s", fn, in, extra, msg);
	if (verbose)
		print_message("    %s\n", msg);
}

static void check_untouched(const char *fn, const char *in, const void *out, size_t size)
{
	const unsigned char *p = out;
	for (size_t i = 0; i < size; i++)
		if (p[i] != 0xa5)
			fail_msg("%s(\"%s\"): output modified on failure", fn, in);
}

static uint32_t ip(const char *s)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		fail_msg("bad test address %s", s);
	return a.s_addr;
}

/* ------------------------------------------------------------------------ */

struct path_case {
	const char *in;
	int ret;
	const char *host, *guest;
	bool ro;
	const char *extra; /* for errors: text the message must contain */
	const char *shown; /* for errors: how the input appears, if escaped */
};

static const struct path_case path_cases[] = {
	{"/data:/mnt/data", 0, "/data", "/mnt/data", false, NULL, NULL},
	{"./:/app", 0, "./", "/app", false, NULL, NULL},
	{"./rel:/abs", 0, "./rel", "/abs", false, NULL, NULL},
	{"rel/dir:/g", 0, "rel/dir", "/g", false, NULL, NULL},
	{"/shared", 0, "/shared", "/shared", false, NULL, NULL},
	{"/", 0, "/", "/", false, NULL, NULL},
	{"/shared:ro", 0, "/shared", "/shared", true, NULL, NULL},
	{"/a:/b:ro", 0, "/a", "/b", true, NULL, NULL},
	{"/a:/b:rw", 0, "/a", "/b", false, NULL, NULL},
	{"./x:/y:ro", 0, "./x", "/y", true, NULL, NULL},
	{"/with space:/g s", 0, "/with space", "/g s", false, NULL, NULL},
	{" /a:/b", 0, " /a", "/b", false, NULL, NULL}, /* host paths are not trimmed */
	{"", -EINVAL, NULL, NULL, false, "empty", NULL},
	{":", -EINVAL, NULL, NULL, false, "host path is empty", NULL},
	{":/b", -EINVAL, NULL, NULL, false, "host path is empty", NULL},
	{"/a:", -EINVAL, NULL, NULL, false, "guest path is empty", NULL},
	{"/a::ro", -EINVAL, NULL, NULL, false, "guest path is empty", NULL},
	{"/a:b", -EINVAL, NULL, NULL, false, "guest path \"b\" is not absolute", NULL},
	{"/a: /b", -EINVAL, NULL, NULL, false, "not absolute", NULL},
	{"rel", -EINVAL, NULL, NULL, false, "must be absolute", NULL},
	{"./rel", -EINVAL, NULL, NULL, false, "must be absolute", NULL},
	{"rel:ro", -EINVAL, NULL, NULL, false, "must be absolute", NULL},
	{"/a:/b:/c", -EINVAL, NULL, NULL, false, "too many ':'", NULL},
	{"/a:/b:RO", -EINVAL, NULL, NULL, false, "too many ':'", NULL},
	{"/a:/b:ro:ro", -EINVAL, NULL, NULL, false, "too many ':'", NULL},
	{":ro", -EINVAL, NULL, NULL, false, "no path before", NULL},
	{"a\tb", -EINVAL, NULL, NULL, false, "must be absolute", "a\\tb"},
};

static void test_path_pair(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		struct nook_path_pair out;
		nook_error *err = NULL;
		memset(&out, 0xa5, sizeof(out));
		int ret = nook_parse_path_pair(c->in, &out, &err);
		check_outcome("nook_parse_path_pair", c->in, ret, err, c->ret, c->shown, c->extra);
		if (c->ret == 0) {
			if (strcmp(out.host, c->host) || strcmp(out.guest, c->guest) ||
			    out.read_only != c->ro)
				fail_msg("path \"%s\": got host \"%s\" guest \"%s\" ro %d", c->in,
					 out.host, out.guest, out.read_only);
			nook_path_pair_clear(&out);
			assert_null(out.host);
			assert_null(out.guest);
		} else {
			check_untouched("nook_parse_path_pair", c->in, &out, sizeof(out));
		}
		nook_error_free(err);
	}
	nook_path_pair_clear(NULL);
}

/* ------------------------------------------------------------------------ */

struct port_case {
	const char *in;
	int ret;
	const char *host_ip;
	uint16_t host, guest;
	enum nook_port_protocol proto;
	const char *extra;
};

#define TCP NOOK_PORT_PROTOCOL_TCP
#define UDP NOOK_PORT_PROTOCOL_UDP

static const struct port_case port_cases[] = {
	{"8080:80", 0, "127.0.0.1", 8080, 80, TCP, NULL},
	{"2222:22", 0, "127.0.0.1", 2222, 22, TCP, NULL},
	{"3000", 0, "127.0.0.1", 3000, 3000, TCP, NULL},
	{"1", 0, "127.0.0.1", 1, 1, TCP, NULL},
	{"65535", 0, "127.0.0.1", 65535, 65535, TCP, NULL},
	{"65535:1", 0, "127.0.0.1", 65535, 1, TCP, NULL},
	{"8080:80/tcp", 0, "127.0.0.1", 8080, 80, TCP, NULL},
	{"53:53/udp", 0, "127.0.0.1", 53, 53, UDP, NULL},
	{"53/UDP", 0, "127.0.0.1", 53, 53, UDP, NULL},
	{"127.0.0.1:8080:80", 0, "127.0.0.1", 8080, 80, TCP, NULL},
	{"0.0.0.0:80:80/udp", 0, "0.0.0.0", 80, 80, UDP, NULL},
	{"10.1.2.3:1:2", 0, "10.1.2.3", 1, 2, TCP, NULL},
	{"080:80", 0, "127.0.0.1", 80, 80, TCP, NULL}, /* decimal, not octal */
	{"", -EINVAL, NULL, 0, 0, TCP, "empty"},
	{"0", -ERANGE, NULL, 0, 0, TCP, "host port \"0\" is out of range 1..65535"},
	{"8080:0", -ERANGE, NULL, 0, 0, TCP, "guest port \"0\" is out of range 1..65535"},
	{"0:80", -ERANGE, NULL, 0, 0, TCP, "host port \"0\""},
	{"65536", -ERANGE, NULL, 0, 0, TCP, "\"65536\" is out of range"},
	{"80:65536", -ERANGE, NULL, 0, 0, TCP, "guest port \"65536\""},
	{"99999999999999999999999:80", -ERANGE, NULL, 0, 0, TCP, "out of range"},
	{"-1", -EINVAL, NULL, 0, 0, TCP, "not a decimal number"},
	{"+80", -EINVAL, NULL, 0, 0, TCP, "not a decimal number"},
	{" 80", -EINVAL, NULL, 0, 0, TCP, "not a decimal number"},
	{"80 ", -EINVAL, NULL, 0, 0, TCP, "not a decimal number"},
	{"8080 :80", -EINVAL, NULL, 0, 0, TCP, "host port \"8080 \""},
	{"0x50", -EINVAL, NULL, 0, 0, TCP, "not a decimal number"},
	{"8080:", -EINVAL, NULL, 0, 0, TCP, "guest port is empty"},
	{":80", -EINVAL, NULL, 0, 0, TCP, "host port is empty"},
	{"a:b", -EINVAL, NULL, 0, 0, TCP, "host port \"a\""},
	{"80/sctp", -EINVAL, NULL, 0, 0, TCP, "protocol \"sctp\""},
	{"80/", -EINVAL, NULL, 0, 0, TCP, "protocol \"\""},
	{"/tcp", -EINVAL, NULL, 0, 0, TCP, "host port is empty"},
	{"1.2.3.4:5:6:7", -EINVAL, NULL, 0, 0, TCP, "too many ':'"},
	{"256.0.0.1:80:80", -ERANGE, NULL, 0, 0, TCP, "host IP \"256.0.0.1\""},
	{"1.2.3:80:80", -EINVAL, NULL, 0, 0, TCP, "host IP \"1.2.3\""},
	{"::80", -EINVAL, NULL, 0, 0, TCP, "host IP"},
	{"127.0.0.1::80", -EINVAL, NULL, 0, 0, TCP, "host port is empty"},
	{"127.0.0.1:8080", -EINVAL, NULL, 0, 0, TCP, "host port \"127.0.0.1\""},
};

static void test_port_pair(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(port_cases) / sizeof(port_cases[0]); i++) {
		const struct port_case *c = &port_cases[i];
		struct nook_port_pair out;
		nook_error *err = NULL;
		memset(&out, 0xa5, sizeof(out));
		int ret = nook_parse_port_pair(c->in, &out, &err);
		check_outcome("nook_parse_port_pair", c->in, ret, err, c->ret, NULL, c->extra);
		if (c->ret == 0) {
			if (out.host_ip.s_addr != ip(c->host_ip) || out.host_port != c->host ||
			    out.guest_port != c->guest || out.protocol != c->proto)
				fail_msg("port \"%s\": got %08x %u:%u/%d", c->in,
					 ntohl(out.host_ip.s_addr), out.host_port, out.guest_port,
					 out.protocol);
		} else {
			check_untouched("nook_parse_port_pair", c->in, &out, sizeof(out));
		}
		nook_error_free(err);
	}
	assert_string_equal(nook_port_protocol_name(NOOK_PORT_PROTOCOL_TCP), "tcp");
	assert_string_equal(nook_port_protocol_name(NOOK_PORT_PROTOCOL_UDP), "udp");
	assert_null(nook_port_protocol_name((enum nook_port_protocol)2));
}

/* ------------------------------------------------------------------------ */

struct env_case {
	const char *in;
	int ret;
	const char *key, *value;
	const char *extra;
	const char *shown;
};

static const struct env_case env_cases[] = {
	{"KEY=VALUE", 0, "KEY", "VALUE", NULL, NULL},
	{"A=", 0, "A", "", NULL, NULL},
	{"A==b", 0, "A", "=b", NULL, NULL},
	{"URL=a=b=c", 0, "URL", "a=b=c", NULL, NULL},
	{"ALLOWED_HOSTS=localhost,127.0.0.1", 0, "ALLOWED_HOSTS", "localhost,127.0.0.1", NULL, NULL},
	{"K=v with spaces", 0, "K", "v with spaces", NULL, NULL},
	{"lower=x", 0, "lower", "x", NULL, NULL},
	{"1X=y", 0, "1X", "y", NULL, NULL},            /* no key rules beyond non-empty */
	{" KEY=v", 0, " KEY", "v", NULL, NULL},        /* nor trimming */
	{"", -EINVAL, NULL, NULL, "missing '='", NULL},
	{"KEY", -EINVAL, NULL, NULL, "missing '='", NULL},
	{" ", -EINVAL, NULL, NULL, "missing '='", NULL},
	{"=value", -EINVAL, NULL, NULL, "name before '=' is empty", NULL},
	{"=", -EINVAL, NULL, NULL, "name before '=' is empty", NULL},
	{"a\nb", -EINVAL, NULL, NULL, "missing '='", "a\\nb"},
};

static void test_env_pair(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		const struct env_case *c = &env_cases[i];
		struct nook_env_pair out;
		nook_error *err = NULL;
		memset(&out, 0xa5, sizeof(out));
		int ret = nook_parse_env_pair(c->in, &out, &err);
		check_outcome("nook_parse_env_pair", c->in, ret, err, c->ret, c->shown, c->extra);
		if (c->ret == 0) {
			if (strcmp(out.key, c->key) || strcmp(out.value, c->value))
				fail_msg("env \"%s\": got \"%s\" = \"%s\"", c->in, out.key, out.value);
			nook_env_pair_clear(&out);
			assert_null(out.key);
		} else {
			check_untouched("nook_parse_env_pair", c->in, &out, sizeof(out));
		}
		nook_error_free(err);
	}
	nook_env_pair_clear(NULL);
}

/* ------------------------------------------------------------------------ */

struct rlimit_case {
	const char *in;
	int ret;
	int resource;
	uint64_t soft, hard;
	const char *extra;
};

#define INF NOOK_RLIM_INFINITY

static const struct rlimit_case rlimit_cases[] = {
	{"RLIMIT_NOFILE=1024:2048", 0, 7, 1024, 2048, NULL},
	{"NOFILE=1024:2048", 0, 7, 1024, 2048, NULL},
	{"7=1024:2048", 0, 7, 1024, 2048, NULL},
	{"07=1:1", 0, 7, 1, 1, NULL},
	{"RLIMIT_CPU=10:20", 0, 0, 10, 20, NULL},
	{"0=10:20", 0, 0, 10, 20, NULL},
	{"FSIZE=1:2", 0, 1, 1, 2, NULL},
	{"DATA=1:2", 0, 2, 1, 2, NULL},
	{"STACK=unlimited:unlimited", 0, 3, INF, INF, NULL},
	{"CORE=0:unlimited", 0, 4, 0, INF, NULL},
	{"RSS=1:2", 0, 5, 1, 2, NULL},
	{"NPROC=1:2", 0, 6, 1, 2, NULL},
	{"RLIMIT_MEMLOCK=18446744073709551615:18446744073709551615", 0, 8, UINT64_MAX, UINT64_MAX,
	 NULL},
	{"RLIMIT_AS=1073741824:2147483648", 0, 9, 1073741824, 2147483648u, NULL},
	{"LOCKS=1:1", 0, 10, 1, 1, NULL},
	{"RLIMIT_SIGPENDING=5:5", 0, 11, 5, 5, NULL},
	{"MSGQUEUE=1:2", 0, 12, 1, 2, NULL},
	{"NICE=0:40", 0, 13, 0, 40, NULL},
	{"RTPRIO=0:99", 0, 14, 0, 99, NULL},
	{"15=1:2", 0, 15, 1, 2, NULL},
	{"NOFILE=0:0", 0, 7, 0, 0, NULL},
	{"", -EINVAL, 0, 0, 0, "empty"},
	{"NOFILE", -EINVAL, 0, 0, 0, "missing '='"},
	{"NOFILE=1024", -EINVAL, 0, 0, 0, "found a single value"},
	{"NOFILE=1024:", -EINVAL, 0, 0, 0, "hard limit is empty"},
	{"NOFILE=:2048", -EINVAL, 0, 0, 0, "soft limit is empty"},
	{"NOFILE=1:2:3", -EINVAL, 0, 0, 0, "found 3 values"},
	{"NOFILE=2048:1024", -EINVAL, 0, 0, 0,
	 "soft limit \"2048\" is greater than hard limit \"1024\""},
	{"NOFILE=unlimited:1024", -EINVAL, 0, 0, 0, "greater than hard limit"},
	{"RLIMIT_BOGUS=1:2", -EINVAL, 0, 0, 0, "unknown resource \"RLIMIT_BOGUS\""},
	{"RLIMIT_=1:2", -EINVAL, 0, 0, 0, "unknown resource"},
	{"rlimit_nofile=1:2", -EINVAL, 0, 0, 0, "upper case: RLIMIT_NOFILE"},
	{"nofile=1:2", -EINVAL, 0, 0, 0, "upper case: RLIMIT_NOFILE"},
	{"NOFILE =1:2", -EINVAL, 0, 0, 0, "unknown resource \"NOFILE \""},
	{"16=1:2", -ERANGE, 0, 0, 0, "resource number \"16\" is out of range 0..15"},
	{"99999999999999999999999=1:2", -ERANGE, 0, 0, 0, "out of range 0..15"},
	{"-1=1:2", -EINVAL, 0, 0, 0, "unknown resource \"-1\""},
	{"7x=1:2", -EINVAL, 0, 0, 0, "not a name or a number"},
	{"=1:2", -EINVAL, 0, 0, 0, "resource name is empty"},
	{"NOFILE=18446744073709551616:18446744073709551616", -ERANGE, 0, 0, 0,
	 "does not fit in 64 bits"},
	{"NOFILE=-1:2", -EINVAL, 0, 0, 0, "soft limit \"-1\" is not a decimal number"},
	{"NOFILE=1:2 ", -EINVAL, 0, 0, 0, "hard limit \"2 \""},
	{"NOFILE=Unlimited:unlimited", -EINVAL, 0, 0, 0, "soft limit \"Unlimited\""},
	{"NOFILE=1=2:3", -EINVAL, 0, 0, 0, "soft limit \"1=2\""},
};

static void test_rlimit(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rlimit_cases) / sizeof(rlimit_cases[0]); i++) {
		const struct rlimit_case *c = &rlimit_cases[i];
		struct nook_rlimit out;
		nook_error *err = NULL;
		memset(&out, 0xa5, sizeof(out));
		int ret = nook_parse_rlimit(c->in, &out, &err);
		check_outcome("nook_parse_rlimit", c->in, ret, err, c->ret, NULL, c->extra);
		if (c->ret == 0) {
			if (out.resource != c->resource || out.soft != c->soft || out.hard != c->hard)
				fail_msg("rlimit \"%s\": got %d=%llu:%llu", c->in, out.resource,
					 (unsigned long long)out.soft, (unsigned long long)out.hard);
		} else {
			check_untouched("nook_parse_rlimit", c->in, &out, sizeof(out));
		}
		nook_error_free(err);
	}
}

static void test_rlimit_names(void **state)
{
	(void)state;
	assert_string_equal(nook_rlimit_name(0), "RLIMIT_CPU");
	assert_string_equal(nook_rlimit_name(7), "RLIMIT_NOFILE");
	assert_string_equal(nook_rlimit_name(15), "RLIMIT_RTTIME");
	assert_null(nook_rlimit_name(-1));
	assert_null(nook_rlimit_name(16));
	/* Every name, with and without its prefix, and every number. */
	for (int r = 0; r < NOOK_RLIMIT_COUNT; r++) {
		const char *name = nook_rlimit_name(r);
		char num[8];
		snprintf(num, sizeof(num), "%d", r);
		const char *forms[] = {name, name + strlen("RLIMIT_"), num};
		for (size_t f = 0; f < 3; f++) {
			int got = -1;
			nook_error *err = NULL;
			int ret = nook_parse_rlimit_resource(forms[f], &got, &err);
			check_outcome("nook_parse_rlimit_resource", forms[f], ret, err, 0, NULL, NULL);
			assert_int_equal(got, r);
		}
	}
	int got = 42;
	nook_error *err = NULL;
	int ret = nook_parse_rlimit_resource("BOGUS", &got, &err);
	check_outcome("nook_parse_rlimit_resource", "BOGUS", ret, err, -EINVAL, NULL,
		      "unknown resource");
	assert_int_equal(got, 42);
	nook_error_free(err);
	/* A NULL error pointer is allowed. */
	assert_int_equal(nook_parse_rlimit_resource("16", &got, NULL), -ERANGE);
	assert_int_equal(nook_parse_rlimit(NULL, NULL, NULL), -EINVAL);
}

/* ------------------------------------------------------------------------ */

struct name_case {
	const char *in;
	int ret;
	int value;
	const char *extra;
};

static const struct name_case scope_cases[] = {
	{"none", 0, NOOK_NETWORK_SCOPE_NONE, NULL},
	{"group", 0, NOOK_NETWORK_SCOPE_GROUP, NULL},
	{"public", 0, NOOK_NETWORK_SCOPE_PUBLIC, NULL},
	{"any", 0, NOOK_NETWORK_SCOPE_ANY, NULL},
	{"PUBLIC", 0, NOOK_NETWORK_SCOPE_PUBLIC, NULL},
	{"Any", 0, NOOK_NETWORK_SCOPE_ANY, NULL},
	{"", -EINVAL, 0, "expected none, group, public or any"},
	{"private", -EINVAL, 0, "unknown scope"},
	{" group", -EINVAL, 0, "unknown scope"},
	{"group ", -EINVAL, 0, "unknown scope"},
	{"1", -EINVAL, 0, "unknown scope"},
};

static const struct name_case log_cases[] = {
	{"off", 0, NOOK_LOG_OFF, NULL},
	{"error", 0, NOOK_LOG_ERROR, NULL},
	{"warn", 0, NOOK_LOG_WARN, NULL},
	{"info", 0, NOOK_LOG_INFO, NULL},
	{"debug", 0, NOOK_LOG_DEBUG, NULL},
	{"trace", 0, NOOK_LOG_TRACE, NULL},
	{"DEBUG", 0, NOOK_LOG_DEBUG, NULL},
	{"", -EINVAL, 0, "expected off, error, warn, info, debug or trace"},
	{"warning", -EINVAL, 0, "unknown level"},
	{"verbose", -EINVAL, 0, "unknown level"},
	{"5", -EINVAL, 0, "unknown level"},
	{"info\n", -EINVAL, 0, "unknown level"},
};

static void test_network_scope(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scope_cases) / sizeof(scope_cases[0]); i++) {
		const struct name_case *c = &scope_cases[i];
		enum nook_network_scope out = (enum nook_network_scope)77;
		nook_error *err = NULL;
		int ret = nook_parse_network_scope(c->in, &out, &err);
		check_outcome("nook_parse_network_scope", c->in, ret, err, c->ret, NULL, c->extra);
		assert_int_equal(out, c->ret == 0 ? c->value : 77);
		nook_error_free(err);
	}
	assert_int_equal(NOOK_NETWORK_SCOPE_DEFAULT, NOOK_NETWORK_SCOPE_GROUP);
	const char *names[] = {"none", "group", "public", "any"};
	for (int s = 0; s < 4; s++) {
		assert_string_equal(nook_network_scope_name((enum nook_network_scope)s), names[s]);
		enum nook_network_scope back;
		assert_int_equal(nook_parse_network_scope(names[s], &back, NULL), 0);
		assert_int_equal(back, s);
	}
	assert_null(nook_network_scope_name((enum nook_network_scope)4));
	assert_null(nook_network_scope_name((enum nook_network_scope)-1));
}

static void test_log_level(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(log_cases) / sizeof(log_cases[0]); i++) {
		const struct name_case *c = &log_cases[i];
		enum nook_log_level out = (enum nook_log_level)77;
		nook_error *err = NULL;
		int ret = nook_parse_log_level(c->in, &out, &err);
		const char *shown = strcmp(c->in, "info\n") == 0 ? "info\\n" : NULL;
		check_outcome("nook_parse_log_level", c->in, ret, err, c->ret, shown, c->extra);
		assert_int_equal(out, c->ret == 0 ? c->value : 77);
		nook_error_free(err);
	}
	assert_int_equal(NOOK_LOG_LEVEL_DEFAULT, NOOK_LOG_OFF);
	const char *names[] = {"off", "error", "warn", "info", "debug", "trace"};
	for (int l = 0; l < 6; l++) {
		assert_string_equal(nook_log_level_name((enum nook_log_level)l), names[l]);
		enum nook_log_level back;
		assert_int_equal(nook_parse_log_level(names[l], &back, NULL), 0);
		assert_int_equal(back, l);
	}
	assert_null(nook_log_level_name((enum nook_log_level)6));
}

/* ------------------------------------------------------------------------ */

struct ipv4_case {
	const char *in;
	int ret;
	const char *want; /* as inet_pton reads it */
	const char *extra;
};

static const struct ipv4_case ipv4_cases[] = {
	{"0.0.0.0", 0, "0.0.0.0", NULL},
	{"255.255.255.255", 0, "255.255.255.255", NULL},
	{"127.0.0.1", 0, "127.0.0.1", NULL},
	{"10.0.0.1", 0, "10.0.0.1", NULL},
	{"192.168.1.100", 0, "192.168.1.100", NULL},
	{"1.2.3.0", 0, "1.2.3.0", NULL},
	{"", -EINVAL, NULL, "empty"},
	{"256.1.1.1", -ERANGE, NULL, "part \"256\" is larger than 255"},
	{"1000.1.1.1", -ERANGE, NULL, "larger than 255"},
	{"99999999999999999999.1.1.1", -ERANGE, NULL, "larger than 255"},
	{"1.2.3", -EINVAL, NULL, "found 3 parts"},
	{"1.2.3.4.5", -EINVAL, NULL, "found 5 parts"},
	{"127.1", -EINVAL, NULL, "found 2 parts"},
	{"01.2.3.4", -EINVAL, NULL, "part \"01\" has a leading zero"},
	{"1.2.3.00", -EINVAL, NULL, "leading zero"},
	{"1.2.3.4 ", -EINVAL, NULL, "part \"4 \" is not a decimal number"},
	{" 1.2.3.4", -EINVAL, NULL, "not a decimal number"},
	{"1..3.4", -EINVAL, NULL, "part 2 is empty"},
	{"1.2.3.", -EINVAL, NULL, "part 4 is empty"},
	{".1.2.3", -EINVAL, NULL, "part 1 is empty"},
	{"a.b.c.d", -EINVAL, NULL, "not a decimal number"},
	{"1.2.3.-4", -EINVAL, NULL, "not a decimal number"},
	{"0x1.2.3.4", -EINVAL, NULL, "not a decimal number"},
	{"1.2.3.4/24", -EINVAL, NULL, "not a decimal number"},
};

static void test_ipv4(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ipv4_cases) / sizeof(ipv4_cases[0]); i++) {
		const struct ipv4_case *c = &ipv4_cases[i];
		struct in_addr out;
		nook_error *err = NULL;
		memset(&out, 0xa5, sizeof(out));
		int ret = nook_parse_ipv4(c->in, &out, &err);
		check_outcome("nook_parse_ipv4", c->in, ret, err, c->ret, NULL, c->extra);
		if (c->ret == 0)
			assert_int_equal(out.s_addr, ip(c->want));
		else
			check_untouched("nook_parse_ipv4", c->in, &out, sizeof(out));
		nook_error_free(err);
	}
}

struct subnet_case {
	const char *in;
	int ret;
	const char *addr, *network, *netmask;
	unsigned int prefix;
	const char *extra;
};

static const struct subnet_case subnet_cases[] = {
	{"10.0.0.0/24", 0, "10.0.0.0", "10.0.0.0", "255.255.255.0", 24, NULL},
	{"192.168.1.0/24", 0, "192.168.1.0", "192.168.1.0", "255.255.255.0", 24, NULL},
	{"172.16.0.0/12", 0, "172.16.0.0", "172.16.0.0", "255.240.0.0", 12, NULL},
	{"0.0.0.0/0", 0, "0.0.0.0", "0.0.0.0", "0.0.0.0", 0, NULL},
	{"10.0.0.1/32", 0, "10.0.0.1", "10.0.0.1", "255.255.255.255", 32, NULL},
	{"10.0.0.5/24", 0, "10.0.0.5", "10.0.0.0", "255.255.255.0", 24, NULL}, /* host bits */
	{"10.0.0.0/024", 0, "10.0.0.0", "10.0.0.0", "255.255.255.0", 24, NULL},
	{"10.0.0.0/33", -ERANGE, NULL, NULL, NULL, 0, "prefix length \"33\" is out of range 0..32"},
	{"10.0.0.0/4294967296", -ERANGE, NULL, NULL, NULL, 0, "out of range 0..32"},
	{"10.0.0.0", -EINVAL, NULL, NULL, NULL, 0, "missing \"/PREFIX\""},
	{"10.0.0.0/", -EINVAL, NULL, NULL, NULL, 0, "prefix length after '/' is empty"},
	{"10.0.0.0/-1", -EINVAL, NULL, NULL, NULL, 0, "not a decimal number"},
	{"10.0.0.0/ 24", -EINVAL, NULL, NULL, NULL, 0, "not a decimal number"},
	{"10.0.0.0/24/8", -EINVAL, NULL, NULL, NULL, 0, "prefix length \"24/8\""},
	{"10.0.0.0/255.255.255.0", -EINVAL, NULL, NULL, NULL, 0, "not a decimal number"},
	{"10.0.0/24", -EINVAL, NULL, NULL, NULL, 0, "found 3 parts"},
	{"256.0.0.0/8", -ERANGE, NULL, NULL, NULL, 0, "larger than 255"},
	{"010.0.0.0/8", -EINVAL, NULL, NULL, NULL, 0, "leading zero"},
	{"/24", -EINVAL, NULL, NULL, NULL, 0, "address is empty"},
};

static void test_subnet(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(subnet_cases) / sizeof(subnet_cases[0]); i++) {
		const struct subnet_case *c = &subnet_cases[i];
		struct nook_ipv4_subnet out;
		nook_error *err = NULL;
		memset(&out, 0xa5, sizeof(out));
		int ret = nook_parse_ipv4_subnet(c->in, &out, &err);
		check_outcome("nook_parse_ipv4_subnet", c->in, ret, err, c->ret, NULL, c->extra);
		if (c->ret == 0) {
			assert_int_equal(out.addr.s_addr, ip(c->addr));
			assert_int_equal(out.network.s_addr, ip(c->network));
			assert_int_equal(out.netmask.s_addr, ip(c->netmask));
			assert_int_equal(out.prefix, c->prefix);
		} else {
			check_untouched("nook_parse_ipv4_subnet", c->in, &out, sizeof(out));
		}
		nook_error_free(err);
	}
}

struct contains_case {
	const char *addr, *subnet;
	bool inside;
};

static const struct contains_case contains_cases[] = {
	{"10.0.0.5", "10.0.0.0/24", true},
	{"10.0.0.0", "10.0.0.0/24", true},
	{"10.0.0.255", "10.0.0.0/24", true},
	{"10.0.1.5", "10.0.0.0/24", false},
	{"9.255.255.255", "10.0.0.0/8", false},
	{"203.0.113.7", "0.0.0.0/0", true},
	{"10.0.0.1", "10.0.0.1/32", true},
	{"10.0.0.2", "10.0.0.1/32", false},
	{"10.0.0.9", "10.0.0.5/24", true},
	{"192.168.2.1", "192.168.1.0/24", false},
};

static void test_in_subnet(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(contains_cases) / sizeof(contains_cases[0]); i++) {
		const struct contains_case *c = &contains_cases[i];
		struct nook_ipv4_subnet net;
		struct in_addr a;
		assert_int_equal(nook_parse_ipv4_subnet(c->subnet, &net, NULL), 0);
		assert_int_equal(nook_parse_ipv4(c->addr, &a, NULL), 0);
		n_cases++;
		if (nook_ipv4_subnet_contains(&net, a) != c->inside)
			fail_msg("%s in %s: expected %d", c->addr, c->subnet, c->inside);
		nook_error *err = NULL;
		int ret = nook_ipv4_check_in_subnet(a, &net, &err);
		if (c->inside) {
			assert_int_equal(ret, 0);
			assert_null(err);
			continue;
		}
		assert_int_equal(ret, -EINVAL);
		assert_non_null(err);
		const char *msg = nook_error_message(err);
		char net_text[32];
		snprintf(net_text, sizeof(net_text), "%s/%u", inet_ntoa(net.network), net.prefix);
		if (!strstr(msg, c->addr) || !strstr(msg, net_text))
			fail_msg("%s in %s: message does not name both: %s", c->addr, c->subnet, msg);
		if (verbose)
			print_message("    %s\n", msg);
		nook_error_free(err);
	}
}

/* ------------------------------------------------------------------------ */

static void test_null_input(void **state)
{
	(void)state;
	struct nook_path_pair pp;
	struct nook_port_pair po;
	struct nook_env_pair ep;
	struct nook_rlimit rl;
	struct in_addr a;
	struct nook_ipv4_subnet sn;
	enum nook_network_scope sc;
	enum nook_log_level ll;
	int ret[] = {
		nook_parse_path_pair(NULL, &pp, NULL), nook_parse_port_pair(NULL, &po, NULL),
		nook_parse_env_pair(NULL, &ep, NULL),  nook_parse_rlimit(NULL, &rl, NULL),
		nook_parse_ipv4(NULL, &a, NULL),       nook_parse_ipv4_subnet(NULL, &sn, NULL),
		nook_parse_network_scope(NULL, &sc, NULL), nook_parse_log_level(NULL, &ll, NULL),
	};
	for (size_t i = 0; i < sizeof(ret) / sizeof(ret[0]); i++)
		assert_int_equal(ret[i], -EINVAL);
	nook_error *err = NULL;
	assert_int_equal(nook_parse_port_pair(NULL, &po, &err), -EINVAL);
	assert_non_null(strstr(nook_error_message(err), "port mapping"));
	nook_error_free(err);

	/* The first error is kept: a second failure does not overwrite it. */
	err = NULL;
	assert_int_equal(nook_parse_port_pair("0", &po, &err), -ERANGE);
	assert_int_equal(nook_parse_ipv4("1.2.3", &a, &err), -EINVAL);
	assert_non_null(strstr(nook_error_message(err), "\"0\""));
	assert_int_equal(nook_error_code(err), ERANGE);
	nook_error_free(err);

	/* Long inputs are quoted in full. */
	char longin[600];
	memset(longin, 'x', sizeof(longin) - 1);
	longin[sizeof(longin) - 1] = '\0';
	err = NULL;
	assert_int_equal(nook_parse_env_pair(longin, &ep, &err), -EINVAL);
	assert_non_null(strstr(nook_error_message(err), longin));
	nook_error_free(err);
}

static int report(void **state)
{
	(void)state;
	print_message("%u table cases checked\n", n_cases);
	return 0;
}

int main(void)
{
	const char *v = getenv("NOOK_TEST_VERBOSE");
	verbose = v && *v && strcmp(v, "0") != 0;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_pair),     cmocka_unit_test(test_port_pair),
		cmocka_unit_test(test_env_pair),      cmocka_unit_test(test_rlimit),
		cmocka_unit_test(test_rlimit_names),  cmocka_unit_test(test_network_scope),
		cmocka_unit_test(test_log_level),     cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_subnet),        cmocka_unit_test(test_in_subnet),
		cmocka_unit_test(test_null_input),
	};
	return cmocka_run_group_tests(tests, NULL, report);
}
