// `perfscope mem`'s leak classes against valgrind's memcheck (issue 20): the same four classes
// (definitely, indirectly, possibly lost, still reachable), with the same bytes and blocks, on a
// program made to hold one block of each, on programs nobody here wrote (Debian's python3, xz,
// sort) and on multi-threaded ones. memcheck runs with --run-libc-freeres=no and
// --run-cxx-freeres=no: by default it frees libc's and libstdc++'s own buffers before it looks,
// which perfscope does not do (docs/mem.md, "Leaks").
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::perfscope_binary;
using testing::target;
using testing::TempDir;

// In memcheck's LEAK SUMMARY order.
constexpr std::array<const char*, 4> kClasses = {"definitely lost", "indirectly lost",
                                                 "possibly lost", "still reachable"};

struct Leak {
  std::uint64_t bytes = 0, blocks = 0;
  bool found = false;
};
using Leaks = std::array<Leak, 4>;

std::uint64_t number(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  return std::stoull(s);
}

// "  definitely lost: 12.1 KiB (12,345 B) in 1 block" (perfscope) or
// "==1==    definitely lost: 12,345 bytes in 1 blocks" (memcheck).
Leaks parse(const std::string& text, bool memcheck) {
  Leaks out;
  for (std::size_t i = 0; i < kClasses.size(); ++i) {
    const std::string pattern =
        memcheck ? std::string(kClasses[i]) + ": ([0-9,]+) bytes in ([0-9,]+) blocks"
                 : std::string("\n  ") + kClasses[i] +
                       ": (?:[0-9.]+ [KMG]iB \\()?([0-9,]+) B\\)? in ([0-9,]+) blocks?\n";
    std::smatch m;
    if (std::regex_search(text, m, std::regex(pattern))) {
      out[i] = {number(m[1].str()), number(m[2].str()), true};
    }
  }
  return out;
}

// glibc's dl_find_object segments (`_dlfo_mappings_segment_allocate`, dl-find_object.c) start at
// the first 128-byte boundary inside the block malloc returned; the block's own start is kept only
// in the block itself (`to_free`). So the block is still reachable when malloc's address happens
// to be 128-byte aligned and possibly lost otherwise: an address coincidence that differs between
// glibc's malloc and valgrind's, and even with the length of the working directory. Such blocks
// are counted as still reachable by both sides before comparing. `section` is the text listing
// one class's blocks with their stacks; `record` matches one entry's bytes, blocks and stack.
Leak aligned_by_chance(const std::string& section, const std::regex& record) {
  Leak out;
  for (std::sregex_iterator it(section.begin(), section.end(), record), end; it != end; ++it) {
    if ((*it)[3].str().find("_dlfo_mappings_segment_allocate") == std::string::npos) continue;
    out.bytes += number((*it)[1].str());
    out.blocks += number((*it)[2].str());
  }
  return out;
}

void count_as_reachable(Leaks& leaks, const Leak& moved) {
  leaks[2].bytes -= moved.bytes;
  leaks[2].blocks -= moved.blocks;
  leaks[3].bytes += moved.bytes;
  leaks[3].blocks += moved.blocks;
}

Leaks perfscope_leaks(const std::vector<std::string>& command) {
  std::vector<std::string> argv{perfscope_binary(), "mem", "--"};
  argv.insert(argv.end(), command.begin(), command.end());
  const auto r = testing::run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Leaks leaks = parse(r.err, false);
  for (std::size_t i = 0; i < leaks.size(); ++i) {
    EXPECT_TRUE(leaks[i].found) << "no \"" << kClasses[i] << "\" line:\n" << r.err;
  }
  // "Possibly lost: ...\n   1. 2.2 KiB (2,304 B) in 1 block (100.0%)\n      malloc < ...\n".
  const auto from = r.err.find("\nPossibly lost:");
  if (from != std::string::npos) {
    const auto to = r.err.find("\n\n", from + 1);
    static const std::regex record(
        "\n +[0-9]+\\. (?:[0-9.]+ [KMG]iB \\()?([0-9,]+) B\\)? in ([0-9,]+) "
        "blocks?[^\n]*\n([^\n]*)");
    count_as_reachable(leaks, aligned_by_chance(r.err.substr(from, to - from), record));
  }
  return leaks;
}

