#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test (ctest: labels unit, kernel, cli).
#   scripts/test.sh              warnings as errors, build/ directory
#   scripts/test.sh --sanitize   the same under AddressSanitizer + UndefinedBehaviorSanitizer, build-asan/
#                                then each fuzz target for 10 s with clang's libFuzzer, build-fuzz/
# Tests whose requirements this machine does not meet (hardware PMU, root, tracefs) are skipped
# with the reason; see README.md, "Tests".
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
# Line tables only (-g1) for perfscope's own code: sanitizer reports keep files and lines, and the
# build takes about a quarter less time; the test programs keep their full debug information.
flags=(-DPERFSCOPE_WERROR=ON -DPERFSCOPE_LINE_TABLES=ON)
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  flags+=(-DPERFSCOPE_SANITIZE=ON -DPERFSCOPE_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug)
fi

./scripts/install-deps.sh

# As root, mount tracefs when it is not (the tracepoint tests need it); as a user, those skip.
if [ "$(id -u)" -eq 0 ] && ! mountpoint -q /sys/kernel/tracing 2>/dev/null; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

cmake -S . -B "$build" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 300

# The sanitizer pass also runs every fuzz target for a bounded time (docs/fuzzing.md): 10 s each
# (PERFSCOPE_FUZZ_SECONDS), with clang, which install-deps.sh installs (it builds the BPF code).
if [ "$build" = build-asan ]; then
  if command -v clang++ >/dev/null 2>&1; then
    ./scripts/fuzz.sh "${PERFSCOPE_FUZZ_SECONDS:-10}"
  else
    echo "clang++ is not installed: the bounded fuzz run is skipped (scripts/install-deps.sh)" >&2
  fi
fi
