#!/usr/bin/env bash
# Interop: enrolment over HTTP with the OpenSSL CMP client against a live gateway.
#
# Usage: bash tests/interop/test_enrol_http.sh /path/to/cmpgw
#
# Makes a demo gateway with `cmpgw init`, creates shared secrets with
# `cmpgw secret new`, runs `cmpgw serve` and checks, against the running daemon:
#   1. an MAC-protected ir with an EC P-256 key on /.well-known/cmp gives a
#      certificate that chains to the CA, for the right subject and key;
#   2. the same on /.well-known/cmp/p/default with an RSA-2048 key;
#   3. the store holds both transactions as 'confirmed' and both certificates
#      (serial, names, DER) as soon as the client holds them;
#   4. a wrong secret, an unknown reference and a corrupted MAC are all rejected
#      with the same signed badMessageCheck error, and issue nothing;
#   5. an unknown path gives 404 and a GET gives 405;
#   6. SIGTERM stops the daemon with status 0 and leaves a sound database.
# Exits 0 on success, 1 on the first failure (printing the daemon's log), 77 when
# a tool it drives (openssl, curl, sqlite3) is missing.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

need_cmd openssl
need_cmd curl sqlite3 od
lib_init "${1:-}"

GW="$IT_TMP/gw"
CONF="$GW/cmpgw.conf"
DB="$GW/cmpgw.db"
W="$IT_TMP/work"
mkdir -p "$W"

# sql QUERY: run QUERY on the gateway's database, result in SQL_OUT.
sql() {
    SQL_OUT="$(sqlite3 -batch -cmd '.timeout 10000' "$DB" "$1" 2>"$W/sql.err")" ||
        fail "sqlite3 failed on: $1" "$W/sql.err"
}

# new_secret NAME ARGS...: `cmpgw secret new --json ARGS`; sets S_REF and S_SECRET.
new_secret() {
    local name="$1"
    shift
    "$CMPGW" secret new -c "$CONF" --json "$@" >"$W/$name.json" 2>"$W/$name.err" ||
        fail "cmpgw secret new $* exited non-zero" "$W/$name.json" "$W/$name.err"
    S_REF="$(json_field reference "$W/$name.json")"
    S_SECRET="$(json_field secret "$W/$name.json")"
    if [ -z "$S_REF" ] || [ -z "$S_SECRET" ]; then
        fail "cmpgw secret new printed no reference/secret" "$W/$name.json"
    fi
}

# ------------------------------------------------------------------ set-up
step "cmpgw init $GW --http 127.0.0.1:0"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init exited non-zero" "$W/init.out"
for f in cmpgw.conf ca-cert.pem ra-cert.pem ra.p12 cmpgw.db; do
    [ -s "$GW/$f" ] || fail "cmpgw init did not create $f" "$W/init.out"
done
[ -s "$W/init.out" ] || fail "cmpgw init printed no enrol instructions"
ok "created cmpgw.conf ca-cert.pem ra-cert.pem ra.p12 cmpgw.db and printed instructions"
cp "$GW/ca-cert.pem" "$W/ca-cert.orig.pem"
if "$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init2.out" 2>&1; then
    fail "cmpgw init accepted an existing directory" "$W/init2.out"
fi
cmp -s "$GW/ca-cert.pem" "$W/ca-cert.orig.pem" || fail "a refused cmpgw init changed ca-cert.pem"
ok "a second init on the same directory is refused and changes nothing"

RA="$(ra_subject "$GW")" || fail "cannot read the subject of ra-cert.pem"
[ -n "$RA" ] || fail "ra-cert.pem has an empty subject"
CA_SUBJECT="$(openssl x509 -in "$GW/ca-cert.pem" -noout -subject | sed 's/^subject=//')" ||
    fail "cannot read ca-cert.pem"
ok "RA subject (recipient): $RA"
ok "CA subject: $CA_SUBJECT"

step "shared secrets (cmpgw secret new --json)"
new_secret s1
REF1="$S_REF"; SECRET1="$S_SECRET"
new_secret s2 --ref interop-dev2 --profile default
REF2="$S_REF"; SECRET2="$S_SECRET"
[ "$REF2" = interop-dev2 ] || fail "--ref interop-dev2 gave reference '$REF2'" "$W/s2.json"
new_secret s3
REF3="$S_REF"
new_secret s4
REF4="$S_REF"; SECRET4="$S_SECRET"
ok "references: $REF1, $REF2 (profile default), $REF3, $REF4"

