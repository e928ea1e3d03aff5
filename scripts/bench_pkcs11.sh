#!/usr/bin/env bash
# bench_pkcs11.sh [CMPGW] - what keys in a PKCS#11 token cost: two gateways
# made by `cmpgw init --https`, one with its keys in files and one with them
# in a SoftHSM2 token (`--pkcs11`), both on CPU 1, loaded in turn by
# `cmpgw bench cmp` on CPU 0 with 64 sessions: MAC ir + certConf (the CA key
# signs each certificate), signature-protected ir + certConf (the RA key
# signs each answer too), and HTTPS with a connection per message (the TLS
# key signs each full handshake; resumption off).  Prints one line per run:
# tps and the gateway's CPU per transaction (from /proc).
# Usage: scripts/bench_pkcs11.sh [build/cmpgw]   Environment: BENCH_SECONDS (6), ROUNDS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
cmpgw=${1:-build/cmpgw}
secs=${BENCH_SECONDS:-6}
rounds=${ROUNDS:-2}
module=/usr/lib/softhsm/libsofthsm2.so
[ -r "$module" ] || { echo "bench: SoftHSM2 is needed (apt-get install softhsm2)" >&2; exit 2; }
command -v taskset >/dev/null || { echo "bench: taskset is needed" >&2; exit 2; }
# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT

export SOFTHSM2_CONF="$work/softhsm2.conf"
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 5678 >/dev/null
printf '1234\n' >"$work/pin"
chmod 600 "$work/pin"

# start NAME INIT-ARGS...: a gateway in $work/NAME; sets PORT_NAME, TLS_NAME, PID_NAME, REF_NAME, SECRET_NAME
start() {
  local name=$1 dir="$work/$1"
  shift
  "$cmpgw" init "$dir" --http 127.0.0.1:0 --https 127.0.0.1:0 --admin 127.0.0.1:0 "$@" >/dev/null 2>&1
  sed -i 's/^max_connections = .*/max_connections = 20000/' "$dir/cmpgw.conf"
  "$cmpgw" secret new -c "$dir/cmpgw.conf" --json >"$dir/secret.json" 2>/dev/null
  taskset -c 1 "$cmpgw" serve -c "$dir/cmpgw.conf" 2>"$dir/gw.log" &
  PIDS="$PIDS $!"
  eval "PID_$name=$! REF_$name=$(json_field reference "$dir/secret.json") SECRET_$name=$(json_field secret "$dir/secret.json")"
  eval "TLS_$name=$(wait_port "$dir/gw.log" 'listening https 127\.0\.0\.1:[0-9]+')"
}
start file
start token --pkcs11 "pkcs11:token=bench?module-path=$module&pin-source=$work/pin"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
echo "== machine: $(nproc) CPUs, $(date -u +%FT%TZ); $secs s per run; wolfSSL: $(grep -oE 'wolfSSL [0-9.]+' "$work/file/gw.log" | head -1); SoftHSM2 $(softhsm2-util --version)"
run() { # NAME LOAD BENCH-ARGS
  local name=$1 load=$2 pid ref secret port t0 t1 out ok tps
  shift 2
  eval "pid=\$PID_$name ref=\$REF_$name secret=\$SECRET_$name port=\$TLS_$name"
  t0=$(ticks "$pid")
  out=$(taskset -c 0 "$cmpgw" bench cmp --url "https://127.0.0.1:$port/.well-known/cmp" \
    --tls-trusted "$work/$name/ca-cert.pem" --ref "$ref" --secret "pass:$secret" --sessions 64 \
    --duration "$secs" "$@" 2>&1 | grep '^cmp:')
  t1=$(ticks "$pid")
  ok=$(echo "$out" | grep -oE ' ok=[0-9]+' | cut -d= -f2)
  tps=$(echo "$out" | grep -oE 'tps=[0-9.]+' | cut -d= -f2)
  awk -v n="$name keys, $load" -v ok="$ok" -v tps="$tps" -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN {
    printf "%-40s tps=%s cpu_ms_per_tx=%.3f\n", n, tps, t * 1000 / hz / ok }'
}
for _ in $(seq "$rounds"); do
  for k in file token; do
    run "$k" "MAC ir, kept alive"
    run "$k" "signed ir, kept alive" --auth sig
    run "$k" "MAC ir, full handshake per message" --new-conn 1 --tls-resume 0
  done
done
