#!/usr/bin/env python3
"""Writes the seed corpus of the net fuzz targets (committed in corpus/):
well-formed frames of every kind the filter judges, and virtio-net queue
images a driver would set up. Usage: make_corpus.py [DIR] (default: the
corpus/ folder beside this script)."""
import os
import struct
import sys

GUEST_MAC = bytes([0x02, 0x4E, 0x4F, 0x4F, 0x4B, 0x01])
GW_MAC = bytes([0x52, 0x55, 0x0A, 0x00, 0x02, 0x02])
BROADCAST = b"\xff" * 6
GUEST, GATEWAY, DNS = "10.0.2.15", "10.0.2.2", "10.0.2.3"
GUEST_LL = "fe80::4e:4fff:fe4f:4b01"


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip6(a):
    import ipaddress
    return ipaddress.IPv6Address(a).packed


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, l4, flags_frag=0):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, flags_frag, 64, proto, 0,
                      ip4(src), ip4(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + l4


def l4(proto, src, dst, sport, dport, data=b"", flags=0, seq=0, ack=0):
    if proto == 6:
        seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + data
        at = 16
    else:
        seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
        at = 6
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, proto, len(seg))
    return seg[:at] + struct.pack("!H", csum(pseudo + seg)) + seg[at + 2:]


def out4(proto, dst, sport, dport, data=b"", flags=0, src=GUEST, frag=0):
    return eth(GW_MAC, GUEST_MAC, 0x0800,
               ipv4(src, dst, proto, l4(proto, src, dst, sport, dport, data, flags), frag))


def in4(proto, src, sport, dport, data=b"", dst=GUEST):
    return eth(GUEST_MAC, GW_MAC, 0x0800, ipv4(src, dst, proto, l4(proto, src, dst, sport, dport, data)))


def arp(op, spa, tpa, sha=GUEST_MAC):
    return eth(BROADCAST, GUEST_MAC, 0x0806,
               struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, ip4(spa), b"\0" * 6, ip4(tpa)))


def bootp(op, msg_type, yiaddr="0.0.0.0"):
    b = struct.pack("!BBBB", op, 1, 6, 0) + b"\x12\x34\x56\x78" + b"\0" * 8 + ip4(yiaddr)
    b += b"\0" * 8 + GUEST_MAC + b"\0" * 10 + b"\0" * 192 + bytes([99, 130, 83, 99])
    return b + bytes([53, 1, msg_type, 255])


def nd(src, dst, icmp_type, target=None, options=b"", flags=0):
    body = struct.pack("!BBHI", icmp_type, 0, 0, flags << 24)
    if target:
        body += ip6(target)
    body += options
    hdr = struct.pack("!IHBB", 0x60000000, len(body), 58, 255) + ip6(src) + ip6(dst)
    return eth(b"\x33\x33\0\0\0\x01", GUEST_MAC, 0x86DD, hdr + body)


def ipv6_tcp(dst):
    seg = struct.pack("!HHIIBBHHH", 40000, 443, 1, 0, 5 << 4, 2, 65535, 0, 0)
    hdr = struct.pack("!IHBB", 0x60000000, len(seg), 6, 64) + ip6(GUEST_LL) + ip6(dst)
    return eth(GW_MAC, GUEST_MAC, 0x86DD, hdr + seg)


def filter_seed(cfg, frames):
    out = bytes([cfg])
    for inbound, f in frames:
        out += struct.pack("!H", (0x8000 if inbound else 0) | len(f)) + f
    return out


SLL = bytes([1, 1]) + GUEST_MAC
TLL = bytes([2, 1]) + GUEST_MAC
GROUP, NONE, PUBLIC, ANY = 1, 0, 2, 3
GRANT, GW_LOOPBACK, KNOWN, PORTS = 0x04, 0x08, 0x10, 0x20
USER = GW_LOOPBACK | KNOWN