step "device keys"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev1.key" 2>/dev/null ||
    fail "cannot make an EC key"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/dev2.key" 2>/dev/null ||
    fail "cannot make an RSA key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/devx.key" 2>/dev/null ||
    fail "cannot make an EC key"
ok "dev1.key EC P-256, dev2.key RSA-2048, devx.key EC P-256"

step "cmpgw serve -c $CONF"
daemon_start "$CONF"
ok "daemon pid $DAEMON_PID listening on 127.0.0.1:$PORT"
BASE="http://127.0.0.1:$PORT"

# ------------------------------------------------------------------ 1, 2, 3
# check_cert_row NAME: the certificate $W/NAME.pem is in the store right now.
check_cert_row() {
    local cert="$W/$1.pem" serial want
    serial="$(openssl x509 -in "$cert" -noout -serial | sed 's/^serial=//')"
    serial="$(norm_serial "$serial")"
    sql "SELECT count(*) FROM certificates WHERE ltrim(lower(serial), '0') = '$serial'"
    [ "$SQL_OUT" = 1 ] || fail "certificates has $SQL_OUT rows with serial $serial (want 1)"
    ok "store: certificates has serial $serial"
    sql "SELECT count(*) FROM certificates WHERE ltrim(lower(serial), '0') = '$serial'
         AND length(subject) > 0 AND length(issuer) > 0"
    [ "$SQL_OUT" = 1 ] || fail "certificates row $serial has an empty subject or issuer"
    sql "SELECT subject || ' / ' || issuer FROM certificates
         WHERE ltrim(lower(serial), '0') = '$serial'"
    ok "store: subject / issuer: $SQL_OUT"
    openssl x509 -in "$cert" -outform DER -out "$W/$1.der" || fail "cannot convert $1.pem to DER"
    want="$(hex_of "$W/$1.der")"
    sql "SELECT lower(hex(der)) FROM certificates WHERE ltrim(lower(serial), '0') = '$serial'"
    [ "$SQL_OUT" = "$want" ] || fail "certificates.der of $serial differs from the issued certificate"
    ok "store: der equals the issued certificate"
}

# enrol NAME PATH KEY REF SECRET: ir + certConf with the OpenSSL client; check the
# certificate and its row in the store.
enrol() {
    local name="$1" path="$2" key="$3" ref="$4" secret="$5"
    local cert="$W/$name.pem" log="$W/$name.cmp.log" got
    echo "   openssl cmp -cmd ir -path $path -ref $ref -newkey $(basename "$key") -subject /CN=$name"
    openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path "$path" \
        -ref "$ref" -secret "pass:$secret" -recipient "$RA" \
        -newkey "$key" -subject "/CN=$name" -certout "$cert" -msg_timeout 60 \
        >"$log" 2>&1 || fail "openssl cmp ir ($name) exited non-zero" "$log"
    ok "openssl cmp exited 0"
    openssl verify -CAfile "$GW/ca-cert.pem" "$cert" >"$W/$name.verify" 2>&1 ||
        fail "the certificate for $name does not verify against ca-cert.pem" "$W/$name.verify" "$cert"
    ok "openssl verify -CAfile ca-cert.pem: $(cat "$W/$name.verify")"
    got="$(openssl x509 -in "$cert" -noout -subject)"
    [ "$got" = "subject=CN = $name" ] || fail "certificate $got, want subject=CN = $name"
    ok "$got"
    openssl pkey -in "$key" -pubout -out "$W/$name.key.pub" || fail "cannot read $key"
    openssl x509 -in "$cert" -noout -pubkey | openssl pkey -pubin -pubout -out "$W/$name.cert.pub" ||
        fail "cannot read the certificate's public key"
    cmp -s "$W/$name.key.pub" "$W/$name.cert.pub" ||
        fail "the certificate's public key is not the device key's" "$W/$name.key.pub" "$W/$name.cert.pub"
    ok "the certificate's public key is the device key's"
    got="$(openssl x509 -in "$cert" -noout -issuer | sed 's/^issuer=//')"
    [ "$got" = "$CA_SUBJECT" ] || fail "issuer '$got' is not the CA '$CA_SUBJECT'"
    ok "issuer = $got"
    # DESIGN.md: a certificate is sent only after the store has committed it, so
    # the row must be there now, without waiting.
    check_cert_row "$name"
}

