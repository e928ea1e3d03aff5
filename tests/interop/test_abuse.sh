#!/usr/bin/env bash
# test_abuse.sh - what an attacker on the network and a bad day in production
# do to a live gateway, and what it does about them:
#   1. under a low open-file limit the daemon says how many connections it can
#      really serve; hundreds of silent sockets from one address are capped per
#      address and closed after the first-octet timeout, while a device at
#      another address enrols;
#   2. requests whose clients left before they were checked are dropped, not
#      checked (every one is accounted for in the log);
#   3. SIGHUP is logged and ignored;
#   4. a reference made to look like log fields, or holding a newline, cannot
#      forge a log record;
#   5. an address that keeps failing MAC checks is refused with 503 and
#      Retry-After before anything is looked at; other addresses are not;
#   6. stop with an exchange stuck (the database locked by another process):
#      after drain_timeout_ms the connection is closed, the exchange finishes
#      once the lock goes, the daemon exits 0 and the database checks clean;
#      a second SIGTERM exits at once;
#   7. a database the daemon cannot write and a master key that is not the
#      database's stop the start with a clear message.
# Usage: bash tests/interop/test_abuse.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl python3 sqlite3 ss
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"
ABUSE=(python3 "$HERE/abuse.py")

# The gateway runs under this open-file limit (it raises its soft limit to the
# hard one, and sizes max_connections to it).
ulimit -n 512

step "cmpgw init, tight limits, serve under ulimit -n 512"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --tcp 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
sed -i -e 's/^max_connections_per_address = .*/max_connections_per_address = 40/' \
    -e 's/^header_timeout_ms = .*/header_timeout_ms = 5000/' \
    -e 's/^failed_check_burst = .*/failed_check_burst = 6/' \
    -e 's/^failed_check_interval_ms = .*/failed_check_interval_ms = 600000/' \
    -e 's/^drain_timeout_ms = .*/drain_timeout_ms = 1000/' \
    -e 's/^compute = .*/compute = threadpool/' "$GW/cmpgw.conf"
new_secret "$GW/cmpgw.conf"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
daemon_start "$GW/cmpgw.conf"
grep -qE 'WARN \[server\] max_connections 10000 is more than the open-file limit \(512\) allows; serving at most [0-9]+ connections' \
    "$DAEMON_LOG" || fail "no warning that max_connections was sized to the open-file limit"
ok "$(grep -oE 'serving at most [0-9]+ connections' "$DAEMON_LOG")"

# enrol.sh NAME [PATH]: an ir (MAC, the device secret) at PATH, default .well-known/cmp
cat >"$W/enrol.sh" <<EOF
set -e
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/\$1.key" 2>/dev/null
openssl cmp -cmd ir -server "127.0.0.1:\$PORT" -path "\${2:-.well-known/cmp}" -ref "$REF" \\
    -secret "pass:$SECRET" -recipient "$RA" -trusted "$GW/ca-cert.pem" \\
    -newkey "$W/\$1.key" -subject "/CN=\$1" -certout "$W/\$1.pem" >"$W/\$1.log" 2>&1
EOF
enrol() { PORT="$PORT" bash "$W/enrol.sh" "$@"; }

step "1. 200 silent TCP sockets from 127.0.0.2 (40 per address): a device at 127.0.0.1 enrols meanwhile"
PORT="$PORT" "${ABUSE[@]}" silent "$TCP_PORT" 127.0.0.2 200 -- \
    bash "$W/enrol.sh" silent-neighbour .well-known/cmp// >"$W/silent.out" 2>&1 ||
    fail "the enrolment beside the silent sockets failed, or sockets stayed open" \
        "$W/silent.out" "$W/silent-neighbour.log"
ok "$(cat "$W/silent.out"); the device enrolled at /.well-known/cmp// (repeated slashes count as one)"

step "2. 100 requests from 127.0.0.3 abandoned as soon as sent: dropped before their checks"
openssl cmp -cmd ir -server 127.0.0.1:1 -ref no-such-ref -secret pass:wrong -recipient "$RA" \
    -subject /CN=gone -newkey "$W/silent-neighbour.key" -certout "$W/unused.pem" -reqout "$W/gone.der" >"$W/gone.log" 2>&1 || true
[ -s "$W/gone.der" ] || fail "openssl wrote no request" "$W/gone.log"
"${ABUSE[@]}" abandon "$PORT" 127.0.0.3 100 /.well-known/cmp "$W/gone.der" ||
    fail "could not send the abandoned requests"
