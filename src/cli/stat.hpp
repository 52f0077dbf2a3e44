// `perfscope stat`: count events for a command, processes, threads or CPUs, like `perf stat`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "counting/reading.hpp"
#include "events/event_spec.hpp"

namespace CLI {
class App;
}

namespace perfscope::cli {

struct StatOptions {
  std::vector<std::string> events;  // -e, each possibly a comma list
  bool all_cpus = false;            // -a
  std::string cpus;                 // -C
  std::string pids;                 // -p
  std::string tids;                 // -t
  unsigned interval_ms = 0;         // -I
  unsigned repeat = 1;              // -r
  std::string separator;            // -x
  bool json = false;                // -j / --json
  std::string output;               // -o
  bool no_inherit = false;          // -i
  std::vector<std::string> command;
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
  std::vector<std::string> notes;  // one line each, printed after the header
  double elapsed_s = 0;
  std::optional<double> user_s;  // workload's rusage, when there is a workload
  std::optional<double> sys_s;
  std::optional<double> elapsed_stddev_pct;
};

// Output for the final report and for -I rows. `sep` empty: human table.
void print_report(std::FILE* out, const StatReport& report, const StatOptions& options);
void print_interval_header(std::FILE* out, const StatOptions& options);
void print_interval(std::FILE* out, double timestamp_s, const std::vector<EventTotals>& deltas,
                    double interval_s, const StatOptions& options);

void add_stat_command(CLI::App& app, StatOptions& options, int& exit_code);
int run_stat(const StatOptions& options);

}  // namespace perfscope::cli
