// The SVG flame graph: golden files (PERFSCOPE_BLESS=1 rewrites them), and the properties the
// golden files rely on: determinism, pruning, truncation, escaping, colours.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

// The value of attribute `attr` in the element starting at `at` (before its first '>').
std::string attr_of(const std::string& svg, std::size_t at, const std::string& attr) {
  const std::size_t close = svg.find('>', at);
  const std::size_t a = svg.find(" " + attr + "=\"", at);
  if (a == std::string::npos || a > close) return {};
  const std::size_t v = a + attr.size() + 3;
  return svg.substr(v, svg.find('"', v) - v);
}

// One drawn frame of the SVG, parsed from its <g class="f">.
struct SvgFrame {
  std::string name;   // data-name, as escaped in the file
  std::string title;  // the <title>
  Rgb fill;
  double width = 0;
  std::string label;  // the <text>
  std::int64_t count = 0;
};

Rgb parse_rgb(const std::string& fill) {
  Rgb c;
  EXPECT_EQ(std::sscanf(fill.c_str(), "rgb(%d,%d,%d)", &c.r, &c.g, &c.b), 3) << fill;
  return c;
}

std::string between(const std::string& s, std::size_t from, const std::string& open,
                    const std::string& close) {
  const std::size_t a = s.find(open, from);
  if (a == std::string::npos) return {};
  const std::size_t b = s.find(close, a + open.size());
  return s.substr(a + open.size(), b - a - open.size());
}

std::vector<SvgFrame> frames_of(const std::string& svg) {
  std::vector<SvgFrame> out;
  const std::string key = "<g class=\"f\"";
  for (std::size_t at = svg.find(key); at != std::string::npos; at = svg.find(key, at + 1)) {
    SvgFrame f;
    f.name = attr_of(svg, at, "data-name");
    f.count = std::stoll(attr_of(svg, at, "data-c"));
    f.title = between(svg, at, "<title>", "</title>");
    const std::size_t rect = svg.find("<rect", at);
    f.fill = parse_rgb(attr_of(svg, rect, "fill"));
    f.width = std::stod(attr_of(svg, rect, "width"));
    f.label = between(svg, rect, "\">", "</text>");
    out.push_back(std::move(f));
  }
  return out;
}

// The legend: data-key -> its swatch's colour.
std::map<std::string, Rgb> legend_of(const std::string& svg) {
  std::map<std::string, Rgb> out;
  const std::string key = "<g class=\"legend-entry\"";
  for (std::size_t at = svg.find(key); at != std::string::npos; at = svg.find(key, at + 1)) {
    const std::string k = attr_of(svg, at, "data-key");
    if (k == "*") continue;
    out[k] = parse_rgb(attr_of(svg, svg.find("<rect", at), "fill"));
  }
  return out;
}

int distance2(Rgb a, Rgb b) {
  return (a.r - b.r) * (a.r - b.r) + (a.g - b.g) * (a.g - b.g) + (a.b - b.b) * (a.b - b.b);
}

// The legend key whose colour is nearest to `c`: what a reader matching colours would pick.
std::string nearest(const std::map<std::string, Rgb>& swatches, Rgb c) {
  std::string best;
  int d = INT32_MAX;
  for (const auto& [k, colour] : swatches) {
    if (distance2(colour, c) < d) d = distance2(colour, c), best = k;
  }
  return best;
}

// Hue in degrees of an RGB colour.
double hue_of(Rgb c) {
  const double r = c.r / 255.0, g = c.g / 255.0, b = c.b / 255.0;
  const double mx = std::max({r, g, b}), mn = std::min({r, g, b}), d = mx - mn;
  if (d == 0) return 0;
  double h = mx == r ? std::fmod((g - b) / d, 6.0) : mx == g ? (b - r) / d + 2 : (r - g) / d + 4;
  h *= 60;
  return h < 0 ? h + 360 : h;
}

