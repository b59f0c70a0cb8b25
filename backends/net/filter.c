#include "backends/net/filter.h"

#include <string.h>

#include "util/clock.h"

#define ETH_HEADER 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IPV6 0x86dd
#define ARP_SIZE 28
#define IPV6_HEADER 40
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMPV6 58
#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define DHCP_CLIENT_PORT 68
#define DHCP_SERVER_PORT 67
#define DNS_PORT 53
#define ARP_REQUEST 1
#define ARP_REPLY 2
#define ND_ROUTER_SOLICIT 133
#define ND_REDIRECT 137
#define ND_NEIGHBOR_SOLICIT 135
#define ND_NEIGHBOR_ADVERT 136
#define ND_OPT_SOURCE_LLA 1
#define ND_OPT_TARGET_LLA 2
#define ND_OPT_NONCE 14
#define ND_ADVERT_ROUTER 0x80
#define ND_ADVERT_SOLICITED 0x40

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool in_net(uint32_t addr, uint32_t net, unsigned prefix)
{
	uint32_t mask = prefix ? ~0u << (32 - prefix) : 0;
	return (addr & mask) == net;
}

bool net_filter_ipv4_is_public(uint32_t a)
{
	static const struct {
		uint32_t net;
		unsigned prefix;
	} blocked[] = {
		{0x00000000, 8},  /* "this network" */
		{0x0a000000, 8},  /* private */
		{0x64400000, 10}, /* CGNAT */
		{0x7f000000, 8},  /* loopback */
		{0xa9fe0000, 16}, /* link-local */
		{0xac100000, 12}, /* private */
		{0xc0000000, 24}, /* IETF protocol assignments */
		{0xc0a80000, 16}, /* private */
		{0xc6120000, 15}, /* benchmarking */
		{0xe0000000, 4},  /* multicast */
		{0xf0000000, 4},  /* reserved, and the limited broadcast */
	};
	for (size_t i = 0; i < sizeof(blocked) / sizeof(blocked[0]); i++)
		if (in_net(a, blocked[i].net, blocked[i].prefix))
			return false;
	return true;
}

/* IPv6 unicast addresses outside the local, private and special ranges;
 * IPv4-mapped and NAT64 addresses are judged by their IPv4 address. */
static bool ipv6_is_public(const uint8_t *a)
{
	static const uint8_t zero[16];
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
	if (memcmp(a, zero, 15) == 0) /* :: and ::1 */
		return false;
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return net_filter_ipv4_is_public(be32(a + 12));
	if (memcmp(a, zero, 12) == 0) /* deprecated IPv4-compatible */
		return false;
	if ((a[0] & 0xfe) == 0xfc || a[0] == 0xff) /* unique local, multicast */
		return false;
	if (a[0] == 0xfe && (a[1] & 0x80) == 0x80) /* link-local, site-local */
		return false;
	return true;
}

static bool is_published_port(const struct net_filter *f, uint16_t port,
			      enum nook_port_protocol proto)
{
	for (size_t i = 0; i < f->nports; i++)
		if (f->ports[i].guest_port == port && f->ports[i].protocol == proto)
			return true;
	return false;
}

static bool in_subnet(const struct net_filter *f, uint32_t addr)
{
	return (addr & f->netmask) == f->network;
}

/* What the filter reads of an IPv4 packet. */
struct ipv4_info {
	uint32_t src, dst;
	uint8_t proto;
	bool has_ports; /* TCP or UDP with its ports (first fragment) */
	uint16_t sport, dport;
	bool opens; /* a TCP SYN without ACK */
	const uint8_t *payload; /* after the TCP/UDP header (within len) */
	size_t payload_len;
};

static bool ipv4_parse(const uint8_t *ip, size_t len, struct ipv4_info *p)
{
	if (len < 20 || (ip[0] >> 4) != 4)
		return false;
	size_t ihl = (size_t)(ip[0] & 0xf) * 4;
	if (ihl < 20 || ihl > len)
		return false;
	/* Without the Ethernet padding, if the packet says how long it is. */
	size_t total = be16(ip + 2);
	if (total >= ihl && total < len)
		len = total;
	*p = (struct ipv4_info){.src = be32(ip + 12), .dst = be32(ip + 16), .proto = ip[9]};
	/* Ports are in the first fragment only. */
	bool first_fragment = (be16(ip + 6) & 0x1fff) == 0;
	const uint8_t *l4 = ip + ihl;
	size_t l4_len = len - ihl;
	p->has_ports = first_fragment && (p->proto == PROTO_TCP || p->proto == PROTO_UDP) &&
		       l4_len >= (p->proto == PROTO_TCP ? 20u : 8u);
	if (p->has_ports) {
		size_t hdr = p->proto == PROTO_TCP ? 20 : 8;
		p->sport = be16(l4);
		p->dport = be16(l4 + 2);
		p->opens = p->proto == PROTO_TCP && (l4[13] & (TCP_SYN | TCP_ACK)) == TCP_SYN;
		p->payload = l4 + hdr;
		p->payload_len = l4_len - hdr;
	}
	return true;
}

