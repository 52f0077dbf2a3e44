// `perfscope record` on stripped programs: every address no symbol names is a frame of its own,
// "module+0xADDRESS" (the address in the file, as nm, addr2line and `perf report` give it), and
// stacks that reach the program's entry count as complete although nothing names it.
//
// A C program compiled here with known hot functions, stripped with `strip`, recorded with DWARF
// unwinding; each address-named frame is mapped back through the unstripped copy's symbol table.
// Then Debian's own /usr/bin/gzip (stripped, no debug package) against `perf report`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "profile/names.hpp"
#include "profile/profile.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::load;
using testing::perfscope_binary;
using testing::run;
using testing::TempDir;

// Three hot leaves under one caller; noipa keeps each a function of its own, with its own name
// (no clones, no inlining), and the empty asm keeps the loops from being folded away.
constexpr const char* kProgram = R"(#include <stdlib.h>
static volatile unsigned long sink;
__attribute__((noipa)) unsigned long work_alpha(unsigned long n) {
  unsigned long x = 1;
  for (unsigned long i = 0; i < n; ++i) { x = x * 6364136223846793005UL + i; __asm__ volatile("" : "+r"(x)); }
  return x;
}
__attribute__((noipa)) unsigned long work_beta(unsigned long n) {
  unsigned long x = 7;
  for (unsigned long i = 0; i < n; ++i) { x ^= x << 13; x ^= x >> 7; x += i; __asm__ volatile("" : "+r"(x)); }
  return x;
}
__attribute__((noipa)) unsigned long work_gamma(unsigned long n) {
  unsigned long x = 3;
  for (unsigned long i = 0; i < n; ++i) { x = (x >> 3) + (x << 5) + i * 11; __asm__ volatile("" : "+r"(x)); }
  return x;
}
__attribute__((noipa)) unsigned long run_round(unsigned long n) {
  return work_alpha(n) ^ work_beta(n) ^ work_gamma(n);
}
int main(int argc, char** argv) {
  const long rounds = argc > 1 ? atol(argv[1]) : 1;
  for (long r = 0; r < rounds; ++r) sink += run_round(1000000);
  return 0;
}
)";

int sh(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

std::string command_output(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
  ::pclose(pipe);
  return out;
}

std::string find_on_path(const std::string& name) {
  std::istringstream path(std::getenv("PATH") != nullptr ? std::getenv("PATH") : "");
  for (std::string dir; std::getline(path, dir, ':');) {
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return name;
}

// Function symbols of a file, from `nm -S`: start -> (end, name).
std::map<std::uint64_t, std::pair<std::uint64_t, std::string>> functions_of(
    const std::string& file) {
  std::map<std::uint64_t, std::pair<std::uint64_t, std::string>> out;
  std::istringstream lines(command_output("nm -S --defined-only " + file));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string start, size, type, name;
    if (!(fields >> start >> size >> type >> name) || (type != "T" && type != "t")) continue;
    const std::uint64_t s = std::stoull(start, nullptr, 16);
    out[s] = {s + std::stoull(size, nullptr, 16), name};
  }
  return out;
}

// The function of `functions` holding `address`, or "".
std::string function_at(
    const std::map<std::uint64_t, std::pair<std::uint64_t, std::string>>& functions,
    std::uint64_t address) {
  auto it = functions.upper_bound(address);
  if (it == functions.begin()) return "";
  --it;
  return address < it->second.first ? it->second.second : "";
}

// "gzip+0x4a3c" -> 0x4a3c when the name is `module` + an address.
std::optional<std::uint64_t> address_of(const std::string& frame, const std::string& module) {
  const std::string prefix = module + "+0x";
  if (!frame.starts_with(prefix) || frame.size() == prefix.size()) return std::nullopt;
  std::size_t used = 0;
  const std::uint64_t value = std::stoull(frame.substr(prefix.size()), &used, 16);
  if (used != frame.size() - prefix.size()) return std::nullopt;
  return value;
}

// The outer (out-of-line) function names of a sample's frames, leaf first, each with its module.
struct Frame {
  std::string name, module;
};
std::vector<Frame> frames_of(const profile::Profile& p, const profile::Sample& s) {
  std::vector<Frame> out;
  for (const auto id : s.location_ids) {
    const auto& l = p.location(id);
    const std::string module(profile::module_name(p, l.mapping_id));
    if (l.lines.empty()) {
      out.push_back({"[unknown]", module});
      continue;
    }
    out.push_back({profile::function_name(p, p.function(l.lines.back().function_id)), module});
  }
  return out;
}

// The percentage printed after `label` in the summary, or -1.
double percent_after(const std::string& text, const std::string& label) {
  const auto at = text.find(label);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + label.size(), nullptr);
}

constexpr const char* kComplete =
    "User stacks complete (reach the program's entry or a thread "
    "start): ";

