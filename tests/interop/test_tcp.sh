#!/usr/bin/env bash
# test_tcp.sh - CMP over raw TCP (RFC 2510 §5.2 and "version 10" framing):
# requests written by `openssl cmp -reqout`, wrapped in each framing and sent
# over a raw socket, get valid answers (the ip certificates verify against
# the CA); hand-made frames (split across writes, two in one write, the close
# flag, oversized, zero length, unknown version and types, unknown polling
# references) get the exact bytes they should; the daemon keeps serving and
# stops cleanly.  The byte-level checks live in tcp_frames.py.
# Usage: bash tests/interop/test_tcp.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl python3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init --tcp, serve"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --tcp 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
grep -q '^tcp = 127.0.0.1:0$' "$GW/cmpgw.conf" || fail "init --tcp did not write the listener"
"$CMPGW" secret new -c "$GW/cmpgw.conf" --json >"$W/secret.json" 2>&1 ||
    fail "cmpgw secret new failed" "$W/secret.json"
REF="$(json_field reference "$W/secret.json")"
SECRET="$(json_field secret "$W/secret.json")"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
daemon_start "$GW/cmpgw.conf"
[ -n "${TCP_PORT:-}" ] || fail "no 'listening tcp' line in the daemon log" "$DAEMON_LOG"
ok "http on $PORT, tcp on $TCP_PORT"

step "requests from openssl cmp -reqout (written before openssl tries a server that is not there)"
# reqout NAME ARGS...: the first request openssl would send, into NAME.der
reqout() {
    local name="$1"
    shift
    openssl cmp -server 127.0.0.1:1 -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
        -reqout "$W/$name.der" "$@" >"$W/$name.log" 2>&1 || true
    [ -s "$W/$name.der" ] || fail "openssl wrote no $name request" "$W/$name.log"
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/a.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/b.key" 2>/dev/null
reqout ir-a -cmd ir -newkey "$W/a.key" -subject /CN=tcp-a -certout "$W/unused-a.pem"
reqout ir-b -cmd ir -newkey "$W/b.key" -subject /CN=tcp-b -certout "$W/unused-b.pem"
reqout genm -cmd genm -infotype signKeyPairTypes
ok "ir-a, ir-b, genm"

step "frames, byte by byte"
python3 "$HERE/tcp_frames.py" "$TCP_PORT" 262144 "$W/ir-a.der" "$W/ir-b.der" "$W/genm.der" "$W" ||
    fail "the byte-level checks failed"
for c in ir-a ir-b; do
    openssl x509 -inform der -in "$W/$c.der" -out "$W/$c.pem" || fail "the $c certificate does not parse"
    openssl verify -CAfile "$GW/ca-cert.pem" "$W/$c.pem" >/dev/null || fail "the $c certificate does not verify"
    openssl x509 -in "$W/$c.pem" -noout -subject | grep -q "CN *= *tcp-${c#ir-}" ||
        fail "the $c certificate has another subject"
done
ok "both certificates (one per framing) verify against the CA, with the subjects asked for"
[ "$(log_count 'cmp ir profile=default .* -> ip status=0')" -ge 2 ] || fail "the daemon did not log both ir"

step "SIGTERM"
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with status $DAEMON_STATUS"
ok "stopped cleanly after the malformed frames"
echo
echo "PASS: test_tcp"
