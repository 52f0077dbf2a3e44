// compile_cfi_table on real files (libc, libstdc++, python3, a target built without frame
// pointers): at thousands of pcs the compiled row must say what libdw's dwarf_cfi_addrframe says
// there, read here independently through a CFI handle of the test's own. Also the classes the BPF
// walker depends on: _start is the end, __restore_rt the signal frame, the PLT expression.
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "support/run.hpp"
#include "symbols/elf_module.hpp"
#include "temp_dir_test.hpp"
#include "unwind/cfi_table.hpp"

namespace perfscope::unwind {
namespace {

const char* const kLibc = "/lib/x86_64-linux-gnu/libc.so.6";
const char* const kLibstdcxx = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6";

std::string python3() {
  std::error_code ec;
  const auto p = std::filesystem::canonical("/usr/bin/python3", ec);
  return ec ? std::string() : p.string();
}

// The file opened with libelf, and its .eh_frame and .debug_frame CFI through libdw (the first
// that covers a pc wins), independently of compile_cfi_table.
class Reference {
 public:
  explicit Reference(const std::string& path) {
    elf_version(EV_CURRENT);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return;
    elf_ = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
    if (elf_ == nullptr) return;
    cfi_ = dwarf_getcfi_elf(elf_);
    dwarf_ = dwarf_begin_elf(elf_, DWARF_C_READ, nullptr);
    if (dwarf_ != nullptr) debug_cfi_ = dwarf_getcfi(dwarf_);
  }
  ~Reference() {
    if (dwarf_ != nullptr) dwarf_end(dwarf_);
    if (cfi_ != nullptr) dwarf_cfi_end(cfi_);
    if (elf_ != nullptr) elf_end(elf_);
    if (fd_ >= 0) ::close(fd_);
  }
  Reference(const Reference&) = delete;
  Reference& operator=(const Reference&) = delete;

  bool ok() const { return cfi_ != nullptr || debug_cfi_ != nullptr; }
  std::uint64_t entry() const {
    GElf_Ehdr eh;
    return gelf_getehdr(elf_, &eh) != nullptr ? eh.e_entry : 0;
  }

  // libdw's rule at `pc` in the vocabulary of a row: "none", "signal", "end", "unsupported", or
  // "<rsp|rbp>+N rbp <same|@cfa+N>", "plt N rbp ...".
  std::string rule_at(std::uint64_t pc) const {
    for (Dwarf_CFI* cfi : {cfi_, debug_cfi_}) {
      Dwarf_Frame* frame = nullptr;
      if (cfi == nullptr || dwarf_cfi_addrframe(cfi, pc, &frame) != 0) continue;
      std::string rule = describe(frame);
      std::free(frame);
      return rule;
    }
    return "none";
  }

 private:
  static std::optional<std::int64_t> cfa_plus(const Dwarf_Op* ops, std::size_t n) {
    if (n == 1 && ops[0].atom == DW_OP_call_frame_cfa) return 0;
    if (n == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
      return static_cast<std::int64_t>(ops[1].number);
    }
    return std::nullopt;
  }

