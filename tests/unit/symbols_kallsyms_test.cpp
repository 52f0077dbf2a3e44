// KernelSymbols and Symbolizer::resolve_kernel on kallsyms / modules files written by the test.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "symbols/kallsyms.hpp"
#include "symbols/symbolizer.hpp"
#include "temp_dir_test.hpp"

namespace perfscope::symbols {
namespace {

constexpr const char* kKallsyms =
    "ffffffff81000000 T _stext\n"
    "ffffffff81000000 T _text\n"
    "ffffffff81000000 t __pi__text\n"
    "ffffffff81001000 T do_one\n"
    "ffffffff81001100 t local_two\n"
    "ffffffff81001800 D some_data\n"
    "ffffffff81001900 W weak_three\n"
    "ffffffff81003000 T _etext\n"
    "ffffffff81004000 r rodata_thing\n"
    "this line is not a symbol\n"
    "ffffffffc0001000 t mod_fn_a\t[nf_tables]\n"
    "ffffffffc0001200 T mod_fn_b\t[nf_tables]\n"
    "ffffffffc0005000 t other_fn\t[e1000]\n"
    "ffffffffc0009000 t lonely_fn\t[nomodinfo]\n";
constexpr const char* kModules =
    "nf_tables 8192 0 - Live 0xffffffffc0001000\n"
    "e1000 4096 1 - Live 0xffffffffc0005000 (OE)\n";

std::string name_at(const KernelSymbols& ks, std::uint64_t address) {
  const auto hit = ks.find(address);
  return hit ? std::string(hit->name) : "<none>";
}

TEST(SymbolsKallsyms, ParsesTextSymbolsAndPicksOneAlias) {
  const auto ks = KernelSymbols::parse(kKallsyms, kModules);
  EXPECT_FALSE(ks.addresses_hidden());
  // _stext, _text, __pi__text, do_one, local_two, weak_three, three module symbols and one more.
  EXPECT_EQ(ks.size(), 8u);
  EXPECT_EQ(name_at(ks, 0xffffffff81000000), "_text") << "global, one underscore, shortest";
  EXPECT_EQ(name_at(ks, 0xffffffff81000fff), "_text");
  EXPECT_EQ(name_at(ks, 0xffffffff81001000), "do_one");
  EXPECT_EQ(name_at(ks, 0xffffffff81001850), "local_two") << "data symbols are not functions";
  EXPECT_EQ(name_at(ks, 0xffffffff81001900), "weak_three");
  EXPECT_EQ(ks.find(0xffffffff81001000)->module, "");
}

TEST(SymbolsKallsyms, BoundsByEtextAndModuleExtents) {
  const auto ks = KernelSymbols::parse(kKallsyms, kModules);
  EXPECT_EQ(name_at(ks, 0xffffffff81002fff), "weak_three");
  EXPECT_EQ(name_at(ks, 0xffffffff81003000), "<none>") << "past _etext";
  EXPECT_EQ(name_at(ks, 0xffffffff80ffffff), "<none>") << "before the first symbol";

  const auto b = ks.find(0xffffffffc0001250);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->name, "mod_fn_b");
  EXPECT_EQ(b->module, "nf_tables");
  EXPECT_EQ(b->start, 0xffffffffc0001200u);
  EXPECT_EQ(name_at(ks, 0xffffffffc0002fff), "mod_fn_b");
  EXPECT_EQ(name_at(ks, 0xffffffffc0003000), "<none>") << "past nf_tables' 8192 bytes";
  EXPECT_EQ(name_at(ks, 0xffffffffc0005010), "other_fn");
  EXPECT_EQ(name_at(ks, 0xffffffffc0006000), "<none>") << "past e1000's 4096 bytes";
  // No /proc/modules line for this module and no symbol after it: one page.
  EXPECT_EQ(name_at(ks, 0xffffffffc0009fff), "lonely_fn");
  EXPECT_EQ(name_at(ks, 0xffffffffc000a000), "<none>");
}

TEST(SymbolsKallsyms, WithoutModulesFileTheLastSymbolOfAModuleGetsAPage) {
  const auto ks = KernelSymbols::parse(kKallsyms);
  EXPECT_EQ(name_at(ks, 0xffffffffc00011ff), "mod_fn_a");
  // The next symbol belongs to another module, so it says nothing about this one's end: a page.
  EXPECT_EQ(name_at(ks, 0xffffffffc00021ff), "mod_fn_b");
  EXPECT_EQ(name_at(ks, 0xffffffffc0002200), "<none>");
  EXPECT_EQ(name_at(ks, 0xffffffffc0005fff), "other_fn");
  EXPECT_EQ(name_at(ks, 0xffffffffc0006000), "<none>");
}

TEST(SymbolsKallsyms, TextRangesOfTheImageAndOfModules) {
  const auto ks = KernelSymbols::parse(kKallsyms, kModules);
  auto range = [&](std::string_view module) {
    const auto r = ks.text_range(module);
    return r ? fmt::format("{:x}-{:x}", r->start, r->end) : std::string("none");
  };
  EXPECT_EQ(range(""), "ffffffff81000000-ffffffff81003000") << "_stext to _etext";
  EXPECT_EQ(range("nf_tables"), "ffffffffc0001000-ffffffffc0003000") << "/proc/modules";
  EXPECT_EQ(range("e1000"), "ffffffffc0005000-ffffffffc0006000");
  EXPECT_EQ(range("nomodinfo"), "ffffffffc0009000-ffffffffc000a000") << "its symbols, a page on";
  EXPECT_EQ(range("absent"), "none");
  // Init text past _etext, as real kernels list it: the range runs to _einittext.
  const auto init = KernelSymbols::parse(std::string(kKallsyms) +
                                         "ffffffff83576000 T _sinittext\n"
                                         "ffffffff83576100 t init_fn\n"
                                         "ffffffff835ec770 T _einittext\n");
  const auto r = init.text_range("");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->start, 0xffffffff81000000u);
  EXPECT_EQ(r->end, 0xffffffff835ec770u);
  // Hidden addresses have no range.
  EXPECT_FALSE(
      KernelSymbols::parse("0000000000000000 T _stext\n0000000000000000 T f\n").text_range(""));
}

