#include "tests/net/frames.h"

#include <string.h>

const uint8_t frame_guest_mac[6] = {0x02, 0x4e, 0x4f, 0x4f, 0x4b, 0x01};
const uint8_t frame_gateway_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};

void frame_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void frame_put32(uint8_t *p, uint32_t v)
{
	frame_put16(p, (uint16_t)(v >> 16));
	frame_put16(p + 2, (uint16_t)v);
}

uint16_t frame_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint32_t frame_get32(const uint8_t *p)
{
	return (uint32_t)frame_get16(p) << 16 | frame_get16(p + 2);
}

uint16_t frame_checksum(const uint8_t *data, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += frame_get16(data + i);
	if (len & 1)
		sum += (uint32_t)data[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

size_t frame_eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	frame_put16(f + 12, type);
	return 14;
}

size_t frame_ipv4(uint8_t *f, const struct frame_ip *p)
{
	size_t l4_len = (p->proto == 6 ? 20 : 8) + p->len;
	size_t n = frame_eth(f, frame_gateway_mac, frame_guest_mac, 0x0800);
	uint8_t *ip = f + n, *l4 = ip + 20;
	memset(ip, 0, 20 + l4_len);
	ip[0] = 0x45;
	frame_put16(ip + 2, (uint16_t)(20 + l4_len));
	ip[8] = 64;
	ip[9] = p->proto;
	frame_put32(ip + 12, p->src);
	frame_put32(ip + 16, p->dst);
	frame_put16(ip + 10, frame_checksum(ip, 20, 0));
	frame_put16(l4, p->sport);
	frame_put16(l4 + 2, p->dport);
	size_t sum_at;
	if (p->proto == 6) {
		frame_put32(l4 + 4, p->seq);
		frame_put32(l4 + 8, p->ack);
		l4[12] = 5 << 4;
		l4[13] = p->tcp_flags;
		frame_put16(l4 + 14, 65535);
		sum_at = 16;
		if (p->len) /* data may be NULL for a bare segment */
			memcpy(l4 + 20, p->data, p->len);
	} else {
		frame_put16(l4 + 4, (uint16_t)l4_len);
		sum_at = 6;
		if (p->len)
			memcpy(l4 + 8, p->data, p->len);
	}
	/* Pseudo-header: addresses, protocol, length. */
	uint32_t sum = (p->src >> 16) + (p->src & 0xffff) + (p->dst >> 16) + (p->dst & 0xffff) +
		       p->proto + (uint32_t)l4_len;
	frame_put16(l4 + sum_at, frame_checksum(l4, l4_len, sum));
	return n + 20 + l4_len;
}

size_t frame_arp(uint8_t *f, const uint8_t src[6], uint16_t op, const uint8_t sha[6],
		 uint32_t spa, uint32_t tpa)
{
	static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	size_t n = frame_eth(f, broadcast, src, 0x0806);
	uint8_t *a = f + n;
	memset(a, 0, 28);
	frame_put16(a, 1);
	frame_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	frame_put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	frame_put32(a + 14, spa);
	frame_put32(a + 24, tpa);
	return n + 28;
}

bool frame_parse(const uint8_t *f, size_t len, struct frame_ip *p)
{
	if (len < 14 + 20 || frame_get16(f + 12) != 0x0800)
		return false;
	const uint8_t *ip = f + 14;
	size_t ihl = (size_t)(ip[0] & 0xf) * 4, total = frame_get16(ip + 2);
	if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || total > len - 14 ||
	    (frame_get16(ip + 6) & 0x1fff) != 0)
		return false;
	const uint8_t *l4 = ip + ihl;
	size_t l4_len = total - ihl;
	*p = (struct frame_ip){.proto = ip[9], .src = frame_get32(ip + 12),
			       .dst = frame_get32(ip + 16)};
	size_t hdr;
	if (p->proto == 6 && l4_len >= 20 && (hdr = (size_t)(l4[12] >> 4) * 4) >= 20 &&
	    hdr <= l4_len) {
		p->seq = frame_get32(l4 + 4);
		p->ack = frame_get32(l4 + 8);
		p->tcp_flags = l4[13];
	} else if (p->proto == 17 && l4_len >= 8) {
		hdr = 8;
	} else {
		return false;
	}
	p->sport = frame_get16(l4);
	p->dport = frame_get16(l4 + 2);
	p->data = l4 + hdr;
	p->len = l4_len - hdr;
	return true;
}

int frame_send(struct net_backend *b, const void *frame, size_t len)
{
	struct iovec v = {(void *)frame, len};
	return b->ops->send(b, &v, 1);
}
