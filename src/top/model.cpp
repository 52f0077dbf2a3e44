#include "top/model.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <linux/perf_event.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

#include "recording/location_table.hpp"
#include "recording/profile_builder.hpp"
#include "symbols/vdso.hpp"

namespace perfscope::top {
namespace {

using recording::is_file_mapping;
using recording::is_jit_region;

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdULL;
}

std::uint64_t pair_key(std::uint32_t key, std::uint32_t pid) {
  return (static_cast<std::uint64_t>(key) << 32) | pid;
}

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

double percent(double part, double whole) {
  return whole > 0 ? 100.0 * part / whole : 0.0;
}

}  // namespace

std::uint64_t resident_bytes() {
  // Read once per collection: the file stays open (one pread, not fopen's open, read and close),
  // and its "size resident ..." pages are parsed in place.
  static const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  if (fd < 0) return 0;
  char text[128];
  const ssize_t n = ::pread(fd, text, sizeof text, 0);
  if (n <= 0) return 0;
  const char* end = text + n;
  const char* at = std::find(static_cast<const char*>(text), end, ' ');
  std::uint64_t resident = 0;
  if (at == end || std::from_chars(at + 1, end, resident).ec != std::errc{}) return 0;
  return resident * page;
}

const char* view_name(View v) {
  switch (v) {
    case View::functions:
      return "functions";
    case View::modules:
      return "modules";
    case View::processes:
      return "processes";
    case View::threads:
      return "threads";
  }
  return "";
}

const char* sort_name(SortKey s) {
  switch (s) {
    case SortKey::self:
      return "self";
    case SortKey::total:
      return "total";
    case SortKey::average:
      return "average";
    case SortKey::name:
      return "name";
  }
  return "";
}

std::optional<View> parse_view(const std::string& text) {
  for (View v : {View::functions, View::modules, View::processes, View::threads}) {
    if (text == view_name(v)) return v;
  }
  return std::nullopt;
}

std::optional<SortKey> parse_sort(const std::string& text) {
  for (SortKey s : {SortKey::self, SortKey::total, SortKey::average, SortKey::name}) {
    if (text == sort_name(s)) return s;
  }
  return std::nullopt;
}

Model::Model(sampling::Collector& collector, const recording::ProfileInfo& info, Limits limits)
    : collector_(collector), info_(info), limits_(limits), symbolizer_(make_symbolizer()) {
  unknown_mod_ = mods_.put("[unknown]");
  no_stack_fn_ = function_key("[no stack]", "[unknown]");
}

Model::~Model() = default;

std::unique_ptr<symbols::Symbolizer> Model::make_symbolizer() const {
  symbols::SymbolizerOptions o;
  o.inline_frames = limits_.inline_frames;
  o.line_numbers = false;  // (a DWARF line table walk per new address, for nothing shown)
  // Nor DWARF names for addresses no symbol covers: opening a file's DWARF decompresses all of
  // it (14 MB and tens of ms for libc6-dbg's libc), a spike in a refresh whenever a new program
  // shows such an address. They show as "module+0xoffset", as in a file without debug info.
  o.dwarf_names = limits_.inline_frames;
  return std::make_unique<symbols::Symbolizer>(std::move(o));
}

std::uint32_t Model::Interned::put(std::string_view s) {
  if (auto it = index.find(s); it != index.end()) return it->second;
  std::uint32_t id;
  if (!free.empty()) {
    id = free.back();
    free.pop_back();
    text[id] = std::string(s);
    live[id] = 1;
  } else {
    id = static_cast<std::uint32_t>(text.size());
    text.emplace_back(s);
    live.push_back(1);
    mark.push_back(0);
  }
  index.emplace(text[id], id);
  return id;
}

std::optional<std::uint32_t> Model::Interned::find(std::string_view s) const {
  if (auto it = index.find(s); it != index.end()) return it->second;
  return std::nullopt;
}

std::size_t Model::Interned::sweep() {
  std::size_t freed = 0;
  for (std::uint32_t id = 0; id < text.size(); ++id) {
    if (live[id] != 0 && mark[id] == 0) {
      index.erase(text[id]);
      std::string().swap(text[id]);
      live[id] = 0;
      free.push_back(id);
      ++freed;
    }
    mark[id] = 0;
  }
  return freed;
}

bool Model::StackRef::operator==(const StackRef& o) const {
  return hash == o.hash && pid == o.pid && tid == o.tid && space == o.space &&
         raw.size() == o.raw.size() &&
         (raw.empty() || std::memcmp(raw.data(), o.raw.data(), raw.size_bytes()) == 0);
}

void Model::FlatIndex::insert(std::uint64_t hash, std::uint32_t index) {
  if ((used_ + 1) * 2 > slots_.size()) {  // at most half full
    std::vector<Slot> old(std::max<std::size_t>(1024, slots_.size() * 2));
    old.swap(slots_);
    used_ = 0;
    for (const Slot& slot : old) {
      if (slot.index != UINT32_MAX) insert(slot.hash, slot.index);
    }
  }
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = static_cast<std::size_t>(hash) & mask;
  while (slots_[i].index != UINT32_MAX) i = (i + 1) & mask;
  slots_[i] = {hash, index};
  ++used_;
}

void Model::FlatIndex::erase(std::uint64_t hash, std::uint32_t index) {
  if (slots_.empty()) return;
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = static_cast<std::size_t>(hash) & mask;
  for (;; i = (i + 1) & mask) {
    if (slots_[i].index == UINT32_MAX) return;  // not there
    if (slots_[i].index == index) break;
  }
  // Backward shift: each later entry of the run that may move to the hole does.
  for (std::size_t j = (i + 1) & mask; slots_[j].index != UINT32_MAX; j = (j + 1) & mask) {
    const std::size_t home = static_cast<std::size_t>(slots_[j].hash) & mask;
    // The entry stays when its home lies cyclically in (i, j].
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i] = slots_[j];
    i = j;
  }
  slots_[i] = Slot{};
  --used_;
}

