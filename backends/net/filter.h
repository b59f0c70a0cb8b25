/* The network scope filter: which frames a guest may send to its network
 * backend. nook runs it on every frame before the backend sees it, so a
 * guest cannot reach what its scope forbids whatever it puts in a frame.
 *
 *   none    no egress: only what the guest needs to configure itself (ARP,
 *           DHCP) and replies from published ports
 *   group   addresses inside the sandbox subnet
 *   public  no private, loopback, link-local, CGNAT, multicast, broadcast or
 *           reserved destinations, IPv4 and IPv6, and not the gateway;
 *           DNS to the sandbox's DNS server is allowed
 *   any     everything
 *
 * In user-mode networking the gateway is the host's loopback (libslirp
 * maps it to 127.0.0.1): in every scope but any it is out of reach unless
 * allow_host_loopback grants it (then in every scope), and the DNS server
 * carries DNS only (TCP and UDP port 53; libslirp would forward any other
 * port to the host's resolver).
 *
 * In every scope: ARP for addresses in the subnet, DHCP requests (to the
 * broadcast address or the gateway), IPv6 neighbour discovery, and replies
 * from published ports: a TCP segment from a published port that does not
 * open a connection (libslirp carries it only on a connection it has, and
 * the only ones the scope does not allow anyway are those hosts opened to
 * the published port), and a UDP datagram from a published port to a peer
 * that sent one to it within NET_FILTER_FLOW_IDLE_S seconds (learned from
 * the frames for the guest, net_filter_note_inbound). Everything else that
 * is not IPv4 or IPv6 is dropped unless the scope is any.
 *
 * In every scope but any the guest speaks only for itself, so that on a
 * shared link (a TAP bridge, gvproxy) it cannot pose as the gateway or
 * another sandbox: every frame's Ethernet source is the guest's MAC; ARP
 * names that MAC and the guest's address (or none, in a probe) as its
 * sender; IPv6 neighbour discovery is limited to well-formed router and
 * neighbour solicitations and neighbour advertisements (hop limit 255,
 * link-local, solicited-node or all-routers/all-nodes destinations, only
 * link-layer address options naming the guest's MAC, and the guest's own
 * addresses as the source and as the target of advertisements: those
 * whose interface identifier the kernel derives from its MAC). A guest
 * whose address is not known in advance (DHCP) has it from the DHCPACK
 * for its MAC; until then its ARP can only probe. */
#ifndef NOOK_BACKENDS_NET_FILTER_H
#define NOOK_BACKENDS_NET_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nook/types.h>

struct net_filter_port {
	uint16_t guest_port;
	enum nook_port_protocol protocol;
};

/* A UDP flow a peer opened to a published port: (peer, peer_port) sent to
 * guest_port. */
struct net_filter_flow {
	uint32_t peer;
	uint16_t peer_port, guest_port;
	uint64_t last_ns; /* 0: free */
};

#define NET_FILTER_FLOWS 64
#define NET_FILTER_FLOW_IDLE_S 180

/* The configuration, set once; the state after it starts zeroed. */
struct net_filter {
	enum nook_network_scope scope;
	uint32_t network, netmask; /* the sandbox subnet, host byte order */
	uint32_t gateway, dns;     /* host byte order; 0: none */
	uint32_t guest;            /* the guest's address; 0: learned from DHCP */
	uint8_t mac[6];            /* the guest's MAC */
	/* Published ports of a user-mode network (only its filter has them). */
	const struct net_filter_port *ports;
	size_t nports;
	/* User-mode networking: the gateway is the host's loopback ... */
	bool gateway_is_host_loopback;
	/* ... which the guest may reach. */
	bool allow_host_loopback;

	/* Recently active UDP flows to published ports, oldest replaced. */
	struct net_filter_flow flows[NET_FILTER_FLOWS];
	/* The address in the last DHCPACK for the guest's MAC (guest 0). */
	uint32_t dhcp_guest;
};

/* Whether the Ethernet frame `frame` of `len` bytes may leave the guest. */
bool net_filter_allows(struct net_filter *f, const uint8_t *frame, size_t len);

/* Notes a frame for the guest (from the backend): UDP datagrams to a
 * published port open a flow whose replies net_filter_allows() passes; a
 * DHCPACK tells the guest's address when it was not known. */
void net_filter_note_inbound(struct net_filter *f, const uint8_t *frame, size_t len);

/* Whether an IPv4 address (host byte order) is a public unicast address. */
bool net_filter_ipv4_is_public(uint32_t addr);

#endif
