// CounterSet: event groups opened on each of several targets (CPUs, threads, cgroups), with the
// events this machine cannot count set aside with the reason instead of failing the whole set.
// `stat` and `monitor` both count through it.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "counting/counter_group.hpp"
#include "events/event_spec.hpp"

namespace perfscope::counting {

// What `stat` and `monitor` count when no event is named: perf stat's default set. Callers leave
// out, with one note, the ones this machine cannot count.
inline constexpr const char* kDefaultEvents =
    "task-clock,context-switches,cpu-migrations,page-faults,cycles,instructions,"
    "branch-instructions,branch-misses";

// One event as the user listed it.
struct EventSlot {
  events::EventSpec spec;  // as opened (":u" after a user-only fallback)
  bool supported = true;
  std::string reason;  // why not, when !supported
};

// One group opened on one target.
struct CounterInstance {
  CounterGroup group;
  std::size_t target = 0;          // index into the targets given to open()
  int cpu = -1;                    // the target's CPU, -1 when it follows a task
  std::vector<std::size_t> slots;  // slot index of each member
  std::vector<Reading> previous;   // the read before the latest (zeros before the first)
  std::vector<Reading> current;    // the latest read
  // The change over the last read() for member i.
  Reading delta(std::size_t i) const { return current[i].since(previous[i]); }
};

class CounterSet {
 public:
  CounterSet() = default;  // empty: counts nothing
  // Opens every group on every target. A group that cannot be counted at all on this machine
  // (no such PMU or event, kernel-only event refused at this paranoid level) marks its slots
  // unsupported and is skipped; any other failure is returned. With `tolerate_vanished`, a target
  // thread that exited since it was listed (ESRCH) is skipped.
  static Result<CounterSet> open(std::span<const events::EventGroupSpec> groups,
                                 std::span<const Target> targets, const CounterOptions& options,
                                 bool tolerate_vanished);

  // Reads every instance: `current` becomes the new reading, `previous` the one before.
  // Counters bound to a CPU are read on that CPU: the calling thread moves to each CPU in turn
  // (as perf stat does) and back to its own CPUs at the end. Read from elsewhere, each costs an
  // IPI and a wait for the answer (about 20 µs on a VM, against 1 µs).
  Status read();

  const std::vector<EventSlot>& slots() const { return slots_; }
  const std::vector<CounterInstance>& instances() const { return instances_; }
  bool any_supported() const;

 private:
  std::vector<EventSlot> slots_;
  std::vector<CounterInstance> instances_;
  std::vector<std::size_t> read_order_;  // instance indexes, grouped by CPU (task-bound last)
};

// Why an event that failed with `failure` cannot be counted here, in words ("no hardware PMU on
// this machine (virtualized?)"); empty when the failure is not about support (permissions, ESRCH).
std::string unsupported_reason(const Error& failure, const events::EventSpec& spec);

}  // namespace perfscope::counting