std::uint32_t Model::function_key(std::string_view function, std::string_view module) {
  scratch_.assign(function);
  scratch_ += '\x1f';
  scratch_ += module;
  return fns_.put(scratch_);
}

std::string_view Model::function_name(std::uint32_t key) const {
  const std::string& t = fns_.text[key];
  return std::string_view(t).substr(0, t.find('\x1f'));
}

std::string_view Model::function_module(std::uint32_t key) const {
  const std::string& t = fns_.text[key];
  const auto sep = t.find('\x1f');
  return sep == std::string::npos ? std::string_view() : std::string_view(t).substr(sep + 1);
}

const std::vector<symbols::Frame>& Model::resolve(std::uint64_t address, bool kernel, bool leaf,
                                                  sampling::AddressSpaceId space_id,
                                                  std::string& module,
                                                  const sampling::Mapping** mapping) {
  // The frames are the symbolizer's own (not copied); a frame made here is in unknown_frames_.
  std::vector<symbols::Frame>& made = unknown_frames_;
  // A return address points after the call; look up the call itself.
  const std::uint64_t lookup = leaf ? address : address - 1;
  *mapping = nullptr;
  if (address == sampling::kStackLost) {
    made = {symbols::Symbolizer::unknown(kernel
                                             ? "kernel stack lost: BPF stack map full or colliding"
                                             : "user stack lost: BPF stack map full or colliding")};
    module = "[unknown]";
    return made;
  }
  if (kernel) {
    const auto& frames = symbolizer_->resolve_kernel(lookup);
    module = frames.empty() ? "[kernel.kallsyms]" : frames.back().module;
    return frames;
  }
  const auto& space = collector_.processes().space(space_id);
  const sampling::Mapping* m = space.find(address);
  const bool vdso = m != nullptr && m->path == "[vdso]" && !symbols::vdso_image_path().empty();
  if (m != nullptr && (is_file_mapping(m->path) || vdso)) {
    *mapping = m;
    module = base_name(m->path);
    symbols::MappedFile file{m->path,     vdso ? symbols::vdso_image_path() : std::string(),
                             m->build_id, m->start,
                             m->end,      m->pgoff};
    const auto& frames = symbolizer_->resolve_user(file, lookup);
    if (frames.size() == 1 && !frames.front().resolved && !frames.front().module.empty()) {
      made = {symbols::Symbolizer::by_address(frames.front(), address - lookup)};
      return made;
    }
    return frames;
  }
  if (m != nullptr && !is_jit_region(m->path)) {  // [vsyscall], ...
    *mapping = m;
    module = base_name(m->path);
    made = {symbols::Symbolizer::unknown(m->path.substr(0, 40), m->path)};
    return made;
  }
  // Anonymous memory or no mapping known: a JIT map is the only hope.
  module = "[unknown]";
  jit_pids_.insert(space.pid);
  const auto& jit = symbolizer_->resolve_jit(space.pid, lookup);
  if (!jit.empty() && jit.front().resolved) return jit;
  made = {
      symbols::Symbolizer::unknown(recording::unresolved_reason(collector_.processes(), space, m))};
  return made;
}

Model::FrameSlot* Model::frame_find(std::uint64_t address, std::uint64_t tag) {
  if (frame_slots_.empty()) return nullptr;
  const std::size_t mask = frame_slots_.size() - 1;
  for (std::size_t i = static_cast<std::size_t>(mix(tag, address)) & mask;; i = (i + 1) & mask) {
    FrameSlot& slot = frame_slots_[i];
    if (slot.loc == UINT32_MAX) return nullptr;
    if (slot.address == address && slot.tag == tag) return &slot;
  }
}

void Model::frame_insert(const FrameSlot& entry) {
  if ((frame_used_ + 1) * 2 > frame_slots_.size()) frame_rebuild();
  const std::size_t mask = frame_slots_.size() - 1;
  std::size_t i = static_cast<std::size_t>(mix(entry.tag, entry.address)) & mask;
  while (frame_slots_[i].loc != UINT32_MAX) i = (i + 1) & mask;
  frame_slots_[i] = entry;
  ++frame_used_;
}

// Keeps the entries that are not stale, in a table a quarter full at most (it is rebuilt at half):
// a stale entry costs memory only until the table next fills.
void Model::frame_rebuild() {
  const auto& table = collector_.processes();
  std::vector<FrameSlot>& kept = frame_kept_;  // (its memory kept: no page faults next time)
  kept.clear();
  for (const FrameSlot& slot : frame_slots_) {
    if (slot.loc == UINT32_MAX || !locs_[slot.loc].live || locs_[slot.loc].epoch != slot.epoch) {
      continue;
    }
    const std::uint64_t generation = slot.tag >> 2;
    if (slot.space != UINT32_MAX &&
        (generation == 0 || table.space(slot.space).generation != generation)) {
      continue;
    }
    kept.push_back(slot);
  }
  std::size_t capacity = 16384;
  while (capacity < 4 * (kept.size() + 1)) capacity *= 2;
  if (capacity == frame_slots_.size()) {
    std::fill(frame_slots_.begin(), frame_slots_.end(), FrameSlot{});
  } else {
    frame_slots_.assign(capacity, FrameSlot{});
  }
  frame_used_ = 0;
  const std::size_t mask = capacity - 1;
  for (const FrameSlot& slot : kept) {
    std::size_t i = static_cast<std::size_t>(mix(slot.tag, slot.address)) & mask;
    while (frame_slots_[i].loc != UINT32_MAX) i = (i + 1) & mask;
    frame_slots_[i] = slot;
    ++frame_used_;
  }
}

