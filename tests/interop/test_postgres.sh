#!/usr/bin/env bash
# test_postgres.sh - two cmpgw nodes on one PostgreSQL database (docs/store.md,
# "PostgreSQL"), behind a round-robin load balancer (lb.py) that sends each
# connection to the next node, and openssl cmp opening a connection per
# message: an ir answered by one node is confirmed on the other; a request
# waiting for approval is polled on both and approved by the CLI; failed MACs
# on both nodes add up to one lockout; node A killed (SIGKILL) under load
# leaves every certificate a client received in the database, and node B
# takes the lease of the background work and expires what A left; the
# PostgreSQL server stopped and started under load: the requests meanwhile are
# answered systemUnavail, nothing is half-written, and both nodes serve again
# by themselves.  The server is a throwaway one (tests/pg.sh), stopped by PID.
# Usage: bash tests/interop/test_postgres.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl python3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "a PostgreSQL server, a database, cmpgw init --store-url"
pg_start
pg_sql postgres "CREATE DATABASE cmpgw" >/dev/null
URL="${PG_CONNINFO/dbname=postgres/dbname=cmpgw}"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --store-url "$URL" >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
"$CMPGW" db check -c "$GW/cmpgw.conf" --json >"$W/check.json" 2>&1 || fail "db check" "$W/check.json"
WANT="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["expected_version"])' "$W/check.json")"
[ -n "$WANT" ] && [ "$(pg_sql cmpgw "SELECT version FROM cmpgw_schema")" = "$WANT" ] ||
    fail "no schema in PostgreSQL (this cmpgw makes version $WANT)" "$W/check.json"
printf '\n[profile manual]\napproval = manual\ncheck_after = 1\n' >>"$GW/cmpgw.conf"
# certificates nobody confirms expire after 3 s (node B expires A's)
printf '\n[profile short]\nconfirm_wait = 3\ncheck_after = 1\n' >>"$GW/cmpgw.conf"
"$CMPGW" db check -c "$GW/cmpgw.conf" >"$W/check.out" 2>&1 || fail "db check failed" "$W/check.out"
grep -qx ok "$W/check.out" || fail "db check did not say ok" "$W/check.out"
grep -q "cmpgw_t\|host=" "$W/check.out" && fail "db check printed the URL" "$W/check.out"
"$CMPGW" db backup -c "$GW/cmpgw.conf" "$W/backup.db" >"$W/backup.out" 2>&1 &&
    fail "db backup of a PostgreSQL store succeeded" "$W/backup.out"
grep -q pg_dump "$W/backup.out" || fail "db backup did not point to pg_dump" "$W/backup.out"
ok "schema 15 made in PostgreSQL; db check ok; db backup points to pg_dump"

RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null
daemon_start "$GW/cmpgw.conf"
PORT_A="$PORT"
wait_for_log 30 'background work: this node'
peer_start nodeb "$GW/cmpgw.conf"
PORT_B="$(peer_port nodeb)"
LOG_B="$IT_TMP/nodeb.log"
lb_start "$PORT_A" "$PORT_B"
ok "node A on $PORT_A (background work), node B on $PORT_B, the load balancer on $LB_PORT"

# enrol NAME PORT PROFILE REF SECRET: openssl cmp ir (+ certConf, or polling),
# a connection per message.
enrol() {
    openssl cmp -cmd ir -server "127.0.0.1:$2" -path ".well-known/cmp/p/$3" \
        -ref "$4" -secret "pass:$5" -recipient "$RA" -newkey "$W/dev.key" \
        -subject "/CN=$1" -certout "$W/$1.pem" -trusted "$GW/ca-cert.pem" \
        -msg_timeout 30 -total_timeout 120 -keep_alive 0 >"$W/$1.log" 2>&1
}
count_b() { grep -cE -e "$1" "$LOG_B" 2>/dev/null || true; }

step "1. ir on one node, certConf on the other"
new_secret "$GW/cmpgw.conf" --profile default
enrol cross "$LB_PORT" default "$REF" "$SECRET" || fail "the enrolment failed" "$W/cross.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/cross.pem" >/dev/null || fail "the certificate does not verify"
TXID="$(pg_sql cmpgw "SELECT transaction_id FROM transactions WHERE auth_ref = '$REF'")"
[ "$(pg_sql cmpgw "SELECT state FROM transactions WHERE transaction_id = '$TXID'")" = confirmed ] ||
    fail "the transaction is not confirmed"
