#!/usr/bin/env bash
# bench_postgres.sh [CMPGW] - one node on SQLite, one node on PostgreSQL and
# two nodes on one PostgreSQL, in one run on this machine: MAC ir + certConf
# (`cmpgw bench cmp`, P-256, 64 sessions in all) flat out, then at half of
# that peak for the p99; the CPU per transaction of cmpgw (all nodes) and of
# the PostgreSQL server (all its processes), from /proc.  PostgreSQL is a
# throwaway server (tests/pg.sh) with fsync on, on a Unix socket; SQLite runs
# with synchronous=FULL: both make every commit durable.
# The yardstick, cmpload (../shared/tools/cmpload, when there), runs 16
# clients against each single node too.
# Usage: scripts/bench_postgres.sh [build/cmpgw]   Environment: BENCH_SECONDS
# (default 8), PG_DURABLE (default 1: fsync on), CMPLOAD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
cmpgw=$(realpath "${1:-build/cmpgw}")
secs=${BENCH_SECONDS:-8}
# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  bash tests/pg.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

PG_DURABLE=${PG_DURABLE:-1} bash tests/pg.sh start "$work/pg" >/dev/null
conninfo=$(cat "$work/pg/conninfo")
pg_pid=$(cat "$work/pg/pid")

# CPU ticks of a process, and of the PostgreSQL server with all its children.
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_cpu() {
  local t=0 p
  for p in $pg_pid $(pgrep -P "$pg_pid"); do t=$((t + $(cpu_of "$p" 2>/dev/null || echo 0))); done
  echo "$t"
}

# node DIR CONF-SOURCE: a gateway serving CONF-SOURCE's deployment (a copy of
# its directory) on CPU 1; appends its PID to pids and sets NODE_PORT.
node() {
  local dir=$1 port
  taskset -c 1 "$cmpgw" serve -c "$dir/cmpgw.conf" 2>"$dir/gw-$2.log" &
  pids+=($!)
  port=$(wait_port "$dir/gw-$2.log" 'listening http 127\.0\.0\.1:[0-9]+')
  NODE_PORT=$port
}

# load RATE PORT...: `cmpgw bench cmp` on CPU 0 against each port (64
# sessions shared among them), at RATE in all (0: flat out); prints tps and
# p99 (the worst of the runs) summed over the ports.
load() {
  local rate=$1 n i=0 extra=() out
  shift
  n=$#
  for p in "$@"; do
    extra=()
    [ "$rate" != 0 ] && extra=(--rate $((rate / n)))
    taskset -c 0 "$cmpgw" bench cmp --url "http://127.0.0.1:$p/.well-known/cmp" \
      --ref "$REF" --secret "$SECRET" --op ir --sessions $((64 / n)) --duration "$secs" \
      "${extra[@]}" >"$work/load-$i.out" 2>&1 &
    i=$((i + 1))
  done
  wait
  out=$(cat "$work"/load-*.out | grep '^cmp:')
  rm -f "$work"/load-*.out
  echo "$out" | awk '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      tps += v["tps"]; ok += v["ok"]; failed += v["failed"]; if (v["p99_ms"] > p99) p99 = v["p99_ms"]
    } END { printf "tps=%.0f ok=%d failed=%d p99_ms=%.2f\n", tps, ok, failed, p99 }'
}

# measure NAME RATE PORT...: one load; prints its line with the CPU per
# transaction of the nodes (pids) and of PostgreSQL.
measure() {
  local name=$1 rate=$2 c0 p0 c1 p1 out ok p
  shift 2
  c0=0; for p in "${pids[@]}"; do c0=$((c0 + $(cpu_of "$p"))); done
  p0=$(pg_cpu)
  out=$(load "$rate" "$@")
  c1=0; for p in "${pids[@]}"; do c1=$((c1 + $(cpu_of "$p"))); done
  p1=$(pg_cpu)
  ok=$(echo "$out" | sed -E 's/.* ok=([0-9]+).*/\1/')
  printf '%-14s rate=%-5s %s cmpgw_cpu_ms_per_tx=%s postgres_cpu_ms_per_tx=%s\n' "$name" "$rate" \
    "$out" "$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$ok" 'BEGIN { printf "%.3f", (b - a) * 1000 / hz / (n ? n : 1) }')" \
    "$(awk -v a="$p0" -v b="$p1" -v hz="$hz" -v n="$ok" 'BEGIN { printf "%.3f", (b - a) * 1000 / hz / (n ? n : 1) }')"
  PEAK=$(echo "$out" | sed -E 's/^tps=([0-9]+).*/\1/')
}

