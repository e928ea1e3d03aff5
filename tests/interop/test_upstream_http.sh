#!/usr/bin/env bash
# test_upstream_http.sh - cmpgw as a Registration Authority in front of a CA
# that speaks CMP (the `cmp` backend), with two daemons: a cmpgw "CA" (the
# `local` backend) and a cmpgw "RA" whose profiles forward to it.  OpenSSL's
# client talks to the RA only.
#
#   1. signature protection upstream: ir (MAC at the RA), cr (signed), p10cr,
#      kur, rr, genm caCerts from the CA's material; both databases hold
#      each certificate; a certificate the device rejects is revoked at the
#      CA too
#   2. MAC protection upstream (the RA's own reference at the CA)
#   3. passthrough: the device's messages and the CA's answers unchanged
#   4. approval = manual at the RA: nothing reaches the CA before it
#   5. a CA that answers waiting: the RA polls it in the background while
#      the device polls the RA; then SIGKILL of the RA while the CA holds a
#      request, a restart, and the device still gets its certificate
#   6. faults: the CA's port closed, a CA that never answers, HTTP 500,
#      garbage, a signature that does not verify, an answer of another
#      transaction: the device gets systemUnavail or systemFailure, nothing
#      is recorded as issued, and a local profile is served all along
#   7. SIGKILL of the RA while a request is at the CA: db check is clean
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl sqlite3 python3
lib_init "${1:-}"

W="$IT_TMP/work"
CA="$IT_TMP/ca"
RA="$IT_TMP/ra"
mkdir -p "$W"
cd "$W"

# ---------------------------------------------------------------- helpers

ca_db() { sqlite3 "$CA/cmpgw.db" "$1"; }
ra_db() { sqlite3 "$RA/cmpgw.db" "$1"; }

ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ossl NAME ARGS...: openssl cmp against the RA (stdout+stderr in NAME.log),
# trusting the RA's own CA for its answers; exit status kept in RC.
ossl() {
    local name="$1"
    shift
    set +e
    openssl cmp -server "127.0.0.1:$PORT" -recipient "$RA_NAME" "$@" >"$W/$name.log" 2>&1
    RC=$?
    set -e
}

ossl_ok() {
    local name="$1"
    shift
    ossl "$name" "$@"
    [ "$RC" -eq 0 ] || fail "openssl cmp ($name) exited $RC" "$W/$name.log"
}

# in_both SERIAL: the certificate is in the RA's and the CA's database.
in_both() {
    [ "$(ra_db "SELECT count(*) FROM certificates WHERE serial = '$1'")" = 1 ] ||
        fail "the RA's database has no certificate $1"
    [ "$(ca_db "SELECT count(*) FROM certificates WHERE serial = '$1'")" = 1 ] ||
        fail "the CA's database has no certificate $1"
}

# failinfo_of LOG: the PKIFailureInfo names openssl printed.
failinfo_of() { client_failinfo "$1"; }

# ---------------------------------------------------------------- the CA

step "the CA: cmpgw with its local backend, a profile for the RA, a slow one"
"$CMPGW" init "$CA" --http 127.0.0.1:0 --https 127.0.0.1:0 --org "upstream" >"$W/ca-init.out" 2>&1 ||
    fail "cmpgw init (CA) failed" "$W/ca-init.out"
"$CMPGW" init "$RA" --http 127.0.0.1:0 --org "gateway" >"$W/ra-init.out" 2>&1 ||
    fail "cmpgw init (RA) failed" "$W/ra-init.out"
# The RA signs for its devices (on_behalf) with a certificate of its own CA;
# devices that sign themselves (passthrough) have certificates of this CA.
cat "$RA/ca-cert.pem" "$CA/ca-cert.pem" >"$CA/anchors.pem"
sed -i 's/^admin = .*//' "$CA/cmpgw.conf" "$RA/cmpgw.conf"
# The CA takes raw TCP too (RFC 2510 / version 10 framing), for the ra profile.
sed -i 's/^tcp_profile = .*/tcp = 127.0.0.1:0\ntcp_profile = ra/' "$CA/cmpgw.conf"
cat >>"$CA/cmpgw.conf" <<EOF

