// `perfscope scenario NAME -- CMD`: runs the command bare (for the baseline time), then once per
// profile type, in process (scenario/run.hpp); `scenario diff A B` compares two results folders
// (scenario/diff.hpp). This file parses flags and prints.
#include "cli/scenario.hpp"

#include <fmt/format.h>
#include <string.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "process/signal_watch.hpp"
#include "scenario/diff.hpp"
#include "scenario/run.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kCmd = "scenario";

struct ScenarioFlags {
  std::string name;
  std::vector<std::string> command;  // for `diff`: the two scenarios
  std::string types = "all";
  unsigned freq = 99;
  std::string results = "perfscope-results";
  std::string output;  // diff: the folder for diff.svg and diff.md
};

int run_scenario(const ScenarioFlags& f) {
  auto phases = scenario::parse_phases(f.types);
  if (!phases) return report_error(kCmd, phases.error());
  // Ctrl-C reaches the running command too (same process group); SIGTERM, SIGHUP or a kill() of
  // perfscope alone is passed on to it. Either way the run in progress finishes its files, no
  // further run starts, and the results are written, marked interrupted.
  auto signals = process::SignalWatch::create();
  if (!signals) return report_error(kCmd, signals.error());
  auto result = scenario::run_scenario(
      {.name = f.name,
       .command = f.command,
       .phases = *phases,
       .freq = f.freq,
       .results = f.results},
      *signals, [&](scenario::Phase phase) {
        if (phase == scenario::Phase::bare) {
          fmt::print(stderr, "perfscope scenario {}: bare run of {}\n", f.name, f.command.front());
        } else {
          fmt::print(stderr, "perfscope scenario {}: {} run\n", f.name,
                     scenario::phase_name(phase));
        }
      });
  if (!result) return report_error(kCmd, result.error());
  const int sig = result->stop_signal;
  fmt::print(stderr, "perfscope scenario {}: results in {}/ (summary.md){}\n", f.name,
             result->folder,
             sig != 0 ? fmt::format("; interrupted by SIG{}", sigabbrev_np(sig)) : "");
  return sig != 0 ? 128 + sig : 0;
}

int run_diff(const ScenarioFlags& f) {
  if (f.command.size() != 2) {
    return report_error(kCmd, Error{"scenario diff compares two scenarios", 0,
                                    "  perfscope scenario diff BEFORE AFTER"});
  }
  auto d = scenario::diff_scenarios(
      {.before = f.command[0], .after = f.command[1], .results = f.results, .output = f.output});
  if (!d) return report_error(kCmd, d.error());
  if (auto st = write_output_file("-", d->markdown); !st) return report_error(kCmd, st.error());
  fmt::print(stderr, "perfscope scenario diff: {}/diff.md{}\n", d->folder,
             d->svg ? ", diff.svg" : "");
  return 0;
}

}  // namespace

void add_scenario_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<ScenarioFlags>();
  auto* c = app.add_subcommand(
      "scenario",
      "Profile one command for CPU, memory and I/O in one go and file the results in "
      "DIR/NAME/ with a summary; `scenario diff A B` compares two scenarios");
  c->add_option("name", f->name, "Scenario name (a folder under --results), or diff")->required();
  c->add_option("command", f->command, "Command to run (after --); for diff: the two scenarios");
  c->add_option("--type", f->types, "Profiles to make: cpu, memory, io (comma-separated) or all")
      ->capture_default_str();
  c->add_option("-F,--freq", f->freq, "CPU sampling frequency, Hz")->capture_default_str();
  c->add_option("--results", f->results, "Folder the scenario folders go in")
      ->capture_default_str();
  c->add_option("-o,--output", f->output,
                "diff only: folder for diff.md and diff.svg (default: RESULTS/diff-A-B)");
  c->footer(
      "Files (in RESULTS/NAME/): flamegraph.svg, profile.pb.gz (cpu); heap.txt, heap.svg,\n"
      "heap-timeline.svg, heap.pb.gz (memory); syscalls.txt, syscalls.json (io); summary.md and\n"
      "summary.json; logs/ with each run's output. The command runs once bare and once per type.\n"
      "Examples:\n"
      "  perfscope scenario baseline -- ./myprogram --input data.txt\n"
      "  perfscope scenario optimized --type cpu,io -F 499 -- ./myprogram-new --input data.txt\n"
      "  perfscope scenario diff baseline optimized");
  c->callback([f, &exit_code] { exit_code = f->name == "diff" ? run_diff(*f) : run_scenario(*f); });
}

}  // namespace perfscope::cli
