#!/usr/bin/python3
"""Writes the seed corpus of fuzz_fs (fuzz_fs.c reads the same format):
sequences of requests a guest kernel sends, over the scratch tree that
fuzz_fs makes for every input. Usage: make_corpus.py DIR"""
import os
import struct
import sys

OPS = ['LOOKUP', 'FORGET', 'GETATTR', 'SETATTR', 'READLINK', 'SYMLINK', 'MKNOD', 'MKDIR',
       'UNLINK', 'RMDIR', 'RENAME', 'LINK', 'OPEN', 'READ', 'WRITE', 'STATFS', 'RELEASE',
       'FSYNC', 'SETXATTR', 'GETXATTR', 'LISTXATTR', 'REMOVEXATTR', 'FLUSH', 'INIT', 'OPENDIR',
       'READDIR', 'RELEASEDIR', 'FSYNCDIR', 'ACCESS', 'CREATE', 'INTERRUPT', 'DESTROY',
       'BATCH_FORGET', 'FALLOCATE', 'READDIRPLUS', 'RENAME2', 'LSEEK', 'COPY_FILE_RANGE',
       'SYNCFS', 'TMPFILE', 'GETLK', 'RAW']
NAMES = ['f', 'd', 'g', 'l', 'p', 'n', 's', 'r', 'k', 'new', 'new2', 'x', '.w', 'ro', 'rw', 'wk',
         '.', '..', '', 'a/b', 'long']
XATTRS = ['user.a', 'user.b', 'security.capability', 'security.selinux',
          'trusted.overlay.opaque', 'trusted.x', 'user.overlay.opaque',
          'user.containers.override_stat', 'user.nook.security.capability', 'user.nook.x',
          'system.posix_acl_access', 'other.x', 'security.', 'trusted.']
VALUES = ['', 'y', '0:0:4755:file', '1000:1000:0644:pipe', '0:0:0755:char-1-3', '5:5:2755',
          '0:0:0100755', 'x:y:z', '4294967295:0:0644:file', '0:0:0755:dir', '0:0:0777:symlink',
          'cap']
TYPES = ['REG', 'FIFO', 'SOCK', 'CHR', 'BLK', 'DIR', 'LNK', 'NONE']
O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC = 0, 1, 2, 0o100, 0o200, 0o1000
ROOT = 'root'


def u8(v):
    return bytes([v & 0xff])


def num(v):
    """fuzz_fs's take_num(): a tag byte, then 1, 4 or 8 bytes."""
    if v < 256:
        return b'\0' + u8(v)
    if v < 1 << 32:
        return u8(192) + struct.pack('<I', v)
    return u8(224) + struct.pack('<Q', v)


class Seq:
    """Steps of one input; tracks how many node ids and handles the replies
    handed out, so that a step can pick "the n-th" or the root."""

    def __init__(self, config, file_record='0:0:4755:file', dir_record='1000:1000:2775:dir'):
        self.out = u8(config)
        for rec in (file_record, dir_record):
            self.out += u8(len(rec)) + rec.encode()
        self.nodes = 0
        self.fhs = 0

    def sel(self, which, have):
        if which == ROOT:
            return min(have, 64)
        return which

    def step(self, op, node=ROOT, fh=0, name=0, shape=0, fields=b'', new_node=False,
             new_fh=False):
        self.out += u8(OPS.index(op)) + u8(self.sel(node, self.nodes)) + u8(fh) + u8(name)
        self.out += u8(shape) + fields
        self.nodes += new_node
        self.fhs += new_fh
        return self


def name(n):
    return NAMES.index(n)


