#!/usr/bin/env bash
# test_console.sh - the web console ([console] listen) over HTTP, as a
# browser and an attacker's page would use it, with curl:
#   1. operators: `cmpgw operator add|list|passwd|remove`; a password never on
#      the command line, one too short refused;
#   2. no session: every page redirects to /login; a wrong password is 401;
#      a login sets a HttpOnly, SameSite=Strict cookie; every answer has the
#      CSP (no script), frame-ancestors 'none', X-Frame-Options, nosniff,
#      Referrer-Policy, no-store;
#   3. a certificate whose subject is <script>alert(1)</script> shows as text;
#      the daemon adds it to the search index, which then finds it;
#   4. forms: without the CSRF token, with another Origin, or cross-site
#      (Sec-Fetch-Site): 403 and nothing written; a viewer may not approve or
#      revoke (403 from the server, whatever the page shows);
#   5. an approval while `openssl cmp` polls: the device gets its certificate,
#      the audit trail names the operator;
#   6. a revocation from the console: the CRL of genm crlStatusList lists it;
#   6b. a secret made in the console: shown once (and as a QR code), never
#      in the list; openssl cmp enrols with it; revoked from the console, it
#      is refused; a viewer may not make one;
#   7. five wrong passwords lock an operator; a session idle too long
#      redirects to /login?expired=1; logout ends the session;
#   8. [console] tls = on: HTTPS only (plain HTTP gets nothing), the cookie
#      __Host-cmpgw_console with Secure, Strict-Transport-Security.
# Usage: bash tests/interop/test_console.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl sqlite3 curl
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "1. cmpgw init --console; operators"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --https 127.0.0.1:0 --console 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init failed" "$W/init.out"
grep -q '^listen = 127.0.0.1:0$' "$GW/cmpgw.conf" || fail "init did not write [console] listen"
printf '\n[profile manual]\napproval = manual\ncheck_after = 1\n' >>"$GW/cmpgw.conf"
printf 'alice-pass-1\n' >"$W/alice.pw"
printf 'bob-pass-22\n' >"$W/bob.pw"
printf 'carol-pass-333\n' >"$W/carol.pw"
"$CMPGW" operator add -c "$GW/cmpgw.conf" alice --role operator --password-file "$W/alice.pw" \
    >"$W/op.out" 2>&1 || fail "operator add alice" "$W/op.out"
"$CMPGW" operator add -c "$GW/cmpgw.conf" bob --role viewer <"$W/bob.pw" >"$W/op.out" 2>&1 ||
    fail "operator add bob (password on standard input)" "$W/op.out"
"$CMPGW" operator add -c "$GW/cmpgw.conf" carol --role admin --password-file "$W/carol.pw" \
    >"$W/op.out" 2>&1 || fail "operator add carol" "$W/op.out"
printf 'short\n' >"$W/short.pw"
if "$CMPGW" operator add -c "$GW/cmpgw.conf" dave --role viewer --password-file "$W/short.pw" \
    >"$W/op.out" 2>&1; then fail "a 5-character password was taken"; fi
if "$CMPGW" operator add -c "$GW/cmpgw.conf" alice --role viewer --password-file "$W/bob.pw" \
    >"$W/op.out" 2>&1; then fail "a second alice was added"; fi
"$CMPGW" operator list -c "$GW/cmpgw.conf" --json >"$W/ops.json" || fail "operator list"
[ "$(grep -o '"name"' "$W/ops.json" | wc -l)" = 3 ] || fail "not three operators" "$W/ops.json"
HASH="$(sqlite3 "$GW/cmpgw.db" "SELECT password_hash FROM operators WHERE name = 'alice'")"
case "$HASH" in pbkdf2-sha256\$600000\$*) ;; *) fail "alice's password is stored as '$HASH'" ;; esac
grep -q 'alice-pass-1' "$GW/cmpgw.db" && fail "a password is in the database file"
ok "alice (operator), bob (viewer), carol (admin); stored as PBKDF2-SHA256, 600,000 iterations"

