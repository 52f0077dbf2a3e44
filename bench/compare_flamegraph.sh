#!/usr/bin/env bash
# Flame graphs from `perf script` text: perfscope against the nearest paths on this machine, in one
# run (issue 6's benchmark):
#   1. record ps-deep (stacks of 42 to 64 frames) with `perf record -N -B -g` and write its
#      `perf script` text. When one recording gives less than MIN_MB, the text is repeated whole
#      (sample by sample, so every copy folds the same) until it is MIN_MB; the output says so.
#   2. fold: `perfscope flamegraph -i TEXT -o SVG --folded-out FOLDED`, pinned to one core, median
#      of RUNS. There is no fold-only switch: this is fold + render of the merged tree; step 3
#      shows what the render part costs.
#   3. render: `perfscope flamegraph` from the folded file step 2 wrote (hyperfine, same core):
#      MB/s of SVG written and of folded input, also less the time of the same command on a
#      one-stack input (process start, which dominates at this size).
#   4. an awk fold of the same text (the short folder below, as stackcollapse-perf.pl folds: COMM
#      as root frame, offsets cut, unknown symbols named for their module, kernel frames "_[k]"),
#      same core, median of RUNS; its folded stacks are checked against perfscope's.
#   5. perf's own flamegraph.py (`perf script -s flamegraph.py -- -f json`: the HTML format needs
#      the d3-flame-graph template, which Debian's linux-perf does not ship) on the recording's
#      perf.data, against `perf script | perfscope flamegraph` on the same perf.data; both sides
#      include perf's decoding and symbolizing, so MB/s here are of the recording's text size.
#   6. the in-process micro-benchmarks of bench/flamegraph_bench.cpp (no process start, no file
#      reading), when BUILD_DIR has perfscope_bench; SKIP_MICRO=1 leaves them out.
# MB = 10^6 bytes (inferno's 182 MiB/s is 191 MB/s). Peak RSS is /usr/bin/time's %M.
# Usage: bench/compare_flamegraph.sh [BUILD_DIR] [RUNS]    (defaults: build 3). Needs root, perf,
# hyperfine. Env: MIN_MB (200), RECORD_MS (CPU ms of ps-deep to record, 12000), FREQ (4999 Hz),
# CPU (core to pin to, 1), KEEP=1 keeps the work directory (printed).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-3}
min_mb=${MIN_MB:-200}
record_ms=${RECORD_MS:-12000}
freq=${FREQ:-4999}
cpu=${CPU:-1}
ps="$PWD/$build/perfscope"
deep="$PWD/$build/targets/ps-deep"
for tool in "$ps" "$deep"; do
  [ -x "$tool" ] || { echo "missing $tool: cmake --build $build --target perfscope ps-deep" >&2; exit 1; }
done
for tool in perf hyperfine taskset; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (perf record, perf_event_paranoid)" >&2; exit 1; }
awk_bin=$(command -v mawk || command -v gawk || command -v awk)
flamegraph_py="$(perf --exec-path 2>/dev/null)/scripts/python/flamegraph.py"
[ -f "$flamegraph_py" ] || flamegraph_py=/usr/lib/perf-core/scripts/python/flamegraph.py

