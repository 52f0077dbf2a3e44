// Reading the default text output of `perf script` into a StackTree, a line at a time (memory grows
// with distinct stacks, not with the input). perf prints each sample as a header line
//   COMM PID[/TID] [CPU] TIME: [PERIOD] EVENT:
// followed, when it recorded callchains (-g, --call-graph dwarf|fp|lbr), by one indented line per
// frame, leaf first, and a blank line:
//   \t    7f0a1b2c3d4e SYMBOL+0xOFF (MODULE)
// Without callchains the single frame sits at the end of the header line. perf writes "[unknown]"
// for a symbol or module it could not resolve, kernel frames in "[kernel.kallsyms]" (or "[module]"
// for a kernel module), and, with --inline, frames inlined into the one above as
// "ADDR SYMBOL (inlined)". COMM may contain spaces.
//
// Each sample becomes one stack: COMM as the root frame, then its frames root first. Frames whose
// symbol is unknown are named for their module ("[libc.so.6]"), or "[unknown]".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "output/stack_tree.hpp"

namespace perfscope::formats {

struct PerfScriptOptions {
  bool include_comm = true;             // COMM as each stack's root frame
  bool weight_by_period = false;        // count PERIOD (e.g. ns of cpu-clock) instead of 1 a sample
  std::vector<std::int64_t> pids = {};  // only these; with one number in the header (the thread
                                        // id, as perf prints by default) that number is compared
  std::string comm = {};                // only samples of threads with exactly this COMM
};

// The parts of a header line.
struct PerfScriptHeader {
  std::string_view comm;
  std::int64_t pid = 0;
  std::int64_t tid = 0;
  std::optional<std::int64_t> period;
  std::string_view event;  // without the trailing ':'
  std::string_view rest;   // after the event: the frame of a sample without callchain, or a
                           // tracepoint's fields; may be empty
};
// Nullopt when `line` is not a sample header.
std::optional<PerfScriptHeader> parse_perf_script_header(std::string_view line);

// The parts of one frame line (or of a header's `rest`).
struct PerfScriptFrame {
  std::string name;  // symbol without "+0xOFF"; for an unknown symbol "[module]" or "[unknown]"
  output::FrameKind kind = output::FrameKind::user;
};
// Nullopt when `text` is not "ADDR SYMBOL[+0xOFF] (MODULE)".
std::optional<PerfScriptFrame> parse_perf_script_frame(std::string_view text);

class PerfScriptReader {
 public:
  // Adds to `tree`, which must outlive the reader. `source` names the input in errors.
  PerfScriptReader(output::StackTree& tree, std::string source, PerfScriptOptions options = {});

  // One line, without its '\n'. Errors carry "SOURCE:LINE: reason" as their op.
  Status add_line(std::string_view line);
  // Ends the input: counts the last sample. An Error when there were no samples at all.
  Status finish();
  // Text in one piece, then finish().
  Status add_text(std::string_view text);

  std::size_t line_number() const { return line_; }
  std::size_t samples() const { return samples_; }  // samples seen (before filters)
  // Samples with frame lines under their header (perf recorded callchains: -g, --call-graph).
  std::size_t callchains() const { return callchains_; }

 private:
  // The frame on a trimmed frame line (or a header's rest); nullopt when it is not one. The name
  // is interned only when the current sample is kept (for a dropped one the FrameRef is empty).
  std::optional<output::FrameRef> frame(std::string_view text);
  Error error(std::string reason) const;
  void end_sample();

  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const;
  };
  // Bounds frame_cache_: it is emptied when full, so memory stays small whatever the input.
  static constexpr std::size_t kMaxCachedFrames = 1u << 16;

  output::StackTree& tree_;
  std::string source_;
  PerfScriptOptions options_;
  std::size_t line_ = 0;
  std::size_t samples_ = 0;
  std::size_t callchains_ = 0;
  bool in_sample_ = false;
  bool has_callchain_ = false;            // the current sample has had a frame line
  bool keep_ = false;                     // the current sample passes the filters
  std::uint32_t comm_ = 0;                // interned COMM of the current sample
  std::int64_t weight_ = 1;               // of the current sample
  std::vector<output::FrameRef> frames_;  // of the current sample, leaf first
  std::string name_;                      // scratch for frame names, reused across lines
  // Frames already parsed, by their text after the address ("SYMBOL+0xOFF (MODULE)"), which alone
  // decides name and kind: a large input repeats a few thousand call sites, so most frame lines
  // cost one lookup here instead of a parse and an intern.
  std::unordered_map<std::string, output::FrameRef, TextHash, std::equal_to<>> frame_cache_;
};

}  // namespace perfscope::formats
