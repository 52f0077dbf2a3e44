#!/usr/bin/env bash
# Installs every Debian 12 package perfscope needs to build, test and benchmark. Idempotent: when
# everything is present it does not touch the network. Needs root (or sudo).
#   scripts/install-deps.sh           everything: build, tests, benchmarks, reference tools
#   scripts/install-deps.sh --build   only what building the perfscope binary needs (quick start)
set -euo pipefail

build_packages=(
  # build
  cmake ninja-build g++ make pkg-config clang-format
  # libraries (toml++ reads the monitor's config)
  libfmt-dev libcli11-dev nlohmann-json3-dev libtomlplusplus-dev
  # symbols and DWARF (elfutils), the pprof file format (protobuf, gzip through zlib)
  libelf-dev libdw-dev zlib1g-dev libprotobuf-dev protobuf-compiler
  # disassembly of code without source lines (report --annotate)
  libcapstone-dev
  # the eBPF backend: clang for the BPF target, bpftool for the skeleton, libbpf to load it
  clang llvm bpftool libbpf-dev
  # `top`'s full-screen view
  libncurses-dev
)
test_packages=(
  # tests and micro-benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # reference tools the tests and benchmarks compare against, and setpriv for the unprivileged tests
  linux-perf hyperfine util-linux bpfcc-tools libcap2-bin python3
  # bpftrace: its off-CPU one-liner (tracepoint:sched:sched_switch) is compared with record --off-cpu
  bpftrace
  # the heap profilers `perfscope mem` is compared with (gdb: heaptrack -p injects through it),
  # and GNU time for their peak RSS
  heaptrack gdb valgrind time strace
  # a real Prometheus (and promtool) scrapes and checks the monitor's endpoint in the tests
  prometheus
  # the profile-format tests: go tool pprof reads our pprof; a real browser drives the flame graphs
  golang-go chromium nodejs
  # `top`'s interactive tests drive it in a terminal multiplexer
  tmux
)

packages=("${build_packages[@]}")
if [ "${1:-}" != "--build" ]; then packages+=("${test_packages[@]}"); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm comes with some nodejs builds (NodeSource's); Debian's nodejs needs the npm package.
if [ "${1:-}" != "--build" ]; then command -v npm >/dev/null 2>&1 || missing+=(npm); fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
