#!/usr/bin/env bash
# SSE fan-out against `openagents serve` (release build): 1,000 stream clients
# on 100 runs while events are appended (delivered events/s, commit-to-client
# latency p50/p99), then 10,000 held stream connections and the server's RSS.
# Requests are signed (a throwaway secret shared with the benchmark client).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-4195}"
BIN="$(pwd)/.build/release/openagents"
WORK="$(mktemp -d)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export OA_RUNTIME_SIGNATURE_SECRET="bench-stream-$RANDOM$RANDOM"
"$BIN" serve --only runtime --runtime-port "$PORT" --data-dir "$WORK" > "$WORK/serve.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
base_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
# Two append rates (each append fans out to 10 clients); latency includes the
# fdatasync that must finish before an event may be delivered.
PORT="$PORT" RATE=1000 IDLE=0 .build/release/StreamBench
PORT="$PORT" RATE=2000 HOLD=4 .build/release/StreamBench | while IFS= read -r line; do
  echo "$line"
  if [[ "$line" == stream-idle* ]]; then
    sleep 1
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
    echo "stream-idle rss $rss kB ($(awk -v a="$rss" -v b="$base_rss" 'BEGIN {printf "%+.1f MB", (a - b) / 1024}') over the idle server)"
  fi
done
