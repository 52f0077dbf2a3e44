// Reading the text output of `perf script` into a StackTree, a line at a time (memory grows with
// distinct stacks, not with the input). perf prints each sample as a header line
//   COMM PID[/TID] [CPU] TIME: [PERIOD] EVENT:
// followed, when it recorded callchains (-g, --call-graph dwarf|fp|lbr), by one tab-indented line
// per frame, leaf first, and a blank line:
//   \t    7f0a1b2c3d4e SYMBOL+0xOFF (MODULE)
// Without callchains the single frame sits at the end of the header line. perf writes "[unknown]"
// for a symbol or module it could not resolve, kernel frames in "[kernel.kallsyms]" (or "[module]"
// for a kernel module), and, with --inline, frames inlined into the one above as
// "ADDR SYMBOL (inlined)". COMM may contain spaces.
//
// Every dialect perf versions and options write is read (docs/formats.md lists them):
//  - a `# ========` block before the samples (`perf script --header`), '#' comments anywhere;
//  - any `perf script -F` subset: header fields missing (no COMM, PID, CPU, TIME, PERIOD or EVENT;
//    an empty header line with -F ip,sym), frames without "(MODULE)" or without a symbol (-F ip);
//    with -F +srcline each frame is followed by a "  FILE:LINE" line, which is skipped;
//  - side-band records interleaved (--show-mmap-events, --show-task-events: "PERF_RECORD_...");
//  - old layouts whose frames are indented with spaces, or not at all;
//  - symbols with spaces, colons and parentheses (V8's "LazyCompile:*foo /app/x.js:1:2",
//    perf-map-agent's "Lorg/foo/Bar;::method").
// A lone number in a header (`-F tid` or `-F period`) is told apart by perf's column widths: a PID
// fills 5 columns (7 at most), a PERIOD 10.
//
// Each sample becomes one stack: COMM as the root frame, then its frames root first. Frames whose
// symbol is unknown are named for their module ("[libc.so.6]"), or "[unknown]". Java frames are
// tidied as FlameGraph's stackcollapse-perf.pl does: "Lorg/foo/Bar;.run(I)V" -> "org/foo/Bar:.run",
// and perf-map-agent's "Lorg/foo/Bar;::method" -> "org/foo/Bar::method".
//
// Weights: with `weight_by_period` each sample counts its PERIOD, as perf report and
// stackcollapse-perf.pl count it (a frequency-mode recording has periods from 1 to millions);
// samples printed without one count 1. When the input holds several events (cycles and
// instructions), only the first event's samples are read, as stackcollapse-perf.pl does: their
// periods cannot be added.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "formats/stack_profile.hpp"
#include "output/stack_tree.hpp"

