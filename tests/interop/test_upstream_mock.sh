#!/usr/bin/env bash
# test_upstream_mock.sh - OpenSSL's mock CMP server as the CA behind a cmpgw
# RA (`cmp` backend), OpenSSL's client at the RA.  The mock binds every
# interface, so the whole test runs inside a private network namespace
# (`unshare --net`, a loopback of its own); it is skipped where that is not
# possible.  The mock answers every request with one fixed certificate
# (-rsp_cert) and serves only the paths / and /pkix/: each mock instance here
# serves one enrolment, with a certificate of its own.
#
#   ir      MAC at the RA, MAC (the mock's reference) upstream; implicit
#           confirmation granted by the mock
#   p10cr   and certConf upstream (the mock does not grant implicit confirmation)
#   rr      signed by the device at the RA, forwarded under the RA's MAC
#   poll    the mock makes the RA poll (-poll_count): the RA polls it in the
#           background while the device polls the RA
#   error   the mock refuses (-pkistatus 2 -failure 19): the device gets
#           badCertTemplate with the mock's status string
#   twice   the mock gives the same certificate for another request: the RA
#           refuses it (systemFailure) and records nothing twice
#   pass    passthrough: the device's ir and certConf reach the mock as they are
#   genm    the RA's fetch of the CA's material reached the mock
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"

if [ "${1:-}" != "--in-netns" ]; then
    need_cmd openssl sqlite3 unshare ip
    BIN="${1:-}"
    case "$BIN" in /*) ;; *) BIN="$(pwd)/$BIN" ;; esac
    if unshare --net true 2>/dev/null; then
        exec unshare --net bash "$0" --in-netns "$BIN"
    elif unshare --map-root-user --net true 2>/dev/null; then
        exec unshare --map-root-user --net bash "$0" --in-netns "$BIN"
    fi
    skip "unshare --net is not available (the mock server binds every interface)"
fi

ip link set lo up || fail "cannot bring up lo in the network namespace"
lib_init "$2"
W="$IT_TMP/work"
RA="$IT_TMP/ra"
mkdir -p "$W"
cd "$W"

MOCKS=""
cleanup_mocks() {
    local rc=$? m
    set +e # (exit) below must not end the trap before lib_cleanup
    for m in $MOCKS; do kill "$(cat "$W/mock-$m.pid")" 2>/dev/null || true; done
    (exit "$rc") # lib_cleanup exits with the script's status
    lib_cleanup
}
trap cleanup_mocks EXIT

ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

step "the mock's PKI: a CA, the mock's signing certificate, one device certificate per mock"
ec ca.key
openssl req -x509 -new -key ca.key -subj "/CN=mock CA" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >ee.ext
for k in srv ir p10 poll twice pass; do
    ec "$k.key"
    openssl req -new -key "$k.key" -subj "/CN=mock $k" -out "$k.csr" 2>/dev/null
    openssl x509 -req -in "$k.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -extfile ee.ext -out "$k.pem" 2>/dev/null
done
ok "CA, srv, and a certificate for each of ir p10 poll twice pass"

# mock NAME CERT [OPTIONS...]: a mock server answering with CERT; its port in PORT_NAME.
declare -A MPORT
mock() {
    local name="$1" cert="$2" line
    shift 2
    openssl cmp -port 0 -srv_ref mockref -srv_secret pass:mock-secret-1 \
        -srv_cert srv.pem -srv_key srv.key -rsp_cert "$cert" -rsp_capubs ca.pem -verbosity 7 "$@" \
        >"$W/mock-$name.log" 2>&1 &
    echo $! >"$W/mock-$name.pid"
    MOCKS="$MOCKS $name"
    until_true 30 grep -q '^ACCEPT ' "$W/mock-$name.log" || fail "mock $name did not start" "$W/mock-$name.log"
    line="$(grep -m1 '^ACCEPT ' "$W/mock-$name.log")"
    line="${line##*:}"
    MPORT[$name]="${line%% *}"
}
mock ir ir.pem -grant_implicitconf
mock p10 p10.pem
mock poll poll.pem -poll_count 2 -check_after 1
mock error ir.pem -pkistatus 2 -failure 19 -statusstring "not for this CA"
mock pass pass.pem
ok "mocks: ${!MPORT[*]}"

step "the RA: a backend per mock (mac; one passthrough)"
"$CMPGW" init "$RA" --http 127.0.0.1:0 --org "gateway" >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
sed -i 's/^admin = .*//' "$RA/cmpgw.conf"
printf 'mock-secret-1\n' >"$RA/mock.secret"
chmod 600 "$RA/mock.secret" # a secret_file others can read is refused
for m in ir p10 poll error pass; do
    if [ "$m" = pass ]; then prot="protection = passthrough"; else
        prot="protection = mac
