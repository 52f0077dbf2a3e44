#include "stat/runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "core/clock.hpp"
#include "counting/counter_set.hpp"
#include "stat/run_watch.hpp"

namespace perfscope::stat {
namespace {

using std::chrono::milliseconds;

// Each event's totals over every target: the latest reading, or with `deltas` the change since
// the read before.
std::vector<EventTotals> totals(const counting::CounterSet& set, bool deltas) {
  std::vector<EventTotals> out(set.slots().size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].spec = set.slots()[i].spec;
    out[i].supported = set.slots()[i].supported;
    out[i].reason = set.slots()[i].reason;
  }
  for (const auto& g : set.instances()) {
    for (std::size_t i = 0; i < g.slots.size(); ++i) {
      const counting::Reading r = deltas ? g.delta(i) : g.current[i];
      auto& t = out[g.slots[i]];
      t.value += r.scaled();
      t.enabled += r.time_enabled;
      t.running += r.time_running;
    }
  }
  return out;
}

double seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
}

struct Run {
  std::string subject;
  std::vector<EventTotals> totals;
  double elapsed_s = 0;
  std::optional<double> user_s, sys_s;
  int exit_code = 0;
  bool interrupted = false;
  int ended_with = 0;
  bool killed = false;
};

// The -I rows while `watch` runs: one set per interval, and the part-interval at the end.
Status count_intervals(const StatOptions& o, counting::CounterSet& set, RunWatch& watch,
                       std::uint64_t start_ns, const IntervalRows& on_interval) {
  const auto step = static_cast<std::uint64_t>(std::chrono::nanoseconds(o.interval).count());
  std::uint64_t next_tick = step > 0 ? start_ns + step : RunWatch::kNoDeadline;
  std::uint64_t last_tick = start_ns;
  while (!watch.over()) {
    if (auto st = watch.wait(next_tick); !st) return st;
    const std::uint64_t now = monotonic_ns();
    if (step == 0 || (now < next_tick && !watch.over())) continue;
    if (auto st = set.read(); !st) return st;
    std::vector<EventTotals> deltas = totals(set, true);
    if (o.default_events) std::erase_if(deltas, [](const auto& t) { return !t.supported; });
    if (on_interval) {
      on_interval(static_cast<double>(now - start_ns) * 1e-9, deltas,
                  static_cast<double>(now - last_tick) * 1e-9);
    }
    last_tick = now;
    next_tick += step;
  }
  return {};
}

Result<Run> run_once(const StatOptions& o, process::SignalWatch& signals,
                     const IntervalRows& on_interval) {
  std::optional<process::Workload> workload;
  if (!o.command.empty()) {
    auto w = process::Workload::prepare(o.command);
    if (!w) return w.error();
    workload.emplace(std::move(*w));
  }
  auto scope = choose_scope(o.scope, workload ? &*workload : nullptr);
  if (!scope) return scope.error();
  std::vector<counting::Target> targets;
  for (const auto& t : scope->targets) targets.push_back(t.target);
  auto set =
      counting::CounterSet::open(o.groups, targets, scope->options, scope->tolerate_vanished);
  if (!set) return set.error();
  if (set->instances().empty() && set->any_supported()) {
    return Error{"nothing could be counted: the target exited before its counters were opened", 0,
                 "  check the pid with `ps -p PID`"};
  }

  const std::uint64_t start = monotonic_ns();
  if (workload) {
    if (auto st = workload->start(); !st) return st.error();
  }
  RunWatch watch(signals, workload ? &*workload : nullptr, std::move(scope->pidfds));
  Status counted = count_intervals(o, *set, watch, start, on_interval);
  const bool ended_in_time = watch.finish();
  if (!counted) return counted.error();
  const std::uint64_t end = monotonic_ns();
  if (auto st = set->read(); !st) return st.error();

  Run r;
  r.subject = std::move(scope->subject);
  r.totals = totals(*set, false);
  r.elapsed_s = static_cast<double>(end - start) * 1e-9;
  r.interrupted = watch.end() == RunWatch::End::signal;
  r.ended_with = watch.ended_with();
  r.killed = !ended_in_time;
  if (workload) {
    r.user_s = seconds(workload->usage().ru_utime);
    r.sys_s = seconds(workload->usage().ru_stime);
    r.exit_code = workload->exit_code();
  }
  return r;
}