static struct net_filter_flow *flow_find(struct net_filter *f, uint32_t peer, uint16_t peer_port,
					 uint16_t guest_port, uint64_t now)
{
	for (struct net_filter_flow *fl = f->flows; fl < f->flows + NET_FILTER_FLOWS; fl++)
		if (fl->last_ns && now - fl->last_ns < NET_FILTER_FLOW_IDLE_S * 1000000000ULL &&
		    fl->peer == peer && fl->peer_port == peer_port && fl->guest_port == guest_port)
			return fl;
	return NULL;
}

static uint32_t guest_address(const struct net_filter *f)
{
	return f->guest ? f->guest : f->dhcp_guest;
}

static void note_flow(struct net_filter *f, const struct ipv4_info *p)
{
	uint64_t now = monotonic_ns();
	struct net_filter_flow *fl = flow_find(f, p->src, p->sport, p->dport, now);
	if (!fl) {
		/* A free or expired entry has the oldest time of all. */
		fl = f->flows;
		for (struct net_filter_flow *o = f->flows + 1; o < f->flows + NET_FILTER_FLOWS; o++)
			if (o->last_ns < fl->last_ns)
				fl = o;
		*fl = (struct net_filter_flow){.peer = p->src, .peer_port = p->sport,
					       .guest_port = p->dport};
	}
	fl->last_ns = now;
}

/* A DHCPACK for the guest's MAC: the address it now has (RFC 2131). */
static void note_dhcp_ack(struct net_filter *f, const uint8_t *b, size_t len)
{
	enum { OP = 0, HTYPE = 1, HLEN = 2, YIADDR = 16, CHADDR = 28, COOKIE = 236, OPTIONS = 240 };
	static const uint8_t cookie[4] = {99, 130, 83, 99};
	if (len < OPTIONS || b[OP] != 2 || b[HTYPE] != 1 || b[HLEN] != 6 ||
	    memcmp(b + CHADDR, f->mac, 6) != 0 || memcmp(b + COOKIE, cookie, 4) != 0)
		return;
	for (size_t i = OPTIONS; i < len && b[i] != 255;) {
		if (b[i] == 0) { /* pad */
			i++;
			continue;
		}
		if (i + 2 > len || b[i + 1] > len - i - 2)
			return;
		if (b[i] == 53 && b[i + 1] == 1) { /* message type */
			if (b[i + 2] == 5) /* DHCPACK */
				f->dhcp_guest = be32(b + YIADDR);
			return;
		}
		i += 2 + (size_t)b[i + 1];
	}
}

void net_filter_note_inbound(struct net_filter *f, const uint8_t *frame, size_t len)
{
	struct ipv4_info p;
	if (len < ETH_HEADER || be16(frame + 12) != ETHERTYPE_IPV4 ||
	    !ipv4_parse(frame + ETH_HEADER, len - ETH_HEADER, &p) || p.proto != PROTO_UDP ||
	    !p.has_ports)
		return;
	if (!f->guest && p.sport == DHCP_SERVER_PORT && p.dport == DHCP_CLIENT_PORT)
		note_dhcp_ack(f, p.payload, p.payload_len);
	else if (is_published_port(f, p.dport, NOOK_PORT_PROTOCOL_UDP) &&
		 (!f->guest || p.dst == f->guest))
		note_flow(f, &p);
}

/* A reply from a published port: TCP that opens no connection, or UDP to
 * a peer whose flow is live (and is kept so). */
