#!/usr/bin/env python3
"""Seeds for fuzz_init_config: CONFIG payloads as the VMM sends them
(guest/protocol.h), and the exec agent's EXEC requests
(guest/agent_protocol.h). Usage: make_corpus.py DIR"""
import os, struct, sys

def rec(tag, value):
    return struct.pack("<II", tag, len(value)) + value

EXEC, ARG, ENV, WORKDIR, RLIMIT, ROOT, LOWER, UPPER, MOUNT, LOWERS, NET = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16
CLOCK, ENTROPY, HOSTNAME, SLOT, AGENT, USER, TTY = 32, 33, 34, 35, 37, 64, 65
base = rec(CLOCK, struct.pack("<qI", 1790000000, 5)) + rec(ENTROPY, bytes(range(64)))
seeds = {
    "minimal": rec(EXEC, b"/bin/true") + base,
    "full": rec(EXEC, b"sh") + rec(ARG, b"-c") + rec(ARG, b"echo hi") + rec(ENV, b"A=b")
            + rec(WORKDIR, b"/tmp") + rec(RLIMIT, struct.pack("<IQQ", 7, 1024, 2048))
            + rec(LOWERS, b"/dev/root.0") + rec(LOWER, b"0") + rec(LOWER, b"1") + rec(UPPER, b"fs1")
            + rec(MOUNT, struct.pack("<II", 1, 3) + b"fs2/data")
            + rec(NET, bytes([2, 0, 0, 0, 0, 1, 1, 24, 10, 0, 2, 15, 10, 0, 2, 2, 10, 0, 2, 3]))
            + rec(HOSTNAME, b"box") + rec(SLOT, struct.pack("<I", 2)) + base,
    "root": rec(EXEC, b"/bin/sh") + rec(ROOT, b"/dev/root") + base,
    "idle": rec(SLOT, struct.pack("<I", 3)) + rec(AGENT, struct.pack("<I", 0x6e6f6f6b)) + base,
    "exec_request": rec(EXEC, b"ls") + rec(ARG, b"-l") + rec(ENV, b"A=b") + rec(WORKDIR, b"/tmp")
            + rec(RLIMIT, struct.pack("<IQQ", 7, 1024, 2048)) + rec(USER, struct.pack("<II", 1000, 100))
            + rec(TTY, struct.pack("<HH", 24, 80)),
}
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
