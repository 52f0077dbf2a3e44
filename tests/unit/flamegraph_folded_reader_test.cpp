// FoldedReader and LineSplitter: valid folded input, and errors that name the line and the reason.
#include <gtest/gtest.h>

#include <string>

#include "formats/folded_reader.hpp"
#include "formats/line_splitter.hpp"

namespace perfscope::formats {
namespace {

using output::FrameKind;
using output::StackTree;

Result<std::string> refold(std::string_view text, FoldedReaderOptions o = {}) {
  StackTree t;
  FoldedReader r(t, "in.folded", std::move(o));
  if (auto st = r.add_text(text); !st) return std::move(st).take_error();
  return folded_from_tree(t);
}

std::string error_of(std::string_view text) {
  auto r = refold(text);
  if (r) return "(no error)";
  return r.error().op;
}

TEST(FlamegraphFoldedReader, ReadsLinesMergesDuplicatesAndKeepsKinds) {
  auto r = refold(
      "# a comment\n"
      "main;parse;memcpy 40\n"
      "\n"
      "main;parse;memcpy 2\r\n"
      "main;read;sys_read_[k] 5\n"
      "main;idle 0\n"
      "  main;serve\t7  \n"
      "main;last 1");  // no final newline
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "main;last 1\nmain;parse;memcpy 42\nmain;read;sys_read_[k] 5\nmain;serve 7\n");
}

TEST(FlamegraphFoldedReader, FrameNamesMayHoldSpaces) {
  auto r = refold("a thread;operator() (int) 3\n");
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, "a thread;operator() (int) 3\n");
}

TEST(FlamegraphFoldedReader, CommFilterMatchesTheRootFrame) {
  auto r = refold("web;main 1\ndb;main 2\n", {.comm = "db"});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, "db;main 2\n");
}

TEST(FlamegraphFoldedReader, MalformedLinesGiveTheLineNumberAndTheReason) {
  EXPECT_EQ(error_of("a;b 1\nnocount\n"),
            "in.folded:2: no count at the end of the line (expected 'frame;frame;... COUNT')");
  EXPECT_EQ(error_of("a;b x1\n"), "in.folded:1: the count 'x1' is not a whole number");
  EXPECT_EQ(error_of("a;b 1.5\n"), "in.folded:1: the count '1.5' is not a whole number");
  EXPECT_EQ(error_of("a;b -3\n"), "in.folded:1: the count -3 is negative");
  EXPECT_EQ(error_of("a;b 99999999999999999999\n"),
            "in.folded:1: the count '99999999999999999999' is too large");
  EXPECT_EQ(error_of("\n\n 5\n"),
            "in.folded:3: no count at the end of the line (expected "
            "'frame;frame;... COUNT')");
  EXPECT_EQ(error_of("a;;b 1\n"),
            "in.folded:1: frame 2 is empty (two ';' in a row, or one at an end)");
  EXPECT_EQ(error_of("a; 1\n"),
            "in.folded:1: frame 2 is empty (two ';' in a row, or one at an end)");
  EXPECT_EQ(error_of(std::string("a\0b 1\n", 6)),
            "in.folded:1: the line holds a NUL byte: this is binary data, not folded stacks");
  EXPECT_EQ(error_of("a 9223372036854775807\nb 1\n"),
            "in.folded:2: the counts add up to more than 2^63");
  auto r = refold("bad\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().hint.find("main;parse;memcpy 42"), std::string::npos) << r.error().hint;
}

TEST(FlamegraphFoldedReader, LineSplitterJoinsLinesAcrossChunks) {
  const std::string text = "alpha;beta 3\r\ngamma 4\nlast 5";
  for (std::size_t chunk = 1; chunk <= text.size(); ++chunk) {
    LineSplitter s;
    std::vector<std::string> lines;
    auto on = [&](std::string_view l) -> Status {
      lines.emplace_back(l);
      return {};
    };
    for (std::size_t i = 0; i < text.size(); i += chunk) {
      ASSERT_TRUE(s.feed(std::string_view(text).substr(i, chunk), on));
    }
    ASSERT_TRUE(s.finish(on));
    EXPECT_EQ(lines, (std::vector<std::string>{"alpha;beta 3", "gamma 4", "last 5"}))
        << "chunk " << chunk;
  }
}

}  // namespace
}  // namespace perfscope::formats
