#include "unwind/cfi_table.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "symbols/elf_module.hpp"
#include "unwind/expression.hpp"

namespace perfscope::unwind {
namespace {

// x86-64 DWARF register numbers (psABI figure 3.36).
constexpr int kDwarfRbp = 6;
constexpr int kDwarfRsp = 7;
constexpr int kDwarfReturnAddress = 16;

// Pointer encodings of .eh_frame (LSB Core, "DWARF Exception Header Encoding").
constexpr std::uint8_t kPeOmit = 0xff;
constexpr std::uint8_t kPeFormatMask = 0x0f;
constexpr std::uint8_t kPeAbsptr = 0x00, kPeUleb128 = 0x01, kPeSleb128 = 0x09, kPeSdata4 = 0x0b;
constexpr std::uint8_t kPePcrel = 0x10, kPeDatarel = 0x30;
constexpr std::uint8_t kPeDatarelSdata4 = kPeDatarel | kPeSdata4;

struct FdeRange {
  std::uint64_t start = 0, end = 0;
  Dwarf_CFI* cfi = nullptr;  // the section it came from (.eh_frame or .debug_frame)
};

// A CFI section's bytes and the address its first byte is loaded at.
struct SectionBytes {
  Elf_Data* data = nullptr;
  std::uint64_t addr = 0;
  const std::uint8_t* begin() const { return static_cast<const std::uint8_t*>(data->d_buf); }
  const std::uint8_t* end() const { return begin() + data->d_size; }
};

std::optional<SectionBytes> section_named(Elf* elf, std::string_view name) {
  std::size_t shstrndx = 0;
  if (elf == nullptr || elf_getshdrstrndx(elf, &shstrndx) != 0) return std::nullopt;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* n = elf_strptr(elf, shstrndx, shdr.sh_name);
    if (n == nullptr || name != n) continue;
    if (shdr.sh_type == SHT_NOBITS) return std::nullopt;  // a debug file's placeholder
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr || data->d_size == 0) return std::nullopt;
    return SectionBytes{data, shdr.sh_addr};
  }
  return std::nullopt;
}

// Reads one value in pointer encoding `enc` at `p` (advanced past it). `field_addr` is the
// address of the field (for pcrel), `data_base` that of datarel. False for encodings that cannot
// be resolved from the file alone (indirect, textrel, funcrel, aligned) or a truncated field.
bool read_encoded(std::uint8_t enc, const std::uint8_t*& p, const std::uint8_t* end,
                  std::uint64_t field_addr, std::uint64_t data_base, unsigned address_size,
                  std::uint64_t& out) {
  const auto fixed = [&](std::size_t n, bool is_signed) {
    if (static_cast<std::size_t>(end - p) < n) return false;
    std::uint64_t v = 0;
    std::memcpy(&v, p, n);  // little-endian host and target (x86-64)
    if (is_signed && n < 8 && (v >> (n * 8 - 1)) != 0) v |= ~std::uint64_t{0} << (n * 8);
    p += n;
    out = v;
    return true;
  };
  const auto leb = [&](bool is_signed) {
    std::uint64_t v = 0;
    unsigned shift = 0;
    std::uint8_t byte = 0;
    do {
      if (p == end || shift >= 64) return false;
      byte = *p++;
      v |= std::uint64_t{byte & 0x7fu} << shift;
      shift += 7;
    } while ((byte & 0x80) != 0);
    if (is_signed && shift < 64 && (byte & 0x40) != 0) v |= ~std::uint64_t{0} << shift;
    out = v;
    return true;
  };
  // Formats: 0 absptr, 1 uleb128, 2/3/4 udata2/4/8; bit 3 makes them signed (9 sleb128).
  const std::uint8_t format = enc & kPeFormatMask;
  bool ok = false;
  if (format == kPeUleb128 || format == kPeSleb128) {
    ok = leb(format == kPeSleb128);
  } else {
    const std::size_t sizes[] = {address_size, 0, 2, 4, 8, 0, 0, 0};
    const std::size_t size = sizes[format & 7];
    if (size == 0) return false;
    ok = fixed(size, (format & 8) != 0);
  }
  if (!ok) return false;
  switch (enc & 0xf0) {
    case 0:
      return true;
    case kPePcrel:
      out += field_addr;
      return true;
    case kPeDatarel:
      out += data_base;
      return true;
    default:
      return false;
  }
}

