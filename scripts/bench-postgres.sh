#!/usr/bin/env bash
# make bench-postgres, on one throwaway cluster, in one run:
# (a) our client against pgbench, the same prepared single-row INSERT (two
#     parameters) at 8 connections, pgbench first and ours after;
# (b) durable run appends over HTTP at 64 connections (wrk, the bench-append
#     body over 64 runs) through `openagents serve` on the embedded log, one
#     instance on PostgreSQL, and two instances on one database (32
#     connections each, their req/s summed);
# (c) cross-instance latency: append through instance A, an SSE client on
#     instance B receives it (p50/p99), idle and under (b)'s load on A.
# The cluster keeps PostgreSQL's defaults (fsync and synchronous_commit on),
# so both wait for the same WAL flush per commit.
# The two cores are shared with everything else on this machine and figures
# swing from one run to the next: (a) and (b) alternate what they compare for
# ROUNDS rounds (3 unless told) and the ratios are of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${SECONDS_EACH:-10}"
DURATION="${DURATION:-10s}"
SERVE="$(pwd)/.build/release/openagents"
CONNECTIONS="${CONNECTIONS:-8}"
ROUNDS="${ROUNDS:-3}"
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d /tmp/pgbench.XXXX)
PORT=$((40000 + RANDOM % 20000))
AS=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; AS=(runuser -u postgres --); fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
"${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -o "-k $DIR -c listen_addresses=127.0.0.1 -p $PORT" start >/dev/null
sync
PSQL=("$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -qAt)
"${PSQL[@]}" -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, worker int NOT NULL, n int NOT NULL)"
cat > "$DIR/insert.sql" <<'SQL'
\set w random(0, 7)
\set n random(0, 1000000)
INSERT INTO bench_insert (worker, n) VALUES (:w, :n);
SQL
echo "# prepared single-row INSERT, $CONNECTIONS connections, ${SECONDS_EACH}s each, over TCP 127.0.0.1 (client and server share this machine's cores)"
pg_all=(); our_all=()
for round in $(seq 1 "$ROUNDS"); do
  out="$("$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -M prepared -c "$CONNECTIONS" -j 2 -T "$SECONDS_EACH" -f "$DIR/insert.sql" postgres 2>&1)"
  pg_tps="$(printf '%s\n' "$out" | awk '/^tps = / {print $3; exit}')"
  ours="$(DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable" CONNECTIONS="$CONNECTIONS" SECONDS="$SECONDS_EACH" .build/release/PGBench)"
  our_tps="$(printf '%s\n' "$ours" | awk '{print $3}')"
  echo "round $round: pgbench c$CONNECTIONS $pg_tps tps; $ours"
  pg_all+=("$pg_tps"); our_all+=("$our_tps")
done
pg_tps="$(printf '%s\n' "${pg_all[@]}" | median)"
our_tps="$(printf '%s\n' "${our_all[@]}" | median)"
echo "median: pgbench $pg_tps tps, ours $our_tps tps"
awk -v a="$our_tps" -v b="$pg_tps" 'BEGIN { printf "ours is %.2fx pgbench'"'"'s tps (goal >= 0.9x)\n", a / b }'

# (a)'s rows would bring autovacuum and a checkpoint into (b)'s seconds: settle the cluster first.
"${PSQL[@]}" -c "DROP TABLE bench_insert" -c "CHECKPOINT"
sync

