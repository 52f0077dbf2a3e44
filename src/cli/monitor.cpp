#include "cli/monitor.hpp"

#include <string.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <memory>

#include "cli/report_error.hpp"
#include "monitor/duration.hpp"
#include "monitor/runner.hpp"

namespace perfscope::cli {
namespace {

// Before the run: what is left out, where the endpoints are, what is counted and how often.
void print_start(const monitor::Runner& runner) {
  for (const auto& s : runner.skipped()) {
    fmt::print(stderr, "perfscope monitor: skipping {} ({}): {}\n", s.event, s.metric, s.reason);
  }
  std::string lacking;
  for (const auto& name : runner.not_counted()) lacking += (lacking.empty() ? "" : ", ") + name;
  if (!lacking.empty()) {
    fmt::print(stderr,
               "perfscope monitor: not counted here: {}; `perfscope list` shows what works\n",
               lacking);
  }
  for (const auto& url : runner.endpoints())
    fmt::print(stderr, "perfscope monitor: Prometheus metrics at {}\n", url);
  const auto& s = runner.settings();
  // The flush interval concerns files only: an endpoint always serves the latest poll.
  std::string flushing;
  if (runner.file_count() > 0) {
    flushing = fmt::format(", flushing every {} to {} file{}", monitor::format_duration(s.flush),
                           runner.file_count(), runner.file_count() == 1 ? "" : "s");
  }
  fmt::print(stderr, "perfscope monitor: {} series ({}), polling every {}{}\n",
             runner.series_count(), runner.subject(), monitor::format_duration(s.poll), flushing);
}

void print_end(const MonitorOptions& o, const monitor::Runner& runner,
               const monitor::RunSummary& r) {
  if (r.ended_with != 0) {
    const auto& cmd = o.command.front();
    const int grace = process::Workload::kEndGraceSeconds;
    if (r.end == stat::RunWatch::End::deadline) {
      fmt::print(stderr, "perfscope monitor: --duration {} elapsed; {} (pid {}) was ended ({})\n",
                 monitor::format_duration(*runner.settings().duration), cmd, runner.command_pid(),
                 r.killed ? fmt::format("SIGKILL: it was still running {} s after SIGTERM", grace)
                          : std::string("SIGTERM"));
    } else if (r.killed) {
      fmt::print(stderr,
                 "perfscope monitor: {} was still running {} s after SIG{}; killed it (SIGKILL)\n",
                 cmd, grace, ::sigabbrev_np(r.ended_with));
    }
  }
  std::string summary = fmt::format("perfscope monitor: {} polls", r.polls);
  if (!runner.settings().outputs.empty() && r.points_per_file > 0)
    summary += fmt::format(", {} points written to each file", r.points_per_file);
  if (!runner.endpoints().empty())
    summary += fmt::format(", {} Prometheus requests served", r.requests);
  fmt::print(stderr, "{}\n", summary);
}

}  // namespace

void add_monitor_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MonitorOptions>();
  auto& s = o->settings;
  auto* sub = app.add_subcommand(
      "monitor",
      "Poll counters on an interval and export them (CSV, JSON lines, a Prometheus endpoint)");
  sub->add_option("--config", s.config,
                  "TOML config: an Alumet file with [plugins.perf], or a perfscope file");
  sub->add_option("-e,--event", s.events,
                  "Events, comma-separated or repeated (overrides the config; default: perf "
                  "stat's set, less what this machine lacks)");
  sub->add_option("--poll-interval", s.poll_interval, "Read the counters this often (default 1s)");
  sub->add_option("--flush-interval", s.flush_interval,
                  "Write the buffered points this often (default 5s)");
  sub->add_option("-d,--duration", s.duration,
                  "Stop after this long, e.g. 30s, 5m (default: Ctrl-C); a command still running "
                  "then is ended");
  sub->add_flag("-a,--all-cpus", o->all_cpus, "Every CPU, one series per CPU (the default)");
  sub->add_option("-C,--cpu", o->cpus, "These CPUs only, e.g. 0-3,7");
  sub->add_option("-p,--pid", o->pids, "These processes (comma-separated), their threads summed");
  sub->add_option("--cgroup", o->cgroup,
                  "The tasks of this cgroup (a directory under /sys/fs/cgroup)");
  sub->add_option("-o,--output", s.outputs,
                  "csv:FILE, jsonl:FILE (- for standard output) or prometheus:[ADDR:]PORT; "
                  "repeatable (default jsonl:-)");
  sub->add_flag("--strict", s.strict, "Fail when an event cannot be counted here");
  sub->add_option("command", o->command, "A command to start and monitor until it exits");
  sub->positionals_at_end();
  sub->footer(
      "A signal (Ctrl-C, SIGTERM, SIGHUP) ends the run and is passed on to the command, which is\n"
      "killed if it still runs 2 s later. The exit status is the command's (0 when -d ended it).\n"
      "Examples:\n"
      "  perfscope monitor --config alumet-config.toml -o csv:counts.csv --duration 1m\n"
      "  perfscope monitor -e page-faults,context-switches --poll-interval 200ms -o jsonl:-\n"
      "  perfscope monitor -p 1234 -o prometheus:127.0.0.1:9464\n"
      "  perfscope monitor -o csv:build.csv -- make -j8");
  sub->callback([o, &exit_code] { exit_code = run_monitor(*o); });
}

int run_monitor(const MonitorOptions& o) {
  auto settings = monitor::resolve_settings(o.settings);
  if (!settings) return report_error("monitor", settings.error());
  monitor::RunnerOptions run{.settings = std::move(*settings), .scope = {}, .command = o.command};
  run.scope.all_cpus = o.all_cpus;
  run.scope.cpus = o.cpus;
  run.scope.pids = o.pids;
  run.scope.cgroup = o.cgroup;
  auto runner = monitor::Runner::open(std::move(run));
  if (!runner) return report_error("monitor", runner.error());
  print_start(*runner);
  auto summary = runner->run();
  if (!summary) return report_error("monitor", summary.error());
  print_end(o, *runner, *summary);
  return summary->exit_code;
}

}  // namespace perfscope::cli