// The FDE address ranges of one CFI section, read with dwarf_next_cfi; the pointer encoding of
// each FDE's initial location comes from its CIE's 'R' augmentation (.eh_frame) or is an
// absolute address (.debug_frame).
class FdeReader {
 public:
  FdeReader(Elf* elf, SectionBytes section, bool eh_frame)
      : section_(section), eh_frame_(eh_frame) {
    e_ident_ = reinterpret_cast<const unsigned char*>(elf_getident(elf, nullptr));
    address_size_ = gelf_getclass(elf) == ELFCLASS32 ? 4 : 8;
  }

  // The FDE at section offset `offset`; nullopt when it is a CIE, unreadable or empty.
  std::optional<FdeRange> fde_at(Dwarf_Off offset, Dwarf_Off* next = nullptr) {
    Dwarf_Off next_offset = 0;
    Dwarf_CFI_Entry entry;
    const int rc = dwarf_next_cfi(e_ident_, section_.data, eh_frame_, offset, &next_offset, &entry);
    if (next != nullptr) *next = next_offset;
    if (rc != 0 || dwarf_cfi_cie_p(&entry)) return std::nullopt;
    const std::uint8_t enc = encoding_of_cie(entry.fde.CIE_pointer);
    if (enc == kPeOmit) return std::nullopt;
    const std::uint8_t* p = entry.fde.start;
    const std::uint64_t field = section_.addr + static_cast<std::uint64_t>(p - section_.begin());
    std::uint64_t start = 0, range = 0;
    if (!read_encoded(enc, p, entry.fde.end, field, 0, address_size_, start) ||
        !read_encoded(enc & kPeFormatMask, p, entry.fde.end, 0, 0, address_size_, range) ||
        range == 0 || start + range < start) {
      return std::nullopt;
    }
    return FdeRange{start, start + range, nullptr};
  }

  // Every FDE of the section, in section order.
  std::vector<FdeRange> all() {
    std::vector<FdeRange> out;
    Dwarf_Off offset = 0;
    while (offset != static_cast<Dwarf_Off>(-1)) {
      Dwarf_Off next = static_cast<Dwarf_Off>(-1);
      if (auto fde = fde_at(offset, &next)) out.push_back(*fde);
      if (next <= offset) break;  // the end (-1 is the largest), or no progress
      offset = next;
    }
    return out;
  }

 private:
  // The 'R' pointer encoding of the CIE at `offset` (absptr without one), kPeOmit when unusable.
  std::uint8_t encoding_of_cie(Dwarf_Off offset) {
    if (!eh_frame_) return kPeAbsptr;
    auto [it, inserted] = cie_encoding_.try_emplace(offset, kPeOmit);
    if (!inserted) return it->second;
    Dwarf_Off next = 0;
    Dwarf_CFI_Entry entry;
    if (dwarf_next_cfi(e_ident_, section_.data, eh_frame_, offset, &next, &entry) != 0 ||
        !dwarf_cfi_cie_p(&entry)) {
      return kPeOmit;
    }
    const char* aug = entry.cie.augmentation;
    if (aug == nullptr || aug[0] != 'z') {
      it->second = aug != nullptr && aug[0] == '\0' ? kPeAbsptr : kPeOmit;
      return it->second;
    }
    // 'z' strings: the augmentation data holds one field per letter after the 'z'.
    const std::uint8_t* p = entry.cie.augmentation_data;
    const std::uint8_t* end = p + entry.cie.augmentation_data_size;
    std::uint8_t enc = kPeAbsptr;
    for (const char* c = aug + 1; *c != '\0'; ++c) {
      if (*c == 'R' || *c == 'L') {
        if (p == end) return kPeOmit;
        if (*c == 'R') enc = *p;
        ++p;
      } else if (*c == 'P') {
        if (p == end) return kPeOmit;
        const std::uint8_t personality = *p++;
        std::uint64_t ignored = 0;
        if (!read_encoded(personality & kPeFormatMask, p, end, 0, 0, address_size_, ignored)) {
          return kPeOmit;
        }
      } else if (*c != 'S' && *c != 'B') {
        return kPeOmit;  // an augmentation we do not know: its data cannot be skipped safely
      }
    }
    it->second = enc;
    return enc;
  }