step "1. ir, EC P-256, MAC ($REF1), path .well-known/cmp"
enrol dev1 .well-known/cmp "$W/dev1.key" "$REF1" "$SECRET1"

step "2. ir, RSA-2048, MAC ($REF2), path .well-known/cmp/p/default"
enrol dev2 .well-known/cmp/p/default "$W/dev2.key" "$REF2" "$SECRET2"

confirmed_is() {
    sql "SELECT count(*) FROM transactions WHERE state = 'confirmed'"
    [ "$SQL_OUT" = "$1" ]
}
step "3. the store: both transactions confirmed"
if ! until_true 30 confirmed_is 2; then
    sqlite3 -batch -cmd '.timeout 10000' -header "$DB" 'SELECT * FROM transactions' \
        >"$W/transactions.txt" 2>&1 || true
    fail "transactions has $SQL_OUT rows in state 'confirmed' (want 2)" "$W/transactions.txt"
fi
ok "2 transactions in state 'confirmed'"
sql "SELECT count(*) FROM certificates"
CERTS_BEFORE="$SQL_OUT"
[ "$CERTS_BEFORE" = 2 ] || fail "certificates has $CERTS_BEFORE rows (want 2)"
ok "2 rows in certificates"

# ------------------------------------------------------------------ 4
# status_summary_openssl LOG: "status;failInfo names;status strings" of the error
# the OpenSSL client printed ("received error:PKIStatus: ...; PKIFailureInfo: ...;
# StatusString: "..."; errorCode: ...").
status_summary_openssl() {
    local line status finfo texts
    line="$(grep -m1 -o 'PKIStatus: .*' "$1" || true)"
    status="$(printf '%s\n' "$line" | sed 's/^PKIStatus: \([^;]*\).*/\1/')"
    finfo="$(printf '%s\n' "$line" | sed -n 's/.*; PKIFailureInfo: \([^;]*\).*/\1/p' | tr -d ' ')"
    texts="$(printf '%s\n' "$line" | sed -n 's/.*; StatusStrings\{0,1\}: \(.*\)$/\1/p' |
        sed 's/; errorCode: .*//; s/; errorDetails: .*//; s/^"//; s/"$//; s/", "/|/g')"
    printf '%s;%s;%s\n' "$status" "$finfo" "$texts"
}

# reject NAME REF SECRET: an ir that must be refused with badMessageCheck.
reject() {
    local name="$1" log="$W/$1.cmp.log"
    echo "   openssl cmp -cmd ir -ref $2 -secret pass:... -trusted ca-cert.pem -subject /CN=$name"
    if openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp \
        -ref "$2" -secret "pass:$3" -recipient "$RA" -trusted "$GW/ca-cert.pem" \
        -newkey "$W/devx.key" -subject "/CN=$name" -certout "$W/$name.pem" \
        -msg_timeout 60 >"$log" 2>&1; then
        fail "openssl cmp ($name) was accepted" "$log"
    fi
    ok "openssl cmp exited non-zero"
    grep -q 'PKIFailureInfo: badMessageCheck' "$log" ||
        fail "no 'PKIFailureInfo: badMessageCheck' in the client output ($name)" "$log"
    grep -q 'rejection' "$log" || fail "no 'rejection' in the client output ($name)" "$log"
    [ ! -s "$W/$name.pem" ] || fail "a certificate was written for $name"
    ok "$(grep -m1 -o 'PKIStatus: .*' "$log")"
}

step "4a. wrong secret for a known reference ($REF3)"
reject bad-secret "$REF3" "wrong-$RANDOM-secret"
SUM_SECRET="$(status_summary_openssl "$W/bad-secret.cmp.log")"

UNKNOWN_REF="interop-unknown-$$-$RANDOM"
step "4b. unknown reference ($UNKNOWN_REF)"
reject unknown-ref "$UNKNOWN_REF" "some-secret-$RANDOM"
SUM_UNKNOWN="$(status_summary_openssl "$W/unknown-ref.cmp.log")"

# The whole error text must not tell a wrong secret from an unknown reference.
ERR_SECRET="$(grep -m1 -o 'PKIStatus: .*' "$W/bad-secret.cmp.log")"
ERR_UNKNOWN="$(grep -m1 -o 'PKIStatus: .*' "$W/unknown-ref.cmp.log")"
[ "$ERR_SECRET" = "$ERR_UNKNOWN" ] ||
    fail "the errors differ: wrong secret '$ERR_SECRET' vs unknown reference '$ERR_UNKNOWN'"
