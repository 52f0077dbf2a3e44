// Source: the counters `monitor` polls. Each event is opened on every target; targets that share
// scope attributes (the threads of one process, the CPUs of one cgroup) add up into one Series.
// poll() turns the change since the previous poll into one Point per series, scaled for
// multiplexing over that interval alone, so a point's accuracy is the interval's.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "counting/counter_set.hpp"
#include "monitor/series.hpp"
#include "stat/scope.hpp"

namespace perfscope::monitor {

// What one counter counts, and the attributes of the series it adds into.
using stat::ScopedTarget;

// Sums per-counter interval deltas into one point: each delta scaled by its own
// enabled/running, the accuracy over all of them. Exposed for tests with synthetic readings.
class IntervalSum {
 public:
  void add(const counting::Reading& delta);
  // The scaled delta (rounded to a count) and the accuracy; resets for the next interval.
  std::uint64_t take(double& accuracy);

 private:
  double scaled_ = 0;
  std::uint64_t enabled_ = 0;
  std::uint64_t running_ = 0;
};

class Source {
 public:
  static Result<Source> open(std::span<const events::EventGroupSpec> groups,
                             std::span<const ScopedTarget> targets,
                             const counting::CounterOptions& options, bool tolerate_vanished);

  // Every event asked for, supported or not (with the reason).
  const std::vector<counting::EventSlot>& events() const { return set_.slots(); }
  const std::vector<Series>& series() const { return series_; }

  // Reads every counter; appends one point per series stamped `time_ns`.
  Status poll(std::int64_t time_ns, std::vector<Point>& out);

 private:
  Source() = default;
  counting::CounterSet set_;
  std::vector<Series> series_;
  std::vector<std::vector<std::uint32_t>> member_series_;  // [instance][member] -> series
  std::vector<IntervalSum> sums_;                          // per series, scratch for poll()
  std::vector<std::uint64_t> totals_;                      // per series
};

}  // namespace perfscope::monitor
