// An interactive flame graph as one self-contained SVG file (no network, no external script):
// one <rect> and <text> per frame wide enough to see, a <title> per frame with its name, samples
// and percentage, and embedded JavaScript for hover details, click-to-zoom with a reset control,
// and regex search that highlights matching frames and shows the share of samples they cover.
//
// Output is a pure function of the tree and the options: no timestamps, colours hashed from frame
// names, numbers printed with fixed precision. Tests compare it byte for byte with golden files.
//
// Element ids and attributes scripts (and browser tests) rely on: #frames holds one <g class="f">
// per frame with data-name (the full name), data-s (first sample, counting from the left edge),
// data-c (samples), data-d (depth, 0 for "all"); #details is the hover line, #matched the search
// result, #search, #ignorecase (the case-insensitive toggle, class "on" while set) and #unzoom the
// controls; #subtitle the line under the title; #legend (for --colors kind, module and state) one
// <g class="legend-entry" data-key="..."> per colour, its <rect> filled with it. The document
// exposes search(regex[, ignoreCase]), toggleIgnoreCase() and resetZoom().
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "output/stack_tree.hpp"
#include "profile/profile.hpp"

namespace perfscope::output {

enum class Palette { hot, mem, io, kind, module, state };

// "hot", "mem", "io", "kind", "module", "state"; the Error lists the choices.
Result<Palette> parse_palette(std::string_view name);

struct Rgb {
  int r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

// Which module (executable, library, "[kernel.kallsyms]") each frame comes from, for
// Palette::module. A profile's locations name their mapping; folded stacks and perf script text
// carry no mapping, so there a frame's module comes from its kind (kernel, JIT) or its name's
// shape ("[libc.so.6]" for a frame without a symbol, "libc.so.6`malloc" as DTrace writes it),
// else it is unknown ("").
class FrameModules {
 public:
  // Frame names as the tree of the profile names them (tree_from_profile), each with the module
  // of the first location that gives it.
  static FrameModules from_profile(const profile::Profile& p);
  void add(std::string name, std::string module);
  std::string module_of(std::string_view name, FrameKind kind) const;

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> by_name_;
};

// The fill of a frame: hashed from its name (and, for Palette::kind, chosen by its kind), so the
// same function has the same colour in every graph and every output (the HTML page uses it too).
// Palette::module needs the graph's ModuleColours; here it gives the unknown module's grey.
Rgb palette_colour(Palette palette, FrameKind kind, std::string_view name);

// The colours of the modules of one graph (Palette::module). The modules, ranked by self samples
// (then name), each claim one of 12 hues 30 degrees apart: the one the module's name hashes to
// when it is free, else the nearest free one. So up to 12 modules always differ in hue, and a
// module keeps its hue from graph to graph unless a larger module took it first; further
// modules get their hashed hue, which may be near another's. Frames of one module share its hue,
// shaded a little by the function's name; frames of no known module are grey.
class ModuleColours {
 public:
  ModuleColours(const StackTree& tree, const FrameModules* modules);
  std::string module_of(std::string_view name, FrameKind kind) const;
  Rgb frame(std::string_view module, std::string_view name) const;
  Rgb base(std::string_view module) const;  // the middle shade, for the legend
  // Every module of a frame with samples, by self samples (then name); "" is unknown.
  const std::vector<std::pair<std::string, std::int64_t>>& ranked() const { return ranked_; }

 private:
  Rgb shade(std::string_view module, double shade) const;
  const FrameModules* modules_;
  std::vector<std::pair<std::string, std::int64_t>> ranked_;
  std::unordered_map<std::string, double> hue_;
};

// Where the time of each frame of one tree went, by the state its samples were in (the "state"
// label of `record --off-cpu` and `--wall`), for Palette::state. A frame's colour is the hue of
// the state that holds most of its time, paler the less of it that state holds: a leaf blocked
// on a pipe is full purple, `main` over computing and sleeping a washed-out mix.
class FrameStates {
 public:
  // The states, in the order of enum ps_offcpu_state (bpf/offcpu_abi.h), 0 being on-CPU.
  static constexpr std::size_t kCount = 4;
  static constexpr std::array<std::string_view, kCount> kNames = {"on-cpu", "sleeping", "blocked",
                                                                  "runnable"};
  using Times = std::array<std::int64_t, kCount>;

