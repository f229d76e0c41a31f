#!/usr/bin/env bash
# The capability registry's JSON-RPC (make bench-rpc), the product binary
# (`openagents serve`, release), everything in one run at 64 connections:
# control's own GET /healthz (the anchor of the goal), initialize and
# session/send as HTTP POSTs (wrk -t2 -c64) and over the WebSocket (RPCBench,
# 64 sockets, one call in flight each), and the runtime's durable frame append
# that session/send ends in (wrk straight at the runtime), so the RPC layer's
# cost and the append's bound are side by side.
# Runtime signatures are off (RUNTIME_INTERNAL_AUTH=disabled) so wrk can reach
# the runtime directly; control still signs every call it forwards.
set -euo pipefail
cd "$(dirname "$0")/.."
RPORT="${RPORT:-4196}"
CPORT="${CPORT:-8196}"
DURATION="${DURATION:-10}"
BIN="$(pwd)/.build/release/openagents"
RPC="$(pwd)/.build/release/RPCBench"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
sync

source scripts/bench-lib.sh

start_serve
SESSION="$(curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"session/start","params":{"agent_type":"codex","workspace_id":"bench"}}' "http://127.0.0.1:$CPORT/api/rpc" \
  | sed -n 's/.*"session_id":"\([^"]*\)".*/\1/p')"
[ -n "$SESSION" ] || { echo "session/start failed"; exit 1; }
INIT='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"bench"}}}'
SEND='{"jsonrpc":"2.0","id":2,"method":"session/send","params":{"agent_type":"codex","session_id":"'"$SESSION"'","text":"hello"}}'
for body in "$INIT" "$SEND"; do  # wrk counts statuses only: each body must answer a result, not a JSON-RPC error
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$body" "http://127.0.0.1:$CPORT/api/rpc" | grep -q '"result":' \
    || { echo "the bench body fails: $body"; exit 1; }
done


ws() {  # ws <label> <body>
  local out; out="$(PORT="$CPORT" CONNECTIONS=64 SECONDS="$DURATION" SESSION_TOKEN="$TOKEN" LABEL="$1" BODY="$2" "$RPC")"
  echo "$out"
  eval "${1//-/_}_rps=$(printf '%s\n' "$out" | awk '{print $3}')"
}

echo "# 64 connections, ${DURATION}s each (server and load generator share this machine's cores)"
measure control-healthz "http://127.0.0.1:$CPORT/healthz"
ws ws-initialize "$INIT"
BENCH_SESSION_TOKEN="$TOKEN" BENCH_BODY="$INIT" measure http-initialize -s Benchmarks/rpc/post.lua "http://127.0.0.1:$CPORT"
BENCH_RUN="$SESSION" measure runtime-frame-append -s Benchmarks/rpc/frames.lua "http://127.0.0.1:$RPORT"
ws ws-send "$SEND"
BENCH_SESSION_TOKEN="$TOKEN" BENCH_BODY="$SEND" measure http-send -s Benchmarks/rpc/post.lua "http://127.0.0.1:$CPORT"
awk -v h="$control_healthz_rps" -v w="$ws_initialize_rps" -v a="$runtime_frame_append_rps" -v s="$ws_send_rps" -v p="$http_send_rps" 'BEGIN {
  printf "WebSocket initialize is %.0f%% of control /healthz req/s (goal >= 70%%)\n", 100 * w / h
  printf "session/send is %.0f%% (WebSocket) and %.0f%% (HTTP) of the runtime'"'"'s own durable frame append req/s\n", 100 * s / a, 100 * p / a }'