[backend slowca]
type = local
cert = ca-cert.pem
key = ca-key.pem
delay = 3

[profile ra]
backend = local
implicit_confirm = true
on_behalf = true
trust_anchors = anchors.pem

[profile slow]
backend = slowca
on_behalf = true
check_after = 1
trust_anchors = anchors.pem
EOF
peer_start ca "$CA/cmpgw.conf"
CA_PORT="$(peer_port ca)"
CA_URL="http://127.0.0.1:$CA_PORT/.well-known/cmp/p"
CA_TCP="$(grep -oE 'listening tcp 127\.0\.0\.1:[0-9]+' "$IT_TMP/ca.log" | sed 's/.*://')"
until_true 60 grep -qE 'listening https 127\.0\.0\.1:[0-9]+' "$IT_TMP/ca.log" ||
    fail "the CA has no HTTPS listener" "$IT_TMP/ca.log"
CA_TLS="$(grep -oE 'listening https 127\.0\.0\.1:[0-9]+' "$IT_TMP/ca.log" | sed 's/.*://')"
[ -n "$CA_TCP" ] || fail "the CA has no TCP listener" "$IT_TMP/ca.log"
ok "CA listening on $CA_PORT (HTTP) and $CA_TCP (raw TCP)"

# The RA's own reference at the CA, for protection = mac.
"$CMPGW" secret new -c "$CA/cmpgw.conf" --profile ra --ref ra-upstream --json >"$W/ra-ref.json" 2>&1 ||
    fail "cmpgw secret new (CA) failed" "$W/ra-ref.json"
json_field secret "$W/ra-ref.json" >"$RA/upstream.secret"
chmod 600 "$RA/upstream.secret"

# ---------------------------------------------------------------- the RA

step "the RA: profiles forwarding to the CA (signature, mac, passthrough, slow), faults, a local one"
# Fault CAs (tests/interop/upstream_fault.py) and a port nobody listens on.
FAULTS=(hang http500 garbage badsig replay)
declare -A FPORT FPID
for m in "${FAULTS[@]}"; do
    python3 "$HERE/upstream_fault.py" "$m" "$CA_PORT" >"$W/fault-$m.out" 2>&1 &
    FPID[$m]=$!
done
for m in "${FAULTS[@]}"; do
    until_true 30 grep -q '^PORT ' "$W/fault-$m.out" || fail "fault server $m did not start" "$W/fault-$m.out"
    FPORT[$m]="$(sed -n 's/^PORT //p' "$W/fault-$m.out")"
done
CLOSED_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# the status the script ends with goes through to lib_cleanup (which exits with it)
trap 'rc=$?; set +e; for p in "${FPID[@]}"; do kill "$p" 2>/dev/null; done; (exit "$rc"); lib_cleanup' EXIT

