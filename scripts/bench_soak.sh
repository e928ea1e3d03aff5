#!/usr/bin/env bash
# bench_soak.sh - memory over a long run at peak load: the daemon (CPU 1) under
# `cmpgw bench cmp` (CPU 0, 64 sessions, MAC ir + certConf) for SECONDS
# (default 600), its resident memory sampled every 30 s.  A leak shows as RSS
# growing with the transactions served; SQLite's page cache and the
# allocator's arenas level off.  Prints the samples and the bench's line.
# Usage: scripts/bench_soak.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
cmpgw=$PWD/build/cmpgw
work=$(mktemp -d)
gw_pid=""
trap '[ -z "$gw_pid" ] || kill "$gw_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh
bench_gateway "$cmpgw" "$work/gw"
gw_pid=$GW_PID port=$GW_PORT ref=$GW_REF secret=$GW_SECRET
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$gw_pid/status"; }
taskset -c 0 "$cmpgw" bench cmp --url "http://127.0.0.1:$port/.well-known/cmp" --ref "$ref" \
  --secret "$secret" --sessions 64 --duration "$secs" --server-pid "$gw_pid" >"$work/bench.out" 2>&1 &
bench_pid=$!
start=$(date +%s)
while kill -0 "$bench_pid" 2>/dev/null; do
  echo "t=$(($(date +%s) - start))s rss_kib=$(rss) certificates=$(sqlite3 "$work/gw/cmpgw.db" 'SELECT count(*) FROM certificates' 2>/dev/null || echo '?')"
  for _ in $(seq 30); do kill -0 "$bench_pid" 2>/dev/null || break; sleep 1; done
done
wait "$bench_pid" || true
echo "t=$(($(date +%s) - start))s rss_kib=$(rss) (after the load)"
grep -v ' INFO ' "$work/bench.out"
