#!/usr/bin/env bash
# Builds wolfSSL with its fast math (SP, with x86-64 assembly and Intel
# AES-NI/AVX code) from Debian's own source package of the installed
# libwolfssl-dev version, into .deps/wolfssl of the project, once: a later run
# whose stamp matches does nothing.  CMake uses that build when it is there
# and Debian's library otherwise (it says which).  See docs/PERFORMANCE.md.
#
# Debian's build has generic math: about 4x slower P-256 signing and RSA
# private-key operations.  The features are Debian's own (--enable-distro,
# --enable-pkcs11), so the library offers what the system one does.  wolfSSL
# picks the assembly paths at run time from CPUID (intel_flags), so the
# binary still runs on an x86-64 without AVX2 or BMI2.
#
# The source is fetched with a deb-src list of our own in a temporary
# directory: the system's apt sources are not touched.  Any failure leaves the
# system library in use and exits 0 with a warning, unless
# CMPGW_REQUIRE_FAST_WOLFSSL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
prefix="$root/.deps/wolfssl"
flags="--enable-distro --enable-pkcs11 --disable-examples --disable-crypttests --disable-benchmark --enable-sp=yes --enable-sp-asm --enable-intelasm --enable-static --disable-shared"

warn() {
  echo "build-wolfssl: $*; the system libwolfssl will be used" >&2
  [ "${CMPGW_REQUIRE_FAST_WOLFSSL:-0}" = 1 ] && exit 1
  exit 0
}

[ "$(uname -m)" = x86_64 ] || warn "the assembly is x86-64 only (this is $(uname -m))"
version="$(dpkg-query -W -f='${Version}' libwolfssl-dev 2>/dev/null)" || warn "libwolfssl-dev is not installed"
# wolfSSL's configure leaves optimisation to the caller when CFLAGS is unset
# in a distro build: without these the C parts (hash padding, HMAC, the glue
# around the assembly) were compiled at -O0 and ran about twice as slow.
# Debian's own build flags, as its package uses them.
cflags="$(dpkg-buildflags --get CFLAGS 2>/dev/null | sed 's/-ffile-prefix-map=[^ ]*//') $(dpkg-buildflags --get CPPFLAGS 2>/dev/null)"
case "$cflags" in *-O2*) ;; *) cflags="-g -O2 $cflags" ;; esac
cflags="$(echo $cflags)"
stamp="$version $flags CFLAGS=$cflags"
if [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$stamp" ]; then
  echo "build-wolfssl: $prefix is up to date (wolfSSL $version)"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "build-wolfssl: fetching the source of wolfssl $version"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/src"
cat >"$work/parts/src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$work/parts"
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o APT::Sandbox::User="$(id -un)")
apt-get "${apt_opts[@]}" update -qq >"$work/apt.log" 2>&1 || warn "apt-get update (deb-src) failed: $(tail -1 "$work/apt.log")"
(cd "$work/src" && apt-get "${apt_opts[@]}" source --download-only -qq "wolfssl=$version" >>"$work/apt.log" 2>&1) ||
  warn "apt-get source wolfssl=$version failed: $(tail -1 "$work/apt.log")"
(cd "$work/src" && dpkg-source -x ./*.dsc wolfssl >>"$work/apt.log" 2>&1) || warn "dpkg-source -x failed"

echo "build-wolfssl: configure and build ($flags CFLAGS=$cflags)"
cd "$work/src/wolfssl"
{
  ./autogen.sh &&
    # shellcheck disable=SC2086
    ./configure --prefix="$prefix" $flags CFLAGS="$cflags" &&
    make -j"$(nproc 2>/dev/null || echo 2)" &&
    rm -rf "$prefix" &&
    make install &&
    # the generated options.h (what this build was configured with) is not
    # installed by --enable-distro's rules; Debian's package adds it too
    install -m 0644 wolfssl/options.h "$prefix/include/wolfssl/options.h"
} >"$work/build.log" 2>&1 || { tail -20 "$work/build.log" >&2; warn "the build failed"; }
# Only the static library: the binary must not pick up a shared one at run time.
rm -f "$prefix"/lib/libwolfssl.so* "$prefix"/lib/libwolfssl.la
[ -f "$prefix/lib/libwolfssl.a" ] || warn "no libwolfssl.a was installed"
grep -q WOLFSSL_SP_X86_64_ASM "$prefix/include/wolfssl/options.h" || warn "the build has no SP x86-64 assembly"
echo "$stamp" >"$prefix/.stamp"
echo "build-wolfssl: wolfSSL $version with SP asm and Intel asm in $prefix ($(($(date +%s) - start)) s)"