daemon_start "$GW/cmpgw.conf"
wait_for_log 30 'listening console 127\.0\.0\.1:[0-9]+'
CPORT="$(grep -oE 'listening console 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
HPORT="$(grep -oE 'listening http 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
C="http://127.0.0.1:$CPORT"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"

# get JAR PATH OUT: a GET with the cookies of JAR; OUT gets headers and body.
get() { curl -s -i -b "$1" -c "$1" "$C$2" >"$3"; }
# post JAR PATH OUT FORM [CURL ARGS...]: a form POST as the console's page makes it.
post() {
    local jar="$1" path="$2" out="$3" form="$4"
    shift 4
    curl -s -i -b "$jar" -c "$jar" -H "Origin: $C" -H "Sec-Fetch-Site: same-origin" "$@" \
        --data "$form" "$C$path" >"$out"
}
status_of() { head -n 1 "$1" | awk '{print $2}'; }
header_of() { grep -i "^$2:" "$1" | head -n 1 | sed 's/^[^:]*: *//' | tr -d '\r'; }
csrf_of() { grep -o 'name="csrf" value="[0-9a-f]*"' "$1" | head -n 1 | sed 's/.*value="//; s/"//'; }
login() { # JAR NAME PASSWORD-FILE OUT
    post "$1" /login "$4" "name=$2&password=$(head -n 1 "$3")"
}

step "2. sessions, logins and the headers every answer carries"
get "$W/none.jar" / "$W/r.out"
[ "$(status_of "$W/r.out")" = 303 ] && [ "$(header_of "$W/r.out" Location)" = /login ] ||
    fail "a page without a session did not redirect to /login" "$W/r.out"
printf 'wrong-password\n' >"$W/wrong.pw"
login "$W/a.jar" alice "$W/wrong.pw" "$W/r.out"
[ "$(status_of "$W/r.out")" = 401 ] || fail "a wrong password was not 401" "$W/r.out"
login "$W/a.jar" alice "$W/alice.pw" "$W/r.out"
[ "$(status_of "$W/r.out")" = 303 ] || fail "alice's login failed" "$W/r.out"
COOKIE="$(header_of "$W/r.out" Set-Cookie)"
case "$COOKIE" in cmpgw_console=*"; Path=/; HttpOnly; SameSite=Strict") ;;
    *) fail "the session cookie is '$COOKIE'" ;; esac
get "$W/a.jar" / "$W/dash.out"
[ "$(status_of "$W/dash.out")" = 200 ] && grep -q 'id="activity"' "$W/dash.out" ||
    fail "no dashboard for alice" "$W/dash.out"
CSP="$(header_of "$W/dash.out" Content-Security-Policy)"
case "$CSP" in *"default-src 'none'"*"frame-ancestors 'none'"*) ;; *) fail "CSP: '$CSP'" ;; esac
case "$CSP" in *script-src*|*unsafe-inline*) fail "the CSP allows script: '$CSP'" ;; esac
[ "$(header_of "$W/dash.out" X-Frame-Options)" = DENY ] || fail "no X-Frame-Options: DENY"
[ "$(header_of "$W/dash.out" X-Content-Type-Options)" = nosniff ] || fail "no nosniff"
[ "$(header_of "$W/dash.out" Referrer-Policy)" = same-origin ] || fail "no Referrer-Policy"
[ "$(header_of "$W/dash.out" Cache-Control)" = no-store ] || fail "pages may be cached"
grep -qi '<script' "$W/dash.out" && fail "a page has a script element"
A_CSRF="$(csrf_of "$W/dash.out")"
[ "${#A_CSRF}" = 32 ] || fail "no CSRF token in the page" "$W/dash.out"
login "$W/b.jar" bob "$W/bob.pw" "$W/r.out"
[ "$(status_of "$W/r.out")" = 303 ] || fail "bob's login failed" "$W/r.out"
get "$W/b.jar" /approvals "$W/b-appr.out"
B_CSRF="$(csrf_of "$W/b-appr.out")"
# The configuration in force: the admin's page only.
get "$W/b.jar" /config "$W/r.out"
[ "$(status_of "$W/r.out")" = 403 ] || fail "a viewer saw the configuration" "$W/r.out"
get "$W/a.jar" /config "$W/r.out"
[ "$(status_of "$W/r.out")" = 403 ] || fail "an operator saw the configuration" "$W/r.out"
login "$W/c.jar" carol "$W/carol.pw" "$W/r.out"
get "$W/c.jar" /config "$W/conf.out"
[ "$(status_of "$W/conf.out")" = 200 ] && grep -q 'data-profile="manual"' "$W/conf.out" &&
    grep -q '<td>approval</td><td>manual</td>' "$W/conf.out" &&
    grep -q '<td>session_idle</td><td>900</td>' "$W/conf.out" ||
    fail "the admin's configuration page does not show what is in force" "$W/conf.out"