  static std::string describe(Dwarf_Frame* frame) {
    bool signal = false;
    const int ra = dwarf_frame_info(frame, nullptr, nullptr, &signal);
    if (signal) return "signal";
    Dwarf_Op mem[3];
    Dwarf_Op* ops = nullptr;
    std::size_t n = 0;
    if (ra != 16 || dwarf_frame_register(frame, 16, mem, &ops, &n) != 0) return "unsupported";
    if (n == 0 && ops != nullptr) return "end";
    const auto ra_at = cfa_plus(ops, n);
    Dwarf_Op* cfa = nullptr;
    std::size_t ncfa = 0;
    if (dwarf_frame_cfa(frame, &cfa, &ncfa) != 0) return "unsupported";
    std::string rule;
    if (ncfa == 1 && cfa[0].atom == DW_OP_bregx && (cfa[0].number == 7 || cfa[0].number == 6)) {
      rule = (cfa[0].number == 7 ? "rsp+" : "rbp+") +
             std::to_string(static_cast<std::int64_t>(cfa[0].number2));
    } else if (ncfa == 9 && cfa[0].atom == DW_OP_breg7 && cfa[0].number == 8 &&
               cfa[1].atom == DW_OP_breg16 && cfa[2].atom == DW_OP_lit15 &&
               cfa[3].atom == DW_OP_and && cfa[4].atom >= DW_OP_lit0 &&
               cfa[4].atom <= DW_OP_lit31 && cfa[5].atom == DW_OP_ge && cfa[6].atom == DW_OP_lit3 &&
               cfa[7].atom == DW_OP_shl && cfa[8].atom == DW_OP_plus) {
      rule = "plt " + std::to_string(cfa[4].atom - DW_OP_lit0);
    } else {
      return "unsupported";
    }
    if (ra_at != -8) return "unsupported";
    if (dwarf_frame_register(frame, 6, mem, &ops, &n) != 0) return "unsupported";
    if (n == 0) return rule + " rbp same";
    const auto rbp_at = cfa_plus(ops, n);
    if (!rbp_at || *rbp_at < -32768 || *rbp_at > 32767) return "unsupported";
    return rule + " rbp @cfa" + std::to_string(*rbp_at);
  }

