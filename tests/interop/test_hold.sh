#!/usr/bin/env bash
# test_hold.sh - certificateHold and its release (RFC 5280 §5.3.1 reasons 6
# and 8) against a live gateway, with openssl cmp: an rr with removeFromCRL
# for a certificate that is not on hold is badCertId and revokes nothing; an
# rr with certificateHold puts one on the CRL, its holder's rr with
# removeFromCRL takes it off and the certificate signs again (kur); a hold an
# operator put (`cmpgw revoke --reason certificateHold`) is the operator's to
# release (`cmpgw revoke --release`); a certificate revoked for good is never
# released; an operator certificate the profile names in ra_anchors revokes
# a device's certificate (RFC 9483 §5.3.2), another certificate may not; the
# key of a certificate revoked for keyCompromise is never certified again.
# Usage: bash tests/interop/test_hold.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl sqlite3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init and serve; one device certificate"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init failed" "$W/init.out"
CONF="$GW/cmpgw.conf"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
# An operator's certificate from the CA, named in ra_anchors.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/op.key" \
    -subj "/O=cmpgw demo/CN=operator" -out "$W/op.csr" >"$W/op.log" 2>&1 || fail "openssl req" "$W/op.log"
openssl x509 -req -in "$W/op.csr" -CA "$GW/ca-cert.pem" -CAkey "$GW/ca-key.pem" -set_serial 77 \
    -days 30 -out "$W/op.pem" >>"$W/op.log" 2>&1 || fail "openssl x509 -req" "$W/op.log"
sed -i "s|^\[profile default\]\$|[profile default]\nra_anchors = $W/op.pem|" "$CONF"
printf '\n[profile strict]\nkey_reuse = false\n' >>"$CONF"
daemon_start "$CONF"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null
new_secret "$CONF"
CMP=(openssl cmp -server "127.0.0.1:$PORT" -path .well-known/cmp -recipient "$RA"
    -trusted "$GW/ca-cert.pem" -msg_timeout 60)
"${CMP[@]}" -cmd ir -ref "$REF" -secret "pass:$SECRET" -newkey "$W/dev.key" -subject /CN=held \
    -certout "$W/dev.pem" >"$W/ir.log" 2>&1 || fail "ir failed" "$W/ir.log"
S="$(cert_serial "$W/dev.pem")"
ok "certificate $S issued"

# rr NAME REASON: the holder signs an rr for dev.pem with REASON; sets RC
rr() {
    RC=0
    "${CMP[@]}" -cmd rr -cert "$W/dev.pem" -key "$W/dev.key" -oldcert "$W/dev.pem" \
        -revreason "$2" >"$W/$1.log" 2>&1 || RC=$?
}
# refused NAME FAILINFO WORDS
refused() {
    [ "$RC" -ne 0 ] || fail "$1 was accepted" "$W/$1.log"
    [ "$(client_failinfo "$W/$1.log")" = "$2" ] || fail "$1: not $2" "$W/$1.log"
    grep -qF -- "$3" "$W/$1.log" || fail "$1: the statusString does not say '$3'" "$W/$1.log"
    ok "$1: $2, \"$3\""
}
status() { sqlite3 "$GW/cmpgw.db" "SELECT status FROM certificates WHERE serial = '$S'"; }
# on_crl: true when the CRL the gateway signs now lists the certificate
on_crl() {
    crl_fetch "http://127.0.0.1:$PORT/.well-known/cmp" "$REF" "$SECRET" "$GW/ca-cert.pem" "$W/crl"
    grep -qx "$S" "$W/crl.serials"
}

step "removeFromCRL for a certificate not on hold revokes nothing"
rr not-held 8
refused not-held badCertId "not on hold"
[ "$(status)" = valid ] || fail "the certificate is $(status) after a refused removeFromCRL"
on_crl && fail "the CRL lists a certificate that is not revoked" "$W/crl.txt"
ok "still valid, not on the CRL"

step "certificateHold, then the holder's removeFromCRL"
rr hold 6
[ "$RC" -eq 0 ] || fail "rr certificateHold failed" "$W/hold.log"
[ "$(status)" = revoked ] || fail "held, the certificate is $(status)"
on_crl || fail "the CRL does not list the held certificate" "$W/crl.txt"
grep -q "Certificate Hold" "$W/crl.txt" || fail "the CRL entry does not say certificateHold" "$W/crl.txt"
ok "on hold: revoked, on the CRL as certificateHold"
rr release 8
[ "$RC" -eq 0 ] || fail "rr removeFromCRL of a held certificate failed" "$W/release.log"
[ "$(status)" = valid ] || fail "released, the certificate is $(status)"
on_crl && fail "the CRL still lists the released certificate" "$W/crl.txt"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM events WHERE kind = 'certificate.released'")" = 1 ] ||
    fail "no certificate.released event"
ok "released: valid, off the CRL, in the audit log"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev2.key" 2>/dev/null
RC=0
"${CMP[@]}" -cmd kur -cert "$W/dev.pem" -key "$W/dev.key" -newkey "$W/dev2.key" \
    -certout "$W/dev2.pem" >"$W/kur.log" 2>&1 || RC=$?
