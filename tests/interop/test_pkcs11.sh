#!/usr/bin/env bash
# test_pkcs11.sh - keys in a PKCS#11 token (core/token.c) with a real
# SoftHSM2 token made in a temporary directory (SOFTHSM2_CONF):
# `cmpgw init --pkcs11 --https` makes the CA, RA and TLS keys in the token
# (no key file is written), and the daemon uses all three: openssl cmp
# -tls_used enrols with a MAC (the handshake signed by the TLS key, the
# certificate by the CA key: openssl verify accepts it) and renews with a
# signature (the kup signed by the RA key: openssl cmp -srvcert accepts it).
# A wrong PIN, a missing object, a key that is not the certificate's stop
# the start with the reason; a key deleted from the token at run time gives
# systemFailure, logged, and the daemon goes on serving and stops cleanly.
# Usage: bash tests/interop/test_pkcs11.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl softhsm2-util pkcs11-tool
MODULE=/usr/lib/softhsm/libsofthsm2.so
[ -r "$MODULE" ] || skip "$MODULE not found (Debian package softhsm2)"
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W" "$IT_TMP/tokens"
export SOFTHSM2_CONF="$IT_TMP/softhsm2.conf"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$IT_TMP/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label cmpgw-it --pin 2468 --so-pin 1357 >"$W/softhsm.out" 2>&1 ||
    fail "softhsm2-util cannot make a token" "$W/softhsm.out"
printf '2468\n' >"$IT_TMP/pin"
chmod 600 "$IT_TMP/pin"
p11() { pkcs11-tool --module "$MODULE" --token-label cmpgw-it --login --pin 2468 "$@"; }

step "1. cmpgw init --pkcs11: the demo keys are made in the token, none in a file"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --https 127.0.0.1:0 \
    --pkcs11 "pkcs11:token=cmpgw-it?module-path=$MODULE&pin-source=$IT_TMP/pin" >"$W/init.out" 2>&1 ||
    fail "cmpgw init --pkcs11 failed" "$W/init.out"
for f in ca-key.pem ra.p12 ra.pass tls-key.pem; do
    [ ! -e "$GW/$f" ] || fail "init wrote $f although the keys are in the token"
done
p11 --list-objects --type privkey >"$W/objects.out" 2>&1 || fail "pkcs11-tool cannot list" "$W/objects.out"
for o in cmpgw-ca cmpgw-ra cmpgw-tls; do
    grep -q "label: *$o" "$W/objects.out" || fail "the token holds no private key $o" "$W/objects.out"
done
grep -q "Access: *sensitive, always sensitive, never extractable" "$W/objects.out" ||
    fail "the token's keys may be extracted" "$W/objects.out"
grep -q "^key = pkcs11:token=cmpgw-it;object=cmpgw-ca$" "$GW/cmpgw.conf" ||
    fail "the CA key is not named by its URI" "$GW/cmpgw.conf"
ok "cmpgw-ca, cmpgw-ra, cmpgw-tls in the token, sensitive; the configuration names them"
RC=0
"$CMPGW" init "$IT_TMP/gw2" --pkcs11 "pkcs11:token=cmpgw-it?module-path=$MODULE&pin-source=$IT_TMP/pin" \
    >"$W/init2.out" 2>&1 || RC=$?
[ "$RC" != 0 ] && grep -q "already" "$W/init2.out" ||
    fail "a second init replaced the token's keys (exit $RC)" "$W/init2.out"
[ ! -e "$IT_TMP/gw2" ] || fail "a failed init left its directory"
ok "a second init on the same token refuses, and leaves nothing"