  SectionBytes section_;
  bool eh_frame_;
  const unsigned char* e_ident_ = nullptr;
  unsigned address_size_ = 8;
  std::unordered_map<Dwarf_Off, std::uint8_t> cie_encoding_;
};

// The FDEs in the order of .eh_frame_hdr's binary-search table, when it has the usual layout
// (datarel sdata4 entries) and agrees with the FDEs it points at; nullopt otherwise.
std::optional<std::vector<FdeRange>> fdes_from_hdr(Elf* elf, const SectionBytes& eh_frame,
                                                   FdeReader& reader) {
  const auto hdr = section_named(elf, ".eh_frame_hdr");
  if (!hdr) return std::nullopt;
  const std::uint8_t* p = hdr->begin();
  const std::uint8_t* end = hdr->end();
  if (end - p < 4 || p[0] != 1) return std::nullopt;
  const std::uint8_t ptr_enc = p[1], count_enc = p[2], table_enc = p[3];
  p += 4;
  std::uint64_t eh_frame_ptr = 0, count = 0;
  const auto here = [&] { return hdr->addr + static_cast<std::uint64_t>(p - hdr->begin()); };
  if (table_enc != kPeDatarelSdata4 || count_enc == kPeOmit ||
      !read_encoded(ptr_enc, p, end, here(), hdr->addr, 8, eh_frame_ptr) ||
      !read_encoded(count_enc, p, end, here(), hdr->addr, 8, count) ||
      eh_frame_ptr != eh_frame.addr || count > static_cast<std::uint64_t>(end - p) / 8) {
    return std::nullopt;
  }
  std::vector<FdeRange> out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t start = 0, fde_addr = 0;
    read_encoded(table_enc, p, end, here(), hdr->addr, 8, start);
    read_encoded(table_enc, p, end, here(), hdr->addr, 8, fde_addr);
    if (fde_addr < eh_frame.addr || fde_addr - eh_frame.addr >= eh_frame.data->d_size) {
      return std::nullopt;
    }
    const auto fde = reader.fde_at(fde_addr - eh_frame.addr);
    if (!fde) continue;  // empty range
    if (fde->start != start) return std::nullopt;
    out.push_back(*fde);
  }
  return out;
}

// N of the x86-64 PLT CFA expression (gcc/binutils' .plt and .plt.sec FDEs):
//   DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_litN; DW_OP_ge; DW_OP_lit3;
//   DW_OP_shl; DW_OP_plus
std::optional<int> plt_threshold(const Dwarf_Op* ops, std::size_t n) {
  if (n != 9) return std::nullopt;
  const bool shape =
      ops[0].atom == DW_OP_breg7 && ops[0].number == 8 && ops[1].atom == DW_OP_breg16 &&
      ops[1].number == 0 && ops[2].atom == DW_OP_lit15 && ops[3].atom == DW_OP_and &&
      ops[4].atom >= DW_OP_lit0 && ops[4].atom <= DW_OP_lit31 && ops[5].atom == DW_OP_ge &&
      ops[6].atom == DW_OP_lit3 && ops[7].atom == DW_OP_shl && ops[8].atom == DW_OP_plus;
  if (!shape) return std::nullopt;
  return ops[4].atom - DW_OP_lit0;
}

bool fits_s32(std::int64_t v) {
  return v >= std::numeric_limits<std::int32_t>::min() &&
         v <= std::numeric_limits<std::int32_t>::max();
}