ok "redirect to /login, 401 for a wrong password, cookie '$COOKIE', CSP '$CSP'"

step "3. a subject that is markup shows as text"
new_secret "$GW/cmpgw.conf"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/x.key" 2>/dev/null
openssl cmp -cmd ir -server "127.0.0.1:$HPORT" -path .well-known/cmp -ref "$REF" \
    -secret "pass:$SECRET" -recipient "$RA" -newkey "$W/x.key" -trusted "$GW/ca-cert.pem" \
    -subject '/CN=<script>alert(1)<\/script>/O=x"y'"'"'z&' -certout "$W/x.pem" \
    >"$W/x.cmp.log" 2>&1 || fail "openssl cmp ir (markup subject)" "$W/x.cmp.log"
XSERIAL="$(sqlite3 "$GW/cmpgw.db" "SELECT serial FROM certificates WHERE subject LIKE '%script%'")"
[ -n "$XSERIAL" ] || fail "the certificate is not stored"
get "$W/a.jar" "/certs?q=script" "$W/x.out"
# RFC 4514 escapes < and > with a backslash; HTML then makes them entities.
grep -q 'CN=\\&lt;script\\&gt;alert(1)\\&lt;/script\\&gt;' "$W/x.out" &&
    grep -q 'O=x\\&quot;y&#39;z&amp;' "$W/x.out" || fail "the subject is not escaped" "$W/x.out"
grep -q '<script' "$W/x.out" && fail "the subject came out as markup" "$W/x.out"
get "$W/a.jar" "/certs/$XSERIAL" "$W/x1.out"
grep -q '&lt;script' "$W/x1.out" && ! grep -q '<script' "$W/x1.out" ||
    fail "the certificate page has the subject as markup" "$W/x1.out"
ok "certificate $XSERIAL: the subject shows as text: $(grep -o 'CN=[^<]*alert[^<]*' "$W/x.out" | head -n 1)"
# The daemon adds new certificates to the search index within seconds
# (docs/store.md, "Searching certificates"); the console then finds it
# through the index, as before it read it one by one.
indexed() {
    [ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM certificates_search WHERE subject LIKE '%alert(1)%'")" = 1 ]
}
until_true 60 indexed || fail "the daemon did not add the certificate to the search index"
get "$W/a.jar" "/certs?q=alert(1)" "$W/x2.out"
grep -q "data-serial=\"$XSERIAL\"" "$W/x2.out" || fail "the search index does not find it" "$W/x2.out"
ok "the daemon indexed it; found through the index"

step "4. forms from elsewhere, without the token, or from a viewer: 403, nothing written"
expect_403() { # WHAT OUT
    [ "$(status_of "$2")" = 403 ] || fail "$1: not refused with 403" "$2"
}
post "$W/a.jar" "/certs/$XSERIAL/revoke" "$W/r.out" "crl_reason=1"
expect_403 "no CSRF token" "$W/r.out"
post "$W/a.jar" "/certs/$XSERIAL/revoke" "$W/r.out" "csrf=00000000000000000000000000000000&crl_reason=1"
expect_403 "a wrong CSRF token" "$W/r.out"
curl -s -i -b "$W/a.jar" -H "Origin: http://evil.example" --data "csrf=$A_CSRF&crl_reason=1" \
    "$C/certs/$XSERIAL/revoke" >"$W/r.out"
