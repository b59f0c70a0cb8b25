#!/usr/bin/env python3
"""pty_run.py EXPECT INPUT CMD [ARG...]: runs CMD on a new pseudo-terminal
(30 rows x 100 columns, its controlling terminal) as a user at a terminal
would, writes INPUT once CMD's output shows EXPECT, copies all the output to
stdout and exits with CMD's exit status (124 when it is still running after
NOOK_PTY_TIMEOUT seconds, default 300)."""
import fcntl, os, select, struct, subprocess, sys, termios, time

expect, data, cmd = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
os.close(slave)
end = time.time() + float(os.environ.get("NOOK_PTY_TIMEOUT", "300"))
seen, sent = b"", False
while time.time() < end:
    r, _, _ = select.select([master], [], [], 0.5)
    if not r:
        if proc.poll() is not None:
            break
        continue
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    sys.stdout.buffer.write(chunk)
    sys.stdout.flush()
    if not sent and expect in seen:
        os.write(master, data)
        sent = True
try:
    sys.exit(proc.wait(timeout=max(1, end - time.time())))
except subprocess.TimeoutExpired:
    proc.kill()
    sys.exit(124)
