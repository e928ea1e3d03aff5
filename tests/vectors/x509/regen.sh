#!/bin/sh
# regen.sh - recreates the certificates that tests/unit/core/test_x509.c reads.
#
# ec.der:  EC P-256, self-signed, UTF8String subject that needs RFC 4514
#          escaping and a multi-valued RDN, UTCTime notBefore and
#          GeneralizedTime notAfter (2050), 20-octet serial with the top bit
#          set (encoded in 21 octets).
# rsa.der: RSA-2048, self-signed, subject with PrintableString, T61String,
#          BMPString, a 4-octet UTF-8 character and an attribute type cmpgw
#          has no short name for; notAfter 2049-12-31T23:59:59Z (UTCTime).
#
# The keys are kept (made only when missing) and serials, dates, subjects and
# extensions are fixed, so a rerun changes only the signatures: the expected
# values in the test stay right.  Needs the openssl command line (3.x).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -f ec.key.pem ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key.pem
[ -f rsa.key.pem ] || openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key.pem

# make_cert NAME KEY STRING_MASK SERIAL_HEX START END SUBJECT
make_cert() {
  name=$1 key=$2 mask=$3 serial=$4 start=$5 end=$6 subj=$7
  dir=$tmp/$name
  mkdir -p "$dir"
  : >"$dir/index.txt"
  echo "$serial" >"$dir/serial"
  cat >"$dir/ca.cnf" <<CNF
[req]
distinguished_name = dn
string_mask = $mask
utf8 = yes
[dn]
[ca]
default_ca = testca
[testca]
dir = $dir
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = anything
preserve = yes
unique_subject = no
email_in_dn = yes
string_mask = $mask
utf8 = yes
[anything]
[ext]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
CNF
  openssl req -config "$dir/ca.cnf" -new -key "$key" -utf8 -multivalue-rdn -subj "$subj" \
    -out "$dir/req.csr"
  openssl ca -config "$dir/ca.cnf" -batch -selfsign -keyfile "$key" -in "$dir/req.csr" \
    -preserveDN -utf8 -multivalue-rdn -startdate "$start" -enddate "$end" -extensions ext \
    -notext -out "$dir/cert.pem" 2>/dev/null
  openssl x509 -in "$dir/cert.pem" -outform DER -out "$name.der"
}

make_cert ec ec.key.pem utf8only 8877665544332211000102030405060708090a0b \
  991231235959Z 20500101000000Z \
  '/DC=example/DC=com/C=DE/O=Example, Inc./OU=R&D+L=Berlin/CN=#1 "Müller" <a>;b\\c\+d=e /emailAddress=pki@example.com'
make_cert rsa rsa.key.pem default 3039 \
  250102030405Z 491231235959Z \
  '/C=JP/O=日本/CN= Müller/OU=😀/serialNumber=1234/UID=u1/title=Dr.'
