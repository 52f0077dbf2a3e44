// Collector: what a recording keeps from the records it reads. Feeds the ProcessTable and the
// StackAggregator, and counts what the summary reports: samples per CPU, lost and throttled.
//
// Rings are per CPU and read one after the other, so a sample can arrive before the COMM (exec) or
// FORK record, written earlier on another CPU, that decides which program it belongs to. Samples
// therefore wait in a small buffer until a pass over every ring that started after them has ended
// (on_pass_end); side-band records are applied at once. finish() takes the rest.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string_view>
#include <vector>

#include "sampling/decoder.hpp"
#include "sampling/process_table.hpp"
#include "sampling/stack_aggregator.hpp"
#include "sampling/user_stack.hpp"

namespace perfscope::sampling {

class Collector : public RecordHandler {
 public:
  void on_sample(const Sample& sample) override;
  void on_mmap(const MmapRecord& mmap) override { processes_.on_mmap(mmap); }
  void on_comm(const CommRecord& comm) override { processes_.on_comm(comm); }
  void on_fork(const TaskRecord& task) override { processes_.on_fork(task); }
  void on_exit(const TaskRecord& task) override { processes_.on_exit(task); }
  void on_lost(const LostRecord& lost) override;
  void on_throttle(const ThrottleRecord& throttle) override;
  void on_other(std::uint32_t type) override;
  void on_pass_end(std::uint64_t pass_start) override { flush(pass_start); }
  // Aggregates every sample still waiting; call once the last records have been drained.
  void finish() { flush(~std::uint64_t{0}); }

  // `count` samples aggregated elsewhere (the eBPF backend's in-kernel counts), taken by thread
  // `tid` of process `pid` on `cpu` while it ran the program image current at `time` (0: the
  // process's first known image). `stack` is leaf first with PERF_CONTEXT_* markers; `comm` is
  // the thread's name when the side-band records did not give one. A `state` other than 0 makes
  // them off-CPU intervals (StackKey::state; `period` their nanoseconds), kept out of the per-CPU
  // sample counts. `counted_at` (the events' clock, 0: unknown) places them in a time bucket: the
  // middle of the interval they were counted in.
  void add_aggregated(std::uint32_t pid, std::uint32_t tid, std::uint32_t cpu, std::uint64_t time,
                      std::string_view comm, std::span<const std::uint64_t> stack,
                      std::uint64_t count, std::uint64_t period, std::uint32_t state = 0,
                      std::uint64_t counted_at = 0);

  // DWARF mode: samples that carry user registers and a stack copy get their user call stack from
  // `unwinder` when they are aggregated (after the side-band records they depend on), appended to
  // the kernel part of their call chain. `stack_bytes` is attr.sample_stack_user. Not owned.
  void set_unwinder(UserStackUnwinder* unwinder, std::uint64_t stack_bytes) {
    unwinder_ = unwinder;
    stack_bytes_ = stack_bytes;
  }

  // Samples are keyed by their period of this many ns after the first sample (StackKey::bucket);
  // 0: not at all. In-kernel counts (add_aggregated) are keyed by their `counted_at`, when given:
  // their backend sets a bucket as wide as the interval between its drains.
  void set_bucket_ns(std::uint64_t ns) { bucket_ns_ = ns; }
  // Bucket 0 starts here instead of at the first sample's time (the events' clock).
  void set_time_origin(std::uint64_t ns) { time_origin_ = ns; }
  std::uint64_t bucket_ns() const { return bucket_ns_; }

  // Leave out samples of the idle task (pid 0), counting them in idle_skipped().
  void set_skip_idle(bool skip) { skip_idle_ = skip; }
  std::uint64_t idle_skipped() const { return idle_skipped_; }

  ProcessTable& processes() { return processes_; }
  const ProcessTable& processes() const { return processes_; }
  const StackAggregator& stacks() const { return stacks_; }
  // A live view (`top`) that has taken the aggregated entries forgets them
  // (StackAggregator::clear).
  void clear_stacks() { stacks_.clear(); }

  std::uint64_t samples() const { return stacks_.total_samples(); }
  const std::map<std::uint32_t, std::uint64_t>& samples_per_cpu() const { return per_cpu_; }
  std::uint64_t lost_records() const { return lost_records_; }  // LOST: ring full
  std::uint64_t lost_samples() const { return lost_samples_; }  // LOST_SAMPLES
  std::uint64_t throttled() const { return throttled_; }        // THROTTLE records

 private:
  ProcessTable processes_;
  StackAggregator stacks_;
  std::map<std::uint32_t, std::uint64_t> per_cpu_;
  struct Pending {
    std::uint32_t pid, tid, cpu;
    std::uint64_t time, period;
    std::uint32_t offset, length;  // into pending_stacks_
    // DWARF mode: user registers (into pending_regs_) and stack copy (into pending_bytes_).
    std::uint32_t regs_offset = 0, regs_length = 0;
    std::size_t bytes_offset = 0, bytes_length = 0;
  };
  void flush(std::uint64_t before);
  std::uint32_t bucket_of(std::uint64_t time);
  std::vector<Pending> pending_;
  std::vector<std::uint64_t> pending_stacks_;
  std::vector<std::uint64_t> spare_stacks_;  // swapped with pending_stacks_ each pass, so neither
                                             // is reallocated once grown
  std::vector<std::uint64_t> pending_regs_, spare_regs_;
  std::vector<std::byte> pending_bytes_, spare_bytes_;
  std::vector<std::uint64_t> scratch_;  // one sample's whole stack while it is unwound
  UserStackUnwinder* unwinder_ = nullptr;
  std::uint64_t stack_bytes_ = 0;
  std::uint64_t lost_records_ = 0, lost_samples_ = 0, throttled_ = 0, other_ = 0;
  bool skip_idle_ = false;
  std::uint64_t bucket_ns_ = 100'000'000;  // 100 ms
  std::uint64_t time_origin_ = 0;          // the first aggregated sample's time; 0: none yet
  std::uint64_t idle_skipped_ = 0;
};

}  // namespace perfscope::sampling
