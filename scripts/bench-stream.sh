#!/usr/bin/env bash
# SSE fan-out against `openagents serve` (release build): 1,000 stream clients
# on 100 runs while events are appended at two rates (delivered events/s,
# append-to-client and commit-to-client latency p50/p99); then, on a fresh
# server, 10,000 held stream connections and the server's RSS.
# Requests are signed (a throwaway secret shared with the benchmark client).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-4195}"
BIN="$(pwd)/.build/release/openagents"
WORK="$(mktemp -d)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
export OA_RUNTIME_SIGNATURE_SECRET="bench-stream-$RANDOM$RANDOM"
# LANE=ws: the same over Khala's WebSocket lane (make bench-khala), with
# POLLERS Khala pollers beside the subscribers; RATES: the append rates run.
export RUNTIME_SYNC_TOKEN_SIGNING_KEY="bench-sync-$RANDOM$RANDOM"
export LANE="${LANE:-sse}" POLLERS="${POLLERS:-0}"
RATES="${RATES:-1000 2000}"
IDLE_CONNECTIONS="${IDLE_CONNECTIONS:-10000}"
PID=""
start_server() {
  rm -rf "$WORK/data"
  "$BIN" serve --only runtime --runtime-port "$PORT" --data-dir "$WORK/data" > "$WORK/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.1; done
}
stop_server() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
trap 'stop_server; rm -rf "$WORK"' EXIT

start_server
# Each append fans out to 10 clients; an event may only be sent once its
# fdatasync is done, so the latency includes durability.
for rate in $RATES; do PORT="$PORT" RATE="$rate" IDLE=0 .build/release/StreamBench; done
stop_server

start_server
base_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
PORT="$PORT" CLIENTS=0 HOLD=4 IDLE="$IDLE_CONNECTIONS" .build/release/StreamBench | while IFS= read -r line; do
  echo "$line"
  if [[ "$line" == *-idle* ]]; then
    sleep 1
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")
    echo "${LANE}-idle rss $rss kB ($(awk -v a="$rss" -v b="$base_rss" 'BEGIN {printf "%+.1f MB", (a - b) / 1024}') over the idle server)"
  fi
done
