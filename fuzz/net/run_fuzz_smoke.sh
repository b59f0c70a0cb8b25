#!/bin/bash
# Runs a standalone net fuzz target over its committed seed corpus and
# deterministic mutations of it. Usage: run_fuzz_smoke.sh TARGET CORPUS_DIR
set -eu
"$1" -r "${FUZZ_ROUNDS:-3000}" "$2"/*
