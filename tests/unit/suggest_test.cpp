// "Did you mean": edit distance and the nearest candidate names.
#include "events/suggest.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace perfscope::events {
namespace {

struct DistanceCase {
  const char* a;
  const char* b;
  std::size_t distance;
};

TEST(EditDistance, Levenshtein) {
  const DistanceCase cases[] = {
      {"", "", 0},
      {"abc", "", 3},
      {"", "abc", 3},
      {"cycles", "cycles", 0},
      {"cycles", "cyclse", 2},  // a transposition is two edits
      {"page-fault", "page-faults", 1},
      {"kitten", "sitting", 3},
      {"flaw", "lawn", 2},
      {"cs", "cycles", 4},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.a) + " / " + c.b);
    EXPECT_EQ(edit_distance(c.a, c.b), c.distance);
    EXPECT_EQ(edit_distance(c.b, c.a), c.distance);
  }
}

TEST(EditDistance, IgnoresCase) {
  EXPECT_EQ(edit_distance("CYCLES", "cycles"), 0u);
  EXPECT_EQ(edit_distance("Page_Faults", "PAGE_FAULTS"), 0u);
  EXPECT_EQ(edit_distance("PAGE_FAULT", "page-faults"), 2u);
}

const std::vector<std::string> kCandidates = {
    "bus-cycles", "cycles", "cpu-cycles", "instructions", "cycle", "page-faults",
};

TEST(ClosestNames, BestFirstThenCandidateOrder) {
  // cycle (0), cycles (1), then bus-cycles and cpu-cycles, which contain the word.
  EXPECT_EQ(closest_names("cycle", kCandidates),
            (std::vector<std::string>{"cycle", "cycles", "bus-cycles"}));
  EXPECT_EQ(closest_names("cycle", kCandidates, 4),
            (std::vector<std::string>{"cycle", "cycles", "bus-cycles", "cpu-cycles"}));
}

TEST(ClosestNames, HonoursMax) {
  EXPECT_EQ(closest_names("cycle", kCandidates, 1), (std::vector<std::string>{"cycle"}));
  EXPECT_EQ(closest_names("cycle", kCandidates, 2), (std::vector<std::string>{"cycle", "cycles"}));
  EXPECT_TRUE(closest_names("cycle", kCandidates, 0).empty());
}

TEST(ClosestNames, KeepsTheCandidateSpelling) {
  EXPECT_EQ(closest_names("INSTRUCTIONS", kCandidates), (std::vector<std::string>{"instructions"}));
  EXPECT_EQ(closest_names("Page-Fault", kCandidates), (std::vector<std::string>{"page-faults"}));
}

TEST(ClosestNames, SuggestsEachNameOnce) {
  const std::vector<std::string> repeated = {"cycles", "cycles", "cycles"};
  EXPECT_EQ(closest_names("cyclse", repeated), (std::vector<std::string>{"cycles"}));
}

TEST(ClosestNames, NothingForAFarWord) {
  EXPECT_TRUE(closest_names("zzzzzzzz", kCandidates).empty());
  EXPECT_TRUE(closest_names("memory-bandwidth", kCandidates).empty());
  EXPECT_TRUE(closest_names("cycles", {}).empty());
}

TEST(ClosestNames, ShortWordsNeedCloseMatches) {
  // Two edits are always allowed; "containing" counts only for words of three letters or more.
  EXPECT_EQ(closest_names("cs", {"ab", "cycles", "cs", "csv", "abcd"}),
            (std::vector<std::string>{"cs", "csv", "ab"}));
  EXPECT_TRUE(closest_names("cy", {"cycles"}).empty());
}

}  // namespace
}  // namespace perfscope::events