  // `tree` must be tree_from_profile(p, options). Samples without a known state count in no
  // state. Errors when no sample of the profile has a state label.
  static Result<FrameStates> from_profile(const profile::Profile& p, const TreeOptions& options,
                                          const StackTree& tree);
  // The time of node `id` (an id of the tree it was built for) in each state.
  const Times& of(std::uint32_t id) const;
  // The state holding most of the node's time, and its share in [0, 1]; -1 when none.
  std::pair<int, double> dominant(std::uint32_t id) const;
  // "on-cpu 62.10%, sleeping 37.90%": the node's states, the largest share first.
  std::string shares(std::uint32_t id) const;
  // States with any time, in kNames order.
  std::vector<std::size_t> present() const;

 private:
  std::vector<Times> by_node_;
};

// The colour of a frame whose time is `share` in `state` (an index of FrameStates::kNames),
// shaded a little by its name.
Rgb state_colour(std::size_t state, double share, std::string_view name);
// A node's fill under Palette::state: its dominant state's state_colour, grey for none.
Rgb state_fill(const FrameStates& states, std::uint32_t id, std::string_view name);

// One line of a legend: what a colour means.
struct LegendEntry {
  std::string key;    // "user", "kernel", "jit", "inlined"; a module's name, "" for unknown
  std::string label;  // as shown: "user", "kernel", "JIT", "inlined", "libc.so.6", ...
  Rgb colour;         // the middle of the colours the frames of this entry get
};

// The legend of a drawing of `tree` in `palette`: for kind, the kinds among the frames with
// samples, in the order user, kernel, JIT, inlined; for module (given `modules`), the modules by
// self samples, at most `max_entries` (the last saying how many more, key "*", no colour); for
// state (given `states`), the states with time, then "mixed" (key "*": paler frames are shared by
// several states). Empty for the other palettes, whose colours mean nothing but "a different
// function".
std::vector<LegendEntry> legend(const StackTree& tree, Palette palette,
                                const ModuleColours* modules = nullptr,
                                std::size_t max_entries = 12, const FrameStates* states = nullptr);

struct SvgOptions {
  std::string title = "Flame Graph";
  int width = 1200;        // pixels, including margins; at least 200
  double min_width = 0.1;  // frames narrower than this many pixels are left out
  bool inverted = false;   // icicle: the root at the top, stacks growing down
  Palette palette = Palette::hot;
  std::string unit = "samples";  // what the counts are, in tooltips
  std::string subtitle = {};     // a line under the title; none when empty
  // For Palette::module: where each frame comes from (not owned; nullptr: from names alone).
  const FrameModules* modules = nullptr;
  // For Palette::state: the states of each frame of the tree drawn (not owned; required).
  const FrameStates* states = nullptr;
};

struct DiffOptions {
  // Scale the baseline so both profiles have the same total before comparing (for recordings of
  // different length); otherwise raw counts are compared.
  bool normalize = false;
  // Swap the hues: blue where the input grew, red where it shrank (flamegraph.pl --negate).
  bool negate = false;
  // Draw the baseline's frames at the baseline's widths, coloured by how the input changed them:
  // a function that vanished from the input shows at its old width, in full blue (what
  // flamegraph.pl users get from `difffolded.pl NEW OLD | flamegraph.pl --negate`).
  bool baseline_widths = false;
};

// A flame graph of `tree`. Errors for options out of range or an empty tree.
Result<std::string> flamegraph_svg(const StackTree& tree, const SvgOptions& options = {});

// A differential flame graph: `after`'s frames and widths, each coloured by how its total changed
// from `baseline`: red where it grew, blue where it shrank, white where equal; the deltas are in
// the tooltips. Frames only in the baseline do not appear (they have no width in `after`), unless
// `diff.baseline_widths` draws the baseline's frames instead.
Result<std::string> differential_svg(const StackTree& after, const StackTree& baseline,
                                     const SvgOptions& options = {}, const DiffOptions& diff = {});

}  // namespace perfscope::output