ok "wrong secret and unknown reference get the same error text"

step "4c. corrupted MAC ($REF4), raw POST with curl"
# Build a valid request without sending it: the client saves it (-reqout) and then
# fails to read a response from a file that does not exist (-rspin), so the gateway
# never sees the intact request.
if openssl cmp -cmd ir -ref "$REF4" -secret "pass:$SECRET4" -recipient "$RA" \
    -newkey "$W/devx.key" -subject /CN=dev-corrupt -certout "$W/dev-corrupt.pem" \
    -reqout "$W/req.der" -rspin "$W/no-such-response.der" >"$W/reqout.log" 2>&1; then
    fail "openssl cmp -rspin of a missing file succeeded" "$W/reqout.log"
fi
[ -s "$W/req.der" ] || fail "openssl cmp -reqout saved no request" "$W/reqout.log"
openssl asn1parse -inform DER -in "$W/req.der" -i >"$W/req.txt" 2>&1 ||
    fail "the saved request does not parse" "$W/req.txt"
SIZE="$(wc -c <"$W/req.der" | tr -d ' ')"
LAST="$(tail -n 1 "$W/req.txt")"
PREV="$(tail -n 2 "$W/req.txt" | head -n 1)"
# The message ends with protection [0] { BIT STRING }: its last octet is MAC.
if ! printf '%s\n' "$PREV" | grep -qE 'd=1 .*cont \[ 0 \]' ||
   ! printf '%s\n' "$LAST" | grep -qE 'd=2 .*BIT STRING' ||
   [ $(( $(asn1_off "$LAST") + $(asn1_hl "$LAST") + $(asn1_len "$LAST") )) -ne "$SIZE" ]; then
    fail "the saved request does not end with its protection BIT STRING" "$W/req.txt"
fi
OCTET="$(od -An -tu1 -j $((SIZE - 1)) -N 1 "$W/req.der" | tr -d ' ')"
head -c $((SIZE - 1)) "$W/req.der" >"$W/bad.der"
# shellcheck disable=SC2059
printf "\\$(printf '%03o' $((OCTET ^ 1)))" >>"$W/bad.der"
if [ "$(wc -c <"$W/bad.der" | tr -d ' ')" -ne "$SIZE" ] || cmp -s "$W/req.der" "$W/bad.der"; then
    fail "could not corrupt the request"
fi
ok "request of $SIZE octets, last MAC octet flipped"

HTTP="$(curl -sS --max-time 60 -o "$W/rsp.der" -w '%{http_code} %{content_type}' \
    -H 'Content-Type: application/pkixcmp' -H 'Expect:' --data-binary @"$W/bad.der" \
    "$BASE/.well-known/cmp" 2>"$W/curl.err")" || fail "curl POST failed" "$W/curl.err"
case "$HTTP" in
    "200 application/pkixcmp"*) ok "HTTP $HTTP" ;;
    *) fail "HTTP answer '$HTTP', want 200 application/pkixcmp" ;;
esac
openssl asn1parse -inform DER -in "$W/rsp.der" -i >"$W/rsp.txt" 2>&1 ||
    fail "the response is not DER" "$W/rsp.txt"
grep -qE 'd=1 .*cont \[ 23 \]' "$W/rsp.txt" || fail "the response is not an error [23]" "$W/rsp.txt"
ok "body is error [23]"
PROT_ALG="$(awk '/d=1 / { if (++n1 > 1) exit; next }
                 /d=2 .*cont \[ 1 \]/ { p = 1; next }
                 p && /d=2 / { exit }
                 p && /d=4 .*OBJECT/ { sub(/.*:/, ""); gsub(/ /, ""); print; exit }' "$W/rsp.txt")"
[ "$PROT_ALG" = ecdsa-with-SHA256 ] ||
    fail "protectionAlg is '$PROT_ALG', want ecdsa-with-SHA256" "$W/rsp.txt"
awk '/d=1 .*cont \[ 23 \]/ { b = 1; next } b && /d=1 .*cont \[ 0 \]/ { f = 1 } END { exit !f }' \
    "$W/rsp.txt" || fail "the response has no protection" "$W/rsp.txt"