FILTER_SEEDS = {
    "group_basics": filter_seed(GROUP | USER, [
        (0, arp(1, GUEST, GATEWAY)),
        (0, out4(17, "255.255.255.255", 68, 67, bootp(1, 1), src="0.0.0.0")),
        (0, out4(6, GATEWAY, 40000, 22, flags=2)),
        (0, out4(17, DNS, 40000, 53, b"\x12\x34\x01\0\0\x01\0\0\0\0\0\0")),
        (0, out4(6, "1.1.1.1", 40000, 443, flags=2)),
        (0, out4(6, "10.0.2.99", 40000, 80, flags=2)),
    ]),
    "none_published": filter_seed(NONE | USER | PORTS, [
        (1, in4(17, GATEWAY, 50000, 5353, b"ping")),
        (0, out4(17, GATEWAY, 5353, 50000, b"pong")),
        (0, out4(17, GATEWAY, 5353, 631, b"not-a-reply")),
        (0, out4(6, GATEWAY, 8080, 50001, flags=0x12)),
        (0, out4(6, GATEWAY, 8080, 50001, flags=0x02)),
        (0, out4(17, GATEWAY, 5353, 50000, b"x" * 40, frag=0x2000)),
    ]),
    "public_grant": filter_seed(PUBLIC | USER | GRANT, [
        (0, out4(6, GATEWAY, 40000, 22, flags=2)),
        (0, out4(17, "8.8.8.8", 40000, 53, b"q")),
        (0, out4(6, "192.168.1.1", 40000, 80, flags=2)),
        (0, ipv6_tcp("2606:4700:4700::1111")),
        (0, ipv6_tcp("fd00::1")),
    ]),
    "dhcp_address": filter_seed(GROUP | GW_LOOPBACK, [
        (0, arp(1, "0.0.0.0", "10.0.2.50")),
        (0, arp(1, "10.0.2.50", GATEWAY)),
        (1, in4(17, "10.0.2.2", 67, 68, bootp(2, 5, "10.0.2.50"), dst="255.255.255.255")),
        (0, arp(2, "10.0.2.50", GATEWAY)),
        (0, arp(1, GATEWAY, "10.0.2.50")),
    ]),
    "neighbour_discovery": filter_seed(NONE | USER, [
        (0, nd("::", "ff02::2", 133)),
        (0, nd(GUEST_LL, "ff02::2", 133, options=SLL)),
        (0, nd("::", "ff02::1:ff4f:4b01", 135, GUEST_LL, bytes([14, 1, 1, 2, 3, 4, 5, 6]))),
        (0, nd(GUEST_LL, "ff02::1:ff00:1", 135, "fe80::1", SLL)),
        (0, nd(GUEST_LL, "fe80::1", 136, GUEST_LL, TLL, flags=0x60)),
        (0, nd(GUEST_LL, "ff02::1", 136, "fe80::1", TLL, flags=0x20)),
    ]),
    "malformed": filter_seed(GROUP | USER | PORTS, [
        (0, b"\x00" * 13),
        (0, eth(GW_MAC, GUEST_MAC, 0x88CC, b"\0" * 20)),
        (0, out4(6, "10.0.2.9", 40000, 80, flags=2)[:14 + 19]),
        (0, eth(GW_MAC, b"\x02\0\0\0\0\x02", 0x0806, arp(1, GUEST, GATEWAY)[14:])),
        (1, b"\xff" * 10),
    ]),
}

# virtio-net queue images, laid out as fuzz_net_device.c reads them.
IMAGE_GPA, TX_RING, RX_RING, AVAIL, BUFS = 0x10000, 0x10000, 0x10800, 0x400, 0x11000
MRG, CSUM, GUEST_CSUM, MAC = 1, 2, 4, 8
VRING_NEXT, VRING_WRITE = 1, 2
NEEDS_CSUM, GSO_TCPV4 = 1, 1


def net_hdr(flags=0, gso=0, csum_start=0, csum_offset=0, num_buffers=0):
    return struct.pack("<BBHHHHH", flags, gso, 0, 0, csum_start, csum_offset, num_buffers)


class Image:
    def __init__(self):
        self.mem = bytearray()
        self.next_buf = BUFS

    def put(self, gpa, data):
        at = gpa - IMAGE_GPA
        if len(self.mem) < at + len(data):
            self.mem.extend(b"\0" * (at + len(data) - len(self.mem)))
        self.mem[at:at + len(data)] = data

    def buffer(self, data, room=None):
        gpa = self.next_buf
        self.put(gpa, data.ljust(room or len(data), b"\0"))
        self.next_buf += ((room or len(data)) + 15) & ~15
        return gpa

    def queue(self, ring, descs, heads):
        for i, (addr, length, flags, nxt) in enumerate(descs):
            self.put(ring + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))
        self.put(ring + AVAIL, struct.pack("<HH", 0, len(heads)) +
                 b"".join(struct.pack("<H", h) for h in heads))


