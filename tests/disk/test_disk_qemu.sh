#!/bin/bash
# The disk backends against qemu-img/qemu-io as the reference (TAP):
# images qemu made with every option read back byte-exact; images nook
# wrote pass `qemu-img check` and `qemu-img compare`; backing chains;
# hostile images fail cleanly. Usage: test_disk_qemu.sh DISK_DRIVER
set -u
. "$(dirname "$0")/../lib/tap.sh"
D=$(realpath "$1")
work=$(mktemp -d /tmp/nook-disk-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

# fails_with DESCRIPTION MESSAGE COMMAND...: the command fails (not by a
# signal) and says MESSAGE.
fails_with() {
	local d=$1 msg=$2; shift 2
	"$@" >"$work/out" 2>&1
	local st=$?
	if [ "$st" = 1 ] && grep -qF -- "$msg" "$work/out"; then ok 0 "$d"; else
		echo "# status $st, wanted 1 and: $msg"; sed 's/^/# /' "$work/out" | head -5; ok 1 "$d"; fi
}
# same_as_qemu [--backing] FMT IMG [direct]: our read == qemu-img convert
same_as_qemu() {
	local b=; [ "$1" = --backing ] && { b=$1; shift; }
	qemu-img convert -O raw "$2" "$work/qemu.raw" && "$D" $b dump "$1" "$2" "$work/nook.raw" ${3:-} &&
		cmp "$work/qemu.raw" "$work/nook.raw"
}
# nook_writes [--backing] IMG SEED N [direct]: random writes, then qemu-img
# check and compare against the same writes applied to a raw copy.
nook_writes() {
	local b=; [ "$1" = --backing ] && { b=$1; shift; }
	qemu-img convert -O raw "$1" "$work/ref.raw" && "$D" $b random qcow2 "$1" "$work/ref.raw" "$2" "$3" ${4:-} &&
		qemu-img check -q "$1" && qemu-img compare -q "$1" "$work/ref.raw"
}
qemu_io() { qemu-io "$@" >/dev/null; }
vmdk_desc() { # vmdk_desc FILE EXTENT-LINE...: a vmdk text descriptor
	local f=$1; shift
	printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n' >"$f"
	printf '%s\n' "$@" >>"$f"
}
seed=0 # random-write seeds: fixed, so that a failure can be replayed

# A source with data, holes and zero runs.
head -c 12M /dev/urandom >src.raw
dd if=/dev/zero of=src.raw bs=1M seek=3 count=2 conv=notrunc status=none
truncate -s 16M src.raw

# --- raw ---
check "raw: read back" same_as_qemu raw src.raw
check "raw: read back with O_DIRECT" same_as_qemu raw src.raw direct
cp src.raw w.raw
check "raw: random writes and write-zeroes" bash -c "cp w.raw ref2.raw && '$D' random raw w.raw ref2.raw 3 300 && cmp w.raw ref2.raw"
check "raw: random writes with O_DIRECT" bash -c "cp w.raw ref2.raw && '$D' random raw w.raw ref2.raw 4 300 direct && cmp w.raw ref2.raw"

# --- qcow2 made by qemu-img, every cluster size and version ---
for cs in 512 4096 65536 2M; do
	for compat in 0.10 1.1; do
		qemu-img convert -O qcow2 -o cluster_size=$cs,compat=$compat src.raw a.qcow2
		check "qcow2 $cs compat=$compat: read back" same_as_qemu qcow2 a.qcow2
		check "qcow2 $cs compat=$compat: nook writes pass check and compare" nook_writes a.qcow2 $((++seed)) 150
	done
done
for opt in preallocation=metadata preallocation=full lazy_refcounts=on,compat=1.1 refcount_bits=16; do
	qemu-img create -q -f qcow2 -o $opt p.qcow2 8M
	qemu_io -c 'write -P 0x5a 100k 300k' p.qcow2
	check "qcow2 $opt: read back" same_as_qemu qcow2 p.qcow2
	check "qcow2 $opt: nook writes" nook_writes p.qcow2 $((++seed)) 100
done
qemu-img convert -c -O qcow2 src.raw c.qcow2
check "qcow2 compressed (zlib): read back" same_as_qemu qcow2 c.qcow2
check "qcow2 compressed: overwriting compressed clusters" nook_writes c.qcow2 $((++seed)) 100
qemu-img convert -c -O qcow2 -o cluster_size=2M src.raw c2.qcow2
check "qcow2 compressed, 2 MiB clusters: read back" same_as_qemu qcow2 c2.qcow2 direct
qemu-img create -q -f qcow2 z.qcow2 8M
qemu_io -c 'write -P 0x11 0 8M' -c 'write -z 1M 1M' -c 'write -z -u 3M 1M' -c 'discard 5M 64k' z.qcow2
check "qcow2 zero clusters (with and without allocation): read back" same_as_qemu qcow2 z.qcow2
check "qcow2 zero clusters: nook writes over them" nook_writes z.qcow2 $((++seed)) 100
check "qcow2 with O_DIRECT: nook writes" nook_writes z.qcow2 $((++seed)) 100 direct
qemu-img create -q -f qcow2 -o cluster_size=512 grow.qcow2 64M
check "qcow2 512 B clusters: the refcount table grows" nook_writes grow.qcow2 1 1500
check "qcow2: the file grew (refcount table moved)" bash -c "qemu-img info --output=json grow.qcow2 | grep -q '\"actual-size\"' && [ \$(stat -c %s grow.qcow2) -gt 30000000 ]"

# --- backing chain: raw <- qcow2 v2 <- qcow2 v3 (smaller, then larger) ---
cp src.raw base.raw
qemu-img create -q -f qcow2 -o compat=0.10 -b base.raw -F raw mid.qcow2
qemu_io -c 'write -P 0xab 1M 3M' -c 'write -P 0xac 15M 1M' mid.qcow2
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 24M
qemu_io -c 'write -P 0xcd 2M 64k' -c 'write -z 5000k 17k' -c 'write -z 6M 2M' top.qcow2
base_sum=$(md5sum <base.raw; md5sum <mid.qcow2)
check "backing chain: read back" same_as_qemu --backing qcow2 top.qcow2
check "backing chain: copy-on-write into the top" nook_writes --backing top.qcow2 $((++seed)) 200
check "backing chain: the backing files are untouched" [ "$base_sum" = "$(md5sum <base.raw; md5sum <mid.qcow2)" ]
check "backing chain: read back from another directory" same_as_qemu --backing qcow2 "$work/top.qcow2"

# --- format: declared, probed only with auto ---
check "qcow2 declared raw reads the file's bytes" bash -c "'$D' dump raw a.qcow2 asraw && cmp asraw a.qcow2"
check "format=auto probes qcow2" same_as_qemu auto a.qcow2

# --- refusals and hostile images: a clean error, never a crash ---
patch() { # patch FILE OFFSET HEXBYTES
	printf "$(echo "$3" | sed 's/../\\x&/g')" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
qemu-img create -q -f qcow2 h.qcow2 16M
qemu_io -c 'write -P 1 0 1M' h.qcow2
hostile() { # hostile NAME OFFSET HEX MESSAGE [rw]
	cp h.qcow2 "$1.qcow2"
	patch "$1.qcow2" "$2" "$3"
	fails_with "hostile: $1" "$4" "$D" open qcow2 "$1.qcow2" ${5:-ro}
}
hostile bad-magic 0 51464900 "bad magic"
hostile version-4 4 00000004 "version 4"
hostile cluster-bits-30 20 0000001e "cluster size"
hostile huge-size 24 4000000000000000 "too large"
hostile encrypted 32 00000001 "encrypted"
hostile l1-past-eof 40 0000001000000000 "past the end"
hostile l1-unaligned 40 0000000000030001 "L1 table offset"
hostile l1-too-small 36 00000000 "L1 table size"
hostile rt-at-zero 48 0000000000000000 "refcount table"
hostile rt-huge 56 7fffffff "refcount table"
hostile corrupt-bit 79 02 "marked corrupt"
hostile unknown-feature 79 20 "unknown incompatible qcow2 feature bit 5"
hostile data-file-bit 79 04 "external data files"
hostile extl2-bit 79 10 "extended L2"
hostile refcount-order 99 03 "8-bit refcounts"
hostile dirty-rw 79 01 "marked dirty" rw
hostile bad-extension 112 e2792aca00ffffff "runs past the header"
cp h.qcow2 dirty.qcow2 && patch dirty.qcow2 79 01
check "dirty image opens read-only" "$D" open qcow2 dirty.qcow2 ro
head -c 50 h.qcow2 >trunc.qcow2
fails_with "hostile: truncated header" "not a qcow2 image" "$D" open qcow2 trunc.qcow2
head -c 400000 h.qcow2 >trunc2.qcow2
fails_with "hostile: truncated data: an I/O error, no crash" "Input/output error" "$D" dump qcow2 trunc2.qcow2 x
# L2 entries pointing into the header and past the end of the file.
l2=$(python3 -c "import struct;f=open('h.qcow2','rb');f.seek(40);o,=struct.unpack('>Q',f.read(8));f.seek(o);print(struct.unpack('>Q',f.read(8))[0]&0xfffffffffe00)")
cp h.qcow2 l2hdr.qcow2 && patch l2hdr.qcow2 "$l2" 8000000000000200
fails_with "hostile: data cluster in the header" "Input/output error" "$D" dump qcow2 l2hdr.qcow2 x
cp h.qcow2 l2far.qcow2 && patch l2far.qcow2 "$l2" 80000f0000000000
fails_with "hostile: data cluster past the end" "Input/output error" "$D" dump qcow2 l2far.qcow2 x
cp h.qcow2 l2rt.qcow2 && patch l2rt.qcow2 "$l2" 8000000000010000
fails_with "hostile: data cluster on the refcount table" "Input/output error" "$D" dump qcow2 l2rt.qcow2 x
# qcow2_set IMG WHAT INDEX EXPR: sets entry INDEX of the L1 table (WHAT l1),
# the refcount table (rt) or the first L2 table (l2) to the Python
# expression EXPR of e (the entry), l1, rt, rb, l2 (where the L1 table, the
# refcount table, the first refcount block and the first L2 table are) and
# size (of the file).
qcow2_set() {
	python3 - "$@" <<'EOF'
import os, struct, sys
path, what, i, expr = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
f = open(path, 'r+b')
def q(at):
    f.seek(at)
    return struct.unpack('>Q', f.read(8))[0]
l1, rt = q(40), q(48)
rb, l2 = q(rt) & ~0x1ff, q(l1) & 0xfffffffffe00
size = os.path.getsize(path)
at = {'l1': l1, 'rt': rt, 'l2': l2}[what] + 8 * i
e = q(at)
f.seek(at)
f.write(struct.pack('>Q', eval(expr) & (2**64 - 1)))
EOF
}
# unchanged_after DESCRIPTION MESSAGE IMG COMMAND...: the command fails with
# MESSAGE and IMG is byte for byte what it was.
unchanged_after() {
	local d=$1 msg=$2 img=$3; shift 3
	local before; before=$(md5sum <"$img")
	fails_with "$d" "$msg" "$@"
	check "$d: the image is unchanged" [ "$before" = "$(md5sum <"$img")" ]
}
# Compressed clusters (64 KiB clusters: offset in bits 0-53, sectors above)
# whose offset points at metadata or out of the file: reading, overwriting
# (which frees the old cluster) and discarding fail without touching
# anything, refcounts included.
yes nook | head -c 1M >comp.raw
qemu-img convert -c -O qcow2 comp.raw comp.qcow2
check "compressed cluster test image is compressed" bash -c "qemu-img check comp.qcow2 | grep -q '100.00% compressed'"
for target in 0:header l1:L1-table rt:refcount-table rb:refcount-block l2:L2-table "1<<40:past-the-end" \
	"size-512|255<<54:running-past-the-end"; do
	cp comp.qcow2 zc.qcow2
	qcow2_set zc.qcow2 l2 0 "e & ~((1<<54)-1) | ${target%%:*}"
	name="hostile: compressed cluster at the ${target#*:}"
	fails_with "$name: read" "Input/output error" "$D" dump qcow2 zc.qcow2 x
	unchanged_after "$name: overwrite" "Input/output error" zc.qcow2 "$D" write qcow2 zc.qcow2 0 65536
	unchanged_after "$name: discard" "Input/output error" zc.qcow2 "$D" discard qcow2 zc.qcow2 0 65536
done
# Data clusters on metadata: writing or discarding them would rewrite or
# punch out the image's own tables.
for target in rb:refcount-block l2:L2-table; do
	cp h.qcow2 zd.qcow2
	qcow2_set zd.qcow2 l2 0 "1<<63 | ${target%%:*}"
	name="hostile: data cluster on the ${target#*:}"
	unchanged_after "$name: write" "Input/output error" zd.qcow2 "$D" write qcow2 zd.qcow2 0 512
	unchanged_after "$name: discard" "Input/output error" zd.qcow2 "$D" discard qcow2 zd.qcow2 0 65536
done
# Found by fuzz_qcow2: an L2 entry pointing past the end of the file, where
# new clusters go; once nook allocated a cluster there (for other guest
# data, or a table), two guest clusters shared it. Such a table is refused.
for flags in "1<<63:data" "1:preallocated-zero"; do
	cp h.qcow2 zf.qcow2
	qcow2_set zf.qcow2 l2 40 "${flags%%:*} | (size + 65535) // 65536 * 65536"
	unchanged_after "hostile: ${flags#*:} cluster where new clusters will go: write elsewhere" \
		"Input/output error" zf.qcow2 "$D" write qcow2 zf.qcow2 $((32 * 65536)) 65536
done
# Tables on tables, checked when the image is opened.
qemu-img create -q -f qcow2 two.qcow2 2G
qemu_io -c 'write -P 1 0 64k' -c 'write -P 2 1G 64k' two.qcow2
cp two.qcow2 tt.qcow2 && qcow2_set tt.qcow2 l1 1 "l2 | 1<<63"
fails_with "hostile: two L1 entries share an L2 table" "share the cluster" "$D" open qcow2 tt.qcow2
cp two.qcow2 tt.qcow2 && qcow2_set tt.qcow2 l1 1 "rb | 1<<63"
fails_with "hostile: an L2 table on a refcount block" "share the cluster" "$D" open qcow2 tt.qcow2
cp two.qcow2 tt.qcow2 && qcow2_set tt.qcow2 rt 1 "rb"
fails_with "hostile: two refcount table entries share a block" "share the cluster" "$D" open qcow2 tt.qcow2
for target in l1:L1-table rt:refcount-table "1<<40:past-the-end" "l2+512:unaligned-offset"; do
	cp two.qcow2 tt.qcow2 && qcow2_set tt.qcow2 l1 1 "${target%%:*} | 1<<63"
	fails_with "hostile: an L2 table at the ${target#*:}" "bad L2 table offset" "$D" open qcow2 tt.qcow2
	cp two.qcow2 tt.qcow2 && qcow2_set tt.qcow2 rt 1 "${target%%:*}"
	fails_with "hostile: a refcount block at the ${target#*:}" "bad refcount block offset" "$D" open qcow2 tt.qcow2
done
qemu-img create -q -f qcow2 loop.qcow2 1M && qemu-img rebase -q -u -f qcow2 -b loop.qcow2 -F qcow2 loop.qcow2
fails_with "hostile: backing file loop" "backing file loop" "$D" --backing open qcow2 loop.qcow2
qemu-img create -q -f qcow2 loop-a.qcow2 1M && qemu-img create -q -f qcow2 -b loop-a.qcow2 -F qcow2 loop-b.qcow2
qemu-img rebase -q -u -f qcow2 -b loop-b.qcow2 -F qcow2 loop-a.qcow2
fails_with "hostile: backing file loop through another image" "backing file loop" "$D" --backing open qcow2 loop-a.qcow2
qemu-img create -q -f qcow2 -o data_file=ext.raw ext.qcow2 1M
fails_with "external data file refused" "external data files" "$D" open qcow2 ext.qcow2
if qemu-img create -q -f qcow2 -o compression_type=zstd zstd.qcow2 1M 2>/dev/null; then
	fails_with "zstd compression refused" "compression types" "$D" open qcow2 zstd.qcow2
fi
qemu-img create -q -f qcow2 snap.qcow2 1M && qemu-img snapshot -c s1 snap.qcow2
fails_with "internal snapshots: writing refused" "internal snapshots" "$D" open qcow2 snap.qcow2 rw
fails_with "vmdk cannot be opened read-write" "read-only" "$D" open vmdk a.qcow2 rw
fails_with "missing file" "No such file" "$D" open raw "$work/none"

# --- VMDK (read-only) ---
for sub in monolithicSparse streamOptimized; do
	qemu-img convert -O vmdk -o subformat=$sub src.raw v-$sub.vmdk
	check "vmdk $sub: read back" same_as_qemu vmdk v-$sub.vmdk
done
# A descriptor names its extents: other files, allowed only on request.
for sub in monolithicFlat twoGbMaxExtentSparse twoGbMaxExtentFlat; do
	qemu-img convert -O vmdk -o subformat=$sub src.raw v-$sub.vmdk
	fails_with "vmdk $sub: extents refused by default" "backing=on" "$D" dump vmdk v-$sub.vmdk x
	check "vmdk $sub: read back with extents allowed" same_as_qemu --backing vmdk v-$sub.vmdk
done
check "format=auto probes vmdk (sparse)" same_as_qemu auto v-monolithicSparse.vmdk
check "format=auto probes vmdk (descriptor)" same_as_qemu --backing auto v-monolithicFlat.vmdk
fails_with "format=auto: a probed descriptor's extents are refused by default" "backing=on" \
	"$D" open auto v-monolithicFlat.vmdk
sed 's/parentCID=ffffffff/parentCID=12345678/' v-monolithicFlat.vmdk >vparent.vmdk
fails_with "vmdk with a parent refused" "parent" "$D" --backing open vmdk vparent.vmdk
cp v-monolithicSparse.vmdk vbad.vmdk && patch vbad.vmdk 20 0300000000000000
fails_with "hostile vmdk: grain size 3" "grain size" "$D" open vmdk vbad.vmdk
cp v-monolithicSparse.vmdk vbad.vmdk && patch vbad.vmdk 56 ffffff0000000000
fails_with "hostile vmdk: grain directory past the end" "grain directory" "$D" open vmdk vbad.vmdk
cp v-monolithicSparse.vmdk vbad.vmdk && patch vbad.vmdk 12 ffffffffffffff00
fails_with "hostile vmdk: absurd capacity" "too large" "$D" open vmdk vbad.vmdk
# A sparse extent with a 16 MiB grain directory (4 Mi grains of one sector,
# one per grain table), named 64 times by one descriptor: 1 GiB of tables
# in memory from a 16 MiB file that is mostly a hole.
python3 -c "
import struct, sys
h = struct.pack('<IIIQQQQIQQQ', 0x564d444b, 1, 0, 4 << 20, 1, 0, 0, 1, 0, 1, 0)
f = open(sys.argv[1], 'wb'); f.write(h.ljust(512, b'\0')); f.truncate(512 + (16 << 20))" vgd.vmdk
check "vmdk with a 16 MiB grain directory: opens" "$D" open vmdk vgd.vmdk
lines=(); for _ in $(seq 64); do lines+=('RW 4194304 SPARSE "vgd.vmdk"'); done
vmdk_desc vgd64.vmdk "${lines[@]}"
fails_with "hostile vmdk: 64 extents of 16 MiB grain directories" "grain directories" "$D" --backing open vmdk vgd64.vmdk
head -c 200000 v-streamOptimized.vmdk >vtrunc.vmdk
fails_with "hostile vmdk: truncated stream: an I/O error" "Input/output error" "$D" dump vmdk vtrunc.vmdk x

# --- files an image names (backing files, extents): only on request, only
# beneath the image's own directory, only regular files, formats recorded ---
# hide_backing_format IMG: the backing format extension becomes an unknown
# one (which readers ignore), as in images written by old tools.
hide_backing_format() {
	python3 -c "import sys;p=sys.argv[1];d=open(p,'rb').read();open(p,'wb').write(d.replace(bytes.fromhex('e2792aca'),bytes.fromhex('0badf00d'),1))" "$1"
}
# with_backing NAME FORMAT IMG: a new 1 MiB qcow2 naming NAME, whatever it is.
with_backing() { qemu-img create -q -f qcow2 -u -b "$1" -F "$2" "$3" 1M; }
mkdir -p ref/sub ref/dir
head -c 1M /dev/urandom >ref/base.raw
head -c 1M /dev/urandom >ref/sub/base.raw
echo "a host file outside the image's directory" >outside.raw
qemu-img create -q -f qcow2 -b base.raw -F raw ref/top.qcow2
qemu_io -c 'write -P 0x42 64k 64k' ref/top.qcow2
fails_with "backing file refused by default, with the way to allow it" "backing=on" "$D" dump qcow2 ref/top.qcow2 x
fails_with "backing file refused by default: the message names the image" "ref/top.qcow2" "$D" open qcow2 ref/top.qcow2
fails_with "backing file refused by default: the message names the backing file" '"base.raw"' "$D" open qcow2 ref/top.qcow2
check "backing file allowed on request" same_as_qemu --backing qcow2 ref/top.qcow2
check "backing file allowed on request (absolute image path)" same_as_qemu --backing qcow2 "$work/ref/top.qcow2"
with_backing /etc/passwd raw ref/abs.qcow2
fails_with "backing file /etc/passwd: refused" "absolute path" "$D" --backing open qcow2 ref/abs.qcow2
fails_with "backing file /etc/passwd: refused by default" "backing=on" "$D" open qcow2 ref/abs.qcow2
with_backing "$work/ref/base.raw" raw ref/abs2.qcow2
fails_with "backing file: an absolute path into the same directory is refused too" "absolute path" \
	"$D" --backing open qcow2 ref/abs2.qcow2
with_backing ../outside.raw raw ref/dotdot.qcow2
fails_with "backing file ../outside.raw: refused" '".." component' "$D" --backing open qcow2 ref/dotdot.qcow2
with_backing sub/../base.raw raw ref/dotdot2.qcow2
fails_with "backing file sub/../base.raw: refused (no .. at all)" '".." component' "$D" --backing open qcow2 ref/dotdot2.qcow2
ln -s ../outside.raw ref/out-rel.raw
ln -s "$work/outside.raw" ref/out-abs.raw
ln -s /etc ref/etc
for name in out-rel.raw out-abs.raw etc/passwd; do
	with_backing "$name" raw ref/link.qcow2
	fails_with "backing file $name (a symlink out of the directory): refused" "leads outside" \
		"$D" --backing open qcow2 ref/link.qcow2
done
ln -s base.raw ref/in.raw
ln -s sub ref/sublink
for name in in.raw sublink/base.raw sub/base.raw; do
	with_backing "$name" raw ref/inside.qcow2
	check "backing file $name (inside the directory): allowed" same_as_qemu --backing qcow2 ref/inside.qcow2
done
# A chain resolves each level beneath its own directory (as qemu does):
# sub/mid.qcow2's "base.raw" is sub/base.raw, and its "../base.raw" is out.
qemu-img create -q -f qcow2 -b base.raw -F raw ref/sub/mid.qcow2
qemu_io -c 'write -P 0x17 300k 20k' ref/sub/mid.qcow2
qemu-img create -q -f qcow2 -b sub/mid.qcow2 -F qcow2 ref/chain.qcow2
check "backing chain through a subdirectory: allowed, read back" same_as_qemu --backing qcow2 ref/chain.qcow2
with_backing ../base.raw raw ref/sub/up.qcow2
with_backing sub/up.qcow2 qcow2 ref/chain-up.qcow2
fails_with "backing chain: a lower level may not leave its own directory" '".." component' \
	"$D" --backing open qcow2 ref/chain-up.qcow2
with_backing /dev/vda raw ref/dev.qcow2
fails_with "backing file /dev/vda: refused" "absolute path" "$D" --backing open qcow2 ref/dev.qcow2
with_backing dir raw ref/isdir.qcow2
fails_with "backing file that is a directory: refused" "not a regular file" "$D" --backing open qcow2 ref/isdir.qcow2
mkfifo ref/fifo
with_backing fifo raw ref/fifo.qcow2
fails_with "backing file that is a FIFO: refused, no hang" "not a regular file" \
	timeout 20 "$D" --backing open qcow2 ref/fifo.qcow2
fails_with "a FIFO named as the disk: refused, no hang" "not a regular file" timeout 20 "$D" open raw ref/fifo
blkdev=$(find /dev -maxdepth 1 -type b 2>/dev/null | head -1)
if [ "$(id -u)" = 0 ] && [ -n "$blkdev" ] &&
	mknod ref/blk b $(stat -c '0x%t 0x%T' "$blkdev") 2>/dev/null; then
	with_backing blk raw ref/blk.qcow2
	fails_with "backing file that is a block device: refused" "not a regular file" \
		"$D" --backing open qcow2 ref/blk.qcow2
	check "a block device named as the disk: allowed" "$D" open raw ref/blk
else
	echo "# no block device node can be made here: block device tests skipped"
fi
cp ref/top.qcow2 ref/nofmt.qcow2 && hide_backing_format ref/nofmt.qcow2
fails_with "backing format not recorded: refused, not guessed" "format is not recorded" \
	"$D" --backing open qcow2 ref/nofmt.qcow2
python3 -c "import sys;p=sys.argv[1];d=open(p,'rb').read();i=d.index(bytes.fromhex('e2792aca00000003'))+8;open(p,'wb').write(d[:i]+b'qed'+d[i+3:])" ref/top.qcow2
cp ref/top.qcow2 ref/qed.qcow2 && qemu-img rebase -q -u -b base.raw -F raw ref/top.qcow2
fails_with "backing format qed: refused" 'format "qed" is not supported' "$D" --backing open qcow2 ref/qed.qcow2
# A raw base that holds a vmdk descriptor (a guest can write one) stays raw:
# the descriptor's extents must never be opened.
printf '# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 8 FLAT "/etc/passwd" 0\nRW 8 FLAT "../outside.raw" 0\n' >ref/desc.raw
truncate -s 1M ref/desc.raw
qemu-img create -q -f qcow2 -b desc.raw -F raw ref/desc.qcow2
check "raw base holding a vmdk descriptor: read as raw" same_as_qemu --backing qcow2 ref/desc.qcow2
hide_backing_format ref/desc.qcow2
fails_with "raw base holding a vmdk descriptor, format not recorded: refused" "format is not recorded" \
	"$D" --backing dump qcow2 ref/desc.qcow2 x
# vmdk extents.
vmdk_desc ref/ok.vmdk 'RW 2048 FLAT "base.raw" 0' 'RW 2048 FLAT "sub/base.raw" 0'
check "vmdk extents inside the directory: allowed" same_as_qemu --backing vmdk ref/ok.vmdk
fails_with "vmdk extents: refused by default" "backing=on" "$D" open vmdk ref/ok.vmdk
# (qemu skips ZERO extents, so zeroes are the reference here.)
vmdk_desc ref/zero.vmdk 'RW 100 ZERO'
check "vmdk with ZERO extents only (no other file): allowed by default" \
	bash -c "'$D' dump vmdk ref/zero.vmdk zero.out && cmp zero.out <(head -c 51200 /dev/zero)"
for name in /etc/passwd "$work/ref/base.raw" ../outside.raw sub/../base.raw out-rel.raw etc/passwd dir fifo; do
	vmdk_desc ref/bad.vmdk 'RW 8 FLAT "base.raw" 0' "RW 8 FLAT \"$name\" 0"
	case $name in
	/*) msg="absolute path" ;; *..*) msg='".." component' ;; dir | fifo) msg="not a regular file" ;;
	*) msg="leads outside" ;;
	esac
	fails_with "vmdk extent $name: refused" "$msg" timeout 20 "$D" --backing open vmdk ref/bad.vmdk
	fails_with "vmdk extent $name: refused by default" "backing=on" timeout 20 "$D" open vmdk ref/bad.vmdk
done
vmdk_desc ref/bad.vmdk 'RW 8 SPARSE "/etc/passwd"'
fails_with "vmdk sparse extent /etc/passwd: refused" "absolute path" "$D" --backing open vmdk ref/bad.vmdk
if [ -e ref/blk ]; then
	vmdk_desc ref/bad.vmdk 'RW 8 FLAT "blk" 0'
	fails_with "vmdk extent that is a block device: refused" "not a regular file" "$D" --backing open vmdk ref/bad.vmdk
fi
# A qcow2 whose backing file is such a descriptor: the chain allows extents
# only beneath the descriptor's directory too.
vmdk_desc ref/bad.vmdk 'RW 8 FLAT "/etc/passwd" 0'
qemu-img create -q -f qcow2 -u -b bad.vmdk -F vmdk ref/vtop.qcow2 1M
fails_with "qcow2 over a vmdk descriptor naming /etc/passwd: refused" "absolute path" \
	"$D" --backing open qcow2 ref/vtop.qcow2

tap_done
