#!/usr/bin/env bash
# test_admin.sh - the admin listener ([server] admin, app/admin.c) of a live
# gateway: /healthz; /readyz, 200, then 503 while another process holds the
# database's write lock, then 200 again; /metrics scraped before and after an
# enrolment (openssl cmp: ir + certConf) and a request with a wrong MAC,
# whose counters moved by what happened; `promtool check metrics` accepts
# the exposition (where Debian's prometheus is installed); other methods,
# paths and a body are refused; the daemon stops cleanly.
# Usage: bash tests/interop/test_admin.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl curl python3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --admin 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
# a small per-address cap, for step 2b
sed -i 's/^max_connections_per_address = .*/max_connections_per_address = 4/' "$GW/cmpgw.conf"
daemon_start "$GW/cmpgw.conf"
wait_for_log 60 'listening admin 127\.0\.0\.1:[0-9]+'
line="$(grep -oE 'listening admin 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1)"
ADMIN="http://127.0.0.1:${line##*:}"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"

# get PATH OUT: curl's status code into CODE, the body into OUT
get() { CODE="$(curl -s -o "$2" -w '%{http_code}' "$ADMIN$1")" || CODE=000; }
# metric FILE SERIES: the value of one series (0 when absent)
metric() { awk -v s="$2" '$1 == s { v = $2 } END { print v == "" ? 0 : v }' "$1"; }

step "1. /healthz and /readyz answer 200 with JSON; other methods, paths and bodies are refused"
get /healthz "$W/health.json"
[ "$CODE" = 200 ] && python3 -m json.tool "$W/health.json" >/dev/null || fail "/healthz: $CODE" "$W/health.json"
get /readyz "$W/ready.json"
[ "$CODE" = 200 ] && grep -q '"ready"' "$W/ready.json" || fail "/readyz: $CODE" "$W/ready.json"
code="$(curl -s -o /dev/null -D "$W/post.hdr" -w '%{http_code}' -X POST "$ADMIN/metrics")"
[ "$code" = 405 ] && grep -qi '^Allow: GET' "$W/post.hdr" || fail "POST /metrics: $code" "$W/post.hdr"
curl -s -I "$ADMIN/healthz" --next -s "$ADMIN/healthz" >"$W/head.out" 2>&1 || fail "HEAD then GET failed" "$W/head.out"
head -n 1 "$W/head.out" | grep -q '^HTTP/1.1 200' && [ "$(grep -c '"status": "ok"' "$W/head.out")" = 1 ] ||
    fail "HEAD /healthz is not 200 without a body, or the GET after it on the connection failed" "$W/head.out"
code="$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN/secrets")"
[ "$code" = 404 ] || fail "GET /secrets: $code"
code="$(curl -s -o /dev/null -w '%{http_code}' -X GET --data-binary x "$ADMIN/metrics")"
[ "$code" = 400 ] || fail "GET with a body: $code"
ok "healthz 200 (HEAD too, no body), readyz 200; POST 405 (Allow: GET), an unknown path 404, a body 400"

step "2. /metrics before and after an enrolment and a wrong MAC: the counters moved"
get /metrics "$W/m0.txt"
[ "$CODE" = 200 ] || fail "/metrics: $CODE" "$W/m0.txt"
new_secret "$GW/cmpgw.conf"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" \
    -secret "pass:$SECRET" -recipient "$RA" -newkey "$W/dev.key" -subject /CN=metrics-dev \
    -certout "$W/dev.pem" -trusted "$GW/ca-cert.pem" >"$W/ir.log" 2>&1 || fail "ir failed" "$W/ir.log"
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" \
    -secret "pass:wrong$SECRET" -recipient "$RA" -newkey "$W/dev.key" -subject /CN=metrics-dev \
    -certout "$W/no.pem" -trusted "$GW/ca-cert.pem" >"$W/bad.log" 2>&1 &&
    fail "a wrong MAC enrolled" "$W/bad.log"
get /metrics "$W/m1.txt"
[ "$CODE" = 200 ] || fail "/metrics: $CODE" "$W/m1.txt"
ex='cmpgw_exchanges_total{transport="http",profile="default",'
for s in "${ex}request=\"ir\",answer=\"ip\",status=\"accepted\",failinfo=\"\"}" \
    "${ex}request=\"certConf\",answer=\"pkiconf\",status=\"accepted\",failinfo=\"\"}" \
    "${ex}request=\"ir\",answer=\"error\",status=\"rejection\",failinfo=\"badMessageCheck\"}" \
    'cmpgw_exchange_seconds_count{transport="http",request="ir"}' \
    'cmpgw_exchange_seconds_bucket{transport="http",request="ir",le="+Inf"}' \
    'cmpgw_backend_call_seconds_count{backend="local",operation="issue",outcome="ok"}' \
    'cmpgw_failed_checks_total'; do
    before="$(metric "$W/m0.txt" "$s")"
    after="$(metric "$W/m1.txt" "$s")"
    want=1
    case "$s" in 'cmpgw_exchange_seconds_'*) want=2 ;; esac
    [ "$((after - before))" = "$want" ] || fail "$s went from $before to $after, not by $want" "$W/m1.txt"
done
[ "$(metric "$W/m1.txt" cmpgw_store_commit_seconds_count)" -gt "$(metric "$W/m0.txt" cmpgw_store_commit_seconds_count)" ] ||
    fail "no store commit counted" "$W/m1.txt"