TEST(SymbolsKallsyms, AllZeroAddressesMeanHidden) {
  const auto ks = KernelSymbols::parse(
      "0000000000000000 T _stext\n0000000000000000 T do_one\n0000000000000000 t m\t[mod]\n");
  EXPECT_TRUE(ks.addresses_hidden());
  EXPECT_FALSE(ks.find(0).has_value());
  EXPECT_FALSE(ks.find(0xffffffff81000000).has_value());
  EXPECT_FALSE(KernelSymbols::parse("").addresses_hidden()) << "empty is not hidden";
}

class SymbolsKernelResolve : public testing::TempDirTest {};

TEST_F(SymbolsKernelResolve, ResolvesKernelAndModuleFramesOnce) {
  write_file("kallsyms", kKallsyms);
  write_file("modules", kModules);
  Symbolizer s(
      SymbolizerOptions{.kallsyms_path = path("kallsyms"), .modules_path = path("modules")});

  const auto& core = s.resolve_kernel(0xffffffff81001010);
  ASSERT_EQ(core.size(), 1u);
  EXPECT_EQ(core[0].function, "do_one");
  EXPECT_EQ(core[0].module, "[kernel.kallsyms]");
  EXPECT_TRUE(core[0].resolved);
  EXPECT_FALSE(core[0].inlined);
  EXPECT_EQ(core[0].module_offset, 0xffffffff81001010u);
  EXPECT_TRUE(core[0].file.empty());
  EXPECT_EQ(core[0].line, 0u);

  const auto& mod = s.resolve_kernel(0xffffffffc0005004);
  ASSERT_EQ(mod.size(), 1u);
  EXPECT_EQ(mod[0].function, "other_fn");
  EXPECT_EQ(mod[0].module, "[e1000]");

  const auto& outside = s.resolve_kernel(0xffffffff81003100);
  ASSERT_EQ(outside.size(), 1u);
  EXPECT_EQ(outside[0].function, "[unknown: not in kallsyms]");
  EXPECT_FALSE(outside[0].resolved);

  EXPECT_EQ(&s.resolve_kernel(0xffffffff81001010), &core) << "cached, same reference";
  const auto stats = s.stats();
  EXPECT_EQ(stats.addresses_resolved, 2u);
  EXPECT_EQ(stats.addresses_unknown, 1u);
}

TEST_F(SymbolsKernelResolve, HiddenAddressesGiveTheReason) {
  write_file("kallsyms", "0000000000000000 T _stext\n0000000000000000 T schedule\n");
  Symbolizer s(SymbolizerOptions{.kallsyms_path = path("kallsyms"), .modules_path = path("none")});
  const auto& f = s.resolve_kernel(0xffffffff81000010);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function,
            "[unknown: kernel addresses hidden (kptr_restrict / perf_event_paranoid)]");
  EXPECT_EQ(f[0].module, "[kernel.kallsyms]");
  EXPECT_FALSE(f[0].resolved);
}

TEST_F(SymbolsKernelResolve, MissingKallsymsGivesTheReason) {
  Symbolizer s(SymbolizerOptions{.kallsyms_path = path("absent"), .modules_path = path("none")});
  const auto& f = s.resolve_kernel(0xffffffff81000010);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].function,
            "[unknown: cannot read " + path("absent") + ": No such file or directory]");
}

}  // namespace
}  // namespace perfscope::symbols
