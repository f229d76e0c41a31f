#!/usr/bin/env bash
# The control service under wrk (-t2 -c64), the product binary (`openagents serve`,
# release): the runtime's own GET /internal/v1/workers/:id, the same worker
# through control's proxied GET /api/runtime/workers/:id (session check, signed
# forward over the pooled client, envelope), and a durable control write (a codex
# worker event append, fdatasync before the 202), all in one run.
# Runtime signatures are off (RUNTIME_INTERNAL_AUTH=disabled) so wrk can call the
# runtime directly; the proxy still signs every forwarded call.
set -euo pipefail
cd "$(dirname "$0")/.."
RPORT="${RPORT:-4195}"
CPORT="${CPORT:-8195}"
DURATION="${DURATION:-10s}"
BIN="$(pwd)/.build/release/openagents"
WORK="$(mktemp -d)"
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
sync

source scripts/bench-lib.sh

start_serve
AUTH="Authorization: Bearer $TOKEN"
curl -sf -o /dev/null -H "$AUTH" -H 'content-type: application/json' -d '{"workerId":"bench-w"}' "http://127.0.0.1:$CPORT/api/runtime/workers"
curl -sf -o /dev/null -H "$AUTH" -H 'content-type: application/json' -d '{"worker_id":"codexw_bench"}' "http://127.0.0.1:$CPORT/api/runtime/codex/workers"


echo "# wrk -t2 -c64 -d$DURATION --latency (server and wrk share this machine's cores)"
measure runtime-direct "http://127.0.0.1:$RPORT/internal/v1/workers/bench-w?owner_user_id=bench-user"
measure control-proxy -H "$AUTH" "http://127.0.0.1:$CPORT/api/runtime/workers/bench-w"
BENCH_SESSION_TOKEN="$TOKEN" measure codex-event-append -s Benchmarks/control/codex-events.lua "http://127.0.0.1:$CPORT"
awk -v a="$runtime_direct_p50" -v b="$control_proxy_p50" -v r1="$runtime_direct_rps" -v r2="$control_proxy_rps" \
  'BEGIN { printf "proxy adds %.3f ms at p50 (goal < 1 ms) and keeps %.0f%% of the direct route'"'"'s req/s (goal >= 50%%)\n", b - a, 100 * r2 / r1 }'
