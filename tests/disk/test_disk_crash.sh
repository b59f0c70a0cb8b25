#!/bin/bash
# Crash consistency (TAP): kill -9 the disk driver in the middle of heavy
# random qcow2 writes, again and again on the same image. After each kill
# `qemu-img check` must find no corruption (leaked clusters are allowed)
# and every block write that a flush completed before the kill must be
# there. Usage: test_disk_crash.sh DISK_DRIVER
set -u
. "$(dirname "$0")/../lib/tap.sh"
D=$(realpath "$1")
ROUNDS=${NOOK_CRASH_ROUNDS:-6}
work=$(mktemp -d /tmp/nook-crash-XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

# 64 KiB clusters; 512 B clusters, whose small refcount table has to move
# to the end of the file while the writes go on.
for cs in 65536 512; do
	img=crash-$cs.qcow2
	qemu-img create -q -f qcow2 -o cluster_size=$cs "$img" 32M
	rm -f state
	for round in $(seq 1 "$ROUNDS"); do
		"$D" crash qcow2 "$img" state "$round$cs" &
		pid=$!
		sleep "0.$((RANDOM % 7 + 2))"
		kill -9 "$pid"
		wait "$pid" 2>/dev/null
		qemu-img check "$img" >check.out 2>&1
		st=$?
		# 0: clean; 3: leaked clusters only.
		if [ "$st" = 0 ] || [ "$st" = 3 ]; then ok 0 "$cs: kill $round: qemu-img check finds no corruption"
		else sed 's/^/# /' check.out | head -20; ok 1 "$cs: kill $round: qemu-img check (status $st)"; fi
		qemu-img convert -O raw "$img" img.raw
		if "$D" verify img.raw state 2>verify.err; then ok 0 "$cs: kill $round: every flushed write is there"
		else sed 's/^/# /' verify.err; ok 1 "$cs: kill $round: flushed writes lost"; fi
	done
	grep -q "leaked" check.out && echo "# $cs: $(grep leaked check.out)"
done
tap_done
