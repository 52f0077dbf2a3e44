#!/usr/bin/env bash
# Off-CPU profiling of a context-switch storm in one run (issue 22's benchmark): the slowdown of
#   ps-offcpu storm PASSES   (two threads pass a byte back and forth over two pipes PASSES times)
# bare, and under
#   perfscope record --off-cpu --min-block 0   every switch of the storm's threads stored, summed in
#                                              the kernel per (thread, state, stacks); user stacks
#                                              walked with the .eh_frame tables (the default)
#   ... --call-graph fp --min-block 0          the same with frame-pointer user stacks
#   perfscope record --off-cpu                 the default --min-block 1us
#   offcputime-bpfcc -f -p PID                 bcc's tool, when it can run (it compiles its program
#                                              against the kernel headers and uses kprobes)
#   bpftrace off-CPU one-liner                 tracepoint:sched:sched_switch: each storm thread's
#                                              kstack and ustack (frame pointers) as it leaves, the
#                                              nanoseconds away summed per (kstack, ustack) when it
#                                              returns: what bcc's offcputime does, on a tracepoint
# Each: the median wall seconds of the storm itself (its own CLOCK_MONOTONIC, printed as wall_ns,
# so start-up and symbolization are left out) over REPEATS interleaved runs, the slowdown against
# the bare storm, and for perfscope its own CPU per million switches: user space (the summary's
# "perfscope CPU time ... while recording") plus the sched_switch program's kernel time, read from
# kernel.bpf_stats_enabled (switched on for the run and restored at the end).
# Usage: bench/compare_offcpu.sh [BUILD_DIR] [REPEATS] [PASSES]   (defaults: build 3 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
repeats=${2:-3}
passes=${3:-1000000}
case "$build" in /*) dir=$build ;; *) dir="$PWD/$build" ;; esac
ps="$dir/perfscope"
storm="$dir/targets/ps-offcpu"
for f in "$ps" "$storm"; do
  [ -x "$f" ] || { echo "missing $f: cmake --build $build --target perfscope ps-offcpu" >&2; exit 1; }
done
out=$(mktemp -d)
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
trap 'echo "$old_stats" > /proc/sys/kernel/bpf_stats_enabled; rm -rf "$out"' EXIT
echo 1 > /proc/sys/kernel/bpf_stats_enabled

# Whether bcc's offcputime can run here, and if not why.
bcc_why=""
if ! command -v offcputime-bpfcc >/dev/null; then
  bcc_why="offcputime-bpfcc is not installed (apt-get install bpfcc-tools)"
elif [ ! -e "/lib/modules/$(uname -r)/build" ] && [ ! -e /sys/kernel/kheaders.tar.xz ]; then
  bcc_why="offcputime-bpfcc needs the kernel headers of $(uname -r) (none installed, no CONFIG_IKHEADERS)"
fi

# Whether bpftrace can run here, and if not why.
bt_why=""
if ! command -v bpftrace >/dev/null; then
  bt_why="bpftrace is not installed (apt-get install bpftrace)"
fi
oneliner='BEGIN { printf("ready\n"); }
tracepoint:sched:sched_switch {
  if (strncmp(args->prev_comm, "ps-p", 4) == 0) {
    @start[args->prev_pid] = nsecs; @k[args->prev_pid] = kstack; @u[args->prev_pid] = ustack;
  }
  $t = @start[args->next_pid];
  if ($t) {
    @off[@k[args->next_pid], @u[args->next_pid]] = sum(nsecs - $t);
    delete(@start[args->next_pid]); delete(@k[args->next_pid]); delete(@u[args->next_pid]);
  }
}
END { clear(@start); clear(@k); clear(@u); }'

# bpftrace_run LOG I: the storm under the one-liner (attached first: it prints "ready" from BEGIN,
# which runs once its probes are attached); its programs' run time from bpf_stats, then SIGINT.
bpftrace_run() {
  local fifo="$out/bt.fifo" line=""
  rm -f "$fifo"
  mkfifo "$fifo"
  bpftrace -B line -e "$oneliner" >"$fifo" 2>"$out/bt.$2.err" &
  local bt=$!
  exec 3<"$fifo"
  while read -r line <&3; do [ "$line" = ready ] && break; done
  cat <&3 >"$out/bt.$2.out" &
  local reader=$!
  "$storm" storm "$passes" >"$1" 2>&1
  # The one-liner's sched_switch program (bpftrace names a tracepoint's program after it; this
  # bpftool lists no owner pids): run time and count.
  bpftool prog show -j | jq -r '[.[] | select(.type == "tracepoint" and .name == "sched_switch")] |
    "bpftrace programs: \(map(.run_time_ns // 0) | add) ns in \(map(.run_cnt // 0) | add) runs"' >>"$1"
  kill -INT "$bt"
  wait "$bt" || true
  wait "$reader"
  exec 3<&-
}

# wall LOG: the storm's own wall seconds from its "wall_ns=" line.
wall() { sed -n 's/.*wall_ns=\([0-9]*\).*/\1/p' "$1" | awk '{ printf "%.4f\n", $1 / 1e9 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

labels=(bare perfscope-min0 perfscope-fp-min0 perfscope)
[ -z "$bcc_why" ] && labels+=(bcc)
[ -z "$bt_why" ] && labels+=(bpftrace)
for ((i = 0; i < repeats; i++)); do
  for label in "${labels[@]}"; do
    log="$out/$label.$i.log"
    case $label in
      bare) "$storm" storm "$passes" >"$log" 2>&1 ;;
      perfscope-min0) "$ps" record --off-cpu --min-block 0 -o "$out/p0.pb.gz" -- "$storm" storm "$passes" >"$log" 2>&1 ;;
      perfscope-fp-min0) "$ps" record --off-cpu --call-graph fp --min-block 0 -o "$out/pf.pb.gz" -- "$storm" storm "$passes" >"$log" 2>&1 ;;
      perfscope) "$ps" record --off-cpu -o "$out/p.pb.gz" -- "$storm" storm "$passes" >"$log" 2>&1 ;;
      bcc)
        # bcc attaches after its compile: the storm waits for its first output line... bcc -f
        # prints nothing until the end, so the storm starts once bcc's program is loaded.
        "$storm" storm "$passes" >"$log" 2>&1 &
        spid=$!
        offcputime-bpfcc -f -p "$spid" >"$out/bcc.$i.folded" 2>"$out/bcc.$i.err" &
        bpid=$!
        wait "$spid"
        kill -INT "$bpid" 2>/dev/null || true
        wait "$bpid" || true
        ;;
      bpftrace) bpftrace_run "$log" "$i" ;;
    esac
    wall "$log" >>"$out/$label.times"
  done
