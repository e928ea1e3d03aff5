#!/usr/bin/env bash
# bench_tls.sh [CMPGW] - cmpgw's own HTTPS against nginx (Debian's) terminating
# TLS in front of cmpgw's plain HTTP listener, the same load, in one run: a
# gateway with both listeners and one nginx worker, both on CPU 1;
# `cmpgw bench cmp` on CPU 0 (64 sessions of MAC ir + certConf), kept alive
# and with a connection per message (resumed TLS), alternating, ROUNDS times.
# Prints one line per run: tps and the CPU per transaction of cmpgw and of
# nginx (from /proc), and their sum.
# Usage: scripts/bench_tls.sh [build/cmpgw]   Environment: BENCH_SECONDS (8), ROUNDS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
cmpgw=${1:-build/cmpgw}
secs=${BENCH_SECONDS:-8}
rounds=${ROUNDS:-2}
command -v nginx >/dev/null || { echo "bench: nginx is needed (apt-get install nginx-light)" >&2; exit 2; }
command -v taskset >/dev/null || { echo "bench: taskset is needed" >&2; exit 2; }
# shellcheck source=bench_lib.sh
. scripts/bench_lib.sh
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
GW_PID="" NGINX_PID=""
trap '[ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null; [ -z "$GW_PID" ] || kill "$GW_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

gw="$work/gw"
"$cmpgw" init "$gw" --http 127.0.0.1:0 --https 127.0.0.1:0 --admin 127.0.0.1:0 >/dev/null 2>&1
sed -i 's/^max_connections = .*/max_connections = 20000/' "$gw/cmpgw.conf"
"$cmpgw" secret new -c "$gw/cmpgw.conf" --json >"$gw/secret.json" 2>/dev/null
ref=$(json_field reference "$gw/secret.json")
secret=$(json_field secret "$gw/secret.json")
taskset -c 1 "$cmpgw" serve -c "$gw/cmpgw.conf" 2>"$gw/gw.log" &
GW_PID=$!
http_port=$(wait_port "$gw/gw.log" 'listening http 127\.0\.0\.1:[0-9]+')
https_port=$(wait_port "$gw/gw.log" 'listening https 127\.0\.0\.1:[0-9]+')
nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  upstream cmpgw { server 127.0.0.1:$http_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $gw/tls-cert.pem;
    ssl_certificate_key $gw/tls-key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:tls:10m;
    location / {
      proxy_pass http://cmpgw;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
taskset -c 1 nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx/stderr" &
NGINX_PID=$!
for _ in $(seq 100); do [ -s "$work/nginx/nginx.pid" ] && break; sleep 0.1; done
ticks() { # the CPU ticks of the processes given (a process and its children for nginx)
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID"); }

echo "== machine: $(nproc) CPUs, $(date -u +%FT%TZ); $secs s per run; wolfSSL: $(grep -oE 'wolfSSL [0-9.]+' "$gw/gw.log" | head -1)"
run() { # NAME PORT CONN-ARGS
  local name=$1 port=$2 g0 n0 g1 n1 out ok tps
  shift 2
  g0=$(ticks "$GW_PID")
  n0=$(ticks $(nginx_pids))
  out=$(taskset -c 0 "$cmpgw" bench cmp --url "https://127.0.0.1:$port/.well-known/cmp" \
    --tls-trusted "$gw/ca-cert.pem" --ref "$ref" --secret "pass:$secret" --sessions 64 \
    --duration "$secs" "$@" 2>&1 | grep '^cmp:')
  g1=$(ticks "$GW_PID")
  n1=$(ticks $(nginx_pids))
  ok=$(echo "$out" | grep -oE ' ok=[0-9]+' | cut -d= -f2)
  tps=$(echo "$out" | grep -oE 'tps=[0-9.]+' | cut -d= -f2)
  awk -v n="$name" -v ok="$ok" -v tps="$tps" -v g=$((g1 - g0)) -v x=$((n1 - n0)) -v hz="$hz" 'BEGIN {
    gm = g * 1000 / hz / ok; nm = x * 1000 / hz / ok
    printf "%-28s tps=%s cmpgw_cpu_ms_per_tx=%.3f nginx_cpu_ms_per_tx=%.3f total_cpu_ms_per_tx=%.3f\n", n, tps, gm, nm, gm + nm }'
}
for _ in $(seq "$rounds"); do
  run "cmpgw-https keep-alive" "$https_port"
  run "nginx+cmpgw keep-alive" "$nginx_port"
  run "cmpgw-https conn-per-msg" "$https_port" --new-conn 1
  run "nginx+cmpgw conn-per-msg" "$nginx_port" --new-conn 1
done
