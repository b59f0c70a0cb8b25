#!/bin/bash
# nook-runtime under the real clients (TAP), with images built here from
# the built-in rootfs (no registry) and all traffic on this machine.
#   podman (storage, run and tmp directories of the test's own): run --rm
#     with its exit status, stdout and stderr, -e, -v (both ways),
#     --network none; -it on a real pseudo-terminal (pty_run.py); a server
#     on podman's bridge network published with -p 127.0.0.1:PORT:80 (and
#     the annotation nook.publish=80, which tells the VM the port), an exec
#     in it, podman stop.
#   containerd (a daemon of the test's own: --root, --state, --address in
#     a temporary directory, its own namespace): ctr image import, ctr run
#     --rm --runc-binary with its exit status and output; ctr run -d, ctr
#     task exec (exit status, output), task kill, task rm.
#   Docker (a dockerd of the test's own, docker.io from Debian, as root):
#     docker run --runtime nook --rm with its exit status, stdout, stderr,
#     -e and -v; run -d, exec, stop (143), rm.
# A client that is missing is skipped, saying so; exit 77 when all are.
# Usage: test_oci_podman.sh NOOK_RUNTIME ROOTFS_DIR
set -u
dir=$(dirname "$0")
. "$dir/../lib/tap.sh"
# Absolute: the clients run it from directories of their own.
RUNTIME=$(realpath "$1")
ROOTFS=$2
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-300}
work=$(mktemp -d /tmp/nook-oci-cl-XXXXXX)
ns=nook-oci-$$
skipped=0
skip() { n=$((n + 1)); echo "ok $n - # SKIP $1"; skipped=$((skipped + 1)); }
# OUT CMD...: CMD's output in OUT, its status in $st; again (up to 4
# times) while that is 139: a busybox program on this PVM host sometimes
# dies of SIGSEGV as it starts (README, "PVM hosts").
again_after_139() {
	local out=$1; shift
	for _ in 1 2 3 4; do
		"$@" >"$out" 2>&1
		st=$?
		[ "$st" = 139 ] || return 0
		echo "# $* ended with 139 (a PVM start-up crash): again"
	done
}
# FILE...: the end of each (a client's output, a daemon's log, the
# runtime's log.json files) and the VMs still running, as TAP comments,
# after a client command failed.
explain() {
	local f
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "# --- ${f#"$work"/} (end):"
		tail -n 25 "$f" | sed 's/^/#   /'
	done
	echo "# --- nook VMMs running: $(pgrep -c -f "$RUNTIME" 2>/dev/null)"
	ps -o pid,etime,time,args -p "$(pgrep -d, -f "$RUNTIME")" 2>/dev/null | cut -c1-160 | sed 's/^/#   /'
}
P() { timeout -k 10 "$BOOT_TIMEOUT" podman --root "$work/pm/storage" --runroot "$work/pm/run" \
	--tmpdir "$work/pm/tmp" --cgroup-manager cgroupfs --events-backend file \
	--runtime "$RUNTIME" "$@"; }