ref = mockref
secret_file = mock.secret"
    fi
    printf '\n[backend m%s]\ntype = cmp\nurl = http://127.0.0.1:%s/pkix/\ntrusted = %s\n%s\n' \
        "$m" "${MPORT[$m]}" "$W/ca.pem" "$prot"
    printf '\n[profile %s]\nbackend = m%s\ncheck_after = 1\n' "$m" "$m"
done >>"$RA/cmpgw.conf"
daemon_start "$RA/cmpgw.conf"
RA_NAME="$(ra_subject "$RA")"
P=".well-known/cmp/p"
ok "RA on $PORT"

ossl() { # NAME ARGS...: openssl cmp at the RA; RC
    local name="$1"
    shift
    set +e
    openssl cmp -server "127.0.0.1:$PORT" -recipient "$RA_NAME" -trusted "$RA/ca-cert.pem" "$@" \
        >"$W/$name.log" 2>&1
    RC=$?
    set -e
}

step "ir: MAC at the RA, the mock's MAC upstream, implicit confirmation granted"
new_secret "$RA/cmpgw.conf" --profile ir
ossl ir -cmd ir -path "$P/ir" -ref "$REF" -secret "pass:$SECRET" -newkey ir.key \
    -subject "/CN=mock ir" -certout got-ir.pem
[ "$RC" -eq 0 ] || fail "openssl ir failed" "$W/ir.log"
cmp -s <(openssl x509 -in got-ir.pem -outform DER) <(openssl x509 -in ir.pem -outform DER) ||
    fail "the RA did not deliver the mock's certificate"
IRS="$(cert_serial ir.pem)"
st="$(sqlite3 "$RA/cmpgw.db" "SELECT status FROM certificates WHERE serial = '$IRS'")"
[ "$st" = valid ] ||
    fail "the RA did not record the mock's certificate $IRS as valid (\"$st\"; it has: $(sqlite3 "$RA/cmpgw.db" "SELECT serial, status FROM certificates" | tr '\n' ' '))"
grep -q 'received IR' "$W/mock-ir.log" || fail "the mock saw no ir" "$W/mock-ir.log"
if grep -q 'received CERTCONF' "$W/mock-ir.log"; then
    fail "a certConf went to a mock that granted implicit confirmation" "$W/mock-ir.log"
fi
ok "the mock's certificate delivered and recorded; implicitly confirmed upstream"

step "rr: signed by the device at the RA, forwarded under the RA's MAC"
ossl rr -cmd rr -path "$P/ir" -cert got-ir.pem -key ir.key -oldcert got-ir.pem
[ "$RC" -eq 0 ] || fail "openssl rr failed" "$W/rr.log"
grep -q 'received RR' "$W/mock-ir.log" || fail "the mock saw no rr" "$W/mock-ir.log"
[ "$(sqlite3 "$RA/cmpgw.db" "SELECT status FROM certificates WHERE serial = '$IRS'")" = revoked ] ||
    fail "the revocation is not recorded at the RA"
ok "revoked at the mock, recorded at the RA"

step "twice: the mock gives the same certificate for another request"
new_secret "$RA/cmpgw.conf" --profile ir
ossl twice -cmd ir -path "$P/ir" -ref "$REF" -secret "pass:$SECRET" -newkey ir.key \
    -subject "/CN=mock ir" -certout got-twice.pem
[ "$RC" -ne 0 ] || fail "the RA accepted a serial the CA issued before" "$W/twice.log"
[ "$(client_failinfo "$W/twice.log")" = systemFailure ] || fail "not systemFailure" "$W/twice.log"
[ "$(sqlite3 "$RA/cmpgw.db" "SELECT count(*) FROM certificates WHERE serial = '$IRS'")" = 1 ] ||
    fail "the certificate was recorded twice"
