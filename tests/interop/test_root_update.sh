#!/usr/bin/env bash
# test_root_update.sh - a root CA key update the operator announces (RFC 9483
# §4.3.2), against a live gateway: with root_new_with_new, root_new_with_old
# and root_old_with_new set on the profile, a genm rootCaKeyUpdate (cmpgw
# client) is answered with exactly those three certificates; a link that
# does not certify the new root's key keeps the daemon from starting, saying
# why.
# Usage: bash tests/interop/test_root_update.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init; a new root and its links, made with openssl"
"$CMPGW" init "$GW" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init failed" "$W/init.out"
CONF="$GW/cmpgw.conf"
OLD_SUBJECT="$(openssl x509 -in "$GW/ca-cert.pem" -noout -subject -nameopt compat | sed 's/^subject=//')"
printf '[v3]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n' >"$W/v3.cnf"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/new.key" \
    -subj "/O=cmpgw demo/CN=cmpgw demo root 2" -days 3650 -extensions v3 -config "$W/v3.cnf" \
    -out "$W/nwn.pem" >"$W/req.log" 2>&1 || fail "openssl req (new root) failed" "$W/req.log"
openssl x509 -x509toreq -in "$W/nwn.pem" -signkey "$W/new.key" -out "$W/nwo.csr" >"$W/csr.log" 2>&1 ||
    fail "openssl x509 -x509toreq failed" "$W/csr.log"
openssl x509 -req -in "$W/nwo.csr" -CA "$GW/ca-cert.pem" -CAkey "$GW/ca-key.pem" -set_serial 2 \
    -days 3650 -extfile "$W/v3.cnf" -extensions v3 -out "$W/nwo.pem" >"$W/nwo.log" 2>&1 ||
    fail "openssl x509 -req (newWithOld) failed" "$W/nwo.log"
openssl x509 -x509toreq -in "$GW/ca-cert.pem" -signkey "$GW/ca-key.pem" -out "$W/own.csr" \
    >"$W/csr2.log" 2>&1 || fail "openssl x509 -x509toreq (old root) failed" "$W/csr2.log"
openssl x509 -req -in "$W/own.csr" -CA "$W/nwn.pem" -CAkey "$W/new.key" -set_serial 3 \
    -days 3650 -extfile "$W/v3.cnf" -extensions v3 -out "$W/own.pem" >"$W/own.log" 2>&1 ||
    fail "openssl x509 -req (oldWithNew) failed" "$W/own.log"
sed -i "s|^\[profile default\]\$|[profile default]\nroot_new_with_new = $W/nwn.pem\nroot_new_with_old = $W/nwo.pem\nroot_old_with_new = $W/own.pem|" "$CONF"
ok "new root '$(openssl x509 -in "$W/nwn.pem" -noout -subject -nameopt compat | sed 's/^subject=//')', links to and from '$OLD_SUBJECT'"

step "genm rootCaKeyUpdate is answered with the three"
daemon_start "$CONF"
new_secret "$CONF"
"$CMPGW" client genm --url "http://127.0.0.1:$PORT/.well-known/cmp" --ref "$REF" --secret "$SECRET" \
    --infotype rootCaKeyUpdate --trusted "$GW/ca-cert.pem" --genpout "$W/genp.der" \
    >"$W/genm.out" 2>&1 || fail "cmpgw client genm rootCaKeyUpdate failed" "$W/genm.out"
grep -q 'infoType rootCaKeyUpdate (1.3.6.1.5.5.7.4.18): value present' "$W/genm.out" ||
    fail "the genp holds no rootCaKeyUpdate value" "$W/genm.out"
GENP="$(hex_of "$W/genp.der")"
for c in nwn nwo own; do
    openssl x509 -in "$W/$c.pem" -outform DER -out "$W/$c.der"
    case "$GENP" in *"$(hex_of "$W/$c.der")"*) ;; *) fail "the genp lacks $c.pem" "$W/genm.out" ;; esac
done
ok "newWithNew, newWithOld and oldWithNew, octet for octet"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"

step "a newWithOld for another key: the daemon does not start"
sed -i "s|^root_new_with_old = .*|root_new_with_old = $W/own.pem|" "$CONF"
RC=0
timeout 60 "$CMPGW" serve -c "$CONF" >"$W/bad.out" 2>&1 </dev/null || RC=$?
[ "$RC" -ne 0 ] || fail "the daemon started with a link for another key" "$W/bad.out"
grep -q "root_new_with_new: root_new_with_old does not certify the new root's name and key" "$W/bad.out" ||
    fail "the refusal does not say why" "$W/bad.out"
ok "refused at start: root_new_with_old does not certify the new root's name and key"
