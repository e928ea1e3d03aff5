#!/usr/bin/env bash
# Regenerate the general message (genm/genp) vectors in this directory from real
# OpenSSL.
#
# Builds a throw-away CA with the openssl CLI, starts OpenSSL's mock CMP server
# (`openssl cmp -port`) and runs `openssl cmp -cmd genm -infotype NAME` against it
# once per info type, saving the request and the response as DER
# (-reqout/-rspout), each with an `openssl asn1parse` dump beside it. See
# README.md. Rerunnable: every output file is overwritten. Needs openssl (3.0+).
#
# When run as root with a working `unshare --net`, the script re-executes itself
# in a private network namespace whose only interface is its own loopback, so
# the mock server is reachable from nowhere else; otherwise the mock binds an
# ephemeral port (-port 0) on the host.
set -euo pipefail

OUT="$(cd "$(dirname "$0")" && pwd)"
SELF="$OUT/$(basename "$0")"

REF="vector-ref"
SECRET="vector-secret-1234"
DAYS=7300
# The info types OpenSSL 3.0's client can name (it looks up "id-it-NAME" among
# its known objects). rootCaCert, crlStatusList and crls are unknown to 3.0.
INFOTYPES="caCerts signKeyPairTypes rootCaKeyUpdate certReqTemplate"

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
openssl req -x509 -new -key ca.key -subj "/CN=cmpgw genm vector CA" -days "$DAYS" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
SRV_SUBJECT="/CN=cmpgw genm vector CA"

# ---------------------------------------------------------------- the mock
# The mock answers MAC-protected (PBM) with its copy of the secret and exits by
# itself after one message per info type.
: > mock.log
set -- $INFOTYPES
openssl cmp -port 0 -max_msgs "$#" -srv_ref srv-ref -srv_secret "pass:$SECRET" \
    -srv_cert ca.pem -srv_key ca.key -rsp_cert ca.pem >mock.log 2>&1 &
MOCK_PID=$!
line=""
for _ in $(seq 1 600); do
    line="$(grep -m1 '^ACCEPT ' mock.log || true)"
    [ -n "$line" ] && break
    kill -0 "$MOCK_PID" 2>/dev/null || { cat mock.log >&2; die "mock server died"; }
    sleep 0.1
done
[ -n "$line" ] || { cat mock.log >&2; die "mock server did not start"; }
PORT="${line##*:}"
PORT="${PORT%% *}"

for it in $INFOTYPES; do
    echo "regen.sh: genm -infotype $it"
    openssl cmp -cmd genm -infotype "$it" -server "127.0.0.1:$PORT" -path pkix/ \
        -ref "$REF" -secret "pass:$SECRET" -recipient "$SRV_SUBJECT" \
        -reqout "genm-$it.der" -rspout "genp-$it.der" >client.log 2>&1 ||
        { cat client.log mock.log >&2; die "genm $it failed"; }
done

for _ in $(seq 1 600); do
    kill -0 "$MOCK_PID" 2>/dev/null || break
    sleep 0.1
done
kill "$MOCK_PID" 2>/dev/null || true
wait "$MOCK_PID" 2>/dev/null || true
MOCK_PID=""

# An info type the 3.0 client does not know is refused before anything is sent.
if openssl cmp -cmd genm -infotype rootCaCert -server "127.0.0.1:1" \
    -ref "$REF" -secret "pass:$SECRET" -recipient "$SRV_SUBJECT" >unknown.log 2>&1; then
    die "-infotype rootCaCert unexpectedly accepted"
fi
grep -q "unknown OID name in -infotype option" unknown.log ||
    { cat unknown.log >&2; die "-infotype rootCaCert failed for another reason"; }

# ---------------------------------------------------------------- outputs
for it in $INFOTYPES; do
    for f in "genm-$it" "genp-$it"; do
        cp "$f.der" "$OUT/$f.der"
        openssl asn1parse -inform DER -in "$f.der" -i > "$OUT/$f.txt"
    done
done
cp ca.pem "$OUT/ca.pem"
openssl version > "$OUT/openssl-version.txt"
echo "regen.sh: wrote the vectors to $OUT"
