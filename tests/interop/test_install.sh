#!/usr/bin/env bash
# test_install.sh - `cmake --install` of the build the binary under test
# comes from, into a temporary prefix: the binary, the man pages cmpgw(8)
# and cmpgw.conf(5) (made from docs/ with go-md2man, so they say what docs/
# says), the systemd unit (naming the installed binary, Type=notify,
# sandboxed; `systemd-analyze verify` accepts it) and the example
# configuration; the installed binary runs.
# Usage: bash tests/interop/test_install.sh /path/to/build/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd cmake man systemd-analyze
lib_init "${1:-}"
BUILD="$(cd "$(dirname "$CMPGW")" && pwd)"
[ -f "$BUILD/cmake_install.cmake" ] || skip "$CMPGW is not in a CMake build directory"
[ -f "$BUILD/man/cmpgw.8" ] || skip "no man pages in this build (go-md2man was not found)"
P="$IT_TMP/usr"
W="$IT_TMP/work"
mkdir -p "$W"

step "1. cmake --install --prefix: the binary, the man pages, the unit, the example"
cmake --install "$BUILD" --prefix "$P" >"$W/install.out" 2>&1 || fail "cmake --install failed" "$W/install.out"
for f in bin/cmpgw share/man/man8/cmpgw.8 share/man/man5/cmpgw.conf.5 \
    lib/systemd/system/cmpgw.service etc/cmpgw/cmpgw.conf.example; do
    [ -s "$P/$f" ] || fail "$f was not installed" "$W/install.out"
done
"$P/bin/cmpgw" --version >"$W/version.out" 2>&1 || fail "the installed binary does not run" "$W/version.out"
ok "$(head -n 1 "$W/version.out") installed with its pages, unit and example"

step "2. the man pages render and say what docs/ says"
MANWIDTH=200 man -l "$P/share/man/man8/cmpgw.8" >"$W/cmpgw.8.txt" 2>"$W/man.err" || fail "cmpgw(8) does not render" "$W/man.err"
MANWIDTH=200 man -l "$P/share/man/man5/cmpgw.conf.5" >"$W/cmpgw.conf.5.txt" 2>"$W/man.err" ||
    fail "cmpgw.conf(5) does not render" "$W/man.err"
grep -q '^CMPGW(8)' "$W/cmpgw.8.txt" && grep -q 'cmpgw reload -c CONF' "$W/cmpgw.8.txt" ||
    fail "cmpgw(8) lacks what docs/cli.md says" "$W/cmpgw.8.txt"
grep -q '^CMPGW.CONF(5)' "$W/cmpgw.conf.5.txt" && grep -q 'readiness_cert_days' "$W/cmpgw.conf.5.txt" ||
    fail "cmpgw.conf(5) lacks what docs/configuration.md says" "$W/cmpgw.conf.5.txt"
ok "cmpgw(8): $(wc -l <"$W/cmpgw.8.txt") lines, cmpgw.conf(5): $(wc -l <"$W/cmpgw.conf.5.txt") lines"

step "3. the unit: Type=notify, its own user, sandboxed; systemd-analyze verify accepts it"
U="$P/lib/systemd/system/cmpgw.service"
grep -qx "ExecStart=$P/bin/cmpgw serve -c $P/etc/cmpgw/cmpgw.conf" "$U" || fail "ExecStart does not name the install" "$U"
for l in Type=notify User=cmpgw NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
    PrivateTmp=yes CapabilityBoundingSet= StateDirectory=cmpgw 'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qxF "$l" "$U" || fail "the unit has no $l" "$U"
done
MANPATH="$P/share/man" systemd-analyze verify "$U" >"$W/verify.out" 2>&1 ||
    fail "systemd-analyze verify refuses the unit" "$W/verify.out"
ok "verified"

step "4. sd_notify: READY when it listens, RELOADING and READY around a reload, STOPPING"
"$CMPGW" init "$IT_TMP/gw" --http 127.0.0.1:0 >"$W/init.out" 2>&1 || fail "cmpgw init failed" "$W/init.out"
python3 - "$IT_TMP/notify.sock" "$W/notify.txt" <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(1)
deadline = time.time() + 120
with open(sys.argv[2], "a") as out:
    while time.time() < deadline:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        out.write(msg.replace("\n", " ") + "\n")
        out.flush()
        if "STOPPING=1" in msg:
            break
PY
LISTENER=$!
until_true 30 test -S "$IT_TMP/notify.sock" || fail "the notify socket did not appear"
NOTIFY_SOCKET="$IT_TMP/notify.sock" daemon_start "$IT_TMP/gw/cmpgw.conf"
until_true 30 grep -q 'READY=1' "$W/notify.txt" || fail "no READY=1" "$W/notify.txt"
kill -HUP "$DAEMON_PID"
until_true 30 grep -q 'RELOADING=1' "$W/notify.txt" || fail "no RELOADING=1" "$W/notify.txt"
daemon_stop TERM 60
wait "$LISTENER" || true
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
grep -c 'READY=1' "$W/notify.txt" | grep -qx 2 && grep -q 'STOPPING=1' "$W/notify.txt" ||
    fail "not READY, RELOADING, READY, STOPPING" "$W/notify.txt"
ok "$(tr '\n' '|' <"$W/notify.txt")"
echo "PASS test_install"
