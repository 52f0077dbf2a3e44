#include "cli/monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <set>

#include "cli/report_error.hpp"
#include "core/files.hpp"
#include "monitor/config.hpp"
#include "monitor/duration.hpp"
#include "monitor/format.hpp"
#include "monitor/http_server.hpp"
#include "monitor/metric_name.hpp"
#include "monitor/source.hpp"
#include "process/signal_watch.hpp"
#include "process/targets.hpp"
#include "process/workload.hpp"

namespace perfscope::cli {
namespace {

using std::chrono::nanoseconds;
using namespace std::chrono_literals;

std::int64_t wall_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
std::int64_t mono_ns() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Result<nanoseconds> flag_duration(const std::string& text, const char* flag, bool interval) {
  auto d = monitor::parse_setting(text, interval);
  if (!d) return Error{fmt::format("{}: {}", flag, d.error().message()), 0, d.error().hint};
  return *d;
}

// A CSV or JSONL output file (or standard output), written whole lines at a time.
class PointFile {
 public:
  static Result<PointFile> open(const monitor::OutputSpec& spec) {
    PointFile f;
    f.spec_ = spec;
    if (spec.path == "-") {
      f.fd_ = STDOUT_FILENO;
    } else {
      f.owned_.reset(::open(spec.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!f.owned_) {
        return errno_error("cannot create " + spec.path,
                           "  check that the directory exists and is writable");
      }
      f.fd_ = f.owned_.get();
    }
    if (spec.kind == monitor::OutputSpec::Kind::csv) f.buffer_ = monitor::csv_header();
    return f;
  }
  void add(std::span<const monitor::Point> points, const std::vector<monitor::Series>& series) {
    if (spec_.kind == monitor::OutputSpec::Kind::csv) {
      monitor::append_csv(points, series, buffer_);
    } else {
      monitor::append_jsonl(points, series, buffer_);
    }
    written_ += points.size();
  }
  Status flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
      const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error("writing " + (spec_.path == "-" ? "standard output" : spec_.path));
      }
      done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
    return {};
  }
  Status close() {
    if (auto st = flush(); !st) return st;
    if (owned_ && ::close(owned_.release()) != 0) return errno_error("closing " + spec_.path);
    return {};
  }
  const monitor::OutputSpec& spec() const { return spec_; }
  std::size_t written() const { return written_; }

