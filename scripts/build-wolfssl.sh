#!/usr/bin/env bash
# Builds wolfSSL with its fast math (SP, with x86-64 assembly and Intel
# AES-NI/AVX code) from a Debian source package into .deps/wolfssl of the
# project, once: a later run whose stamp matches does nothing.  CMake uses
# that build when it is there and Debian's library otherwise (it says which).
# See docs/PERFORMANCE.md.
#
# The sources, tried in order, each named in the output:
#   1. Debian 13 (trixie)'s wolfSSL, 5.7.2: SHA-256 with the SHA-NI
#      instructions (PasswordBasedMac's rounds, half the crypto of a MAC
#      enrolment, run 2.5 times as fast) and newer TLS 1.3 code;
#   2. the bookworm source of the installed libwolfssl-dev (5.5.4);
#   3. nothing: the system library stays in use.
# The patches of scripts/wolfssl-patches/<upstream version>/ are applied to
# the source of that version (each says what it fixes).
#
# Debian's build has generic math: about 4x slower P-256 signing and RSA
# private-key operations.  The features are Debian's own (--enable-distro,
# --enable-pkcs11), so the library offers what the system one does.  wolfSSL
# picks the assembly paths at run time from CPUID (intel_flags), so the
# binary still runs on an x86-64 without AVX2, BMI2 or SHA-NI.
#
# The sources are fetched with deb-src lists of our own in a temporary
# directory: the system's apt sources are not touched.  When every source
# fails the system library stays in use and this exits 0 with a warning,
# unless CMPGW_REQUIRE_FAST_WOLFSSL=1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
prefix="$root/.deps/wolfssl"
flags="--enable-distro --enable-pkcs11 --disable-examples --disable-crypttests --disable-benchmark --enable-sp=yes --enable-sp-asm --enable-intelasm --enable-static --disable-shared"

give_up() {
  echo "build-wolfssl: $*; the system libwolfssl will be used" >&2
  [ "${CMPGW_REQUIRE_FAST_WOLFSSL:-0}" = 1 ] && exit 1
  exit 0
}

