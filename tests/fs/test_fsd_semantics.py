#!/usr/bin/python3
# Local-filesystem semantics through a real nook-fsd mount (the FUSE server
# behind virtio-fs, here driven by the host kernel over /dev/fuse): each
# check acts on the mount and verifies on the host directory. Needs root
# (mount(2), other uids). Output is TAP. Usage: test_fsd_semantics.py NOOK_FSD
import ctypes
import errno
import mmap
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsd_mount import FsdMount, exit_on_sigterm, is_mounted  # noqa: E402

FSD = sys.argv[1]
n = 0
failed = 0


def ok(cond, desc, detail=''):
    global n, failed
    n += 1
    if cond:
        print('ok %d - %s' % (n, desc))
    else:
        failed += 1
        print('not ok %d - %s' % (n, desc))
        if detail:
            print('# ' + str(detail).replace('\n', '\n# '))


def err_of(fn, *args):
    """The errno fn(*args) fails with, or 0."""
    try:
        fn(*args)
        return 0
    except OSError as e:
        return e.errno


def as_user(uid, fn):
    """Runs fn() in a child with uid/gid `uid` and no groups; returns 0 or
    the errno it failed with."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            fn()
        except OSError as e:
            code = e.errno or 255
        except BaseException:
            code = 254
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4


def renameat2(old, new, flags):
    if libc.renameat2(-100, os.fsencode(old), -100, os.fsencode(new), flags) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


# vfs_cap_data revision 2: CAP_SETUID, effective.
CAP_SETUID = bytes.fromhex('01000002' '80000000' '00000000' '00000000' '00000000')


def record(path):
    """The host file's user.containers.override_stat, or None."""
    try:
        return os.getxattr(path, 'user.containers.override_stat')
    except OSError:
        return None


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def write(path, data, mode='wb'):
    with open(path, mode) as f:
        f.write(data)


def main():
    exit_on_sigterm()
    if os.geteuid() != 0:
        print('1..0 # SKIP needs root (mount(2), other uids)')
        return 0
    top = tempfile.mkdtemp(prefix='nook-fsd-sem-', dir='/var/tmp')
    src, mnt = os.path.join(top, 'src'), os.path.join(top, 'mnt')
    os.mkdir(src)
    os.mkdir(mnt)
    os.chmod(top, 0o755)
    os.chmod(src, 0o777)
    try:
        cli_checks(src, mnt)
        with FsdMount(FSD, src, mnt) as m:
            rw_checks(src, mnt)
            overlay_checks(top, src, mnt)
        ok(m.status == 0 and not is_mounted(mnt), 'SIGTERM: nook-fsd unmounts and exits 0',
           'status %s' % m.status)
        ro_checks(src, mnt)
        budget_checks(src, mnt)
        writeback_checks(src, mnt)
    finally:
        if is_mounted(mnt):
            subprocess.run(['umount', '-l', mnt], check=False)
        shutil.rmtree(top, ignore_errors=True)
    print('1..%d' % n)
    return 1 if failed else 0


def cli_checks(src, mnt):
    r = subprocess.run([FSD, '--help'], capture_output=True, text=True)
    ok(r.returncode == 0 and 'SHARED_DIR MOUNTPOINT' in r.stdout, 'nook-fsd --help')
    r = subprocess.run([FSD, src], capture_output=True, text=True)
    ok(r.returncode == 2 and 'usage' in r.stderr, 'nook-fsd: missing mount point is a usage error')
    r = subprocess.run([FSD, '/nonexistent/dir', mnt], capture_output=True, text=True)
    ok(r.returncode == 1 and '/nonexistent/dir: No such file or directory' in r.stderr,
       'nook-fsd: a missing shared dir is named', r.stderr)
    r = subprocess.run([FSD, src, mnt, '--bogus'], capture_output=True, text=True)
    ok(r.returncode == 2 and '--bogus' in r.stderr, 'nook-fsd: unknown option named')


