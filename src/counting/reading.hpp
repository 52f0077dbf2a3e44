// Reading: one counter value with the times the kernel reports beside it.
//
// When more events are open than the PMU has counters, the kernel multiplexes them: each event
// counts only part of the time. time_enabled is how long the event was enabled, time_running how
// long it actually counted (both ns). The usual estimate scales the raw value by enabled/running;
// the ratio stays visible so output can say how much of the time was measured.
#pragma once

#include <cstdint>

namespace perfscope::counting {

struct Reading {
  std::uint64_t value = 0;         // raw count
  std::uint64_t time_enabled = 0;  // ns
  std::uint64_t time_running = 0;  // ns

  // value * enabled / running; 0 when the event never ran (nothing can be estimated).
  double scaled() const;
  // running / enabled in [0, 1]; 1 for a counter that was never enabled (nothing was missed).
  double running_fraction() const;
  // True when the event counted for part of the time only.
  bool multiplexed() const { return time_running < time_enabled; }
  // False when the event was enabled but never scheduled onto a counter.
  bool counted() const { return time_running > 0 || time_enabled == 0; }

  // Element-wise difference (this minus earlier); used for interval deltas.
  Reading since(const Reading& earlier) const;
  Reading& operator+=(const Reading& other);
  bool operator==(const Reading&) const = default;
};

}  // namespace perfscope::counting
