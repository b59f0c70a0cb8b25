/* nook-init's side of networking: the NOOK_TAG_NET record through the
 * VMM's encoder and nook-init's parser, and (as root) the static
 * configuration applied for real in a network and mount namespace of a
 * child process, so the host's interfaces and /etc/resolv.conf stay
 * untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/init/init_config.h"
#include "guest/init/init_net.h"
#include "vm/guest_config.h"

static const struct nook_record_net record = {
	.mac = {0x02, 0x6e, 0x6f, 0x6f, 0x6b, 0x07},
	.mode = NOOK_NET_STATIC,
	.prefix = 24,
	.addr = {10, 0, 2, 15},
	.gateway = {10, 0, 2, 2},
	.dns = {10, 0, 2, 3},
};

static void parse(const struct nook_record_net *rec, struct init_config *cfg, int expect)
{
	static const uint8_t entropy[NOOK_ENTROPY_MIN];
	struct timespec now = {.tv_sec = 1};
	struct bytes buf = {0};
	assert_int_equal(guest_config_add_string(&buf, NOOK_TAG_EXEC_PATH, "/bin/true"), 0);
	assert_int_equal(guest_config_add_net(&buf, rec), 0);
	assert_int_equal(guest_config_add_clock(&buf, &now), 0);
	assert_int_equal(guest_config_add_entropy(&buf, entropy, sizeof(entropy)), 0);
	char err[256];
	assert_int_equal(init_config_parse(buf.data, buf.len, cfg, err, sizeof(err)), expect);
	bytes_free(&buf);
}

static void test_record_round_trip(void **state)
{
	struct init_config cfg;
	parse(&record, &cfg, 0);
	assert_int_equal(cfg.nnets, 1);
	assert_memory_equal(cfg.nets[0].mac, record.mac, 6);
	assert_int_equal(cfg.nets[0].mode, NOOK_NET_STATIC);
	assert_int_equal(cfg.nets[0].prefix, 24);
	assert_int_equal(cfg.nets[0].addr, inet_addr("10.0.2.15"));
	assert_int_equal(cfg.nets[0].gateway, inet_addr("10.0.2.2"));
	assert_int_equal(cfg.nets[0].dns, inet_addr("10.0.2.3"));
	init_config_free(&cfg);

	struct nook_record_net bad = record;
	bad.mode = 9; /* unknown */
	parse(&bad, &cfg, -EINVAL);
	bad = record;
	bad.prefix = 33;
	parse(&bad, &cfg, -EINVAL);
}

/* In the child: loopback brought up by init_net_loopback() and a veth
 * interface with the record's MAC configured by init_net_configure();
 * exit status 0 when all checks pass. */
static int child_configure(const char *resolv)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
		return 10;
	if (system("ip link add nookveth0 address 02:6e:6f:6f:6b:07 type veth peer name nookveth1"
		   " && ip link set nookveth1 up") != 0)
		return 11;
	struct init_net net = {.mode = NOOK_NET_STATIC, .prefix = 24,
				    .addr = inet_addr("10.0.2.15"),
				    .gateway = inet_addr("10.0.2.2"), .dns = inet_addr("10.0.2.3")};
	memcpy(net.mac, record.mac, 6);
	struct init_config cfg = {.nets = &net, .nnets = 1};
	char err[256];
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = {0};
	/* A new namespace's loopback starts down; nook-init brings it up
	 * before the ready point, then configures the run's interfaces. */
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || (ifr.ifr_flags & IFF_UP))
		return 17;
	if (init_net_loopback(err, sizeof(err)) < 0 || init_net_configure(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "configure: %s\n", err);
		return 12;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "nookveth0");
	if (ioctl(s, SIOCGIFADDR, &ifr) < 0 ||
	    ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr != inet_addr("10.0.2.15"))
		return 13;
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
		return 14;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0 || !(ifr.ifr_flags & IFF_UP))
		return 15;
	/* The default route: destination 0 via 10.0.2.2 (little-endian hex). */
	if (system("grep -q 'nookveth0\t00000000\t0202000A' /proc/net/route") != 0)
		return 16;
	return 0;
}

static void test_static_in_namespace(void **state)
{
	if (geteuid() != 0 || system("command -v ip >/dev/null") != 0)
		skip();
	char resolv[] = "/tmp/nook-resolv-XXXXXX";
	int fd = mkstemp(resolv);
	assert_true(fd >= 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_configure(resolv));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 10 || WEXITSTATUS(status) == 11) {
		unlink(resolv);
		skip(); /* no namespaces or no veth here */
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	char buf[64] = {0};
	assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
	assert_string_equal(buf, "nameserver 10.0.2.3\n");
	close(fd);
	unlink(resolv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_static_in_namespace),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
