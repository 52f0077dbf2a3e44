#include "cli/stat.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <utility>

#include "cli/report_error.hpp"
#include "core/clock.hpp"
#include "core/cpu_set.hpp"
#include "core/files.hpp"
#include "core/output_file.hpp"
#include "counting/counter_set.hpp"
#include "process/signal_watch.hpp"
#include "process/targets.hpp"
#include "process/workload.hpp"
#include "system/capabilities.hpp"
#include "system/permission_advice.hpp"

namespace perfscope::cli {
namespace {

Result<std::vector<counting::Target>> cpu_targets(const StatOptions& o) {
  auto cpus = process::choose_cpus(o.cpus);
  if (!cpus) return cpus.error();
  std::vector<counting::Target> targets;
  for (int cpu : *cpus) targets.push_back({-1, cpu});
  return targets;
}

struct Accumulated {
  double scaled = 0;
  std::uint64_t enabled = 0;
  std::uint64_t running = 0;
};

// Reads every group; totals per slot. With `deltas`, each group's change since its last read.
Result<std::vector<Accumulated>> read_session(counting::CounterSet& s, bool deltas) {
  if (auto st = s.read(); !st) return st.error();
  std::vector<Accumulated> acc(s.slots().size());
  for (const auto& g : s.instances()) {
    for (std::size_t i = 0; i < g.slots.size(); ++i) {
      const counting::Reading r = deltas ? g.delta(i) : g.current[i];
      acc[g.slots[i]].scaled += r.scaled();
      acc[g.slots[i]].enabled += r.time_enabled;
      acc[g.slots[i]].running += r.time_running;
    }
  }
  return acc;
}

std::vector<EventTotals> to_totals(const counting::CounterSet& s,
                                   const std::vector<Accumulated>& acc) {
  std::vector<EventTotals> out;
  for (std::size_t i = 0; i < s.slots().size(); ++i) {
    EventTotals t;
    t.spec = s.slots()[i].spec;
    t.supported = s.slots()[i].supported;
    t.reason = s.slots()[i].reason;
    t.value = acc[i].scaled;
    t.enabled = acc[i].enabled;
    t.running = acc[i].running;
    out.push_back(std::move(t));
  }
  return out;
}

struct RunResult {
  std::vector<EventTotals> totals;
  double elapsed_s = 0;
  std::optional<double> user_s, sys_s;
  int exit_code = 0;
  bool interrupted = false;
};

Result<RunResult> run_once(const StatOptions& o, const std::vector<events::EventGroupSpec>& groups,
                           process::SignalWatch& signals, OutputFile& out) {
  std::optional<process::Workload> workload;
  if (!o.command.empty()) {
    auto w = process::Workload::prepare(o.command);
    if (!w) return w.error();
    workload.emplace(std::move(*w));
  }
  const bool by_cpu = o.all_cpus || !o.cpus.empty();
  Result<std::vector<counting::Target>> targets = std::vector<counting::Target>{};
  std::vector<UniqueFd> pidfds;  // -p processes, watched so counting ends when they all exit
  if (by_cpu) {
    targets = cpu_targets(o);
  } else if (!o.pids.empty()) {
    auto processes = process::process_targets(o.pids);
    if (!processes) return processes.error();
    for (pid_t tid : processes->threads) targets->push_back({tid, -1});
    if (!workload) pidfds = std::move(processes->pidfds);
  } else if (!o.tids.empty()) {
    auto tids = process::parse_id_list(o.tids, "tid");
    if (!tids) return tids.error();
    std::vector<counting::Target> t;
    for (int tid : *tids) t.push_back({tid, -1});
    targets = std::move(t);
  } else {
    targets = std::vector<counting::Target>{{workload->pid(), -1}};
  }
  if (!targets) return targets.error();

  counting::CounterOptions options;
  options.inherit = !o.no_inherit && !by_cpu;
  const bool counting_workload = workload && !by_cpu && o.pids.empty() && o.tids.empty();
  options.enable_on_exec = counting_workload;
  auto session = counting::CounterSet::open(groups, *targets, options, !o.pids.empty());
  if (!session) return session.error();

  if (session->instances().empty() && session->any_supported()) {
    return Error{"nothing could be counted: the target exited before its counters were opened", 0,
                 "  check the pid with `ps -p PID`"};
  }

  const double start = monotonic_seconds();
  if (workload) {
    if (auto st = workload->start(); !st) return st.error();
  }
  const bool intervals = o.interval_ms > 0;
  double next_tick = start + o.interval_ms / 1000.0;
  double last_tick = start;
  bool done = false, interrupted = false;
  std::size_t live_pids = pidfds.size();
  while (!done) {
    std::vector<pollfd> fds{{signals.fd(), POLLIN, 0}};
    for (const auto& p : pidfds) fds.push_back({p.valid() ? p.get() : -1, POLLIN, 0});
    int timeout = -1;
    if (intervals)
      timeout = std::max(0, static_cast<int>((next_tick - monotonic_seconds()) * 1000.0 + 0.5));
    const int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) return errno_error("poll");
    if (n > 0 && (fds[0].revents & POLLIN)) {
      for (auto sig = signals.next(); sig.number != 0; sig = signals.next()) {
        if (sig.number == SIGCHLD) {
          if (workload && workload->try_reap()) done = true;
        } else if (workload && !workload->exited()) {
          // The command decides; we report when it is gone. A terminal's Ctrl-C already reached
          // it (same process group), so only a kill() aimed at perfscope is passed on.
          if (!sig.from_terminal) ::kill(workload->pid(), sig.number);
          interrupted = true;
        } else {
          interrupted = done = true;
        }
      }
    }
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP))) {
        pidfds[i - 1].reset();
        if (--live_pids == 0 && !workload) done = true;
      }
    }
    if (intervals && (monotonic_seconds() >= next_tick || done)) {
      const double t = monotonic_seconds();
      auto acc = read_session(*session, true);
      if (!acc) return acc.error();
      print_interval(out.stream(), t - start, to_totals(*session, *acc), t - last_tick, o);
      last_tick = t;
      next_tick += o.interval_ms / 1000.0;
    }
  }
  const double end = monotonic_seconds();
  auto acc = read_session(*session, false);
  if (!acc) return acc.error();

  RunResult r;
  r.totals = to_totals(*session, *acc);
  r.elapsed_s = end - start;
  r.interrupted = interrupted;
  if (workload) {
    workload->reap();
    const auto& ru = workload->usage();
    r.user_s =
        static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) * 1e-6;
    r.sys_s =
        static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) * 1e-6;
    r.exit_code = workload->exit_code();
  }
  return r;
}

