#!/usr/bin/env bash
# Durable appends over HTTP: wrk posts run events across 64 runs at 64
# connections against `openagents serve` (group commit), then the same with
# one fdatasync per append; then start-up time over a 1,000,000-event log.
# Signature checks are off (RUNTIME_INTERNAL_AUTH=disabled): wrk cannot mint a
# fresh single-use token per request, and the anchor has no auth either.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-4190}"
DURATION="${DURATION:-10s}"
BIN="$(pwd)/.build/release/openagents"
BASE="http://127.0.0.1:$PORT"
WORK="$(mktemp -d)"
trap 'pkill -f "runtime-port $PORT" 2>/dev/null || true; rm -rf "$WORK"' EXIT

to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000; printf "%.3f", n }'; }

run_mode() {  # run_mode <label> <sync-each 0|1>
  local label="$1" each="$2" dir="$WORK/$1"
  RUNTIME_INTERNAL_AUTH=disabled RUNTIME_SYNC_EACH_APPEND="$each" "$BIN" serve --only runtime --runtime-port "$PORT" --data-dir "$dir" > "$WORK/$label.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "$BASE/healthz" && break; sleep 0.1; done
  for i in $(seq 0 63); do
    curl -s -o /dev/null -H 'content-type: application/json' -d "{\"run_id\":\"bench-run-$(printf %02d "$i")\"}" "$BASE/internal/v1/runs"
  done
  local out; out="$(wrk -t2 -c64 -d"$DURATION" --latency -s Benchmarks/append/append-events.lua "$BASE")"
  local rps p50 p99 non2xx
  rps="$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {print $2}')"
  p50="$(printf '%s\n' "$out" | awk '$1 == "50%" {print $2}')"
  p99="$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')"
  non2xx="$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ {print $NF}')"
  local lines; lines="$(wc -l < "$dir/runtime-events.jsonl")"
  echo "append $label c64 $rps req/s p50 $(to_ms "$p50") ms p99 $(to_ms "$p99") ms non2xx ${non2xx:-0} log_lines $lines"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "# durable appends (fdatasync before every acknowledgement), wrk -t2 -c64 -d$DURATION"
run_mode group-commit 0
run_mode sync-each-append 1

echo "# start-up over a 1,000,000-event log"
mkdir -p "$WORK/big"
python3 Benchmarks/append/make_log.py 1000000 "$WORK/big/runtime-events.jsonl"
start=$(date +%s.%N)
RUNTIME_INTERNAL_AUTH=disabled "$BIN" serve --only runtime --runtime-port "$PORT" --data-dir "$WORK/big" > "$WORK/big.log" 2>&1 &
pid=$!
until curl -s -o /dev/null "$BASE/healthz"; do kill -0 "$pid" 2>/dev/null || { cat "$WORK/big.log"; exit 1; }; sleep 0.02; done
serving=$(date +%s.%N)
# Ready = runs, workers and projections all recovered (/readyz 200).
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ]; do kill -0 "$pid" 2>/dev/null || { cat "$WORK/big.log"; exit 1; }; sleep 0.02; done
ready=$(date +%s.%N)
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
echo "startup 1000000 events serving $(awk -v a="$start" -v b="$serving" 'BEGIN {printf "%.2f", b - a}') s ready $(awk -v a="$start" -v b="$ready" 'BEGIN {printf "%.2f", b - a}') s rss $rss kB"
kill "$pid"; wait "$pid" 2>/dev/null || true