  int fd_ = -1;
  Elf* elf_ = nullptr;
  Dwarf_CFI* cfi_ = nullptr;
  Dwarf* dwarf_ = nullptr;
  Dwarf_CFI* debug_cfi_ = nullptr;  // owned by dwarf_
};

// A row in the same vocabulary (nullptr: below the first row, no CFI).
std::string describe(const ps_unwind_row* row) {
  if (row == nullptr) return "none";
  const std::string rbp =
      row->rbp_kind == PS_RBP_SAME ? " rbp same" : " rbp @cfa" + std::to_string(row->rbp_offset);
  switch (row->cfa_kind) {
    case PS_CFA_RSP:
      return "rsp+" + std::to_string(row->cfa_offset) + rbp;
    case PS_CFA_RBP:
      return "rbp+" + std::to_string(row->cfa_offset) + rbp;
    case PS_CFA_PLT:
      return "plt " + std::to_string(row->cfa_offset) + rbp;
    default:
      return cfa_kind_name(row->cfa_kind);
  }
}

// Compares the table with libdw at `pc`; returns the number of disagreements (reported).
int check_pc(const CfiTable& table, const Reference& ref, std::uint64_t pc) {
  const std::string want = ref.rule_at(pc);
  const std::string got = describe(find_row(table.rows, pc));
  if (want == got) return 0;
  ADD_FAILURE() << "pc 0x" << std::hex << pc << ": libdw says \"" << want << "\", the row \"" << got
                << "\"";
  return 1;
}

// The rows are strictly sorted, adjacent rules differ, and every row but the gaps starts inside
// an executable PT_LOAD segment.
void check_shape(const CfiTable& table) {
  ASSERT_FALSE(table.rows.empty());
  EXPECT_GT(table.fdes, 0u);
  EXPECT_EQ(table.rows.back().cfa_kind, PS_CFA_NONE) << "the last FDE's end is a gap row";
  for (std::size_t i = 1; i < table.rows.size(); ++i) {
    const ps_unwind_row& a = table.rows[i - 1];
    const ps_unwind_row& b = table.rows[i];
    ASSERT_LT(a.pc, b.pc) << "row " << i;
    EXPECT_FALSE(a.cfa_kind == b.cfa_kind && a.cfa_offset == b.cfa_offset &&
                 a.rbp_kind == b.rbp_kind && a.rbp_offset == b.rbp_offset)
        << "rows " << i - 1 << " and " << i << " should have been merged";
  }
  for (const ps_unwind_row& row : table.rows) {
    if (row.cfa_kind == PS_CFA_NONE) continue;
    bool inside = false;
    for (const LoadSegment& s : table.segments) {
      inside = inside || (s.executable && row.pc >= s.vaddr && row.pc - s.vaddr < s.memsz);
    }
    EXPECT_TRUE(inside) << "row at 0x" << std::hex << row.pc << " outside executable segments";
  }
}

// At `count` pseudo-random pcs over the executable segments (gaps included), and at the first,
// last and a middle byte of `count` pseudo-random rows, the table agrees with libdw.
void compare_with_libdw(const std::string& path, std::size_t count) {
  auto table = compile_cfi_table(path);
  ASSERT_TRUE(table) << table.error().describe();
  EXPECT_EQ(table->source, ".eh_frame");
  check_shape(*table);
  Reference ref(path);
  ASSERT_TRUE(ref.ok()) << "libdw cannot read the CFI of " << path;

  std::mt19937_64 random(0x5eed'cf1);  // deterministic: the same pcs every run
  int failures = 0;
  std::size_t checked = 0;
  for (const LoadSegment& s : table->segments) {
    if (!s.executable || s.memsz == 0) continue;
    std::uniform_int_distribution<std::uint64_t> in_segment(s.vaddr, s.vaddr + s.memsz - 1);
    for (std::size_t i = 0; i < count && failures < 20; ++i, ++checked) {
      failures += check_pc(*table, ref, in_segment(random));
    }
  }
  const auto& rows = table->rows;
  std::uniform_int_distribution<std::size_t> row_index(0, rows.size() - 2);
  for (std::size_t i = 0; i < count && failures < 20; ++i, checked += 3) {
    const std::size_t r = row_index(random);
    const std::uint64_t first = rows[r].pc, last = rows[r + 1].pc - 1;
    failures += check_pc(*table, ref, first);
    failures += check_pc(*table, ref, last);
    failures += check_pc(*table, ref, first + (last - first) / 2);
  }
  EXPECT_GE(checked, 4 * count);
  // Below the first row there is no row at all.
  if (rows.front().pc > 0) {
    EXPECT_EQ(find_row(rows, rows.front().pc - 1), nullptr);
  }
}

TEST(CfiTable, LibcAgreesWithLibdw) {
  if (!std::filesystem::exists(kLibc)) GTEST_SKIP() << kLibc << " is not installed here";
  compare_with_libdw(kLibc, 2500);
}

TEST(CfiTable, LibstdcxxAgreesWithLibdw) {
  if (!std::filesystem::exists(kLibstdcxx)) GTEST_SKIP() << kLibstdcxx << " is not installed";
  compare_with_libdw(kLibstdcxx, 2500);
}

TEST(CfiTable, Python3AgreesWithLibdw) {
  const std::string path = python3();
  if (path.empty()) GTEST_SKIP() << "no /usr/bin/python3 here";
  compare_with_libdw(path, 2500);
}

// A C program built by the project with -O2 -fomit-frame-pointer and stripped: its executable
// segments are small (some 600 bytes), so every byte of them is compared.
TEST(CfiTable, NoFramePointerTargetAgreesWithLibdwAtEveryPc) {
  const std::string path = testing::target("ps-busy-nofp");
  auto table = compile_cfi_table(path);
  ASSERT_TRUE(table) << table.error().describe();
  check_shape(*table);
  Reference ref(path);
  ASSERT_TRUE(ref.ok());
  int failures = 0;
  std::uint64_t checked = 0, code_bytes = 0;
  for (const LoadSegment& s : table->segments) {
    if (!s.executable) continue;
    code_bytes += s.memsz;
    for (std::uint64_t pc = s.vaddr; pc < s.vaddr + s.memsz && failures < 20; ++pc, ++checked) {
      failures += check_pc(*table, ref, pc);
    }
  }
  EXPECT_GT(code_bytes, 0u);
  EXPECT_EQ(checked, code_bytes);
  // Its _start (the entry point; the binary is stripped) marks the return address undefined.
  const ps_unwind_row* start = find_row(table->rows, ref.entry());
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->cfa_kind, PS_CFA_END) << describe(start);
}

TEST(CfiTable, Python3StartIsTheEndAndItsPltHasTheExpression) {
  const std::string path = python3();
  if (path.empty()) GTEST_SKIP() << "no /usr/bin/python3 here";
  auto table = compile_cfi_table(path);
  ASSERT_TRUE(table) << table.error().describe();
  Reference ref(path);
  const ps_unwind_row* start = find_row(table->rows, ref.entry());
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->cfa_kind, PS_CFA_END) << describe(start);
  std::size_t plt = 0;
  for (const ps_unwind_row& row : table->rows) {
    if (row.cfa_kind != PS_CFA_PLT) continue;
    ++plt;
    // 11 in .plt (push; jmp at offset 11 of each 16-byte entry), 10 in the IBT .plt.sec layout.
    EXPECT_TRUE(row.cfa_offset == 11 || row.cfa_offset == 10) << row.cfa_offset;
  }
  EXPECT_GE(plt, 1u);
}

// The address of `name` in the symbol table of `elf`, if there.
std::optional<std::uint64_t> symbol_address(Elf* elf, const std::string& name) {
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_SYMTAB) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    const std::size_t count = shdr.sh_entsize == 0 ? 0 : shdr.sh_size / shdr.sh_entsize;
    for (std::size_t i = 0; data != nullptr && i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
      const char* n = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (n != nullptr && name == n) return sym.st_value;
    }
  }
  return std::nullopt;
}

