#!/usr/bin/env bash
# Runs the clang-tidy checks of .clang-tidy over src/ with a build folder's compile database.
#   scripts/check-tidy.sh [BUILD_DIR] [PATH_FILTER]    (default build/, every file under src/)
# Not part of CI's time budget: run it before a change lands (about 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
filter=${2:-src/}
command -v clang-tidy >/dev/null || { echo "clang-tidy is not installed (apt install clang-tidy)"; exit 2; }
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json: configure first"; exit 2; }
mapfile -t files < <(git ls-files -- 'src/*.cpp' | grep "^$filter")
# The bpftool skeletons (C headers that g++ accepts) use _Bool, which clang's C++ does not know.
printf '%s\n' "${files[@]}" |
  xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet --extra-arg=-D_Bool=bool 2>/dev/null
