#!/bin/bash
# Networking through the nook binary: bad input first (no guest), then
# two boots on user-mode networking and one on passt:
#   - default scope group: a service on the host's loopback is out of reach
#     through the gateway, the host's own address is refused by scope, a
#     published port carries a host client's data to a guest server and
#     back;
#   - --allow-host-loopback: the same loopback service answers;
#   - passt: the guest gets its address by DHCP.
# Output is TAP. Usage: test_e2e_net.sh NOOK
set -u
. "$(dirname "$0")/../lib/tap.sh"
NOOK=$1
BOOT_TIMEOUT=${NOOK_E2E_BOOT_TIMEOUT:-300}
work=$(mktemp -d /tmp/nook-e2e-net-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- Bad input: status 125 and a message, before any guest runs ---
bad() { # bad NAME MESSAGE NOOK-ARGS...
	local name=$1 msg=$2; shift 2
	run "$name" run "$@" -- /bin/true
	check "$name: status 125" [ "$(status "$name")" = 125 ]
	check "$name: message" contains "$work/$name.err" "$msg"
}
bad port0 'guest port "0" is out of range' --net user -p 8080:0
bad port_big 'out of range' --net user -p 70000:80
bad ip_outside 'not inside subnet' --net user --ip 10.0.3.5
bad ip_gateway 'taken by the user-mode network' --net user --ip 10.0.2.2
bad no_tap 'no such network interface' --net tap:nooknosuch0
bad no_listener 'nothing listens there' --net "unixstream:$work/nobody.sock"
bad no_listener_gram 'nothing listens there' --net "unixgram:$work/nobody.sock"
bad bad_net 'expected none, user' --net bogus
bad bad_scope '"everywhere"' --net user --scope everywhere
bad publish_no_user 'needs a user-mode network' --net "tap:lo" -p 8080:80
bad bad_mac '--mac "zz": expected six hex bytes' --mac zz --net user
bad multicast_mac 'is a multicast address' --mac 01:00:00:00:00:01 --net user
busy=$(free_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$busy" &
pids+=($!)
sleep 0.5
bad port_in_use "published port 127.0.0.1:$busy/tcp: cannot listen" --net user -p "$busy:80"

# --- One boot, user-mode networking, scope group ---
# A web server on the host's loopback only (10.0.2.2 in the guest, but the
# host loopback is not granted) and one on all addresses, fetched through
# the host's own address, outside the subnet: both refused. The refused
# fetches are cut short by timeout: the filter drops their SYNs silently.
mkdir -p "$work/www"
echo "page-from-host" >"$work/www/index.html"
http=$(free_port)
python3 -m http.server "$http" --bind 0.0.0.0 --directory "$work/www" >/dev/null 2>"$work/http.log" &
pids+=($!)
lo_http=$(free_port)
python3 -m http.server "$lo_http" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>"$work/lo_http.log" &
pids+=($!)
host_ip=$(ip -4 -o addr show scope global | awk '{sub(/\/.*/, "", $4); print $4; exit}')
[ -n "$host_ip" ] || host_ip=203.0.113.1 # no global address: the filter still refuses it
published=$(free_port)
# One program starts at a time in the guest (README, PVM hosts: known
# issue): the shell waits, with builtins only (read -t on a FIFO as its
# sleep), until nc has a socket, that is, until it is past its start-up.
"$NOOK" run --net user --scope group -p "$published:8080" -- sh -c "
	mkfifo /tmp/to-host /tmp/tick; exec 3<>/tmp/to-host 4<>/tmp/tick; echo from-guest >&3
	nc -l -p 8080 <&3 3<&- 4<&- >/tmp/got & nc=\$!
	i=0; until [ -S /proc/\$nc/fd/3 ] || [ \$i -ge 60 ]; do read -t 1 x <&4; i=\$((i + 1)); done
	timeout 5 wget -q -O- http://10.0.2.2:$lo_http/index.html; echo loopback-status=\$?
	timeout 5 wget -q -O- http://$host_ip:$http/index.html; echo refused-status=\$?
	echo READY
	i=0; while [ ! -s /tmp/got ] && [ \$i -lt 60 ]; do sleep 1; i=\$((i + 1)); done
	echo got=\$(cat /tmp/got)
" </dev/null >"$work/user.out" 2>"$work/user.err" &
nook_pid=$!
# No output of its own: its sleep outlives the kill at exit, and the test
# harness waits for every holder of our stdout.
( sleep "$BOOT_TIMEOUT"; kill -9 "$nook_pid" ) >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq "$BOOT_TIMEOUT"); do
	grep -q READY "$work/user.out" 2>/dev/null && break
	kill -0 "$nook_pid" 2>/dev/null || break
	sleep 1
done
# A host client on 127.0.0.1:HOST_PORT talks to the guest's server on 8080.
python3 - "$published" >"$work/client.out" 2>&1 <<'PY'
import socket, sys, time
for _ in range(20):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
        break
    except OSError:
        time.sleep(1)
s.sendall(b"from-host\n")
data = b""
while b"from-guest" not in data:
    chunk = s.recv(100)
    if not chunk:
        break
    data += chunk
s.shutdown(socket.SHUT_WR)
print(data.decode().strip())
PY
wait "$nook_pid"
echo $? >"$work/user.status"
check "user: status 0" [ "$(status user)" = 0 ]
check "user: host loopback service refused through the gateway" grep -q "loopback-status=[1-9]" "$work/user.out"
check "user: ... its page not fetched" lacks "$work/user.out" "page-from-host"
check "user: ... the request never reached it" [ "$(grep -c 'GET /index.html' "$work/lo_http.log")" = 0 ]
check "user: host address $host_ip outside the subnet refused" grep -q "refused-status=[1-9]" "$work/user.out"
check "user: ... never reached the server" [ "$(grep -c 'GET /index.html' "$work/http.log")" = 0 ]
check "user: published port: host client got the guest's reply" contains "$work/client.out" "from-guest"
check "user: published port: guest server got the host's message" contains "$work/user.out" "got=from-host"

# --- One boot with the host loopback granted: the same service answers ---
run grant run --net user --allow-host-loopback -- \
	sh -c "wget -q -O- http://10.0.2.2:$lo_http/index.html; echo loopback-status=\$?"
check "grant: status 0" [ "$(status grant)" = 0 ]
check "grant: host loopback service reached through the gateway" contains "$work/grant.out" "page-from-host"
check "grant: fetch succeeded" contains "$work/grant.out" "loopback-status=0"
check "grant: the request reached the loopback server" [ "$(grep -c 'GET /index.html' "$work/lo_http.log")" = 1 ]

# --- One boot on passt: the guest's address comes from passt's DHCP ---
passt_ip=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
if ! command -v passt >/dev/null || [ -z "$passt_ip" ]; then
	ok 0 "passt: # SKIP passt or a host route missing"
else
	# Run as root, passt becomes nobody before it creates its socket.
	mkdir "$work/passt"
	chmod 0711 "$work"
	[ "$(id -u)" = 0 ] && chown nobody "$work/passt"
	passt -f -1 -s "$work/passt/sock" >"$work/passt.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [ -S "$work/passt/sock" ] && break; sleep 0.1; done
	run passt run --net "unixstream:$work/passt/sock" --scope any -- \
		sh -c 'ip -4 -o addr show eth0; ip route; cat /etc/resolv.conf'
	check "passt: status 0" [ "$(status passt)" = 0 ]
	check "passt: guest got the host's address $passt_ip from passt" contains "$work/passt.out" "inet $passt_ip/"
	check "passt: default route from DHCP" contains "$work/passt.out" "default via"
fi

tap_done
