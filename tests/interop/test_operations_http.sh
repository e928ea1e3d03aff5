#!/usr/bin/env bash
# Interop: the CMP operations beyond ir, driven by the OpenSSL CMP client against a
# live gateway over HTTP.
#
# Usage: bash tests/interop/test_operations_http.sh /path/to/cmpgw
#
# Makes a demo gateway with `cmpgw init` plus the profiles implicit
# (implicit_confirm), sigonly (protection = signature), maconly (protection = mac)
# and raverified (ra_verified), runs `cmpgw serve` and checks, end to end:
#   1. cr with MAC: a certificate chaining to the CA; the transaction 'cr', 'confirmed';
#   2. p10cr with MAC and an `openssl req -new` CSR: the CSR's subject and key;
#   3. ir with -implicit_confirm on the implicit profile: confirmed without certConf;
#      on the default profile: the client still sends certConf; plus a certConf that
#      rejects the certificate (state revoked_on_reject, certificate revoked);
#   4. signature-protected cr with the step-1 certificate;
#   5. kur with the step-1 certificate (new key); a kur signed by another
#      certificate than -oldcert gets notAuthorized;
#   6. rr of the kur'd certificate signed by itself (reason 1), stored as revoked;
#      a second rr gets certRevoked, and so does a kur of the revoked certificate;
#   7. rr with every reason 0..10 but 7 (MAC and signed), each stored, but 8
#      (removeFromCRL), which revokes nothing: badCertId for a certificate that
#      is not on hold (tests/interop/test_hold.sh: hold and release); reason 7 and
#      11, which openssl refuses to send, sent re-protected by openssl (-reqin with
#      -reqin_new_tid), get badRequest; an rr MAC-protected with a secret that did
#      not enrol the certificate gets notAuthorized;
#   8. requests signed by a self-signed certificate and by one from a foreign CA
#      get signerNotTrusted;
#   9. raVerified POP (-popo 0): badPOP on the default profile, accepted where
#      ra_verified = true;
#  10. protection = signature refuses MAC (wrongIntegrity) and accepts signatures;
#      protection = mac refuses signatures (wrongIntegrity) and accepts MAC;
#  11. SIGTERM stops the daemon with status 0 and leaves a sound database.
# All of it with compute = inline (CPU-bound steps on the loop thread).
# Exits 0 on success, 1 on the first failure (printing the daemon's log), 77 when
# a tool it drives (openssl, sqlite3) is missing.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

need_cmd openssl
need_cmd sqlite3 od head tail
lib_init "${1:-}"

# Background openssl clients (step 7) are tracked here and killed at exit, before
# lib_cleanup stops the daemon and removes the temp dir.
BG_PIDS=()
ops_cleanup() {
    local rc=$? p
    set +e
    for p in "${BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${BG_PIDS[@]}"; do
        wait "$p" 2>/dev/null
    done
    (exit "$rc")
    lib_cleanup
}
trap ops_cleanup EXIT

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

# dump_tables: the transactions, certificates and revocations tables, for a failure.
dump_tables() {
    sqlite3 -batch -cmd '.timeout 10000' -header "$DB" \
        'SELECT transaction_id, profile, auth_ref, req_type, state, failinfo, cert_req_id, cert_serial
           FROM transactions ORDER BY created_at;
         SELECT serial, subject, status, transaction_id FROM certificates ORDER BY created_at;
         SELECT * FROM revocations;' >"$W/tables.txt" 2>&1 || true
    printf '%s\n' "$W/tables.txt"
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

# newkey NAME: a fresh EC P-256 key in $W/NAME.key.
newkey() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$1.key" 2>"$W/genpkey.err" ||
        fail "cannot make an EC key" "$W/genpkey.err"
}

