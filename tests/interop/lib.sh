# shellcheck shell=bash disable=SC2034
# Shared helpers for the interop tests (tests/interop/test_*.sh): a temp dir
# removed at exit, starting `cmpgw serve` in the background and waiting for its
# "listening" line, stopping it by PID, failing with the daemon's log, and small
# DER/ASN.1 helpers built on `openssl asn1parse` and od. Source it, then call
# lib_init. Every wait polls a condition with a generous bound; nothing relies on
# a fixed delay.
#
# Globals set here: IT_TMP (the temp dir), CMPGW (the binary), DAEMON_PID,
# DAEMON_LOG, PORT (after daemon_start), DAEMON_STATUS (after daemon_stop).
# Never call fail inside $(...): it would only leave the subshell.

IT_TMP=""
CMPGW=""
DAEMON_PID=""
DAEMON_WRAPPER=""
DAEMON_LOG=""
DAEMON_STATUS=""
PORT=""
IT_LOG_SHOWN=""
CLIENT_PID="" # a client a test runs in the background; killed at exit
PEERS=""      # names of the other daemons started with peer_start
PG_STATE=""   # the PostgreSQL server of pg_start (tests/pg.sh), stopped at exit
LB_PID=""     # the load balancer of lb_start, killed at exit
LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

step() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }

# show_daemon_log: print the daemon's stderr (and the other daemons') once (on failure).
show_daemon_log() {
    local p
    if [ -z "$IT_LOG_SHOWN" ] && [ -n "$DAEMON_LOG" ] && [ -f "$DAEMON_LOG" ]; then
        IT_LOG_SHOWN=1
        echo "---- daemon log ($DAEMON_LOG) ----" >&2
        cat "$DAEMON_LOG" >&2
        echo "---- end of daemon log ----" >&2
        for p in $PEERS; do
            [ -f "$IT_TMP/$p.log" ] || continue
            echo "---- $p log ----" >&2
            cat "$IT_TMP/$p.log" >&2
        done
    fi
}

# fail MESSAGE [FILE...]: report the failure, print FILEs and the daemon log, exit 1.
fail() {
    local msg="$1" f
    shift
    echo "FAIL: $msg" >&2
    for f in "$@"; do
        if [ -f "$f" ]; then
            echo "---- $f ----" >&2
            cat "$f" >&2
        fi
    done
    show_daemon_log
    exit 1
}

skip() { echo "SKIP: $*"; exit 77; }

# need_cmd CMD...: exit 77 (skipped) when a tool the test drives is missing.
need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c not found"
    done
}

