#!/usr/bin/env bash
# Installs the dependencies (with the fast wolfSSL build), builds cmpgw three
# ways and runs every test:
#   1. the whole tree with clang (its warnings are errors too) and the fuzz
#      targets (libFuzzer) run CMPGW_FUZZ_SECONDS each (default 60);
#   2. the whole ctest suite under AddressSanitizer + UndefinedBehaviorSanitizer
#      (leaks included), linked with Debian's libwolfssl;
#   3. the whole ctest suite on the normal build, linked with the fast wolfSSL
#      (both libraries are thus tested on every run).
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${CMPGW_FUZZ_SECONDS:-60}

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMPGW_SANITIZE=ON \
  -DCG_WOLFSSL_PREFIX=/nonexistent >/dev/null
cmake --build build-asan -j"$jobs"

echo "== build (clang + libFuzzer)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMPGW_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs"

echo "== fuzz (${fuzz_seconds}s per target)"
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for target in fuzz_pkimessage fuzz_der fuzz_client_response fuzz_transport fuzz_config fuzz_p10; do
  mkdir -p "$corpus/$target"
  build-fuzz/tests/$target -max_total_time="$fuzz_seconds" -print_final_stats=1 \
    -artifact_prefix="$corpus/$target-" "$corpus/$target" tests/vectors/cmp tests/vectors/x509 \
    tests/vectors/transport tests/vectors/config tests/vectors/p10 \
    2>"$corpus/$target.log" || { tail -50 "$corpus/$target.log"; echo "FAILED: $target"; exit 1; }
  grep -E 'Done [0-9]+ runs' "$corpus/$target.log" | sed "s/^/$target: /"
done

echo "== tests under ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure)

echo "== tests"
(cd build && ctest --output-on-failure)
