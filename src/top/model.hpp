// top::Model: the numbers behind `perfscope top`'s views. At every refresh it takes the stack
// entries the collector aggregated since the last one (the eBPF maps or the rings, drained by the
// Recorder) and empties the collector, so the window is what it took; it keeps:
// - stacks: each distinct (pid, tid, address space, raw stack) once, with its frames' locations,
//   function and module keys and a decayed weight; a stack seen again costs one hash lookup;
// - locations: each frame's names, keyed by what names it rather than by process: a user frame by
//   (build-id or path, file offset), a kernel frame by address, so a program's frames are
//   symbolized once however many processes run it (PIE load addresses differ);
// - a decaying average (half-life Limits::half_life_s) per (key, process), so a zoom into one
//   process shows that process's own average at once;
// - process and thread names, kept after a process exits while anything shown refers to it.
// Memory is bounded by what the view can show: after each refresh a stack whose decayed weight
// fell below kStackPrune samples (and that is not in the window) is forgotten, as are locations,
// functions, modules and processes nothing kept refers to any more; exited processes leave the
// collector's process table one refresh after that. Limits::max_stacks caps the stacks kept (the
// lightest go first) and the symbolizer is started afresh when its caches pass a fixed size.
// Single-threaded: refresh() and rows() run on the thread that drives the Recorder.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "profile/profile.hpp"
#include "recording/profile_builder.hpp"
#include "sampling/collector.hpp"
#include "symbols/symbolizer.hpp"