upstream() { # NAME URL [KEY=VALUE...]
    local name="$1" url="$2"
    shift 2
    printf '\n[backend %s]\ntype = cmp\nurl = %s\ntrusted = %s\n' "$name" "$url" "$CA/ca-cert.pem"
    local kv
    for kv in "$@"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"; done
}
profile() { # NAME BACKEND [KEY=VALUE...]
    local name="$1" backend="$2"
    shift 2
    printf '\n[profile %s]\nbackend = %s\n' "$name" "$backend"
    local kv
    for kv in "$@"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"; done
}
{
    upstream upsig "$CA_URL/ra"
    upstream upmac "$CA_URL/ra" protection=mac ref=ra-upstream secret_file=upstream.secret
    upstream uppass "$CA_URL/ra" protection=passthrough
    upstream upslow "$CA_URL/slow"
    upstream uptcp "tcp://127.0.0.1:$CA_TCP"
    upstream uptls "https://127.0.0.1:$CA_TLS/.well-known/cmp/p/ra" tls_trusted="$CA/ca-cert.pem"
    upstream upclosed "http://127.0.0.1:$CLOSED_PORT/" retries=1 retry_delay_ms=100
    upstream uphang "http://127.0.0.1:${FPORT[hang]}/" timeout_ms=1500
    upstream up500 "http://127.0.0.1:${FPORT[http500]}/"
    upstream upgarbage "http://127.0.0.1:${FPORT[garbage]}/"
    upstream upbadsig "http://127.0.0.1:${FPORT[badsig]}/.well-known/cmp/p/ra"
    upstream upreplay "http://127.0.0.1:${FPORT[replay]}/.well-known/cmp/p/ra"
    profile sig upsig
    profile mac upmac
    profile pass uppass
    profile slow upslow check_after=1
    profile tcp uptcp
    profile tls uptls
    profile manual upsig approval=manual check_after=1
    for m in closed hang 500 garbage badsig replay; do profile "f$m" "up$m"; done
} >>"$RA/cmpgw.conf"
daemon_start "$RA/cmpgw.conf"
RA_NAME="$(ra_subject "$RA")"
ok "RA listening on $PORT, in front of the CA"
P=".well-known/cmp/p"
RA_TRUST=(-trusted "$RA/ca-cert.pem")

# A device secret at the RA; for passthrough the same secret at the CA too.
new_secret "$RA/cmpgw.conf" --profile sig
DREF="$REF" DSECRET="$SECRET"
ec dev.key
ec dev2.key
ec dev3.key

# ---------------------------------------------------------------- 1. signature

step "1. signature upstream: ir (MAC at the RA) -> the CA issues, both databases hold it"
ossl_ok ir -cmd ir -path "$P/sig" -ref "$DREF" -secret "pass:$DSECRET" "${RA_TRUST[@]}" \
    -newkey dev.key -subject "/CN=dev1" -certout dev.pem
openssl verify -CAfile "$CA/ca-cert.pem" dev.pem >/dev/null || fail "dev.pem is not the CA's"
S1="$(cert_serial dev.pem)"
in_both "$S1"
TID="$(ra_db "SELECT transaction_id FROM transactions WHERE cert_serial = '$S1'")"
[ "$(ra_db "SELECT state FROM transactions WHERE transaction_id = '$TID'")" = confirmed ] ||
    fail "the RA's transaction is not confirmed"
[ "$(ca_db "SELECT state FROM transactions WHERE transaction_id = '$TID'")" = confirmed ] ||
    fail "the CA's transaction (same transactionID, RFC 9483 5.2.3) is not confirmed"
[ "$(ca_db "SELECT auth_ref FROM transactions WHERE transaction_id = '$TID'")" != "$DREF" ] ||
    fail "the CA saw the device's MAC, not the RA's signature"
ok "certificate $S1 from the CA, in both databases, transaction confirmed at both"

step "1a. the same over HTTPS to the CA (url https://, tls_trusted)"
new_secret "$RA/cmpgw.conf" --profile tls
ossl_ok irtls -cmd ir -path "$P/tls" -ref "$REF" -secret "pass:$SECRET" "${RA_TRUST[@]}" \
    -newkey dev.key -subject "/CN=dev-tls" -certout devtls.pem
openssl verify -CAfile "$CA/ca-cert.pem" devtls.pem >/dev/null || fail "devtls.pem is not the CA's"
in_both "$(cert_serial devtls.pem)"
ok "certificate $(cert_serial devtls.pem) from the CA over HTTPS"

step "1b. cr signed with that certificate, p10cr, kur, rr"
ossl_ok cr -cmd cr -path "$P/sig" -cert dev.pem -key dev.key "${RA_TRUST[@]}" \
    -newkey dev2.key -subject "/CN=dev1" -certout cr.pem
in_both "$(cert_serial cr.pem)"
openssl req -new -key dev3.key -subj /CN=p10dev -out p10.csr 2>/dev/null
ossl_ok p10cr -cmd p10cr -path "$P/sig" -cert dev.pem -key dev.key "${RA_TRUST[@]}" \
    -csr p10.csr -certout p10.pem
