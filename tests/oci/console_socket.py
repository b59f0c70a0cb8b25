#!/usr/bin/env python3
"""console_socket.py SOCKET INPUT OUT [TIMEOUT]: plays conmon's part for
--console-socket: listens on SOCKET, takes the terminal master a runtime
sends (SCM_RIGHTS), sets its size to 30x100, writes INPUT to it once the
first output came, and copies everything the terminal says to OUT until the
other side closes it (or TIMEOUT seconds, default 300). Started in the
background before `create`; exits 0 once it got a terminal."""
import array, fcntl, os, select, socket, struct, sys, termios, time

path, data, out = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 300
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
s.settimeout(timeout)
conn, _ = s.accept()
fds = array.array("i")
_, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
for level, kind, payload in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds.frombytes(payload[: fds.itemsize])
if not fds:
    sys.exit("console_socket.py: no terminal received")
master = fds[0]
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
end = time.time() + timeout
sent = False
with open(out, "wb") as f:
    while time.time() < end:
        r, _, _ = select.select([master], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the last holder of the other side is gone
            break
        if not chunk:
            break
        f.write(chunk)
        f.flush()
        if not sent:
            os.write(master, data)
            sent = True
