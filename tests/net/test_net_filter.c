/* The scope filter, fed crafted frames: every scope against every address
 * class, plus the traffic a guest needs to configure itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "backends/net/filter.h"
#include "tests/net/frames.h"

#define SUBNET FRAME_NETWORK
#define GATEWAY FRAME_GATEWAY
#define DNS FRAME_DNS
#define GUEST FRAME_GUEST

static const struct net_filter_port published[] = {
	{8080, NOOK_PORT_PROTOCOL_TCP},
	{5353, NOOK_PORT_PROTOCOL_UDP},
};

/* The first user-mode device's filter, as vm/net.c builds it. */
static struct net_filter filter(enum nook_network_scope scope)
{
	return (struct net_filter){
		.scope = scope, .network = SUBNET, .netmask = FRAME_NETMASK, .gateway = GATEWAY,
		.dns = DNS, .guest = GUEST, .mac = {0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01},
		.ports = published, .nports = 2, .gateway_is_host_loopback = true,
	};
}

static void put16(uint8_t *p, uint16_t v)
{
	frame_put16(p, v);
}

static size_t eth(uint8_t *f, uint16_t type)
{
	return frame_eth(f, frame_gateway_mac, frame_guest_mac, type);
}

/* An IPv4 frame from the guest carrying TCP (flags) or UDP from sport to
 * dport. */
static size_t ipv4(uint8_t *f, uint32_t dst, uint8_t proto, uint16_t sport, uint16_t dport,
		   uint8_t tcp_flags)
{
	return frame_ipv4(f, &(struct frame_ip){.proto = proto, .src = GUEST, .dst = dst,
						.sport = sport, .dport = dport,
						.tcp_flags = tcp_flags});
}

/* The same from the peer (src, sport) to the guest's dport. */
static size_t ipv4_in(uint8_t *f, uint32_t src, uint8_t proto, uint16_t sport, uint16_t dport)
{
	size_t len = frame_ipv4(f, &(struct frame_ip){.proto = proto, .src = src, .dst = GUEST,
						      .sport = sport, .dport = dport});
	frame_eth(f, frame_guest_mac, frame_gateway_mac, 0x0800);
	return len;
}

static size_t tcp_syn(uint8_t *f, uint32_t dst, uint16_t dport)
{
	return ipv4(f, dst, 6, 40000, dport, 0x02);
}

static uint32_t addr(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return ntohl(a.s_addr);
}

static bool allows(enum nook_network_scope scope, const uint8_t *f, size_t len)
{
	struct net_filter flt = filter(scope);
	return net_filter_allows(&flt, f, len);
}

/* Expected verdict for a TCP SYN to each class, per scope:
 * none, group, public, any. */
static const struct {
	const char *dst;
	bool expect[4];
} ipv4_classes[] = {
	{"10.0.2.2", {false, false, false, true}},   /* gateway (host loopback) */
	{"10.0.2.99", {false, true, false, true}},   /* another sandbox in the group */
	{"10.0.3.1", {false, false, false, true}},   /* private, outside the subnet */
	{"172.16.5.4", {false, false, false, true}}, /* private */
	{"192.168.1.1", {false, false, false, true}},
	{"127.0.0.1", {false, false, false, true}},  /* loopback */
	{"169.254.169.254", {false, false, false, true}}, /* link-local (cloud metadata) */
	{"100.64.0.1", {false, false, false, true}}, /* CGNAT */
	{"224.0.0.251", {false, false, false, true}}, /* multicast */
	{"255.255.255.255", {false, false, false, true}}, /* broadcast */
	{"0.0.0.0", {false, false, false, true}},
	{"240.0.0.1", {false, false, false, true}},  /* reserved */
	{"1.1.1.1", {false, false, true, true}},     /* public */
	{"203.0.113.7", {false, false, true, true}},
	{"8.8.8.8", {false, false, true, true}},
};

