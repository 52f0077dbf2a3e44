// The flags `mem` passes to the heap library: --flamegraph-type names are the profile's own
// sample type names (a tripwire if build_heap_profile gains or renames one), --unwind's words.
#include <gtest/gtest.h>

#include <string>

#include "heap/heap_profile.hpp"
#include "heap/run_views.hpp"
#include "heap/tracker.hpp"
#include "symbols/symbolizer.hpp"

namespace perfscope::heap {
namespace {

TEST(HeapRunViews, FlamegraphTypesAreTheProfilesSampleTypes) {
  symbols::Symbolizer symbolizer;
  const auto p = build_heap_profile({}, symbolizer, {});
  ASSERT_EQ(p.sample_types.size(), static_cast<std::size_t>(kHeapValueCount));
  for (std::size_t i = 0; i < kHeapValueCount; ++i) {
    const std::string name(p.string(p.sample_types[i].type));
    EXPECT_EQ(name, heap_value_name(static_cast<HeapValue>(i)));
    auto parsed = parse_heap_value(name);
    ASSERT_TRUE(parsed) << name;
    EXPECT_EQ(*parsed, static_cast<HeapValue>(i));
  }
  auto unknown = parse_heap_value("rss");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("'rss'"), std::string::npos);
}

TEST(HeapRunViews, UnwindWords) {
  EXPECT_EQ(*parse_unwind("auto"), Unwind::automatic);
  EXPECT_EQ(*parse_unwind("fp"), Unwind::frame_pointers);
  EXPECT_EQ(*parse_unwind("dwarf"), Unwind::dwarf);
  EXPECT_FALSE(parse_unwind("lbr"));
}

// A run with no image (nothing was tracked) renders an empty timeline, not a crash.
TEST(HeapRunViews, AnEmptyRunHasAnEmptyTimeline) {
  const TrackResult empty;
  EXPECT_TRUE(command_timeline(empty).points.empty());
  EXPECT_FALSE(run_timeline_svg(empty));
}

}  // namespace
}  // namespace perfscope::heap
