#!/usr/bin/env bash
# Interop: `cmpgw client` against a live gateway over HTTP, and once against
# OpenSSL's mock CMP server.
#
# Usage: bash tests/interop/test_client_http.sh /path/to/cmpgw
#
# Makes a demo gateway with `cmpgw init`, runs `cmpgw serve`, and drives it with
# `cmpgw client`, checking every result with the openssl command line:
#   1. ir with PasswordBasedMac: a certificate chaining to the CA, the generated key
#      beside it (mode 0600), the CA chain in --chainout;
#   2. ir with PBMAC1; ir with pvno 3 (answered with pvno 3); ir with implicit
#      confirmation on a profile that grants it (no certConf); p10cr with an openssl CSR;
#   3. cr signed with the step-1 certificate (--cert/--key, --trusted ca-cert.pem);
#   4. kur of the step-1 certificate (new key, same subject), then rr of the kur'd one;
#   5. genm caCerts (the CA certificate) and genm crlStatusList after the revocation:
#      the CRL in the genp lists the revoked serial and verifies with the CA; the
#      secret given as pass:VALUE, env:VAR, file:PATH (its first line) and
#      --secret-file, and a variable or file that is missing (exit 2);
#   6. a wrong secret exits 1 and prints failInfo badMessageCheck; an unknown path
#      (HTTP 404), a usage error and a stopped gateway exit 2;
#   7. ir against `openssl cmp -port 0` (the mock server) inside a private network
#      namespace (skipped, with a message, where `unshare --net` is unavailable).
# Exits 0 on success, 1 on the first failure (printing the daemon's log), 77 when
# openssl is missing.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

# ------------------------------------------------------------------ helpers

# client NAME ARGS...: run `cmpgw client ARGS`, output in $W/NAME.out / .err; sets RC.
client() {
    local name="$1"
    shift
    echo "   cmpgw client $*" | sed -e "s#$W/##g" -e "s#$GW/#gw/#g" -e 's#--secret [^ ]*#--secret ...#'
    RC=0
    "$CMPGW" client "$@" >"$W/$name.out" 2>"$W/$name.err" || RC=$?
}

# client_ok NAME ARGS...: the client must exit 0.
client_ok() {
    local name="$1"
    client "$@"
    [ "$RC" -eq 0 ] || fail "cmpgw client ($name) exited $RC" "$W/$name.out" "$W/$name.err"
    ok "cmpgw client ($name) exited 0"
}

# client_exits NAME STATUS ARGS...: the client must exit STATUS.
client_exits() {
    local name="$1" want="$2"
    shift 2
    client "$name" "$@"
    [ "$RC" -eq "$want" ] ||
        fail "cmpgw client ($name) exited $RC, want $want" "$W/$name.out" "$W/$name.err"
    ok "cmpgw client ($name) exited $want: $(head -n 1 "$W/$name.err")"
}

# out_has NAME TEXT: the client's stdout for NAME has a line containing TEXT.
out_has() {
    grep -qF -- "$2" "$W/$1.out" || fail "cmpgw client ($1) did not print '$2'" "$W/$1.out"
    ok "client printed: $(grep -m1 -F -- "$2" "$W/$1.out")"
}

# der_of PEM: the DER of a PEM certificate, as hex.
der_of() { openssl x509 -in "$1" -outform DER | od -An -v -tx1 | tr -d ' \n'; }

# check_cert FILE SUBJECT: FILE verifies against the CA and has SUBJECT (openssl's
# oneline form); sets SERIAL.
check_cert() {
    [ -s "$1" ] || fail "no certificate in $1"
    openssl verify -CAfile "$GW/ca-cert.pem" "$1" >"$W/verify.out" 2>&1 ||
        fail "$1 does not verify against ca-cert.pem" "$W/verify.out" "$1"
    local got
    got="$(openssl x509 -in "$1" -noout -subject -nameopt oneline | sed 's/^subject=//')"
    [ "$got" = "$2" ] || fail "$1 has subject '$got', want '$2'"
    SERIAL="$(cert_serial "$1")" || fail "cannot read the serial of $1"
    ok "$(basename "$1") verifies against ca-cert.pem, subject '$got', serial $SERIAL"
}