TEST(CfiTable, LibcRestoreRtIsTheSignalFrame) {
  if (!std::filesystem::exists(kLibc)) GTEST_SKIP() << kLibc << " is not installed here";
  auto module = symbols::ElfModule::open(kLibc, kLibc, {}, {"/usr/lib/debug"});
  ASSERT_TRUE(module) << module.error().describe();
  Elf* debug = (*module)->debug_file_elf();
  if (debug == nullptr) {
    GTEST_SKIP() << "libc's debug file is not installed (__restore_rt is a local symbol, only in "
                    "its .symtab): apt-get install libc6-dbg";
  }
  const auto restore_rt = symbol_address(debug, "__restore_rt");
  ASSERT_TRUE(restore_rt) << "no __restore_rt in " << (*module)->debug_file();
  auto table = compile_cfi_table(kLibc);
  ASSERT_TRUE(table) << table.error().describe();
  const ps_unwind_row* row = find_row(table->rows, *restore_rt);
  ASSERT_NE(row, nullptr);
  EXPECT_EQ(row->cfa_kind, PS_CFA_SIGNAL) << describe(row);
  // glibc starts the FDE one byte early so that a lookup at return address - 1 finds it too.
  EXPECT_EQ(find_row(table->rows, *restore_rt - 1)->cfa_kind, PS_CFA_SIGNAL);
  // start_thread and clone3's child mark the return address undefined: the end of a walk.
  std::size_t ends = 0;
  for (const ps_unwind_row& r : table->rows) ends += r.cfa_kind == PS_CFA_END;
  EXPECT_GE(ends, 1u);
}

TEST(CfiTable, PcsInGapsHaveNoRule) {
  if (!std::filesystem::exists(kLibc)) GTEST_SKIP() << kLibc << " is not installed here";
  auto table = compile_cfi_table(kLibc);
  ASSERT_TRUE(table) << table.error().describe();
  Reference ref(kLibc);
  std::size_t gaps = 0;
  const auto& rows = table->rows;
  for (std::size_t i = 0; i + 1 < rows.size(); ++i) {
    if (rows[i].cfa_kind != PS_CFA_NONE) continue;
    ++gaps;
    for (std::uint64_t pc = rows[i].pc; pc < rows[i + 1].pc; ++pc) {
      ASSERT_EQ(ref.rule_at(pc), "none") << "pc 0x" << std::hex << pc << " is in a gap row";
    }
  }
  EXPECT_GT(gaps, 100u);
  const std::uint64_t past_end = std::uint64_t{rows.back().pc} + 4096;
  EXPECT_EQ(find_row(rows, past_end)->cfa_kind, PS_CFA_NONE);
  EXPECT_EQ(ref.rule_at(past_end), "none");
}