std::uint32_t Model::location(std::uint64_t address, bool kernel, bool leaf,
                              sampling::AddressSpaceId space_id) {
  const auto& space = collector_.processes().space(space_id);
  // The fast path: this address of this address space (or of the kernel) seen before.
  const std::uint64_t tag =
      (kernel ? 0 : space.generation << 2) | (kernel ? 2U : 0U) | (leaf ? 1U : 0U);
  FrameSlot* slot = frame_find(address, tag);
  if (slot != nullptr && locs_[slot->loc].live && locs_[slot->loc].epoch == slot->epoch) {
    return slot->loc;
  }
  const std::uint32_t index = new_location(address, kernel, leaf, space_id);
  if (slot != nullptr) {  // a stale entry of the same frame: made current
    slot->loc = index;
    slot->epoch = locs_[index].epoch;
  } else {
    frame_insert({address, tag, kernel ? UINT32_MAX : space_id, index, locs_[index].epoch});
  }
  return index;
}

std::uint32_t Model::new_location(std::uint64_t address, bool kernel, bool leaf,
                                  sampling::AddressSpaceId space_id) {
  // The key: what names the frame, so that every process running a program shares its frames.
  const std::uint64_t lookup = leaf ? address : address - 1;
  const std::uint64_t leaf_bit = leaf ? std::uint64_t{1} << 48 : 0;
  LocKey key;
  std::uint32_t file = UINT32_MAX;
  const auto& space = collector_.processes().space(space_id);
  if (address == sampling::kStackLost) {
    key = {std::uint64_t{4} << 56 | (kernel ? 1 : 0), 0};
  } else if (kernel) {
    key = {std::uint64_t{1} << 56 | leaf_bit, lookup};
  } else if (const sampling::Mapping* m = space.find(address);
             m != nullptr && (is_file_mapping(m->path) || !is_jit_region(m->path))) {
    if (m != file_mapping_) {
      scratch_.assign(m->build_id.empty() || !is_file_mapping(m->path) ? "p:" : "b:");
      scratch_ += m->build_id.empty() || !is_file_mapping(m->path) ? m->path : m->build_id;
      file_of_mapping_ = files_.put(scratch_);
      file_mapping_ = m;
    }
    file = file_of_mapping_;
    key = {std::uint64_t{2} << 56 | leaf_bit | file, lookup - m->start + m->pgoff};
  } else {
    key = {std::uint64_t{3} << 56 | leaf_bit | static_cast<std::uint32_t>(space.pid), lookup};
  }
  const std::uint64_t key_hash = LocKeyHash()(key);
  if (const auto found =
          loc_index_.find(key_hash, [&](std::uint32_t i) { return locs_[i].key == key; });
      found != UINT32_MAX) {
    return found;
  }

  std::string module;
  const sampling::Mapping* mapping = nullptr;
  const auto& frames = resolve(address, kernel, leaf, space_id, module, &mapping);
  std::uint32_t index;
  if (!free_locs_.empty()) {
    index = free_locs_.back();
    free_locs_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(locs_.size());
    locs_.emplace_back();
  }
  Loc& loc = locs_[index];
  ++loc.epoch;
  loc.key = key;
  loc.file = file;
  loc.module = mods_.put(module.empty() ? std::string_view("[unknown]") : module);
  loc.fns.clear();
  loc.fns.reserve(frames.size());
  for (const auto& f : frames) loc.fns.push_back(function_key(f.function, mods_.text[loc.module]));
  loc.live = true;
  loc_index_.insert(key_hash, index);
  return index;
}

void Model::name_process(const Stack& s) {
  // A process that exec()ed is named by its newest address space, whatever space a sample was
  // counted in (in-kernel counts carry only a coarse time, which can place a sample taken after
  // the exec in the forking program's space).
  auto& table = collector_.processes();
  const auto& newest = table.space(table.space_of(static_cast<pid_t>(s.pid), ~std::uint64_t{0}));
  const auto& space = table.space(s.space);
  auto [named, first] = name_space_.try_emplace(s.pid, newest.generation);
  if (first || newest.generation >= named->second) {
    named->second = newest.generation;
    const std::string& comm = !newest.comm.empty() ? newest.comm : space.comm;
    if (!comm.empty() || !process_names_.contains(s.pid)) process_names_[s.pid] = comm;
  }
  thread_names_[s.tid] = std::string(table.thread_comm(
      static_cast<pid_t>(s.tid),
      s.tid == s.pid ? table.space_of(static_cast<pid_t>(s.pid), ~std::uint64_t{0}) : s.space));
  thread_pid_[s.tid] = s.pid;
}