 private:
  PointFile() = default;
  monitor::OutputSpec spec_;
  UniqueFd owned_;
  int fd_ = -1;
  std::string buffer_;
  std::size_t written_ = 0;
};

struct Settings {
  std::vector<events::EventGroupSpec> groups;
  bool default_events = false;
  nanoseconds poll = 1s;
  nanoseconds flush = 5s;
  std::optional<nanoseconds> duration;
  std::vector<monitor::OutputSpec> outputs;
  bool strict = false;
};

// Flags override the file; the file overrides the defaults.
Result<Settings> resolve(const MonitorOptions& o) {
  Settings s;
  std::optional<monitor::MonitorConfig> config;
  if (!o.config.empty()) {
    auto c = monitor::load_config(o.config);
    if (!c) return c.error();
    config = std::move(*c);
  }
  if (!o.events.empty()) {
    std::string list;
    for (const auto& e : o.events) list += (list.empty() ? "" : ",") + e;
    auto groups = events::parse_event_list(list);
    if (!groups) return groups.error();
    s.groups = std::move(*groups);
  } else if (config && !config->events.empty()) {
    // In file order (the TOML reader hands tables over sorted by key).
    std::stable_sort(config->events.begin(), config->events.end(),
                     [](const auto& a, const auto& b) { return a.line < b.line; });
    for (auto& e : config->events) {
      for (auto& g : e.groups) s.groups.push_back(std::move(g));
    }
  } else {
    auto groups = events::parse_event_list(counting::kDefaultEvents);
    if (!groups) return groups.error();
    s.groups = std::move(*groups);
    s.default_events = true;
  }
  std::set<std::string> seen;
  for (const auto& g : s.groups) {
    for (const auto& spec : g.events) {
      if (!seen.insert(spec.display_name()).second) {
        return Error{fmt::format("event {} is listed twice", spec.display_name()), 0,
                     "  list each event once (PAGE_FAULTS and page-faults are the same event)"};
      }
    }
  }
  if (config && config->poll_interval) s.poll = *config->poll_interval;
  if (config && config->flush_interval) s.flush = *config->flush_interval;
  if (config && config->duration) s.duration = *config->duration;
  if (config && config->strict) s.strict = *config->strict;
  if (config) s.outputs = config->outputs;
  if (!o.poll_interval.empty()) {
    auto d = flag_duration(o.poll_interval, "--poll-interval", true);
    if (!d) return d.error();
    s.poll = *d;
  }
  if (!o.flush_interval.empty()) {
    auto d = flag_duration(o.flush_interval, "--flush-interval", true);
    if (!d) return d.error();
    s.flush = *d;
  }
  if (!o.duration.empty()) {
    auto d = flag_duration(o.duration, "--duration", false);
    if (!d) return d.error();
    s.duration = *d;
  }
  if (o.strict) s.strict = true;
  if (!o.outputs.empty()) {
    s.outputs.clear();
    for (const auto& text : o.outputs) {
      auto spec = monitor::parse_output_spec(text);
      if (!spec) return spec.error();
      s.outputs.push_back(std::move(*spec));
    }
  }
  if (s.outputs.empty()) s.outputs.push_back(*monitor::parse_output_spec("jsonl:-"));
  std::set<std::string> files;
  for (const auto& out : s.outputs) {
    if (out.kind == monitor::OutputSpec::Kind::prometheus) continue;
    if (!files.insert(out.path).second) {
      return Error{
          fmt::format("two outputs write to {}", out.path == "-" ? "standard output" : out.path), 0,
          "  give each csv:/jsonl: output its own file"};
    }
  }
  return s;
}

Status validate(const MonitorOptions& o) {
  const bool by_cpu = o.all_cpus || !o.cpus.empty();
  const int scopes = (by_cpu ? 1 : 0) + (!o.pids.empty() ? 1 : 0) + (!o.cgroup.empty() ? 1 : 0);
  if (scopes > 1) {
    return Error{"choose one of -a/-C, -p and --cgroup", 0,
                 "  they select different things to count: CPUs, processes or a cgroup"};
  }
  if (!o.pids.empty() && !o.command.empty()) {
    return Error{"-p and a command cannot be combined", 0,
                 "  monitor the processes (-p) or start a command (-- CMD), not both"};
  }
  return {};
}

// The cgroup directory: an absolute path, or one relative to a cgroup mount.
Result<UniqueFd> open_cgroup(const std::string& path) {
  std::vector<std::string> candidates;
  if (!path.empty() && path.front() == '/') {
    candidates.push_back(path);
  } else {
    for (const char* root :
         {"/sys/fs/cgroup/", "/sys/fs/cgroup/unified/", "/sys/fs/cgroup/perf_event/"})
      candidates.push_back(root + path);
  }
  int last_errno = ENOENT;
  for (const auto& c : candidates) {
    UniqueFd fd(::open(c.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd) return fd;
    last_errno = errno;
  }
  std::string looked;
  for (const auto& c : candidates) looked += (looked.empty() ? "" : ", ") + c;
  return Error{fmt::format("cannot open cgroup {} (looked at {})", path, looked), last_errno,
               "  give the cgroup's directory, e.g. --cgroup /sys/fs/cgroup/system.slice, or a "
               "path relative to the cgroup mount"};
}

struct Scope {
  std::vector<monitor::ScopedTarget> targets;
  std::vector<UniqueFd> pidfds;  // -p: the source ends when they have all exited
  UniqueFd cgroup;
  counting::CounterOptions options;
  bool tolerate_vanished = false;
  std::string subject;
};

Result<Scope> choose_scope(const MonitorOptions& o, const process::Workload* workload) {
  Scope s;
  if (!o.pids.empty()) {
    auto processes = process::process_targets(o.pids);
    if (!processes) return processes.error();
    for (std::size_t i = 0; i < processes->threads.size(); ++i)
      s.targets.push_back({{processes->threads[i], -1}, -1, processes->thread_pids[i], {}});
    s.pidfds = std::move(processes->pidfds);
    s.options.inherit = true;
    s.tolerate_vanished = true;
    s.subject = "process " + o.pids;
    return s;
  }
  if (workload != nullptr && !o.all_cpus && o.cpus.empty() && o.cgroup.empty()) {
    s.targets.push_back({{workload->pid(), -1}, -1, workload->pid(), {}});
    s.options.inherit = true;
    s.options.enable_on_exec = true;
    s.subject = "'" + workload->command_line() + "'";
    return s;
  }
  auto cpus = process::choose_cpus(o.cpus);
  if (!cpus) return cpus.error();
  if (!o.cgroup.empty()) {
    auto fd = open_cgroup(o.cgroup);
    if (!fd) return fd.error();
    s.cgroup = std::move(*fd);
    for (int cpu : *cpus) {
      counting::Target t{-1, cpu};
      t.cgroup_fd = s.cgroup.get();
      s.targets.push_back({t, -1, -1, o.cgroup});
    }
    s.subject = "cgroup " + o.cgroup;
    return s;
  }
  for (int cpu : *cpus) s.targets.push_back({{-1, cpu}, cpu, -1, {}});
  s.subject = o.cpus.empty() ? "every CPU" : "CPUs " + o.cpus;
  return s;
}

class Timer {
 public:
  static Result<Timer> periodic(nanoseconds period) {
    Timer t;
    t.fd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!t.fd_) return errno_error("timerfd_create");
    itimerspec spec{};
    spec.it_value.tv_sec = period.count() / 1'000'000'000;
    spec.it_value.tv_nsec = period.count() % 1'000'000'000;
    spec.it_interval = spec.it_value;
    if (::timerfd_settime(t.fd_.get(), 0, &spec, nullptr) != 0)
      return errno_error("timerfd_settime");
    return t;
  }
  int fd() const { return fd_.get(); }
  bool fired() {
    std::uint64_t expirations = 0;
    return ::read(fd_.get(), &expirations, sizeof expirations) == sizeof expirations;
  }

 private:
  UniqueFd fd_;
};

}  // namespace

