#!/usr/bin/env bash
# bench_coap.sh [CMPGW] - CMP over CoAP beside CMP over HTTP, on one gateway
# with both listeners (the local CA, on CPU 1): `cmpgw bench cmp` on CPU 0,
# MAC ir + certConf from 64 sessions, flat out and at 1,000/s, the two
# transports alternating, ROUNDS times each (default 2).  The load comes from
# one address: the CoAP rate per address is off (coap_rate = 0).  Prints the bench's
# line per run: tps, p99 and the gateway's CPU per transaction.
# Usage: scripts/bench_coap.sh [build/cmpgw]   Environment: BENCH_SECONDS
# (default 8), ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
cmpgw=$(realpath "${1:-build/cmpgw}")
secs=${BENCH_SECONDS:-8}
rounds=${ROUNDS:-2}
# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh
work=$(mktemp -d)
trap 'kill "$GW_PID" 2>/dev/null || true; rm -rf "$work"' EXIT
bench_gateway "$cmpgw" "$work/gw" 's/^max_connections = .*/max_connections = 20000/' \
  's/^# coap = 127.0.0.1:5683$/coap = 127.0.0.1:0/' 's/^coap_rate = .*/coap_rate = 0/'
coap_port=$(wait_port "$work/gw/gw.log" 'listening coap 127\.0\.0\.1:[0-9]+')
echo "== machine: $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ); ${secs} s per run"
for rate in 0 1000; do
  for _ in $(seq "$rounds"); do
    for url in "coap://127.0.0.1:$coap_port/.well-known/cmp" \
      "http://127.0.0.1:$GW_PORT/.well-known/cmp"; do
      extra=()
      [ "$rate" != 0 ] && extra=(--rate "$rate")
      taskset -c 0 "$cmpgw" bench cmp --url "$url" --ref "$GW_REF" --secret "$GW_SECRET" \
        --sessions 64 --duration "$secs" --server-pid "$GW_PID" "${extra[@]}" 2>&1 | grep '^cmp:'
    done
  done
done
