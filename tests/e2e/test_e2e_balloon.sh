#!/bin/bash
# virtio-balloon end to end (TAP). Before any boot: bad --balloon and
# --balloon-stats-interval values (status 125, the flag and value named).
# Then ONE boot through tests/e2e/balloon_driver (the public API): the
# guest fills its page cache from a share and drops it, and free page
# reporting must give most of the VMM's RSS growth back (before/peak/after
# printed); inflating with nook_vm_set_balloon_mib must lower the guest's
# MemFree; the statistics must be plausible. Guest kernel work is emulated
# on PVM hosts (seconds per MiB the guest touches), hence the small default
# sizes; NOOK_E2E_BALLOON_MIB and NOOK_E2E_BALLOON_INFLATE_MIB set them.
# Usage: test_e2e_balloon.sh NOOK BALLOON_DRIVER
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$1
DRIVER=$2
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-60}
alloc=${NOOK_E2E_BALLOON_MIB:-48}
inflate=${NOOK_E2E_BALLOON_INFLATE_MIB:-16}
work=$(mktemp -d /tmp/nook-e2e-balloon-XXXXXX)
trap 'rm -rf "$work"' EXIT

run badballoon run --balloon maybe -- /bin/true
check "--balloon maybe: status 125" equals "$(status badballoon)" 125
check "--balloon maybe: message" contains "$work/badballoon.err" '--balloon "maybe": expected on or off'
run badinterval run --balloon-stats-interval 1s -- /bin/true
check "--balloon-stats-interval 1s: status 125" equals "$(status badinterval)" 125
check "--balloon-stats-interval 1s: message" contains "$work/badinterval.err" '--balloon-stats-interval "1s"'
run biginterval run --balloon-stats-interval 86400001 -- /bin/true
check "--balloon-stats-interval 86400001: status 125" equals "$(status biginterval)" 125
check "--balloon-stats-interval 86400001: message" contains "$work/biginterval.err" 'up to 86400000'
run help run --help
check "--help lists --balloon" contains "$work/help.out" "--balloon on|off"
check "--help lists --balloon-stats-interval" contains "$work/help.out" "--balloon-stats-interval MS"

# The share the guest reads: a sparse file (the host writes its zeroes into
# guest memory, no disk space needed).
mkdir "$work/share"
truncate -s "${alloc}M" "$work/share/alloc"
timeout -k 10 "${NOOK_E2E_BALLOON_TIMEOUT:-1500}" "$DRIVER" "$work/share" "$alloc" "$inflate" \
	>"$work/driver.out" 2>"$work/driver.err"
echo $? >"$work/driver.status"
tap_lines "$work/driver.out"
sed 's/^/# stderr: /' "$work/driver.err" | tail -20
check "balloon driver: status 0" equals "$(cat "$work/driver.status")" 0
tap_done
