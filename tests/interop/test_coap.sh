#!/usr/bin/env bash
# test_coap.sh - CMP over CoAP (RFC 9482) against `cmpgw serve` with
# `[server] coap`: requests made by `openssl cmp -reqout` are sent with
# libcoap's coap-client and the answers read back with `openssl cmp -rspin`:
# an ir whose answer is larger than a datagram (Block2, the request
# non-confirmable: Debian's libcoap 4.3.1 client cannot follow Block2 in a
# separate response to a confirmable request, a client bug fixed upstream in
# 2025), its certConf (confirmable), the same ir sent in 64-octet Block1
# pieces, a genm and an rr; a confirmable request retransmitted three times
# runs once; the CoAP errors RFC 9482 names (4.05, 4.15, 4.04) and a garbage
# body answered with a CMP error; `cmpgw client --url coap://`, also polling a
# request that waits for approval; garbage datagrams and Block1 transfers
# never completed (4.08, no exchange); a flood from one address refused beyond
# [server] coap_rate with 5.03 and Max-Age.
# Usage: bash tests/interop/test_coap.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl python3 sqlite3 curl
COAP_CLIENT=""
for c in coap-client coap-client-notls coap-client-openssl coap-client-gnutls; do
    command -v "$c" >/dev/null 2>&1 && { COAP_CLIENT="$c"; break; }
done
[ -n "$COAP_CLIENT" ] || skip "no coap-client (Debian's libcoap3-bin)"
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init --coap, serve"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --coap 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
grep -q '^coap = 127.0.0.1:0$' "$GW/cmpgw.conf" || fail "init did not write [server] coap"
# 64 KiB for the requests being received: step 7 fills it with 1 KiB pieces.
sed -i 's/^#*max_buffered = .*/max_buffered = 65536/' "$GW/cmpgw.conf"
grep -q '^max_buffered = 65536$' "$GW/cmpgw.conf" || fail "no max_buffered line to set"
daemon_start "$GW/cmpgw.conf"
wait_for_log 30 'listening coap 127\.0\.0\.1:[0-9]+'
CPORT="$(grep -oE 'listening coap 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
URL="coap://127.0.0.1:$CPORT/.well-known/cmp"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null
ok "coap on $CPORT"

# request NAME ARGS...: openssl cmp writes the request it would send to
# NAME.req (the server it names does not exist: it is not sent).
request() {
    local name="$1"
    shift
    openssl cmp -server 127.0.0.1:1 -recipient "$RA" -msg_timeout 1 -reqout "$W/$name.req" \
        "$@" >"$W/$name.gen.log" 2>&1 || true
    [ -s "$W/$name.req" ] || fail "openssl cmp wrote no $name request" "$W/$name.gen.log"
}
# post NAME [COAP-CLIENT OPTIONS...]: NAME.req over CoAP, the answer to NAME.rsp.
post() {
    local name="$1"
    shift
    rm -f "$W/$name.rsp"
    timeout 60 "$COAP_CLIENT" -B 30 "$@" -m post -t 259 -f "$W/$name.req" -o "$W/$name.rsp" \
        "$URL" >"$W/$name.coap.log" 2>&1 || fail "coap-client failed ($name)" "$W/$name.coap.log"
    [ -s "$W/$name.rsp" ] || fail "no answer to the $name" "$W/$name.coap.log"
}

step "1. ir (answer in Block2 pieces) and its certConf over CoAP; openssl cmp reads the answers"
new_secret "$GW/cmpgw.conf"
request ir -cmd ir -ref "$REF" -secret "pass:$SECRET" -newkey "$W/dev.key" -subject /CN=coap1 \
    -certout "$W/unused.pem"
