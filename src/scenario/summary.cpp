#include "scenario/summary.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "heap/text_report.hpp"

namespace perfscope::scenario {

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(RunRecord, seconds, exit_code, files)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FunctionShare, function, self_percent, total_percent)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CpuNumbers, samples, lost, top_functions)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(HeapPeak, peak_bytes, pid, comm, allocations)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SyscallRow, syscall, calls, errors, seconds)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(IoNumbers, calls, errors, seconds, time, backend, top_syscalls)

namespace {

using nlohmann::json;
constexpr Phase kPhases[] = {Phase::bare, Phase::cpu, Phase::memory, Phase::io};

}  // namespace

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::bare:
      return "bare";
    case Phase::cpu:
      return "cpu";
    case Phase::memory:
      return "memory";
    case Phase::io:
      return "io";
  }
  return "bare";
}

std::optional<Phase> parse_phase(std::string_view name) {
  for (Phase p : kPhases) {
    if (name == phase_name(p)) return p;
  }
  return std::nullopt;
}

Result<std::vector<Phase>> parse_phases(const std::string& text) {
  if (text == "all") return std::vector<Phase>{Phase::cpu, Phase::memory, Phase::io};
  std::vector<Phase> out;
  std::istringstream in(text);
  for (std::string t; std::getline(in, t, ',');) {
    const auto p = parse_phase(t);
    if (!p || *p == Phase::bare) {
      return Error{fmt::format("unknown scenario type '{}'", t), 0,
                   "  choose from cpu, memory, io (comma-separated), or all"};
    }
    if (std::find(out.begin(), out.end(), *p) == out.end()) out.push_back(*p);
  }
  if (out.empty()) return Error{"--type is empty", 0, "  choose from cpu, memory, io, or all"};
  return out;
}

std::string format_seconds(double s) {
  return fmt::format("{:.3f} s", s);
}

std::string to_json(const ScenarioSummary& s) {
  json j;
  j["name"] = s.name;
  j["command"] = s.command;
  j["argv"] = s.argv;
  j["date"] = s.date;
  j["perfscope"] = s.perfscope;
  j["freq"] = s.freq;
  j["types"] = s.types;
  j["runs"] = json::object();
  for (const auto& [phase, run] : s.runs) j["runs"][phase_name(phase)] = run;
  if (s.cpu) j["cpu"] = *s.cpu;
  if (s.memory) j["memory"] = s.memory->peak ? json(*s.memory->peak) : json::object();
  if (s.io) j["io"] = *s.io;
  if (s.interrupted) j["interrupted"] = true;
  return j.dump(2) + "\n";
}

Result<ScenarioSummary> from_json(std::string_view text) {
  const auto bad = [](const std::string& why) {
    return Error{"read a scenario summary: " + why, 0, "  run the scenario again"};
  };
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return bad("not JSON");
  try {
    ScenarioSummary s;
    j.at("name").get_to(s.name);
    j.at("command").get_to(s.command);
    s.argv = j.value("argv", std::vector<std::string>{});
    j.at("date").get_to(s.date);
    j.at("perfscope").get_to(s.perfscope);
    j.at("freq").get_to(s.freq);
    s.types = j.value("types", std::vector<std::string>{});
    for (const auto& [name, run] : j.at("runs").items()) {
      const auto phase = parse_phase(name);
      if (!phase) return bad(fmt::format("unknown run '{}'", name));
      s.runs[*phase] = run.get<RunRecord>();
    }
    if (j.contains("cpu")) s.cpu = j.at("cpu").get<CpuNumbers>();
    if (j.contains("memory")) {
      s.memory.emplace();
      if (j.at("memory").contains("peak_bytes")) s.memory->peak = j.at("memory").get<HeapPeak>();
    }
    if (j.contains("io")) s.io = j.at("io").get<IoNumbers>();
    s.interrupted = j.value("interrupted", false);
    return s;
  } catch (const json::exception& e) {
    return bad(e.what());
  }
}

namespace {

std::string runs_table(const ScenarioSummary& s) {
  std::string md =
      "| run | wall time | overhead vs bare | exit status | results |\n|---|---|---|---|---|\n";
  const auto bare = s.runs.find(Phase::bare);
  const double bare_s = bare == s.runs.end() ? 0.0 : bare->second.seconds;
  for (const auto& [phase, r] : s.runs) {
    std::string files;
    for (const auto& name : r.files) {
      files += (files.empty() ? "" : ", ") + fmt::format("[{}]({})", name, name);
    }
    md += fmt::format("| {} | {} | {} | {} | {} |\n", phase_name(phase), format_seconds(r.seconds),
                      phase == Phase::bare || bare_s <= 0
                          ? std::string()
                          : fmt::format("{:.2f}x", r.seconds / bare_s),
                      r.exit_code, files);
  }
  return md;
}

std::string cpu_section(const ScenarioSummary& s, const CpuNumbers& c) {
  std::string md =
      fmt::format("\n## CPU\n\n{} samples at {} Hz, {} lost.", c.samples, s.freq, c.lost);
  md += c.samples == 0 ? " The command was not on a CPU when a sample was due, so there is no "
                         "flame graph.\n"
                       : " Top functions by self time:\n\n| # | function | self | total "
                         "|\n|---|---|---|---|\n";
  int i = 0;
  for (const auto& f : c.top_functions) {
    md += fmt::format("| {} | `{}` | {:.1f}% | {:.1f}% |\n", ++i, f.function, f.self_percent,
                      f.total_percent);
  }
  return md;
}

std::string memory_section(const MemoryNumbers& m) {
  if (!m.peak) return "\n## Memory\n\nNo heap profile was made.\n";
  return fmt::format(
      "\n## Memory\n\nPeak heap: {} in pid {} ({}), {} allocations. Details: [heap.txt](heap.txt), "
      "what held the peak: [heap.svg](heap.svg).\n",
      heap::format_size(m.peak->peak_bytes), m.peak->pid, m.peak->comm,
      heap::group_digits(m.peak->allocations));
}

std::string io_section(const IoNumbers& io) {
  std::string md = fmt::format(
      "\n## I/O\n\n{} system calls, {} failed, {} in the kernel ({} time). Top system calls by "
      "time:\n\n",
      io.calls, io.errors, format_seconds(io.seconds), io.time);
  md += "| syscall | calls | errors | seconds |\n|---|---|---|---|\n";
  for (const auto& r : io.top_syscalls) {
    md += fmt::format("| {} | {} | {} | {:.6f} |\n", r.syscall, r.calls, r.errors, r.seconds);
  }
  return md;
}

}  // namespace

std::string to_markdown(const ScenarioSummary& s) {
  std::string md = fmt::format("# Scenario {}\n\n", s.name);
  md += fmt::format("Command: `{}`  \nRecorded: {} by perfscope {}\n\n", s.command, s.date,
                    s.perfscope);
  if (s.interrupted) {
    md +=
        "**Interrupted**: the run in progress was cut short, and the types after it were not "
        "run.\n\n";
  }
  md += runs_table(s);
  md +=
      "\nEach wall time includes perfscope's own start and finish (loading BPF programs, "
      "symbolizing, writing files); logs/ holds each run's output.\n";
  if (s.cpu) md += cpu_section(s, *s.cpu);
  if (s.memory) md += memory_section(*s.memory);
  if (s.io) md += io_section(*s.io);
  return md;
}

}  // namespace perfscope::scenario
