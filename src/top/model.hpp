// top::Model: the numbers behind `perfscope top`'s views. It reads the same sampling::Collector a
// recording fills (drained by the Recorder at every refresh) and keeps, per refresh:
// - the window: what each stack entry gained since the last refresh (counts only: the collector's
//   entries are cumulative, so the window is a difference, nothing is reset);
// - a decaying average (half-life kHalfLifeSeconds) per (key, process), so a zoom into one process
//   shows that process's own average at once;
// - names: every new stack entry is symbolized when first seen through an
//   IncrementalProfileBuilder (each address once per run), and a process keeps the name it was
//   first seen with after it exits.
// Single-threaded: refresh() and rows() run on the thread that drives the Recorder.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
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
  Model(const sampling::Collector& collector, const recording::ProfileInfo& info);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // Takes what the collector gained since the last refresh: `interval_s` is the time it covers.
  void refresh(double interval_s);

  std::vector<Row> rows(const Query& q) const;
  // Samples in the window (of the zoomed process alone when zoom_pid >= 0).
  std::uint64_t window_samples(std::int64_t zoom_pid = -1) const;
  std::uint64_t refreshes() const { return refreshes_; }
  double interval_s() const { return interval_s_; }
  // "comm[pid]" of a process seen so far, or "[pid]".
  std::string process_name(std::int64_t pid) const;
  // The window as a pprof profile (of the zoomed process alone when zoom_pid >= 0).
  profile::Profile window_profile(std::int64_t zoom_pid = -1) const;

 private:
  struct EntryInfo {
    std::uint32_t pid = 0, tid = 0;
    std::uint32_t seq_off = 0, seq_len = 0;  // function keys, leaf first (inline frames too)
    std::uint32_t fn_off = 0, fn_len = 0;    // distinct function keys of the stack
    std::uint32_t mod_off = 0, mod_len = 0;  // distinct module keys
    std::uint32_t leaf_module = 0;
  };
  struct Delta {
    std::uint32_t entry = 0;
    std::uint64_t count = 0, period = 0;
  };
  void learn_entry(std::size_t index);
  std::uint32_t intern(std::unordered_map<std::string, std::uint32_t>& index,
                       std::vector<std::string>& names, const std::string& text);
  void location_keys(std::uint64_t location_id);  // fills loc_fns_ / loc_module_ up to the id
  void decay(double factor);
  double average_of(const std::unordered_map<std::uint64_t, double>& decayed, std::uint64_t key,
                    std::int64_t zoom_pid, double total) const;

  const sampling::Collector& collector_;
  symbols::Symbolizer symbolizer_;
  recording::IncrementalProfileBuilder builder_;
  std::vector<EntryInfo> entries_;
  std::vector<std::uint32_t> arena_;
  std::vector<std::uint64_t> prev_count_, prev_period_;
  std::vector<Delta> window_;
  // Function keys are "name\x1fmodule"; module keys are module file names.
  std::unordered_map<std::string, std::uint32_t> fn_index_, mod_index_;
  std::vector<std::string> fn_names_, fn_modules_, mod_names_;
  std::vector<std::vector<std::uint32_t>> loc_fns_;  // by location id - 1, innermost line first
  std::vector<std::uint32_t> loc_module_;
  std::unordered_map<std::uint32_t, std::string> process_names_, thread_names_;
  std::unordered_map<std::uint32_t, std::uint32_t> name_space_;  // pid -> the space it is named by
  std::unordered_map<std::uint32_t, std::uint32_t> thread_pid_;
  // Decayed sample counts by (key << 32 | pid); totals by pid.
  std::unordered_map<std::uint64_t, double> avg_fn_self_, avg_fn_total_, avg_mod_self_,
      avg_mod_total_, avg_thread_;
  std::unordered_map<std::uint32_t, double> avg_pid_;
  std::uint64_t refreshes_ = 0;
  double interval_s_ = 0;
};

}  // namespace perfscope::top
