// CounterGroup: events the kernel schedules onto the PMU together, read in one read(2) with
// PERF_FORMAT_GROUP. Members share time_enabled/time_running, so their ratios (IPC, miss rates)
// are measured over the same interval even under multiplexing. A one-member group is an ordinary
// counter read the same way.
#pragma once

#include <span>
#include <vector>

#include "core/error.hpp"
#include "counting/open_event.hpp"
#include "counting/reading.hpp"

namespace perfscope::counting {

class CounterGroup {
 public:
  // Opens specs[0] as leader and the rest as members, all for `target`.
  static Result<CounterGroup> open(std::span<const events::EventSpec> specs, const Target& target,
                                   const CounterOptions& options = {});

  // One Reading per member, in the order of specs().
  Result<std::vector<Reading>> read() const;
  // Into a caller-owned vector (no allocation after the first call).
  Status read_into(std::vector<Reading>& out) const;
  Status enable();   // the whole group
  Status disable();  // the whole group
  Status reset();    // the whole group

  const std::vector<events::EventSpec>& specs() const { return specs_; }
  std::size_t size() const { return specs_.size(); }
  int leader_fd() const { return fds_.front().get(); }

 private:
  CounterGroup() = default;
  std::vector<UniqueFd> fds_;
  std::vector<events::EventSpec> specs_;
  std::vector<std::uint64_t> ids_;
  mutable std::vector<std::uint64_t> buffer_;  // read(2) target, sized once
};

// Pure decoding of a PERF_FORMAT_GROUP|ID|TOTAL_TIME_ENABLED|TOTAL_TIME_RUNNING buffer:
// {nr, time_enabled, time_running, {value, id} x nr}. Members are matched by id, so the kernel's
// order does not matter. Exposed for tests with synthetic buffers.
Status decode_group_read(std::span<const std::uint64_t> words, std::span<const std::uint64_t> ids,
                         std::vector<Reading>& out);

}  // namespace perfscope::counting