namespace perfscope::top {

enum class View { functions, modules, processes, threads };
enum class SortKey { self, total, average, name };

const char* view_name(View v);
const char* sort_name(SortKey s);
std::optional<View> parse_view(const std::string& text);
std::optional<SortKey> parse_sort(const std::string& text);

inline constexpr double kHalfLifeSeconds = 5.0;
// Decayed counts below this many samples are forgotten; a stack (which only saves symbolizing it
// again) below kStackPrune: one sample unseen for two half-lives.
inline constexpr double kPrune = 0.01;
inline constexpr double kStackPrune = 0.25;
// Free heap memory past which a collection gives it back to the system (see Model::sweep).
inline constexpr std::size_t kTrimAbove = std::size_t{2} << 20;

struct Limits {
  double half_life_s = kHalfLifeSeconds;  // of the AVG% column, and so of what is kept
  std::size_t max_stacks = 200000;        // stacks kept at most (the window's are always kept)
  // The symbolizer is replaced by a fresh one once it has cached this many addresses or opened
  // this many files (its caches are never trimmed otherwise).
  std::size_t symbolizer_addresses = 250000;
  std::size_t symbolizer_files = 2000;
  // Resident memory past which the symbolizer is replaced (a program with full debug info can
  // cost hundreds of MB of parsed DWARF), and then the stacks outside the window forgotten.
  std::uint64_t memory_bytes = std::uint64_t{512} << 20;
  // Inline frames (DWARF) in the view; off: one frame per symbol, as perf top shows them. The
  // view never needs line numbers; a saved window has them (and inline frames) either way.
  bool inline_frames = false;
};

// This process's resident memory in bytes (/proc/self/statm), or 0.
std::uint64_t resident_bytes();

// What the model holds, for --json's "memory" (and a test that it stays bounded).
struct Footprint {
  std::size_t stacks = 0, locations = 0, functions = 0, modules = 0, files = 0;
  std::size_t processes = 0, threads = 0;                     // named by the model
  std::size_t table_processes = 0;                            // the collector's process table
  std::size_t table_spaces = 0;                               // its live address spaces
  std::size_t table_threads = 0;                              // its named threads
  std::size_t symbolizer_addresses = 0;                       // cached by the current symbolizer
  std::uint64_t symbolizer_restarts = 0;                      // fresh symbolizers so far
  std::uint64_t stacks_evicted = 0, processes_forgotten = 0;  // in the whole run
  std::uint64_t over_budget = 0;  // collections that found the resident size past the limit
  std::uint64_t heap_trims = 0;   // collections that gave free heap back (malloc_trim)
};

struct Caller {
  std::string name;  // the calling function
  double share = 0;  // percent of the function's window samples that came through it
  std::uint64_t samples = 0;
};

struct Row {
  std::uint64_t id = 0;  // stable across refreshes within a view (function, module, pid, tid)
  std::string name;      // function, module, process or thread name
  std::string module;    // functions: the module's file name
  std::string process;   // "comm[pid]": the process with most of the row's samples
  std::int64_t pid = -1;
  std::int64_t tid = -1;  // threads
  bool exited = false;    // processes and threads: the process has exited
  std::uint64_t self_samples = 0, total_samples = 0;  // in the window
  double self = 0, total = 0, average = 0;            // percent (average: of the decayed total)
  std::vector<Caller> callers;                        // the expanded function's callers
};

struct Query {
  View view = View::functions;
  SortKey sort = SortKey::self;
  std::int64_t zoom_pid = -1;  // only this process, or -1
  std::uint64_t expanded = 0;  // functions: the row id whose callers are listed, or 0
  std::size_t limit = 0;       // rows at most, 0: all
};

class Model {
 public:
  Model(sampling::Collector& collector, const recording::ProfileInfo& info, Limits limits = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Takes what the collector aggregated since the last refresh (and empties it): `interval_s` is
  // the time it covers. Then forgets what nothing shown needs any more.
  void refresh(double interval_s);

  std::vector<Row> rows(const Query& q) const;
  // Samples in the window (of the zoomed process alone when zoom_pid >= 0).
  std::uint64_t window_samples(std::int64_t zoom_pid = -1) const;
  std::uint64_t refreshes() const { return refreshes_; }
  double interval_s() const { return interval_s_; }
  const Limits& limits() const { return limits_; }
  Footprint footprint() const;
  // Resident memory as the last collection measured it (read now before the first one): the
  // status line shows it without reading /proc a second time each refresh.
  std::uint64_t resident() const { return rss_ != 0 ? rss_ : resident_bytes(); }
  // "comm[pid]" of a process seen so far, or "[pid]".
  std::string process_name(std::int64_t pid) const;
  // The window as a pprof profile (of the zoomed process alone when zoom_pid >= 0).
  profile::Profile window_profile(std::int64_t zoom_pid = -1);

 private:
  // Interned strings with ids that stay put while the string lives; freed ids are reused.
  struct Interned {
    struct Hash {
      using is_transparent = void;
      std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
    };
    std::vector<std::string> text;
    std::vector<std::uint8_t> live, mark;
    std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> index;
    std::vector<std::uint32_t> free;
    std::uint32_t put(std::string_view s);
    std::optional<std::uint32_t> find(std::string_view s) const;
    std::size_t sweep();  // frees every live id not marked; clears the marks
    std::size_t size() const { return index.size(); }
  };
  struct LocKey {
    std::uint64_t a = 0, b = 0;  // kind and file / pid; offset or address
    bool operator==(const LocKey&) const = default;
  };
  struct LocKeyHash {
    std::size_t operator()(const LocKey& k) const {
      const std::uint64_t h = (k.b ^ (k.a * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
      return static_cast<std::size_t>(h ^ (h >> 29));
    }
  };
  struct Loc {
    LocKey key;
    std::uint32_t module = 0;
    std::uint32_t file = UINT32_MAX;  // files_ id of a user frame's file
    std::vector<std::uint32_t> fns;   // function keys, innermost inline frame first
    std::uint32_t epoch = 0;          // grows each time the slot is reused
    bool live = false, mark = false;
  };
  // A stack as the view needs it. keys: its locations, then its function keys leaf first
  // (inline frames too), then its distinct function keys, then its distinct module keys.
  struct Stack {
    std::uint64_t hash = 0;
    std::uint32_t pid = 0, tid = 0, space = 0;
    std::vector<std::uint64_t> raw;  // as the collector had it, leaf first with context markers
    std::vector<std::uint32_t> keys;
    std::uint32_t n_locs = 0, n_seq = 0, n_fns = 0, n_mods = 0;
    double weight = 0;                 // decayed samples
    std::uint64_t window_refresh = 0;  // the refresh whose window holds it
    std::uint32_t window_pos = 0;      // its Delta in window_ then
    bool live = false;
    std::span<const std::uint32_t> locs() const { return {keys.data(), n_locs}; }
    std::span<const std::uint32_t> seq() const { return {keys.data() + n_locs, n_seq}; }
    std::span<const std::uint32_t> fns() const { return {keys.data() + n_locs + n_seq, n_fns}; }
    std::span<const std::uint32_t> mods() const {
      return {keys.data() + n_locs + n_seq + n_fns, n_mods};
    }
    std::uint32_t leaf() const { return keys[n_locs]; }
    std::uint32_t leaf_module() const { return keys[n_locs + n_seq + n_fns]; }
  };
  struct StackRef {  // a stack being looked up, or one kept (raw points into Stack::raw)
    std::uint64_t hash;
    std::uint32_t pid, tid, space;
    std::span<const std::uint64_t> raw;
    bool operator==(const StackRef& o) const;
  };
  struct Delta {
    std::uint32_t stack = 0;
    std::uint64_t count = 0, period = 0;
  };

  std::uint32_t stack_of(const sampling::StackKey& key, std::span<const std::uint64_t> raw);
  std::uint32_t learn_stack(const StackRef& ref);
  std::uint32_t location(std::uint64_t address, bool kernel, bool leaf,
                         sampling::AddressSpaceId space);
  std::uint32_t new_location(std::uint64_t address, bool kernel, bool leaf,
                             sampling::AddressSpaceId space);
  // The frames of one address and the module the view names them by (a file's base name,
  // "[kernel.kallsyms]", "[unknown]"); for a user file mapping also its mapping.
  // The frames stay valid until the next call or the symbolizer's replacement.
  const std::vector<symbols::Frame>& resolve(std::uint64_t address, bool kernel, bool leaf,
                                             sampling::AddressSpaceId space, std::string& module,
                                             const sampling::Mapping** mapping);
  std::uint32_t function_key(std::string_view function, std::string_view module);
  void name_process(const Stack& s);
  // The view's symbolizer: no line numbers, inline frames as Limits says.
  std::unique_ptr<symbols::Symbolizer> make_symbolizer() const;
  void decay(double factor);
  void prune();  // drops averages below kPrune
  void sweep();
  void free_stack(std::uint32_t index);
  std::string_view function_name(std::uint32_t key) const;
  std::string_view function_module(std::uint32_t key) const;

  sampling::Collector& collector_;
  recording::ProfileInfo info_;
  Limits limits_;
  std::unique_ptr<symbols::Symbolizer> symbolizer_;
  std::unordered_set<int> jit_pids_;  // pids whose JIT map the current symbolizer read
  std::uint64_t symbolizer_restarts_ = 0;

  // An index from a 64-bit hash to an entry of stacks_ or locs_: open addressing with linear
  // probing, no allocation per entry (a lookup is one probe where a node-based map chased two or
  // three pointers), erase by backward shift (no tombstones).
  class FlatIndex {
   public:
    // The index of the entry with this hash for which same(index) holds, or UINT32_MAX.
    template <typename Same>
    std::uint32_t find(std::uint64_t hash, Same&& same) const {
      if (slots_.empty()) return UINT32_MAX;
      const std::size_t mask = slots_.size() - 1;
      for (std::size_t i = static_cast<std::size_t>(hash) & mask;; i = (i + 1) & mask) {
        const Slot& slot = slots_[i];
        if (slot.index == UINT32_MAX) return UINT32_MAX;
        if (slot.hash == hash && same(slot.index)) return slot.index;
      }
    }
    void insert(std::uint64_t hash, std::uint32_t index);
    void erase(std::uint64_t hash, std::uint32_t index);
    std::size_t size() const { return used_; }

   private:
    struct Slot {
      std::uint64_t hash = 0;
      std::uint32_t index = UINT32_MAX;  // UINT32_MAX: empty
    };
    std::vector<Slot> slots_;
    std::size_t used_ = 0;
  };

  std::vector<Stack> stacks_;
  std::vector<std::uint32_t> free_stacks_;
  FlatIndex stack_index_;  // by StackRef::hash
  std::vector<Loc> locs_;
  std::vector<std::uint32_t> free_locs_;
  FlatIndex loc_index_;  // by LocKeyHash
  // new_location()'s file key of the last mapping it met, within one learn_stack() (the frames
  // of a stack mostly share a few mappings; the table does not change while a stack is learned).
  const sampling::Mapping* file_mapping_ = nullptr;
  std::uint32_t file_of_mapping_ = UINT32_MAX;
  // The fast path to a frame's location: (address space generation, address, kernel, leaf) ->
  // location, open addressing without allocation per entry. Kernel frames have generation 0 (one
  // entry for every process). An entry whose location was freed (its epoch is not the
  // location's) or whose address space was forgotten (generations are never reused) is stale: a
  // miss, dropped when the table grows.
  struct FrameSlot {
    std::uint64_t address = 0;
    std::uint64_t tag = 0;  // generation << 2 | kernel << 1 | leaf
    std::uint32_t space = 0;
    std::uint32_t loc = UINT32_MAX;  // UINT32_MAX: empty
    std::uint32_t epoch = 0;         // the location's epoch when the entry was made
  };
  std::vector<FrameSlot> frame_slots_, frame_kept_;
  std::size_t frame_used_ = 0;
  FrameSlot* frame_find(std::uint64_t address, std::uint64_t tag);
  void frame_insert(const FrameSlot& slot);
  void frame_rebuild();
  // Per-key stamps that find a stack's distinct functions and modules in one pass.
  std::vector<std::uint32_t> fn_stamp_, mod_stamp_;
  std::uint32_t stamp_ = 0;
  // rows()'s scratch for the functions and modules views (dense by key), kept between calls.
  struct Acc {
    std::uint64_t self = 0, total = 0;
    double average = 0;
    bool windowed = false, touched = false;
    std::uint32_t top_pid = 0;
    double top = -1;
  };
  mutable std::vector<Acc> acc_scratch_;
  mutable std::vector<std::int32_t> shown_scratch_;
  mutable std::vector<std::pair<std::uint32_t, Acc>> ranked_scratch_;
  mutable std::vector<std::uint32_t> touched_scratch_;
  // Function keys are "name\x1fmodule"; module keys are module names; files are "b:BUILD-ID" or
  // "p:PATH" (what the symbolizer opens a file by).
  Interned fns_, mods_, files_;
  std::uint32_t no_stack_fn_ = 0, unknown_mod_ = 0;
  std::string scratch_;
  std::vector<symbols::Frame> unknown_frames_;  // resolve()'s frames made here
  std::vector<std::uint32_t> seq_scratch_;

  std::vector<Delta> window_;
  std::unordered_map<std::uint32_t, std::string> process_names_, thread_names_;
  std::unordered_map<std::uint32_t, std::uint64_t>
      name_space_;  // pid -> generation of its name's space
  std::unordered_map<std::uint32_t, std::uint32_t> thread_pid_;
  std::unordered_set<std::uint32_t> doomed_;  // exited, unreferenced: forgotten next refresh
  // Decayed sample counts by (key << 32 | pid); totals by pid.
  // (Totals are not averaged: AVG% is the decayed self share.)
  std::unordered_map<std::uint64_t, double> avg_fn_self_, avg_mod_self_, avg_thread_;
  std::unordered_map<std::uint32_t, double> avg_pid_;
  double scale_ = 1;      // every decayed value is stored / scale_
  double collect_s_ = 0;  // window time since the last mark and sweep
  std::uint64_t refreshes_ = 0;
  double interval_s_ = 0;
  std::uint64_t stacks_evicted_ = 0, processes_forgotten_ = 0, over_budget_ = 0;
  std::uint64_t rss_ = 0;         // resident_bytes() at the last collection
  std::uint64_t trims_ = 0;       // free heap given back to the system (malloc_trim)
  std::size_t free_at_trim_ = 0;  // malloc's free bytes after the last trim (or fewest since)
};

}  // namespace perfscope::top