double hue_gap(double a, double b) {
  const double d = std::abs(a - b);
  return std::min(d, 360 - d);
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

TEST(FlamegraphSvg, SubtitleUnderTheTitleEscaped) {
  const StackTree t = tree_of("main;work 3\n");
  auto svg = flamegraph_svg(t, {.width = 600, .subtitle = "host <a> & \"b\""});
  ASSERT_TRUE(svg);
  const std::size_t title = svg->find("<text id=\"title\"");
  const std::size_t sub = svg->find("<text id=\"subtitle\"");
  ASSERT_NE(sub, std::string::npos) << *svg;
  EXPECT_EQ(between(*svg, sub, ">", "</text>"), "host &lt;a&gt; &amp; &quot;b&quot;");
  EXPECT_GT(std::stoi(attr_of(*svg, sub, "y")), std::stoi(attr_of(*svg, title, "y")));
  // The frames start below it: the topmost frame's top is under the subtitle's baseline.
  int top = INT32_MAX;
  for (std::size_t at = svg->find("<rect x", svg->find("id=\"frames\"")); at != std::string::npos;
       at = svg->find("<rect x", at + 1)) {
    top = std::min(top, std::stoi(attr_of(*svg, at, "y")));
  }
  EXPECT_GT(top, std::stoi(attr_of(*svg, sub, "y")));
  // Without one, no subtitle element; a differential graph keeps it above its own note.
  EXPECT_EQ(flamegraph_svg(t)->find("id=\"subtitle\""), std::string::npos);
  auto diff = differential_svg(t, t, {.subtitle = "run 2"});
  ASSERT_TRUE(diff);
  const std::size_t first = diff->find("<text id=\"subtitle\"");
  EXPECT_EQ(between(*diff, first, ">", "</text>"), "run 2");
  EXPECT_NE(diff->find("class=\"subtitle\"", first), std::string::npos);
}

TEST(FlamegraphSvg, IgnoreCaseToggleInTheScript) {
  auto svg = flamegraph_svg(tree_of("main 1\n"));
  ASSERT_TRUE(svg);
  for (const char* part : {"<text id=\"ignorecase\"", "function toggleIgnoreCase(",
                           "new RegExp(pattern, ignoreCase ? \"i\" : \"\")"}) {
    EXPECT_NE(svg->find(part), std::string::npos) << part;
  }
}

TEST(FlamegraphSvg, KindLegendMatchesTheColoursUsed) {
  const StackTree t = tree_of(
      "app;main;work;inner_[i] 30\napp;main;read_[k];vfs_read_[k] 20\napp;main;jitted_[j] 10\n"
      "app;main 5\n");
  auto svg = flamegraph_svg(t, {.width = 1200, .min_width = 0, .palette = Palette::kind});
  ASSERT_TRUE(svg);
  const auto swatches = legend_of(*svg);
  EXPECT_EQ(swatches.size(), 4u);
  for (const char* k : {"user", "kernel", "jit", "inlined"}) EXPECT_TRUE(swatches.count(k)) << k;
  EXPECT_NE(svg->find(">JIT</text>"), std::string::npos);
  const auto frames = frames_of(*svg);
  ASSERT_EQ(frames.size(), 8u);
  for (const SvgFrame& f : frames) {
    std::string kind = "user";
    for (const char* k : {"kernel", "jit", "inlined"}) {
      if (f.title.find(std::string(" [") + k + "]") != std::string::npos) kind = k;
    }
    EXPECT_EQ(nearest(swatches, f.fill), kind) << f.title;
  }
  // Only the kinds drawn; no legend for palettes whose colours mean nothing more.
  auto user = flamegraph_svg(tree_of("main;work 3\n"), {.palette = Palette::kind});
  EXPECT_EQ(legend_of(*user).size(), 1u);
  EXPECT_EQ(flamegraph_svg(t)->find("id=\"legend\""), std::string::npos);
}

TEST(FlamegraphSvg, ModuleColoursStableAndApart) {
  FrameModules m;
  m.add("malloc", "libc.so.6");
  m.add("free", "libc.so.6");
  m.add("main", "app");
  m.add("work", "app");
  m.add("inflate", "libz.so.1");
  EXPECT_EQ(m.module_of("main", FrameKind::user), "app");
  EXPECT_EQ(m.module_of("do_syscall_64", FrameKind::kernel), "[kernel.kallsyms]");
  EXPECT_EQ(m.module_of("[libssl.so.3]", FrameKind::user), "libssl.so.3");
  EXPECT_EQ(m.module_of("libc.so.1`strlen", FrameKind::user), "libc.so.1");
  EXPECT_EQ(m.module_of("/usr/lib/libfoo.so+0x1a2b", FrameKind::user), "libfoo.so");
  EXPECT_EQ(m.module_of("operator+0x1", FrameKind::user), "operator");
  EXPECT_EQ(m.module_of("std::foo(int)+0x1", FrameKind::user), "");
  EXPECT_EQ(m.module_of("unknown_fn", FrameKind::user), "");

  const StackTree t = tree_of(
      "proc;main;work;malloc 30\nproc;main;work;free 20\nproc;main;inflate 25\n"
      "proc;main;write_[k] 10\nproc;main;[libssl.so.3] 15\n");
  const SvgOptions o{.width = 1200, .min_width = 0, .palette = Palette::module, .modules = &m};
  auto svg = flamegraph_svg(t, o);
  ASSERT_TRUE(svg);
  EXPECT_EQ(*svg, *flamegraph_svg(t, o)) << "the same colours on every run";
  std::map<std::string, Rgb> fill;
  for (const SvgFrame& f : frames_of(*svg)) fill[f.name] = f.fill;
  // One hue per module, shaded by name; modules apart (each its own twelfth of the circle).
  EXPECT_NE(fill["malloc"], fill["free"]);
  EXPECT_LT(hue_gap(hue_of(fill["malloc"]), hue_of(fill["free"])), 3.0);
  EXPECT_LT(hue_gap(hue_of(fill["main"]), hue_of(fill["work"])), 3.0);
  const std::vector<std::string> one_per_module{"main", "malloc", "inflate", "write",
                                                "[libssl.so.3]"};
  for (std::size_t i = 0; i < one_per_module.size(); ++i) {
    for (std::size_t j = i + 1; j < one_per_module.size(); ++j) {
      EXPECT_GT(hue_gap(hue_of(fill[one_per_module[i]]), hue_of(fill[one_per_module[j]])), 25.0)
          << one_per_module[i] << " vs " << one_per_module[j];
    }
  }
  // Frames of no known module (the process, the root) are grey.
  EXPECT_EQ(fill["proc"].r, fill["proc"].g);
  EXPECT_EQ(fill["proc"].g, fill["proc"].b);
  // The same module keeps its colour in another graph.
  auto other = flamegraph_svg(tree_of("x;malloc 1\n"), o);
  for (const SvgFrame& f : frames_of(*other)) {
    if (f.name == "malloc") {
      EXPECT_EQ(f.fill, fill["malloc"]);
    }
  }
  // The legend names every module, by self samples, and each frame's colour is nearest to its
  // module's entry.
  const auto swatches = legend_of(*svg);
  EXPECT_EQ(swatches.size(), 6u);  // app, libc.so.6, libz.so.1, [kernel.kallsyms], libssl.so.3, ""
  const std::size_t libc = svg->find("data-key=\"libc.so.6\"");
  const std::size_t libz = svg->find("data-key=\"libz.so.1\"");
  EXPECT_LT(libc, libz) << "libc (50 self) before libz (25 self)";
  for (const SvgFrame& f : frames_of(*svg)) {
    const std::string module = m.module_of(f.name == "write" ? "write" : f.name,
                                           f.name == "write" ? FrameKind::kernel : FrameKind::user);
    EXPECT_EQ(nearest(swatches, f.fill), module) << f.name;
  }
  // Many modules: the legend stops at its cap and says how many more.
  const StackTree three = tree_of("a;[m1] 1\na;[m2] 2\na;[m3] 3\n");
  const ModuleColours three_colours(three, nullptr);
  const auto many = legend(three, Palette::module, &three_colours, 2);
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(many[0].key, "m3");
  EXPECT_EQ(many[1].key, "*");
  EXPECT_EQ(many[1].label, "+3 more modules");
}

TEST(FlamegraphSvg, NegateSwapsRedAndBlue) {
  const StackTree before = tree_of("app;main;parse 50\napp;main;serve 50\n");
  const StackTree after = tree_of("app;main;parse 150\napp;main;serve 40\n");
  auto plain = differential_svg(after, before, {.width = 600});
  auto negated = differential_svg(after, before, {.width = 600}, {.negate = true});
  ASSERT_TRUE(plain && negated);
  std::map<std::string, Rgb> a, b;
  for (const SvgFrame& f : frames_of(*plain)) a[f.name] = f.fill;
  for (const SvgFrame& f : frames_of(*negated)) b[f.name] = f.fill;
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, c] : a) {
    // The same intensity with red and blue exchanged.
    EXPECT_EQ(b[name], (Rgb{c.b, c.g, c.r})) << name;
  }
  EXPECT_EQ(b["parse"].b, 255) << "grew: blue";
  EXPECT_EQ(b["serve"].r, 255) << "shrank: red";
  EXPECT_NE(negated->find("blue grew, red shrank"), std::string::npos);
}

