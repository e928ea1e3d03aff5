# bench_lib.sh - sourced by the bench scripts: one way to start a gateway to
# measure.  Not to be run on its own.

# wait_port LOG REGEX: prints the port a server logged in a line matching
# REGEX (ending in :PORT); fails after 30 s.
wait_port() {
  for _ in $(seq 300); do
    if grep -qE "$2" "$1" 2>/dev/null; then grep -oE "$2" "$1" | head -1 | grep -oE '[0-9]+$'; return; fi
    sleep 0.1
  done
  echo "bench: no line /$2/ in $1" >&2
  exit 1
}

# json_field NAME FILE: the string value of NAME in the JSON of FILE (what
# `cmpgw secret new --json` prints).
json_field() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" "$2"; }

# bench_gateway CMPGW DIR [SED-EXPRESSION...]: a fresh gateway in DIR
# (`cmpgw init`, each expression applied to its cmpgw.conf, one shared
# secret), serving on loopback on CPU 1, its log in DIR/gw.log.  Sets GW_PID,
# GW_PORT, GW_REF and GW_SECRET.  A daemon that never listens is stopped and
# the function fails.
bench_gateway() {
  local cmpgw=$1 dir=$2 e
  shift 2
  "$cmpgw" init "$dir" --http 127.0.0.1:0 --admin 127.0.0.1:0 >/dev/null 2>&1
  for e in "$@"; do sed -i "$e" "$dir/cmpgw.conf"; done
  "$cmpgw" secret new -c "$dir/cmpgw.conf" --json >"$dir/secret.json" 2>/dev/null
  GW_REF=$(json_field reference "$dir/secret.json")
  GW_SECRET=$(json_field secret "$dir/secret.json")
  taskset -c 1 "$cmpgw" serve -c "$dir/cmpgw.conf" 2>"$dir/gw.log" &
  GW_PID=$!
  GW_PORT=$(wait_port "$dir/gw.log" 'listening http 127\.0\.0\.1:[0-9]+') ||
    { kill "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null; return 1; }
}