expect_403 "another Origin" "$W/r.out"
curl -s -i -b "$W/a.jar" -H "Sec-Fetch-Site: cross-site" --data "csrf=$A_CSRF&crl_reason=1" \
    "$C/certs/$XSERIAL/revoke" >"$W/r.out"
expect_403 "Sec-Fetch-Site: cross-site" "$W/r.out"
post "$W/b.jar" "/certs/$XSERIAL/revoke" "$W/r.out" "csrf=$B_CSRF&crl_reason=1"
expect_403 "a viewer's revocation" "$W/r.out"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT status FROM certificates WHERE serial = '$XSERIAL'")" = valid ] ||
    fail "a refused form changed the certificate"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM revocations")" = 0 ] || fail "a revocation was written"
curl -s -i -H "Host: rebound.example:$CPORT" "$C/login" >"$W/r.out"
expect_403 "a loopback console asked for by another name (DNS rebinding)" "$W/r.out"
curl -s -i -H "Host: localhost:1" "$C/login" >"$W/r.out"
[ "$(status_of "$W/r.out")" = 200 ] || fail "localhost with a tunnel's port was refused" "$W/r.out"
ok "no token, a wrong one, another Origin, cross-site, a viewer, another Host name: 403 each; the certificate is valid"

step "5. approval in the console while openssl cmp polls"
new_secret "$GW/cmpgw.conf" --profile manual
(
    set +e
    openssl cmp -cmd ir -server "127.0.0.1:$HPORT" -path .well-known/cmp/p/manual -ref "$REF" \
        -secret "pass:$SECRET" -recipient "$RA" -newkey "$W/x.key" -trusted "$GW/ca-cert.pem" \
        -subject "/CN=waiting device/O=console test" -sans "dev.example" -certout "$W/wait.pem" \
        -total_timeout 120 >"$W/wait.log" 2>&1
    echo $? >"$W/wait.rc"
) &
CMP_PID=$!
wait_log_count 60 "cmp pollReq profile=manual ref=$REF" 1
TID="$(sqlite3 "$GW/cmpgw.db" "SELECT transaction_id FROM transactions WHERE auth_ref = '$REF'")"
get "$W/a.jar" /approvals "$W/appr.out"
grep -q "data-txid=\"$TID\"" "$W/appr.out" && grep -q 'CN=waiting device' "$W/appr.out" &&
    grep -q 'DNS:dev.example' "$W/appr.out" && grep -q 'EC P-256' "$W/appr.out" ||
    fail "the approvals page does not show the request" "$W/appr.out"
post "$W/b.jar" "/approvals/$TID/approve" "$W/r.out" "csrf=$B_CSRF"
expect_403 "a viewer's approval" "$W/r.out"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT state FROM transactions WHERE transaction_id = '$TID'")" = pending_approval ] ||
    fail "a viewer's approval changed the transaction"
post "$W/a.jar" "/approvals/$TID/approve" "$W/r.out" "csrf=$A_CSRF"
[ "$(status_of "$W/r.out")" = 303 ] || fail "alice's approval failed" "$W/r.out"
until_true 120 test -s "$W/wait.rc" || fail "openssl cmp did not finish" "$W/wait.log"
wait "$CMP_PID" 2>/dev/null || true
[ "$(cat "$W/wait.rc")" = 0 ] || fail "openssl cmp failed after the approval" "$W/wait.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/wait.pem" >/dev/null || fail "not a valid certificate"
get "$W/a.jar" "/tx/$TID" "$W/tx.out"
grep -q 'console.approved' "$W/tx.out" && grep -q 'operator=alice decision=approved' "$W/tx.out" ||
    fail "the audit trail does not name the operator" "$W/tx.out"