# check_new_key CERT: CERT.key exists with mode 0600 and holds CERT's key.
check_new_key() {
    [ -s "$1.key" ] || fail "no generated key $1.key"
    [ "$(stat -c %a "$1.key")" = 600 ] || fail "$1.key has mode $(stat -c %a "$1.key"), want 600"
    same_pubkey "$1.key" "$1" || fail "$1 does not hold the key in $1.key"
    ok "$(basename "$1").key: mode 0600, the certificate's key"
}

# ------------------------------------------- the mock server (in its own netns)

# start_mock MAXMSGS: start the mock server (it exits by itself after MAXMSGS
# messages), wait for its "ACCEPT [addr]:PORT" line; sets MOCK_PID and MOCK_PORT.
# It answers an ir with dev.pem and protects its answers with PBM under its secret.
start_mock() {
    local line
    : >mock.log
    openssl cmp -port 0 -max_msgs "$1" -srv_ref mockref -srv_secret pass:mock-secret-1 \
        -srv_cert srv.pem -srv_key srv.key -rsp_cert dev.pem -rsp_capubs ca.pem \
        >mock.log 2>&1 &
    MOCK_PID=$!
    until_true 30 grep -q '^ACCEPT ' mock.log || fail "the mock server did not start" mock.log
    line="$(grep -m1 '^ACCEPT ' mock.log)"
    MOCK_PORT="${line##*:}"
    MOCK_PORT="${MOCK_PORT%% *}"
}

mock_running() { kill -0 "$MOCK_PID" 2>/dev/null; }

# stop_mock: wait for the mock to exit by itself (it has had its messages), else kill it.
stop_mock() {
    if until_true 30 eval '! mock_running'; then :; else kill "$MOCK_PID" 2>/dev/null || true; fi
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=""
}

# Runs inside `unshare --net`: the mock server binds all interfaces, and the only
# interface here is a private loopback. Arguments: the cmpgw binary, a work dir.
mock_part() {
    CMPGW="$1"
    W="$2"
    GW="$W"
    MOCK_PID=""
    trap '[ -z "$MOCK_PID" ] || kill "$MOCK_PID" 2>/dev/null; wait 2>/dev/null; true' EXIT
    ip link set lo up || fail "cannot bring up lo in the namespace"
    cd "$W"
    ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    ec ca.key
    openssl req -x509 -new -key ca.key -subj "/CN=mock CA" -days 30 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >ee.ext
    local k
    for k in srv dev; do
        ec "$k.key"
        openssl req -new -key "$k.key" -subj "/CN=mock $k" -out "$k.csr"
        openssl x509 -req -in "$k.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
            -extfile ee.ext -out "$k.pem" 2>/dev/null
    done

    # The mock answers with -rsp_cert, so the client asks for dev.key's public key.
    start_mock 2
    ok "openssl cmp mock server on port $MOCK_PORT (private network namespace)"
    client_ok mock-ir ir --url "http://127.0.0.1:$MOCK_PORT/pkix/" --ref mockref \
        --secret mock-secret-1 --newkey dev.key --subject "/CN=mock dev" \
        --certout got.pem --chainout chain.pem
    out_has mock-ir "ip: pvno 2, PasswordBasedMac protection verified"
    out_has mock-ir "pkiConf: certificate confirmed"
    [ "$(der_of got.pem)" = "$(der_of dev.pem)" ] || fail "the mock's certificate differs" got.pem
    [ "$(der_of chain.pem)" = "$(der_of ca.pem)" ] || fail "chain.pem is not the mock's CA" chain.pem
    ok "got the mock's certificate and its CA (caPubs/extraCerts)"
    stop_mock

    # A wrong secret: the mock answers an error under its own secret, which the
    # client reports (exit 1) but cannot verify.
    start_mock 1
    client_exits mock-wrong 1 ir --url "http://127.0.0.1:$MOCK_PORT/pkix/" --ref mockref \
        --secret not-the-secret --newkey dev.key --subject "/CN=mock dev" --certout nope.pem
    grep -q 'PKIStatus rejection' "$W/mock-wrong.err" || fail "no rejection reported" "$W/mock-wrong.err"
    grep -q 'unverified: the MAC does not verify' "$W/mock-wrong.err" ||
        fail "the unverifiable error is not marked" "$W/mock-wrong.err"
    ok "the mock's error is reported and marked unverified"
    stop_mock
}

