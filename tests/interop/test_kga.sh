#!/usr/bin/env bash
# test_kga.sh - central key generation (RFC 9483 §4.1.6) against a live
# gateway: `cmpgw client --central-keygen` asks for a certificate without a
# key; the private key comes back in a CMS EnvelopedData that OpenSSL's own
# CMS code opens (`openssl cms -decrypt`): with the shared secret for a
# MAC-protected request (PWRI), for the key of the signer's certificate for a
# signed one (KARI for EC, KTRI for RSA).  Inside, a SignedData that `openssl
# cms -verify` accepts, signed by the RA (id-kp-cmKGA), holding the private
# key of the issued certificate.  A profile with central_keygen = off refuses
# (badCertTemplate), and the key never reaches the log or the database.
# Usage: bash tests/interop/test_kga.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl sqlite3 python3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init; a profile that makes RSA keys, one without central key generation"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init failed" "$W/init.out"
cat >>"$GW/cmpgw.conf" <<EOF

[profile rsakeys]
central_keygen = rsa2048

[profile nokga]
central_keygen = off
EOF
daemon_start "$GW/cmpgw.conf"
URL="http://127.0.0.1:$PORT/.well-known/cmp"
openssl x509 -in "$GW/ra-cert.pem" -noout -ext extendedKeyUsage 2>/dev/null |
    grep -q "Key Generation Authority\|1.3.6.1.5.5.7.3.32" ||
    fail "the demo RA certificate does not carry id-kp-cmKGA"
ok "the RA certificate carries id-kp-cmKGA"

# opened NAME CERT [openssl cms -decrypt args...]: decrypts NAME.env, verifies
# the SignedData inside against the demo CA, and checks the key it holds is
# the one certified in CERT.
opened() {
    local name="$1" cert="$2"
    shift 2
    openssl cms -decrypt -inform DER -in "$W/$name.env" -binary -out "$W/$name.sd" "$@" \
        >"$W/$name.dec.log" 2>&1 || fail "$name: openssl cms -decrypt failed" "$W/$name.dec.log"
    # The decrypted content is a SignedData; openssl cms reads it as a ContentInfo.
    python3 "$HERE/kga_package.py" wrap "$W/$name.sd" "$W/$name.p7"
    openssl cms -verify -inform DER -in "$W/$name.p7" -CAfile "$GW/ca-cert.pem" -purpose any \
        -binary -out "$W/$name.akp" >"$W/$name.ver.log" 2>&1 ||
        fail "$name: openssl cms -verify failed" "$W/$name.ver.log"
    openssl cms -cmsout -print -inform DER -in "$W/$name.p7" >"$W/$name.print" 2>&1
    grep -q "eContentType: undefined (2.16.840.1.101.2.1.2.78.5)\|id-ct-KP-aKeyPackage" "$W/$name.print" ||
        fail "$name: the signed content is not an AsymmetricKeyPackage" "$W/$name.print"
    # AsymmetricKeyPackage ::= SEQUENCE OF OneAsymmetricKey (v2, with [1] publicKey):
    # its one key as a PKCS#8 v1 for openssl pkey.
    python3 "$HERE/kga_package.py" key "$W/$name.akp" "$W/$name.p8" 2>"$W/$name.akp.log" ||
        fail "$name: the key package is not one OneAsymmetricKey v2" "$W/$name.akp.log"
    openssl pkey -inform DER -in "$W/$name.p8" -out "$W/$name.key" 2>"$W/$name.pkey.log" ||
        fail "$name: the key package holds no readable private key" "$W/$name.pkey.log"
    same_pubkey "$W/$name.key" "$cert" || fail "$name: the key is not the certificate's" "$W/$name.print"
    ok "$name: openssl cms opens the envelope; the RA's signature verifies; the key is the certificate's"
}

step "1. a MAC-protected ir without a key: the key comes back sealed with the secret (PWRI)"
new_secret "$GW/cmpgw.conf"
MAC_REF="$REF" MAC_SECRET="$SECRET"
"$CMPGW" client ir --url "$URL" --ref "$REF" --secret "pass:$SECRET" --subject /CN=kga-mac \
    --central-keygen --certout "$W/mac.pem" --keyenvout "$W/mac.env" >"$W/mac.out" 2>&1 ||
    fail "cmpgw client --central-keygen (MAC) failed" "$W/mac.out"