std::uint32_t Model::learn_stack(const StackRef& ref) {
  file_mapping_ = nullptr;
  std::uint32_t index;
  if (!free_stacks_.empty()) {
    index = free_stacks_.back();
    free_stacks_.pop_back();
  } else {
    index = static_cast<std::uint32_t>(stacks_.size());
    stacks_.emplace_back();
  }
  Stack& s = stacks_[index];
  s.hash = ref.hash;
  s.pid = ref.pid;
  s.tid = ref.tid;
  s.space = ref.space;
  s.raw.assign(ref.raw.begin(), ref.raw.end());
  s.keys.clear();
  s.weight = 0;
  s.window_refresh = 0;
  s.live = true;

  // Locations, leaf first; the kernel's PERF_CONTEXT_* markers split kernel from user frames.
  bool kernel = false, leaf = true;
  for (const std::uint64_t address : s.raw) {
    if (address != sampling::kStackLost &&
        address >= static_cast<std::uint64_t>(PERF_CONTEXT_MAX)) {
      kernel = address == static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL);
      continue;
    }
    const std::uint32_t loc = location(address, kernel, leaf, s.space);
    stacks_[index].keys.push_back(loc);  // (location() may not move stacks_, but be plain)
    leaf = false;
  }
  Stack& t = stacks_[index];
  t.n_locs = static_cast<std::uint32_t>(t.keys.size());
  for (std::uint32_t i = 0; i < t.n_locs; ++i) {
    for (const auto fn : locs_[t.keys[i]].fns) t.keys.push_back(fn);
  }
  if (t.keys.size() == t.n_locs) t.keys.push_back(no_stack_fn_);  // one frame that says so
  t.n_seq = static_cast<std::uint32_t>(t.keys.size() - t.n_locs);
  // Distinct functions and modules in one pass: a key is taken when its stamp is not this stack's.
  if (++stamp_ == 0) {
    std::fill(fn_stamp_.begin(), fn_stamp_.end(), 0);
    std::fill(mod_stamp_.begin(), mod_stamp_.end(), 0);
    stamp_ = 1;
  }
  if (fn_stamp_.size() < fns_.text.size()) fn_stamp_.resize(fns_.text.size() * 2);
  if (mod_stamp_.size() < mods_.text.size()) mod_stamp_.resize(mods_.text.size() * 2);
  t.keys.reserve(t.keys.size() + t.n_seq + t.n_locs);
  const std::size_t fn_start = t.keys.size();
  for (std::uint32_t i = 0; i < t.n_seq; ++i) {
    const std::uint32_t fn = t.keys[t.n_locs + i];
    if (fn_stamp_[fn] != stamp_) {
      fn_stamp_[fn] = stamp_;
      t.keys.push_back(fn);
    }
  }
  t.n_fns = static_cast<std::uint32_t>(t.keys.size() - fn_start);
  const std::size_t mod_start = t.keys.size();
  for (std::uint32_t i = 0; i < t.n_locs; ++i) {
    const std::uint32_t mod = locs_[t.keys[i]].module;
    if (mod_stamp_[mod] != stamp_) {
      mod_stamp_[mod] = stamp_;
      t.keys.push_back(mod);
    }
  }
  if (t.keys.size() == mod_start) t.keys.push_back(unknown_mod_);
  t.n_mods = static_cast<std::uint32_t>(t.keys.size() - mod_start);
  t.keys.shrink_to_fit();
  name_process(t);
  stack_index_.insert(t.hash, index);
  return index;
}

std::uint32_t Model::stack_of(const sampling::StackKey& key, std::span<const std::uint64_t> raw) {
  std::uint64_t h = mix(0, (std::uint64_t{key.pid} << 32) | key.tid);
  h = mix(h, key.space);
  for (const auto a : raw) h = mix(h, a);
  const StackRef ref{h ^ (h >> 29), key.pid, key.tid, key.space, raw};
  if (const auto found =
          stack_index_.find(ref.hash,
                            [&](std::uint32_t i) {
                              const Stack& s = stacks_[i];
                              return ref == StackRef{s.hash, s.pid, s.tid, s.space, s.raw};
                            });
      found != UINT32_MAX) {
    return found;
  }
  return learn_stack(ref);
}

// Decay is a scale: stored values are samples / scale_, so a refresh multiplies scale_ alone and
// the averages' ratios need no scaling; values are brought back to scale 1 before it underflows.
void Model::decay(double factor) {
  scale_ *= factor;
  if (scale_ > 1e-100) return;
  const auto rescale = [this](auto& map) {
    for (auto& kv : map) kv.second *= scale_;
  };
  rescale(avg_fn_self_);
  rescale(avg_mod_self_);
  rescale(avg_thread_);
  rescale(avg_pid_);
  for (Stack& st : stacks_) st.weight *= scale_;
  scale_ = 1;
}

void Model::prune() {
  const double below = kPrune / scale_;
  const auto shrink = [below](auto& map) {
    std::erase_if(map, [below](const auto& kv) { return kv.second < below; });
  };
  shrink(avg_fn_self_);
  shrink(avg_mod_self_);
  shrink(avg_thread_);
  shrink(avg_pid_);
}

void Model::refresh(double interval_s) {
  ++refreshes_;
  interval_s_ = interval_s;
  window_.clear();
  const auto& aggregated = collector_.stacks();
  for (const auto& e : aggregated.entries()) {
    if (e.count == 0 || e.key.state != 0) continue;
    const std::uint32_t index = stack_of(e.key, aggregated.stack(e));
    Stack& s = stacks_[index];
    if (s.window_refresh != refreshes_) {
      s.window_refresh = refreshes_;
      s.window_pos = static_cast<std::uint32_t>(window_.size());
      window_.push_back({index, 0, 0});
    }
    window_[s.window_pos].count += e.count;
    window_[s.window_pos].period += e.period;
  }
  collector_.clear_stacks();

  decay(std::pow(0.5, interval_s / limits_.half_life_s));
  for (const Delta& d : window_) {
    Stack& s = stacks_[d.stack];
    const auto c = static_cast<double>(d.count) / scale_;
    s.weight += c;
    avg_pid_[s.pid] += c;
    avg_thread_[pair_key(s.tid, s.pid)] += c;
    avg_fn_self_[pair_key(s.leaf(), s.pid)] += c;
    avg_mod_self_[pair_key(s.leaf_module(), s.pid)] += c;
  }
  sweep();
}