# Each check costs a millisecond or more and the clients are gone at once:
# the checks still queued when their clients' ends arrive are dropped.
wait_for_log 60 'ref=no-such-ref .* -> dropped: "the client went away before its request was checked"'
ok "$(log_count 'ref=no-such-ref .* -> dropped') dropped unchecked so far"

step "3. SIGHUP reloads, and is not fatal"
kill -HUP "$DAEMON_PID"
wait_for_log 30 'reload: .* loaded: '
daemon_exited && fail "the daemon died of SIGHUP"
enrol after-hup || fail "enrolment after SIGHUP failed" "$W/after-hup.log"
ok "still serving after SIGHUP"

step "4. references that look like log fields or hold a newline cannot forge a record"
FORGED='x -> ip status=0 serial=01'
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$FORGED" -secret pass:x \
    -recipient "$RA" -subject /CN=forged -newkey "$W/after-hup.key" -certout "$W/unused.pem" >"$W/forged.log" 2>&1 &&
    fail "a request with a wrong secret was served"
NL=$'y\n2026-01-01T00:00:00Z INFO cmp ir profile=default ref=y txid=00 -> ip status=0 serial=01 0.1ms'
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$NL" -secret pass:x \
    -recipient "$RA" -subject /CN=forged2 -newkey "$W/after-hup.key" -certout "$W/unused.pem" >"$W/forged2.log" 2>&1 &&
    fail "a request with a wrong secret was served"
wait_for_log 30 'ref="x -> ip status=0 serial=01" .* -> error status=2 failInfo=1 '
[ "$(log_count 'ref=x -> ip')" -eq 0 ] || fail "a reference was logged unquoted"
[ "$(log_count '^2026-01-01T00:00:00Z')" -eq 0 ] || fail "a reference forged a log record"
ok "the references are quoted and escaped"

step "5. failed MAC checks from one address: 503 with Retry-After beyond the budget"
# Two failures so far (step 4); four more reach the budget of six.
for i in 1 2 3 4; do
    openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "probe-$i" \
        -secret pass:x -recipient "$RA" -subject /CN=probe -newkey "$W/after-hup.key" \
        -certout "$W/unused.pem" >"$W/probe-$i.log" 2>&1 && fail "a probe was served"
done
read -r STATUS RETRY < <("${ABUSE[@]}" post "$PORT" 127.0.0.1 /.well-known/cmp "$W/gone.der")
[ "$STATUS" = 503 ] || fail "the address over its budget got $STATUS, not 503"
[ "$RETRY" -ge 500 ] 2>/dev/null || fail "Retry-After '$RETRY' is not the time to the next allowed check"
enrol over-budget && fail "a good request from an address over its budget was served"
read -r STATUS OTHER < <("${ABUSE[@]}" post "$PORT" 127.0.0.4 /.well-known/cmp "$W/gone.der")
[ "$STATUS" = 200 ] || fail "another address got $STATUS (its budget is untouched)"
ok "127.0.0.1 refused (503, Retry-After $RETRY), 127.0.0.4 served"

daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
LINE="$(grep -E 'connections: .* refused' "$DAEMON_LOG")"
REFUSED_ADDR="$(echo "$LINE" | sed -E 's/.* ([0-9]+) over max_connections_per_address.*/\1/')"
REFUSED_CHECKS="$(echo "$LINE" | sed -E 's/.* ([0-9]+) over the failed-check budget.*/\1/')"
[ "$REFUSED_ADDR" -ge 100 ] || fail "only $REFUSED_ADDR connections refused per address: $LINE"
[ "$REFUSED_CHECKS" -ge 2 ] || fail "only $REFUSED_CHECKS requests refused for failed checks: $LINE"
ok "$LINE"

step "6. stop with an exchange stuck on a locked database: the drain deadline, then a clean exit"
openssl cmp -cmd ir -server 127.0.0.1:1 -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
    -subject /CN=stuck -newkey "$W/after-hup.key" -implicit_confirm -certout "$W/unused.pem" -reqout "$W/stuck.der" \
    >"$W/stuck-req.log" 2>&1 || true