in_both "$(cert_serial p10.pem)"
same_pubkey dev3.key p10.pem || fail "p10.pem does not hold the CSR's key"
ec kur.key
ossl_ok kur -cmd kur -path "$P/sig" -cert cr.pem -key dev2.key "${RA_TRUST[@]}" \
    -newkey kur.key -certout kur.pem
KS="$(cert_serial kur.pem)"
in_both "$KS"
[ "$(openssl x509 -in kur.pem -noout -subject -nameopt compat)" = "subject=/CN=dev1" ] ||
    fail "kur did not keep the subject"
ossl_ok rr -cmd rr -path "$P/sig" -cert kur.pem -key kur.key "${RA_TRUST[@]}" -oldcert kur.pem \
    -revreason 4
grep -q 'revocation accepted' "$W/rr.log" || fail "rr not accepted" "$W/rr.log"
[ "$(ca_db "SELECT status FROM certificates WHERE serial = '$KS'")" = revoked ] ||
    fail "the CA did not revoke $KS"
[ "$(ra_db "SELECT status FROM certificates WHERE serial = '$KS'")" = revoked ] ||
    fail "the RA did not record the revocation of $KS"
[ "$(ca_db "SELECT reason FROM revocations WHERE serial = '$KS'")" = 4 ] ||
    fail "the CA's revocation lost the reason"
ok "cr, p10cr, kur issued by the CA; rr revoked at the CA (reason 4) and recorded at the RA"

step "1c. genm caCerts: the CA's chain, from the RA's cached material"
ossl_ok genm -cmd genm -path "$P/sig" -cert dev.pem -key dev.key "${RA_TRUST[@]}" \
    -infotype caCerts -extracertsout genm-extra.pem
grep -q 'id-it-caCerts' "$W/genm.log" || fail "no caCerts in the genp" "$W/genm.log"
BEFORE="$(ca_db "SELECT count(*) FROM transactions WHERE req_type = 'genm'")"
ossl_ok genm2 -cmd genm -path "$P/sig" -cert dev.pem -key dev.key "${RA_TRUST[@]}" -infotype caCerts
[ "$(ca_db "SELECT count(*) FROM transactions WHERE req_type = 'genm'")" = "$BEFORE" ] ||
    fail "a device's genm went to the CA (the material is cached)"
ok "caCerts answered from the material fetched at start, not per device request"

step "1d. the device rejects its certificate: revoked at the CA too"
ec rej.key
ossl rej -cmd ir -path "$P/sig" -ref "$DREF" -secret "pass:$DSECRET" "${RA_TRUST[@]}" \
    -newkey rej.key -subject "/CN=rejected" -certout rej.pem -out_trusted "$RA/ca-cert.pem"
[ "$RC" -ne 0 ] || fail "openssl accepted a certificate it cannot validate" "$W/rej.log"
RTID="$(ra_db "SELECT transaction_id FROM transactions WHERE state = 'revoked_on_reject'")"
[ -n "$RTID" ] || fail "no revoked_on_reject transaction at the RA" "$W/rej.log"
RS="$(ra_db "SELECT cert_serial FROM transactions WHERE transaction_id = '$RTID'")"
until_true 30 test "$(ca_db "SELECT status FROM certificates WHERE serial = '$RS'")" = revoked ||
    fail "the CA did not revoke the rejected certificate $RS"
ok "rejected in certConf: revoked_on_reject at the RA, certificate $RS revoked at the CA"

step "1e. the CA over raw TCP (tcp://, version 10 framing, a connection per message)"
new_secret "$RA/cmpgw.conf" --profile tcp
ec tcp.key
ossl_ok tcp -cmd ir -path "$P/tcp" -ref "$REF" -secret "pass:$SECRET" "${RA_TRUST[@]}" \
    -newkey tcp.key -subject "/CN=tcpdev" -certout tcp.pem