if [ "${1:-}" = "--mock-part" ]; then
    mock_part "$2" "$3"
    exit 0
fi

# ------------------------------------------------------------------ set-up
need_cmd openssl od stat
lib_init "${1:-}"

GW="$IT_TMP/gw"
CONF="$GW/cmpgw.conf"
W="$IT_TMP/work"
mkdir -p "$W"

step "cmpgw init $GW --http 127.0.0.1:0; cmpgw serve"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init exited non-zero" "$W/init.out"
printf '\n[profile implicit]\nimplicit_confirm = true\n' >>"$CONF"
# The default profile takes nested messages from RAs with certificates of its CA.
sed -i 's/^\[profile default\]$/[profile default]\nnested_trust_anchors = ca-cert.pem/' "$CONF"
# The CPU-bound steps and the reads run on the loop thread (what compute = auto
# picks on one CPU): nested child exchanges then complete while their parent
# is still starting them.
sed -i 's/^compute = auto$/compute = inline/' "$CONF"
daemon_start "$CONF"
grep -q 'compute: inline on the loop, reads too' "$DAEMON_LOG" || fail "compute = inline not in effect" "$DAEMON_LOG"
URL="http://127.0.0.1:$PORT/.well-known/cmp"
ok "serving on port $PORT"
"$CMPGW" secret new -c "$CONF" --json >"$W/secret.json" 2>"$W/secret.err" ||
    fail "cmpgw secret new exited non-zero" "$W/secret.err"
REF="$(json_field reference "$W/secret.json")"
SECRET="$(json_field secret "$W/secret.json")"
[ -n "$REF" ] && [ -n "$SECRET" ] || fail "no reference/secret" "$W/secret.json"
MAC=(--ref "$REF" --secret "$SECRET")
CA="$GW/ca-cert.pem"

# ------------------------------------------------------------------ 1. ir, PBM
step "ir with PasswordBasedMac, a generated P-256 key"
client_ok ir-pbm ir --url "$URL" "${MAC[@]}" --subject "/CN=client-pbm/O=cmpgw test" \
    --newkeytype p256 --certout "$W/pbm.pem" --chainout "$W/pbm-chain.pem"
out_has ir-pbm "ip: pvno 2, PasswordBasedMac protection verified"
out_has ir-pbm "pkiConf: certificate confirmed"
check_cert "$W/pbm.pem" "CN = client-pbm, O = cmpgw test"
PBM_SERIAL="$SERIAL"
check_new_key "$W/pbm.pem"
[ "$(der_of "$W/pbm-chain.pem")" = "$(der_of "$CA")" ] || fail "--chainout is not ca-cert.pem" "$W/pbm-chain.pem"
ok "--chainout holds ca-cert.pem"

# ------------------------------------------------------------------ 2. PBMAC1, pvno 3
# OpenSSL 3.0's client cannot protect with PBMAC1 (it knows only PasswordBasedMac),
# so this is the only end-to-end check of PBMAC1 against the gateway.
step "ir with PBMAC1"
client_ok ir-pbmac1 ir --url "$URL" "${MAC[@]}" --pbmac1 --subject "/CN=client-pbmac1" \
    --newkeytype p256 --certout "$W/pbmac1.pem"
out_has ir-pbmac1 "ip: pvno 2, PBMAC1 protection verified"
out_has ir-pbmac1 "pkiconf: pvno 2, PBMAC1 protection verified"
check_cert "$W/pbmac1.pem" "CN = client-pbmac1"

step "ir with 8,000 PBM iterations: a heavy derivation goes to a worker, even inline"
client_ok ir-heavy ir --url "$URL" "${MAC[@]}" --iterations 8000 --subject "/CN=client-heavy" \
    --certout "$W/heavy.pem"
out_has ir-heavy "ip: pvno 2, PasswordBasedMac protection verified"
out_has ir-heavy "pkiConf: certificate confirmed"
check_cert "$W/heavy.pem" "CN = client-heavy"

step "ir with 20,000 PBM iterations: over the default cap (10,000), badAlg before any derivation"
client_exits ir-over-cap 1 ir --url "$URL" "${MAC[@]}" --iterations 20000 --subject "/CN=client-over" \
    --certout "$W/over.pem"
