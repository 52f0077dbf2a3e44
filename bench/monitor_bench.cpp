// The `monitor` hot paths: one poll of the counters, and the text each flush (CSV, JSON lines)
// or endpoint refresh (Prometheus exposition) produces. Formatting runs over 10 events x 64 CPUs,
// one flush of 5 polls for the files; polling runs on real software counters.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "monitor/format.hpp"
#include "monitor/metric_name.hpp"
#include "monitor/series.hpp"
#include "monitor/source.hpp"

namespace {

using namespace perfscope;

constexpr const char* kTenEvents =
    "cpu-clock,task-clock,page-faults,context-switches,cpu-migrations,minor-faults,major-faults,"
    "alignment-faults,emulation-faults,cgroup-switches";
constexpr int kCpus = 64;
constexpr int kPollsPerFlush = 5;  // --poll-interval 1s, --flush-interval 5s
constexpr std::int64_t kStartNs = 1'795'000'000'000'000'000;

std::vector<events::EventSpec> ten_events() {
  std::vector<events::EventSpec> specs;
  auto groups = events::parse_event_list(kTenEvents);  // kept alive: the loop reads into it
  if (!groups) return specs;
  for (const auto& g : *groups) {
    for (const auto& e : g.events) specs.push_back(e);
  }
  return specs;
}

// One series per (event, CPU), ordered as Source orders them: by event, then by CPU.
std::vector<monitor::Series> cpu_series() {
  std::vector<monitor::Series> series;
  for (const auto& spec : ten_events()) {
    for (int cpu = 0; cpu < kCpus; ++cpu)
      series.push_back({monitor::metric_name(spec), spec.display_name(), spec.name, cpu, -1, {}});
  }
  return series;
}

// `polls` polls of every series, one second apart, with counts of varied widths.
std::vector<monitor::Point> points(const std::vector<monitor::Series>& series, int polls) {
  std::vector<monitor::Point> out;
  std::vector<std::uint64_t> totals(series.size(), 0);
  for (int p = 0; p < polls; ++p) {
    for (std::uint32_t id = 0; id < series.size(); ++id) {
      monitor::Point pt;
      pt.time_ns = kStartNs + p * 1'000'000'000LL + 250'000;
      pt.series = id;
      pt.delta = (id % 3 == 0) ? 999'876'543 : (id % 3 == 1 ? 1234 : 0);
      totals[id] += pt.delta;
      pt.total = totals[id];
      pt.accuracy = 1;
      out.push_back(pt);
    }
  }
  return out;
}

template <typename Append>
void run_flush(benchmark::State& state, Append append) {
  const auto series = cpu_series();
  if (series.empty()) {
    state.SkipWithError("cannot parse the event list");
    return;
  }
  const auto pts = points(series, kPollsPerFlush);
  std::string out;
  for (auto _ : state) {
    out.clear();
    append(pts, series, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(pts.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
  state.counters["points"] = static_cast<double>(pts.size());
  state.counters["bytes"] = static_cast<double>(out.size());
}

void BM_AppendCsv(benchmark::State& state) {
  run_flush(state, [](auto pts, const auto& series, std::string& out) {
    monitor::append_csv(pts, series, out);
  });
}
BENCHMARK(BM_AppendCsv);

void BM_AppendJsonl(benchmark::State& state) {
  run_flush(state, [](auto pts, const auto& series, std::string& out) {
    monitor::append_jsonl(pts, series, out);
  });
}
BENCHMARK(BM_AppendJsonl);

// One endpoint refresh: every series' latest point as counter and accuracy families.
void BM_AppendExposition(benchmark::State& state) {
  const auto series = cpu_series();
  if (series.empty()) {
    state.SkipWithError("cannot parse the event list");
    return;
  }
  const auto latest = points(series, 1);
  std::string out;
  for (auto _ : state) {
    out.clear();
    monitor::append_exposition(series, latest, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(series.size()));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(out.size()));
  state.counters["series"] = static_cast<double>(series.size());
  state.counters["bytes"] = static_cast<double>(out.size());
}
BENCHMARK(BM_AppendExposition);

void poll_source(benchmark::State& state, const char* list,
                 const std::vector<monitor::ScopedTarget>& targets) {
  auto groups = events::parse_event_list(list);
  if (!groups) {
    state.SkipWithError(groups.error().describe().c_str());
    return;
  }
  auto source = monitor::Source::open(*groups, targets, counting::CounterOptions{}, false);
  if (!source) {
    state.SkipWithError(source.error().describe().c_str());
    return;
  }
  std::vector<monitor::Point> out;
  out.reserve(source->series().size());
  std::int64_t t = kStartNs;
  for (auto _ : state) {
    out.clear();
    if (auto st = source->poll(++t, out); !st) {
      state.SkipWithError(st.error().describe().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(source->series().size()));
  state.counters["series"] = static_cast<double>(source->series().size());
}

// This process (pid 0, any CPU): 10 events, each its own counter, so 10 read(2) calls a poll.
void BM_SourcePollProcess(benchmark::State& state) {
  poll_source(state, kTenEvents, {{counting::Target{0, -1}, -1, 0, {}}});
}
BENCHMARK(BM_SourcePollProcess);

// The same 10 events as one {group}: one read(2) a poll.
void BM_SourcePollProcessGrouped(benchmark::State& state) {
  const std::string list = std::string("{") + kTenEvents + "}";
  poll_source(state, list.c_str(), {{counting::Target{0, -1}, -1, 0, {}}});
}
BENCHMARK(BM_SourcePollProcessGrouped);

// What `monitor -a` polls: 10 events on every online CPU (needs root or perf_event_paranoid <= 0).
void BM_SourcePollAllCpus(benchmark::State& state) {
  std::vector<monitor::ScopedTarget> targets;
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  for (int cpu = 0; cpu < cpus; ++cpu) targets.push_back({counting::Target{-1, cpu}, cpu, -1, {}});
  poll_source(state, kTenEvents, targets);
}
BENCHMARK(BM_SourcePollAllCpus);

}  // namespace
