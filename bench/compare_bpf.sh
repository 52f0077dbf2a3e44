#!/usr/bin/env bash
# The eBPF backend against the perf backend, perf record and bcc's profile, side by side in one run
# (issue 5's benchmark). A CPU-bound 2-thread workload (ps-threads 2 0 MILLIONS: fixed work, prints
# its wall time) runs while each profiler samples system-wide with kernel + user stacks at 99, 999
# and 9999 Hz:
#   none            the workload alone
#   ps-bpf          perfscope record -a --backend bpf
#   ps-perf         perfscope record -a --backend perf
#   perf            perf record -a -g --no-bpf-event
#   profile-bpfcc   profile-bpfcc -F HZ -f (bcc; in-kernel aggregation too)
# For each: the workload's slowdown (median of RUNS), and the profiler's own CPU time while the
# workload ran (its threads' time on a CPU from /proc/PID/task/*/schedstat, median), excluding start-up
# (bcc compiles its program with clang at start; the workload starts once each profiler uses under
# 5 ms of CPU per half second) and the work after the end (symbolizing).
#
# profile-bpfcc needs kernel headers; Debian has none for a non-Debian kernel, so when
# /lib/modules/$(uname -r)/build is missing this script points it at Debian's 6.1 headers for the
# run (profile.py only uses stable UAPI types) and removes the links afterwards.
# Usage: bench/compare_bpf.sh [BUILD_DIR] [RUNS]    (defaults: build 5). MILLIONS=3000 sets the
# work (about 4 s on 2 idle cores). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-5}
ps="$PWD/$build/perfscope"
work="$PWD/$build/targets/ps-threads"
millions=${MILLIONS:-3000}
for tool in "$ps" "$work"; do
  [ -x "$tool" ] || { echo "missing $tool: cmake -S . -B $build -G Ninja && cmake --build $build" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root: system-wide sampling and BPF" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is missing: scripts/install-deps.sh installs linux-perf" >&2; exit 1; }
have_bcc=1
command -v profile-bpfcc >/dev/null || { echo "profile-bpfcc missing (bpfcc-tools): left out" >&2; have_bcc=0; }

out=$(mktemp -d)
made_links=""
cleanup() {
  rm -rf "$out"
  if [ -n "$made_links" ]; then rm -f "$made_links/build" "$made_links/source"; rmdir "$made_links" 2>/dev/null || true; fi
}
trap cleanup EXIT
kdir=/lib/modules/$(uname -r)
if [ "$have_bcc" = 1 ] && [ ! -e "$kdir/build" ]; then
  hdr=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1 || true)
  common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$hdr" ] && [ -n "$common" ]; then
    mkdir -p "$kdir"; ln -sfn "$hdr" "$kdir/build"; ln -sfn "$common" "$kdir/source"; made_links=$kdir
    echo "(profile-bpfcc compiles against $hdr: no headers for $(uname -r))"
  else
    echo "profile-bpfcc needs kernel headers: apt-get install linux-headers-amd64 (left out)" >&2
    have_bcc=0
  fi
fi

# CPU time of every thread of a process, in ns (schedstat's first field: time spent on a CPU).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
wall_ms() { sed -n 's/.* done in \([0-9.]*\) ms/\1/p' | tail -1; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# run_one TOOL HZ: appends the workload's wall ms to $out/TOOL.HZ.wall and the profiler's CPU ms
# while the workload ran to $out/TOOL.HZ.cpu.
run_one() {
  local tool=$1 hz=$2 pid=""
  case $tool in
    none) ;;
    ps-bpf)  "$ps" record -a --backend bpf -F "$hz" -o "$out/p.pb.gz" >/dev/null 2>&1 & pid=$! ;;
    ps-perf) "$ps" record -a --backend perf -F "$hz" -o "$out/p.pb.gz" >/dev/null 2>&1 & pid=$! ;;
    perf)    perf record -a -g --no-bpf-event -F "$hz" -o "$out/perf.data" >/dev/null 2>&1 & pid=$! ;;
    profile-bpfcc) profile-bpfcc -F "$hz" -f >"$out/bcc.folded" 2>/dev/null & pid=$! ;;
  esac
  if [ -n "$pid" ]; then
    if [ "$tool" = profile-bpfcc ]; then  # attached once its program is loaded (after compiling)
      for _ in $(seq 600); do bpftool prog show 2>/dev/null | grep -q do_perf_event && break; sleep 0.1; done
    fi
    # Settled: start-up over once the profiler uses under 5 ms of CPU in half a second.
    local prev now
    prev=$(cpu_ns "$pid")
    for _ in $(seq 60); do
      sleep 0.5; now=$(cpu_ns "$pid")
      [ $((now - prev)) -lt 5000000 ] && break
      prev=$now
    done
  fi
  local before=0
  [ -n "$pid" ] && before=$(cpu_ns "$pid")
  "$work" 2 0 "$millions" | wall_ms >>"$out/$tool.$hz.wall"
  if [ -n "$pid" ]; then
    local after; after=$(cpu_ns "$pid")
    echo "$(( (after - before) / 1000 ))" | awk '{printf "%.1f\n", $1 / 1000}' >>"$out/$tool.$hz.cpu"
    # A script's background jobs ignore SIGINT, and Python then never installs its handler: end
    # bcc with SIGTERM (its output is not needed); the others stop cleanly on SIGINT.
    if [ "$tool" = profile-bpfcc ]; then kill -TERM "$pid"; else kill -INT "$pid"; fi
    wait "$pid" 2>/dev/null || true
  fi
}

tools="none ps-bpf ps-perf perf"
[ "$have_bcc" = 1 ] && tools="$tools profile-bpfcc"
echo "== ps-threads 2 0 $millions (fixed work), system-wide sampling with kernel+user stacks, median of $runs runs"
printf "%-6s %-14s %10s %9s %12s\n" Hz profiler "wall ms" slowdown "own CPU ms"
for hz in 99 999 9999; do
  for _ in $(seq "$runs"); do
    for tool in $tools; do run_one "$tool" "$hz"; done  # interleaved: all see the same machine
  done
  base=$(median <"$out/none.$hz.wall")
  for tool in $tools; do
    w=$(median <"$out/$tool.$hz.wall")
    c="-"; [ "$tool" != none ] && c=$(median <"$out/$tool.$hz.cpu")
    python3 -c "import sys; hz,t,w,b,c=sys.argv[1:]; print(f'{hz:<6} {t:<14} {float(w):10.1f} {(float(w)/float(b)-1)*100:8.2f}% {c:>12}')" "$hz" "$tool" "$w" "$base" "$c"
  done
done
echo "(slowdown = wall time under the profiler / alone - 1; own CPU = the time the profiler's threads"
echo " spent on a CPU while the workload ran, from /proc/PID/task/*/schedstat)"