# lib_init BINARY: check the binary, make the temp dir and install the cleanup trap.
lib_init() {
    [ -n "${1:-}" ] || fail "usage: $0 /path/to/cmpgw"
    CMPGW="$1"
    case "$CMPGW" in /*) ;; *) CMPGW="$(pwd)/$CMPGW" ;; esac
    [ -x "$CMPGW" ] || fail "cmpgw binary not found or not executable: $CMPGW"
    IT_TMP="$(mktemp -d "${TMPDIR:-/tmp}/cmpgw-interop.XXXXXX")"
    trap lib_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# until_true SECONDS CMD...: poll CMD every 0.1 s until it succeeds; 1 on timeout.
until_true() {
    local limit=$(( $1 * 10 )) i=0
    shift
    while ! "$@"; do
        i=$((i + 1))
        [ "$i" -lt "$limit" ] || return 1
        sleep 0.1
    done
}

daemon_exited() { [ -s "$IT_TMP/daemon.status" ]; }

# free_admin CONF: the admin listener `cmpgw init` configures (a fixed port)
# on a port of the system's choosing, so that tests running at once do not
# take each other's.
free_admin() {
    sed -i --follow-symlinks 's/^admin = 127\.0\.0\.1:9810$/admin = 127.0.0.1:0/' "$1"
}

# daemon_start CONF: run `cmpgw serve -c CONF` in the background, wait (60 s) for
# "listening http 127.0.0.1:PORT" on its stderr and set PORT. A wrapper subshell
# records the daemon's exit status in $IT_TMP/daemon.status when it exits.
daemon_start() {
    local conf="$1" line
    free_admin "$conf"
    DAEMON_LOG="$IT_TMP/daemon.log"
    rm -f "$IT_TMP/daemon.pid" "$IT_TMP/daemon.status"
    (
        set +e
        "$CMPGW" serve -c "$conf" </dev/null >"$IT_TMP/daemon.out" 2>"$DAEMON_LOG" &
        echo $! >"$IT_TMP/daemon.pid"
        wait $!
        echo $? >"$IT_TMP/daemon.status"
    ) &
    DAEMON_WRAPPER=$!
    until_true 60 test -s "$IT_TMP/daemon.pid" || fail "the daemon did not start"
    DAEMON_PID="$(cat "$IT_TMP/daemon.pid")"
    wait_for_log 60 'listening http 127\.0\.0\.1:[0-9]+'
    line="$(grep -oE 'listening http 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1)"
    PORT="${line##*:}"
    [ "$PORT" -gt 0 ] 2>/dev/null || fail "bad port in the listening line: $line"
    # the raw TCP listener, when configured, is up before the HTTP one
    line="$(grep -oE 'listening tcp 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1)" || line=""
    TCP_PORT="${line##*:}"
}

# wait_for_log SECONDS ERE: wait until the daemon log has a line matching ERE.
wait_for_log() {
    local limit=$(( $1 * 10 )) i=0
    while ! grep -qE "$2" "$DAEMON_LOG" 2>/dev/null; do
        daemon_exited && fail "the daemon exited (status $(cat "$IT_TMP/daemon.status")) before logging /$2/"
        i=$((i + 1))
        [ "$i" -lt "$limit" ] || fail "no line matching /$2/ in the daemon log after $1 s"
        sleep 0.1
    done
}

# wait_https: wait (60 s) for the daemon's "listening https 127.0.0.1:PORT"
# line and set TLS_PORT.
wait_https() {
    local line
    wait_for_log 60 'listening https 127\.0\.0\.1:[0-9]+'
    line="$(grep -oE 'listening https 127\.0\.0\.1:[0-9]+' "$DAEMON_LOG" | head -n 1)"
    TLS_PORT="${line##*:}"
}

# daemon_stop SIGNAL SECONDS: send SIGNAL to the daemon, wait up to SECONDS for it
# to exit and set DAEMON_STATUS to its exit status.
daemon_stop() {
    [ -n "$DAEMON_PID" ] || fail "daemon_stop: no daemon running"
    kill -s "$1" "$DAEMON_PID" 2>/dev/null || true
    until_true "$2" daemon_exited || fail "the daemon did not exit within $2 s of SIG$1"
    wait "$DAEMON_WRAPPER" 2>/dev/null || true
    DAEMON_PID=""
    DAEMON_WRAPPER=""
    DAEMON_STATUS="$(cat "$IT_TMP/daemon.status")"
}

lib_cleanup() {
    local rc=$? p
    trap - EXIT
    [ -z "$CLIENT_PID" ] || kill "$CLIENT_PID" 2>/dev/null || true
    for p in $PEERS; do
        peer_exited "$p" || peer_stop "$p" TERM 20 || peer_stop "$p" KILL 20 || true
    done
    if [ -n "$DAEMON_PID" ] && ! daemon_exited; then
        kill -s TERM "$DAEMON_PID" 2>/dev/null || true
        if ! until_true 20 daemon_exited; then
            kill -s KILL "$DAEMON_PID" 2>/dev/null || true
        fi
    fi
    if [ -n "$DAEMON_WRAPPER" ]; then
        wait "$DAEMON_WRAPPER" 2>/dev/null || true
    fi
    [ -z "$LB_PID" ] || kill "$LB_PID" 2>/dev/null || true
    [ -z "$PG_STATE" ] || bash "$LIB_DIR/../pg.sh" stop "$PG_STATE" >/dev/null 2>&1 || true
    [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || show_daemon_log
    [ -n "$IT_TMP" ] && rm -rf "$IT_TMP"
    exit "$rc"
}

# ---------------------------------------------------------------- other daemons

# peer_start NAME CONF: another `cmpgw serve -c CONF` in the background (the CA
# behind the RA under test, say), its stderr in $IT_TMP/NAME.log; waits (60 s)
# for its "listening http" line.  peer_port NAME gives its HTTP port.
peer_start() {
    local name="$1" conf="$2"
    free_admin "$conf"
    rm -f "$IT_TMP/$name.pid" "$IT_TMP/$name.status"
    (
        set +e
        "$CMPGW" serve -c "$conf" </dev/null >/dev/null 2>"$IT_TMP/$name.log" &
        echo $! >"$IT_TMP/$name.pid"
        wait $!
        echo $? >"$IT_TMP/$name.status"
    ) &
    echo $! >"$IT_TMP/$name.wrapper"
    case " $PEERS " in *" $name "*) ;; *) PEERS="$PEERS $name" ;; esac
    until_true 60 test -s "$IT_TMP/$name.pid" || fail "$name did not start"
    until_true 60 peer_listening "$name" ||
        fail "$name did not start listening" "$IT_TMP/$name.log"
}

peer_listening() {
    peer_exited "$1" && fail "$1 exited (status $(cat "$IT_TMP/$1.status"))" "$IT_TMP/$1.log"
    grep -qE 'listening http 127\.0\.0\.1:[0-9]+' "$IT_TMP/$1.log" 2>/dev/null
}

peer_port() {
    grep -oE 'listening http 127\.0\.0\.1:[0-9]+' "$IT_TMP/$1.log" | tail -n 1 | sed 's/.*://'
}

peer_exited() { [ -s "$IT_TMP/$1.status" ]; }

# peer_stop NAME SIGNAL SECONDS: send SIGNAL, wait up to SECONDS for the exit.
peer_stop() {
    [ -s "$IT_TMP/$1.pid" ] || return 0
    kill -s "$2" "$(cat "$IT_TMP/$1.pid")" 2>/dev/null || true
    until_true "$3" peer_exited "$1" || return 1
    wait "$(cat "$IT_TMP/$1.wrapper")" 2>/dev/null || true
}

# ---------------------------------------------------------------- PostgreSQL

# pg_start: a throwaway PostgreSQL server for this test (tests/pg.sh), stopped
# by PID at exit; sets PG_CONNINFO (libpq words for its maintenance database).
# Skips the test (77) when no server is installed.
pg_start() {
    local rc=0
    need_cmd psql
    PG_STATE="$IT_TMP/pg"
    bash "$LIB_DIR/../pg.sh" start "$PG_STATE" >"$IT_TMP/pg.out" 2>&1 || rc=$?
    [ "$rc" -ne 77 ] || { PG_STATE=""; skip "no PostgreSQL server installed"; }
    [ "$rc" -eq 0 ] || fail "PostgreSQL did not start" "$IT_TMP/pg.out"
    PG_CONNINFO="$(cat "$PG_STATE/conninfo")"
}

# pg_sql DB SQL: one value (or rows, unaligned) from database DB of pg_start's server.
pg_sql() {
    psql "${PG_CONNINFO/dbname=postgres/dbname=$1}" -XAtqc "$2"
}

# lb_start PORT...: a round-robin TCP load balancer (lb.py) in front of the
# ports; sets LB_PORT.
lb_start() {
    rm -f "$IT_TMP/lb.port"
    python3 "$LIB_DIR/lb.py" "$IT_TMP/lb.port" "$@" 2>"$IT_TMP/lb.log" &
    LB_PID=$!
    until_true 30 test -s "$IT_TMP/lb.port" || fail "the load balancer did not start" "$IT_TMP/lb.log"
    LB_PORT="$(cat "$IT_TMP/lb.port")"
}

# ---------------------------------------------------------------- small helpers

# new_secret CONF [ARGS...]: `cmpgw secret new --json ARGS` for CONF; sets REF and SECRET.
new_secret() {
    local conf="$1" out
    shift
    out="$(mktemp "$IT_TMP/secret.XXXXXX")"
    "$CMPGW" secret new -c "$conf" --json "$@" >"$out" 2>&1 || fail "cmpgw secret new failed" "$out"
    REF="$(json_field reference "$out")"
    SECRET="$(json_field secret "$out")"
}

# json_field NAME FILE: the string value of "NAME" in a one-line JSON object.
json_field() {
    sed -n 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$2"
}

# hex_of FILE: lowercase hex of a file's octets, no separators.
hex_of() { od -An -v -tx1 "$1" | tr -d ' \n'; }

# norm_serial HEX: a serial as cmpgw records it (docs/store.md): lowercase hex
# of whole octets, a leading 00 (the sign octet) left out, but a leading zero
# nibble kept ("0a77..." stays "0a77...").
norm_serial() {
    local s
    s="$(printf '%s' "$1" | tr 'A-F' 'a-f')"
    [ $((${#s} % 2)) -eq 0 ] || s="0$s"
    while [ "${#s}" -gt 2 ] && [ "${s:0:2}" = 00 ]; do s="${s:2}"; done
    printf '%s\n' "$s"
}

# crl_fetch URL REF SECRET ANCHOR OUT: the CRL of a genm crlStatusList
# (`cmpgw client`) into OUT.der, its text into OUT.txt, and the serials it
# lists (as norm_serial writes them) into OUT.serials.
crl_fetch() {
    "$CMPGW" client genm --url "$1" --ref "$2" --secret "$3" --infotype crlStatusList \
        --trusted "$4" --crlout "$5.der" >"$5.genm.out" 2>&1 ||
        fail "cmpgw client genm crlStatusList failed" "$5.genm.out"
    openssl crl -inform DER -in "$5.der" -noout -text >"$5.txt" 2>&1 || fail "openssl crl -text failed" "$5.txt"
    crl_serials "$5.txt" >"$5.serials"
}

# crl_serials TEXT: the serials `openssl crl -text` listed in the file TEXT, as
# norm_serial writes them, one a line.
crl_serials() {
    sed -n 's/^ *Serial Number: *//p' "$1" | while read -r s; do norm_serial "$s"; done
}

