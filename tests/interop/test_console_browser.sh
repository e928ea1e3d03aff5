#!/usr/bin/env bash
# test_console_browser.sh - the web console in a real browser: Debian's
# chromium, headless, driven by python3-selenium (console_browser.py): log
# in, the dashboard, an approval while `openssl cmp` polls, a new secret
# with its QR code, a search and a
# revocation that the next CRL lists, a markup subject shown as text,
# logout, and a viewer whose approval the server refuses.  Screenshots of
# each page go to console-screenshots/ beside the cmpgw binary (the build
# directory).  Skips, saying so, where chromium, chromedriver or
# python3-selenium is missing.
# Usage: bash tests/interop/test_console_browser.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl sqlite3
[ -x /usr/bin/chromium ] || skip "no chromium (Debian's chromium package)"
[ -x /usr/bin/chromedriver ] || skip "no chromedriver (Debian's chromium-driver package)"
/usr/bin/python3 -c 'import selenium' 2>/dev/null || skip "no python3-selenium"
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
SHOTS="$(cd "$(dirname "$CMPGW")" && pwd)/console-screenshots"
mkdir -p "$W"
rm -rf "$SHOTS"

step "a deployment with the console; alice (operator) and bob (viewer)"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --console 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
printf '\n[profile manual]\napproval = manual\ncheck_after = 1\n' >>"$GW/cmpgw.conf"
printf 'alice-pass-1\n' >"$W/alice.pw"
printf 'bob-pass-22\n' >"$W/bob.pw"
"$CMPGW" operator add -c "$GW/cmpgw.conf" alice --role operator --password-file "$W/alice.pw" \
    >"$W/op.out" 2>&1 || fail "operator add alice" "$W/op.out"
"$CMPGW" operator add -c "$GW/cmpgw.conf" bob --role viewer --password-file "$W/bob.pw" \
    >"$W/op.out" 2>&1 || fail "operator add bob" "$W/op.out"
daemon_start "$GW/cmpgw.conf"
wait_for_log 30 'listening console 127\.0\.0\.1:[0-9]+'
CPORT="$(grep -oE 'listening console 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
HPORT="$(grep -oE 'listening http 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"
ok "console on $CPORT"

step "the browser"
set +e
/usr/bin/python3 "$HERE/console_browser.py" "http://127.0.0.1:$CPORT" "$HPORT" "$GW" "$W" \
    "$SHOTS" "$CMPGW" "$RA" >"$W/browser.out" 2>&1
rc=$?
set -e
cat "$W/browser.out"
[ "$rc" != 77 ] || skip "$(grep '^SKIP' "$W/browser.out" | head -n 1)"
[ "$rc" = 0 ] || fail "the browser test failed" "$W/browser.out"
TID="$(sed -n 's/^TXID_VIEWER=//p' "$W/browser.out")"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT state FROM transactions WHERE transaction_id = '$TID'")" = pending_approval ] ||
    fail "the viewer's refused approval changed transaction $TID"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM events WHERE kind = 'console.approved' AND detail LIKE 'operator=alice %'")" = 1 ] ||
    fail "the approval is not in the audit log under alice's name"
N="$(find "$SHOTS" -name '*.png' | wc -l)"
[ "$N" = 12 ] || fail "$N screenshots, not 12, in $SHOTS"
ok "the viewer's transaction still waits; alice's approval is in the audit log; $N screenshots in $SHOTS"

daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with $DAEMON_STATUS"
echo "PASS"