def device_seed(features, filt, tx_log2, rx_log2, rx_frames, image):
    blob = b"".join(struct.pack("!H", len(f)) + f for f in rx_frames)
    return bytes([features, filt, tx_log2, rx_log2]) + struct.pack("!H", len(blob)) + blob + \
        bytes(image.mem)


def device_seeds():
    seeds = {}
    # One whole frame per chain; mergeable buffers for two frames in.
    img = Image()
    a = img.buffer(net_hdr() + arp(1, GUEST, GATEWAY))
    b = img.buffer(net_hdr() + out4(6, "1.1.1.1", 40000, 443, flags=2))
    img.queue(TX_RING, [(a, 12 + 42, 0, 0), (b, 12 + 54, 0, 0)], [0, 1])
    r0, r1, r2 = img.buffer(b"", 1526), img.buffer(b"", 64), img.buffer(b"", 1526)
    img.queue(RX_RING, [(r0, 1526, VRING_WRITE, 0), (r1, 64, VRING_WRITE, 0),
                        (r2, 1526, VRING_WRITE, 0)], [0, 1, 2])
    seeds["mergeable"] = device_seed(MRG | CSUM | GUEST_CSUM | MAC, GROUP, 4, 0x54,
                                     [in4(17, GATEWAY, 53, 40000, b"a" * 100),
                                      in4(6, GATEWAY, 80, 40000, b"b" * 1400)], img)
    # A header and its frame in two descriptors; a checksum to complete.
    img = Image()
    frame = out4(6, "1.1.1.1", 40000, 443, b"data", flags=0x18)
    h = img.buffer(net_hdr(NEEDS_CSUM, 0, 34, 16))
    f = img.buffer(frame)
    img.queue(TX_RING, [(h, 12, VRING_NEXT, 1), (f, len(frame), 0, 0)], [0])
    seeds["checksum_chain"] = device_seed(CSUM | MAC, PUBLIC, 3, 3, [], img)
    # No mergeable buffers: a frame larger than the one buffer; GSO the
    # device never offered; a published flow in and its reply out.
    img = Image()
    g = img.buffer(net_hdr(0, GSO_TCPV4) + out4(6, "1.1.1.1", 40000, 443, flags=2))
    reply = out4(17, GATEWAY, 5353, 50000, b"pong")
    p = img.buffer(net_hdr() + reply)
    img.queue(TX_RING, [(g, 12 + 54, 0, 0), (p, 12 + len(reply), 0, 0)], [0, 1])
    small = img.buffer(b"", 40)
    img.queue(RX_RING, [(small, 40, VRING_WRITE, 0)], [0])
    seeds["small_buffers"] = device_seed(MAC, NONE | 8, 2, 1,
                                         [in4(17, GATEWAY, 50000, 5353, b"ping" * 20)], img)
    # Mergeable buffers smaller than the virtio-net header.
    img = Image()
    t0, t1, t2 = img.buffer(b"", 8), img.buffer(b"", 4), img.buffer(b"", 1526)
    img.queue(RX_RING, [(t0, 8, VRING_WRITE, 0), (t1, 4, VRING_WRITE, 0),
                        (t2, 1526, VRING_WRITE, 0)], [0, 1, 2])
    seeds["tiny_buffers"] = device_seed(MRG | GUEST_CSUM, ANY, 0, 2,
                                        [in4(17, GATEWAY, 53, 40000, b"c" * 60)], img)
    # Hostile: a chain that loops; a receive buffer the device may only read.
    img = Image()
    x = img.buffer(net_hdr() + arp(1, GUEST, GATEWAY))
    img.queue(TX_RING, [(x, 54, VRING_NEXT, 1), (x, 54, VRING_NEXT, 0)], [0])
    y = img.buffer(b"", 256)
    img.queue(RX_RING, [(y, 256, 0, 0)], [0])
    seeds["hostile"] = device_seed(MRG | 0x80, ANY, 0xf1, 0x71, [arp(2, GATEWAY, GUEST), b""], img)
    return seeds


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "corpus")
    for target, seeds in (("filter", FILTER_SEEDS), ("device", device_seeds())):
        os.makedirs(os.path.join(root, target), exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(root, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