void Model::free_stack(std::uint32_t index) {
  Stack& s = stacks_[index];
  stack_index_.erase(s.hash, index);
  std::vector<std::uint64_t>().swap(s.raw);
  std::vector<std::uint32_t>().swap(s.keys);
  s.live = false;
  free_stacks_.push_back(index);
  ++stacks_evicted_;
}

void Model::sweep() {
  // Stacks: the faded ones, then the lightest beyond the cap; the window's stay. A stack only
  // saves symbolizing it again (the averages are kept per function, module and thread), so it
  // goes once its weight falls below kStackPrune samples.
  std::size_t live = 0;
  const double below = kStackPrune / scale_;
  for (std::uint32_t i = 0; i < stacks_.size(); ++i) {
    Stack& s = stacks_[i];
    if (!s.live) continue;
    if (s.window_refresh != refreshes_ && s.weight < below) {
      free_stack(i);
    } else {
      ++live;
    }
  }
  if (live > limits_.max_stacks) {
    std::vector<std::pair<double, std::uint32_t>> light;
    for (std::uint32_t i = 0; i < stacks_.size(); ++i) {
      if (stacks_[i].live && stacks_[i].window_refresh != refreshes_) {
        light.emplace_back(stacks_[i].weight, i);
      }
    }
    const std::size_t excess = std::min(live - limits_.max_stacks, light.size());
    std::nth_element(light.begin(), light.begin() + static_cast<std::ptrdiff_t>(excess),
                     light.end());
    for (std::size_t i = 0; i < excess; ++i) free_stack(light[i].second);
  }
  while (!stacks_.empty() && !stacks_.back().live) {  // a free tail gives its memory back
    stacks_.pop_back();
    std::erase(free_stacks_, static_cast<std::uint32_t>(stacks_.size()));
  }

  // What the kept stacks and averages refer to stays; the rest goes: a mark and sweep, about
  // once a second of windows (every refresh at -d 1).
  collect_s_ += interval_s_;
  if (collect_s_ < 1.0) return;
  collect_s_ = 0;
  prune();
  // The pids and tids referred to, as bitmaps (ids are below the kernel's pid_max).
  struct Ids {
    std::vector<std::uint64_t> bits;
    void set(std::uint32_t id) {
      if (id / 64 >= bits.size()) bits.resize(id / 64 + 1024);
      bits[id / 64] |= std::uint64_t{1} << (id % 64);
    }
    bool has(std::uint32_t id) const {
      return id / 64 < bits.size() && (bits[id / 64] >> (id % 64) & 1) != 0;
    }
  } pids, tids;
  for (const Stack& s : stacks_) {
    if (!s.live) continue;
    for (const auto loc : s.locs()) locs_[loc].mark = true;
    pids.set(s.pid);
    tids.set(s.tid);
  }
  // A kept location keeps its functions, module and file.
  for (auto& loc : locs_) {
    if (!loc.live) continue;
    if (!loc.mark) {
      loc_index_.erase(LocKeyHash()(loc.key), static_cast<std::uint32_t>(&loc - locs_.data()));
      loc.live = false;
      std::vector<std::uint32_t>().swap(loc.fns);
      free_locs_.push_back(static_cast<std::uint32_t>(&loc - locs_.data()));
      continue;
    }
    loc.mark = false;
    for (const auto fn : loc.fns) fns_.mark[fn] = 1;
    mods_.mark[loc.module] = 1;
    if (loc.file != UINT32_MAX) files_.mark[loc.file] = 1;
  }
  const auto mark_keys = [&](const std::unordered_map<std::uint64_t, double>& m, Interned& names) {
    for (const auto& [k, v] : m) {
      names.mark[static_cast<std::uint32_t>(k >> 32)] = 1;
      pids.set(static_cast<std::uint32_t>(k));
    }
  };
  mark_keys(avg_fn_self_, fns_);
  mark_keys(avg_mod_self_, mods_);
  for (const auto& [k, v] : avg_thread_) {
    tids.set(static_cast<std::uint32_t>(k >> 32));
    pids.set(static_cast<std::uint32_t>(k));
  }
  for (const auto& [pid, v] : avg_pid_) pids.set(pid);
  const auto referred = [](const Ids& ids, std::uint32_t id) { return ids.has(id); };
  fns_.mark[no_stack_fn_] = 1;
  mods_.mark[unknown_mod_] = 1;
  // A function's module is a module key too (its name is in the function's key).
  fns_.sweep();
  mods_.sweep();
  files_.sweep();

  std::erase_if(process_names_, [&](const auto& kv) { return !referred(pids, kv.first); });
  std::erase_if(name_space_, [&](const auto& kv) { return !referred(pids, kv.first); });
  std::erase_if(thread_names_, [&](const auto& kv) { return !referred(tids, kv.first); });
  std::erase_if(thread_pid_, [&](const auto& kv) { return !referred(tids, kv.first); });
  // Exited processes nothing refers to leave the process table one refresh later (a sample
  // counted just before the exit may still come with the next drain).
  std::unordered_set<std::uint32_t> doomed;
  for (const pid_t pid : collector_.processes().exited_processes()) {
    const auto p = static_cast<std::uint32_t>(pid);
    if (referred(pids, p)) continue;
    if (doomed_.contains(p)) {
      collector_.processes().forget(pid);
      ++processes_forgotten_;
    } else {
      doomed.insert(p);
    }
  }
  doomed_ = std::move(doomed);

  // The symbolizer's caches only grow: past a fixed size, a fresh one (what the view holds is
  // already named; only new frames go to it).
  const auto st = symbolizer_->stats();
  const std::size_t cached = st.addresses_resolved + st.addresses_unknown;
  rss_ = resident_bytes();
  const bool over = rss_ > limits_.memory_bytes;
  if (over) {
    ++over_budget_;
    // The frame table at the size of what is kept now (it otherwise keeps its largest size).
    frame_rebuild();
    std::vector<FrameSlot>().swap(frame_kept_);
  }
  if (cached > limits_.symbolizer_addresses ||
      st.modules_loaded + st.modules_failed > limits_.symbolizer_files ||
      jit_pids_.size() > limits_.symbolizer_files || (over && cached > 0)) {
    symbolizer_ = make_symbolizer();
    jit_pids_.clear();
    ++symbolizer_restarts_;
    ::malloc_trim(0);  // the freed caches back to the system, not only to malloc's free lists
    free_at_trim_ = ::mallinfo2().fordblks;  // (so the check below does not trim again)
  } else if (over) {
    // Still too big with a fresh symbolizer: the stacks outside the window go (their locations
    // and names at the next collection).
    for (std::uint32_t i = 0; i < stacks_.size(); ++i) {
      if (stacks_[i].live && stacks_[i].window_refresh != refreshes_) free_stack(i);
    }
  }

  // Memory malloc keeps free is still resident, and resident memory costs CPU at every wake-up,
  // not only RAM: on a VM with shadow page tables (the 6.18 "fc" VM), one sleep and wake-up
  // of a process took about 10 us per resident MB (a test program: 80 us at 1 MB, 500 us at
  // 40 MB, 2.1 ms at 200 MB; the same 200 MB mapped but untouched, or given back with
  // MADV_DONTNEED: 80 us). Start-up leaves about 12 MB free (kallsyms and /proc read once),
  // which was a third of top's resident memory; it goes back at the first refresh, and later
  // whatever passes kTrimAbove (malloc_trim gives back free pages anywhere in the heap, not only
  // at its end, as free() does). malloc still counts the pages it gave back as free, so what
  // is measured is the free memory added since the last trim.
  const std::size_t free_now = ::mallinfo2().fordblks;
  free_at_trim_ = std::min(free_at_trim_, free_now);  // reused since: counts again when freed
  if (free_now > free_at_trim_ + kTrimAbove) {
    ::malloc_trim(0);
    ++trims_;
    free_at_trim_ = ::mallinfo2().fordblks;
    rss_ = resident_bytes();
  }
}