namespace perfscope::formats {

struct PerfScriptOptions {
  bool include_comm = true;             // COMM as each stack's root frame
  bool weight_by_period = false;        // count PERIOD (e.g. ns of cpu-clock) instead of 1 a sample
  bool tidy_java = true;                // "Lorg/foo/Bar;::m" -> "org/foo/Bar::m" (FlameGraph's way)
  std::vector<std::int64_t> pids = {};  // only these; with one number in the header (the thread
                                        // id, as perf prints by default) that number is compared
  std::string comm = {};                // only samples of threads with exactly this COMM
};

// The parts of a header line. Fields `perf script -F` left out are empty.
struct PerfScriptHeader {
  std::string_view comm;
  std::int64_t pid = -1;  // -1: not printed
  std::int64_t tid = -1;  // the PID when perf printed one number (its default: the TID)
  std::optional<std::int64_t> period;
  std::string_view event;  // without the trailing ':'
  std::string_view rest;   // after the event: the frame of a sample without callchain, or a
                           // tracepoint's fields; may be empty
  bool has_time = false;   // "12.345678:" (or a CPU "[003]") was there
  bool side_band = false;  // a PERF_RECORD_* line (--show-mmap-events...), not a sample
};
// Nullopt when `line` is not a sample header. Strict (the default): the line must show a TIME, a
// CPU, an EVENT or a PID/TID pair, as any header of perf's default output does, so that other text
// ("main;parse 12", a folded line) is never taken for one. Relaxed: a PID or PERIOD alone will do
// ("comm 1234", `-F comm,tid,ip,sym`), for lines already known to be perf script text.
std::optional<PerfScriptHeader> parse_perf_script_header(std::string_view line,
                                                         bool relaxed = false);

// What a line of perf script text is, as far as it alone tells: for telling the format.
enum class PerfScriptLine {
  header,        // a strict header (parse_perf_script_header)
  side_band,     // a PERF_RECORD_* line
  frame,         // a tab-indented frame, or an indented "ADDR [SYMBOL] [(MODULE)]"
  maybe_header,  // a relaxed header or a bare COMM: one if a tab-indented frame follows
  other,
};
PerfScriptLine classify_perf_script_line(std::string_view line);

// The parts of one frame line (or of a header's `rest`).
struct PerfScriptFrame {
  std::string name;  // symbol without "+0xOFF"; for an unknown symbol "[module]" or "[unknown]";
                     // "0xADDR" when perf printed the address alone (-F ip)
  output::FrameKind kind = output::FrameKind::user;
};
// Nullopt when `text` is not "ADDR [SYMBOL[+0xOFF]] [(MODULE)]". `tidy_java` as in the options.
std::optional<PerfScriptFrame> parse_perf_script_frame(std::string_view text,
                                                       bool tidy_java = true);

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
  // Samples read (after filters) that had a PERIOD, and that had none.
  std::size_t with_period() const { return with_period_; }
  std::size_t without_period() const { return without_period_; }
  // The event whose samples were read ("cpu-clock:ppp"), empty when perf printed none.
  const std::string& event() const { return event_; }

  // After finish(): what a person should know about how the text was read, one sentence each
  // naming the input: periods missing (each sample then counts 1), other events skipped.
  std::vector<std::string> notes() const;
  // After finish(): how profile_from_tree() turns the tree into a Profile. With periods, the tree
  // holds them (cpu-clock and task-clock as {"cpu", "nanoseconds"}, other events as
  // {EVENT, "count"}, EVENT without modifiers), the default sample type, after {"samples",
  // "count"}; without, it holds the samples. Refers to this reader: use it while the reader lives.
  TreeProfileOptions profile_options() const;

 private:
  // The frame on a trimmed frame line (or a header's rest); nullopt when it is not one. The name
  // is interned only when the current sample is kept (for a dropped one the FrameRef is empty).
  std::optional<output::FrameRef> frame(std::string_view text);
  Error error(std::string reason) const;
  void end_sample();
  // Starts a sample; `h` null for a header-less one (-F ip,sym).
  Status begin_sample(const PerfScriptHeader* h);
  // A frame line of the current sample.
  void add_frame(output::FrameRef f);

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
  bool has_callchain_ = false;  // the current sample has had a frame line
  bool keep_ = false;           // the current sample passes the filters
  bool has_header_ = false;     // the current sample began with a header line
  // Whether samples carry a COMM (-F may leave it out), as the first kept one decides: without,
  // stacks have no COMM root.
  int comms_ = -1;
  bool frames_with_module_ = false;   // a frame line ended in "(MODULE)"
  bool prev_blank_ = false;           // the line before was empty
  bool frame_in_header_ = false;      // ... which held its only frame (no callchain)
  std::size_t weak_header_line_ = 0;  // a bare "COMM" line waiting for a frame line, or 0
  std::string weak_header_;           // its text
  std::size_t with_period_ = 0;
  std::size_t without_period_ = 0;
  std::string event_;  // the first event seen; others are skipped
  std::vector<std::pair<std::string, std::size_t>> skipped_events_;  // event, samples
  // Samples that ended at each tree node (index: node id), beside the tree's weights.
  std::vector<std::int64_t> samples_at_;
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
