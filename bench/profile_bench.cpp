// What `perfscope report` costs on a large profile: reading the gzipped pprof file, the hottest
// table, folded output. The synthetic profile has 200 functions in 6 modules (one the kernel),
// 20,000 distinct stacks 8 to 22 frames deep, some locations with inlined functions, 8 threads on 2
// CPUs, and 1,000,000 samples, stored two ways: one Sample per sample (what a naive recorder
// writes, the worst case) and one Sample per distinct (stack, thread, CPU) with a count (what
// perfscope's recorder writes).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "output/folded.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace {

using namespace perfscope;
using profile::Profile;

constexpr int kFunctions = 200;
constexpr int kStacks = 20000;
constexpr int kSamples = 1000000;
constexpr int kThreads = 8;

Profile make_profile(bool aggregated) {
  std::mt19937_64 rng(42);
  Profile p;
  p.sample_types = {{p.intern("samples"), p.intern("count")},
                    {p.intern("cpu"), p.intern("nanoseconds")}};
  p.period_type = {p.intern("cpu"), p.intern("nanoseconds")};
  p.period = 10'000'000;
  const char* modules[] = {"/usr/bin/server",    "/usr/lib/libc.so.6",      "/usr/lib/libssl.so.3",
                           "/usr/lib/libz.so.1", "/usr/lib/libstdc++.so.6", "[kernel.kallsyms]"};
  std::vector<std::uint64_t> mappings;
  for (int m = 0; m < 6; ++m) {
    const std::uint64_t start = 0x400000ULL + static_cast<std::uint64_t>(m) * 0x1000000;
    mappings.push_back(p.add_mapping(
        {.start = start, .limit = start + 0x1000000, .filename = p.intern(modules[m])}));
  }
  // Four call sites per function; one in ten holds an inlined callee too.
  std::vector<std::uint64_t> locations;
  for (int f = 0; f < kFunctions; ++f) {
    const std::string name = "ns::Class" + std::to_string(f % 17) + "::method_" + std::to_string(f);
    const auto fn = p.add_function(name, "_ZN2ns" + std::to_string(f) + "Ev", "src/file.cc", f);
    const auto inl = p.add_function(name + "_inlined", "", "src/file.hh", f);
    const std::uint64_t mapping = mappings[static_cast<std::size_t>(f % 6)];
    for (int site = 0; site < 4; ++site) {
      profile::Location l{mapping,
                          p.mapping(mapping).start + static_cast<std::uint64_t>(f * 64 + site)};
      if (rng() % 10 == 0) l.lines.push_back({inl, 7});
      l.lines.push_back({fn, 10 + site});
      locations.push_back(p.add_location(std::move(l)));
    }
  }
  std::vector<std::vector<std::uint64_t>> stacks(kStacks);
  for (auto& s : stacks) {
    const std::size_t depth = 8 + rng() % 15;
    for (std::size_t d = 0; d < depth; ++d) s.push_back(locations[rng() % locations.size()]);
  }
  std::vector<std::vector<profile::Label>> threads;
  const auto pid = p.intern("pid"), tid = p.intern("tid"), cpu = p.intern("cpu"),
             comm = p.intern("comm");
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back({{.key = pid, .num = 1000 + t / 4},
                       {.key = tid, .num = 1000 + t},
                       {.key = cpu, .num = t % 2},
                       {.key = comm, .str = p.intern(t < 4 ? "server" : "worker")}});
  }
  if (!aggregated) {
    p.reserve_samples(kSamples);
    for (int i = 0; i < kSamples; ++i) {
      p.add_sample({stacks[rng() % kStacks], {1, p.period}, threads[rng() % kThreads]});
    }
  } else {
    // Every stack on every thread, counts summing to kSamples.
    const int per = kSamples / (kStacks * kThreads / 4);
    for (int s = 0; s < kStacks; ++s) {
      for (int t = s % 4; t < kThreads; t += 4) {
        p.add_sample({stacks[static_cast<std::size_t>(s)],
                      {per, per * p.period},
                      threads[static_cast<std::size_t>(t)]});
      }
    }
  }
  return p;
}

// The profiles and their files, made once per run.
struct Fixture {
  Profile profile;
  std::string path;
  std::size_t file_bytes = 0;
};

const Fixture& fixture(bool aggregated) {
  static Fixture cached[2];
  Fixture& f = cached[aggregated ? 1 : 0];
  if (f.path.empty()) {
    f.profile = make_profile(aggregated);
    f.path =
        std::filesystem::temp_directory_path() / ("perfscope-bench-" + std::to_string(::getpid()) +
                                                  (aggregated ? "-agg" : "-raw") + ".pb.gz");
    if (auto st = profile::write_pprof(f.profile, f.path); !st) {
      std::fprintf(stderr, "%s\n", st.error().describe().c_str());
      std::abort();
    }
    f.file_bytes = std::filesystem::file_size(f.path);
  }
  return f;
}

