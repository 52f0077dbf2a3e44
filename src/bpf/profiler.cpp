#include "bpf/profiler.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/perf_event.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <span>
#include <thread>
#include <unordered_map>

#include "bpf/libbpf_log.hpp"
#include "bpf/per_cpu.hpp"
#include "core/clock.hpp"
#include "core/files.hpp"
#include "core/perf_syscall.hpp"
#include "profile_abi.h"
#include "sampling/session.hpp"
#include "system/permission_advice.hpp"
#include "unwind_abi.h"

// bpftool writes the skeleton in C, where a bool global of the program is a `_Bool` field:
// g++ takes `_Bool` in C++, clang++ (the libFuzzer build) does not. It is C++'s bool.
#define _Bool bool
#include "profile.skel.h"
#undef _Bool

namespace perfscope::bpf {
namespace {

// Empties a hash map whose keys are Key (the keys first: deleting while walking skips some).
template <typename Key>
void delete_every_key(int fd) {
  std::vector<Key> keys;
  Key key{}, next{};
  const Key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  for (const Key& k : keys) (void)bpf_map_delete_elem(fd, &k);
}

}  // namespace

std::string unavailable_reason(const system::Capabilities& caps) {
  const bool can_bpf = caps.has(system::Cap::bpf) || caps.has(system::Cap::sys_admin);
  if (!can_bpf || !caps.perfmon()) {
    return fmt::format(
        "loading BPF programs needs CAP_BPF and CAP_PERFMON (or root), and this process has {}{}: "
        "run as root, or give the binary the capabilities: sudo setcap "
        "cap_perfmon,cap_bpf,cap_syslog=ep {}",
        can_bpf ? "CAP_BPF only" : (caps.perfmon() ? "CAP_PERFMON only" : "neither"),
        caps.unprivileged_bpf_disabled > 0 ? " (unprivileged BPF is disabled)" : "",
        system::self_executable_path());
  }
  if (!caps.btf) {
    return "the kernel has no BTF (/sys/kernel/btf/vmlinux), which the CO-RE programs need: use a "
           "kernel built with CONFIG_DEBUG_INFO_BTF=y";
  }
  return {};
}

void Profiler::SkeletonDeleter::operator()(perfscope_profile* skel) const {
  perfscope_profile__destroy(skel);
}
void Profiler::LinkDeleter::operator()(bpf_link* link) const {
  bpf_link__destroy(link);
}

std::uint64_t ProfilerStats::walks() const {
  std::uint64_t n = 0;
  for (std::uint64_t v : stops) n += v;
  return n;
}

std::uint64_t ProfilerStats::complete_walks() const {
  return stops.size() > PS_STOP_ZERO_RA ? stops[PS_STOP_END] + stops[PS_STOP_ZERO_RA] : 0;
}

const char* stop_reason_name(std::uint32_t reason) {
  switch (reason) {
    case PS_STOP_END:
      return "complete (outermost frame)";
    case PS_STOP_ZERO_RA:
      return "complete (return address 0)";
    case PS_STOP_NO_TABLE:
      return "code without CFI and no frame pointer (JIT or anonymous memory)";
    case PS_STOP_NO_ROW:
      return "a pc the module's CFI does not cover";
    case PS_STOP_UNSUPPORTED:
      return "a CFI rule the in-kernel walker cannot follow";
    case PS_STOP_OUTSIDE:
      return "a pc in no known mapping";
    case PS_STOP_READ_FAULT:
      return "stack memory not readable (not resident)";
    case PS_STOP_BAD_FRAME:
      return "the stack pointer did not move up";
    case PS_STOP_TOO_DEEP:
      return "deeper than 256 frames";
    case PS_STOP_EVICTED:
      return "the module's table was evicted (--unwind-table-limit)";
    case PS_STOP_PENDING:
      return "the module's table was still being built";
    default:
      return "?";
  }
}

Profiler::Profiler(Profiler&&) noexcept = default;
Profiler& Profiler::operator=(Profiler&&) noexcept = default;
Profiler::~Profiler() {
  // Links before the skeleton: detaching needs the programs alive.
  sampling_links_.clear();
  tracepoint_links_.clear();
}

// How long open() waits for the tables of the processes and files named up front.
constexpr double kSettleSeconds = 3.0;

Result<Profiler> Profiler::open(ProfilerOptions options, const system::Capabilities& caps) {
  if (auto why = unavailable_reason(caps); !why.empty()) {
    return Error{"load the eBPF profiler", EPERM, "  " + why};
  }
  Profiler p;
  sampling::apply_event_fallbacks(options.event, options.frequency, caps, p.notes_);
  p.options_ = std::move(options);
  const auto& o = p.options_;

  capture_libbpf_output();
  p.skel_.reset(perfscope_profile__open());
  if (!p.skel_) {
    return Error{"open the eBPF profiler", errno,
                 "  libbpf could not open the embedded object" + libbpf_tail()};
  }
  auto& skel = *p.skel_;
  skel.rodata->filter_targets = !o.targets.empty();
  skel.rodata->kernel_stacks = o.kernel_stacks;
  skel.rodata->skip_idle = o.skip_idle;
  skel.rodata->cfi_unwind = o.cfi_unwind;
  for (auto* map : {skel.maps.counts0, skel.maps.counts1}) {
    bpf_map__set_max_entries(map, o.count_entries);
  }
  for (auto* map : {skel.maps.stacks0, skel.maps.stacks1, skel.maps.ustacks0, skel.maps.ustacks1}) {
    bpf_map__set_max_entries(map, o.stack_entries);
  }
  if (!o.cfi_unwind) {
    // Not walked: the walker's maps at their smallest, and preallocated (kernels before 6.1
    // refuse maps without preallocation in perf_event programs).
    for (auto* map : {skel.maps.ustacks0, skel.maps.ustacks1, skel.maps.unwind_procs,
                      skel.maps.unwind_wanted, skel.maps.stops_by_table}) {
      bpf_map__set_max_entries(map, 1);
      bpf_map__set_map_flags(map, bpf_map__map_flags(map) & ~BPF_F_NO_PREALLOC);
    }
  }
  if (int err = perfscope_profile__load(p.skel_.get()); err != 0) {
    const int e = err < 0 ? -err : err;
    return Error{"load the eBPF profiler", e,
                 fmt::format("  the kernel refused the BPF programs (for the details: perfscope "
                             "doctor --need ebpf){}",
                             libbpf_tail())};
  }
  const std::uint8_t yes = 1;
  for (pid_t pid : o.targets) {
    const auto key = static_cast<std::uint32_t>(pid);
    if (bpf_map__update_elem(skel.maps.targets, &key, sizeof(key), &yes, sizeof(yes), BPF_ANY) !=
        0) {
      return Error{"add target process to the eBPF filter", errno, ""};
    }
  }
  p.stack_buffer_.resize(PS_MAX_STACK_DEPTH);
  if (o.cfi_unwind) {
    p.tables_ = std::make_unique<UnwindTables>(
        UnwindTables::Maps{
            bpf_map__fd(skel.maps.unwind_tables), bpf_map__fd(skel.maps.unwind_procs),
            bpf_map__fd(skel.maps.unwind_wanted), bpf_map__fd(skel.maps.table_last_use)},
        o.unwind_table_limit, UnwindTables::default_cache_dir());
    // The tables (tens of milliseconds each) before sampling starts.
    p.tables_->prepare_start(o.load_targets_now ? o.targets : std::vector<pid_t>{}, o.prepare_files,
                             kSettleSeconds);
  }
  return p;
}

Status Profiler::start() {
  auto& skel = *skel_;
  for (auto* prog : {skel.progs.on_fork, skel.progs.on_exec}) {
    bpf_link* link = bpf_program__attach(prog);
    if (link == nullptr) {
      return Error{fmt::format("attach {}", bpf_program__name(prog)), errno, libbpf_tail()};
    }
    tracepoint_links_.emplace_back(link);
  }
  perf_event_attr a = options_.event.attr();
  if (options_.frequency > 0) {
    a.freq = 1;
    a.sample_freq = options_.frequency;
  } else {
    a.sample_period = options_.period;
  }
  if (!options_.kernel_stacks) a.exclude_kernel = 1;
  const auto& caps = system::Capabilities::current();
  for (int cpu : options_.cpus) {
    auto fd = perf_event_open(a, -1, cpu, -1,
                              fmt::format("{} sampling for BPF", options_.event.display_name()));
    if (!fd)
      return system::explain_open_failure(fd.error(), a, -1, cpu, options_.event.display_name(),
                                          caps);
    // The link owns the event from here: destroying it disables and closes the event.
    const int raw = fd->release();
    bpf_link* link = bpf_program__attach_perf_event(skel.progs.on_sample, raw);
    if (link == nullptr) {
      const int e = errno;
      ::close(raw);
      return Error{fmt::format("attach the BPF program to CPU {}", cpu), e, libbpf_tail()};
    }
    sampling_links_.emplace_back(link);
  }
  generation_start_ns_ = monotonic_ns();
  return {};
}

void Profiler::stop() {
  sampling_links_.clear();
}

Status Profiler::drain(sampling::Collector& collector, const std::function<void()>& after_switch) {
  const unsigned old = generation_;
  generation_ ^= 1U;
  skel_->bss->generation = generation_;
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  // The old generation's counts were taken between its start and now: they are placed in time at
  // the middle of that interval (time buckets as wide as the drain interval; see the backend).
  const std::uint64_t now = monotonic_ns();
  const std::uint64_t counted_at =
      generation_start_ns_ == 0 ? 0 : generation_start_ns_ + (now - generation_start_ns_) / 2;
  generation_start_ns_ = now;
  // A program that read the old generation just before the switch is still running for a few
  // microseconds (perf_event programs run in interrupt context and cannot sleep); give it far
  // more than that before the old maps are read and cleared.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (after_switch) after_switch();
  return drain_generation(old, collector, counted_at);
}

Status Profiler::drain_generation(unsigned generation, sampling::Collector& collector,
                                  std::uint64_t counted_at) {
  auto& skel = *skel_;
  bpf_map* counts = generation & 1U ? skel.maps.counts1 : skel.maps.counts0;
  bpf_map* stacks = generation & 1U ? skel.maps.stacks1 : skel.maps.stacks0;
  bpf_map* ustacks = generation & 1U ? skel.maps.ustacks1 : skel.maps.ustacks0;
  const int counts_fd = bpf_map__fd(counts);
  const int stacks_fd = bpf_map__fd(stacks);
  const int ustacks_fd = bpf_map__fd(ustacks);

  // Every entry, read and deleted a few thousand per system call.
  constexpr std::uint32_t kBatch = 4096;
  keys_.resize(kBatch);
  values_.resize(kBatch);
  std::vector<ps_count_key> keys;
  std::vector<ps_count_value> values;
  std::uint64_t token = 0;  // the kernel's position in the hash (a bucket index)
  bool first = true;
  for (;;) {
    std::uint32_t n = kBatch;
    const int rc = bpf_map_lookup_and_delete_batch(counts_fd, first ? nullptr : &token, &token,
                                                   keys_.data(), values_.data(), &n, nullptr);
    const int e = rc == 0 ? 0 : errno;
    keys.insert(keys.end(), keys_.begin(), keys_.begin() + n);
    values.insert(values.end(), values_.begin(), values_.begin() + n);
    first = false;
    if (rc == 0) continue;
    if (e == ENOENT) break;                // the whole map was read
    if (e == EINVAL || e == EOPNOTSUPP) {  // ENOTSUP is the same number on Linux
      // Kernels before 5.6 have no batch operations: one key at a time.
      ps_count_key key{}, next{};
      const ps_count_key* prev = nullptr;
      std::vector<ps_count_key> rest;
      while (bpf_map_get_next_key(counts_fd, prev, &next) == 0) {
        rest.push_back(next);
        key = next;
        prev = &key;
      }
      for (const auto& k : rest) {
        ps_count_value v{};
        if (bpf_map_lookup_elem(counts_fd, &k, &v) != 0) continue;
        (void)bpf_map_delete_elem(counts_fd, &k);
        keys.push_back(k);
        values.push_back(v);
      }
      break;
    }
    return Error{"read the eBPF sample counts", e, ""};
  }

  // A stack id means the same stack until perfscope deletes it: the kernel never replaces a
  // stored stack (no BPF_F_REUSE_STACKID). An id met for the first time in this generation is
  // read and deleted in one call (a stack seen in one drain only, most of them on a machine that
  // starts new processes all the time, then costs one system call instead of a read now and a
  // delete when the cache is cleared); an id met again in a later drain is read and kept, so a
  // steady workload's stacks are read twice per clearing of the cache. The generation's map is
  // not written during its drain, so a deleted id is read once per drain at most.
  auto& stack_cache = stack_cache_[generation & 1U];
  auto& seen = stack_seen_[generation & 1U];
  if (seen.size() != options_.stack_entries) seen.assign(options_.stack_entries, 0);
  stack_once_.clear();
  once_frames_.clear();
  const auto read_stack = [&](std::uint32_t sid, bool remove) {
    std::fill(stack_buffer_.begin(), stack_buffer_.end(), 0);
    if (remove) {
      if (bpf_map_lookup_and_delete_elem(stacks_fd, &sid, stack_buffer_.data()) == 0) return true;
      if (errno == ENOENT) return false;
      stack_lookup_and_delete_ = false;  // not on this kernel: read and keep from now on
    }
    return bpf_map_lookup_elem(stacks_fd, &sid, stack_buffer_.data()) == 0;
  };
  const auto stored_depth = [&] {
    return static_cast<std::size_t>(std::find(stack_buffer_.begin(), stack_buffer_.end(), 0) -
                                    stack_buffer_.begin());
  };
  const auto stack_of = [&](std::int32_t id, bool kernel) -> std::span<const std::uint64_t> {
    if (auto it = stack_cache.find(id); it != stack_cache.end()) return it->second;
    if (auto it = stack_once_.find(id); it != stack_once_.end()) {
      return {once_frames_.data() + it->second.first, it->second.second};
    }
    const auto sid = static_cast<std::uint32_t>(id);
    const bool once = !kernel && stack_lookup_and_delete_ && sid < seen.size() && seen[sid] == 0;
    if (once) {
      seen[sid] = 1;
      const bool read = read_stack(sid, true);
      if (stack_lookup_and_delete_) {  // (else read and kept: below)
        const std::size_t n = read ? stored_depth() : 0;
        const auto at = static_cast<std::uint32_t>(once_frames_.size());
        once_frames_.insert(once_frames_.end(), stack_buffer_.begin(),
                            stack_buffer_.begin() + static_cast<std::ptrdiff_t>(n));
        stack_once_.emplace(id, std::pair{at, static_cast<std::uint32_t>(n)});
        return {once_frames_.data() + at, n};
      }
    }
    auto& frames = stack_cache[id];
    if (read_stack(sid, false)) {
      frames.assign(stack_buffer_.begin(),
                    stack_buffer_.begin() + static_cast<std::ptrdiff_t>(stored_depth()));
    }
    return frames;
  };

  // Walked user stacks, by hash: read once per generation and kept like the stack ids.
  auto& ustack_cache = ustack_cache_[generation & 1U];
  ps_user_stack walked{};
  const auto walked_of = [&](std::uint64_t hash) -> const Walked& {
    auto [it, inserted] = ustack_cache.try_emplace(hash);
    if (inserted && bpf_map_lookup_elem(ustacks_fd, &hash, &walked) == 0) {
      const std::uint32_t depth = std::min<std::uint32_t>(walked.depth, PS_MAX_WALK_DEPTH);
      it->second.frames.assign(walked.pcs, walked.pcs + depth);
      it->second.complete = walked.reason == PS_STOP_END || walked.reason == PS_STOP_ZERO_RA;
    }
    return it->second;
  };

  std::vector<std::uint64_t> chain;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& k = keys[i];
    chain.clear();
    // Leaf first, kernel part then user part, each opened by its context marker: the same shape
    // as a perf call chain, so the profile builder treats both backends alike.
    const auto add_part = [&](std::int32_t id, std::uint64_t context) {
      if (id == PS_NO_STACK) return;
      if (id >= 0) {
        const auto frames =
            stack_of(id, context == static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL));
        if (frames.empty()) return;
        chain.push_back(context);
        chain.insert(chain.end(), frames.begin(), frames.end());
      } else if (id == -EEXIST || id == -ENOMEM) {
        chain.push_back(context);
        chain.push_back(sampling::kStackLost);
      }
      // -EFAULT: no frames of this kind (a user-space sample has no kernel stack).
    };
    add_part(k.kernel_stack, static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL));
    const std::string_view comm(k.comm, strnlen(k.comm, sizeof(k.comm)));
    if (k.user_stack == PS_CFI_STACK) {
      const Walked& w = walked_of(k.user_hash);
      if (!w.frames.empty()) {
        chain.push_back(static_cast<std::uint64_t>(PERF_CONTEXT_USER));
        chain.insert(chain.end(), w.frames.begin(), w.frames.end());
      }
      auto& [complete, all] = complete_by_comm_[std::string(comm)];
      complete += w.complete ? values[i].count : 0;
      all += values[i].count;
    } else {
      add_part(k.user_stack, static_cast<std::uint64_t>(PERF_CONTEXT_USER));
    }
    collector.add_aggregated(k.tgid, k.pid, k.cpu, k.exec_time, comm, chain, values[i].count,
                             values[i].period, 0, counted_at);
  }

  // Stored stacks make new ones collide (a stack's bucket is its hash modulo the map size), so
  // once the cache holds an eighth of the map, the idle generation's stacks are all freed. A
  // stack whose sample then found the counts map full has no key and is not in the cache: a full
  // walk finds those.
  // The walked stacks' map is a hash: no collisions, but it fills; free it at half.
  if (ustack_cache.size() > options_.stack_entries / 2) {
    for (const auto& [hash, w] : ustack_cache) (void)bpf_map_delete_elem(ustacks_fd, &hash);
    ustack_cache.clear();
  }
  if (stack_cache.size() > options_.stack_entries / 8) {
    for (const auto& [id, frames] : stack_cache) {
      const auto sid = static_cast<std::uint32_t>(id);
      (void)bpf_map_delete_elem(stacks_fd, &sid);
    }
    stack_cache.clear();
    std::fill(seen.begin(), seen.end(), 0);
  }
  const auto full = stat_sum(PS_STAT_COUNTS_FULL);
  if (full != counts_full_seen_) {
    counts_full_seen_ = full;
    stack_cache.clear();
    std::fill(seen.begin(), seen.end(), 0);
    delete_every_key<std::uint32_t>(stacks_fd);
    ustack_cache.clear();  // the same for the walked stacks
    delete_every_key<std::uint64_t>(ustacks_fd);
  }
  return {};
}

