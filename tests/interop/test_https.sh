#!/usr/bin/env bash
# test_https.sh - CMP over HTTPS ([server] https, transports/tls.c) against a
# live gateway made by `cmpgw init --https`: openssl cmp -tls_used enrols
# (MAC) and renews (signature) end to end; curl --cacert reaches the port;
# openssl s_client gets TLS 1.3 and 1.2, is refused 1.1 and 1.0, and resumes
# a TLS 1.2 session (-sess_out / -sess_in) and a TLS 1.3 one (its ticket);
# plain HTTP sent to the TLS port, a ClientHello trickled past the handshake
# timeout and 1,000 half-open handshakes are refused or closed while other
# clients are served; the daemon stops cleanly.
# Usage: bash tests/interop/test_https.sh /path/to/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd openssl curl python3
lib_init "${1:-}"

W="$IT_TMP/work"
GW="$IT_TMP/gw"
mkdir -p "$W"

step "cmpgw init --https: a demo TLS certificate for the host, and the lines that serve it"
"$CMPGW" init "$GW" --http 127.0.0.1:0 --https 127.0.0.1:0 >"$W/init.out" 2>&1 ||
    fail "cmpgw init --https failed" "$W/init.out"
grep -q -- "-tls_used" "$W/init.out" || fail "init does not show the openssl cmp -tls_used command" "$W/init.out"
openssl verify -CAfile "$GW/ca-cert.pem" "$GW/tls-cert.pem" >"$W/verify.out" 2>&1 ||
    fail "the TLS certificate does not chain to the demo CA" "$W/verify.out"
openssl x509 -in "$GW/tls-cert.pem" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" ||
    fail "the TLS certificate does not name 127.0.0.1"
# a short header timeout bounds the handshake (step 6)
sed -i 's/^header_timeout_ms = .*/header_timeout_ms = 1500/' "$GW/cmpgw.conf"
grep -q "^header_timeout_ms = 1500" "$GW/cmpgw.conf" || echo "header_timeout_ms = 1500" >>"$GW/cmpgw.conf"
daemon_start "$GW/cmpgw.conf"
wait_https
ok "listening https on $TLS_PORT"
RA="$(ra_subject "$GW")" || fail "cannot read the RA subject"

step "1. openssl cmp -tls_used: ir with a MAC, then a cr signed with the certificate"
new_secret "$GW/cmpgw.conf"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null
openssl cmp -cmd ir -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$GW/ca-cert.pem" -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
    -newkey "$W/dev.key" -subject /CN=tls-dev -certout "$W/dev.pem" -trusted "$GW/ca-cert.pem" \
    >"$W/ir.log" 2>&1 || fail "ir over HTTPS failed" "$W/ir.log"
openssl verify -CAfile "$GW/ca-cert.pem" "$W/dev.pem" >/dev/null || fail "the certificate does not verify"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev2.key" 2>/dev/null
openssl cmp -cmd cr -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$GW/ca-cert.pem" -cert "$W/dev.pem" -key "$W/dev.key" -recipient "$RA" \
    -newkey "$W/dev2.key" -subject /CN=tls-dev -certout "$W/dev2.pem" -trusted "$GW/ca-cert.pem" \
    >"$W/cr.log" 2>&1 || fail "a signed cr over HTTPS failed" "$W/cr.log"
ok "enrolled and renewed over HTTPS"
if openssl cmp -cmd ir -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$W/dev.pem" -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
    -newkey "$W/dev.key" -subject /CN=tls-dev -certout "$W/no.pem" >"$W/untrusted.log" 2>&1; then
    fail "a client that does not trust the server's certificate enrolled" "$W/untrusted.log"
fi
ok "a client that does not trust the certificate does not get through"

step "1b. cmpgw client --url https://: trusted, it enrols; other anchors or another name, it stops"
"$CMPGW" client ir --url "https://127.0.0.1:$TLS_PORT/.well-known/cmp" --tls-trusted "$GW/ca-cert.pem" \
    --trusted "$GW/ca-cert.pem" --ref "$REF" --secret "pass:$SECRET" --subject /CN=tls-client \
    --certout "$W/client.pem" >"$W/client.log" 2>&1 || fail "cmpgw client over HTTPS failed" "$W/client.log"