left="$(metric "$W/m1.txt" 'cmpgw_certificate_expiry_seconds{certificate="ra"}')"
[ "$left" -gt 86400 ] || fail "the RA certificate's seconds left: $left" "$W/m1.txt"
for g in cmpgw_secrets_locked cmpgw_pending_approvals cmpgw_pending_ca_requests cmpgw_store_queue_depth; do
    grep -qE "^$g [0-9]+$" "$W/m1.txt" || fail "no $g" "$W/m1.txt"
done
grep -q '^# TYPE cmpgw_exchange_seconds histogram$' "$W/m1.txt" || fail "no histogram type" "$W/m1.txt"
if command -v promtool >/dev/null; then
    promtool check metrics <"$W/m1.txt" >"$W/promtool.out" 2>&1 || fail "promtool refuses the metrics" "$W/promtool.out"
    ok "ir/ip, certConf/pkiconf, a badMessageCheck, latency, the backend and a commit counted; promtool accepts"
else
    ok "ir/ip, certConf/pkiconf, a badMessageCheck, latency, the backend and a commit counted (promtool not installed)"
fi

step "2b. connections over max_connections_per_address are counted for their listener"
r0="$(metric "$W/m1.txt" 'cmpgw_connections_refused_total{listener="http",limit="max_connections_per_address"}')"
python3 - "$PORT" <<'EOF2'
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(7)]
# the server closes the ones over the cap: they read EOF
closed = 0
for s in held:
    s.settimeout(30)
    try:
        closed += s.recv(1) == b""
    except socket.timeout:
        pass
    if closed >= 3:
        break
assert closed >= 3, closed
EOF2
get /metrics "$W/m2.txt"
r1="$(metric "$W/m2.txt" 'cmpgw_connections_refused_total{listener="http",limit="max_connections_per_address"}')"
[ "$((r1 - r0))" -ge 3 ] || fail "per-address refusals of http went from $r0 to $r1" "$W/m2.txt"
ok "$((r1 - r0)) refused on http, by max_connections_per_address"

step "3. /readyz: 503 while another process holds the write lock, 200 once it lets go"
python3 - "$GW/cmpgw.db" "$W/locked" "$W/release" <<'EOF' &
import os, sqlite3, sys, time
db, locked, release = sys.argv[1:]
c = sqlite3.connect(db, isolation_level=None, timeout=30)
c.execute("BEGIN IMMEDIATE")
open(locked, "w").close()
deadline = time.time() + 120
while not os.path.exists(release) and time.time() < deadline:
    time.sleep(0.05)
c.execute("ROLLBACK")
EOF
LOCKER=$!
until_true 30 test -e "$W/locked" || fail "the lock holder did not start"
get /readyz "$W/ready2.json"
touch "$W/release"
wait "$LOCKER" || true
[ "$CODE" = 503 ] && grep -q 'store: the database takes no write' "$W/ready2.json" ||
    fail "/readyz while the database is locked: $CODE" "$W/ready2.json"
python3 -m json.tool "$W/ready2.json" >/dev/null || fail "/readyz's 503 is not JSON" "$W/ready2.json"
get /readyz "$W/ready3.json"
[ "$CODE" = 200 ] || fail "/readyz after the lock: $CODE" "$W/ready3.json"
ok "503 naming the store while locked, 200 after"

daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"

step "4. [log] format = json: every line is a JSON object, hostile references included"
sed -i 's/^format = text$/format = json/' "$GW/cmpgw.conf"
grep -q '^format = json$' "$GW/cmpgw.conf" || fail "cannot set [log] format = json"
daemon_start "$GW/cmpgw.conf"
new_secret "$GW/cmpgw.conf"
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" \
    -secret "pass:$SECRET" -recipient "$RA" -newkey "$W/dev.key" -subject /CN=json-dev \
    -certout "$W/json.pem" -trusted "$GW/ca-cert.pem" >"$W/json-ir.log" 2>&1 ||
    fail "ir with JSON logs failed" "$W/json-ir.log"
# printable, with quotes, a backslash and what looks like JSON (the engine
# shows a reference with control octets in hex, test_abuse.sh step 4)
HOSTILE='q"b\s", "level": "error", "x": {"'
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$HOSTILE" -secret pass:x \
    -recipient "$RA" -newkey "$W/dev.key" -subject /CN=json-bad -certout "$W/no.pem" \
    >"$W/json-bad.log" 2>&1 && fail "a wrong secret was served"
wait_for_log 30 '"failinfo": "badMessageCheck"'
daemon_stop TERM 60
python3 - "$DAEMON_LOG" "$REF" <<'EOF2' || fail "the JSON log is not what it should be" "$DAEMON_LOG"
import json, sys
recs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
for r in recs:
    assert set(("ts", "level", "msg")) <= set(r), r
    assert r["level"] in ("debug", "info", "warn", "error"), r
ex = [r for r in recs if r.get("event") == "exchange"]
ok = [r for r in ex if r["ref"] == sys.argv[2] and r["request"] == "ir"]
assert ok and ok[0]["answer"] == "ip" and ok[0]["status"] == 0 and ok[0]["serial"], ok
assert ok[0]["peer"] == "127.0.0.1" and ok[0]["transport"] == "http", ok
assert isinstance(ok[0]["ms"], (int, float)) and ok[0]["failinfo"] == "", ok
bad = [r for r in ex if r["failinfo"] == "badMessageCheck"]
assert bad and bad[0]["ref"] == 'q"b\\s", "level": "error", "x": {"', bad
assert bad[0]["answer"] == "error" and bad[0]["status"] == 2, bad
assert not any(r.get("level") == "error" and r.get("msg") == "" for r in recs)
EOF2
ok "$(wc -l <"$DAEMON_LOG") lines, each JSON; the exchange records carry peer, transport, ref as sent"
echo "PASS test_admin"