std::uint64_t Profiler::stat_sum(std::uint32_t slot) const {
  return sum_per_cpu_u64(bpf_map__fd(skel_->maps.stats), slot);
}

ProfilerStats Profiler::stats() const {
  ProfilerStats s;
  s.samples = stat_sum(PS_STAT_SAMPLES);
  s.idle = stat_sum(PS_STAT_IDLE);
  s.kernel_stack_collisions = stat_sum(PS_STAT_KSTACK_COLLISION);
  s.kernel_stack_errors = stat_sum(PS_STAT_KSTACK_ERROR);
  s.user_stack_collisions = stat_sum(PS_STAT_USTACK_COLLISION);
  s.user_stack_errors = stat_sum(PS_STAT_USTACK_ERROR);
  s.counts_full = stat_sum(PS_STAT_COUNTS_FULL);
  s.filtered = stat_sum(PS_STAT_FILTERED);
  s.new_targets = stat_sum(PS_STAT_NEW_TARGETS);
  s.execs = stat_sum(PS_STAT_EXECS);
  bpf_prog_info info{};
  std::uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.on_sample), &info, &info_len) == 0) {
    s.program_run_ns = info.run_time_ns;
    s.program_runs = info.run_cnt;
  }
  if (!options_.cfi_unwind) return s;
  s.cfi_stacks = stat_sum(PS_STAT_CFI_STACKS);
  s.cfi_pending = stat_sum(PS_STAT_CFI_PENDING);
  s.ustacks_full = stat_sum(PS_STAT_USTACKS_FULL);
  s.cfi_frames = stat_sum(PS_STAT_CFI_FRAMES);
  s.fp_frames = stat_sum(PS_STAT_FP_FRAMES);
  s.complete_by_comm = complete_by_comm_;
  const int ncpu = libbpf_num_possible_cpus();
  std::vector<std::uint64_t> per_cpu(static_cast<std::size_t>(std::max(ncpu, 1)));
  const int reasons_fd = bpf_map__fd(skel_->maps.stop_reasons);
  for (std::uint32_t r = 0; r < PS_STOP_COUNT; ++r) {
    std::uint64_t sum = 0;
    if (ncpu > 0 && bpf_map_lookup_elem(reasons_fd, &r, per_cpu.data()) == 0) {
      for (std::uint64_t v : per_cpu) sum += v;
    }
    s.stops.push_back(sum);
  }
  const int by_table_fd = bpf_map__fd(skel_->maps.stops_by_table);
  ps_stop_key key{}, next{};
  const ps_stop_key* prev = nullptr;
  while (bpf_map_get_next_key(by_table_fd, prev, &next) == 0) {
    std::uint64_t n = 0;
    if (bpf_map_lookup_elem(by_table_fd, &next, &n) == 0 && n > 0) {
      std::string file = next.table == PS_NO_TABLE ? "" : tables_->file_of(next.table);
      if (file.empty()) file = "[anonymous memory or unknown]";
      s.stops_by_file[{file, stop_reason_name(next.reason)}] += n;
    }
    key = next;
    prev = &key;
  }
  return s;
}

}  // namespace perfscope::bpf
