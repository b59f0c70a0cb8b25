#!/bin/bash
# Runs a standalone fuzz target over a fresh qemu-img corpus and mutations
# of it. Usage: run_fuzz_smoke.sh MAKE_CORPUS TARGET FORMAT
set -eu
dir=$(mktemp -d /tmp/nook-fuzz-XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$1" "$dir"
case $3 in qcow2) files=("$dir"/*.qcow2) ;; *) files=("$dir"/*.vmdk) ;; esac
"$2" -r "${FUZZ_ROUNDS:-2000}" "${files[@]}"