static bool published_reply(struct net_filter *f, const struct ipv4_info *p)
{
	if (!p->has_ports)
		return false;
	if (p->proto == PROTO_TCP)
		return !p->opens && is_published_port(f, p->sport, NOOK_PORT_PROTOCOL_TCP);
	if (!is_published_port(f, p->sport, NOOK_PORT_PROTOCOL_UDP))
		return false;
	uint64_t now = monotonic_ns();
	struct net_filter_flow *fl = flow_find(f, p->dst, p->dport, p->sport, now);
	if (fl)
		fl->last_ns = now;
	return fl != NULL;
}

static bool ipv4_allows(struct net_filter *f, const uint8_t *ip, size_t len)
{
	struct ipv4_info p;
	if (!ipv4_parse(ip, len, &p))
		return false;
	if (p.has_ports && p.proto == PROTO_UDP && p.sport == DHCP_CLIENT_PORT &&
	    p.dport == DHCP_SERVER_PORT &&
	    (p.dst == 0xffffffffu || (f->gateway && p.dst == f->gateway)))
		return true;
	if (published_reply(f, &p))
		return true;
	if (f->gateway_is_host_loopback && p.dst == f->gateway)
		return f->allow_host_loopback;
	if (f->dns && p.dst == f->dns)
		return f->scope != NOOK_NETWORK_SCOPE_NONE && p.has_ports && p.dport == DNS_PORT;
	switch (f->scope) {
	case NOOK_NETWORK_SCOPE_GROUP:
		return in_subnet(f, p.dst);
	case NOOK_NETWORK_SCOPE_PUBLIC:
		return net_filter_ipv4_is_public(p.dst) && !(f->gateway && p.dst == f->gateway);
	default: /* none; any let everything through before */
		return false;
	}
}

static bool ipv6_is_unspecified(const uint8_t *a)
{
	static const uint8_t zero[16];
	return memcmp(a, zero, 16) == 0;
}

