#!/usr/bin/env bash
# Fails (and lists the files) when a C or C++ file of the project is not as clang-format
# (.clang-format) lays it out: src/, bpf/, preload/, tests/, bench/. Run by CTest (label unit).
#   scripts/check-format.sh        check
#   scripts/check-format.sh --fix  reformat in place
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files -co --exclude-standard -- 'src/*' 'bpf/*' 'preload/*' 'tests/*' 'bench/*' |
  grep -E '\.(c|cc|cpp|h|hpp)$' | grep -v '^tests/data/')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
# One clang-format for every file (a process per file took 48 s of CI, mostly process start-up).
existing=()
for f in "${files[@]}"; do [ -f "$f" ] && existing+=("$f"); done
if report=$(clang-format --dry-run --Werror "${existing[@]}" 2>&1); then
  echo "${#existing[@]} files clang-formatted"
  exit 0
fi
mapfile -t bad < <(printf '%s\n' "$report" |
  sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
if [ ${#bad[@]} -eq 0 ]; then
  printf '%s\n' "$report" | head -20
  echo "clang-format failed (above) before checking the layout"
  exit 1
fi
echo "not clang-formatted (fix: scripts/check-format.sh --fix):"
printf '  %s\n' "${bad[@]}"
exit 1
