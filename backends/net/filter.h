/* The network scope filter: which frames a guest may send to its network
 * backend. nook runs it on every frame before the backend sees it, so a
 * guest cannot reach what its scope forbids whatever it puts in a frame.
 *
 *   none    no egress: only what the guest needs to configure itself (ARP,
 *           DHCP) and replies from published ports
 *   group   addresses inside the sandbox subnet (which includes the gateway
 *           and the DNS server)
 *   public  no private, loopback, link-local, CGNAT, multicast, broadcast or
 *           reserved destinations, IPv4 and IPv6, and not the gateway (in
 *           user-mode networking it is the host's loopback); DNS to the
 *           sandbox's DNS server is allowed
 *   any     everything
 *
 * In every scope: ARP for addresses in the subnet, DHCP requests (to the
 * broadcast address or the gateway), IPv6 neighbour discovery, and TCP/UDP
 * from a published guest port to the gateway (where published connections
 * come from) except a TCP SYN that opens a connection. Everything else that
 * is not IPv4 or IPv6 is dropped unless the scope is any. */
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

struct net_filter {
	enum nook_network_scope scope;
	uint32_t network, netmask; /* the sandbox subnet, host byte order */
	uint32_t gateway, dns;     /* host byte order; 0: none */
	const struct net_filter_port *ports; /* published ports */
	size_t nports;
	/* Whether frames to the gateway may reach the host's loopback
	 * services (user-mode networking). */
	bool allow_host_loopback;
};

/* Whether the Ethernet frame `frame` of `len` bytes may leave the guest. */
bool net_filter_allows(const struct net_filter *f, const uint8_t *frame, size_t len);

/* Whether an IPv4 address (host byte order) is a public unicast address. */
bool net_filter_ipv4_is_public(uint32_t addr);

#endif