in_both "$(cert_serial tcp.pem)"
ok "ir forwarded over raw TCP, issued by the CA"

# ---------------------------------------------------------------- 2. mac

step "2. MAC upstream: the RA's own reference at the CA"
new_secret "$RA/cmpgw.conf" --profile mac
ec mac.key
ossl_ok mac-ir -cmd ir -path "$P/mac" -ref "$REF" -secret "pass:$SECRET" "${RA_TRUST[@]}" \
    -newkey mac.key -subject "/CN=macdev" -certout mac.pem
MS="$(cert_serial mac.pem)"
in_both "$MS"
[ "$(ca_db "SELECT t.auth_ref FROM transactions t WHERE t.cert_serial = '$MS'")" = ra-upstream ] ||
    fail "the CA did not see the RA's reference"
ossl_ok mac-rr -cmd rr -path "$P/mac" -cert mac.pem -key mac.key "${RA_TRUST[@]}" -oldcert mac.pem
[ "$(ca_db "SELECT status FROM certificates WHERE serial = '$MS'")" = revoked ] ||
    fail "the CA did not revoke $MS (rr MAC'd by the RA's reference)"
ok "ir and rr under the RA's MAC (reference ra-upstream at the CA)"

# ---------------------------------------------------------------- 3. passthrough

step "3. passthrough: the device's messages and the CA's answers unchanged"
printf 'passthrough-device-secret\n' >pdev.secret
"$CMPGW" secret new -c "$CA/cmpgw.conf" --profile ra --ref pdev --secret-file pdev.secret >/dev/null 2>&1 ||
    fail "cmpgw secret new --secret-file (CA) failed"
"$CMPGW" secret new -c "$RA/cmpgw.conf" --profile pass --ref pdev --secret-file pdev.secret >/dev/null 2>&1 ||
    fail "cmpgw secret new --secret-file (RA) failed"
ec pass.key
# the message goes to the CA as it is: it names the CA, which the RA takes too (a CA of
# the profile); the later -recipient is the one openssl uses
CA_NAME="$(openssl x509 -in "$CA/ca-cert.pem" -noout -subject -nameopt compat | sed 's/^subject=//')"
ossl_ok pass-ir -cmd ir -path "$P/pass" -ref pdev -secret pass:passthrough-device-secret \
    -recipient "$CA_NAME" -trusted "$CA/ca-cert.pem" -newkey pass.key -subject "/CN=passdev" \
    -certout pass.pem
PS="$(cert_serial pass.pem)"
in_both "$PS"
[ "$(ca_db "SELECT auth_ref FROM transactions WHERE cert_serial = '$PS'")" = pdev ] ||
    fail "the CA did not see the device's own MAC"
ossl_ok pass-rr -cmd rr -path "$P/pass" -cert pass.pem -key pass.key -trusted "$CA/ca-cert.pem" \
    -recipient "$CA_NAME" \
    -oldcert pass.pem
[ "$(ca_db "SELECT status FROM certificates WHERE serial = '$PS'")" = revoked ] ||
    fail "the CA did not revoke $PS"
[ "$(ra_db "SELECT state FROM transactions WHERE cert_serial = '$PS' AND req_type = 'ir'")" = confirmed ] ||
    fail "the RA did not record the passthrough enrolment as confirmed"
ok "ir (certConf forwarded too) and rr: the CA saw the device's MAC and signature; the RA recorded both"

# ---------------------------------------------------------------- 4. manual approval

step "4. approval = manual at the RA: nothing reaches the CA before the approval"
ec man.key
new_secret "$RA/cmpgw.conf" --profile manual
( set +e; openssl cmp -server "127.0.0.1:$PORT" -recipient "$RA_NAME" -cmd ir -path "$P/manual" \
    -ref "$REF" -secret "pass:$SECRET" "${RA_TRUST[@]}" -newkey man.key -subject /CN=manual \
    -certout man.pem >"$W/manual.log" 2>&1; echo $? >"$W/manual.rc" ) &
