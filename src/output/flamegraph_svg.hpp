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
// result, #search and #unzoom the controls; the document exposes search(regex) and resetZoom().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "output/stack_tree.hpp"

namespace perfscope::output {

enum class Palette { hot, mem, io, kind };

// "hot", "mem", "io", "kind"; the Error lists the choices.
Result<Palette> parse_palette(std::string_view name);

struct Rgb {
  int r = 0, g = 0, b = 0;
};

// The fill of a frame: hashed from its name (and, for Palette::kind, chosen by its kind), so the
// same function has the same colour in every graph and every output (the HTML page uses it too).
Rgb palette_colour(Palette palette, FrameKind kind, std::string_view name);

struct SvgOptions {
  std::string title = "Flame Graph";
  int width = 1200;        // pixels, including margins; at least 200
  double min_width = 0.1;  // frames narrower than this many pixels are left out
  bool inverted = false;   // icicle: the root at the top, stacks growing down
  Palette palette = Palette::hot;
  std::string unit = "samples";  // what the counts are, in tooltips
};

struct DiffOptions {
  // Scale the baseline so both profiles have the same total before comparing (for recordings of
  // different length); otherwise raw counts are compared.
  bool normalize = false;
};

// A flame graph of `tree`. Errors for options out of range or an empty tree.
Result<std::string> flamegraph_svg(const StackTree& tree, const SvgOptions& options = {});

// A differential flame graph: `after`'s frames and widths, each coloured by how its total changed
// from `baseline`: red where it grew, blue where it shrank, white where equal; the deltas are in
// the tooltips. Frames only in the baseline do not appear (they have no width in `after`).
Result<std::string> differential_svg(const StackTree& after, const StackTree& baseline,
                                     const SvgOptions& options = {}, const DiffOptions& diff = {});

}  // namespace perfscope::output
