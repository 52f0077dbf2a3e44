// The summary of one scenario, typed: each run's time and status, and the headline numbers of
// the CPU, memory and I/O profiles. summary.json (to_json, read back by from_json for `scenario
// diff`) and summary.md (to_markdown, for people) are both made from it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace perfscope::scenario {

// The runs of a scenario, in the order they run and are shown.
enum class Phase { bare, cpu, memory, io };
// "bare", "cpu", "memory", "io".
const char* phase_name(Phase phase);
std::optional<Phase> parse_phase(std::string_view name);
// --type: "cpu,io" or "all" (cpu, memory, io); repeats are dropped, the order kept.
Result<std::vector<Phase>> parse_phases(const std::string& text);

struct RunRecord {
  double seconds = 0;
  int exit_code = 0;               // the command's, shell convention (128 + N for signal N)
  std::vector<std::string> files;  // relative to the scenario folder
};

struct FunctionShare {
  std::string function;
  double self_percent = 0;
  double total_percent = 0;
};

struct CpuNumbers {
  std::int64_t samples = 0;
  std::int64_t lost = 0;
  std::vector<FunctionShare> top_functions;  // by self share, at most 5
};

// The process with the largest heap peak.
struct HeapPeak {
  std::uint64_t peak_bytes = 0;
  std::int64_t pid = 0;
  std::string comm;
  std::uint64_t allocations = 0;
};

struct MemoryNumbers {
  std::optional<HeapPeak> peak;  // empty when no heap profile was made
};

struct SyscallRow {
  std::string syscall;
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
};

struct IoNumbers {
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  std::string time;                      // "cpu" or "wall": what `seconds` measures
  std::string backend;                   // "bpf" or "perf"
  std::vector<SyscallRow> top_syscalls;  // by time, at most 5
};

struct ScenarioSummary {
  std::string name;
  std::string command;  // argv joined by spaces
  std::vector<std::string> argv;
  std::string date;  // "2026-01-31 12:00:00 UTC"
  std::string perfscope;
  unsigned freq = 0;
  std::vector<std::string> types;
  std::map<Phase, RunRecord> runs;
  // Each present when its run ran.
  std::optional<CpuNumbers> cpu;
  std::optional<MemoryNumbers> memory;
  std::optional<IoNumbers> io;
  bool interrupted = false;  // a stop signal cut a run short; later runs did not start
};

std::string to_json(const ScenarioSummary& summary);  // pretty, ending in a newline
Result<ScenarioSummary> from_json(std::string_view text);
std::string to_markdown(const ScenarioSummary& summary);

// "1.234 s"
std::string format_seconds(double seconds);

}  // namespace perfscope::scenario
