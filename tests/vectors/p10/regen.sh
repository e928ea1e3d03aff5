#!/bin/sh
# regen.sh - recreates the PKCS#10 requests that tests/unit/cmp/test_p10.c reads.
#
# ec.der:      EC P-256, ecdsa-with-SHA256; subject
#              "/C=DE/O=cmpgw test/CN=p10 ec device"; challengePassword
#              "p10-challenge-1234" (from the [attrs] section of a config);
#              extensionRequest with subjectAltName
#              DNS:device.example.com, IP:192.0.2.7.
# rsa.der:     RSA-2048, sha256WithRSAEncryption; subject
#              "/O=cmpgw test/CN=p10 rsa device"; no attribute at all (the
#              [0] element is empty).
# ed25519.der: Ed25519; UTF-8 subject "/CN=p10 ed25519 Gerät"; an
#              extensionRequest with keyUsage digitalSignature (critical) and
#              no challengePassword.
# NAME.spki.der is `openssl pkey -pubout -outform DER` of NAME.key.pem, and
# NAME.txt the `openssl req -text` dump the test's expected values come from.
#
# The keys are kept (made only when missing) and subjects and attributes are
# fixed, so a rerun changes only the signatures (ECDSA is randomised): the
# expected values in the test stay right.  Needs the openssl command line (3.x).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -f ec.key.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key.pem
[ -f rsa.key.pem ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key.pem
[ -f ed25519.key.pem ] || openssl genpkey -algorithm ED25519 -out ed25519.key.pem

# With prompt = no the [attrs] section gives the attribute values directly.
cat >"$tmp/ec.cnf" <<'CNF'
[req]
prompt = no
distinguished_name = dn
attributes = attrs
string_mask = utf8only
[dn]
C = DE
O = cmpgw test
CN = p10 ec device
[attrs]
challengePassword = p10-challenge-1234
CNF
cat >"$tmp/plain.cnf" <<'CNF'
[req]
distinguished_name = dn
string_mask = utf8only
utf8 = yes
[dn]
CNF

openssl req -new -config "$tmp/ec.cnf" -key ec.key.pem -sha256 \
  -addext "subjectAltName=DNS:device.example.com,IP:192.0.2.7" -outform DER -out ec.der
openssl req -new -config "$tmp/plain.cnf" -key rsa.key.pem -sha256 \
  -subj "/O=cmpgw test/CN=p10 rsa device" -outform DER -out rsa.der
openssl req -new -config "$tmp/plain.cnf" -key ed25519.key.pem -utf8 \
  -subj "/CN=p10 ed25519 Gerät" -addext "keyUsage=critical,digitalSignature" \
  -outform DER -out ed25519.der

for name in ec rsa ed25519; do
  openssl pkey -in "$name.key.pem" -pubout -outform DER -out "$name.spki.der"
  openssl req -inform DER -in "$name.der" -noout -text -verify >"$name.txt" 2>&1
done
