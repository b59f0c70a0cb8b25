#!/usr/bin/python3
# Conformance of the FUSE server against a suite nobody here wrote: the
# file-system modules of CPython's own test suite (Debian
# libpython3.11-testsuite, run by /usr/bin/python3.11) run once with cwd,
# TMPDIR and --tempdir on a host directory and once on a nook-fsd mount of
# a directory on the same disk; every test case that passes on the host
# must pass on the mount, except those listed in EXCEPTIONS with a reason.
# Needs root (mount(2)). Output is TAP, one line per module.
# Usage: test_fsd_conformance.py NOOK_FSD
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsd_mount import FsdMount, exit_on_sigterm, is_mounted  # noqa: E402

PYTHON = '/usr/bin/python3.11'
MODULES = ['test_os', 'test_shutil', 'test_tempfile', 'test_pathlib', 'test_glob',
           'test_fileio', 'test_posix', 'test_stat']
# Test case id ("module.Class.method") -> why it cannot pass on the mount.
# The server keeps the guest's owners, s-bits and security.*/trusted.*
# attributes in user.* xattrs (backends/fs/fs_server.h), which Linux allows
# on regular files and directories only.
EXCEPTIONS = {
    'test_posix.PosixTester.test_lchown':
        "a symlink's owner stays the host's: lchown is accepted, not kept",
    'test_shutil.TestCopy.test_copyxattr_symlinks':
        'trusted.* on a symlink: EPERM (it would be a user.* xattr on the host)',
}
# Fewer host-passing cases than this means the suite did not really run.
MIN_CASES = 1000


def run_suite(workdir, junit):
    env = dict(os.environ, TMPDIR=workdir)
    r = subprocess.run([PYTHON, '-m', 'test', '--tempdir', workdir, '--junit-xml', junit] +
                       MODULES, cwd=workdir, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=240)
    return r.stdout


def results(junit):
    """{case id: 'pass' | 'fail' | 'skip'}"""
    out = {}
    for case in ET.parse(junit).getroot().iter('testcase'):
        # name is "test.test_os.FileTests.test_access"; drop the package.
        cid = case.get('name', '')
        cid = cid[len('test.'):] if cid.startswith('test.') else cid
        status = 'pass'
        for child in case:
            if child.tag in ('failure', 'error'):
                status = 'fail'
            elif child.tag == 'skipped' and status == 'pass':
                status = 'skip'
        out[cid] = status
    return out


def main():
    exit_on_sigterm()
    fsd = sys.argv[1]
    if os.geteuid() != 0:
        print('1..0 # SKIP needs root (mount(2))')
        return 0
    if not os.path.exists(PYTHON) or not os.path.isdir('/usr/lib/python3.11/test/support'):
        print('1..0 # SKIP needs python3.11 and libpython3.11-testsuite')
        return 0
    top = tempfile.mkdtemp(prefix='nook-fsd-conf-', dir='/var/tmp')
    host, shared, mnt = (os.path.join(top, d) for d in ('host', 'shared', 'mnt'))
    for d in (host, shared, mnt):
        os.mkdir(d)
    n = failed = 0
    try:
        host_log = run_suite(host, os.path.join(top, 'host.xml'))
        with FsdMount(fsd, shared, mnt):
            mnt_log = run_suite(mnt, os.path.join(top, 'mnt.xml'))
        on_host, on_mnt = results(os.path.join(top, 'host.xml')), results(os.path.join(top, 'mnt.xml'))
        passed = [c for c, s in on_host.items() if s == 'pass']
        print('# %d cases, %d pass on the host dir; on the mount %d pass' %
              (len(on_host), len(passed), sum(s == 'pass' for s in on_mnt.values())))
        for mod in MODULES:
            cases = [c for c in passed if c.startswith(mod + '.')]
            bad = [c for c in cases if on_mnt.get(c) != 'pass' and c not in EXCEPTIONS]
            n += 1
            if cases and not bad:
                print('ok %d - %s: all %d host-passing cases pass on the mount' %
                      (n, mod, len(cases)))
            else:
                failed += 1
                print('not ok %d - %s: %d of %d host-passing cases fail on the mount' %
                      (n, mod, len(bad), len(cases)))
                for c in bad:
                    print('#   %s: %s' % (c, on_mnt.get(c, 'missing')))
        for c, why in EXCEPTIONS.items():
            n += 1
            print('ok %d - %s # SKIP %s' % (n, c, why))
        n += 1
        ok = len(passed) >= MIN_CASES
        failed += not ok
        print('%s %d - the suite ran (%d host-passing cases)' % ('ok' if ok else 'not ok', n,
                                                                  len(passed)))
        if failed:
            print('# host run:\n# ' + host_log[-3000:].replace('\n', '\n# '))
            print('# mount run:\n# ' + mnt_log[-6000:].replace('\n', '\n# '))
    finally:
        if is_mounted(mnt):
            subprocess.run(['umount', '-l', mnt], check=False)
        shutil.rmtree(top, ignore_errors=True)
    print('1..%d' % n)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