Footprint Model::footprint() const {
  Footprint f;
  f.stacks = stack_index_.size();
  f.locations = loc_index_.size();
  f.functions = fns_.size();
  f.modules = mods_.size();
  f.files = files_.size();
  f.processes = process_names_.size();
  f.threads = thread_names_.size();
  f.table_processes = collector_.processes().processes_known();
  f.table_spaces = collector_.processes().spaces_live();
  f.table_threads = collector_.processes().threads_named();
  const auto st = symbolizer_->stats();
  f.symbolizer_addresses = st.addresses_resolved + st.addresses_unknown;
  f.symbolizer_restarts = symbolizer_restarts_;
  f.stacks_evicted = stacks_evicted_;
  f.processes_forgotten = processes_forgotten_;
  f.over_budget = over_budget_;
  f.heap_trims = trims_;
  return f;
}

std::uint64_t Model::window_samples(std::int64_t zoom_pid) const {
  std::uint64_t n = 0;
  for (const Delta& d : window_) {
    if (zoom_pid < 0 || stacks_[d.stack].pid == zoom_pid) n += d.count;
  }
  return n;
}

std::string Model::process_name(std::int64_t pid) const {
  auto it = process_names_.find(static_cast<std::uint32_t>(pid));
  return fmt::format("{}[{}]", it == process_names_.end() ? "" : it->second, pid);
}