def rw_checks(src, mnt):
    M = lambda *p: os.path.join(mnt, *p)  # noqa: E731
    S = lambda *p: os.path.join(src, *p)  # noqa: E731

    # Owner and mode come from the caller, in the mount's view; on the host
    # every file is nook-fsd's, with the caller's view in a record.
    fd = os.open(M('owned'), os.O_CREAT | os.O_WRONLY, 0o640)
    os.close(fd)
    st = os.stat(S('owned'))
    ok(st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o640 and not record(S('owned')),
       'create by root: root owner, mode 0640, no record')
    ok(as_user(1000, lambda: write(M('by1000'), b'x')) == 0, 'create by uid 1000')
    st, hst = os.stat(M('by1000')), os.stat(S('by1000'))
    ok((st.st_uid, st.st_gid) == (1000, 1000) and (hst.st_uid, hst.st_gid) == (0, 0) and
       record(S('by1000')) == b'1000:1000:0644:file',
       'create by uid 1000: 1000:1000 on the mount, root on the host', (st, hst))
    ok(as_user(1000, lambda: os.mkdir(M('owned_dir_denied'))) == 0, 'uid 1000 mkdir in 0777 dir')
    os.chmod(S(), 0o755)
    ok(as_user(1000, lambda: write(M('denied'), b'x')) == errno.EACCES,
       'uid 1000 cannot create in a 0755 root dir')
    os.chmod(S(), 0o777)
    os.chown(M('owned'), 1234, 5678)
    st, hst = os.stat(M('owned')), os.stat(S('owned'))
    ok((st.st_uid, st.st_gid) == (1234, 5678) and (hst.st_uid, hst.st_gid) == (0, 0),
       'chown: seen on the mount, not on the host')
    ok(as_user(1000, lambda: os.chmod(M('owned'), 0o777)) == errno.EPERM,
       'chmod by a non-owner: EPERM')
    ok(as_user(1234, lambda: os.chmod(M('owned'), 0o600)) == 0, 'chmod by the new owner')

    # The guest of a share is not host root: setuid root, capabilities and
    # trusted.* stay in the mount's view.
    shutil.copy('/bin/true', M('suidroot'))
    os.chown(M('suidroot'), 0, 0)
    os.chmod(M('suidroot'), 0o4755)
    os.setxattr(M('suidroot'), 'security.capability', CAP_SETUID)
    os.setxattr(M('suidroot'), 'trusted.foo', b'bar')
    st, hst = os.stat(M('suidroot')), os.stat(S('suidroot'))
    ok(stat.S_IMODE(st.st_mode) == 0o4755 and stat.S_IMODE(hst.st_mode) == 0o755,
       'chmod 4755: setuid on the mount only', (oct(st.st_mode), oct(hst.st_mode)))
    ok(os.getxattr(M('suidroot'), 'security.capability') == CAP_SETUID and
       os.getxattr(M('suidroot'), 'trusted.foo') == b'bar', 'security.* and trusted.* on the mount')
    ok(err_of(os.getxattr, S('suidroot'), 'security.capability') == errno.ENODATA and
       err_of(os.getxattr, S('suidroot'), 'trusted.foo') == errno.ENODATA and
       os.getxattr(S('suidroot'), 'user.nook.security.capability') == CAP_SETUID,
       'the host file has no capability, no trusted.*: they are user.nook.*')
    names = os.listxattr(M('suidroot'))
    ok('security.capability' in names and 'trusted.foo' in names and
       not any(n.startswith(('user.nook.', 'user.containers.')) for n in names),
       'listxattr on the mount shows the guest names only', names)
    ok(err_of(os.getxattr, M('suidroot'), 'user.containers.override_stat') == errno.ENODATA and
       err_of(os.setxattr, M('suidroot'), 'user.containers.override_stat', b'0:0:4755') ==
       errno.EPERM and
       err_of(os.setxattr, M('suidroot'), 'user.nook.security.capability', b'x') == errno.EPERM,
       'the records are out of reach through the mount')
    os.chown(M('suidroot'), 4321, 4321)
    st = os.stat(M('suidroot'))
    ok(st.st_uid == 4321 and stat.S_IMODE(st.st_mode) == 0o755 and
       err_of(os.getxattr, M('suidroot'), 'security.capability') == errno.ENODATA,
       'chown drops setuid and the capability', oct(st.st_mode))
    ok(os.stat(S('suidroot')).st_uid == 0, 'chown leaves the host owner')

    # The exec bit: a binary copied onto the mount runs.
    shutil.copy('/bin/echo', M('echo'))
    os.chmod(M('echo'), 0o755)
    r = subprocess.run([M('echo'), 'ran'], capture_output=True, text=True)
    ok(r.stdout == 'ran\n', 'exec of a binary copied onto the mount', r)
    os.chmod(M('echo'), 0o644)
    ok(err_of(subprocess.run, [M('echo')]) == errno.EACCES, 'no exec bit: EACCES')

    # setuid/setgid cleared on write by a non-owner.
    write(M('suid'), b'data')
    os.chmod(M('suid'), 0o6777)
    ok(stat.S_IMODE(os.stat(M('suid')).st_mode) == 0o6777 and
       stat.S_IMODE(os.stat(S('suid')).st_mode) == 0o777, 'setuid/setgid set (on the mount)')
    ok(as_user(1000, lambda: write(M('suid'), b'more', 'ab')) == 0, 'non-owner appends')
    mode = stat.S_IMODE(os.stat(M('suid')).st_mode)
    ok(mode == 0o777, 'setuid/setgid cleared on write by a non-owner', oct(mode))
    os.chmod(M('suid'), 0o6777)
    write(M('suid'), b'root', 'ab')
    ok(stat.S_IMODE(os.stat(M('suid')).st_mode) == 0o6777, 'kept on write by root')
    ok(as_user(1000, lambda: os.truncate(M('suid'), 1)) == 0 and
       stat.S_IMODE(os.stat(M('suid')).st_mode) == 0o777, 'cleared on truncate by a non-owner')

    # Sticky directory with two users.
    os.mkdir(M('sticky'))
    os.chmod(M('sticky'), 0o1777)
    ok(as_user(1000, lambda: write(M('sticky', 'mine'), b'1')) == 0, 'sticky: uid 1000 creates')
    ok(as_user(1001, lambda: os.unlink(M('sticky', 'mine'))) == errno.EPERM,
       'sticky: uid 1001 cannot unlink it')
    ok(as_user(1001, lambda: os.rename(M('sticky', 'mine'), M('sticky', 'x'))) == errno.EPERM,
       'sticky: uid 1001 cannot rename it')
    ok(os.path.exists(S('sticky', 'mine')), 'sticky: the file is still there')
    ok(stat.S_IMODE(os.stat(S('sticky')).st_mode) == 0o777, 'sticky: on the mount only')
    ok(as_user(1000, lambda: os.unlink(M('sticky', 'mine'))) == 0, 'sticky: the owner unlinks')

    # Timestamps.
    write(M('times'), b'x')
    os.utime(M('times'), ns=(1_000_000_123, 2_000_000_456))
    st = os.stat(S('times'))
    ok((st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456), 'utime to the ns')
    write(M('times'), b'y', 'ab')
    st2 = os.stat(M('times'))
    ok(st2.st_mtime > 2 and st2.st_mtime_ns == os.stat(S('times')).st_mtime_ns,
       'write updates mtime, seen the same on both sides')
    ctime = os.stat(M('times')).st_ctime_ns
    time.sleep(0.01)
    os.chmod(M('times'), 0o600)
    ok(os.stat(M('times')).st_ctime_ns > ctime, 'chmod updates ctime')

    # Hard links.
    write(M('linked'), b'L')
    os.link(M('linked'), M('linked2'))
    ok(os.stat(M('linked')).st_nlink == 2 and os.stat(S('linked')).st_nlink == 2, 'link: nlink 2')
    ok(os.stat(M('linked')).st_ino == os.stat(M('linked2')).st_ino, 'link: same inode')
    os.unlink(M('linked2'))
    ok(os.stat(M('linked')).st_nlink == 1, 'unlink: nlink 1')
    os.mkdir(M('d'))
    ok(os.stat(M('d')).st_nlink == 2 and (os.mkdir(M('d', 'e')) or os.stat(M('d')).st_nlink == 3),
       'directory link counts')

    # O_APPEND and O_TRUNC.
    a = os.open(M('append'), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
    b = os.open(M('append'), os.O_WRONLY | os.O_APPEND)
    for i in range(5):
        os.write(a, b'a%d' % i)
        os.write(b, b'b%d' % i)
    os.close(a)
    os.close(b)
    ok(read(S('append')) == b'a0b0a1b1a2b2a3b3a4b4', 'O_APPEND from two descriptors')
    fd = os.open(M('append'), os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    ok(os.stat(S('append')).st_size == 0, 'O_TRUNC')

    # Unlinked but open.
    fd = os.open(M('gone'), os.O_CREAT | os.O_RDWR, 0o644)
    os.write(fd, b'still here')
    os.unlink(M('gone'))
    ok(not os.path.exists(S('gone')), 'unlinked: gone from the host dir')
    os.lseek(fd, 0, 0)
    ok(os.read(fd, 100) == b'still here' and os.fstat(fd).st_nlink == 0,
       'unlinked but open: readable, nlink 0')
    os.write(fd, b'!')
    ok(os.fstat(fd).st_size == 11, 'unlinked but open: writable')
    os.close(fd)

    # mmap shared and private.
    write(M('mapped'), b'\0' * 8192)
    with open(M('mapped'), 'r+b') as f:
        mm = mmap.mmap(f.fileno(), 8192, mmap.MAP_SHARED)
        mm[4096:4101] = b'hello'
        mm.flush()
        mm.close()
    ok(read(S('mapped'))[4096:4101] == b'hello', 'mmap MAP_SHARED write reaches the host')
    with open(M('mapped'), 'r+b') as f:
        mm = mmap.mmap(f.fileno(), 8192, mmap.MAP_PRIVATE)
        mm[0:3] = b'cow'
        ok(mm[4096:4101] == b'hello', 'mmap MAP_PRIVATE reads the file')
        mm.close()
    ok(read(S('mapped'))[0:3] == b'\0\0\0', 'mmap MAP_PRIVATE write stays private')

    # Sparse and larger than 4 GiB.
    big = 5 << 30
    with open(M('sparse'), 'wb') as f:
        f.seek(big)
        f.write(b'end')
    st = os.stat(S('sparse'))
    ok(st.st_size == big + 3 and st.st_blocks * 512 < (1 << 20), 'sparse 5 GiB file', st)
    with open(M('sparse'), 'rb') as f:
        f.seek(big - 2)
        ok(f.read(10) == b'\0\0end', 'read across the end of a hole beyond 4 GiB')
        fd = f.fileno()
        ok(os.lseek(fd, 0, os.SEEK_DATA) >= big - 4096 and os.lseek(fd, 0, os.SEEK_HOLE) == 0,
           'SEEK_DATA / SEEK_HOLE')
    os.unlink(M('sparse'))

    # rename and its flags.
    write(M('r1'), b'one')
    write(M('r2'), b'two')
    ok(err_of(renameat2, M('r1'), M('r2'), RENAME_NOREPLACE) == errno.EEXIST,
       'RENAME_NOREPLACE onto an existing name: EEXIST')
    renameat2(M('r1'), M('r2'), RENAME_EXCHANGE)
    ok(read(S('r1')) == b'two' and read(S('r2')) == b'one', 'RENAME_EXCHANGE')
    renameat2(M('r1'), M('r3'), RENAME_WHITEOUT)
    st = os.lstat(S('r1'))
    ok(stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and read(S('r3')) == b'two',
       'RENAME_WHITEOUT leaves a 0/0 char device')
    os.rename(M('r3'), M('d', 'moved'))
    ok(read(S('d', 'moved')) == b'two', 'rename into a subdirectory')

    # xattrs.
    os.setxattr(M('r2'), 'user.nook', b'value')
    ok(os.getxattr(S('r2'), 'user.nook') == b'value', 'setxattr reaches the host')
    os.setxattr(M('r2'), 'trusted.overlay.opaque', b'y')
    ok(os.getxattr(M('r2'), 'trusted.overlay.opaque') == b'y', 'trusted.* xattr (root)')
    os.setxattr(S('r2'), 'trusted.host', b'h')
    ok(err_of(os.getxattr, M('r2'), 'trusted.host') == errno.ENODATA,
       "the host's own trusted.* attributes are not the mount's")
    ok(set(os.listxattr(M('r2'))) == {'user.nook', 'trusted.overlay.opaque'}, 'listxattr')
    os.removexattr(M('r2'), 'user.nook')
    ok(err_of(os.getxattr, S('r2'), 'user.nook') == errno.ENODATA, 'removexattr')
    ok(err_of(os.getxattr, M('r2'), 'user.none') == errno.ENODATA, 'missing xattr: ENODATA')

    # Names with any bytes but '/' and NUL.
    odd = b'\x01\x7f\xff\n\t *?\\ \xc3\xa9 ' + bytes(range(0x80, 0x90))
    write(os.path.join(os.fsencode(mnt), odd), b'odd')
    ok(odd in os.listdir(os.fsencode(src)) and odd in os.listdir(os.fsencode(mnt)),
       'odd byte names')
    long_name = 'n' * 255
    write(M(long_name), b'')
    ok(os.path.exists(S(long_name)) and err_of(write, M('n' * 256), b'') == errno.ENAMETOOLONG,
       '255-byte names work, 256 do not')

    # Symlinks, FIFOs, device nodes.
    os.symlink('../outside/target', M('sl'))
    ok(os.readlink(S('sl')) == '../outside/target' and os.readlink(M('sl')) == '../outside/target',
       'symlink and readlink')
    os.mkfifo(M('fifo'))
    ok(stat.S_ISFIFO(os.stat(M('fifo')).st_mode) and stat.S_ISREG(os.stat(S('fifo')).st_mode),
       'mkfifo: a FIFO on the mount, a plain file on the host')
    os.mknod(M('mem'), stat.S_IFCHR | 0o600, os.makedev(1, 1))
    st = os.stat(M('mem'))
    ok(stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 1) and
       stat.S_ISREG(os.stat(S('mem')).st_mode),
       'mknod c 1 1: a device on the mount, a plain file on the host')
    ok(sorted(e.name for e in os.scandir(mnt) if e.name in ('fifo', 'mem') and
              not e.is_file(follow_symlinks=False)) == ['fifo', 'mem'],
       'readdir types: not regular files')

    # fallocate, copy_file_range, statfs, big directories.
    with open(M('falloc'), 'wb') as f:
        os.posix_fallocate(f.fileno(), 0, 1 << 20)
    ok(os.stat(S('falloc')).st_size == 1 << 20, 'fallocate')
    write(M('cfr_src'), b'0123456789' * 1000)
    with open(M('cfr_src'), 'rb') as fi, open(M('cfr_dst'), 'wb') as fo:
        done = os.copy_file_range(fi.fileno(), fo.fileno(), 10000)
    ok(done == 10000 and read(S('cfr_dst')) == b'0123456789' * 1000, 'copy_file_range')
    sv, hv = os.statvfs(mnt), os.statvfs(src)
    ok(sv.f_blocks == hv.f_blocks and sv.f_bsize == hv.f_bsize, 'statfs matches the host')
    os.mkdir(M('many'))
    for i in range(3000):
        os.close(os.open(M('many', 'file-with-a-longish-name-%05d' % i), os.O_CREAT, 0o644))
    names = os.listdir(M('many'))
    ok(len(names) == 3000 and len(set(names)) == 3000, 'readdir of 3000 entries')
    shutil.rmtree(M('many'))
    ok(not os.path.exists(S('many')), 'rmtree')

    # O_TMPFILE, linked in later.
    try:
        fd = os.open(mnt, os.O_TMPFILE | os.O_RDWR, 0o600)
        os.write(fd, b'tmp')
        # AT_EMPTY_PATH (root): the host kernel refuses the /proc route
        # for FUSE tmpfiles with EXDEV before asking the server.
        linked = libc.linkat(fd, b'', -100, os.fsencode(M('from_tmpfile')), 0x1000)
        os.close(fd)
        ok(linked == 0, 'linkat(AT_EMPTY_PATH) of an O_TMPFILE', os.strerror(ctypes.get_errno()))
        ok(read(S('from_tmpfile')) == b'tmp', 'O_TMPFILE + linkat')
    except OSError as e:
        ok(e.errno == errno.EOPNOTSUPP, 'O_TMPFILE unsupported cleanly', e)


def overlay_checks(top, src, mnt):
    """overlayfs with its upper and work dirs on the mount, as a guest
    does on a virtio-fs root: whiteouts, opaque dirs (trusted.* xattrs),
    copy-up, renames through the work dir; the lower dir stays as it was."""
    lower, merged = os.path.join(top, 'lower'), os.path.join(top, 'merged')
    os.makedirs(os.path.join(lower, 'd'))
    os.mkdir(merged)
    write(os.path.join(lower, 'a'), b'low')
    write(os.path.join(lower, 'd', 'f'), b'x')
    os.mkdir(os.path.join(mnt, 'upper'))
    os.mkdir(os.path.join(mnt, 'work'))
    r = subprocess.run(['mount', '-t', 'overlay', 'overlay', '-o',
                        'lowerdir=%s,upperdir=%s/upper,workdir=%s/work' % (lower, mnt, mnt), merged],
                       capture_output=True, text=True)
    ok(r.returncode == 0, 'overlayfs mounts with upper and work on the mount', r.stderr)
    if r.returncode:
        return
    try:
        O = lambda *p: os.path.join(merged, *p)  # noqa: E731
        write(O('a'), b'up', 'ab')
        os.unlink(O('d', 'f'))
        os.rmdir(O('d'))
        os.mkdir(O('d'))
        write(O('d', 'g'), b'new')
        os.rename(O('a'), O('b'))
        ok(sorted(os.listdir(merged)) == ['b', 'd'] and os.listdir(O('d')) == ['g'] and
           read(O('b')) == b'lowup', 'overlay: the merged view')
    finally:
        subprocess.run(['umount', merged], check=False)
    U = lambda *p: os.path.join(src, 'upper', *p)  # noqa: E731
    st = os.lstat(U('a'))
    ok(stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, 'overlay: whiteout in the upper dir')
    ok(os.getxattr(U('d'), 'user.nook.trusted.overlay.opaque') == b'y',
       'overlay: opaque dir xattr, as user.nook.trusted.*')
    ok(read(U('b')) == b'lowup' and read(os.path.join(lower, 'a')) == b'low' and
       os.listdir(os.path.join(lower, 'd')) == ['f'], 'overlay: lower dir unchanged')


def ro_checks(src, mnt):
    write(os.path.join(src, 'keep'), b'original')
    before = {name: read(os.path.join(src, name)) for name in ['keep', 'r2']}
    with FsdMount(FSD, src, mnt, readonly=True):
        M = lambda *p: os.path.join(mnt, *p)  # noqa: E731
        ok(read(M('keep')) == b'original', 'read-only: reading works')
        ok(err_of(write, M('keep'), b'x') == errno.EROFS, 'read-only: O_TRUNC write: EROFS')
        ok(err_of(write, M('keep'), b'x', 'ab') == errno.EROFS, 'read-only: append: EROFS')
        ok(err_of(write, M('new'), b'x') == errno.EROFS, 'read-only: create: EROFS')
        ok(err_of(os.mkdir, M('newdir')) == errno.EROFS, 'read-only: mkdir: EROFS')
        ok(err_of(os.unlink, M('keep')) == errno.EROFS, 'read-only: unlink: EROFS')
        ok(err_of(os.rename, M('keep'), M('k2')) == errno.EROFS, 'read-only: rename: EROFS')
        ok(err_of(os.chmod, M('keep'), 0o777) == errno.EROFS, 'read-only: chmod: EROFS')
        ok(err_of(os.truncate, M('keep'), 0) == errno.EROFS, 'read-only: truncate: EROFS')
        ok(err_of(os.setxattr, M('keep'), 'user.x', b'1') == errno.EROFS,
           'read-only: setxattr: EROFS')
        ok(err_of(os.link, M('keep'), M('k3')) == errno.EROFS, 'read-only: link: EROFS')
        ok(err_of(os.symlink, 'x', M('k4')) == errno.EROFS, 'read-only: symlink: EROFS')
    after = {name: read(os.path.join(src, name)) for name in ['keep', 'r2']}
    ok(before == after and sorted(os.listdir(src)) == sorted(os.listdir(src)),
       'read-only: host files unchanged')
    ok(not any(os.path.exists(os.path.join(src, x)) for x in ['new', 'newdir', 'k2', 'k3', 'k4']),
       'read-only: nothing created on the host')


def writeback_checks(src, mnt):
    """--writeback-cache: the kernel reads through write-only handles to
    fill partial pages, so the server opens them read-write; what fsync
    returns for is on the host, and so is everything after unmount."""
    d = os.path.join(src, 'wb')
    os.mkdir(d)
    write(os.path.join(d, 'f'), b'a' * 10000)
    os.chmod(os.path.join(d, 'f'), 0o644)
    with FsdMount(FSD, src, mnt, options=['--writeback-cache']):
        M = lambda *p: os.path.join(mnt, 'wb', *p)  # noqa: E731
        fd = os.open(M('f'), os.O_WRONLY)
        os.pwrite(fd, b'XYZ', 5000)
        os.fsync(fd)
        os.close(fd)
        ok(read(os.path.join(d, 'f')) == b'a' * 5000 + b'XYZ' + b'a' * 4997,
           'writeback: a partial-page write through O_WRONLY, fsynced, is on the host')
        fd = os.open(M('g'), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(fd, b'one ')
        os.write(fd, b'two')
        os.close(fd)
        ok(read(M('g')) == b'one two', 'writeback: O_APPEND writes in order')
        os.truncate(M('f'), 3)
        ok(os.stat(M('f')).st_size == 3 and read(M('f')) == b'aaa', 'writeback: truncate')
    ok(read(os.path.join(d, 'g')) == b'one two' and read(os.path.join(d, 'f')) == b'aaa',
       'writeback: everything is on the host after unmount')


def budget_checks(src, mnt):
    """The host kernel keeps every inode it looked up until memory runs
    short: with a small descriptor budget, lookups get ENFILE while open
    files keep working, and once the kernel forgets (drop_caches), lookups
    work again."""
    d = os.path.join(src, 'budget')
    os.mkdir(d)
    for i in range(100):
        write(os.path.join(d, 'f%03d' % i), b'%d' % i)
    with FsdMount(FSD, src, mnt, options=['--max-fds', '40']):
        M = lambda *p: os.path.join(mnt, 'budget', *p)  # noqa: E731
        with open(M('f000'), 'rb') as held:
            errs = [err_of(os.stat, M('f%03d' % i)) for i in range(100)]
            ok(errs[0] == 0 and errno.ENFILE in errs and set(errs) <= {0, errno.ENFILE},
               'budget: lookups past --max-fds get ENFILE', errs)
            ok(held.read() == b'0', 'budget: an open file keeps working')
            time.sleep(1.1)  # past the attribute cache: GETATTR reaches the server
            ok(err_of(os.stat, M('f001')) == 0, 'budget: a known file is still served')
        deadline = time.monotonic() + 10
        while err_of(os.stat, M('f099')) and time.monotonic() < deadline:
            with open('/proc/sys/vm/drop_caches', 'w') as f:
                f.write('2\n')
            time.sleep(0.1)
        ok(err_of(os.stat, M('f099')) == 0, 'budget: after the kernel forgets, lookups work')


if __name__ == '__main__':
    sys.exit(main())
