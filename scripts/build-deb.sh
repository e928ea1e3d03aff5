#!/usr/bin/env bash
# build-deb.sh [BUILD_DIR] [OUT_DIR] - cmpgw_<version>_<arch>.deb from a build
# directory, with Debian's tools: `cmake --install --prefix /usr` into a
# staging tree, dpkg-shlibdeps for the dependencies, dpkg-deb to pack it.
# The package holds the binary, the man pages, the systemd unit and the
# example configuration (a conffile); its postinst makes the system user
# cmpgw and /var/lib/cmpgw (0700); no keys and no configuration in force.
# Prints the path of the .deb.  docs/operations.md, "Installing".
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(cd "${1:-build}" && pwd)"
out="$(mkdir -p "${2:-.}" && cd "${2:-.}" && pwd)"
version="$(sed -n 's/^project(cmpgw VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
arch="$(dpkg --print-architecture)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage/root" cmake --install "$build" --prefix /usr >"$stage/install.log" 2>&1 ||
    { cat "$stage/install.log" >&2; exit 1; }
root="$stage/root"
strip --strip-unneeded "$root/usr/bin/cmpgw" # as dh_strip does
# the example is shipped as such; /etc/cmpgw/cmpgw.conf is the administrator's
mkdir -p "$root/DEBIAN" "$root/usr/share/doc/cmpgw"
gzip -9n <README.md >"$root/usr/share/doc/cmpgw/README.md.gz"
for m in "$root"/usr/share/man/man*/*; do gzip -9n "$m"; done
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo /etc/cmpgw/cmpgw.conf.example >"$root/DEBIAN/conffiles"
# dependencies of the binary, as dpkg-shlibdeps finds them (it wants a
# debian/control to read beside it)
mkdir -p "$stage/src/debian"
printf 'Source: cmpgw\n\nPackage: cmpgw\nArchitecture: any\n' >"$stage/src/debian/control"
deps="$(cd "$stage/src" && dpkg-shlibdeps -O "$root/usr/bin/cmpgw" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat >"$root/DEBIAN/control" <<CONTROL
Package: cmpgw
Version: $version
Architecture: $arch
Maintainer: cmpgw developers <cmpgw@localhost>
Installed-Size: $size
Depends: $deps, adduser
Section: net
Priority: optional
Homepage: https://localhost/cmpgw
Description: CMP registration authority gateway
 cmpgw enrols, renews and revokes X.509 certificates for devices over CMP
 (RFC 9810, RFC 9483) on HTTP, HTTPS and raw TCP, in front of its own CA or
 an upstream CMP CA, with its state in SQLite.
CONTROL
deb="$out/cmpgw_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
