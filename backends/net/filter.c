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
};

static bool ipv4_parse(const uint8_t *ip, size_t len, struct ipv4_info *p)
{
	if (len < 20 || (ip[0] >> 4) != 4)
		return false;
	size_t ihl = (size_t)(ip[0] & 0xf) * 4;
	if (ihl < 20 || ihl > len)
		return false;
	*p = (struct ipv4_info){.src = be32(ip + 12), .dst = be32(ip + 16), .proto = ip[9]};
	/* Ports are in the first fragment only. */
	bool first_fragment = (be16(ip + 6) & 0x1fff) == 0;
	const uint8_t *l4 = ip + ihl;
	size_t l4_len = len - ihl;
	p->has_ports = first_fragment && (p->proto == PROTO_TCP || p->proto == PROTO_UDP) &&
		       l4_len >= (p->proto == PROTO_TCP ? 20u : 8u);
	if (p->has_ports) {
		p->sport = be16(l4);
		p->dport = be16(l4 + 2);
		p->opens = p->proto == PROTO_TCP && (l4[13] & (TCP_SYN | TCP_ACK)) == TCP_SYN;
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

void net_filter_note_inbound(struct net_filter *f, const uint8_t *frame, size_t len)
{
	struct ipv4_info p;
	if (!f->nports || len < ETH_HEADER || be16(frame + 12) != ETHERTYPE_IPV4 ||
	    !ipv4_parse(frame + ETH_HEADER, len - ETH_HEADER, &p) || p.proto != PROTO_UDP ||
	    !p.has_ports || (f->guest && p.dst != f->guest) ||
	    !is_published_port(f, p.dport, NOOK_PORT_PROTOCOL_UDP))
		return;
	uint64_t now = monotonic_ns();
	struct net_filter_flow *fl = flow_find(f, p.src, p.sport, p.dport, now);
	if (!fl) {
		/* A free or expired entry has the oldest time of all. */
		fl = f->flows;
		for (struct net_filter_flow *o = f->flows + 1; o < f->flows + NET_FILTER_FLOWS; o++)
			if (o->last_ns < fl->last_ns)
				fl = o;
		*fl = (struct net_filter_flow){.peer = p.src, .peer_port = p.sport, .guest_port = p.dport};
	}
	fl->last_ns = now;
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
	case NOOK_NETWORK_SCOPE_NONE:
		return false;
	case NOOK_NETWORK_SCOPE_GROUP:
		return in_subnet(f, p.dst);
	case NOOK_NETWORK_SCOPE_PUBLIC:
		return net_filter_ipv4_is_public(p.dst) && !(f->gateway && p.dst == f->gateway);
	case NOOK_NETWORK_SCOPE_ANY:
		return true;
	}
	return false;
}

static bool ipv6_allows(const struct net_filter *f, const uint8_t *ip, size_t len)
{
	if (len < IPV6_HEADER || (ip[0] >> 4) != 6)
		return false;
	/* Router and neighbour solicitations and advertisements (no extension
	 * headers in front of them, as RFC 4861 senders do). */
	if (ip[6] == PROTO_ICMPV6 && len > IPV6_HEADER && ip[IPV6_HEADER] >= 133 &&
	    ip[IPV6_HEADER] <= 136)
		return true;
	/* The sandbox subnet is IPv4: group allows no IPv6 destination. */
	if (f->scope == NOOK_NETWORK_SCOPE_PUBLIC)
		return ipv6_is_public(ip + 24);
	return f->scope == NOOK_NETWORK_SCOPE_ANY;
}

static bool arp_allows(const struct net_filter *f, const uint8_t *arp, size_t len)
{
	/* Ethernet/IPv4 ARP: the target protocol address is at offset 24. */
	if (len < ARP_SIZE || be16(arp) != 1 || be16(arp + 2) != ETHERTYPE_IPV4 || arp[4] != 6 ||
	    arp[5] != 4)
		return false;
	return in_subnet(f, be32(arp + 24));
}

bool net_filter_allows(struct net_filter *f, const uint8_t *frame, size_t len)
{
	if (len < ETH_HEADER)
		return false;
	if (f->scope == NOOK_NETWORK_SCOPE_ANY)
		return true;
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
