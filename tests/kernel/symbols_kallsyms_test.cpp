// The machine's own /proc/kallsyms: parsed, searched, and resolved through the Symbolizer.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "core/files.hpp"
#include "support/requirements.hpp"
#include "symbols/kallsyms.hpp"
#include "symbols/symbolizer.hpp"

namespace perfscope::symbols {
namespace {

constexpr const char* kHiddenHint =
    "kernel addresses are hidden from this process: run as root, or with CAP_SYSLOG and "
    "kernel.kptr_restrict <= 1";

// The address of the first line of `text` that ends with `suffix` (e.g. " T schedule"), or 0.
std::uint64_t address_of(const std::string& text, const std::string& suffix) {
  for (std::size_t pos = text.find(suffix + "\n"); pos != std::string::npos;
       pos = text.find(suffix + "\n", pos + 1)) {
    const std::size_t begin = text.rfind('\n', pos);
    const std::size_t start = begin == std::string::npos ? 0 : begin + 1;
    if (pos - start == 16) return std::strtoull(text.c_str() + start, nullptr, 16);
  }
  return 0;
}

TEST(SymbolsKallsymsLive, ParsesAndFindsCoreSymbols) {
  const auto started = std::chrono::steady_clock::now();
  auto loaded = KernelSymbols::load("/proc/kallsyms", "/proc/modules");
  const auto took = std::chrono::steady_clock::now() - started;
  if (!loaded) GTEST_SKIP() << loaded.error().describe();
  if (loaded->addresses_hidden()) GTEST_SKIP() << kHiddenHint;
  RecordProperty(
      "load_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
  EXPECT_GT(loaded->size(), 1000u);
  EXPECT_LT(took, std::chrono::seconds(5)) << "kallsyms is read once per recording; keep it cheap";

  auto text = read_text_file("/proc/kallsyms");
  ASSERT_TRUE(text.has_value());
  for (const char* name : {"schedule", "do_syscall_64"}) {
    const std::uint64_t address = address_of(*text, std::string(" T ") + name);
    if (address == 0) continue;  // not in this kernel's build
    const auto hit = loaded->find(address + 1);
    ASSERT_TRUE(hit.has_value()) << name;
    EXPECT_EQ(hit->start, address);
    EXPECT_EQ(hit->module, "");
  }
}

TEST(SymbolsKallsymsLive, SymbolizerResolvesScheduleAndModuleSymbols) {
  auto text = read_text_file("/proc/kallsyms");
  if (!text) GTEST_SKIP() << text.error().describe();
  const std::uint64_t schedule = address_of(*text, " T schedule");
  if (schedule == 0) GTEST_SKIP() << kHiddenHint;

  Symbolizer s;
  const auto& f = s.resolve_kernel(schedule + 4);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function, "schedule");
  EXPECT_EQ(f[0].module, "[kernel.kallsyms]");
  EXPECT_TRUE(f[0].resolved);
  EXPECT_EQ(f[0].module_offset, schedule + 4);

  // A text symbol of a module (ftrace trampolines and BPF programs count), when there is one.
  const std::size_t tab = text->find("\t[");
  if (tab == std::string::npos) return;
  const std::size_t line = text->rfind('\n', tab) + 1;
  const char type = (*text)[line + 17];
  if (type != 't' && type != 'T') return;
  const std::uint64_t address = std::strtoull(text->c_str() + line, nullptr, 16);
  const std::string module = text->substr(tab + 1, text->find('\n', tab) - tab - 1);
  const auto& m = s.resolve_kernel(address);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].module, module);
  EXPECT_TRUE(m[0].resolved) << m[0].function;
}

}  // namespace
}  // namespace perfscope::symbols