std::string describe_subject(const StatOptions& o) {
  std::string cmd;
  for (const auto& a : o.command) cmd += (cmd.empty() ? "" : " ") + a;
  if (o.all_cpus || !o.cpus.empty()) {
    return o.cpus.empty() ? "system wide" : "CPU(s) " + o.cpus;
  }
  if (!o.pids.empty()) return "process id '" + o.pids + "'";
  if (!o.tids.empty()) return "thread id '" + o.tids + "'";
  return "'" + cmd + "'";
}

Status validate(const StatOptions& o) {
  const bool by_cpu = o.all_cpus || !o.cpus.empty();
  const int targets = (by_cpu ? 1 : 0) + (!o.pids.empty() ? 1 : 0) + (!o.tids.empty() ? 1 : 0);
  if (targets > 1) {
    return Error{"choose one of -a/-C, -p and -t", 0,
                 "  they select different things to count: CPUs, processes or threads"};
  }
  if (targets == 0 && o.command.empty()) {
    return Error{
        "nothing to count", 0,
        "  give a command (perfscope stat -- ls), -p PID, -t TID, or -a for the whole system"};
  }
  if (o.repeat == 0) return Error{"-r must be at least 1", 0, {}};
  if (o.repeat > 1 && o.command.empty()) {
    return Error{"-r repeats a command: give one", 0, "  perfscope stat -r 5 -- ./program"};
  }
  if (o.repeat > 1 && o.interval_ms > 0) return Error{"-I and -r cannot be combined", 0, {}};
  if (o.interval_ms > 0 && o.interval_ms < 10) {
    return Error{"-I interval must be at least 10 ms", 0, "  perfscope stat -I 1000 -a"};
  }
  if (o.json && !o.separator.empty()) return Error{"choose one of -x and --json", 0, {}};
  return {};
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
      "Examples:\n"
      "  perfscope stat -- ./program args\n"
      "  perfscope stat -e task-clock,page-faults -r 5 -- ./program\n"
      "  perfscope stat -a -I 1000            (every CPU, a row per second, Ctrl-C to stop)\n"
      "  perfscope stat -p 1234 -e '{task-clock,context-switches}' --json -o counts.jsonl");
  sub->callback([&o, &exit_code] { exit_code = run_stat(o); });
}