class RecordStripped : public ::testing::Test {
 protected:
  void SetUp() override {
    PS_REQUIRE(paranoid(2), pmu("software"), program("gcc"), program("strip"), program("nm"));
    std::ofstream(dir_.file("prog.c")) << kProgram;
    // Built like distribution code: optimised, no frame pointers, .eh_frame only (no -g).
    ASSERT_EQ(
        sh("gcc -O2 -fomit-frame-pointer -o " + dir_.file("prog") + " " + dir_.file("prog.c")), 0);
    ASSERT_EQ(sh("strip -o " + dir_.file("stripped") + " " + dir_.file("prog")), 0);
    ASSERT_TRUE(command_output("nm " + dir_.file("stripped") + " 2>&1").find("no symbols") !=
                std::string::npos)
        << "strip left a symbol table";
    functions_ = functions_of(dir_.file("prog"));
    std::set<std::string> names;
    for (const auto& [start, function] : functions_) names.insert(function.second);
    for (const char* f : {"work_alpha", "work_beta", "work_gamma", "run_round", "main"}) {
      ASSERT_TRUE(names.count(f)) << f << " is not in nm's table of the unstripped copy";
    }
  }

  TempDir dir_;
  std::map<std::uint64_t, std::pair<std::uint64_t, std::string>> functions_;
};