Leaks memcheck_leaks(const std::vector<std::string>& command) {
  // run() does not search PATH.
  std::vector<std::string> argv{find_on_path("valgrind"), "--tool=memcheck", "--leak-check=full",
                                "--run-libc-freeres=no", "--run-cxx-freeres=no"};
  argv.insert(argv.end(), command.begin(), command.end());
  const auto r = testing::run(argv);
  Leaks leaks = parse(r.err, true);
  // "==1== 2,304 bytes in 1 blocks are possibly lost in loss record 27 of 30\n==1==    at ...\n
  // ==1==    by ...\n==1== \n": the stack runs to the first line with nothing after the pid.
  static const std::regex record(
      "== ([0-9,]+) bytes in ([0-9,]+) blocks are possibly lost in loss record[^\n]*"
      "((?:\n==[0-9]+== +[^ \n][^\n]*)*)");
  count_as_reachable(leaks, aligned_by_chance(r.err, record));
  // memcheck leaves a class out of its summary when nothing is left at all.
  if (r.err.find("All heap blocks were freed") != std::string::npos) {
    for (auto& l : leaks) l.found = true;
  }
  for (std::size_t i = 0; i < leaks.size(); ++i) {
    EXPECT_TRUE(leaks[i].found) << "no \"" << kClasses[i] << "\" in memcheck's output:\n" << r.err;
  }
  return leaks;
}

// Every class, bytes and blocks, as memcheck has them. `per_block_slack` bytes per block are
// allowed in the possibly lost class (see MultiThreadedProgramsMatchMemcheck).
void expect_same_leaks(const std::vector<std::string>& command, std::uint64_t per_block_slack = 0) {
  const Leaks ours = perfscope_leaks(command), theirs = memcheck_leaks(command);
  std::string what;
  for (const auto& a : command) what += a + " ";
  for (std::size_t i = 0; i < kClasses.size(); ++i) {
    EXPECT_EQ(ours[i].blocks, theirs[i].blocks) << what << kClasses[i] << " (blocks)";
    const std::uint64_t slack = i == 2 ? per_block_slack * theirs[i].blocks : 0;
    EXPECT_LE(ours[i].bytes, theirs[i].bytes + slack) << what << kClasses[i] << " (bytes)";
    EXPECT_GE(ours[i].bytes, theirs[i].bytes) << what << kClasses[i] << " (bytes)";
  }
}

TEST(MemLeaks, OneBlockOfEachClassIsClassedAsMemcheckClassesIt) {
  PS_REQUIRE(program("valgrind"));
  const std::vector<std::string> command{target("ps-heap-cases"), "classes"};
  // The program's own blocks, so that agreeing on zeros cannot pass for agreeing.
  const Leaks ours = perfscope_leaks(command);
  EXPECT_EQ(ours[0].bytes, 7000u) << "drop_tree's root (2000 B) and overwrite's block (5000 B)";
  EXPECT_EQ(ours[0].blocks, 2u);
  EXPECT_EQ(ours[1].bytes, 3000u) << "tree_leaf's block, held only by the lost root";
  EXPECT_EQ(ours[2].bytes, 4000u) << "keep_interior's block, held 16 bytes in";
  EXPECT_GE(ours[3].bytes, 1000u) << "keep_reachable's block (and libstdc++'s own pool)";
  expect_same_leaks(command);
}

// A block an exit handler allocates and drops is definitely lost (its pointer lingers only in
// dead stack frames by the time the process ends), and ps-heap-known's overwritten pointer.
TEST(MemLeaks, ExitHandlerLeakAndOverwrittenPointerAreDefinitelyLost) {
  PS_REQUIRE(program("valgrind"));
  expect_same_leaks({target("ps-heap-cases"), "lifetime"});
  expect_same_leaks({target("ps-heap-known")});
}

TEST(MemLeaks, DebianProgramsMatchMemcheck) {
  PS_REQUIRE(program("valgrind"), program("xz"), program("sort"));
  TempDir dir;
  // Some input for xz and sort: lines of text, out of order.
  std::string text;
  for (int i = 0; i < 20000; ++i) text += std::to_string((i * 7919) % 20000) + " line\n";
  const std::string input = dir.file("input.txt");
  std::ofstream(input) << text;
  // Python: its object arenas are anonymous mappings the kernel may merge with a block malloc
  // mapped on its own; the arenas must still be roots.
  expect_same_leaks(
      {"/usr/bin/python3", "-c", "import json; x = [dict(a=i) for i in range(1000)]"});
  expect_same_leaks({find_on_path("xz"), "-3", "-c", "-k", input});
  expect_same_leaks({find_on_path("sort"), input});
}

// Threads: each new thread's TLS vector (the DTV) is only pointed into, so possibly lost, and it
// holds a slot per module with TLS: perfscope's preload is one, 16 bytes more per thread than
// under valgrind. Everything else is the same.
TEST(MemLeaks, MultiThreadedProgramsMatchMemcheck) {
  PS_REQUIRE(program("valgrind"));
  expect_same_leaks({target("ps-heap-cases"), "threads", "2000"}, 16);
  expect_same_leaks({target("ps-heap-barrier")}, 16);
}

}  // namespace
}  // namespace perfscope