TEST(CfiTable, FindRowOnAnEmptyTable) {
  EXPECT_EQ(find_row({}, 0x1000), nullptr);
}

class CfiTableErrors : public testing::TempDirTest {};

TEST_F(CfiTableErrors, MissingFile) {
  auto table = compile_cfi_table(path("absent.so"));
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().message().find("absent.so"), std::string::npos);
  EXPECT_NE(table.error().message().find("No such file"), std::string::npos)
      << table.error().message();
}

TEST_F(CfiTableErrors, NotElf) {
  write_file("text.so", "#!/bin/sh\necho this is not an ELF file\n");
  auto table = compile_cfi_table(path("text.so"));
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().message().find("is not an ELF file"), std::string::npos)
      << table.error().message();
}

// A separate debug file is ELF, but its .eh_frame is a NOBITS placeholder and gcc emits no
// .debug_frame on x86-64: a real file without CFI.
TEST_F(CfiTableErrors, FileWithoutCfi) {
  auto module = symbols::ElfModule::open(kLibc, kLibc, {}, {"/usr/lib/debug"});
  if (!module || (*module)->debug_file().empty()) {
    GTEST_SKIP() << "libc's separate debug file is not installed: apt-get install libc6-dbg";
  }
  const std::string debug = (*module)->debug_file();
  auto table = compile_cfi_table(debug, {});
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().message().find("has no call frame information"), std::string::npos)
      << table.error().message();
  EXPECT_FALSE(table.error().hint.empty());
}

// A program built with -fno-asynchronous-unwind-tables -g describes its own functions only in
// .debug_frame (crt1.o's _start still brings an .eh_frame): the table takes both, and agrees with
// libdw at every pc.
TEST_F(CfiTableErrors, DebugFrameFillsWhatEhFrameLeavesOut) {
  if (::access("/usr/bin/cc", X_OK) != 0) GTEST_SKIP() << "no C compiler (/usr/bin/cc) here";
  write_file("p.c",
             "#include <stdio.h>\n"
             "__attribute__((noinline)) static int f(int n) { return n < 2 ? n : f(n - 1) + "
             "f(n - 2); }\n"
             "int main(int argc, char** argv) { (void)argv; printf(\"%d\\n\", f(argc + 20)); "
             "return 0; }\n");
  const auto built = testing::run({"/usr/bin/cc", "-O2", "-g", "-fno-asynchronous-unwind-tables",
                                   "-o", path("p"), path("p.c")});
  ASSERT_EQ(built.exit_code, 0) << built.err;
  auto table = compile_cfi_table(path("p"), {});
  ASSERT_TRUE(table) << table.error().describe();
  EXPECT_NE(table->source.find(".debug_frame"), std::string::npos) << table->source;
  check_shape(*table);
  Reference ref(path("p"));
  ASSERT_TRUE(ref.ok());
  int failures = 0;
  std::uint64_t covered = 0;
  for (const LoadSegment& s : table->segments) {
    if (!s.executable) continue;
    for (std::uint64_t pc = s.vaddr; pc < s.vaddr + s.memsz && failures < 20; ++pc) {
      failures += check_pc(*table, ref, pc);
      covered += ref.rule_at(pc) != "none";
    }
  }
  EXPECT_GT(covered, 64u);
}

}  // namespace
}  // namespace perfscope::unwind
