#!/usr/bin/env bash
# Installs the dependencies, builds cmpgw, creates the demo deployment in
# ./demo on first run (demo CA, RA credentials, config, database), makes a
# shared secret for one device, prints how to enrol it with `openssl cmp`,
# and serves in the foreground (Ctrl-C stops it cleanly).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target cmpgw >/dev/null

demo=${CMPGW_DEMO_DIR:-demo}
if [ ! -d "$demo" ]; then
  build/cmpgw init "$demo" >/dev/null
  echo "Created the demo deployment in $demo/"
fi

conf="$demo/cmpgw.conf"
http=$(sed -n 's/^http *= *//p' "$conf" | head -n1)
json=$(build/cmpgw secret new -c "$conf" --json)
ref=$(printf '%s' "$json" | sed 's/.*"reference": "\([^"]*\)".*/\1/')
secret=$(printf '%s' "$json" | sed 's/.*"secret": "\([^"]*\)".*/\1/')
recipient=$(openssl x509 -in "$demo/ra-cert.pem" -noout -subject -nameopt compat | sed 's/^subject=//')

cat <<MSG

cmpgw serves CMP on http://$http/.well-known/cmp (config: $conf).
A shared secret was made for one device: reference $ref, secret $secret
(run 'build/cmpgw secret new -c $conf' for more).  In another terminal:

  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dev.key
  openssl cmp -cmd ir -server $http -path .well-known/cmp \\
    -ref $ref -secret pass:$secret \\
    -recipient "$recipient" -newkey dev.key -subject /CN=dev1 \\
    -certout dev.pem -trusted $demo/ca-cert.pem
  openssl verify -CAfile $demo/ca-cert.pem dev.pem
  sqlite3 $demo/cmpgw.db 'select transaction_id, state from transactions; select serial, subject from certificates;'

MSG
exec build/cmpgw serve -c "$conf"
