#!/usr/bin/env python3
"""Seeds for fuzz_virtq: a header (queue size, pops, ring offsets) and
guest memory holding descriptor tables and rings. Usage: make_corpus.py DIR"""
import os, struct, sys

def seed(size, pops, chains, indirect=False):
    desc, avail, used = 0x1000, 0x2000, 0x3000
    mem = bytearray(0x5000)
    d = 0
    heads = []
    for chain in chains:  # chain: list of (len, writable)
        heads.append(d)
        for i, (length, writable) in enumerate(chain):
            flags = (1 if i + 1 < len(chain) else 0) | (2 if writable else 0) | (4 if indirect else 0)
            struct.pack_into("<QIHH", mem, desc + 16 * d, 0x4000 + 64 * d, length, flags, d + 1)
            d += 1
    struct.pack_into("<HH", mem, avail, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", mem, avail + 4 + 2 * i, h)
    return struct.pack("<HHIII", size, pops, desc, avail, used) + bytes(mem)

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
seeds = {
    "two_chains": seed(16, 4, [[(16, False), (64, True)], [(8, False)]]),
    "long_chain": seed(16, 2, [[(4, False)] * 6 + [(32, True)] * 6]),
    "reset_between": seed(8, 0x8000 | 8, [[(16, False), (1, True)]] * 5),
    "indirect": seed(8, 2, [[(16, False)]], indirect=True),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