ok "transaction $TID approved by alice; openssl cmp got its certificate; the audit trail says who"

step "6. revoke from the console; the next CRL lists it"
post "$W/a.jar" "/certs/$XSERIAL/revoke" "$W/r.out" "csrf=$A_CSRF&crl_reason=1"
[ "$(status_of "$W/r.out")" = 303 ] || fail "the revocation failed" "$W/r.out"
get "$W/a.jar" "/certs/$XSERIAL" "$W/x2.out"
grep -q 'id="status">revoked' "$W/x2.out" && grep -q 'keyCompromise' "$W/x2.out" ||
    fail "the certificate page does not say revoked" "$W/x2.out"
post "$W/a.jar" "/certs/$XSERIAL/revoke" "$W/r.out" "csrf=$A_CSRF&crl_reason=1"
[ "$(status_of "$W/r.out")" = 409 ] || fail "a second revocation was not 409" "$W/r.out"
get "$W/a.jar" "/certs/$XSERIAL.pem" "$W/pem.out"
sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' "$W/pem.out" >"$W/dl.pem"
cmp -s <(openssl x509 -in "$W/dl.pem" -outform DER) <(openssl x509 -in "$W/x.pem" -outform DER) ||
    fail "the PEM download is not the certificate" "$W/pem.out"
new_secret "$GW/cmpgw.conf"
crl_fetch "http://127.0.0.1:$HPORT/.well-known/cmp" "$REF" "$SECRET" "$GW/ca-cert.pem" "$W/crl"
grep -qx "$XSERIAL" "$W/crl.serials" || fail "the CRL does not list $XSERIAL" "$W/crl.txt"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT detail FROM events WHERE kind = 'console.revoked'")" = \
    "operator=alice serial=$XSERIAL reason=1" ] || fail "no console.revoked event naming alice"
ok "revoked (keyCompromise) by alice; 409 the second time; the PEM download; the CRL lists it"

step "6b. a secret made in the console, shown once; revoked there"
post "$W/b.jar" /secrets "$W/r.out" "csrf=$B_CSRF&profile=default"
expect_403 "a viewer's new secret" "$W/r.out"
post "$W/a.jar" /secrets "$W/sec.out" \
    "csrf=$A_CSRF&profile=default&ttl=1d&uses=2&note=%3Cb%3Enote%3C%2Fb%3E&subject=%2FCN%3Dsecret-dev%2FO%3Dconsole&sans=dns%3Asecret-dev.example"
[ "$(status_of "$W/sec.out")" = 200 ] || fail "alice's new secret failed" "$W/sec.out"
SREF="$(sed -n 's/.*<dd id="reference">\([^<]*\)<.*/\1/p' "$W/sec.out")"
SSEC="$(sed -n 's/.*<dd id="secret">\([^<]*\)<.*/\1/p' "$W/sec.out")"
[ -n "$SREF" ] && [ "${#SSEC}" -ge 16 ] || fail "no reference and secret on the page" "$W/sec.out"
grep -q '<svg id="qr"' "$W/sec.out" && [ "$(grep -o '<rect ' "$W/sec.out" | wc -l)" -gt 50 ] ||
    fail "no QR code on the page" "$W/sec.out"
get "$W/a.jar" "/secrets?q=$SREF" "$W/list.out"
grep -q "data-ref=\"$SREF\"" "$W/list.out" || fail "the new secret is not listed" "$W/list.out"
grep -q "$SSEC" "$W/list.out" && fail "the list shows the secret" "$W/list.out"
grep -q '&lt;b&gt;note&lt;/b&gt;' "$W/list.out" || fail "the note is not shown escaped" "$W/list.out"
grep -q "$SSEC" "$GW/cmpgw.db" && fail "the secret is in the database in clear"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT subject || '|' || sans || '|' || max_uses FROM secrets WHERE reference = '$SREF'")" = \
    "O=console,CN=secret-dev|dns:secret-dev.example|2" ] || fail "the secret's row is not what the form asked"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/s.key" 2>/dev/null
