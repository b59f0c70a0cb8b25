#!/bin/bash
# Tier 3: virtio-fs end to end — a directory rootfs, an overlay rootfs and
# shared directories and files, through the nook binary and the real guest
# kernel. Two boots, and a run that nook-init cannot set up (a volume's
# mount point beneath a file): status 125, nook-init's own message on
# stderr beside nook's. Output is TAP. Usage: test_e2e_fs.sh NOOK ROOTFS_DIR
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$1
ROOTFS=$2
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-300}
work=$(mktemp -d /tmp/nook-e2e-fs-XXXXXX)
trap 'rm -rf "$work"' EXIT

tree_sum() { (cd "$1" && find . -printf '%p %m %s %l\n' | LC_ALL=C sort && find . -type f -exec md5sum {} + | LC_ALL=C sort) | md5sum; }

# --- Bad input ---
run norootfs run --rootfs "$work/missing" -- /bin/true
check "missing rootfs: status 125" equals "$(status norootfs)" 125
check "missing rootfs: message names it" contains "$work/norootfs.err" "$work/missing: No such file or directory"
run badvol run -v "$work/missing:/data" -- /bin/true
check "missing volume: status 125" equals "$(status badvol)" 125
check "missing volume: message names it" contains "$work/badvol.err" "$work/missing"
run relvol run -v "$work:data" -- /bin/true
check "relative guest path: status 125" equals "$(status relvol)" 125
run twovol run -v "$work:/data" -v "$ROOTFS:/data/" -- /bin/true
check "two volumes on one path: status 125" equals "$(status twovol)" 125
check "two volumes on one path: message" contains "$work/twovol.err" "used by two shares"
run rootandoverlay run --rootfs "$ROOTFS" --overlay "$ROOTFS" -- /bin/true
check "--rootfs with --overlay: status 125" equals "$(status rootandoverlay)" 125

# --- Boot 1: a directory rootfs (read-write) and volumes ---
cp -a "$ROOTFS" "$work/root"
mkdir -p "$work/root/work" "$work/rw" "$work/ro"
echo "keep me" >"$work/root/work/old-name"
echo "delete me" >"$work/root/work/doomed"
echo "host data" >"$work/rw/from-host"
echo "read only" >"$work/ro/file"
printf 'single file\n' >"$work/single"
ro_before=$(tree_sum "$work/ro")
script='
cd /work && mv old-name new-name && rm doomed && echo "made in guest" >created && mkdir -p d/e && ln created hard && echo ok-root
cat /data/from-host && echo "guest data" >/data/from-guest && echo ok-rw
echo x >/ro/new 2>/dev/null || echo "ro-create-refused"
echo x >>/ro/file 2>/dev/null || echo "ro-write-refused"
rm /ro/file 2>/dev/null || echo "ro-rm-refused"
cat /etc/single
stat -c "%h %s" /work/created
grep -c virtiofs /proc/mounts
'
run boot1 run --rootfs "$work/root" -v "$work/rw:/data" -v "$work/ro:/ro:ro" -v "$work/single:/etc/single:ro" -- sh -c "$script"
check "boot 1: status 0" equals "$(status boot1)" 0
check "boot 1: guest rename/delete/create worked" contains "$work/boot1.out" "ok-root"
check "host sees the rename" test -f "$work/root/work/new-name" -a ! -e "$work/root/work/old-name"
check "host sees the delete" test ! -e "$work/root/work/doomed"
check "host sees the created file" equals "$(cat "$work/root/work/created" 2>&1)" "made in guest"
check "host sees the hard link" equals "$(stat -c %h "$work/root/work/created" 2>&1)" 2
check "host sees the new directories" test -d "$work/root/work/d/e"
check "guest saw its link count and size" contains "$work/boot1.out" "2 14"
check "rw volume: guest read the host's file" contains "$work/boot1.out" "host data"
check "rw volume: host sees the guest's file" equals "$(cat "$work/rw/from-guest" 2>&1)" "guest data"
check "ro volume: create refused" contains "$work/boot1.out" "ro-create-refused"
check "ro volume: write refused" contains "$work/boot1.out" "ro-write-refused"
check "ro volume: rm refused" contains "$work/boot1.out" "ro-rm-refused"
check "ro volume: host tree unchanged" equals "$(tree_sum "$work/ro")" "$ro_before"
check "single-file volume readable" contains "$work/boot1.out" "single file"
check "no overlay work dir left in a plain rootfs" test ! -e "$work/root/.nook-overlay-work"

# --- Boot 2: an overlay rootfs; only the top layer changes ---
mkdir -p "$work/l2/etc" "$work/top"
cp -a "$ROOTFS" "$work/l1"
echo "from layer 2" >"$work/l2/etc/motd"
echo "shadowed" >"$work/l2/etc/gone"
l1_before=$(tree_sum "$work/l1")
l2_before=$(tree_sum "$work/l2")
script='
cat /etc/motd && echo "changed in guest" >/etc/motd && rm /etc/gone && echo new >/etc/added && echo ok-overlay
if [ -e /.nook-overlay-work ]; then echo work-dir-visible; else echo work-dir-hidden; fi
cat /tmp/under-tmp/from-host
'
run boot2 run --overlay "$work/l1" --overlay "$work/l2" --overlay "$work/top" -v "$work/rw:/tmp/under-tmp" -- sh -c "$script"
check "boot 2: status 0" equals "$(status boot2)" 0
check "boot 2: guest read the middle layer" contains "$work/boot2.out" "from layer 2"
check "boot 2: guest writes worked" contains "$work/boot2.out" "ok-overlay"
check "boot 2: the work dir is hidden from the guest" contains "$work/boot2.out" "work-dir-hidden"
check "boot 2: a volume beneath /tmp is not covered by the guest's /tmp" contains "$work/boot2.out" "host data"
check "top layer holds the changed file" equals "$(cat "$work/top/etc/motd" 2>&1)" "changed in guest"
check "top layer holds the new file" equals "$(cat "$work/top/etc/added" 2>&1)" "new"
check "top layer holds a whiteout for the deleted file" test -c "$work/top/etc/gone"
check "bottom layer unchanged" equals "$(tree_sum "$work/l1")" "$l1_before"
check "middle layer unchanged" equals "$(tree_sum "$work/l2")" "$l2_before"

# --- nook-init fails: the guest's reason reaches the user ---
run initfail run -v "$work/rw:/etc/passwd/sub" -- /bin/true
check "mount point beneath a file: status 125" equals "$(status initfail)" 125
check "mount point beneath a file: nook-init's message" contains "$work/initfail.err" "nook-init: mkdir /etc/passwd/sub: Not a directory"
check "mount point beneath a file: nook's message" contains "$work/initfail.err" "nook-init failed in the guest: Not a directory"
tap_done
