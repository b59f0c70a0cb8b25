#!/bin/bash
# Named console ports, the console output and the kernel log, end to end
# (TAP), in two boots. Boot 1 (warm once the machine has a snapshot): the
# guest reads 1 MiB from a host file through one port and writes it back
# through another into a FIFO whose host reader is slow (sleeps between
# small reads), reads a FIFO a host writer feeds through a third, and talks
# both ways over a UNIX socket through a fourth; checksums on both sides,
# end of file both ways, the program's stdout and stderr in --console-output
# and a line the guest logs in --kernel-log. Boot 2 (cold, its own command
# line): --disable-implicit-console, after which the guest has no stdio
# ports, only nook-init's control port and the named ones. Boot 3
# (tests/e2e/ports_driver.c, the public API): a terminal port on a
# pseudo-terminal (raw while the VM exists, restored after) and ports of a
# custom backend. Before the boots: bad --console-port input exits 125 with
# a message.
# Usage: test_e2e_console.sh NOOK PORTS_DRIVER
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$1
PORTS_DRIVER=$2
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-300}
# What goes through the ports. Guest kernel copies are emulated here:
# measured 20-110 KiB/s a port depending on the host's load, so a boot
# with 256 KiB stays within about a minute.
DATA_KIB=${NOOK_E2E_CONSOLE_KIB:-256}
FIFO_KIB=256
work=$(mktemp -d /tmp/nook-e2e-console-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

# --- Bad input: status 125 and a message naming the port ---
bad() { # NAME EXPECTED-TEXT ARGS...
	local name=$1 text=$2
	shift 2
	run "$name" run "$@" -- /bin/true
	check "$name: status 125" equals "$(status "$name")" 125
	check "$name: message" contains "$work/$name.err" "$text"
}
touch "$work/sink"
bad noequals 'expected NAME=PATH' --console-port justaname
bad slash "'/'" --console-port "a/b=$work/sink"
bad dotdot 'console port ".."' --console-port "..=$work/sink"
bad reserved 'reserved' --console-port "nook.stdout=$work/sink"
bad dup 'used by two ports' --console-port "p=$work/sink" --console-port "p=$work/sink"
bad long '1 to 63 bytes' --console-port "$(printf 'n%.0s' $(seq 64))=$work/sink"
bad noinput "$work/none" --console-port "p=in:$work/none"
bad outnoimplicit 'disabled' --disable-implicit-console --console-output "$work/co"
run runhelp run --help
check "run --help lists --console-port, --kernel-log, --disable-implicit-console" \
	bash -c "grep -qF -- '--console-port NAME=PATH' '$work/runhelp.out' && grep -qF -- '--kernel-log FILE' '$work/runhelp.out' && grep -qF -- '--disable-implicit-console' '$work/runhelp.out'"

# --- Boot 1 ---
head -c $((DATA_KIB * 1024)) /dev/urandom >"$work/data.in"
head -c $((FIFO_KIB * 1024)) /dev/urandom >"$work/fifo.src"
data_md5=$(md5sum <"$work/data.in" | cut -d' ' -f1)
fifo_md5=$(md5sum <"$work/fifo.src" | cut -d' ' -f1)
mkfifo "$work/out.fifo" "$work/in.fifo"
# The slow reader: 4 KiB at a time with a pause (slower than the guest
# writes), until end of file, which comes when the guest closes the port.
(
	exec 3<"$work/out.fifo"
	: >"$work/out.got"
	while :; do
		n=$(dd bs=4096 count=1 <&3 2>/dev/null | tee -a "$work/out.got" | wc -c)
		[ "$n" = 0 ] && break
		sleep 0.03
	done
	echo done >"$work/out.eof"
) &
pids+=($!)
# The FIFO writer: the guest reads it to end of file.
(cat "$work/fifo.src" >"$work/in.fifo") &
pids+=($!)
# The socket: the guest's line comes first, then its end of file (it closed
# the port); then the host's line for the guest, which reads it.
python3 - "$work/sock" "$work/sock.got" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1); s.settimeout(240)
c, _ = s.accept(); c.settimeout(240)
got = b""
while True:
    b = c.recv(4096)
    if not b:
        break
    got += b
open(sys.argv[2], "wb").write(got + b"<EOF>")
c.sendall(b"host-to-guest\n")
c.recv(1)  # until the VM ends
EOF
pids+=($!)
for _ in $(seq 100); do [ -S "$work/sock" ] && break; sleep 0.05; done

