#!/bin/bash
# The split irqchip end to end: a VM with 40 devices beyond the usual ones
# (20 raw disks, 20 shares; 43 virtio devices with the console, rng and
# balloon; the root is in guest memory) built through irqchip_driver.c (the public API). The
# guest reads every disk (checksums compared with the host's) and lists
# every share, and its /proc/interrupts shows the devices' IRQs past the 24
# pins of KVM's own IOAPIC taking interrupts. The first boot is cold and
# saves the machine's snapshot; a second run restores it (the IOAPIC's
# section with it) and its guest must read the disks and see interrupts
# on the high pins again. Before those boots, the same VM without the
# split irqchip is refused with a message about the device limit, status
# 125, and no guest.
# Usage: test_e2e_irqchip.sh IRQCHIP_DRIVER
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$1
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-600}
work=$(mktemp -d /tmp/nook-e2e-irqchip-XXXXXX)
trap 'rm -rf "$work"' EXIT

devices=()
letters=(a b c d e f g h i j k l m n o p q r s t)
for i in $(seq -w 0 19); do
	# Distinct contents: a disk read through another's IRQ would show.
	head -c 65536 /dev/urandom >"$work/d$i.img"
	mkdir "$work/s$i"
	touch "$work/s$i/share-$i"
	devices+=(-d "$work/d$i.img" -v "$work/s$i:/mnt/s$i")
done

# --- Without the split irqchip: the device limit, before any boot ---
run nosplit "${devices[@]}" -- /bin/true
check "without split irqchip: status 125" equals "$(status nosplit)" 125
check "without split irqchip: names the limit" contains "$work/nosplit.err" "more than 19 virtio devices"
check "without split irqchip: names the way out" contains "$work/nosplit.err" "--split-irqchip"

# --- With it: one boot ---
# No pipelines in the guest: one program starts at a time (README, PVM
# hosts: known issue).
script='
for d in /dev/disk/by-id/virtio-*; do md5sum "$d"; done
for s in /mnt/s*; do ls "$s"; done
cat /proc/interrupts
echo GUEST_DONE
'
run split -s -r -k "$work/console.log" "${devices[@]}" -- /bin/sh -c "$script"
out=$work/split.out
check "split irqchip: status 0" equals "$(status split)" 0
[ "$(status split)" = 0 ] || { sed 's/^/#   /' "$work/split.err" | tail -20; sed 's/^/#   /' "$work/console.log" | tail -40; }
check "guest script ran to the end" contains "$out" GUEST_DONE
read_ok=0
for i in $(seq 0 19); do
	sum=$(md5sum <"$work/d$(printf %02d "$i").img" | cut -d' ' -f1)
	grep -qx "$sum  /dev/disk/by-id/virtio-vd${letters[$i]}" "$out" && read_ok=$((read_ok + 1))
done
check "the guest read all 20 disks, each its own image" equals "$read_ok" 20
listed=$(grep -c '^share-[0-9][0-9]$' "$out")
check "the guest listed all 20 shares" equals "$listed" 20
# "N: COUNT IO-APIC N-edge virtioK": the devices' pins and their interrupts.
virtio_irqs=$(grep -c 'IO-APIC.*virtio' "$out")
check "43 virtio devices have IO-APIC interrupts" equals "$virtio_irqs" 43
high_busy=$(awk '/IO-APIC.*virtio/ { irq = $1 + 0; if (irq > 23 && $2 > 0) n++ } END { print n + 0 }' "$out")
check "devices past pin 23 took interrupts (at least 20 of them)" test "$high_busy" -ge 20
grep 'IO-APIC' "$out" | tail -3 | sed 's/^/# /'

# --- A warm start of the same machine (a kernel log too: the same command
# line) from the snapshot just saved ---
run warm -s -k "$work/console-warm.log" "${devices[@]}" -- /bin/sh -c "$script"
out=$work/warm.out
check "warm start: status 0" equals "$(status warm)" 0
check "warm start: restored from the snapshot" contains "$work/warm.err" "restored from snapshot"
read_ok=0
for i in $(seq 0 19); do
	sum=$(md5sum <"$work/d$(printf %02d "$i").img" | cut -d' ' -f1)
	grep -qx "$sum  /dev/disk/by-id/virtio-vd${letters[$i]}" "$out" && read_ok=$((read_ok + 1))
done
check "warm start: the guest read all 20 disks" equals "$read_ok" 20
check "warm start: the guest listed all 20 shares" equals "$(grep -c '^share-[0-9][0-9]$' "$out")" 20
high_busy=$(awk '/IO-APIC.*virtio/ { irq = $1 + 0; if (irq > 23 && $2 > 0) n++ } END { print n + 0 }' "$out")
check "warm start: devices past pin 23 took interrupts" test "$high_busy" -ge 20

tap_done