post ir -N
[ "$(stat -c %s "$W/ir.rsp")" -gt 1024 ] || fail "the ip fit one block: Block2 not exercised"
mkfifo "$W/pkiconf.fifo"
(
    set +e
    openssl cmp -server 127.0.0.1:1 -recipient "$RA" -cmd ir -ref "$REF" -secret "pass:$SECRET" \
        -newkey "$W/dev.key" -subject /CN=coap1 -certout "$W/coap1.pem" -trusted "$GW/ca-cert.pem" \
        -reqin "$W/ir.req" -reqout "$W/ir-again.req,$W/certconf.req" \
        -rspin "$W/ir.rsp,$W/pkiconf.fifo" >"$W/ir.read.log" 2>&1
    echo $? >"$W/ir.read.rc"
) &
CLIENT_PID=$!
until_true 30 test -s "$W/certconf.req" || fail "openssl cmp wrote no certConf" "$W/ir.read.log"
post certconf
cat "$W/certconf.rsp" >"$W/pkiconf.fifo"
until_true 30 test -s "$W/ir.read.rc" || fail "openssl cmp did not finish" "$W/ir.read.log"
wait "$CLIENT_PID" 2>/dev/null || true
CLIENT_PID=""
[ "$(cat "$W/ir.read.rc")" = 0 ] || fail "openssl cmp refused the answers" "$W/ir.read.log"
grep -q "received PKICONF" "$W/ir.read.log" || fail "no pkiconf read" "$W/ir.read.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/coap1.pem" >/dev/null || fail "the certificate does not verify"
TXID="$(sqlite3 "$GW/cmpgw.db" "SELECT transaction_id FROM transactions WHERE auth_ref = '$REF'")"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT state FROM transactions WHERE transaction_id = '$TXID'")" = confirmed ] ||
    fail "the transaction is not confirmed"
[ "$(log_count "cmp (ir|certConf) .*txid=$TXID .* transport=coap")" -eq 2 ] ||
    fail "the ir and certConf were not logged as coap"
ok "ir ($(stat -c %s "$W/ir.rsp") octets back, Block2) and certConf; confirmed; openssl cmp accepted both"

step "2. the request in 64-octet Block1 pieces, a genm, an rr"
new_secret "$GW/cmpgw.conf"
request ir2 -cmd ir -ref "$REF" -secret "pass:$SECRET" -newkey "$W/dev.key" -subject /CN=coap2 \
    -certout "$W/unused.pem"
post ir2 -N -b 64
openssl cmp -server 127.0.0.1:1 -recipient "$RA" -cmd ir -ref "$REF" -secret "pass:$SECRET" \
    -newkey "$W/dev.key" -subject /CN=coap2 -certout "$W/coap2.pem" -trusted "$GW/ca-cert.pem" \
    -reqin "$W/ir2.req" -rspin "$W/ir2.rsp" -disable_confirm >"$W/ir2.read.log" 2>&1 ||
    fail "the answer to the Block1 request was refused" "$W/ir2.read.log"
request genm -cmd genm -ref "$REF" -secret "pass:$SECRET"
post genm -N
openssl cmp -server 127.0.0.1:1 -recipient "$RA" -cmd genm -ref "$REF" -secret "pass:$SECRET" \
    -trusted "$GW/ca-cert.pem" -reqin "$W/genm.req" -rspin "$W/genm.rsp" >"$W/genm.read.log" 2>&1 ||
    fail "the genp was refused" "$W/genm.read.log"
grep -q "received GENP" "$W/genm.read.log" || fail "no genp read" "$W/genm.read.log"
request rr -cmd rr -ref "$REF" -secret "pass:$SECRET" -oldcert "$W/coap2.pem" -revreason 4
post rr -N
openssl cmp -server 127.0.0.1:1 -recipient "$RA" -cmd rr -ref "$REF" -secret "pass:$SECRET" \
    -oldcert "$W/coap2.pem" -revreason 4 -trusted "$GW/ca-cert.pem" \
    -reqin "$W/rr.req" -rspin "$W/rr.rsp" >"$W/rr.read.log" 2>&1 || fail "the rp was refused" "$W/rr.read.log"
