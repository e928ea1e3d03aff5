#!/usr/bin/env bash
# test_names.sh - whose names a device may enrol (cmp/srv_names.c), against a
# live gateway with openssl cmp: the RA's and the CA's own names are never
# issued; a profile's subject_pattern, san_types and san_patterns refuse what
# they do not allow, each with badCertTemplate and a statusString that names
# the rule; a secret bound with `cmpgw secret new --subject --san` enrols that
# identity only (ir and p10cr); a kur may not rename what it updates; the
# profile's key_types and rsa_min_bits refuse other keys (badCertTemplate)
# and a key below what cmpgw reads at all (RSA-512) is badAlg.  Nothing
# refused is issued.
# Usage: bash tests/interop/test_names.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl sqlite3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init; a profile for a fleet with a name policy"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init failed" "$W/init.out"
cat >>"$GW/cmpgw.conf" <<EOF

[profile fleet]
subject_pattern = CN=*.devices.example
san_types = dns
san_patterns = dns:*.devices.example
key_types = rsa, p256
rsa_min_bits = 3072
EOF
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
CA_SUBJECT="$(openssl x509 -in "$GW/ca-cert.pem" -noout -subject -nameopt compat | sed 's/^subject=//')"
daemon_start "$GW/cmpgw.conf"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null