openssl cmp -cmd ir -server "127.0.0.1:$HPORT" -path .well-known/cmp -ref "$SREF" \
    -secret "pass:$SSEC" -recipient "$RA" -newkey "$W/s.key" -trusted "$GW/ca-cert.pem" \
    -subject "/CN=secret-dev/O=console" -sans "secret-dev.example" -certout "$W/s.pem" \
    >"$W/s.cmp.log" 2>&1 || fail "openssl cmp could not enrol with the console's secret" "$W/s.cmp.log"
# The certificate it enrolled, found by SAN, by reference, by date; put on
# hold and released.
SSERIAL="$(sqlite3 "$GW/cmpgw.db" "SELECT serial FROM certificates WHERE subject LIKE '%CN=secret-dev%'")"
TODAY="$(date -u +%Y-%m-%d)"
TOMORROW="$(date -u -d tomorrow +%Y-%m-%d)"
for q in "san=SECRET-dev.example" "ref=$SREF" "since=$TODAY&until=$TOMORROW&san=secret-dev"; do
    get "$W/a.jar" "/certs?$q" "$W/find.out"
    grep -q "data-serial=\"$SSERIAL\"" "$W/find.out" || fail "/certs?$q does not find $SSERIAL" "$W/find.out"
done
for q in "san=nosuch.example" "since=$TOMORROW" "until=2000-01-01"; do
    get "$W/a.jar" "/certs?$q" "$W/find.out"
    grep -q 'data-serial=' "$W/find.out" && fail "/certs?$q finds certificates" "$W/find.out"
done
get "$W/a.jar" "/certs?since=yesterday" "$W/find.out"
[ "$(status_of "$W/find.out")" = 400 ] || fail "a date that is none was not 400" "$W/find.out"
post "$W/a.jar" "/certs/$SSERIAL/revoke" "$W/r.out" "csrf=$A_CSRF&crl_reason=6"
[ "$(status_of "$W/r.out")" = 303 ] || fail "putting the certificate on hold failed" "$W/r.out"
get "$W/a.jar" "/certs/$SSERIAL" "$W/hold.out"
grep -q 'id="release"' "$W/hold.out" || fail "a certificate on hold offers no release" "$W/hold.out"
post "$W/b.jar" "/certs/$SSERIAL/release" "$W/r.out" "csrf=$B_CSRF"
expect_403 "a viewer's release" "$W/r.out"
post "$W/a.jar" "/certs/$SSERIAL/release" "$W/r.out" "csrf=$A_CSRF"
[ "$(status_of "$W/r.out")" = 303 ] || fail "the release failed" "$W/r.out"
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT status FROM certificates WHERE serial = '$SSERIAL'")" = valid ] ||
    fail "the released certificate is not valid again"
post "$W/a.jar" "/certs/$SSERIAL/release" "$W/r.out" "csrf=$A_CSRF"
[ "$(status_of "$W/r.out")" = 409 ] || fail "releasing a certificate not on hold was not 409" "$W/r.out"
post "$W/a.jar" "/secrets/$SREF/revoke" "$W/r.out" "csrf=$A_CSRF"
[ "$(status_of "$W/r.out")" = 303 ] || fail "revoking the secret failed" "$W/r.out"
post "$W/a.jar" "/secrets/$SREF/revoke" "$W/r.out" "csrf=$A_CSRF"
[ "$(status_of "$W/r.out")" = 409 ] || fail "a second revocation of the secret was not 409" "$W/r.out"
if openssl cmp -cmd ir -server "127.0.0.1:$HPORT" -path .well-known/cmp -ref "$SREF" \
    -secret "pass:$SSEC" -recipient "$RA" -newkey "$W/s.key" -trusted "$GW/ca-cert.pem" \
    -subject "/CN=secret-dev/O=console" -sans "secret-dev.example" -certout "$W/s2.pem" \
    >"$W/s2.cmp.log" 2>&1; then fail "a revoked secret enrolled"; fi