RC=0
"$CMPGW" client ir --url "https://127.0.0.1:$TLS_PORT/.well-known/cmp" --tls-trusted "$W/dev.pem" \
    --ref "$REF" --secret "pass:$SECRET" --subject /CN=tls-client \
    --certout "$W/client2.pem" >"$W/client2.log" 2>&1 || RC=$?
[ "$RC" = 2 ] && grep -q "certificate verify failed" "$W/client2.log" ||
    fail "a server outside --tls-trusted was not refused (exit $RC)" "$W/client2.log"
RC=0
"$CMPGW" client ir --url "https://localhost:$TLS_PORT/.well-known/cmp" --tls-trusted "$GW/ca-cert.pem" \
    --ref "$REF" --secret "pass:$SECRET" --subject /CN=tls-client \
    --certout "$W/client3.pem" >"$W/client3.log" 2>&1 || RC=$?
[ "$RC" = 2 ] && grep -q "TLS handshake failed" "$W/client3.log" ||
    fail "a certificate for 127.0.0.1 was taken for localhost (exit $RC)" "$W/client3.log"
ok "enrolled; an untrusted server and a certificate for another name are refused"

step "2. curl --cacert reaches the port"
code="$(curl -s --cacert "$GW/ca-cert.pem" -o "$W/curl.der" -w '%{http_code}' \
    -H 'Content-Type: application/pkixcmp' --data-binary 'not a PKIMessage' \
    "https://127.0.0.1:$TLS_PORT/.well-known/cmp")" || fail "curl over HTTPS failed"
[ "$code" = 200 ] || fail "curl: HTTP $code, not 200 with a CMP error"
openssl asn1parse -inform DER -in "$W/curl.der" >/dev/null 2>&1 || fail "the answer is not DER"
ok "HTTP 200 with a CMP error message"

step "3. TLS 1.3 and 1.2 accepted, 1.1 and 1.0 refused"
for v in tls1_3 tls1_2; do
    echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" "-$v" -CAfile "$GW/ca-cert.pem" \
        >"$W/$v.log" 2>&1 || true
    grep -q "Verify return code: 0 (ok)" "$W/$v.log" || fail "$v: no verified session" "$W/$v.log"
    case "$v" in
    tls1_3) grep -q "TLSv1.3" "$W/$v.log" || fail "no TLS 1.3" "$W/$v.log" ;;
    tls1_2) grep -q "TLSv1.2" "$W/$v.log" || fail "no TLS 1.2" "$W/$v.log" ;;
    esac
    ok "$v accepted"
done
for v in tls1_1 tls1; do
    echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" "-$v" -CAfile "$GW/ca-cert.pem" \
        -cipher 'DEFAULT:@SECLEVEL=0' >"$W/$v.log" 2>&1 || true
    grep -q "^New, (NONE), Cipher is (NONE)" "$W/$v.log" || fail "$v was accepted" "$W/$v.log"
    grep -q "alert protocol version" "$W/$v.log" || fail "$v: no protocol_version alert" "$W/$v.log"
    ok "$v refused (protocol_version)"
done
grep -qE "INFO tls: 127\.0\.0\.1: " "$DAEMON_LOG" || fail "no refused handshake is logged"

