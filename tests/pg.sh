#!/bin/bash
# pg.sh - a throwaway PostgreSQL server for the tests and benchmarks, started
# and stopped by PID.
#
#   pg.sh start STATE   initdb into a new temporary directory, start the
#                       server on a Unix socket there (no TCP), and write
#                       STATE/conninfo (libpq words for the maintenance
#                       database, user cmpgw), STATE/pid and STATE/root
#   pg.sh down STATE    stop the server (fast shutdown), keeping its data
#   pg.sh up STATE      start it again on the same data
#   pg.sh kill STATE    SIGKILL the server's processes (a crash)
#   pg.sh stop STATE    stop it and remove everything
#
# The server refuses to run as root; as root (CI) it runs as the system user
# `postgres` that Debian's package creates, in a directory under /tmp that
# user can reach.  PG_DURABLE=1 keeps fsync on (benchmarks); tests turn it
# off, which changes nothing they check.  Exit 77: no server installed.
set -euo pipefail

cmd=${1:?usage: pg.sh start|down|up|kill|stop STATE}
state=${2:?usage: pg.sh start|down|up|kill|stop STATE}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

server_pid() { head -n 1 "$1/data/postmaster.pid" 2>/dev/null || true; }

start_server() {
  local root=$1 fsync=off
  [ "${PG_DURABLE:-0}" = 1 ] && fsync=on
  as_owner "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 120 \
    -o "-k $root -c listen_addresses= -p 5432 -c fsync=$fsync -c max_connections=200" \
    start >/dev/null
  server_pid "$root" >"$state/pid"
}

# Waits (bounded: 60 s) until process $1 is gone.
wait_gone() {
  local i
  for i in $(seq 600); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "pg.sh: server $1 did not stop" >&2
  return 1
}

stop_server() {
  local pid
  pid=$(cat "$state/pid" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null || true
  wait_gone "$pid"
}

case $cmd in
start)
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "pg.sh: no PostgreSQL server installed (postgresql-15)" >&2
    exit 77
  fi
  [ -f "$state/root" ] && "$0" stop "$state"
  mkdir -p "$state"
  root=$(mktemp -d /tmp/cmpgw-pg.XXXXXX)
  chmod 755 "$root"
  [ "$(id -u)" = 0 ] && chown postgres "$root"
  echo "$root" >"$state/root"
  as_owner "$bindir/initdb" -D "$root/data" -U cmpgw --auth=trust -E UTF8 --locale=C \
    --no-sync >"$root/initdb.log"
  start_server "$root"
  echo "host=$root port=5432 user=cmpgw dbname=postgres" >"$state/conninfo"
  ;;
down)
  stop_server
  ;;
up)
  start_server "$(cat "$state/root")"
  ;;
kill)
  pid=$(cat "$state/pid")
  # The postmaster and its children (backends, checkpointer...).
  pkill -KILL -P "$pid" 2>/dev/null || true
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid"
  rm -f "$(cat "$state/root")/data/postmaster.pid"
  ;;
stop)
  [ -f "$state/root" ] || exit 0
  stop_server || true
  root=$(cat "$state/root")
  case $root in /tmp/cmpgw-pg.*) rm -rf "$root" ;; esac
  rm -f "$state/root" "$state/pid" "$state/conninfo"
  ;;
*)
  echo "usage: pg.sh start|down|up|kill|stop STATE" >&2
  exit 2
  ;;
esac