// One libdw row as a ps_unwind_row; `why` is set (and the row PS_CFA_UNSUPPORTED) when the row
// cannot be expressed.
ps_unwind_row translate(Dwarf_Frame* frame, std::string& why) {
  ps_unwind_row row{};
  row.cfa_kind = PS_CFA_UNSUPPORTED;
  row.rbp_kind = PS_RBP_SAME;
  why.clear();
  bool signal = false;
  const int ra_column = dwarf_frame_info(frame, nullptr, nullptr, &signal);
  if (signal) {
    row.cfa_kind = PS_CFA_SIGNAL;
    return row;
  }
  if (ra_column != kDwarfReturnAddress) {
    why = "return address column " + std::to_string(ra_column);
    return row;
  }
  Dwarf_Op mem[3];
  Dwarf_Op* ops = nullptr;
  std::size_t n = 0;
  if (dwarf_frame_register(frame, kDwarfReturnAddress, mem, &ops, &n) != 0) {
    why = "return address rule unreadable";
    return row;
  }
  if (n == 0 && ops != nullptr) {  // undefined: the outermost frame
    row.cfa_kind = PS_CFA_END;
    return row;
  }
  Dwarf_Op* cfa = nullptr;
  std::size_t ncfa = 0;
  if (dwarf_frame_cfa(frame, &cfa, &ncfa) != 0 || ncfa == 0) {
    why = "no CFA rule";
    return row;
  }
  int cfa_register = -1;
  std::int64_t cfa_offset = 0;
  // libdw gives DW_CFA_def_cfa as DW_OP_bregx (register, offset).
  if (ncfa == 1 && cfa[0].atom == DW_OP_bregx) {
    cfa_register = static_cast<int>(std::min<Dwarf_Word>(cfa[0].number, 1 << 16));
    cfa_offset = static_cast<std::int64_t>(cfa[0].number2);
  } else if (ncfa == 1 && cfa[0].atom >= DW_OP_breg0 && cfa[0].atom <= DW_OP_breg31) {
    cfa_register = cfa[0].atom - DW_OP_breg0;
    cfa_offset = static_cast<std::int64_t>(cfa[0].number);
  }
  if (cfa_register == kDwarfRsp || cfa_register == kDwarfRbp) {
    if (!fits_s32(cfa_offset)) {
      why = "CFA offset beyond 32 bits";
      return row;
    }
    row.cfa_offset = static_cast<std::int32_t>(cfa_offset);
  } else if (cfa_register >= 0) {
    why = "CFA register r" + std::to_string(cfa_register);
    return row;
  } else if (const auto threshold = plt_threshold(cfa, ncfa)) {
    row.cfa_offset = *threshold;
  } else {
    why = "CFA expression";
    return row;
  }

  std::uint64_t ra_offset = 0;
  if (!cfa_plus(ops, n, ra_offset) || static_cast<std::int64_t>(ra_offset) != -8) {
    why = "return address not at CFA-8";
    return row;
  }

  n = 0;
  ops = nullptr;
  if (dwarf_frame_register(frame, kDwarfRbp, mem, &ops, &n) != 0) {
    why = "rbp rule unreadable";
    return row;
  }
  // n == 0: same value, or undefined (the caller's rbp is gone; frames above that need it
  // cannot be walked by anyone, and CFI never says so for rbp in practice).
  if (n > 0) {
    std::uint64_t raw = 0;
    if (cfa_plus(ops, n, raw)) {
      const auto at = static_cast<std::int64_t>(raw);
      if (at < std::numeric_limits<std::int16_t>::min() ||
          at > std::numeric_limits<std::int16_t>::max()) {
        why = "rbp saved beyond 16-bit offset";
        return row;
      }
      row.rbp_kind = PS_RBP_AT_CFA;
      row.rbp_offset = static_cast<std::int16_t>(at);
    } else {
      why = ops[0].atom == DW_OP_regx || (ops[0].atom >= DW_OP_reg0 && ops[0].atom <= DW_OP_reg31)
                ? "rbp rule register"
                : "rbp rule expression";
      return row;
    }
  }
  row.cfa_kind = cfa_register == kDwarfRsp   ? PS_CFA_RSP
                 : cfa_register == kDwarfRbp ? PS_CFA_RBP
                                             : PS_CFA_PLT;
  return row;
}

bool same_rule(const ps_unwind_row& a, const ps_unwind_row& b) {
  return a.cfa_kind == b.cfa_kind && a.cfa_offset == b.cfa_offset && a.rbp_kind == b.rbp_kind &&
         a.rbp_offset == b.rbp_offset;
}

// Appends rows in increasing pc order, merging a row into the one before it when their rules
// are the same.
class RowBuilder {
 public:
  explicit RowBuilder(CfiTable& table) : t_(table) {}