# show_cmd ARGS...: print an openssl cmp command line, shortened for reading.
show_cmd() {
    local a out=""
    for a in "$@"; do
        case "$a" in
            pass:*) a="pass:..." ;;
            "$W"/*) a="${a#"$W"/}" ;;
            "$GW"/*) a="gw/${a#"$GW"/}" ;;
            *" "*) a="'$a'" ;;
        esac
        out="$out $a"
    done
    echo "   openssl cmp$out"
}

# cli NAME ARGS...: run openssl cmp against the daemon, output in $W/NAME.log;
# returns the client's exit status.
cli() {
    local name="$1"
    shift
    show_cmd "$@"
    openssl cmp -server "127.0.0.1:$PORT" -msg_timeout 60 "$@" >"$W/$name.log" 2>&1
}

# cli_ok NAME ARGS...: the exchange must succeed.
cli_ok() {
    local name="$1"
    shift
    cli "$name" "$@" || fail "openssl cmp ($name) exited non-zero" "$W/$name.log"
    ok "openssl cmp ($name) exited 0"
}

# failinfo_num NAME: the PKIFailureInfo bit number of NAME (RFC 9810 §5.2.3).
failinfo_num() {
    local i
    for i in "${!FAILINFO_NAMES[@]}"; do
        [ "${FAILINFO_NAMES[$i]}" = "$1" ] && { echo "$i"; return 0; }
    done
    return 1
}

# cli_refused NAME FAILINFO ARGS...: the exchange must fail with a CMP error whose
# PKIFailureInfo the client prints as FAILINFO, and the daemon must log one more
# error line with failInfo=<its bit number>. FAILINFO may be "a|b" to accept either.
cli_refused() {
    local name="$1" want="$2" got n before ere alt found=""
    shift 2
    ere=""
    for alt in ${want//|/ }; do
        n="$(failinfo_num "$alt")" || fail "unknown failInfo name $alt"
        ere="${ere:+$ere|}failInfo=$n"
    done
    ere="-> (error|ip|cp|kup|rp) status=2 ($ere)( |$)"
    before="$(log_count "$ere")"
    if cli "$name" "$@"; then
        fail "openssl cmp ($name) was accepted; want failInfo $want" "$W/$name.log"
    fi
    ok "openssl cmp ($name) exited non-zero"
    got="$(client_failinfo "$W/$name.log")"
    for alt in ${want//|/ }; do
        case ",$got," in *",$alt,"*) found="$alt" ;; esac
    done
    [ -n "$found" ] || fail "the client printed PKIFailureInfo '$got' ($name), want $want" "$W/$name.log"
    ok "client: $(grep -m1 -o 'PKIStatus: .*' "$W/$name.log")"
    wait_log_count 30 "$ere" $((before + 1))
    ok "daemon: $(grep -E -e "$ere" "$DAEMON_LOG" | tail -n 1 | sed 's/^.* INFO //')"
    REFUSED_AS="$found"
}

# check_cert NAME KEY SUBJECT: $W/NAME.pem verifies against the CA, holds KEY's
# public key and has SUBJECT (openssl's "CN = x" form); sets SERIAL.
check_cert() {
    local cert="$W/$1.pem" got
    [ -s "$cert" ] || fail "no certificate was written to $1.pem" "$W/$1.log"
    openssl verify -CAfile "$GW/ca-cert.pem" "$cert" >"$W/$1.verify" 2>&1 ||
        fail "$1.pem does not verify against ca-cert.pem" "$W/$1.verify" "$cert"
    ok "openssl verify -CAfile ca-cert.pem: $(cat "$W/$1.verify")"
    same_pubkey "$2" "$cert" || fail "$1.pem does not hold the public key of $(basename "$2")"
    ok "$1.pem holds the public key of $(basename "$2")"
    got="$(openssl x509 -in "$cert" -noout -subject -nameopt oneline | sed 's/^subject=//')"
    [ "$got" = "$3" ] || fail "$1.pem has subject '$got', want '$3'"
    ok "subject $got"
    SERIAL="$(cert_serial "$cert")" || fail "cannot read the serial of $1.pem"
}

# tx_of SERIAL REQTYPE: the txid of the REQTYPE transaction about SERIAL, in TXID.
tx_of() {
    sql "SELECT transaction_id FROM transactions WHERE req_type = '$2'
          AND ltrim(lower(cert_serial), '0') = '$1'"
    TXID="$SQL_OUT"
    if [ -z "$TXID" ] || [ "$(printf '%s\n' "$TXID" | wc -l)" -ne 1 ]; then
        fail "want one '$2' transaction for serial $1, found: '${TXID}'" "$(dump_tables)"
    fi
}

tx_state_is() {
    sql "SELECT state FROM transactions WHERE transaction_id = '$1'"
    [ "$SQL_OUT" = "$2" ]
}

# check_tx SERIAL REQTYPE STATE: the REQTYPE transaction that issued SERIAL reaches
# STATE (polled: certConf is answered while the store commits); sets TXID.
check_tx() {
    tx_of "$1" "$2"
    until_true 30 tx_state_is "$TXID" "$3" ||
        fail "transaction $TXID ($2, serial $1) is '$SQL_OUT', want '$3'" "$(dump_tables)"
    ok "store: transaction $TXID req_type '$2' state '$3'"
}

# cert_status_is SERIAL STATUS
cert_status_is() {
    sql "SELECT status FROM certificates WHERE ltrim(lower(serial), '0') = '$1'"
    [ "$SQL_OUT" = "$2" ] ||
        fail "certificates.status of $1 is '$SQL_OUT', want '$2'" "$(dump_tables)"
    ok "store: certificate $1 status '$2'"
}

# revocation_is SERIAL REASON: one revocations row for SERIAL with reason REASON
# ("NULL" for none) and a revoked_at time.
revocation_is() {
    sql "SELECT ifnull(reason, 'NULL') || ' ' || count(*) || ' ' || ifnull(min(revoked_at), '-')
           FROM revocations WHERE ltrim(lower(serial), '0') = '$1'"
    case "$SQL_OUT" in
        "$2 1 "????-??-??T??:??:??Z) ok "store: revocations row for $1: reason $2, revoked_at ${SQL_OUT##* }" ;;
        *) fail "revocations for $1: '$SQL_OUT', want reason $2, one row, a revoked_at" "$(dump_tables)" ;;
    esac
}

no_revocation() {
    sql "SELECT count(*) FROM revocations WHERE ltrim(lower(serial), '0') = '$1'"
    [ "$SQL_OUT" = 0 ] || fail "revocations has a row for $1" "$(dump_tables)"
    ok "store: no revocations row for $1"
}

# ------------------------------------------------------------------ set-up
step "cmpgw init $GW --http 127.0.0.1:0, with four more profiles"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init exited non-zero" "$W/init.out"
for f in cmpgw.conf ca-cert.pem ra-cert.pem ra.p12 cmpgw.db; do
    [ -s "$GW/$f" ] || fail "cmpgw init did not create $f" "$W/init.out"
done
cat >>"$CONF" <<'EOF'

[profile implicit]
implicit_confirm = true

[profile sigonly]
protection = signature

[profile maconly]
protection = mac

[profile raverified]
ra_verified = true

[profile challenged]
challenge = fixed
challenge_value = open sesame
aliases = /pkix/, /legacy/cmp
EOF
ok "profiles: default, implicit, sigonly, maconly, raverified, challenged"
# Every step below runs with the CPU-bound work on the loop thread (compute =
# inline, what `auto` picks on one CPU); the other tests use the threadpool.
grep -q '^compute = auto$' "$CONF" || fail "cmpgw init wrote no 'compute = auto'" "$CONF"
sed -i 's/^compute = auto$/compute = inline/' "$CONF"
RA="$(ra_subject "$GW")" || fail "cannot read the subject of ra-cert.pem"
[ -n "$RA" ] || fail "ra-cert.pem has an empty subject"
ok "RA subject (recipient): $RA"

step "shared secrets"
new_secret main --profile default
REF="$S_REF"; SEC="$S_SECRET"
new_secret other --profile default
REF_OTHER="$S_REF"; SEC_OTHER="$S_SECRET"
new_secret implicit --profile implicit
REF_IMPL="$S_REF"; SEC_IMPL="$S_SECRET"
new_secret sigonly --profile sigonly
REF_SIG="$S_REF"; SEC_SIG="$S_SECRET"
new_secret maconly --profile maconly
REF_MAC="$S_REF"; SEC_MAC="$S_SECRET"
new_secret raverified --profile raverified
REF_RAV="$S_REF"; SEC_RAV="$S_SECRET"
new_secret challenged --profile challenged
REF_CH="$S_REF"; SEC_CH="$S_SECRET"
new_secret expired --profile default
REF_EXP="$S_REF"; SEC_EXP="$S_SECRET"
new_secret withdrawn --profile default
REF_WD="$S_REF"; SEC_WD="$S_SECRET"
ok "default: $REF and $REF_OTHER; implicit: $REF_IMPL; sigonly: $REF_SIG; maconly: $REF_MAC; raverified: $REF_RAV"

step "keys, a CSR, a self-signed certificate and a foreign CA"
for k in k1 k2 k3 k3b k4 k5 k9 k9b k10a k10b k12a k12b kx kr; do newkey "$k"; done
printf '[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n[dn]\nCN = challenged\n[attrs]\nchallengePassword = open sesame\n' \
    >"$W/ch.cnf"
openssl req -new -key "$W/k12a.key" -config "$W/ch.cnf" -out "$W/ch.csr" >"$W/req.log" 2>&1 ||
    fail "openssl req -new (challengePassword) failed" "$W/req.log"
openssl req -new -key "$W/k2.key" -subj "/O=cmpgw interop/CN=p10cr device" -out "$W/k2.csr" \
    >"$W/req.log" 2>&1 || fail "openssl req -new failed" "$W/req.log"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ss.key" \
    -subj /CN=self-signed -days 2 -out "$W/ss.pem" >"$W/req.log" 2>&1 ||
    fail "openssl req -x509 failed" "$W/req.log"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/fca.key" \
    -subj /CN=foreign-CA -days 2 -out "$W/fca.pem" >"$W/req.log" 2>&1 ||
    fail "openssl req -x509 (foreign CA) failed" "$W/req.log"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/fee.key" \
    -subj /CN=foreign-device -out "$W/fee.csr" >"$W/req.log" 2>&1 ||
    fail "openssl req -new (foreign device) failed" "$W/req.log"
printf 'keyUsage = critical, digitalSignature\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n' \
    >"$W/fee.ext"
openssl x509 -req -in "$W/fee.csr" -CA "$W/fca.pem" -CAkey "$W/fca.key" -set_serial 4242 -days 2 \
    -extfile "$W/fee.ext" -out "$W/fee.pem" >"$W/req.log" 2>&1 ||
    fail "openssl x509 -req (foreign device) failed" "$W/req.log"
ok "EC P-256 keys, k2.csr, ss.pem (self-signed), fee.pem (issued by foreign-CA)"

step "cmpgw serve -c $CONF"
daemon_start "$CONF"
ok "daemon pid $DAEMON_PID listening on 127.0.0.1:$PORT"
grep -q 'compute: inline on the loop, reads too' "$DAEMON_LOG" || fail "compute = inline not in effect" "$DAEMON_LOG"
ok "compute: inline on the loop, reads too"

# Common client arguments: MAC with the main secret, and the trust anchor for
# signed answers (the RA certificate travels in extraCerts; -trusted is enough).
MAC=(-ref "$REF" -secret "pass:$SEC" -recipient "$RA")
TRUST=(-trusted "$GW/ca-cert.pem")
DEF=(-path .well-known/cmp)

# ------------------------------------------------------------------ 1
step "1. cr, MAC-protected"
cli_ok c1 -cmd cr "${DEF[@]}" "${MAC[@]}" "${TRUST[@]}" -newkey "$W/k1.key" -subject /CN=cr-mac \
    -certout "$W/c1.pem"
grep -q 'sending CR' "$W/c1.log" || fail "the client did not send a CR" "$W/c1.log"
check_cert c1 "$W/k1.key" "CN = cr-mac"
S1="$SERIAL"
check_tx "$S1" cr confirmed
sql "SELECT auth_ref FROM transactions WHERE transaction_id = '$TXID'"
[ "$SQL_OUT" = "$REF" ] || fail "auth_ref of $TXID is '$SQL_OUT', want $REF"
ok "store: auth_ref $REF"
cert_status_is "$S1" valid

# ------------------------------------------------------------------ 2
step "2. p10cr, MAC-protected, CSR from openssl req -new"
cli_ok c2 -cmd p10cr "${DEF[@]}" "${MAC[@]}" "${TRUST[@]}" -csr "$W/k2.csr" -certout "$W/c2.pem"
grep -q 'sending P10CR' "$W/c2.log" || fail "the client did not send a P10CR" "$W/c2.log"
CSR_SUBJECT="$(openssl req -in "$W/k2.csr" -noout -subject -nameopt oneline | sed 's/^subject=//')"
check_cert c2 "$W/k2.key" "$CSR_SUBJECT"
ok "the certificate has the CSR's subject and key"
S2="$SERIAL"
check_tx "$S2" p10cr confirmed
sql "SELECT cert_req_id FROM transactions WHERE transaction_id = '$TXID'"
[ "$SQL_OUT" = -1 ] || fail "cert_req_id of the p10cr is '$SQL_OUT', want -1"
ok "store: cert_req_id -1"

# ------------------------------------------------------------------ 3
step "3a. ir with -implicit_confirm on /.well-known/cmp/p/implicit (implicit_confirm = true)"
CC_BEFORE="$(log_count ' cmp certConf ')"
cli_ok c3 -cmd ir -path .well-known/cmp/p/implicit -ref "$REF_IMPL" -secret "pass:$SEC_IMPL" \
    -recipient "$RA" "${TRUST[@]}" -newkey "$W/k3.key" -subject /CN=implicit -implicit_confirm \
    -certout "$W/c3.pem" -rspout "$W/c3.rsp.der"
if grep -q 'sending CERTCONF' "$W/c3.log"; then
    fail "the client sent certConf although implicit confirmation was asked and allowed" "$W/c3.log"
fi
ok "the client sent no certConf"
openssl asn1parse -inform DER -in "$W/c3.rsp.der" -i >"$W/c3.rsp.txt" 2>&1 ||
    fail "the ip does not parse" "$W/c3.rsp.txt"
grep -q ':id-it-implicitConfirm' "$W/c3.rsp.txt" ||
    fail "the ip's generalInfo does not grant implicitConfirm" "$W/c3.rsp.txt"
ok "the ip grants id-it-implicitConfirm in generalInfo"
check_cert c3 "$W/k3.key" "CN = implicit"
S3="$SERIAL"
check_tx "$S3" ir confirmed
wait_for_log 30 " cmp ir profile=implicit .*txid=$TXID -> ip status=0"
if grep -q " cmp certConf .*txid=$TXID " "$DAEMON_LOG"; then
    fail "the daemon logged a certConf for the implicitly confirmed $TXID"
fi
ok "daemon log: 'ir profile=implicit' for $TXID, no certConf for it"

step "3b. ir with -implicit_confirm on the default profile (implicit_confirm = false)"
cli_ok c3b -cmd ir "${DEF[@]}" "${MAC[@]}" "${TRUST[@]}" -newkey "$W/k3b.key" -subject /CN=explicit \
    -implicit_confirm -certout "$W/c3b.pem" -rspout "$W/c3b.ip.der,$W/c3b.pkiconf.der"
grep -q 'sending CERTCONF' "$W/c3b.log" || fail "the client sent no certConf" "$W/c3b.log"
grep -q 'received PKICONF' "$W/c3b.log" || fail "the client received no pkiConf" "$W/c3b.log"
ok "the client sent certConf and received pkiConf"
openssl asn1parse -inform DER -in "$W/c3b.ip.der" -i >"$W/c3b.ip.txt" 2>&1 ||
    fail "the ip does not parse" "$W/c3b.ip.txt"
if grep -q ':id-it-implicitConfirm' "$W/c3b.ip.txt"; then
    fail "the default profile granted implicitConfirm" "$W/c3b.ip.txt"
fi
ok "the ip does not grant implicitConfirm"
check_cert c3b "$W/k3b.key" "CN = explicit"
S3B="$SERIAL"
check_tx "$S3B" ir confirmed
wait_for_log 30 " cmp certConf profile=default .*txid=$TXID -> pkiconf status=0"
ok "daemon log: certConf for $TXID answered with pkiconf"
N="$(log_count ' cmp certConf ')"
[ "$N" -eq $((CC_BEFORE + 1)) ] ||
    fail "certConf lines in the daemon log went from $CC_BEFORE to $N over 3a+3b, want +1"
ok "certConf lines in the daemon log: $CC_BEFORE -> $N (only 3b sent one)"

step "3c. certConf that rejects the certificate (the client distrusts it: -out_trusted foreign CA)"
if cli c3c -cmd ir "${DEF[@]}" "${MAC[@]}" "${TRUST[@]}" -newkey "$W/kr.key" -subject /CN=rejected \
    -out_trusted "$W/fca.pem" -certout "$W/c3c.pem"; then
    fail "openssl cmp accepted a certificate it cannot validate" "$W/c3c.log"
fi
if ! grep -q 'sending CERTCONF' "$W/c3c.log" || ! grep -q 'received PKICONF' "$W/c3c.log"; then
    fail "the client did not send the rejecting certConf or got no pkiConf" "$W/c3c.log"
fi
grep -q 'rejecting newly enrolled cert' "$W/c3c.log" || fail "the client did not reject the certificate" "$W/c3c.log"
ok "the client rejected the certificate in certConf and got pkiConf"
[ ! -s "$W/c3c.pem" ] || fail "the client saved the rejected certificate"
rejected_tx() {
    sql "SELECT count(*) FROM transactions WHERE state = 'revoked_on_reject'"
    [ "$SQL_OUT" = 1 ]
}
until_true 30 rejected_tx || fail "$SQL_OUT transactions in 'revoked_on_reject', want 1" "$(dump_tables)"
sql "SELECT ltrim(lower(cert_serial), '0') || ' ' || req_type FROM transactions WHERE state = 'revoked_on_reject'"
SREJ="${SQL_OUT% *}"
[ "${SQL_OUT#* }" = ir ] || fail "the revoked_on_reject transaction is '${SQL_OUT#* }', want ir"
ok "store: the ir transaction of $SREJ is 'revoked_on_reject'"
cert_status_is "$SREJ" revoked
revocation_is "$SREJ" NULL

# ------------------------------------------------------------------ 4
step "4. cr signature-protected with the step-1 certificate (c1.pem, k1.key)"
cli_ok c4 -cmd cr "${DEF[@]}" -cert "$W/c1.pem" -key "$W/k1.key" -recipient "$RA" "${TRUST[@]}" \
    -newkey "$W/k4.key" -subject /CN=cr-signed -certout "$W/c4.pem"
check_cert c4 "$W/k4.key" "CN = cr-signed"
S4="$SERIAL"
[ "$S4" != "$S1" ] || fail "the signed cr returned the step-1 certificate again"
check_tx "$S4" cr confirmed
sql "SELECT ifnull(auth_ref, 'NULL') FROM transactions WHERE transaction_id = '$TXID'"
ok "store: auth_ref of a signed request: $SQL_OUT"
echo "   the same with -srvcert ra-cert.pem instead of -trusted:"
cli_ok c4s -cmd cr "${DEF[@]}" -cert "$W/c1.pem" -key "$W/k1.key" -srvcert "$GW/ra-cert.pem" \
    -newkey "$W/k4.key" -subject /CN=cr-signed-srvcert -certout "$W/c4s.pem"
check_cert c4s "$W/k4.key" "CN = cr-signed-srvcert"

# ------------------------------------------------------------------ 5
step "5a. kur signed with the step-1 certificate, new key"
cli_ok c5 -cmd kur "${DEF[@]}" -cert "$W/c1.pem" -key "$W/k1.key" "${TRUST[@]}" \
    -newkey "$W/k5.key" -certout "$W/c5.pem"
if ! grep -q 'sending KUR' "$W/c5.log" || ! grep -q 'received KUP' "$W/c5.log"; then
    fail "no KUR/KUP exchange in the client output" "$W/c5.log"
fi
check_cert c5 "$W/k5.key" "CN = cr-mac"
S5="$SERIAL"
[ "$S5" != "$S1" ] || fail "kur returned the old serial"
if same_pubkey "$W/k1.key" "$W/c5.pem"; then fail "the kur'd certificate still has the old key"; fi
ok "new serial $S5 (old $S1), new key, same subject as the old certificate"
check_tx "$S5" kur confirmed

step "5b. kur signed by c4.pem but naming c2.pem as -oldcert"
cli_refused c5b notAuthorized -cmd kur "${DEF[@]}" -cert "$W/c4.pem" -key "$W/k4.key" \
    -oldcert "$W/c2.pem" "${TRUST[@]}" -newkey "$W/kx.key" -certout "$W/c5b.pem"
[ ! -s "$W/c5b.pem" ] || fail "a certificate was written for the refused kur"
cert_status_is "$S2" valid

# ------------------------------------------------------------------ 6
step "6a. rr of the kur'd certificate (c5.pem), signed by itself, reason 1 (keyCompromise)"
cli_ok c6 -cmd rr "${DEF[@]}" -cert "$W/c5.pem" -key "$W/k5.key" -oldcert "$W/c5.pem" \
    -revreason 1 "${TRUST[@]}"
grep -q 'revocation accepted' "$W/c6.log" || fail "no 'revocation accepted' in the client output" "$W/c6.log"
ok "client: $(grep -m1 -o 'revocation accepted.*' "$W/c6.log")"
cert_status_is "$S5" revoked
revocation_is "$S5" 1
check_tx "$S5" rr confirmed
sql "SELECT transaction_id FROM revocations WHERE ltrim(lower(serial), '0') = '$S5'"
[ "$SQL_OUT" = "$TXID" ] || fail "revocations.txid is '$SQL_OUT', want the rr transaction $TXID"
ok "store: revocations.txid is the rr transaction"
cert_status_is "$S1" valid

step "6b. the same rr again"
cli_refused c6b certRevoked -cmd rr "${DEF[@]}" -cert "$W/c5.pem" -key "$W/k5.key" \
    -oldcert "$W/c5.pem" -revreason 1 "${TRUST[@]}"
revocation_is "$S5" 1

step "6c. kur of the revoked certificate"
cli_refused c6c certRevoked -cmd kur "${DEF[@]}" -cert "$W/c5.pem" -key "$W/k5.key" "${TRUST[@]}" \
    -newkey "$W/kx.key" -certout "$W/c6c.pem"
[ ! -s "$W/c6c.pem" ] || fail "a certificate was written for the refused kur"

# A revoked certificate authenticates nothing (RFC 9483 §3.5: the protection
# certificate must be valid): a cr it signs is refused with certRevoked.
step "6d. cr signed by the revoked certificate"
cli_refused c6d certRevoked -cmd cr "${DEF[@]}" -cert "$W/c5.pem" -key "$W/k5.key" \
    -recipient "$RA" "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=by-revoked \
    -certout "$W/c6d.pem"
[ ! -s "$W/c6d.pem" ] || fail "a certificate was written for the refused cr"

# ------------------------------------------------------------------ 7
step "7a. enrol 11 certificates concurrently (MAC ir)"
REASONS=(0 1 2 3 4 5 6 8 9 10)
for i in "${!REASONS[@]}" x; do
    name="r$i"
    newkey "$name"
    openssl cmp -server "127.0.0.1:$PORT" -msg_timeout 60 -cmd ir "${DEF[@]}" "${MAC[@]}" \
        "${TRUST[@]}" -newkey "$W/$name.key" -subject "/CN=revoke-$name" -certout "$W/$name.pem" \
        >"$W/$name.log" 2>&1 &
    BG_PIDS+=("$!")
done
i=0
for pid in "${BG_PIDS[@]}"; do
    name="r$i"
    [ "$i" -lt "${#REASONS[@]}" ] || name=rx
    wait "$pid" || fail "openssl cmp ir ($name) exited non-zero" "$W/$name.log"
    i=$((i + 1))
done
BG_PIDS=()
for i in "${!REASONS[@]}" x; do
    openssl verify -CAfile "$GW/ca-cert.pem" "$W/r$i.pem" >"$W/r$i.verify" 2>&1 ||
        fail "r$i.pem does not verify" "$W/r$i.verify"
    same_pubkey "$W/r$i.key" "$W/r$i.pem" || fail "r$i.pem does not hold r$i.key's public key"
done
ok "11 certificates, each verifies and holds its key"

step "7b. rr with each reason 0..10 except 7 (even: MAC with the enrolling secret, odd: signed by the certificate); 8 revokes nothing"
for i in "${!REASONS[@]}"; do
    reason="${REASONS[$i]}"
    s="$(cert_serial "$W/r$i.pem")" || fail "cannot read the serial of r$i.pem"
    if [ $((i % 2)) -eq 0 ]; then
        prot=(-ref "$REF" -secret "pass:$SEC" -recipient "$RA")
        how=MAC
    else
        prot=(-cert "$W/r$i.pem" -key "$W/r$i.key" -recipient "$RA")
        how=signed
    fi
    echo "   -- reason $reason, $how, serial $s"
    if [ "$reason" = 8 ]; then
        # removeFromCRL releases a certificate on hold; this one is not.
        cli_refused "rr$reason" badCertId -cmd rr "${DEF[@]}" "${prot[@]}" "${TRUST[@]}" \
            -oldcert "$W/r$i.pem" -revreason "$reason"
        cert_status_is "$s" valid
        no_revocation "$s"
        continue
    fi
    cli_ok "rr$reason" -cmd rr "${DEF[@]}" "${prot[@]}" "${TRUST[@]}" -oldcert "$W/r$i.pem" \
        -revreason "$reason"
    grep -q 'revocation accepted' "$W/rr$reason.log" ||
        fail "no 'revocation accepted' for reason $reason" "$W/rr$reason.log"
    cert_status_is "$s" revoked
    revocation_is "$s" "$reason"
done
sql "SELECT group_concat(reason, ',') FROM (SELECT reason FROM revocations WHERE reason IS NOT NULL
      AND transaction_id IN (SELECT transaction_id FROM transactions WHERE req_type = 'rr') ORDER BY reason)"
[ "$SQL_OUT" = "0,1,1,2,3,4,5,6,9,10" ] || fail "stored reasons: $SQL_OUT, want 0,1,1,2,3,4,5,6,9,10"
ok "store: reasons $SQL_OUT (1 twice: step 6 and here)"

SX="$(cert_serial "$W/rx.pem")" || fail "cannot read the serial of rx.pem"
step "7c. reasons 7 (unused in RFC 5280) and 11 (undefined) on rx.pem ($SX)"
# OpenSSL 3.0 refuses -revreason 7 and 11 itself ("invalid revreason. Valid values
# are -1 .. 6, 8 .. 10") before building a request. Check that, then send the
# reasons anyway: build an rr with reason 6 that is never sent (-reqout, with the
# answer read from a missing -rspin file), patch its ENUMERATED to 7 or 11, and
# let openssl send the patched message re-protected under a new transactionID
# (-reqin ... -reqin_new_tid re-computes the MAC).
RR_LINES="$(log_count ' cmp rr ')"
for r in 7 11; do
    if cli "rr$r-refused" -cmd rr "${DEF[@]}" "${MAC[@]}" "${TRUST[@]}" -oldcert "$W/rx.pem" \
        -revreason "$r" -reqout "$W/rr$r-refused.der"; then
        fail "openssl cmp accepted -revreason $r" "$W/rr$r-refused.log"
    fi
    grep -q 'invalid revreason' "$W/rr$r-refused.log" ||
        fail "openssl cmp -revreason $r failed for another reason" "$W/rr$r-refused.log"
    [ ! -e "$W/rr$r-refused.der" ] || fail "openssl cmp built a request with -revreason $r"
    ok "openssl refuses -revreason $r before building a request"
done
# No -server: the client reads the answer from -rspin and never connects.
if openssl cmp -cmd rr "${MAC[@]}" -oldcert "$W/rx.pem" -revreason 6 -reqout "$W/rr6.der" \
    -rspin "$W/no-such-response.der" >"$W/rr6-unsent.log" 2>&1; then
    fail "openssl cmp -rspin of a missing file succeeded" "$W/rr6-unsent.log"
fi
[ -s "$W/rr6.der" ] || fail "openssl cmp -reqout saved no request" "$W/rr6-unsent.log"
openssl asn1parse -inform DER -in "$W/rr6.der" -i >"$W/rr6.txt" 2>&1 ||
    fail "the saved rr does not parse" "$W/rr6.txt"
LINE="$(grep -A1 ':X509v3 CRL Reason Code' "$W/rr6.txt" | tail -n 1)"
printf '%s\n' "$LINE" | grep -q 'OCTET STRING .*:0A0106$' ||
    fail "no CRL reason extension with ENUMERATED 6 in the saved rr" "$W/rr6.txt"
OFF=$(( $(asn1_off "$LINE") + $(asn1_hl "$LINE") + 2 ))
[ "$(od -An -tu1 -j "$OFF" -N 1 "$W/rr6.der" | tr -d ' ')" = 6 ] ||
    fail "octet $OFF of the saved rr is not the reason 6" "$W/rr6.txt"
ok "saved rr: reason 6 at octet $OFF"
[ "$(log_count ' cmp rr ')" = "$RR_LINES" ] || fail "a request reached the daemon while none was sent"
for r in 7 11; do
    patch_octet "$W/rr6.der" "$OFF" "$r" "$W/rr$r.der"
    [ "$(od -An -tu1 -j "$OFF" -N 1 "$W/rr$r.der" | tr -d ' ')" = "$r" ] || fail "could not patch the reason to $r"
    cli_refused "rr$r" badRequest -cmd rr "${DEF[@]}" "${MAC[@]}" "${TRUST[@]}" -oldcert "$W/rx.pem" \
        -revreason 6 -reqin "$W/rr$r.der" -reqin_new_tid
    grep -q "actually sending .*rr$r.der" "$W/rr$r.log" || fail "openssl did not send rr$r.der" "$W/rr$r.log"
done
N="$(log_count ' cmp rr ')"
[ "$N" -eq $((RR_LINES + 2)) ] ||
    fail "rr lines in the daemon log went from $RR_LINES to $N, want +2 (only the patched reasons 7 and 11)"
ok "rr lines in the daemon log: $RR_LINES -> $N: the refused -revreason 7/11 never reached the daemon"
cert_status_is "$SX" valid
no_revocation "$SX"

step "7d. rr MAC-protected with a secret ($REF_OTHER) that did not enrol rx.pem"
cli_refused rr-other notAuthorized -cmd rr "${DEF[@]}" -ref "$REF_OTHER" -secret "pass:$SEC_OTHER" \
    -recipient "$RA" "${TRUST[@]}" -oldcert "$W/rx.pem" -revreason 0
cert_status_is "$SX" valid
no_revocation "$SX"

# ------------------------------------------------------------------ 8
step "8a. cr signed by a self-signed certificate (sent in extraCerts with -extracerts)"
cli_refused c8a signerNotTrusted -cmd cr "${DEF[@]}" -cert "$W/ss.pem" -key "$W/ss.key" \
    -extracerts "$W/ss.pem" -recipient "$RA" "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=ss \
    -certout "$W/c8a.pem"
[ ! -s "$W/c8a.pem" ] || fail "a certificate was written for c8a"

step "8b. cr signed by a self-signed certificate, -cert alone"
# OpenSSL 3.0 leaves a self-signed -cert out of extraCerts (X509_ADD_FLAG_NO_SS),
# so the gateway receives no signer certificate at all: it cannot tell "untrusted"
# from "unverifiable" and may answer badMessageCheck as well as signerNotTrusted.
if openssl cmp -cmd cr -cert "$W/ss.pem" -key "$W/ss.key" -recipient "$RA" -newkey "$W/kx.key" \
    -subject /CN=ss -certout "$W/c8b-unsent.pem" -reqout "$W/c8b.der" -rspin "$W/no-such-response.der" \
    >"$W/c8b-unsent.log" 2>&1; then
    fail "openssl cmp -rspin of a missing file succeeded" "$W/c8b-unsent.log"
fi
[ -s "$W/c8b.der" ] || fail "openssl cmp -reqout saved no request" "$W/c8b-unsent.log"
openssl asn1parse -inform DER -in "$W/c8b.der" -i >"$W/c8b.txt" 2>&1 || fail "the saved cr does not parse" "$W/c8b.txt"
if grep -qE 'd=1 .*cont \[ 1 \]' "$W/c8b.txt"; then
    echo "   (this OpenSSL does put the self-signed certificate in extraCerts)"
else
    ok "the saved request has no extraCerts"
fi
cli_refused c8b "signerNotTrusted|badMessageCheck" -cmd cr "${DEF[@]}" -cert "$W/ss.pem" \
    -key "$W/ss.key" -recipient "$RA" "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=ss \
    -certout "$W/c8b.pem"
ok "refused with $REFUSED_AS"

step "8c. cr signed by a certificate from a foreign CA"
cli_refused c8c signerNotTrusted -cmd cr "${DEF[@]}" -cert "$W/fee.pem" -key "$W/fee.key" \
    -recipient "$RA" "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=foreign -certout "$W/c8c.pem"
[ ! -s "$W/c8c.pem" ] || fail "a certificate was written for c8c"

# ------------------------------------------------------------------ 9
step "9a. raVerified POP (-popo 0) on the default profile (ra_verified = false)"
cli_refused c9a badPOP -cmd ir "${DEF[@]}" "${MAC[@]}" "${TRUST[@]}" -newkey "$W/k9.key" \
    -subject /CN=ra-verified -popo 0 -certout "$W/c9a.pem"
[ ! -s "$W/c9a.pem" ] || fail "a certificate was written for c9a"

step "9b. raVerified POP on /.well-known/cmp/p/raverified (ra_verified = true)"
cli_ok c9b -cmd ir -path .well-known/cmp/p/raverified -ref "$REF_RAV" -secret "pass:$SEC_RAV" \
    -recipient "$RA" "${TRUST[@]}" -newkey "$W/k9b.key" -subject /CN=ra-verified -popo 0 \
    -certout "$W/c9b.pem"
check_cert c9b "$W/k9b.key" "CN = ra-verified"
check_tx "$SERIAL" ir confirmed

# ------------------------------------------------------------------ 10
step "10a. protection = signature: a MAC-protected ir is refused"
cli_refused c10a wrongIntegrity -cmd ir -path .well-known/cmp/p/sigonly -ref "$REF_SIG" \
    -secret "pass:$SEC_SIG" -recipient "$RA" "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=sigonly-mac \
    -certout "$W/c10a.pem"
[ ! -s "$W/c10a.pem" ] || fail "a certificate was written for c10a"

step "10b. protection = signature: a signed cr is accepted"
cli_ok c10b -cmd cr -path .well-known/cmp/p/sigonly -cert "$W/c4.pem" -key "$W/k4.key" \
    -recipient "$RA" "${TRUST[@]}" -newkey "$W/k10a.key" -subject /CN=sigonly-signed -certout "$W/c10b.pem"
check_cert c10b "$W/k10a.key" "CN = sigonly-signed"

step "10c. protection = mac: a signed cr is refused"
cli_refused c10c wrongIntegrity -cmd cr -path .well-known/cmp/p/maconly -cert "$W/c4.pem" \
    -key "$W/k4.key" -recipient "$RA" "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=maconly-signed \
    -certout "$W/c10c.pem"
[ ! -s "$W/c10c.pem" ] || fail "a certificate was written for c10c"

step "10d. protection = mac: a MAC-protected ir is accepted"
cli_ok c10d -cmd ir -path .well-known/cmp/p/maconly -ref "$REF_MAC" -secret "pass:$SEC_MAC" \
    -recipient "$RA" "${TRUST[@]}" -newkey "$W/k10b.key" -subject /CN=maconly-mac -certout "$W/c10d.pem"
check_cert c10d "$W/k10b.key" "CN = maconly-mac"

# ------------------------------------------------------------------ 12
step "12a. operation label: ir on /.well-known/cmp/p/default/initialization"
cli_ok c12a -cmd ir -path .well-known/cmp/p/default/initialization "${MAC[@]}" "${TRUST[@]}" \
    -newkey "$W/k12b.key" -subject /CN=labelled -certout "$W/c12a.pem"
check_cert c12a "$W/k12b.key" "CN = labelled"

step "12b. operation label: a cr on .../initialization is refused"
cli_refused c12b badRequest -cmd cr -path .well-known/cmp/p/default/initialization "${MAC[@]}" \
    "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=mislabelled -certout "$W/c12b.pem"

step "12c. unknown operation label: HTTP 404"
code="$(curl -s -o "$W/c12c.body" -w '%{http_code}' -X POST -H 'Content-Type: application/pkixcmp' \
    --data-binary @"$W/k2.csr" "http://127.0.0.1:$PORT/.well-known/cmp/p/default/bogus")"
[ "$code" = 404 ] || fail "want 404 for an unknown operation label, got $code" "$W/c12c.body"
grep -q 'initialization' "$W/c12c.body" || fail "the 404 body does not list the labels" "$W/c12c.body"
ok "404, the body lists the valid paths and labels"

step "12d. p10cr with the profile's challenge in challengePassword, on the alias /pkix/"
cli_ok c12d -cmd p10cr -path pkix/ -ref "$REF_CH" -secret "pass:$SEC_CH" -recipient "$RA" \
    "${TRUST[@]}" -csr "$W/ch.csr" -certout "$W/c12d.pem"
check_cert c12d "$W/k12a.key" "CN = challenged"

step "12e. p10cr without the challenge (on the second alias) is refused"
cli_refused c12e badRequest -cmd p10cr -path legacy/cmp -ref "$REF_CH" -secret "pass:$SEC_CH" \
    -recipient "$RA" "${TRUST[@]}" -csr "$W/k2.csr" -certout "$W/c12e.pem"
grep -q 'challenge is missing' "$W/c12e.log" || fail "the statusString does not say why" "$W/c12e.log"
ok "statusString: the challenge is missing"

# ------------------------------------------------------------------ 14
# The daemon reads secrets from the store on every request: an operator's change
# (here with sqlite3, until the CLI has secret revoke / TTLs) applies at once.
step "14a. an expired secret is refused like a wrong one"
sqlite3 "$GW/cmpgw.db" "UPDATE secrets SET expires_at = '2000-01-01T00:00:00Z' WHERE reference = '$REF_EXP'" ||
    fail "cannot expire the secret"
cli_refused c14a badMessageCheck -cmd ir "${DEF[@]}" -ref "$REF_EXP" -secret "pass:$SEC_EXP" \
    -recipient "$RA" "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=expired -certout "$W/c14a.pem"

step "14b. a revoked secret is refused like a wrong one"
sqlite3 "$GW/cmpgw.db" "UPDATE secrets SET revoked_at = '2026-01-01T00:00:00Z' WHERE reference = '$REF_WD'" ||
    fail "cannot revoke the secret"
cli_refused c14b badMessageCheck -cmd ir "${DEF[@]}" -ref "$REF_WD" -secret "pass:$SEC_WD" \
    -recipient "$RA" "${TRUST[@]}" -newkey "$W/kx.key" -subject /CN=withdrawn -certout "$W/c14b.pem"

# ------------------------------------------------------------------ 13
# OpenSSL 3.0 sends genm for these infoTypes (with absent values); crlStatusList
# needs a newer client (cmpgw client covers it in test_client_http.sh).
for it in caCerts signKeyPairTypes rootCaKeyUpdate certReqTemplate; do
    step "13. genm $it"
    cli_ok "g-$it" -cmd genm -infotype "$it" "${DEF[@]}" "${MAC[@]}" "${TRUST[@]}"
    grep -q "genp contains ITAV of type: id-it-$it" "$W/g-$it.log" ||
        fail "the genp does not carry id-it-$it" "$W/g-$it.log"
    ok "genp carries id-it-$it"
done

# ------------------------------------------------------------------ 11
sql "SELECT count(*) FROM certificates"
CERTS="$SQL_OUT"
step "11. SIGTERM"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS after SIGTERM"
ok "the daemon exited with status 0"
SQL_OUT="$(sqlite3 "$DB" 'PRAGMA integrity_check' 2>&1)" || true
[ "$SQL_OUT" = ok ] || fail "PRAGMA integrity_check: $SQL_OUT"
ok "PRAGMA integrity_check: ok"
SQL_OUT="$(sqlite3 "$DB" 'PRAGMA foreign_key_check' 2>&1)" || true
[ -z "$SQL_OUT" ] || fail "PRAGMA foreign_key_check: $SQL_OUT"
ok "PRAGMA foreign_key_check: no violations"
sql "SELECT count(*) FROM certificates"
[ "$SQL_OUT" = "$CERTS" ] || fail "certificates went from $CERTS to $SQL_OUT rows across the stop"
sql "SELECT count(*) FROM transactions WHERE state IN ('received', 'issued')"
[ "$SQL_OUT" = 0 ] || fail "$SQL_OUT transactions left in 'received' or 'issued'" "$(dump_tables)"
ok "$CERTS certificates kept; no transaction left in 'received' or 'issued'"

echo
echo "PASS: test_operations_http"
