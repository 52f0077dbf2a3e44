#include "cli/stat.hpp"

#include <string.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "counting/counter_set.hpp"

namespace perfscope::cli {
namespace {

// The flags as the counting run takes them, or what is wrong with them.
Result<stat::StatOptions> to_run_options(const StatOptions& o) {
  if (o.separator && o.separator->empty()) {
    return Error{"-x was given an empty separator", 0, "  give one, e.g. -x , or -x ';'"};
  }
  if (o.json && o.separator) return Error{"choose one of -x and --json", 0, {}};
  stat::StatOptions run;
  run.default_events = o.events.empty();
  std::string list = run.default_events ? counting::kDefaultEvents : "";
  for (const auto& e : o.events) list += (list.empty() ? "" : ",") + e;
  auto groups = events::parse_event_list(list);
  if (!groups) return groups.error();
  run.groups = std::move(*groups);
  run.scope = {.all_cpus = o.all_cpus,
               .cpus = o.cpus,
               .pids = o.pids,
               .tids = o.tids,
               .cgroup = std::nullopt,
               .inherit = !o.no_inherit};
  run.command = o.command;
  run.repeat = o.repeat;
  run.interval = std::chrono::milliseconds(o.interval_ms);
  if (auto st = stat::check_options(run); !st) return st.error();
  return run;
}

}  // namespace

void add_stat_command(CLI::App& app, StatOptions& o, int& exit_code) {
  auto* sub = app.add_subcommand(
      "stat", "Count events for a command, processes, threads or CPUs (like perf stat)");
  sub->add_option("-e,--event", o.events,
                  "Events to count, comma-separated or repeated (default: perf's default set, less "
                  "what this machine lacks). {a,b} counts a group together. See `perfscope list`.");
  sub->add_flag("-a,--all-cpus", o.all_cpus, "Count every process on every online CPU");
  sub->add_option("-C,--cpu", o.cpus, "Count every process on these CPUs only, e.g. 0-3,7");
  sub->add_option("-p,--pid", o.pids, "Count these processes (comma-separated), all their threads");
  sub->add_option("-t,--tid", o.tids, "Count these threads (comma-separated)");
  sub->add_option("-I,--interval-print", o.interval_ms,
                  "Also print the counts every MS milliseconds");
  sub->add_option("-r,--repeat", o.repeat, "Run the command N times; show means and their spread");
  sub->add_option("-x,--field-separator", o.separator, "CSV-like output with this separator");
  sub->add_flag("-j,--json", o.json, "One JSON object per line");
  sub->add_option("-o,--output", o.output,
                  "Write the counts to FILE (default: standard error; - for standard output)");
  sub->add_flag("-i,--no-inherit", o.no_inherit,
                "Do not count threads/processes the target creates");
  sub->add_option("command", o.command, "The command to run and count (put it after --)");
  sub->positionals_at_end();
  sub->footer(
      "The exit status is the command's. Counts go to standard error, like perf stat.\n"
      "A signal (Ctrl-C, SIGTERM, SIGHUP) ends the count and is passed on to the command, which\n"
      "is killed if it still runs 2 s later; the counts so far are printed.\n"
      "Examples:\n"
      "  perfscope stat -- ./program args\n"
      "  perfscope stat -e task-clock,page-faults -r 5 -- ./program\n"
      "  perfscope stat -a -I 1000            (every CPU, a row per second, Ctrl-C to stop)\n"
      "  perfscope stat -p 1234 -e '{task-clock,context-switches}' --json -o counts.jsonl");
  sub->callback([&o, &exit_code] { exit_code = run_stat(o); });
}

int run_stat(const StatOptions& o) {
  auto run = to_run_options(o);
  if (!run) return report_error("stat", run.error());
  const StatFormat format{o.json, o.separator.value_or("")};
  auto out = OutputFile::open(o.output);
  if (!out) return report_error("stat", out.error());
  if (o.interval_ms > 0) print_interval_header(out->stream(), format);
  auto report = stat::run_stat(*run, [&](double at, const auto& deltas, double interval) {
    print_interval(out->stream(), at, deltas, interval, format);
  });
  if (!report) return report_error("stat", report.error());
  print_report(out->stream(), *report, format);
  if (auto st = out->commit(); !st) return report_error("stat", st.error());
  if (report->killed) {
    fmt::print(
        stderr, "perfscope stat: {} was still running {} s after SIG{}; killed it (SIGKILL)\n",
        o.command.front(), process::Workload::kEndGraceSeconds, ::sigabbrev_np(report->ended_with));
  }
  return report->exit_code;
}

}  // namespace perfscope::cli
