#include "sampling/collector.hpp"

#include <linux/perf_event.h>

namespace perfscope::sampling {

void Collector::on_sample(const Sample& s) {
  if (skip_idle_ && s.id.pid == 0 && s.id.tid == 0) {
    ++idle_skipped_;
    return;
  }
  ++per_cpu_[s.id.cpu];
  if (first_time_ == 0 || s.id.time < first_time_) first_time_ = s.id.time;
  if (s.id.time > last_time_) last_time_ = s.id.time;
  const auto offset = static_cast<std::uint32_t>(pending_stacks_.size());
  if (!s.callchain.empty()) {
    pending_stacks_.insert(pending_stacks_.end(), s.callchain.begin(), s.callchain.end());
  } else {
    // No call chain asked for: the sampled ip alone, marked with its context like a call chain.
    pending_stacks_.push_back(s.kernel ? static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL)
                                       : static_cast<std::uint64_t>(PERF_CONTEXT_USER));
    pending_stacks_.push_back(s.ip);
  }
  pending_.push_back({s.id.pid, s.id.tid, s.id.cpu, s.id.time, s.period, offset,
                      static_cast<std::uint32_t>(pending_stacks_.size() - offset)});
}

void Collector::flush(std::uint64_t before) {
  std::size_t kept = 0;
  auto& kept_stacks = spare_stacks_;
  kept_stacks.clear();
  for (const auto& p : pending_) {
    const std::span<const std::uint64_t> stack{pending_stacks_.data() + p.offset, p.length};
    if (p.time >= before) {  // not yet safe: keep for the next pass
      Pending q = p;
      q.offset = static_cast<std::uint32_t>(kept_stacks.size());
      kept_stacks.insert(kept_stacks.end(), stack.begin(), stack.end());
      pending_[kept++] = q;
      continue;
    }
    const StackKey key{p.pid, p.tid, p.cpu, processes_.space_of(static_cast<pid_t>(p.pid), p.time)};
    stacks_.add(key, stack, 1, p.period);
  }
  pending_.resize(kept);
  pending_stacks_.swap(kept_stacks);
}

void Collector::add_aggregated(std::uint32_t pid, std::uint32_t tid, std::uint32_t cpu,
                               std::uint64_t time, std::string_view comm,
                               std::span<const std::uint64_t> stack, std::uint64_t count,
                               std::uint64_t period) {
  per_cpu_[cpu] += count;
  processes_.learn_thread_comm(static_cast<pid_t>(tid), comm);
  const StackKey key{pid, tid, cpu, processes_.space_of(static_cast<pid_t>(pid), time)};
  stacks_.add(key, stack, count, period);
}

void Collector::on_lost(const LostRecord& lost) {
  if (lost.samples_only) {
    lost_samples_ += lost.lost;
  } else {
    lost_records_ += lost.lost;
  }
}

void Collector::on_throttle(const ThrottleRecord& t) {
  if (t.throttled) ++throttled_;
}

void Collector::on_other(std::uint32_t) {
  ++other_;
}

}  // namespace perfscope::sampling
