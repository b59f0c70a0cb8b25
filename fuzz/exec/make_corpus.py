#!/usr/bin/env python3
"""Seeds for fuzz_agent_frames: a byte of how the caller runs it, then what
the guest's end sends (format in fuzz_agent_frames.c). Usage:
make_corpus.py DIR"""
import os, struct, sys

STDOUT, STDERR, EXIT, ERROR = 16, 17, 18, 19
PIPE, NULL, DEVNULL = 0, 1, 2
TTY, SIGNAL, CLOSE_STDIN, RAW_REPLY = 0x10, 0x20, 0x40, 0x80


def how(out=PIPE, err=PIPE, flags=0):
    return bytes([out | err << 2 | flags])


def frame(typ, payload=b"", length=None):
    return struct.pack("<II", typ, len(payload) if length is None else length) + payload


def exit_(status):
    return frame(EXIT, struct.pack("<I", status))


seeds = {
    "output_exit": how() + frame(STDOUT, b"hello\n") + frame(STDERR, b"oops\n")
    + frame(STDOUT, b"x" * 3000) + frame(STDOUT) + exit_(0),
    "discarded": how(NULL, DEVNULL, SIGNAL) + frame(STDOUT, b"y" * 5000) + frame(STDERR, b"z")
    + exit_(137),
    "exit_twice": how(DEVNULL, NULL, CLOSE_STDIN) + exit_(3) + exit_(4),
    "exit_out_of_range": how() + exit_(256),
    "exit_short": how() + frame(EXIT, b"\x01\x00", 2),
    "error_text": how(flags=TTY | SIGNAL) + frame(ERROR, b"no \x1b[31mterminal\x00\x07\n\xff"),
    "error_too_long": how() + frame(ERROR, b"e" * 64, 4097),
    "huge_length": how() + frame(STDOUT, b"abc", 0xffffffff),
    "unknown_type": how() + frame(1, b"exec?") + exit_(0),
    "truncated_header": how() + frame(STDOUT, b"ok") + b"\x10\x00\x00",
    "truncated_payload": how(NULL, NULL) + frame(STDOUT, b"only part", 100),
    "empty_frames": how() + frame(STDOUT) * 200 + exit_(1),
    "no_exit": how() + frame(STDERR, b"bye"),
    "reply_refused": how(flags=RAW_REPLY) + b"ERR no\n" + exit_(0),
    "reply_long": how(flags=RAW_REPLY) + b"OK " + b"1" * 37,
    "reply_extra": how(flags=RAW_REPLY) + b"OK 1 2\n" + exit_(0),
    # Regression: an answer with control bytes was quoted in the error as it came.
    "reply_control_bytes": how(flags=RAW_REPLY) + b"OK \x1b[2J\x07\n",
}
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
