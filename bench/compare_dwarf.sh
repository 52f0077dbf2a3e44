#!/usr/bin/env bash
# DWARF unwinding, perfscope against perf, on one run of the deep-stack target (issue 8):
#   ps-deep-nofp (ps-deep built -O2 -fomit-frame-pointer: 43 to 63 frames per sample, none with a
#   frame pointer) runs once; perf record --call-graph dwarf and perfscope record --call-graph
#   dwarf sample that same process at 999 Hz with 16 KiB stack copies for SECONDS, side by side.
#   Then, from the end of recording:
#     perfscope: its own wait for the unwinding thread + symbolizing + writing the profile (from its
#                summary), then `perfscope report --folded` on the profile
#     perf:      `perf script` + folding its text (perfscope convert, which folds perf script text),
#                and separately `perf report --stdio`
#   Also: perfscope's unwinding rate (CPU time of its unwinding thread), the share of stacks that
#   reached the outermost frame, and the samples each lost while recording.
# Usage: bench/compare_dwarf.sh [BUILD_DIR] [SECONDS]     (defaults: build 30). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-30}
ps="$PWD/$build/perfscope"
target="$PWD/$build/targets/ps-deep-nofp"
for tool in "$ps" "$target"; do
  [ -x "$tool" ] || { echo "missing $tool: cmake -S . -B $build && cmake --build $build" >&2; exit 1; }
done
command -v perf >/dev/null || { echo "perf is missing: scripts/install-deps.sh installs linux-perf" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (perf's DWARF mode on another process)" >&2; exit 1; }
out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
now() { date +%s.%N; }

"$target" $(( (seconds + 20) * 1000 )) >/dev/null &
pid=$!
sleep 0.5
echo "== recording pid $pid (ps-deep-nofp) for $seconds s at 999 Hz, --call-graph dwarf (16384 bytes), both at once"
perf record -q -N -B --call-graph dwarf,16384 -F 999 -p "$pid" -o "$out/perf.data" -- sleep "$seconds" 2>"$out/perf.err" &
perf_pid=$!
"$ps" record --call-graph dwarf,16384 -F 999 -p "$pid" -d "$seconds" -o "$out/p.pb.gz" >"$out/ps.out" 2>"$out/ps.err" &
ps_pid=$!
# The moment recording ends is the same for both: SECONDS after they started.
wait "$ps_pid"
wait "$perf_pid" || true
kill "$pid" 2>/dev/null || true

t0=$(now); "$ps" report --folded -i "$out/p.pb.gz" -o "$out/p.folded"; t1=$(now)
t2=$(now); perf script -i "$out/perf.data" >"$out/perf.txt" 2>/dev/null; t3=$(now)
"$ps" convert -i "$out/perf.txt" -o "$out/perf.folded"; t4=$(now)
t5=$(now); perf report --stdio -i "$out/perf.data" >/dev/null 2>&1; t6=$(now)

python3 - "$out" "$t0" "$t1" "$t2" "$t3" "$t4" "$t5" "$t6" <<'PY'
import re, sys, os
out = sys.argv[1]
t = list(map(float, sys.argv[2:]))
ps = open(os.path.join(out, "ps.out")).read()
def num(pattern, text, default=0.0):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else default
waited = num(r"waited ([0-9.]+) s for it at the end", ps)
symbolize = num(r"symbolized in ([0-9.]+) s", ps)
unwind_stacks = num(r"Unwinding: ([0-9]+) stacks", ps)
unwind_cpu = num(r"stacks in ([0-9.]+) s of CPU", ps)
reached = re.search(r"DWARF unwinding: .*", ps)
lost_ps = re.search(r"Lost: .*", ps)
report_folded = t[1] - t[0]
perf_script, fold = t[3] - t[2], t[4] - t[3]
perf_report = t[6] - t[5]
ps_total = waited + symbolize + report_folded
perf_total = perf_script + fold
samples = sum(int(l.rsplit(" ", 1)[1]) for l in open(os.path.join(out, "p.folded")) if l.strip())
perf_samples = sum(int(l.rsplit(" ", 1)[1]) for l in open(os.path.join(out, "perf.folded")) if l.strip())
perf_err = open(os.path.join(out, "perf.err")).read().strip()
print(f"samples: perfscope {samples}, perf {perf_samples}")
print(f"{'':44} {'seconds':>9}")
print(f"{'perfscope: wait for unwinding after recording':44} {waited:9.3f}")
print(f"{'perfscope: symbolize + write profile':44} {symbolize:9.3f}")
print(f"{'perfscope: report --folded':44} {report_folded:9.3f}")
print(f"{'perfscope: total to folded':44} {ps_total:9.3f}")
print(f"{'perf: perf script':44} {perf_script:9.3f}")
print(f"{'perf: folding (perfscope convert)':44} {fold:9.3f}")
print(f"{'perf: total to folded':44} {perf_total:9.3f}")
print(f"{'perf: perf report --stdio':44} {perf_report:9.3f}")
print(f"ratio to folded (perf / perfscope): {perf_total / ps_total:.1f}x; perf report / perfscope: {perf_report / ps_total:.1f}x")
if unwind_cpu > 0:
    print(f"perfscope unwinding: {unwind_stacks:.0f} stacks in {unwind_cpu:.3f} s of one core = {unwind_stacks / unwind_cpu:,.0f} stacks/s")
if reached: print("perfscope " + reached.group(0))
if lost_ps: print("perfscope " + lost_ps.group(0))
print("perf record: " + (perf_err if perf_err else "no warnings (no lost events reported)"))
PY