  void add(std::uint64_t pc, ps_unwind_row row) {
    if (!t_.rows.empty() && same_rule(t_.rows.back(), row)) return;
    row.pc = static_cast<std::uint32_t>(pc);
    t_.rows.push_back(row);
  }
  void none(std::uint64_t pc) { add(pc, ps_unwind_row{0, 0, PS_CFA_NONE, PS_RBP_SAME, 0}); }
  void unsupported(std::uint64_t pc, const std::string& why) {
    ++t_.unsupported_rows;
    ++t_.unsupported_why[why];
    add(pc, ps_unwind_row{0, 0, PS_CFA_UNSUPPORTED, PS_RBP_SAME, 0});
  }

 private:
  CfiTable& t_;
};

// Walks every row of every FDE (sorted, non-overlapping) through libdw.
void compile_rows(const std::vector<FdeRange>& fdes, CfiTable& table) {
  RowBuilder out(table);
  std::string why;
  std::uint64_t previous_end = 0;
  for (const FdeRange& fde : fdes) {
    if (!table.rows.empty() && fde.start > previous_end) out.none(previous_end);
    std::uint64_t pc = fde.start;
    while (pc < fde.end) {
      Dwarf_Frame* frame = nullptr;
      if (dwarf_cfi_addrframe(fde.cfi, pc, &frame) != 0) {
        out.unsupported(pc, "unreadable CFI");
        break;
      }
      Dwarf_Addr row_start = 0, row_end = 0;
      dwarf_frame_info(frame, &row_start, &row_end, nullptr);
      const ps_unwind_row row = translate(frame, why);
      std::free(frame);
      if (row.cfa_kind == PS_CFA_UNSUPPORTED) {
        out.unsupported(pc, why);
      } else {
        out.add(pc, row);
      }
      pc = row_end > pc ? std::min<std::uint64_t>(row_end, fde.end) : fde.end;
    }
    previous_end = fde.end;
  }
  if (!table.rows.empty()) out.none(previous_end);
}

// Sorts by start and removes overlaps (a later FDE loses the bytes an earlier one covers).
void sort_fdes(std::vector<FdeRange>& fdes) {
  std::sort(fdes.begin(), fdes.end(), [](const FdeRange& a, const FdeRange& b) {
    return a.start != b.start ? a.start < b.start : a.end > b.end;
  });
  std::vector<FdeRange> kept;
  kept.reserve(fdes.size());
  for (FdeRange f : fdes) {
    if (!kept.empty()) f.start = std::max(f.start, kept.back().end);
    if (f.start < f.end) kept.push_back(f);
  }
  fdes = std::move(kept);
}

// Adds the FDEs of `extra` (tagged with `cfi`) that overlap none of `fdes` (sorted, disjoint);
// true when it added any.
bool add_uncovered(std::vector<FdeRange> extra, Dwarf_CFI* cfi, std::vector<FdeRange>& fdes) {
  const std::size_t before = fdes.size();
  for (FdeRange& f : extra) {
    // The first FDE ending after f starts: f is uncovered when that one starts at or after f's end.
    const auto it =
        std::upper_bound(fdes.begin(), fdes.begin() + static_cast<std::ptrdiff_t>(before), f.start,
                         [](std::uint64_t pc, const FdeRange& r) { return pc < r.end; });
    if (it != fdes.begin() + static_cast<std::ptrdiff_t>(before) && it->start < f.end) continue;
    f.cfi = cfi;
    fdes.push_back(f);
  }
  if (fdes.size() == before) return false;
  sort_fdes(fdes);
  return true;
}

std::vector<LoadSegment> load_segments(Elf* elf) {
  std::vector<LoadSegment> out;
  std::size_t count = 0;
  if (elf == nullptr || elf_getphdrnum(elf, &count) != 0) return out;
  for (std::size_t i = 0; i < count; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
    out.push_back(
        LoadSegment{ph.p_offset, ph.p_vaddr, ph.p_filesz, ph.p_memsz, (ph.p_flags & PF_X) != 0});
  }
  return out;
}

constexpr std::uint64_t kRowPcLimit = std::uint64_t{1} << 32;

Error above_4gib(const std::string& path, std::uint64_t end) {
  return Error{fmt::format("{}: code reaches address {:#x}, above the 4 GiB that the unwind "
                           "table's 32-bit pcs can hold",
                           path, end),
               0, "unwind this file's frames with --call-graph dwarf instead"};
}

