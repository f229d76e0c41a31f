# Sourced by the bench scripts.
# `start_serve`: the release `openagents serve` (runtime on $RPORT, control on
# $CPORT, signatures off so wrk can reach the runtime) in $WORK/data, waited
# for; sets PID and TOKEN (a session token for bench-user).
# `measure <label> <wrk args...>` runs wrk -t2 -c64 for $DURATION (10s or 10)
# and prints one line (req/s, p50, p99 in ms, non-2xx), leaving <label>_rps
# (dashes as underscores) and <label>_p50 set for the summary.
start_serve() {
  RUNTIME_INTERNAL_AUTH=disabled "$BIN" serve --runtime-port "$RPORT" --control-port "$CPORT" --data-dir "$WORK/data" > "$WORK/serve.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$CPORT/healthz" && break; sleep 0.1; done
  TOKEN="$("$BIN" token session --user-id bench-user --org-id bench-org --ttl 3600 --data-dir "$WORK/data")"
}

to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000; printf "%.3f", n }'; }

measure() {
  local label="$1"; shift
  local d="${DURATION%s}s"
  local out; out="$(wrk -t2 -c64 -d"$d" --latency "$@")"
  local rps p50 p99 non2xx
  rps="$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {print $2}')"
  p50="$(printf '%s\n' "$out" | awk '$1 == "50%" {print $2}')"
  p99="$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')"
  non2xx="$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ {print $NF}')"
  echo "$label c64 $rps req/s p50 $(to_ms "$p50") ms p99 $(to_ms "$p99") ms non2xx ${non2xx:-0}"
  eval "${label//-/_}_rps=$rps; ${label//-/_}_p50=$(to_ms "$p50")"
}
