// `perfscope monitor`: a periodic counter source (the Alumet perf plugin's model, seed 002) that
// polls counters on an interval and flushes the points to CSV, JSON lines and a Prometheus
// endpoint. The run is monitor/runner.hpp; this is its flags and what it tells the user.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "monitor/settings.hpp"

namespace CLI {
class App;
}

namespace perfscope::cli {

struct MonitorOptions {
  monitor::SettingFlags settings;     // --config, -e, the intervals, --duration, -o, --strict
  bool all_cpus = false;              // -a
  std::optional<std::string> cpus;    // -C
  std::optional<std::string> pids;    // -p
  std::optional<std::string> cgroup;  // --cgroup PATH
  std::vector<std::string> command;
};

void add_monitor_command(CLI::App& app, int& exit_code);
int run_monitor(const MonitorOptions& options);

}  // namespace perfscope::cli
