#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, in build-fuzz/) and runs each for a bounded time.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    default 30 s each, every target
# Each target starts from its seed corpus fuzz/corpus/TARGET/ (read only); inputs that reach new
# code are kept in build-fuzz/corpus/TARGET/ (merge the ones worth keeping: docs/fuzzing.md). A
# crash, sanitizer report, leak or hang is kept in fuzz/crashes/ as TARGET-crash-HASH (or
# -leak-, -timeout-, -oom-) and makes the script exit 1 after every target has run.
# Environment: FUZZ_BUILD (build directory, default build-fuzz), FUZZ_JOBS (build parallelism),
# FUZZ_PARALLEL (targets run at once, default one per CPU).
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
# The targets run side by side, one per CPU (FUZZ_PARALLEL): each has its own corpus directory and
# log, and a bounded run is a fixed time, so running them in turn would only add up their times.
parallel="${FUZZ_PARALLEL:-$(nproc)}"
run_target() {
  local t=$1
  mkdir -p "$build/corpus/$t"
  # -timeout: one input taking this long is a hang; -rss_limit_mb: libFuzzer's default, stated.
  if "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="fuzz/crashes/$t-" \
      "$build/corpus/$t" "fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1; then
    echo ok >"$build/fuzz-$t.result"
  else
    echo "CRASH (log: $build/fuzz-$t.log)" >"$build/fuzz-$t.result"
  fi
}
running=0
for t in "${targets[@]}"; do
  rm -f "$build/fuzz-$t.result"
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
wait

failed=()
printf '%-14s %10s %8s %8s  %s\n' target runs exec/s cov result >&2
for t in "${targets[@]}"; do
  log="$build/fuzz-$t.log"
  result=$(cat "$build/fuzz-$t.result" 2>/dev/null || echo "did not run (log: $log)")
  [ "$result" = ok ] || failed+=("$t")
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
