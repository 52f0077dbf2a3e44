// PMU sysfs format fields: "config:0-7,21" parsed, and values scattered into attr.config*.
#include "events/pmu_format.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace perfscope::events {
namespace {

using Ranges = std::vector<std::pair<int, int>>;

Ranges ranges_of(const FormatField& field) {
  Ranges out;
  for (const auto& r : field.ranges) out.emplace_back(r.low, r.high);
  return out;
}

struct FormatCase {
  const char* text;
  int config_index;
  Ranges ranges;
};

TEST(ParseFormatField, ReadsTargetAndBitRanges) {
  const FormatCase cases[] = {
      {"config:0-7", 0, {{0, 7}}},    {"config:0-7\n", 0, {{0, 7}}},
      {"config1:0-63", 1, {{0, 63}}}, {"config2:5", 2, {{5, 5}}},
      {"config:21", 0, {{21, 21}}},   {"config:0-7,21,32-35", 0, {{0, 7}, {21, 21}, {32, 35}}},
      {"config:63", 0, {{63, 63}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto field = parse_format_field(c.text);
    ASSERT_TRUE(field) << field.error().describe();
    EXPECT_EQ(field->config_index, c.config_index);
    EXPECT_EQ(ranges_of(*field), c.ranges);
  }
}

TEST(ParseFormatField, RejectsMalformedText) {
  const char* const invalid[] = {
      "",           "config",      "config:",       "config3:0-7", "cfg:0-7",
      "config:7-0", "config:0-64", "config:64",     "config:a-b",  "config:,",
      "config:0-",  "config:-7",   "config:0-7,,8", "0-7",
  };
  for (const char* text : invalid) {
    SCOPED_TRACE(std::string("'") + text + "'");
    auto field = parse_format_field(text);
    ASSERT_FALSE(field) << ranges_of(*field).size() << " ranges";
    EXPECT_EQ(field.error().op.rfind("invalid PMU format", 0), 0u) << field.error().op;
  }
}

struct ApplyCase {
  const char* format;
  std::uint64_t value;
  std::uint64_t before[3];
  std::uint64_t after[3];
};

// Parses `format` and applies `value` to a copy of `before`.
Status apply(const char* format, std::uint64_t value, std::uint64_t config[3]) {
  auto field = parse_format_field(format);
  if (!field) return field.error();
  return apply_format_field(*field, value, config);
}

TEST(ApplyFormatField, ScattersValueBits) {
  constexpr std::uint64_t kAllOnes = ~std::uint64_t{0};
  const ApplyCase cases[] = {
      {"config:0-7", 0x3c, {0, 0, 0}, {0x3c, 0, 0}},
      // Other bits stay; the field's own bits are replaced.
      {"config:8-15", 0x01, {0x3c, 0, 0}, {0x13c, 0, 0}},
      {"config:0-7", 0x01, {0xffff, 0, 0}, {0xff01, 0, 0}},
      {"config:21", 1, {0x3c, 0, 0}, {0x20003c, 0, 0}},
      // Lowest bits into the first range, the rest into the next.
      {"config:0-7,32-35", 0x5ab, {0, 0, 0}, {0x5000000ab, 0, 0}},
      {"config:0-3,8-11,20", 0x1ff, {0, 0, 0}, {0x100f0f, 0, 0}},
      {"config:0-3,8-11,20", 0x0a5, {0, 0, 0}, {0x0a05, 0, 0}},
      {"config1:0-15", 3, {7, 0, 9}, {7, 3, 9}},
      {"config2:4-7", 0xf, {0, 0, 0}, {0, 0, 0xf0}},
      // The full 64-bit range.
      {"config1:0-63", kAllOnes, {0, 0, 0}, {0, kAllOnes, 0}},
      {"config:0-63", 0x123456789abcdef0, {kAllOnes, 0, 0}, {0x123456789abcdef0, 0, 0}},
      {"config:63", 1, {0, 0, 0}, {std::uint64_t{1} << 63, 0, 0}},
      {"config:0-31,32-63", kAllOnes, {0, 0, 0}, {kAllOnes, 0, 0}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.format) + " <- " + std::to_string(c.value));
    std::uint64_t config[3] = {c.before[0], c.before[1], c.before[2]};
    auto st = apply(c.format, c.value, config);
    ASSERT_TRUE(st) << st.error().describe();
    EXPECT_EQ(config[0], c.after[0]);
    EXPECT_EQ(config[1], c.after[1]);
    EXPECT_EQ(config[2], c.after[2]);
  }
}

TEST(ApplyFormatField, RejectsValuesThatDoNotFit) {
  struct Overflow {
    const char* format;
    std::uint64_t value;
  };
  const Overflow cases[] = {
      {"config:0-7", 0x100},
      {"config:0-7", 0x1ff},
      {"config:21", 2},
      {"config:0-3,8-11", 0x100},
      {"config:63", 2},
      {"config1:0-15", 0x10000},
      {"config:0-62", ~std::uint64_t{0}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.format) + " <- " + std::to_string(c.value));
    std::uint64_t config[3] = {0, 0, 0};
    auto st = apply(c.format, c.value, config);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().errnum, EINVAL);
    EXPECT_EQ(st.error().op, "value too large for PMU field");
  }
}

}  // namespace
}  // namespace perfscope::events
