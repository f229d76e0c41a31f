#!/usr/bin/env bash
# Durable appends over HTTP: wrk posts run events across 64 runs at 64
# connections against `openagents serve` (group commit), then the same with
# one fdatasync per append; then start-up time and RSS over 1,000,000- and
# 5,000,000-event logs (10,000 runs, then 5M over 50,000 runs), without and
# with a snapshot, and after reading 1,000 random old runs.
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

# Flush what the release build just wrote: its writeback would otherwise land
# inside the first fdatasync-bound measurement (a 582 ms p99 once).
sync

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

# Start-up and memory over big logs (make_log.py: N events round robin over R runs).
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
PID=""
start_big() {  # start_big <dir>: sets PID, SERVING, READY (seconds since start)
  local t0; t0=$(date +%s.%N)
  RUNTIME_INTERNAL_AUTH=disabled "$BIN" serve --only runtime --runtime-port "$PORT" --data-dir "$1" >> "$1.log" 2>&1 &
  PID=$!
  until curl -s -o /dev/null "$BASE/healthz"; do kill -0 "$PID" 2>/dev/null || { cat "$1.log"; exit 1; }; sleep 0.02; done
  SERVING=$(secs "$t0" "$(date +%s.%N)")
  # Ready = runs, workers and projections all recovered (/readyz 200).
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz")" = 200 ]; do kill -0 "$PID" 2>/dev/null || { cat "$1.log"; exit 1; }; sleep 0.02; done
  READY=$(secs "$t0" "$(date +%s.%N)")
}
stop_big() { kill "$PID"; wait "$PID" 2>/dev/null || true; }

big() {  # big <events> <runs>
  local n="$1" runs="$2" dir="$WORK/big-$1-$2"
  mkdir -p "$dir"
  python3 Benchmarks/append/make_log.py "$n" "$dir/runtime-events.jsonl" "$runs"
  echo "# start-up over a $n-event log ($runs runs)"
  start_big "$dir"
  echo "startup $n events no-snapshot serving $SERVING s ready $READY s rss $(rss_kb "$PID") kB"
  # The full rebuild leaves a snapshot behind (written in the background); wait for it.
  for _ in $(seq 1 600); do [ -f "$dir/runtime-events.jsonl.snapshot" ] && break; sleep 0.1; done
  sleep 1
  stop_big
  start_big "$dir"
  echo "startup $n events snapshot serving $SERVING s ready $READY s rss $(rss_kb "$PID") kB"
  # Old runs: the replay of 1,000 random runs, every event read back from the log.
  for i in $(shuf -i 0-$(( runs - 1 )) -n 1000 --random-source=<(yes)); do
    curl -s -o /dev/null "$BASE/internal/v1/runs/bench-run-$(printf %02d "$i")/replay"
  done
  echo "read 1000 random old runs ($n events) rss $(rss_kb "$PID") kB"
  stop_big
  rm -rf "$dir"
}
# The log grows five times over the same runs (memory must not follow it),
# then over five times the runs (their heads stay in memory).
big 1000000 10000
big 5000000 10000
big 5000000 50000
