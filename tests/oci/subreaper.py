#!/usr/bin/env python3
"""subreaper.py OUT CMD [ARG...]: runs CMD as a child subreaper would (as
conmon and containerd's shim do), so that the VMM that `nook-runtime
create` leaves behind becomes our child; waits until every descendant has
ended and writes "PID STATUS" for each one reaped to OUT (STATUS: the exit
status, or 128+N for signal N). Exits with CMD's status."""
import ctypes
import os
import sys

PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("subreaper.py: prctl: " + os.strerror(ctypes.get_errno()))
out, cmd = sys.argv[1], sys.argv[2:]
child = os.fork()
if child == 0:
    os.execvp(cmd[0], cmd)
own = 1
with open(out, "w") as f:
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        if pid == child:
            own = code
        else:
            f.write(f"{pid} {code}\n")
            f.flush()
sys.exit(own)
