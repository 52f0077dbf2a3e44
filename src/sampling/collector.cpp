#include "sampling/collector.hpp"

#include <linux/perf_event.h>

#include <algorithm>

namespace perfscope::sampling {

void Collector::on_sample(const Sample& s) {
  if (skip_idle_ && s.id.pid == 0 && s.id.tid == 0) {
    ++idle_skipped_;
    return;
  }
  ++per_cpu_[s.id.cpu];
  const auto offset = static_cast<std::uint32_t>(pending_stacks_.size());
  const bool user_regs = unwinder_ != nullptr && s.regs_abi != 0 && !s.regs.empty();
  if (user_regs) {
    // The kernel part of the call chain (user frames come from the unwinder): any trailing user
    // context marker is dropped, the unwinder's part brings its own.
    std::size_t n = s.callchain.size();
    while (n > 0 && s.callchain[n - 1] == static_cast<std::uint64_t>(PERF_CONTEXT_USER)) --n;
    pending_stacks_.insert(pending_stacks_.end(), s.callchain.begin(), s.callchain.begin() + n);
  } else if (!s.callchain.empty()) {
    pending_stacks_.insert(pending_stacks_.end(), s.callchain.begin(), s.callchain.end());
  } else {
    // No call chain asked for: the sampled ip alone, marked with its context like a call chain.
    pending_stacks_.push_back(s.kernel ? static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL)
                                       : static_cast<std::uint64_t>(PERF_CONTEXT_USER));
    pending_stacks_.push_back(s.ip);
  }
  Pending p{s.id.pid,
            s.id.tid,
            s.id.cpu,
            s.id.time,
            s.period,
            offset,
            static_cast<std::uint32_t>(pending_stacks_.size() - offset)};
  if (user_regs) {
    p.regs_offset = static_cast<std::uint32_t>(pending_regs_.size());
    p.regs_length = static_cast<std::uint32_t>(s.regs.size());
    pending_regs_.insert(pending_regs_.end(), s.regs.begin(), s.regs.end());
    const auto valid = s.stack.first(std::min<std::size_t>(s.stack.size(), s.stack_dyn_size));
    p.bytes_offset = pending_bytes_.size();
    p.bytes_length = valid.size();
    pending_bytes_.insert(pending_bytes_.end(), valid.begin(), valid.end());
  }
  pending_.push_back(p);
}

// Samples are released pass by pass, not quite in time order: one a little older than the first
// is in period 0.
std::uint32_t Collector::bucket_of(std::uint64_t time) {
  if (bucket_ns_ == 0 || time == 0) return kNoBucket;
  if (time_origin_ == 0) time_origin_ = time;
  if (time <= time_origin_) return 0;
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>((time - time_origin_) / bucket_ns_, kNoBucket - 1));
}

void Collector::flush(std::uint64_t before) {
  std::size_t kept = 0;
  auto& kept_stacks = spare_stacks_;
  kept_stacks.clear();
  spare_regs_.clear();
  spare_bytes_.clear();
  // Appends `from` to `to`, returning where it starts there.
  const auto keep = [](auto from, auto& to) {
    const std::size_t at = to.size();
    to.insert(to.end(), from.begin(), from.end());
    return at;
  };
  for (const auto& p : pending_) {
    const std::span<const std::uint64_t> stack{pending_stacks_.data() + p.offset, p.length};
    const std::span<const std::uint64_t> regs{pending_regs_.data() + p.regs_offset, p.regs_length};
    const std::span<const std::byte> bytes{pending_bytes_.data() + p.bytes_offset, p.bytes_length};
    if (p.time >= before) {  // not yet safe: keep for the next pass
      Pending q = p;
      q.offset = static_cast<std::uint32_t>(keep(stack, kept_stacks));
      q.regs_offset = static_cast<std::uint32_t>(keep(regs, spare_regs_));
      q.bytes_offset = keep(bytes, spare_bytes_);
      pending_[kept++] = q;
      continue;
    }
    StackKey key{p.pid, p.tid, p.cpu, processes_.space_of(static_cast<pid_t>(p.pid), p.time)};
    key.bucket = bucket_of(p.time);
    if (p.regs_length == 0) {
      stacks_.add(key, stack, 1, p.period);
      continue;
    }
    scratch_.assign(stack.begin(), stack.end());
    scratch_.push_back(static_cast<std::uint64_t>(PERF_CONTEXT_USER));
    const UserStack user{p.pid, p.tid, regs, bytes, stack_bytes_};
    unwinder_->unwind(processes_.space(key.space), key.space, user, scratch_);
    if (scratch_.back() == static_cast<std::uint64_t>(PERF_CONTEXT_USER)) scratch_.pop_back();
    stacks_.add(key, scratch_, 1, p.period);
  }
  pending_.resize(kept);
  pending_stacks_.swap(kept_stacks);
  pending_regs_.swap(spare_regs_);
  pending_bytes_.swap(spare_bytes_);
}

void Collector::add_aggregated(std::uint32_t pid, std::uint32_t tid, std::uint32_t cpu,
                               std::uint64_t time, std::string_view comm,
                               std::span<const std::uint64_t> stack, std::uint64_t count,
                               std::uint64_t period, std::uint32_t state,
                               std::uint64_t counted_at) {
  if (state == 0) per_cpu_[cpu] += count;
  processes_.learn_thread_comm(static_cast<pid_t>(tid), comm);
  StackKey key{pid, tid, cpu, processes_.space_of(static_cast<pid_t>(pid), time), state};
  key.bucket = bucket_of(counted_at);
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
