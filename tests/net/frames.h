/* Frames as a guest or its peers put them on the wire, for the network
 * tests and the seed corpus of the net fuzz targets: Ethernet, ARP, IPv4
 * with TCP or UDP (checksums filled in), and parsing of what comes back.
 * Addresses and ports in host byte order. */
#ifndef NOOK_TESTS_NET_FRAMES_H
#define NOOK_TESTS_NET_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/net/backend.h"

/* The user-mode network's layout (vm/net.c's defaults). */
#define FRAME_NETWORK 0x0a000200u /* 10.0.2.0/24 */
#define FRAME_NETMASK 0xffffff00u
#define FRAME_GATEWAY 0x0a000202u
#define FRAME_DNS 0x0a000203u
#define FRAME_GUEST 0x0a00020fu
#define FRAME_LOOPBACK 0x7f000001u

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

extern const uint8_t frame_guest_mac[6];
/* libslirp's own MAC for the gateway 10.0.2.2. */
extern const uint8_t frame_gateway_mac[6];

void frame_put16(uint8_t *p, uint16_t v);
void frame_put32(uint8_t *p, uint32_t v);
uint16_t frame_get16(const uint8_t *p);
uint32_t frame_get32(const uint8_t *p);

/* The Internet checksum of data, continuing from the partial sum `sum`. */
uint16_t frame_checksum(const uint8_t *data, size_t len, uint32_t sum);

/* Ethernet header from src to dst; returns its 14 bytes' length. */
size_t frame_eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type);

/* A TCP segment or UDP datagram inside IPv4. */
struct frame_ip {
	uint8_t proto; /* 6 or 17 */
	uint32_t src, dst;
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint32_t seq, ack;
	const uint8_t *data;
	size_t len;
};

/* The Ethernet frame of p from the guest's MAC to the gateway's; its
 * length. */
size_t frame_ipv4(uint8_t *f, const struct frame_ip *p);

/* An ARP request or reply (op 1 or 2) inside an Ethernet frame from `src`
 * (the Ethernet source) with the given sender and target. */
size_t frame_arp(uint8_t *f, const uint8_t src[6], uint16_t op, const uint8_t sha[6],
		 uint32_t spa, uint32_t tpa);

/* Reads an IPv4 TCP/UDP frame (first fragment) into p, data pointing into
 * f: false for anything else. */
bool frame_parse(const uint8_t *f, size_t len, struct frame_ip *p);

/* Hands one frame to a backend as the device does: what send() returns
 * (1 when the backend took it). */
int frame_send(struct net_backend *b, const void *frame, size_t len);

#endif
