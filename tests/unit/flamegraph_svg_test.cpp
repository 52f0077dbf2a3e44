// The SVG flame graph: golden files (PERFSCOPE_BLESS=1 rewrites them), and the properties the
// golden files rely on: determinism, pruning, truncation, escaping, colours.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "formats/folded_reader.hpp"
#include "output/flamegraph_svg.hpp"
#include "unit/golden.hpp"

namespace perfscope::output {
namespace {

using formats::FoldedReader;

StackTree tree_of(std::string_view folded) {
  StackTree t;
  FoldedReader r(t, "fixture");
  EXPECT_TRUE(r.add_text(folded));
  return t;
}

// The fill of each frame named `name`: "rgb(r,g,b)". (String search, not std::regex: gcc 12
// warns inside <regex> under the sanitizers.)
std::vector<std::string> fills_of(const std::string& svg, const std::string& name) {
  std::vector<std::string> out;
  const std::string key = "data-name=\"" + name + "\"";
  for (std::size_t at = svg.find(key); at != std::string::npos; at = svg.find(key, at + 1)) {
    const std::size_t fill = svg.find("fill=\"", at);
    const std::size_t end = svg.find('"', fill + 6);
    if (fill == std::string::npos || end == std::string::npos) break;
    out.push_back(svg.substr(fill + 6, end - fill - 6));
  }
  return out;
}

using testing::expect_golden;

TEST(FlamegraphSvg, GoldenHot) {
  auto svg = flamegraph_svg(tree_of(testing::kFlamegraphFixture),
                            {.title = "Fixture & <friends>", .width = 800});
  ASSERT_TRUE(svg) << svg.error().describe();
  expect_golden("flamegraph_hot.svg", *svg);
}

TEST(FlamegraphSvg, GoldenInvertedKind) {
  auto svg =
      flamegraph_svg(tree_of(testing::kFlamegraphFixture),
                     {.title = "Icicle", .width = 600, .inverted = true, .palette = Palette::kind});
  ASSERT_TRUE(svg) << svg.error().describe();
  expect_golden("flamegraph_icicle_kind.svg", *svg);
}

TEST(FlamegraphSvg, GoldenDifferentialNormalized) {
  const StackTree before = tree_of("app;main;parse 50\napp;main;serve 50\napp;main;gone 10\n");
  const StackTree after = tree_of("app;main;parse 150\napp;main;serve 40\napp;main;new 10\n");
  auto svg = differential_svg(after, before, {.title = "Diff", .width = 600}, {.normalize = true});
  ASSERT_TRUE(svg) << svg.error().describe();
  expect_golden("flamegraph_diff.svg", *svg);
  auto raw = differential_svg(after, before, {.title = "Diff", .width = 600});
  ASSERT_TRUE(raw);
  EXPECT_NE(raw->find("<title>parse (150 samples, 75.00%; +100 samples (+200.00%) vs baseline "
                      "50)</title>"),
            std::string::npos)
      << *raw;
  EXPECT_NE(raw->find("<title>new (10 samples, 5.00%; new)</title>"), std::string::npos);
  // serve shrank: blue; parse grew: red.
  const auto serve = fills_of(*raw, "serve");
  ASSERT_EQ(serve.size(), 1u);
  EXPECT_TRUE(serve[0].ends_with(",255)")) << serve[0];
  const auto parse = fills_of(*raw, "parse");
  ASSERT_EQ(parse.size(), 1u);
  EXPECT_TRUE(parse[0].starts_with("rgb(255,")) << parse[0];
}

TEST(FlamegraphSvg, DeterministicWhateverTheInputOrder) {
  const StackTree a = tree_of("x;b 1\nx;a 2\ny 3\n");
  const StackTree b = tree_of("y 3\nx;a 2\nx;b 1\n");
  EXPECT_EQ(*flamegraph_svg(a), *flamegraph_svg(b));
}

TEST(FlamegraphSvg, EachFrameHasRectTextTitleAndDataForTheScript) {
  auto svg = flamegraph_svg(tree_of("main;work 3\nmain 1\n"), {.width = 1000});
  ASSERT_TRUE(svg);
  EXPECT_NE(svg->find("<g class=\"f\" data-name=\"work\" data-s=\"0\" data-c=\"3\" data-d=\"2\">"
                      "<title>work (3 samples, 75.00%)</title><rect "),
            std::string::npos)
      << *svg;
  EXPECT_NE(svg->find("<title>all (4 samples, 100.00%)</title>"), std::string::npos);
  for (const char* id :
       {"id=\"frames\"", "id=\"details\"", "id=\"matched\"", "id=\"search\"", "id=\"unzoom\"",
        "function search(", "function resetZoom(", "function zoom("}) {
    EXPECT_NE(svg->find(id), std::string::npos) << id;
  }
  EXPECT_EQ(svg->find("http://", svg->find("xmlns=") + 50), std::string::npos)
      << "no network references beyond the namespace";
}

TEST(FlamegraphSvg, NarrowFramesAreLeftOut) {
  const StackTree t = tree_of("main;hot 100000\nmain;tiny 1\n");
  auto svg = flamegraph_svg(t, {.width = 1200, .min_width = 0.1});
  ASSERT_TRUE(svg);
  EXPECT_EQ(svg->find("data-name=\"tiny\""), std::string::npos);
  auto all = flamegraph_svg(t, {.width = 1200, .min_width = 0});
  EXPECT_NE(all->find("data-name=\"tiny\""), std::string::npos);
}

TEST(FlamegraphSvg, LongNamesAreTruncatedAndMarkupEscaped) {
  const std::string name(200, 'x');
  auto svg = flamegraph_svg(tree_of("a<b>&\"c';" + name + " 1\n"), {.width = 300});
  ASSERT_TRUE(svg);
  EXPECT_NE(svg->find("data-name=\"a&lt;b&gt;&amp;&quot;c&apos;\""), std::string::npos) << *svg;
  // 280 px at 12px * 0.59 per character: 38 characters, the last two "..".
  EXPECT_NE(svg->find(">" + std::string(36, 'x') + "..</text>"), std::string::npos) << *svg;
  // Invalid UTF-8 and control characters cannot break the XML.
  auto bad = flamegraph_svg(tree_of("ok;\xff\x01name 1\n"));
  ASSERT_TRUE(bad);
  EXPECT_NE(bad->find("data-name=\"??name\""), std::string::npos);
}

TEST(FlamegraphSvg, ColoursDependOnTheNameOnly) {
  auto one = flamegraph_svg(tree_of("p;q;same 1\nr;same 1\n"), {.width = 400, .min_width = 0});
  ASSERT_TRUE(one);
  const auto fills = fills_of(*one, "same");
  ASSERT_EQ(fills.size(), 2u);
  EXPECT_EQ(fills[0], fills[1]);
}

TEST(FlamegraphSvg, OptionsAndEmptyTreesAreErrors) {
  EXPECT_FALSE(flamegraph_svg(StackTree{}));
  const StackTree t = tree_of("a 1\n");
  EXPECT_FALSE(flamegraph_svg(t, {.width = 10}));
  EXPECT_FALSE(flamegraph_svg(t, {.min_width = -1}));
  EXPECT_FALSE(differential_svg(t, StackTree{}));
  EXPECT_TRUE(parse_palette("kind"));
  auto bad = parse_palette("rainbow");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().op, "unknown colour palette 'rainbow'");
}

}  // namespace
}  // namespace perfscope::output