int run_stat(const StatOptions& o) {
  if (auto st = validate(o); !st) return report_error("stat", st.error());
  const bool defaults = o.events.empty();
  std::string list = defaults ? counting::kDefaultEvents : "";
  for (const auto& e : o.events) list += (list.empty() ? "" : ",") + e;
  auto groups = events::parse_event_list(list);
  if (!groups) return report_error("stat", groups.error());

  auto out = OutputFile::open(o.output);
  if (!out) return report_error("stat", out.error());

  auto signals = process::SignalWatch::create();
  if (!signals) return report_error("stat", signals.error());
  if (o.interval_ms > 0) print_interval_header(out->stream(), o);

  std::vector<RunResult> runs;
  for (unsigned i = 0; i < o.repeat; ++i) {
    auto r = run_once(o, *groups, *signals, *out);
    if (!r) return report_error("stat", r.error());
    runs.push_back(std::move(*r));
    if (runs.back().interrupted) break;
  }

  StatReport report;
  report.subject = describe_subject(o);
  report.runs = static_cast<unsigned>(runs.size());
  const auto n = static_cast<double>(runs.size());
  std::map<std::string, std::string> dropped;  // reason -> events left out for it
  for (std::size_t i = 0; i < runs.front().totals.size(); ++i) {
    EventTotals t = runs.front().totals[i];
    if (defaults && !t.supported) {
      auto& names = dropped[t.reason];
      names += (names.empty() ? "" : ", ") + t.spec.display_name();
      continue;
    }
    double sum = 0, sq = 0;
    t.enabled = t.running = 0;
    for (const auto& r : runs) {
      sum += r.totals[i].value;
      sq += r.totals[i].value * r.totals[i].value;
      t.enabled += r.totals[i].enabled;
      t.running += r.totals[i].running;
    }
    t.value = sum / n;
    if (runs.size() > 1 && t.value != 0) {
      const double var = std::max(0.0, (sq - sum * sum / n) / (n - 1));
      t.stddev_pct = std::sqrt(var / n) / t.value * 100.0;  // standard error of the mean, like perf
    }
    report.events.push_back(std::move(t));
  }
  for (const auto& [reason, names] : dropped) {
    report.notes.push_back(
        fmt::format("not counted: {}: {}; `perfscope list` shows what works", names, reason));
  }
  // With -r, the status is the first failing run's; a failing run is named, not hidden.
  int exit_code = 0;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].exit_code != 0 && runs.size() > 1) {
      report.notes.push_back(
          fmt::format("run {} of {} exited with status {}", i + 1, runs.size(), runs[i].exit_code));
    }
    if (exit_code == 0) exit_code = runs[i].exit_code;
  }
  double esum = 0, esq = 0;
  for (const auto& r : runs) {
    esum += r.elapsed_s;
    esq += r.elapsed_s * r.elapsed_s;
  }
  report.elapsed_s = esum / n;
  if (runs.size() > 1) {
    const double var = std::max(0.0, (esq - esum * esum / n) / (n - 1));
    report.elapsed_stddev_pct = std::sqrt(var / n) / report.elapsed_s * 100.0;
  }
  if (runs.back().user_s) {
    double u = 0, s = 0;
    for (const auto& r : runs) {
      u += r.user_s.value_or(0);
      s += r.sys_s.value_or(0);
    }
    report.user_s = u / n;
    report.sys_s = s / n;
  }
  print_report(out->stream(), report, o);
  if (auto st = out->commit(); !st) return report_error("stat", st.error());
  return exit_code;
}

}  // namespace perfscope::cli