ok "systemFailure ($(grep -o 'StatusString: [^;]*' "$W/twice.log" | head -n 1))"

step "p10cr: certConf upstream (no implicit confirmation from this mock)"
new_secret "$RA/cmpgw.conf" --profile p10
openssl req -new -key p10.key -subj "/CN=mock p10" -out p10-req.pem 2>/dev/null
ossl p10 -cmd p10cr -path "$P/p10" -ref "$REF" -secret "pass:$SECRET" -csr p10-req.pem \
    -certout got-p10.pem
[ "$RC" -eq 0 ] || fail "openssl p10cr failed" "$W/p10.log"
grep -q 'received P10CR' "$W/mock-p10.log" || fail "the mock saw no p10cr" "$W/mock-p10.log"
grep -q 'received CERTCONF' "$W/mock-p10.log" || fail "the RA did not confirm upstream" "$W/mock-p10.log"
ok "p10cr forwarded, confirmed upstream by the RA"

step "poll: the mock makes the RA poll; the device polls the RA"
new_secret "$RA/cmpgw.conf" --profile poll
ossl poll -cmd ir -path "$P/poll" -ref "$REF" -secret "pass:$SECRET" -newkey poll.key \
    -subject "/CN=mock poll" -certout got-poll.pem
[ "$RC" -eq 0 ] || fail "openssl ir (poll) failed" "$W/poll.log"
[ "$(grep -c 'received POLLREQ' "$W/mock-poll.log")" -ge 2 ] ||
    fail "the RA did not poll the mock" "$W/mock-poll.log"
grep -q 'received POLLREP' "$W/poll.log" || fail "the device was not made to poll" "$W/poll.log"
ok "the RA polled the mock in the background, the device the RA"

step "error: the mock refuses; the device gets its failInfo and words"
new_secret "$RA/cmpgw.conf" --profile error
ossl error -cmd ir -path "$P/error" -ref "$REF" -secret "pass:$SECRET" -newkey ir.key \
    -subject "/CN=mock error" -certout got-error.pem
[ "$RC" -ne 0 ] || fail "openssl succeeded against a refusing mock" "$W/error.log"
[ "$(client_failinfo "$W/error.log")" = badCertTemplate ] || fail "not badCertTemplate" "$W/error.log"
grep -q 'not for this CA' "$W/error.log" || fail "the mock's words are lost" "$W/error.log"
ok "badCertTemplate, \"not for this CA\""

step "pass: passthrough, the device's own messages reach the mock"
"$CMPGW" secret new -c "$RA/cmpgw.conf" --profile pass --ref mockref \
    --secret-file "$RA/mock.secret" >/dev/null 2>&1 || fail "cmpgw secret new --secret-file failed"
set +e
# passed on as it is: it names the mock CA (a CA of the profile for the RA)
openssl cmp -server "127.0.0.1:$PORT" -recipient "/CN=mock CA" -trusted ca.pem -cmd ir \
    -path "$P/pass" -ref mockref -secret pass:mock-secret-1 -newkey pass.key \
    -subject "/CN=mock pass" -certout got-pass.pem >"$W/pass.log" 2>&1
RC=$?
set -e
[ "$RC" -eq 0 ] || fail "openssl ir (passthrough) failed" "$W/pass.log"
grep -q 'received CERTCONF' "$W/mock-pass.log" || fail "the device's certConf did not reach the mock" "$W/mock-pass.log"
[ "$(sqlite3 "$RA/cmpgw.db" "SELECT state FROM transactions WHERE profile = 'pass'")" = confirmed ] ||
    fail "the RA did not record the passthrough enrolment"
ok "ir and certConf forwarded as they are; the mock's answers verified by the device"

step "genm: the RA's fetch of the CA's material reached the mocks"
grep -q 'received GENM' "$W/mock-ir.log" || fail "the RA fetched nothing from the mock" "$W/mock-ir.log"
ok "genm (caCerts, rootCaCert, crls) sent at start"

step "stop"
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the RA exited $DAEMON_STATUS"
"$CMPGW" db check -c "$RA/cmpgw.conf" >"$W/dbcheck.out" 2>&1 || fail "db check" "$W/dbcheck.out"
ok "the RA stopped (status 0), db check clean"
echo
echo "PASS: test_upstream_mock"
