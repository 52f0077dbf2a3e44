#include "sampling/collector.hpp"

#include <linux/perf_event.h>

namespace perfscope::sampling {

void Collector::on_sample(const Sample& s) {
  ++per_cpu_[s.id.cpu];
  if (first_time_ == 0 || s.id.time < first_time_) first_time_ = s.id.time;
  if (s.id.time > last_time_) last_time_ = s.id.time;
  const StackKey key{s.id.pid, s.id.tid, s.id.cpu,
                     processes_.space_of(static_cast<pid_t>(s.id.pid), s.id.time)};
  if (!s.callchain.empty()) {
    stacks_.add(key, s.callchain, 1, s.period);
    return;
  }
  // No call chain asked for: the sampled ip alone, marked with its context like a call chain.
  scratch_.assign({s.kernel ? static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL)
                            : static_cast<std::uint64_t>(PERF_CONTEXT_USER),
                   s.ip});
  stacks_.add(key, scratch_, 1, s.period);
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
