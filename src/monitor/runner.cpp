#include "monitor/runner.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "core/clock.hpp"
#include "monitor/format.hpp"
#include "monitor/metric_name.hpp"
#include "process/signal_watch.hpp"

namespace perfscope::monitor {
namespace {

using stat::RunWatch;

// A periodic CLOCK_MONOTONIC timer as a pollable fd: the poll cadence does not drift with the
// time each poll takes.
class Timer {
 public:
  static Result<Timer> periodic(std::chrono::nanoseconds period) {
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

 private:
  UniqueFd fd_;
};

std::int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status check_scope(const RunnerOptions& o) {
  if (auto st = stat::check_scope(o.scope); !st) return st;
  if (o.scope.pids && !o.command.empty()) {
    return Error{"-p and a command cannot be combined", 0,
                 "  monitor the processes (-p) or start a command (-- CMD), not both"};
  }
  return {};
}

}  // namespace

Runner::Runner(Settings settings, std::optional<process::Workload> workload, stat::Scope scope,
               Source source)
    : settings_(std::move(settings)),
      workload_(std::move(workload)),
      scope_(std::move(scope)),
      source_(std::move(source)) {}

Result<Runner> Runner::open(RunnerOptions o) {
  auto& s = o.scope;
  if (!s.all_cpus && !s.cpus && !s.pids && !s.tids && !s.cgroup && o.command.empty())
    s.all_cpus = true;
  if (auto st = check_scope(o); !st) return st.error();
  std::optional<process::Workload> workload;
  if (!o.command.empty()) {
    auto w = process::Workload::prepare(o.command);
    if (!w) return w.error();
    workload.emplace(std::move(*w));
  }
  auto scope = stat::choose_scope(s, workload ? &*workload : nullptr);
  if (!scope) return scope.error();
  auto source =
      Source::open(o.settings.groups, scope->targets, scope->options, scope->tolerate_vanished);
  if (!source) return source.error();
  Runner r(std::move(o.settings), std::move(workload), std::move(*scope), std::move(*source));

  for (const auto& e : r.source_.events()) {
    if (e.supported) continue;
    if (r.settings_.default_events) {
      r.not_counted_.push_back(e.spec.display_name());
    } else if (r.settings_.strict) {
      return Error{fmt::format("cannot count {}: {}", e.spec.display_name(), e.reason), 0,
                   "  drop it from the list, or leave out --strict to skip it"};
    } else {
      r.skipped_.push_back({e.spec.display_name(), metric_name(e.spec), e.reason});
    }
  }
  if (r.source_.series().empty()) {
    return Error{"none of the events can be counted here", 0,
                 "  `perfscope list` shows the events that work"};
  }
  if (auto st = r.open_outputs(); !st) return st.error();
  return r;
}

Status Runner::open_outputs() {
  for (const auto& spec : settings_.outputs) {
    if (spec.kind != OutputSpec::Kind::prometheus) continue;
    auto server = MetricsServer::listen(spec.address, spec.port);
    if (!server) return server.error();
    servers_.push_back(std::move(*server));
  }
  for (const auto& spec : settings_.outputs) {
    if (spec.kind == OutputSpec::Kind::prometheus) continue;
    auto file = PointFile::open(spec);
    if (!file) return file.error();
    files_.push_back(std::move(*file));
  }
  latest_.assign(source_.series().size(), Point{});
  buffer_.reserve(source_.series().size() * 16);
  // Until the first poll the endpoints answer with every series at its start values (counters 0,
  // accuracy NaN), so the first scrape already has every series.
  publish();
  return {};
}

void Runner::publish() {
  if (servers_.empty()) return;
  exposition_.clear();
  append_exposition(source_.series(), latest_, exposition_);
  for (auto& s : servers_) s.set_metrics(exposition_);
}

std::vector<std::string> Runner::endpoints() const {
  std::vector<std::string> urls;
  for (const auto& s : servers_) urls.push_back(s.url());
  return urls;
}

Status Runner::poll_now() {
  const std::size_t first = buffer_.size();
  if (auto st = source_.poll(wall_ns(), buffer_); !st) return st;
  for (std::size_t i = first; i < buffer_.size(); ++i) latest_[buffer_[i].series] = buffer_[i];
  last_poll_ns_ = monotonic_ns();
  ++polls_;
  publish();  // every scrape gets the latest poll, whatever the flush interval
  return {};
}

// Every output gets the points, even after another one failed; the first error is returned.
Status Runner::flush_now() {
  Status status;
  for (auto& f : files_) {
    f.add(buffer_, source_.series());
    if (auto st = f.flush(); !st && status) status = st;
  }
  buffer_.clear();
  return status;
}

Status Runner::loop(RunWatch& watch, int timer_fd) {
  std::vector<pollfd> extra{{timer_fd, POLLIN, 0}};
  for (const auto& s : servers_) extra.push_back({s.fd(), POLLIN, 0});
  const auto flush_every = static_cast<std::uint64_t>(settings_.flush.count());
  std::uint64_t next_flush = monotonic_ns() + flush_every;
  while (!watch.over()) {
    if (auto st = watch.wait(RunWatch::kNoDeadline, extra); !st) return st;
    for (auto& s : servers_) s.serve();
    std::uint64_t expirations = 0;
    if (!(extra[0].revents & POLLIN) || watch.over() ||
        ::read(timer_fd, &expirations, sizeof expirations) != sizeof expirations)
      continue;
    if (auto st = poll_now(); !st) return st;
    if (monotonic_ns() >= next_flush) {
      if (auto st = flush_now(); !st) return st;
      while (next_flush <= monotonic_ns()) next_flush += flush_every;
    }
  }
  return {};
}

Result<RunSummary> Runner::run() {
  auto signals = process::SignalWatch::create();
  if (!signals) return signals.error();
  auto timer = Timer::periodic(settings_.poll);
  if (!timer) return timer.error();
  if (workload_) {
    if (auto st = workload_->start(); !st) return st.error();
  }
  const std::uint64_t start = monotonic_ns();
  last_poll_ns_ = start;
  RunWatch watch(*signals, workload_ ? &*workload_ : nullptr, std::move(scope_.pidfds),
                 settings_.duration
                     ? start + static_cast<std::uint64_t>(settings_.duration->count())
                     : RunWatch::kNoDeadline);
  Status status = loop(watch, timer->fd());
  RunSummary summary;
  summary.killed = !watch.finish();
  summary.ended_with = watch.ended_with();
  summary.end = watch.end();
  // The last stretch since the previous poll, then everything still buffered: written even when
  // a read failed, so the points polled before the failure are kept. The first error is reported.
  if (status && monotonic_ns() - last_poll_ns_ > 1'000'000) status = poll_now();
  if (auto flushed = flush_now(); status && !flushed) status = flushed;
  for (auto& f : files_) {
    if (auto st = f.close(); !st && status) status = st;
    summary.points_per_file = std::max(summary.points_per_file, f.written());
  }
  if (!status) return status.error();
  summary.polls = polls_;
  for (const auto& s : servers_) summary.requests += s.requests();
  const bool ended_by_duration = summary.end == RunWatch::End::deadline && summary.ended_with != 0;
  if (workload_ && !ended_by_duration) summary.exit_code = workload_->exit_code();
  return summary;
}

}  // namespace perfscope::monitor
