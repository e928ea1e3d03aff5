#!/usr/bin/env bash
# test_tcp.sh - CMP over raw TCP (RFC 2510 §5.2 and "version 10" framing):
# requests written by `openssl cmp -reqout`, wrapped in each framing and sent
# over a raw socket, get valid answers (the ip certificates verify against
# the CA); hand-made frames (split across writes, two in one write, the close
# flag, oversized, zero length, unknown version and types, unknown polling
# references) get the exact bytes they should; the daemon keeps serving and
# stops cleanly.  The byte-level checks live in tcp_frames.py.  Then the
# listener serves a manual-approval profile: a request is answered with a TCP
# pollRep whose reference survives a SIGKILL of the daemon; after `cmpgw
# approve` the next TCP pollReq gets the ip, in each framing; a rejected one
# gets the CMP rejection; nothing is issued twice.  `cmpgw client` runs every
# operation over TCP in both framings (MAC and signature), and polls at the
# transport level through a SIGKILL restart of the daemon.
# Usage: bash tests/interop/test_tcp.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl python3 sqlite3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init --tcp, serve"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --tcp 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
grep -q '^tcp = 127.0.0.1:0$' "$GW/cmpgw.conf" || fail "init --tcp did not write the listener"
new_secret "$GW/cmpgw.conf"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
daemon_start "$GW/cmpgw.conf"
[ -n "${TCP_PORT:-}" ] || fail "no 'listening tcp' line in the daemon log" "$DAEMON_LOG"
ok "http on $PORT, tcp on $TCP_PORT"