static void test_ipv4_classes(void **state)
{
	uint8_t f[128];
	for (size_t i = 0; i < sizeof(ipv4_classes) / sizeof(ipv4_classes[0]); i++) {
		size_t len = tcp_syn(f, addr(ipv4_classes[i].dst), 80);
		for (int s = 0; s < 4; s++) {
			bool got = allows((enum nook_network_scope)s, f, len);
			if (got != ipv4_classes[i].expect[s])
				fail_msg("%s in scope %s: got %d", ipv4_classes[i].dst,
					 nook_network_scope_name((enum nook_network_scope)s), got);
		}
	}
	/* UDP is judged like TCP. */
	size_t len = ipv4(f, addr("192.168.1.1"), 17, 1234, 9999, 0);
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	len = ipv4(f, addr("9.9.9.9"), 17, 1234, 9999, 0);
	assert_true(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
}

static void test_dhcp_and_dns(void **state)
{
	uint8_t f[128];
	size_t len = ipv4(f, 0xffffffffu, 17, 68, 67, 0);
	for (int s = 0; s < 4; s++)
		assert_true(allows((enum nook_network_scope)s, f, len));
	len = ipv4(f, GATEWAY, 17, 68, 67, 0); /* renewal, unicast */
	assert_true(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	len = ipv4(f, 0xffffffffu, 17, 68, 68, 0); /* not DHCP */
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	/* DNS through the sandbox's server: not in none; else port 53 only
	 * (libslirp forwards any port there to the host's resolver). */
	len = ipv4(f, DNS, 17, 40000, 53, 0);
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	assert_true(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
	assert_true(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	len = ipv4(f, DNS, 6, 40000, 53, 0x02);
	assert_true(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	assert_true(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
	len = ipv4(f, DNS, 17, 40000, 54, 0);
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
	assert_true(allows(NOOK_NETWORK_SCOPE_ANY, f, len));
	len = ipv4(f, DNS, 6, 40000, 80, 0x02);
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
}

/* The host's loopback behind the user-mode gateway: closed in every scope
 * but any unless granted, then open in every scope. On other backends the
 * gateway is an address like any other in the subnet. */
static void test_host_loopback(void **state)
{
	uint8_t f[2][128];
	size_t lens[2] = {tcp_syn(f[0], GATEWAY, 22), ipv4(f[1], GATEWAY, 17, 40000, 631, 0)};
	for (size_t i = 0; i < 2; i++)
		for (int s = 0; s < 4; s++) {
			struct net_filter flt = filter((enum nook_network_scope)s);
			assert_int_equal(net_filter_allows(&flt, f[i], lens[i]),
					 s == NOOK_NETWORK_SCOPE_ANY);
			flt.allow_host_loopback = true;
			assert_true(net_filter_allows(&flt, f[i], lens[i]));
		}
	struct net_filter tap = filter(NOOK_NETWORK_SCOPE_GROUP);
	tap.gateway_is_host_loopback = false;
	assert_true(net_filter_allows(&tap, f[0], lens[0]));
	tap.scope = NOOK_NETWORK_SCOPE_PUBLIC;
	assert_false(net_filter_allows(&tap, f[0], lens[0]));
}

static void test_published_tcp_replies(void **state)
{
	uint8_t f[128];
	/* SYN-ACK and data from the guest's published server to the gateway. */
	size_t len = ipv4(f, GATEWAY, 6, 8080, 50000, 0x12);
	for (int s = 0; s < 4; s++)
		assert_true(allows((enum nook_network_scope)s, f, len));
	len = ipv4(f, GATEWAY, 6, 8080, 50000, 0x18);
	assert_true(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	/* ... and to a client elsewhere (a port published on 0.0.0.0). */
	len = ipv4(f, addr("192.168.1.7"), 6, 8080, 50000, 0x12);
	assert_true(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	/* ... but not a connection it opens from that port. */
	len = ipv4(f, GATEWAY, 6, 8080, 50000, 0x02);
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
	/* Nor from another port or protocol. */
	len = ipv4(f, GATEWAY, 6, 8081, 50000, 0x12);
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	len = ipv4(f, GATEWAY, 17, 8080, 50000, 0);
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
}

/* A UDP datagram from a published port is a reply only to a peer that sent
 * one to that port within NET_FILTER_FLOW_IDLE_S. */
static void test_published_udp_flows(void **state)
{
	uint8_t f[128], in[128];
	for (int s = 0; s < 3; s++) {
		struct net_filter flt = filter((enum nook_network_scope)s);
		size_t len = ipv4(f, GATEWAY, 17, 5353, 50000, 0);
		assert_false(net_filter_allows(&flt, f, len));
		/* Inbound to another port, another guest or over TCP: no flow. */
		net_filter_note_inbound(&flt, in, ipv4_in(in, GATEWAY, 17, 50000, 5354));
		net_filter_note_inbound(&flt, in, ipv4_in(in, GATEWAY, 6, 50000, 5353));
		size_t other = ipv4_in(in, GATEWAY, 17, 50000, 5353);
		frame_put32(in + 14 + 16, GUEST + 1);
		net_filter_note_inbound(&flt, in, other);
		assert_false(net_filter_allows(&flt, f, len));

		net_filter_note_inbound(&flt, in, ipv4_in(in, GATEWAY, 17, 50000, 5353));
		assert_true(net_filter_allows(&flt, f, len));
		/* Only to that peer and port, only from the port it sent to. */
		assert_false(net_filter_allows(&flt, f, ipv4(f, GATEWAY, 17, 5353, 50001, 0)));
		assert_false(net_filter_allows(&flt, f, ipv4(f, addr("192.168.9.9"), 17, 5353, 50000, 0)));
		/* A peer elsewhere (a port published on 0.0.0.0) the same way. */
		net_filter_note_inbound(&flt, in, ipv4_in(in, addr("192.168.1.7"), 17, 40000, 5353));
		assert_true(net_filter_allows(&flt, f, ipv4(f, addr("192.168.1.7"), 17, 5353, 40000, 0)));
		/* An idle flow ends. */
		for (int i = 0; i < NET_FILTER_FLOWS; i++)
			if (flt.flows[i].last_ns)
				flt.flows[i].last_ns -= (NET_FILTER_FLOW_IDLE_S + 1) * 1000000000ULL;
		assert_false(net_filter_allows(&flt, f, ipv4(f, GATEWAY, 17, 5353, 50000, 0)));
	}
	/* A full table replaces its least recently used flow. */
	struct net_filter flt = filter(NOOK_NETWORK_SCOPE_NONE);
	for (uint16_t p = 0; p <= NET_FILTER_FLOWS; p++) {
		net_filter_note_inbound(&flt, in, ipv4_in(in, GATEWAY, 17, (uint16_t)(1000 + p), 5353));
		if (p == 0)
			flt.flows[0].last_ns -= 1000000000ULL;
	}
	assert_false(net_filter_allows(&flt, f, ipv4(f, GATEWAY, 17, 5353, 1000, 0)));
	assert_true(net_filter_allows(&flt, f, ipv4(f, GATEWAY, 17, 5353, 1001, 0)));
	assert_true(net_filter_allows(&flt, f,
				      ipv4(f, GATEWAY, 17, 5353, 1000 + NET_FILTER_FLOWS, 0)));
}

static size_t arp(uint8_t *f, uint32_t target)
{
	return frame_arp(f, frame_guest_mac, 1, frame_guest_mac, GUEST, target);
}

static void test_arp(void **state)
{
	uint8_t f[64];
	size_t len = arp(f, GATEWAY);
	for (int s = 0; s < 4; s++)
		assert_true(allows((enum nook_network_scope)s, f, len));
	len = arp(f, addr("192.168.1.1"));
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	assert_true(allows(NOOK_NETWORK_SCOPE_ANY, f, len));
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, len - 1)); /* truncated */
}

static const uint8_t other_mac[6] = {0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x02};

/* Every frame comes from the guest's MAC (but in scope any). */
static void test_source_mac(void **state)
{
	uint8_t f[128];
	size_t len = tcp_syn(f, addr("1.1.1.1"), 443);
	assert_true(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	memcpy(f + 6, other_mac, 6);
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	assert_true(allows(NOOK_NETWORK_SCOPE_ANY, f, len));
	len = ipv4(f, 0xffffffffu, 17, 68, 67, 0); /* even DHCP */
	memcpy(f + 6, other_mac, 6);
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
}

/* ARP speaks for the guest only: a guest on a shared link cannot claim the
 * gateway's or another sandbox's address, nor another MAC. */
static void test_arp_sender(void **state)
{
	static const struct {
		const char *what;
		const uint8_t *eth_src, *sha;
		uint16_t op;
		const char *spa;
		bool ok;
	} cases[] = {
		{"request", frame_guest_mac, frame_guest_mac, 1, "10.0.2.15", true},
		{"reply", frame_guest_mac, frame_guest_mac, 2, "10.0.2.15", true},
		{"probe", frame_guest_mac, frame_guest_mac, 1, "0.0.0.0", true},
		{"reply from 0.0.0.0", frame_guest_mac, frame_guest_mac, 2, "0.0.0.0", false},
		{"as the gateway", frame_guest_mac, frame_guest_mac, 2, "10.0.2.2", false},
		{"as another sandbox", frame_guest_mac, frame_guest_mac, 1, "10.0.2.16", false},
		{"another sender MAC", frame_guest_mac, other_mac, 1, "10.0.2.15", false},
		{"another Ethernet source", other_mac, frame_guest_mac, 1, "10.0.2.15", false},
		{"another operation", frame_guest_mac, frame_guest_mac, 3, "10.0.2.15", false},
	};
	uint8_t f[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = frame_arp(f, cases[i].eth_src, cases[i].op, cases[i].sha,
				       addr(cases[i].spa), GATEWAY);
		for (int s = 0; s < 3; s++)
			if (allows((enum nook_network_scope)s, f, len) != cases[i].ok)
				fail_msg("ARP %s in scope %s", cases[i].what,
					 nook_network_scope_name((enum nook_network_scope)s));
		assert_true(allows(NOOK_NETWORK_SCOPE_ANY, f, len));
	}
}

/* A DHCPACK (or another DHCP message) from the server for `chaddr`. */
static size_t dhcp_reply(uint8_t *f, const uint8_t chaddr[6], uint8_t type, uint32_t yiaddr)
{
	uint8_t b[244] = {2, 1, 6};
	frame_put32(b + 16, yiaddr);
	memcpy(b + 28, chaddr, 6);
	memcpy(b + 236, (const uint8_t[]){99, 130, 83, 99}, 4);
	memcpy(b + 240, (const uint8_t[]){53, 1, type, 255}, 4);
	size_t len = frame_ipv4(f, &(struct frame_ip){.proto = 17, .src = addr("10.0.9.1"),
						      .dst = 0xffffffffu, .sport = 67, .dport = 68,
						      .data = b, .len = sizeof(b)});
	frame_eth(f, frame_guest_mac, frame_gateway_mac, 0x0800);
	return len;
}

/* A guest whose address comes from DHCP may claim the one it was given. */
static void test_arp_dhcp_address(void **state)
{
	struct net_filter flt = filter(NOOK_NETWORK_SCOPE_GROUP);
	flt.guest = 0;
	uint8_t f[64], in[400];
	size_t len = frame_arp(f, frame_guest_mac, 1, frame_guest_mac, addr("10.0.2.50"), GATEWAY);
	size_t probe = frame_arp(in, frame_guest_mac, 1, frame_guest_mac, 0, addr("10.0.2.50"));
	assert_true(net_filter_allows(&flt, in, probe));
	assert_false(net_filter_allows(&flt, f, len));
	net_filter_note_inbound(&flt, in, dhcp_reply(in, frame_guest_mac, 2, addr("10.0.2.50")));
	net_filter_note_inbound(&flt, in, dhcp_reply(in, other_mac, 5, addr("10.0.2.50")));
	assert_false(net_filter_allows(&flt, f, len)); /* an offer, an ACK for another MAC */
	size_t ack = dhcp_reply(in, frame_guest_mac, 5, addr("10.0.2.50"));
	net_filter_note_inbound(&flt, in, ack - 3); /* the options cut short */
	assert_false(net_filter_allows(&flt, f, len));
	net_filter_note_inbound(&flt, in, ack);
	assert_true(net_filter_allows(&flt, f, len));
	/* A configured address is not replaced. */
	flt = filter(NOOK_NETWORK_SCOPE_GROUP);
	net_filter_note_inbound(&flt, in, ack);
	assert_false(net_filter_allows(&flt, f, len));
}

static size_t ipv6(uint8_t *f, const char *dst, uint8_t next, uint8_t icmp_type)
{
	size_t n = eth(f, 0x86dd);
	uint8_t *ip = f + n;
	memset(ip, 0, 48);
	ip[0] = 0x60;
	put16(ip + 4, 8);
	ip[6] = next;
	ip[7] = 64;
	assert_int_equal(inet_pton(AF_INET6, "fe80::2", ip + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, dst, ip + 24), 1);
	ip[40] = icmp_type;
	return n + 48;
}

static void test_ipv6_classes(void **state)
{
	static const struct {
		const char *dst;
		bool public_ok;
	} classes[] = {
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:1.1.1.1", true},
		{"64:ff9b::7f00:1", false},
		{"64:ff9b::808:808", true},
		{"2606:4700:4700::1111", true},
	};
	uint8_t f[128];
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		size_t len = ipv6(f, classes[i].dst, 6, 0);
		if (allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len) != classes[i].public_ok)
			fail_msg("%s in scope public", classes[i].dst);
		assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
		assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
		assert_true(allows(NOOK_NETWORK_SCOPE_ANY, f, len));
	}
	/* ICMPv6 other than neighbour discovery (echo request) by destination. */
	size_t len = ipv6(f, "ff02::1", 58, 128);
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
	len = ipv6(f, "2606:4700:4700::1111", 58, 128);
	assert_true(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
}

/* The guest's link-local address: fe80:: and the EUI-64 of its MAC. */
#define GUEST_LL "fe80::4e:4fff:fe4f:4b01"

struct nd {
	const char *src, *dst;
	uint8_t type, hop_limit, flags; /* flags: of an advertisement */
	const char *target;
	const uint8_t *opts;
	size_t opts_len;
};

static size_t nd(uint8_t *f, const struct nd *m)
{
	size_t n = eth(f, 0x86dd);
	uint8_t *ip = f + n, *icmp = ip + 40;
	size_t body = (m->type == 133 ? 8 : 24) + m->opts_len;
	memset(ip, 0, 40 + body);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)body);
	ip[6] = 58;
	ip[7] = m->hop_limit ? m->hop_limit : 255;
	assert_int_equal(inet_pton(AF_INET6, m->src, ip + 8), 1);
	assert_int_equal(inet_pton(AF_INET6, m->dst, ip + 24), 1);
	icmp[0] = m->type;
	icmp[4] = m->flags;
	if (m->target)
		assert_int_equal(inet_pton(AF_INET6, m->target, icmp + 8), 1);
	if (m->opts_len) /* opts may be NULL */
		memcpy(icmp + body - m->opts_len, m->opts, m->opts_len);
	return n + 40 + body;
}

static const uint8_t sll[8] = {1, 1, 0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01};
static const uint8_t sll_other[8] = {1, 1, 0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x02};
static const uint8_t tll[8] = {2, 1, 0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01};
static const uint8_t nonce[8] = {14, 1, 1, 2, 3, 4, 5, 6};
static const uint8_t empty_opt[8] = {1, 0};
static const uint8_t long_opt[8] = {1, 2, 0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01};
static const uint8_t prefix_opt[8] = {3, 1};

/* Neighbour discovery: only well-formed RS/NS/NA about the guest itself. */
static void test_neighbour_discovery(void **state)
{
	static const struct {
		const char *what;
		struct nd m;
		bool ok;
	} cases[] = {
		{"RS from ::", {"::", "ff02::2", 133, .target = NULL}, true},
		{"RS with its MAC", {GUEST_LL, "ff02::2", 133, .opts = sll, .opts_len = 8}, true},
		{"RS, hop limit 64", {GUEST_LL, "ff02::2", 133, .hop_limit = 64}, false},
		{"RS to all nodes", {GUEST_LL, "ff02::1", 133, .target = NULL}, false},
		{"RS to a unicast", {GUEST_LL, "2001:db8::1", 133, .target = NULL}, false},
		{"RS from :: with a MAC", {"::", "ff02::2", 133, .opts = sll, .opts_len = 8}, false},
		{"RS with another MAC", {GUEST_LL, "ff02::2", 133, .opts = sll_other, .opts_len = 8},
		 false},
		{"RS from another node", {"fe80::1", "ff02::2", 133, .target = NULL}, false},
		{"DAD NS", {"::", "ff02::1:ff4f:4b01", 135, .target = GUEST_LL}, true},
		{"DAD NS with a nonce",
		 {"::", "ff02::1:ff4f:4b01", 135, .target = GUEST_LL, .opts = nonce, .opts_len = 8},
		 true},
		{"NS", {GUEST_LL, "ff02::1:ff00:1", 135, .target = "fe80::1", .opts = sll, .opts_len = 8},
		 true},
		{"NS for a global target",
		 {GUEST_LL, "ff02::1:ff00:1", 135, .target = "2001:db8::1", .opts = sll, .opts_len = 8},
		 true},
		{"NS reachability, unicast", {GUEST_LL, "fe80::1", 135, .target = "fe80::1"}, true},
		{"NS to another node's group", {GUEST_LL, "ff02::1:ff00:2", 135, .target = "fe80::1"},
		 false},
		{"NS to a global unicast", {GUEST_LL, "2001:db8::1", 135, .target = "2001:db8::1"},
		 false},
		{"NS to all nodes", {GUEST_LL, "ff02::1", 135, .target = "fe80::1"}, false},
		{"NS for a multicast target", {GUEST_LL, "ff02::1:ff00:1", 135, .target = "ff02::1"},
		 false},
		{"NS posing as the router",
		 {"fe80::1", "ff02::1:ff00:2", 135, .target = "fe80::2", .opts = sll, .opts_len = 8},
		 false},
		{"NS with another MAC",
		 {GUEST_LL, "ff02::1:ff00:1", 135, .target = "fe80::1", .opts = sll_other,
		  .opts_len = 8},
		 false},
		{"NS with a nonce from its address",
		 {GUEST_LL, "ff02::1:ff00:1", 135, .target = "fe80::1", .opts = nonce, .opts_len = 8},
		 false},
		{"NS, empty option",
		 {GUEST_LL, "ff02::1:ff00:1", 135, .target = "fe80::1", .opts = empty_opt,
		  .opts_len = 8},
		 false},
		{"NS, option past the end",
		 {GUEST_LL, "ff02::1:ff00:1", 135, .target = "fe80::1", .opts = long_opt,
		  .opts_len = 8},
		 false},
		{"NS, prefix option",
		 {GUEST_LL, "ff02::1:ff00:1", 135, .target = "fe80::1", .opts = prefix_opt,
		  .opts_len = 8},
		 false},
		{"NS, hop limit 1", {GUEST_LL, "ff02::1:ff00:1", 135, .hop_limit = 1, .target = "fe80::1"}, false},
		{"NA unsolicited", {GUEST_LL, "ff02::1", 136, .flags = 0x20, .target = GUEST_LL,
				    .opts = tll, .opts_len = 8}, true},
		{"NA solicited, to the asker",
		 {GUEST_LL, "fe80::1", 136, .flags = 0x60, .target = GUEST_LL, .opts = tll,
		  .opts_len = 8},
		 true},
		{"NA solicited, to all nodes",
		 {GUEST_LL, "ff02::1", 136, .flags = 0x60, .target = GUEST_LL}, false},
		{"NA as a router", {GUEST_LL, "ff02::1", 136, .flags = 0xa0, .target = GUEST_LL}, false},
		{"NA for the router's address",
		 {GUEST_LL, "ff02::1", 136, .flags = 0x20, .target = "fe80::1", .opts = tll,
		  .opts_len = 8},
		 false},
		{"NA from ::", {"::", "ff02::1", 136, .target = GUEST_LL}, false},
		{"NA to a global unicast",
		 {GUEST_LL, "2001:db8::1", 136, .flags = 0x40, .target = GUEST_LL}, false},
		{"NA with a source MAC option",
		 {GUEST_LL, "ff02::1", 136, .target = GUEST_LL, .opts = sll, .opts_len = 8}, false},
		{"RA", {GUEST_LL, "ff02::1", 134, .target = NULL}, false},
		{"redirect", {GUEST_LL, "fe80::1", 137, .target = "fe80::2"}, false},
	};
	uint8_t f[160];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = nd(f, &cases[i].m);
		for (int s = 0; s < 3; s++)
			if (allows((enum nook_network_scope)s, f, len) != cases[i].ok)
				fail_msg("%s in scope %s", cases[i].what,
					 nook_network_scope_name((enum nook_network_scope)s));
		assert_true(allows(NOOK_NETWORK_SCOPE_ANY, f, len));
	}
	/* Cut short: the header promises more than the frame holds, or too
	 * little for the message. */
	size_t len = nd(f, &cases[10].m);
	assert_true(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len - 1));
	put16(f + 14 + 4, 20);
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	len = nd(f, &cases[0].m);
	put16(f + 14 + 4, 4);
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
}

static void test_malformed(void **state)
{
	uint8_t f[128];
	memset(f, 0, sizeof(f));
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, 0));
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, 13));
	assert_false(allows(NOOK_NETWORK_SCOPE_ANY, f, 13));
	/* Unknown ethertype: only in any. */
	size_t len = eth(f, 0x88cc);
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len + 20));
	assert_true(allows(NOOK_NETWORK_SCOPE_ANY, f, len + 20));
	/* An IPv4 header shorter than 20 bytes, or a bad IHL. */
	len = tcp_syn(f, addr("10.0.2.9"), 80);
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, 14 + 19));
	f[14] = 0x44;
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
	f[14] = 0x4f; /* 60-byte header in a 40-byte packet */
	assert_false(allows(NOOK_NETWORK_SCOPE_GROUP, f, len));
	/* A fragment cannot pose as a published-port reply. */
	len = ipv4(f, GATEWAY, 6, 8080, 50000, 0x12);
	f[14 + 6] = 0x00;
	f[14 + 7] = 0x10;
	assert_false(allows(NOOK_NETWORK_SCOPE_NONE, f, len));
	/* A wrong IP version under an IPv4 ethertype. */
	len = tcp_syn(f, addr("1.1.1.1"), 80);
	f[14] = 0x65;
	assert_false(allows(NOOK_NETWORK_SCOPE_PUBLIC, f, len));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_classes),
		cmocka_unit_test(test_dhcp_and_dns),
		cmocka_unit_test(test_host_loopback),
		cmocka_unit_test(test_published_tcp_replies),
		cmocka_unit_test(test_published_udp_flows),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_source_mac),
		cmocka_unit_test(test_arp_sender),
		cmocka_unit_test(test_arp_dhcp_address),
		cmocka_unit_test(test_neighbour_discovery),
		cmocka_unit_test(test_ipv6_classes),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