grep -q badAlg "$W/ir-over-cap.err" "$W/ir-over-cap.out" || fail "no badAlg for 20,000 iterations" \
    "$W/ir-over-cap.out" "$W/ir-over-cap.err"
ok "20,000 iterations refused with badAlg"

step "ir with pvno 3"
client_ok ir-pvno3 ir --url "$URL" "${MAC[@]}" --pvno 3 --subject "/CN=client-pvno3" \
    --certout "$W/pvno3.pem"
out_has ir-pvno3 "ip: pvno 3, PasswordBasedMac protection verified"
check_cert "$W/pvno3.pem" "CN = client-pvno3"

step "ir with --implicit-confirm on a profile that grants it"
"$CMPGW" secret new -c "$CONF" --profile implicit --json >"$W/secret-implicit.json" \
    2>"$W/secret-implicit.err" || fail "cmpgw secret new --profile implicit failed" "$W/secret-implicit.err"
client_ok ir-implicit ir --url "http://127.0.0.1:$PORT/.well-known/cmp/p/implicit" \
    --ref "$(json_field reference "$W/secret-implicit.json")" \
    --secret "$(json_field secret "$W/secret-implicit.json")" \
    --implicit-confirm --subject "/CN=client-implicit" --certout "$W/implicit.pem"
out_has ir-implicit "implicit confirmation granted"
grep -q "pkiConf" "$W/ir-implicit.out" && fail "a certConf was sent despite implicit confirmation" "$W/ir-implicit.out"
check_cert "$W/implicit.pem" "CN = client-implicit"

step "p10cr with an openssl CSR"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/p10.key" \
    -subj "/CN=client-p10cr" -outform DER -out "$W/p10.der" 2>"$W/req.err" ||
    fail "openssl req failed" "$W/req.err"
client_ok p10cr p10cr --url "$URL" "${MAC[@]}" --csr "$W/p10.der" --certout "$W/p10.pem"
out_has p10cr "pkiConf: certificate confirmed"
check_cert "$W/p10.pem" "CN = client-p10cr"
same_pubkey "$W/p10.key" "$W/p10.pem" || fail "p10.pem does not hold the CSR's key"
[ ! -e "$W/p10.pem.key" ] || fail "a key was generated for p10cr"
ok "p10.pem holds the CSR's key"

# ------------------------------------------------------------------ 3. cr, signed
step "cr signed with the step-1 certificate"
client_ok cr-sig cr --url "$URL" --cert "$W/pbm.pem" --key "$W/pbm.pem.key" --trusted "$CA" \
    --certout "$W/cr.pem"
out_has cr-sig "cp: pvno 2, signature protection verified (signer"
check_cert "$W/cr.pem" "CN = client-pbm, O = cmpgw test"
check_new_key "$W/cr.pem"

# ------------------------------------------------------------------ 4. kur, rr
step "kur of the step-1 certificate"
client_ok kur kur --url "$URL" --cert "$W/pbm.pem" --key "$W/pbm.pem.key" --trusted "$CA" \
    --certout "$W/kur.pem"
out_has kur "kup: pvno 2, signature protection verified"
check_cert "$W/kur.pem" "CN = client-pbm, O = cmpgw test"
KUR_SERIAL="$SERIAL"
[ "$KUR_SERIAL" != "$PBM_SERIAL" ] || fail "kur returned the old certificate"
check_new_key "$W/kur.pem"
if same_pubkey "$W/pbm.pem.key" "$W/kur.pem"; then fail "kur kept the old key"; fi
ok "the kur'd certificate has a new key"

step "rr of the kur'd certificate, signed by itself, reason keyCompromise"
client_ok rr rr --url "$URL" --cert "$W/kur.pem" --key "$W/kur.pem.key" --trusted "$CA" \
    --revreason 1
out_has rr "rp: revoked (PKIStatus accepted)"

# ------------------------------------------------------------------ 5. genm
step "genm caCerts"
client_ok genm-ca genm --url "$URL" "${MAC[@]}" --infotype caCerts --chainout "$W/cacerts.pem" \
    --genpout "$W/genp-ca.der"