def seeds():
    s = {}
    # Look up, read, stat, list, forget.
    q = Seq(0 | 8 << 2)
    q.step('LOOKUP', name=name('f'), new_node=True)                           # node 0
    q.step('GETATTR', node=0, fields=u8(0))
    q.step('OPEN', node=0, fields=num(O_RDONLY) + u8(0), new_fh=True)          # fh 0
    q.step('READ', node=0, fh=0, fields=num(0) + num(256))
    q.step('LSEEK', fh=0, fields=num(0) + u8(3))
    q.step('RELEASE', fh=0)
    q.step('LOOKUP', name=name('d'), new_node=True)                           # node 1
    q.step('OPENDIR', node=1, fields=num(0) + u8(0), new_fh=True)             # fh 1
    q.step('READDIRPLUS', node=1, fh=1, fields=num(0) + num(256), new_node=True)
    q.step('READDIR', node=1, fh=1, fields=num(0) + num(256))
    q.step('RELEASEDIR', fh=1)
    q.step('LOOKUP', name=name('l'), new_node=True)
    q.step('READLINK', node=3)
    q.step('STATFS')
    q.step('FORGET', node=0, fields=num(1))
    q.step('GETATTR', node=0, fields=u8(0))
    s['lookup_read'] = q.out

    # Create, write, chown, chmod 4755, capabilities and trusted.* xattrs.
    q = Seq(0 | 8 << 2)
    q.step('CREATE', name=name('new'), fields=num(O_RDWR | O_CREAT) + num(0o750) + u8(0),
           new_node=True, new_fh=True)
    q.step('WRITE', fh=0, fields=u8(10) + num(0) + u8(1) + u8(0) + b'0123456789')
    q.step('SETATTR', node=0, fields=num(1 << 1 | 1 << 2) + num(0) * 4 + num(0) + num(1234) + num(5678))
    q.step('SETATTR', node=0, fields=num(1 << 0) + num(0) * 4 + num(0o4755) + num(0) * 2)
    q.step('SETXATTR', node=0, name=XATTRS.index('security.capability'),
           fields=u8(VALUES.index('cap')) + u8(0) + u8(0))
    q.step('SETXATTR', node=0, name=XATTRS.index('trusted.overlay.opaque'),
           fields=u8(1) + u8(0) + u8(0))
    q.step('SETXATTR', node=0, name=XATTRS.index('user.containers.override_stat'),
           fields=u8(2) + u8(0) + u8(0))
    q.step('LISTXATTR', node=0, fields=u8(4))
    q.step('GETXATTR', node=0, name=XATTRS.index('security.capability'), fields=u8(4))
    q.step('WRITE', fh=0, fields=u8(4) + num(3) + u8(4) + u8(0) + b'kill')
    q.step('GETATTR', node=0, fields=u8(0))
    q.step('REMOVEXATTR', node=0, name=XATTRS.index('trusted.overlay.opaque'))
    q.step('FALLOCATE', fh=0, fields=num(0) + num(8192) + u8(0))
    q.step('COPY_FILE_RANGE', fh=0, fields=num(0) + u8(0) + num(100) + num(10) + u8(0))
    q.step('FSYNC', fh=0, fields=u8(1))
    q.step('SETATTR', node=0, fields=num(1 << 3 | 1 << 11) + num(1) + num(0) * 6)
    q.step('RELEASE', fh=0)
    s['create_chown_xattr'] = q.out

    # Names: mkdir, mknod of every type, symlink, link, rename, unlink.
    q = Seq(0 | 8 << 2)
    q.step('MKDIR', name=name('new'), fields=num(0o2775), new_node=True)        # node 0
    q.step('MKNOD', node=0, name=name('p'), fields=u8(TYPES.index('FIFO')) + num(0o644) + num(0),
           new_node=True)
    q.step('MKNOD', node=0, name=name('n'), fields=u8(TYPES.index('CHR')) + num(0o600) +
           num(0x103), new_node=True)
    q.step('MKNOD', node=0, name=name('k'), fields=u8(TYPES.index('CHR')) + num(0) + num(0),
           new_node=True)
    q.step('MKNOD', node=0, name=name('s'), fields=u8(TYPES.index('SOCK')) + num(0o755) + num(0),
           new_node=True)
    q.step('SYMLINK', node=0, name=name('l'), fields=u8(name('f')), new_node=True)
    q.step('LOOKUP', name=name('f'), new_node=True)                             # node 6
    q.step('LINK', node=0, name=name('g'), fields=u8(6), new_node=True)
    q.step('RENAME2', node=0, name=name('g'), fields=u8(q.sel(ROOT, q.nodes)) + u8(1) +
           u8(name('new2')))
    q.step('RENAME', node=0, name=name('p'), fields=u8(0) + u8(0) + u8(name('x')))
    q.step('OPENDIR', node=0, fields=num(0) + u8(0), new_fh=True)
    q.step('READDIR', node=0, fh=0, fields=num(0) + num(256))
    q.step('UNLINK', node=0, name=name('n'))
    q.step('RMDIR', name=name('new'))
    q.step('RENAME2', node=0, name=name('k'), fields=u8(0) + u8(4) + u8(name('s')))
    s['names'] = q.out

    # A synthetic root: read-only export, hidden work dir, rename across.
    q = Seq(1 | 8 << 2)
    q.step('LOOKUP', name=name('ro'), new_node=True)                            # node 0
    q.step('LOOKUP', name=name('rw'), new_node=True)                            # node 1
    q.step('LOOKUP', name=name('wk'), new_node=True)                            # node 2
    q.step('MKDIR', node=0, name=name('new'), fields=num(0o755))
    q.step('LOOKUP', node=1, name=name('.w'))
    q.step('CREATE', node=2, name=name('new'), fields=num(O_WRONLY | O_CREAT) + num(0o644) + u8(0),
           new_node=True, new_fh=True)
    q.step('RENAME2', node=2, name=name('new'), fields=u8(1) + u8(1) + u8(name('new2')))
    q.step('LINK', node=1, name=name('k'), fields=u8(0))
    q.step('SYNCFS')
    q.step('OPENDIR', fields=num(0) + u8(0), new_fh=True)
    q.step('READDIRPLUS', fh=1, fields=num(0) + num(4096))
    s['synthetic_root'] = q.out

    # CREATE over an existing FIFO and device node, OPEN of them.
    q = Seq(0 | 8 << 2)
    for n in ('p', 'n'):
        for flags in (O_RDONLY, O_WRONLY, O_RDWR | O_TRUNC):
            q.step('CREATE', name=name(n), fields=num(flags | O_CREAT) + num(0o644) + u8(0))
    q.step('LOOKUP', name=name('p'), new_node=True)
    q.step('OPEN', node=0, fields=num(O_WRONLY) + u8(0))
    q.step('TMPFILE', fields=num(O_RDWR) + num(0o600) + u8(0), new_node=True, new_fh=True)
    s['special_files'] = q.out

    # Run out of descriptors, then give some back.
    q = Seq(0)
    for n in ('f', 'd', 's', 'r', 'l', 'p', 'n', 'x', 'ro'):
        q.step('LOOKUP', name=name(n), new_node=True)
    q.step('OPEN', node=0, fields=num(O_RDONLY) + u8(0))
    q.step('BATCH_FORGET', fields=u8(3) + u8(0) + u8(0) + num(1) + u8(1) + num(1) + u8(2) + num(1))
    q.step('LOOKUP', name=name('k'))
    s['budget'] = q.out

    # Malformed: wrong lengths, split iovecs, small replies, raw opcodes,
    # DESTROY and INIT again.
    q = Seq(2 | 8 << 2)
    q.step('LOOKUP', name=name('f'), shape=0x10, fields=u8(5), new_node=True)
    q.step('GETATTR', node=0, shape=0x10, fields=u8(0) + u8(0x80 | 20))
    q.step('GETATTR', node=0, shape=3 << 1, fields=u8(0))
    q.step('GETATTR', node=0, shape=0xe0, fields=u8(0) + num(1 << 31))
    q.step('RAW', fields=num(4096) + u8(10) + b'\xff' * 10)
    q.step('RAW', fields=num(99) + u8(0))
    q.step('SETXATTR', node=0, name=0, fields=u8(1) + u8(0) + u8(255) + num(1 << 20))
    q.step('WRITE', fh=0, fields=u8(4) + num(0) + u8(0) + u8(255) + num(1 << 30) + b'data')
    q.step('DESTROY')
    q.step('GETATTR', fields=u8(0))
    q.step('INIT', fields=u8(0) + u8(11) + num(65536) + num(0xffffffff))
    q.step('INIT', fields=u8(1) + u8(11) + num(65536) + num(0xffffffff))
    q.step('LOOKUP', name=255, fields=u8(3) + u8(0) + b'abc')
    s['malformed'] = q.out

    # Guest views as the host holds them: 3-field, devices, and garbage.
    for i, (frec, drec) in enumerate([('5:6:0644', '0:0:01777:dir'),
                                      ('0:0:0620:char-4-64', '0:0:0755:file'),
                                      ('0:0:0660:block-4095-1048575', '1:2:3:dir:x'),
                                      ('4294967295:0:0:pipe', '-1:0:0755'),
                                      ('0:0:07777:socket', '00000000000000000001:0:0:dir')]):
        q = Seq(0 | 8 << 2, frec, drec)
        q.step('LOOKUP', name=name('r'), new_node=True)
        q.step('LOOKUP', name=name('d'), new_node=True)
        q.step('OPENDIR', fields=num(0) + u8(0), new_fh=True)
        q.step('READDIR', fh=0, fields=num(0) + num(256))
        q.step('SETATTR', node=0, fields=num(1 << 1) + num(0) * 5 + num(7) + num(0))
        q.step('MKDIR', node=1, name=name('new'), fields=num(0o755))
        s['records%d' % i] = q.out

    # A single-file export.
    q = Seq(3 | 8 << 2)
    q.step('LOOKUP', name=name('f'), new_node=True)
    q.step('OPEN', node=0, fields=num(O_RDWR | O_TRUNC) + u8(1), new_fh=True)
    q.step('WRITE', fh=0, fields=u8(2) + num(0) + u8(0) + u8(0) + b'ok')
    q.step('LOOKUP', node=0, name=name('g'))
    s['single_file'] = q.out
    return s


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for n, data in seeds().items():
        with open(os.path.join(out, n), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