std::vector<Row> Model::rows(const Query& q) const {
  const bool functions = q.view == View::functions;
  const bool modules = q.view == View::modules;
  const bool dense = functions || modules;  // keys are interned ids: arrays, not hash maps
  const auto wanted = [&](std::uint32_t pid) { return q.zoom_pid < 0 || pid == q.zoom_pid; };

  double avg_total = 0;
  for (const auto& [pid, v] : avg_pid_) {
    if (wanted(pid)) avg_total += v;
  }
  const double window_total = static_cast<double>(window_samples(q.zoom_pid));

  // Per row key: window self and total, the decayed self, and the process with the most of its
  // window samples (or of its decayed ones, for a key absent from the window).
  std::unordered_map<std::uint32_t, Acc> sparse;  // processes and threads
  auto& touched = touched_scratch_;               // the dense keys met
  touched.clear();
  if (dense) {
    const std::size_t n = functions ? fns_.text.size() : mods_.text.size();
    if (acc_scratch_.size() < n) acc_scratch_.resize(n);
  }
  const auto acc_of = [&](std::uint32_t key) -> Acc& {
    if (!dense) return sparse[key];
    Acc& a = acc_scratch_[key];
    if (!a.touched) {
      a.touched = true;
      touched.push_back(key);
    }
    return a;
  };
  // The keys whose TOTAL% a window stack adds to in this view.
  const auto for_total_keys = [&](const Stack& e, auto&& add) {
    if (functions) {
      for (const auto fn : e.fns()) add(fn);
    } else if (modules) {
      for (const auto mod : e.mods()) add(mod);
    } else {
      add(q.view == View::processes ? e.pid : e.tid);
    }
  };
  for (const Delta& d : window_) {
    const Stack& e = stacks_[d.stack];
    if (!wanted(e.pid)) continue;
    acc_of(functions                   ? e.leaf()
           : modules                   ? e.leaf_module()
           : q.view == View::processes ? e.pid
                                       : e.tid)
        .self += d.count;
    for_total_keys(e, [&](std::uint32_t key) {
      Acc& a = acc_of(key);
      a.total += d.count;
      a.windowed = true;
    });
  }
  // Keys seen in the average but not in this window still have a row (sorting by average); their
  // process is the one with most of the decayed samples.
  if (q.view == View::processes) {
    for (const auto& [pid, v] : avg_pid_) {
      if (wanted(pid)) acc_of(pid).average += v;
    }
  } else {
    const auto& decayed = functions ? avg_fn_self_ : modules ? avg_mod_self_ : avg_thread_;
    for (const auto& [k, v] : decayed) {
      const auto pid = static_cast<std::uint32_t>(k);
      if (!wanted(pid)) continue;
      Acc& a = acc_of(static_cast<std::uint32_t>(k >> 32));
      a.average += v;
      if (!a.windowed && (v > a.top || (v == a.top && pid < a.top_pid))) {
        a.top = v;
        a.top_pid = pid;
      }
    }
  }
  auto& ranked = ranked_scratch_;  // (its memory kept between calls: no page faults)
  ranked.clear();
  if (dense) {
    ranked.reserve(touched.size());
    for (const auto key : touched) {
      ranked.emplace_back(key, acc_scratch_[key]);
      acc_scratch_[key] = Acc{};
    }
  } else {
    ranked.reserve(sparse.size());
    for (const auto& kv : sparse) ranked.emplace_back(kv);
  }

  // The order first on plain numbers; Rows (with their strings) for the rows shown only.
  if (q.sort != SortKey::name) {
    const auto before = [&](const std::pair<std::uint32_t, Acc>& x,
                            const std::pair<std::uint32_t, Acc>& y) {
      const Acc& a = x.second;
      const Acc& b = y.second;
      switch (q.sort) {
        case SortKey::self:
          if (a.self != b.self) return a.self > b.self;
          if (a.total != b.total) return a.total > b.total;
          break;
        case SortKey::total:
          if (a.total != b.total) return a.total > b.total;
          if (a.self != b.self) return a.self > b.self;
          break;
        case SortKey::average:
          if (a.average != b.average) return a.average > b.average;
          break;
        case SortKey::name:
          break;
      }
      return x.first < y.first;
    };
    if (q.limit > 0 && ranked.size() > q.limit) {
      std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(q.limit),
                        ranked.end(), before);
      ranked.resize(q.limit);
    } else {
      std::sort(ranked.begin(), ranked.end(), before);
    }
  }

  // The process with most of a windowed row's window samples (the lowest pid on a tie): one
  // pass over the window for the rows kept.
  if (q.view != View::processes) {
    std::unordered_map<std::uint32_t, std::int32_t> sparse_row;
    if (dense && shown_scratch_.size() < acc_scratch_.size()) {
      shown_scratch_.resize(acc_scratch_.size(), -1);
    }
    const auto row_of = [&](std::uint32_t key) -> std::int32_t {
      if (dense) return shown_scratch_[key];
      auto it = sparse_row.find(key);
      return it == sparse_row.end() ? -1 : it->second;
    };
    bool any = false;
    for (std::size_t i = 0; i < ranked.size(); ++i) {
      if (!ranked[i].second.windowed) continue;
      any = true;
      if (dense) {
        shown_scratch_[ranked[i].first] = static_cast<std::int32_t>(i);
      } else {
        sparse_row[ranked[i].first] = static_cast<std::int32_t>(i);
      }
    }
    if (any) {
      std::unordered_map<std::uint64_t, double> by_pid;  // (row, pid) -> window samples
      for (const Delta& d : window_) {
        const Stack& e = stacks_[d.stack];
        if (!wanted(e.pid)) continue;
        for_total_keys(e, [&](std::uint32_t key) {
          const std::int32_t row = row_of(key);
          if (row >= 0) {
            by_pid[pair_key(static_cast<std::uint32_t>(row), e.pid)] +=
                static_cast<double>(d.count);
          }
        });
      }
      for (const auto& [k, n] : by_pid) {
        Acc& a = ranked[k >> 32].second;
        const auto pid = static_cast<std::uint32_t>(k);
        if (n > a.top || (n == a.top && pid < a.top_pid)) {
          a.top = n;
          a.top_pid = pid;
        }
      }
      if (dense) {
        for (const auto& [key, a] : ranked) shown_scratch_[key] = -1;
      }
    }
  }

  std::vector<Row> rows;
  rows.reserve(ranked.size());
  for (const auto& [key, a] : ranked) {
    Row r;
    r.id = static_cast<std::uint64_t>(key) + 1;
    r.self_samples = a.self;
    r.total_samples = a.total;
    r.self = percent(static_cast<double>(a.self), window_total);
    r.total = percent(static_cast<double>(a.total), window_total);
    r.average = percent(a.average, avg_total);
    r.pid = q.view == View::processes ? key : a.top_pid;
    rows.push_back(std::move(r));
  }
  // Names are filled in for the rows shown only (all of them to sort by name).
  const auto name = [&](Row& r) {
    const auto key = static_cast<std::uint32_t>(r.id - 1);
    r.process = process_name(r.pid);
    switch (q.view) {
      case View::functions:
        r.name = function_name(key);
        r.module = function_module(key);
        break;
      case View::modules:
        r.name = mods_.text[key];
        break;
      case View::processes: {
        auto it = process_names_.find(key);
        r.name = it == process_names_.end() ? "" : it->second;
        r.pid = key;
        r.exited = collector_.processes().exited(static_cast<pid_t>(key));
        break;
      }
      case View::threads: {
        auto it = thread_names_.find(key);
        r.name = it == thread_names_.end() ? "" : it->second;
        r.tid = key;
        if (auto p = thread_pid_.find(key); p != thread_pid_.end()) r.pid = p->second;
        r.process = process_name(r.pid);
        r.exited = collector_.processes().exited(static_cast<pid_t>(r.pid));
        break;
      }
    }
  };
  if (q.sort == SortKey::name) {
    for (Row& r : rows) name(r);
  }
  const auto by = [](const Row& a, const Row& b) {
    if (a.name != b.name) return a.name < b.name;
    return a.id < b.id;
  };
  if (q.sort == SortKey::name) {
    if (q.limit > 0 && rows.size() > q.limit) {
      std::partial_sort(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(q.limit),
                        rows.end(), by);
      rows.resize(q.limit);
    } else {
      std::sort(rows.begin(), rows.end(), by);
    }
  }
  if (q.sort != SortKey::name) {
    for (Row& r : rows) name(r);
  }

  if (functions && q.expanded != 0) {
    auto row =
        std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.id == q.expanded; });
    if (row != rows.end()) {
      const auto fn = static_cast<std::uint32_t>(q.expanded - 1);
      std::unordered_map<std::uint32_t, std::uint64_t> callers;  // key ~0u: none (outermost)
      for (const Delta& d : window_) {
        const Stack& e = stacks_[d.stack];
        if (!wanted(e.pid)) continue;
        const auto seq = e.seq();
        auto at = std::find(seq.begin(), seq.end(), fn);
        if (at == seq.end()) continue;
        while (at != seq.end() && *at == fn) ++at;  // recursion: the first other function up
        callers[at == seq.end() ? ~0u : *at] += d.count;
      }
      for (const auto& [caller, n] : callers) {
        row->callers.push_back(
            {caller == ~0u ? std::string("(no caller: outermost frame)")
                           : std::string(function_name(caller)),
             percent(static_cast<double>(n), static_cast<double>(row->total_samples)), n});
      }
      std::sort(row->callers.begin(), row->callers.end(), [](const Caller& a, const Caller& b) {
        return a.samples != b.samples ? a.samples > b.samples : a.name < b.name;
      });
      if (row->callers.size() > 8) row->callers.resize(8);
    }
  }
  return rows;
}