TEST(FlamegraphSvg, BaselineWidthsShowWhatVanished) {
  const StackTree before = tree_of("app;main;parse 50\napp;main;serve 50\napp;main;gone 10\n");
  const StackTree after = tree_of("app;main;parse 150\napp;main;serve 40\napp;main;new 10\n");
  auto svg = differential_svg(after, before, {.width = 600}, {.baseline_widths = true});
  ASSERT_TRUE(svg) << svg.error().describe();
  std::map<std::string, SvgFrame> by_name;
  for (const SvgFrame& f : frames_of(*svg)) by_name[f.name] = f;
  EXPECT_FALSE(by_name.count("new")) << "only the baseline's frames";
  ASSERT_TRUE(by_name.count("gone"));
  const SvgFrame& gone = by_name["gone"];
  EXPECT_EQ(gone.count, 10);
  EXPECT_NEAR(gone.width, 580.0 * 10 / 110, 0.01) << "its width in the baseline";
  EXPECT_EQ(gone.title, "gone (baseline 10 samples, 9.09%; gone)");
  EXPECT_EQ(gone.fill.b, 255) << "shrank (to nothing): blue";
  EXPECT_GT(gone.fill.b - gone.fill.r, 0);
  EXPECT_EQ(by_name["parse"].title,
            "parse (baseline 50 samples, 45.45%; +100 samples (+200.00%), now 150)");
  EXPECT_EQ(by_name["parse"].fill, (Rgb{255, 45, 45})) << "the largest change: full red";
  EXPECT_NE(svg->find("frames sized by the baseline"), std::string::npos);
  // Normalised: the baseline scaled to the input's total (200/110) before comparing.
  auto n =
      differential_svg(after, before, {.width = 600}, {.normalize = true, .baseline_widths = true});
  ASSERT_TRUE(n);
  EXPECT_NE(n->find("<title>gone (baseline 10 samples, 9.09%; gone)</title>"), std::string::npos);
  EXPECT_NE(n->find("<title>serve (baseline 50 samples, 45.45%; -50.9 samples (-56.00%), now "
                    "40)</title>"),
            std::string::npos)
      << *n;
  // With --negate as well: the flamegraph.pl `difffolded.pl NEW OLD | flamegraph.pl --negate`
  // hues, the vanished function red.
  auto both =
      differential_svg(after, before, {.width = 600}, {.negate = true, .baseline_widths = true});
  for (const SvgFrame& f : frames_of(*both)) {
    if (f.name == "gone") {
      EXPECT_EQ(f.fill.r, 255);
    }
  }
}

