// gzip in memory and as a stream: round trips, several members, input and output in pieces of
// every size, and damaged data (cut short, corrupt, trailing bytes, too large).
#include <gtest/gtest.h>

#include <string>

#include "profile/gzip.hpp"

namespace perfscope::profile {
namespace {

std::string sample_text() {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "main;parse;function_" + std::to_string(i % 97) + " 1\n";
  return text;
}

std::string compressed(std::string_view text) {
  auto z = gzip(text, 6);
  EXPECT_TRUE(z);
  return z ? *z : std::string();
}

// Everything `z` inflates from `data`, supplied `piece` bytes at a time and taken `want` at a time.
Result<std::string> stream(std::string_view data, std::size_t piece, std::size_t want) {
  GzipInflater z("test.gz");
  std::string out;
  std::size_t at = 0;
  while (true) {
    auto n = z.inflate(out, want);
    if (!n) return n.error();
    if (*n > 0) continue;
    EXPECT_TRUE(z.needs_input());
    if (at == data.size()) break;
    const std::size_t len = std::min(piece, data.size() - at);
    z.supply(data.substr(at, len));
    at += len;
  }
  if (auto st = z.finish(); !st) return st.error();
  return out;
}

TEST(ProfileGzip, RoundTripsInMemory) {
  const std::string text = sample_text();
  auto back = gunzip(compressed(text), "test.gz", 1u << 20);
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(*back, text);
  EXPECT_TRUE(is_gzip(compressed(text)));
  EXPECT_FALSE(is_gzip(text));
}

TEST(ProfileGzip, StreamsInPiecesOfAnySize) {
  const std::string text = sample_text();
  // Two members, as `cat a.gz b.gz` makes: both are inflated, in order.
  const std::string two = compressed(text) + compressed("tail\n");
  for (std::size_t piece : {1u, 7u, 512u, 1u << 20}) {
    for (std::size_t want : {1u, 100u, 1u << 16}) {
      auto out = stream(two, piece, want);
      ASSERT_TRUE(out) << piece << "/" << want << ": " << out.error().describe();
      EXPECT_EQ(*out, text + "tail\n") << piece << "/" << want;
    }
  }
}

TEST(ProfileGzip, DamagedDataIsAnErrorNamingTheSource) {
  const std::string z = compressed(sample_text());
  auto cut = stream(z.substr(0, z.size() / 2), 100, 4096);
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().op, "test.gz: the gzip data ends early (truncated file)");
  EXPECT_NE(cut.error().hint.find("damaged"), std::string::npos);

  auto trailing = stream(z + "garbage", 100, 4096);
  ASSERT_FALSE(trailing);
  EXPECT_EQ(trailing.error().op, "test.gz: unexpected data after the end of the gzip stream");

  std::string corrupt = z;
  corrupt[20] = static_cast<char>(corrupt[20] ^ 0x55);
  corrupt[21] = static_cast<char>(corrupt[21] ^ 0x55);
  auto bad = gunzip(corrupt, "test.gz", 1u << 20);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().op.starts_with("test.gz: ")) << bad.error().op;

  auto large = gunzip(z, "test.gz", 1000);
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error().errnum, EFBIG);
}

}  // namespace
}  // namespace perfscope::profile
