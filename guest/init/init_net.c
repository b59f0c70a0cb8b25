#include "guest/init/init_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest/protocol.h"

#define RESOLV_CONF "/etc/resolv.conf"
#define DHCP_SCRIPT "/run/nook-udhcpc.sh"

/* udhcpc calls this with the lease in its environment. */
static const char dhcp_script[] =
	"#!/bin/sh\n"
	"[ \"$1\" = bound ] || [ \"$1\" = renew ] || exit 0\n"
	"ip addr flush dev \"$interface\"\n"
	"ip addr add \"$ip/${mask:-24}\" dev \"$interface\"\n"
	"[ -n \"$mtu\" ] && ip link set \"$interface\" mtu \"$mtu\"\n"
	"[ -n \"$router\" ] && ip route replace default via \"${router%% *}\" dev \"$interface\"\n"
	"if [ -n \"$dns\" ]; then for d in $dns; do echo \"nameserver $d\"; done >" RESOLV_CONF "; fi\n"
	"exit 0\n";

static int set_flags_up(int sock, const char *name)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	return ioctl(sock, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/* The interface whose MAC is mac, into name (IFNAMSIZ bytes). */
static int find_interface(int sock, const unsigned char mac[6], char *name)
{
	struct if_nameindex *all = if_nameindex();
	int r = -ENODEV;
	for (struct if_nameindex *i = all; all && i->if_index; i++) {
		struct ifreq ifr = { 0 };
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->if_name);
		if (ioctl(sock, SIOCGIFHWADDR, &ifr) == 0 &&
		    memcmp(ifr.ifr_hwaddr.sa_data, mac, 6) == 0) {
			snprintf(name, IFNAMSIZ, "%s", i->if_name);
			r = 0;
			break;
		}
	}
	if (all)
		if_freenameindex(all);
	return r;
}

static void set_in(struct sockaddr *sa, uint32_t addr)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	memset(in, 0, sizeof(*in));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = addr;
}

static int configure_static(int sock, const char *name, const struct init_net *net)
{
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	set_in(&ifr.ifr_addr, net->addr);
	if (ioctl(sock, SIOCSIFADDR, &ifr) < 0)
		return -errno;
	set_in(&ifr.ifr_netmask, htonl(net->prefix ? ~0u << (32 - net->prefix) : 0));
	if (ioctl(sock, SIOCSIFNETMASK, &ifr) < 0)
		return -errno;
	int r = set_flags_up(sock, name);
	if (r < 0 || !net->gateway)
		return r;
	struct rtentry rt = { 0 };
	set_in(&rt.rt_dst, 0);
	set_in(&rt.rt_genmask, 0);
	set_in(&rt.rt_gateway, net->gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	rt.rt_dev = (char *)name;
	return ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST ? -errno : 0;
}

static int write_resolv_conf(uint32_t dns)
{
	char ip[INET_ADDRSTRLEN], line[64];
	inet_ntop(AF_INET, &dns, ip, sizeof(ip));
	int n = snprintf(line, sizeof(line), "nameserver %s\n", ip);
	mkdir("/etc", 0755);
	int fd = open(RESOLV_CONF, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int r = write(fd, line, (size_t)n) == n ? 0 : -EIO;
	close(fd);
	return r;
}

static int configure_dhcp(const char *name)
{
	mkdir("/run", 0755);
	int fd = open(DHCP_SCRIPT, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, dhcp_script, sizeof(dhcp_script) - 1);
	close(fd);
	if (n != (ssize_t)sizeof(dhcp_script) - 1)
		return -EIO;
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Quit after the lease (-q), fail after 3 tries (-n -t 3). */
		execl("/bin/busybox", "udhcpc", "-i", name, "-s", DHCP_SCRIPT, "-q", "-n", "-t", "3",
		      "-f", (char *)NULL);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EHOSTUNREACH;
}

int init_net_loopback(char *err, size_t errlen)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return 0; /* a kernel without INET */
	int r = set_flags_up(sock, "lo");
	if (r < 0)
		snprintf(err, errlen, "lo: %s", strerror(-r));
	close(sock);
	return r;
}

int init_net_configure(const struct init_config *cfg, char *err, size_t errlen)
{
	if (cfg->nnets == 0)
		return 0;
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	int r = 0;
	for (size_t i = 0; i < cfg->nnets; i++) {
		const struct init_net *net = &cfg->nets[i];
		char name[IFNAMSIZ];
		const unsigned char *m = net->mac;
		int e = find_interface(sock, net->mac, name);
		if (e == 0 && net->mode == NOOK_NET_STATIC) {
			e = configure_static(sock, name, net);
			if (e == 0 && net->dns)
				e = write_resolv_conf(net->dns);
		} else if (e == 0 && net->mode == NOOK_NET_DHCP) {
			e = set_flags_up(sock, name);
			if (e == 0)
				e = configure_dhcp(name);
		} else if (e == 0) {
			e = set_flags_up(sock, name);
		}
		if (e < 0) {
			snprintf(err, errlen, "interface %02x:%02x:%02x:%02x:%02x:%02x: %s", m[0], m[1],
				 m[2], m[3], m[4], m[5],
				 e == -EHOSTUNREACH ? "no DHCP lease" : strerror(-e));
			r = e;
		}
	}
	close(sock);
	return r;
}
