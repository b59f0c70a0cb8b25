#!/bin/bash
# virtio-fs DAX windows end to end (TAP). Bad --dax-window input is refused
# before any boot. A run without DAX makes (or finds) the machine's
# snapshot; then ONE boot with a DAX share and a plain one must restore
# it (shares are late devices) and show, with tests/e2e/dax_peer.c in the
# guest:
#   the DAX share mounted dax=always on a window of the asked size;
#   a MAP_SHARED mapping in the guest and the host's page cache are one:
#   the host reads the guest's store at once, the guest sees the host's
#   write in its mapping; the plain share, the control, does not show the
#   host's write (its pages are the guest's own copy);
#   files read and written through the window (cp of 3 MiB, spanning two
#   2 MiB units; an append) match the host's.
# The boot needs a guest kernel with CONFIG_FUSE_DAX, as the built-in one
# has (README, "DAX windows"): KERNEL_CONFIG is the kernel's .config;
# without the option a run with a window must fail saying why, and the
# boot is skipped, saying why.
# Usage: test_e2e_dax.sh NOOK GUEST_PEER KERNEL_CONFIG
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$1
GUEST_PEER=$2
KERNEL_CONFIG=$3
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-900}
work=$(mktemp -d /tmp/nook-e2e-dax-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/tools" "$work/dax" "$work/plain"

# --- Bad input: status 125 and a message, before any boot ---
run odd run --dax-window 3 -v "$work/dax:/dax" -- /bin/true
check "--dax-window 3: status 125" equals "$(status odd)" 125
check "--dax-window 3: message" contains "$work/odd.err" "DAX window of 3145728 bytes: must be a multiple of 2 MiB"
run dangling run -v "$work/dax:/dax" --dax-window 64 -- /bin/true
check "--dax-window without a -v after it: status 125" equals "$(status dangling)" 125
check "--dax-window without a -v after it: message" contains "$work/dangling.err" "--dax-window 64: no -v after it"
run big run --memory 256 --dax-window 8192 -v "$work/dax:/dax" -- /bin/true
check "a window over 16 times the memory: status 125" equals "$(status big)" 125
check "a window over 16 times the memory: message" contains "$work/big.err" "more than 4096 MiB in all"
run word run --dax-window lots -v "$work/dax:/dax" -- /bin/true
check "--dax-window lots: status 125" equals "$(status word)" 125

# A kernel without the option refuses the dax=always mount, and the user
# hears why: nook-init's message and nook's.
if ! grep -qx CONFIG_FUSE_DAX=y "$KERNEL_CONFIG" 2>/dev/null; then
	run nodax run --dax-window 4 -v "$work/dax:/dax" -- /bin/true
	check "a kernel without FUSE_DAX: status 125" equals "$(status nodax)" 125
	check "a kernel without FUSE_DAX: nook-init names the mount" contains "$work/nodax.err" \
		'on /dax (dax=always): Invalid argument'
	check "a kernel without FUSE_DAX: nook's message" contains "$work/nodax.err" \
		"nook-init failed in the guest: Invalid argument"
	echo "ok $((n + 1)) # SKIP the boot: the guest kernel has no CONFIG_FUSE_DAX ($KERNEL_CONFIG)"
	n=$((n + 1))
	tap_done
fi

# --- The machine's snapshot, without DAX ---
run plainrun run -- /bin/true
check "a run without DAX: status 0" equals "$(status plainrun)" 0

# --- One boot ---
cp "$GUEST_PEER" "$work/tools/dax_peer"
for d in dax plain; do
	head -c 12288 /dev/zero >"$work/$d/shared"
	printf host-1 | dd of="$work/$d/shared" conv=notrunc status=none
done
head -c $((3 << 20)) /dev/urandom >"$work/dax/big"
echo "line 1" >"$work/dax/small"
# Started as root, nook runs jailed as another user (README).
chmod -R a+rwX "$work"
page() { dd if="$1" bs=4096 skip="$2" count=1 status=none | tr -d '\0'; }
# The host's side of each share's round: once the guest has mapped the
# file, see its store (DAX only: at once) and write page 2.
host_side() {
	local f=$work/$1/shared i
	for i in $(seq $((BOOT_TIMEOUT * 5))); do [ -e "$f.ready" ] && break; sleep 0.2; done
	if [ "$1" = dax ]; then
		for i in $(seq 25); do
			[ "$(page "$f" 1)" = guest-2 ] && { echo "host saw guest-2"; break; }
			sleep 0.2
		done
	fi
	printf host-3 | dd of="$f" bs=4096 seek=2 conv=notrunc status=none
	echo "host wrote host-3"
}
(host_side dax >"$work/host-dax.out"; host_side plain >"$work/host-plain.out") &
pids+=($!)
script='
grep " /dax " /proc/mounts
grep " /plain " /proc/mounts
dmesg | grep "Cache len"
/tools/dax_peer share /dax/shared 120 && echo DAX_SHARE_OK
/tools/dax_peer share /plain/shared 8 || echo PLAIN_CONTROL_OK
cp /dax/big /dax/copy && echo COPIED
echo "line 2" >>/dax/small && cat /dax/small
echo GUEST_DONE
'
run boot run --log-level info -v "$work/tools:/tools:ro" --dax-window 64 -v "$work/dax:/dax" \
	-v "$work/plain:/plain" -- /bin/sh -c "$script"
out=$work/boot.out
check "boot: status 0" equals "$(status boot)" 0
[ "$(status boot)" = 0 ] || { sed 's/^/#   /' "$work/boot.err" | tail -20; sed 's/^/#   /' "$out" | tail -20; }
check "the DAX boot restored the machine's snapshot" contains "$work/boot.err" "restored from snapshot"
check "the DAX share is mounted dax=always" contains "$out" "/dax virtiofs rw,relatime,dax=always"
check "the plain share is not" lacks "$out" "/plain virtiofs rw,relatime,dax"
check "the guest found a 64 MiB window" contains "$out" "Cache len: 0x4000000"
check "guest mapping: reads the host's data" contains "$out" "page0=host-1"
check "host reads the guest's store into the mapping at once" contains "$work/host-dax.out" "host saw guest-2"
check "host file holds the guest's store" equals "$(page "$work/dax/shared" 1)" guest-2
check "guest mapping sees the host's write" contains "$out" DAX_SHARE_OK
check "control: a plain share's mapping does not" contains "$out" PLAIN_CONTROL_OK
check "3 MiB copied through the window" contains "$out" COPIED
check "the copy matches on the host" equals "$(cmp "$work/dax/big" "$work/dax/copy" 2>&1 && echo same)" same
check "an append through the window" equals "$(cat "$work/dax/small" 2>&1)" "line 1
line 2"
check "guest script ran to the end" contains "$out" GUEST_DONE
grep "page2=host-3 after" "$out" | sed 's/^/# DAX mapping: /'

tap_done
