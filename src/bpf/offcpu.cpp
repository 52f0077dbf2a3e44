#include "bpf/offcpu.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/perf_event.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "bpf/libbpf_log.hpp"
#include "bpf/per_cpu.hpp"
#include "bpf/profiler.hpp"
#include "offcpu_abi.h"
#include "unwind_abi.h"

// bpftool writes the skeleton in C, where a bool global is a `_Bool` field, which clang++ (the
// libFuzzer build) refuses: it is C++'s bool.
#define _Bool bool
#include "offcpu.skel.h"
#undef _Bool

namespace perfscope::bpf {

const char* offcpu_state_name(std::uint32_t state) {
  switch (state) {
    case 0:
      return "on-cpu";
    case PS_STATE_SLEEPING:
      return "sleeping";
    case PS_STATE_BLOCKED:
      return "blocked";
    case PS_STATE_RUNNABLE:
      return "runnable";
    default:
      return "?";
  }
}

void OffCpuProfiler::SkeletonDeleter::operator()(perfscope_offcpu* skel) const {
  perfscope_offcpu__destroy(skel);
}
void OffCpuProfiler::LinkDeleter::operator()(bpf_link* link) const {
  bpf_link__destroy(link);
}

OffCpuProfiler::OffCpuProfiler(OffCpuProfiler&&) noexcept = default;
OffCpuProfiler& OffCpuProfiler::operator=(OffCpuProfiler&&) noexcept = default;
OffCpuProfiler::~OffCpuProfiler() {
  links_.clear();  // before the skeleton: detaching needs the programs alive
}

std::uint64_t OffCpuStats::complete_walks() const {
  return stops.size() > PS_STOP_ZERO_RA ? stops[PS_STOP_END] + stops[PS_STOP_ZERO_RA] : 0;
}

namespace {
// How long open() waits for the tables of the processes and files named up front (as Profiler).
constexpr double kSettleSeconds = 3.0;
}  // namespace

Result<OffCpuProfiler> OffCpuProfiler::open(OffCpuOptions options, const system::Capabilities& caps,
                                            const UnwindTables* shared) {
  if (auto why = unavailable_reason(caps); !why.empty()) {
    return Error{"load the off-CPU profiler", EPERM, "  " + why};
  }
  OffCpuProfiler p;
  p.options_ = std::move(options);
  const auto& o = p.options_;
  capture_libbpf_output();
  p.skel_.reset(perfscope_offcpu__open());
  if (!p.skel_) {
    return Error{"open the off-CPU profiler", errno,
                 "  libbpf could not open the embedded object" + libbpf_tail()};
  }
  auto& skel = *p.skel_;
  skel.rodata->filter_targets = !o.targets.empty();
  skel.rodata->kernel_stacks = o.kernel_stacks;
  skel.rodata->min_block_ns = o.min_block_ns;
  skel.rodata->cfi_unwind = o.cfi_unwind;
  bpf_map__set_max_entries(skel.maps.offcpu_counts0, o.count_entries);
  bpf_map__set_max_entries(skel.maps.offcpu_counts1, o.count_entries);
  bpf_map__set_max_entries(skel.maps.offcpu_stacks, o.stack_entries);
  bpf_map__set_max_entries(skel.maps.offcpu_ustacks, o.stack_entries);
  if (!o.cfi_unwind) {
    // Not walked: the walker's maps at their smallest.
    for (auto* map : {skel.maps.offcpu_ustacks, skel.maps.unwind_procs, skel.maps.unwind_wanted,
                      skel.maps.stops_by_table}) {
      bpf_map__set_max_entries(map, 1);
    }
  } else if (shared != nullptr) {
    // The on-CPU program's tables: each file's table is loaded once, for both programs.
    const UnwindTables::Maps& m = shared->maps();
    const std::pair<bpf_map*, int> reuse[] = {{skel.maps.unwind_tables, m.tables},
                                              {skel.maps.unwind_procs, m.procs},
                                              {skel.maps.unwind_wanted, m.wanted},
                                              {skel.maps.table_last_use, m.last_use}};
    for (const auto& [map, fd] : reuse) {
      if (int err = bpf_map__reuse_fd(map, fd); err != 0) {
        return Error{
            fmt::format("share the unwind map {} with the off-CPU profiler", bpf_map__name(map)),
            err < 0 ? -err : err, libbpf_tail()};
      }
    }
  }
  if (int err = perfscope_offcpu__load(p.skel_.get()); err != 0) {
    return Error{"load the off-CPU profiler", err < 0 ? -err : err,
                 fmt::format("  the kernel refused the sched_switch program (tp_btf needs kernel "
                             "BTF and 5.18 or later){}",
                             libbpf_tail())};
  }
  const std::uint8_t yes = 1;
  for (pid_t pid : o.targets) {
    const auto key = static_cast<std::uint32_t>(pid);
    if (bpf_map__update_elem(skel.maps.targets, &key, sizeof(key), &yes, sizeof(yes), BPF_ANY) !=
        0) {
      return Error{"add target process to the off-CPU filter", errno, ""};
    }
  }
  if (o.cfi_unwind && shared == nullptr) {
    p.tables_ = std::make_unique<UnwindTables>(
        UnwindTables::Maps{
            bpf_map__fd(skel.maps.unwind_tables), bpf_map__fd(skel.maps.unwind_procs),
            bpf_map__fd(skel.maps.unwind_wanted), bpf_map__fd(skel.maps.table_last_use)},
        o.unwind_table_limit, UnwindTables::default_cache_dir());
    p.tables_->prepare_start(o.load_targets_now ? o.targets : std::vector<pid_t>{}, o.prepare_files,
                             kSettleSeconds);
  }
  return p;
}

Status OffCpuProfiler::start() {
  auto& skel = *skel_;
  // Fork and exec first, so no child or new image of a target is missed.
  for (auto* prog : {skel.progs.on_fork, skel.progs.on_exec, skel.progs.on_switch}) {
    bpf_link* link = bpf_program__attach(prog);
    if (link == nullptr) {
      return Error{fmt::format("attach {}", bpf_program__name(prog)), errno, libbpf_tail()};
    }
    links_.emplace_back(link);
  }
  return {};
}

void OffCpuProfiler::stop() {
  links_.clear();
}

Status OffCpuProfiler::drain(sampling::Collector& collector) {
  const unsigned old = generation_;
  generation_ ^= 1U;
  skel_->bss->generation = generation_;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  // A program that read the old generation just before the flip is still running for a few
  // microseconds (sched_switch runs with interrupts off and cannot sleep); give it far more.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (auto st = drain_generation(old, collector); !st) return st;
  empty_stack_maps();
  return {};
}

void OffCpuProfiler::empty_stack_maps() {
  auto& skel = *skel_;
  std::vector<std::uint64_t> keys;
  ps_offcpu_frames frames{};
  ps_user_stack walk{};
  for (bpf_map* map : {skel.maps.offcpu_stacks, skel.maps.offcpu_ustacks}) {
    if (map == skel.maps.offcpu_ustacks && !options_.cfi_unwind) continue;
    const int fd = bpf_map__fd(map);
    auto& cache = map == skel.maps.offcpu_stacks ? stack_cache_ : walked_cache_;
    // The program only adds to these maps: the keys are listed first, then read and deleted.
    keys.clear();
    std::uint64_t key = 0, next = 0;
    const std::uint64_t* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      keys.push_back(next);
      key = next;
      prev = &key;
    }
    for (std::uint64_t hash : keys) {
      // A hash names the same frames for good: one already read need not be read again. One read
      // is kept before it is deleted, so a start that names it (stored before the delete, or
      // finding it there) is resolved from here.
      auto [it, inserted] = cache.try_emplace(hash);
      if (inserted) {
        if (map == skel.maps.offcpu_stacks) {
          if (bpf_map_lookup_elem(fd, &hash, &frames) == 0) {
            it->second.assign(
                frames.pcs, frames.pcs + std::min<std::uint32_t>(frames.depth, PS_MAX_STACK_DEPTH));
          }
        } else if (bpf_map_lookup_elem(fd, &hash, &walk) == 0) {
          it->second.assign(walk.pcs,
                            walk.pcs + std::min<std::uint32_t>(walk.depth, PS_MAX_WALK_DEPTH));
        }
        ++stacks_read_;
      }
      (void)bpf_map_delete_elem(fd, &hash);
    }
  }
}

