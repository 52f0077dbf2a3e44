#!/usr/bin/env bash
# Heap profilers side by side in one run (issue 9's benchmark): the slowdown of an allocation-heavy
# program (ps-heap-workload: 2 threads, about 4.7 million small allocations, bench/heap_workload.cpp)
# under
#   perfscope mem --unwind fp     on ps-heap-workload       (frame pointers kept)
#   perfscope mem --unwind dwarf  on ps-heap-workload-nofp  (same program, -fomit-frame-pointer;
#                                                             its own bare run is its baseline)
#   heaptrack -o FILE             on ps-heap-workload       (recording: the app with heaptrack's
#                                                             preload, heaptrack_interpret and zstd;
#                                                             heaptrack_print is timed apart)
#                                 and on ps-heap-workload-nofp (a reference for --unwind dwarf:
#                                                             heaptrack unwinds with libunwind either way)
#   valgrind --tool=massif        on ps-heap-workload
# For each: median wall seconds of REPEATS runs (interleaved, so all see the same machine), the
# slowdown (wall / the bare run's), CPU seconds of the whole command (what a busy machine cannot
# hide), and the peak RSS of the tool's own process, as VmHWM read from
# /proc every 10 ms while it runs (so growth in its last 10 ms can be missed):
#   perfscope: the perfscope process (the program it runs is a child, measured apart)
#   heaptrack: heaptrack_interpret (and zstd, its compressor, shown apart); the script is only bash
#   massif:    valgrind's process, which is also the program's (valgrind runs it on its own CPU)
# GNU time's %M is not used for the tools: wait4 reports the largest RSS of the process AND of the
# descendants it reaped, so `time -f %M perfscope mem -- prog` would show prog's peak when prog's
# is the bigger one. It is printed as "wait4 max" only for comparison.
# Then the targets: perfscope's slowdown at most half of heaptrack's, and under 2x the bare run.
# Usage: bench/compare_mem.sh [BUILD_DIR] [REPEATS]     (defaults: build 3)
# MASSIF_RUNS=N fixes massif's run count (default: REPEATS, or 1 when its first run takes > 20 s).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
repeats=${2:-3}
case "$build" in /*) dir=$build ;; *) dir="$PWD/$build" ;; esac  # relative to the repository
ps="$dir/perfscope"
work="$dir/targets/ps-heap-workload"
work_nofp="$dir/targets/ps-heap-workload-nofp"
for tool in "$ps" "$work" "$work_nofp"; do
  [ -x "$tool" ] || { echo "missing $tool: cmake -S . -B $build -G Ninja && cmake --build $build --target perfscope ps-heap-workload ps-heap-workload-nofp" >&2; exit 1; }
done
[ -r "$dir/libperfscope-heap.so" ] || { echo "missing $build/libperfscope-heap.so: cmake --build $build --target perfscope-heap" >&2; exit 1; }
for t in heaptrack heaptrack_print valgrind python3; do
  command -v "$t" >/dev/null || { echo "$t is missing: apt-get install heaptrack valgrind python3" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# measure.py LABEL WATCH[,WATCH...] -- CMD...: runs CMD (stdout to LABEL.out, stderr to LABEL.err)
# and appends one line to LABEL.runs: wall seconds, the root process's VmHWM in KiB, wait4's
# ru_maxrss, cpu=milliseconds of CPU (user + system) used by CMD and every descendant it reaped,
# then name=KiB for each watched descendant (matched on /proc/PID/comm, which the
# kernel cuts to 15 characters; the largest VmHWM seen among processes of that name). A failing
# command stops the benchmark.
cat >"$out/measure.py" <<'PY'
import os, subprocess, sys, threading, time
out, label, watch = sys.argv[1], sys.argv[2], [w for w in sys.argv[3].split(",") if w]
cmd = sys.argv[sys.argv.index("--") + 1:]
def hwm(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
def children(pid):
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids
root_peak, seen, done = [0], {w: 0 for w in watch}, threading.Event()
def poll(root):
    while not done.is_set():
        root_peak[0] = max(root_peak[0], hwm(root))
        if watch:
            stack = children(root)
            while stack:
                pid = stack.pop()
                try:  # read every time: a forked shell becomes the program when it execs
                    name = open(f"/proc/{pid}/comm").read().strip()
                except OSError:
                    continue
                if name in seen:
                    seen[name] = max(seen[name], hwm(pid))
                stack += children(pid)
        done.wait(0.01)
with open(f"{out}/{label}.out", "w") as so, open(f"{out}/{label}.err", "w") as se:
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=so, stderr=se)
    poller = threading.Thread(target=poll, args=(p.pid,))
    poller.start()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    p.returncode = 0  # reaped here, not by Popen
    done.set()
    poller.join()
if status != 0:
    sys.exit(f"{label}: {' '.join(cmd)} failed (wait status {status}); see its stderr:\n"
             + open(f"{out}/{label}.err").read()[-2000:])
with open(f"{out}/{label}.runs", "a") as f:
    f.write(f"{wall:.4f} {root_peak[0]} {usage.ru_maxrss} "
            f"cpu={round((usage.ru_utime + usage.ru_stime) * 1000)} "
            + " ".join(f"{k}={v}" for k, v in seen.items()) + "\n")
PY
measure() { python3 "$out/measure.py" "$out" "$@"; }
# comm names: 15 characters at most
target_comm=ps-heap-workloa

echo "== ps-heap-workload (2 threads, 4 rounds): bare, perfscope mem, heaptrack, massif"
echo "   median of $repeats runs, interleaved; $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
"$work" >/dev/null  # warm the page cache
for i in $(seq "$repeats"); do
  measure bare "" -- "$work"
  measure ps_fp "$target_comm" -- "$ps" mem --unwind fp -o "$out/fp.pb.gz" --report "$out/fp.txt" -- "$work"
  measure heaptrack "heaptrack_inter,zstd,$target_comm" -- heaptrack -o "$out/ht$i" "$work"
  measure bare_nofp "" -- "$work_nofp"
  measure ps_dwarf "$target_comm" -- "$ps" mem --unwind dwarf -o "$out/dwarf.pb.gz" --report "$out/dwarf.txt" -- "$work_nofp"
  measure heaptrack_nofp "heaptrack_inter,zstd,$target_comm" -- heaptrack -o "$out/htn$i" "$work_nofp"
done

massif_runs=${MASSIF_RUNS:-}
measure massif "" -- valgrind --tool=massif --massif-out-file="$out/massif.data" "$work"
if [ -z "$massif_runs" ]; then
  massif_runs=$repeats
  if python3 -c "import sys; sys.exit(0 if float(open(sys.argv[1]).read().split()[0]) > 20 else 1)" "$out/massif.runs"; then
    massif_runs=1
  fi
fi
for _ in $(seq 2 "$massif_runs"); do
  measure massif "" -- valgrind --tool=massif --massif-out-file="$out/massif.data" "$work"
done

# heaptrack's analysis, apart from its recording: heaptrack_print on the last recording.
ht_file=$(ls "$out/ht$repeats".* 2>/dev/null | head -1 || true)
[ -n "$ht_file" ] || { echo "heaptrack wrote no file (see its output below)" >&2; cat "$out/heaptrack.out" "$out/heaptrack.err" >&2; exit 1; }
measure heaptrack_print "" -- heaptrack_print "$ht_file"

python3 - "$out" "$repeats" "$massif_runs" "$ht_file" <<'PY'
import os, re, statistics, sys
out, repeats, massif_runs, ht_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def runs(label):
    rows = []
    for line in open(os.path.join(out, label + ".runs")):
        f = line.split()
        rows.append({"wall": float(f[0]), "root": int(f[1]), "wait4": int(f[2]),
                     **{k: int(v) for k, v in (x.split("=") for x in f[3:])}})
    return rows
def wall(label): return statistics.median(r["wall"] for r in runs(label))
def peak(label, key): return max(r.get(key, 0) for r in runs(label))
def cpu(label): return statistics.median(r["cpu"] for r in runs(label)) / 1000
def mib(kib): return f"{kib / 1024:.1f}" if kib else "-"
def read(name): return open(os.path.join(out, name), errors="replace").read()

bare, bare_nofp = wall("bare"), wall("bare_nofp")
prog = "ps-heap-workloa"  # the program's comm
rows = [
    # label, name, baseline, own-process key, the program's key, what "own" is
    ("bare", "bare ps-heap-workload", bare, "root", "root", "the program"),
    ("ps_fp", "perfscope mem --unwind fp", bare, "root", prog, "perfscope"),
    ("heaptrack", "heaptrack (record)", bare, "heaptrack_inter", prog, "heaptrack_interpret"),
    ("massif", f"valgrind --tool=massif ({massif_runs} run{'s' if massif_runs > 1 else ''})", bare,
     "root", "root", "valgrind (= the program)"),
    ("bare_nofp", "bare ps-heap-workload-nofp", bare_nofp, "root", "root", "the program"),
    ("ps_dwarf", "perfscope mem --unwind dwarf (nofp)", bare_nofp, "root", prog, "perfscope"),
    ("heaptrack_nofp", "heaptrack (record, nofp)", bare_nofp, "heaptrack_inter", prog, "heaptrack_interpret"),
]
print()
print(f"{'':38} {'median s':>9} {'slowdown':>9} {'CPU s':>7} {'own peak RSS MiB':>17} {'program RSS MiB':>16} {'wait4 max MiB':>14}  own process")
slow = {}
for label, name, base, key, program, own in rows:
    w = wall(label)
    slow[label] = w / base
    print(f"{name:38} {w:9.3f} {w / base:8.2f}x {cpu(label):7.2f} {mib(peak(label, key)):>17} "
          f"{mib(peak(label, program)):>16} {mib(peak(label, 'wait4')):>14}  {own}")
print(f"{'heaptrack_print (analysis, 1 run)':38} {wall('heaptrack_print'):9.3f} {'':>9} {cpu('heaptrack_print'):7.2f} {mib(peak('heaptrack_print', 'root')):>17}")
print(f"heaptrack's compressor (zstd) peak RSS: {mib(peak('heaptrack', 'zstd'))} MiB; "
      f"heaptrack record + heaptrack_print: {wall('heaptrack') + wall('heaptrack_print'):.3f} s "
      f"({(wall('heaptrack') + wall('heaptrack_print')) / bare:.2f}x)")
print("walls per run (s):")
noisy = []
for label, name, *_ in rows:
    walls = [r["wall"] for r in runs(label)]
    spread = max(walls) / min(walls)
    if spread > 1.5: noisy.append(name)
    print(f"  {name:38} " + " ".join(f"{w:.3f}" for w in walls) + (f"   <- {spread:.1f}x apart" if spread > 1.5 else ""))
if noisy:
    print(f"NOISY: runs of {', '.join(noisy)} differ by more than 1.5x (a busy machine, or a tool that")
    print("       is fast on some runs and slow on others): read the medians with care, or rerun")
print("(slowdown = median wall under the tool / median bare wall of the same binary; CPU s = median")
print(" user + system seconds of the command and everything it started; own peak RSS =")
print(" the tool's own process, VmHWM polled every 10 ms, max over runs; program RSS = the profiled")
print(" program's own VmHWM under the tool; wait4 max = what GNU time's %M would print for the")
print(" command: the largest of the process and every descendant it reaped)")

# Did every tool produce its output?
print()
print("== outputs")
def size(path): return os.path.getsize(path) if os.path.exists(path) else 0
checks = [("perfscope fp profile", os.path.join(out, "fp.pb.gz")),
          ("perfscope fp report", os.path.join(out, "fp.txt")),
          ("perfscope dwarf profile", os.path.join(out, "dwarf.pb.gz")),
          ("perfscope dwarf report", os.path.join(out, "dwarf.txt")),
          ("heaptrack data", ht_file),
          ("heaptrack_print text", os.path.join(out, "heaptrack_print.out")),
          ("massif data", os.path.join(out, "massif.data"))]
ok = True
for what, path in checks:
    n = size(path)
    ok &= n > 0
    print(f"  {what:26} {os.path.basename(path):24} {n:>10,} bytes  {'ok' if n > 0 else 'MISSING OR EMPTY'}")
checksums = {re.sub(r".*checksum ", "", l).strip() for label, *_ in rows
             for l in read(label + ".out").splitlines() if "checksum" in l}
print(f"  program checksum under every tool: {'same (' + checksums.pop() + ')' if len(checksums) == 1 else 'DIFFERS: ' + str(checksums)}")

# What each tool says the peak heap was (the last run's output).
print()
print("== peak heap, as each tool reports it")
for which in ("fp", "dwarf"):
    text = read(which + ".txt")
    for head in ("Peak heap:", "Allocations:"):
        line = next((l for l in text.splitlines() if l.startswith(head)), f"no '{head}' line in the report")
        print(f"  perfscope {which:5}: " + re.sub(r"\s+", " ", line))
hp = read("heaptrack_print.out")
for pattern in (r"^peak heap memory consumption.*", r"^calls to allocation functions.*"):
    m = re.search(pattern, hp, re.M)
    if m: print("  heaptrack_print: " + m.group(0).strip())
heap = [int(m) for m in re.findall(r"^mem_heap_B=(\d+)", read("massif.data"), re.M)]
extra = [int(m) for m in re.findall(r"^mem_heap_extra_B=(\d+)", read("massif.data"), re.M)]
if heap:
    i = max(range(len(heap)), key=heap.__getitem__)
    print(f"  massif: peak mem_heap_B {heap[i]:,} bytes ({heap[i] / 2**20:.1f} MiB), plus {extra[i]:,} bytes of allocator overhead, over {len(heap)} snapshots")

# The targets.
print()
print("== targets (slowdown = wall / bare wall)")
p, h = slow["ps_fp"], slow["heaptrack"]
added = (p - 1) / (h - 1) if h > 1 else float("inf")
print(f"  perfscope (fp) slowdown / heaptrack slowdown: {p:.2f}x / {h:.2f}x = {p / h:.2f}")
print(f"  1. perfscope at most half of heaptrack's slowdown, read two ways:")
print(f"     as wall ratios ({p:.2f}x <= {h / 2:.2f}x): {'MET' if p <= h / 2 else 'NOT MET'}")
print(f"     as added time (+{(p - 1) * 100:.0f}% <= half of +{(h - 1) * 100:.0f}%, ratio {added:.2f}): "
      f"{'MET' if added <= 0.5 else 'NOT MET'}")
print(f"  2. perfscope under 2x the bare run ({p:.2f}x < 2x): {'MET' if p < 2 else 'NOT MET'}")
print(f"  (perfscope --unwind dwarf on the nofp build: {slow['ps_dwarf']:.2f}x its bare run, heaptrack "
      f"there {slow['heaptrack_nofp']:.2f}x; massif {slow['massif']:.2f}x)")
print(f"load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")
if not ok: sys.exit("some tool produced no output: see above")
PY