done

bare=$(median <"$out/bare.times")
printf '%-18s %10s %9s %28s\n' tool "storm s" slowdown "perfscope CPU per 1M switches"
for label in "${labels[@]}"; do
  m=$(median <"$out/$label.times")
  extra=""
  if [[ $label == bpftrace ]]; then
    log="$out/$label.0.log"
    kern=$(sed -n 's/^bpftrace programs: \([0-9]*\) ns in \([0-9]*\) runs.*/\1 \2/p' "$log")
    switches=$(sed -n 's/.*ps-ping=\([0-9]*\) ps-pong=\([0-9]*\).*/\1 \2/p' "$log" | awk '{ print $1 + $2 }')
    extra=$(awk -v k="${kern% *}" -v runs="${kern#* }" -v n="$switches" \
      'BEGIN { if (runs > 0) printf "%.3f s BPF (%d switches, %.0f ns per program run)", k / 1e9 * 1e6 / n, n, k / runs }')
  fi
  if [[ $label == perfscope* ]]; then
    log="$out/$label.0.log"
    user=$(sed -n 's/.*perfscope CPU time: \([0-9.]*\) s while recording.*/\1/p' "$log")
    kern=$(sed -n 's/.*sched_switch program: \([0-9.]*\) s in \([0-9]*\) runs.*/\1 \2/p' "$log")
    switches=$(sed -n 's/.*Off-CPU: \([0-9]*\) switches.*/\1/p' "$log")
    extra=$(awk -v u="$user" -v k="${kern% *}" -v runs="${kern#* }" -v n="$switches" \
      'BEGIN { printf "%.3f s user + %.3f s BPF (%d switches, %.0f ns per program run)", u * 1e6 / n, k * 1e6 / n, n, k * 1e9 / runs }')
  fi
  awk -v l="$label" -v m="$m" -v b="$bare" -v e="$extra" 'BEGIN { printf "%-18s %10.3f %8.2fx   %s\n", l, m, m / b, e }'
done
[ -n "$bcc_why" ] && echo "bcc: not run: $bcc_why"
[ -n "$bt_why" ] && echo "bpftrace: not run: $bt_why"
echo "(median of $repeats runs, $passes passes; kernel $(uname -r), $(nproc) CPUs)"
