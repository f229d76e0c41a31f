#!/usr/bin/env bash
# The control service under wrk (-t2 -c64), the product binary (`openagents serve`,
# release): the runtime's own GET /internal/v1/workers/:id, the same worker
# through control's proxied GET /api/runtime/workers/:id (session check, signed
# forward over the pooled client, envelope), and a durable control write (a codex
# worker event append, fdatasync before the 202), all in one run: ROUNDS rounds
# (3 unless told) of the three in turn, the goal checked on the medians.
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


ROUNDS="${ROUNDS:-3}"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "# wrk -t2 -c64 -d$DURATION --latency (server and wrk share this machine's cores), $ROUNDS rounds of the three in turn, medians compared"
d_rps=(); d_p50=(); p_rps=(); p_p50=()
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  measure runtime-direct "http://127.0.0.1:$RPORT/internal/v1/workers/bench-w?owner_user_id=bench-user"
  measure control-proxy -H "$AUTH" "http://127.0.0.1:$CPORT/api/runtime/workers/bench-w"
  BENCH_SESSION_TOKEN="$TOKEN" measure codex-event-append -s Benchmarks/control/codex-events.lua "http://127.0.0.1:$CPORT"
  d_rps+=("$runtime_direct_rps"); d_p50+=("$runtime_direct_p50"); p_rps+=("$control_proxy_rps"); p_p50+=("$control_proxy_p50")
done
dr="$(printf '%s\n' "${d_rps[@]}" | median)"; dp="$(printf '%s\n' "${d_p50[@]}" | median)"
pr="$(printf '%s\n' "${p_rps[@]}" | median)"; pp="$(printf '%s\n' "${p_p50[@]}" | median)"
echo "median: runtime-direct $dr req/s p50 $dp ms; control-proxy $pr req/s p50 $pp ms"
awk -v a="$dp" -v b="$pp" -v r1="$dr" -v r2="$pr" \
  'BEGIN { printf "proxy adds %.3f ms at p50 (goal < 1 ms) and keeps %.0f%% of the direct route'"'"'s req/s (goal >= 50%%)\n", b - a, 100 * r2 / r1 }'