profile::Profile Model::window_profile(std::int64_t zoom_pid) {
  profile::Profile p;
  p.sample_types.push_back({p.intern("samples"), p.intern("count")});
  if (info_.time_based) {
    p.sample_types.push_back({p.intern("cpu"), p.intern("nanoseconds")});
    p.period = info_.frequency > 0 ? static_cast<std::int64_t>(1'000'000'000 / info_.frequency)
                                   : static_cast<std::int64_t>(info_.period);
  } else {
    p.sample_types.push_back({p.intern(info_.event), p.intern("count")});
    p.period = static_cast<std::int64_t>(info_.period);
  }
  p.period_type = p.sample_types.back();
  p.default_sample_type = p.sample_types.front().type;
  for (const auto& c : info_.comments) p.add_comment(c);
  const auto k_pid = p.intern("pid"), k_tid = p.intern("tid"), k_comm = p.intern("comm");

  // Every frame of the window's stacks, symbolized in full: inline frames and line numbers, as a
  // recording has them, by a symbolizer of this call's own (the view's has neither).
  auto view_symbolizer = std::exchange(symbolizer_, std::make_unique<symbols::Symbolizer>());
  recording::LocationTable table(p);
  std::string module;
  for (const Delta& d : window_) {
    const Stack& s = stacks_[d.stack];
    if (zoom_pid >= 0 && s.pid != zoom_pid) continue;
    profile::Sample sample;
    bool kernel = false, leaf = true;
    for (const std::uint64_t address : s.raw) {
      if (address != sampling::kStackLost &&
          address >= static_cast<std::uint64_t>(PERF_CONTEXT_MAX)) {
        kernel = address == static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL);
        continue;
      }
      const sampling::Mapping* m = nullptr;
      const auto& frames = resolve(address, kernel, leaf, s.space, module, &m);
      std::uint64_t mapping = 0;
      std::uint32_t tag = 0;
      if (kernel && address != sampling::kStackLost) {
        mapping = table.kernel_mapping(module);
      } else if (m != nullptr) {
        mapping = table.file_mapping(m->path, m->build_id, m->start, m->end, m->pgoff);
      } else {
        tag = address == sampling::kStackLost ? (kernel ? 0xffffffffu : 0xfffffffeu) : s.space + 1;
      }
      sample.location_ids.push_back(table.add(mapping, address, frames, tag));
      leaf = false;
    }
    sample.values = {static_cast<std::int64_t>(d.count), static_cast<std::int64_t>(d.period)};
    sample.labels = {
        {k_pid, 0, s.pid, k_pid},
        {k_tid, 0, s.tid, k_tid},
        {k_comm, p.intern(collector_.processes().thread_comm(static_cast<pid_t>(s.tid), s.space)),
         0, 0},
    };
    p.add_sample(std::move(sample));
  }
  symbolizer_ = std::move(view_symbolizer);
  p.time_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count() -
                 static_cast<std::int64_t>(interval_s_ * 1e9);
  p.duration_nanos = static_cast<std::int64_t>(interval_s_ * 1e9);
  p.add_comment(fmt::format(
      "perfscope: top window of {:.2f} s (refresh {}){}", interval_s_, refreshes_,
      zoom_pid >= 0 ? fmt::format(", process {}", process_name(zoom_pid)) : std::string()));
  return p;
}

}  // namespace perfscope::top