CLIENT_PID=$!
waiting_manual() { [ -n "$(ra_db "SELECT transaction_id FROM transactions WHERE profile = 'manual' AND state = 'pending_approval'")" ]; }
until_true 30 waiting_manual || fail "the request did not wait for approval" "$W/manual.log"
MTID="$(ra_db "SELECT transaction_id FROM transactions WHERE profile = 'manual'")"
[ "$(ca_db "SELECT count(*) FROM transactions WHERE transaction_id = '$MTID'")" = 0 ] ||
    fail "the CA saw the request before the approval"
"$CMPGW" approve -c "$RA/cmpgw.conf" "$MTID" >"$W/approve.out" 2>&1 || fail "cmpgw approve failed" "$W/approve.out"
until_true 60 test -s "$W/manual.rc" || fail "openssl did not finish after the approval" "$W/manual.log"
[ "$(cat "$W/manual.rc")" = 0 ] || fail "openssl failed after the approval" "$W/manual.log"
CLIENT_PID=""
in_both "$(cert_serial man.pem)"
ok "pending_approval at the RA, unknown at the CA; approved: issued by the CA, polled by the device"

# ---------------------------------------------------------------- 5. waiting CA

step "5. a CA that answers waiting: the RA polls it, the device polls the RA"
ec slow.key
new_secret "$RA/cmpgw.conf" --profile slow
SREF="$REF" SSECRET="$SECRET"
( set +e; "$CMPGW" client ir --url "http://127.0.0.1:$PORT/$P/slow" --ref "$SREF" \
    --secret "$SSECRET" --newkey slow.key --subject /CN=slow --certout slow.pem \
    --poll-max 120 >"$W/slow.out" 2>&1; echo $? >"$W/slow.rc" ) &
CLIENT_PID=$!
until_true 60 test -s "$W/slow.rc" || fail "the client did not finish" "$W/slow.out"
[ "$(cat "$W/slow.rc")" = 0 ] || fail "the client failed" "$W/slow.out"
CLIENT_PID=""
grep -q '^waiting (ip)' "$W/slow.out" || fail "the device was not told to wait" "$W/slow.out"
in_both "$(cert_serial slow.pem)"
wait_for_log 10 'cmp approved ir profile=slow .* -> still waiting at the CA'
ok "ip waiting from the RA; the RA asked the CA again until it issued; the device got the certificate"

step "5b. SIGKILL of the RA while the CA holds a request; restart; the device gets its certificate"
ec kill.key
( set +e; "$CMPGW" client ir --url "http://127.0.0.1:$PORT/$P/slow" --ref "$SREF" \
    --secret "$SSECRET" --newkey kill.key --subject /CN=killed --certout kill.pem \
    --poll-max 120 >"$W/kill.out" 2>&1; echo $? >"$W/kill.rc" ) &
CLIENT_PID=$!
until_true 60 grep -q '^waiting (ip)' "$W/kill.out" || fail "no waiting answer" "$W/kill.out"
OLD_PORT="$PORT"
daemon_stop KILL 30
KTID="$(sed -n 's/^waiting (ip): .*; transaction \([0-9a-f]*\)$/\1/p' "$W/kill.out")"
[ "$(ra_db "SELECT state FROM transactions WHERE transaction_id = '$KTID'")" = pending_ca ] ||
    fail "the request is not pending_ca at the RA after the kill"
[ -n "$(ra_db "SELECT hex(ca_state) FROM transactions WHERE transaction_id = '$KTID'")" ] ||
    fail "the RA kept no state to ask the CA again"
sed -i "s/^http = .*/http = 127.0.0.1:$OLD_PORT/" "$RA/cmpgw.conf"
daemon_start "$RA/cmpgw.conf"
until_true 90 test -s "$W/kill.rc" || fail "the client did not finish after the restart" "$W/kill.out"
[ "$(cat "$W/kill.rc")" = 0 ] || fail "the client failed after the restart" "$W/kill.out"
CLIENT_PID=""
in_both "$(cert_serial kill.pem)"
ok "killed while pending_ca (state kept in SQLite), restarted, polled the CA again, certificate delivered"

