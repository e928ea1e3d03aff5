#!/usr/bin/env bash
# bench_upstream.sh - the RA in front of a CA (the `cmp` backend), measured
# against the same gateway issuing itself (the `local` backend), on
# loopback: the forwarded MAC ir + certConf per second, the RA's own CPU per
# forwarded transaction (and the CA's), the latency the hop adds at equal
# load (half of the forwarded peak), and the connections the RA opened to the CA.  The RA runs on CPU
# 1, the CA and `cmpgw bench cmp` on CPU 0.  Prints one line per run; about
# 2 minutes.
# Usage: scripts/bench_upstream.sh   Environment: BENCH_SECONDS (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=${BENCH_SECONDS:-10}
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
# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "== machine: $(nproc) CPUs, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(date -u +%FT%TZ)"

# ---- the CA: a profile for the RA (it signs or MACs for its devices)
"$cmpgw" init "$work/ca" --http 127.0.0.1:0 --admin 127.0.0.1:0 --org upstream >/dev/null 2>&1
"$cmpgw" init "$work/ra" --http 127.0.0.1:0 --admin 127.0.0.1:0 --org gateway >/dev/null 2>&1
sed -i 's/^admin = .*//; s/^max_connections = .*/max_connections = 20000/' "$work/ca/cmpgw.conf" "$work/ra/cmpgw.conf"
cat >>"$work/ca/cmpgw.conf" <<EOF

[profile ra]
backend = local
implicit_confirm = true
on_behalf = true
trust_anchors = $work/ra/ca-cert.pem
EOF
"$cmpgw" secret new -c "$work/ca/cmpgw.conf" --profile ra --ref ra-upstream --json >"$work/ra-ref.json" 2>/dev/null
json_field secret "$work/ra-ref.json" >"$work/ra/upstream.secret"
chmod 600 "$work/ra/upstream.secret" # a secret_file others can read is refused
taskset -c 0 "$cmpgw" serve -c "$work/ca/cmpgw.conf" 2>"$work/ca.log" &
ca_pid=$!
pids+=("$ca_pid")
ca_port=$(wait_port "$work/ca.log" 'listening http 127\.0\.0\.1:[0-9]+')

# ---- the RA: a local profile, and profiles forwarding with a signature and a MAC
cat >>"$work/ra/cmpgw.conf" <<EOF

[backend upsig]
type = cmp
url = http://127.0.0.1:$ca_port/.well-known/cmp/p/ra
trusted = $work/ca/ca-cert.pem

[backend upmac]
type = cmp
url = http://127.0.0.1:$ca_port/.well-known/cmp/p/ra
trusted = $work/ca/ca-cert.pem
protection = mac
ref = ra-upstream
secret_file = upstream.secret

[profile sig]
backend = upsig

[profile mac]
backend = upmac
EOF
taskset -c 1 "$cmpgw" serve -c "$work/ra/cmpgw.conf" 2>"$work/ra.log" &
ra_pid=$!
pids+=("$ra_pid")
ra_port=$(wait_port "$work/ra.log" 'listening http 127\.0\.0\.1:[0-9]+')
echo "== RA $(grep -o 'compute: .*' "$work/ra.log" | head -1)"
for p in default sig mac; do
  "$cmpgw" secret new -c "$work/ra/cmpgw.conf" --profile "$p" --json >"$work/$p.json" 2>/dev/null
done

# run PROFILE ARGS...: one bench run at the RA; the CA's CPU per transaction added
run() {
  local p=$1 path="" out ca0 ca1 ok
  shift
  [ "$p" = default ] || path="/p/$p"
  ca0=$(cpu_of "$ca_pid")
  out=$(taskset -c 0 "$cmpgw" bench cmp --url "http://127.0.0.1:$ra_port/.well-known/cmp$path" \
    --ref "$(json_field reference "$work/$p.json")" --secret "$(json_field secret "$work/$p.json")" \
    --server-pid "$ra_pid" "$@" 2>&1 | grep '^cmp:')
  ca1=$(cpu_of "$ca_pid")
  ok=$(echo "$out" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')
  printf '%-6s %s ca_cpu_ms_per_tx=%s\n' "$p" "$(echo "$out" | sed 's/^cmp: //; s/ op=ir auth=mac keytype=p256 transport=http//')" \
    "$(awk -v a="$ca0" -v b="$ca1" -v n="${ok:-0}" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.3f", (b - a) * 1000 / hz / n; else print "?" }')"
}

echo "== MAC ir + certConf at the RA, 64 sessions (default: the RA's own CA; sig, mac: forwarded)"
declare -A peak
for p in default sig mac; do
  line=$(run "$p" --sessions 64 --duration "$secs")
  echo "$line"
  peak[$p]=$(echo "$line" | sed -n 's/.* tps=\([0-9]*\).*/\1/p')
done
# One rate for all three: half of the lower forwarded peak (the CA, on the
# generator's CPU, is what limits the forwarded peak on two CPUs).
low=${peak[sig]:-0}
[ "${peak[mac]:-0}" -lt "$low" ] && low=${peak[mac]}
half=$((low / 2))
echo "== the same three at one rate, $half/s (half of the lower forwarded peak): CPU and latency at equal load"
for p in default sig mac; do
  [ "$half" -gt 0 ] && run "$p" --sessions 64 --duration "$secs" --rate "$half"
done
echo "== 16 sessions"
for p in default sig mac; do run "$p" --sessions 16 --duration "$secs"; done

kill -TERM "$ra_pid"
wait "$ra_pid" 2>/dev/null || true
echo "== what the RA said of its way to the CA at stop:"
grep -E 'backend up(sig|mac): [0-9]+ call' "$work/ra.log" | sed 's/^.*INFO /   /'
