# TAP helpers for the shell tests; source it, then call tap_done at the end.
#   ok STATUS DESCRIPTION      one test point (STATUS 0 passes)
#   check DESCRIPTION CMD...   a test point from a command's status
#   contains FILE TEXT         FILE holds TEXT (else show FILE)
#   lacks FILE TEXT            FILE does not hold TEXT
#   equals GOT EXPECTED
# With $work, $NOOK and $BOOT_TIMEOUT set:
#   run NAME ARGS...           nook ARGS under a hard timeout; stdin from
#                              $work/NAME.in if present; stdout, stderr and
#                              status to $work/NAME.{out,err,status}
#   status NAME
#   tap_lines FILE             a test driver's "ok - ..."/"not ok - ..." lines
#                              as test points, its other lines as comments
n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
check() { # what the command prints is shown only when it fails
	local d=$1 out; shift
	if out=$("$@" 2>&1); then ok 0 "$d"; else printf '%s\n' "$out" | sed 's/^/# /' | head -40; ok 1 "$d"; fi
}
contains() { grep -qF -- "$2" "$1" || { echo "# $1 lacks: $2"; sed 's/^/#   /' "$1" | tail -30; false; }; }
lacks() { ! grep -qF -- "$2" "$1" || { echo "# $1 has: $2"; false; }; }
equals() { [ "$1" = "$2" ] || { echo "# expected [$2], got [$1]"; false; }; }
run() {
	local name=$1; shift
	local in=/dev/null
	[ -f "$work/$name.in" ] && in=$work/$name.in
	timeout -k 10 "$BOOT_TIMEOUT" "$NOOK" "$@" <"$in" >"$work/$name.out" 2>"$work/$name.err"
	echo $? >"$work/$name.status"
}
status() { cat "$work/$1.status"; }
tap_lines() {
	local line
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok 0 "${line#ok - }" ;;
		"not ok - "*) ok 1 "${line#not ok - }" ;;
		*) echo "# ${line#\# }" ;;
		esac
	done <"$1"
}
tap_done() {
	echo "1..$n"
	exit $((failed > 0))
}