TEST(FlamegraphSvg, LabelsFitAndEndInDotsWhenCut) {
  std::string folded;
  for (int i = 1; i <= 40; ++i) {
    // Short and long names, on frames from a few pixels to a few hundred.
    folded += std::string(i % 2 ? "root;f" : "root;function_with_a_rather_long_name_number_") +
              std::to_string(i) + " " + std::to_string(i * i) + "\n";
  }
  auto svg = flamegraph_svg(tree_of(folded), {.width = 1200, .min_width = 0});
  ASSERT_TRUE(svg);
  int cut = 0, whole = 0;
  for (const SvgFrame& f : frames_of(*svg)) {
    if (f.label.empty()) continue;
    // The estimate the SVG's script uses too: 12 px * 0.59 per character, 3 px padding each side.
    EXPECT_LE(static_cast<double>(f.label.size()) * 12 * 0.59, f.width - 6 + 1e-9) << f.label;
    if (f.label == f.name) {
      ++whole;
    } else {
      ++cut;
      ASSERT_TRUE(f.label.ends_with("..")) << f.label;
      EXPECT_TRUE(f.name.starts_with(f.label.substr(0, f.label.size() - 2))) << f.label;
      EXPECT_GE(f.label.size(), 3u);
    }
  }
  EXPECT_GT(cut, 5);
  EXPECT_GT(whole, 5);
}

}  // namespace
}  // namespace perfscope::output