out_has genm-ca "infoType caCerts (1.3.6.1.5.5.7.4.17): value present"
[ "$(der_of "$W/cacerts.pem")" = "$(der_of "$CA")" ] || fail "caCerts is not ca-cert.pem" "$W/cacerts.pem"
ok "caCerts holds ca-cert.pem"
openssl asn1parse -inform DER -in "$W/genp-ca.der" >"$W/genp-ca.txt" 2>&1 ||
    fail "the --genpout file is not DER" "$W/genp-ca.txt"
ok "--genpout wrote the genp ($(stat -c %s "$W/genp-ca.der") octets of DER)"

step "genm crlStatusList after the revocation"
client_ok genm-crl genm --url "$URL" "${MAC[@]}" --infotype crlStatusList --trusted "$CA" \
    --genpout "$W/genp-crl.der" --crlout "$W/crl.der"
out_has genm-crl "infoType crls (1.3.6.1.5.5.7.4.23): value present"
openssl crl -inform DER -in "$W/crl.der" -CAfile "$CA" -noout >"$W/crl-verify.out" 2>&1 ||
    fail "openssl crl refused the CRL" "$W/crl-verify.out"
grep -q 'verify OK' "$W/crl-verify.out" || fail "the CRL does not verify with ca-cert.pem" "$W/crl-verify.out"
ok "openssl crl -CAfile ca-cert.pem: verify OK"
openssl crl -inform DER -in "$W/crl.der" -noout -text >"$W/crl.txt" 2>&1 || fail "openssl crl -text failed" "$W/crl.txt"
LISTED="$(crl_serials "$W/crl.txt")"
printf '%s\n' "$LISTED" | grep -qx "$KUR_SERIAL" || fail "the CRL does not list $KUR_SERIAL" "$W/crl.txt"
ok "the CRL lists the revoked serial $KUR_SERIAL"
if printf '%s\n' "$LISTED" | grep -qx "$PBM_SERIAL"; then fail "the CRL lists $PBM_SERIAL, never revoked"; fi
ok "and not the unrevoked $PBM_SERIAL"

# ------------------------------------------------------------------ 5b. nested
# OpenSSL 3.0 cannot send nested messages: an RA (here the PBMAC1 certificate the
# CA issued in step 1; the PBM one was updated in step 4 and signs no more) batches
# the ir of a device into a nested message it signs.
step "ir inside a nested message signed by a downstream RA"
client_ok nested ir --url "$URL" "${MAC[@]}" --subject "/CN=behind-an-ra" --newkeytype p256 \
    --certout "$W/nested.pem" --trusted "$CA" --nested-cert "$W/pbmac1.pem" --nested-key "$W/pbmac1.pem.key"
check_cert "$W/nested.pem" "CN = behind-an-ra"
grep -q 'cmp nested .* -> nested status=0' "$DAEMON_LOG" || fail "no nested exchange in the log" "$DAEMON_LOG"
ok "the gateway answered the nested message"
client_exits nested-untrusted 1 ir --url "http://127.0.0.1:$PORT/.well-known/cmp/p/implicit" \
    "${MAC[@]}" --subject "/CN=nope" --certout "$W/nope.pem" --trusted "$CA" \
    --nested-cert "$W/pbmac1.pem" --nested-key "$W/pbmac1.pem.key"
grep -q 'failInfo notAuthorized' "$W/nested-untrusted.err" ||
    fail "a profile without nested_trust_anchors did not answer notAuthorized" "$W/nested-untrusted.err"
ok "a profile without nested_trust_anchors refuses it: notAuthorized"

# ------------------------------------------------------------------ 5c. secrets
# `ps` shows a secret given as --secret VALUE: the forms of openssl cmp -secret
# keep it off the command line (a bare value still works: every step above).
step "the secret as pass:VALUE, env:VAR, file:PATH and --secret-file"
printf '%s\n' "$SECRET" >"$W/secret.txt"
chmod 600 "$W/secret.txt"
client_ok sec-file genm --url "$URL" --ref "$REF" --secret "file:$W/secret.txt" --infotype caCerts
client_ok sec-opt genm --url "$URL" --ref "$REF" --secret-file "$W/secret.txt" --infotype caCerts
export CMPGW_TEST_SECRET="$SECRET"
client_ok sec-env genm --url "$URL" --ref "$REF" --secret env:CMPGW_TEST_SECRET --infotype caCerts
unset CMPGW_TEST_SECRET
client_ok sec-pass genm --url "$URL" --ref "$REF" --secret "pass:$SECRET" --infotype caCerts
for n in sec-file sec-opt sec-env sec-pass; do
    out_has "$n" "genp: pvno 2, PasswordBasedMac protection verified"
