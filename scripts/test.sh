#!/usr/bin/env bash
# The test command: swift test (XCTest), then one plain closing line
# "N passed, N failed" taken from XCTest's own summary.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/test-tools.sh || { echo "0 passed, 1 failed"; exit 1; }
log=$(mktemp)
swift test --disable-swift-testing "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1)
rm -f "$log"
if [[ $summary =~ Executed\ ([0-9]+)\ tests?,\ with\ ([0-9]+)\ failure ]]; then
  total=${BASH_REMATCH[1]}; failed=${BASH_REMATCH[2]}
  echo "$((total - failed)) passed, $failed failed"
fi
exit "$status"
