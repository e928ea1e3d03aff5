#!/usr/bin/env bash
# Installs every build and test dependency of cmpgw from Debian 12 packages,
# then builds the fast wolfSSL (scripts/build-wolfssl.sh; once, from Debian's
# source package). Idempotent: packages already present are left alone, a
# current wolfSSL build is kept. Needs root (or sudo) for the packages.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libuv1-dev libwolfssl-dev node-llhttp libsqlite3-dev sqlite3
  libinih-dev libcmocka-dev libsystemd-dev go-md2man man-db systemd
  openssl clang libclang-rt-14-dev sslscan curl softhsm2 opensc prometheus
  libpq-dev postgresql-15 libcoap3-dev libcoap3-bin
  chromium chromium-driver python3-selenium libqrencode-dev
  autoconf automake libtool dpkg-dev patch
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # prometheus is here for its promtool (tests/interop/test_admin.sh); the
  # server its package starts under systemd is not wanted.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  # postgresql-15 is here for its server programs: the tests start their own
  # servers (tests/pg.sh). The cluster the package makes and starts is not
  # wanted either.
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    if [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
    $sudo pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
  fi
fi
"$(dirname "$0")/build-wolfssl.sh"
