// The counting hot path: what one poll of `stat -I` or `monitor` costs per counter read.
#include <benchmark/benchmark.h>

#include "counting/counter.hpp"
#include "counting/counter_group.hpp"
#include "events/event_spec.hpp"

namespace {

using namespace perfscope;

events::EventSpec spec(const char* name) {
  return *events::parse_event(name, events::ParseContext{});
}

void BM_CounterRead(benchmark::State& state) {
  auto c = counting::Counter::open(spec("task-clock"), counting::Target{0, -1});
  if (!c) {
    state.SkipWithError(c.error().describe().c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(c->read());
}
BENCHMARK(BM_CounterRead);

void BM_GroupReadInto(benchmark::State& state) {
  std::vector<events::EventSpec> specs;
  const char* names[] = {"task-clock",   "page-faults",  "context-switches", "cpu-migrations",
                         "minor-faults", "major-faults", "cpu-clock",        "alignment-faults"};
  for (int i = 0; i < state.range(0); ++i) specs.push_back(spec(names[i]));
  auto g = counting::CounterGroup::open(specs, counting::Target{0, -1});
  if (!g) {
    state.SkipWithError(g.error().describe().c_str());
    return;
  }
  std::vector<counting::Reading> out;
  for (auto _ : state) benchmark::DoNotOptimize(g->read_into(out));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GroupReadInto)->Arg(1)->Arg(4)->Arg(8);

void BM_DecodeGroupRead(benchmark::State& state) {
  const std::vector<std::uint64_t> words{4, 1000, 500, 11, 101, 22, 102, 33, 103, 44, 104};
  const std::vector<std::uint64_t> ids{101, 102, 103, 104};
  std::vector<counting::Reading> out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(counting::decode_group_read(words, ids, out));
    benchmark::DoNotOptimize(out[3].scaled());
  }
}
BENCHMARK(BM_DecodeGroupRead);

}  // namespace
