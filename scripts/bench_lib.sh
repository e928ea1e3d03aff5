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
# secret, FILL_CERTS certificates written into its store when set),
# serving on loopback on CPU 1, its log in DIR/gw.log.  Sets GW_PID,
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
  [ "${FILL_CERTS:-0}" = 0 ] || fill_store "$dir/cmpgw.db" "$FILL_CERTS"
  taskset -c 1 "$cmpgw" serve -c "$dir/cmpgw.conf" 2>"$dir/gw.log" &
  GW_PID=$!
  GW_PORT=$(wait_port "$dir/gw.log" 'listening http 127\.0\.0\.1:[0-9]+') ||
    { kill "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null; return 1; }
}

# fill_store DB N: N transactions (one every 30 s back from now; every 50th
# rejected, every 10th a kur, a third on profile fleet) and their N
# certificates (CN=device-I,O=bench, DNS:device-I.example, every 100th
# revoked), written straight into the SQLite database DB of a gateway that
# is not running.  Where the schema has the search index (18), it is
# rebuilt over them, as the migration does for an existing store.
fill_store() {
  local db=$1 n=$2 index=""
  if [ -n "$(sqlite3 "$db" "SELECT 1 FROM sqlite_master WHERE name = 'search_indexed'")" ]; then
    index="INSERT INTO certificates_search (certificates_search) VALUES ('rebuild');
UPDATE search_indexed SET upto = (SELECT max(rowid) FROM certificates);"
  fi
  sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $n)
INSERT INTO transactions (transaction_id, profile, auth_ref, req_type, state, failinfo,
                          cert_serial, created_at, updated_at)
SELECT printf('%032x', i), CASE WHEN i % 3 = 0 THEN 'fleet' ELSE 'default' END,
       printf('dev-%d', i), CASE WHEN i % 10 = 0 THEN 'kur' ELSE 'ir' END,
       CASE WHEN i % 50 = 0 THEN 'rejected' ELSE 'confirmed' END,
       CASE WHEN i % 50 = 0 THEN 9 END, printf('%032x', i),
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now', printf('-%d seconds', ($n - i) * 30)),
       strftime('%Y-%m-%dT%H:%M:%SZ', 'now', printf('-%d seconds', ($n - i) * 30))
  FROM n;
INSERT INTO certificates (serial, subject, issuer, sans, key_type, not_before, not_after, status,
                          transaction_id, profile, created_at, der)
SELECT transaction_id, printf('CN=device-%d,O=bench', rowid), 'CN=cmpgw demo CA,O=cmpgw demo',
       printf('DNS:device-%d.example', rowid), 'EC P-256', created_at,
       strftime('%Y-%m-%dT%H:%M:%SZ', created_at, '+365 days'),
       CASE WHEN rowid % 100 = 0 THEN 'revoked' ELSE 'valid' END, transaction_id, profile,
       created_at, zeroblob(400)
  FROM transactions;
$index
COMMIT;
SQL
}