# ---------------------------------------------------------------- 6. faults

step "6. a CA that fails: the device gets the documented error, nothing is issued"
fault() { # PROFILE FAILINFO
    local name="f$1"
    ec "$name.key"
    ossl "$name" -cmd ir -path "$P/$name" -cert dev.pem -key dev.key "${RA_TRUST[@]}" \
        -newkey "$name.key" -subject "/CN=$name" -certout "$name.pem"
    [ "$RC" -ne 0 ] || fail "openssl succeeded against $name" "$W/$name.log"
    [ "$(failinfo_of "$W/$name.log")" = "$2" ] ||
        fail "$name: failInfo '$(failinfo_of "$W/$name.log")', want $2" "$W/$name.log"
    [ ! -e "$name.pem" ] || fail "$name: a certificate was written"
    [ "$(ra_db "SELECT count(*) FROM transactions WHERE profile = '$name' AND state <> 'rejected'")" = 0 ] ||
        fail "$name: a transaction other than rejected"
    [ "$(ra_db "SELECT count(*) FROM certificates WHERE profile = '$name'")" = 0 ] ||
        fail "$name: a certificate recorded"
    ok "$1: $2 ($(grep -m1 -o 'StatusString: [^;]*' "$W/$name.log" | head -c 120))"
}
# signed requests: the RA's signed error answers, which openssl verifies
fault closed systemUnavail
fault hang systemUnavail
fault 500 systemUnavail
fault garbage systemFailure
fault badsig systemFailure
fault replay systemFailure
ec local.key
"$CMPGW" secret new -c "$RA/cmpgw.conf" --json >"$W/local-secret.json" 2>&1
ossl_ok local -cmd ir -path .well-known/cmp -ref "$(json_field reference "$W/local-secret.json")" \
    -secret "pass:$(json_field secret "$W/local-secret.json")" "${RA_TRUST[@]}" \
    -newkey local.key -subject /CN=local -certout local.pem
openssl verify -CAfile "$RA/ca-cert.pem" local.pem >/dev/null || fail "the local profile stopped serving"
ok "the local profile served all along"

# ---------------------------------------------------------------- 7. kill mid-forward

step "7. SIGKILL of the RA with a request at a CA that does not answer: db check is clean"
ec mid.key
( set +e; openssl cmp -server "127.0.0.1:$PORT" -recipient "$RA_NAME" -cmd ir -path "$P/fhang" \
    -cert dev.pem -key dev.key "${RA_TRUST[@]}" -newkey mid.key -subject /CN=mid \
    -certout mid.pem >"$W/mid.log" 2>&1 ) &
CLIENT_PID=$!
ir_sent() { grep -q 'sending IR' "$W/mid.log" 2>/dev/null; }
until_true 30 ir_sent || fail "openssl sent nothing" "$W/mid.log"
daemon_stop KILL 30
kill "$CLIENT_PID" 2>/dev/null || true
CLIENT_PID=""
"$CMPGW" db check -c "$RA/cmpgw.conf" >"$W/dbcheck.out" 2>&1 || fail "db check found problems" "$W/dbcheck.out"
[ "$(ra_db "SELECT count(*) FROM certificates WHERE profile = 'fhang'")" = 0 ] ||
    fail "a certificate recorded for the request in flight"
ok "killed mid-forward: db check clean, nothing recorded as issued"

step "the CA stops cleanly"
peer_stop ca TERM 30 || fail "the CA did not stop"
[ "$(cat "$IT_TMP/ca.status")" = 0 ] || fail "the CA exited $(cat "$IT_TMP/ca.status")"
"$CMPGW" db check -c "$CA/cmpgw.conf" >"$W/ca-dbcheck.out" 2>&1 || fail "db check (CA)" "$W/ca-dbcheck.out"
ok "CA stopped (status 0), its database checks clean"
echo
echo "PASS: test_upstream_http"
