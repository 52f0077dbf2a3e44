// The heap size of a process over time, drawn the way valgrind's ms_print does: an ASCII chart
// for the terminal, and the same chart as a self-contained SVG. Both are pure functions of their
// input (no timestamps, no randomness), so tests compare them exactly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace perfscope::output {

// One observation: at `time_ns` (nanoseconds since the program started) the program's live heap
// was `bytes`. Points are in time order; several points may share a time.
struct HeapPoint {
  std::int64_t time_ns = 0;
  std::int64_t bytes = 0;
};

struct HeapTimeline {
  std::vector<HeapPoint> points;
  std::int64_t peak_bytes = 0;    // the highest live heap; drawn as a marked point
  std::int64_t peak_time_ns = 0;  // when it was reached
  std::int64_t end_time_ns = 0;   // the program's run time (the x axis ends here)
};

struct TimelineOptions {
  std::string title = "Heap over time";
  int width = 72;                          // ASCII: columns of the plot area; SVG: ignored
  int height = 20;                         // ASCII: rows of the plot area; SVG: ignored
  int svg_width = 1000, svg_height = 420;  // SVG: pixels, margins included
};

// ms_print-like: a y axis labelled in KiB/MiB/GiB, an x axis in seconds (or ms for short runs),
// '#' columns for the heap at each time step (the maximum within the step, so the peak is never
// hidden by downsampling) and '@' on the peak column. Errors for an empty timeline or sizes out
// of range (width 10..400, height 4..200).
Result<std::string> heap_timeline_ascii(const HeapTimeline& timeline,
                                        const TimelineOptions& options = {});

// An SVG area chart of the same data: filled step curve, axes with tick labels, the peak marked
// and labelled with its size and time, a <title> tooltip on the peak. Errors as above.
Result<std::string> heap_timeline_svg(const HeapTimeline& timeline,
                                      const TimelineOptions& options = {});

}  // namespace perfscope::output
