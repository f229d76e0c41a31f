#!/usr/bin/env bash
# make bench-postgres, part (a): our client against pgbench on a throwaway
# cluster on this machine, the same prepared single-row INSERT (two
# parameters) at 8 connections, pgbench first and ours after, one run.
# The cluster keeps PostgreSQL's defaults (fsync and synchronous_commit on),
# so both wait for the same WAL flush per commit.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${SECONDS_EACH:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d /tmp/pgbench.XXXX)
PORT=$((40000 + RANDOM % 20000))
AS=()
if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; AS=(runuser -u postgres --); fi
trap '"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"' EXIT
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
out="$("$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U postgres -n -M prepared -c "$CONNECTIONS" -j 2 -T "$SECONDS_EACH" -f "$DIR/insert.sql" postgres 2>&1)"
pg_tps="$(printf '%s\n' "$out" | awk '/^tps = / {print $3; exit}')"
echo "pgbench c$CONNECTIONS $pg_tps tps"
ours="$(DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable" CONNECTIONS="$CONNECTIONS" SECONDS="$SECONDS_EACH" .build/release/PGBench)"
echo "$ours"
our_tps="$(printf '%s\n' "$ours" | awk '{print $3}')"
awk -v a="$our_tps" -v b="$pg_tps" 'BEGIN { printf "ours is %.2fx pgbench'"'"'s tps (goal >= 0.9x)\n", a / b }'