IR_A="$(log_count "cmp ir .*txid=$TXID -> ip")"
CC_A="$(log_count "cmp certConf .*txid=$TXID -> pkiconf")"
IR_B="$(count_b "cmp ir .*txid=$TXID -> ip")"
CC_B="$(count_b "cmp certConf .*txid=$TXID -> pkiconf")"
[ "$((IR_A + CC_B))" -eq 2 ] || [ "$((IR_B + CC_A))" -eq 2 ] ||
    fail "ir and certConf were not answered by different nodes (A: $IR_A/$CC_A, B: $IR_B/$CC_B)"
ok "ir and certConf of $TXID answered by different nodes; confirmed"

step "2. a request waiting for approval, polled on both nodes, approved by the CLI"
new_secret "$GW/cmpgw.conf" --profile manual
MREF="$REF"
( set +e; enrol approved "$LB_PORT" manual "$REF" "$SECRET"; echo $? >"$W/approved.rc" ) &
CLIENT_PID=$!
polled_both() {
    [ "$(log_count "cmp pollReq profile=manual .* -> pollRep")" -gt 0 ] &&
        [ "$(count_b "cmp pollReq profile=manual .* -> pollRep")" -gt 0 ]
}
until_true 60 polled_both || fail "the client did not poll both nodes" "$W/approved.log"
TID="$(pg_sql cmpgw "SELECT transaction_id FROM transactions WHERE auth_ref = '$MREF'")"
"$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/approve.out" 2>&1 || fail "approve failed" "$W/approve.out"
until_true 90 test -s "$W/approved.rc" || fail "the client did not finish" "$W/approved.log"
wait "$CLIENT_PID" 2>/dev/null || true
CLIENT_PID=""
[ "$(cat "$W/approved.rc")" = 0 ] || fail "the approved client failed" "$W/approved.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/approved.pem" >/dev/null || fail "not a valid certificate"
ok "polled on both nodes, approved by the CLI, the certificate issued and delivered"

step "3. failed MACs on both nodes add up to one lockout"
new_secret "$GW/cmpgw.conf" --profile default
LREF="$REF"
for i in 1 2 3 4 5; do
    enrol "wrong$i" "$LB_PORT" default "$LREF" "not-the-secret-$i" && fail "a wrong MAC was accepted"
done
LOCKED="$(pg_sql cmpgw "SELECT locked_until IS NOT NULL FROM secrets WHERE reference = '$LREF'")"
FAILS_A="$(log_count "ref=$LREF .*failInfo=1 ")"
FAILS_B="$(count_b "ref=$LREF .*failInfo=1 ")"
[ "$LOCKED" = t ] || fail "5 failed MACs (A: $FAILS_A, B: $FAILS_B) did not lock the reference"
[ "$FAILS_A" -gt 0 ] && [ "$FAILS_B" -gt 0 ] ||
    fail "the failures did not reach both nodes (A: $FAILS_A, B: $FAILS_B)"
enrol locked "$LB_PORT" default "$LREF" "$SECRET" && fail "a locked reference enrolled"
ok "failures on A ($FAILS_A) and B ($FAILS_B) locked the reference for both"

step "4. node A killed under load: what clients received is stored; B expires what A left"
new_secret "$GW/cmpgw.conf" --profile short
KREF="$REF"
KSECRET="$SECRET"
load() {
    local n=0
    while enrol "load$1-$n" "$PORT_A" short "$KREF" "$KSECRET"; do n=$((n + 1)); done
    echo "$n" >"$W/load$1.done"
}
LOADS=""
for l in 1 2 3; do
    load "$l" &
    LOADS="$LOADS $!"
done
received() { [ "$(find "$W" -name 'load*.pem' -size +0 | wc -l)" -ge 6 ]; }
until_true 120 received || fail "the load did not get certificates"
kill -KILL "$DAEMON_PID"
until_true 30 daemon_exited || fail "node A did not die"
DAEMON_PID=""
for l in 1 2 3; do until_true 120 test -s "$W/load$l.done" || fail "load $l did not stop"; done
# shellcheck disable=SC2086
wait $LOADS
N=0
for pem in "$W"/load*.pem; do
    [ -s "$pem" ] || continue
    S="$(cert_serial "$pem")" || fail "cannot read $pem"
    [ "$(pg_sql cmpgw "SELECT count(*) FROM certificates WHERE serial = '$S'")" = 1 ] ||
        fail "certificate $S, received by a client, is not in the database"
    N=$((N + 1))
done
ok "all $N certificates the clients received are in the database"
until_true 90 grep -q 'background work: this node' "$LOG_B" ||
    fail "node B did not take the lease of the background work" "$LOG_B"