void add_monitor_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MonitorOptions>();
  auto* sub = app.add_subcommand(
      "monitor",
      "Poll counters on an interval and export them (CSV, JSON lines, a Prometheus endpoint)");
  sub->add_option("--config", o->config,
                  "TOML config: an Alumet file with [plugins.perf], or a perfscope file");
  sub->add_option("-e,--event", o->events,
                  "Events, comma-separated or repeated (overrides the config; default: perf "
                  "stat's set, less what this machine lacks)");
  sub->add_option("--poll-interval", o->poll_interval, "Read the counters this often (default 1s)");
  sub->add_option("--flush-interval", o->flush_interval,
                  "Write the buffered points this often (default 5s)");
  sub->add_option("--duration", o->duration, "Stop after this long (default: Ctrl-C)");
  sub->add_flag("-a,--all-cpus", o->all_cpus, "Every CPU, one series per CPU (the default)");
  sub->add_option("-C,--cpu", o->cpus, "These CPUs only, e.g. 0-3,7");
  sub->add_option("-p,--pid", o->pids, "These processes (comma-separated), their threads summed");
  sub->add_option("--cgroup", o->cgroup,
                  "The tasks of this cgroup (a directory under /sys/fs/cgroup)");
  sub->add_option("-o,--output", o->outputs,
                  "csv:FILE, jsonl:FILE (- for standard output) or prometheus:[ADDR:]PORT; "
                  "repeatable (default jsonl:-)");
  sub->add_flag("--strict", o->strict, "Fail when an event cannot be counted here");
  sub->add_option("command", o->command, "A command to start and monitor until it exits");
  sub->positionals_at_end();
  sub->footer(
      "Examples:\n"
      "  perfscope monitor --config alumet-config.toml -o csv:counts.csv --duration 1m\n"
      "  perfscope monitor -e page-faults,context-switches --poll-interval 200ms -o jsonl:-\n"
      "  perfscope monitor -p 1234 -o prometheus:127.0.0.1:9464\n"
      "  perfscope monitor -o csv:build.csv -- make -j8");
  sub->callback([o, &exit_code] { exit_code = run_monitor(*o); });
}

