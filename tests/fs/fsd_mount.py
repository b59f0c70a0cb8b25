# Starts nook-fsd on a host directory and stops it again, for the tests
# that need a real /dev/fuse mount (semantics, conformance).
import os
import signal
import subprocess
import sys
import time


def exit_on_sigterm():
    """A timeout's SIGTERM unwinds like an exception, so `finally` and
    `with` blocks unmount."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def is_mounted(mnt):
    mnt = os.path.realpath(mnt)
    with open('/proc/self/mountinfo') as f:
        return any(line.split()[4] == mnt for line in f)


class FsdMount:
    """nook-fsd SRC MNT [--readonly] [OPTIONS] as a context manager:
    mounted inside, unmounted (also on failure) after."""

    def __init__(self, fsd, src, mnt, readonly=False, options=()):
        self.args = [fsd, src, mnt] + (['--readonly'] if readonly else []) + list(options)
        self.mnt = mnt
        self.proc = None
        self.status = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.args)
        deadline = time.monotonic() + 20
        while not is_mounted(self.mnt):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError('nook-fsd did not mount %s (status %s)' %
                                   (self.mnt, self.status))
            time.sleep(0.02)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.status = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.status = self.proc.wait()
        elif self.proc:
            self.status = self.proc.returncode
        if is_mounted(self.mnt):
            subprocess.run(['umount', '-l', self.mnt], check=False)

    def __exit__(self, *exc):
        self.stop()
        return False
