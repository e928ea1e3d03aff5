#!/usr/bin/env bash
# bench_console.sh [CMPGW] - the web console on a large store: a gateway
# whose database holds CERTS certificates (default 1,000,000) and as many
# transactions (one every 30 s back from now; every 50th rejected, every
# 100th certificate revoked), written straight into SQLite before the daemon
# starts.  Prints, for each page, the time a logged-in client waits for it
# (curl, ROUNDS times each; median and slowest), then enrolments a second
# (`cmpgw bench cmp`, 64 sessions) alone, while an operator browses (a page
# a second: dashboard, certificate list, one certificate, approvals), while
# an operator browses and searches (a subject search, through the trigram
# index, every fourth page), and while a script fetches those pages
# without pause (the worst case).
# The daemon on CPU 1, the load on CPU 0.
# Usage: scripts/bench_console.sh [build/cmpgw]   Environment: CERTS, ROUNDS
# (default 10), BENCH_SECONDS (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
cmpgw=$(realpath "${1:-build/cmpgw}")
certs=${CERTS:-1000000}
rounds=${ROUNDS:-10}
secs=${BENCH_SECONDS:-8}
# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh
work=$(mktemp -d)
GW_PID=""
BROWSE_PID=""
trap 'kill $GW_PID $BROWSE_PID 2>/dev/null || true; rm -rf "$work"' EXIT
gw="$work/gw"
"$cmpgw" init "$gw" --http 127.0.0.1:0 --admin 127.0.0.1:0 --console 127.0.0.1:0 >/dev/null 2>&1
printf 'bench-password\n' >"$work/pw"
"$cmpgw" operator add -c "$gw/cmpgw.conf" bench --role operator --password-file "$work/pw" >/dev/null
"$cmpgw" secret new -c "$gw/cmpgw.conf" --json >"$work/secret.json" 2>/dev/null
ref=$(json_field reference "$work/secret.json")
secret=$(json_field secret "$work/secret.json")

echo "== machine: $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ); $certs certificates"
start=$(date +%s)
fill_store "$gw/cmpgw.db" "$certs"
echo "filled in $(( $(date +%s) - start )) s; database $(du -m "$gw/cmpgw.db" | cut -f1) MB"

taskset -c 1 "$cmpgw" serve -c "$gw/cmpgw.conf" 2>"$gw/gw.log" &
GW_PID=$!
hport=$(wait_port "$gw/gw.log" 'listening http 127\.0\.0\.1:[0-9]+')
cport=$(wait_port "$gw/gw.log" 'listening console 127\.0\.0\.1:[0-9]+')
c="http://127.0.0.1:$cport"
jar="$work/jar"
taskset -c 0 curl -s -c "$jar" -H "Origin: $c" --data "name=bench&password=bench-password" \
  "$c/login" >/dev/null
serial=$(printf '%032x' $((certs / 2)))

# page NAME PATH: ROUNDS timed GETs; prints median and slowest (ms) and the size.
page() {
  local name=$1 path=$2 t
  : >"$work/times"
  for _ in $(seq "$rounds"); do
    t=$(taskset -c 0 curl -s -L -o "$work/page" -w '%{http_code} %{time_total}' -b "$jar" "$c$path")
    [ "${t%% *}" = 200 ] || { echo "bench: $path answered ${t%% *}" >&2; exit 1; }
    echo "${t#* }" >>"$work/times"
  done
  sort -n "$work/times" | awk -v n="$name" -v b="$(wc -c <"$work/page")" \
    '{v[NR]=$1} END {printf "page: %-28s median_ms=%.1f max_ms=%.1f bytes=%d\n", n, v[int((NR+1)/2)]*1000, v[NR]*1000, b}'
}
page dashboard /
page "certificates, first page" /certs
page "certificates, page 1000" "/certs?page=999"
page "search: subject part" "/certs?q=device-123456"
page "search: subject part, 2 characters" "/certs?q=-9"
page "search: SAN part" "/certs?san=device-654321.ex"
page "search: a secret's reference" "/certs?ref=dev-777777"
page "search: revoked only" "/certs?status=revoked"
page "search: a serial (303, then the page)" "/certs?q=$serial"
page "one certificate" "/certs/$serial"
page "one transaction" "/tx/$serial"
page approvals /approvals

enrol() {
  taskset -c 0 "$cmpgw" bench cmp --url "http://127.0.0.1:$hport/.well-known/cmp" --ref "$ref" \
    --secret "$secret" --sessions 64 --duration "$secs" --server-pid "$GW_PID" 2>&1 | grep '^cmp:'
}
browse() { # PAUSE SEARCH: seconds between pages; a subject search among them (1) or not (0)
  local search=/approvals
  [ "$2" = 0 ] || search="/certs?q=device-4242"
  while :; do
    for p in / "$search" /certs "/certs/$serial"; do
      curl -s -o /dev/null -b "$jar" "$c$p"
      [ "$1" = 0 ] || sleep "$1"
    done
  done
}
enrol_browsing() { # PAUSE SEARCH
  taskset -c 0 bash -c "$(declare -f browse); jar=$jar c=$c serial=$serial browse $1 $2" &
  BROWSE_PID=$!
  enrol
  kill "$BROWSE_PID" 2>/dev/null || true
  wait "$BROWSE_PID" 2>/dev/null || true
  BROWSE_PID=""
}
echo "enrolment alone:"
enrol
echo "enrolment while an operator browses (a page a second, no search):"
enrol_browsing 1 0
echo "enrolment while an operator browses and searches (a subject search every 4th page):"
enrol_browsing 1 1
echo "enrolment alone, again:"
enrol
echo "enrolment while a script fetches pages, searches among them, without pause (the worst case):"
enrol_browsing 0 1
