#!/usr/bin/env bash
# Regenerate the CMP test vectors in this directory from real OpenSSL.
#
# Builds a throw-away PKI with the openssl CLI, starts OpenSSL's mock CMP server
# (`openssl cmp -port`) and runs the OpenSSL CMP client against it, saving every
# request and response as DER (-reqout/-rspout). See README.md for what each file
# is. Rerunnable: every output file is overwritten. Needs openssl (3.0+).
#
# The mock server listens on all interfaces. When run as root with a working
# `unshare --net`, the script re-executes itself in a private network namespace
# whose only interface is its own loopback, so nothing is exposed; otherwise it
# binds an ephemeral port (-port 0) on the host.
set -euo pipefail

OUT="$(cd "$(dirname "$0")" && pwd)"
SELF="$OUT/$(basename "$0")"

REF="vector-ref"
SECRET="vector-secret-1234"
WRONG_SECRET="not-the-vector-secret"
DAYS=7300

die() { echo "regen.sh: $*" >&2; exit 1; }

command -v openssl >/dev/null || die "openssl not found"

if [ -z "${CMPGW_VECTORS_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
   command -v unshare >/dev/null && command -v ip >/dev/null &&
   unshare --net true 2>/dev/null; then
    CMPGW_VECTORS_NETNS=1 exec unshare --net bash "$SELF" "$@"
fi
if [ -n "${CMPGW_VECTORS_NETNS:-}" ]; then
    ip link set lo up
    echo "regen.sh: running in a private network namespace"
else
    echo "regen.sh: unshare not usable; the mock server binds an ephemeral host port"
fi

WORK="$(mktemp -d)"
MOCK_PID=""
cleanup() {
    if [ -n "$MOCK_PID" ]; then
        kill "$MOCK_PID" 2>/dev/null || true
        wait "$MOCK_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"

# ---------------------------------------------------------------- the PKI
ec_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ec_key ca.key
openssl req -x509 -new -key ca.key -subj "/CN=cmpgw vector CA" -days "$DAYS" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem

cat > ee.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF

# issue KEY SUBJECT OUTCERT: a CA-signed end-entity certificate for KEY.
issue() {
    openssl req -new -key "$1" -subj "$2" -out req.csr
    openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -days "$DAYS" -extfile ee.ext -out "$3" 2>/dev/null
}

ec_key srv.key
issue srv.key "/CN=cmpgw vector mock server" srv.pem
ec_key dev-ec.key
issue dev-ec.key "/CN=vector-ec" dev-ec.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dev-rsa.key 2>/dev/null
issue dev-rsa.key "/CN=vector-rsa" dev-rsa.pem

SRV_SUBJECT="/CN=cmpgw vector mock server"

# ---------------------------------------------------------------- the mock
# start_mock MAXMSGS ARGS...: start the mock server in the background, wait (up to
# 60 s) for its "ACCEPT [addr]:PORT" line and set PORT. The mock exits by itself
# after MAXMSGS messages; stop_mock waits for that.
start_mock() {
    local max="$1"; shift
    : > mock.log
    openssl cmp -port 0 -max_msgs "$max" "$@" >mock.log 2>&1 &
    MOCK_PID=$!
    local line=""
    for _ in $(seq 1 600); do
        line="$(grep -m1 '^ACCEPT ' mock.log || true)"
        [ -n "$line" ] && break
        kill -0 "$MOCK_PID" 2>/dev/null || { cat mock.log >&2; die "mock server died"; }
        sleep 0.1
    done
    [ -n "$line" ] || { cat mock.log >&2; die "mock server did not start"; }
    PORT="${line##*:}"
    PORT="${PORT%% *}"
}

stop_mock() {
    for _ in $(seq 1 600); do
        kill -0 "$MOCK_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
}

# The mock protects its answers with PBM under its own copy of the secret (it
# prefers -srv_secret over -srv_cert/-srv_key) and names itself by srv.pem's subject.
MOCK_MAC=(-srv_ref srv-ref -srv_secret "pass:$SECRET" -srv_cert srv.pem -srv_key srv.key
          -rsp_capubs ca.pem)

# client NEWKEY SUBJECT SECRET REQOUT RSPOUT: one ir / certConf exchange.
client() {
    openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path pkix/ \
        -ref "$REF" -secret "pass:$3" -recipient "$SRV_SUBJECT" \
        -newkey "$1" -subject "$2" -certout got.pem \
        -reqout "$4" -rspout "$5" >client.log 2>&1
}

echo "regen.sh: (a) ir with MAC protection, EC P-256 device key"
start_mock 2 "${MOCK_MAC[@]}" -rsp_cert dev-ec.pem
client dev-ec.key /CN=vector-ec "$SECRET" ir.der,certConf.der ip.der,pkiConf.der ||
    { cat client.log mock.log >&2; die "(a) failed"; }
stop_mock
cmp got.pem dev-ec.pem >/dev/null || die "(a) enrolled certificate differs"

echo "regen.sh: (b) ir with MAC protection, RSA-2048 device key"
start_mock 2 "${MOCK_MAC[@]}" -rsp_cert dev-rsa.pem
client dev-rsa.key /CN=vector-rsa "$SECRET" ir-rsa.der,certConf-rsa.der \
    ip-rsa.der,pkiConf-rsa.der || { cat client.log mock.log >&2; die "(b) failed"; }
stop_mock
cmp got.pem dev-rsa.pem >/dev/null || die "(b) enrolled certificate differs"

# The client must fail here: the mock cannot verify the request's MAC and answers
# with an error message, which the client in turn cannot verify (wrong secret).
echo "regen.sh: (c) ir with a wrong secret, mock answers error (MAC-protected)"
start_mock 1 "${MOCK_MAC[@]}" -rsp_cert dev-ec.pem
if client dev-ec.key /CN=vector-ec "$WRONG_SECRET" ir-badmac.der error.der; then
    die "(c) the client unexpectedly succeeded"
fi
stop_mock
[ -s error.der ] || { cat client.log >&2; die "(c) no error response captured"; }
cp client.log error.client.log

# The same wrong-secret request against a mock that has no secret but a signing
# key: its error answer is signature-protected (ECDSA with srv.key), the way the
# gateway answers requests it cannot authenticate.
echo "regen.sh: (c') ir with a wrong secret, mock answers error (signed)"
start_mock 1 -srv_cert srv.pem -srv_key srv.key -rsp_cert dev-ec.pem
if client dev-ec.key /CN=vector-ec "$WRONG_SECRET" ir-badmac2.der error-signed.der; then
    die "(c') the client unexpectedly succeeded"
fi
stop_mock
[ -s error-signed.der ] || { cat client.log >&2; die "(c') no error response captured"; }
cp client.log error-signed.client.log

# ---------------------------------------------------------------- outputs
DERS="ir ip certConf pkiConf ir-rsa ip-rsa certConf-rsa pkiConf-rsa ir-badmac error error-signed"
for f in $DERS; do
    cp "$f.der" "$OUT/$f.der"
    openssl asn1parse -inform DER -in "$f.der" -i > "$OUT/$f.txt"
done
for f in ca.pem srv.pem dev-ec.key dev-ec.pem dev-rsa.key dev-rsa.pem; do
    cp "$f" "$OUT/$f"
done
# The client's own account of the two rejected exchanges (OpenSSL's messages).
grep '^CMP ' error.client.log > "$OUT/error.client.txt"
grep '^CMP ' error-signed.client.log > "$OUT/error-signed.client.txt"

# Record the PBM parameters of the EC request, as OpenSSL chose them.
{
    echo "# PBM parameters of ir.der (generated by regen.sh; see README.md)"
    echo "reference: $REF"
    echo "secret: $SECRET"
    awk '/password based MAC/ { on = 1; next }
         on && /OCTET STRING/ { sub(/.*\[HEX DUMP\]:/, ""); print "salt: " $0; next }
         on && /OBJECT/ && !owf { sub(/.*:/, ""); print "owf: " $0; owf = 1; next }
         on && /INTEGER/ { sub(/.*:/, ""); print "iterationCount (hex): " $0; next }
         on && /OBJECT/ { sub(/.*:/, ""); print "mac: " $0; exit }' "$OUT/ir.txt"
} > "$OUT/pbm-params.txt"

echo "regen.sh: wrote the vectors to $OUT"