static bool ipv6_is_link_local(const uint8_t *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

static bool ipv6_is_multicast(const uint8_t *a)
{
	return a[0] == 0xff;
}

/* ff02::1 (all nodes) or ff02::2 (all routers). */
static bool ipv6_is_all(const uint8_t *a, uint8_t which)
{
	static const uint8_t all[15] = {0xff, 0x02};
	return memcmp(a, all, 15) == 0 && a[15] == which;
}

/* ff02::1:ffXX:XXXX for `target` (RFC 4291 2.7.1). */
static bool ipv6_is_solicited_node(const uint8_t *a, const uint8_t *target)
{
	static const uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
	return memcmp(a, prefix, 13) == 0 && memcmp(a + 13, target + 13, 3) == 0;
}

/* A unicast address of the guest's: its interface identifier is the
 * modified EUI-64 of the guest's MAC, as the kernel derives its link-local
 * and SLAAC addresses by default. */
static bool ipv6_is_guests(const struct net_filter *f, const uint8_t *a)
{
	const uint8_t iid[8] = {(uint8_t)(f->mac[0] ^ 0x02), f->mac[1], f->mac[2], 0xff, 0xfe,
				f->mac[3], f->mac[4], f->mac[5]};
	return !ipv6_is_multicast(a) && memcmp(a + 8, iid, 8) == 0;
}

/* Neighbour-discovery options (RFC 4861 4.6): whole and non-empty; only
 * the link-layer address option `lla` naming the guest's MAC (when
 * lla_ok) and nonces (RFC 7527, when nonce_ok). */
static bool nd_options_ok(const struct net_filter *f, const uint8_t *o, size_t len, uint8_t lla,
			  bool lla_ok, bool nonce_ok)
{
	while (len) {
		if (len < 8 || o[1] == 0 || (size_t)o[1] * 8 > len)
			return false;
		size_t olen = (size_t)o[1] * 8;
		if (o[0] == lla && lla_ok) {
			if (olen != 8 || memcmp(o + 2, f->mac, 6) != 0)
				return false;
		} else if (!(o[0] == ND_OPT_NONCE && nonce_ok)) {
			return false;
		}
		o += olen;
		len -= olen;
	}
	return true;
}

/* Router and neighbour solicitations and neighbour advertisements the
 * guest needs for IPv6 on its link (RFC 4861), and nothing it could use to
 * speak for another node: hop limit 255, its own addresses and MAC,
 * link-local, solicited-node or all-routers destinations. */
static bool nd_allows(const struct net_filter *f, const uint8_t *ip, const uint8_t *m,
		      size_t len)
{
	const uint8_t *src = ip + 8, *dst = ip + 24, *target = m + 8;
	bool unspecified = ipv6_is_unspecified(src);
	if (ip[7] != 255 || len < 8 || m[1] != 0 || (!unspecified && !ipv6_is_guests(f, src)))
		return false;
	switch (m[0]) {
	case ND_ROUTER_SOLICIT:
		return ipv6_is_all(dst, 2) &&
		       nd_options_ok(f, m + 8, len - 8, ND_OPT_SOURCE_LLA, !unspecified, false);
	case ND_NEIGHBOR_SOLICIT:
		/* To the target's solicited-node group (resolution, or duplicate
		 * address detection from ::), or to the target itself when it is
		 * link-local (reachability). */
		if (len < 24 || ipv6_is_multicast(target) || ipv6_is_unspecified(target) ||
		    !(ipv6_is_solicited_node(dst, target) ||
		      (!unspecified && ipv6_is_link_local(dst) && memcmp(dst, target, 16) == 0)))
			return false;
		return nd_options_ok(f, m + 24, len - 24, ND_OPT_SOURCE_LLA, !unspecified,
				     unspecified);
	case ND_NEIGHBOR_ADVERT: {
		/* About one of its own addresses, not as a router: unsolicited to
		 * all nodes, or to a link-local asker. */
		bool to_all = ipv6_is_all(dst, 1);
		if (len < 24 || unspecified || (m[4] & ND_ADVERT_ROUTER) || !ipv6_is_guests(f, target) ||
		    !(to_all || ipv6_is_link_local(dst)) || (to_all && (m[4] & ND_ADVERT_SOLICITED)))
			return false;
		return nd_options_ok(f, m + 24, len - 24, ND_OPT_TARGET_LLA, true, false);
	}
	}
	return false;
}

static bool ipv6_allows(const struct net_filter *f, const uint8_t *ip, size_t len)
{
	if (len < IPV6_HEADER || (ip[0] >> 4) != 6)
		return false;
	/* Neighbour discovery comes with no extension headers (RFC 4861
	 * senders add none); its messages are judged as such, whatever their
	 * destination. */
	size_t plen = be16(ip + 4);
	if (ip[6] == PROTO_ICMPV6 && len > IPV6_HEADER && ip[IPV6_HEADER] >= ND_ROUTER_SOLICIT &&
	    ip[IPV6_HEADER] <= ND_REDIRECT)
		return plen <= len - IPV6_HEADER && nd_allows(f, ip, ip + IPV6_HEADER, plen);
	/* The sandbox subnet is IPv4: group allows no IPv6 destination. */
	if (f->scope == NOOK_NETWORK_SCOPE_PUBLIC)
		return ipv6_is_public(ip + 24);
	return false;
}

/* Ethernet/IPv4 ARP from the guest about itself: its MAC and its address
 * (none in a probe) as the sender, a target in the subnet. */
static bool arp_allows(const struct net_filter *f, const uint8_t *arp, size_t len)
{
	enum { OP = 6, SHA = 8, SPA = 14, TPA = 24 };
	if (len < ARP_SIZE || be16(arp) != 1 || be16(arp + 2) != ETHERTYPE_IPV4 || arp[4] != 6 ||
	    arp[5] != 4 || memcmp(arp + SHA, f->mac, 6) != 0)
		return false;
	uint16_t op = be16(arp + OP);
	uint32_t spa = be32(arp + SPA), me = guest_address(f);
	bool probe = op == ARP_REQUEST && spa == 0;
	if (!(op == ARP_REQUEST || op == ARP_REPLY) || !(probe || (me && spa == me)))
		return false;
	return in_subnet(f, be32(arp + TPA));
}

bool net_filter_allows(struct net_filter *f, const uint8_t *frame, size_t len)
{
	if (len < ETH_HEADER)
		return false;
	if (f->scope == NOOK_NETWORK_SCOPE_ANY)
		return true;
	/* The guest's own MAC, whatever it sends. */
	if (memcmp(frame + 6, f->mac, 6) != 0)
		return false;
	const uint8_t *payload = frame + ETH_HEADER;
	size_t plen = len - ETH_HEADER;
	switch (be16(frame + 12)) {
	case ETHERTYPE_IPV4:
		return ipv4_allows(f, payload, plen);
	case ETHERTYPE_IPV6:
		return ipv6_allows(f, payload, plen);
	case ETHERTYPE_ARP:
		return arp_allows(f, payload, plen);
	default:
		return false;
	}
}
