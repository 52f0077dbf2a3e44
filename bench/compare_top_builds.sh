#!/usr/bin/env bash
# Two builds of `perfscope top -a --batch` side by side, on the same load over the same seconds:
# their own CPU (the time their threads spent on a CPU, /proc/PID/task/*/schedstat) and resident
# memory. Unlike perf top, two perfscope tops can sample at once, so the load is the same for both.
# The load: ps-threads (2 burning threads) of the second build, plus whatever else runs.
# Usage: bench/compare_top_builds.sh OLD_BUILD_DIR NEW_BUILD_DIR [SECONDS] [HZ] [ROUNDS]
# (defaults: 30 s, 999 Hz, 1 round; DELAY=D refreshes every D s, default 1). Needs root (system-wide sampling and BPF).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 OLD_BUILD_DIR NEW_BUILD_DIR [SECONDS] [HZ] [ROUNDS]" >&2; exit 2; }
old=$1 new=$2 seconds=${3:-30} hz=${4:-999} rounds=${5:-1}
warmup=${WARMUP:-3}
delay=${DELAY:-1}  # seconds between refreshes (-d)
for tool in "$old/perfscope" "$new/perfscope" "$new/targets/ps-threads"; do
  [ -x "$tool" ] || { echo "missing $tool: cmake --build DIR --target perfscope ps-threads" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root: system-wide sampling and BPF" >&2; exit 1; }

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
rss_mb() { awk '/^VmRSS/ {printf "%.0f\n", $2 / 1024}' /proc/"$1"/status; }

"$new/targets/ps-threads" 2 100000000 >/dev/null &
pids+=("$!")
echo "perfscope top -a --batch -F $hz -d $delay, two builds side by side, ${seconds} s after ${warmup} s"
printf '%-5s %14s %14s %8s %9s %9s %12s\n' round "old" "new" new/old "old RSS" "new RSS" "load (1 min)"
for ((r = 1; r <= rounds; r++)); do
  "$old/perfscope" top -a --batch -F "$hz" -d "$delay" >/dev/null 2>&1 &
  o=$!
  "$new/perfscope" top -a --batch -F "$hz" -d "$delay" >/dev/null 2>&1 &
  n=$!
  pids+=("$o" "$n")
  sleep "$warmup"
  o0=$(cpu_ns "$o") n0=$(cpu_ns "$n")
  sleep "$seconds"
  o1=$(cpu_ns "$o") n1=$(cpu_ns "$n")
  orss=$(rss_mb "$o") nrss=$(rss_mb "$n")
  kill -TERM "$o" "$n"
  wait "$o" "$n" 2>/dev/null || true
  awk -v r="$r" -v o=$((o1 - o0)) -v n=$((n1 - n0)) -v s="$seconds" -v or="$orss" -v nr="$nrss" \
    -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
      printf "%-5s %9.1f ms/s %9.1f ms/s %7.0f%% %6s MB %6s MB %12s\n", r, o / 1e6 / s, n / 1e6 / s,
        (o > 0 ? 100 * n / o : 0), or, nr, l }'
done