[ ! -e "$W/mac.pem.key" ] || fail "the client made a key of its own"
openssl x509 -in "$W/mac.pem" -noout -text | grep -q "id-ecPublicKey" || fail "not the profile's EC key"
openssl x509 -in "$W/mac.pem" -noout -ext keyUsage | grep -q "Key Agreement" ||
    fail "an EC certificate lacks keyAgreement"
opened mac "$W/mac.pem" -pwri_password "$SECRET"
if openssl cms -decrypt -inform DER -in "$W/mac.env" -binary -out /dev/null \
    -pwri_password "not-the-secret" >/dev/null 2>&1; then
    fail "the envelope opened with another password"
fi
ok "another password does not open it"

step "2. a signed ir (EC certificate) asks for an RSA key: KARI to the signer's EC key"
"$CMPGW" client ir --url "http://127.0.0.1:$PORT/.well-known/cmp/p/rsakeys" --cert "$W/mac.pem" \
    --key "$W/mac.key" --trusted "$GW/ca-cert.pem" --subject /CN=kga-sig-ec --central-keygen --certout "$W/ec.pem" \
    --keyenvout "$W/ec.env" >"$W/ec.out" 2>&1 || fail "cmpgw client --central-keygen (EC signer) failed" "$W/ec.out"
openssl x509 -in "$W/ec.pem" -noout -text | grep -q "rsaEncryption" || fail "not the profile's RSA key"
openssl x509 -in "$W/ec.pem" -noout -ext keyUsage | grep -q "Key Encipherment" ||
    fail "an RSA certificate lacks keyEncipherment"
opened ec "$W/ec.pem" -recip "$W/mac.pem" -inkey "$W/mac.key"

step "3. a signed ir (RSA certificate) naming P-384: KTRI to the signer's RSA key"
"$CMPGW" client ir --url "$URL" --cert "$W/ec.pem" --key "$W/ec.key" --trusted "$GW/ca-cert.pem" \
    --subject /CN=kga-sig-rsa \
    --central-keygen --newkeytype p384 --certout "$W/rsa.pem" --keyenvout "$W/rsa.env" \
    >"$W/rsa.out" 2>&1 || fail "cmpgw client --central-keygen (RSA signer) failed" "$W/rsa.out"
openssl x509 -in "$W/rsa.pem" -noout -text | grep -q "NIST CURVE: P-384\|secp384r1" ||
    fail "not the P-384 key asked for"
opened rsa "$W/rsa.pem" -recip "$W/ec.pem" -inkey "$W/ec.key"

step "4. a profile with central_keygen = off refuses, and issues nothing"
before="$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM certificates")"
RC=0
"$CMPGW" client ir --url "http://127.0.0.1:$PORT/.well-known/cmp/p/nokga" --ref "$MAC_REF" \
    --secret "pass:$MAC_SECRET" --trusted "$GW/ca-cert.pem" --subject /CN=kga-off --central-keygen --certout "$W/off.pem" \
    --keyenvout "$W/off.env" >"$W/off.out" 2>&1 || RC=$?
[ "$RC" -eq 1 ] || fail "central_keygen = off: exit $RC, not 1 (refused)" "$W/off.out"
grep -q "badCertTemplate" "$W/off.out" || fail "not badCertTemplate" "$W/off.out"
grep -q "central_keygen = off" "$W/off.out" || fail "the statusString does not name the setting" "$W/off.out"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM certificates")" = "$before" ] || fail "a certificate was issued"
ok "refused with badCertTemplate, nothing issued"

step "5. no private key in the log or the database"
for name in mac ec rsa; do
    # 32 octets of the private scalar (EC) or exponent (RSA), as openssl prints it
    hex="$(openssl pkey -in "$W/$name.key" -noout -text 2>/dev/null |
        awk '/^(priv|privateExponent):/ {f = 1; next} /^[A-Za-z]/ {f = 0} f' |
        tr -d ' :\n' | cut -c3-66)"
    [ -n "$hex" ] || fail "$name: cannot read the key back"
    if sqlite3 "$GW/cmpgw.db" .dump | tr -d "'" | tr 'A-F' 'a-f' | grep -q "$hex"; then
        fail "$name: the private key is in the database"
    fi
    if od -An -v -tx1 "$DAEMON_LOG" | tr -d ' \n' | grep -q "$hex"; then
        fail "$name: the private key is in the log"
    fi
done
ok "neither holds any of the three keys"

daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
echo "PASS test_kga"
