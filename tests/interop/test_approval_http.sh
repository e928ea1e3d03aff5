#!/usr/bin/env bash
# test_approval_http.sh - delayed delivery with manual approval (RFC 9483
# §4.4): openssl cmp enrols on a profile with `approval = manual`, gets
# `waiting`, and polls by itself; an operator approves (or rejects) with
# `cmpgw approve` / `cmpgw reject` from another process; the client ends with
# a valid certificate (or the rejection).  A device over its cap of waiting
# requests (max_pending_per_ref) is refused.  A CA that answers "waiting"
# (local backend `delay`) makes the client poll without an operator.  Once more with the daemon killed
# (SIGKILL) and restarted between the first pollRep and the approval.
# Generalized delayed delivery: an rr on a profile with
# `revocation_approval = manual`, driven by `cmpgw client` (OpenSSL 3.0
# cannot poll an rr), waits for `cmpgw approve` / `cmpgw reject`; `cmpgw
# client` also polls an ir to its certificate.
# Usage: bash tests/interop/test_approval_http.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl sqlite3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init, a profile with approval = manual, serve"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init failed" "$W/init.out"
# OpenSSL's client gives up when a poll finds no server, and the clients here
# open a connection per message (-keep_alive 0: a kept-alive connection would
# not survive the restart).  The restart test
# uses a profile whose checkAfter (10 s) leaves the daemon ample time to come
# back (it takes well under a second) before the client polls again.
printf '\n[profile manual]\napproval = manual\ncheck_after = 1\n\n[profile slow]\napproval = manual\ncheck_after = 10\n' \
    >>"$GW/cmpgw.conf"
printf '\n[profile capped]\napproval = manual\ncheck_after = 1\nmax_pending_per_ref = 1\n' >>"$GW/cmpgw.conf"
# a CA that answers "waiting" for the first 2 seconds of every request
printf '\n[backend slowca]\ntype = local\ncert = ca-cert.pem\nkey = ca-key.pem\ndelay = 2\n' >>"$GW/cmpgw.conf"
printf '\n[profile delayed]\nbackend = slowca\ncheck_after = 1\n' >>"$GW/cmpgw.conf"
printf '\n[profile revoke]\nrevocation_approval = manual\ncheck_after = 1\n' >>"$GW/cmpgw.conf"
"$CMPGW" secret new -c "$GW/cmpgw.conf" --profile manual --json >"$W/secret.json" 2>&1 ||
    fail "cmpgw secret new failed" "$W/secret.json"
REF="$(json_field reference "$W/secret.json")"
SECRET="$(json_field secret "$W/secret.json")"
# A single-use secret: its use is counted when the request starts waiting,
# and its own pollReqs and certConf must still pass.
"$CMPGW" secret new -c "$GW/cmpgw.conf" --profile slow --uses 1 --json >"$W/secret-slow.json" 2>&1 ||
    fail "cmpgw secret new failed" "$W/secret-slow.json"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null
daemon_start "$GW/cmpgw.conf"
ok "serving on port $PORT"

# enrol NAME [PROFILE REF SECRET]: openssl cmp ir in the background; it polls
# until it is answered.
enrol() {
    local profile="${2:-manual}" ref="${3:-$REF}" secret="${4:-$SECRET}"
    rm -f "$W/$1.rc"
    (
        set +e
        openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path ".well-known/cmp/p/$profile" \
            -ref "$ref" -secret "pass:$secret" -recipient "$RA" -newkey "$W/dev.key" \
            -subject "/CN=$1" -certout "$W/$1.pem" -trusted "$GW/ca-cert.pem" \
            -msg_timeout 30 -total_timeout 120 -keep_alive 0 >"$W/$1.log" 2>&1
        echo $? >"$W/$1.rc"
    ) &
    CLIENT_PID=$!
}
finished() { [ -s "$W/$1.rc" ]; }
# the transactionID of the request for /CN=NAME, from the store
txid_of() {
    sqlite3 "$GW/cmpgw.db" "SELECT transaction_id FROM transactions WHERE state = 'pending_approval'
        ORDER BY created_at DESC LIMIT 1"
}
polled() { [ "$(log_count "cmp pollReq profile=${2:-manual} .* -> pollRep")" -gt "$1" ]; }

step "1. approve: the polling client gets its certificate"
enrol approved
until_true 60 polled 0 || fail "the client did not poll" "$W/approved.log"
TID="$(txid_of)"
[ -n "$TID" ] || fail "no transaction in pending_approval"
ok "pending_approval: $TID"
# pasted in capitals: the CLI takes it as the stored lowercase hex
"$CMPGW" approve -c "$GW/cmpgw.conf" "$(printf %s "$TID" | tr a-f A-F)" >"$W/approve.out" 2>&1 ||
    fail "cmpgw approve failed" "$W/approve.out"
