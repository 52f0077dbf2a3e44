#!/usr/bin/env bash
# perfscope record against perf record, side by side in one run (issue 4's benchmarks):
#   1. overhead: the slowdown of fixed CPU-bound work in 2 threads (ps-threads 2 0 MILLIONS, which
#      prints its own wall time) under system-wide sampling with frame-pointer stacks at 99, 999 and
#      9999 Hz: perfscope record -a vs perf record -a -g --no-bpf-event, median of RUNS each,
#      interleaved so both see the same machine.
#   2. cost: the profiler's own CPU time per 1,000 samples and its peak RSS, for perfscope record
#      (which symbolizes and writes pprof) against perf record + perf report --stdio.
#   3. lost samples at 9999 Hz for 10 s while the workload runs (target: 0).
#   4. report speed on a ~1,000,000-sample recording: perfscope and perf record the same 2-thread
#      workload at the same time, then perfscope report vs perf report --stdio (hyperfine).
# Usage: bench/compare_record.sh [BUILD_DIR] [RUNS]     (defaults: build 5). Needs root.
# SKIP_REPORT=1 skips part 4 (about a minute of recording).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-5}
ps="$PWD/$build/perfscope"
work="$PWD/$build/targets/ps-threads"
for tool in "$ps" "$work"; do
  [ -x "$tool" ] || { echo "missing $tool: cmake -S . -B $build -G Ninja && cmake --build $build" >&2; exit 1; }
done
command -v perf >/dev/null || { echo "perf is missing: scripts/install-deps.sh installs linux-perf" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root: system-wide sampling" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
millions=${MILLIONS:-600}
wall_ms() { sed -n 's/.* done in \([0-9.]*\) ms/\1/p' | tail -1; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "== 1. overhead: ps-threads 2 0 $millions (fixed work), median of $runs runs"
printf "%-6s %12s %12s %12s %10s %10s %8s\n" Hz "none ms" "perfscope ms" "perf ms" "perfscope" "perf" "ratio"
for hz in 99 999 9999; do
  : >"$out/none" ; : >"$out/ps" ; : >"$out/perf"
  for _ in $(seq "$runs"); do
    "$work" 2 0 "$millions" | wall_ms >>"$out/none"
    "$ps" record -a -F "$hz" -o "$out/p.pb.gz" -- "$work" 2 0 "$millions" 2>/dev/null | wall_ms >>"$out/ps"
    perf record -a -g --no-bpf-event -F "$hz" -o "$out/perf.data" -- "$work" 2 0 "$millions" 2>/dev/null | wall_ms >>"$out/perf"
  done
  n=$(median <"$out/none"); p=$(median <"$out/ps"); f=$(median <"$out/perf")
  python3 - "$hz" "$n" "$p" "$f" <<'PY'
import sys
hz, n, p, f = sys.argv[1], *map(float, sys.argv[2:])
sp, sf = p / n - 1, f / n - 1
ratio = "n/a" if sf <= 0 else f"{sp / sf:.2f}"
print(f"{hz:<6} {n:12.1f} {p:12.1f} {f:12.1f} {sp*100:9.2f}% {sf*100:9.2f}% {ratio:>8}")
PY
done
echo "(slowdown = workload wall time under the profiler / without - 1; ratio = perfscope's / perf's)"

echo
echo "== 2. profiler cost at 999 Hz, -a, ps-threads 2 0 $millions"
/usr/bin/time -f "%U %S %M" -o "$out/ps.time" "$ps" record -a -F 999 -o "$out/p.pb.gz" -- "$work" 2 0 "$millions" >"$out/ps.out" 2>/dev/null
ps_samples=$(sed -n 's/^Collected \([0-9]*\) samples.*/\1/p' "$out/ps.out")
/usr/bin/time -f "%U %S %M" -o "$out/perf.time" perf record -a -g --no-bpf-event -F 999 -o "$out/perf.data" -- "$work" 2 0 "$millions" >/dev/null 2>"$out/perf.err"
/usr/bin/time -f "%U %S %M" -o "$out/report.time" perf report --stdio -i "$out/perf.data" >/dev/null 2>&1
perf_samples=$(perf report --stdio -i "$out/perf.data" --header-only 2>/dev/null | sed -n 's/.*sample_freq.*//;s/^# Samples: \([0-9]*\).*/\1/p' | head -1)
[ -n "$perf_samples" ] || perf_samples=$(perf script -i "$out/perf.data" -F period 2>/dev/null | wc -l)
python3 - "$ps_samples" "$perf_samples" "$out/ps.time" "$out/perf.time" "$out/report.time" <<'PY'
import sys
ps_n, perf_n = int(sys.argv[1]), int(sys.argv[2])
def t(path):
    u, s, m = open(path).read().split()[-3:]
    return float(u) + float(s), int(m)
ps_cpu, ps_rss = t(sys.argv[3])
rec_cpu, rec_rss = t(sys.argv[4])
rep_cpu, rep_rss = t(sys.argv[5])
perf_cpu = rec_cpu + rep_cpu
print(f"perfscope record: {ps_n} samples, {ps_cpu:.3f} s CPU = {ps_cpu/ps_n*1e6:.2f} ms per 1,000 samples, peak RSS {ps_rss/1024:.1f} MiB")
print(f"perf record + report: {perf_n} samples, {rec_cpu:.3f} + {rep_cpu:.3f} s CPU = {perf_cpu/perf_n*1e6:.2f} ms per 1,000 samples, peak RSS {max(rec_rss, rep_rss)/1024:.1f} MiB")
print(f"ratio (perfscope / perf) per 1,000 samples: {(ps_cpu/ps_n)/(perf_cpu/perf_n):.2f}")
PY

echo
echo "== 3. lost samples at 9999 Hz for 10 s, -a, with ps-threads running"
"$work" 2 11000 >/dev/null &
load=$!
"$ps" record -a -F 9999 -d 10 -o "$out/lost.pb.gz" | grep -E "^(Collected|Lost|Sample rate)"
wait "$load" || true

if [ "${SKIP_REPORT:-0}" = 1 ]; then exit 0; fi
echo
echo "== 4. report on a ~1,000,000-sample recording (both tools recording the same 52 s at 9999 Hz)"
"$work" 2 53000 >/dev/null &
load=$!
perf record -a -g --no-bpf-event -F 9999 -o "$out/big.data" -- sleep 52 >/dev/null 2>&1 &
perf_pid=$!
"$ps" record -a -F 9999 -d 52 -o "$out/big.pb.gz" | grep -E "^Collected"
wait "$perf_pid"
wait "$load" || true
echo "perf: $(perf report --stdio -i "$out/big.data" --header-only 2>/dev/null | grep -m1 -E '^# (Samples|event : .*)' || true)"
hyperfine -N --warmup 1 --runs 3 --export-json "$out/report.json" \
  -n "perfscope report" "$ps report -i $out/big.pb.gz" \
  -n "perf report --stdio" "perf report --stdio -i $out/big.data"
python3 - "$out/report.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
a, b = r["perfscope report"], r["perf report --stdio"]
print(f"perfscope report {a['mean']:.3f} s, perf report --stdio {b['mean']:.3f} s: perfscope is {b['mean']/a['mean']:.1f}x faster")
PY
