#!/usr/bin/env bash
# test_crash.sh - durability: enrolments run in a loop against `cmpgw serve`,
# the daemon is killed with SIGKILL under load, with group commit pacing on
# (writes are held for up to 20 ms to share a commit, so the kill finds some
# held), restarted, and then:
#   - every certificate a client received is in the certificates table (the ip
#     goes out only after its rows are committed);
#   - no transaction is in an impossible state (issued/confirmed without its
#     certificate, a certificate without its transaction);
#   - SQLite's integrity and foreign-key checks pass;
#   - the restarted daemon serves again.
# Usage: bash tests/interop/test_crash.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl sqlite3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"
LOOPS=4
LOOP_PIDS=()

# The client loops stop on their own (a stop file, at most 100 rounds each);
# at exit they are ended by PID in any case.
crash_cleanup() {
    local rc=$? p
    set +e # (exit) below must not end the trap before lib_cleanup
    touch "$W/stop" 2>/dev/null || true
    for p in "${LOOP_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    (exit "$rc")
    lib_cleanup
}
trap crash_cleanup EXIT

step "cmpgw init, serve, one shared secret"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init failed" "$W/init.out"
sed -i 's/^commit_interval_us = .*/commit_interval_us = 20000/' "$GW/cmpgw.conf"
grep -qx 'commit_interval_us = 20000' "$GW/cmpgw.conf" || fail "cannot set commit_interval_us"
new_secret "$GW/cmpgw.conf"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
daemon_start "$GW/cmpgw.conf"
ok "serving on port $PORT"

# One loop: ir after ir, each certificate saved under its own name.
enrol_loop() {
    local n="$1" i=0
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/k$n.key" 2>/dev/null
    while [ ! -e "$W/stop" ] && [ "$i" -lt 100 ]; do
        i=$((i + 1))
        openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" \
            -secret "pass:$SECRET" -recipient "$RA" -newkey "$W/k$n.key" \
            -subject "/CN=crash-$n-$i" -certout "$W/got-$n-$i.pem" -msg_timeout 10 \
            >"$W/loop-$n.log" 2>&1 || true
    done
}

step "$LOOPS enrolment loops"
for n in $(seq 1 "$LOOPS"); do
    enrol_loop "$n" &
    LOOP_PIDS+=("$!")
done
count_received() { [ "$(find "$W" -name 'got-*.pem' -size +0 | wc -l)" -ge "$1" ]; }
until_true 120 count_received 12 || fail "fewer than 12 enrolments within 120 s" "$W/loop-1.log"
ok "$(find "$W" -name 'got-*.pem' -size +0 | wc -l) certificates received so far"

step "SIGKILL the daemon under load"
daemon_stop KILL 30
[ "$DAEMON_STATUS" = 137 ] || fail "the daemon did not die of SIGKILL (status $DAEMON_STATUS)"
ok "killed (status 137)"
touch "$W/stop"
for p in "${LOOP_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
LOOP_PIDS=()
RECEIVED="$(find "$W" -name 'got-*.pem' -size +0 | wc -l)"
ok "the loops stopped; $RECEIVED certificates were received in all"

step "every certificate a client received is in the store"
DB="$GW/cmpgw.db"
missing=0
for f in "$W"/got-*.pem; do
    [ -s "$f" ] || continue
    s="$(norm_serial "$(openssl x509 -in "$f" -noout -serial | sed 's/^serial=//')")"
    n="$(sqlite3 "$DB" "SELECT count(*) FROM certificates WHERE ltrim(serial, '0') = '$s'")"
    if [ "$n" != 1 ]; then
        echo "   missing: $f (serial $s)"
        missing=$((missing + 1))
    fi
done
[ "$missing" = 0 ] || fail "$missing received certificates are not in the store"
ok "all $RECEIVED are there"

step "no transaction in an impossible state; SQLite checks"
[ "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check failed"
[ -z "$(sqlite3 "$DB" 'PRAGMA foreign_key_check')" ] || fail "foreign_key_check found violations"
bad="$(sqlite3 "$DB" "SELECT count(*) FROM transactions t WHERE t.state IN ('issued', 'confirmed')
    AND t.req_type = 'ir' AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial = t.cert_serial)")"
[ "$bad" = 0 ] || fail "$bad issued/confirmed transactions without their certificate"
orphans="$(sqlite3 "$DB" "SELECT count(*) FROM certificates c WHERE NOT EXISTS
    (SELECT 1 FROM transactions t WHERE t.transaction_id = c.transaction_id)")"
[ "$orphans" = 0 ] || fail "$orphans certificates without their transaction"
received_states="$(sqlite3 "$DB" "SELECT count(*) FROM transactions WHERE state = 'received'")"
[ "$received_states" = 0 ] || fail "$received_states transactions left in 'received'"
ok "integrity ok, no orphans, $(sqlite3 "$DB" "SELECT count(*) FROM transactions") transactions consistent"

step "the restarted daemon serves again"
daemon_start "$GW/cmpgw.conf"
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" -secret "pass:$SECRET" \
    -recipient "$RA" -newkey "$W/k1.key" -subject /CN=after-restart -certout "$W/after.pem" \
    -msg_timeout 30 >"$W/after.log" 2>&1 || fail "enrolment after the restart failed" "$W/after.log"
ok "enrolled after the restart"
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS"
ok "stopped cleanly"

echo
echo "PASS: test_crash"