TEST_F(RecordStripped, EachAddressIsItsOwnFrameInsideTheRightFunction) {
  const auto out = dir_.file("stripped.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--call-graph", "dwarf", "-F", "999", "-o", out,
                      "--", dir_.file("stripped"), "300"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto p = load(out);

  std::set<std::string> distinct;
  std::map<std::string, std::int64_t> leaf_function;  // nm's name of the leaf -> samples
  std::int64_t in_program = 0, mapped = 0, full_chain = 0, hot = 0;
  std::string unmapped;
  for (const auto& s : p.samples()) {
    const auto frames = frames_of(p, s);
    if (frames.empty() || frames.front().module != "stripped") continue;
    in_program += s.values[0];
    // Leaf first: work_* -> run_round -> main, every one named by address, mapped back by nm.
    std::vector<std::string> names;
    for (const auto& f : frames) {
      if (f.module != "stripped") continue;
      ASSERT_EQ(f.name.find("[unknown"), std::string::npos) << f.name;
      const auto address = address_of(f.name, "stripped");
      if (!address) {
        names.push_back(f.name);  // _start, named from the ELF entry point
        continue;
      }
      distinct.insert(f.name);
      // A return address points after its call: map the call instruction, one byte before.
      const bool leaf = names.empty();
      names.push_back(function_at(functions_, leaf ? *address : *address - 1));
      if (names.back().empty() && unmapped.size() < 200) unmapped += " " + f.name;
    }
    if (!names.empty() && !names.front().empty()) {
      leaf_function[names.front()] += s.values[0];
      mapped += s.values[0];
    }
    if (names.size() >= 4 && names[0].starts_with("work_")) {
      hot += s.values[0];
      if (names[1] == "run_round" && names[2] == "main" && names.back() == "_start") {
        full_chain += s.values[0];
      }
    }
  }
  ASSERT_GT(in_program, 200) << r.err;
  EXPECT_GE(distinct.size(), 10u) << "one frame per address, not one for the whole program";
  EXPECT_GE(mapped * 100, in_program * 99) << "addresses outside every function:" << unmapped;
  for (const char* f : {"work_alpha", "work_beta", "work_gamma"}) {
    EXPECT_GE(leaf_function[f] * 100, in_program * 15) << f << " is a third of the work";
  }
  EXPECT_GE(full_chain * 100, hot * 95) << full_chain << " of " << hot << "\n" << r.err;

  // The reason is said once, in the summary and the profile, not in every frame's name.
  EXPECT_NE(r.err.find("Symbols: stripped: no symbol table (stripped); "), std::string::npos)
      << r.err;
  EXPECT_GE(percent_after(r.err, kComplete), 95.0) << r.err;

  // The folded stacks show the same distinct frames.
  const auto folded = run({perfscope_binary(), "report", "-i", out, "--folded"});
  ASSERT_EQ(folded.exit_code, 0) << folded.err;
  std::size_t named = 0;
  for (const auto& name : distinct) named += folded.out.find(name) != std::string::npos;
  EXPECT_EQ(named, distinct.size()) << folded.out.substr(0, 2000);
}

// Debian's gzip carries no symbol table and Debian installs no debug file for it: perfscope
// names its frames as `perf report` does, and the hot addresses agree with perf's.
TEST(RecordStrippedGzip, HotAddressesAgreeWithPerfReport) {
  const std::string gzip = "/usr/bin/gzip";
  PS_REQUIRE(paranoid(2), pmu("software"), program("perf"), program("gzip"), program("nm"));
  if (command_output("nm " + gzip + " 2>&1").find("no symbols") == std::string::npos) {
    GTEST_SKIP() << "requires a stripped " << gzip << " (this one has a symbol table)";
  }
  const std::string id_note = command_output("readelf -n " + gzip);
  const auto at = id_note.find("Build ID: ");
  if (at != std::string::npos) {
    const std::string id = id_note.substr(at + 10, id_note.find('\n', at) - at - 10);
    if (std::filesystem::exists("/usr/lib/debug/.build-id/" + id.substr(0, 2) + "/" + id.substr(2) +
                                ".debug")) {
      GTEST_SKIP() << "requires gzip without its debug symbols (gzip-dbgsym is installed)";
    }
  }
  TempDir dir;
  // 24 MiB of words from a fixed generator: about a second of gzip -9.
  {
    std::ofstream input(dir.file("input"));
    std::uint64_t x = 42;
    std::string line;
    for (std::size_t n = 0; n < (24u << 20);) {
      line.clear();
      for (int w = 0; w < 12; ++w) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const int letters = 2 + static_cast<int>((x >> 60) % 8);
        for (int i = 0; i < letters; ++i) line += static_cast<char>('a' + (x >> (8 + 4 * i)) % 26);
        line += w == 11 ? '\n' : ' ';
      }
      input << line;
      n += line.size();
    }
  }

  const auto out = dir.file("gzip.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--call-graph", "dwarf", "-F", "999", "-o", out,
                      "--", gzip, "-k", "-f", "-9", dir.file("input")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto p = load(out);
  std::map<std::uint64_t, std::int64_t> leaves;  // perfscope's gzip leaf addresses
  std::int64_t total = 0, in_gzip = 0, top = 0;
  for (const auto& s : p.samples()) {
    const auto frames = frames_of(p, s);
    total += s.values[0];
    if (frames.empty() || frames.front().module != "gzip") continue;
    in_gzip += s.values[0];
    ASSERT_EQ(frames.front().name.find("[unknown"), std::string::npos) << frames.front().name;
    if (const auto address = address_of(frames.front().name, "gzip")) {
      leaves[*address] += s.values[0];
    }
  }
  for (const auto& [address, n] : leaves) top = std::max(top, n);
  ASSERT_GT(in_gzip, 300) << r.err;
  EXPECT_GE(leaves.size(), 50u) << "one frame per address";
  EXPECT_LE(top * 100, in_gzip * 30) << "no single frame holds the profile";
  EXPECT_NE(r.err.find("Symbols: gzip: no symbol table (stripped); "), std::string::npos) << r.err;
  std::printf(
      "gzip: %lld of %lld samples in gzip, %zu distinct gzip+0x frames, the hottest %.1f%%\n",
      static_cast<long long>(in_gzip), static_cast<long long>(total), leaves.size(),
      100.0 * static_cast<double>(top) / static_cast<double>(in_gzip));

  // perf report names the same frames by the same numbers: "[.] 0x0000000000004330".
  const std::string perf = find_on_path("perf");
  const auto perf_data = dir.file("perf.data");
  const auto rec =
      run({perf, "--buildid-dir", dir.file("buildid"), "record", "-q", "-N", "-B", "-F", "999",
           "-o", perf_data, "--", gzip, "-k", "-f", "-9", dir.file("input")});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const auto report = run({perf, "--buildid-dir", dir.file("buildid"), "report", "-i", perf_data,
                           "--no-children", "--stdio", "--sort", "dso,sym"});
  if (report.exit_code == 128 + 6 && report.err.find("util/build-id.c") != std::string::npos) {
    GTEST_SKIP() << "requires a perf report that does not abort; perf 6.1 crashed in its "
                    "build-id code: "
                 << report.err;
  }
  ASSERT_EQ(report.exit_code, 0) << report.err;
  std::vector<std::uint64_t> perf_hot;  // perf's hottest gzip addresses, hottest first
  std::istringstream lines(report.out);
  for (std::string line; std::getline(lines, line) && perf_hot.size() < 20;) {
    std::istringstream fields(line);
    std::string overhead, dso, kind, symbol;
    if (!(fields >> overhead >> dso >> kind >> symbol) || dso != "gzip" || kind != "[.]" ||
        !symbol.starts_with("0x")) {
      continue;
    }
    perf_hot.push_back(std::stoull(symbol, nullptr, 16));
  }
  ASSERT_GE(perf_hot.size(), 10u) << report.out.substr(0, 3000);
  std::size_t shared = 0;
  for (const auto address : perf_hot) shared += leaves.count(address);
  EXPECT_GE(shared * 10, perf_hot.size() * 7)
      << shared << " of perf's " << perf_hot.size() << " hottest gzip addresses";
}

}  // namespace
}  // namespace perfscope
