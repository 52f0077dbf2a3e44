// compile_cfi_table on the files every profiled process maps (libc, libstdc++) and a large
// executable (python3): how long one file takes to compile (once per file and recording, before
// its rows go to the BPF maps) and how big its table is. Counters: rows and bytes of the table,
// FDEs read, rows per kind after merging, and the libdw rows that could not be expressed.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "unwind/cfi_table.hpp"

namespace {

void BM_CompileCfiTable(benchmark::State& state, const std::string& given) {
  std::error_code ec;
  const std::string path = std::filesystem::canonical(given, ec).string();
  if (ec) {
    state.SkipWithError((given + " is not installed here").c_str());
    return;
  }
  perfscope::unwind::CfiTable table;
  for (auto _ : state) {
    auto compiled = perfscope::unwind::compile_cfi_table(path);
    if (!compiled) {
      state.SkipWithError(compiled.error().message().c_str());
      return;
    }
    table = std::move(*compiled);
    benchmark::DoNotOptimize(table.rows.data());
  }
  state.counters["rows"] = static_cast<double>(table.rows.size());
  state.counters["bytes"] = static_cast<double>(table.bytes());
  state.counters["fdes"] = static_cast<double>(table.fdes);
  state.counters["unsupported_rows"] = static_cast<double>(table.unsupported_rows);
  double kinds[PS_CFA_UNSUPPORTED + 1] = {};
  for (const ps_unwind_row& row : table.rows) {
    if (row.cfa_kind <= PS_CFA_UNSUPPORTED) ++kinds[row.cfa_kind];
  }
  for (int k = PS_CFA_NONE; k <= PS_CFA_UNSUPPORTED; ++k) {
    state.counters[std::string("kind_") + perfscope::unwind::cfa_kind_name(k)] = kinds[k];
  }
  std::string why = table.source;
  for (const auto& [reason, count] : table.unsupported_why) {
    why += "; " + reason + ": " + std::to_string(count);
  }
  state.SetLabel(why);
}
BENCHMARK_CAPTURE(BM_CompileCfiTable, libc, std::string("/lib/x86_64-linux-gnu/libc.so.6"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CompileCfiTable, libstdcxx,
                  std::string("/usr/lib/x86_64-linux-gnu/libstdc++.so.6"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CompileCfiTable, python3, std::string("/usr/bin/python3"))
    ->Unit(benchmark::kMillisecond);

}  // namespace
