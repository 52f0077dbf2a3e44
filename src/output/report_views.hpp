// Text views of `perfscope report` beyond its hottest-function tables: call trees (-g, --callers,
// --callees), tables by perf's sort keys and by thread, the timeline of busy periods (--by time)
// and annotated source or disassembly (--annotate). Plain text, deterministic, one row per line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "profile/annotate.hpp"
#include "profile/call_tree.hpp"
#include "profile/sample_groups.hpp"

namespace perfscope::output {

// Each root, then its branches, every line "PCT%  PREFIX NAME" with ASCII tree lines:
//    97.97%  main  (self 0.00%)
//    49.66%  |- phase_two
//    49.66%  |  `- work_right
// A root is followed by an empty line. Percentages are of tree.total.
std::string render_call_tree(const profile::CallTree& tree);

// perf report's columns: Overhead, then one column per key, rows in the table's order.
// `unit` is the counted sample type's ("count", "nanoseconds", ...), for the weight column.
std::string render_keyed_table(const profile::KeyedTable& table, std::string_view unit);

// One row per period: its span, share of the total, a bar of '#' (50 wide at the busiest
// period), and the function most of it ran.
std::string render_timeline(const profile::Timeline& timeline);

// The annotated function: a header, then one line per source line or instruction with its share
// of the function's samples and its count.
std::string render_annotation(const profile::Annotation& a);

}  // namespace perfscope::output
