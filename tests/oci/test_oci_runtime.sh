#!/bin/bash
# nook-runtime called directly, as podman's conmon and containerd's shim
# call runc (TAP). A state root and bundles of the test's own; every
# container's VMM is reaped by subreaper.py, which records exit statuses.
# Before any boot: features, bad IDs and bundles, unknown containers, a bad
# signal, JSON error logs. Then two containers:
#   t1: a program (as uid 1000) in a network namespace of the test's own (the guest
#       fetches a page from a server only that namespace has), with rw and
#       ro bind mounts, hooks (prestart, createRuntime, createContainer,
#       poststart, poststop: the state on stdin), annotations; create,
#       state created, wrong-state errors, start, running, execs from
#       process.json (env, cwd, user,
#       exit status; --detach with its pid reaped), ps, kill USR1 (the
#       program's trap), kill TERM (its trap exits 42: the VMM's status),
#       stopped, wrong-state errors, delete, gone;
#   t2 (a 64-character ID): a terminal through --console-socket (console_socket.py plays
#       conmon), a read-only root (ROOTFS itself), the host name; exit
#       status 3.
# Usage: test_oci_runtime.sh NOOK_RUNTIME ROOTFS_DIR
set -u
dir=$(dirname "$0")
. "$dir/../lib/tap.sh"
# Absolute: the clients run it from directories of their own.
RUNTIME=$(realpath "$1")
ROOTFS=$2
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-600}
work=$(mktemp -d /tmp/nook-oci-XXXXXX)
root=$work/root
R() { timeout -k 5 "$BOOT_TIMEOUT" "$RUNTIME" --root "$root" "$@"; }
netns_pid=
cleanup() {
	# No VM outlives the test.
	for c in "$root"/*/; do
		[ -d "$c" ] && timeout 60 "$RUNTIME" --root "$root" delete --force "$(basename "$c")" >/dev/null 2>&1
	done
	[ -n "$netns_pid" ] && kill "$netns_pid" 2>/dev/null
	[ -n "${host_http:-}" ] && kill "$host_http" 2>/dev/null
	wait 2>/dev/null
	[ -n "${NOOK_TEST_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
# A bundle NAME with config.json, root ROOTFS (read-only with READONLY=ro),
# edited by PYTHON-EDITS.
bundle() { # NAME READONLY PYTHON-EDITS
	mkdir -p "$work/$1"
	python3 - "$work/$1/config.json" "$ROOTFS" "$2" "$3" <<'PY'
import json, sys
out, rootfs, ro, edits = sys.argv[1:5]
c = {"ociVersion": "1.0.2",
     "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["true"],
                 "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "cwd": "/",
                 "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}]},
     "root": {"path": rootfs, "readonly": ro == "ro"},
     "hostname": "nook-oci",
     "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
                {"destination": "/dev/null", "type": "bind", "source": "/dev/null",
                 "options": ["rbind"]}],
     "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}}
exec(edits)
json.dump(c, open(out, "w"))
PY
}
json_get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$@"; }

# ---- no boot ----
R features >"$work/features" 2>&1
check "features is JSON with ociVersionMax and hooks" python3 -c '
import json,sys; f=json.load(open(sys.argv[1])); assert f["ociVersionMax"] and "poststop" in f["hooks"]' "$work/features"
R state "bad/id" >"$work/e1" 2>&1
ok $(($? != 1)) "state of an invalid ID fails"
check "... naming the ID" contains "$work/e1" 'container ID "bad/id"'
R state nosuch >"$work/e2" 2>&1
ok $(($? != 1)) "state of an unknown container fails (status 1)"
check "... saying it does not exist" contains "$work/e2" "container nosuch does not exist"
R --log "$work/log.json" --log-format json kill nosuch >/dev/null 2>&1
check "--log-format json: the error is a JSON line with level and msg" python3 -c '
import json,sys; l=json.loads(open(sys.argv[1]).readline()); assert l["level"]=="error" and "nosuch" in l["msg"], l' "$work/log.json"
bundle nort rw 'c["root"]["path"] = "/nonexistent/rootfs"'
R create --bundle "$work/nort" e3 >"$work/e3" 2>&1
ok $(($? != 1)) "create with a missing root.path exits 1"
check "... naming it" contains "$work/e3" "root.path /nonexistent/rootfs"
check "... and leaves no container behind" test ! -e "$root/e3"
bundle badmem rw 'c["annotations"] = {"nook.memory_mib": "lots"}'
R create --bundle "$work/badmem" e4 >"$work/e4" 2>&1
ok $(($? != 1)) "create with annotation nook.memory_mib=lots exits 1"
check "... naming the annotation" contains "$work/e4" "nook.memory_mib"
bundle badpub rw 'c["annotations"] = {"nook.publish": "80,abc"}'
R create --bundle "$work/badpub" e6 >"$work/e6" 2>&1
ok $(($? != 1)) "create with annotation nook.publish=80,abc exits 1"
check "... naming the bad port" contains "$work/e6" '"abc"'
bundle inhook rw 'c["hooks"] = {"startContainer": [{"path": "/bin/true"}]}'
R create --bundle "$work/inhook" e7 >"$work/e7" 2>&1
ok $(($? != 1)) "create with a startContainer hook exits 1"
check "... saying why" contains "$work/e7" "hooks.startContainer: not supported"
check "... and leaves no container behind" test ! -e "$root/e7"
bundle noargs rw 'c["process"]["args"] = []'
R create --bundle "$work/noargs" e5 >"$work/e5" 2>&1
check "create without process.args fails naming it" contains "$work/e5" "process.args"

# ---- t1: lifecycle, network namespace, mounts, hooks, exec, kill ----
# A network namespace of the test's own with a web server on its loopback;
# the host has another one on the same port: the guest's page says which
# namespace its traffic left from.
port=$((20000 + $$ % 20000))
mkdir -p "$work/www-ns" "$work/www-host" "$work/rw" "$work/ro"
chmod 0777 "$work/rw" # for the program's user
echo "page from the container's namespace" >"$work/www-ns/index.html"
echo "page from the host's namespace" >"$work/www-host/index.html"
echo "read-only data" >"$work/ro/file"
unshare --net sh -c 'ip link set lo up; cd "$1" && exec python3 -m http.server "$2" --bind 127.0.0.1' \
	sh "$work/www-ns" "$port" >/dev/null 2>&1 &
netns_pid=$!
(cd "$work/www-host" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
host_http=$!
# unshare execs sh, which execs the server: one process, in the new namespace
# once unshare has run.
netns=/proc/$netns_pid/ns/net
for i in $(seq 50); do
	[ "$(readlink "$netns")" != "$(readlink /proc/self/ns/net)" ] && break
	sleep 0.1
done
sleep 1
for h in prestart createRuntime createContainer poststart poststop; do
	printf '#!/bin/sh\ncat > %s/hook-%s.json\n' "$work" "$h" >"$work/hook-$h"
	chmod +x "$work/hook-$h"
done
# A copy of the rootfs, for the guest may write in it.
cp -a "$ROOTFS" "$work/rootfs"
bundle t1 rw "
c['root']['path'] = '$work/rootfs'
c['process']['args'] = ['sh', '-c', '''
id > /rw/id; wget -q -O- http://10.0.2.2:$port/ > /rw/page 2>&1
cat /ro/file > /rw/ro-read; echo x > /ro/new 2>/dev/null && echo ro-written >> /rw/ro-read
trap \"echo got USR1\" USR1; trap \"echo got TERM; exit 42\" TERM
echo started; while :; do sleep 1; done''']
c['mounts'] += [{'destination': '/rw', 'type': 'bind', 'source': '$work/rw', 'options': ['rbind', 'rw']},
                {'destination': '/ro', 'type': 'bind', 'source': '$work/ro', 'options': ['rbind', 'ro']}]
c['linux']['namespaces'].append({'type': 'network', 'path': '$netns'})
c['process']['user'] = {'uid': 1000, 'gid': 1000}
c['annotations'] = {'org.example.key': 'value'}
c['hooks'] = {h: [{'path': '$work/hook-' + h, 'args': ['hook-' + h]}]
              for h in ('prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop')}
"
cat >"$work/t1.sh" <<SH
R() { timeout -k 5 $BOOT_TIMEOUT "$RUNTIME" --root "$root" "\$@"; }
R create --bundle "$work/t1" --pid-file "$work/t1.pid" t1 >"$work/t1.out" 2>"$work/t1.err"
echo \$? >"$work/create.status"
R state t1 >"$work/state.created"
R exec --process "$work/proc.json" t1 >"$work/e-exec-created" 2>&1; echo \$? >"$work/exec-created.status"
R delete t1 >"$work/e-delete-created" 2>&1; echo \$? >"$work/delete-created.status"
R start t1; echo \$? >"$work/start.status"
R start t1 >"$work/e-start-again" 2>&1; echo \$? >"$work/start-again.status"
R state t1 >"$work/state.running"
# The program's first output: the guest is up.
for i in \$(seq $BOOT_TIMEOUT); do
	grep -q started "$work/t1.out" && break
	R state t1 | grep -q '"stopped"' && break
	sleep 1
done
# A busybox program on this PVM host sometimes dies of SIGSEGV as it starts
# (README, "PVM hosts"): such an exec (139) runs again.
for i in 1 2 3 4; do
	R exec --process "$work/proc.json" --pid-file "$work/exec.pid" t1 >"$work/exec.out" 2>"$work/exec.err"
	st=\$?
	[ \$st = 139 ] || break
done
echo \$st >"$work/exec.status"
# Detached, with stdin from /dev/null as conmon and the shim give it; its
# relay is reaped by subreaper.py (and run again after a 139, as above).
for i in 1 2 3 4; do
	R exec --process "$work/proc.json" --detach --pid-file "$work/exec-d.pid" t1 \
		</dev/null >"$work/exec-d.out" 2>&1
	echo \$? >"$work/exec-d.status"
	for j in \$(seq 300); do grep -q "^\$(cat "$work/exec-d.pid") " "$work/reaped" && break; sleep 1; done
	grep -q "^\$(cat "$work/exec-d.pid") 139\$" "$work/reaped" || break
done
R ps --format json t1 >"$work/ps.json"
R kill t1 USR1; echo \$? >"$work/kill-usr1.status"
for i in \$(seq 60); do grep -q "got USR1" "$work/t1.out" && break; sleep 1; done
R kill t1 TERM; echo \$? >"$work/kill-term.status"
for i in \$(seq 60); do R state t1 | grep -q '"stopped"' && break; sleep 1; done
R state t1 >"$work/state.stopped"
R kill t1 KILL >"$work/e-kill-stopped" 2>&1; echo \$? >"$work/kill-stopped.status"
R start t1 >"$work/e-start-stopped" 2>&1; echo \$? >"$work/start-stopped.status"
R delete t1; echo \$? >"$work/delete.status"
R state t1 >/dev/null 2>&1; echo \$? >"$work/state-gone.status"
SH
python3 - "$work/proc.json" <<'PY'
import json, sys
json.dump({"terminal": False, "user": {"uid": 1000, "gid": 1000},
           "args": ["sh", "-c", "echo exec uid=$(id -u) gid=$(id -g) foo=$FOO pwd=$(pwd); echo to-stderr >&2; exit 5"],
           "env": ["PATH=/bin:/usr/bin", "FOO=bar"], "cwd": "/tmp"}, open(sys.argv[1], "w"))
PY
: >"$work/reaped"
timeout -k 5 $((BOOT_TIMEOUT * 3)) "$dir/subreaper.py" "$work/reaped" bash "$work/t1.sh"
vmm=$(cat "$work/t1.pid" 2>/dev/null)
equals "$(cat "$work/create.status")" 0; ok $? "t1: create succeeds"
check "t1: state created, its pid the pid file's" python3 -c '
import json,sys; s=json.load(open(sys.argv[1])); assert s["status"]=="created" and s["pid"]==int(sys.argv[2]) and s["annotations"]["org.example.key"]=="value", s' "$work/state.created" "$vmm"
check "t1: the VMM (the pid) is a child of the caller's subreaper" grep -q "^$vmm " "$work/reaped"
equals "$(cat "$work/exec-created.status")/$(cat "$work/delete-created.status")" 1/1; ok $? "t1: exec and delete of a created container fail"
check "... saying why" contains "$work/e-delete-created" "not stopped"
check "t1: prestart, createRuntime and createContainer hooks got the state (created)" python3 -c '
import json,sys
for f in sys.argv[1:]: s=json.load(open(f)); assert s["id"]=="t1" and s["status"]=="created", s' "$work/hook-prestart.json" "$work/hook-createRuntime.json" "$work/hook-createContainer.json"
equals "$(cat "$work/start.status")" 0; ok $? "t1: start succeeds"
equals "$(cat "$work/start-again.status")" 1; ok $? "t1: a second start fails"
check "t1: state running" contains "$work/state.running" '"running"'
check "t1: the poststart hook got the state (running)" contains "$work/hook-poststart.json" '"running"'
check "t1: the guest's traffic leaves from the container's network namespace" contains "$work/rw/page" "page from the container's namespace"
check "t1: the program runs as process.user (1000:1000)" contains "$work/rw/id" "uid=1000 gid=1000"
check "t1: a ro bind mount is readable" contains "$work/rw/ro-read" "read-only data"
check "... and not writable" lacks "$work/rw/ro-read" "ro-written"
equals "$(cat "$work/exec.status")" 5; ok $? "t1: exec's exit status is the program's (5)"
check "t1: exec: user, env, cwd from process.json" contains "$work/exec.out" "exec uid=1000 gid=1000 foo=bar pwd=/tmp"
check "t1: exec: its stderr separate" contains "$work/exec.err" "to-stderr"
check "t1: exec --pid-file names the relay" grep -qx "[0-9][0-9]*" "$work/exec.pid"
equals "$(cat "$work/exec-d.status")" 0; ok $? "t1: exec --detach returns at once (0)"
check "t1: the detached exec's pid ended with the program's 5" grep -q "^$(cat "$work/exec-d.pid" 2>/dev/null) 5$" "$work/reaped"
check "t1: ps --format json lists the VMM" python3 -c '
import json,sys; assert int(sys.argv[2]) in json.load(open(sys.argv[1]))' "$work/ps.json" "$vmm"
check "t1: kill USR1 reaches the program's trap" contains "$work/t1.out" "got USR1"
check "t1: kill TERM reaches the program's trap" contains "$work/t1.out" "got TERM"
check "t1: the VMM's exit status is the program's (42)" grep -q "^$vmm 42$" "$work/reaped"
check "t1: state stopped" contains "$work/state.stopped" '"stopped"'
equals "$(cat "$work/kill-stopped.status")/$(cat "$work/start-stopped.status")" 1/1; ok $? "t1: kill and start of a stopped container fail"
check "... saying why" contains "$work/e-kill-stopped" "stopped, not created or running"
equals "$(cat "$work/delete.status")/$(cat "$work/state-gone.status")" 0/1; ok $? "t1: delete; then it is gone"
check "t1: the poststop hook ran" contains "$work/hook-poststop.json" '"t1"'
check "t1: the state directory is gone" test ! -e "$root/t1"

# ---- t2: a terminal, a read-only root ----
# A 64-digit ID as containerd's: ROOT/ID/vsock.sock is too long for a UNIX
# socket, so it lives in a directory of its own.
t2=$(printf 't2%062d' 0)
# What other runs left there (a runtime killed mid-run leaves its own).
sockets_before=$(ls -A /run/nook-runtime/sockets 2>/dev/null)
bundle t2 ro "
c['process']['terminal'] = True
c['process']['args'] = ['sh', '-c', 'echo ready; read x; echo \"got \$x\"; tty; stty size; hostname; touch /rootfile 2>/dev/null || echo root-ro; exit 3']
"
cat >"$work/t2.sh" <<SH
"$dir/console_socket.py" "$work/console.sock" "hello
" "$work/console.out" $BOOT_TIMEOUT &
for i in \$(seq 50); do [ -S "$work/console.sock" ] && break; sleep 0.1; done
timeout -k 5 $BOOT_TIMEOUT "$RUNTIME" --root "$root" create --bundle "$work/t2" --console-socket "$work/console.sock" --pid-file "$work/t2.pid" $t2
echo \$? >"$work/t2-create.status"
timeout -k 5 $BOOT_TIMEOUT "$RUNTIME" --root "$root" start $t2
wait
SH
: >"$work/reaped"
timeout -k 5 $((BOOT_TIMEOUT * 2)) "$dir/subreaper.py" "$work/reaped" bash "$work/t2.sh"
equals "$(cat "$work/t2-create.status")" 0; ok $? "t2: create with --console-socket"
tr -d '\r' <"$work/console.out" >"$work/console.txt"
check "t2: the program's input comes from the terminal" contains "$work/console.txt" "got hello"
check "t2: the program is on a terminal in the guest" contains "$work/console.txt" "/dev/pts/"
check "t2: of the console's size" contains "$work/console.txt" "30 100"
check "t2: hostname from config.json" contains "$work/console.txt" "nook-oci"
check "t2: root.readonly: the root is read-only" contains "$work/console.txt" "root-ro"
check "t2: the pid's exit status is the program's (3)" grep -q "^$(cat "$work/t2.pid" 2>/dev/null) 3$" "$work/reaped"
R delete $t2 >/dev/null 2>&1
ok $? "t2: delete"
check "t2: its socket directory is gone too" equals "$(ls -A /run/nook-runtime/sockets 2>/dev/null)" "$sockets_before"

# ---- t3: a runtime killed before delete left its socket directory ----
t3=$(printf 't3%062d' 0)
bundle t3 rw ""
R create --bundle "$work/t3" --pid-file "$work/t3.pid" $t3 >/dev/null 2>"$work/t3-first.err"
ok $? "t3: create"
kill -9 "$(cat "$work/t3.pid" 2>/dev/null)" 2>/dev/null
rm -rf "${root:?}/$t3"
check "t3: the socket directory stays behind" \
	test "$(ls -A /run/nook-runtime/sockets 2>/dev/null)" != "$sockets_before"
R create --bundle "$work/t3" --pid-file "$work/t3.pid" $t3 >/dev/null 2>"$work/t3.err"
ok $? "t3: the same ID again takes it over"
R delete --force $t3 >/dev/null 2>&1
check "t3: and delete removes it" equals "$(ls -A /run/nook-runtime/sockets 2>/dev/null)" "$sockets_before"
tap_done
