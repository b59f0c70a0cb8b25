#!/bin/bash
# Runs a standalone fuzz target over its seed corpus and FUZZ_ROUNDS
# deterministic mutations of each seed. Usage: run_fuzz_smoke.sh TARGET CORPUS_DIR
set -eu
shopt -s nullglob
seeds=("$2"/*)
[ ${#seeds[@]} -gt 0 ] || { echo "no seeds in $2" >&2; exit 1; }
exec "$1" -r "${FUZZ_ROUNDS:-500}" "${seeds[@]}"