cmpload_dir=${CMPLOAD_DIR:-../shared/tools/cmpload}
cmpload=""
if [ -d "$cmpload_dir" ] && make -s -C "$cmpload_dir" >/dev/null 2>&1; then
  cmpload="$(realpath "$cmpload_dir")/cmpload"
fi
# yardstick NAME PORT: cmpload, 16 clients, on CPU 0 against the node.
yardstick() {
  [ -n "$cmpload" ] || return 0
  printf '%-14s cmpload threads=16 ' "$1"
  taskset -c 0 "$cmpload" --url "http://127.0.0.1:$2/.well-known/cmp" --threads 16 \
    --duration "$secs" --warmup 2 --secret "$SECRET" --ref "$REF" --server-pid "${pids[0]}" 2>&1 |
    tail -1 | cut -c1-300
}

stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

echo "== machine: $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ); ${secs} s per run; nodes on CPU 1, load on CPU 0, PostgreSQL unpinned"

# 1. one node, SQLite
"$cmpgw" init "$work/sqlite" --http 127.0.0.1:0 --admin 127.0.0.1:0 >/dev/null 2>&1
sed -i 's/^max_connections = .*/max_connections = 20000/' "$work/sqlite/cmpgw.conf"
"$cmpgw" secret new -c "$work/sqlite/cmpgw.conf" --json >"$work/s.json" 2>/dev/null
REF=$(json_field reference "$work/s.json"); SECRET=$(json_field secret "$work/s.json")
node "$work/sqlite" a
measure "1 node sqlite" 0 "$NODE_PORT"
measure "1 node sqlite" $((PEAK / 2)) "$NODE_PORT"
yardstick "1 node sqlite" "$NODE_PORT"
stop_nodes

# 2. one node, PostgreSQL; 3. two nodes on it
psql "$conninfo" -qc "CREATE DATABASE cmpgw" >/dev/null
"$cmpgw" init "$work/pgnode" --http 127.0.0.1:0 --admin 127.0.0.1:0 \
  --store-url "${conninfo/dbname=postgres/dbname=cmpgw}" >/dev/null 2>&1
"$cmpgw" secret new -c "$work/pgnode/cmpgw.conf" --json >"$work/s.json" 2>/dev/null
REF=$(json_field reference "$work/s.json"); SECRET=$(json_field secret "$work/s.json")
node "$work/pgnode" a
PA=$NODE_PORT
measure "1 node pg" 0 "$PA"
measure "1 node pg" $((PEAK / 2)) "$PA"
yardstick "1 node pg" "$PA"
node "$work/pgnode" b
PB=$NODE_PORT
measure "2 nodes pg" 0 "$PA" "$PB"
measure "2 nodes pg" $((PEAK / 2)) "$PA" "$PB"
stop_nodes
rows=$(psql "${conninfo/dbname=postgres/dbname=cmpgw}" -XAtqc \
  "SELECT (SELECT count(*) FROM transactions) || ' transactions, ' ||
          (SELECT count(*) FROM certificates) || ' certificates, ' ||
          (SELECT count(*) FROM events) || ' events'")
commits=$(psql "${conninfo/dbname=postgres/dbname=cmpgw}" -XAtqc \
  "SELECT xact_commit FROM pg_stat_database WHERE datname = 'cmpgw'")
echo "postgres: $rows; $commits commits on the database"