step "requests from openssl cmp -reqout (written before openssl tries a server that is not there)"
# reqout NAME ARGS...: the first request openssl would send, into NAME.der
reqout() {
    local name="$1"
    shift
    openssl cmp -server 127.0.0.1:1 -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
        -reqout "$W/$name.der" "$@" >"$W/$name.log" 2>&1 || true
    [ -s "$W/$name.der" ] || fail "openssl wrote no $name request" "$W/$name.log"
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/a.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/b.key" 2>/dev/null
reqout ir-a -cmd ir -newkey "$W/a.key" -subject /CN=tcp-a -certout "$W/unused-a.pem"
reqout ir-b -cmd ir -newkey "$W/b.key" -subject /CN=tcp-b -certout "$W/unused-b.pem"
reqout genm -cmd genm -infotype signKeyPairTypes
ok "ir-a, ir-b, genm"

step "frames, byte by byte"
python3 "$HERE/tcp_frames.py" "$TCP_PORT" 262144 "$W/ir-a.der" "$W/ir-b.der" "$W/genm.der" "$W" ||
    fail "the byte-level checks failed"
for c in ir-a ir-b; do
    openssl x509 -inform der -in "$W/$c.der" -out "$W/$c.pem" || fail "the $c certificate does not parse"
    openssl verify -CAfile "$GW/ca-cert.pem" "$W/$c.pem" >/dev/null || fail "the $c certificate does not verify"
    openssl x509 -in "$W/$c.pem" -noout -subject | grep -q "CN *= *tcp-${c#ir-}" ||
        fail "the $c certificate has another subject"
done
ok "both certificates (one per framing) verify against the CA, with the subjects asked for"
[ "$(log_count 'cmp ir profile=default .* -> ip status=0')" -ge 2 ] || fail "the daemon did not log both ir"

step "cmpgw client over TCP: every operation, both framings, MAC and signature"
CA="$GW/ca-cert.pem"
# cl NAME ARGS...: cmpgw client, which must succeed; output in NAME.out
cl() {
    local name="$1"
    shift
    "$CMPGW" client "$@" >"$W/$name.out" 2>&1 || fail "cmpgw client $name failed" "$W/$name.out"
}
declare -A KEYTYPE=([v10]=ed25519 [rfc2510]=rsa2048) STORED=([v10]="Ed25519" [rfc2510]="RSA 2048")
for f in v10 rfc2510; do
    URL=(--url "tcp://127.0.0.1:$TCP_PORT" --framing "$f")
    MAC=(--ref "$REF" --secret "$SECRET")
    cl "ir-$f" ir "${URL[@]}" "${MAC[@]}" --subject "/CN=cl-$f" --newkeytype "${KEYTYPE[$f]}" \
        --certout "$W/cl-$f.pem"
    grep -q 'pkiConf: certificate confirmed' "$W/ir-$f.out" || fail "ir ($f) not confirmed" "$W/ir-$f.out"
    [ "$(sqlite3 "$GW/cmpgw.db" "SELECT key_type FROM certificates WHERE subject = 'CN=cl-$f'")" = "${STORED[$f]}" ] ||
        fail "the $f certificate is not stored with key type ${STORED[$f]}"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/p10-$f.key" \
        -subj "/CN=p10-$f" -outform DER -out "$W/p10-$f.der" 2>/dev/null || fail "openssl req failed"
    cl "p10cr-$f" p10cr "${URL[@]}" "${MAC[@]}" --csr "$W/p10-$f.der" --certout "$W/p10-$f.pem"
    cl "cr-$f" cr "${URL[@]}" --cert "$W/cl-$f.pem" --key "$W/cl-$f.pem.key" --trusted "$CA" \
        --certout "$W/cr-$f.pem"
    grep -q 'cp: pvno 2, signature protection verified' "$W/cr-$f.out" || fail "cr ($f) not signed" "$W/cr-$f.out"
    cl "kur-$f" kur "${URL[@]}" --cert "$W/cl-$f.pem" --key "$W/cl-$f.pem.key" --trusted "$CA" \
        --certout "$W/kur-$f.pem"
    cl "rr-$f" rr "${URL[@]}" --cert "$W/kur-$f.pem" --key "$W/kur-$f.pem.key" --trusted "$CA" \
        --revreason 1
    grep -q 'rp: revoked (PKIStatus accepted)' "$W/rr-$f.out" || fail "rr ($f) not revoked" "$W/rr-$f.out"
    cl "genm-$f" genm "${URL[@]}" "${MAC[@]}" --infotype caCerts
    for c in cl p10 cr kur; do
        openssl verify -CAfile "$CA" "$W/$c-$f.pem" >/dev/null || fail "$c-$f.pem does not verify"
    done
    ok "$f: ir (${KEYTYPE[$f]} key), p10cr (MAC), cr, kur, rr (signed by the ${KEYTYPE[$f]} line), genm; every certificate verifies"
done
"$CMPGW" bench cmp --url "tcp://127.0.0.1:$TCP_PORT" --ref "$REF" --secret "$SECRET" --sessions 4 \
    --count 20 --keytype ed25519 >"$W/bench.out" 2>&1 || fail "cmpgw bench cmp over TCP failed" "$W/bench.out"
grep -qE '^cmp: op=ir auth=mac keytype=ed25519 transport=tcp sessions=4 ok=20 failed=0 ' "$W/bench.out" ||
    fail "unexpected bench output" "$W/bench.out"
ok "cmpgw bench cmp over TCP: 20 ir + certConf with Ed25519 keys"

step "SIGTERM"
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS"
ok "stopped cleanly after the malformed frames"

step "TCP-level polling: tcp_profile with approval = manual"
printf '\n[profile manual]\napproval = manual\ncheck_after = 1\n' >>"$GW/cmpgw.conf"
sed -i 's/^tcp_profile = .*/tcp_profile = manual/' "$GW/cmpgw.conf"
new_secret "$GW/cmpgw.conf" --profile manual
daemon_start "$GW/cmpgw.conf"
tcp() { python3 "$HERE/tcp_poll.py" "$@"; }
for f in v10 rfc2510 no; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/m-$f.key" 2>/dev/null
    reqout "m-$f" -cmd ir -newkey "$W/m-$f.key" -subject "/CN=tcp-poll-$f" -certout "$W/unused.pem"
done
declare -A PREF
for f in v10 rfc2510; do
    ANSWER="$(tcp send "$TCP_PORT" "$f" "$W/m-$f.der" "$W/m-$f.cert")" || fail "tcp send ($f) failed"
    case "$ANSWER" in
    "pollRep "*" 1") PREF[$f]="$(echo "$ANSWER" | cut -d' ' -f2)" ;;
    *) fail "a waiting ir ($f) was answered '$ANSWER', not a TCP pollRep with checkAfter 1" ;;
    esac
    ANSWER="$(tcp poll "$TCP_PORT" "$f" "${PREF[$f]}" "$W/m-$f.cert")" || fail "tcp poll ($f) failed"
    [ "$ANSWER" = "pollRep ${PREF[$f]} 1" ] || fail "a pollReq while waiting got '$ANSWER'"