[ "$RC" -eq 0 ] || fail "a released certificate cannot sign a kur" "$W/kur.log"
ok "the released certificate signs a kur again"

step "a hold an operator put is the operator's to release"
cp "$W/dev2.pem" "$W/dev.pem"
cp "$W/dev2.key" "$W/dev.key"
S="$(cert_serial "$W/dev.pem")"
"$CMPGW" revoke -c "$CONF" "$S" --reason certificateHold >"$W/op-hold.out" 2>&1 ||
    fail "cmpgw revoke --reason certificateHold failed" "$W/op-hold.out"
rr dev-release 8
refused dev-release notAuthorized "an operator put the certificate on hold"
[ "$(status)" = revoked ] || fail "the device released an operator's hold"
"$CMPGW" revoke -c "$CONF" "$S" --release >"$W/op-release.out" 2>&1 ||
    fail "cmpgw revoke --release failed" "$W/op-release.out"
grep -q "^certificate $S released from hold at " "$W/op-release.out" ||
    fail "cmpgw revoke --release does not say what it did" "$W/op-release.out"
[ "$(status)" = valid ] || fail "released by the operator, the certificate is $(status)"
on_crl && fail "the CRL still lists the certificate the operator released" "$W/crl.txt"
ok "cmpgw revoke --release: valid, off the CRL"
RC=0
"$CMPGW" revoke -c "$CONF" "$S" --release >"$W/op-again.out" 2>&1 || RC=$?
[ "$RC" -ne 0 ] || fail "a release of a certificate not on hold succeeded" "$W/op-again.out"
grep -q "is not on hold (it is not revoked)" "$W/op-again.out" || fail "no reason given" "$W/op-again.out"
ok "a second release is refused: not on hold"

step "revoked for good: never released"
rr good 5
[ "$RC" -eq 0 ] || fail "rr keyCompromise failed" "$W/good.log"
rr after-good 8
refused after-good certRevoked "revoked for good"
RC=0
"$CMPGW" revoke -c "$CONF" "$S" --release >"$W/op-good.out" 2>&1 || RC=$?
[ "$RC" -ne 0 ] || fail "the operator released a certificate revoked for good" "$W/op-good.out"
grep -q "revoked for good" "$W/op-good.out" || fail "no reason given" "$W/op-good.out"
[ "$(status)" = revoked ] || fail "the certificate revoked for good is $(status)"
on_crl || fail "the certificate revoked for good left the CRL" "$W/crl.txt"
ok "certRevoked for the device, refused for the operator, still on the CRL"

step "an operator named in ra_anchors revokes for others"
"${CMP[@]}" -cmd ir -ref "$REF" -secret "pass:$SECRET" -newkey "$W/dev.key" -subject /CN=other \
    -certout "$W/other.pem" >"$W/ir2.log" 2>&1 || fail "ir failed" "$W/ir2.log"
RC=0
"${CMP[@]}" -cmd rr -cert "$W/dev2.pem" -key "$W/dev2.key" -oldcert "$W/other.pem" -revreason 1 \
    >"$W/rr-dev.log" 2>&1 || RC=$?
refused rr-dev notAuthorized "not authorized to revoke this certificate"
"${CMP[@]}" -cmd rr -cert "$W/op.pem" -key "$W/op.key" -oldcert "$W/other.pem" -revreason 1 \
    >"$W/rr-op.log" 2>&1 || fail "the operator's rr failed" "$W/rr-op.log"
S="$(cert_serial "$W/other.pem")"
[ "$(status)" = revoked ] || fail "the operator's rr did not revoke"
ok "a device's certificate may not revoke another's; the operator's does"

step "a key revoked for keyCompromise is never certified again"
RC=0
"${CMP[@]}" -cmd ir -ref "$REF" -secret "pass:$SECRET" -newkey "$W/dev.key" -subject /CN=again \
    -certout "$W/again.pem" >"$W/again.log" 2>&1 || RC=$?
refused again badCertTemplate "this public key was reported compromised"

step "key_reuse = false: a key certified in force is not certified again"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/k3.key" 2>/dev/null
new_secret "$CONF" --profile strict
STRICT=(openssl cmp -server "127.0.0.1:$PORT" -path .well-known/cmp/p/strict -recipient "$RA"
    -trusted "$GW/ca-cert.pem" -msg_timeout 60 -ref "$REF" -secret "pass:$SECRET")
"${STRICT[@]}" -cmd ir -newkey "$W/k3.key" -subject /CN=k3 -certout "$W/k3.pem" >"$W/k3.log" 2>&1 ||
    fail "the first ir for the key failed" "$W/k3.log"
RC=0
"${STRICT[@]}" -cmd ir -newkey "$W/k3.key" -subject /CN=k3 -certout "$W/k3b.pem" >"$W/k3b.log" 2>&1 || RC=$?
refused k3b badCertTemplate "this public key is certified already in a certificate in force (key_reuse)"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM sqlite_master WHERE name = 'certificates_key_hash'")" = 1 ] ||
    fail "no index of certificates by key for a profile with key_reuse = false"
ok "the index of certificates by key is there"

daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
