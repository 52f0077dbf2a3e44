#include "recording/profile_builder.hpp"

#include <fmt/format.h>
#include <linux/perf_event.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "bpf/offcpu.hpp"
#include "core/files.hpp"
#include "recording/location_table.hpp"
#include "symbols/vdso.hpp"

namespace perfscope::recording {
namespace {

// (address space, address) -> a value, 0 until set: an open-addressing table, as every frame
// of every stack entry passes through it.
class FrameLocations {
 public:
  std::uint64_t& slot(std::uint64_t space, std::uint64_t address) {
    if ((used_ + 1) * 4 > slots_.size() * 3) grow();
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash(space, address) & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.used) {
        if (s.space == space && s.address == address) return s.value;
        continue;
      }
      s = Slot{space, address, 0, true};
      ++used_;
      return s.value;
    }
  }

 private:
  struct Slot {
    std::uint64_t space = 0, address = 0, value = 0;
    bool used = false;
  };
  static std::size_t hash(std::uint64_t space, std::uint64_t address) {
    std::uint64_t h = (address ^ (space * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
  void grow() {
    std::vector<Slot> old(std::max<std::size_t>(1024, slots_.size() * 2));
    old.swap(slots_);
    used_ = 0;
    for (const Slot& s : old) {
      if (s.used) slot(s.space, s.address) = s.value;
    }
  }
  std::vector<Slot> slots_;
  std::size_t used_ = 0;
};

class Builder {
 public:
  Builder(const sampling::Collector& c, symbols::Symbolizer& s, profile::Profile& p)
      : collector_(c), symbolizer_(s), table_(p) {}

  // The location of a frame. Each (address space, address) is looked up once; a kernel address
  // once per space-independent (address, leaf) pair, as a leaf is looked up at itself.
  std::uint64_t location(std::uint64_t address, bool kernel, bool leaf,
                         sampling::AddressSpaceId space_id) {
    const std::uint64_t space_key =
        kernel ? (leaf ? kKernelLeafSpace : kKernelSpace) : std::uint64_t{space_id};
    std::uint64_t& slot = known_.slot(space_key, address);
    if (slot == 0) slot = resolve(address, kernel, leaf, space_id) + 1;
    return slot - 1;
  }

  std::uint64_t resolve(std::uint64_t address, bool kernel, bool leaf,
                        sampling::AddressSpaceId space_id) {
    // A return address points after the call; look up the call itself.
    const std::uint64_t lookup = leaf ? address : address - 1;
    if (kernel) {
      const auto& frames = symbolizer_.resolve_kernel(lookup);
      const std::string module = frames.empty() ? "[kernel.kallsyms]" : frames.back().module;
      return table_.add(kernel_mapping(module), address, frames);
    }
    const auto& space = collector_.processes().space(space_id);
    const sampling::Mapping* m = space.find(address);
    if (m != nullptr && is_file_mapping(m->path)) {
      const FileMapping& fm = mapped_file(*m, space.pid);
      if (auto id = table_.find(fm.id, address)) return *id;
      return user_location(fm.id, address, address - lookup,
                           symbolizer_.resolve_user(fm.file, lookup));
    }
    if (m != nullptr && m->path == "[vdso]" && !symbols::vdso_image_path().empty()) {
      const auto mapping_id = file_mapping(*m);
      if (auto id = table_.find(mapping_id, address)) return *id;
      symbols::MappedFile file{"[vdso]", symbols::vdso_image_path(), {}, m->start, m->end,
                               m->pgoff};
      return user_location(mapping_id, address, address - lookup,
                           symbolizer_.resolve_user(file, lookup));
    }
    if (m != nullptr && !is_jit_region(m->path)) {  // [vsyscall], ...
      const auto mapping_id = file_mapping(*m);
      return table_.add(mapping_id, address,
                        {symbols::Symbolizer::unknown(m->path.substr(0, 40), m->path)});
    }
    // Anonymous memory or no mapping known: a JIT map is the only hope.
    const std::uint32_t tag = space_id + 1;
    if (auto id = table_.find(0, address, tag)) return *id;
    const auto& jit = symbolizer_.resolve_jit(space.pid, lookup);
    if (!jit.empty() && jit.front().resolved) return table_.add(0, address, jit, tag);
    return table_.add(
        0, address,
        {symbols::Symbolizer::unknown(unresolved_reason(collector_.processes(), space, m))}, tag);
  }

  // The mapping of a kernel module ("[kernel.kallsyms]", "[nf_tables]"), over its text. The
  // range is a scan of every kallsyms symbol: once per module, not once per kernel frame.
  std::uint64_t kernel_mapping(const std::string& module) {
    if (auto it = kernel_mappings_.find(module); it != kernel_mappings_.end()) return it->second;
    const auto range = symbolizer_.kernel_text_range(module);
    const auto id = range ? table_.kernel_mapping(module, range->first, range->second)
                          : table_.kernel_mapping(module);
    kernel_mappings_.emplace(module, id);
    return id;
  }

  // The frame standing for a kernel or user stack the eBPF backend could not capture.
  std::uint64_t lost_stack(bool kernel) {
    const std::uint32_t tag = kernel ? 0xffffffffu : 0xfffffffeu;
    return table_.add(
        0, sampling::kStackLost,
        {symbols::Symbolizer::unknown(kernel ? "kernel stack lost: BPF stack map full or colliding"
                                             : "user stack lost: BPF stack map full or colliding")},
        tag);
  }

  // A module whose addresses (some or all) no symbol names: why, and how much of the profile
  // its address-named frames hold.
  struct UnnamedModule {
    std::string module;  // path
    std::string reason;  // the symbolizer's, "no symbols in gzip"
    std::size_t addresses = 0;
    std::uint64_t samples = 0;  // samples with at least one of its unnamed frames
  };

  // Interns a user location; an address no symbol names becomes its own "module+0xADDRESS"
  // frame (Symbolizer::by_address), and its module's reason is kept for the profile's comments.
  // The frames were looked up `looked_back` bytes before `address` (a return address's call); the
  // name gives the address itself, as perf does.
  std::uint64_t user_location(std::uint64_t mapping_id, std::uint64_t address,
                              std::uint64_t looked_back,
                              const std::vector<symbols::Frame>& frames) {
    if (frames.size() != 1 || frames.front().resolved || frames.front().module.empty()) {
      return table_.add(mapping_id, address, frames);
    }
    const symbols::Frame& unknown = frames.front();
    auto [it, inserted] = unnamed_modules_.try_emplace(unknown.module, unnamed_.size());
    if (inserted) {
      std::string reason = unknown.function;
      if (reason.starts_with("[unknown: ") && reason.ends_with(']')) {
        reason = reason.substr(10, reason.size() - 11);
      }
      unnamed_.push_back({unknown.module, std::move(reason), 0, 0});
    }
    ++unnamed_[it->second].addresses;
    const auto id =
        table_.add(mapping_id, address, {symbols::Symbolizer::by_address(unknown, looked_back)});
    if (unnamed_of_.size() <= id) unnamed_of_.resize(id + 1, 0);
    unnamed_of_[id] = it->second + 1;
    return id;
  }

  // Counts a sample for each module some of its locations left unnamed.
  void count_unnamed(const std::vector<std::uint64_t>& location_ids, std::uint64_t samples) {
    seen_.clear();
    if (unnamed_.empty()) return;
    for (const auto id : location_ids) {
      if (id >= unnamed_of_.size() || unnamed_of_[id] == 0) continue;
      const std::size_t module = unnamed_of_[id] - 1;
      if (std::find(seen_.begin(), seen_.end(), module) != seen_.end()) continue;
      seen_.push_back(module);
      unnamed_[module].samples += samples;
    }
  }

  // The modules with unnamed addresses, the most sampled first.
  std::vector<UnnamedModule> unnamed_modules() const {
    std::vector<UnnamedModule> out = unnamed_;
    std::stable_sort(out.begin(), out.end(), [](const UnnamedModule& a, const UnnamedModule& b) {
      return a.samples > b.samples;
    });
    return out;
  }

  std::uint64_t file_mapping(const sampling::Mapping& m) {
    return table_.file_mapping(m.path, m.build_id, m.start, m.end, m.pgoff);
  }

  // A file mapping's id and what the symbolizer is told of it: made once per mapping of each
  // process, not once per address (the collector's mappings do not move while the profile is
  // built; a builder that outlives that, the incremental one, forgets them between updates).
  void forget_mappings() { mapped_files_.clear(); }
  struct FileMapping {
    std::uint64_t id = 0;
    symbols::MappedFile file;
  };
  const FileMapping& mapped_file(const sampling::Mapping& m, pid_t pid) {
    auto [it, inserted] = mapped_files_.try_emplace(&m);
    if (inserted) {
      it->second.id = file_mapping(m);
      it->second.file = {m.path, open_path(pid, m.path), m.build_id, m.start, m.end, m.pgoff};
    }
    return it->second;
  }

  // Files of a process that runs in another mount namespace (a container) are reached through
  // its /proc/PID/root while it lives; everyone else's through the path itself, which also works
  // after the process has exited.
  // The link is read once per process.
  std::string open_path(pid_t pid, const std::string& path) {
    if (pid <= 0) return {};
    auto [it, inserted] = other_root_.try_emplace(pid, false);
    if (inserted) {
      const std::string root = read_link(fmt::format("/proc/{}/root", pid));
      it->second = !root.empty() && root != "/";
    }
    if (!it->second) return {};
    return fmt::format("/proc/{}/root{}", pid, path);
  }

  std::size_t unknown() const { return table_.unresolved(); }
  std::size_t locations() const { return table_.size(); }

 private:
  const sampling::Collector& collector_;
  symbols::Symbolizer& symbolizer_;
  LocationTable table_;
  std::vector<UnnamedModule> unnamed_;
  std::unordered_map<std::string, std::size_t> unnamed_modules_;  // path -> unnamed_ index
  std::vector<std::size_t> unnamed_of_;  // location id -> unnamed_ index + 1; 0: named
  std::vector<std::size_t> seen_;
  std::unordered_map<std::string, std::uint64_t> kernel_mappings_;  // module -> mapping id
  std::unordered_map<pid_t, bool> other_root_;  // pid -> its /proc/PID/root is not "/"
  std::unordered_map<const sampling::Mapping*, FileMapping> mapped_files_;
  // Address spaces of kernel frames in known_: past every AddressSpaceId.
  static constexpr std::uint64_t kKernelSpace = std::uint64_t{1} << 32;
  static constexpr std::uint64_t kKernelLeafSpace = kKernelSpace + 1;
  FrameLocations known_;  // (space, address) -> location id + 1
};

// The profile comment for a module with address-named frames: why, how many, how much, the fix.
std::string unnamed_comment(const Builder::UnnamedModule& u, std::uint64_t total_samples) {
  const std::string base = u.module.substr(u.module.rfind('/') + 1);
  std::string why = u.reason, fix;
  if (u.reason.starts_with("no symbols in ")) {
    why = "no symbol table (stripped)";
  } else if (u.reason.starts_with("no symbol for this address in ")) {
    why = "no symbol covers them (exported functions only, or code between functions)";
  }
  if (u.reason.starts_with("no symbol")) {
    fix = "; for function names install its debug symbols (Debian: its package's -dbgsym)";
  }
  const double share = total_samples > 0 ? 100.0 * static_cast<double>(u.samples) /
                                               static_cast<double>(total_samples)
                                         : 0.0;
  return fmt::format(
      "{}{}: {}; {} named {}+0xADDRESS, in {:.1f}% of samples{}", kUnnamedCommentPrefix, base, why,
      u.addresses == 1 ? std::string("1 address") : fmt::format("{} addresses", u.addresses), base,
      share, fix);
}

// The sample of one stack entry: its locations (leaf first) and labels.
struct LabelKeys {
  profile::StringId pid, tid, cpu, comm;
};

// Go's pprof drops a num label whose value and unit are both 0 (profile/encode.go): the
// swapper's pid and tid 0 and cpu 0 would vanish. Each num label carries a unit, its own key
// (what pprof assumes for a key without one), so value 0 survives; perfscope ignores the unit.
LabelKeys label_keys(profile::Profile& p) {
  return {p.intern("pid"), p.intern("tid"), p.intern("cpu"), p.intern("comm")};
}

profile::Sample entry_sample(Builder& b, const sampling::Collector& collector,
                             const sampling::StackAggregator::Entry& e, const LabelKeys& k,
                             profile::Profile& p) {
  const auto& stacks = collector.stacks();
  profile::Sample s;
  bool kernel = false;  // call chains open with a context marker; until then, user space
  bool leaf = true;
  const auto stack = stacks.stack(e);
  s.location_ids.reserve(stack.size());
  for (const std::uint64_t address : stack) {
    if (address == sampling::kStackLost) {
      s.location_ids.push_back(b.lost_stack(kernel));
      leaf = false;
      continue;
    }
    if (address >= static_cast<std::uint64_t>(PERF_CONTEXT_MAX)) {
      kernel = address == static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL);
      continue;
    }
    s.location_ids.push_back(b.location(address, kernel, leaf, e.key.space));
    leaf = false;
  }
  s.values = {static_cast<std::int64_t>(e.count), static_cast<std::int64_t>(e.period)};
  s.labels = {
      {k.pid, 0, e.key.pid, k.pid},
      {k.tid, 0, e.key.tid, k.tid},
      {k.cpu, 0, e.key.cpu, k.cpu},
      {k.comm,
       p.intern(collector.processes().thread_comm(static_cast<pid_t>(e.key.tid), e.key.space)), 0,
       0},
  };
  return s;
}

// The profile's header: sample types, period, times and comments.
void start_profile(profile::Profile& p, const ProfileInfo& info) {
  p.sample_types.push_back({p.intern("samples"), p.intern("count")});
  const bool time_profile = !info.time_type.empty();
  if (time_profile) {
    p.sample_types.push_back({p.intern(info.time_type), p.intern("nanoseconds")});
    p.period_type = p.sample_types.back();
    p.period = info.frequency > 0 ? static_cast<std::int64_t>(1'000'000'000 / info.frequency) : 0;
  } else if (info.time_based) {
    p.sample_types.push_back({p.intern("cpu"), p.intern("nanoseconds")});
    p.period_type = {p.intern("cpu"), p.intern("nanoseconds")};
    p.period = info.frequency > 0 ? static_cast<std::int64_t>(1'000'000'000 / info.frequency)
                                  : static_cast<std::int64_t>(info.period);
  } else {
    p.sample_types.push_back({p.intern(info.event), p.intern("count")});
    p.period_type = {p.intern(info.event), p.intern("count")};
    p.period = static_cast<std::int64_t>(info.period);
  }
  // Named, not left 0: without it Go's pprof shows the last type and perfscope's reader (which
  // follows Go) would too, while perfscope's tables count samples.
  p.default_sample_type = p.sample_types[time_profile ? 1 : 0].type;
  p.time_nanos = info.time_nanos;
  p.duration_nanos = info.duration_nanos;
  for (const auto& c : info.comments) p.add_comment(c);
}

}  // namespace

struct IncrementalProfileBuilder::State {
  State(const sampling::Collector& c, symbols::Symbolizer& s) : collector(c), builder(c, s, p) {}
  const sampling::Collector& collector;
  profile::Profile p;  // before `builder`, which refers to it
  Builder builder;
  LabelKeys keys{};
};

IncrementalProfileBuilder::IncrementalProfileBuilder(const sampling::Collector& collector,
                                                     symbols::Symbolizer& symbolizer,
                                                     const ProfileInfo& info)
    : state_(std::make_unique<State>(collector, symbolizer)) {
  start_profile(state_->p, info);
  state_->keys = label_keys(state_->p);
}

IncrementalProfileBuilder::~IncrementalProfileBuilder() = default;

void IncrementalProfileBuilder::update() {
  State& st = *state_;
  st.builder.forget_mappings();  // the collector's mappings may have changed since the last update
  const auto& entries = st.collector.stacks().entries();
  for (std::size_t i = st.p.samples().size(); i < entries.size(); ++i) {
    st.p.add_sample(entry_sample(st.builder, st.collector, entries[i], st.keys, st.p));
  }
}

const profile::Profile& IncrementalProfileBuilder::profile() const {
  return state_->p;
}

namespace {

// --off-cpu, --wall: every sample names the state its thread was in (StackKey::state); off-CPU
// time has no CPU label.
void label_state(profile::Sample& s, std::uint32_t state, profile::Profile& p) {
  if (state != 0) {
    std::erase_if(s.labels, [&](const profile::Label& l) { return p.string(l.key) == "cpu"; });
  }
  s.labels.push_back({p.intern("state"), p.intern(bpf::offcpu_state_name(state)), 0, 0});
}

}  // namespace

profile::Profile build_profile(const sampling::Collector& collector,
                               symbols::Symbolizer& symbolizer, const ProfileInfo& info,
                               BuildStats* stats) {
  profile::Profile p;
  start_profile(p, info);

  const LabelKeys keys = label_keys(p);
  // Each sample's period: a "time" label, ms after the first sample (profile/sample_slice.hpp).
  const auto key_time = p.intern("time");
  const auto unit_ms = p.intern("milliseconds");
  const auto bucket_ms = static_cast<std::int64_t>(collector.bucket_ns() / 1'000'000);
  Builder b(collector, symbolizer, p);
  std::uint64_t total_samples = 0;
  const auto& stacks = collector.stacks();
  p.reserve_samples(stacks.entries().size());
  for (const auto& e : stacks.entries()) {
    profile::Sample s = entry_sample(b, collector, e, keys, p);
    b.count_unnamed(s.location_ids, e.count);
    total_samples += e.count;
    if (!info.time_type.empty()) label_state(s, e.key.state, p);
    if (!info.cpus) {
      std::erase_if(s.labels, [&](const profile::Label& l) { return l.key == keys.cpu; });
    }
    if (e.key.bucket != sampling::kNoBucket && bucket_ms > 0) {
      s.labels.push_back({key_time, 0, e.key.bucket * bucket_ms, unit_ms});
    }
    p.add_sample(std::move(s));
  }
  for (const auto& u : b.unnamed_modules()) p.add_comment(unnamed_comment(u, total_samples));
  if (stats != nullptr) {
    stats->stacks = stacks.entries().size();
    stats->addresses = b.locations();
    stats->unknown = b.unknown();
  }
  return p;
}

bool is_file_mapping(const std::string& path) {
  return !path.empty() && path.front() == '/' && path.rfind("//anon", 0) != 0 &&
         path.rfind("/memfd:", 0) != 0;
}

bool is_jit_region(const std::string& path) {
  return path == "//anon" || path.rfind("[anon", 0) == 0 || path.rfind("/memfd:", 0) == 0;
}

std::string unresolved_reason(const sampling::ProcessTable& processes,
                              const sampling::AddressSpace& space, const sampling::Mapping* m) {
  if (m != nullptr) return fmt::format("anonymous memory, no /tmp/perf-{}.map", space.pid);
  if (processes.exited(space.pid)) return "process gone";
  if (space.mappings.empty()) return "no mappings known for this process";
  return "address outside every mapping";
}

}  // namespace perfscope::recording
