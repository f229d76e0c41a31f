#!/usr/bin/env bash
# The product under the anchor's wrk workloads: `openagents serve --only
# runtime` (release) answers the anchor's /healthz script as is; its durable
# JSON append route takes the anchor's place for append (the anchor's route
# and body do not exist in the product: ours is POST /internal/v1/runs/{id}/events
# with an AppendRunEventRequest, acknowledged after fdatasync); GET of a run
# stands in for the anchor's page read. Then 10,000 idle keep-alive
# connections with the server's RSS. Loopback only; signature checks are off
# (wrk cannot mint single-use tokens, and the anchor has no auth).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="$(cd ../shared/bench && pwd)"
PORT="${PORT:-8090}"
DURATION="${DURATION:-10s}"
THREADS="${THREADS:-2}"
BASE="http://127.0.0.1:${PORT}"
BIN="$(pwd)/.build/release/openagents"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if curl -s -o /dev/null "$BASE/healthz"; then echo "port $PORT is already in use" >&2; exit 1; fi
WORK="$(mktemp -d)"
RUNTIME_INTERNAL_AUTH=disabled "$BIN" serve --only runtime --runtime-port "$PORT" --data-dir "$WORK/data" > "$WORK/log" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "$BASE/healthz" && break; sleep 0.1; done

mem() { awk '/^VmRSS:/ {r=$2} /^VmHWM:/ {h=$2} END {print r, h}' "/proc/$PID/status"; }
expect() {
  local want="$1" what="$2"; shift 2
  local got; got="$(curl -s -o /dev/null -w '%{http_code}' "$@")"
  [ "$got" = "$want" ] || { echo "smoke check failed: $what: got $got, want $want" >&2; exit 1; }
}
expect 200 "GET /healthz" "$BASE/healthz"
for i in $(seq 0 63); do
  expect 201 "create bench-run-$i" -H 'content-type: application/json' -d "{\"run_id\":\"bench-run-$(printf %02d "$i")\"}" "$BASE/internal/v1/runs"
done
expect 400 "POST invalid JSON" -X POST -H 'Content-Type: application/json' --data-binary '{"event_type":' "$BASE/internal/v1/runs/bench-run-00/events"
expect 400 "POST unknown field" -X POST -H 'Content-Type: application/json' --data-binary '{"noSuchField":1}' "$BASE/internal/v1/runs/bench-run-00/events"
expect 200 "POST an event" -H 'Content-Type: application/json' --data-binary '{"event_type":"tool.call","payload":{"tool":"search"}}' "$BASE/internal/v1/runs/bench-run-00/events"
echo "# ours: openagents serve --only runtime (release), pid $PID; mem after set-up (rss hwm kB): $(mem)"

to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n = n * 60000; else if (v ~ /s$/) n = n * 1000; printf "%.3f", n }'
}
run_wrk() {
  local name="$1" conns="$2" script="$3" out
  out="$(wrk -t"$THREADS" -c"$conns" -d"$DURATION" --latency -s "$script" "$BASE")"
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
run_wrk healthz 64 "$BENCH/wrk/healthz.lua"
run_wrk healthz 256 "$BENCH/wrk/healthz.lua"
run_wrk get-run 64 Benchmarks/append/get-run.lua
run_wrk append-durable 64 Benchmarks/append/append-events.lua
