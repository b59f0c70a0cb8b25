#!/usr/bin/env python3
"""Seeds for fuzz_console: programs of guest and host steps (the input
format is in fuzz_console.c). Usage: make_corpus.py DIR"""
import os, struct, sys

DEVICE_READY, DEVICE_ADD, DEVICE_REMOVE, PORT_READY, CONSOLE_PORT, RESIZE, PORT_OPEN, \
    PORT_NAME = range(8)
END_ON_CLOSE, COPY = 1, 2


def start(how, log2=(6,) * 8):
    return bytes([how]) + bytes(log2[i] | log2[i + 1] << 4 for i in range(0, 8, 2))


def ctrl(event, port_id=0, value=1, length=8, extra=b""):
    return bytes([0, port_id, event, value, length]) + extra


def ctrl_bufs(count=8, size=64, readable=False):
    return bytes([1, count - 1, size | (0x80 if readable else 0)])


def data(queue, payload, split=0):
    return bytes([2, queue]) + struct.pack("<H", len(payload)) + bytes([split]) + payload[:64]


def rx_bufs(queue, count=4, size16=16, readable=False):
    return bytes([3, queue, count - 1, size16 | (0x80 if readable else 0)])


def host_write(port, payload):
    return bytes([4, port, len(payload)]) + payload


HOST_READ = bytes([5])


def host_end(port):
    return bytes([6, port])


# What a Linux driver does first: buffers, DEVICE_READY, each port ready,
# the console's ports opened.
BRING_UP = ctrl_bufs(8) + ctrl(DEVICE_READY) + b"".join(ctrl(PORT_READY, i) for i in range(3)) \
    + ctrl_bufs(8) + ctrl(PORT_OPEN, 0) + ctrl(PORT_OPEN, 1) + ctrl(PORT_OPEN, 2)
seeds = {
    "talk": start(COPY) + BRING_UP + rx_bufs(0) + rx_bufs(4) + host_write(0, b"input 0\n")
    + host_write(1, b"input 1\n") + data(1, b"output 0\n") + data(5, b"output 1\n", 2)
    + data(7, b"to /dev/null\n") + HOST_READ + ctrl(PORT_OPEN, 1, 0) + ctrl(PORT_OPEN, 0, 0),
    # Output the host does not read: back-pressure, then it reads; the
    # guest closes the port that ends on close.
    "backpressure": start(END_ON_CLOSE | COPY) + BRING_UP + data(1, b"a" * 60000)
    + data(1, b"b" * 60000, 3) + data(5, b"c" * 60000) + data(5, b"d" * 60000)
    + data(5, b"e" * 60000) + HOST_READ + ctrl(PORT_OPEN, 1, 0) + data(5, b"after close")
    + HOST_READ,
    # Input that ends while the ports are open and when they are not
    # (regression: a port's ended input kept the event loop busy while the
    # guest had the port closed).
    "input_eof": start(0) + ctrl_bufs(8) + ctrl(DEVICE_READY) + ctrl(PORT_READY, 0)
    + host_end(0) + ctrl(PORT_READY, 1) + ctrl(PORT_OPEN, 1) + rx_bufs(4, 2)
    + host_write(1, b"x" * 100) + host_end(1) + ctrl_bufs(4) + bytes([7, 4])
    + rx_bufs(0, 1, 0) + bytes([7, 0x40]),
    # Hostile: ids beyond the ports, unknown events, short and long
    # messages, read-only and tiny control buffers, data on control queues,
    # receive buffers the device cannot write, a reset in the middle.
    "hostile": start(END_ON_CLOSE, (0, 8, 1, 2, 3, 4, 5, 7)) + ctrl_bufs(2, 1)
    + ctrl_bufs(2, 8, True) + ctrl(DEVICE_READY) + ctrl(DEVICE_READY) + ctrl(DEVICE_READY)
    + ctrl(PORT_READY, 200) + ctrl(99, 1) + ctrl(PORT_OPEN, 1, 2) + ctrl(PORT_READY, 1, 1, 3)
    + ctrl(PORT_NAME, 1, 1, 20, b"a-name-from-guest") + data(3, b"\x00" * 8)
    + data(2, b"into ctrl rx") + rx_bufs(0, 2, 4, True) + ctrl(PORT_OPEN, 0) + host_write(0, b"y")
    + bytes([7, 0x80]) + ctrl_bufs(8) + ctrl(DEVICE_READY) + ctrl(PORT_OPEN, 1) + ctrl(PORT_OPEN, 1, 0)
    + ctrl(PORT_OPEN, 1) + data(5, b"z", 4) + ctrl(PORT_OPEN, 1, 0) + bytes([7, 6]),
}
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data_ in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data_)