[ "$(sqlite3 "$GW/cmpgw.db" "SELECT count(*) FROM events WHERE kind IN ('console.secret_created', 'console.secret_revoked') AND detail LIKE 'operator=alice reference=$SREF%'")" = 2 ] ||
    fail "the audit log does not say alice made and revoked the secret"
ok "secret $SREF: shown once with a QR code, bound to CN=secret-dev, enrolled with; its certificate found by SAN, reference and date, held and released; the secret revoked, then refused"

step "7. lockout, idle sessions, logout"
for _ in 1 2 3 4 5; do login "$W/c.jar" carol "$W/wrong.pw" "$W/r.out"; done
login "$W/c.jar" carol "$W/carol.pw" "$W/r.out"
[ "$(status_of "$W/r.out")" = 401 ] && grep -q 'locked' "$W/r.out" ||
    fail "carol logged in with the right password while locked" "$W/r.out"
[ -n "$(sqlite3 "$GW/cmpgw.db" "SELECT locked_until FROM operators WHERE name = 'carol'")" ] ||
    fail "carol is not locked in the database"
"$CMPGW" operator passwd -c "$GW/cmpgw.conf" carol --password-file "$W/carol.pw" >"$W/op.out" 2>&1 ||
    fail "operator passwd" "$W/op.out"
post "$W/a.jar" /logout "$W/r.out" "csrf=$A_CSRF"
[ "$(status_of "$W/r.out")" = 303 ] || fail "logout failed" "$W/r.out"
get "$W/a.jar" / "$W/r.out"
[ "$(status_of "$W/r.out")" = 303 ] || fail "the session lived on after logout" "$W/r.out"
# A session idle for longer than session_idle ends: the daemon again with
# session_idle = 2; every request renews a session, so this waits without
# one (at least 3 s, whatever the machine's pace), then asks once.
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with $DAEMON_STATUS"
sed -i 's/^session_idle = .*/session_idle = 2/' "$GW/cmpgw.conf"
: >"$DAEMON_LOG"
daemon_start "$GW/cmpgw.conf"
wait_for_log 30 'listening console 127\.0\.0\.1:[0-9]+'
CPORT="$(grep -oE 'listening console 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
HPORT="$(grep -oE 'listening http 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
C="http://127.0.0.1:$CPORT"
rm -f "$W/b.jar"
login "$W/b.jar" bob "$W/bob.pw" "$W/r.out"
[ "$(status_of "$W/r.out")" = 303 ] || fail "bob's login failed" "$W/r.out"
sleep 3
get "$W/b.jar" / "$W/idle.out"
[ "$(status_of "$W/idle.out")" = 303 ] && [ "$(header_of "$W/idle.out" Location)" = "/login?expired=1" ] ||
    fail "a session idle for 3 s (session_idle = 2) did not end" "$W/idle.out"
ok "carol locked after 5 wrong passwords (and unlocked by passwd); alice logged out; bob's idle session ended"

step "8. [console] tls = on: HTTPS only; a client certificate that names an operator logs in"
# Client certificates from the gateway's own CA: CN=alice, and CN=nobody.
for who in alice nobody; do
    new_secret "$GW/cmpgw.conf"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$who.key" 2>/dev/null
    openssl cmp -cmd ir -server "127.0.0.1:$HPORT" -path .well-known/cmp -ref "$REF" \
        -secret "pass:$SECRET" -recipient "$RA" -newkey "$W/$who.key" -trusted "$GW/ca-cert.pem" \
        -subject "/CN=$who/O=operators" -certout "$W/$who.pem" >"$W/$who.cmp.log" 2>&1 ||
        fail "no client certificate for $who" "$W/$who.cmp.log"