step "2. what stops the start: a wrong PIN, a missing key, a key that is not the certificate's"
refused() { # NAME SED-EXPRESSION EXPECTED-TEXT
    sed "$2" "$GW/cmpgw.conf" >"$GW/$1.conf"
    RC=0
    timeout 60 "$CMPGW" serve -c "$GW/$1.conf" >"$W/$1.out" 2>&1 </dev/null || RC=$?
    [ "$RC" = 1 ] && grep -q "$3" "$W/$1.out" || fail "$1: exit $RC, expected 1 and '$3'" "$W/$1.out"
}
printf '1111\n' >"$IT_TMP/badpin"
chmod 600 "$IT_TMP/badpin"
refused wrong-pin "s|^pin_file = .*|pin_file = $IT_TMP/badpin|" "a wrong PIN"
refused no-object "s|object=cmpgw-ra|object=cmpgw-none|" "holds no private key"
refused not-its-key "s|^key = pkcs11:token=cmpgw-it;object=cmpgw-ra|key = pkcs11:token=cmpgw-it;object=cmpgw-tls|" \
    "not the certificate's"
refused no-token "s|token=cmpgw-it;object=cmpgw-tls|token=cmpgw-none;object=cmpgw-tls|" "no token labelled"
ok "each refused with its reason"
step "3. over HTTPS: MAC ir (TLS and CA keys in the token), signed kur (RA key in the token)"
daemon_start "$GW/cmpgw.conf"
wait_https
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
new_secret "$GW/cmpgw.conf"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null
openssl cmp -cmd ir -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$GW/ca-cert.pem" -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
    -newkey "$W/dev.key" -subject /CN=hsm-dev -certout "$W/dev.pem" -trusted "$GW/ca-cert.pem" \
    >"$W/ir.log" 2>&1 || fail "ir over HTTPS failed" "$W/ir.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/dev.pem" >"$W/verify.out" 2>&1 ||
    fail "the certificate signed in the token does not verify" "$W/verify.out"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev2.key" 2>/dev/null
openssl cmp -cmd kur -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$GW/ca-cert.pem" -cert "$W/dev.pem" -key "$W/dev.key" -newkey "$W/dev2.key" \
    -certout "$W/dev2.pem" -srvcert "$GW/ra-cert.pem" -trusted "$GW/ca-cert.pem" \
    >"$W/kur.log" 2>&1 || fail "a signed kur failed" "$W/kur.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/dev2.pem" >/dev/null || fail "the renewed certificate does not verify"
echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$GW/ca-cert.pem" -tls1_3 \
    >"$W/s13.out" 2>&1 || true
grep -q "Verify return code: 0 (ok)" "$W/s13.out" || fail "TLS 1.3 with the token's key failed" "$W/s13.out"
echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$GW/ca-cert.pem" -tls1_2 \
    >"$W/s12.out" 2>&1 || true
grep -q "Verify return code: 0 (ok)" "$W/s12.out" || fail "TLS 1.2 with the token's key failed" "$W/s12.out"
ok "enrolled and renewed; openssl accepts what the three keys in the token signed"

step "4. the token fails at run time: systemFailure, logged, the daemon goes on"
p11 --delete-object --type privkey --label cmpgw-ca >"$W/delete.out" 2>&1 ||
    fail "pkcs11-tool cannot delete the CA key" "$W/delete.out"
new_secret "$GW/cmpgw.conf"
RC=0
openssl cmp -cmd ir -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$GW/ca-cert.pem" -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
    -newkey "$W/dev.key" -subject /CN=hsm-dev2 -certout "$W/no.pem" -trusted "$GW/ca-cert.pem" \
    >"$W/ir-fail.log" 2>&1 || RC=$?
[ "$RC" != 0 ] && grep -q "systemFailure" "$W/ir-fail.log" ||
    fail "a CA key gone from the token did not give systemFailure (exit $RC)" "$W/ir-fail.log"
wait_for_log 30 'ERROR pkcs11: token cmpgw-it .* operation failed'
openssl cmp -cmd genm -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$GW/ca-cert.pem" -cert "$W/dev2.pem" -key "$W/dev2.key" -srvcert "$GW/ra-cert.pem" \
    -trusted "$GW/ca-cert.pem" >"$W/genm.log" 2>&1 || fail "the daemon stopped serving" "$W/genm.log"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
ok "systemFailure, an ERROR line naming the token; a signed genm still answered; a clean stop"

echo "PASS test_pkcs11"