script='
t() { read -r a _ </proc/uptime; echo "T $1 $a" >&2; }
ls /dev/virtio-ports >/tmp/links
for n in /sys/class/virtio-ports/*/name; do read -r x <$n; echo "$x"; done >/tmp/names
echo LINKS $(cat /tmp/links) >&2
t start
cat /dev/virtio-ports/data >/tmp/data
t in
md5sum </tmp/data >/tmp/sum; read -r s _ </tmp/sum; echo "DATA_MD5=$s"
dd if=/tmp/data of=/dev/virtio-ports/slow bs=64k 2>/dev/null
t out
md5sum </dev/virtio-ports/fifo >/tmp/sum; read -r s _ </tmp/sum; echo "FIFO_MD5=$s"
echo guest-to-host >/dev/virtio-ports/sock
read -r line </dev/virtio-ports/sock; echo "SOCK_LINE=$line"
echo "nook-e2e-kmsg-marker" >/dev/kmsg
echo "ORDER-1"; echo "ORDER-2" >&2; echo "ORDER-3"
'
SECONDS=0
run boot1 run --kernel-log "$work/kernel.log" --console-output "$work/console.out" \
	--console-port "data=in:$work/data.in" --console-port "slow=$work/out.fifo" \
	--console-port "fifo=in:$work/in.fifo" --console-port "sock=$work/sock" \
	-- /bin/sh -c "$script"
echo "# boot 1: ${SECONDS} s"
check "boot 1: status 0" equals "$(status boot1)" 0
[ "$(status boot1)" = 0 ] || { sed 's/^/#   /' "$work/boot1.err" | tail -20; }
check "boot 1: /dev/virtio-ports links for the four ports" \
	contains "$work/boot1.err" "LINKS data fifo slow sock"
check "boot 1: the guest read the host file byte-exact" \
	contains "$work/boot1.out" "DATA_MD5=$data_md5"
for _ in $(seq 100); do [ -e "$work/out.eof" ] && break; sleep 0.1; done
check "boot 1: the slow host reader got everything, byte-exact" \
	equals "$(md5sum <"$work/out.got" | cut -d' ' -f1)" "$data_md5"
check "boot 1: the reader saw end of file when the guest closed the port" test -e "$work/out.eof"
check "boot 1: the guest read the host FIFO to end of file, byte-exact" \
	contains "$work/boot1.out" "FIFO_MD5=$fifo_md5"
check "boot 1: socket: the guest's line, then end of file at its close" \
	equals "$(cat "$work/sock.got" 2>&1)" "guest-to-host
<EOF>"
check "boot 1: socket: the host's line reached the guest" \
	contains "$work/boot1.out" "SOCK_LINE=host-to-guest"
check "boot 1: --kernel-log has what the guest logged" \
	contains "$work/kernel.log" "nook-e2e-kmsg-marker"
check "boot 1: --console-output has stdout and stderr, in order" \
	bash -c "grep -x 'ORDER-[123]' '$work/console.out' | tr '\n' ' ' | grep -qx 'ORDER-1 ORDER-2 ORDER-3 '"
check "boot 1: --console-output holds both streams" \
	bash -c "grep -q '^DATA_MD5=' '$work/console.out' && grep -q '^LINKS ' '$work/console.out'"
check "boot 1: stdout still reaches nook's stdout (a copy)" contains "$work/boot1.out" "ORDER-3"
check "boot 1: stderr still reaches nook's stderr, not stdout" \
	bash -c "grep -q ORDER-2 '$work/boot1.err' && ! grep -q ORDER-2 '$work/boot1.out'"
t() { sed -n "s/^T $1 //p" "$work/boot1.err"; }
awk -v k="$DATA_KIB" -v a="$(t start)" -v b="$(t in)" -v c="$(t out)" 'BEGIN {
	if (b > a && c > b)
		printf "# %d KiB through a port: into the guest %.0f KiB/s, out to a slow reader %.0f KiB/s\n", k, k / (b - a), k / (c - b)
}'

# --- Boot 2: no implicit console ---
script2='
o=$(stat -L -c %t:%T /proc/$$/fd/1)
i=$(stat -L -c %t:%T /proc/$$/fd/0)
# One open: the close that ends it ends the port'"'"'s output for good.
{
	for n in /sys/class/virtio-ports/*/name; do read -r x <$n; echo "NAME $x"; done
	echo "STDOUT_IS $o"
	echo "STDIN_IS $i"
} >/dev/virtio-ports/report
echo "if-stdout-still-worked"
exit 3'
SECONDS=0
run boot2 run --snapshot off --disable-implicit-console --console-port "report=$work/report" \
	-- /bin/sh -c "$script2"
echo "# boot 2 (cold): ${SECONDS} s"
check "boot 2: exit status 3 (the control port still works)" equals "$(status boot2)" 3
check "boot 2: the guest sees nook's control port" contains "$work/report" "NAME nook.control"
check "boot 2: and the named port" contains "$work/report" "NAME report"
check "boot 2: no stdin, stdout or stderr port in the guest" \
	bash -c "! grep -q 'NAME nook.std' '$work/report'"
# /dev/null is the character device 1:3.
check "boot 2: the program's stdout is /dev/null" contains "$work/report" "STDOUT_IS 1:3"
check "boot 2: the program's stdin is /dev/null" contains "$work/report" "STDIN_IS 1:3"
check "boot 2: nothing on nook's stdout" lacks "$work/boot2.out" "if-stdout-still-worked"

SECONDS=0
timeout -k 10 "$BOOT_TIMEOUT" "$PORTS_DRIVER" $((DATA_KIB * 1024)) >"$work/ports.out" 2>"$work/ports.err"
echo $? >"$work/ports.status"
echo "# boot 3: ${SECONDS} s"
tap_lines "$work/ports.out"
sed 's/^/# stderr: /' "$work/ports.err" | tail -20
check "boot 3 (ports driver): status 0" equals "$(status ports)" 0

tap_done