done
ANSWER="$(tcp send "$TCP_PORT" v10 "$W/m-no.der" "$W/m-no.cert")" || fail "tcp send (no) failed"
NOREF="$(echo "$ANSWER" | cut -d' ' -f2)"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM transactions WHERE state = 'pending_approval'
    AND poll_ref IS NOT NULL")" = 3 ] || fail "the waiting transactions have no polling references"
ok "pollRep in each framing (v10 ${PREF[v10]}, RFC 2510 ${PREF[rfc2510]}); a poll while waiting: pollRep again"

step "SIGKILL and restart while the clients wait; approve and reject while the daemon is down"
OLD_TCP="$TCP_PORT"
daemon_stop KILL 30
for f in v10 rfc2510 no; do
    TID="$(sqlite3 "$GW/cmpgw.db" "SELECT transaction_id FROM transactions
        WHERE poll_ref = $((16#$(if [ "$f" = no ]; then echo "$NOREF"; else echo "${PREF[$f]}"; fi)))")"
    [ -n "$TID" ] || fail "no transaction for the polling reference of $f"
    if [ "$f" = no ]; then
        "$CMPGW" reject -c "$GW/cmpgw.conf" "$TID" >"$W/reject.out" 2>&1 || fail "cmpgw reject failed" "$W/reject.out"
    else
        "$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/approve.out" 2>&1 || fail "cmpgw approve failed" "$W/approve.out"
    fi
done
sed -i "s/^tcp = .*/tcp = 127.0.0.1:$OLD_TCP/" "$GW/cmpgw.conf"
daemon_start "$GW/cmpgw.conf"
[ "$TCP_PORT" = "$OLD_TCP" ] || fail "the daemon came back on another TCP port"
issued() { [ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM transactions WHERE profile = 'manual'
    AND state = 'issued'")" = 2 ]; }
until_true 60 issued || fail "the approved requests were not issued after the restart"
for f in v10 rfc2510; do
    ANSWER="$(tcp poll "$TCP_PORT" "$f" "${PREF[$f]}" "$W/m-$f.cert")" || fail "tcp poll ($f) failed"
    [ "$ANSWER" = "final a1" ] || fail "the pollReq after the approval got '$ANSWER', not the ip"
    openssl x509 -inform der -in "$W/m-$f.cert" -out "$W/m-$f.pem" || fail "the $f certificate does not parse"
    openssl verify -CAfile "$GW/ca-cert.pem" "$W/m-$f.pem" >/dev/null || fail "the $f certificate does not verify"
    # asked again: the same certificate, nothing issued twice
    tcp poll "$TCP_PORT" "$f" "${PREF[$f]}" "$W/m-$f.again" >/dev/null || fail "tcp poll again ($f) failed"
    cmp -s "$W/m-$f.cert" "$W/m-$f.again" || fail "a second pollReq got another certificate"
done
ANSWER="$(tcp poll "$TCP_PORT" v10 "$NOREF" "$W/m-no.cert")" || fail "tcp poll (no) failed"
[ "$ANSWER" = "final a1 rejection" ] ||
    fail "the pollReq of the rejected request got '$ANSWER', not an ip with status rejection"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM certificates WHERE profile = 'manual'")" = 2 ] ||
    fail "not exactly one certificate per approved request"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT group_concat(state) FROM (SELECT state FROM transactions
    WHERE profile = 'manual' ORDER BY state)")" = "issued,issued,rejected" ] ||
    fail "TCP pollReqs changed transaction states"
ok "after the restart: each framing's pollReq got its ip (verifies), twice the same; the rejected one an ip with status rejection; states untouched"

