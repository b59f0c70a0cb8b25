#!/bin/bash
# Exec into a running sandbox, end to end (TAP): ONE boot of an idle VM
# (no program) with vsock, driven through the public API by
# tests/e2e/exec_driver (what it checks is listed there). The concurrent
# execs' count and size come from NOOK_E2E_EXEC_N (default 4) and
# NOOK_E2E_EXEC_BYTES (default 64 KiB): small, because on PVM hosts, where
# guest kernel code is emulated, one exec costs seconds and the guest moves
# about 0.02-0.3 MiB/s; the driver prints where the time went.
# Usage: test_e2e_exec.sh EXEC_DRIVER
set -u
. "$(dirname "$0")/../lib/tap.sh"
DRIVER=$1
execs=${NOOK_E2E_EXEC_N:-4}
bytes=${NOOK_E2E_EXEC_BYTES:-65536}
work=$(mktemp -d /tmp/nook-e2e-exec-XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir "$work/data"
timeout -k 10 "${NOOK_E2E_EXEC_TIMEOUT:-600}" "$DRIVER" "$work/vsock.sock" "$work/data" "$execs" "$bytes" \
	>"$work/driver.out" 2>"$work/driver.err"
echo $? >"$work/driver.status"
tap_lines "$work/driver.out"
sed 's/^/# stderr: /' "$work/driver.err" | tail -20
check "exec driver: status 0" equals "$(cat "$work/driver.status")" 0
tap_done
