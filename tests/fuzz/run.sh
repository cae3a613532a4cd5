#!/bin/bash
# Runs the expression fuzzer for a fixed number of inputs (CI) from a seed
# corpus made of every expression in tests/unit/expr_cases.txt.
#   tests/fuzz/run.sh FUZZER [runs, default 200000]
set -eu
cd "$(dirname "$0")/../.."
fuzzer=$1
runs=${2:-200000}
corpus=$(mktemp -d /tmp/patron-fuzz.XXXXXX)
trap 'rm -rf "$corpus"' EXIT
n=0
# Line 1 of each three-line case is an expression (skip comments and blanks).
awk 'BEGIN { k = 0 } /^#/ || /^$/ { next } { if (k % 3 == 0) print; k++ }' tests/unit/expr_cases.txt |
    while IFS= read -r line; do
        n=$((n + 1))
        printf '%s' "$line" >"$corpus/case-$n"
    done
ASAN_OPTIONS=detect_leaks=1 "$fuzzer" -runs="$runs" -max_len=512 -artifact_prefix="${FUZZ_ARTIFACTS:-/tmp/patron-fuzz-}" -timeout=10 -print_final_stats=1 "$corpus" 2>&1 |
    grep -E 'stat::number_of_executed_units|stat::peak_rss|Done|ERROR|SUMMARY|==' | head -40
exit "${PIPESTATUS[0]}"