ok "signature-protected (ecdsa-with-SHA256)"
# PKIStatusInfo: the first d=3 element of ErrorMsgContent.
awk '/d=1 .*cont \[ 23 \]/ { b = 1; next } b && /d=1 / { exit }
     b && /d=3 / { n3++ } b && n3 == 1 { print }' "$W/rsp.txt" >"$W/rsp-si.txt"
STATUS_LINE="$(grep -m1 -E 'd=4 .*INTEGER' "$W/rsp-si.txt" || true)"
[ -n "$STATUS_LINE" ] || fail "no PKIStatus in the error" "$W/rsp.txt"
STATUS=$(( 16#$(asn1_value "$STATUS_LINE" | tr -d ' ') ))
[ "$STATUS" -eq 2 ] || fail "PKIStatus is $STATUS, want 2 (rejection)" "$W/rsp.txt"
FI_LINE="$(grep -m1 -E 'd=4 .*BIT STRING' "$W/rsp-si.txt" || true)"
[ -n "$FI_LINE" ] || fail "no failInfo in the error" "$W/rsp.txt"
FI_HEX="$(asn1_content_hex "$W/rsp.der" "$FI_LINE")"
FI_NAMES="$(failinfo_names "$FI_HEX")"
case ",$FI_NAMES," in
    *,badMessageCheck,*) ok "PKIStatus rejection, failInfo $FI_HEX ($FI_NAMES)" ;;
    *) fail "failInfo $FI_HEX ($FI_NAMES) lacks badMessageCheck" "$W/rsp.txt" ;;
esac
TEXTS="$(grep -E 'd=5 .*UTF8STRING' "$W/rsp-si.txt" | while IFS= read -r l; do
    asn1_value "$l"; done | paste -sd '|' -)"
SUM_CORRUPT="rejection;$FI_NAMES;$TEXTS"

step "4d. the three rejections look the same"
echo "   wrong secret:      $SUM_SECRET"
echo "   unknown reference: $SUM_UNKNOWN"
echo "   corrupted MAC:     $SUM_CORRUPT"
if [ "$SUM_SECRET" != "$SUM_UNKNOWN" ] || [ "$SUM_SECRET" != "$SUM_CORRUPT" ]; then
    fail "the three errors differ in status, failInfo or status text"
fi
ok "same status, failInfo and status text"
sql "SELECT count(*) FROM certificates"
[ "$SQL_OUT" = "$CERTS_BEFORE" ] ||
    fail "certificates went from $CERTS_BEFORE to $SQL_OUT rows after the rejections"
ok "no new rows in certificates"

# ------------------------------------------------------------------ 5
step "5. HTTP errors"
HTTP="$(curl -sS --max-time 60 -o "$W/nope.body" -w '%{http_code}' \
    -H 'Content-Type: application/pkixcmp' -H 'Expect:' --data-binary @"$W/bad.der" \
    "$BASE/nope" 2>"$W/curl.err")" || fail "curl POST /nope failed" "$W/curl.err"
[ "$HTTP" = 404 ] || fail "POST /nope gave HTTP $HTTP, want 404" "$W/nope.body"
ok "POST /nope: 404"
HTTP="$(curl -sS --max-time 60 -o "$W/get.body" -w '%{http_code}' \
    "$BASE/.well-known/cmp" 2>"$W/curl.err")" || fail "curl GET failed" "$W/curl.err"
[ "$HTTP" = 405 ] || fail "GET /.well-known/cmp gave HTTP $HTTP, want 405" "$W/get.body"
ok "GET /.well-known/cmp: 405"

# ------------------------------------------------------------------ 6
step "6. SIGTERM"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS after SIGTERM"
ok "the daemon exited with status 0"
SQL_OUT="$(sqlite3 "$DB" 'PRAGMA integrity_check' 2>&1)" || true
[ "$SQL_OUT" = ok ] || fail "PRAGMA integrity_check: $SQL_OUT"
ok "PRAGMA integrity_check: ok"
sql "SELECT (SELECT count(*) FROM transactions WHERE state = 'confirmed') || ' ' ||
            (SELECT count(*) FROM certificates)"
[ "$SQL_OUT" = "2 $CERTS_BEFORE" ] || fail "after the stop: confirmed/certificates = $SQL_OUT"
ok "after the stop the store still has 2 confirmed transactions and $CERTS_BEFORE certificates"

echo
echo "PASS: test_enrol_http"
