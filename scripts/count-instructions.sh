#!/usr/bin/env bash
# Instruction count of one codec operation (10 iterations) under callgrind:
# repeatable where wall time on a shared 2-core machine is not.
# Usage: scripts/count-instructions.sh binary-decode|binary-encode|json-decode|json-encode
set -euo pipefail
op="$1"
out=$(mktemp)
BENCH_ONLY="$op" BENCH_ITERATIONS=10 valgrind --tool=callgrind --callgrind-out-file="$out" \
  .build/release/CodecBench ../shared/bench/data 2>&1 | grep -E 'Collected' | sed "s/.*Collected : /$op instructions (10 iterations + setup): /"
rm -f "$out"