// The CFI handle in use: .eh_frame's (owned) or .debug_frame's (owned by its Dwarf).
struct CfiHandle {
  Dwarf_CFI* cfi = nullptr;
  Dwarf* dwarf = nullptr;
  CfiHandle() = default;
  CfiHandle(const CfiHandle&) = delete;
  CfiHandle& operator=(const CfiHandle&) = delete;
  ~CfiHandle() {
    if (dwarf != nullptr) {
      dwarf_end(dwarf);
    } else if (cfi != nullptr) {
      dwarf_cfi_end(cfi);
    }
  }
};

}  // namespace

const char* cfa_kind_name(int kind) {
  switch (kind) {
    case PS_CFA_NONE:
      return "none";
    case PS_CFA_RSP:
      return "rsp";
    case PS_CFA_RBP:
      return "rbp";
    case PS_CFA_PLT:
      return "plt";
    case PS_CFA_SIGNAL:
      return "signal";
    case PS_CFA_END:
      return "end";
    case PS_CFA_UNSUPPORTED:
      return "unsupported";
  }
  return "?";
}

const ps_unwind_row* find_row(std::span<const ps_unwind_row> rows, std::uint64_t vaddr) {
  const auto it = std::upper_bound(
      rows.begin(), rows.end(), vaddr,
      [](std::uint64_t v, const ps_unwind_row& row) { return v < std::uint64_t{row.pc}; });
  return it == rows.begin() ? nullptr : &*(it - 1);
}

Result<CfiTable> compile_cfi_table(const std::string& path,
                                   const std::vector<std::string>& debug_dirs) {
  auto module = symbols::ElfModule::open(path, path, {}, debug_dirs);
  if (!module) return module.error();
  Elf* file = (*module)->file();
  CfiTable table;
  table.segments = load_segments(file);
  for (const LoadSegment& s : table.segments) {
    if (s.executable && s.vaddr + s.memsz > kRowPcLimit) return above_4gib(path, s.vaddr + s.memsz);
  }

  // .eh_frame of the file, completed by the .debug_frame of its debug file or of the file itself
  // for code .eh_frame leaves out (all of it, or functions built -fno-asynchronous-unwind-tables).
  std::vector<FdeRange> fdes;
  CfiHandle eh, debug;
  if (const auto section = section_named(file, ".eh_frame")) {
    eh.cfi = dwarf_getcfi_elf(file);
    if (eh.cfi != nullptr) {
      FdeReader reader(file, *section, true);
      auto sorted = fdes_from_hdr(file, *section, reader);
      fdes = sorted ? std::move(*sorted) : reader.all();
      for (FdeRange& f : fdes) f.cfi = eh.cfi;
      sort_fdes(fdes);
      if (!fdes.empty()) table.source = ".eh_frame";
    }
  }
  for (Elf* e : {(*module)->debug_file_elf(), file}) {
    const auto section = section_named(e, ".debug_frame");
    if (!section) continue;
    debug.dwarf = dwarf_begin_elf(e, DWARF_C_READ, nullptr);
    debug.cfi = debug.dwarf != nullptr ? dwarf_getcfi(debug.dwarf) : nullptr;
    if (debug.cfi == nullptr) {
      if (debug.dwarf != nullptr) dwarf_end(std::exchange(debug.dwarf, nullptr));
      continue;
    }
    if (add_uncovered(FdeReader(e, *section, false).all(), debug.cfi, fdes)) {
      table.source += table.source.empty() ? ".debug_frame" : " and .debug_frame";
      if (e != file) table.source += " (" + (*module)->debug_file() + ")";
    }
    break;
  }
  if (fdes.empty()) {
    return Error{path + " has no call frame information (no FDE in .eh_frame or .debug_frame)", 0,
                 "build it with -fasynchronous-unwind-tables (gcc's default on x86-64), or "
                 "install its debug package if that carries .debug_frame"};
  }
  table.fdes = fdes.size();
  if (fdes.back().end >= kRowPcLimit) return above_4gib(path, fdes.back().end);
  compile_rows(fdes, table);
  return table;
}

}  // namespace perfscope::unwind
