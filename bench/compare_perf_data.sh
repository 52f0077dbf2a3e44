#!/usr/bin/env bash
# Reading perf.data: `perf report --stdio` against `perfscope report -i` on the same files, in one
# run (issue 21's benchmark). Two recordings are made with the real perf while a CPU-bound load
# runs (ps-burn on every CPU, ps-chain for DWARF):
#   fp     perf record -a -F 999 -e cpu-clock -g      (system-wide, frame pointers; FP_SECONDS long,
#                                                      ~50,000 samples on 2 CPUs at 25 s)
#   dwarf  perf record -F 999 -e cpu-clock --call-graph dwarf -- ps-chain (DWARF_SECONDS of CPU)
# Each report is timed RUNS times, perf's and perfscope's runs interleaved (medians; page cache
# warm and perfscope's kallsyms and symbol caches filled: one untimed run of each first); the ratios perf /
# perfscope (wall and CPU time) are printed, and perf's top 10 functions by total share (perf
# report --children --sort symbol against perfscope report's Total%, both by period) side by
# side, with the largest difference. On a machine shared with other work, compare CPU times.
# Usage: bench/compare_perf_data.sh [BUILD_DIR] [RUNS]   (defaults: build 3). FP_SECONDS=25 and
# DWARF_SECONDS=10 set the recordings' lengths. Needs root (system-wide sampling).
# Environment:
#   FILES_DIR=DIR   keep the recordings in DIR, and when DIR already holds fp.data and dwarf.data,
#                   time those instead of recording (the same files before and after a change;
#                   root is then not needed)
#   BEFORE=PATH     another perfscope binary (an older build) timed too, in the same interleaved
#                   rounds, and its CPU time printed beside the current one
#   PERFSCOPE_KALLSYMS_CACHE=off  time perfscope without its kallsyms cache (docs/benchmarks.md)
#   PERFSCOPE_SYMBOL_CACHE=off    time perfscope without its symbol cache: every address looked up
#                                 in the files' symbols and DWARF, as on a first read
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-3}
ps="$PWD/$build/perfscope"
burn="$PWD/$build/targets/ps-burn"
chain="$PWD/$build/targets/ps-chain"
secs=${FP_SECONDS:-25}
dwarf_secs=${DWARF_SECONDS:-10}
for tool in "$ps" "$burn" "$chain"; do
  [ -x "$tool" ] || { echo "missing $tool: cmake --build $build --target perfscope ps-burn ps-chain" >&2; exit 1; }