S="$(cert_serial "$W/coap2.pem")"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT status FROM certificates WHERE serial = '$S'")" = revoked ] ||
    fail "the certificate was not revoked"
ok "Block1 request answered; genp and rp accepted; the certificate revoked"

step "3. a confirmable request retransmitted three times runs once"
new_secret "$GW/cmpgw.conf"
request ir3 -cmd ir -ref "$REF" -secret "pass:$SECRET" -newkey "$W/dev.key" -subject /CN=coap3 \
    -certout "$W/unused.pem"
python3 "$HERE/coap_raw.py" "$CPORT" "$W/ir3.req" 3 >"$W/raw.out" 2>&1 || fail "no answer" "$W/raw.out"
[ "$(grep -c '^answer 2.04 type=NON cf=259' "$W/raw.out")" = 1 ] ||
    fail "not one 2.04 answer, non-confirmable (to a peer not verified)" "$W/raw.out"
! grep -q '^challenge' "$W/raw.out" || fail "a request of an ir's size was challenged" "$W/raw.out"
wait_log_count 30 "cmp ir .*ref=$REF .* transport=coap" 1
[ "$(log_count "ref=$REF")" = 1 ] || fail "the retransmissions ran $(log_count "ref=$REF") exchanges"
ok "three copies, one exchange, one answer (non-confirmable: the peer never showed its address)"

step "3b. no amplification: a small request from a new peer gets an Echo first (RFC 9175)"
BEFORE="$(log_count 'transport=coap')"
head -c 60 /dev/urandom >"$W/small.req"
python3 "$HERE/coap_raw.py" "$CPORT" "$W/small.req" 1 >"$W/echo.out" 2>&1 || fail "no answer" "$W/echo.out"
read -r CSIZE CREQ <<<"$(sed -n 's/^challenge 4.01 echo=[0-9]* size=\([0-9]*\) request=\([0-9]*\)$/\1 \2/p' "$W/echo.out")"
[ -n "$CSIZE" ] || fail "no 4.01 with an Echo for a 60-octet request" "$W/echo.out"
[ "$CSIZE" -lt "$CREQ" ] || fail "the challenge ($CSIZE octets) is larger than the request ($CREQ)"
grep -qE '^answer 2.04 type=CON cf=259 .*size=[0-9]{3,}' "$W/echo.out" ||
    fail "the request repeated with its Echo was not answered (confirmable, verified)" "$W/echo.out"
wait_log_count 30 'transport=coap' $(( BEFORE + 1 ))
[ "$(( $(log_count 'transport=coap') - BEFORE ))" = 1 ] || fail "not one exchange for the challenged request"
ok "$(head -n 1 "$W/echo.out"); then $(sed -n 2p "$W/echo.out" | cut -d' ' -f1-3): one exchange"

step "4. what is not CMP over CoAP"
printf 'x' >"$W/x.req"
expect_code() { # NAME CODE COAP-CLIENT-ARGS...
    local name="$1" code="$2"
    shift 2
    timeout 60 "$COAP_CLIENT" -B 30 "$@" "$URL" >"$W/$name.log" 2>&1 || true
    grep -q "$code" "$W/$name.log" || fail "$name: no $code" "$W/$name.log"
}
expect_code get "4.05" -m get
expect_code format "4.15" -m post -t 0 -f "$W/x.req"
timeout 60 "$COAP_CLIENT" -B 30 -m post -t 259 -f "$W/x.req" \
    "coap://127.0.0.1:$CPORT/.well-known/cmp/p/nosuch" >"$W/path.log" 2>&1 || true
grep -q "4.04" "$W/path.log" || fail "unknown path: no 4.04" "$W/path.log"
head -c 300 /dev/urandom >"$W/garbage.req"
post garbage -N
wait_log_count 30 'cmp \? .*failInfo=5 .*transport=coap' 2  # 3b's and this one
ok "GET 4.05, another format 4.15, an unknown path 4.04; garbage answered with badDataFormat"

