#!/bin/bash
# Makes the seed corpus of the disk fuzz targets (committed in corpus/):
# small qcow2 and vmdk images made with qemu-img/qemu-io, with every kind
# of table entry and of file reference (names as the targets' scratch
# directory has them: base.raw, sub/base.raw, sparse.vmdk, link-in,
# link-out, dir, fifo, and "image", the input itself), and request series
# for fuzz_blk (format in fuzz_blk.c). Usage: make_corpus.sh [DIR]
set -eu
out=$(realpath -m "${1:-$(dirname "$0")/corpus}")
work=$(mktemp -d /tmp/nook-corpus-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir -p "$out/qcow2" "$out/vmdk" "$out/blk"
io() { qemu-io "$@" >/dev/null; }
yes 'nook fuzz corpus' | head -c 64k >data.raw

# --- qcow2 ---
q=$out/qcow2
qemu-img create -q -f qcow2 -o cluster_size=4096 "$q/v3.qcow2" 256K
io -c 'write -P 7 0 12k' -c 'write -z 40k 4k' -c 'write -P 8 64k 8k' -c 'write -z 64k 4k' \
	-c 'write -z -u 68k 4k' -c 'discard 4k 4k' "$q/v3.qcow2"
qemu-img create -q -f qcow2 -o cluster_size=512,compat=0.10 "$q/v2-512.qcow2" 64K
io -c 'write -P 9 1k 6k' -c 'write -P 10 60k 4k' "$q/v2-512.qcow2"
qemu-img create -q -f qcow2 -o cluster_size=4096 "$q/compressed.qcow2" 128K
io -c 'write -c -P 11 0 8k' -c 'write -c -P 12 16k 4k' -c 'write -P 13 32k 4k' "$q/compressed.qcow2"
qemu-img create -q -f qcow2 -o cluster_size=512 "$q/empty-512.qcow2" 4M
qemu-img create -q -f qcow2 -o cluster_size=4096 "$q/snapshot.qcow2" 64K
io -c 'write -P 14 0 4k' "$q/snapshot.qcow2"
qemu-img snapshot -c s1 "$q/snapshot.qcow2"
io -c 'write -P 15 0 4k' "$q/snapshot.qcow2"
qemu-img create -q -f qcow2 -o cluster_size=4096 "$q/bitmap.qcow2" 64K
qemu-img bitmap --add "$q/bitmap.qcow2" b0
io -c 'write -P 16 8k 4k' "$q/bitmap.qcow2"
for ref in base.raw:raw sub/base.raw:raw link-in:raw sparse.vmdk:vmdk image:qcow2 image:raw \
	link-out:raw /etc/passwd:raw ../base.raw:raw dir:raw fifo:raw; do
	name=backing-$(echo "${ref%%:*}" | tr -c 'a-z0-9\n' '_')-${ref#*:}.qcow2
	qemu-img create -q -f qcow2 -o cluster_size=4096 -u -b "${ref%%:*}" -F "${ref#*:}" "$q/$name" 128K
done
qemu-img create -q -f qcow2 -o cluster_size=4096 "$q/backing-data.qcow2" 128K
io -c 'write -P 17 4k 8k' -c 'write -z 32k 4k' "$q/backing-data.qcow2"
qemu-img rebase -q -u -b base.raw -F raw "$q/backing-data.qcow2"

# --- vmdk ---
v=$out/vmdk
qemu-img convert -O vmdk -o subformat=monolithicSparse data.raw "$v/sparse.vmdk"
qemu-img convert -O vmdk -o subformat=streamOptimized data.raw "$v/stream.vmdk"
desc() { # desc FILE EXTENT-LINE...
	local f=$1; shift
	printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n' >"$f"
	printf '%s\n' "$@" >>"$f"
}
desc "$v/desc-flat.vmdk" 'RW 64 FLAT "base.raw" 0' 'RW 16 ZERO' 'RDONLY 32 FLAT "sub/base.raw" 8' \
	'RW 8 FLAT "link-in" 0'
desc "$v/desc-sparse.vmdk" 'RW 128 SPARSE "sparse.vmdk"' 'RW 64 FLAT "base.raw" 0'
desc "$v/desc-refused.vmdk" 'RW 8 FLAT "link-out" 0' 'RW 8 FLAT "/etc/passwd" 0' 'RW 8 FLAT "../x" 0'
desc "$v/desc-self.vmdk" 'RW 8 SPARSE "image"' 'RW 8 FLAT "fifo" 0' 'RW 8 FLAT "dir" 0'

# --- blk: one byte of settings, then requests ---
python3 - "$out/blk" <<'PY'
import struct, sys
out = sys.argv[1]
IN, OUT, FLUSH, GET_ID, DISCARD, WZ = 0, 1, 2, 3, 4, 5
def req(pick, sector=0, mode=1, split=0, data=(), ins=(1,), head=b''):
    b = bytes([pick])
    b += bytes([mode]) + struct.pack({0: '<B', 1: '<H', 2: '<Q', 3: '<B'}[mode], sector)
    b += bytes([split, len(data)]) + b''.join(struct.pack('<H', n) for n in data)
    b += bytes([len(ins)]) + b''.join(struct.pack('<H', n) for n in ins)
    return b + head.ljust(16, b'\0')
def rng(sector, count, flags=0):
    return struct.pack('<QII', sector, count, flags)
def series(config):
    return bytes([config]) + b''.join([
        req(OUT, 8, data=(4096,)), req(IN, 8, ins=(4096, 1)), req(FLUSH),
        req(GET_ID, ins=(20, 1)), req(IN, 0, ins=(32768, 1)),
        req(OUT, 30, split=5, data=(1000, 24, 512)), req(IN, 29, ins=(511, 513, 1)),
        req(DISCARD, data=(16,), head=rng(16, 8)), req(WZ, data=(16,), head=rng(0, 24)),
        req(IN, 0, ins=(16384, 1)), req(IN, 1, mode=3, ins=(512, 1)),
        req(IN, 0, mode=3, ins=(512, 1)), req(OUT, 2, mode=3, data=(2048,)),
        req(WZ, data=(16,), head=rng(500, 12)), req(IN, 480, ins=(16384, 1)),
        req(6) + struct.pack('<I', 42)])
for config in range(16):
    open(f'{out}/series-{config:02d}', 'wb').write(series(config))
# Odd shapes: no status room, split headers, empty buffers, huge sectors.
odd = bytes([0]) + b''.join([
    req(IN, 0, ins=()), req(OUT, 0, split=15, data=(0, 512)), req(IN, 2**63, mode=2, ins=(512, 1)),
    req(DISCARD, data=(8,), head=rng(0, 8)[:8]), req(WZ, data=(16,), head=rng(2**40, 2**31)),
    req(IN, 0, ins=(0, 0, 1)), req(GET_ID, ins=(3,)), req(OUT, 0, data=(511,))])
open(f'{out}/odd', 'wb').write(odd)
PY
ls -l "$out"/* | awk '{s += $5} END {print s " bytes in the corpus"}'
