#!/bin/bash
# The seccomp report through the nook binary, without booting: each role's
# thread, made to call a forbidden system call by
# NOOK_DEBUG_SECCOMP_VIOLATION once it is confined, ends nook with status
# 159 and a message naming the thread and the call. As root this runs in
# the jail, whose identity is checked too. Output is TAP.
# Usage: test_confine_hook.sh NOOK
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$1
BOOT_TIMEOUT=120
work=$(mktemp -d /tmp/nook-confine-hook-XXXXXX)
trap 'rm -rf "$work"' EXIT
truncate -s 1M "$work/disk.img"
mkdir "$work/share"

hook() { # hook NAME WHO EXPECTED-THREAD EXPECTED-ROLE NOOK-ARGS...
	local name=$1 who=$2 thread=$3 role=$4; shift 4
	NOOK_DEBUG_SECCOMP_VIOLATION=$who run "$name" run "$@" -- /bin/true
	check "$name: status 159" equals "$(status "$name")" 159
	check "$name: the report names thread and call" contains "$work/$name.err" \
		"nook: seccomp: thread \"$thread\" ($role) made a forbidden system call: personality (135); ending the process"
}
hook vcpu vcpu-1 vcpu-1 vcpu --cpus 2
hook io io nook-io io
# A share: the built-in root is in guest memory, not shared.
hook fs fs-0 fs-0 fs -v "$work/share:/mnt"
hook blk blk blk-0 blk --disk "$work/disk.img"
hook slirp slirp slirp slirp --net user
hook builder builder nook builder
hook controller controller nook controller
NOOK_DEBUG_SECCOMP_VIOLATION=vcpu run noseccomp run --no-seccomp --cpus 1 --kernel /nonexistent -- /bin/true
check "--no-seccomp: no filter, no report" lacks "$work/noseccomp.err" "seccomp"
check "--no-seccomp: the build goes on (status 125 for the missing kernel)" equals "$(status noseccomp)" 125

run badids run --jail-uid 0:5 -- /bin/true
check "--jail-uid 0: refused" equals "$(status badids)" 125
check "--jail-uid 0: message" contains "$work/badids.err" '--jail-uid "0:5": expected UID[:GID]'

if [ "$(id -u)" = 0 ]; then
	# The identity the jail picks, seen in the info log of a run the hook ends.
	ids() { NOOK_DEBUG_SECCOMP_VIOLATION=builder run "$1" run --log-level info "${@:2}" -- /bin/true; }
	SUDO_UID=1234 SUDO_GID=5678 ids sudo
	check "started through sudo: the jail runs as SUDO_UID:SUDO_GID" contains "$work/sudo.err" "jail: running as 1234:5678"
	default=65533:65533
	if entry=$(getent passwd nook); then default=$(echo "$entry" | cut -d: -f3,4); fi
	env -u SUDO_UID -u SUDO_GID "$NOOK" run --log-level info --kernel /nonexistent -- /bin/true >/dev/null 2>"$work/default.err"
	check "by default the jail runs as $default" contains "$work/default.err" "jail: running as $default"
	SUDO_UID=1234 SUDO_GID=5678 ids chosen --jail-uid 4242
	check "--jail-uid UID beats sudo, group: UID's or the same number" contains "$work/chosen.err" "jail: running as 4242:"
else
	ok 0 "jail identities # SKIP not root"
fi
tap_done