# ra_subject DIR: the RA certificate's subject in openssl's /A=B/C=D form.
ra_subject() {
    openssl x509 -in "$1/ra-cert.pem" -noout -subject -nameopt compat | sed 's/^subject=//'
}

# The fields of an `openssl asn1parse` line: "  OFF:d=D  hl=H l=  L prim: TYPE :VALUE".
asn1_off() { printf '%s\n' "$1" | sed 's/^ *\([0-9]*\):.*/\1/'; }
asn1_hl() { printf '%s\n' "$1" | sed 's/.*hl= *\([0-9]*\) .*/\1/'; }
asn1_len() { printf '%s\n' "$1" | sed 's/.* l= *\([0-9]*\) .*/\1/'; }
asn1_value() { printf '%s\n' "$1" | sed 's/^[^:]*:[^:]*:[^:]*://'; }

# asn1_content_hex DERFILE LINE: hex of the contents octets of the element on LINE.
asn1_content_hex() {
    local off hl len
    off="$(asn1_off "$2")"; hl="$(asn1_hl "$2")"; len="$(asn1_len "$2")"
    od -An -v -tx1 -j $((off + hl)) -N "$len" "$1" | tr -d ' \n'
}

# PKIFailureInfo bit names, RFC 9810 §5.2.3, in bit order.
FAILINFO_NAMES=(badAlg badMessageCheck badRequest badTime badCertId badDataFormat
    wrongAuthority incorrectData missingTimeStamp badPOP certRevoked certConfirmed
    wrongIntegrity badRecipientNonce timeNotAvailable unacceptedPolicy
    unacceptedExtension addInfoNotAvailable badSenderNonce badCertTemplate
    signerNotTrusted transactionIdInUse unsupportedVersion notAuthorized
    systemUnavail systemFailure duplicateCertReq)