# (b) and (c): the product itself, `openagents serve --only runtime`.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000; printf "%.3f", n }'; }
serve() {  # serve <port> <data dir> [database url]: starts it, appends its pid to PIDS
  local port="$1" data="$2" url="${3:-}"
  mkdir -p "$data"
  RUNTIME_INTERNAL_AUTH=disabled RUNTIME_DATABASE_URL="$url" "$SERVE" serve --only runtime --runtime-port "$port" --data-dir "$data" > "$data.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && return; sleep 0.1; done
  cat "$data.log"; exit 1
}
runs() {  # runs <port>: the 64 runs the append script writes to
  for i in $(seq 0 63); do
    curl -s -o /dev/null -H 'content-type: application/json' -d "{\"run_id\":\"bench-run-$(printf %02d "$i")\"}" "http://127.0.0.1:$1/internal/v1/runs"
  done
}
wrk_line() {  # wrk_line <connections> <threads> <url>: "rps p50 p99 non2xx"
  local out; out="$(wrk -t"$2" -c"$1" -d"$DURATION" --latency -s Benchmarks/append/append-events.lua "$3")"
  printf '%s %s %s %s\n' "$(printf '%s\n' "$out" | awk '/^Requests\/sec:/ {print $2}')" \
    "$(to_ms "$(printf '%s\n' "$out" | awk '$1 == "50%" {print $2}')")" "$(to_ms "$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')")" \
    "$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ {print $NF}')"
}
both() {  # both <first run on A> <runs> <first run on B> <runs>: wrk on A and B at once, 32 connections each
  RUN_FIRST="$1" RUN_COUNT="$2" wrk_line 32 1 "http://127.0.0.1:$P1" > "$DIR/a.out" &
  local wa=$!
  RUN_FIRST="$3" RUN_COUNT="$4" wrk_line 32 1 "http://127.0.0.1:$P2" > "$DIR/b.out" &
  local wb=$!
  wait "$wa" "$wb"
  read -r a_rps a_p50 a_p99 a_bad < "$DIR/a.out"
  read -r b_rps b_p50 b_p99 b_bad < "$DIR/b.out"
  sum_rps="$(awk -v a="$a_rps" -v b="$b_rps" 'BEGIN {printf "%.2f", a + b}')"
}
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; PIDS=(); }
db_url() { "${PSQL[@]}" -c "CREATE DATABASE $1"; echo "postgres://postgres@127.0.0.1:$PORT/$1?sslmode=disable"; }
W="$DIR/serve"
# A port of its own per instance: a port just closed may still be held while the old process winds down.
P0=$((PORT + 101)); P1=$((PORT + 102)); P2=$((PORT + 103)); P3=$((PORT + 104))

echo "# (b) durable run appends, wrk c64 ${DURATION} (the bench-append body over 64 runs), signatures off, $ROUNDS rounds"
# Every server is started first; each round then measures the three in turn.
sync
serve "$P0" "$W/embedded"; runs "$P0"
url1="$(db_url runtime_one)"
serve "$P3" "$W/pg-one" "$url1"; runs "$P3"
url2="$(db_url runtime_two)"
serve "$P1" "$W/pg-a" "$url2"; serve "$P2" "$W/pg-b" "$url2"; runs "$P1"
e_all=(); o_all=(); t_all=()
for round in $(seq 1 "$ROUNDS"); do
  sync
  read -r e_rps e_p50 e_p99 e_bad < <(wrk_line 64 2 "http://127.0.0.1:$P0")
  echo "round $round: append embedded c64 $e_rps req/s p50 $e_p50 ms p99 $e_p99 ms non2xx ${e_bad:-0}"
  sync
  read -r o_rps o_p50 o_p99 o_bad < <(wrk_line 64 2 "http://127.0.0.1:$P3")
  echo "round $round: append postgres-1-instance c64 $o_rps req/s p50 $o_p50 ms p99 $o_p99 ms non2xx ${o_bad:-0}"
  sync
  both 0 64 0 64
  echo "round $round: append postgres-2-instances c64 $sum_rps req/s (A $a_rps p50 $a_p50 p99 $a_p99 ms, B $b_rps p50 $b_p50 p99 $b_p99 ms) non2xx $(( ${a_bad:-0} + ${b_bad:-0} ))"
  e_all+=("$e_rps"); o_all+=("$o_rps"); t_all+=("$sum_rps")
done
e_rps="$(printf '%s\n' "${e_all[@]}" | median)"
o_rps="$(printf '%s\n' "${o_all[@]}" | median)"
t_rps="$(printf '%s\n' "${t_all[@]}" | median)"
echo "median: embedded $e_rps req/s, one PostgreSQL instance $o_rps req/s, two instances $t_rps req/s"
awk -v a="$t_rps" -v e="$e_rps" -v o="$o_rps" 'BEGIN { printf "two PostgreSQL instances are %.2fx the embedded backend (goal >= 0.5x); one instance %.2fx\n", a / e, o / e }'
# The same two instances when a load balancer routes by run id (runs 0-31 to A, 32-63 to B):
# no run's row is wanted by both instances' transactions at once.
both 0 32 32 32
echo "append postgres-2-instances-by-run c64 $sum_rps req/s (A $a_rps p99 $a_p99 ms, B $b_rps p99 $b_p99 ms)"
awk -v a="$sum_rps" -v e="$e_rps" 'BEGIN { printf "routed by run id: %.2fx the embedded median\n", a / e }'

echo "# (c) cross-instance append (A) to SSE client (B) latency"
python3 Benchmarks/append/cross_instance_latency.py "$P1" "$P2" 500 | sed 's/^/idle: /'
wrk_line 32 1 "http://127.0.0.1:$P1" > /dev/null &
wl=$!
sleep 1
python3 Benchmarks/append/cross_instance_latency.py "$P1" "$P2" 300 | sed 's/^/under c32 append load on A: /'
wait "$wl"
echo "(goal: p99 < 25 ms)"
stop_all