step "3b. sslscan's audit: no SSL, no TLS 1.0 or 1.1, forward secrecy and AEAD only"
if command -v sslscan >/dev/null; then
    sslscan --no-colour "127.0.0.1:$TLS_PORT" >"$W/sslscan.log" 2>&1 || fail "sslscan failed" "$W/sslscan.log"
    for p in SSLv2 SSLv3 TLSv1.0 TLSv1.1; do
        grep -qE "^$p +disabled" "$W/sslscan.log" || fail "sslscan: $p is not disabled" "$W/sslscan.log"
    done
    # every suite it finds: TLS 1.3, or TLS 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305
    if grep -E "^(Preferred|Accepted)" "$W/sslscan.log" |
        grep -vE "TLSv1\.3|TLSv1\.2 +[0-9]+ bits +ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305) " |
        grep -q .; then
        fail "sslscan found a suite outside the default policy" "$W/sslscan.log"
    fi
    if ! grep -qE "hellos of up to (5[0-9][0-9]|[0-9]{4,}) suites" "$DAEMON_LOG"; then
        # a wolfSSL without the larger WOLFSSL_MAX_SUITE_SZ of scripts/build-wolfssl.sh
        # (Debian's, under the sanitizers) refuses sslscan's hello of 344 suites
        ok "sslscan: SSLv2, SSLv3, TLS 1.0, 1.1 disabled (this wolfSSL refuses its long hello)"
    else
        for v in 2 3; do
            grep -qE "^TLSv1\.$v +enabled" "$W/sslscan.log" || fail "sslscan: TLS 1.$v not found" "$W/sslscan.log"
            grep -qE "^(Preferred|Accepted) +TLSv1\.$v " "$W/sslscan.log" ||
                fail "sslscan: no TLS 1.$v suite" "$W/sslscan.log"
        done
        ok "sslscan: SSLv2, SSLv3, TLS 1.0, 1.1 disabled; TLS 1.2 and 1.3 enabled; $(grep -cE '^(Preferred|Accepted)' "$W/sslscan.log") suites, all ECDHE with AEAD"
    fi
else
    skip_note="sslscan is not installed (scripts/install-deps.sh installs it)"
    fail "$skip_note"
fi

step "4. resumption: a TLS 1.2 session and a TLS 1.3 ticket are taken again"
echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -tls1_2 -CAfile "$GW/ca-cert.pem" \
    -sess_out "$W/s12" >"$W/s12a.log" 2>&1 || true
echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -tls1_2 -CAfile "$GW/ca-cert.pem" \
    -sess_in "$W/s12" >"$W/s12b.log" 2>&1 || true
grep -q "^Reused, TLSv1.2" "$W/s12b.log" || fail "TLS 1.2 was not resumed" "$W/s12b.log"
ok "TLS 1.2 resumed"
# TLS 1.3 sends its ticket after the handshake: the client waits to read it.
(echo; sleep 1) | openssl s_client -connect "127.0.0.1:$TLS_PORT" -tls1_3 -CAfile "$GW/ca-cert.pem" \
    -sess_out "$W/s13" >"$W/s13a.log" 2>&1 || true
echo | openssl s_client -connect "127.0.0.1:$TLS_PORT" -tls1_3 -CAfile "$GW/ca-cert.pem" \
    -sess_in "$W/s13" >"$W/s13b.log" 2>&1 || true
grep -q "^Reused, TLSv1.3" "$W/s13b.log" || fail "TLS 1.3 was not resumed" "$W/s13b.log"
ok "TLS 1.3 resumed"

step "5-7. plain HTTP, a trickled ClientHello, 1,000 half-open handshakes"
python3 - "$TLS_PORT" >"$W/faults.log" 2>&1 <<'PY' || fail "the fault clients failed" "$W/faults.log"
import socket, sys, time
port = int(sys.argv[1])

def closed_within(s, seconds):
    """True when the server closes s (EOF or reset) within seconds."""
    s.settimeout(1.0)
    end = time.time() + seconds
    while time.time() < end:
        try:
            if s.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True
    return False

# plain HTTP on the TLS port: an alert, then the connection ends
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /.well-known/cmp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
assert closed_within(s, 60), "plain HTTP: the connection stayed open"
print("plain HTTP: closed")

# a ClientHello trickled: its first octets, then nothing; the header timeout ends it
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"\x16\x03\x01\x02\x00\x01")
assert closed_within(s, 60), "trickled ClientHello: still open"
print("trickled ClientHello: closed")

# 1,000 connections that start a handshake and stop
held = []
for i in range(1000):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"\x16\x03\x01\x02\x00")
    held.append(c)
