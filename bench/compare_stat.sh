#!/usr/bin/env bash
# perfscope stat vs perf stat, side by side in one hyperfine run, on the issue's workload:
#   stat -e task-clock,page-faults -- true
# Prints hyperfine's table and the ratio (perfscope / perf; below 1 means perfscope is faster).
# Usage: bench/compare_stat.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ps="$build/perfscope"
[ -x "$ps" ] || { echo "build perfscope first: cmake -S . -B $build -G Ninja && cmake --build $build" >&2; exit 1; }
command -v perf >/dev/null || { echo "perf is missing: scripts/install-deps.sh installs linux-perf" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing: scripts/install-deps.sh installs it" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
hyperfine -N --warmup 20 --runs "${RUNS:-300}" --export-json "$out/r.json" \
  -n perfscope "$ps stat -e task-clock,page-faults -o /dev/null -- true" \
  -n perf "perf stat -e task-clock,page-faults -o /dev/null -- true"
python3 - "$out/r.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
a, b = r["perfscope"], r["perf"]
print(f"perfscope mean {a['mean']*1e3:.3f} ms (median {a['median']*1e3:.3f}), "
      f"perf mean {b['mean']*1e3:.3f} ms (median {b['median']*1e3:.3f})")
print(f"ratio perfscope/perf: mean {a['mean']/b['mean']:.3f}, median {a['median']/b['median']:.3f}")
PY
