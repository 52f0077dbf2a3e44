#!/usr/bin/env bash
# The in-kernel unwinder (issue 18) against DWARF unwinding and plain frame pointers, system-wide,
# on one load: a python3 loop, Debian's gzip compressing in a loop and ps-deep-nofp (C++, -O2
# -fomit-frame-pointer) run for the whole benchmark while perfscope records every CPU, one run after
# the other, SECONDS each at HZ:
#   cold   perfscope record -a --call-graph cfi, every table compiled (PERFSCOPE_UNWIND_CACHE=off)
#   cfi    the same with the tables read from a cache (a 2 s run of this script fills it first)
#   dwarf  perfscope record -a --call-graph dwarf          (perf rings, 16 KiB stack copies)
#   fp     perfscope record -a --call-graph fp --backend bpf (bpf_get_stackid, frame pointers)
# For each: perfscope's all-in CPU (user + system, start-up and table building included, from
# /usr/bin/time), the BPF program's own run time (kernel.bpf_stats_enabled is turned on for the
# run), samples, and lost samples; for cfi the share of each program's user stacks that reached
# the outermost frame and the table memory. Then a 999 Hz cfi run reports lost samples.
# Usage: bench/compare_cfi.sh [BUILD_DIR] [SECONDS] [HZ]      (defaults: build 10 499). Root.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
seconds=${2:-10}
hz=${3:-499}
ps="$PWD/$build/perfscope"
deep="$PWD/$build/targets/ps-deep-nofp"
for tool in "$ps" "$deep" /usr/bin/time /usr/bin/gzip /usr/bin/python3; do
  [ -x "$tool" ] || { echo "missing $tool" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run as root (system-wide eBPF)" >&2; exit 1; }
out=$(mktemp -d)
stats_before=$(cat /proc/sys/kernel/bpf_stats_enabled)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  echo "$stats_before" > /proc/sys/kernel/bpf_stats_enabled
  rm -rf "$out"
}
trap cleanup EXIT
echo 1 > /proc/sys/kernel/bpf_stats_enabled

head -c 32000000 /dev/urandom | base64 > "$out/data"
python3 -c 'while True: sum(i * i for i in range(2000))' &
pids+=($!)
(while :; do gzip -6 -c "$out/data" > /dev/null; done) &
pids+=($!)
"$deep" 100000000 > /dev/null &
pids+=($!)
sleep 1

run() {  # NAME ARGS...: one recording, its summary in $out/NAME.err, CPU in $out/NAME.time
  local name=$1; shift
  /usr/bin/time -f "%U %S" -o "$out/$name.time" "$ps" record -a -d "${duration:-$seconds}" "$@" \
    -o "$out/$name.pb.gz" 2> "$out/$name.err" > /dev/null
}
echo "== system-wide, $seconds s at $hz Hz each, load: python3 loop, gzip loop, ps-deep-nofp"
export PERFSCOPE_UNWIND_CACHE="$out/cache"
PERFSCOPE_UNWIND_CACHE=off run cold -F "$hz" --call-graph cfi
duration=2 run fill -F "$hz" --call-graph cfi   # fills $out/cache for the warm run
run cfi -F "$hz" --call-graph cfi
run dwarf -F "$hz" --call-graph dwarf
run fp -F "$hz" --call-graph fp --backend bpf
run fast -F 999 --call-graph cfi

python3 - "$out" <<'PY'
import re, sys, os
out = sys.argv[1]
def text(name, ext): return open(os.path.join(out, f"{name}.{ext}")).read()
def cpu(name):
    u, s = map(float, text(name, "time").split()[-2:])
    return u + s
def num(pattern, t, default=0.0):
    m = re.search(pattern, t)
    return float(m.group(1).replace(",", "")) if m else default
rows = []
for name in ("cold", "cfi", "dwarf", "fp", "fast"):
    err = text(name, "err")
    samples = num(r"Samples: ([0-9,]+)", err) or num(r"([0-9,]+) samples", err)
    bpf = num(r"BPF program: ([0-9.]+) s", err)
    rows.append((name, cpu(name), bpf, samples, err))
print(f"{'mode':8} {'perfscope CPU s':>16} {'BPF prog s':>11} {'samples':>9} {'CPU ms/1000 samples':>20}")
for name, c, bpf, samples, err in rows:
    per = (c + bpf) * 1000 / (samples / 1000) if samples else 0
    print(f"{name:8} {c:16.3f} {bpf:11.3f} {samples:9.0f} {per:20.1f}")
cold, cfi, dwarf, fp = rows[0], rows[1], rows[2], rows[3]
allin = lambda r: r[1] + r[2]
for label, r in (("cold", cold), ("warm", cfi)):
    print(f"all-in CPU (perfscope + BPF program), {label} tables: cfi/dwarf = {allin(r) / allin(dwarf):.2f}x, cfi/fp = {allin(r) / max(allin(fp), 1e-9):.2f}x")
for name, _, _, _, err in rows:
    for pat in (r"In-kernel unwinding: .*", r"  complete by program.*", r"  stopped early.*",
                r"Unwind tables: .*", r"perfscope CPU time.*",
                r"DWARF unwinding: .*", r"Lost: .*", r"Stacks not captured: .*",
                r"complete \(reach.*|.*reach main.*"):
        for m in re.finditer(pat, err):
            print(f"{name}: {m.group(0).strip()}")
PY