step "5. cmpgw client over CoAP: ir + certConf, and a request that waits for approval, polled"
printf '\n[profile manual]\napproval = manual\ncheck_after = 1\n' >>"$GW/cmpgw.conf"
"$CMPGW" reload -c "$GW/cmpgw.conf" >"$W/reload.out" 2>&1 || fail "reload failed" "$W/reload.out"
wait_for_log 30 'reload: .* loaded: 2 profile'
new_secret "$GW/cmpgw.conf"
"$CMPGW" client ir --url "$URL" --ref "$REF" --secret "pass:$SECRET" --trusted "$GW/ca-cert.pem" \
    --subject /CN=client1 --certout "$W/client1.pem" >"$W/client1.log" 2>&1 ||
    fail "cmpgw client over CoAP failed" "$W/client1.log"
grep -q "certificate confirmed" "$W/client1.log" || fail "no confirmation" "$W/client1.log"
new_secret "$GW/cmpgw.conf" --profile manual
(
    set +e
    "$CMPGW" client ir --url "$URL/p/manual" --ref "$REF" --secret "pass:$SECRET" \
        --trusted "$GW/ca-cert.pem" --subject /CN=client2 --certout "$W/client2.pem" \
        >"$W/client2.log" 2>&1
    echo $? >"$W/client2.rc"
) &
CLIENT_PID=$!
wait_log_count 30 "cmp pollReq profile=manual ref=$REF .*transport=coap" 1
TID="$(sqlite3 "$GW/cmpgw.db" "SELECT transaction_id FROM transactions WHERE auth_ref = '$REF'")"
"$CMPGW" approve -c "$GW/cmpgw.conf" "$TID" >"$W/approve.out" 2>&1 || fail "approve failed" "$W/approve.out"
until_true 60 test -s "$W/client2.rc" || fail "the polling client did not finish" "$W/client2.log"
wait "$CLIENT_PID" 2>/dev/null || true
CLIENT_PID=""
[ "$(cat "$W/client2.rc")" = 0 ] || fail "the polling client failed" "$W/client2.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/client2.pem" >/dev/null || fail "not a valid certificate"
ok "cmpgw client enrolled over CoAP, and polled ($(log_count "pollReq profile=manual ref=$REF .*coap") pollReq) to its approved certificate"

step "6. datagrams that are not CoAP, Block1 pieces never completed"
BEFORE="$(log_count 'transport=coap')"
python3 "$HERE/coap_blocks.py" "$CPORT" >"$W/blocks.out" 2>&1 || fail "coap_blocks failed" "$W/blocks.out"
# A first piece is answered 2.31 Continue (libcoap puts the transfer
# together) or 4.08 (it reached the handler incomplete); the piece after a
# gap is 4.08.
[ "$(grep -cE ': (4\.08|2\.31)$' "$W/blocks.out")" = 3 ] &&
    grep -q '^gap piece 2: 4.08$' "$W/blocks.out" || fail "an incomplete piece answered otherwise" "$W/blocks.out"
[ "$(log_count 'transport=coap')" = "$BEFORE" ] || fail "an incomplete request became an exchange"
new_secret "$GW/cmpgw.conf"
"$CMPGW" client genm --infotype caCerts --url "$URL" --ref "$REF" --secret "pass:$SECRET" \
    --trusted "$GW/ca-cert.pem" \
    >"$W/genm-after.log" 2>&1 || fail "no genm after the garbage" "$W/genm-after.log"
ok "200 garbage datagrams ignored; $(tr '\n' ';' <"$W/blocks.out" | sed 's/garbage: 200 sent;//') no exchange; still serving"

step "7. Block1 transfers never finished: held within max_buffered; one announced too large"
BEFORE="$(log_count 'transport=coap')"
python3 "$HERE/coap_transfers.py" "$CPORT" 80 >"$W/transfers.out" 2>&1 ||
    fail "coap_transfers failed" "$W/transfers.out"
