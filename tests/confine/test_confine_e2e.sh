#!/bin/bash
# Confinement end to end, through the nook binary and the real guest: the
# jail's running process seen from the host (every thread under seccomp
# with no_new_privs, no capabilities but the fs workers' three, its uid,
# its root file system, the share's mount), what the guest leaves in a
# share; a user that is not root running the README's first command
# (Landlock); --no-jail and --no-seccomp. Four boots. Output is TAP.
# Usage: test_confine_e2e.sh NOOK KERNEL_DIR (as root: the jail, and the
# switch to another user)
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$(realpath "$1")
KERNEL_DIR=$2
BUILD=$(dirname "$(dirname "$NOOK")")
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-300}
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP the jail and the user switch need root"
	exit 0
fi
work=$(mktemp -d /tmp/nook-confine-e2e-XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
top() { echo "$1" | cut -d/ -f2; }

# --- Boot 1: the jail, looked at while the guest waits for the host ---
mkdir "$work/share"
# Cold (--snapshot off), so that the kernel's boot log is there to check.
"$NOOK" run --jail-uid 4242:4343 --snapshot off -v "$work/share:/data" --kernel-log "$work/console" -- sh -c '
	echo ready
	while [ ! -e /data/go ]; do sleep 1; done
	echo made-in-guest >/data/from-guest' </dev/null >"$work/jail.out" 2>"$work/jail.err" &
nook_pid=$!
# No output of its own: its sleep outlives the kill at exit, and the test
# harness waits for every holder of our stdout.
( sleep "$BOOT_TIMEOUT"; kill -9 "$nook_pid" ) >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq "$BOOT_TIMEOUT"); do
	grep -q ready "$work/jail.out" 2>/dev/null && break
	kill -0 "$nook_pid" 2>/dev/null || break
	sleep 1
