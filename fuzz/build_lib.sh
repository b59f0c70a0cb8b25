#!/bin/sh
# Compiles every libnook source with libFuzzer's coverage and the
# sanitizers into one archive, so that each libFuzzer target links the
# library as it is rather than a hand-kept list of its files.
# Usage: build_lib.sh OUT.a CC [CFLAGS...] -- SOURCE...
set -eu
out=$1 cc=$2
shift 2
flags=""
while [ "$1" != "--" ]; do flags="$flags $1"; shift; done
shift
dir=$(mktemp -d "${out}.objs.XXXXXX")
trap 'rm -rf "$dir"' EXIT
i=0
for src in "$@"; do
	i=$((i + 1))
	# shellcheck disable=SC2086
	"$cc" $flags -c "$src" -o "$dir/$i.o"
done
rm -f "$out"
ar rcs "$out" "$dir"/*.o