out=$(mktemp -d "${TMPDIR:-/tmp}/flamebench.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "work directory: $out"; else trap 'rm -rf "$out"' EXIT; fi
pin=(taskset -c "$cpu")

# The awk folder: one folded line per distinct stack, "COMM;root;...;leaf COUNT".
cat >"$out/fold.awk" <<'AWK'
# A header starts at column 0: COMM (may hold spaces) up to the PID[/TID] token.
/^[^ \t#]/ {
  comm = $1
  for (i = 2; i <= NF && $i !~ /^[0-9]+(\/[0-9]+)?$/; i++) comm = comm " " $i
  stack = ""; in_sample = 1; next
}
# A frame: "ADDR SYMBOL+0xOFF (MODULE)", leaf first.
in_sample && NF >= 3 {
  sym = $2
  for (i = 3; i < NF; i++) sym = sym " " $i
  mod = substr($NF, 2, length($NF) - 2)
  sub(/\+0x[0-9a-f]+$/, "", sym)
  if (sym == "[unknown]") {
    if (mod == "[unknown]" || mod == "") sym = "[unknown]"
    else if (mod ~ /^\[/) sym = mod
    else { n = split(mod, parts, "/"); sym = "[" parts[n] "]" }
  }
  gsub(/;/, ":", sym)
  if (mod ~ /^\[kernel\.kallsyms\]/) sym = sym "_[k]"
  stack = stack == "" ? sym : sym ";" stack
  next
}
NF == 0 && in_sample { count[stack == "" ? comm : comm ";" stack]++; in_sample = 0 }
END {
  if (in_sample) count[stack == "" ? comm : comm ";" stack]++
  for (s in count) print s, count[s]
}
AWK

# run_timed NAME STDOUT CMD...: RUNS runs, each writing its standard output to the file STDOUT
# afresh; one "elapsed user sys maxrss_kib" line a run in NAME.times.
run_timed() {
  local name=$1 stdout=$2
  shift 2
  : >"$out/$name.times"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S %M" -o "$out/$name.t" "$@" >"$stdout"
    tail -1 "$out/$name.t" >>"$out/$name.times"
  done
}

# -B (no build-ids) beside -N: perf 6.1 on this VM's 6.18 kernel often aborts while collecting
# build-ids at the end of a recording ("assertion failed at util/build-id.c:1010", "stack smashing
# detected"), leaving a perf.data whose data size is 0. The programs are local files, so perf
# script symbolizes them by path all the same.
echo "== 1. record: ps-deep $record_ms ms CPU, perf record -N -B -g -F $freq"
perf record -N -B -g -F "$freq" -o "$out/perf.data" -- "${pin[@]}" "$deep" "$record_ms" >/dev/null 2>"$out/record.err" ||
  { cat "$out/record.err" >&2; exit 1; }
/usr/bin/time -f "%e %U %S %M" -o "$out/script.t" perf script -i "$out/perf.data" >"$out/one.txt" 2>/dev/null
one_bytes=$(stat -c %s "$out/one.txt")
samples=$(grep -c '^[^[:space:]]' "$out/one.txt" || true)
frames=$(grep -c '^[[:space:]]' "$out/one.txt" || true)
copies=$(((min_mb * 1000000 + one_bytes - 1) / one_bytes))
[ "$copies" -ge 1 ] || copies=1
: >"$out/in.txt"
for _ in $(seq "$copies"); do cat "$out/one.txt" >>"$out/in.txt"; done
in_bytes=$(stat -c %s "$out/in.txt")
echo "recording: $samples samples, $((frames / (samples > 0 ? samples : 1))) frames a sample on average," \
  "perf script text $((one_bytes / 1000000)) MB (perf script took $(cut -d' ' -f1 "$out/script.t") s)"
if [ "$copies" -gt 1 ]; then
  echo "input: the recording's text repeated $copies times = $((in_bytes / 1000000)) MB (one recording is below $min_mb MB)"
else
  echo "input: the recording's text, $((in_bytes / 1000000)) MB"
fi
cat "$out/in.txt" >/dev/null  # in the page cache for every reader

echo "== 2. fold (+ render): perfscope flamegraph, taskset -c $cpu, $runs runs"
# --sample-type samples: one per sample, as the awk folder counts (the default weighs by period).
run_timed fold /dev/null "${pin[@]}" "$ps" flamegraph -i "$out/in.txt" -o "$out/fold.svg" --sample-type samples --folded-out "$out/perfscope.folded"

echo "== 3. render from folded: perfscope flamegraph, taskset -c $cpu (hyperfine)"
# A one-stack input gives the cost of starting the process, subtracted to get rendering alone.
echo "main;start 1" >"$out/tiny.folded"
hyperfine -N --warmup 3 --min-runs 20 --export-json "$out/render.json" \
  -n render "${pin[*]} $ps flamegraph -i $out/perfscope.folded -o $out/render.svg" \
  -n start "${pin[*]} $ps flamegraph -i $out/tiny.folded -o $out/tiny.svg" >/dev/null
run_timed render_rss /dev/null "${pin[@]}" "$ps" flamegraph -i "$out/perfscope.folded" -o "$out/render.svg"

echo "== 4. awk fold ($(basename "$awk_bin")), taskset -c $cpu, $runs runs"
run_timed awk "$out/awk.folded" "${pin[@]}" "$awk_bin" -f "$out/fold.awk" "$out/in.txt"
if cmp -s <(sort "$out/perfscope.folded") <(sort "$out/awk.folded"); then
  same="identical"
else
  same="DIFFERENT ($(comm -3 <(sort "$out/perfscope.folded") <(sort "$out/awk.folded") | wc -l) lines differ)"
fi
echo "folded stacks of perfscope and awk: $same ($(wc -l <"$out/perfscope.folded") distinct stacks)"

echo "== 5. from perf.data: perf's flamegraph.py vs perf script | perfscope flamegraph (1 run each)"
fg_status=ok
if ! /usr/bin/time -f "%e %U %S %M" -o "$out/fg.t" "${pin[@]}" perf script -i "$out/perf.data" \
  -s "$flamegraph_py" -- -f json -o "$out/flamegraph.json" >"$out/fg.out" 2>&1; then
  fg_status="failed: $(tail -3 "$out/fg.out" | tr '\n' ' ')"
  echo "flamegraph.py $fg_status"
fi
start=$(date +%s.%N)
perf script -i "$out/perf.data" 2>/dev/null |
  /usr/bin/time -f "%e %U %S %M" -o "$out/pipe.t" "$ps" flamegraph -o "$out/pipe.svg"
end=$(date +%s.%N)
echo "$end $start" | awk '{printf "%.2f 0 0 0\n", $1 - $2}' >"$out/pipe_wall.t"

micro=none
if [ "${SKIP_MICRO:-0}" != 1 ] && [ -x "$PWD/$build/perfscope_bench" ]; then
  echo "== 6. in-process micro-benchmarks (bench/flamegraph_bench.cpp), taskset -c $cpu"
  "${pin[@]}" "$PWD/$build/perfscope_bench" --benchmark_filter='BM_(FoldPerfScript|ReadFolded|RenderSvg)$' \
    --benchmark_min_time=1 --benchmark_format=json >"$out/micro.json" 2>/dev/null && micro="$out/micro.json"
fi

echo
python3 - "$out" "$in_bytes" "$one_bytes" "$copies" "$runs" "$fg_status" "$(basename "$awk_bin")" "$micro" <<'PY'
import json, os, statistics, sys
out, fg_status, awk_name, micro = sys.argv[1], sys.argv[6], sys.argv[7], sys.argv[8]
in_bytes, one_bytes, copies, runs = map(int, sys.argv[2:6])
def rows(name):
    return [list(map(float, l.split())) for l in open(os.path.join(out, name)) if l.strip()]
def med(name):
    r = rows(name)
    return statistics.median(x[0] for x in r), max(x[3] for x in r), statistics.median(x[1] + x[2] for x in r)
def one(name):
    r = rows(name)[-1]
    return r[0], r[3], r[1] + r[2]
mb = lambda b: b / 1e6
fold_t, fold_rss, fold_cpu = med("fold.times")
awk_t, awk_rss, awk_cpu = med("awk.times")
hf = {r["command"]: r for r in json.load(open(os.path.join(out, "render.json")))["results"]}
render_t, start_t = hf["render"]["median"], hf["start"]["median"]
net_t = max(render_t - start_t, 1e-6)
_, render_rss, _ = med("render_rss.times")
svg = os.path.getsize(os.path.join(out, "render.svg"))
folded = os.path.getsize(os.path.join(out, "perfscope.folded"))
script_t, script_rss, _ = one("script.t")
pipe_t = rows("pipe_wall.t")[-1][0]
_, pipe_rss, _ = one("pipe.t")
print(f"input: {mb(in_bytes):.1f} MB of perf script text ({copies} x {mb(one_bytes):.1f} MB recording); "
      f"median of {runs} runs, pinned to one core")
print()
print("| path | input | time (s) | throughput | peak RSS (MiB) | RSS / input | vs perfscope |")
print("|---|---|---:|---:|---:|---:|---:|")
print(f"| perfscope flamegraph (fold + render) | {mb(in_bytes):.0f} MB text | {fold_t:.2f} | "
      f"**{mb(in_bytes)/fold_t:.0f} MB/s** ({in_bytes/fold_t/2**20:.0f} MiB/s) | {fold_rss/1024:.1f} | "
      f"{fold_rss*1024/in_bytes*100:.2f}% | 1.00 |")
print(f"| awk fold ({awk_name}) | {mb(in_bytes):.0f} MB text | {awk_t:.2f} | "
      f"{mb(in_bytes)/awk_t:.0f} MB/s | {awk_rss/1024:.1f} | {awk_rss*1024/in_bytes*100:.2f}% | "
      f"{awk_t/fold_t:.1f}x slower |")
frames = open(os.path.join(out, "render.svg")).read().count('<g class="f"')
print(f"| perfscope render from folded (whole command) | {folded/1e3:.0f} kB folded -> {svg/1e6:.2f} MB SVG, {frames} frames | "
      f"{render_t:.4f} | {mb(svg)/render_t:.0f} MB/s SVG out ({mb(folded)/render_t:.0f} MB/s folded in) | "
      f"{render_rss/1024:.1f} | - | - |")
print(f"| same, less process start ({start_t*1e3:.1f} ms for a 1-stack input) | | {net_t:.4f} | "
      f"**{mb(svg)/net_t:.0f} MB/s SVG out** ({mb(folded)/net_t:.0f} MB/s folded in) | - | - | - |")
print(f"| perf script (text only, for reference) | perf.data -> {mb(one_bytes):.0f} MB | {script_t:.2f} | "
      f"{mb(one_bytes)/script_t:.0f} MB/s | {script_rss/1024:.1f} | - | - |")
print(f"| perf script \\| perfscope flamegraph (wall) | perf.data ({mb(one_bytes):.0f} MB as text) | {pipe_t:.2f} | "
      f"{mb(one_bytes)/pipe_t:.0f} MB/s | {pipe_rss/1024:.1f} (perfscope) | "
      f"{pipe_rss*1024/one_bytes*100:.2f}% | 1.00 |")
if fg_status == "ok":
    fg_t, fg_rss, _ = one("fg.t")
    print(f"| perf script -s flamegraph.py -f json | perf.data ({mb(one_bytes):.0f} MB as text) | {fg_t:.2f} | "
          f"{mb(one_bytes)/fg_t:.0f} MB/s | {fg_rss/1024:.1f} | {fg_rss*1024/one_bytes*100:.2f}% | "
          f"{fg_t/pipe_t:.1f}x slower |")
else:
    print(f"| perf script -s flamegraph.py | - | - | {fg_status} | - | - | - |")
if micro != "none":
    names = {"BM_FoldPerfScript": "micro: fold perf script text (64 MB synthetic, 300 stacks)",
             "BM_ReadFolded": "micro: read folded lines (16 MB)",
             "BM_RenderSvg": "micro: render SVG (synthetic tree, all frames)"}
    for b in json.load(open(micro))["benchmarks"]:
        rate = b.get("bytes_per_second", 0)
        print(f"| {names.get(b['name'], b['name'])} | in process | {b['real_time']/1e3:.4f} | "
              f"{rate/1e6:.0f} MB/s | - | - | - |")
print()
print(f"fold-only estimate: {fold_t - net_t:.2f} s = {mb(in_bytes)/(fold_t - net_t):.0f} MB/s "
      f"(fold + render less the net render time); CPU time of the fold run {fold_cpu:.2f} s")
print(f"targets: fold >= 200 MB/s: {'met' if mb(in_bytes)/fold_t >= 200 else 'NOT met'}; "
      f"render >= 40 MB/s (SVG out, less process start): {'met' if mb(svg)/net_t >= 40 else 'NOT met'}; "
      f"peak RSS < 10% of input: {'met' if fold_rss*1024 < 0.1*in_bytes else 'NOT met'}")
PY
