// The HTML flame graph page: a golden file (PERFSCOPE_BLESS=1 rewrites it), and what the golden
// file relies on: self-contained (no URL the browser would fetch), deterministic, escaped, the
// top-functions table counting recursion once, frames too small to see left out of the graphs.
// tests/browser/ opens the page in Chromium and drives it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "formats/folded_reader.hpp"
#include "output/html.hpp"
#include "unit/golden.hpp"

namespace perfscope::output {
namespace {

using formats::FoldedReader;

using testing::expect_golden;

StackTree tree_of(std::string_view folded) {
  StackTree t;
  FoldedReader r(t, "fixture");
  EXPECT_TRUE(r.add_text(folded));
  return t;
}

bool has(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

TEST(HtmlFlamegraph, Golden) {
  auto html = flamegraph_html(
      tree_of(testing::kFlamegraphFixture),
      {.title = "Fixture & <friends>", .palette = Palette::kind, .roots_are_processes = true});
  ASSERT_TRUE(html) << html.error().describe();
  expect_golden("flamegraph_small.html", *html);
}

TEST(HtmlFlamegraph, SelfContainedWithNothingToFetch) {
  auto html = flamegraph_html(tree_of(testing::kFlamegraphFixture));
  ASSERT_TRUE(html);
  EXPECT_TRUE(html->starts_with("<!DOCTYPE html>\n"));
  EXPECT_TRUE(html->ends_with("</html>\n"));
  for (std::string_view fetch :
       {"http:", "https:", "src=", "<link", "url(", "@import", "//cdn", "fetch(", "XMLHttp"}) {
    EXPECT_FALSE(has(*html, fetch)) << fetch;
  }
  for (std::string_view id :
       {"id=\"flame\"", "id=\"icicle\"", "id=\"functions\"", "id=\"search\"", "id=\"matched\"",
        "id=\"tooltip\"", "id=\"search-form\"", "id=\"profile\" type=\"application/json\"",
        "class=\"unzoom\"", "data-inverted=\"1\""}) {
    EXPECT_TRUE(has(*html, id)) << id;
  }
}

TEST(HtmlFlamegraph, DeterministicWhateverTheInputOrder) {
  EXPECT_EQ(*flamegraph_html(tree_of("x;b 1\nx;a 2\ny 3\n")),
            *flamegraph_html(tree_of("y 3\nx;a 2\nx;b 1\n")));
}

TEST(HtmlFlamegraph, FramesAreDataInDepthFirstOrderWithOffsets) {
  auto html = flamegraph_html(tree_of("main;work 3\nmain 1\nother 2\n"), {.unit = "ms"});
  ASSERT_TRUE(html);
  // [name, kind, depth, start, count, self, colour]: all, main (self at its right end), work,
  // other.
  EXPECT_TRUE(has(*html, "{\"total\":6,\"unit\":\"ms\",")) << *html;
  EXPECT_TRUE(has(*html, "\"names\":[\"all\",\"main\",\"work\",\"other\"],")) << *html;
  EXPECT_TRUE(has(*html, "\n[0,0,0,0,6,0,"));
  EXPECT_TRUE(has(*html, "\n[1,0,1,0,4,1,"));
  EXPECT_TRUE(has(*html, "\n[2,0,2,0,3,3,"));
  EXPECT_TRUE(has(*html, "\n[3,0,1,4,2,2,"));
  EXPECT_TRUE(has(*html, "<p id=\"summary\">6 ms, 4 frames drawn, 3 functions</p>"));
}

TEST(HtmlFlamegraph, IcicleFirstOnRequest) {
  auto html = flamegraph_html(tree_of("a 1\n"), {.icicle_first = true});
  ASSERT_TRUE(html);
  EXPECT_LT(html->find("id=\"icicle\""), html->find("id=\"flame\""));
}

TEST(HtmlFlamegraph, TableCountsRecursionOnceAndCanLeaveOutProcesses) {
  const StackTree t = tree_of("app;a;b;a;c 5\napp;a;b 3\napp;d 2\n");
  const auto rows = function_totals(t, /*roots_are_processes=*/true);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].name, "c");
  EXPECT_EQ(rows[0].self, 5);
  EXPECT_EQ(rows[1].name, "b");
  EXPECT_EQ(rows[1].self, 3);
  EXPECT_EQ(rows[1].total, 8);
  EXPECT_EQ(rows[2].name, "d");
  EXPECT_EQ(rows[3].name, "a");
  EXPECT_EQ(rows[3].self, 0);
  EXPECT_EQ(rows[3].total, 8) << "a recursive call counts its samples once";
  const auto with_app = function_totals(t, false);
  ASSERT_EQ(with_app.size(), 5u);
  EXPECT_EQ(with_app[3].name, "app");
  EXPECT_EQ(with_app[3].total, 10);

