#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, in build-fuzz/) and runs each for a bounded time.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    default 30 s each, every target
# Each target starts from its seed corpus fuzz/corpus/TARGET/ (read only); inputs that reach new
# code are kept in build-fuzz/corpus/TARGET/ (merge the ones worth keeping: docs/fuzzing.md). A
# crash, sanitizer report, leak or hang is kept in fuzz/crashes/ as TARGET-crash-HASH (or
# -leak-, -timeout-, -oom-) and makes the script exit 1 after every target has run.
# Environment: FUZZ_BUILD (build directory, default build-fuzz), FUZZ_JOBS (build parallelism).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-30}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(pprof gzip input detect folded perf_script speedscope perf_data kallsyms_cache symbol_cache
           unwind_cache config duration http_request query_string event_spec heap_wire)
fi
build="${FUZZ_BUILD:-build-fuzz}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: clang++ is not installed: run scripts/install-deps.sh --build" >&2
  exit 2
fi
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DPERFSCOPE_FUZZ=ON -DPERFSCOPE_SANITIZE=ON -DPERFSCOPE_TESTS=OFF -DPERFSCOPE_BENCH=OFF \
  -DPERFSCOPE_LINE_TABLES=ON "${launcher[@]}" >/dev/null
cmake --build "$build" -j "${FUZZ_JOBS:-$(nproc)}" --target "${targets[@]/#/fuzz_}"

mkdir -p fuzz/crashes
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
printf '%-14s %10s %8s %8s  %s\n' target runs exec/s cov result >&2
for t in "${targets[@]}"; do
  mkdir -p "$build/corpus/$t"
  log="$build/fuzz-$t.log"
  # -timeout: one input taking this long is a hang; -rss_limit_mb: libFuzzer's default, stated.
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="fuzz/crashes/$t-" \
      "$build/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (log: $log)"
    failed+=("$t")
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-14s %10s %8s %8s  %s\n' "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}" "$result" >&2
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "scripts/fuzz.sh: ${failed[*]} crashed: the inputs are in fuzz/crashes/; reproduce with" \
    "$build/fuzz/fuzz_TARGET fuzz/crashes/FILE, fix, then add the input to fuzz/corpus/TARGET/" >&2
  exit 1
fi