// The mean of `values` over runs and, with more than one, the relative standard error of that
// mean in % (what perf stat -r shows as "+- N%").
std::pair<double, double> mean_and_error_pct(const std::vector<double>& values) {
  const auto n = static_cast<double>(values.size());
  double sum = 0, sq = 0;
  for (double v : values) {
    sum += v;
    sq += v * v;
  }
  const double mean = sum / n;
  if (values.size() < 2 || mean == 0) return {mean, 0};
  const double var = std::max(0.0, (sq - sum * sum / n) / (n - 1));
  return {mean, std::sqrt(var / n) / mean * 100.0};
}

StatReport combine(const StatOptions& o, const std::vector<Run>& runs) {
  StatReport report;
  report.runs = static_cast<unsigned>(runs.size());
  std::map<std::string, std::string> dropped;  // reason -> events left out for it
  for (std::size_t i = 0; i < runs.front().totals.size(); ++i) {
    EventTotals t = runs.front().totals[i];
    if (o.default_events && !t.supported) {
      auto& names = dropped[t.reason];
      names += (names.empty() ? "" : ", ") + t.spec.display_name();
      continue;
    }
    std::vector<double> values;
    t.enabled = t.running = 0;
    for (const auto& r : runs) {
      values.push_back(r.totals[i].value);
      t.enabled += r.totals[i].enabled;
      t.running += r.totals[i].running;
    }
    std::tie(t.value, t.stddev_pct) = mean_and_error_pct(values);
    report.events.push_back(std::move(t));
  }
  for (const auto& [reason, names] : dropped) {
    report.notes.push_back(
        fmt::format("not counted: {}: {}; `perfscope list` shows what works", names, reason));
  }
  // With -r, the status is the first failing run's; a failing run is named, not hidden.
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].exit_code != 0 && runs.size() > 1) {
      report.notes.push_back(
          fmt::format("run {} of {} exited with status {}", i + 1, runs.size(), runs[i].exit_code));
    }
    if (report.exit_code == 0) report.exit_code = runs[i].exit_code;
  }
  std::vector<double> elapsed, user, sys;
  for (const auto& r : runs) {
    elapsed.push_back(r.elapsed_s);
    user.push_back(r.user_s.value_or(0));
    sys.push_back(r.sys_s.value_or(0));
  }
  double spread = 0;
  std::tie(report.elapsed_s, spread) = mean_and_error_pct(elapsed);
  if (runs.size() > 1) report.elapsed_stddev_pct = spread;
  if (runs.back().user_s) {
    report.user_s = mean_and_error_pct(user).first;
    report.sys_s = mean_and_error_pct(sys).first;
  }
  return report;
}

}  // namespace

Status check_options(const StatOptions& o) {
  if (auto st = check_scope(o.scope); !st) return st;
  const auto& s = o.scope;
  if (!s.all_cpus && !s.cpus && !s.pids && !s.tids && !s.cgroup && o.command.empty()) {
    return Error{
        "nothing to count", 0,
        "  give a command (perfscope stat -- ls), -p PID, -t TID, or -a for the whole system"};
  }
  if (o.repeat == 0) return Error{"-r must be at least 1", 0, {}};
  if (o.repeat > 1 && o.command.empty()) {
    return Error{"-r repeats a command: give one", 0, "  perfscope stat -r 5 -- ./program"};
  }
  if (o.repeat > 1 && o.interval.count() > 0) return Error{"-I and -r cannot be combined", 0, {}};
  if (o.interval.count() > 0 && o.interval < milliseconds(10)) {
    return Error{"-I interval must be at least 10 ms", 0, "  perfscope stat -I 1000 -a"};
  }
  return {};
}

Result<StatReport> run_stat(const StatOptions& o, const IntervalRows& on_interval) {
  if (auto st = check_options(o); !st) return st.error();
  auto signals = process::SignalWatch::create();
  if (!signals) return signals.error();
  std::vector<Run> runs;
  for (unsigned i = 0; i < o.repeat; ++i) {
    auto r = run_once(o, *signals, on_interval);
    if (!r) return r.error();
    runs.push_back(std::move(*r));
    if (runs.back().interrupted) break;
  }
  StatReport report = combine(o, runs);
  report.subject = runs.front().subject;
  report.ended_with = runs.back().ended_with;
  report.killed = runs.back().killed;
  return report;
}

}  // namespace perfscope::stat
