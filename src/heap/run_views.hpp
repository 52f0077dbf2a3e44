// What a person reads of a tracked run (`perfscope mem`, scenario's memory phase), each a pure
// function of the TrackResult: the text report headed by the command's heap over time, the same
// chart as SVG, and an allocation flame graph weighed by one of the profile's sample types.
#pragma once

#include <string>

#include "core/error.hpp"
#include "heap/heap_profile.hpp"
#include "heap/text_report.hpp"
#include "heap/tracker.hpp"
#include "output/heap_timeline.hpp"

namespace perfscope::heap {

// A sample type by its pprof name ("inuse_space", "alloc_objects", ...: the --flamegraph-type
// flag), and back.
Result<HeapValue> parse_heap_value(const std::string& name);
const char* heap_value_name(HeapValue value);

// The heap of the command's first image over time, and the chart's title.
output::HeapTimeline command_timeline(const TrackResult& run);
output::TimelineOptions command_timeline_options(const TrackResult& run);

// "perfscope mem: CMD (stacks: ...)", the ASCII chart of command_timeline, then
// heap_text_report's tables.
std::string run_report_text(const TrackResult& run, const TextReportOptions& options = {});

// The timeline as an SVG chart.
Result<std::string> run_timeline_svg(const TrackResult& run);

// A flame graph of the profile weighed by `value` (bytes or blocks), titled "TYPE: CMD".
Result<std::string> run_flamegraph_svg(const TrackResult& run, HeapValue value);

}  // namespace perfscope::heap