done
command -v perf >/dev/null || { echo "perf is missing: scripts/install-deps.sh installs linux-perf" >&2; exit 1; }
before=${BEFORE:-}
[ -z "$before" ] || [ -x "$before" ] || { echo "BEFORE=$before is not an executable" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
files=${FILES_DIR:-$out}
mkdir -p "$files"
record=1
[ -s "$files/fp.data" ] && [ -s "$files/dwarf.data" ] && record=0
if [ "$record" = 1 ] && [ "$(id -u)" -ne 0 ]; then
  echo "run as root: system-wide sampling" >&2; exit 1
fi
cache="$files/buildid"  # perf's build-id cache of its own: perf 6.1 may abort on a shared one
# BEFORE gets a symbol cache of its own: the cache's key holds perfscope's build-id, so two builds
# sharing one directory rewrite each other's files and every read of both is a first read.
before_env=()
if [ -n "$before" ] && [ "${PERFSCOPE_SYMBOL_CACHE:-}" != off ]; then
  mkdir -m 700 "$out/before-symbols"
  before_env=(env PERFSCOPE_SYMBOL_CACHE="$out/before-symbols")
fi
ncpu=$(nproc)

# "WALL CPU" seconds of a command (CPU = user + system), its output thrown away. On a machine
# shared with other work the CPU time is the steadier figure; both are printed.
seconds() {
  /usr/bin/time -f '%e %U %S' -o "$out/time" "$@" >/dev/null 2>&1 || true
  awk '{printf "%s %.3f\n", $1, $2 + $3}' "$out/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# "share name" lines: each function's total share (perf report --children: the samples with the
# function on their stack, weighed by period), perf's and perfscope's (Total%, its names without
# parameter lists, as perf prints them). Total shares compare like for like: perf gives an inlined
# leaf's self samples to the function it is inlined into, perfscope to the inlined function.
perf_top() {  # FILE [--no-inline]
  perf --buildid-dir "$cache" report -i "$1" --stdio --children --sort symbol -g none \
      --percent-limit 0 ${2:-} 2>/dev/null |
    awk '!/^#/ && /%/ {p=$1; sub("%","",p); i=index($0,"] "); if (i>0) {n=substr($0,i+2); sub(/  .*/,"",n); print p, n}}' |
    awk '{n=substr($0, index($0, " ") + 1); c[n]++; l[NR]=$0; k[NR]=n}
         END {for (i=1; i<=NR; i++) if (c[k[i]]==1) print l[i]}'  # names perf splits (one per
                                                                  # binary) are left out
}
ps_top() {
  "$ps" report -i "$1" --top 0 --sort total 2>/dev/null |
    awk '/Self%/ {t=1; next} t && NF==0 {exit} t' |
    sed -E 's/^ *[0-9.]+% +([0-9.]+)% +[0-9.]+( [a-zA-Z]+)? +[0-9.]+( [a-zA-Z]+)? +/\1 /' |
    sed -E 's/ \(inlined\)$/@INL@/; s/\(([^()]|\([^()]*\))*\)(@INL@)?$/\2/; s/@INL@$/ (inlined)/'
}

compare() {
  local name=$1 file=$2
  local samples
  samples=$(perf --buildid-dir "$cache" script -i "$file" -F period 2>/dev/null | wc -l)
  perf --buildid-dir "$cache" report -i "$file" --stdio >/dev/null 2>&1 || true
  "$ps" report -i "$file" >/dev/null 2>&1
  [ -z "$before" ] || "${before_env[@]}" "$before" report -i "$file" >/dev/null 2>&1
  local pt=() st=() bt=()
  for _ in $(seq "$runs"); do
    pt+=("$(seconds perf --buildid-dir "$cache" report -i "$file" --stdio)")
    st+=("$(seconds "$ps" report -i "$file")")
    [ -z "$before" ] || bt+=("$(seconds "${before_env[@]}" "$before" report -i "$file")")
  done
  local pw pc sw sc
  pw=$(printf '%s\n' "${pt[@]}" | cut -d' ' -f1 | median)
  pc=$(printf '%s\n' "${pt[@]}" | cut -d' ' -f2 | median)
  sw=$(printf '%s\n' "${st[@]}" | cut -d' ' -f1 | median)
  sc=$(printf '%s\n' "${st[@]}" | cut -d' ' -f2 | median)
  printf '%-6s %8s samples %10s bytes\n' "$name" "$samples" "$(stat -c %s "$file")"
  printf '    perf report --stdio  %8.2f s wall %8.2f s CPU\n' "$pw" "$pc"
  printf '    perfscope report     %8.2f s wall %8.2f s CPU\n' "$sw" "$sc"
  printf '    perfscope faster by  %8.1fx wall %8.1fx CPU\n' "$(echo "$pw / $sw" | bc -l)" \
    "$(echo "$pc / $sc" | bc -l)"
  if [ -n "$before" ]; then
    local bw bc_
    bw=$(printf '%s\n' "${bt[@]}" | cut -d' ' -f1 | median)
    bc_=$(printf '%s\n' "${bt[@]}" | cut -d' ' -f2 | median)
    printf '    BEFORE perfscope     %8.2f s wall %8.2f s CPU (perf / it: %.1fx CPU)\n' \
      "$bw" "$bc_" "$(echo "$pc / $bc_" | bc -l)"
  fi
  perf_top "$file" >"$out/$name.perf.all"
  grep -v -E '^[0-9.]+ [0-9a-fx]+$' "$out/$name.perf.all" | sed -n 1,10p >"$out/$name.perf"
  ps_top "$file" >"$out/$name.ps"
  # perf marks a frame "NAME (inlined)" whenever the DWARF name of the function at the address
  # differs from the ELF symbol perf picked for it, inlined or not: glibc's __libc_start_main
  # (the symbol) is __libc_start_main_impl in its DWARF, so perf shows the caller of
  # __libc_start_call_main as "__libc_start_main_impl (inlined)" (addr2line -i at that return
  # address gives that one frame, no inline chain) and no longer lists __libc_start_main. Such
  # a row is matched to the symbol perf report --no-inline lists in its place: the one with the
  # same share that the inline list lacks (version suffix @... dropped), shown as "= SYMBOL".
  perf_top "$file" --no-inline | sed -E 's/^([0-9.]+ [^@ ]+)@[^ ]*$/\1/' >"$out/$name.perf.noinline"
  awk 'FILENAME==ARGV[1] {ps[substr($0, index($0," ")+1)]=$1; next}
       FILENAME==ARGV[2] {n=substr($0, index($0," ")+1); sub(/@[^ ]*$/, "", n); inl[n]=1; next}
       FILENAME==ARGV[3] {n=substr($0, index($0," ")+1); if (!(n in inl)) {a=($1 in alias) ? "" : n; alias[$1]=a}; next}
       {name=substr($0, index($0," ")+1); shown=name
        if (!(name in ps) && name ~ / \(inlined\)$/ && alias[$1] != "" && (alias[$1] in ps)) {
          shown=name " = " alias[$1]; name=alias[$1]
        }
        mine=(name in ps) ? ps[name] : 0; d=mine-$1; if (d<0) d=-d;
        if (d>worst) worst=d; printf "    %6.2f%% %6.2f%%  %s\n", $1, mine, shown}
       END {printf "    largest difference among perf'"'"'s top 10: %.2f points\n", worst}' \
    "$out/$name.ps" "$out/$name.perf.all" "$out/$name.perf.noinline" "$out/$name.perf"
}

if [ "$record" = 1 ]; then
echo "recording: system-wide, frame pointers, ${secs} s with ps-burn on $ncpu CPUs"
pids=()
for _ in $(seq "$ncpu"); do "$burn" $((secs * 1000 + 5000)) >/dev/null & pids+=($!); done
# perf 6.1 sometimes aborts at the end of a recording (util/build-id.c:1010): try again.
for _ in 1 2 3; do
  perf --buildid-dir "$cache" record -q -N -a -F 999 -e cpu-clock -g -o "$files/fp.data" \
    -- sleep "$secs" 2>/dev/null && break
done
kill "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true
echo "recording: --call-graph dwarf, ps-chain for ${dwarf_secs} s of CPU"
for _ in 1 2 3; do
  perf --buildid-dir "$cache" record -q -N -F 999 -e cpu-clock --call-graph dwarf \
    -o "$files/dwarf.data" -- "$chain" $((dwarf_secs * 1000)) >/dev/null 2>&1 && break
done

else
  echo "timing the recordings of $files"
fi

echo "median of $runs runs; then perf's top 10 functions by total share, perf's and perfscope's:"
compare fp "$files/fp.data"
compare dwarf "$files/dwarf.data"
