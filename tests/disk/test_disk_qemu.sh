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
same_as_qemu() { # same_as_qemu FMT IMG [direct]: our read == qemu-img convert
	qemu-img convert -O raw "$2" "$work/qemu.raw" && "$D" dump "$1" "$2" "$work/nook.raw" ${3:-} &&
		cmp "$work/qemu.raw" "$work/nook.raw"
}
# nook_writes IMG SEED N [direct]: random writes, then qemu-img check and
# compare against the same writes applied to a raw copy.
nook_writes() {
	qemu-img convert -O raw "$1" "$work/ref.raw" && "$D" random qcow2 "$1" "$work/ref.raw" "$2" "$3" ${4:-} &&
		qemu-img check -q "$1" && qemu-img compare -q "$1" "$work/ref.raw"
}
qemu_io() { qemu-io "$@" >/dev/null; }
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
check "backing chain: read back" same_as_qemu qcow2 top.qcow2
check "backing chain: copy-on-write into the top" nook_writes top.qcow2 $((++seed)) 200
check "backing chain: the backing files are untouched" [ "$base_sum" = "$(md5sum <base.raw; md5sum <mid.qcow2)" ]
# Hide the backing format extension (unknown extensions are ignored).
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top2.qcow2
python3 -c "import sys;p=sys.argv[1];d=open(p,'rb').read();open(p,'wb').write(d.replace(bytes.fromhex('e2792aca'),bytes.fromhex('0badf00d'),1))" top2.qcow2
check "backing chain: backing format probed when not recorded" same_as_qemu qcow2 top2.qcow2

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
head -c 200000 h.qcow2 >trunc2.qcow2
fails_with "hostile: truncated data: an I/O error, no crash" "Input/output error" "$D" dump qcow2 trunc2.qcow2 x
# L2 entries pointing into the header and past the end of the file.
l2=$(python3 -c "import struct;f=open('h.qcow2','rb');f.seek(40);o,=struct.unpack('>Q',f.read(8));f.seek(o);print(struct.unpack('>Q',f.read(8))[0]&0xfffffffffe00)")
cp h.qcow2 l2hdr.qcow2 && patch l2hdr.qcow2 "$l2" 8000000000000200
fails_with "hostile: data cluster in the header" "Input/output error" "$D" dump qcow2 l2hdr.qcow2 x
cp h.qcow2 l2far.qcow2 && patch l2far.qcow2 "$l2" 80000f0000000000
fails_with "hostile: data cluster past the end" "Input/output error" "$D" dump qcow2 l2far.qcow2 x
cp h.qcow2 l2rt.qcow2 && patch l2rt.qcow2 "$l2" 8000000000010000
fails_with "hostile: data cluster on the refcount table" "Input/output error" "$D" dump qcow2 l2rt.qcow2 x
qemu-img create -q -f qcow2 loop.qcow2 1M && qemu-img rebase -q -u -f qcow2 -b loop.qcow2 -F qcow2 loop.qcow2
fails_with "hostile: backing file loop" "backing chain longer" "$D" open qcow2 loop.qcow2
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
for sub in monolithicSparse monolithicFlat streamOptimized twoGbMaxExtentSparse twoGbMaxExtentFlat; do
	qemu-img convert -O vmdk -o subformat=$sub src.raw v-$sub.vmdk
	check "vmdk $sub: read back" same_as_qemu vmdk v-$sub.vmdk
done
check "format=auto probes vmdk (sparse)" same_as_qemu auto v-monolithicSparse.vmdk
check "format=auto probes vmdk (descriptor)" same_as_qemu auto v-monolithicFlat.vmdk
cp v-monolithicSparse.vmdk vbad.vmdk && patch vbad.vmdk 20 0300000000000000
fails_with "hostile vmdk: grain size 3" "grain size" "$D" open vmdk vbad.vmdk
cp v-monolithicSparse.vmdk vbad.vmdk && patch vbad.vmdk 56 ffffff0000000000
fails_with "hostile vmdk: grain directory past the end" "grain directory" "$D" open vmdk vbad.vmdk
cp v-monolithicSparse.vmdk vbad.vmdk && patch vbad.vmdk 12 ffffffffffffff00
fails_with "hostile vmdk: absurd capacity" "too large" "$D" open vmdk vbad.vmdk
sed 's/parentCID=ffffffff/parentCID=12345678/' v-monolithicFlat.vmdk >vparent.vmdk
fails_with "vmdk with a parent refused" "parent" "$D" open vmdk vparent.vmdk
head -c 200000 v-streamOptimized.vmdk >vtrunc.vmdk
fails_with "hostile vmdk: truncated stream: an I/O error" "Input/output error" "$D" dump vmdk vtrunc.vmdk x

tap_done
