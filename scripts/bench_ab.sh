#!/usr/bin/env bash
# bench_ab.sh OLD NEW - two builds of cmpgw against each other, alternating
# (the machine's mood drifts; alternation spreads it over both): a fresh
# gateway of each (the local CA, compute on CPU 1), `cmpgw bench cmp` of the
# same build on CPU 0, MAC ir + certConf from 64 sessions, flat out and at
# 1,000/s, ROUNDS times each (default 2).  Prints one line per run: tps, p99
# and the gateway's CPU per transaction (from /proc).  With CERTS, each
# gateway's store is grown first: CERTS certificates and transactions
# written straight into it (fill_store in bench_lib.sh; about 25 s per
# million, each run).
# Usage: scripts/bench_ab.sh OLD/cmpgw NEW/cmpgw   Environment: BENCH_SECONDS
# (default 8), ROUNDS, CERTS (default 0).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] && [ -x "$1" ] && [ -x "$2" ] || { echo "usage: $0 OLD/cmpgw NEW/cmpgw" >&2; exit 2; }
command -v taskset >/dev/null || { echo "bench: taskset is needed" >&2; exit 2; }
secs=${BENCH_SECONDS:-8}
rounds=${ROUNDS:-2}
# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # NAME BINARY RATE (0: flat out)
  local d="$work/$1-$3" extra=() out c0 c1 ok
  rm -rf "$d"
  bench_gateway "$2" "$d" 's/^max_connections = .*/max_connections = 20000/'
  c0=$(cpu_of "$GW_PID")
  [ "$3" != 0 ] && extra=(--rate "$3")
  out=$(taskset -c 0 "$2" bench cmp --url "http://127.0.0.1:$GW_PORT/.well-known/cmp" \
    --ref "$GW_REF" --secret "$GW_SECRET" --op ir --sessions 64 --duration "$secs" \
    "${extra[@]}" 2>&1 | grep '^cmp:')
  c1=$(cpu_of "$GW_PID")
  kill "$GW_PID"
  wait "$GW_PID" 2>/dev/null || true
  ok=$(echo "$out" | sed -E 's/.* ok=([0-9]+).*/\1/')
  printf '%-4s rate=%-5s %s %s cpu_ms_per_tx=%s\n' "$1" "$3" \
    "$(echo "$out" | grep -oE 'tps=[0-9.]+')" "$(echo "$out" | grep -oE 'p99_ms=[0-9.]+')" \
    "$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v n="$ok" 'BEGIN { printf "%.3f", (b - a) * 1000 / hz / n }')"
}

export FILL_CERTS=${CERTS:-0}
echo "== machine: $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ); ${secs} s per run;" \
  "$FILL_CERTS certificates in each store first"
for rate in 0 1000; do
  for _ in $(seq "$rounds"); do
    run old "$1" "$rate"
    run new "$2" "$rate"
  done
done
