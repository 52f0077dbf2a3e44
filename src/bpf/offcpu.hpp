// The off-CPU side of `record --off-cpu` and `--wall`: a BPF program on the scheduler's switch
// (bpf/offcpu.bpf.c) stores the kernel and user stacks of a thread as it leaves a CPU and, when it
// runs again, adds the nanoseconds it was away to that (thread, state, stacks) entry in the
// kernel. drain() hands the entries to a sampling::Collector as off-CPU intervals (a state,
// nanoseconds as the period), beside what the on-CPU Profiler counts.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bpf/unwind_tables.hpp"
#include "core/error.hpp"
#include "sampling/collector.hpp"
#include "system/capabilities.hpp"

struct perfscope_offcpu;
struct bpf_link;

namespace perfscope::bpf {

struct OffCpuOptions {
  std::vector<pid_t> targets;  // process ids (their children follow); empty = every process
  bool kernel_stacks = true;
  std::uint64_t min_block_ns = 1000;  // shorter off-CPU intervals are counted, not stored
  std::uint32_t count_entries = 32768;
  std::uint32_t stack_entries = 16384;
  // Walk user stacks with .eh_frame unwind tables (as bpf::Profiler's cfi_unwind), frame pointers
  // where a module has none; false: bpf_get_stackid's frame-pointer walk.
  bool cfi_unwind = false;
  // As in ProfilerOptions, for the tables this profiler owns (when it shares none).
  bool load_targets_now = true;
  std::vector<std::string> prepare_files;
  std::uint64_t unwind_table_limit = std::uint64_t{64} << 20;
};

// Counted in the kernel, per CPU, summed here.
struct OffCpuStats {
  std::uint64_t switches = 0;      // target threads that left a CPU
  std::uint64_t counted = 0;       // off-CPU intervals stored
  std::uint64_t short_blocks = 0;  // intervals under min_block_ns, left out
  std::uint64_t counts_full = 0;   // intervals lost: the counts map was full
  std::uint64_t starts_full = 0;   // switches lost: the pending-switch map was full
  std::uint64_t kernel_stack_errors = 0;
  std::uint64_t user_stack_errors = 0;
  std::uint64_t new_targets = 0;
  std::uint64_t program_run_ns = 0;  // kernel.bpf_stats_enabled=1 only
  std::uint64_t program_runs = 0;
  // Switches the program missed: the kernel does not run a tracing program on a CPU where it is
  // already running (a switch while the program itself was preempted); each may cost an interval.
  std::uint64_t recursion_misses = 0;
  // Returns to a CPU the program did not see (the thread's start still stored at its next switch
  // away or exit): measured as the time away less the thread's CPU time meanwhile, and counted
  // (in `counted` or `short_blocks`) like the others.
  std::uint64_t unseen_returns = 0;
  // Of those, starts an earlier thread of the same id left (its exit unseen): lost.
  std::uint64_t stale_starts = 0;
  // Kernel or frame-pointer user stacks lost: the stack map was full (--bpf-stack-entries distinct
  // stacks between two drains).
  std::uint64_t stacks_full = 0;
  // Starts still stored at the end (threads off the CPU when the recording stopped).
  std::uint64_t open_at_end = 0;
  // Distinct stacks read from the kernel's stack maps (each once: the maps are emptied each drain).
  std::uint64_t stacks_read = 0;
  // The in-kernel CFI walker (cfi_unwind), as in ProfilerStats.
  std::uint64_t cfi_stacks = 0;    // user stacks walked
  std::uint64_t cfi_pending = 0;   // switches before the process's tables were loaded
  std::uint64_t ustacks_full = 0;  // walked stacks lost: the stack map was full
  std::uint64_t cfi_frames = 0;
  std::uint64_t fp_frames = 0;
  std::vector<std::uint64_t> stops;  // walks ended, by enum ps_stop_reason
  std::uint64_t complete_walks() const;
  std::uint64_t lost() const { return counts_full + starts_full + recursion_misses + stale_starts; }
};

// The name of a state (enum ps_offcpu_state): "sleeping", "blocked", "runnable"; "on-cpu" for 0.
const char* offcpu_state_name(std::uint32_t state);

class OffCpuProfiler {
 public:
  OffCpuProfiler(OffCpuProfiler&&) noexcept;
  OffCpuProfiler& operator=(OffCpuProfiler&&) noexcept;
  ~OffCpuProfiler();

  // Loads the programs with the options' knobs; nothing is attached yet. With cfi_unwind and
  // `shared` (the on-CPU Profiler's tables, which must outlive this), the program walks with
  // those tables' maps and this profiler owns none; else it owns tables of its own.
  static Result<OffCpuProfiler> open(OffCpuOptions options, const system::Capabilities& caps,
                                     const UnwindTables* shared = nullptr);
  Status start();  // attaches sched_switch, fork and exec
  void stop();     // detaches: no interval is counted after this returns
  // Moves the stored intervals into `collector`: flips the counts generation the program writes,
  // lets the runs in flight end (2 ms), then reads and empties the other one; then empties the
  // stack maps into this profiler's own copy. While recording, once a second; after stop(),
  // drain_all().
  Status drain(sampling::Collector& collector);
  // After stop(): every interval of both generations.
  Status drain_all(sampling::Collector& collector);
  OffCpuStats stats() const;
  const OffCpuOptions& options() const { return options_; }
  // The unwind tables this profiler owns (cfi_unwind without shared tables), or null. poll()
  // them often, and mark_changed() the processes that mapped code or exited.
  UnwindTables* unwind_tables() { return tables_.get(); }

 private:
  OffCpuProfiler() = default;
  std::uint64_t stat_sum(std::uint32_t slot) const;
  Status drain_generation(unsigned generation, sampling::Collector& collector);
  // Reads every stack the maps hold that is not yet known, then deletes them all.
  void empty_stack_maps();
  OffCpuOptions options_;
  unsigned generation_ = 0;
  std::uint64_t stacks_read_ = 0;
  // Every stack read so far, by the hash of its frames (offcpu_stacks, offcpu_ustacks): a hash
  // names the same frames for the whole run, so the maps can be emptied while a stored start or
  // an undrained count still names a stack of theirs.
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> stack_cache_;
  std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> walked_cache_;
  struct SkeletonDeleter {
    void operator()(perfscope_offcpu* skel) const;
  };
  struct LinkDeleter {
    void operator()(bpf_link* link) const;
  };
  std::unique_ptr<perfscope_offcpu, SkeletonDeleter> skel_;
  std::vector<std::unique_ptr<bpf_link, LinkDeleter>> links_;
  std::unique_ptr<UnwindTables> tables_;
};

}  // namespace perfscope::bpf