done
daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with $DAEMON_STATUS"
sed -i 's/^tls = auto$/tls = on/' "$GW/cmpgw.conf"
sed -i 's/^https = .*/&\ntls_client_auth = optional\ntls_client_anchors = ca-cert.pem/' "$GW/cmpgw.conf"
grep -q '^tls_client_auth = optional$' "$GW/cmpgw.conf" && grep -q '^tls_client_anchors = ca-cert.pem$' "$GW/cmpgw.conf" ||
    fail "no tls_client_auth lines to set" "$GW/cmpgw.conf"
grep -q '^tls = on$' "$GW/cmpgw.conf" || fail "no [console] tls line to set"
: >"$DAEMON_LOG"
daemon_start "$GW/cmpgw.conf"
wait_for_log 30 'listening console 127\.0\.0\.1:[0-9]+ \(HTTPS\)'
CPORT="$(grep -oE 'listening console 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1 | sed 's/.*://')"
C="https://127.0.0.1:$CPORT"
if curl -s -o /dev/null --max-time 10 "http://127.0.0.1:$CPORT/login"; then
    fail "the HTTPS console answered plain HTTP"
fi
curl -s -i --cacert "$GW/ca-cert.pem" -c "$W/t.jar" -H "Origin: $C" -H "Sec-Fetch-Site: same-origin" \
    --data "name=alice&password=$(head -n 1 "$W/alice.pw")" "$C/login" >"$W/r.out" ||
    fail "curl over HTTPS failed"
[ "$(status_of "$W/r.out")" = 303 ] || fail "alice's login over HTTPS failed" "$W/r.out"
COOKIE="$(header_of "$W/r.out" Set-Cookie)"
case "$COOKIE" in __Host-cmpgw_console=*"; Path=/; HttpOnly; SameSite=Strict; Secure") ;;
    *) fail "the HTTPS session cookie is '$COOKIE'" ;; esac
curl -s -i --cacert "$GW/ca-cert.pem" -b "$W/t.jar" "$C/" >"$W/r.out" || fail "curl over HTTPS failed"
[ "$(status_of "$W/r.out")" = 200 ] && grep -q 'id="activity"' "$W/r.out" ||
    fail "no dashboard over HTTPS" "$W/r.out"
case "$(header_of "$W/r.out" Strict-Transport-Security)" in max-age=*) ;;
    *) fail "no Strict-Transport-Security over HTTPS" "$W/r.out" ;; esac
certcurl() { curl -s -i --cacert "$GW/ca-cert.pem" --cert "$W/$1.pem" --key "$W/$1.key" "${@:2}"; }
certcurl alice "$C/login" >"$W/r.out" || fail "curl with a client certificate failed"
grep -q 'id="login-cert"' "$W/r.out" && grep -q 'Log in as alice with your certificate' "$W/r.out" ||
    fail "the login page offers no certificate login to alice" "$W/r.out"
certcurl alice -c "$W/cert.jar" -H "Origin: $C" --data "" "$C/login/cert" >"$W/r.out"
[ "$(status_of "$W/r.out")" = 303 ] || fail "alice's certificate login failed" "$W/r.out"
certcurl alice -b "$W/cert.jar" "$C/" >"$W/r.out"
grep -q 'alice (operator)' "$W/r.out" || fail "the certificate's session is not alice's" "$W/r.out"
certcurl nobody -H "Origin: $C" --data "" "$C/login/cert" >"$W/r.out"
[ "$(status_of "$W/r.out")" = 401 ] || fail "a certificate naming no operator logged in" "$W/r.out"
curl -s -i --cacert "$GW/ca-cert.pem" -H "Origin: $C" --data "" "$C/login/cert" >"$W/r.out"
[ "$(status_of "$W/r.out")" = 401 ] || fail "a certificate login without a certificate was not 401" "$W/r.out"
ok "plain HTTP refused; cookie '$COOKIE'; HSTS; the dashboard over HTTPS; alice's certificate logs her in, CN=nobody's and none do not"

daemon_stop TERM 30
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited with $DAEMON_STATUS"
echo "PASS"