print("1000 half-open handshakes held")
PY
cat "$W/faults.log"
# meanwhile (those sockets were closed by the script's end) others are served
openssl cmp -cmd ir -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$GW/ca-cert.pem" -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
    -newkey "$W/dev2.key" -subject /CN=tls-dev -certout "$W/dev3.pem" -trusted "$GW/ca-cert.pem" \
    >"$W/ir3.log" 2>&1 || fail "an ir after the faults failed" "$W/ir3.log"
ok "served after the faults"

daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"

step "8. the handshake on the loop (compute = inline) as on the threadpool (above); the key from a PKCS#12"
grep -q "compute: threadpool" "$DAEMON_LOG" || grep -q "compute: inline" "$DAEMON_LOG" ||
    fail "the daemon did not say where it computes"
sed -i 's/^compute = .*/compute = inline/' "$GW/cmpgw.conf"
# tls_pkcs12 + tls_password_file instead of tls_cert + tls_key (OpenSSL 3's defaults: PBES2, AES)
printf 'tls-pass-1\n' >"$GW/tls.pass"
chmod 600 "$GW/tls.pass"
openssl pkcs12 -export -in "$GW/tls-cert.pem" -inkey "$GW/tls-key.pem" -passout pass:tls-pass-1 \
    -out "$GW/tls.p12" 2>/dev/null || fail "openssl pkcs12 -export failed"
chmod 600 "$GW/tls.p12"
sed -i 's/^tls_cert = .*/tls_pkcs12 = tls.p12/; s/^tls_key = .*/tls_password_file = tls.pass/' "$GW/cmpgw.conf"
grep -q "^compute = inline" "$GW/cmpgw.conf" || fail "cannot set compute = inline"
daemon_start "$GW/cmpgw.conf"
wait_https
grep -q "compute: inline" "$DAEMON_LOG" || fail "compute is not inline" "$DAEMON_LOG"
openssl cmp -cmd ir -server "127.0.0.1:$TLS_PORT" -path .well-known/cmp -tls_used \
    -tls_trusted "$GW/ca-cert.pem" -ref "$REF" -secret "pass:$SECRET" -recipient "$RA" \
    -newkey "$W/dev2.key" -subject /CN=tls-dev -certout "$W/dev4.pem" -trusted "$GW/ca-cert.pem" \
    >"$W/ir4.log" 2>&1 || fail "ir over HTTPS with the handshake inline failed" "$W/ir4.log"
ok "enrolled with the handshake on the loop, the server key read from a PKCS#12"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"