# ir NAME PROFILE REF SECRET SUBJECT [openssl cmp args...]: sets RC, output in NAME.log
ir() {
    local name="$1" profile="$2" ref="$3" secret="$4" subject="$5" path=".well-known/cmp"
    shift 5
    [ "$profile" = default ] || path=".well-known/cmp/p/$profile"
    RC=0
    openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path "$path" -ref "$ref" -secret "pass:$secret" \
        -recipient "$RA" -trusted "$GW/ca-cert.pem" -newkey "$W/dev.key" -subject "$subject" \
        -certout "$W/$name.pem" "$@" >"$W/$name.log" 2>&1 || RC=$?
}
# refused NAME WHY: the request was refused with badCertTemplate, saying WHY
refused() {
    [ "$RC" -ne 0 ] || fail "$1 was issued" "$W/$1.log"
    [ "$(client_failinfo "$W/$1.log")" = badCertTemplate ] ||
        fail "$1: not badCertTemplate" "$W/$1.log"
    grep -qF -- "$2" "$W/$1.log" || fail "$1: the statusString does not say '$2'" "$W/$1.log"
    ok "$1: badCertTemplate, \"$2\""
}
issued_count() { sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM certificates"; }

step "the RA's and the CA's own names are never issued"
new_secret "$GW/cmpgw.conf"
BEFORE="$(issued_count)"
ir as-ra default "$REF" "$SECRET" "$RA"
refused as-ra "the subject is the RA's own name"
ir as-ca default "$REF" "$SECRET" "$CA_SUBJECT"
refused as-ca "the subject is the name of a CA of this profile"

step "profile fleet: subject_pattern, san_types, san_patterns"
new_secret "$GW/cmpgw.conf" --profile fleet
ir bank fleet "$REF" "$SECRET" /CN=www.bank.example -sans www.bank.example
refused bank "subject CN=www.bank.example does not match subject_pattern of profile fleet"
ir with-ip fleet "$REF" "$SECRET" /CN=a.devices.example -sans "a.devices.example 192.0.2.1"
refused with-ip "subjectAltName type ip is not allowed by profile fleet"
ir other-dns fleet "$REF" "$SECRET" /CN=a.devices.example -sans www.bank.example
refused other-dns "subjectAltName dns:www.bank.example does not match san_patterns of profile fleet"
[ "$(issued_count)" = "$BEFORE" ] || fail "a refused request was issued"
ir good fleet "$REF" "$SECRET" /CN=a.devices.example -sans a.devices.example
[ "$RC" -eq 0 ] || fail "a request within the policy was refused" "$W/good.log"
openssl x509 -in "$W/good.pem" -noout -ext subjectAltName | grep -q 'DNS:a.devices.example' ||
    fail "the certificate lacks its subjectAltName"
ok "CN=a.devices.example with DNS:a.devices.example issued"

step "a secret bound to an identity enrols that identity only"
"$CMPGW" secret new -c "$GW/cmpgw.conf" --subject /CN=meter-17/O=Example \
    --san dns:meter-17.example --san ip:192.0.2.17 --json >"$W/bound.json" 2>&1 ||
    fail "secret new --subject --san failed" "$W/bound.json"
BREF="$(json_field reference "$W/bound.json")"
BSECRET="$(json_field secret "$W/bound.json")"
"$CMPGW" secret show -c "$GW/cmpgw.conf" "$BREF" >"$W/bound.show" 2>&1
grep -q '^enrols: *O=Example,CN=meter-17 with dns:meter-17.example, ip:192.0.2.17 only$' "$W/bound.show" ||
    fail "secret show does not say what the secret enrols" "$W/bound.show"
ir bound-other default "$BREF" "$BSECRET" /CN=meter-18/O=Example -sans "meter-17.example 192.0.2.17"
refused bound-other "this secret enrols the subject O=Example,CN=meter-17 only, not O=Example,CN=meter-18"
ir bound-more default "$BREF" "$BSECRET" /CN=meter-17/O=Example \
    -sans "meter-17.example 192.0.2.17 www.bank.example"
refused bound-more "this secret enrols exactly the subjectAltNames"
openssl req -new -key "$W/dev.key" -subj /CN=www.bank.example -out "$W/bank.csr" 2>/dev/null
RC=0
openssl cmp -cmd p10cr -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$BREF" \
    -secret "pass:$BSECRET" -recipient "$RA" -trusted "$GW/ca-cert.pem" -csr "$W/bank.csr" \
    -certout "$W/bound-p10.pem" >"$W/bound-p10.log" 2>&1 || RC=$?
refused bound-p10 "this secret enrols the subject O=Example,CN=meter-17 only, not CN=www.bank.example"
ir bound-good default "$BREF" "$BSECRET" /CN=meter-17/O=Example -sans "192.0.2.17 meter-17.example"
[ "$RC" -eq 0 ] || fail "the bound identity was refused" "$W/bound-good.log"
ok "the bound identity is issued (its subjectAltNames in any order)"

step "a kur keeps the identity it updates"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/next.key" 2>/dev/null
RC=0
openssl cmp -cmd kur -server "127.0.0.1:$PORT" -path .well-known/cmp -recipient "$RA" \
    -trusted "$GW/ca-cert.pem" -cert "$W/bound-good.pem" -key "$W/dev.key" -newkey "$W/next.key" \
    -subject /CN=renamed -certout "$W/renamed.pem" >"$W/renamed.log" 2>&1 || RC=$?
refused renamed "a kur keeps the subject of the certificate it updates"
RC=0
openssl cmp -cmd kur -server "127.0.0.1:$PORT" -path .well-known/cmp -recipient "$RA" \
    -trusted "$GW/ca-cert.pem" -cert "$W/bound-good.pem" -key "$W/dev.key" -newkey "$W/next.key" \
    -certout "$W/updated.pem" >"$W/updated.log" 2>&1 || RC=$?
[ "$RC" -eq 0 ] || fail "a kur keeping the identity was refused" "$W/updated.log"
ok "kur with the same subject and subjectAltNames issued"

step "SHA-1 signature protection is refused (sha1_signatures = false)"
RC=0
openssl cmp -cmd cr -server "127.0.0.1:$PORT" -path .well-known/cmp -recipient "$RA" \
    -trusted "$GW/ca-cert.pem" -cert "$W/updated.pem" -key "$W/next.key" -newkey "$W/dev.key" \
    -digest sha1 -certout "$W/sha1.pem" >"$W/sha1.log" 2>&1 || RC=$?
[ "$RC" -ne 0 ] || fail "a SHA-1 signed request was served" "$W/sha1.log"
[ "$(client_failinfo "$W/sha1.log")" = badAlg ] || fail "SHA-1 signature: not badAlg" "$W/sha1.log"
grep -qF "SHA-1 signatures are not accepted" "$W/sha1.log" || fail "SHA-1: no reason given" "$W/sha1.log"
ok "ecdsa-with-SHA1 protection: badAlg, saying why"

step "the keys a profile certifies"
BEFORE="$(issued_count)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$W/p384.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/rsa2048.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 -out "$W/rsa512.key" 2>/dev/null
new_secret "$GW/cmpgw.conf" --profile fleet
ir p384 fleet "$REF" "$SECRET" /CN=k.devices.example -newkey "$W/p384.key"
refused p384 "the profile does not certify EC P-384 keys (key_types)"
ir rsa2048 fleet "$REF" "$SECRET" /CN=k.devices.example -newkey "$W/rsa2048.key"
refused rsa2048 "the RSA key is shorter than the profile certifies (rsa_min_bits): 2048 bits; at least 3072"
ir rsa512 default "$REF" "$SECRET" /CN=k.devices.example -newkey "$W/rsa512.key"
[ "$RC" -ne 0 ] || fail "an RSA-512 key was certified" "$W/rsa512.log"
[ "$(client_failinfo "$W/rsa512.log")" = badAlg ] || fail "RSA-512: not badAlg" "$W/rsa512.log"
grep -qF "RSA modulus" "$W/rsa512.log" || fail "RSA-512: the statusString does not say why" "$W/rsa512.log"
ok "rsa512: badAlg, the RSA modulus named"
[ "$(issued_count)" = "$BEFORE" ] || fail "a refused key was certified"
ir p256 fleet "$REF" "$SECRET" /CN=k.devices.example
[ "$RC" -eq 0 ] || fail "a P-256 key on profile fleet was refused" "$W/p256.log"
ok "a P-256 key on profile fleet is certified"

step "extensions the profile decides: granted with modifications"
printf '[ca_exts]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n' >"$W/exts.cnf"
new_secret "$GW/cmpgw.conf"
RC=0
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" -secret "pass:$SECRET" \
    -recipient "$RA" -trusted "$GW/ca-cert.pem" -newkey "$W/dev.key" -subject /CN=wants-to-be-a-ca \
    -config "$W/exts.cnf" -reqexts ca_exts -certout "$W/mods.pem" >"$W/mods.log" 2>&1 || RC=$?
[ "$RC" -eq 0 ] || fail "the request for CA extensions was refused" "$W/mods.log"
grep -q "grantedWithMods" "$W/mods.log" || fail "the client was not told grantedWithMods" "$W/mods.log"
grep -qF "granted with modifications: keyUsage, basicConstraints as the profile sets it" "$W/mods.log" ||
    fail "the statusString does not name what was changed" "$W/mods.log"
openssl x509 -in "$W/mods.pem" -noout -ext basicConstraints,keyUsage >"$W/mods.ext" 2>&1 || true
if grep -q "CA:TRUE" "$W/mods.ext"; then fail "a device certificate says CA:TRUE" "$W/mods.ext"; fi
if grep -q "Certificate Sign" "$W/mods.ext"; then fail "a device certificate may sign certificates" "$W/mods.ext"; fi
ok "CA:TRUE and keyCertSign asked: issued as the profile sets them, status grantedWithMods"

step "the recipient: this RA, a CA of the profile or NULL-DN"
new_secret "$GW/cmpgw.conf"
RC=0
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" -secret "pass:$SECRET" \
    -recipient "/CN=another RA" -trusted "$GW/ca-cert.pem" -newkey "$W/dev.key" -subject /CN=r1 \
    -certout "$W/rcpt.pem" >"$W/rcpt.log" 2>&1 || RC=$?
[ "$RC" -ne 0 ] || fail "a request for another recipient was served" "$W/rcpt.log"
[ "$(client_failinfo "$W/rcpt.log")" = wrongAuthority ] || fail "another recipient: not wrongAuthority" "$W/rcpt.log"
RC=0
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" -secret "pass:$SECRET" \
    -recipient "$CA_SUBJECT" -trusted "$GW/ca-cert.pem" -newkey "$W/dev.key" -subject /CN=r1 \
    -certout "$W/rcpt.pem" >"$W/rcpt-ca.log" 2>&1 || RC=$?
[ "$RC" -eq 0 ] || fail "a request naming the CA as recipient was refused" "$W/rcpt-ca.log"
ok "another recipient: wrongAuthority; the CA's name: served"

daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
