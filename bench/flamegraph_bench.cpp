// Flame graph throughput: folding `perf script` text into a StackTree (MB/s of input), reading
// folded lines, and rendering the SVG (MB/s of SVG written). The input is synthetic but shaped
// like real output: deep stacks (30-60 frames) from a few hundred distinct call paths.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <random>
#include <string>

#include "formats/folded_reader.hpp"
#include "formats/perf_script.hpp"
#include "output/flamegraph_svg.hpp"

namespace {

using perfscope::output::StackTree;

// About `bytes` of perf script text with callchains.
std::string perf_script_text(std::size_t bytes) {
  std::mt19937_64 rng(42);
  std::vector<std::string> stacks;
  for (int s = 0; s < 300; ++s) {
    std::string frames;
    const int depth = 30 + static_cast<int>(rng() % 30);
    for (int d = depth; d > 0; --d) {
      frames += fmt::format(
          "\t    {:12x} ns::module{}::function_{}_{}+0x{:x} (/usr/lib/libapp{}.so)\n",
          0x7f0000000000ULL + rng() % 0xffffff, d % 7, d, (s * 31 + d) % 97, rng() % 0x400, d % 5);
    }
    stacks.push_back(std::move(frames));
  }
  std::string out;
  out.reserve(bytes + 4096);
  for (std::uint64_t n = 0; out.size() < bytes; ++n) {
    out += fmt::format("app {} {}.{:06}:     250000 cpu-clock:ppp: \n", 1000 + n % 4,
                       8000 + n / 1000, n % 1000000);
    out += stacks[rng() % stacks.size()];
    out += '\n';
  }
  return out;
}

const std::string& input() {
  static const std::string text = perf_script_text(64u << 20);
  return text;
}

void BM_FoldPerfScript(benchmark::State& state) {
  const std::string& text = input();
  for (auto _ : state) {
    StackTree t;
    perfscope::formats::PerfScriptReader r(t, "bench");
    if (!r.add_text(text)) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(t.total());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_FoldPerfScript)->Unit(benchmark::kMillisecond);

void BM_ReadFolded(benchmark::State& state) {
  StackTree t;
  perfscope::formats::PerfScriptReader r(t, "bench");
  (void)r.add_text(input());
  std::string folded;
  // Repeat the distinct stacks to a realistic size for a folded file.
  const std::string once = perfscope::output::folded_from_tree(t);
  while (folded.size() < (16u << 20)) folded += once;
  for (auto _ : state) {
    StackTree u;
    perfscope::formats::FoldedReader fr(u, "bench");
    if (!fr.add_text(folded)) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(u.total());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * folded.size()));
}
BENCHMARK(BM_ReadFolded)->Unit(benchmark::kMillisecond);

void BM_RenderSvg(benchmark::State& state) {
  StackTree t;
  perfscope::formats::PerfScriptReader r(t, "bench");
  (void)r.add_text(input());
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto svg = perfscope::output::flamegraph_svg(t, {.min_width = 0});
    bytes += svg->size();
    benchmark::DoNotOptimize(svg->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["frames"] = static_cast<double>(t.size());
}
BENCHMARK(BM_RenderSvg)->Unit(benchmark::kMillisecond);

}  // namespace
