#!/usr/bin/env python3
"""Drives `nook exec -it NAME sh` through a real pseudo-terminal, as a user
at a terminal would, and prints one line per check: "ok WHAT" or
"not ok WHAT (details)". Checks: the window size the guest sees (stty size),
echo and line editing (a backspace), a resize (SIGWINCH) seen by stty size,
^C interrupting the foreground program, the exit status, and the host
terminal's settings restored afterwards.
Usage: pty_session.py NOOK NAME"""
import fcntl, os, select, struct, subprocess, sys, termios, time

nook, name = sys.argv[1], sys.argv[2]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
before = termios.tcgetattr(slave)
proc = subprocess.Popen([nook, "exec", "-it", name, "sh"], stdin=slave, stdout=slave,
                        stderr=slave, start_new_session=True,
                        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
seen = b""


def expect(text, timeout=120):
    """Reads until `text` shows up; whether it did."""
    global seen
    end = time.time() + timeout
    while text.encode() not in seen and time.time() < end:
        r, _, _ = select.select([master], [], [], 1)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            seen += chunk
    found = text.encode() in seen
    if found:
        seen = seen[seen.index(text.encode()) + len(text):]
    return found


def check(what, good):
    tail = seen[-300:].decode(errors="replace").replace("\r", "\\r").replace("\n", "\\n")
    print(("ok " if good else "not ok ") + what + ("" if good else " (last output: " + tail + ")"))
    sys.stdout.flush()


def send(text):
    os.write(master, text.encode())


def prompt():
    """Waits for the shell's prompt, which busybox's line editor ends by
    asking where the cursor is (ESC [6n). What is typed before the shell
    has set up its line editor is lost, as on any terminal; the question
    gets no answer, as from a terminal that does not know it."""
    found = expect("# \x1b[6n")
    time.sleep(0.5)
    return found


# The typed text is echoed: the quotes keep it from matching the output.
check("the shell shows its prompt", prompt())
send('echo st""art-$((1+1))\r')
check("the shell answers", expect("start-2"))
prompt()
send("stty size\r")
check("stty size shows the host's window (30 100)", expect("30 100"))
prompt()
send("echo abc\x7fd\r")
check("echo and line editing: a backspace erases", expect("abd"))
prompt()
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
time.sleep(1)
send("stty size\r")
check("a resize reaches the guest (50 120)", expect("50 120"))
prompt()
send('test -t 0 && echo is-a-""tty\r')
check("stdin is a terminal in the guest", expect("is-a-tty"))
prompt()
send("sleep 1000\r")
time.sleep(5)
send("\x03")
prompt()
send('echo after-""int-$?\r')
check("^C interrupts the foreground program (status 130)", expect("after-int-130"))
prompt()
send("exit 7\r")
try:
    status = proc.wait(timeout=120)
except subprocess.TimeoutExpired:
    proc.kill()
    status = None
check("exit status 7 from the shell (got %s)" % status, status == 7)
after = termios.tcgetattr(slave)
check("the host terminal's settings are restored", before == after)
