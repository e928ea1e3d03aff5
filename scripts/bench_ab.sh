#!/usr/bin/env bash
# bench_ab.sh - A/B of cmpgw binaries under the same load, alternating, so
# that the drift of a shared machine falls on every side alike.  For each
# round and each binary: a fresh gateway (`cmpgw init`, one secret), the
# daemon on CPU 1, the load generator on CPU 0, one line of numbers.
#
# Usage: scripts/bench_ab.sh SIDE...
#   SIDE is a cmpgw binary, optionally followed by settings of its generated
#   cmpgw.conf: BINARY:KEY=VALUE[,KEY=VALUE...], e.g. (commit pacing off and on)
#   scripts/bench_ab.sh build/cmpgw build/cmpgw:commit_interval_us=2000
# Environment:
#   ROUNDS (3)  rounds of all binaries
#   SECS (10)   seconds per run
#   LOAD        "cmpload" (default; CMPLOAD=path to the cmpload binary,
#               default ../shared/tools/cmpload/cmpload) or "bench" (the
#               first binary's `cmpgw bench cmp`)
#   CLIENTS     cmpload threads or bench sessions (16)
#   COMPUTE     if set, written as [server] compute (auto, threadpool, inline)
#   RATE        with LOAD=bench: --rate (transactions per second), for latency
#               at a given load rather than at saturation
# Build the other side with e.g. `git worktree add /tmp/old REV` and
# `cmake -S /tmp/old -B /tmp/old/build -DCG_WOLFSSL_PREFIX=$PWD/.deps/wolfssl`.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,22p' "$0" >&2; exit 2; }
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
secs=${SECS:-10}
load=${LOAD:-cmpload}
clients=${CLIENTS:-16}
cmpload=${CMPLOAD:-$PWD/../shared/tools/cmpload/cmpload}
command -v taskset >/dev/null || { echo "bench_ab: taskset is needed" >&2; exit 2; }
if [ "$load" = cmpload ] && [ ! -x "$cmpload" ]; then
  echo "bench_ab: no cmpload at $cmpload (build it with make, or set CMPLOAD)" >&2
  exit 2
fi
first=${1%%:*} # its `bench cmp` loads every side alike
work=$(mktemp -d)
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh

run() { # SIDE DIR
  local bin=${1%%:*} d=$2 ref secret port e
  local -a kv=() edits=() want=()
  [ -z "${COMPUTE:-}" ] || edits+=("s/^compute = .*/compute = $COMPUTE/")
  if [ "$bin" != "$1" ]; then
    IFS=, read -ra kv <<<"${1#*:}"
    for e in "${kv[@]}"; do
      [[ $e =~ ^([a-z_]+)=([A-Za-z0-9_.]+)$ ]] || { echo "bench_ab: bad setting '$e'" >&2; exit 2; }
      edits+=("s/^${BASH_REMATCH[1]} = .*/${BASH_REMATCH[1]} = ${BASH_REMATCH[2]}/")
      want+=("${BASH_REMATCH[1]} = ${BASH_REMATCH[2]}")
    done
  fi
  bench_gateway "$bin" "$d" "${edits[@]}" || exit 2
  for e in "${want[@]}"; do
    grep -qxF "$e" "$d/cmpgw.conf" ||
      { echo "bench_ab: no '${e%% =*}' in cmpgw.conf" >&2; kill "$GW_PID"; exit 2; }
  done
  pid=$GW_PID port=$GW_PORT ref=$GW_REF secret=$GW_SECRET
  if [ "$load" = cmpload ]; then
    taskset -c 0 "$cmpload" --url "http://127.0.0.1:$port/.well-known/cmp" --threads "$clients" \
      --duration "$secs" --warmup 2 --secret "$secret" --ref "$ref" --server-pid "$pid" 2>&1 | tail -1
  else
    taskset -c 0 "$first" bench cmp --url "http://127.0.0.1:$port/.well-known/cmp" --ref "$ref" \
      --secret "$secret" --sessions "$clients" --duration "$secs" ${RATE:+--rate "$RATE"} \
      --server-pid "$pid" 2>&1 |
      grep -v ' INFO '
  fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=""
}

for r in $(seq "$rounds"); do
  i=0
  for bin in "$@"; do
    i=$((i + 1))
    line=$(run "$bin" "$work/r$r-b$i") || exit 2
    printf '%s  %s\n' "$bin" "$(echo "$line" | grep -oE '(tps|p50_ms|p99_ms|server_cpu_ms_per_tx|fail|failed)=[0-9.]+' | tr '\n' ' ')"
  done
done
