// The heap timeline charts: exact ASCII for a small timeline, the properties the charts promise
// (the peak is never hidden, labels in human units, lines within the width), the SVG essentials,
// edge cases and errors.
#include "output/heap_timeline.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace perfscope::output {
namespace {

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kS = 1'000'000'000;
constexpr std::int64_t kMiB = 1 << 20;
constexpr std::int64_t kGiB = std::int64_t{1} << 30;

std::string ascii(const HeapTimeline& t, const TimelineOptions& o = {}) {
  auto r = heap_timeline_ascii(t, o);
  EXPECT_TRUE(r) << r.error().describe();
  return r ? *r : std::string{};
}

std::string svg(const HeapTimeline& t, const TimelineOptions& o = {}) {
  auto r = heap_timeline_svg(t, o);
  EXPECT_TRUE(r) << r.error().describe();
  return r ? *r : std::string{};
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The plot cells of a chart row (the text after the axis character), padded to `width`.
std::string cells(const std::string& row, int width) {
  std::string c = row.size() > 12 ? row.substr(12) : std::string{};
  c.resize(static_cast<std::size_t>(width), ' ');
  return c;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// 1 MiB from 1 s, 4 MiB from 2 s (the peak), 2 MiB from 3 s; the run ends at 4 s.
HeapTimeline staircase() {
  return {.points = {{0, 0}, {1 * kS, 1 * kMiB}, {2 * kS, 4 * kMiB}, {3 * kS, 2 * kMiB}},
          .peak_bytes = 4 * kMiB,
          .peak_time_ns = 2 * kS,
          .end_time_ns = 4 * kS};
}

// 64 MiB at 1.23 s, down to 32 MiB at 2 s; the run ends at 2.5 s.
HeapTimeline peak_at_1_23() {
  return {.points = {{0, 0}, {1230 * kMs, 64 * kMiB}, {2 * kS, 32 * kMiB}},
          .peak_bytes = 64 * kMiB,
          .peak_time_ns = 1230 * kMs,
          .end_time_ns = 2500 * kMs};
}

TEST(HeapTimelineAscii, SmallTimelineExactly) {
  // 20 columns of 0.2 s: the steps change on column boundaries (columns 5, 10 and 15); 4 rows of
  // 1 MiB. The peak column (2 s, column 10) is drawn with '@'.
  EXPECT_EQ(ascii(staircase(), {.title = "staircase", .width = 20, .height = 4}),
            "staircase\n"
            "   4.0 MiB ^          @####\n"
            "   3.0 MiB |          @####\n"
            "   2.0 MiB |          @#########\n"
            "   1.0 MiB |     #####@#########\n"
            "       0 B +--------------------\n"
            "            0    1.00 s   4.00 s\n"
            "peak: 4.0 MiB at 2.00 s\n");
}

TEST(HeapTimelineAscii, DefaultSizeLabelsQuartersOfTheAxes) {
  const auto lines = lines_of(ascii(staircase()));
  ASSERT_EQ(lines.size(), 1u + 20u + 3u);
  EXPECT_EQ(lines[0], "Heap over time");
  EXPECT_EQ(lines[1].substr(0, 12), "   4.0 MiB ^");
  EXPECT_EQ(lines[6].substr(0, 12), "   3.0 MiB |");
  EXPECT_EQ(lines[11].substr(0, 12), "   2.0 MiB |");
  EXPECT_EQ(lines[16].substr(0, 12), "   1.0 MiB |");
  EXPECT_EQ(lines[2].substr(0, 12), "           |");
  EXPECT_EQ(lines[21], "       0 B +" + std::string(72, '-'));
  EXPECT_EQ(lines[22],
            "            0                 1.00 s            2.00 s            3.00 s      4.00 s");
  EXPECT_EQ(lines[23], "peak: 4.0 MiB at 2.00 s");
}

TEST(HeapTimelineAscii, ShortSpikeBetweenColumnsIsThePeakColumn) {
  // Ten 1 s columns; the heap is 1 MiB except for a 1 ms spike to 64 MiB at 4.3 s, well inside
  // column 4: the heap at every column start is 1 MiB, yet column 4 reaches the top, with '@'.
  const HeapTimeline t{
      .points = {{0, kMiB}, {4300 * kMs, 64 * kMiB}, {4301 * kMs, kMiB}, {10 * kS, kMiB}},
      .peak_bytes = 64 * kMiB,
      .peak_time_ns = 4300 * kMs,
      .end_time_ns = 10 * kS};
  const auto lines = lines_of(ascii(t, {.width = 10, .height = 8}));
  ASSERT_GE(lines.size(), 10u);
  EXPECT_EQ(lines[1], "  64.0 MiB ^    @");
  for (std::size_t r = 1; r <= 8; ++r) EXPECT_EQ(cells(lines[r], 10)[4], '@') << lines[r];
  EXPECT_EQ(cells(lines[8], 10), "####@#####");
  EXPECT_EQ(lines.back(), "peak: 64.0 MiB at 4.30 s");
}

TEST(HeapTimelineAscii, PeakWithoutItsOwnPointStillMarksItsColumn) {
  // The tracker saw a peak between two recorded points: the column holding its time is drawn
  // up to the peak.
  const HeapTimeline t{.points = {{0, kMiB}, {10 * kS, kMiB}},
                       .peak_bytes = 8 * kMiB,
                       .peak_time_ns = 7500 * kMs,
                       .end_time_ns = 10 * kS};
  const auto lines = lines_of(ascii(t, {.width = 10, .height = 4}));
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[1], "   8.0 MiB ^       @");
  EXPECT_EQ(cells(lines[4], 10), "#######@##");
}

TEST(HeapTimelineAscii, StalePeakFieldsGiveWayToTheHighestPoint) {
  const HeapTimeline t{.points = {{0, 0}, {5 * kS, 2 * kMiB}, {6 * kS, 0}},
                       .peak_bytes = kMiB,
                       .peak_time_ns = 0,
                       .end_time_ns = 10 * kS};
  const auto lines = lines_of(ascii(t, {.width = 10, .height = 4}));
  EXPECT_EQ(lines[1], "   2.0 MiB ^     @");
  EXPECT_EQ(lines.back(), "peak: 2.0 MiB at 5.00 s");
}

TEST(HeapTimelineAscii, ColumnKeepsTheHeapCarriedInBeforeADrop) {
  // Ten 1 s columns: 8 MiB from 1.5 s to 3.5 s. Column 3 starts at 8 MiB and drops inside, so it
  // shows 8 MiB; column 4 starts after the drop.
  const HeapTimeline t{.points = {{0, 0}, {1500 * kMs, 8 * kMiB}, {3500 * kMs, 0}},
                       .peak_bytes = 8 * kMiB,
                       .peak_time_ns = 1500 * kMs,
                       .end_time_ns = 10 * kS};
  const auto lines = lines_of(ascii(t, {.width = 10, .height = 4}));
  ASSERT_GE(lines.size(), 5u);
  for (std::size_t r = 1; r <= 4; ++r) EXPECT_EQ(cells(lines[r], 10), " @##      ") << r;
}

TEST(HeapTimelineAscii, PointsSharingATimeAllCount) {
  // A free and an allocation at the same instant: the higher heap between them is drawn.
  const HeapTimeline t{.points = {{0, kMiB}, {5 * kS, 4 * kMiB}, {5 * kS, kMiB}},
                       .peak_bytes = 4 * kMiB,
                       .peak_time_ns = 5 * kS,
                       .end_time_ns = 10 * kS};
  const auto lines = lines_of(ascii(t, {.width = 10, .height = 4}));
  EXPECT_EQ(cells(lines[1], 10), "     @    ");
  EXPECT_EQ(cells(lines[4], 10), "#####@####");
}

TEST(HeapTimelineAscii, YLabelsInHumanUnits) {
  auto top_label = [](std::int64_t peak) {
    const HeapTimeline t{.points = {{0, peak}}, .peak_bytes = peak, .end_time_ns = kS};
    return lines_of(ascii(t, {.width = 10, .height = 4}))[1].substr(0, 10);
  };
  EXPECT_EQ(top_label(512), "     512 B");
  EXPECT_EQ(top_label(1536), "   1.5 KiB");
  EXPECT_EQ(top_label(64 * kMiB), "  64.0 MiB");
  EXPECT_EQ(top_label(kMiB - 1), "   1.0 MiB");  // never "1024.0 KiB"
  EXPECT_EQ(top_label(3 * kGiB), "   3.0 GiB");
  EXPECT_EQ(top_label(1023 * kGiB), "1023.0 GiB");
}

TEST(HeapTimelineAscii, XLabelsInSecondsOrMilliseconds) {
  const HeapTimeline seconds{.points = {{0, kMiB}}, .peak_bytes = kMiB, .end_time_ns = 2 * kS};
  auto lines = lines_of(ascii(seconds, {.width = 60, .height = 4}));
  EXPECT_EQ(lines[6], "            0              0.50 s         1.00 s         1.50 s   2.00 s");
  // Narrower, the last quarter would touch the end label and is left out.
  lines = lines_of(ascii(seconds, {.width = 40, .height = 4}));
  EXPECT_EQ(lines[6], "            0         0.50 s    1.00 s        2.00 s");

  const HeapTimeline short_run{.points = {{0, 0}, {120 * kMs, 3 * kMiB}},
                               .peak_bytes = 3 * kMiB,
                               .peak_time_ns = 120 * kMs,
                               .end_time_ns = 250 * kMs};
  lines = lines_of(ascii(short_run, {.width = 40, .height = 4}));
  EXPECT_EQ(lines[6], "            0         62.50 ms  125.00 ms  250.00 ms");
  EXPECT_EQ(lines[7], "peak: 3.0 MiB at 120.00 ms");
}

TEST(HeapTimelineAscii, LinesStayWithinTheWidthAndLabels) {
  HeapTimeline t = peak_at_1_23();
  for (int width : {10, 11, 33, 72, 400}) {
    const std::string title(500, 'x');
    for (const std::string& line : lines_of(ascii(t, {.title = title, .width = width}))) {
      if (line.starts_with("peak:")) continue;  // one sentence, shorter than 30 characters
      EXPECT_LE(line.size(), static_cast<std::size_t>(width + 12)) << width << ": " << line;
    }
  }
}

TEST(HeapTimelineAscii, TitleIsOneCleanLine) {
  const auto lines =
      lines_of(ascii(peak_at_1_23(), {.title = "a\nb\x1b[31m", .width = 10, .height = 4}));
  EXPECT_EQ(lines[0], "a?b?[31m");
}

TEST(HeapTimelineAscii, SinglePointWithoutRunTime) {
  // One point at 0 and no end time: the axis spans 1 ns and the heap fills the chart.
  const HeapTimeline t{.points = {{0, 100}}, .peak_bytes = 100};
  EXPECT_EQ(ascii(t, {.title = "one", .width = 10, .height = 4}),
            "one\n"
            "     100 B ^@#########\n"
            "      75 B |@#########\n"
            "      50 B |@#########\n"
            "      25 B |@#########\n"
            "       0 B +----------\n"
            "            0     1 ns\n"
            "peak: 100 B at 0 ns\n");
}

TEST(HeapTimelineAscii, AllZeroHeapStillDraws) {
  const HeapTimeline t{.points = {{0, 0}, {2 * kS, 0}}, .end_time_ns = 3 * kS};
  EXPECT_EQ(ascii(t, {.title = "empty heap", .width = 10, .height = 4}),
            "empty heap\n"
            "       0 B ^\n"
            "           |\n"
            "           |\n"
            "           |\n"
            "       0 B +----------\n"
            "            0   3.00 s\n"
            "peak: 0 B at 0.00 s\n");
}

TEST(HeapTimelineAscii, RunTimeBeforeTheLastPointUsesTheLastPoint) {
  const HeapTimeline t{.points = {{0, 0}, {2 * kS, kMiB}},
                       .peak_bytes = kMiB,
                       .peak_time_ns = 2 * kS,
                       .end_time_ns = 1 * kS};
  const auto lines = lines_of(ascii(t, {.width = 10, .height = 4}));
  EXPECT_EQ(lines[6], "            0   2.00 s");
  EXPECT_EQ(cells(lines[1], 10), "         @");  // the last column holds the end
}

TEST(HeapTimelineAscii, HugeValuesDoNotOverflow) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const HeapTimeline t{.points = {{0, 6 * kGiB}, {kMax / 2, kMax}, {kMax, 6 * kGiB}},
                       .peak_bytes = kMax,
                       .peak_time_ns = kMax / 2,
                       .end_time_ns = kMax};
  const auto lines = lines_of(ascii(t, {.width = 10, .height = 4}));
  ASSERT_EQ(lines.size(), 8u);
  // The heap stays at the maximum from the middle to the end of the axis.
  EXPECT_EQ(lines[1], "   8.0 EiB ^    @#####");
  EXPECT_EQ(cells(lines[4], 10), "####@#####");  // 6 GiB of 8 EiB: still one row
  // The end label is too long to sit beside "0" in 10 columns: it is shown alone.
  EXPECT_EQ(lines[6], "       9223372036.85 s");

  const HeapTimeline gib{.points = {{0, 0}, {kS, 6 * kGiB}},
                         .peak_bytes = 6 * kGiB,
                         .peak_time_ns = kS,
                         .end_time_ns = 2 * kS};
  EXPECT_EQ(lines_of(ascii(gib, {.width = 10, .height = 4})).back(), "peak: 6.0 GiB at 1.00 s");
}

TEST(HeapTimelineSvg, StandaloneDocumentWithTheMarkedPeak) {
  const std::string s = svg(peak_at_1_23());
  EXPECT_TRUE(s.starts_with("<svg ")) << s.substr(0, 40);
  EXPECT_TRUE(s.ends_with("</svg>\n"));
  EXPECT_NE(s.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_NE(s.find("width=\"1000\" height=\"420\""), std::string::npos);
  EXPECT_NE(s.find("<path class=\"area\" d=\"M"), std::string::npos);
  EXPECT_NE(s.find("<title>peak 64.0 MiB at 1.23 s</title><circle "), std::string::npos);
  EXPECT_NE(s.find(">peak 64.0 MiB at 1.23 s</text>"), std::string::npos);
  EXPECT_EQ(count(s, "<title>"), 2u);  // the document's and the peak's
  EXPECT_EQ(count(s, "<g"), count(s, "</g>"));
  EXPECT_EQ(count(s, "<text"), count(s, "</text>"));
  // Five labels per axis (y: 0, quarters, peak; x: 0, quarters, end), plus title and peak.
  EXPECT_EQ(count(s, "<text"), 12u);
  EXPECT_NE(s.find(">64.0 MiB</text>"), std::string::npos);
  EXPECT_NE(s.find(">0 B</text>"), std::string::npos);
  EXPECT_NE(s.find(">0</text>"), std::string::npos);
  EXPECT_NE(s.find(">2.50 s</text>"), std::string::npos);
}

TEST(HeapTimelineSvg, AreaFollowsTheStepsAndReachesThePeak) {
  // 880 pixel columns over 4 s: 220 per second. The area path climbs at each step and closes on
  // the axis (y 384); the peak's top is the plot's top (y 44).
  const std::string s = svg(staircase());
  EXPECT_NE(s.find("d=\"M80,384V384.00H300V299.00H520V44.00H740V214.00H960V384Z\""),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("<circle cx=\"520.50\" cy=\"44.00\" r=\"4\"/>"), std::string::npos);
}

TEST(HeapTimelineSvg, TitleIsEscaped) {
  const std::string s = svg(peak_at_1_23(), {.title = "a & <b> \"c\""});
  EXPECT_NE(s.find("<title>a &amp; &lt;b&gt; &quot;c&quot;</title>"), std::string::npos);
  EXPECT_NE(s.find(">a &amp; &lt;b&gt; &quot;c&quot;</text>"), std::string::npos);
  EXPECT_EQ(s.find("<b>"), std::string::npos);
}

TEST(HeapTimelineSvg, EdgeCasesDraw) {
  const HeapTimeline zero{.points = {{0, 0}}};
  const std::string s = svg(zero, {.svg_width = 200, .svg_height = 120});
  EXPECT_NE(s.find(">peak 0 B at 0 ns</text>"), std::string::npos);
  EXPECT_TRUE(s.ends_with("</svg>\n"));
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  const HeapTimeline huge{.points = {{0, kMax}}, .peak_bytes = kMax, .end_time_ns = kMax};
  EXPECT_NE(svg(huge).find(">peak 8.0 EiB at 0.00 s</text>"), std::string::npos);
}

TEST(HeapTimelineErrors, EmptyTimeline) {
  const HeapTimeline empty{};
  auto a = heap_timeline_ascii(empty);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().op.find("no points"), std::string::npos) << a.error().op;
  EXPECT_EQ(a.error().errnum, 0);
  auto s = heap_timeline_svg(empty);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().op.find("no points"), std::string::npos) << s.error().op;
}