left() {
    [ "$(pg_sql cmpgw "SELECT count(*) FROM transactions WHERE profile = 'short'
        AND state IN ('received', 'issued', 'pending_approval', 'pending_ca')")" = 0 ]
}
until_true 90 left || fail "node B did not finish or expire what A left: $(pg_sql cmpgw \
    "SELECT state || ' ' || count(*) FROM transactions WHERE profile = 'short' GROUP BY state")"
EXPIRED="$(pg_sql cmpgw "SELECT count(*) FROM transactions WHERE profile = 'short' AND state = 'expired'")"
ok "node B took the lease; nothing of A's is left open ($EXPIRED expired)"

step "5. PostgreSQL stopped and started under load"
new_secret "$GW/cmpgw.conf" --profile default
"$CMPGW" bench cmp --url "http://127.0.0.1:$PORT_B/.well-known/cmp" --ref "$REF" \
    --secret "pass:$SECRET" --sessions 4 --rate 50 --duration 600 >"$W/bench.out" 2>&1 &
BENCH=$!
ips() { count_b 'cmp (ir|certConf) .* status=0'; }
more_than() { [ "$(ips)" -gt "$1" ]; }
BEFORE="$(ips)"
until_true 60 more_than "$((BEFORE + 20))" || fail "no load on node B" "$W/bench.out"
bash "$LIB_DIR/../pg.sh" down "$PG_STATE" >/dev/null 2>&1 || fail "PostgreSQL did not stop"
unavail() { [ "$(count_b 'failInfo=24 ')" -gt 0 ]; }
until_true 60 unavail || fail "no request was answered systemUnavail during the outage" "$LOG_B"
bash "$LIB_DIR/../pg.sh" up "$PG_STATE" >/dev/null 2>&1 || fail "PostgreSQL did not start again"
AFTER="$(ips)"
until_true 60 more_than "$((AFTER + 20))" || fail "node B did not serve again" "$LOG_B"
kill -TERM "$BENCH" 2>/dev/null || true
wait "$BENCH" 2>/dev/null || true
[ "$(count_b 'failInfo=25 ')" = 0 ] ||
    fail "a request during the outage got systemFailure, not systemUnavail" "$LOG_B"
HALF="$(pg_sql cmpgw "SELECT count(*) FROM transactions t WHERE t.req_type = 'ir'
    AND t.state IN ('issued', 'confirmed')
    AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = t.cert_serial)")"
[ "$HALF" = 0 ] || fail "$HALF transaction(s) issued without their certificate"
ORPHAN="$(pg_sql cmpgw "SELECT count(*) FROM certificates c WHERE NOT EXISTS
    (SELECT 1 FROM transactions t WHERE t.transaction_id = c.transaction_id)")"
[ "$ORPHAN" = 0 ] || fail "$ORPHAN certificate(s) without their transaction"
new_secret "$GW/cmpgw.conf" --profile default
enrol after "$PORT_B" default "$REF" "$SECRET" || fail "no enrolment after the restart" "$W/after.log"
ok "outage answered systemUnavail ($(count_b 'failInfo=24 ') answers); nothing half-written; serving again"

peer_stop nodeb TERM 30 || fail "node B did not stop"

step "6. a SQLite deployment moved into PostgreSQL (cmpgw db migrate-to-postgres)"
need_cmd sqlite3
SQ="$IT_TMP/sq"
"$CMPGW" init "$SQ" --http 127.0.0.1:0 >"$W/sq-init.out" 2>&1 || fail "cmpgw init failed" "$W/sq-init.out"
printf '\n[profile manual]\napproval = manual\ncheck_after = 1\n' >>"$SQ/cmpgw.conf"
peer_start sq "$SQ/cmpgw.conf"
SQ_PORT="$(peer_port sq)"
RA_SQ="$(ra_subject "$SQ")"
for d in 1 2 3; do
    new_secret "$SQ/cmpgw.conf" --note "device $d"
    openssl cmp -cmd ir -server "127.0.0.1:$SQ_PORT" -path .well-known/cmp -ref "$REF" \
        -secret "pass:$SECRET" -recipient "$RA_SQ" -newkey "$W/dev.key" -subject "/CN=sq$d" \
        -certout "$W/sq$d.pem" -trusted "$SQ/ca-cert.pem" >"$W/sq$d.log" 2>&1 ||
        fail "enrolment $d on SQLite failed" "$W/sq$d.log"
    [ "$d" != 1 ] || { REF1="$REF"; SECRET1="$SECRET"; }
done
"$CMPGW" revoke -c "$SQ/cmpgw.conf" "$(cert_serial "$W/sq2.pem")" --reason keyCompromise \
    >"$W/sq-revoke.out" 2>&1 || fail "revoke failed" "$W/sq-revoke.out"