step "9. client certificates: optional, a profile bound to them, then required"
sed -i 's/^tls_password_file = .*/&\ntls_client_auth = optional\ntls_client_anchors = ca-cert.pem/' "$GW/cmpgw.conf"
printf '\n[profile bound]\ntls_binding = signer, mac\n' >>"$GW/cmpgw.conf"
daemon_start "$GW/cmpgw.conf"
wait_https
# tls NAME PATH ARGS...: openssl cmp over HTTPS; RC
tls() {
    local name="$1" path="$2"
    shift 2
    RC=0
    openssl cmp -server "127.0.0.1:$TLS_PORT" -path "$path" -tls_used -tls_trusted "$GW/ca-cert.pem" \
        -recipient "$RA" -trusted "$GW/ca-cert.pem" "$@" >"$W/$name.log" 2>&1 || RC=$?
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev5.key" 2>/dev/null
tls bound-ok .well-known/cmp/p/bound -cmd cr -cert "$W/dev.pem" -key "$W/dev.key" \
    -tls_cert "$W/dev.pem" -tls_key "$W/dev.key" -newkey "$W/dev5.key" -subject /CN=tls-dev \
    -certout "$W/bound.pem"
[ "$RC" = 0 ] || fail "a cr signed by the TLS client certificate was refused" "$W/bound-ok.log"
ok "bound profile: a cr signed by the TLS client certificate is served"
tls bound-other .well-known/cmp/p/bound -cmd cr -cert "$W/dev2.pem" -key "$W/dev2.key" \
    -tls_cert "$W/dev.pem" -tls_key "$W/dev.key" -newkey "$W/dev5.key" -subject /CN=tls-dev \
    -certout "$W/no.pem"
[ "$RC" != 0 ] && [ "$(client_failinfo "$W/bound-other.log")" = notAuthorized ] ||
    fail "a signer other than the TLS client certificate was not notAuthorized" "$W/bound-other.log"
grep -q "is not the TLS client certificate" "$W/bound-other.log" ||
    fail "the statusString does not say why" "$W/bound-other.log"
ok "bound profile: another signer is notAuthorized"
new_secret "$GW/cmpgw.conf" --profile bound
tls bound-mac .well-known/cmp/p/bound -cmd ir -ref "$REF" -secret "pass:$SECRET" \
    -newkey "$W/dev5.key" -subject /CN=tls-mac -certout "$W/no.pem"
[ "$RC" != 0 ] && [ "$(client_failinfo "$W/bound-mac.log")" = notAuthorized ] ||
    fail "a MAC without a TLS client certificate was not notAuthorized" "$W/bound-mac.log"
tls bound-mac2 .well-known/cmp/p/bound -cmd ir -ref "$REF" -secret "pass:$SECRET" \
    -tls_cert "$W/dev.pem" -tls_key "$W/dev.key" -newkey "$W/dev5.key" -subject /CN=tls-mac \
    -certout "$W/bound-mac.pem"
[ "$RC" = 0 ] || fail "a MAC over an authenticated TLS session was refused" "$W/bound-mac2.log"
ok "bound profile: a MAC needs an authenticated TLS session"
"$CMPGW" client ir --url "https://127.0.0.1:$TLS_PORT/.well-known/cmp/p/bound" \
    --tls-trusted "$GW/ca-cert.pem" --tls-cert "$W/dev.pem" --tls-key "$W/dev.key" \
    --trusted "$GW/ca-cert.pem" --ref "$REF" --secret "pass:$SECRET" --subject /CN=tls-client-cert \
    --certout "$W/client-cert.pem" >"$W/client-cert.log" 2>&1 ||
    fail "cmpgw client --tls-cert on the bound profile failed" "$W/client-cert.log"
ok "cmpgw client presents its --tls-cert"
tls free .well-known/cmp -cmd cr -cert "$W/dev.pem" -key "$W/dev.key" -newkey "$W/dev5.key" \
    -subject /CN=tls-dev -certout "$W/free.pem"
[ "$RC" = 0 ] || fail "optional: a client without a certificate was refused" "$W/free.log"
ok "optional: a client without a certificate is served on other profiles"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"

sed -i 's/^tls_client_auth = optional/tls_client_auth = required/' "$GW/cmpgw.conf"
daemon_start "$GW/cmpgw.conf"
wait_https
tls req-none .well-known/cmp -cmd cr -cert "$W/dev.pem" -key "$W/dev.key" -newkey "$W/dev5.key" \
    -subject /CN=tls-dev -certout "$W/no.pem"
[ "$RC" != 0 ] || fail "required: a client without a certificate got through" "$W/req-none.log"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/self.key" \
    -subj /CN=self -days 1 -out "$W/self.pem" 2>/dev/null
tls req-self .well-known/cmp -cmd cr -cert "$W/dev.pem" -key "$W/dev.key" -tls_cert "$W/self.pem" \
    -tls_key "$W/self.key" -newkey "$W/dev5.key" -subject /CN=tls-dev -certout "$W/no.pem"
[ "$RC" != 0 ] || fail "required: a client certificate outside the anchors got through" "$W/req-self.log"
tls req-ok .well-known/cmp -cmd cr -cert "$W/dev.pem" -key "$W/dev.key" -tls_cert "$W/dev.pem" \
    -tls_key "$W/dev.key" -newkey "$W/dev5.key" -subject /CN=tls-dev -certout "$W/req.pem"
[ "$RC" = 0 ] || fail "required: a client with a certificate of the anchors was refused" "$W/req-ok.log"
ok "required: no certificate and one outside the anchors refused, one of the anchors served"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
echo "PASS test_https"
