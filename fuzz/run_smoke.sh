#!/bin/sh
# Runs a standalone fuzz target over its committed seed corpus and
# FUZZ_ROUNDS deterministic mutations of each seed (standalone.c).
# Usage: run_smoke.sh TARGET CORPUS_DIR [ROUNDS]
set -eu
set -- "$1" "$2" "${FUZZ_ROUNDS:-${3:-500}}"
ls "$2"/* >/dev/null 2>&1 || { echo "no seeds in $2" >&2; exit 1; }
exec "$1" -r "$3" "$2"/*
