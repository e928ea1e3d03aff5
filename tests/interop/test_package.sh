#!/usr/bin/env bash
# test_package.sh - the Debian package (scripts/build-deb.sh) of the build the
# binary under test comes from, installed for real: apt-get install ./.deb
# makes the user cmpgw and /var/lib/cmpgw (0700) and leaves no
# configuration in force; cmpgw init runs as the service user into the
# state directory; the installed binary serves as the unit runs it (as
# cmpgw, -c /etc/cmpgw/cmpgw.conf); openssl cmp enrols; purge removes the
# package, its state and its user.  It changes the system, so it runs as
# root only (as CI does), and never over an installed cmpgw package.
# Usage: bash tests/interop/test_package.sh /path/to/build/cmpgw
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
need_cmd dpkg-deb dpkg-shlibdeps apt-get setpriv openssl
[ "$(id -u)" = 0 ] || skip "installs a package: root only (CI runs it)"
if dpkg-query -W -f='${Status}' cmpgw 2>/dev/null | grep -q 'install ok installed'; then
    skip "a cmpgw package is installed already; this test would replace it"
fi
lib_init "${1:-}"
BUILD="$(cd "$(dirname "$CMPGW")" && pwd)"
[ -f "$BUILD/cmake_install.cmake" ] || skip "$CMPGW is not in a CMake build directory"
# whatever happens, the package goes
LINKED=0
trap 'rc=$?; set +e; [ "$LINKED" = 0 ] || rm -f /etc/cmpgw/cmpgw.conf; dpkg -P cmpgw >/dev/null 2>&1; (exit $rc); lib_cleanup' EXIT
W="$IT_TMP/work"
mkdir -p "$W"

step "1. scripts/build-deb.sh, then apt-get install ./cmpgw_*.deb"
"$HERE/../../scripts/build-deb.sh" "$BUILD" "$W" >"$W/deb.out" 2>&1 || fail "build-deb.sh failed" "$W/deb.out"
DEB="$(tail -n 1 "$W/deb.out")"
case "$(basename "$DEB")" in cmpgw_*_*.deb) ;; *) fail "no cmpgw_VERSION_ARCH.deb" "$W/deb.out" ;; esac
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$DEB" >"$W/apt.out" 2>&1 ||
    fail "apt-get install failed" "$W/apt.out"
getent passwd cmpgw >/dev/null || fail "no user cmpgw"
[ "$(stat -c '%U %a' /var/lib/cmpgw)" = "cmpgw 700" ] || fail "/var/lib/cmpgw: $(stat -c '%U %a' /var/lib/cmpgw)"
[ ! -e /etc/cmpgw/cmpgw.conf ] || fail "the package put a configuration in force"
[ -f /etc/cmpgw/cmpgw.conf.example ] && [ -f /usr/lib/systemd/system/cmpgw.service ] ||
    fail "the example or the unit is missing"
ls /etc/cmpgw /var/lib/cmpgw | grep -qE 'key|p12|pass' && fail "the package holds keys"
/usr/bin/cmpgw --version >"$W/version.out" 2>&1 || fail "the installed binary does not run" "$W/version.out"
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /usr/lib/systemd/system/cmpgw.service >"$W/verify.out" 2>&1 ||
        fail "systemd-analyze verify refuses the installed unit" "$W/verify.out"
fi
ok "$(basename "$DEB") installed: user cmpgw, /var/lib/cmpgw 0700, no configuration, no keys; the unit verifies"

step "2. cmpgw init as the service user into the state directory; served as the unit serves it"
as_cmpgw() { setpriv --reuid=cmpgw --regid=cmpgw --init-groups "$@"; }
(cd /var/lib/cmpgw && as_cmpgw /usr/bin/cmpgw init /var/lib/cmpgw/site --http 127.0.0.1:0 \
    --admin 127.0.0.1:0) >"$W/init.out" 2>&1 || fail "cmpgw init as cmpgw failed" "$W/init.out"
ln -s /var/lib/cmpgw/site/cmpgw.conf /etc/cmpgw/cmpgw.conf
LINKED=1
cat >"$W/serve-as-cmpgw" <<WRAP
#!/bin/sh
cd /var/lib/cmpgw && exec setpriv --reuid=cmpgw --regid=cmpgw --init-groups /usr/bin/cmpgw "\$@"
WRAP
chmod +x "$W/serve-as-cmpgw"
SERVE="$CMPGW"
CMPGW="$W/serve-as-cmpgw"
daemon_start /etc/cmpgw/cmpgw.conf
CMPGW="$SERVE"
[ "$(stat -c %U "/proc/$DAEMON_PID")" = cmpgw ] || fail "the daemon does not run as cmpgw"
out="$(as_cmpgw /usr/bin/cmpgw secret new -c /etc/cmpgw/cmpgw.conf --json)" || fail "secret new as cmpgw failed"
printf '%s\n' "$out" >"$W/secret.json"
REF="$(json_field reference "$W/secret.json")"
SECRET="$(json_field secret "$W/secret.json")"
RA="$(ra_subject /var/lib/cmpgw/site)" || fail "cannot read the RA subject"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/dev.key" 2>/dev/null
openssl cmp -cmd ir -server "127.0.0.1:$PORT" -path .well-known/cmp -ref "$REF" -secret "pass:$SECRET" \
    -recipient "$RA" -newkey "$W/dev.key" -subject /CN=package-dev -certout "$W/dev.pem" \
    -trusted /var/lib/cmpgw/site/ca-cert.pem >"$W/ir.log" 2>&1 || fail "ir against the package failed" "$W/ir.log"
openssl verify -CAfile /var/lib/cmpgw/site/ca-cert.pem "$W/dev.pem" >/dev/null || fail "the certificate does not verify"
daemon_stop TERM 60
[ "$DAEMON_STATUS" = 0 ] || fail "the daemon exited $DAEMON_STATUS"
ok "enrolled against the installed daemon, running as cmpgw"

step "3. apt-get purge: the package, its state and its user are gone"
rm -f /etc/cmpgw/cmpgw.conf
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q cmpgw >"$W/purge.out" 2>&1 || fail "apt-get purge failed" "$W/purge.out"
[ ! -e /usr/bin/cmpgw ] && [ ! -e /var/lib/cmpgw ] && [ ! -e /etc/cmpgw ] ||
    fail "purge left files" "$W/purge.out"
getent passwd cmpgw >/dev/null && fail "purge left the user"
ok "removed cleanly"
echo "PASS test_package"