Status OffCpuProfiler::drain_all(sampling::Collector& collector) {
  if (auto st = drain_generation(generation_ ^ 1U, collector); !st) return st;
  return drain_generation(generation_, collector);
}

Status OffCpuProfiler::drain_generation(unsigned generation, sampling::Collector& collector) {
  auto& skel = *skel_;
  const int counts_fd =
      bpf_map__fd(generation & 1U ? skel.maps.offcpu_counts1 : skel.maps.offcpu_counts0);
  const int stacks_fd = bpf_map__fd(skel.maps.offcpu_stacks);
  const int ustacks_fd = bpf_map__fd(skel.maps.offcpu_ustacks);
  std::vector<ps_offcpu_key> keys;
  ps_offcpu_key key{}, next{};
  const ps_offcpu_key* prev = nullptr;
  while (bpf_map_get_next_key(counts_fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  ps_offcpu_frames frames{};
  const auto stack_of = [&](std::uint64_t hash) -> const std::vector<std::uint64_t>& {
    auto [it, inserted] = stack_cache_.try_emplace(hash);
    if (inserted) {
      ++stacks_read_;
      if (bpf_map_lookup_elem(stacks_fd, &hash, &frames) == 0) {
        it->second.assign(frames.pcs,
                          frames.pcs + std::min<std::uint32_t>(frames.depth, PS_MAX_STACK_DEPTH));
      }
    }
    return it->second;
  };
  ps_user_stack walk{};
  const auto walked_of = [&](std::uint64_t hash) -> const std::vector<std::uint64_t>& {
    auto [it, inserted] = walked_cache_.try_emplace(hash);
    if (inserted) {
      ++stacks_read_;
      if (bpf_map_lookup_elem(ustacks_fd, &hash, &walk) == 0) {
        it->second.assign(walk.pcs,
                          walk.pcs + std::min<std::uint32_t>(walk.depth, PS_MAX_WALK_DEPTH));
      }
    }
    return it->second;
  };
  std::vector<std::uint64_t> chain;
  for (const auto& k : keys) {
    ps_offcpu_value v{};
    if (bpf_map_lookup_elem(counts_fd, &k, &v) != 0) continue;
    (void)bpf_map_delete_elem(counts_fd, &k);
    chain.clear();
    // Leaf first, kernel part then user part, each opened by its context marker.
    const auto add_part = [&](std::int32_t status, std::uint64_t hash, std::uint64_t context) {
      const std::vector<std::uint64_t>* part = nullptr;
      if (status == PS_HASHED_STACK) {
        part = &stack_of(hash);
      } else if (status == PS_CFI_STACK) {
        part = &walked_of(hash);
      } else if (status == -EEXIST || status == -ENOMEM) {
        chain.push_back(context);
        chain.push_back(sampling::kStackLost);
        return;
      }
      if (part == nullptr || part->empty()) return;
      chain.push_back(context);
      chain.insert(chain.end(), part->begin(), part->end());
    };
    add_part(k.kernel_stack, k.kernel_hash, static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL));
    add_part(k.user_stack, k.user_hash, static_cast<std::uint64_t>(PERF_CONTEXT_USER));
    const std::string_view comm(k.comm, strnlen(k.comm, sizeof(k.comm)));
    collector.add_aggregated(k.tgid, k.pid, 0, k.exec_time, comm, chain, v.count, v.ns, k.state);
  }
  return {};
}

std::uint64_t OffCpuProfiler::stat_sum(std::uint32_t slot) const {
  return sum_per_cpu_u64(bpf_map__fd(skel_->maps.offcpu_stats), slot);
}

OffCpuStats OffCpuProfiler::stats() const {
  OffCpuStats s;
  s.switches = stat_sum(PS_OFF_SWITCHES);
  s.counted = stat_sum(PS_OFF_COUNTED);
  s.short_blocks = stat_sum(PS_OFF_SHORT);
  s.counts_full = stat_sum(PS_OFF_COUNTS_FULL);
  s.starts_full = stat_sum(PS_OFF_STARTS_FULL);
  s.kernel_stack_errors = stat_sum(PS_OFF_KSTACK_ERROR);
  s.user_stack_errors = stat_sum(PS_OFF_USTACK_ERROR);
  s.new_targets = stat_sum(PS_OFF_NEW_TARGETS);
  s.unseen_returns = stat_sum(PS_OFF_UNSEEN);
  s.stale_starts = stat_sum(PS_OFF_STALE);
  s.stacks_full = stat_sum(PS_OFF_STACKS_FULL);
  s.stacks_read = stacks_read_;
  {
    const int starts_fd = bpf_map__fd(skel_->maps.offcpu_starts);
    std::uint32_t key = 0, next = 0;
    const std::uint32_t* prev = nullptr;
    while (bpf_map_get_next_key(starts_fd, prev, &next) == 0) {
      ++s.open_at_end;
      key = next;
      prev = &key;
    }
  }
  if (options_.cfi_unwind) {
    s.cfi_stacks = stat_sum(PS_OFF_CFI_STACKS);
    s.cfi_pending = stat_sum(PS_OFF_CFI_PENDING);
    s.ustacks_full = stat_sum(PS_OFF_USTACKS_FULL);
    s.fp_frames = stat_sum(PS_OFF_FP_FRAMES);
    s.cfi_frames = stat_sum(PS_OFF_CFI_FRAMES);
    const int stops_fd = bpf_map__fd(skel_->maps.stop_reasons);
    for (std::uint32_t r = 0; r < PS_STOP_COUNT; ++r)
      s.stops.push_back(sum_per_cpu_u64(stops_fd, r));
  }
  bpf_prog_info info{};
  std::uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.on_switch), &info, &info_len) == 0) {
    s.program_run_ns = info.run_time_ns;
    s.program_runs = info.run_cnt;
    s.recursion_misses = info.recursion_misses;
  }
  return s;
}

}  // namespace perfscope::bpf
