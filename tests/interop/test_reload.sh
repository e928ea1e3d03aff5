#!/usr/bin/env bash
# test_reload.sh - SIGHUP and `cmpgw reload -c CONF` on a live gateway
# (gw_reload(), docs/operations.md "Reloading"): a profile added, and one
# changed, are served from the next request on; an exchange in flight
# finishes under the configuration it began with; a file that does not load
# changes nothing; a TLS certificate replaced on disk is the next
# handshake's; a setting that needs a restart is named; [log] format
# changes at once; the daemon stops cleanly.
# Usage: bash tests/interop/test_reload.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl python3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
CONF="$GW/cmpgw.conf"
mkdir -p "$W"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --https 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
daemon_start "$CONF"
wait_https
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null

# enrol NAME PATH PROFILE: a MAC ir at PATH with a new secret of PROFILE (or,
# with PROFILE -, the last one made); the certificate in $W/NAME.pem
enrol() {
    [ "$3" = - ] || new_secret "$CONF" --profile "$3"
    openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path "$2" -ref "$REF" -secret "pass:$SECRET" \
        -recipient "$RA" -newkey "$W/dev.key" -subject "/CN=$1" -certout "$W/$1.pem" \
        -trusted "$GW/ca-cert.pem" >"$W/$1.log" 2>&1
}
# days NAME: the certificate's validity in whole days
days() {
    python3 - "$W/$1.pem" <<'PY'
import subprocess, sys, datetime
def d(opt):
    out = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", opt], capture_output=True, text=True).stdout
    return datetime.datetime.strptime(out.split("=", 1)[1].strip(), "%b %d %H:%M:%S %Y %Z")
print(round((d("-enddate") - d("-startdate")).total_seconds() / 86400))
PY
}
reloads=0
# reload HOW: SIGHUP or `cmpgw reload`, then wait for its outcome in the log
reload() {
    reloads=$((reloads + 1))
    if [ "$1" = signal ]; then
        kill -HUP "$DAEMON_PID"
    else
        "$CMPGW" reload -c "$CONF" >"$W/reload.out" 2>&1 || fail "cmpgw reload failed" "$W/reload.out"
    fi
    wait_log_count 30 'received SIGHUP: reloading' "$reloads"
    wait_log_count 60 'reload: .* (loaded|does not load)' "$reloads"
}

step "1. a profile changed and one added: the next requests see them"
enrol before .well-known/cmp default || fail "ir failed" "$W/before.log"
[ "$(days before)" -ge 364 ] || fail "validity before: $(days before) days"
sed -i 's/^validity_days = 365$/validity_days = 10/' "$CONF"
printf '\n[profile second]\nvalidity_days = 30\n' >>"$CONF"
reload signal
wait_for_log 30 'reload: .* loaded: 2 profile'
enrol after .well-known/cmp default || fail "ir after the reload failed" "$W/after.log"
enrol second .well-known/cmp/p/second second || fail "ir on the new profile failed" "$W/second.log"
[ "$(days after)" = 10 ] || fail "the changed profile issued for $(days after) days, not 10"
[ "$(days second)" = 30 ] || fail "the new profile issued for $(days second) days, not 30"
ok "default now 10 days, second 30 days"

step "2. a file that does not load changes nothing"
cp "$CONF" "$W/good.conf"
new_secret "$CONF" --profile second
echo "[profile broken" >>"$CONF"
RC=0
"$CMPGW" reload -c "$CONF" >"$W/refused.out" 2>&1 || RC=$?
[ "$RC" = 1 ] && grep -q "does not load; nothing sent" "$W/refused.out" ||
    fail "cmpgw reload sent a file that does not load (exit $RC)" "$W/refused.out"
reload signal
wait_for_log 30 'reload: .* does not load .*the configuration in force stays'
enrol still .well-known/cmp/p/second - || fail "the profile of the last good file is gone" "$W/still.log"
[ "$(days still)" = 30 ] || fail "validity after a refused reload: $(days still)"
cp "$W/good.conf" "$CONF"
# a trust anchor bundle whose second block is not a certificate
{ cat "$GW/ca-cert.pem"; printf -- '-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n' \
    "$(printf 'not a certificate at all' | base64)"; } >"$GW/bad-anchors.pem"
printf '\n[profile anchored]\ntrust_anchors = bad-anchors.pem\n' >>"$CONF"
reload signal
wait_for_log 30 'bad-anchors.pem holds no usable certificate'
daemon_exited && fail "the daemon died of a bad anchor bundle"
cp "$W/good.conf" "$CONF"
enrol still2 .well-known/cmp/p/second second || fail "not serving after a bad anchor bundle" "$W/still2.log"
ok "refused, logged; the last good configuration serves; a bad anchor bundle too"

step "3. the TLS certificate replaced on disk is the next handshake's"
serial_of() { echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$GW/ca-cert.pem" 2>/dev/null |
    openssl x509 -noout -serial; }
old="$(serial_of)"
[ -n "$old" ] || fail "no TLS certificate read"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/tls2.key" \
    -subj /CN=127.0.0.1 -out "$W/tls2.csr" 2>/dev/null
printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' >"$W/ext"
openssl x509 -req -in "$W/tls2.csr" -CA "$GW/ca-cert.pem" -CAkey "$GW/ca-key.pem" -CAcreateserial \
    -days 30 -extfile "$W/ext" -out "$W/tls2.pem" 2>/dev/null
cat "$W/tls2.pem" "$GW/ca-cert.pem" >"$GW/tls-cert.pem"
install -m 0600 "$W/tls2.key" "$GW/tls-key.pem"
reload command
wait_for_log 30 'the TLS certificate and key'
new="$(serial_of)"
[ "$new" = "$(openssl x509 -in "$W/tls2.pem" -noout -serial)" ] && [ "$new" != "$old" ] ||
    fail "the handshake after the reload shows $new (before: $old)"
ok "$old -> $new"

step "4. reloads under load: every transaction in flight across them ends well"
new_secret "$CONF"
"$CMPGW" bench cmp --url "http://127.0.0.1:$PORT/.well-known/cmp" --ref "$REF" --secret "pass:$SECRET" \
    --sessions 8 --count 6000 >"$W/bench.out" 2>&1 &
BENCH=$!
before="$(log_count 'reload: .* loaded: ')"
for i in 1 2 3 4 5 6; do
    sed -i "s/^validity_days = .*/validity_days = $((10 + i))/" "$CONF"
    reload signal
    kill -0 "$BENCH" 2>/dev/null || break
done
wait "$BENCH" || fail "the load failed" "$W/bench.out"
grep -qE '^cmp: .* ok=6000 ' "$W/bench.out" && grep -qE ' failed=0( |$)' "$W/bench.out" ||
    fail "not every transaction ended well across the reloads" "$W/bench.out"
ok "6000 transactions across $(($(log_count 'reload: .* loaded: ') - before)) reloads, none failed"

step "5. a setting that needs a restart is named; [log] format changes at once"
sed -i 's/^max_message = .*/max_message = 131072/; s/^format = text$/format = json/' "$CONF"
reload command
wait_for_log 30 'reload: max_message changed; it takes effect at the next restart'
enrol json .well-known/cmp default || fail "ir with JSON logs failed" "$W/json.log"
wait_for_log 30 '^\{"ts": .*"event": "exchange"'
ok "max_message named; the next records are JSON"

daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
echo "PASS test_reload"
