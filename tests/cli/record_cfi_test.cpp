// `perfscope record --call-graph cfi`: the eBPF backend walks user stacks in the kernel with
// tables compiled from each module's .eh_frame. Targets are built without frame pointers
// (ps-unwind-cases, ps-chain), so frame pointers alone could not give these stacks.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/files.hpp"
#include "profile/names.hpp"
#include "profile/profile.hpp"
#include "support/background.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope {
namespace {

using testing::load;
using testing::perfscope_binary;
using testing::run;
using testing::target;
using testing::TempDir;

// Per sample: the out-of-line function of each user frame, leaf first, without parameters.
struct Stack {
  std::string comm;
  std::vector<std::string> frames;
  std::int64_t count = 0;
};

std::vector<Stack> user_stacks(const profile::Profile& p) {
  std::vector<Stack> out;
  for (const auto& s : p.samples()) {
    Stack st;
    st.count = s.values[0];
    for (const auto& label : s.labels) {
      if (p.string(label.key) == "comm") st.comm = p.string(label.str);
    }
    for (auto id : s.location_ids) {
      const auto& l = p.location(id);
      if (profile::is_kernel_mapping(p, l.mapping_id)) continue;
      if (l.lines.empty()) {
        st.frames.push_back("[unknown]");
        continue;
      }
      std::string name = profile::function_name(p, p.function(l.lines.back().function_id));
      st.frames.push_back(name.substr(0, name.find('(')));
    }
    out.push_back(std::move(st));
  }
  return out;
}

long index_of(const std::vector<std::string>& frames, const std::string& name, long from = 0) {
  auto it = std::find(frames.begin() + std::min<long>(from, frames.size()), frames.end(), name);
  return it == frames.end() ? -1 : static_cast<long>(it - frames.begin());
}

// "In-kernel unwinding: 980 of 1000 user stacks (98.0%) reached the outermost frame": 98.0.
double walked_to_the_end(const std::string& err) {
  static const std::regex re(R"(In-kernel unwinding: \d+ of \d+ user stacks \(([0-9.]+)%\))");
  std::smatch m;
  if (!std::regex_search(err, m, re)) return -1;
  return std::stod(m[1]);
}

testing::RunResult record_cfi(const std::string& out, std::vector<std::string> command,
                              std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {perfscope_binary(),
                                   "record",
                                   "--backend",
                                   "bpf",
                                   "--call-graph",
                                   "cfi",
                                   "-F",
                                   "999",
                                   "-o",
                                   out};
  args.insert(args.end(), extra.begin(), extra.end());
  args.emplace_back("--");
  args.insert(args.end(), command.begin(), command.end());
  return run(args);
}

// 200 frames of recursion: past bpf_get_stackid's 127, within the walker's 256.
TEST(RecordCfi, DeepRecursionIsWalkedExactly) {
  PS_REQUIRE(bpf_backend());
  constexpr std::size_t kDepth = 200;
  TempDir dir;
  const auto out = dir.file("r.pb.gz");
  const auto r = record_cfi(out, {target("ps-unwind-cases"), "recurse", std::to_string(kDepth)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Call graph: cfi"), std::string::npos) << r.err;
  std::int64_t leaf = 0, exact = 0;
  for (const auto& s : user_stacks(load(out))) {
    if (s.frames.empty() || s.frames.front() != "uc_leaf") continue;
    leaf += s.count;
    bool ok = s.frames.size() > kDepth + 1 && s.frames[kDepth + 1] == "main";
    for (std::size_t i = 1; ok && i <= kDepth; ++i) ok = s.frames[i] == "uc_recurse";
    if (ok) exact += s.count;
  }
  ASSERT_GT(leaf, 200) << r.err;
  EXPECT_GE(exact * 100, leaf * 95) << exact << " of " << leaf << "\n" << r.err;
  EXPECT_GE(walked_to_the_end(r.err), 90.0) << r.err;
}

TEST(RecordCfi, ASignalHandlerLeadsBackToTheInterruptedFunction) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto out = dir.file("s.pb.gz");
  const auto r = record_cfi(out, {target("ps-unwind-cases"), "signal"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::int64_t in_handler = 0, through = 0;
  for (const auto& s : user_stacks(load(out))) {
    const long h = index_of(s.frames, "uc_handler");
    if (h < 0) continue;
    in_handler += s.count;
    const long interrupted = index_of(s.frames, "uc_interrupted", h);
    const long m = index_of(s.frames, "main", h);
    if (interrupted > h && m > interrupted) through += s.count;
  }
  ASSERT_GT(in_handler, 200) << r.err;
  EXPECT_GE(through * 100, in_handler * 95) << through << " of " << in_handler << "\n" << r.err;
}

TEST(RecordCfi, ALibraryLoadedDuringTheRecordingIsWalked) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto out = dir.file("d.pb.gz");
  const auto r =
      record_cfi(out, {target("ps-unwind-cases"), "dlopen", target("libps-unwind-plugin.so")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::int64_t plugin = 0, full = 0;
  for (const auto& s : user_stacks(load(out))) {
    if (s.frames.empty() || s.frames.front() != "uc_plugin_leaf") continue;
    plugin += s.count;
    if (s.frames.size() > 3 && s.frames[1] == "uc_plugin_outer" &&
        s.frames[2] == "uc_call_plugin" && s.frames[3] == "main") {
      full += s.count;
    }
  }
  ASSERT_GT(plugin, 200) << r.err;
  // A module's table is built once the module is first sampled; the walks that reach it before
  // then stop there, and the summary counts them ("stopped early: N the module's table was still
  // being built (most in LIB: M)"). Most are in the library, but a walk from the library can also
  // stop in the program or libc when their tables are still being built (CI's sanitized run: 717
  // in the library, 21 elsewhere). How many depends on how busy the machine is (a sanitized
  // perfscope on a loaded machine takes several times longer); every other walk must be complete.
  std::int64_t in_library = 0, pending = 0;
  const std::string marker = "libps-unwind-plugin.so: ";
  if (const auto at = r.err.find(marker); at != std::string::npos) {
    in_library = std::stoll(r.err.substr(at + marker.size()));
  }
  static const std::regex all(R"((\d+) the module's table was still being built)");
  if (std::smatch m; std::regex_search(r.err, m, all)) pending = std::stoll(m[1]);
  // (Not every walk stopped in the library is counted in `plugin`: a sample in uc_plugin_outer
  // or the library's PLT has another leaf.)
  EXPECT_LE(in_library, pending) << r.err;
  EXPECT_GE(full, 100) << r.err;
  const std::int64_t excused = std::min(pending, plugin - full);
  EXPECT_GE(full * 100, (plugin - excused) * 95)
      << full << " of " << plugin << " (" << pending << " stopped before a table, " << in_library
      << " of them in the library)\n"
      << r.err;
}

TEST(RecordCfi, SystemWideWalksAProcessThatStartsAndExitsDuringTheRecording) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto out = dir.file("a.pb.gz");
  const auto r = record_cfi(out, {target("ps-unwind-cases"), "recurse", "30"}, {"-a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::int64_t leaf = 0, full = 0;
  for (const auto& s : user_stacks(load(out))) {
    if (s.comm != "ps-unwind-cases" || s.frames.empty() || s.frames.front() != "uc_leaf") continue;
    // Other tests' ps-unwind-cases run at the same time (ctest -j), recursing deeper or less
    // deep (40, 5): a whole stack whose main is at another depth is not ours.
    const auto main_at = std::find(s.frames.begin(), s.frames.end(), "main");
    if (main_at != s.frames.end() && main_at - s.frames.begin() != 31) continue;
    leaf += s.count;
    if (s.frames.size() > 31 && s.frames[30] == "uc_recurse" && s.frames[31] == "main") {
      full += s.count;
    }
  }
  ASSERT_GT(leaf, 200) << r.err;
  EXPECT_GE(full * 100, leaf * 90) << full << " of " << leaf << "\n" << r.err;
}

// A program a command starts during the recording (not prepared before it, as the command's own
// program is) gets its table from the cache on the compiling thread: the second recording, every
// table cached by the first, writes nothing to the cache and walks it from its first refreshes.
// (Before, each run wrote the
// vDSO's table under a new name and the compiling thread then trimmed the whole cache directory,
// seconds with thousands of files, while short programs waited: sort in `bash -c` was 0-29%
// complete.)
TEST(RecordCfi, AProgramACommandStartsIsWalkedFromItsCachedTable) {
  PS_REQUIRE(bpf_backend(), program("sh"));
  TempDir dir;
  // A copy of its own: a file no other test's recording has compiled or cached.
  const auto program = dir.file("ps-unwind-started");
  std::filesystem::copy_file(target("ps-unwind-cases"), program);
  std::filesystem::permissions(program, std::filesystem::perms::owner_all);
  const std::string script = "\"$0\" recurse 30 1; \"$0\" recurse 30 1; true";
  const auto record = [&](const std::string& out) {
    return run({"/usr/bin/env", "PERFSCOPE_UNWIND_CACHE=" + dir.file("cache"), perfscope_binary(),
                "record", "--backend", "bpf", "--call-graph", "cfi", "-F", "999", "-o", out, "--",
                find_on_path("sh"), "-c", script, program});
  };
  const auto cache_files = [&] {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir.file("cache"), ec)) {
      n += e.path().extension() == ".rows" ? 1 : 0;
    }
    return n;
  };
  const auto first = record(dir.file("1.pb.gz"));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::size_t cached = cache_files();
  EXPECT_GE(cached, 3U) << first.err;  // the program, sh, libc, the loader
  const auto second = record(dir.file("2.pb.gz"));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  // Nothing new to compile, so nothing written (the vDSO's table, a per-run copy, is not cached).
  EXPECT_EQ(cache_files(), cached) << second.err;
  std::int64_t leaf = 0, full = 0;
  for (const auto& s : user_stacks(load(dir.file("2.pb.gz")))) {
    if (s.comm != "ps-unwind-start" || s.frames.empty() || s.frames.front() != "uc_leaf") continue;
    leaf += s.count;
    if (s.frames.size() > 31 && s.frames[30] == "uc_recurse" && s.frames[31] == "main") {
      full += s.count;
    }
  }
  // Each process's first samples, before its tables are loaded (a 10 ms poll and the compiling
  // thread's cache read, more for a sanitized perfscope on a busy machine), stop early.
  ASSERT_GT(leaf, 100) << second.err;
  EXPECT_GE(full * 100, leaf * 75) << full << " of " << leaf << "\n" << second.err;
}

// -p: a process already running when the recording starts (its tables are loaded at open).
TEST(RecordCfi, ARunningProcessIsWalked) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  // 4 s of CPU: a sanitized perfscope on a busy machine may take a second or more to attach.
  testing::BackgroundProcess target_process({target("ps-unwind-cases"), "recurse", "40", "4"},
                                            dir.file("target.log"));
  const auto out = dir.file("p.pb.gz");
  const auto r = run({perfscope_binary(), "record", "--backend", "bpf", "--call-graph", "cfi", "-F",
                      "999", "-o", out, "-p", std::to_string(target_process.pid())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::int64_t leaf = 0, exact = 0;
  for (const auto& s : user_stacks(load(out))) {
    if (s.frames.empty() || s.frames.front() != "uc_leaf") continue;
    leaf += s.count;
    if (s.frames.size() > 41 && s.frames[40] == "uc_recurse" && s.frames[41] == "main") {
      exact += s.count;
    }
  }
  ASSERT_GT(leaf, 100) << r.err;
  EXPECT_GE(exact * 100, leaf * 95) << exact << " of " << leaf << "\n" << r.err;
}

TEST(RecordCfi, AStrippedBinaryIsWalkedToItsEntry) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto out = dir.file("x.pb.gz");
  const auto r = record_cfi(out, {target("ps-unwind-cases-stripped"), "recurse", "20"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // No names: 20 recursion frames, the leaf and main are addresses in the binary; what matters
  // is depth and that the walk ended at the CFI's outermost frame.
  std::int64_t total = 0, deep = 0;
  for (const auto& s : user_stacks(load(out))) {
    if (s.comm != "ps-unwind-cases") continue;
    total += s.count;
    if (s.frames.size() >= 23) deep += s.count;
  }
  ASSERT_GT(total, 200) << r.err;
  EXPECT_GE(deep * 100, total * 90) << deep << " of " << total << "\n" << r.err;
  EXPECT_GE(walked_to_the_end(r.err), 90.0) << r.err;
}

// The walker and perf-ring DWARF unwinding of the same program give the same stacks.
TEST(RecordCfi, AgreesWithDwarfUnwinding) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto cfi_out = dir.file("cfi.pb.gz");
  const auto dwarf_out = dir.file("dwarf.pb.gz");
  const auto a = record_cfi(cfi_out, {target("ps-chain"), "1000"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto b = run({perfscope_binary(), "record", "--call-graph", "dwarf", "-F", "999", "-o",
                      dwarf_out, "--", target("ps-chain"), "1000"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto key = [](const Stack& s) {
    std::string k;
    for (const auto& f : s.frames) k += f + ";";
    return k;
  };
  std::map<std::string, std::int64_t> cfi, dwarf;
  std::int64_t cfi_total = 0, dwarf_total = 0;
  for (const auto& s : user_stacks(load(cfi_out))) {
    if (s.comm != "ps-chain" || s.frames.empty()) continue;
    cfi[key(s)] += s.count;
    cfi_total += s.count;
  }
  for (const auto& s : user_stacks(load(dwarf_out))) {
    if (s.comm != "ps-chain" || s.frames.empty()) continue;
    dwarf[key(s)] += s.count;
    dwarf_total += s.count;
  }
  ASSERT_GT(cfi_total, 300);
  ASSERT_GT(dwarf_total, 300);
  // Samples whose stack the other mode also produced, both ways.
  std::int64_t cfi_seen = 0, dwarf_seen = 0;
  for (const auto& [k, n] : cfi) cfi_seen += dwarf.contains(k) ? n : 0;
  for (const auto& [k, n] : dwarf) dwarf_seen += cfi.contains(k) ? n : 0;
  std::string top;
  for (const auto& [k, n] : cfi) {
    if (!dwarf.contains(k)) top += fmt::format("  cfi only {}: {}\n", n, k.substr(0, 300));
  }
  EXPECT_GE(cfi_seen * 100, cfi_total * 95) << cfi_seen << " of " << cfi_total << "\n" << top;
  EXPECT_GE(dwarf_seen * 100, dwarf_total * 90) << dwarf_seen << " of " << dwarf_total;
}

// Debian's python3 (no frame pointers) against the reference: `perf record --call-graph dwarf`
// of the same program, read through `perf script`. The share of samples inside each of the
// interpreter's main functions, and the share of stacks that reach _start, agree within 5 points
// (perf copies 8 KiB of stack per sample, enough for this program's depth). perf runs without the
// build-id cache and with a directory of its own (see record_dwarf_test.cpp).
TEST(RecordCfi, Python3AgreesWithPerfDwarfUnwinding) {
  PS_REQUIRE(bpf_backend(), program("perf"));
  TempDir dir;
  const std::vector<std::string> python{"/usr/bin/python3", "-c",
                                        "import time\n"
                                        "def work(n):\n"
                                        "    s = 0\n"
                                        "    for i in range(n):\n"
                                        "        s += i * i\n"
                                        "    return s\n"
                                        "end = time.process_time() + 1.5\n"
                                        "while time.process_time() < end:\n"
                                        "    work(20000)\n"};
  const std::string perf = find_on_path("perf");  // run() does not search PATH
  const std::string cache = dir.file("buildid"), perf_data = dir.file("perf.data");
  std::vector<std::string> rec{
      perf, "--buildid-dir", cache,          "record", "-q", "-N",      "-B", "-e", "cpu-clock",
      "-F", "499",           "--call-graph", "dwarf",  "-o", perf_data, "--"};
  rec.insert(rec.end(), python.begin(), python.end());
  const auto recorded = run(rec);
  ASSERT_EQ(recorded.exit_code, 0) << recorded.err;
  const auto script =
      run({perf, "--buildid-dir", cache, "script", "-i", perf_data, "-F", "comm,ip,sym"});
  if (script.exit_code == 128 + 6 && script.err.find("util/build-id.c") != std::string::npos) {
    GTEST_SKIP() << "requires a perf script that does not abort; perf 6.1 crashed in its "
                    "build-id code: "
                 << script.err;
  }
  ASSERT_EQ(script.exit_code, 0) << script.err;

  // Debian's python3 has no main frame: main tail-calls Py_BytesMain.
  const std::vector<std::string> functions{"_PyEval_EvalFrameDefault", "PyEval_EvalCode",
                                           "Py_RunMain", "Py_BytesMain", "_start"};
  struct Shares {
    std::int64_t samples = 0;
    std::map<std::string, std::int64_t> inside;
  };
  const auto add = [&](Shares& sh, const std::vector<std::string>& frames, std::int64_t n) {
    sh.samples += n;
    for (const auto& f : functions) {
      if (std::find(frames.begin(), frames.end(), f) != frames.end()) sh.inside[f] += n;
    }
  };
  // perf script: "python3 <tab-indented frames: ip sym+off (dso)>", samples separated by blank
  // lines.
  Shares theirs;
  std::istringstream lines(script.out);
  std::vector<std::string> frames;
  bool python_sample = false;
  const auto finish = [&] {
    if (python_sample) add(theirs, frames, 1);
    frames.clear();
    python_sample = false;
  };
  for (std::string line; std::getline(lines, line);) {
    if (line.find_first_not_of(" \t") == std::string::npos) {
      finish();
      continue;
    }
    if (line[0] != ' ' && line[0] != '\t') {
      python_sample = line.rfind("python3", 0) == 0;
      continue;
    }
    std::istringstream fields(line);
    std::string ip, sym;
    fields >> ip >> sym;
    frames.push_back(sym.substr(0, sym.find('+')));
  }
  finish();

  const auto ours_out = dir.file("cfi.pb.gz");
  std::vector<std::string> command = python;
  const auto r = record_cfi(ours_out, command);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Shares ours;
  for (const auto& st : user_stacks(load(ours_out))) {
    if (st.comm == "python3") add(ours, st.frames, st.count);
  }
  ASSERT_GT(theirs.samples, 300) << script.out.substr(0, 2000);
  ASSERT_GT(ours.samples, 300) << r.err;
  for (const auto& f : functions) {
    const double a =
        100.0 * static_cast<double>(ours.inside[f]) / static_cast<double>(ours.samples);
    const double b =
        100.0 * static_cast<double>(theirs.inside[f]) / static_cast<double>(theirs.samples);
    EXPECT_NEAR(a, b, 5.0) << f << ": perfscope " << a << "% of " << ours.samples
                           << " samples, perf " << b << "% of " << theirs.samples;
  }
  EXPECT_GE(100.0 * static_cast<double>(ours.inside["_start"]) / static_cast<double>(ours.samples),
            90.0)
      << r.err;
}

// Tables past --unwind-table-limit are evicted, least recently used first, counted, and loaded
// again when a walk meets them (1 MiB is far below this working set: it thrashes, and says so).
TEST(RecordCfi, TablesPastTheLimitAreEvictedAndCounted) {
  PS_REQUIRE(bpf_backend(), program("python3"));
  TempDir dir;
  const auto r = run({perfscope_binary(), "record", "--backend", "bpf", "--call-graph", "cfi",
                      "--unwind-table-limit", "1", "-F", "999", "-o", dir.file("l.pb.gz"), "--",
                      "python3", "-c",
                      "import ssl, sqlite3, lzma, decimal, hashlib\n"
                      "for i in range(3000): hashlib.sha256(str(i).encode()).hexdigest(); "
                      "lzma.compress(b'abc' * 1000); decimal.Decimal(i) / 7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  static const std::regex evicted(R"(limit 1 MiB\), ([0-9]+) evicted)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, evicted)) << r.err;
  EXPECT_GT(std::stoll(m[1]), 0) << r.err;
  EXPECT_NE(r.err.find("the module's table was evicted (--unwind-table-limit)"), std::string::npos)
      << r.err;
  const auto bad = run({perfscope_binary(), "record", "--unwind-table-limit", "0", "--", "true"});
  EXPECT_NE(bad.exit_code, 0);
}

TEST(RecordCfi, AutoChoosesTheWalkerWhenTheEbpfBackendRuns) {
  PS_REQUIRE(bpf_backend());
  TempDir dir;
  const auto r = run({perfscope_binary(), "record", "-F", "499", "-o", dir.file("auto.pb.gz"), "--",
                      target("ps-unwind-cases"), "recurse", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("Call graph: cfi (auto: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Unwind tables: "), std::string::npos) << r.err;
  const auto perf = run({perfscope_binary(), "record", "--backend", "perf", "--call-graph", "cfi",
                         "-o", dir.file("no.pb.gz"), "--", "true"});
  EXPECT_NE(perf.exit_code, 0);
  EXPECT_NE(perf.err.find("--call-graph cfi needs the eBPF backend"), std::string::npos)
      << perf.err;
}

}  // namespace
}  // namespace perfscope
