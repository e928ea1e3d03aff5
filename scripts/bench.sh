#!/usr/bin/env bash
# bench.sh - the performance table of docs/PERFORMANCE.md in one run, on this
# machine, on loopback:
#   1. cmpgw and OpenSSL's mock CMP server (`openssl cmp -port`, MAC, a fixed
#      certificate: it signs and stores nothing) under the same independent
#      load generator, cmpload (OpenSSL-based), at 1, 16, 64 and 256 clients:
#      MAC ir + certConf, P-256, server and generator pinned to CPUs 1 and 0;
#   2. cmpgw under its own load generator (`cmpgw bench cmp`): its peak with 64
#      sessions, the latency at half of that peak (--rate), 16, 1,000 and 10,000
#      sessions (each a connection of its own), and the other operations
#      (implicit confirmation, on a profile `implicit` that grants it, the
#      only setting added to what `cmpgw init` writes besides max_connections;
#      signature protection, genm, rr);
#   3. the store on its own (`cmpgw bench store`).
# Prints one line per run.  Takes about 5 minutes.
# Usage: scripts/bench.sh [CMPLOAD_DIR]   (default ../shared/tools/cmpload; built with make)
# Environment: BENCH_SECONDS (default 10) per run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${BENCH_SECONDS:-10}
cmpload_dir=${1:-$root/../shared/tools/cmpload}
cmpgw=$root/build/cmpgw
[ -x "$cmpgw" ] || { echo "bench: build first (cmake -S . -B build && cmake --build build)" >&2; exit 2; }
command -v taskset >/dev/null || { echo "bench: taskset is needed" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "== machine: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(date -u +%FT%TZ)"
echo "== cmpgw: build/, $(if grep -q 'CG_WOLFSSL_PREFIX:PATH=.*\.deps/wolfssl' build/CMakeCache.txt 2>/dev/null &&
  [ -f "$root/.deps/wolfssl/lib/libwolfssl.a" ]; then echo "fast wolfSSL (SP asm)"; else echo "Debian's wolfSSL"; fi)"

cmpload=""
if [ -d "$cmpload_dir" ] && make -s -C "$cmpload_dir" >/dev/null 2>&1; then
  cmpload="$cmpload_dir/cmpload"
else
  echo "== cmpload not found at $cmpload_dir: part 1 skipped"
fi

# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh

# ---- the gateway
bench_gateway "$cmpgw" "$work/gw" 's/^max_connections = .*/max_connections = 20000/' \
  '$a [profile implicit]' '$a implicit_confirm = true'
gw_pid=$GW_PID gw_port=$GW_PORT ref=$GW_REF secret=$GW_SECRET
pids+=("$gw_pid")
echo "== cmpgw $(grep -o 'compute: .*' "$work/gw/gw.log" | head -1)"

# ---- OpenSSL's mock server, with a CA, its own certificate and the one it hands out
if [ -n "$cmpload" ]; then
  (
    cd "$work"
    ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    ec ca.key
    openssl req -x509 -new -key ca.key -subj "/CN=mock CA" -days 30 \
      -addext "basicConstraints=critical,CA:TRUE" -out ca.pem 2>/dev/null
    for k in srv dev; do
      ec "$k.key"
      openssl req -new -key "$k.key" -subj "/CN=mock $k" -out "$k.csr" 2>/dev/null
      openssl x509 -req -in "$k.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -out "$k.pem" 2>/dev/null
    done
  )
  taskset -c 1 openssl cmp -port 0 -srv_ref mockref -srv_secret pass:mock-secret \
    -srv_cert "$work/srv.pem" -srv_key "$work/srv.key" -rsp_cert "$work/dev.pem" \
    -rsp_capubs "$work/ca.pem" >"$work/mock.log" 2>&1 &
  mock_pid=$!
  pids+=("$mock_pid")
  mock_port=$(wait_port "$work/mock.log" '^ACCEPT [^ ]*:[0-9]+')

  echo "== 1. cmpload, MAC ir + certConf, P-256 (server on CPU 1, cmpload on CPU 0)"
  for n in 1 16 64 256; do
    printf 'cmpgw  threads=%-4s ' "$n"
    taskset -c 0 "$cmpload" --url "http://127.0.0.1:$gw_port/.well-known/cmp" --threads "$n" \
      --duration "$secs" --warmup 2 --secret "$secret" --ref "$ref" \
      --server-pid "$gw_pid" 2>&1 | tail -1 | cut -c1-400
    printf 'mock   threads=%-4s ' "$n"
    taskset -c 0 "$cmpload" --url "http://127.0.0.1:$mock_port/pkix/" --threads "$n" \
      --duration "$secs" --warmup 2 --secret mock-secret --ref mockref --newkey "$work/dev.key" \
      --server-pid "$mock_pid" 2>&1 | tail -1 | cut -c1-400
  done
fi

# bench [--path /p/PROFILE --ref REF --secret SECRET] ARGS...
bench() {
  local path="" r=$ref s=$secret
  if [ "${1:-}" = --path ]; then path=$2 r=$4 s=$6; shift 6; fi
  taskset -c 0 "$cmpgw" bench cmp --url "http://127.0.0.1:$gw_port/.well-known/cmp$path" --ref "$r" \
    --secret "$s" --server-pid "$gw_pid" "$@" 2>&1 | grep -v ' INFO '
}
echo "== 2. cmpgw bench cmp, MAC ir + certConf, P-256 (server on CPU 1, bench on CPU 0)"
line=$(bench --sessions 64 --duration "$secs")
echo "$line"
peak=$(echo "$line" | sed -n 's/.* tps=\([0-9]*\).*/\1/p')
echo "   at half of that peak (${peak:-?} tps), paced:"
if [ -n "$peak" ]; then bench --sessions 64 --duration "$secs" --rate $((peak / 2)); fi
for n in 16 1000 10000; do
  bench --sessions "$n" --duration "$secs"
done
echo "   daemon RSS after: $(sed -n 's/^VmRSS: *//p' "/proc/$gw_pid/status"), peak: $(sed -n 's/^VmHWM: *//p' "/proc/$gw_pid/status")"
echo "   other operations, 64 sessions:"
"$cmpgw" secret new -c "$work/gw/cmpgw.conf" --profile implicit --json >"$work/implicit.json" 2>/dev/null
bench --path /p/implicit \
  --ref "$(json_field reference "$work/implicit.json")" \
  --secret "$(json_field secret "$work/implicit.json")" \
  --sessions 64 --duration "$secs" --op ir-implicit
bench --sessions 64 --duration "$secs" --op ir --auth sig
bench --sessions 64 --duration "$secs" --op genm
bench --sessions 64 --op rr --count 10000
bench --sessions 64 --op rr --auth sig --count 10000

echo "== 3. cmpgw bench store"
"$cmpgw" bench store --ops 100000 --inflight 1024 2>/dev/null
"$cmpgw" bench store --ops 100000 --inflight 1024 --preload 1000000 2>/dev/null
