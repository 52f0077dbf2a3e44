// Parsing speed: event names are parsed once per command, but monitor configs and long -e lists
// parse many, and suggestions scan every known name.
#include <benchmark/benchmark.h>

#include "events/event_spec.hpp"

namespace {

using perfscope::events::ParseContext;

void BM_ParseSymbolic(benchmark::State& state) {
  const ParseContext ctx;
  for (auto _ : state)
    benchmark::DoNotOptimize(perfscope::events::parse_event("page-faults:u", ctx));
}
BENCHMARK(BM_ParseSymbolic);

void BM_ParseAlumetCache(benchmark::State& state) {
  const ParseContext ctx;
  for (auto _ : state)
    benchmark::DoNotOptimize(perfscope::events::parse_event("LL_READ_MISS", ctx));
}
BENCHMARK(BM_ParseAlumetCache);

void BM_ParseDefaultList(benchmark::State& state) {
  const ParseContext ctx;
  for (auto _ : state) {
    benchmark::DoNotOptimize(perfscope::events::parse_event_list(
        "task-clock,context-switches,cpu-migrations,page-faults,cycles,instructions,"
        "branch-instructions,branch-misses",
        ctx));
  }
}
BENCHMARK(BM_ParseDefaultList);

void BM_UnknownNameWithSuggestions(benchmark::State& state) {
  const ParseContext ctx;
  for (auto _ : state) benchmark::DoNotOptimize(perfscope::events::parse_event("instructons", ctx));
}
BENCHMARK(BM_UnknownNameWithSuggestions);

}  // namespace