until_true 120 finished approved || fail "the client did not finish" "$W/approved.log"
[ "$(cat "$W/approved.rc")" = 0 ] || fail "openssl cmp failed after the approval" "$W/approved.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/approved.pem" >/dev/null || fail "the certificate does not verify"
grep -q 'received ip/cp/kup after polling' "$W/approved.log" || fail "the client did not poll for it" "$W/approved.log"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT state FROM transactions WHERE transaction_id = '$TID'")" = confirmed ] ||
    fail "the transaction is not confirmed"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM events WHERE transaction_id = '$TID' AND kind = 'transaction.approved'")" = 1 ] ||
    fail "no approval event"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT group_concat(kind, ' ') FROM (SELECT kind FROM events
    WHERE transaction_id = '$TID' ORDER BY id)")" = \
    "transaction.pending_approval transaction.approved transaction.issued transaction.confirmed" ] ||
    fail "the state changes are not all in events: $(sqlite3 "$GW/cmpgw.db" "SELECT kind FROM events WHERE transaction_id = '$TID'")"
"$CMPGW" tx show -c "$GW/cmpgw.conf" "$TID" >"$W/txshow.out" 2>&1 || fail "cmpgw tx show failed" "$W/txshow.out"
for k in pending_approval approved issued confirmed; do
    grep -q "transaction\.$k" "$W/txshow.out" || fail "tx show lacks transaction.$k" "$W/txshow.out"
done
ok "certificate after polling, transaction confirmed, every state change in events and tx show"

step "2. reject: the polling client reports the rejection"
enrol rejected
until_true 60 polled 1 || fail "the client did not poll" "$W/rejected.log"
TID="$(txid_of)"
"$CMPGW" reject -c "$GW/cmpgw.conf" "$TID" --reason "unknown device" >"$W/reject.out" 2>&1 ||
    fail "cmpgw reject failed" "$W/reject.out"
until_true 120 finished rejected || fail "the client did not finish" "$W/rejected.log"
[ "$(cat "$W/rejected.rc")" != 0 ] || fail "openssl cmp succeeded after a rejection" "$W/rejected.log"
grep -q 'rejection' "$W/rejected.log" || fail "the client did not report the rejection" "$W/rejected.log"
[ ! -s "$W/rejected.pem" ] || fail "a certificate was written after the rejection"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT detail FROM events WHERE transaction_id = '$TID' AND kind = 'transaction.rejected'")" = "unknown device" ] ||
    fail "the rejection reason is not in events"
ok "rejection reported; the reason is in events"

step "3. a decision on a transaction that is not waiting"
if "$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/again.out" 2>&1; then
    fail "approving a rejected transaction succeeded" "$W/again.out"
fi
grep -q 'not awaiting approval' "$W/again.out" || fail "no clear message" "$W/again.out"
ok "refused: $(cat "$W/again.out")"

step "4. a CA that answers waiting: the client polls and gets its certificate, no operator"
"$CMPGW" secret new -c "$GW/cmpgw.conf" --profile delayed --json >"$W/secret-delayed.json" 2>&1 ||
    fail "cmpgw secret new failed" "$W/secret-delayed.json"
enrol slow-ca delayed "$(json_field reference "$W/secret-delayed.json")" \
    "$(json_field secret "$W/secret-delayed.json")"
until_true 120 finished slow-ca || fail "the client did not finish" "$W/slow-ca.log"
[ "$(cat "$W/slow-ca.rc")" = 0 ] || fail "openssl cmp failed against the waiting CA" "$W/slow-ca.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/slow-ca.pem" >/dev/null || fail "the certificate does not verify"
grep -q 'received ip/cp/kup after polling' "$W/slow-ca.log" || fail "the client did not poll for it" "$W/slow-ca.log"
[ "$(log_count "cmp pollReq profile=delayed .* -> pollRep")" -gt 0 ] || fail "no pollRep on the delayed profile"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT group_concat(state) FROM transactions WHERE profile = 'delayed'")" = confirmed ] ||
    fail "the transaction of the delayed profile is not confirmed"
ok "waited at the CA (pending_ca), polled, issued by the background issuer, confirmed"

step "5. a device over its cap of waiting requests is refused, and nothing waits for it"
"$CMPGW" secret new -c "$GW/cmpgw.conf" --profile capped --json >"$W/secret-capped.json" 2>&1 ||
    fail "cmpgw secret new failed" "$W/secret-capped.json"
CREF="$(json_field reference "$W/secret-capped.json")"
CSECRET="$(json_field secret "$W/secret-capped.json")"
enrol first capped "$CREF" "$CSECRET"
until_true 60 polled 0 capped || fail "the client did not poll" "$W/first.log"
TID="$(txid_of)"
set +e
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp/p/capped -ref "$CREF" \
    -secret "pass:$CSECRET" -recipient "$RA" -newkey "$W/dev.key" -subject /CN=second \
    -certout "$W/second.pem" -trusted "$GW/ca-cert.pem" -keep_alive 0 >"$W/second.log" 2>&1
