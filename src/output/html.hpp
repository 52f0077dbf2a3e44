// An interactive flame graph as one self-contained HTML page: the flame graph (roots at the
// bottom), the icicle graph (roots at the top) and a sortable table of the top functions by self
// and total samples. Everything is inline (CSS, script, data); the page makes no network requests,
// so it works offline and from a file:// URL.
//
// The frames travel as JSON data in a <script type="application/json" id="profile"> element and
// the page's script draws both graphs from it as positioned <div>s whose widths are percentages,
// so the graphs follow the window width. The table is plain HTML (readable with scripts off); the
// script only sorts it. Output is a pure function of the tree and the options: no timestamps,
// colours from palette_colour(), fixed-precision numbers. Tests compare it with golden files.
//
// What scripts and browser tests rely on: section#flame and section#icicle each hold a .graph of
// div.fr frames (data-i: index into the data's frames; class "match" while a search matches it),
// a .details line and a button.unzoom; #tooltip shows the hovered frame; form#search-form with
// input#search, input#search-ignore-case (a checkbox: case-insensitive search) and
// button#search-reset; #matched the share the search covers ("Matched: 75.00%"); #subtitle the
// line under the title; ul#legend (for --colors kind, module and state) one li[data-key] per colour
// with a span.swatch of it; each div.fr holds its name, shortened to what fits its width with ".."
// at the end, and the full name in aria-label; window.perfscope.search(regex[, ignoreCase]);
// table#functions with one <tr> per function and sortable <th> (aria-sort says the order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "output/flamegraph_svg.hpp"
#include "output/stack_tree.hpp"

namespace perfscope::output {

struct HtmlOptions {
  std::string title = "Flame Graph";
  std::string unit = "samples";  // what the counts are
  Palette palette = Palette::hot;
  std::string subtitle = {};              // a line under the title; none when empty
  const FrameModules* modules = nullptr;  // for Palette::module (not owned)
  const FrameStates* states = nullptr;    // for Palette::state (not owned; required there)
  // Frames with a smaller share of all samples are left out of the graphs (as SVG leaves out
  // frames narrower than --min-width); the table counts every frame.
  double min_share = 0.0001;
  bool icicle_first = false;  // the icicle graph above the flame graph
  // The tree's root frames name processes (the comm of perfscope profiles, perf script and folded
  // stacks written with it): the table, being about functions, leaves them out.
  bool roots_are_processes = false;
  std::size_t top = 1000;  // table rows at most (the functions with most self or total samples)
};

// One function in the table. self: samples whose stack ends in it; total: samples with it
// anywhere in the stack, counted once per sample however often it recurs.
struct FunctionTotals {
  std::string name;
  std::int64_t self = 0;
  std::int64_t total = 0;
};

// Every function of the tree (frames grouped by name), sorted by self, then total, descending,
// then by name.
std::vector<FunctionTotals> function_totals(const StackTree& tree, bool roots_are_processes);

// The page. Errors for options out of range or a tree without samples.
Result<std::string> flamegraph_html(const StackTree& tree, const HtmlOptions& options = {});

}  // namespace perfscope::output