# failinfo_names HEX: the names of the bits set in a BIT STRING's contents (first
# octet the unused-bit count), comma-separated, in bit order.
failinfo_names() {
    local hex="$1" out="" i byte
    for i in "${!FAILINFO_NAMES[@]}"; do
        [ $(( 2 + 2 * (i / 8) + 2 )) -le "${#hex}" ] || break
        byte=$(( 16#${hex:$(( 2 + 2 * (i / 8) )):2} ))
        if [ $(( byte & (0x80 >> (i % 8)) )) -ne 0 ]; then
            out="${out:+$out,}${FAILINFO_NAMES[$i]}"
        fi
    done
    printf '%s\n' "$out"
}

# ------------------------------------------- helpers added for test_operations_http.sh

# cert_serial PEM: the certificate's serial as cmpgw records it (norm_serial).
cert_serial() {
    local s
    s="$(openssl x509 -in "$1" -noout -serial 2>/dev/null | sed 's/^serial=//')" || return 1
    [ -n "$s" ] || return 1
    norm_serial "$s"
}

# same_pubkey KEY CERT: true when the certificate CERT holds the public key of KEY.
same_pubkey() {
    local a b
    a="$(openssl pkey -in "$1" -pubout 2>/dev/null)" || return 1
    b="$(openssl x509 -in "$2" -noout -pubkey 2>/dev/null | openssl pkey -pubin -pubout 2>/dev/null)" ||
        return 1
    [ -n "$a" ] && [ "$a" = "$b" ]
}

# client_failinfo LOG: the PKIFailureInfo names the OpenSSL client printed in LOG
# ("received error:PKIStatus: rejection; PKIFailureInfo: a, b; ..."), comma-separated
# without spaces; empty when it printed none.
client_failinfo() {
    { grep -m1 -o 'PKIFailureInfo: [^;]*' "$1" 2>/dev/null || true; } |
        sed 's/^PKIFailureInfo: //' | tr -d ' '
}

# log_count ERE: how many lines of the daemon log match ERE.
log_count() {
    local n
    n="$(grep -cE -e "$1" "$DAEMON_LOG" 2>/dev/null || true)"
    printf '%s\n' "${n:-0}"
}

# wait_log_count SECONDS ERE N: wait until at least N lines of the daemon log match
# ERE (fails with the log after SECONDS, or when the daemon exits).
wait_log_count() {
    local limit=$(( $1 * 10 )) i=0
    while [ "$(log_count "$2")" -lt "$3" ]; do
        daemon_exited && fail "the daemon exited (status $(cat "$IT_TMP/daemon.status")) before logging /$2/ $3 times"
        i=$((i + 1))
        [ "$i" -lt "$limit" ] || fail "fewer than $3 lines matching /$2/ in the daemon log after $1 s"
        sleep 0.1
    done
}

# patch_octet IN OFFSET VALUE OUT: copy the file IN to OUT with the octet at OFFSET
# (0-based) replaced by VALUE (0..255).
patch_octet() {
    {
        head -c "$2" "$1"
        # shellcheck disable=SC2059
        printf "\\$(printf '%03o' "$3")"
        tail -c +$(( $2 + 2 )) "$1"
    } >"$4"
}