[ -s "$W/stuck.der" ] || fail "openssl wrote no request" "$W/stuck-req.log"
DB="$GW/cmpgw.db"
stuck_start() { # a fresh daemon, the lock held, the request read: sets LOCK_PID, STUCK_PID
    rm -f "$W/ready" "$W/release" "$W/read" "$W/stuck.out"
    daemon_start "$GW/cmpgw.conf"
    "${ABUSE[@]}" hold-lock "$DB" "$W/ready" "$W/release" &
    LOCK_PID=$!
    until_true 30 test -e "$W/ready" || fail "could not lock the database"
    "${ABUSE[@]}" stuck "$PORT" /.well-known/cmp "$W/stuck.der" "$W/read" "$W/stuck.out" &
    STUCK_PID=$!
    until_true 30 test -e "$W/read" || fail "the daemon did not read the request"
}
stuck_start
kill -TERM "$DAEMON_PID"
wait_for_log 30 'stopping: 1 exchange\(s\) in flight'
wait_for_log 30 'stopping: drain_timeout_ms \(1000\) passed with 1 exchange\(s\) in flight; closing every connection'
wait "$STUCK_PID" || fail "the stuck client failed"
[ "$(cat "$W/stuck.out")" = closed ] || fail "the stuck client got $(cat "$W/stuck.out")"
daemon_exited && fail "the daemon exited before its exchange finished"
touch "$W/release"
wait "$LOCK_PID"
until_true 60 daemon_exited || fail "the daemon did not exit once the lock was gone"
daemon_stop TERM 5
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS after its drain"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM transactions t JOIN certificates c ON c.serial = t.cert_serial WHERE c.subject = 'CN=stuck'")" = 1 ] ||
    fail "the stuck exchange was not recorded whole"
"$CMPGW" db check -c "$GW/cmpgw.conf" >"$W/check1.out" 2>&1 || fail "db check failed" "$W/check1.out"
ok "connection closed at the deadline; the exchange finished and was recorded; exit 0; db check: $(cat "$W/check1.out")"

step "6b. a second SIGTERM while an exchange is stuck exits at once"
sqlite3 "$DB" "DELETE FROM certificates WHERE subject = 'CN=stuck'; DELETE FROM events WHERE transaction_id IN (SELECT transaction_id FROM transactions WHERE cert_serial IS NOT NULL AND cert_serial NOT IN (SELECT serial FROM certificates)); DELETE FROM transactions WHERE cert_serial IS NOT NULL AND cert_serial NOT IN (SELECT serial FROM certificates);"
stuck_start
kill -TERM "$DAEMON_PID"
wait_for_log 30 'stopping: 1 exchange\(s\) in flight'
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 1 ] || fail "the second SIGTERM gave exit status $DAEMON_STATUS, not 1"
grep -q 'received SIGTERM again while stopping: exiting now' "$DAEMON_LOG" ||
    fail "the forced exit was not logged"
touch "$W/release"
wait "$LOCK_PID"
wait "$STUCK_PID" || true
"$CMPGW" db check -c "$GW/cmpgw.conf" >"$W/check2.out" 2>&1 || fail "db check failed" "$W/check2.out"
ok "exit 1 at once; db check: $(cat "$W/check2.out")"

step "7. a database the daemon cannot write, and a master key that is not the database's"
if unshare --help 2>&1 | grep -q -- '--mount'; then
    RO=(unshare --mount)
    [ "$(id -u)" = 0 ] || RO=(unshare --map-root-user --mount)
    "${RO[@]}" bash -c "mount --bind '$GW' '$GW' && mount -o remount,ro,bind '$GW' '$GW' &&
        exec '$CMPGW' serve -c '$GW/cmpgw.conf'" >"$W/ro.out" 2>&1 &&
        fail "the daemon started on a read-only database" "$W/ro.out"
    grep -qE 'ERROR store: the database .* (is read-only|cannot be written)' "$W/ro.out" ||
        fail "no clear message for a read-only database" "$W/ro.out"
    ok "$(grep -m1 -oE 'store: the database .*' "$W/ro.out" | cut -c1-100)..."
else
    ok "(unshare --mount not available: read-only check skipped)"
fi
cp "$GW/master.key" "$W/master.key.good"
openssl rand -hex 32 >"$GW/master.key"
"$CMPGW" serve -c "$GW/cmpgw.conf" >"$W/wrongkey.out" 2>&1 && fail "the daemon started with another master key"
grep -q 'is not the one this database.s check value was sealed with: refusing to start' "$W/wrongkey.out" ||
    fail "no clear message for a wrong master key" "$W/wrongkey.out"
"$CMPGW" secret new -c "$GW/cmpgw.conf" >"$W/wrongkey-secret.out" 2>&1 &&
    fail "secret new sealed a secret with another master key"
cp "$W/master.key.good" "$GW/master.key"
daemon_start "$GW/cmpgw.conf"
enrol good-key-again || fail "enrolment with the right key failed" "$W/good-key-again.log"
daemon_stop TERM 60
ok "another key refused by serve and secret new; the right one serves"