done
child=$(pgrep -P "$nook_pid")
check "jail: the guest runs, in a child of nook" test -n "$child" -a -d "/proc/${child:-none}/task"
threads() { # one line per thread: comm Uid CapEff NoNewPrivs Seccomp (status order)
	for t in /proc/"$child"/task/*; do
		printf '%s %s\n' "$(cat "$t/comm")" "$(awk '/^Seccomp:|^NoNewPrivs:|^CapEff:/ {printf "%s ", $2} /^Uid:/ {printf "%s ", $2}' "$t/status")"
	done
}
threads >"$work/threads"
sed 's/^/# /' "$work/threads"
check "jail: every thread: seccomp filter" bash -c "! awk '\$5 != 2' '$work/threads' | grep -q ."
check "jail: every thread: no_new_privs" bash -c "! awk '\$4 != 1' '$work/threads' | grep -q ."
check "jail: every thread runs as uid 4242" bash -c "! awk '\$2 != 4242' '$work/threads' | grep -q ."
check "jail: no capabilities but on fs workers" bash -c "! awk '\$1 !~ /^fs-/ && \$3 != \"0000000000000000\"' '$work/threads' | grep -q ."
check "jail: fs workers keep CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID only" bash -c "grep -q '^fs-' '$work/threads' && ! awk '\$1 ~ /^fs-/ && \$3 != \"000000000000001f\"' '$work/threads' | grep -q ."
check "jail: vCPU, I/O and fs worker threads are there" bash -c "grep -q '^vcpu-0 ' '$work/threads' && grep -q '^nook-io ' '$work/threads'"
# The root holds /dev (kvm only), /proc and the tops of the paths the VM
# uses: the kernel, the build tree (rootfs, nook-init), the share and the
# kernel log, the working directory; /sys on PVM hosts (its marker).
expected=$( (echo dev; echo proc; top "$KERNEL_DIR"; top "$BUILD"; top "$work"; top "$PWD"
	[ -d /sys/module/kvm_pvm ] && echo sys) | sort -u | tr '\n' ' ')
got=$(ls -A "/proc/$child/root" | sort | tr '\n' ' ')
check "jail: / holds only [$expected]" equals "$got" "$expected"
check "jail: /dev holds only kvm" equals "$(ls -A "/proc/$child/root/dev" | tr '\n' ' ')" "kvm "
check "jail: nothing else of the host is there" test ! -e "/proc/$child/root/etc" -a ! -e "/proc/$child/root/usr"
check "jail: the share is mounted nosuid, nodev, noexec" bash -c "awk '\$5 == \"$work/share\" {print \$6}' /proc/$child/mountinfo | grep -q 'nosuid,nodev,noexec'"
check "jail: pid 1 of its own pid namespace" bash -c "grep -q '^NSpid:.*[[:space:]]1$' /proc/$child/status"
touch "$work/share/go"
wait "$nook_pid"
st=$?
check "jail: status 0" equals "$st" 0
check "jail: the guest wrote into the share" equals "$(cat "$work/share/from-guest" 2>&1)" made-in-guest
check "jail: the guest's file belongs to 4242:4343" equals "$(stat -c %u:%g "$work/share/from-guest")" 4242:4343
check "jail: the kernel log reached --kernel-log" contains "$work/console" "Linux version"
check "jail: the kernel log file belongs to 4242:4343" equals "$(stat -c %u:%g "$work/console")" 4242:4343

# --- Boot 2: a user that is not root, the README's first command ---
# /dev/kvm is root's here: in a private mount namespace a node of the
# user's own is bound over it. The built-in kernel, rootfs and nook-init
# are copied where the user can read them (NOOK_DATA_DIR), the rootfs
# owned by the user, as it is when the user built nook.
user=nobody group=$(id -gn nobody)
mkdir -m 755 "$work/user" "$work/user/data"
chmod 755 "$work"
cp "$KERNEL_DIR/vmlinux" "$BUILD/guest/init/nook-init" "$BUILD/guest/rootfs.cpio" "$work/user/data/"
cp -a "$BUILD/guest/rootfs" "$work/user/data/rootfs"
chown -R "$user:$group" "$work/user/data/rootfs"
read -r major minor < <(stat -c '%t %T' /dev/kvm)
mknod -m 600 "$work/user/kvm" c "$((16#$major))" "$((16#$minor))"
chown "$user:$group" "$work/user/kvm"
cd "$work/user" || exit 1
timeout -k 10 "$BOOT_TIMEOUT" unshare -m --propagation private sh -c '
	mount --bind "$1/kvm" /dev/kvm &&
	NOOK_DATA_DIR="$1/data" exec setpriv --reuid="$2" --regid="$3" --clear-groups \
		"$4" run --log-level info -- sh -c '\''echo "hello from $(uname -sr) with $(nproc) CPU"'\''
' sh "$work/user" "$user" "$group" "$NOOK" </dev/null >"$work/user.out" 2>"$work/user.err"
echo $? >"$work/user.status"
cd - >/dev/null || exit 1
check "user $user: status 0" equals "$(status user)" 0
check "user $user: the README's greeting" contains "$work/user.out" "hello from Linux"
check "user $user: Landlock limited its files" contains "$work/user.err" "Landlock ABI"
# NOOK_CACHE_DIR is root's test cache, out of this user's reach.
check "user $user: a cache it cannot use costs only the warm start" contains "$work/user.err" "booting cold without a snapshot"

# --- Boots 3 and 4: --no-jail, --no-seccomp ---
run nojail run --no-jail --log-level info -- sh -c 'echo no-jail-ok'
check "--no-jail: status 0" equals "$(status nojail)" 0
check "--no-jail: the program ran" contains "$work/nojail.out" "no-jail-ok"
check "--no-jail: no jail, Landlock instead" bash -c "! grep -q 'jail: running as' '$work/nojail.err' && grep -q 'Landlock ABI' '$work/nojail.err'"
run noseccomp run --no-seccomp -- sh -c 'echo no-seccomp-ok'
check "--no-seccomp: status 0" equals "$(status noseccomp)" 0
check "--no-seccomp: the program ran" contains "$work/noseccomp.out" "no-seccomp-ok"
tap_done