struct RemoveFiles {
  ~RemoveFiles() {
    std::error_code ignored;
    for (const char* kind : {"-agg", "-raw"}) {
      std::filesystem::remove(
          std::filesystem::temp_directory_path() /
              ("perfscope-bench-" + std::to_string(::getpid()) + kind + ".pb.gz"),
          ignored);
    }
  }
} remove_files;

void set_counters(benchmark::State& state, const Fixture& f) {
  state.counters["samples"] = static_cast<double>(f.profile.samples().size());
  state.counters["file_MB"] = static_cast<double>(f.file_bytes) / 1e6;
}

void BM_ReadPprof(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0) != 0);
  const bool merge = state.range(1) != 0;
  std::size_t samples = 0;
  for (auto _ : state) {
    auto p = profile::read_pprof(f.path, {.merge_samples = merge});
    if (!p) state.SkipWithError(p.error().message().c_str());
    samples = p->samples().size();
    benchmark::DoNotOptimize(p);
  }
  set_counters(state, f);
  state.counters["samples_read"] = static_cast<double>(samples);
}
BENCHMARK(BM_ReadPprof)
    ->ArgNames({"aggregated", "merge"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

void BM_WritePprof(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0) != 0);
  const std::string out = f.path + ".out";
  for (auto _ : state) {
    auto st = profile::write_pprof(f.profile, out);
    if (!st) state.SkipWithError(st.error().message().c_str());
  }
  std::filesystem::remove(out);
  set_counters(state, f);
}
BENCHMARK(BM_WritePprof)->ArgName("aggregated")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Hottest(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0) != 0);
  const auto by = static_cast<profile::GroupBy>(state.range(1));
  for (auto _ : state) {
    auto h = profile::hottest(f.profile, {.by = by, .top = 20});
    benchmark::DoNotOptimize(h);
  }
  set_counters(state, f);
}
BENCHMARK(BM_Hottest)
    ->ArgNames({"aggregated", "by"})
    ->ArgsProduct({{0, 1},
                   {static_cast<int>(profile::GroupBy::function),
                    static_cast<int>(profile::GroupBy::module),
                    static_cast<int>(profile::GroupBy::process)}})
    ->Unit(benchmark::kMillisecond);

void BM_HottestFilteredByPid(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0) != 0);
  for (auto _ : state) {
    auto h = profile::hottest(f.profile, {.top = 20, .filter = {.pids = {1001}}});
    benchmark::DoNotOptimize(h);
  }
  set_counters(state, f);
}
BENCHMARK(BM_HottestFilteredByPid)
    ->ArgName("aggregated")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);

void BM_Folded(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0) != 0);
  for (auto _ : state) {
    auto text = output::folded(f.profile);
    benchmark::DoNotOptimize(text);
  }
  set_counters(state, f);
}
BENCHMARK(BM_Folded)->ArgName("aggregated")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// What `perfscope report` does with default options: read (merging samples), totals, three tables.
void BM_ReportPipeline(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0) != 0);
  for (auto _ : state) {
    auto p = profile::read_pprof(f.path, {.merge_samples = true});
    if (!p) state.SkipWithError(p.error().message().c_str());
    auto t = profile::totals(*p);
    auto fn = profile::hottest(*p, {.top = 20});
    auto proc = profile::hottest(*p, {.by = profile::GroupBy::process, .top = 5});
    auto cpu = profile::hottest(*p, {.by = profile::GroupBy::cpu, .top = 5});
    benchmark::DoNotOptimize(t);
    benchmark::DoNotOptimize(fn);
    benchmark::DoNotOptimize(proc);
    benchmark::DoNotOptimize(cpu);
  }
  set_counters(state, f);
}
BENCHMARK(BM_ReportPipeline)->ArgName("aggregated")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// What `perfscope report --folded` does: read (merging samples), fold.
void BM_FoldedPipeline(benchmark::State& state) {
  const Fixture& f = fixture(state.range(0) != 0);
  for (auto _ : state) {
    auto p = profile::read_pprof(f.path, {.merge_samples = true});
    if (!p) state.SkipWithError(p.error().message().c_str());
    auto text = output::folded(*p);
    benchmark::DoNotOptimize(text);
  }
  set_counters(state, f);
}
BENCHMARK(BM_FoldedPipeline)->ArgName("aggregated")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
