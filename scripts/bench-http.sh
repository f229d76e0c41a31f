#!/usr/bin/env bash
# Our HTTP server under the anchor's wrk workloads (same scripts, same order,
# same output lines as ../shared/bench/run_anchor.sh), then 10,000 idle
# keep-alive connections with the server's RSS. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="$(cd ../shared/bench && pwd)"
PORT="${PORT:-8090}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
BASE="http://127.0.0.1:${PORT}"
BIN="$(pwd)/.build/release/HTTPBench"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if curl -s -o /dev/null "$BASE/healthz"; then echo "port $PORT is already in use" >&2; exit 1; fi
LOG="$(mktemp)"
PORT="$PORT" "$BIN" > "$LOG" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "$BASE/healthz" && break; sleep 0.1; done

mem() { awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {print r, h}' "/proc/$PID/status"; }
expect() {
  local want="$1" what="$2"; shift 2
  local got; got="$(curl -s -o /dev/null -w '%{http_code}' "$@")"
  [ "$got" = "$want" ] || { echo "smoke check failed: $what: got $got, want $want" >&2; exit 1; }
}
cd "$BENCH"
expect 200 "GET /healthz" "$BASE/healthz"
expect 400 "POST invalid JSON" -X POST -H 'Content-Type: application/json' --data-binary '{"seq":' "$BASE/internal/v1/runs/smoke/events"
expect 400 "POST unknown field" -X POST -H 'Content-Type: application/json' --data-binary '{"noSuchField":1}' "$BASE/internal/v1/runs/smoke/events"
expect 400 "GET bad after" "$BASE/internal/v1/runs/smoke/events?after=x"
for i in $(seq 1 100); do
  expect 201 "POST event $i" -X POST -H 'Content-Type: application/json' --data-binary @data/event.json "$BASE/internal/v1/runs/prefilled-run/events"
done
page="$(curl -s "$BASE/internal/v1/runs/prefilled-run/events?after=0")"
count="$(printf '%s' "$page" | grep -o '"toolCallId"' | wc -l)"
[ "$count" = 100 ] || { echo "pre-fill check: page has $count events, want 100" >&2; exit 1; }
echo "# ours: openagents HTTP core, pid $PID; page bytes ${#page}; mem after prefill (rss hwm kB): $(mem)"

to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n = n * 60000; else if (v ~ /s$/) n = n * 1000; printf "%.3f", n }'
}
run_wrk() {
  local name="$1" conns="$2" out
  out="$(wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency -s "wrk/$name.lua" "$BASE")"
  local rps p50 p99 non2xx sockerr
  rps="$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {print $2}')"
  p50="$(printf '%s\n' "$out" | awk '$1 == "50%" {print $2}')"
  p99="$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')"
  non2xx="$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ {print $NF}')"
  sockerr="$(printf '%s\n' "$out" | grep 'Socket errors' || true)"
  read -r rss hwm < <(mem)
  echo "http $name c$conns $rps req/s p50 $(to_ms "$p50") ms p99 $(to_ms "$p99") ms non2xx ${non2xx:-0} rss $rss kB hwm $hwm kB"
  [ -z "$sockerr" ] || echo "# $name c$conns: $sockerr"
}
# 10,000 idle keep-alive connections: each sends one request, reads the answer, then stays open.
python3 - "$PORT" "$PID" <<'PY'
import resource, socket, sys, time
port, pid = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"): return int(line.split()[1])
before = rss()
socks = []
for i in range(10000):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n")
    socks.append(s)
ok = 0
for s in socks:
    data = b""
    while b"\r\n\r\n" not in data: data += s.recv(4096)
    ok += data.startswith(b"HTTP/1.1 200")
time.sleep(1)
after = rss()
print(f"idle keepalive {len(socks)} connections {ok} ok rss_before {before} kB rss_after {after} kB delta {after - before} kB")
for s in socks: s.close()
PY

echo "# wrk -t$THREADS -d$DURATION --latency against $BASE (server and wrk share this machine's cores)"
run_wrk healthz 64
run_wrk healthz 256
run_wrk read 64
run_wrk append 64

