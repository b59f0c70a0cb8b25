#!/usr/bin/env python3
"""Seeds for fuzz_balloon: programs of guest and host steps (the input
format is in fuzz_balloon.c). Usage: make_corpus.py DIR"""
import os, struct, sys

STATS, REPORTING, DEFLATE_ON_OOM = 1, 2, 4
RAM_PAGES = (4 << 20) // 4096


def start(features, log2=(4, 4, 4, 4)):
    return bytes([features, log2[0] | log2[1] << 4, log2[2] | log2[3] << 4])


def pfn_list(step, pfns, mode=0):
    """Inflate (step 0) or deflate (1) of PFNs from the input: 4 * c + 1 of them."""
    c = (len(pfns) - 1) // 4
    pfns = (pfns + [0] * (4 * c + 1))[: 4 * c + 1]
    return bytes([step, c, mode]) + b"".join(struct.pack("<I", p) for p in pfns)


def pfn_run(step, count4, first, mode=1):
    return bytes([step, count4, mode]) + struct.pack("<I", first)


def stats(entries, extra=b""):
    body = b"".join(struct.pack("<HQ", t, v) for t, v in entries)
    return bytes([2, len(entries), len(extra)]) + body + extra


def report(ranges):
    return bytes([3, len(ranges) - 1]) + b"".join(struct.pack("<II", a, l) for a, l in ranges)


def config(off, length, value=None):
    if value is None:
        return bytes([5, off, length - 1])
    return bytes([5, off, 0x80 | (length - 1)]) + value


TICK = bytes([4])
seeds = {
    # Inflate some pages of the buffer area, deflate them, stats in and out.
    "inflate_deflate": start(STATS | DEFLATE_ON_OOM) + bytes([6]) + struct.pack("<I", 256)
    + config(0, 8) + pfn_run(0, 63, 0x300) + config(4, 4, struct.pack("<I", 256))
    + pfn_run(1, 63, 0x300) + stats([(0, 1), (4, 1 << 30), (5, 4 << 20), (7, 5)]) + TICK
    + stats([(1, 2), (99, 3)], b"\x01\x02\x03") + TICK,
    # PFNs out of range, duplicates, adjacent and not, split, with a
    # writable descriptor; a request longer than the device reads.
    "hostile_pfns": start(STATS | REPORTING)
    + pfn_list(0, [0x400, 0x401, 0x401, 0xffffffff, RAM_PAGES, RAM_PAGES - 1, 0x403, 0x402, 5], 4)
    + pfn_list(0, [0x500] * 9, 8) + pfn_run(0, 255, 0x200, 2) + bytes([0, 10, 3])
    + pfn_run(1, 255, 0xfffffff0) + bytes([6]) + struct.pack("<I", 0xffffffff),
    # Free page reporting: whole pages, parts of pages, outside memory.
    "reporting": start(REPORTING) + report([(0x300000, 0x10000)])
    + report([(0x310800, 0x1800), (0x320000, 0x800)]) + report([(0x3ff000, 0x2000)])
    + bytes([7, 2]) + report([(0x330000, 0x4000)]),
    # Stats without the feature, odd queue sizes, resets in between.
    "resets": start(REPORTING | DEFLATE_ON_OOM, (0, 8, 1, 3)) + stats([(4, 7)]) + bytes([7, 0x80])
    + pfn_run(0, 3, 0x280) + TICK + config(2, 8, bytes(range(8))) + config(7, 2),
}
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
