// `perfscope stat`: count events for a command, processes, threads or CPUs, like `perf stat`.
// The counting run is stat/runner.hpp; this is its flags and its three ways of printing.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "stat/runner.hpp"

namespace CLI {
class App;
}

namespace perfscope::cli {

// The flags as given (an optional one is absent when not given).
struct StatOptions {
  std::vector<std::string> events;       // -e, each possibly a comma list
  bool all_cpus = false;                 // -a
  std::optional<std::string> cpus;       // -C
  std::optional<std::string> pids;       // -p
  std::optional<std::string> tids;       // -t
  unsigned interval_ms = 0;              // -I
  unsigned repeat = 1;                   // -r
  std::optional<std::string> separator;  // -x
  bool json = false;                     // -j / --json
  std::string output;                    // -o
  bool no_inherit = false;               // -i
  std::vector<std::string> command;
};

// How counts are shown: perf's table, -x rows with this separator, or --json lines.
struct StatFormat {
  bool json = false;
  std::string separator;  // empty: the table
};

// The final report, and the -I rows (and their header, for the table).
void print_report(std::FILE* out, const stat::StatReport& report, const StatFormat& format);
void print_interval_header(std::FILE* out, const StatFormat& format);
void print_interval(std::FILE* out, double timestamp_s,
                    const std::vector<stat::EventTotals>& deltas, double interval_s,
                    const StatFormat& format);

void add_stat_command(CLI::App& app, StatOptions& options, int& exit_code);
int run_stat(const StatOptions& options);

}  // namespace perfscope::cli
