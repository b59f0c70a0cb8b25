/* Fuzz target for the scope filter: the input is a configuration byte and
 * a sequence of frames, each marked as coming from the guest or going to
 * it (frames to the guest teach the filter published flows and DHCP
 * addresses). Every frame from the guest is judged under all four scopes
 * and must keep the filter's promises:
 *   - what scope none allows, group and public allow too (none's extras,
 *     ARP, DHCP, neighbour discovery, published replies and a granted
 *     host loopback, hold in every scope);
 *   - outside scope any, the frame comes from the guest's MAC;
 *   - outside scope any, the user-mode gateway (the host's loopback) is
 *     reached without the grant only by DHCP and from published ports.
 * A broken promise aborts; so does any crash, leak or sanitizer report.
 *
 * Input: byte 0: bits 0-1 the scope used for the stateful pass, bit 2
 * allow_host_loopback, bit 3 gateway_is_host_loopback, bit 4 guest
 * address known, bit 5 published ports; then frames, each a 2-byte
 * big-endian header (bit 15: to the guest; bits 0-14: length) and the
 * frame. */
#include <stdlib.h>
#include <string.h>

#include "backends/net/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t guest_mac[6] = {0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01};
static const struct net_filter_port ports[] = {
	{8080, NOOK_PORT_PROTOCOL_TCP},
	{5353, NOOK_PORT_PROTOCOL_UDP},
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

/* The only ways to the host's loopback without the grant: a DHCP request,
 * or TCP/UDP from a published port (the filter checks the rest). */
static bool may_reach_gateway(const struct net_filter *f, const uint8_t *frame, size_t len)
{
	if (len < 14 + 20 || be16(frame + 12) != 0x0800)
		return true; /* not IPv4: no IPv4 destination */
	const uint8_t *ip = frame + 14;
	size_t ihl = (size_t)(ip[0] & 0xf) * 4;
	if (be32(ip + 16) != f->gateway)
		return true;
	if (ihl < 20 || len < 14 + ihl + 4 || (ip[9] != 6 && ip[9] != 17))
		return false;
	uint16_t sport = be16(ip + ihl), dport = be16(ip + ihl + 2);
	if (ip[9] == 17 && sport == 68 && dport == 67)
		return true;
	for (size_t i = 0; i < f->nports; i++)
		if (f->ports[i].guest_port == sport &&
		    f->ports[i].protocol == (ip[9] == 6 ? NOOK_PORT_PROTOCOL_TCP : NOOK_PORT_PROTOCOL_UDP))
			return true;
	return false;
}

static void check(const struct net_filter *f, const uint8_t *frame, size_t len)
{
	bool allowed[4];
	for (int s = 0; s < 4; s++) {
		/* Each scope on a copy: judging refreshes flows. */
		struct net_filter copy = *f;
		copy.scope = (enum nook_network_scope)s;
		allowed[s] = net_filter_allows(&copy, frame, len);
	}
	if (allowed[NOOK_NETWORK_SCOPE_NONE] &&
	    !(allowed[NOOK_NETWORK_SCOPE_GROUP] && allowed[NOOK_NETWORK_SCOPE_PUBLIC]))
		abort();
	for (int s = 0; s < 3; s++) {
		if (!allowed[s])
			continue;
		if (memcmp(frame + 6, guest_mac, 6) != 0)
			abort();
		if (f->gateway_is_host_loopback && !f->allow_host_loopback &&
		    !may_reach_gateway(f, frame, len))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t cfg = data[0];
	struct net_filter f = {
		.scope = (enum nook_network_scope)(cfg & 3),
		.network = 0x0a000200, .netmask = 0xffffff00, .gateway = 0x0a000202, .dns = 0x0a000203,
		.guest = (cfg & 0x10) ? 0x0a00020f : 0,
		.ports = (cfg & 0x20) ? ports : NULL, .nports = (cfg & 0x20) ? 2 : 0,
		.gateway_is_host_loopback = cfg & 0x08,
		.allow_host_loopback = cfg & 0x04,
	};
	memcpy(f.mac, guest_mac, 6);
	for (size_t at = 1; at + 2 <= size;) {
		bool inbound = data[at] & 0x80;
		size_t len = be16(data + at) & 0x7fff;
		at += 2;
		if (len > size - at)
			len = size - at;
		/* A copy of its own, so that reading past it is caught. */
		uint8_t *frame = malloc(len ? len : 1);
		memcpy(frame, data + at, len);
		if (inbound) {
			net_filter_note_inbound(&f, frame, len);
		} else {
			if (len >= 14)
				check(&f, frame, len);
			net_filter_allows(&f, frame, len);
		}
		free(frame);
		at += len;
	}
	return 0;
}