RC=$?
set -e
[ "$RC" != 0 ] || fail "a second waiting request of the same device was accepted" "$W/second.log"
grep -q 'systemUnavail' "$W/second.log" || fail "no systemUnavail in the answer" "$W/second.log"
grep -q 'too many requests are waiting' "$W/second.log" || fail "no clear statusString" "$W/second.log"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT group_concat(state || ':' || n) FROM (SELECT state, count(*) AS n
    FROM transactions WHERE profile = 'capped' AND auth_ref = '$CREF' GROUP BY state ORDER BY state)")" = \
    "pending_approval:1,rejected:1" ] ||
    fail "the refused request is not recorded as rejected next to the waiting one"
"$CMPGW" reject -c "$GW/cmpgw.conf" "$TID" >"$W/reject3.out" 2>&1 || fail "cmpgw reject failed" "$W/reject3.out"
until_true 120 finished first || fail "the client did not finish" "$W/first.log"
ok "refused with systemUnavail; recorded as rejected; the first request still decided normally"

step "6. SIGKILL and restart between the first pollRep and the approval"
enrol restarted slow "$(json_field reference "$W/secret-slow.json")" \
    "$(json_field secret "$W/secret-slow.json")"
until_true 60 polled 0 slow || fail "the client did not poll" "$W/restarted.log"
TID="$(txid_of)"
daemon_stop KILL 30
"$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/approve2.out" 2>&1 ||
    fail "cmpgw approve (daemon down) failed" "$W/approve2.out"
ok "approved while the daemon was down"
OLD_PORT="$PORT"
# The client keeps polling the same port: start the daemon there again.
sed -i "s/^http = .*/http = 127.0.0.1:$OLD_PORT/" "$GW/cmpgw.conf"
daemon_start "$GW/cmpgw.conf"
[ "$PORT" = "$OLD_PORT" ] || fail "the daemon came back on another port"
until_true 120 finished restarted || fail "the client did not finish after the restart" "$W/restarted.log"
[ "$(cat "$W/restarted.rc")" = 0 ] || fail "openssl cmp failed after the restart" "$W/restarted.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/restarted.pem" >/dev/null || fail "the certificate does not verify"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM certificates WHERE transaction_id = '$TID'")" = 1 ] ||
    fail "the certificate was not issued exactly once"
ok "the certificate was issued once, after the restart, and delivered at the next poll"
set +e
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp/p/slow \
    -ref "$(json_field reference "$W/secret-slow.json")" -secret "pass:$(json_field secret "$W/secret-slow.json")" \
    -recipient "$RA" -newkey "$W/dev.key" -subject /CN=again -certout "$W/again.pem" \
    -trusted "$GW/ca-cert.pem" -keep_alive 0 >"$W/again.log" 2>&1
RC=$?
set -e
[ "$RC" != 0 ] || fail "a used-up single-use secret enrolled again" "$W/again.log"
grep -q badMessageCheck "$W/again.log" || fail "no badMessageCheck for the used-up secret" "$W/again.log"
ok "the single-use secret served its polls and certConf, and is refused for a second enrolment"

# client NAME ARGS...: `cmpgw client ARGS` in the background; NAME.out, NAME.rc
client() {
    local name="$1"
    shift
    rm -f "$W/$name.rc"
    (
        set +e
        "$CMPGW" client "$@" --poll-max 120 >"$W/$name.out" 2>&1
        echo $? >"$W/$name.rc"
    ) &
    CLIENT_PID=$!
}
# the transaction a waiting `cmpgw client` printed
waiting_tid() { sed -n 's/^waiting (.*; transaction \([0-9a-f]*\)$/\1/p' "$W/$1.out"; }
has_tid() { [ -n "$(waiting_tid "$1")" ]; }
events_of() {
    sqlite3 "$GW/cmpgw.db" "SELECT group_concat(kind, ' ') FROM (SELECT kind FROM events
        WHERE transaction_id = '$1' ORDER BY id)"
}

step "7. cmpgw client polls an ir on a manual-approval profile to its certificate"
URL="http://127.0.0.1:$PORT/.well-known/cmp/p"
client own-ir ir --url "$URL/manual" --ref "$REF" --secret "$SECRET" --subject /CN=own-ir \
    --certout "$W/own-ir.pem"
