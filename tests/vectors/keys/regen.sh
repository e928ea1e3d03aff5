#!/bin/sh
# Regenerates the key vectors used by tests/unit/core/test_crypto.c with the
# OpenSSL command line.  The tests only check relations between these files
# (a signature verifies under the key, an exported SPKI equals OpenSSL's), so
# any fresh set works.  Run from anywhere: files are written beside this script.
set -eu
cd "$(dirname "$0")"

# Private keys, PKCS#8 PEM.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.pem
openssl genpkey -algorithm ED25519 -out ed25519.pem
openssl genpkey -algorithm ED448 -out ed448.pem
# An EC key on a curve cmpgw does not accept.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k256.pem
# An RSA key below the sizes cmpgw accepts in public keys (core/crypto.h):
# the tests sign with it and expect the server to refuse its public half.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem

# The same keys in their traditional encodings: SEC1 and PKCS#1.
openssl ec -in ec256.pem -outform DER -out ec256.sec1.der
openssl rsa -in rsa2048.pem -traditional -outform DER -out rsa2048.pkcs1.der

# SubjectPublicKeyInfo, DER, as OpenSSL writes it.
for k in ec256 ec384 rsa2048 ed25519 ed448 k256; do
  openssl pkey -in $k.pem -pubout -outform DER -out $k.spki.der
done

# A message and OpenSSL signatures over it.
printf 'cmpgw signature test message\n' > msg.bin
openssl dgst -sha256 -sign ec256.pem -out msg.ec256.sha256.sig msg.bin
openssl dgst -sha256 -sign rsa2048.pem -out msg.rsa2048.sha256.sig msg.bin
openssl dgst -sha256 -sign rsa2048.pem -sigopt rsa_padding_mode:pss \
  -sigopt rsa_pss_saltlen:digest -sigopt rsa_mgf1_md:sha256 \
  -out msg.rsa2048.pss.sha256.sig msg.bin
openssl pkeyutl -sign -inkey ed25519.pem -rawin -in msg.bin -out msg.ed25519.sig

# Certificates: a CA and an end-entity certificate for ec256.
openssl req -x509 -new -key ec384.pem -subj /CN=cmpgw-test-ca -days 36500 \
  -outform DER -out ca.crt.der
openssl req -new -key ec256.pem -subj /CN=cmpgw-test-ee -out ee.csr
openssl x509 -req -in ee.csr -CA ca.crt.der -CAform DER -CAkey ec384.pem \
  -set_serial 1 -days 36500 -outform DER -out ec256.crt.der
rm -f ee.csr

# PKCS#12 files made by OpenSSL 3: its default (PBES2 AES-256-CBC, PBKDF2,
# HMAC-SHA256 MAC) and the legacy-compatible 3DES / SHA-1 variant.
openssl x509 -inform DER -in ec256.crt.der -out ec256.crt.pem
openssl x509 -inform DER -in ca.crt.der -out ca.crt.pem
openssl pkcs12 -export -inkey ec256.pem -in ec256.crt.pem -certfile ca.crt.pem \
  -passout pass:test1234 -out ec256.p12
openssl pkcs12 -export -inkey ec256.pem -in ec256.crt.pem -certfile ca.crt.pem \
  -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 \
  -passout pass:test1234 -out ec256.3des.p12
rm -f ec256.crt.pem ca.crt.pem