read -r _ CONT UNAV OTHER <<<"$(head -n 1 "$W/transfers.out" | tr '=' ' ' | awk '{print $2, $4, $6, $8}')"
[ "$CONT" -ge 1 ] && [ "$CONT" -le 64 ] || fail "$CONT transfers held in 64 KiB of 1 KiB pieces" "$W/transfers.out"
[ "$UNAV" -ge 1 ] && [ "$OTHER" = 0 ] || fail "no 5.03 beyond the budget" "$W/transfers.out"
grep -q '^oversize=4.13 size1=262144$' "$W/transfers.out" ||
    fail "a transfer announced at 100 MB was not refused with 4.13 and Size1" "$W/transfers.out"
APORT="$(grep -oE 'listening admin 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
curl -sf "http://127.0.0.1:$APORT/metrics" >"$W/metrics.txt" || fail "no /metrics"
HELD="$(sed -n 's/^cmpgw_coap_buffered_octets //p' "$W/metrics.txt")"
[ -n "$HELD" ] && [ "$HELD" -le 65536 ] || fail "the transfers hold ${HELD:-?} octets" "$W/metrics.txt"
grep -q '^cmpgw_coap_refused_total{limit="max_buffered"} [1-9]' "$W/metrics.txt" ||
    fail "/metrics counts no transfer refused over max_buffered" "$W/metrics.txt"
"$CMPGW" client genm --infotype caCerts --url "$URL" --ref "$REF" --secret "pass:$SECRET" \
    --trusted "$GW/ca-cert.pem" >"$W/genm-full.log" 2>&1 ||
    fail "a request in one datagram was not served while the budget is spent" "$W/genm-full.log"
[ "$(( $(log_count 'transport=coap') - BEFORE ))" = 1 ] || fail "an unfinished transfer became an exchange"
ok "$(tr '\n' ' ' <"$W/transfers.out"); $HELD octets held; a one-datagram genm still served"

step "8. a flood from one address: 5.03 with Max-Age beyond the rate"
BEFORE="$(log_count 'transport=coap')"
python3 "$HERE/coap_flood.py" "$CPORT" 600 >"$W/flood.out" 2>&1 || fail "the flood failed" "$W/flood.out"
read -r _ _ UNAV MAXAGE LARGEST REQ CHAL <<<"$(tr '=' ' ' <"$W/flood.out" |
    awk '{print $2, $4, $6, $8, $10, $12, $14}')"
[ "$UNAV" -gt 0 ] || fail "no 5.03 with Max-Age for 600 requests at once" "$W/flood.out"
[ "$MAXAGE" -ge 1 ] || fail "a Max-Age of 0" "$W/flood.out"
[ "$CHAL" -gt 0 ] || fail "no Echo challenge for 40-octet requests from a new peer" "$W/flood.out"
[ "$LARGEST" -le "$REQ" ] || fail "an answer ($LARGEST octets) larger than the request ($REQ)" "$W/flood.out"
RAN=$(( $(log_count 'transport=coap') - BEFORE ))
[ "$RAN" -lt 600 ] || fail "all 600 requests of the flood became exchanges"
APORT="$(grep -oE 'listening admin 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
curl -sf "http://127.0.0.1:$APORT/metrics" >"$W/metrics.txt" || fail "no /metrics"
REFUSED="$(sed -n 's/^cmpgw_coap_refused_total{limit="coap_rate"} //p' "$W/metrics.txt")"
[ "${REFUSED:-0}" -gt 0 ] || fail "/metrics counts no refusal over coap_rate" "$W/metrics.txt"
grep -q '^cmpgw_exchanges_total{.*transport="coap"' "$W/metrics.txt" ||
    fail "/metrics has no coap exchanges" "$W/metrics.txt"
ok "$(cat "$W/flood.out"); $RAN became exchanges; /metrics: $REFUSED refused over coap_rate"

daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with $DAEMON_STATUS"
echo "PASS"
