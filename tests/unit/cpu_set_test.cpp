// CpuSet: the kernel's CPU list syntax ("0-3,7") parsed, queried and printed back.
#include "core/cpu_set.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "unit/temp_dir_test.hpp"

namespace perfscope {
namespace {

struct ParseCase {
  const char* text;
  std::vector<int> cpus;
  const char* compact;  // to_string()
};

const ParseCase kValidLists[] = {
    {"0-3,7", {0, 1, 2, 3, 7}, "0-3,7"},
    {"0", {0}, "0"},
    {" 0-1\n", {0, 1}, "0-1"},
    {"3,1,2,1", {1, 2, 3}, "1-3"},
    {"0-4,2-6", {0, 1, 2, 3, 4, 5, 6}, "0-6"},
    {"5,0-1,3", {0, 1, 3, 5}, "0-1,3,5"},
    {"2-2", {2}, "2"},
    {"0 , 2", {0, 2}, "0,2"},
    {"8191", {8191}, "8191"},
};

TEST(CpuSetParse, AcceptsKernelListSyntax) {
  for (const auto& c : kValidLists) {
    SCOPED_TRACE(std::string("input '") + c.text + "'");
    auto set = CpuSet::parse(c.text);
    ASSERT_TRUE(set) << set.error().describe();
    EXPECT_EQ(set->cpus(), c.cpus);
    EXPECT_EQ(set->size(), c.cpus.size());
    EXPECT_EQ(set->to_string(), c.compact);
  }
}

TEST(CpuSetParse, ToStringRoundTrips) {
  for (const auto& c : kValidLists) {
    SCOPED_TRACE(std::string("input '") + c.text + "'");
    auto first = CpuSet::parse(c.text);
    ASSERT_TRUE(first);
    auto second = CpuSet::parse(first->to_string());
    ASSERT_TRUE(second) << second.error().describe();
    EXPECT_EQ(second->cpus(), first->cpus());
    EXPECT_EQ(second->to_string(), first->to_string());
  }
}

TEST(CpuSetParse, RejectsMalformedLists) {
  const char* const invalid[] = {"",   "  \n", "3-1",   "a",     "1,,2", "-1",
                                 "1-", "0x1",  "0-3,x", "99999", "8192", "99999999999999999999"};
  for (const char* text : invalid) {
    SCOPED_TRACE(std::string("input '") + text + "'");
    auto set = CpuSet::parse(text);
    ASSERT_FALSE(set) << "parsed as " << set->to_string();
    EXPECT_EQ(set.error().errnum, 0);
    EXPECT_FALSE(set.error().hint.empty());
  }
}

// "1,,2" is an error (an empty item); an empty item at the end of the list should be one too.
TEST(CpuSetParse, RejectsTrailingComma) {
  auto set = CpuSet::parse("0-3,");
  EXPECT_FALSE(set) << "parsed as " << set->to_string();
}

TEST(CpuSetParse, ExplainsReversedRange) {
  auto set = CpuSet::parse("3-1");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().op, "invalid CPU list '3-1'");
  EXPECT_EQ(set.error().hint, "range 3-1 ends before it starts");
}

TEST(CpuSetParse, ExplainsEmptyList) {
  auto set = CpuSet::parse("");
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().op, "empty CPU list");
}

TEST(CpuSet, ConstructorSortsAndDeduplicates) {
  const CpuSet set({7, 3, 1, 3, 7});
  EXPECT_EQ(set.cpus(), (std::vector<int>{1, 3, 7}));
  EXPECT_EQ(set.to_string(), "1,3,7");
  EXPECT_TRUE(CpuSet().empty());
  EXPECT_EQ(CpuSet().to_string(), "");
}

TEST(CpuSet, Contains) {
  auto set = CpuSet::parse("0-3,7");
  ASSERT_TRUE(set);
  for (int cpu : {0, 1, 2, 3, 7}) EXPECT_TRUE(set->contains(cpu)) << cpu;
  for (int cpu : {-1, 4, 6, 8, 8191}) EXPECT_FALSE(set->contains(cpu)) << cpu;
}

TEST(CpuSet, SubsetOf) {
  const CpuSet online({0, 1, 2, 3, 7});
  struct Case {
    std::vector<int> cpus;
    bool subset;
  };
  const Case cases[] = {
      {{}, true},
      {{0}, true},
      {{1, 2}, true},
      {{0, 1, 2, 3, 7}, true},
      {{3, 4}, false},
      {{8}, false},
      {{0, 1, 2, 3, 7, 8}, false},
  };
  for (const auto& c : cases) {
    const CpuSet set(c.cpus);
    EXPECT_EQ(set.subset_of(online), c.subset) << set.to_string();
  }
  EXPECT_FALSE(online.subset_of(CpuSet()));
}

class CpuSetOnline : public testing::TempDirTest {};

TEST_F(CpuSetOnline, ReadsTheSysfsFile) {
  write_file("online", "0-3,6\n");
  auto set = CpuSet::online(path("online"));
  ASSERT_TRUE(set) << set.error().describe();
  EXPECT_EQ(set->cpus(), (std::vector<int>{0, 1, 2, 3, 6}));
  EXPECT_EQ(set->to_string(), "0-3,6");
}

TEST_F(CpuSetOnline, MissingFileKeepsErrno) {
  auto set = CpuSet::online(path("absent"));
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().errnum, ENOENT);
  EXPECT_NE(set.error().op.find(path("absent")), std::string::npos) << set.error().op;
}

TEST_F(CpuSetOnline, MalformedFileIsAnError) {
  write_file("online", "garbage\n");
  auto set = CpuSet::online(path("online"));
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().op, "invalid CPU list 'garbage'");
}

}  // namespace
}  // namespace perfscope
