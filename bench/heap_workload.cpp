// ps-heap-workload [THREADS] [ROUNDS]: allocation-heavy C++ for comparing heap profilers
// (bench/compare_mem.sh, issue 9). Each of THREADS threads (default 2) runs ROUNDS rounds
// (default 4); a round
//   build_index  fills a std::unordered_map<int, std::string> with 200,000 inserts whose values
//                are longer than 15 characters (past libstdc++'s small-string buffer), so every
//                insert makes two heap blocks, the hash node and the string's characters, and the
//                bucket array is regrown as the map fills
//   tokenize     splits 25,000 generated lines into a std::vector<std::string> of 8 tokens each,
//                all longer than 15 characters (one block per token, plus the vector's growth)
//   lookup       looks up 200,000 keys (about 40% present) and folds what it finds into a sum
//   and then clears both, freeing everything.
// A round makes about 580,000 allocations per thread; the defaults about 4.7 million in all.
// Prints a checksum so the work cannot be optimised away. The work is the same on every run
// (a fixed xorshift seed per thread), so the allocation count and checksum are reproducible.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

constexpr int kIndexEntries = 200'000;
constexpr int kLines = 25'000;
constexpr int kTokensPerLine = 8;
constexpr int kLookups = 200'000;

// xorshift64: deterministic and cheap, so the allocator, not the generator, dominates.
struct Rng {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
};

// A value of 23 to 38 characters: always heap-allocated by std::string.
__attribute__((noinline)) std::string make_value(Rng& rng, int key) {
  char buf[64];
  const int extra = static_cast<int>(rng.next() % 16);
  const int n = std::snprintf(buf, sizeof buf, "record-%08d-%.*s", key, extra + 7,
                              "abcdefghijklmnopqrstuvwxyz");
  return std::string(buf, static_cast<std::size_t>(n));
}

__attribute__((noinline)) void build_index(std::unordered_map<int, std::string>& index, Rng& rng) {
  for (int i = 0; i < kIndexEntries; ++i) {
    // Keys spread over twice the entry count, so some inserts land on an existing key.
    const int key = static_cast<int>(rng.next() % (2 * kIndexEntries));
    index.insert_or_assign(key, make_value(rng, key));
  }
}

// One line of kTokensPerLine space-separated words, each 16 to 27 characters.
__attribute__((noinline)) std::string make_line(Rng& rng, int line) {
  std::string text;
  text.reserve(kTokensPerLine * 28);
  char buf[40];
  for (int t = 0; t < kTokensPerLine; ++t) {
    const int n = std::snprintf(buf, sizeof buf, "%stoken-%06d-%02d-%.*s", t == 0 ? "" : " ", line,
                                t, static_cast<int>(rng.next() % 12), "0123456789ab");
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

__attribute__((noinline)) void tokenize(std::string_view line, std::vector<std::string>& tokens) {
  std::size_t start = 0;
  while (start < line.size()) {
    std::size_t end = line.find(' ', start);
    if (end == std::string_view::npos) end = line.size();
    if (end > start) tokens.emplace_back(line.substr(start, end - start));
    start = end + 1;
  }
}

__attribute__((noinline)) std::uint64_t lookup(const std::unordered_map<int, std::string>& index,
                                               Rng& rng) {
  std::uint64_t sum = 0;
  for (int i = 0; i < kLookups; ++i) {
    const int key = static_cast<int>(rng.next() % (2 * kIndexEntries));
    if (const auto it = index.find(key); it != index.end()) {
      sum += it->second.size() + static_cast<unsigned char>(it->second.back());
    }
  }
  return sum;
}

__attribute__((noinline)) void worker(int thread, int rounds, std::uint64_t* checksum) {
  Rng rng{0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(thread + 1)};
  std::uint64_t sum = 0;
  std::unordered_map<int, std::string> index;
  std::vector<std::string> tokens;
  for (int round = 0; round < rounds; ++round) {
    build_index(index, rng);
    for (int line = 0; line < kLines; ++line) tokenize(make_line(rng, line), tokens);
    sum += lookup(index, rng);
    sum += index.size() + tokens.size() + tokens.back().size();
    index.clear();
    tokens = {};  // frees the vector's own block too, so the next round regrows it
  }
  *checksum = sum;
}

int parse_count(const char* text, int fallback) {
  if (text == nullptr) return fallback;
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 1'000'000) {
    std::fprintf(stderr, "ps-heap-workload: '%s' is not a count from 1 to 1000000\n", text);
    std::exit(2);
  }
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = parse_count(argc > 1 ? argv[1] : nullptr, 2);
  const int rounds = parse_count(argc > 2 ? argv[2] : nullptr, 4);
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads), 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back(worker, t, rounds, &sums[static_cast<std::size_t>(t)]);
  }
  for (auto& th : pool) th.join();
  std::uint64_t checksum = 0;
  for (const auto s : sums) checksum = checksum * 31 + s;
  std::printf("ps-heap-workload: %d threads x %d rounds, checksum %llu\n", threads, rounds,
              static_cast<unsigned long long>(checksum));
  return 0;
}