peer_stop sq TERM 30 || fail "the SQLite node did not stop"
"$CMPGW" tx list -c "$SQ/cmpgw.conf" >"$W/tx-before.txt" 2>&1 || fail "tx list failed"
"$CMPGW" certs list -c "$SQ/cmpgw.conf" >"$W/certs-before.txt" 2>&1 || fail "certs list failed"
pg_sql postgres "CREATE DATABASE moved" >/dev/null
MURL="${PG_CONNINFO/dbname=postgres/dbname=moved}"
"$CMPGW" db migrate-to-postgres -c "$SQ/cmpgw.conf" --url "$MURL" --json >"$W/migrate.json" \
    2>"$W/migrate.err" || fail "migrate-to-postgres failed" "$W/migrate.err"
for t in secrets transactions certificates revocations compromised_keys events settings; do
    A="$(sqlite3 "$SQ/cmpgw.db" "SELECT count(*) FROM $t")"
    B="$(pg_sql moved "SELECT count(*) FROM $t")"
    [ "$A" = "$B" ] || fail "$t: $A rows in SQLite, $B in PostgreSQL"
    grep -q "\"name\": \"$t\", \"rows\": $A," "$W/migrate.json" ||
        fail "the report does not say $A rows of $t" "$W/migrate.json"
done
"$CMPGW" db migrate-to-postgres -c "$SQ/cmpgw.conf" --url "$MURL" >"$W/again.out" 2>&1 &&
    fail "a second copy into the same database was accepted" "$W/again.out"
grep -q "holds cmpgw rows already" "$W/again.out" || fail "the refusal does not say why" "$W/again.out"
sed -i "/^\[store\]/a url = $MURL" "$SQ/cmpgw.conf"
"$CMPGW" tx list -c "$SQ/cmpgw.conf" >"$W/tx-after.txt" 2>&1 || fail "tx list on PostgreSQL failed"
"$CMPGW" certs list -c "$SQ/cmpgw.conf" >"$W/certs-after.txt" 2>&1 || fail "certs list failed"
cmp -s "$W/tx-before.txt" "$W/tx-after.txt" ||
    fail "tx list differs after the move: $(diff "$W/tx-before.txt" "$W/tx-after.txt" | head -5)"
cmp -s "$W/certs-before.txt" "$W/certs-after.txt" ||
    fail "certs list differs after the move: $(diff "$W/certs-before.txt" "$W/certs-after.txt" | head -5)"
peer_start moved "$SQ/cmpgw.conf"
M_PORT="$(peer_port moved)"
new_secret "$SQ/cmpgw.conf"
# the key revoked for keyCompromise on SQLite is refused on PostgreSQL too
openssl cmp -cmd ir -server "127.0.0.1:$M_PORT" -path .well-known/cmp -ref "$REF" \
    -secret "pass:$SECRET" -recipient "$RA_SQ" -newkey "$W/dev.key" -subject /CN=sq4 \
    -certout "$W/sq4.pem" -trusted "$SQ/ca-cert.pem" >"$W/sq4-old.log" 2>&1 &&
    fail "a key reported compromised before the move was certified after it"
[ "$(client_failinfo "$W/sq4-old.log")" = badCertTemplate ] ||
    fail "the compromised key was not refused with badCertTemplate" "$W/sq4-old.log"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev4.key" 2>/dev/null
openssl cmp -cmd ir -server "127.0.0.1:$M_PORT" -path .well-known/cmp -ref "$REF" \
    -secret "pass:$SECRET" -recipient "$RA_SQ" -newkey "$W/dev4.key" -subject /CN=sq4 \
    -certout "$W/sq4.pem" -trusted "$SQ/ca-cert.pem" >"$W/sq4.log" 2>&1 ||
    fail "no enrolment on the moved store" "$W/sq4.log"
# revoked by the secret that enrolled it on SQLite (the store knows which)
openssl cmp -cmd rr -server "127.0.0.1:$M_PORT" -path .well-known/cmp -ref "$REF1" \
    -secret "pass:$SECRET1" -recipient "$RA_SQ" -oldcert "$W/sq1.pem" -revreason 4 \
    -trusted "$SQ/ca-cert.pem" >"$W/sq-rr.log" 2>&1 || fail "rr of a moved certificate failed" "$W/sq-rr.log"
[ "$(pg_sql moved "SELECT count(*) FROM revocations")" = 2 ] || fail "the moved store has not 2 revocations"
peer_stop moved TERM 30 || fail "the moved node did not stop"
ok "copied with equal counts, lists unchanged, a second copy refused; the moved store refuses the compromised key, enrols and revokes"
echo "PASS"