  auto html = flamegraph_html(t, {.roots_are_processes = true});
  ASSERT_TRUE(html);
  EXPECT_TRUE(has(*html,
                  "<tr><td class=\"name\">a</td><td class=\"num\" data-v=\"0\">0</td><td "
                  "class=\"num\" data-v=\"0.00\">0.00%</td><td class=\"num\" data-v=\"8\">8</td>"
                  "<td class=\"num\" data-v=\"80.00\">80.00%</td></tr>"))
      << *html;
  EXPECT_FALSE(has(*html, "<td class=\"name\">app</td>"));
}

TEST(HtmlFlamegraph, TableKeepsTheTopBySelfAndByTotal) {
  // main has no self samples but the largest total: it stays even when the table is cut to 2.
  const StackTree t = tree_of("main;a 5\nmain;b 4\nmain;c 3\nmain;d 2\n");
  auto html = flamegraph_html(t, {.top = 2});
  ASSERT_TRUE(html);
  for (std::string_view kept : {">a</td>", ">b</td>", ">main</td>"}) {
    EXPECT_TRUE(has(*html, kept)) << kept;
  }
  EXPECT_FALSE(has(*html, ">c</td>"));
  EXPECT_TRUE(has(*html, "The 3 of 5 functions with the most self or total samples."));
  auto none = flamegraph_html(t, {.top = 0});
  ASSERT_TRUE(none);
  EXPECT_TRUE(has(*none, "The 0 of 5 functions"));
  EXPECT_FALSE(has(*none, "<td class=\"name\">"));
}

TEST(HtmlFlamegraph, SmallFramesLeaveTheGraphsButNotTheTable) {
  const StackTree t = tree_of("main;hot 100000\nmain;tiny 1\n");
  auto html = flamegraph_html(t, {.min_share = 0.0001});
  ASSERT_TRUE(html);
  EXPECT_FALSE(has(*html, "\"tiny\"")) << "not in the graph data";
  EXPECT_TRUE(has(*html, "<td class=\"name\">tiny</td>"));
  auto all = flamegraph_html(t, {.min_share = 0});
  EXPECT_TRUE(has(*all, "\"tiny\""));
}

TEST(HtmlFlamegraph, NamesCannotBreakOutOfTheirContext) {
  auto html = flamegraph_html(tree_of("a</script><b>&\"c';x 1\nok;\xff\x01name 1\n"),
                              {.title = "</title><script>alert(1)</script>"});
  ASSERT_TRUE(html);
  EXPECT_EQ(html->find("</script><b>"), std::string::npos);
  EXPECT_EQ(html->find("<script>alert"), std::string::npos);
  EXPECT_TRUE(has(*html, "\"a\\u003c/script\\u003e\\u003cb\\u003e\\u0026\\\"c'\"")) << *html;
  EXPECT_TRUE(has(*html, "<td class=\"name\">a&lt;/script&gt;&lt;b&gt;&amp;&quot;c&apos;</td>"));
  EXPECT_TRUE(has(*html, "\"?\\u0001name\"")) << "invalid UTF-8 replaced, controls escaped";
  EXPECT_TRUE(has(*html, "<td class=\"name\">??name</td>"));
  EXPECT_TRUE(has(*html, "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>"));
}

TEST(HtmlFlamegraph, SubtitleEscapedUnderTheTitle) {
  auto html = flamegraph_html(tree_of("a 1\n"), {.subtitle = "<b>run</b> & \"2\""});
  ASSERT_TRUE(html);
  const std::size_t at =
      html->find("<p id=\"subtitle\">&lt;b&gt;run&lt;/b&gt; &amp; &quot;2&quot;</p>");
  ASSERT_NE(at, std::string::npos) << *html;
  EXPECT_LT(html->find("</h1>"), at);
  EXPECT_FALSE(has(*flamegraph_html(tree_of("a 1\n")), "id=\"subtitle\""));
}

TEST(HtmlFlamegraph, IgnoreCaseBoxAndLabelFitting) {
  auto html = flamegraph_html(tree_of("a 1\n"));
  ASSERT_TRUE(html);
  for (std::string_view part :
       {"<input id=\"search-ignore-case\" type=\"checkbox\">",
        "new RegExp(pattern, ignoreCase.checked ? \"i\" : \"\")", "function fitName(",
        "f.chars.slice(0, lo).join(\"\") + \"..\"", "setAttribute(\"aria-label\", f.name)"}) {
    EXPECT_TRUE(has(*html, part)) << part;
  }
}

// The page's legend (data-key -> colour) and its frames' (kind index, colour) from the JSON.
TEST(HtmlFlamegraph, KindLegendMatchesTheFrameColours) {
  const StackTree t = tree_of("app;main;read_[k] 2\napp;main;work;inner_[i] 3\napp;jit_[j] 1\n");
  auto html = flamegraph_html(t, {.palette = Palette::kind, .min_share = 0});
  ASSERT_TRUE(html);
  std::map<std::string, Rgb> legend;
  const std::string li = "<li data-key=\"";
  for (std::size_t at = html->find(li); at != std::string::npos; at = html->find(li, at + 1)) {
    const std::size_t k = at + li.size();
    const std::string key = html->substr(k, html->find('"', k) - k);
    unsigned c = 0;
    ASSERT_EQ(std::sscanf(html->c_str() + html->find("background:#", at) + 12, "%6x", &c), 1);
    legend[key] = {static_cast<int>(c >> 16), static_cast<int>((c >> 8) & 0xff),
                   static_cast<int>(c & 0xff)};
  }
  ASSERT_EQ(legend.size(), 4u) << *html;
  const char* kinds[] = {"user", "kernel", "jit", "inlined"};
  std::size_t at = html->find("\"frames\":[");
  int frames = 0;
  for (at = html->find("\n[", at); at != std::string::npos; at = html->find("\n[", at + 1)) {
    int name = 0, kind = 0, depth = 0, start = 0, count = 0, self = 0;
    unsigned colour = 0;
    ASSERT_EQ(std::sscanf(html->c_str() + at + 2, "%d,%d,%d,%d,%d,%d,%u", &name, &kind, &depth,
                          &start, &count, &self, &colour),
              7);
    const Rgb c{static_cast<int>(colour >> 16), static_cast<int>((colour >> 8) & 0xff),
                static_cast<int>(colour & 0xff)};
    std::string best;
    int best_d = INT32_MAX;
    for (const auto& [key, l] : legend) {
      const int d =
          (l.r - c.r) * (l.r - c.r) + (l.g - c.g) * (l.g - c.g) + (l.b - c.b) * (l.b - c.b);
      if (d < best_d) best_d = d, best = key;
    }
    EXPECT_EQ(best, kinds[kind]) << "frame " << frames;
    ++frames;
  }
  EXPECT_EQ(frames, 7);
  EXPECT_FALSE(has(*flamegraph_html(t), "id=\"legend\"")) << "hot: no legend";
}

TEST(HtmlFlamegraph, Errors) {
  EXPECT_FALSE(flamegraph_html(StackTree{}));
  EXPECT_FALSE(flamegraph_html(tree_of("a 1\n"), {.min_share = -1}));
  EXPECT_FALSE(flamegraph_html(tree_of("a 1\n"), {.min_share = 2}));
}

}  // namespace
}  // namespace perfscope::output
