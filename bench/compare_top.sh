#!/usr/bin/env bash
# perfscope top against perf top (issue 24's benchmark): their own CPU while both watch the same
# load, at the same frequency and refresh interval, in one run. A CPU-bound load (ps-threads: 2 threads burning) keeps
# both CPUs busy for the whole run; on it, one after the other (perf 6.1's perf top aborts with
# "assertion failed at util/build-id.c:1010" when it samples beside a running eBPF profiler):
#   perfscope top -a --batch -F HZ -d D     (eBPF: counts aggregated in the kernel, drained each
#                                            refresh; output to /dev/null)
#   perf top -a --no-bpf-event -F HZ -d D   (its TUI in a tmux pane: a real terminal)
#   perf top -a -g --no-bpf-event -F HZ -d D (with call graphs, as perfscope always has stacks)
# D is DELAY seconds between refreshes, a whole number (perf top's -d takes no fraction; default
# 1, perfscope top's default; perf top's is 2, at which it costs less: DELAY=2 compares at perf
# top's default).
# Each tool's CPU is the time its threads spent on a CPU (/proc/PID/task/*/schedstat) over
# SECONDS, measured after a WARMUP (start-up: perf top reads kallsyms and every process's maps,
# perfscope seeds /proc). Printed: CPU ms per second of each, and perfscope's share of perf top's.
# Usage: bench/compare_top.sh [BUILD_DIR] [SECONDS] [HZ...]   (defaults: build 20 999 4000;
# 4000 Hz is perf top's default). Needs root, perf and tmux. A perf top that could not be measured
# (it aborted RETRIES times) shows as "-".
# ROUNDS (default 3) measures each tool that many times per frequency, interleaved, and prints
# each round and the medians (the ratio of the medians): one window of a few seconds on a shared
# machine is decided by whatever else ran then (one program starting, a compiler, a spike of
# either tool), and a single round moved by several times from one run to the next.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-20}
shift $(( $# >= 2 ? 2 : $# ))
hzs=("$@")
[ ${#hzs[@]} -gt 0 ] || hzs=(999 4000)
warmup=${WARMUP:-5}
delay=${DELAY:-1}
case $build in /*) ;; *) build="$PWD/$build" ;; esac
ps="$build/perfscope"
load="$build/targets/ps-threads"
for tool in "$ps" "$load"; do
  [ -x "$tool" ] || { echo "missing $tool: cmake --build $build --target perfscope ps-threads" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root: system-wide sampling and BPF" >&2; exit 1; }
for t in perf tmux; do
  command -v "$t" >/dev/null || { echo "$t is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done

sock="perfscope-bench-$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  tmux -L "$sock" kill-server 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }

# The load: two threads burning for far longer than the run (killed at the end).
"$load" 2 100000000 >/dev/null &
load_pid=$!
pids+=("$load_pid")

echo "own CPU over ${seconds} s after ${warmup} s of warm-up, a refresh every ${delay} s (-d), load:"
echo "ps-threads (2 burning threads)"
echo "on $(nproc) CPUs, $(uname -r); perf $(perf version 2>/dev/null | awk '{print $3}')"
# measure PID: its threads' CPU ms per second over $seconds, after $warmup s of start-up.
measure() {
  local pid=$1 c0 c1
  sleep "$warmup"
  c0=$(cpu_ns "$pid")
  sleep "$seconds"
  c1=$(cpu_ns "$pid")
  awk -v d=$((c1 - c0)) -v s="$seconds" 'BEGIN { printf "%.1f\n", d / 1e6 / s }'
}
# perf_top_cpu HZ ARGS...: perf top's TUI in a tmux pane (a real terminal), measured. perf top
# aborts when another eBPF profiler loads a program meanwhile (util/build-id.c:1010): it is
# started again, up to RETRIES times (default 5), each abort noted on stderr.
perf_top_cpu() {
  local hz=$1 pid ms try
  shift
  for ((try = 1; try <= ${RETRIES:-5}; try++)); do
    tmux -L "$sock" start-server \; set-option -g remain-on-exit on \; \
      new-session -d -x 200 -y 50 "exec perf top -a --no-bpf-event -F $hz -d $delay $*"
    pid=$(tmux -L "$sock" list-panes -a -F '#{pane_pid}' | head -1)
    ms=$(measure "$pid")
    if ! tmux -L "$sock" list-panes -a -F '#{pane_dead}' | grep -q 1; then
      tmux -L "$sock" kill-server
      echo "$ms"
      return
    fi
    echo "perf top $* ended early (try $try):" \
      "$(tmux -L "$sock" capture-pane -p | grep -v '^$' | grep -m1 -E 'assert|smash|rror' || true)" >&2
    tmux -L "$sock" kill-server
  done
  echo "perf top $* ended early ${RETRIES:-5} times: not measured" >&2
  echo "nan"
}

rounds=${ROUNDS:-3}
printf '%-12s %18s %18s %18s %10s %10s\n' "Hz" "perfscope top" "perf top" "perf top -g" \
  "ps/perf" "ps/perf-g"
# row LABEL A B C: one line of the table.
row() {
  awk -v l="$1" -v a="$2" -v b="$3" -v c="$4" '
    function ms(x) { return x == "nan" ? sprintf("%18s", "-") : sprintf("%13.1f ms/s", x) }
    function pc(x) { return x == "nan" || x <= 0 ? sprintf("%10s", "-") : sprintf("%9.1f%%", 100 * a / x) }
    BEGIN { printf "%-12s %s %s %s %s %s\n", l, ms(a), ms(b), ms(c), pc(b), pc(c) }'
}
# median X...: of the measured values ("nan" left out), or nan.
median() {
  printf '%s\n' "$@" | grep -v nan | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2];
                              else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
for hz in "${hzs[@]}"; do
  as=() bs=() cs=()
  for ((r = 1; r <= rounds; r++)); do
    "$ps" top -a --batch -F "$hz" -d "$delay" >/dev/null 2>&1 &
    ps_pid=$!
    pids+=("$ps_pid")
    a=$(measure "$ps_pid")
    kill -TERM "$ps_pid"; wait "$ps_pid" 2>/dev/null || true  # (a background job ignores SIGINT)
    b=$(perf_top_cpu "$hz")
    c=$(perf_top_cpu "$hz" -g)
    as+=("$a") bs+=("$b") cs+=("$c")
    [ "$rounds" -gt 1 ] && row "$hz #$r" "$a" "$b" "$c"
  done
  row "$hz median" "$(median "${as[@]}")" "$(median "${bs[@]}")" "$(median "${cs[@]}")"
done
echo "target: perfscope top at most 25% of perf top's CPU"