until_true 60 has_tid own-ir || fail "cmpgw client did not report the waiting transaction" "$W/own-ir.out"
TID="$(waiting_tid own-ir)"
"$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/approve4.out" 2>&1 || fail "cmpgw approve failed" "$W/approve4.out"
until_true 120 finished own-ir || fail "cmpgw client did not finish" "$W/own-ir.out"
[ "$(cat "$W/own-ir.rc")" = 0 ] || fail "cmpgw client failed after the approval" "$W/own-ir.out"
grep -q '^pollRep: check again after 1 s, reason "awaiting approval"' "$W/own-ir.out" ||
    fail "no pollRep seen" "$W/own-ir.out"
grep -q 'pkiConf: certificate confirmed' "$W/own-ir.out" || fail "not confirmed" "$W/own-ir.out"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/own-ir.pem" >/dev/null || fail "the certificate does not verify"
ok "waited, polled, approved, certificate confirmed"

step "8. rr with delayed delivery: waits for the operator, polls with certReqId -1, ends with rp"
"$CMPGW" secret new -c "$GW/cmpgw.conf" --profile revoke --json >"$W/secret-rr.json" 2>&1 ||
    fail "cmpgw secret new failed" "$W/secret-rr.json"
RREF="$(json_field reference "$W/secret-rr.json")"
RSECRET="$(json_field secret "$W/secret-rr.json")"
for n in 1 2; do
    "$CMPGW" client ir --url "$URL/revoke" --ref "$RREF" --secret "$RSECRET" --subject "/CN=rr-$n" \
        --certout "$W/rr-$n.pem" >"$W/rr-ir-$n.out" 2>&1 || fail "enrolment for the rr failed" "$W/rr-ir-$n.out"
done
SERIAL="$(cert_serial "$W/rr-1.pem")" || fail "cannot read the serial"
client rr-ok rr --url "$URL/revoke" --ref "$RREF" --secret "$RSECRET" --oldcert "$W/rr-1.pem" --revreason 1
until_true 60 has_tid rr-ok || fail "cmpgw client did not report the waiting rr" "$W/rr-ok.out"
TID="$(waiting_tid rr-ok)"
grep -q '^waiting (error): PKIStatus waiting, statusString "awaiting approval"' "$W/rr-ok.out" ||
    fail "the rr was not answered by an error message with status waiting" "$W/rr-ok.out"
until_true 60 grep -q '^pollRep: check again after 1 s' "$W/rr-ok.out" || fail "no pollRep for the rr" "$W/rr-ok.out"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT status FROM certificates WHERE ltrim(serial, '0') = '$SERIAL'")" = valid ] ||
    fail "the certificate was revoked before the approval"
"$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/approve5.out" 2>&1 || fail "cmpgw approve failed" "$W/approve5.out"
until_true 120 finished rr-ok || fail "cmpgw client did not finish" "$W/rr-ok.out"
[ "$(cat "$W/rr-ok.rc")" = 0 ] || fail "the rr failed after the approval" "$W/rr-ok.out"
grep -q '^rp: revoked (PKIStatus accepted)' "$W/rr-ok.out" || fail "no rp" "$W/rr-ok.out"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT c.status || ' ' || r.reason FROM certificates c JOIN revocations r
    ON r.serial = c.serial WHERE ltrim(c.serial, '0') = '$SERIAL'")" = "revoked 1" ] ||
    fail "the certificate is not revoked with reason 1"
[ "$(events_of "$TID")" = "transaction.pending_approval transaction.approved transaction.confirmed" ] ||
    fail "the rr's state changes are not all in events: $(events_of "$TID")"
ok "rr waited ($TID), approved, revoked with its reason; events complete"

client rr-no rr --url "$URL/revoke" --ref "$RREF" --secret "$RSECRET" --oldcert "$W/rr-2.pem"
until_true 60 has_tid rr-no || fail "cmpgw client did not report the waiting rr" "$W/rr-no.out"
"$CMPGW" reject -c "$GW/cmpgw.conf" "$(waiting_tid rr-no)" --reason "keep it" >"$W/reject5.out" 2>&1 ||
    fail "cmpgw reject failed" "$W/reject5.out"
until_true 120 finished rr-no || fail "cmpgw client did not finish" "$W/rr-no.out"
[ "$(cat "$W/rr-no.rc")" = 1 ] || fail "the rejected rr did not exit 1" "$W/rr-no.out"
grep -q 'PKIStatus rejection, failInfo badRequest' "$W/rr-no.out" || fail "no rejection reported" "$W/rr-no.out"
SERIAL2="$(cert_serial "$W/rr-2.pem")" || fail "cannot read the serial"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT status FROM certificates WHERE ltrim(serial, '0') = '$SERIAL2'")" = valid ] ||
    fail "a rejected rr revoked the certificate"
ok "rejected rr: the client reports the rejection, the certificate stays valid"

step "SIGTERM"
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS"
[ "$(sqlite3 "$GW/cmpgw.db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check failed"
ok "stopped cleanly"
echo
echo "PASS: test_approval_http"
