#!/usr/bin/env python3
"""Seeds for fuzz_vsock: programs of guest and host steps (the input format
is in fuzz_vsock.c). Usage: make_corpus.py DIR"""
import os, struct, sys

REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = 1, 2, 3, 4, 5, 6, 7
FIX_ALL = 0x7f  # guest CID, host CID, STREAM, op from the table, small ports, len, buf_alloc
OPS = {REQUEST: 0, RESPONSE: 1, RST: 2, SHUTDOWN: 3, RW: 4, CREDIT_UPDATE: 5,
       CREDIT_REQUEST: 6, 0: 7}


def header(op, guest=0, host=0, length=0, flags=0, typ=1, src_cid=3, dst_cid=2,
           buf_alloc=256 << 10, fwd_cnt=0):
    return struct.pack("<QQIIIHHIII", src_cid, dst_cid, guest, host, length, typ, op, flags,
                       buf_alloc, fwd_cnt)


def tx(op, payload=b"", fix=FIX_ALL, split=None, **kw):
    """A packet; with FIX_ALL `op` is an index into the target's table and
    host port raw 4 means the first port the host picks."""
    if fix & 8:
        op = OPS[op]
    kw.setdefault("length", len(payload))
    step = bytes([0, fix | (0x80 if split is not None else 0)]) + header(op, **kw)
    step += struct.pack("<H", len(payload)) + payload[:64]  # the rest: zeroes
    if split is not None:
        step += bytes([split])
    return step


def rx(count=4, shape=6):
    return bytes([1, count - 1, shape])


def peer_write(data, peer=0):
    return bytes([3, peer]) + struct.pack("<H", len(data)) + data[:64]


def peer_read(peer=0):
    return bytes([3, 0x80 | peer])


def start(rx_log2=4, tx_log2=4, ev_log2=2):
    return bytes([rx_log2 | tx_log2 << 4, ev_log2])


HOST_TURN = bytes([6])
seeds = {
    # The guest connects to host port 1, both send, both shut down.
    "guest_connects": start() + rx(8) + tx(REQUEST) + HOST_TURN + tx(RW, b"hello host")
    + HOST_TURN + peer_read() + peer_write(b"hello guest") + HOST_TURN + tx(CREDIT_REQUEST)
    + tx(CREDIT_UPDATE, fwd_cnt=11) + tx(SHUTDOWN, flags=1) + bytes([4, 0x80]) + HOST_TURN
    + tx(SHUTDOWN, flags=3) + tx(RST),
    # A host client asks for guest port 1000; the guest accepts and talks.
    "host_connects": start() + rx(8) + bytes([5, 0]) + bytes([6]) + tx(RESPONSE, host=4)
    + HOST_TURN + peer_write(b"from the client") + HOST_TURN + tx(RW, b"to the client", host=4)
    + HOST_TURN + bytes([4, 0]) + HOST_TURN,
    # Packets split over descriptors, mid-header too, one writable.
    "split": start() + rx(4) + tx(REQUEST, split=0x43) + HOST_TURN
    + tx(RW, b"x" * 300, split=0x27) + tx(RW, b"y" * 64, split=0x12) + HOST_TURN,
    # Hostile headers: wrong CIDs, unknown type and op, len beyond the
    # chain, packets for no connection, a descriptor outside memory.
    "hostile": start() + rx(2) + tx(RW, fix=0) + tx(REQUEST, fix=0x76, src_cid=7)
    + tx(REQUEST, fix=0x7d, dst_cid=9) + tx(REQUEST, fix=0x7b, typ=2)
    + tx(0x33, fix=0x77) + tx(RW, b"abc", fix=0x5f, length=1 << 20)
    + tx(REQUEST, split=0x09) + tx(REQUEST) + tx(REQUEST) + rx(16, 6) + HOST_TURN,
    # More than the credit in one go, and a flood of RSTs without buffers.
    "credit": start() + rx(4) + tx(REQUEST) + HOST_TURN + tx(RW, b"z" * 60000)
    + tx(RW, b"z" * 60000) + tx(RW, b"z" * 60000) + HOST_TURN + peer_read()
    + HOST_TURN + tx(RW, b"z" * 30000) + HOST_TURN
    + b"".join(tx(RW, fix=0x7f & ~16, guest=i, host=77) for i in range(40)) + rx(16),
    # Receive buffers too small for a header, read-only, split; resets.
    "rx_shapes": start(2, 2, 0) + tx(REQUEST) + rx(1, 2) + rx(1, 8 | 6) + bytes([7, 0x80])
    + rx(2, 16 | 6) + tx(REQUEST) + HOST_TURN + peer_write(b"q" * 5000) + rx(3, 3)
    + bytes([2, 7, 2]) + HOST_TURN,
    # Regression: a host client that hangs up in the middle of its CONNECT
    # line was kept until its deadline (an fd left after the input).
    "half_line_hang_up": start() + rx(2) + bytes([5, 0x80]) + b"CONNECT 1234567\x00"
    + bytes([5, 0x80]) + b"CONNECT 1000\x00\x00\x00\x00" + HOST_TURN,
}
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