TEST(HeapTimelineErrors, SizesOutOfRange) {
  const HeapTimeline t = peak_at_1_23();
  for (TimelineOptions o : {TimelineOptions{.width = 9}, TimelineOptions{.width = 401},
                            TimelineOptions{.height = 3}, TimelineOptions{.height = 201}}) {
    auto r = heap_timeline_ascii(t, o);
    ASSERT_FALSE(r) << o.width << "x" << o.height;
    EXPECT_NE(r.error().op.find("out of range"), std::string::npos);
    EXPECT_FALSE(r.error().hint.empty());
  }
  auto r = heap_timeline_ascii(t, {.width = 9});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().op, "heap chart width 9 is out of range");
  EXPECT_TRUE(heap_timeline_ascii(t, {.width = 10, .height = 4}));
  EXPECT_TRUE(heap_timeline_ascii(t, {.width = 400, .height = 200}));

  for (TimelineOptions o : {TimelineOptions{.svg_width = 199}, TimelineOptions{.svg_height = 119},
                            TimelineOptions{.svg_width = 0, .svg_height = 0}}) {
    auto s = heap_timeline_svg(t, o);
    ASSERT_FALSE(s) << o.svg_width << "x" << o.svg_height;
    EXPECT_NE(s.error().op.find("out of range"), std::string::npos);
  }
  EXPECT_TRUE(heap_timeline_svg(t, {.svg_width = 200, .svg_height = 120}));
  // The SVG ignores the ASCII sizes.
  EXPECT_TRUE(heap_timeline_svg(t, {.width = 0, .height = 0}));
}

TEST(HeapTimelineDeterminism, SameInputSameOutput) {
  const HeapTimeline t = peak_at_1_23();
  EXPECT_EQ(ascii(t), ascii(t));
  EXPECT_EQ(svg(t), svg(t));
  EXPECT_EQ(ascii(t, {.width = 33, .height = 7}), ascii(t, {.width = 33, .height = 7}));
}

}  // namespace
}  // namespace perfscope::output