step "cmpgw client polls at the transport level, through a SIGKILL restart"
rm -f "$W/poll.rc"
(
    set +e
    "$CMPGW" client ir --url "tcp://127.0.0.1:$TCP_PORT" --ref "$REF" --secret "$SECRET" \
        --subject /CN=cl-poll --certout "$W/cl-poll.pem" --poll-max 120 >"$W/poll.out" 2>&1
    echo $? >"$W/poll.rc"
) &
CLIENT_PID=$!
has_ref() { grep -q '^TCP pollRep: polling reference' "$W/poll.out"; }
until_true 60 has_ref || fail "cmpgw client got no TCP pollRep" "$W/poll.out"
TID="$(sed -n 's/^TCP pollRep: .*; transaction \([0-9a-f]*\)$/\1/p' "$W/poll.out" | head -n 1)"
[ -n "$TID" ] || fail "cmpgw client did not print the transaction" "$W/poll.out"
daemon_stop KILL 30
"$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/approve2.out" 2>&1 || fail "cmpgw approve failed" "$W/approve2.out"
# the client finds nobody there, and keeps polling
until_true 60 grep -q 'the poll did not get through' "$W/poll.out" ||
    fail "cmpgw client did not report the failed poll" "$W/poll.out"
daemon_start "$GW/cmpgw.conf"
[ "$TCP_PORT" = "$OLD_TCP" ] || fail "the daemon came back on another TCP port"
finished() { [ -s "$W/poll.rc" ]; }
until_true 120 finished || fail "cmpgw client did not finish" "$W/poll.out"
[ "$(cat "$W/poll.rc")" = 0 ] || fail "cmpgw client failed after the restart" "$W/poll.out"
grep -q 'pkiConf: certificate confirmed' "$W/poll.out" || fail "not confirmed" "$W/poll.out"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/cl-poll.pem" >/dev/null || fail "cl-poll.pem does not verify"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT state FROM transactions WHERE transaction_id = '$TID'")" = confirmed ] ||
    fail "the polled transaction is not confirmed"
ok "TCP pollRep, daemon killed (a poll failed, retried), approved while down, restarted: the client's TCP pollReq got the ip, certConf confirmed it"

step "tcp_polling = cmp: the waiting answer stays a CMP message; the client polls with CMP pollReq over TCP"
daemon_stop TERM 30
sed -i 's/^tcp_polling = .*/tcp_polling = cmp/' "$GW/cmpgw.conf"
grep -q '^tcp_polling = cmp$' "$GW/cmpgw.conf" || fail "init wrote no tcp_polling to set"
daemon_start "$GW/cmpgw.conf"
rm -f "$W/poll.rc"
(
    set +e
    "$CMPGW" client ir --url "tcp://127.0.0.1:$TCP_PORT" --framing rfc2510 --ref "$REF" \
        --secret "$SECRET" --subject /CN=cl-cmp-poll --certout "$W/cl-cmp.pem" --poll-max 120 \
        >"$W/poll.out" 2>&1
    echo $? >"$W/poll.rc"
) &
CLIENT_PID=$!
has_tid() { grep -q '^waiting (ip): PKIStatus waiting' "$W/poll.out"; }
until_true 60 has_tid || fail "cmpgw client got no CMP waiting answer" "$W/poll.out"
until_true 60 grep -q '^pollRep: check again after 1 s' "$W/poll.out" || fail "no CMP pollRep over TCP" "$W/poll.out"
TID="$(sed -n 's/^waiting (ip): .*; transaction \([0-9a-f]*\)$/\1/p' "$W/poll.out")"
"$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/approve3.out" 2>&1 || fail "cmpgw approve failed" "$W/approve3.out"
until_true 120 finished || fail "cmpgw client did not finish" "$W/poll.out"
[ "$(cat "$W/poll.rc")" = 0 ] || fail "cmpgw client failed" "$W/poll.out"
grep -q 'TCP pollRep' "$W/poll.out" && fail "a TCP pollRep with tcp_polling = cmp" "$W/poll.out"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/cl-cmp.pem" >/dev/null || fail "cl-cmp.pem does not verify"
ok "CMP waiting answer, CMP pollReq/pollRep inside RFC 2510 frames, approved, certificate confirmed"

daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS"
echo
echo "PASS: test_tcp"
