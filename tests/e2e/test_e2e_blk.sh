#!/bin/bash
# virtio-blk end to end (TAP), one boot: the guest formats a qcow2 disk
# with the host's mke2fs (brought in on a second, read-only raw disk, since
# busybox has no mkfs.ext4), mounts it, writes and syncs files, fails to
# write the read-only disk, and reads a third disk, a qcow2 image over a
# backing file (backing=on). The host then checks the qcow2 image with
# qemu-img check, e2fsck -n and debugfs, that the read-only image is
# unchanged and that the guest read the chain as qemu-img does. Before the
# boot: images that name other files are refused unless backing=on, and
# even then when the name leads out of the image's directory.
# Usage: test_e2e_blk.sh NOOK
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$1
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-420}
work=$(mktemp -d /tmp/nook-e2e-blk-XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- Bad --disk input: a clear message and status 125, before any boot ---
touch "$work/empty.img"
run badfmt run --disk "$work/empty.img,format=zip" -- /bin/true
check "--disk format=zip: status 125" equals "$(status badfmt)" 125
check "--disk format=zip: message" contains "$work/badfmt.err" 'unknown setting "format=zip"'
run nodisk run --disk "$work/none.img" -- /bin/true
check "--disk missing file: status 125" equals "$(status nodisk)" 125
check "--disk missing file: message" contains "$work/nodisk.err" "$work/none.img: No such file"
run vmdkrw run --disk "$work/empty.img,format=vmdk" -- /bin/true
check "--disk vmdk without ro: status 125" equals "$(status vmdkrw)" 125
check "--disk vmdk without ro: message" contains "$work/vmdkrw.err" "read-only"
run notqcow run --disk "$work/empty.img,format=qcow2" -- /bin/true
check "--disk raw file as qcow2: status 125" equals "$(status notqcow)" 125
check "--disk raw file as qcow2: message" contains "$work/notqcow.err" "not a qcow2 image"
run dupid run --disk "$work/empty.img,id=x" --disk "$work/empty.img,id=x,ro" -- /bin/true
check "--disk duplicate id: status 125" equals "$(status dupid)" 125
mkdir "$work/chain"
head -c 1M /dev/urandom >"$work/chain/base.raw"
qemu-img create -q -f qcow2 -b base.raw -F raw "$work/chain/top.qcow2"
qemu-io -c 'write -P 0x42 64k 64k' "$work/chain/top.qcow2" >/dev/null
qemu-img convert -O raw "$work/chain/top.qcow2" "$work/chain.raw"
chain_md5=$(md5sum <"$work/chain.raw" | cut -d' ' -f1)
run nobacking run --disk "$work/chain/top.qcow2,format=qcow2,ro" -- /bin/true
check "--disk with a backing file, no backing=on: status 125" equals "$(status nobacking)" 125
check "--disk with a backing file, no backing=on: message" contains "$work/nobacking.err" "backing=on"
qemu-img create -q -f qcow2 -u -b /etc/passwd -F raw "$work/chain/abs.qcow2" 1M
run absbacking run --disk "$work/chain/abs.qcow2,format=qcow2,ro,backing=on" -- /bin/true
check "--disk backing=on, backing file /etc/passwd: status 125" equals "$(status absbacking)" 125
check "--disk backing=on, backing file /etc/passwd: message" contains "$work/absbacking.err" "absolute path"

# --- The tools disk: mke2fs and the libraries it needs, on ext4 ---
mkdir "$work/tools"
mke2fs_bin=$(command -v mke2fs || echo /sbin/mke2fs)
cp "$mke2fs_bin" "$work/tools/mke2fs"
for lib in $(ldd "$mke2fs_bin" | grep -o '/[^ ]*'); do cp -L "$lib" "$work/tools/"; done
strip -s "$work/tools/"* 2>/dev/null
mke2fs -q -t ext4 -d "$work/tools" -L tools "$work/tools.img" 16M >/dev/null
tools_sum=$(md5sum <"$work/tools.img")
qemu-img create -q -f qcow2 "$work/data.qcow2" 32M

# No pipelines in the guest: one program starts at a time (README, PVM
# hosts: known issue).
script='
set -u
ls /dev/disk/by-id/
echo "$(cat /sys/block/vda/ro) $(cat /sys/block/vdb/ro) RO_FLAGS"
mkdir -p /tools /data
mount -t ext4 -o ro /dev/disk/by-id/virtio-tools /tools && echo TOOLS_MOUNTED
ld=$(ls /tools/ld-linux*)
t() { echo "T $(cut -d" " -f1 /proc/uptime) $1"; }
t mkfs
# Lazy init: zeroing tables costs guest kernel time, which is dear on PVM.
$ld --library-path /tools /tools/mke2fs -q -F -t ext4 -E lazy_itable_init=1,lazy_journal_init=1 \
	/dev/disk/by-id/virtio-data && echo MKFS_OK
t mount
mount -t ext4 -o noinit_itable /dev/disk/by-id/virtio-data /data && echo DATA_MOUNTED
t write
echo "hello from the guest" >/data/hello.txt
mkdir /data/dir && seq 1 5000 >/data/dir/numbers
head -c 65536 /dev/urandom >/data/random
md5sum /data/random >/tmp/sum; read -r sum _ </tmp/sum; echo "RANDOM_MD5=$sum"
t sync
sync && echo SYNCED
t umount
umount /data && echo DATA_UNMOUNTED
t ro
dd if=/dev/zero of=/dev/disk/by-id/virtio-tools bs=4096 count=1 conv=fsync 2>/dev/null && echo RO_DEVICE_WRITTEN
mount -o remount,rw /tools 2>/dev/null && touch /tools/x 2>/dev/null && echo RO_FS_WRITTEN
t chain
md5sum /dev/disk/by-id/virtio-chain >/tmp/sum; read -r sum _ </tmp/sum; echo "CHAIN_MD5=$sum"
echo GUEST_DONE
'
run boot run --kernel-log "$work/console.log" --disk "$work/tools.img,ro,id=tools" \
	--disk "$work/data.qcow2,format=qcow2,id=data,cache=writeback,sync=full" \
	--disk "$work/chain/top.qcow2,format=qcow2,ro,backing=on,id=chain" -- /bin/sh -c "$script"
out=$work/boot.out
check "boot: status 0" equals "$(status boot)" 0
[ "$(status boot)" = 0 ] || { sed 's/^/#   /' "$work/boot.err" | tail -20; sed 's/^/#   /' "$work/console.log" | tail -40; }
grep '^T ' "$work/boot.out" | sed 's/^/# guest uptime: /'
check "by-id links for both serials" contains "$out" "virtio-data"
check "by-id link for tools" contains "$out" "virtio-tools"
check "read-only flags: vda 1, vdb 0" contains "$out" "1 0 RO_FLAGS"
check "read-only disk mounted" contains "$out" TOOLS_MOUNTED
check "guest mkfs.ext4 on qcow2" contains "$out" MKFS_OK
check "qcow2 disk mounted" contains "$out" DATA_MOUNTED
check "files synced and unmounted" contains "$out" DATA_UNMOUNTED
check "guest could not write the read-only device" bash -c "! grep -q RO_DEVICE_WRITTEN '$out'"
check "guest could not remount the read-only disk rw" bash -c "! grep -q RO_FS_WRITTEN '$out'"
check "guest script ran to the end" contains "$out" GUEST_DONE
check "read-only image unchanged" equals "$(md5sum <"$work/tools.img")" "$tools_sum"
check "guest read the backing chain as qemu-img does" equals "$(sed -n 's/^CHAIN_MD5=//p' "$out")" "$chain_md5"

# --- Host side: the image nook wrote ---
check "qemu-img check: no errors" qemu-img check -q "$work/data.qcow2"
qemu-img convert -O raw "$work/data.qcow2" "$work/data.raw"
check "e2fsck -n: clean" bash -c "e2fsck -fn '$work/data.raw' >'$work/fsck.out' 2>&1 || { sed 's/^/#   /' '$work/fsck.out'; false; }"
check "hello.txt is there" equals "$(debugfs -R 'cat /hello.txt' "$work/data.raw" 2>/dev/null)" "hello from the guest"
check "dir/numbers is there" equals "$(debugfs -R 'cat /dir/numbers' "$work/data.raw" 2>/dev/null | md5sum)" "$(seq 1 5000 | md5sum)"
guest_md5=$(sed -n 's/^RANDOM_MD5=//p' "$out")
check "random (64 KiB) is there" equals "$(debugfs -R 'cat /random' "$work/data.raw" 2>/dev/null | md5sum | cut -d' ' -f1)" "${guest_md5:-none}"

tap_done
