// `stat`'s counting run: counters opened on the scope, the command started, optional interval rows
// while it runs, repeats of the command, and a report with the means and their spread over runs.
// Nothing is printed here: interval rows go to a callback, the report is returned.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "counting/reading.hpp"
#include "events/event_spec.hpp"
#include "stat/scope.hpp"

namespace perfscope::stat {

struct StatOptions {
  std::vector<events::EventGroupSpec> groups;
  // `groups` are counting::kDefaultEvents: the ones this machine lacks are left out with a note
  // instead of being shown as "<not supported>".
  bool default_events = false;
  ScopeFlags scope;
  std::vector<std::string> command;       // empty: count the scope until a signal or the -p exit
  unsigned repeat = 1;                    // runs of the command
  std::chrono::milliseconds interval{0};  // > 0: a row set this often (on_interval)
};

// One line of the result: an event as shown, with its totals over all CPUs/threads.
struct EventTotals {
  events::EventSpec spec;  // as opened (":u" after a user-only fallback)
  bool supported = true;
  std::string reason;     // why not, when !supported
  double value = 0;       // scaled estimate, mean over runs
  double stddev_pct = 0;  // relative standard error of the mean over runs, in %
  std::uint64_t enabled = 0;
  std::uint64_t running = 0;
  double running_fraction() const {
    return counting::Reading{0, enabled, running}.running_fraction();
  }
};

struct StatReport {
  std::string subject;  // "'./busy'", "system wide", "process id '42'"
  unsigned runs = 1;
  std::vector<EventTotals> events;
  std::vector<std::string> notes;  // one line each, printed after the counts
  double elapsed_s = 0;
  std::optional<double> user_s;  // the command's rusage, when there is a command
  std::optional<double> sys_s;
  std::optional<double> elapsed_stddev_pct;
  // The shell's view: the command's exit code (the first failing run's with -r), else 0.
  int exit_code = 0;
  // The signal that ended a run while its command still ran (a signal to perfscope): the command
  // got it, and was killed when still running Workload::kEndGraceSeconds later (`killed`).
  int ended_with = 0;
  bool killed = false;
};

// The -I rows of one interval: the time since the run started, each event's change over the
// interval (the default events this machine lacks left out), and the interval's length.
using IntervalRows = std::function<void(double since_start_s,
                                        const std::vector<EventTotals>& deltas, double interval_s)>;

// Refuses what cannot run: bad scope flags, nothing to count, -r without a command or with -I, an
// interval under 10 ms.
Status check_options(const StatOptions& options);

// Counts, runs and repeats as `options` say, until the command exits (each run), the -p processes
// exit, or a signal comes; a signal ends the repeats. A command still running then is ended
// (RunWatch::finish); its exit code is kept.
Result<StatReport> run_stat(const StatOptions& options, const IntervalRows& on_interval = {});

}  // namespace perfscope::stat
