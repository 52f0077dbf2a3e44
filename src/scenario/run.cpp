#include "scenario/run.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "core/files.hpp"
#include "core/output_file.hpp"
#include "scenario/phases.hpp"

namespace perfscope::scenario {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPerfscopeVersion = "0.1.0";

Status check(const ScenarioOptions& o) {
  if (o.name.empty() || o.name.find('/') != std::string::npos || o.name == "." || o.name == "..") {
    return Error{fmt::format("invalid scenario name '{}'", o.name), 0,
                 "  a name is one folder name: perfscope scenario NAME -- CMD"};
  }
  if (o.command.empty()) {
    return Error{"no command to run", 0,
                 "  give one after --: perfscope scenario NAME -- ./myprogram"};
  }
  if (o.freq == 0) return Error{"--freq must be at least 1 Hz", 0, ""};
  if (o.phases.empty()) return Error{"--type is empty", 0, "  choose from cpu, memory, io, or all"};
  const std::string program = o.command.front();
  if (const std::string path = find_on_path(program);
      path.empty() || ::access(path.c_str(), X_OK) != 0) {
    return Error{fmt::format("{}: command not found", program), 0,
                 "  check the name, or give its path"};
  }
  return {};
}

// The hidden folder a scenario is written to; removed unless published into RESULTS/NAME.
class Staging {
 public:
  static Result<Staging> create(const ScenarioOptions& o) {
    std::error_code ec;
    fs::create_directories(o.results, ec);
    if (ec) {
      return Error{fmt::format("create the results folder {}", o.results), ec.value(),
                   "  choose another with --results DIR"};
    }
    Staging s;
    s.results_ = o.results;
    s.name_ = o.name;
    s.dir_ = (fs::path(o.results) / fmt::format(".{}.partial-{}", o.name, ::getpid())).string();
    fs::create_directories(fs::path(s.dir_) / "logs", ec);
    if (ec) {
      return Error{fmt::format("create {}", s.dir_), ec.value(),
                   "  choose a writable place with --results DIR"};
    }
    return s;
  }
  Staging(Staging&& o) noexcept
      : results_(std::move(o.results_)),
        name_(std::move(o.name_)),
        dir_(std::exchange(o.dir_, std::string())) {}
  Staging& operator=(Staging&&) = delete;
  ~Staging() {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }
  std::string final_dir() const { return (fs::path(results_) / name_).string(); }

  // Into place: an older run of the same name is replaced only now, and stays where it was when
  // the move fails.
  Status publish() {
    const std::string target = final_dir();
    const std::string old =
        (fs::path(results_) / fmt::format(".{}.old-{}", name_, ::getpid())).string();
    std::error_code ec;
    const bool had_old = fs::exists(target);
    if (had_old) fs::rename(target, old, ec);
    if (!ec) {
      fs::rename(dir_, target, ec);
      if (ec && had_old) {
        std::error_code restore;
        fs::rename(old, target, restore);
      }
    }
    if (ec) return Error{fmt::format("move the results into {}", target), ec.value(), ""};
    dir_.clear();
    if (had_old) fs::remove_all(old, ec);
    return {};
  }

 private:
  Staging() = default;
  std::string results_, name_, dir_;
};

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

ScenarioSummary start_summary(const ScenarioOptions& o) {
  ScenarioSummary s;
  s.name = o.name;
  for (const auto& a : o.command) s.command += (s.command.empty() ? "" : " ") + a;
  s.argv = o.command;
  s.date = now_text();
  s.perfscope = kPerfscopeVersion;
  s.freq = o.freq;
  for (Phase p : o.phases) s.types.push_back(phase_name(p));
  return s;
}

Result<RunOutcome> run_phase(Phase phase, const RunContext& c, ScenarioSummary& summary) {
  switch (phase) {
    case Phase::bare:
      return run_bare(c);
    case Phase::cpu:
      return run_cpu(c, summary);
    case Phase::memory:
      return run_memory(c, summary);
    case Phase::io:
      return run_io(c, summary);
  }
  return Error{"unknown scenario run", 0, {}};
}

}  // namespace

Result<ScenarioResult> run_scenario(const ScenarioOptions& options, process::SignalWatch& signals,
                                    const std::function<void(Phase)>& on_phase) {
  if (auto st = check(options); !st) return st.error();
  auto staging = Staging::create(options);
  if (!staging) return staging.error();
  ScenarioResult result;
  result.summary = start_summary(options);
  const RunContext context{options, staging->dir(), signals};
  std::vector<Phase> phases{Phase::bare};
  phases.insert(phases.end(), options.phases.begin(), options.phases.end());
  for (Phase phase : phases) {
    // A signal between runs (while files were written) stops before the next one starts.
    if (result.stop_signal == 0) result.stop_signal = signals.next_stop();
    if (result.stop_signal != 0) break;
    if (on_phase) on_phase(phase);
    auto run = run_phase(phase, context, result.summary);
    if (!run) return run.error();
    result.summary.runs[phase] = run->record;
    result.stop_signal = run->stop_signal;
  }
  result.summary.interrupted = result.stop_signal != 0;  // also when the last run was cut short
  if (auto st = write_output_file(context.file("summary.json"), to_json(result.summary)); !st) {
    return st.error();
  }
  if (auto st = write_output_file(context.file("summary.md"), to_markdown(result.summary)); !st) {
    return st.error();
  }
  if (auto st = staging->publish(); !st) return st.error();
  result.folder = staging->final_dir();
  return result;
}

}  // namespace perfscope::scenario