C() { timeout -k 10 "$BOOT_TIMEOUT" ctr -a "$work/ct/c.sock" -n "$ns" "$@"; }
containerd_pid=
deadline_pid=
dockerd_pid=
stop_dockerd() {
	kill "$dockerd_pid" 2>/dev/null
	for _ in $(seq 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
	kill -KILL "$dockerd_pid" 2>/dev/null
	wait "$dockerd_pid" 2>/dev/null
	dockerd_pid=
}
# Each client's daemon and its VMs end with its section, so a VM that
# hangs in one section cannot slow the next.
stop_containerd() {
	for t in $(C task ls -q 2>/dev/null); do
		C task kill -s KILL "$t" >/dev/null 2>&1
		C task rm -f "$t" >/dev/null 2>&1
	done
	for c in $(C c ls -q 2>/dev/null); do C c rm "$c" >/dev/null 2>&1; done
	kill "$containerd_pid" 2>/dev/null
	wait "$containerd_pid" 2>/dev/null
	containerd_pid=
	# The shim's runc --root for our namespace (empty by now).
	rmdir "/run/containerd/runc/$ns" 2>/dev/null
}
cleanup() {
	# No VM or daemon outlives the test.
	kill "$deadline_pid" 2>/dev/null
	if [ -d "$work/pm" ]; then
		P rm -af -t 0 >/dev/null 2>&1
		P image rm -af >/dev/null 2>&1
		# conmon's "podman container cleanup" mounts the storage again
		# when a container ends: it goes first.
		for _ in $(seq 50); do
			pgrep -f -- "--root $work/pm/storage" >/dev/null || break
			sleep 0.2
		done
	fi
	[ -n "$containerd_pid" ] && stop_containerd
	if [ -n "$dockerd_pid" ]; then
		Dk rm -f dk1 >/dev/null 2>&1
		stop_dockerd
	fi
	grep -o " $work/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
# The test's own deadline, below meson's (which kills with SIGKILL and so
# leaves daemons and VMs behind): the command running then is ended, and
# the cleanup runs.
DEADLINE=${NOOK_OCI_CLIENTS_DEADLINE:-1000}
trap 'exit 1' TERM
# Killed by the cleanup, it ends its sleep and goes quietly.
(
	trap 'kill "$nap" 2>/dev/null; exit 0' TERM
	sleep "$DEADLINE" >/dev/null 2>&1 &
	nap=$!
	wait "$nap"
	echo "# the test's deadline ($DEADLINE s) has passed: ending it"
	kill -TERM $$
	pkill -TERM -P $$
) &
deadline_pid=$!
tar -C "$ROOTFS" -cf "$work/rootfs.tar" .

# ---- podman ----
if ! command -v podman >/dev/null || ! command -v conmon >/dev/null; then
	skip "podman: podman or conmon is not installed"
else
	mkdir -p "$work/pm" "$work/vol"
	echo "from the host" >"$work/vol/in"
	P import "$work/rootfs.tar" localhost/nook-busybox:oci >"$work/import.out" 2>&1
	check "podman import of the busybox rootfs" test $? = 0
	P run --rm --network none -e FOO=bar -v "$work/vol:/data" localhost/nook-busybox:oci \
		sh -c 'echo foo=$FOO; cat /data/in; echo from-the-guest > /data/out; echo to-stderr >&2; exit 4' \
		>"$work/run.out" 2>"$work/run.err"
	st=$?
	equals $st 4; ok $? "podman run --rm: the exit status is the program's (4)"
	[ "$st" = 4 ] || explain "$work/run.out" "$work/run.err"
	check "podman run: stdout, with -e FOO=bar" contains "$work/run.out" "foo=bar"
	check "podman run: stderr apart" contains "$work/run.err" "to-stderr"
	check "podman run -v: the guest reads the host's file" contains "$work/run.out" "from the host"
	check "podman run -v: the host reads the guest's" contains "$work/vol/out" "from-the-guest"
	P ps -aq >"$work/ps.out"
	check "podman run --rm: nothing left" test ! -s "$work/ps.out"

	"$dir/pty_run.py" '# ' $'tty; stty size; echo $((6*7)); exit 5\n' \
		podman --root "$work/pm/storage" --runroot "$work/pm/run" --tmpdir "$work/pm/tmp" \
		--cgroup-manager cgroupfs --events-backend file --runtime "$RUNTIME" \
		run -it --rm --network none localhost/nook-busybox:oci sh >"$work/it.raw" 2>&1
	equals $? 5; ok $? "podman run -it: the shell's exit status (5)"
	tr -d '\r' <"$work/it.raw" >"$work/it.out"
	check "podman run -it: the shell is on a terminal in the guest" contains "$work/it.out" "/dev/pts/"
	check "podman run -it: of the host terminal's size" contains "$work/it.out" "30 100"
	check "podman run -it: input reaches it" contains "$work/it.out" "42"

	port=$((20000 + $$ % 20000))
	P run -d --name web -p "127.0.0.1:$port:80" --annotation nook.publish=80 localhost/nook-busybox:oci \
		sh -c 'mkdir -p /www; echo guest-page > /www/index.html; exec httpd -f -p 80 -h /www' \
		>"$work/web.id" 2>"$work/web.err"
	web=$?
	check "podman run -d -p on podman's bridge network" test $web = 0
	page=
	[ $web = 0 ] && for _ in $(seq "$BOOT_TIMEOUT"); do
		page=$(curl -s --max-time 2 "http://127.0.0.1:$port/") && [ -n "$page" ] && break
		sleep 1
	done
	equals "$page" guest-page; ok $? "podman -p 127.0.0.1:$port:80: the guest's server answers"
	again_after_139 "$work/exec.out" P exec web sh -c 'echo exec-in-web; exit 7'
	equals "$st" 7; ok $? "podman exec: the exit status (7)"
	check "podman exec: its output" contains "$work/exec.out" "exec-in-web"
	P stop -t 5 web >/dev/null 2>&1
	check "podman stop" test "$(P inspect -f '{{.State.Status}}' web)" = exited
	P rm web >/dev/null 2>&1
	check "podman rm" test $? = 0
fi

# ---- containerd ----
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
	skip "containerd: containerd or ctr is not installed"
else
	mkdir -p "$work/ct"
	printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' >"$work/ct/config.toml"
	containerd --config "$work/ct/config.toml" --root "$work/ct/root" --state "$work/ct/state" \
		--address "$work/ct/c.sock" >"$work/ct/log" 2>&1 &
	containerd_pid=$!
	for _ in $(seq 100); do [ -S "$work/ct/c.sock" ] && C version >/dev/null 2>&1 && break; sleep 0.1; done
	"$dir/make_image.py" "$ROOTFS" "$work/image.tar" docker.io/library/nook-busybox:oci
	C image import "$work/image.tar" >"$work/ct-import.out" 2>&1
	check "ctr image import of a docker-archive image" test $? = 0
	C run --rm --runc-binary "$RUNTIME" docker.io/library/nook-busybox:oci c1 \
		sh -c 'echo hi from ctr; exit 6' >"$work/c1.out" 2>&1
	st=$?
	equals $st 6; ok $? "ctr run --rm --runc-binary: the exit status is the program's (6)"
	[ "$st" = 6 ] || explain "$work/c1.out" "$work/ct/log" $(find "$work/ct/state" -name log.json 2>/dev/null)
	check "ctr run: its output" contains "$work/c1.out" "hi from ctr"
	C run -d --runc-binary "$RUNTIME" docker.io/library/nook-busybox:oci c2 \
		sh -c 'while :; do sleep 1; done' >"$work/c2.out" 2>&1
	check "ctr run -d" test $? = 0
	# Each try an exec ID of its own.
	execs=0
	ctr_exec() { execs=$((execs + 1)); C task exec --exec-id "e$execs" "$@"; }
	again_after_139 "$work/e1.out" ctr_exec c2 sh -c 'echo exec here; echo $((1 + 2)); exit 3'
	equals "$st" 3; ok $? "ctr task exec: the exit status (3)"
	[ "$st" = 3 ] || explain "$work/c2.out" "$work/e1.out" "$work/ct/log" $(find "$work/ct/state" -name log.json 2>/dev/null)
	check "ctr task exec: its output" contains "$work/e1.out" "exec here"
	C task ps c2 >"$work/c2.ps" 2>&1
	check "ctr task ps: the VMM" grep -q "^[0-9]" "$work/c2.ps"
	C task kill -s TERM c2
	state=
	for _ in $(seq 60); do
		state=$(C task ls | awk '$1 == "c2" { print $3 }')
		[ "$state" = STOPPED ] && break
		sleep 1
	done
	equals "$state" STOPPED; ok $? "ctr task kill -s TERM: the task stops"
	C task rm c2 >/dev/null 2>&1 && C c rm c2 >/dev/null 2>&1
	check "ctr task rm, container rm" test $? = 0
	stop_containerd
fi

# ---- Docker ----
# A dockerd of the test's own (Debian's docker.io: its own containerd,
# data and exec roots in $work, vfs storage, no iptables and no bridge:
# --network none), with nook-runtime as the runtime "nook".
if ! command -v dockerd >/dev/null; then
	skip "Docker: dockerd is not installed (Debian's docker.io)"
elif [ "$(id -u)" != 0 ]; then
	skip "Docker: dockerd needs root"
else
	mkdir -p "$work/dk/vol"
	echo "from the host" >"$work/dk/vol/in"
	dockerd --data-root "$work/dk/data" --exec-root "$work/dk/x" --pidfile "$work/dk/pid" \
		-H "unix://$work/dk/d.sock" --storage-driver vfs --iptables=false --ip-forward=false \
		--ip-masq=false --bridge=none --add-runtime "nook=$RUNTIME" >"$work/dk/log" 2>&1 &
	dockerd_pid=$!
	# The daemon's own client (the API versions match).
	docker_cli=docker
	[ -x /usr/bin/docker ] && docker_cli=/usr/bin/docker
	Dk() { timeout -k 10 "$BOOT_TIMEOUT" "$docker_cli" -H "unix://$work/dk/d.sock" "$@"; }
	for _ in $(seq 150); do Dk version >/dev/null 2>&1 && break; sleep 0.2; done
	Dk import "$work/rootfs.tar" nook-busybox:oci >"$work/dk/import.out" 2>&1
	check "docker import of the busybox rootfs" test $? = 0
	Dk run --rm --runtime nook --network none -e FOO=bar -v "$work/dk/vol:/data" nook-busybox:oci \
		sh -c 'echo foo=$FOO; cat /data/in; echo from-the-guest > /data/out; echo to-stderr >&2; exit 4' \
		>"$work/dk/run.out" 2>"$work/dk/run.err"
	st=$?
	equals $st 4; ok $? "docker run --runtime nook --rm: the exit status is the program's (4)"
	[ "$st" = 4 ] || explain "$work/dk/run.out" "$work/dk/run.err" "$work/dk/log" \
		$(find "$work/dk/x" -name log.json 2>/dev/null)
	check "docker run: stdout, with -e FOO=bar" contains "$work/dk/run.out" "foo=bar"
	check "docker run: stderr apart" contains "$work/dk/run.err" "to-stderr"
	check "docker run -v: the guest reads the host's file" contains "$work/dk/run.out" "from the host"
	check "docker run -v: the host reads the guest's" contains "$work/dk/vol/out" "from-the-guest"
	Dk run -d --name dk1 --runtime nook --network none nook-busybox:oci \
		sh -c 'exec sleep 100000' >"$work/dk/d1.out" 2>&1
	check "docker run -d" test $? = 0
	again_after_139 "$work/dk/exec.out" Dk exec -e E=1 dk1 sh -c 'echo exec-in-dk1 E=$E; exit 7'
	equals "$st" 7; ok $? "docker exec: the exit status (7)"
	[ "$st" = 7 ] || explain "$work/dk/d1.out" "$work/dk/exec.out" "$work/dk/log"
	check "docker exec -e: its output" contains "$work/dk/exec.out" "exec-in-dk1 E=1"
	Dk stop -t 20 dk1 >/dev/null 2>&1
	check "docker stop: exited, by SIGTERM (143)" equals "$(Dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' dk1)" "exited 143"
	Dk rm dk1 >/dev/null 2>&1
	check "docker rm" test $? = 0
	stop_dockerd
fi
[ "$skipped" -ge 3 ] && exit 77
tap_done