int run_monitor(const MonitorOptions& o) {
  if (auto st = validate(o); !st) return report_error("monitor", st.error());
  auto settings = resolve(o);
  if (!settings) return report_error("monitor", settings.error());

  std::optional<process::Workload> workload;
  if (!o.command.empty()) {
    auto w = process::Workload::prepare(o.command);
    if (!w) return report_error("monitor", w.error());
    workload.emplace(std::move(*w));
  }
  auto scope = choose_scope(o, workload ? &*workload : nullptr);
  if (!scope) return report_error("monitor", scope.error());
  auto source = monitor::Source::open(settings->groups, scope->targets, scope->options,
                                      scope->tolerate_vanished);
  if (!source) return report_error("monitor", source.error());

  // Events this machine lacks: named once, with the reason.
  std::string lacking;
  for (const auto& e : source->events()) {
    if (e.supported) continue;
    if (settings->default_events) {
      lacking += (lacking.empty() ? "" : ", ") + e.spec.display_name();
      continue;
    }
    if (settings->strict) {
      return report_error(
          "monitor", Error{fmt::format("cannot count {}: {}", e.spec.display_name(), e.reason), 0,
                           "  drop it from the list, or leave out --strict to skip it"});
    }
    fmt::print(stderr, "perfscope monitor: skipping {} ({}): {}\n", e.spec.display_name(),
               monitor::metric_name(e.spec), e.reason);
  }
  if (!lacking.empty()) {
    fmt::print(stderr,
               "perfscope monitor: not counted here: {}; `perfscope list` shows what works\n",
               lacking);
  }
  if (source->series().empty()) {
    return report_error("monitor", Error{"none of the events can be counted here", 0,
                                         "  `perfscope list` shows the events that work"});
  }

  // Outputs: the endpoints first (a busy port fails before any file is created).
  std::vector<monitor::MetricsServer> servers;
  for (const auto& spec : settings->outputs) {
    if (spec.kind != monitor::OutputSpec::Kind::prometheus) continue;
    auto server = monitor::MetricsServer::listen(spec.address, spec.port);
    if (!server) return report_error("monitor", server.error());
    fmt::print(stderr, "perfscope monitor: Prometheus metrics at {}\n", server->url());
    servers.push_back(std::move(*server));
  }
  std::vector<PointFile> files;
  for (const auto& spec : settings->outputs) {
    if (spec.kind == monitor::OutputSpec::Kind::prometheus) continue;
    auto file = PointFile::open(spec);
    if (!file) return report_error("monitor", file.error());
    files.push_back(std::move(*file));
  }
  std::vector<monitor::Point> latest(source->series().size());
  std::string exposition;
  auto refresh_endpoints = [&] {
    if (servers.empty()) return;
    exposition.clear();
    monitor::append_exposition(source->series(), latest, exposition);
    for (auto& s : servers) s.set_metrics(exposition);
  };
  refresh_endpoints();

  auto signals = process::SignalWatch::create();
  if (!signals) return report_error("monitor", signals.error());
  auto timer = Timer::periodic(settings->poll);
  if (!timer) return report_error("monitor", timer.error());
  if (workload) {
    if (auto st = workload->start(); !st) return report_error("monitor", st.error());
  }
  fmt::print(stderr, "perfscope monitor: {} series ({}), polling every {}, flushing every {}\n",
             source->series().size(), scope->subject, monitor::format_duration(settings->poll),
             monitor::format_duration(settings->flush));

  const std::int64_t start = mono_ns();
  const std::int64_t deadline =
      settings->duration ? start + settings->duration->count() : INT64_MAX;
  std::int64_t next_flush = start + settings->flush.count();
  std::int64_t last_poll = start;
  std::vector<monitor::Point> buffer;
  buffer.reserve(source->series().size() * 16);
  std::size_t polls = 0;

  auto poll_now = [&]() -> Status {
    const std::size_t first = buffer.size();
    if (auto st = source->poll(wall_ns(), buffer); !st) return st;
    for (std::size_t i = first; i < buffer.size(); ++i) latest[buffer[i].series] = buffer[i];
    last_poll = mono_ns();
    ++polls;
    return {};
  };
  auto flush_now = [&]() -> Status {
    for (auto& f : files) {
      f.add(buffer, source->series());
      if (auto st = f.flush(); !st) return st;
    }
    buffer.clear();
    refresh_endpoints();
    return {};
  };

  bool done = false;
  std::size_t live_pids = scope->pidfds.size();
  Status status;
  while (!done) {
    std::vector<pollfd> fds{{signals->fd(), POLLIN, 0}, {timer->fd(), POLLIN, 0}};
    for (const auto& s : servers) fds.push_back({s.fd(), POLLIN, 0});
    const std::size_t pid_base = fds.size();
    for (const auto& p : scope->pidfds) fds.push_back({p.valid() ? p.get() : -1, POLLIN, 0});
    int timeout = -1;
    if (settings->duration) {
      timeout = static_cast<int>(std::max<std::int64_t>(0, (deadline - mono_ns()) / 1'000'000 + 1));
    }
    if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) {
      status = errno_error("poll");
      break;
    }
    if (fds[0].revents & POLLIN) {
      for (auto sig = signals->next(); sig.number != 0; sig = signals->next()) {
        if (sig.number == SIGCHLD) {
          if (workload && workload->try_reap()) done = true;
        } else if (workload && !workload->exited()) {
          // A terminal's Ctrl-C reached the command too; a kill() aimed at us is passed on.
          if (!sig.from_terminal) ::kill(workload->pid(), sig.number);
        } else {
          done = true;
        }
      }
    }
    for (std::size_t i = pid_base; i < fds.size(); ++i) {
      if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP))) {
        scope->pidfds[i - pid_base].reset();
        if (--live_pids == 0) done = true;
      }
    }
    for (auto& s : servers) s.serve();
    if (mono_ns() >= deadline) done = true;
    if ((fds[1].revents & POLLIN) && timer->fired() && !done) {
      if (status = poll_now(); !status) break;
      if (mono_ns() >= next_flush) {
        if (status = flush_now(); !status) break;
        while (next_flush <= mono_ns()) next_flush += settings->flush.count();
      }
    }
  }
  // The last stretch since the previous poll, then everything still buffered: written even when
  // a read failed, so the points polled before the failure are kept. The first error is reported.
  if (status && mono_ns() - last_poll > 1'000'000) status = poll_now();
  if (auto flushed = flush_now(); status && !flushed) status = flushed;
  std::size_t written = 0;
  for (auto& f : files) {
    if (auto st = f.close(); !st && status) status = st;
    written = std::max(written, f.written());
  }
  if (!status) {
    if (workload && !workload->exited()) ::kill(workload->pid(), SIGTERM);
    return report_error("monitor", status.error());
  }
  std::uint64_t requests = 0;
  for (const auto& s : servers) requests += s.requests();
  std::string summary = fmt::format("perfscope monitor: {} polls", polls);
  if (!files.empty()) summary += fmt::format(", {} points written to each file", written);
  if (!servers.empty()) summary += fmt::format(", {} Prometheus requests served", requests);
  fmt::print(stderr, "{}\n", summary);
  if (workload) {
    workload->reap();
    return workload->exit_code();
  }
  return 0;
}

}  // namespace perfscope::cli
