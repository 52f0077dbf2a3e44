#include "heap/run_views.hpp"

#include <fmt/format.h>

#include <iterator>

#include "output/flamegraph_svg.hpp"
#include "output/stack_tree.hpp"

namespace perfscope::heap {
namespace {

// By HeapValue, as build_heap_profile names the sample types.
constexpr const char* kValueNames[] = {"alloc_objects",    "alloc_space",    "inuse_objects",
                                       "inuse_space",      "leaked_objects", "leaked_space",
                                       "temporary_objects"};
static_assert(std::size(kValueNames) == kHeapValueCount);

bool counts_bytes(HeapValue value) {
  return value == kAllocSpace || value == kInuseSpace || value == kLeakedSpace;
}

}  // namespace

Result<HeapValue> parse_heap_value(const std::string& name) {
  for (std::size_t i = 0; i < kHeapValueCount; ++i) {
    if (name == kValueNames[i]) return static_cast<HeapValue>(i);
  }
  return Error{fmt::format("unknown --flamegraph-type '{}'", name), 0,
               "  choose alloc_objects, alloc_space, inuse_objects, inuse_space, leaked_objects, "
               "leaked_space or temporary_objects"};
}

const char* heap_value_name(HeapValue value) {
  return value < kHeapValueCount ? kValueNames[value] : "?";
}

output::HeapTimeline command_timeline(const TrackResult& run) {
  output::HeapTimeline timeline;
  if (run.images.empty()) return timeline;
  const ProcessImage& image = run.images.front();
  for (const auto& point : image.timeline) timeline.points.push_back({point.time_ns, point.bytes});
  timeline.peak_bytes = static_cast<std::int64_t>(image.peak_bytes);
  timeline.peak_time_ns = image.peak_time_ns;
  timeline.end_time_ns = static_cast<std::int64_t>(image.end_ns - image.start_ns);
  return timeline;
}

output::TimelineOptions command_timeline_options(const TrackResult& run) {
  output::TimelineOptions options;
  if (!run.images.empty()) {
    options.title = fmt::format("Heap of pid {} over time", run.images.front().pid);
  }
  return options;
}

std::string run_report_text(const TrackResult& run, const TextReportOptions& options) {
  std::string text =
      fmt::format("perfscope mem: {} (stacks: {})\n", run.info.command_line, run.stacks);
  if (auto chart =
          output::heap_timeline_ascii(command_timeline(run), command_timeline_options(run));
      chart) {
    text += "\n" + *chart + "\n";
  }
  text += heap_text_report(run.images, run.profile, run.sample_of_site, options);
  return text;
}

Result<std::string> run_timeline_svg(const TrackResult& run) {
  return output::heap_timeline_svg(command_timeline(run), command_timeline_options(run));
}

Result<std::string> run_flamegraph_svg(const TrackResult& run, HeapValue value) {
  auto tree = output::tree_from_profile(run.profile, {.value_index = value});
  if (!tree) return tree.error();
  output::SvgOptions options;
  options.title = fmt::format("{}: {}", heap_value_name(value), run.info.command_line);
  options.palette = output::Palette::mem;
  options.unit = counts_bytes(value) ? "bytes" : "blocks";
  return output::flamegraph_svg(*tree, options);
}

}  // namespace perfscope::heap
