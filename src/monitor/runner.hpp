// Runner: a whole `monitor` run. open() checks the settings, opens the source on its scope (the
// command perfscope starts, -p processes, a cgroup, or CPUs) and makes the outputs ready: the
// Prometheus endpoints listen first, so a busy port fails before any file is created. run() then
// polls every poll interval, appends the points to every file every flush interval and serves the
// endpoints in between (every series from the start, at 0 until the first poll, then the latest
// poll, not the last flush). It ends as stat does (stat::RunWatch): when the command or the -p
// processes exit, a signal comes or the duration elapses; a final poll and flush keep the last
// stretch. One thread; nothing is printed: what a person sees comes back as values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "monitor/http_server.hpp"
#include "monitor/point_file.hpp"
#include "monitor/settings.hpp"
#include "monitor/source.hpp"
#include "process/workload.hpp"
#include "stat/run_watch.hpp"
#include "stat/scope.hpp"

namespace perfscope::monitor {

struct RunnerOptions {
  Settings settings;
  stat::ScopeFlags scope;  // none given: every CPU (or the command, when there is one)
  std::vector<std::string> command;
};

// A named event this machine cannot count, left out (an error instead with --strict).
struct Skipped {
  std::string event;
  std::string metric;
  std::string reason;
};

struct RunSummary {
  std::size_t polls = 0;
  std::size_t points_per_file = 0;  // what each csv:/jsonl: output received
  std::uint64_t requests = 0;       // Prometheus requests served
  stat::RunWatch::End end = stat::RunWatch::End::none;
  // The command was still running at the end and got this signal (SIGTERM after the duration);
  // `killed`: it was still running Workload::kEndGraceSeconds later and got SIGKILL.
  int ended_with = 0;
  bool killed = false;
  // The command's exit code; 0 without a command, or when the duration ended it.
  int exit_code = 0;
};

class Runner {
 public:
  static Result<Runner> open(RunnerOptions options);

  const Settings& settings() const { return settings_; }
  const std::vector<Skipped>& skipped() const { return skipped_; }
  // Events of the default set this machine cannot count (left out, without an error).
  const std::vector<std::string>& not_counted() const { return not_counted_; }
  std::size_t series_count() const { return source_.series().size(); }
  const std::string& subject() const { return scope_.subject; }
  // "http://127.0.0.1:9464/metrics", one per prometheus: output.
  std::vector<std::string> endpoints() const;
  // How many file outputs (csv:, jsonl:) the flush interval applies to.
  std::size_t file_count() const { return files_.size(); }
  // The command's pid, or -1.
  pid_t command_pid() const { return workload_ ? workload_->pid() : -1; }

  // Runs once, to the end. Points polled before an error are still written.
  Result<RunSummary> run();

 private:
  Runner(Settings settings, std::optional<process::Workload> workload, stat::Scope scope,
         Source source);
  Status open_outputs();
  Status loop(stat::RunWatch& watch, int timer_fd);
  Status poll_now();
  Status flush_now();
  // Formats latest_ for the endpoints.
  void publish();

  Settings settings_;
  std::optional<process::Workload> workload_;
  stat::Scope scope_;
  Source source_;
  std::vector<Skipped> skipped_;
  std::vector<std::string> not_counted_;
  std::vector<MetricsServer> servers_;
  std::vector<PointFile> files_;
  // Run state.
  std::vector<Point> buffer_;  // polled, not yet flushed
  std::vector<Point> latest_;  // per series, for the endpoints
  std::string exposition_;     // what the endpoints serve: latest_ as Prometheus text
  std::size_t polls_ = 0;
  std::uint64_t last_poll_ns_ = 0;
};

}  // namespace perfscope::monitor