[ "$(uname -m)" = x86_64 ] || give_up "the assembly is x86-64 only (this is $(uname -m))"
installed="$(dpkg-query -W -f='${Version}' libwolfssl-dev 2>/dev/null)" || give_up "libwolfssl-dev is not installed"
# wolfSSL's configure leaves optimisation to the caller when CFLAGS is unset
# in a distro build: without these the C parts (hash padding, HMAC, the glue
# around the assembly) were compiled at -O0 and ran about twice as slow.
# Debian's own build flags, as its package uses them.
cflags="$(dpkg-buildflags --get CFLAGS 2>/dev/null | sed 's/-ffile-prefix-map=[^ ]*//') $(dpkg-buildflags --get CPPFLAGS 2>/dev/null)"
case "$cflags" in *-O2*) ;; *) cflags="-g -O2 $cflags" ;; esac
# A ClientHello may offer up to 512 cipher suites (wolfSSL's default, 150,
# refuses the hellos of TLS scanners and of some old Java clients as
# malformed); it costs 724 octets per session.
cflags="$(echo $cflags) -DWOLFSSL_MAX_SUITE_SZ=1024"
# --enable-distro keeps each session's peer certificate chain in two static
# arrays of nine 2 KB certificates (SESSION_CERTS, with the alternative
# chain): 37 KB of every TLS connection, idle or not, for
# wolfSSL_get_peer_chain(), which cmpgw does not call (the peer's own
# certificate stays, KEEP_PEER_CERT).  configure writes the -U into
# options.h after the -D, so the library and cmpgw agree on the layout.
cflags="$cflags -USESSION_CERTS"
patches="$(cat scripts/wolfssl-patches/*/*.patch 2>/dev/null | sha256sum | cut -c1-16)"
stamp_of() { echo "$1 $flags CFLAGS=$cflags patches=$patches"; }
for source in "trixie" "bookworm $installed"; do
  if [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$(stamp_of "$source")" ]; then
    echo "build-wolfssl: $prefix is up to date (wolfSSL from $source)"
    exit 0
  fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# build SUITE [VERSION]: fetches wolfssl (of VERSION, else the suite's
# newest) from SUITE's deb-src, patches, builds and installs it into
# $prefix; non-zero, saying why, when any step fails (nothing installed).
build() {
  local suite="$1" want="${2:-}" dir="$work/$1" start
  start=$(date +%s)
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/parts" "$dir/src"
  cat >"$dir/parts/src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local apt_opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$dir/parts"
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o APT::Sandbox::User="$(id -un)")
  echo "build-wolfssl: fetching the source of wolfssl${want:+ $want} from $suite"
  apt-get "${apt_opts[@]}" update -qq >"$dir/apt.log" 2>&1 ||
    { echo "build-wolfssl: apt-get update ($suite deb-src) failed: $(tail -1 "$dir/apt.log")" >&2; return 1; }
  (cd "$dir/src" && apt-get "${apt_opts[@]}" source --download-only -qq "wolfssl${want:+=$want}" >>"$dir/apt.log" 2>&1) ||
    { echo "build-wolfssl: apt-get source wolfssl from $suite failed: $(tail -1 "$dir/apt.log")" >&2; return 1; }
  (cd "$dir/src" && dpkg-source -x ./*.dsc wolfssl >>"$dir/apt.log" 2>&1) ||
    { echo "build-wolfssl: dpkg-source -x failed" >&2; return 1; }
  local version upstream
  version="$(cd "$dir/src" && ls ./*.dsc | sed 's/.*wolfssl_\(.*\)\.dsc/\1/')"
  upstream="${version%%-*}"
  cd "$dir/src/wolfssl"
  for p in "$root/scripts/wolfssl-patches/$upstream"/*.patch; do
    [ -f "$p" ] || continue
    echo "build-wolfssl: applying $(basename "$p")"
    patch -p1 --quiet <"$p" >>"$dir/apt.log" 2>&1 ||
      { echo "build-wolfssl: $(basename "$p") does not apply to $version" >&2; cd "$root"; return 1; }
  done
  echo "build-wolfssl: configure and build wolfSSL $version ($flags CFLAGS=$cflags)"
  local staged="$dir/prefix"
  {
    ./autogen.sh &&
      # shellcheck disable=SC2086
      ./configure --prefix="$prefix" $flags CFLAGS="$cflags" &&
      make -j"$(nproc 2>/dev/null || echo 2)" &&
      make install DESTDIR="$staged" &&
      # the generated options.h (what this build was configured with) is not
      # installed by --enable-distro's rules; Debian's package adds it too
      install -m 0644 wolfssl/options.h "$staged$prefix/include/wolfssl/options.h"
  } >"$dir/build.log" 2>&1 || { tail -20 "$dir/build.log" >&2; echo "build-wolfssl: the build of $version failed" >&2; cd "$root"; return 1; }
  cd "$root"
  # Only the static library: the binary must not pick up a shared one at run time.
  rm -f "$staged$prefix"/lib/libwolfssl.so* "$staged$prefix"/lib/libwolfssl.la
  [ -f "$staged$prefix/lib/libwolfssl.a" ] || { echo "build-wolfssl: no libwolfssl.a was installed" >&2; return 1; }
  grep -q WOLFSSL_SP_X86_64_ASM "$staged$prefix/include/wolfssl/options.h" ||
    { echo "build-wolfssl: the build has no SP x86-64 assembly" >&2; return 1; }
  rm -rf "$prefix"
  mkdir -p "$(dirname "$prefix")"
  mv "$staged$prefix" "$prefix"
  echo "build-wolfssl: wolfSSL $version ($suite) with SP asm and Intel asm in $prefix ($(($(date +%s) - start)) s)"
}

if build trixie; then
  stamp_of "trixie" >"$prefix/.stamp"
elif build bookworm "$installed"; then
  stamp_of "bookworm $installed" >"$prefix/.stamp"
else
  give_up "no source could be built"
fi
