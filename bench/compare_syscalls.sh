#!/usr/bin/env bash
# Syscall summaries side by side in one run (issue 10's benchmark): the slowdown of
#   dd if=/dev/zero of=/dev/null bs=1 count=COUNT     (2 x COUNT one-byte syscalls)
# bare, and under
#   perfscope syscalls                 eBPF, on-CPU time (sys_enter, sys_exit and sched_switch)
#   perfscope syscalls -w              eBPF, wall-clock time (no sched_switch program)
#   perfscope syscalls --backend perf  perf tracepoint events read through ring buffers
#   perf trace -s                      perf's own summary
#   strace -c                          ptrace: two stops per call
#   perf stat -e raw_syscalls:*        only counting both tracepoints: the floor, what enabling
#                                      sys_enter and sys_exit costs every call before any program
#                                      or record runs (the kernel's slow syscall path)
# Each: the median wall seconds of REPEATS runs (interleaved, so all see the same machine) of the
# whole command, perfscope's and perf's start-up and summary included, and the slowdown (wall /
# the bare run's). A tool whose first run takes longer than 20 s runs once (SLOW_RUNS=N to force).
# Each perfscope backend must count as many read calls as strace does (dd's reads and its start-up's),
# so a fast wrong answer fails the benchmark.
# Usage: bench/compare_syscalls.sh [BUILD_DIR] [REPEATS] [COUNT]   (defaults: build 3 500000)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
repeats=${2:-3}
count=${3:-500000}
case "$build" in /*) dir=$build ;; *) dir="$PWD/$build" ;; esac
ps="$dir/perfscope"
[ -x "$ps" ] || { echo "missing $ps: cmake -S . -B $build -G Ninja && cmake --build $build --target perfscope" >&2; exit 1; }
for t in perf strace dd; do
  command -v "$t" >/dev/null || { echo "$t is missing: apt-get install linux-perf strace" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dd_cmd=(dd if=/dev/zero of=/dev/null bs=1 "count=$count")

now() { date +%s.%N; }
# run LABEL CMD...: one timed run; stdout and stderr to LABEL.log; seconds appended to LABEL.times
run() {
  local label=$1
  shift
  local t0 t1
  t0=$(now)
  "$@" >"$out/$label.log" 2>&1 || { echo "$label failed:" >&2; tail -5 "$out/$label.log" >&2; exit 1; }
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >>"$out/$label.times"
}
# perf stat needs tracefs for the tracepoint ids.
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing
labels=(bare tracepoints-only perfscope perfscope-w perfscope-perf perf-trace strace)
cmd_of() {
  case $1 in
    bare) echo "${dd_cmd[*]}" ;;
    tracepoints-only) echo "perf stat -e raw_syscalls:sys_enter,raw_syscalls:sys_exit -o $out/stat.txt -- ${dd_cmd[*]}" ;;
    perfscope) echo "$ps syscalls -o $out/ps.txt -- ${dd_cmd[*]}" ;;
    perfscope-w) echo "$ps syscalls -w -o $out/psw.txt -- ${dd_cmd[*]}" ;;
    perfscope-perf) echo "$ps syscalls --backend perf -o $out/psp.txt -- ${dd_cmd[*]}" ;;
    perf-trace) echo "perf trace -s -o $out/perf-trace.txt -- ${dd_cmd[*]}" ;;
    strace) echo "strace -c -o $out/strace.txt ${dd_cmd[*]}" ;;
  esac
}
declare -A runs
for label in "${labels[@]}"; do runs[$label]=$repeats; done
for ((i = 0; i < repeats; i++)); do
  for label in "${labels[@]}"; do
    [ "$i" -lt "${runs[$label]}" ] || continue
    # shellcheck disable=SC2046
    run "$label" $(cmd_of "$label")
    if [ "$i" -eq 0 ] && [ "$label" != bare ]; then
      first=$(tail -1 "$out/$label.times")
      if [ -n "${SLOW_RUNS:-}" ]; then
        runs[$label]=$SLOW_RUNS
      elif awk -v f="$first" 'BEGIN { exit !(f > 20) }'; then
        runs[$label]=1
      fi
    fi
  done
done

# Each tool's read count: dd's reads plus the few of its start-up, the same for all.
reads_of() {
  case $1 in
    perfscope) awk '$NF == "read" { print $4 }' "$out/ps.txt" ;;
    perfscope-w) awk '$NF == "read" { print $4 }' "$out/psw.txt" ;;
    perfscope-perf) awk '$NF == "read" { print $4 }' "$out/psp.txt" ;;
    strace) awk '$NF == "read" { print $4 }' "$out/strace.txt" ;;
    perf-trace) awk '$1 == "read" { print $2; exit }' "$out/perf-trace.txt" ;;
  esac
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bare=$(median "$out/bare.times")
echo "dd bs=1 count=$count ($((2 * count)) one-byte syscalls); median of up to $repeats runs; $(nproc) CPUs, kernel $(uname -r)"
printf '%-16s %5s %10s %9s %10s\n' tool runs wall_s slowdown read_calls
for label in "${labels[@]}"; do
  m=$(median "$out/$label.times")
  n=$(wc -l <"$out/$label.times")
  reads="-"
  [ "$label" = bare ] || [ "$label" = tracepoints-only ] || reads=$(reads_of "$label")
  printf '%-16s %5s %10.3f %8.2fx %10s\n' "$label" "$n" "$m" "$(awk -v m="$m" -v b="$bare" 'BEGIN { print m / b }')" "${reads:-?}"
done
strace_reads=$(reads_of strace)
for label in perfscope perfscope-w perfscope-perf; do
  [ "$(reads_of "$label")" = "$strace_reads" ] || { echo "$label counted $(reads_of "$label") reads, strace $strace_reads" >&2; exit 1; }
done
ps_slowdown=$(awk -v m="$(median "$out/perfscope.times")" -v b="$bare" 'BEGIN { print m / b }')
printf 'target: perfscope syscalls under 1.3x the bare run: %s (%.2fx)\n' \
  "$(awk -v s="$ps_slowdown" 'BEGIN { print (s < 1.3) ? "met" : "not met" }')" "$ps_slowdown"