done
# The file's first line only: what follows it is not part of the secret.
printf '%s\nsomething else\n' "$SECRET" >"$W/secret2.txt"
client_ok sec-line genm --url "$URL" --ref "$REF" --secret "file:$W/secret2.txt" --infotype caCerts
client_exits sec-noenv 2 genm --url "$URL" --ref "$REF" --secret env:CMPGW_NO_SUCH_VARIABLE \
    --infotype caCerts
grep -qF 'the environment variable CMPGW_NO_SUCH_VARIABLE (the secret) is not set' "$W/sec-noenv.err" ||
    fail "no word of the missing variable" "$W/sec-noenv.err"
client_exits sec-nofile 2 genm --url "$URL" --ref "$REF" --secret "file:$W/no-such-secret" \
    --infotype caCerts
grep -qF "cannot read the secret from $W/no-such-secret: No such file or directory" "$W/sec-nofile.err" ||
    fail "no word of the missing file" "$W/sec-nofile.err"
: >"$W/empty.txt"
client_exits sec-empty 2 genm --url "$URL" --ref "$REF" --secret-file "$W/empty.txt" --infotype caCerts
client_exits sec-both 2 genm --url "$URL" --ref "$REF" --secret "pass:$SECRET" \
    --secret-file "$W/secret.txt" --infotype caCerts
# A wrong secret in the file is a wrong secret (the file was read, not its name taken).
printf 'not-the-secret\n' >"$W/wrong.txt"
client_exits sec-wrong 1 genm --url "$URL" --ref "$REF" --secret "file:$W/wrong.txt" --infotype caCerts
grep -q 'failInfo badMessageCheck' "$W/sec-wrong.err" || fail "no badMessageCheck" "$W/sec-wrong.err"

# ------------------------------------------------------------------ 6. failures
step "failures: wrong secret, unknown path, usage"
client_exits wrong-secret 1 ir --url "$URL" --ref "$REF" --secret "not-the-secret" \
    --subject "/CN=nope" --certout "$W/nope.pem" --trusted "$CA"
grep -q 'PKIStatus rejection, failInfo badMessageCheck' "$W/wrong-secret.err" ||
    fail "no failInfo badMessageCheck" "$W/wrong-secret.err"
grep -q '(unverified' "$W/wrong-secret.err" && fail "the signed error was not verified" "$W/wrong-secret.err"
[ ! -e "$W/nope.pem" ] && [ ! -e "$W/nope.pem.key" ] || fail "files written for a refused request"
ok "nothing written for the refused request"
client_exits not-found 2 ir --url "http://127.0.0.1:$PORT/no/such/path" "${MAC[@]}" \
    --subject "/CN=nope" --certout "$W/nope.pem"
grep -q 'HTTP status 404' "$W/not-found.err" || fail "no HTTP 404 reported" "$W/not-found.err"
client_exits usage 2 ir "${MAC[@]}" --certout "$W/nope.pem"

step "SIGTERM; then the client finds no server"
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS"
ok "the daemon exited 0"
client_exits refused 2 genm --url "$URL" "${MAC[@]}" --infotype caCerts
grep -q 'transport' "$W/refused.err" || fail "no transport error reported" "$W/refused.err"

# ------------------------------------------------------------------ 7. mock
step "ir against OpenSSL's mock CMP server"
if ! command -v ip >/dev/null 2>&1; then
    echo "   skipped: the ip command is not available"
elif unshare --net true 2>/dev/null; then
    mkdir -p "$W/mock"
    unshare --net bash "$HERE/test_client_http.sh" --mock-part "$CMPGW" "$W/mock" ||
        fail "the mock server part failed"
elif unshare --map-root-user --net true 2>/dev/null; then
    mkdir -p "$W/mock"
    unshare --map-root-user --net bash "$HERE/test_client_http.sh" --mock-part "$CMPGW" "$W/mock" ||
        fail "the mock server part failed"
else
    echo "   skipped: unshare --net is not available (the mock binds every interface)"
fi

step "all checks passed"
