// `perfscope monitor`: a periodic counter source (the Alumet perf plugin's model, seed 002) that
// polls counters on an interval and flushes the points to CSV, JSON lines and a Prometheus
// endpoint.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace perfscope::cli {

struct MonitorOptions {
  std::string config;                // --config FILE (TOML)
  std::vector<std::string> events;   // -e, each possibly a comma list
  std::string poll_interval;         // --poll-interval D
  std::string flush_interval;        // --flush-interval D
  std::string duration;              // --duration D
  bool all_cpus = false;             // -a
  std::string cpus;                  // -C
  std::string pids;                  // -p
  std::string cgroup;                // --cgroup PATH
  std::vector<std::string> outputs;  // --output SPEC
  bool strict = false;               // --strict
  std::vector<std::string> command;
};

void add_monitor_command(CLI::App& app, int& exit_code);
int run_monitor(const MonitorOptions& options);

}  // namespace perfscope::cli
